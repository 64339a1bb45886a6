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
use std::time::{Duration, Instant};

/// How long a line diff may search before settling for a coarser answer (whole runs of
/// lines replaced instead of the smallest change). The answer stays exact, only less small,
/// and a save holds its document's row lock for at most about this long while diffing.
pub const DIFF_DEADLINE: Duration = Duration::from_millis(250);

/// Differing middles up to this many bytes (both sides together) are diffed on the calling
/// task: at most a few hundred lines, microseconds of work. Larger ones go to the blocking
/// pool so a big diff never stalls an async worker.
pub const INLINE_DIFF_BYTES: usize = 16 * 1024;
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

/// What a diff from one text to another says: the edit script and how many lines it inserts
/// and deletes (a line changed counts once each way).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delta {
    pub script: Vec<u8>,
    pub inserted: i32,
    pub deleted: i32,
}

/// Two texts cut into the lines they share at both ends and the differing middle.
struct Split<'a> {
    prefix: usize,
    suffix: usize,
    from_mid: &'a str,
    to_mid: &'a str,
}

impl<'a> Split<'a> {
    fn new(from: &'a str, to: &'a str) -> Self {
        let prefix = line_start_before(from, common_prefix(from, to));
        let (from_rest, to_rest) = (&from[prefix..], &to[prefix..]);
        let suffix = common_line_suffix(from_rest, to_rest);
        Self {
            prefix,
            suffix,
            from_mid: &from_rest[..from_rest.len() - suffix],
            to_mid: &to_rest[..to_rest.len() - suffix],
        }
    }

    fn mid_bytes(&self) -> usize {
        self.from_mid.len() + self.to_mid.len()
    }
}

/// The start of the line holding byte `n` of `text` (`n` itself when a line starts there).
fn line_start_before(text: &str, n: usize) -> usize {
    text[..n].rfind('\n').map_or(0, |i| i + 1)
}

/// Byte length of the longest common suffix of `a` and `b` made of whole lines (both start at
/// a line start, which their first byte is).
fn common_line_suffix(a: &str, b: &str) -> usize {
    let n = common_suffix(a, b);
    let starts_line = |t: &str, at: usize| at == 0 || t.as_bytes()[at - 1] == b'\n';
    if starts_line(a, a.len() - n) && starts_line(b, b.len() - n) {
        return n;
    }
    // Inside the shared tail, a line starts right after each newline in both texts.
    let tail = &a[a.len() - n..];
    tail.find('\n').map_or(0, |i| n - i - 1)
}

/// The edit script from `from` to `to` and its line counts, found by a line diff (Myers)
/// that gives up refining after `deadline`; exact whenever it ends.
pub fn delta(from: &str, to: &str, deadline: Option<Instant>) -> Delta {
    let split = Split::new(from, to);
    framed(
        split.prefix,
        middle_delta(split.from_mid, split.to_mid, deadline),
        split.suffix,
    )
}

/// [`delta`] with [`DIFF_DEADLINE`], on the blocking pool unless the texts differ in little.
pub async fn delta_bounded(from: &str, to: &str) -> Result<Delta, tokio::task::JoinError> {
    let split = Split::new(from, to);
    let deadline = Instant::now() + DIFF_DEADLINE;
    if split.mid_bytes() <= INLINE_DIFF_BYTES {
        return Ok(delta(from, to, Some(deadline)));
    }
    let (from_mid, to_mid) = (split.from_mid.to_owned(), split.to_mid.to_owned());
    let mid = tokio::task::spawn_blocking(move || middle_delta(&from_mid, &to_mid, Some(deadline)))
        .await?;
    Ok(framed(split.prefix, mid, split.suffix))
}

/// A middle's delta with the shared first and last lines copied around it.
fn framed(prefix: usize, mid: Delta, suffix: usize) -> Delta {
    if prefix == 0 && suffix == 0 {
        return mid;
    }
    let mut script = Vec::with_capacity(mid.script.len() + 12);
    if prefix > 0 {
        script.push(COPY);
        put_varint(&mut script, prefix);
    }
    script.extend_from_slice(&mid.script);
    if suffix > 0 {
        script.push(COPY);
        put_varint(&mut script, suffix);
    }
    Delta { script, ..mid }
}

/// An edit script that turns `from` into `to` (see [`delta`]).
pub fn script(from: &str, to: &str) -> Vec<u8> {
    delta(from, to, Some(Instant::now() + DIFF_DEADLINE)).script
}

/// The script and line counts of two texts that share neither their first nor last line.
fn middle_delta(from_mid: &str, to_mid: &str, deadline: Option<Instant>) -> Delta {
    let mut out = Vec::with_capacity(16 + to_mid.len() / 4);
    let (old, new) = (lines(from_mid), lines(to_mid));
    let (mut inserted, mut deleted) = (0usize, 0usize);
    let byte_len = |ls: &[&str]| ls.iter().map(|l| l.len()).sum::<usize>();
    for op in similar::capture_diff_slices_deadline(Algorithm::Myers, &old, &new, deadline) {
        match op {
            DiffOp::Equal { old_index, len, .. } => {
                out.push(COPY);
                put_varint(&mut out, byte_len(&old[old_index..old_index + len]));
            }
            DiffOp::Delete {
                old_index, old_len, ..
            } => {
                deleted += old_len;
                out.push(SKIP);
                put_varint(&mut out, byte_len(&old[old_index..old_index + old_len]));
            }
            DiffOp::Insert {
                new_index, new_len, ..
            } => {
                inserted += new_len;
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
                deleted += old_len;
                inserted += new_len;
                let removed = &old[old_index..old_index + old_len].concat();
                let added = &new[new_index..new_index + new_len].concat();
                replace(&mut out, removed, added);
            }
        }
    }
    Delta {
        script: out,
        inserted: to_i32(inserted),
        deleted: to_i32(deleted),
    }
}

/// Within a replaced run, keep what the two sides share at their ends.
fn replace(out: &mut Vec<u8>, removed: &str, added: &str) {
    let p = common_prefix(removed, added);
    let s = common_suffix(&removed[p..], &added[p..]);
    if p > 0 {
        out.push(COPY);
        put_varint(out, p);
    }
    out.push(SKIP);
    put_varint(out, removed.len() - p - s);
    let middle = &added[p..added.len() - s];
    out.push(INSERT);
    put_varint(out, middle.len());
    out.extend_from_slice(middle.as_bytes());
    if s > 0 {
        out.push(COPY);
        put_varint(out, s);
    }
}

fn to_i32(n: usize) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

/// The number of lines of `text` (a last line without a newline counts).
pub fn line_count(text: &str) -> i32 {
    to_i32(text.split_inclusive('\n').count())
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
    let d = delta(old, new, Some(Instant::now() + DIFF_DEADLINE));
    (d.inserted, d.deleted)
}

/// A unified line diff from `old` (version `a`) to `new` (version `b`), searched for at most
/// [`DIFF_DEADLINE`] (then coarser, still exact). Call it off the async workers for big texts.
pub fn unified(old: &str, new: &str, a: &str, b: &str) -> String {
    TextDiff::configure()
        .algorithm(Algorithm::Myers)
        .deadline(Instant::now() + DIFF_DEADLINE)
        .diff_lines(old, new)
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

    /// The line counts of the old whole-text line diff, to check the split keeps them.
    fn whole_line_stats(old: &str, new: &str) -> (i32, i32) {
        let diff = TextDiff::from_lines(old, new);
        let (mut added, mut removed) = (0, 0);
        for change in diff.iter_all_changes() {
            match change.tag() {
                similar::ChangeTag::Insert => added += 1,
                similar::ChangeTag::Delete => removed += 1,
                similar::ChangeTag::Equal => {}
            }
        }
        (added, removed)
    }

    #[test]
    fn line_counts_match_a_whole_line_diff() {
        let pairs = [
            ("", ""),
            ("", "a\nb"),
            ("a", "a\n"),
            ("hello world\n", "hello there world\n"),
            ("a\nb\nc\n", "a\nx\nb\nc\n"),
            ("b\n", "a\nb\n"),
            ("b\n", "xb\n"),
            ("x\ny\nz", "x\ny\nz\nw"),
            ("one\ntwo\nthree\n", "three\ntwo\none\n"),
            ("same\nsame\n", "same\n"),
        ];
        for (a, b) in pairs {
            let d = delta(a, b, None);
            assert_eq!(
                (d.inserted, d.deleted),
                whole_line_stats(a, b),
                "{a:?} -> {b:?}"
            );
            assert_eq!(apply(a, &d.script).unwrap(), b, "{a:?} -> {b:?}");
        }
    }

    fn distinct_lines(tag: &str, n: usize) -> String {
        (0..n).map(|i| format!("{tag}{i:x}\n")).collect()
    }

    #[test]
    fn a_diff_cut_short_by_its_deadline_still_reproduces_the_text() {
        let a = distinct_lines("a", 3000);
        let mut b = distinct_lines("b", 3000);
        b.insert_str(b.len() / 2, &a[..a.len() / 3]);
        // A deadline already passed: the diff gives up at once and replaces whole runs.
        let cut = delta(&a, &b, Some(Instant::now()));
        assert_eq!(apply(&a, &cut.script).unwrap(), b);
        let full = delta(&a, &b, None);
        assert_eq!(apply(&a, &full.script).unwrap(), b);
        assert!(cut.script.len() >= full.script.len());
        assert!(cut.inserted >= full.inserted && cut.deleted >= full.deleted);
        assert_eq!(cut.deleted, 3000, "the cut diff replaced everything");
        // Shared first and last lines are kept even when cut.
        let edited = a.replacen("a5\n", "a5 edited\n", 1);
        let cut = delta(&a, &edited, Some(Instant::now()));
        assert_eq!(apply(&a, &cut.script).unwrap(), edited);
        assert!(cut.script.len() < 40, "{} bytes", cut.script.len());
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn big_diffs_run_off_the_worker_and_round_trip() {
        let a = distinct_lines("a", 20_000);
        let b = distinct_lines("b", 20_000);
        let d = delta_bounded(&a, &b).await.unwrap();
        assert_eq!(apply(&a, &d.script).unwrap(), b);
        assert_eq!((d.inserted, d.deleted), (20_000, 20_000));
        let small = delta_bounded("x\ny\n", "x\nz\n").await.unwrap();
        assert_eq!(apply("x\ny\n", &small.script).unwrap(), "x\nz\n");
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
