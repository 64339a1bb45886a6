//! Text merges onto the shared `Y.Text`: a REST write becomes the smallest set of Yjs edits,
//! placed around whatever collaborators typed meanwhile, so nobody's typing is lost.

use similar::{ChangeTag, TextDiff};
use std::ops::Range;
use std::time::{Duration, Instant};
use yrs::{Text, TextRef, TransactionMut};

/// How long a character diff may search before settling for a coarser answer.
const DIFF_DEADLINE: Duration = Duration::from_millis(250);

/// One replacement in the old text's byte coordinates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hunk {
    pub old: Range<usize>,
    pub insert: String,
}

/// A stretch of text both sides still share: `len` bytes at `old` in one and `new` in the other.
#[derive(Debug, Clone, Copy)]
struct Same {
    old: usize,
    new: usize,
    len: usize,
}

fn diff<'a>(old: &'a str, new: &'a str) -> TextDiff<'a, 'a, 'a, str> {
    TextDiff::configure()
        .deadline(Instant::now() + DIFF_DEADLINE)
        .diff_chars(old, new)
}

/// The replacements that turn `old` into `new`, in order.
pub fn hunks(old: &str, new: &str) -> Vec<Hunk> {
    let mut out: Vec<Hunk> = Vec::new();
    let mut pos = 0;
    for change in diff(old, new).iter_all_changes() {
        let value = change.value();
        match change.tag() {
            ChangeTag::Equal => pos += value.len(),
            ChangeTag::Delete => {
                match out.last_mut() {
                    Some(h) if h.old.end == pos => h.old.end += value.len(),
                    _ => out.push(Hunk {
                        old: pos..pos + value.len(),
                        insert: String::new(),
                    }),
                }
                pos += value.len();
            }
            ChangeTag::Insert => match out.last_mut() {
                Some(h) if h.old.end == pos => h.insert.push_str(value),
                _ => out.push(Hunk {
                    old: pos..pos,
                    insert: value.to_owned(),
                }),
            },
        }
    }
    out
}

fn shared(old: &str, new: &str) -> Vec<Same> {
    let mut out: Vec<Same> = Vec::new();
    let (mut o, mut n) = (0, 0);
    for change in diff(old, new).iter_all_changes() {
        let len = change.value().len();
        match change.tag() {
            ChangeTag::Equal => {
                match out.last_mut() {
                    Some(s) if s.old + s.len == o && s.new + s.len == n => s.len += len,
                    _ => out.push(Same {
                        old: o,
                        new: n,
                        len,
                    }),
                }
                o += len;
                n += len;
            }
            ChangeTag::Delete => o += len,
            ChangeTag::Insert => n += len,
        }
    }
    out
}

/// Where offset `p` of the old text is in the new one (inside a deleted stretch: where that
/// stretch was).
fn map(same: &[Same], p: usize) -> usize {
    let mut at = 0;
    for s in same {
        if p < s.old {
            return at;
        }
        if p <= s.old + s.len {
            return s.new + (p - s.old);
        }
        at = s.new + s.len;
    }
    at
}

/// [`map`] for the start of a range: an offset where two equal runs meet goes to the later
/// one, so text inserted just before the range stays out of it.
fn map_start(same: &[Same], p: usize) -> usize {
    same.iter()
        .find(|s| p >= s.old && p < s.old + s.len)
        .map_or_else(|| map(same, p), |s| s.new + (p - s.old))
}

/// [`map`] for the end of a range: to the earlier run, so text typed just after stays out.
fn map_end(same: &[Same], p: usize) -> usize {
    same.iter()
        .find(|s| p > s.old && p <= s.old + s.len)
        .map_or_else(|| map(same, p), |s| s.new + (p - s.old))
}

/// Where the byte range `from..to` of `old` lies in `new`, following what a character diff
/// finds both still share. An empty range is an insertion point before the character at it.
/// When characters of the range changed, the text between the two ends differs from the old
/// range's (the caller compares).
pub fn map_range(old: &str, new: &str, from: usize, to: usize) -> (usize, usize) {
    if old == new {
        return (from, to);
    }
    let same = shared(old, new);
    let start = map_start(&same, from);
    if from == to {
        return (start, start);
    }
    (start, map_end(&same, to).max(start))
}

fn index(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// Apply the change `base` → `target` to `text`, whose current content is `ours` (which may
/// have moved on from `base`). Only characters of `base` that are still in `ours` are
/// deleted, so concurrent insertions survive. Returns whether anything changed.
pub fn apply(
    txn: &mut TransactionMut,
    text: &TextRef,
    base: &str,
    ours: &str,
    target: &str,
) -> bool {
    let edits = hunks(base, target);
    if edits.is_empty() {
        return false;
    }
    let same = if base == ours {
        vec![Same {
            old: 0,
            new: 0,
            len: base.len(),
        }]
    } else {
        shared(base, ours)
    };
    for hunk in edits.iter().rev() {
        // Delete, from the back, the parts of the replaced range `ours` still has.
        for s in same.iter().rev() {
            let start = hunk.old.start.max(s.old);
            let end = hunk.old.end.min(s.old + s.len);
            if start < end {
                let at = s.new + (start - s.old);
                text.remove_range(txn, index(at), index(end - start));
            }
        }
        if !hunk.insert.is_empty() {
            text.insert(txn, index(map(&same, hunk.old.start)), &hunk.insert);
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use yrs::{Doc, GetString, Transact};

    fn merged(base: &str, ours: &str, target: &str) -> String {
        let doc = Doc::new();
        let text = doc.get_or_insert_text("content");
        let mut txn = doc.transact_mut();
        text.insert(&mut txn, 0, ours);
        apply(&mut txn, &text, base, ours, target);
        text.get_string(&txn)
    }

    #[test]
    fn ranges_follow_the_text_and_keep_typing_at_their_edges_out() {
        let old = "one two three";
        // Typed right before and right after "two".
        let new = "one XXtwoYY three";
        let (a, b) = map_range(old, new, 4, 7);
        assert_eq!(&new[a..b], "two");
        // Typed inside it: the range covers the typing, so the quote no longer matches.
        let new = "one tZwo three";
        let (a, b) = map_range(old, new, 4, 7);
        assert_eq!(&new[a..b], "tZwo");
        // Multibyte text before the range.
        let (a, b) = map_range("日本 語", "🙂日本 語", 7, 10);
        assert_eq!(&"🙂日本 語"[a..b], "語");
        assert_eq!(map_range("ab", "xab", 1, 1), (2, 2));
    }

    #[test]
    fn hunks_cover_the_change() {
        assert_eq!(
            hunks("hello world", "hello brave world!"),
            vec![
                Hunk {
                    old: 6..6,
                    insert: "brave ".into()
                },
                Hunk {
                    old: 11..11,
                    insert: "!".into()
                }
            ]
        );
        assert!(hunks("same", "same").is_empty());
    }

    #[test]
    fn plain_diff_reaches_the_target() {
        assert_eq!(merged("abc def", "abc def", "abX dxf ghi"), "abX dxf ghi");
        assert_eq!(merged("", "", "new text"), "new text");
        assert_eq!(merged("gone", "gone", ""), "");
    }

    #[test]
    fn concurrent_typing_survives_a_rest_write() {
        // Someone typed "!!" at the end while the REST client changed the first word.
        assert_eq!(
            merged("one two three", "one two three!!", "ONE two three"),
            "ONE two three!!"
        );
        // Someone inserted inside a range the REST client deleted: their text stays.
        let kept = merged("a bcd e", "a bXcd e", "a e");
        assert!(kept.contains('X'), "{kept:?}");
        assert_eq!(kept.replace('X', ""), "a e");
    }

    #[test]
    fn multibyte_text_is_cut_on_character_boundaries() {
        assert_eq!(
            merged("héllo wörld", "héllo wörld", "hello wörld ✓"),
            "hello wörld ✓"
        );
        assert_eq!(merged("日本語", "日本語です", "日本"), "日本です");
    }

    /// Lines of a small alphabet (with multibyte characters), so diffs have real overlap.
    fn lines() -> impl proptest::strategy::Strategy<Value = Vec<String>> {
        proptest::collection::vec("[ab é日\\n]{0,12}", 2..12)
    }

    proptest::proptest! {
        /// One side edits the first half of the lines, the other inserts a marker into the
        /// second half: the merge keeps both.
        #[test]
        fn disjoint_edits_both_survive(
            base in lines(),
            theirs in lines(),
            at in 0usize..100,
        ) {
            let half = base.len() / 2;
            let base_text: String = base.iter().map(|l| format!("{l}\n")).collect();
            let head: String = base[..half].iter().map(|l| format!("{l}\n")).collect();
            let tail: String = base[half..].iter().map(|l| format!("{l}\n")).collect();
            // REST rewrote the head; a collaborator typed into the tail.
            let rewritten: String = theirs.iter().map(|l| format!("{l}#\n")).collect();
            let target = format!("{rewritten}{tail}");
            let cut = tail.char_indices().map(|(i, _)| i).nth(at % tail.chars().count().max(1)).unwrap_or(0);
            let ours = format!("{head}{}@@{}", &tail[..cut], &tail[cut..]);
            let out = merged(&base_text, &ours, &target);
            // Where equal runs make the place ambiguous the marker may land elsewhere in
            // them, but it is there once, and the rest is exactly the REST text.
            proptest::prop_assert_eq!(out.matches("@@").count(), 1, "{:?}", out);
            proptest::prop_assert_eq!(out.replace("@@", ""), target);
        }

        /// Whatever the three texts, the merge yields valid text containing every insertion
        /// of ours that is not in the base (the other side never deletes what it never saw).
        #[test]
        fn insertions_of_ours_are_never_lost(
            base in "[ab é日]{0,24}",
            target in "[ab é日]{0,24}",
            insert_at in 0usize..30,
        ) {
            let chars: Vec<char> = base.chars().collect();
            let at = insert_at % (chars.len() + 1);
            let mut ours: String = chars[..at].iter().collect();
            ours.push_str("XYZ");
            ours.extend(&chars[at..]);
            let out = merged(&base, &ours, &target);
            proptest::prop_assert!(out.contains("XYZ"), "{:?}", out);
            proptest::prop_assert_eq!(out.replace("XYZ", "").chars().count() <= base.chars().count() + target.chars().count(), true);
        }
    }
}
