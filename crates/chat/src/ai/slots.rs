//! How many AI edits and completions stream at once on this node, per user and per document:
//! a slot is taken before anything is stored and given back when the stream ends (or its task
//! is dropped), so neither a user nor a document can hold providers and rooms without bound.

use crate::error::ChatError;
use mdz_core::ids::{FileId, UserId};
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex};

/// What a refused ask is told to wait (seconds): about a short edit's life.
pub const RETRY_AFTER_SECS: u64 = 5;

#[derive(Default)]
struct Counts {
    users: HashMap<UserId, usize>,
    documents: HashMap<FileId, usize>,
}

/// The streams running on this node, and how many each user and document may have.
pub struct Slots {
    per_user: usize,
    per_document: usize,
    counts: Mutex<Counts>,
}

/// One running stream's place; given back when dropped.
pub struct Slot {
    slots: Arc<Slots>,
    user: UserId,
    file: FileId,
}

fn give_back<K: Eq + Hash>(map: &mut HashMap<K, usize>, key: &K) {
    if let Some(n) = map.get_mut(key) {
        *n -= 1;
        if *n == 0 {
            map.remove(key);
        }
    }
}

impl Slots {
    pub fn new(per_user: usize, per_document: usize) -> Self {
        Self {
            per_user,
            per_document,
            counts: Mutex::new(Counts::default()),
        }
    }

    fn counts(&self) -> std::sync::MutexGuard<'_, Counts> {
        self.counts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A slot for `user` on `file`, or 429 when either has all its slots taken.
    pub fn take(self: &Arc<Self>, user: UserId, file: FileId) -> Result<Slot, ChatError> {
        let mut counts = self.counts();
        let of_user = counts.users.get(&user).copied().unwrap_or(0);
        let of_document = counts.documents.get(&file).copied().unwrap_or(0);
        let full = |scope, limit| ChatError::TooManyLive {
            scope,
            limit,
            retry_after: RETRY_AFTER_SECS,
        };
        if of_user >= self.per_user {
            return Err(full("user", self.per_user));
        }
        if of_document >= self.per_document {
            return Err(full("document", self.per_document));
        }
        *counts.users.entry(user).or_default() += 1;
        *counts.documents.entry(file).or_default() += 1;
        Ok(Slot {
            slots: self.clone(),
            user,
            file,
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut counts = self.slots.counts();
        give_back(&mut counts.users, &self.user);
        give_back(&mut counts.documents, &self.file);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_counted_per_user_and_document_and_given_back() {
        let slots = Arc::new(Slots::new(2, 3));
        let (a, b, file) = (UserId::new(), UserId::new(), FileId::new());
        let one = slots.take(a, file).unwrap();
        let _two = slots.take(a, file).unwrap();
        assert!(matches!(
            slots.take(a, file),
            Err(ChatError::TooManyLive { scope: "user", .. })
        ));
        let _three = slots.take(b, file).unwrap();
        assert!(matches!(
            slots.take(b, file),
            Err(ChatError::TooManyLive {
                scope: "document",
                ..
            })
        ));
        drop(one);
        assert!(slots.take(b, file).is_ok());
        assert!(slots.counts().users.get(&a) == Some(&1));
    }
}
