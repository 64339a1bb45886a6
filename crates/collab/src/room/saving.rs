//! What the room owes the file and the journal: the dirty text to save back, the watermark
//! of stored updates, and when a snapshot is due.

use super::*;

impl Room {
    /// The text must reach the file (the document won a reconciliation at load).
    pub fn mark_dirty(&self, author: Option<UserId>) {
        touch(&mut self.lock(), author);
    }

    /// The text and its last author, when the quiet period (or the longest wait) has passed.
    pub fn take_due(&self, quiet: Duration, longest: Duration) -> Option<Due> {
        let mut state = self.lock();
        let dirty = state.dirty?;
        let now = Instant::now();
        if now - dirty.last < quiet && now - dirty.first < longest {
            return None;
        }
        state.dirty = None;
        let txn = state.awareness.doc().transact();
        Some(Due {
            text: state.text.get_string(&txn),
            author: dirty.author,
            ai_assisted: dirty.ai_assisted,
        })
    }

    /// Saving the text failed: try again later.
    pub fn restore_dirty(&self, author: Option<UserId>, ai_assisted: bool) {
        let mut state = self.lock();
        match state.dirty.as_mut() {
            Some(d) => d.ai_assisted |= ai_assisted,
            None => {
                let now = Instant::now();
                state.dirty = Some(Dirty {
                    author,
                    first: now,
                    last: now,
                    ai_assisted,
                });
            }
        }
    }

    pub fn is_dirty(&self) -> bool {
        self.lock().dirty.is_some()
    }

    /// The contiguous stored sequence this room holds, and whether a gap has lasted `grace`.
    pub fn watermark(&self, grace: Duration) -> (i64, bool) {
        let state = self.lock();
        let stuck = state.gap_since.is_some_and(|t| t.elapsed() >= grace);
        (state.watermark, stuck)
    }

    /// When the stored updates past the snapshot reach `threshold`: the state to store as the
    /// new snapshot and the sequence it covers.
    pub fn snapshot_due(&self, threshold: i64) -> Option<(Vec<u8>, i64)> {
        let state = self.lock();
        if state.watermark - state.snapshot_seq < threshold {
            return None;
        }
        let snapshot = state
            .awareness
            .doc()
            .transact()
            .encode_state_as_update_v1(&StateVector::default());
        Some((snapshot, state.watermark))
    }

    pub fn snapshot_stored(&self, seq: i64) {
        let mut state = self.lock();
        state.snapshot_seq = state.snapshot_seq.max(seq);
    }
}
