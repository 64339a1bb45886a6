//! The context policy: what the model is sent with a message, within a character budget.
//!
//! 1. The system message: the session's instructions, then the pinned documents (the
//!    session's and the message's), each headed by its path and revision. Documents share at
//!    most half the budget, equally; a longer one is cut and marked `[…truncated]`.
//!    Then, with `use_search`, the passages the project's full-text search found for the
//!    message (documents already pinned left out), each headed by its path and revision;
//!    they share at most a quarter of the budget, equally, cut like documents.
//! 2. The new message, always, whole.
//! 3. Earlier messages, newest first, as long as the total stays within the budget; the first
//!    that does not fit ends the history (no gaps). Failed answers with no text are skipped.
//!
//! Every pinned document and every passage sent becomes a citation (file, path, revision,
//! and whether it was pinned or found by search) of the answer.

use crate::interface::{Citation, CitationSource};
use crate::provider::Speaker;
use mdz_core::documents::Passage;
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

/// Passages searched for a message, at most.
pub const SEARCH_PASSAGES: usize = 5;
/// Words of a message a search uses, at most.
const SEARCH_WORDS: usize = 16;
/// Words too common to say what a question is about.
const STOP_WORDS: &[&str] = &[
    "a", "about", "an", "and", "are", "as", "at", "be", "but", "by", "can", "could", "did", "do",
    "does", "for", "from", "has", "have", "how", "i", "if", "in", "is", "it", "its", "me", "my",
    "no", "not", "of", "on", "or", "our", "please", "should", "so", "tell", "that", "the", "their",
    "them", "there", "these", "they", "this", "to", "us", "was", "we", "were", "what", "when",
    "where", "which", "who", "why", "will", "with", "would", "you", "your",
];

/// The words a search for `message` looks for: its letters-and-digits words, lowercased,
/// without stop words or repeats, first ones first.
pub fn search_words(message: &str) -> Vec<String> {
    let mut words: Vec<String> = Vec::new();
    for raw in message.split(|c: char| !c.is_alphanumeric()) {
        let word = raw.to_lowercase();
        if word.is_empty()
            || word.chars().count() > 64
            || STOP_WORDS.contains(&word.as_str())
            || words.contains(&word)
        {
            continue;
        }
        words.push(word);
        if words.len() == SEARCH_WORDS {
            break;
        }
    }
    words
}

/// Passages of documents that are not pinned (those are sent whole).
fn unpinned<'a>(pinned: &[Pinned], found: &'a [Passage]) -> Vec<&'a Passage> {
    found
        .iter()
        .filter(|p| !pinned.iter().any(|d| d.id == p.file_id))
        .collect()
}

/// The citations of an answer given `pinned` documents and `found` passages: what
/// [`assemble`] sends, in its order (it does not depend on the history).
pub fn citations(pinned: &[Pinned], found: &[Passage]) -> Vec<Citation> {
    let documents = pinned.iter().map(|d| Citation {
        file_id: d.id,
        path: d.path.clone(),
        revision: d.revision,
        source: CitationSource::Pinned,
    });
    let passages = unpinned(pinned, found).into_iter().map(|p| Citation {
        file_id: p.file_id,
        path: p.path.clone(),
        revision: p.revision,
        source: CitationSource::Search,
    });
    documents.chain(passages).collect()
}

/// The messages to send (oldest first) and the citations of the answer. `history` is newest
/// first.
pub fn assemble(
    instructions: &str,
    pinned: &[Pinned],
    found: &[Passage],
    history: &[Earlier],
    message: &str,
    budget_chars: usize,
) -> (Vec<(Speaker, String)>, Vec<Citation>) {
    let mut system = instructions.trim().to_owned();
    let citations = citations(pinned, found);
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
        }
    }
    let found = unpinned(pinned, found);
    if !found.is_empty() {
        let share = (budget_chars / 4) / found.len();
        if !system.is_empty() {
            system.push_str("\n\n");
        }
        system.push_str(
            "Passages the project's search found for the question (cite them by path):\n",
        );
        for passage in found {
            system.push_str(&format!(
                "\n### {} (revision {})\n{}\n",
                passage.path,
                passage.revision,
                cut(&passage.text, share)
            ));
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
        let (messages, citations) = assemble("", &[], &[], &history, "five", 20);
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
        let (messages, citations) = assemble("Be brief.", &pinned, &[], &[], "hi", 400);
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
    fn search_words_drop_stop_words_punctuation_and_repeats() {
        assert_eq!(
            search_words("What is the plan for the Q3 launch? The plan, please!"),
            ["plan", "q3", "launch"]
        );
        assert!(search_words("is it?").is_empty());
        assert_eq!(search_words(&("w ".repeat(100) + "x")).len(), 2);
    }

    #[test]
    fn the_new_message_is_always_sent() {
        let (messages, _) = assemble(
            "",
            &[],
            &[],
            &[said(Speaker::User, "old")],
            &"m".repeat(50),
            10,
        );
        assert_eq!(messages.len(), 1);
        assert_eq!(messages[0].0, Speaker::User);
    }

    #[test]
    fn search_passages_share_a_quarter_skip_pinned_documents_and_are_cited() {
        let pinned_id = FileId::new();
        let pinned = [Pinned {
            id: pinned_id,
            path: "pinned.md".into(),
            revision: 2,
            content: "pinned text".into(),
        }];
        let passage = |id: FileId, path: &str, text: String| Passage {
            file_id: id,
            path: path.into(),
            revision: 7,
            text,
        };
        let found = [
            passage(pinned_id, "pinned.md", "again".into()),
            passage(FileId::new(), "found.md", "y".repeat(500)),
            passage(FileId::new(), "other.md", "z".into()),
        ];
        let (messages, citations) = assemble("", &pinned, &found, &[], "q", 800);
        let system = &messages[0].1;
        assert!(system.contains("### found.md (revision 7)"));
        assert!(system.contains(&format!("{}{TRUNCATED}", "y".repeat(100))));
        assert!(!system.contains(&"y".repeat(101)));
        assert!(
            !system.contains("again"),
            "a pinned document is not repeated"
        );
        let sources: Vec<(&str, CitationSource)> = citations
            .iter()
            .map(|c| (c.path.as_str(), c.source))
            .collect();
        assert_eq!(
            sources,
            [
                ("pinned.md", CitationSource::Pinned),
                ("found.md", CitationSource::Search),
                ("other.md", CitationSource::Search),
            ]
        );
    }
}
