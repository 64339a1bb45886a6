//! The context policy: what the model is sent with a message, within a character budget.
//!
//! 1. The system message: the session's instructions, then the pinned documents (the
//!    session's and the message's), each headed by its path and revision. Documents share at
//!    most half the budget, equally; a longer one is cut and marked `[…truncated]`.
//! 2. The new message, always, whole.
//! 3. Earlier messages, newest first, as long as the total stays within the budget; the first
//!    that does not fit ends the history (no gaps). Failed answers with no text are skipped.
//!
//! Every pinned document becomes a citation (file, path, revision) of the answer.

use crate::interface::Citation;
use crate::provider::Speaker;
use mdz_core::ids::FileId;

/// A document as the context sees it.
pub struct Pinned {
    pub id: FileId,
    pub path: String,
    pub revision: i64,
    pub content: String,
}

/// An earlier message.
pub struct Earlier {
    pub speaker: Speaker,
    pub text: String,
}

const TRUNCATED: &str = "\n[…truncated]";

fn cut(text: &str, max_chars: usize) -> String {
    if text.chars().count() <= max_chars {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(max_chars).collect();
    out.push_str(TRUNCATED);
    out
}

/// The messages to send (oldest first) and the citations of the answer. `history` is newest
/// first.
pub fn assemble(
    instructions: &str,
    pinned: &[Pinned],
    history: &[Earlier],
    message: &str,
    budget_chars: usize,
) -> (Vec<(Speaker, String)>, Vec<Citation>) {
    let mut system = instructions.trim().to_owned();
    let mut citations = Vec::new();
    if !pinned.is_empty() {
        let share = (budget_chars / 2) / pinned.len();
        if !system.is_empty() {
            system.push_str("\n\n");
        }
        system.push_str("Documents of the project (cite them by path):\n");
        for doc in pinned {
            system.push_str(&format!(
                "\n### {} (revision {})\n{}\n",
                doc.path,
                doc.revision,
                cut(&doc.content, share)
            ));
            citations.push(Citation {
                file_id: doc.id,
                path: doc.path.clone(),
                revision: doc.revision,
            });
        }
    }
    let mut used = system.chars().count() + message.chars().count();
    let mut earlier = Vec::new();
    for m in history {
        if m.speaker == Speaker::Assistant && m.text.is_empty() {
            continue;
        }
        let len = m.text.chars().count();
        if used + len > budget_chars {
            break;
        }
        used += len;
        earlier.push((m.speaker, m.text.clone()));
    }
    earlier.reverse();
    let mut out = Vec::with_capacity(earlier.len() + 2);
    if !system.is_empty() {
        out.push((Speaker::System, system));
    }
    out.extend(earlier);
    out.push((Speaker::User, message.to_owned()));
    (out, citations)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn said(speaker: Speaker, text: &str) -> Earlier {
        Earlier {
            speaker,
            text: text.to_owned(),
        }
    }

    #[test]
    fn history_fits_the_budget_newest_first_without_gaps() {
        let history = [
            said(Speaker::Assistant, "four"),
            said(Speaker::User, "three"),
            said(Speaker::Assistant, "a very long answer that does not fit"),
            said(Speaker::User, "one"),
        ];
        let (messages, citations) = assemble("", &[], &history, "five", 20);
        let texts: Vec<&str> = messages.iter().map(|(_, t)| t.as_str()).collect();
        assert_eq!(texts, ["three", "four", "five"]);
        assert!(citations.is_empty());
    }

    #[test]
    fn documents_share_half_the_budget_and_become_citations() {
        let pinned = [
            Pinned {
                id: FileId::new(),
                path: "a.md".into(),
                revision: 3,
                content: "x".repeat(1000),
            },
            Pinned {
                id: FileId::new(),
                path: "b.md".into(),
                revision: 1,
                content: "short".into(),
            },
        ];
        let (messages, citations) = assemble("Be brief.", &pinned, &[], "hi", 400);
        let (speaker, system) = &messages[0];
        assert_eq!(*speaker, Speaker::System);
        assert!(system.starts_with("Be brief."));
        assert!(system.contains("### a.md (revision 3)"));
        assert!(system.contains(&format!("{}{TRUNCATED}", "x".repeat(100))));
        assert!(!system.contains(&"x".repeat(101)));
        assert!(system.contains("short"));
        assert_eq!(citations.len(), 2);
        assert_eq!(messages.last().unwrap().1, "hi");
    }

    #[test]
    fn the_new_message_is_always_sent() {
        let (messages, _) = assemble("", &[], &[said(Speaker::User, "old")], &"m".repeat(50), 10);
        assert_eq!(messages.len(), 1);
        assert_eq!(messages[0].0, Speaker::User);
    }
}
