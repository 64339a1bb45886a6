//! Watch mode: a round after every change in the folder (filesystem notifications) and
//! every [`POLL_EVERY`] (the change feed), until told to stop.

use crate::client::ClientError;
use crate::round::{Report, SyncError, Syncer};
use crate::state::STATE_DIR;
use notify::{RecursiveMode, Watcher};
use std::time::Duration;

/// How often the change feed is read when nothing changes here: a change on the server
/// shows up here within this plus one round.
pub const POLL_EVERY: Duration = Duration::from_millis(500);
/// After a change here, wait this long for more (an editor's save is several events).
pub const SETTLE: Duration = Duration::from_millis(100);
/// After a round failed for a passing reason (network, server busy), wait this long.
pub const RETRY_AFTER: Duration = Duration::from_secs(2);

impl SyncError {
    /// Worth trying again: the network or the server, not this folder or the credentials.
    pub fn is_transient(&self) -> bool {
        match self {
            SyncError::Client(ClientError::Transport { .. }) => true,
            SyncError::Client(ClientError::Status { status, .. }) => {
                *status >= 500 || *status == 429
            }
            _ => false,
        }
    }
}

/// Sync until `stop` completes; `on_round` hears every round that changed something.
pub async fn watch(
    syncer: &mut Syncer,
    stop: impl Future<Output = ()>,
    mut on_round: impl FnMut(&Report),
) -> Result<(), SyncError> {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let state_dir = syncer.dir().join(STATE_DIR);
    let mut watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
        if let Ok(event) = res
            && event.paths.iter().any(|p| !p.starts_with(&state_dir))
        {
            // The receiver is gone only when watch() returned.
            tx.send(()).ok();
        }
    })?;
    watcher.watch(syncer.dir(), RecursiveMode::Recursive)?;
    let mut stop = std::pin::pin!(stop);
    loop {
        let pause = match syncer.round().await {
            Ok(report) => {
                on_round(&report);
                POLL_EVERY
            }
            Err(e) if e.is_transient() => {
                tracing::warn!(error = %format!("{e:#}"), "sync round failed; trying again");
                RETRY_AFTER
            }
            Err(e) => return Err(e),
        };
        tokio::select! {
            () = &mut stop => return Ok(()),
            Some(()) = rx.recv() => {
                tokio::time::sleep(SETTLE).await;
                while rx.try_recv().is_ok() {}
            }
            () = tokio::time::sleep(pause) => {}
        }
    }
}
