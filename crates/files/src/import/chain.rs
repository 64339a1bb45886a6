//! A document's versions stored as saves store them (`crate::history`): built oldest first
//! from the texts an import reads, the newest whole in `files.content`, each older one a
//! reverse script from the next, or a full copy once the scripts since the last copy pass
//! twice its text (the rule of `service::saving`). Two texts in memory at a time.

use crate::export::VersionMeta;
use crate::history::{self, DIFF_DEADLINE};
use crate::repo::VersionRow;
use chrono::{DateTime, Utc};
use mdz_core::ids::{FileId, UserId};
use std::time::Instant;

pub struct Chain {
    file: FileId,
    actor: UserId,
    now: DateTime<Utc>,
    rows: Vec<VersionRow>,
    /// The newest text pushed.
    head: Option<String>,
    /// Bytes of scripts stored since the last full copy.
    since_snapshot: usize,
}

fn to_i32(n: usize) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

impl Chain {
    /// Versions of `file`, authored by `actor`; those without a `versions.json` entry were
    /// made at `now`.
    pub fn new(file: FileId, actor: UserId, now: DateTime<Utc>) -> Self {
        Self {
            file,
            actor,
            now,
            rows: Vec::new(),
            head: None,
            since_snapshot: 0,
        }
    }

    pub fn head(&self) -> Option<&str> {
        self.head.as_deref()
    }

    /// Add the next version: the one before it becomes a script back from `text` (or a
    /// full copy).
    pub fn push(&mut self, text: String, meta: Option<&VersionMeta>) {
        let lines = match (self.head.take(), self.rows.last_mut()) {
            (Some(prev), Some(last)) => {
                let back = history::delta(&text, &prev, Some(Instant::now() + DIFF_DEADLINE));
                let budget = 2 * prev.len().max(1024);
                if self.since_snapshot + back.script.len() > budget {
                    last.snapshot = true;
                    last.body = prev.into_bytes();
                    self.since_snapshot = 0;
                } else {
                    self.since_snapshot += back.script.len();
                    last.body = back.script;
                }
                (back.deleted, back.inserted)
            }
            _ => (history::line_count(&text), 0),
        };
        let (created_at, updated_at, label, ai_assisted) = match meta {
            Some(m) => (m.created_at, m.updated_at, m.label.clone(), m.ai_assisted),
            None => (self.now, self.now, None, false),
        };
        self.rows.push(VersionRow {
            file_id: self.file,
            n: to_i32(self.rows.len() + 1),
            snapshot: false,
            body: Vec::new(),
            size: to_i32(text.len()),
            lines_added: lines.0,
            lines_removed: lines.1,
            label,
            created_at,
            updated_at,
            created_by: self.actor,
            updated_by: self.actor,
            ai_assisted,
        });
        self.head = Some(text);
    }

    /// The rows, oldest first, and the newest text (`None` when nothing was pushed).
    pub fn finish(self) -> (Vec<VersionRow>, Option<String>) {
        (self.rows, self.head)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every version's text, rebuilt from the newest as `FilesService::content_of` does.
    fn rebuild(rows: &[VersionRow], head: &str) -> Vec<String> {
        let mut texts = vec![head.to_owned()];
        for row in rows.iter().rev().skip(1) {
            let newer = texts.last().unwrap();
            texts.push(if row.snapshot {
                String::from_utf8(row.body.clone()).unwrap()
            } else {
                history::apply(newer, &row.body).unwrap()
            });
        }
        texts.reverse();
        texts
    }

    #[test]
    fn every_version_reads_back_and_big_changes_are_full_copies() {
        let mut texts: Vec<String> = Vec::new();
        let mut text = String::new();
        for i in 0..40 {
            text.push_str(&format!("line {i} {}\n", "x".repeat(100)));
            if i % 5 == 4 {
                // A rewrite of everything: its script is as big as the text.
                text = if (i / 5) % 2 == 0 {
                    text.to_uppercase()
                } else {
                    text.to_lowercase()
                };
            }
            texts.push(text.clone());
        }
        texts.push(texts[3].clone());
        let mut chain = Chain::new(FileId::new(), UserId::new(), Utc::now());
        for t in &texts {
            chain.push(t.clone(), None);
        }
        assert_eq!(chain.head(), Some(texts[40].as_str()));
        let (rows, head) = chain.finish();
        assert_eq!(rows.len(), 41);
        assert!(rows.iter().enumerate().all(|(i, r)| r.n == i as i32 + 1));
        assert!(
            rows.last().unwrap().body.is_empty(),
            "the head is files.content"
        );
        assert!(rows.iter().any(|r| r.snapshot), "rewrites make full copies");
        assert!(rows.iter().any(|r| !r.snapshot && !r.body.is_empty()));
        assert_eq!(rebuild(&rows, &head.unwrap()), texts);
        assert_eq!((rows[0].lines_added, rows[0].lines_removed), (1, 0));
        assert_eq!((rows[1].lines_added, rows[1].lines_removed), (1, 0));
        assert_eq!(rows[40].size, texts[3].len() as i32);
    }
}
