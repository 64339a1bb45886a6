//! Version storage: compact edit scripts between versions, line statistics and unified diffs.
//!
//! The newest content lives whole in `files.content`. Every older version stores a *reverse*
//! edit script that turns the next version's text into its own, or, when the scripts since the
//! last full copy add up to more than twice the document, a full snapshot. So:
//! - saving costs one diff against the previous head, whatever the history's length;
//! - reading version k applies at most ~2× the document's size worth of scripts;
//! - storage per version is about the size of the change, plus one full copy per 2× the
//!   document's size of changes (bound: ≤ 2 × changed bytes + document size × (1 + changes/2doc)).

use similar::{Algorithm, DiffOp, TextDiff};

const COPY: u8 = 0;
const SKIP: u8 = 1;
const INSERT: u8 = 2;

#[derive(Debug, thiserror::Error)]
#[error("a stored edit script is corrupt")]
pub struct CorruptScript;

fn put_varint(out: &mut Vec<u8>, mut v: usize) {
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

fn get_varint(input: &[u8], pos: &mut usize) -> Result<usize, CorruptScript> {
    let mut v: usize = 0;
    let mut shift = 0;
    loop {
        let byte = *input.get(*pos).ok_or(CorruptScript)?;
        *pos += 1;
        v |= usize::from(byte & 0x7f)
            .checked_shl(shift)
            .ok_or(CorruptScript)?;
        if byte & 0x80 == 0 {
            return Ok(v);
        }
        shift += 7;
        if shift > 63 {
            return Err(CorruptScript);
        }
    }
}

fn lines(text: &str) -> Vec<&str> {
    text.split_inclusive('\n').collect()
}

/// An edit script that turns `from` into `to`: copy, skip and insert runs over `from`'s bytes,
/// found by a line diff (Myers) after trimming the common prefix and suffix.
pub fn script(from: &str, to: &str) -> Vec<u8> {
    let prefix = common_prefix(from, to);
    let suffix = common_suffix(&from[prefix..], &to[prefix..]);
    let from_mid = &from[prefix..from.len() - suffix];
    let to_mid = &to[prefix..to.len() - suffix];
    let mut out = Vec::with_capacity(16 + to_mid.len() / 4);
    if prefix > 0 {
        out.push(COPY);
        put_varint(&mut out, prefix);
    }
    let (old, new) = (lines(from_mid), lines(to_mid));
    let byte_len = |ls: &[&str]| ls.iter().map(|l| l.len()).sum::<usize>();
    for op in similar::capture_diff_slices(Algorithm::Myers, &old, &new) {
        match op {
            DiffOp::Equal { old_index, len, .. } => {
                out.push(COPY);
                put_varint(&mut out, byte_len(&old[old_index..old_index + len]));
            }
            DiffOp::Delete {
                old_index, old_len, ..
            } => {
                out.push(SKIP);
                put_varint(&mut out, byte_len(&old[old_index..old_index + old_len]));
            }
            DiffOp::Insert {
                new_index, new_len, ..
            } => {
                let text: String = new[new_index..new_index + new_len].concat();
                out.push(INSERT);
                put_varint(&mut out, text.len());
                out.extend_from_slice(text.as_bytes());
            }
            DiffOp::Replace {
                old_index,
                old_len,
                new_index,
                new_len,
            } => {
                let removed = &old[old_index..old_index + old_len].concat();
                let added = &new[new_index..new_index + new_len].concat();
                // Within a replaced run, keep what the two sides share at their ends.
                let p = common_prefix(removed, added);
                let s = common_suffix(&removed[p..], &added[p..]);
                if p > 0 {
                    out.push(COPY);
                    put_varint(&mut out, p);
                }
                out.push(SKIP);
                put_varint(&mut out, removed.len() - p - s);
                let middle = &added[p..added.len() - s];
                out.push(INSERT);
                put_varint(&mut out, middle.len());
                out.extend_from_slice(middle.as_bytes());
                if s > 0 {
                    out.push(COPY);
                    put_varint(&mut out, s);
                }
            }
        }
    }
    if suffix > 0 {
        out.push(COPY);
        put_varint(&mut out, suffix);
    }
    out
}

/// Apply a script made by [`script`] to the text it was made from.
pub fn apply(from: &str, script: &[u8]) -> Result<String, CorruptScript> {
    let src = from.as_bytes();
    let mut out = Vec::with_capacity(from.len());
    let (mut pos, mut cursor) = (0usize, 0usize);
    while pos < script.len() {
        let tag = script[pos];
        pos += 1;
        let len = get_varint(script, &mut pos)?;
        match tag {
            COPY => {
                let end = cursor.checked_add(len).ok_or(CorruptScript)?;
                out.extend_from_slice(src.get(cursor..end).ok_or(CorruptScript)?);
                cursor = end;
            }
            SKIP => cursor = cursor.checked_add(len).ok_or(CorruptScript)?,
            INSERT => {
                let end = pos.checked_add(len).ok_or(CorruptScript)?;
                out.extend_from_slice(script.get(pos..end).ok_or(CorruptScript)?);
                pos = end;
            }
            _ => return Err(CorruptScript),
        }
    }
    String::from_utf8(out).map_err(|_| CorruptScript)
}

/// Byte length of the common prefix, on a char boundary of both.
fn common_prefix(a: &str, b: &str) -> usize {
    let n = a.bytes().zip(b.bytes()).take_while(|(x, y)| x == y).count();
    let mut n = n;
    while !(a.is_char_boundary(n) && b.is_char_boundary(n)) {
        n -= 1;
    }
    n
}

/// Byte length of the common suffix, on a char boundary of both.
fn common_suffix(a: &str, b: &str) -> usize {
    let n = a
        .bytes()
        .rev()
        .zip(b.bytes().rev())
        .take_while(|(x, y)| x == y)
        .count();
    let mut n = n;
    while !(a.is_char_boundary(a.len() - n) && b.is_char_boundary(b.len() - n)) {
        n -= 1;
    }
    n
}

/// Lines added and removed going from `old` to `new`.
pub fn line_stats(old: &str, new: &str) -> (i32, i32) {
    let diff = TextDiff::configure()
        .algorithm(Algorithm::Myers)
        .diff_lines(old, new);
    let (mut added, mut removed) = (0i32, 0i32);
    for change in diff.iter_all_changes() {
        match change.tag() {
            similar::ChangeTag::Insert => added += 1,
            similar::ChangeTag::Delete => removed += 1,
            similar::ChangeTag::Equal => {}
        }
    }
    (added, removed)
}

/// A unified line diff from `old` (version `a`) to `new` (version `b`).
pub fn unified(old: &str, new: &str, a: &str, b: &str) -> String {
    TextDiff::from_lines(old, new)
        .unified_diff()
        .context_radius(3)
        .header(a, b)
        .to_string()
}

/// The first Markdown heading (`# Title`), the document's title.
pub fn title(content: &str) -> String {
    content
        .lines()
        .map(str::trim_start)
        .find(|l| l.starts_with('#'))
        .map(|l| l.trim_start_matches('#').trim().chars().take(200).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(a: &str, b: &str) -> usize {
        let s = script(a, b);
        assert_eq!(apply(a, &s).unwrap(), b, "{a:?} -> {b:?}");
        s.len()
    }

    #[test]
    fn scripts_round_trip() {
        round_trip("", "");
        round_trip("", "hello\n");
        round_trip("hello\n", "");
        round_trip("a\nb\nc\n", "a\nB\nc\n");
        round_trip(
            "# Title\n\nsome text\n",
            "# Title\n\nsome more text\nand a line\n",
        );
        round_trip("héllo wörld\n", "héllo wörld!\n");
        round_trip("ünï\ncode\n", "ünï\nčode\n");
        round_trip("no newline", "no newline at all");
        round_trip("a\nb\nc\nd\ne\n", "e\nd\nc\nb\na\n");
    }

    #[test]
    fn a_small_edit_in_a_big_document_costs_a_few_bytes() {
        let doc: String = (0..500)
            .map(|i| format!("Line {i} of the document.\n"))
            .collect();
        let edited = doc.replacen("Line 250 of", "Line 250 (edited) of", 1);
        let size = round_trip(&doc, &edited);
        assert!(size < 40, "{size} bytes");
        let size = round_trip(&edited, &doc);
        assert!(size < 40, "{size} bytes");
    }

    #[test]
    fn corrupt_scripts_are_errors_not_panics() {
        assert!(apply("abc", &[COPY, 10]).is_err());
        assert!(apply("abc", &[9, 1]).is_err());
        assert!(apply("abc", &[INSERT, 5, b'x']).is_err());
        assert!(apply("abc", &[COPY, 0xff]).is_err());
    }

    #[test]
    fn stats_diff_and_title() {
        assert_eq!(line_stats("a\nb\n", "a\nc\nd\n"), (2, 1));
        let d = unified("a\nb\n", "a\nc\n", "v1", "v2");
        assert!(
            d.contains("--- v1") && d.contains("+++ v2") && d.contains("-b") && d.contains("+c")
        );
        assert_eq!(title("intro\n## Plan  \ntext"), "Plan");
        assert_eq!(title("no heading"), "");
    }
}
