//! One progress line on stderr, redrawn at most 4 times a second, only when stderr is a
//! terminal (logs and pipes get nothing).

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

const EVERY: Duration = Duration::from_millis(250);

pub struct Progress {
    enabled: bool,
    started: Instant,
    last: Option<Instant>,
    pub bytes: u64,
}

impl Progress {
    pub fn new() -> Self {
        Self {
            enabled: std::io::stderr().is_terminal(),
            started: Instant::now(),
            last: None,
            bytes: 0,
        }
    }

    /// Count `n` more bytes and redraw with `what` if it is time.
    pub fn advance(&mut self, n: usize, what: impl FnOnce() -> String) {
        self.bytes = self
            .bytes
            .saturating_add(u64::try_from(n).unwrap_or(u64::MAX));
        if !self.enabled || self.last.is_some_and(|t| t.elapsed() < EVERY) {
            return;
        }
        self.last = Some(Instant::now());
        self.draw(&what());
    }

    fn draw(&self, what: &str) {
        let secs = self.started.elapsed().as_secs_f64().max(0.001);
        let mib = self.bytes as f64 / (1024.0 * 1024.0);
        let line = format!("\r\x1b[2K{what}: {mib:.1} MiB, {:.1} MiB/s", mib / secs);
        let mut err = std::io::stderr().lock();
        drop(err.write_all(line.as_bytes()));
        drop(err.flush());
    }

    /// End the line.
    pub fn finish(&self, what: &str) {
        if self.enabled {
            self.draw(what);
            drop(std::io::stderr().write_all(b"\n"));
        }
    }
}
