//! Background work that repeats: a round at once, then one every period (a late round delays
//! the next rather than bunching them), until the process ends.

use std::future::Future;
use std::time::Duration;

/// Run `round` now and then every `every` on a task of its own.
pub fn spawn_every<F, Fut>(every: Duration, mut round: F) -> tokio::task::JoinHandle<()>
where
    F: FnMut() -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            round().await;
        }
    })
}
