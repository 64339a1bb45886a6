//! A suggestion's range in the live Yjs document: Yjs relative positions (`StickyIndex` in
//! yrs, the same bytes as `Y.encodeRelativePosition`, base64 as comment anchors), made from
//! character offsets into a file revision and resolved again when the suggestion is accepted.
//! Pure functions on an encoded state (see [`Room::scratch`]); run on the blocking pool.
//!
//! [`Room::scratch`]: crate::room::Room::scratch

use crate::merge;
use crate::room::merge_update;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use yrs::branch::BranchPtr;
use yrs::updates::decoder::Decode;
use yrs::updates::encoder::Encode;
use yrs::{
    Assoc, Doc, GetString, IndexedSequence, ReadTxn, StickyIndex, Text, TextRef, Transact, Update,
};

/// Where a new suggestion's range is in the live document.
#[derive(Debug, PartialEq, Eq)]
pub enum Placed {
    /// Anchored: the two relative positions (base64) and the text between them now.
    At {
        start: String,
        end: String,
        quote: String,
    },
    /// The text at that place is no longer what the caller saw (`current`: what it is now,
    /// `None` when the place cannot be found at all).
    Changed { current: Option<String> },
}

/// What accepting a suggestion would do to the live document.
#[derive(Debug, PartialEq, Eq)]
pub enum Replacement {
    /// The Yjs update replacing the range (`None`: the proposal equals the quote).
    Apply(Option<Vec<u8>>),
    /// The quoted text changed (or its place is gone): nothing is applied.
    Stale { current: Option<String> },
    /// The document would grow past the file limit.
    TooBig,
}

pub fn decode(b64: &str) -> Option<StickyIndex> {
    let bytes = B64.decode(b64).ok()?;
    StickyIndex::decode_v1(&bytes).ok()
}

fn encode(index: &StickyIndex) -> String {
    B64.encode(index.encode_v1())
}

fn load(state: &[u8]) -> Result<(Doc, TextRef), String> {
    let doc = Doc::new();
    let text = doc.get_or_insert_text(crate::TEXT_NAME);
    let update = Update::decode_v1(state).map_err(|e| e.to_string())?;
    doc.transact_mut()
        .apply_update(update)
        .map_err(|e| e.to_string())?;
    Ok((doc, text))
}

fn to_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// A relative position at byte offset `at` (the end of the text included).
fn sticky(txn: &impl ReadTxn, text: &TextRef, at: usize, assoc: Assoc) -> Option<StickyIndex> {
    text.sticky_index(txn, to_u32(at), assoc).or_else(|| {
        // yrs has no item to stick to after the last character: the type's end, as Yjs.
        (assoc == Assoc::After).then(|| StickyIndex::from_type(txn, text, Assoc::After))
    })
}

/// The byte range between two relative positions in `text`, if both resolve there: a position
/// in another type of the document (a client may store anything in its `Y.Doc`) does not.
fn resolve(
    txn: &impl ReadTxn,
    text: &TextRef,
    start: &StickyIndex,
    end: &StickyIndex,
) -> Option<(usize, usize)> {
    let ours = BranchPtr::from(AsRef::<yrs::branch::Branch>::as_ref(text));
    let offset = |index: &StickyIndex| {
        let at = index.get_offset(txn)?;
        (at.branch == ours).then_some(at.index as usize)
    };
    let (a, b) = (offset(start)?, offset(end)?);
    Some((a, b.max(a)))
}

/// Anchor the range `from..to` (Unicode scalar values) of `base`, a file revision's text,
/// in the live document whose state is `state`. The range is followed through what changed
/// since `base` (a character diff); when its own characters changed, [`Placed::Changed`].
/// The start sticks to the range's first character and the end to its last, so typing
/// just before or just after the range stays outside it; an empty range (an insertion
/// point) sticks to the character after it.
pub fn place_offsets(state: &[u8], base: &str, from: usize, to: usize) -> Result<Placed, String> {
    let byte = |chars: usize| {
        base.char_indices()
            .map(|(i, _)| i)
            .chain(std::iter::once(base.len()))
            .nth(chars)
    };
    let (Some(bf), Some(bt)) = (byte(from), byte(to)) else {
        return Err("offsets past the end of the text".into());
    };
    let quote = &base[bf..bt];
    let (doc, text) = load(state)?;
    let txn = doc.transact();
    let live = text.get_string(&txn);
    let (lf, lt) = merge::map_range(base, &live, bf, bt);
    let current = live.get(lf..lt);
    if current != Some(quote) {
        return Ok(Placed::Changed {
            current: current.map(str::to_owned),
        });
    }
    let (start, end) = anchor_pair(&txn, &text, lf, lt)?;
    Ok(Placed::At {
        start,
        end,
        quote: quote.to_owned(),
    })
}

/// Relative positions (base64) of the byte range `from..to` of the live text: the start
/// sticks to the range's first character and the end to its last; an empty range sticks to
/// the character after it.
fn anchor_pair(
    txn: &impl ReadTxn,
    text: &TextRef,
    from: usize,
    to: usize,
) -> Result<(String, String), String> {
    let end_assoc = if from == to {
        Assoc::After
    } else {
        Assoc::Before
    };
    let start = sticky(txn, text, from, Assoc::After);
    let end = sticky(txn, text, to, end_assoc);
    let (Some(start), Some(end)) = (start, end) else {
        return Err("no relative position for the range".into());
    };
    Ok((encode(&start), encode(&end)))
}

/// Anchor the whole live text (positions 0 and its length, in the text as it is now, unsaved
/// typing included): the two relative positions and the text. Run under the room's lock
/// ([`crate::room::Room::read`]): no encoding, no diff.
pub fn place_whole(txn: &impl ReadTxn, text: &TextRef) -> Result<Placed, String> {
    let live = text.get_string(txn);
    let (start, end) = anchor_pair(txn, text, 0, live.len())?;
    Ok(Placed::At {
        start,
        end,
        quote: live,
    })
}

/// The text now between two relative positions (base64) in the live document, `None` when
/// either does not resolve there.
pub fn text_between(state: &[u8], start: &str, end: &str) -> Result<Option<String>, String> {
    let (Some(start), Some(end)) = (decode(start), decode(end)) else {
        return Ok(None);
    };
    let (doc, text) = load(state)?;
    let txn = doc.transact();
    let live = text.get_string(&txn);
    Ok(resolve(&txn, &text, &start, &end).and_then(|(a, b)| live.get(a..b).map(str::to_owned)))
}

/// The last `bytes` (or fewer, whole characters) of `text`.
fn tail(text: &str, bytes: usize) -> &str {
    let mut from = text.len().saturating_sub(bytes);
    while !text.is_char_boundary(from) {
        from += 1;
    }
    &text[from..]
}

/// The first `bytes` (or fewer, whole characters) of `text`.
fn head(text: &str, bytes: usize) -> &str {
    let mut to = bytes.min(text.len());
    while !text.is_char_boundary(to) {
        to -= 1;
    }
    &text[..to]
}

/// Up to `bytes` of the live text before and after the range between two relative positions
/// (base64); `None` when they do not resolve.
pub fn around_range(
    state: &[u8],
    start: &str,
    end: &str,
    bytes: usize,
) -> Result<Option<(String, String)>, String> {
    let (Some(start), Some(end)) = (decode(start), decode(end)) else {
        return Ok(None);
    };
    let (doc, text) = load(state)?;
    let txn = doc.transact();
    let live = text.get_string(&txn);
    Ok(resolve(&txn, &text, &start, &end).and_then(|(a, b)| {
        let (before, after) = (live.get(..a)?, live.get(b..)?);
        Some((
            tail(before, bytes).to_owned(),
            head(after, bytes).to_owned(),
        ))
    }))
}

/// Up to `bytes` of the live text before and after character `position` (the end when past
/// it). Run under the room's lock ([`crate::room::Room::read`]): no encoding.
pub fn around_position(
    txn: &impl ReadTxn,
    text: &TextRef,
    position: usize,
    bytes: usize,
) -> (String, String) {
    let live = text.get_string(txn);
    let at = live
        .char_indices()
        .map(|(i, _)| i)
        .nth(position)
        .unwrap_or(live.len());
    (
        tail(&live[..at], bytes).to_owned(),
        head(&live[at..], bytes).to_owned(),
    )
}

/// Replace the text between `start` and `end` with `proposed`, if it is still `quote`;
/// the document may not grow past `max_bytes` by it.
pub fn replace(
    state: &[u8],
    start: &str,
    end: &str,
    quote: &str,
    proposed: &str,
    max_bytes: usize,
) -> Result<Replacement, String> {
    let (Some(start), Some(end)) = (decode(start), decode(end)) else {
        return Ok(Replacement::Stale { current: None });
    };
    let mut verdict = None;
    let update = merge_update(state, |txn, text, live| {
        let Some((a, b)) = resolve(txn, text, &start, &end) else {
            verdict = Some(Replacement::Stale { current: None });
            return false;
        };
        let current = live.get(a..b);
        if current != Some(quote) {
            verdict = Some(Replacement::Stale {
                current: current.map(str::to_owned),
            });
            return false;
        }
        let after = live.len() - quote.len() + proposed.len();
        if after > max_bytes && proposed.len() > quote.len() {
            verdict = Some(Replacement::TooBig);
            return false;
        }
        if quote == proposed {
            return false;
        }
        if b > a {
            text.remove_range(txn, to_u32(a), to_u32(b - a));
        }
        if !proposed.is_empty() {
            text.insert(txn, to_u32(a), proposed);
        }
        true
    })?;
    Ok(verdict.unwrap_or(Replacement::Apply(update)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use yrs::StateVector;

    fn state_of(doc: &Doc) -> Vec<u8> {
        doc.transact()
            .encode_state_as_update_v1(&StateVector::default())
    }

    fn doc_with(text: &str) -> (Doc, TextRef) {
        let doc = Doc::new();
        let t = doc.get_or_insert_text(crate::TEXT_NAME);
        t.insert(&mut doc.transact_mut(), 0, text);
        (doc, t)
    }

    fn apply(doc: &Doc, update: &[u8]) {
        doc.transact_mut()
            .apply_update(Update::decode_v1(update).unwrap())
            .unwrap();
    }

    fn placed(doc: &Doc, base: &str, from: usize, to: usize) -> (String, String, String) {
        match place_offsets(&state_of(doc), base, from, to).unwrap() {
            Placed::At { start, end, quote } => (start, end, quote),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn an_anchor_in_another_type_of_the_document_does_not_resolve() {
        let (doc, _) = doc_with("the document's text");
        let other = doc.get_or_insert_text("elsewhere");
        other.insert(&mut doc.transact_mut(), 0, "a client's own data");
        let (start, end) = {
            let txn = doc.transact();
            let at = |i: u32, assoc| encode(&other.sticky_index(&txn, i, assoc).unwrap());
            (at(0, Assoc::After), at(3, Assoc::Before))
        };
        // Before, these resolved to bytes 0..3 of the document's text ("the").
        assert_eq!(text_between(&state_of(&doc), &start, &end).unwrap(), None);
        let stale = replace(&state_of(&doc), &start, &end, "the", "a", 1 << 20).unwrap();
        assert!(
            matches!(stale, Replacement::Stale { current: None }),
            "{stale:?}"
        );
    }

    #[test]
    fn typing_at_both_edges_survives_a_replacement() {
        let (doc, text) = doc_with("alpha 🙂日本 omega");
        // Characters 6..9 are "🙂日本".
        let (start, end, quote) = placed(&doc, "alpha 🙂日本 omega", 6, 9);
        assert_eq!(quote, "🙂日本");
        {
            let mut txn = doc.transact_mut();
            // Right after the range, then right before it.
            text.insert(&mut txn, "alpha 🙂日本".len() as u32, "<after>");
            text.insert(&mut txn, "alpha ".len() as u32, "<before>");
        }
        let Replacement::Apply(Some(update)) =
            replace(&state_of(&doc), &start, &end, &quote, "語", 1 << 20).unwrap()
        else {
            panic!("not applied");
        };
        apply(&doc, &update);
        assert_eq!(
            text.get_string(&doc.transact()),
            "alpha <before>語<after> omega"
        );
    }

    #[test]
    fn a_changed_quote_is_stale() {
        let (doc, text) = doc_with("one two three");
        let (start, end, quote) = placed(&doc, "one two three", 4, 7);
        text.insert(&mut doc.transact_mut(), 5, "X");
        assert_eq!(
            replace(&state_of(&doc), &start, &end, &quote, "2", 1 << 20).unwrap(),
            Replacement::Stale {
                current: Some("tXwo".into())
            }
        );
        text.remove_range(&mut doc.transact_mut(), 3, 6);
        assert_eq!(
            text_between(&state_of(&doc), &start, &end).unwrap(),
            Some(String::new())
        );
    }

    #[test]
    fn offsets_into_an_older_text_follow_the_edits_since() {
        let (doc, _) = doc_with("🙂 new start. one two three");
        // The caller saw "one two three" and means "two".
        let (_, _, quote) = placed(&doc, "one two three", 4, 7);
        assert_eq!(quote, "two");
        assert_eq!(
            place_offsets(&state_of(&doc), "one tw0 three", 4, 7).unwrap(),
            Placed::Changed {
                current: Some("two".into())
            }
        );
        assert!(place_offsets(&state_of(&doc), "short", 2, 9).is_err());
    }

    #[test]
    fn insertion_points_and_the_end_of_the_text() {
        let (doc, text) = doc_with("ab");
        let (start, end, quote) = placed(&doc, "ab", 2, 2);
        assert_eq!(quote, "");
        let Replacement::Apply(Some(update)) =
            replace(&state_of(&doc), &start, &end, "", "c", 1 << 20).unwrap()
        else {
            panic!("not applied");
        };
        apply(&doc, &update);
        assert_eq!(text.get_string(&doc.transact()), "abc");
        let (start, end, quote) = placed(&doc, "abc", 0, 3);
        assert_eq!(
            replace(&state_of(&doc), &start, &end, &quote, "much longer", 5).unwrap(),
            Replacement::TooBig
        );
    }
}
