//! Three-way merge by lines: the edits each side made to the base, both applied when they
//! touch different lines.
//!
//! Two edits conflict when their base ranges overlap, or when they start at the same line
//! (two insertions there have no order); the same edit made on both sides is taken once.
//! An edit right after another (`[2, 4)` and an insertion at 4) is not a conflict.

use similar::{Algorithm, DiffOp, capture_diff_slices};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Merge {
    Clean(String),
    Conflict,
}

/// One side's edit: base lines `start..end` become `lines`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Hunk<'a> {
    start: usize,
    end: usize,
    lines: Vec<&'a str>,
}

fn lines(text: &str) -> Vec<&str> {
    text.split_inclusive('\n').collect()
}

/// The edits that turn `base` into `side`, adjacent ones joined.
fn hunks<'a>(base: &[&'a str], side: &[&'a str]) -> Vec<Hunk<'a>> {
    let mut out: Vec<Hunk<'a>> = Vec::new();
    // Where the previous op ended in the base: an insertion goes there (the `old_index`
    // `similar` gives an insertion after a common suffix can point elsewhere).
    let mut old_at = 0;
    for op in capture_diff_slices(Algorithm::Myers, base, side) {
        let (start, end, new) = match op {
            DiffOp::Equal { old_index, len, .. } => {
                old_at = old_index + len;
                continue;
            }
            DiffOp::Delete {
                old_index, old_len, ..
            } => (old_index, old_index + old_len, 0..0),
            DiffOp::Insert {
                new_index, new_len, ..
            } => (old_at, old_at, new_index..new_index + new_len),
            DiffOp::Replace {
                old_index,
                old_len,
                new_index,
                new_len,
            } => (
                old_index,
                old_index + old_len,
                new_index..new_index + new_len,
            ),
        };
        old_at = end;
        let new_lines = side.get(new).unwrap_or_default().to_vec();
        match out.last_mut() {
            Some(last) if last.end == start => {
                last.end = end;
                last.lines.extend(new_lines);
            }
            _ => out.push(Hunk {
                start,
                end,
                lines: new_lines,
            }),
        }
    }
    out
}

fn conflict(a: &Hunk<'_>, b: &Hunk<'_>) -> bool {
    (a.start < b.end && b.start < a.end) || a.start == b.start
}

/// Merge `local` and `remote`, both edited from `base`.
pub fn merge3(base: &str, local: &str, remote: &str) -> Merge {
    if local == remote || remote == base {
        return Merge::Clean(local.to_owned());
    }
    if local == base {
        return Merge::Clean(remote.to_owned());
    }
    let (b, l, r) = (lines(base), lines(local), lines(remote));
    let mut all: Vec<Hunk<'_>> = hunks(&b, &l);
    all.extend(hunks(&b, &r));
    // Stable: on a tie the local edit comes first (a tie is a conflict or the same edit).
    all.sort_by_key(|h| h.start);
    let mut edits: Vec<Hunk<'_>> = Vec::with_capacity(all.len());
    for hunk in all {
        // One side's edits are disjoint and apart, and those kept are in order, so an edit
        // can only clash with the last one kept.
        match edits.last() {
            Some(last) if conflict(last, &hunk) => {
                if *last != hunk {
                    return Merge::Conflict;
                }
            }
            _ => edits.push(hunk),
        }
    }
    // Sorted by start, disjoint: apply in one pass.
    let mut out = String::with_capacity(local.len().max(remote.len()));
    let mut at = 0;
    for edit in &edits {
        if edit.start < at {
            return Merge::Conflict;
        }
        out.extend(b.get(at..edit.start).unwrap_or_default().iter().copied());
        out.extend(edit.lines.iter().copied());
        at = edit.end;
    }
    out.extend(b.get(at..).unwrap_or_default().iter().copied());
    Merge::Clean(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn edits_on_different_lines_are_both_kept() {
        let base = "a\nb\nc\nd\ne\n";
        let local = "A\nb\nc\nd\ne\n";
        let remote = "a\nb\nc\nd\nE\n";
        assert_eq!(
            merge3(base, local, remote),
            Merge::Clean("A\nb\nc\nd\nE\n".into())
        );
    }

    #[test]
    fn edits_of_the_same_line_conflict() {
        assert_eq!(merge3("a\nb\n", "a\nX\n", "a\nY\n"), Merge::Conflict);
        // Two insertions at one place have no order.
        assert_eq!(merge3("a\nb\n", "a\n1\nb\n", "a\n2\nb\n"), Merge::Conflict);
    }

    #[test]
    fn the_same_edit_on_both_sides_is_taken_once() {
        assert_eq!(
            merge3("a\nb\nc\n", "a\nX\nc\nd\n", "a\nX\nc\n"),
            Merge::Clean("a\nX\nc\nd\n".into())
        );
    }

    #[test]
    fn a_missing_final_newline_is_kept() {
        assert_eq!(
            merge3("a\nb\nc", "A\nb\nc", "a\nb\nC"),
            Merge::Clean("A\nb\nC".into())
        );
    }

    #[test]
    fn an_insertion_after_a_common_suffix_lands_at_the_end() {
        // Found by the property test: `similar` gives this insertion `old_index` 6 (inside
        // the deletion before it), which made it clash with an edit at the top.
        let base = "=====\n\n\na\na\na\na\na\n\n";
        assert_eq!(
            merge3(base, &format!("\n{base}"), "=====\n\n\n\n\n"),
            Merge::Clean("\n=====\n\n\n\n\n".into())
        );
    }

    fn text() -> impl Strategy<Value = Vec<String>> {
        prop::collection::vec("[a-c]{0,2}\n", 0..12)
    }

    proptest! {
        #[test]
        fn one_sided_edits_win(base in text(), side in text()) {
            let (base, side) = (base.concat(), side.concat());
            prop_assert_eq!(merge3(&base, &side, &base), Merge::Clean(side.clone()));
            prop_assert_eq!(merge3(&base, &base, &side), Merge::Clean(side.clone()));
            prop_assert_eq!(merge3(&base, &side, &side), Merge::Clean(side.clone()));
        }

        /// Base = head + middle + tail with a fixed line between the parts; one side rewrites
        /// the head, the other the tail: both land.
        #[test]
        fn edits_of_separate_parts_merge(
            head in text(), tail in text(), new_head in text(), new_tail in text(),
        ) {
            let sep = "=====\n";
            let base = format!("{}{sep}{}", head.concat(), tail.concat());
            let local = format!("{}{sep}{}", new_head.concat(), tail.concat());
            let remote = format!("{}{sep}{}", head.concat(), new_tail.concat());
            let expected = format!("{}{sep}{}", new_head.concat(), new_tail.concat());
            prop_assert_eq!(merge3(&base, &local, &remote), Merge::Clean(expected));
        }

        /// Whatever it answers, a clean merge keeps every line both sides agree to keep and
        /// never panics.
        #[test]
        fn any_three_texts(base in text(), local in text(), remote in text()) {
            let (base, local, remote) = (base.concat(), local.concat(), remote.concat());
            if let Merge::Clean(m) = merge3(&base, &local, &remote) {
                let swapped = merge3(&base, &remote, &local);
                prop_assert_eq!(swapped, Merge::Clean(m));
            }
        }
    }
}
