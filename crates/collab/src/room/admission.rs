//! Admission of an update before it is journaled: whether the text it would make stays
//! within the document's size limit.

use super::*;

impl Room {
    /// Admit an update if the text stays within `limit` bytes with it applied, counting the
    /// growth already admitted on other connections and not applied yet, and what the
    /// document holds back for a missing update; the growth stays reserved until the
    /// [`Admitted`] is dropped (after the update is applied, or refused by storage). A v1
    /// update carries every character it inserts, so the text cannot grow by more than the
    /// update's size: only an update that comes that close to the limit is tried on a copy,
    /// and one that leaves the copy waiting for a missing update is refused (a client only
    /// builds on what the server sent it). An edit that does not make an over-long text
    /// longer is always admitted, so a text past the limit (a REST merge, a lowered limit)
    /// can still be shortened.
    pub fn admit(&self, raw: &[u8], limit: usize) -> Option<Admitted<'_>> {
        self.admit_within(raw, limit, 3)
    }

    /// [`Room::admit`], measuring a copy outside the lock up to `tries` times while the
    /// document keeps changing, and then under it.
    fn admit_within(&self, raw: &[u8], limit: usize, tries: u8) -> Option<Admitted<'_>> {
        let mut state = self.lock();
        let doc = state.awareness.doc();
        let now = state.text.len(&doc.transact()) as usize;
        let committed = now
            .saturating_add(state.reserved)
            .saturating_add(state.pending);
        if committed.saturating_add(raw.len()) <= limit {
            state.reserved += raw.len();
            return Some(Admitted {
                room: self,
                bytes: raw.len(),
            });
        }
        let current = doc
            .transact()
            .encode_state_as_update_v1(&StateVector::default());
        let seen = state.changes;
        let after = if tries > 0 {
            drop(state);
            let after = self.length_with(&current, raw)?;
            state = self.lock();
            if state.changes != seen {
                // The document changed while the copy was measured: measure again.
                drop(state);
                return self.admit_within(raw, limit, tries - 1);
            }
            after
        } else {
            self.length_with(&current, raw)?
        };
        let growth = after.saturating_sub(now);
        let others = state.reserved.saturating_add(state.pending);
        if after.saturating_add(others) <= limit || after <= now {
            state.reserved += growth;
            return Some(Admitted {
                room: self,
                bytes: growth,
            });
        }
        None
    }

    /// The text's length with `raw` applied to a copy of `current`; `None` when it does not
    /// apply or leaves the copy waiting for an update it lacks.
    fn length_with(&self, current: &[u8], raw: &[u8]) -> Option<usize> {
        let copy = Doc::new();
        let text = copy.get_or_insert_text(crate::TEXT_NAME);
        let mut txn = copy.transact_mut();
        let mut before = 0;
        let applied = Update::decode_v1(current)
            .map_err(|e| e.to_string())
            .and_then(|u| txn.apply_update(u).map_err(|e| e.to_string()))
            .and_then(|()| {
                // What the room already holds back comes along in its encoded state.
                before = held_back(&txn, &mut None);
                Update::decode_v1(raw).map_err(|e| e.to_string())
            })
            .and_then(|u| txn.apply_update(u).map_err(|e| e.to_string()));
        if let Err(e) = applied {
            tracing::debug!(file_id = %self.file, error = %e, "size check: update does not apply");
            return None;
        }
        if held_back(&txn, &mut None) > before {
            tracing::debug!(file_id = %self.file, "size check: update depends on one the document lacks");
            return None;
        }
        Some(text.len(&txn) as usize)
    }
}
