//! Property tests of the pure rules of the files domain: version edit scripts and paths.
//! Case counts are proptest's default (256, `PROPTEST_CASES` overrides); inputs stay small so
//! the whole file runs in seconds.

use mdz_files::history::{INLINE_DIFF_BYTES, apply, delta, delta_bounded, line_stats};
use mdz_files::paths::{DocPath, MAX_PATH_BYTES, parse_prefix};
use proptest::prelude::*;
use std::time::Instant;

/// Text from pieces that collide often: multi-byte characters, CRLF, bare CR, blank lines.
fn text() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("a"),
        Just("b"),
        Just(" "),
        Just("é"),
        Just("日本"),
        Just("🎉"),
        Just("\n"),
        Just("\r\n"),
        Just("\r"),
        Just("\n\n"),
        Just("# Title\n"),
    ];
    proptest::collection::vec(piece, 0..40).prop_map(|p| p.concat())
}

/// A text and an edited copy of it: most of the two is shared, as with real saves.
fn edited_pair() -> impl Strategy<Value = (String, String)> {
    (
        text(),
        proptest::collection::vec((0usize..200, 0usize..6, text()), 0..5),
    )
        .prop_map(|(old, edits)| {
            let mut new: Vec<char> = old.chars().collect();
            for (at, remove, insert) in edits {
                let at = at % (new.len() + 1);
                let end = (at + remove).min(new.len());
                new.splice(at..end, insert.chars());
            }
            (old, new.into_iter().collect())
        })
}

fn any_pair() -> impl Strategy<Value = (String, String)> {
    prop_oneof![
        (text(), text()),
        edited_pair(),
        (any::<String>(), any::<String>()),
    ]
}

proptest! {
    /// Applying the script of any two texts to the first gives the second, whether the diff
    /// ran to the end, was cut short by a deadline already passed, or had the normal one.
    #[test]
    fn edit_scripts_round_trip((old, new) in any_pair()) {
        for deadline in [None, Some(Instant::now()), Some(Instant::now() + mdz_files::history::DIFF_DEADLINE)] {
            let d = delta(&old, &new, deadline);
            prop_assert_eq!(apply(&old, &d.script).ok(), Some(new.clone()), "{:?} -> {:?}", old, new);
        }
        // Both directions: history stores reverse scripts.
        let back = delta(&new, &old, None);
        prop_assert_eq!(apply(&new, &back.script).ok(), Some(old.clone()));
    }

    /// Line counts never go negative and are zero exactly when the texts are equal; a cut
    /// diff never reports fewer changed lines than the full one.
    #[test]
    fn line_counts_are_consistent((old, new) in any_pair()) {
        let full = delta(&old, &new, None);
        let cut = delta(&old, &new, Some(Instant::now()));
        prop_assert!(full.inserted >= 0 && full.deleted >= 0);
        prop_assert_eq!(old == new, full.inserted == 0 && full.deleted == 0);
        prop_assert!(cut.inserted >= full.inserted && cut.deleted >= full.deleted);
        prop_assert_eq!(line_stats(&old, &new), (full.inserted, full.deleted));
    }

    /// An identical text costs nothing but a copy.
    #[test]
    fn equal_texts_give_a_tiny_script(old in text()) {
        let d = delta(&old, &old, None);
        prop_assert!(d.script.len() <= 6, "{} bytes for {:?}", d.script.len(), old);
        prop_assert_eq!(apply(&old, &d.script).ok(), Some(old.clone()));
    }
}

/// A document of 600 to 1200 distinct lines (past [`INLINE_DIFF_BYTES`] on both sides) and a
/// copy with runs of lines replaced, inserted and removed.
fn big_pair() -> impl Strategy<Value = (String, String)> {
    (
        600usize..1200,
        proptest::collection::vec((0usize..1200, 0usize..40, text()), 1..6),
    )
        .prop_map(|(n, edits)| {
            let old: Vec<String> = (0..n).map(|i| format!("line {i:x} ünï\r\n")).collect();
            let mut new = old.clone();
            for (at, remove, insert) in edits {
                let at = at % (new.len() + 1);
                let end = (at + remove).min(new.len());
                new.splice(at..end, [insert]);
            }
            // New first and last lines: the differing middle is the whole text, so the diff
            // runs on the blocking pool.
            (old.concat(), format!("top\n{}bottom", new.concat()))
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    /// Big differing middles go to the blocking pool; the framed result still round-trips.
    #[test]
    fn bounded_deltas_of_big_documents_round_trip((old, new) in big_pair()) {
        prop_assume!(old.len() + new.len() > INLINE_DIFF_BYTES);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .build()
            .unwrap();
        let d = runtime.block_on(delta_bounded(&old, &new)).unwrap();
        prop_assert_eq!(apply(&old, &d.script).ok(), Some(new.clone()));
        // Cut short by its deadline on a loaded machine, it may count more lines, never fewer.
        let full = delta(&old, &new, None);
        prop_assert!(d.inserted >= full.inserted && d.deleted >= full.deleted);
    }
}

/// Strings made to look like paths: separators, dots, spaces, backslashes, control characters.
fn path_like() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        4 => "[a-zA-Z0-9_-]{1,8}",
        2 => Just("/".to_owned()),
        2 => Just(".md".to_owned()),
        1 => Just(".".to_owned()),
        1 => Just("..".to_owned()),
        1 => Just(" ".to_owned()),
        1 => Just("\\".to_owned()),
        1 => Just("\u{0000}".to_owned()),
        1 => Just("\n".to_owned()),
        1 => Just("\u{7f}".to_owned()),
        1 => Just("\u{85}".to_owned()),
        1 => Just("\u{3000}".to_owned()),
        1 => Just("ノート".to_owned()),
        1 => Just(".MD".to_owned()),
    ];
    prop_oneof![
        3 => proptest::collection::vec(piece, 0..16).prop_map(|p| p.concat()),
        1 => any::<String>(),
        1 => (1usize..1100, "[a/]{0,3}").prop_map(|(n, tail)| format!("{}{tail}.md", "a".repeat(n))),
    ]
}

/// What every accepted path must be, whatever it was parsed from.
fn assert_safe(path: &str) -> Result<(), TestCaseError> {
    prop_assert!(!path.is_empty());
    prop_assert!(path.len() <= MAX_PATH_BYTES, "{} bytes", path.len());
    prop_assert!(!path.starts_with('/'), "absolute: {:?}", path);
    prop_assert!(!path.contains('\\'), "backslash: {:?}", path);
    prop_assert!(!path.chars().any(char::is_control), "control: {:?}", path);
    for segment in path.split('/') {
        prop_assert!(!segment.is_empty(), "empty segment: {:?}", path);
        prop_assert!(segment != "." && segment != "..", "dot segment: {:?}", path);
        prop_assert_eq!(segment.trim(), segment, "padded segment: {:?}", path);
    }
    Ok(())
}

proptest! {
    /// An accepted path is safe, parsing it again gives it back unchanged (normalising is
    /// idempotent), and it round-trips through its string form.
    #[test]
    fn accepted_paths_are_safe_and_stable(raw in path_like()) {
        if let Ok(path) = DocPath::parse(&raw) {
            assert_safe(path.as_str())?;
            prop_assert!(path.as_str().to_lowercase().ends_with(".md"));
            let again = DocPath::parse(path.as_str());
            prop_assert_eq!(again.as_ref().ok(), Some(&path), "{:?}", raw);
            prop_assert_eq!(path.to_string(), path.as_str());
        }
    }

    /// A folder prefix is empty or a safe path ending in `/`, and stable under re-parsing.
    #[test]
    fn accepted_prefixes_are_safe_and_stable(raw in path_like()) {
        if let Ok(prefix) = parse_prefix(&raw) {
            if !prefix.is_empty() {
                prop_assert!(prefix.ends_with('/'));
                assert_safe(&prefix[..prefix.len() - 1])?;
                prop_assert!(prefix.len() <= MAX_PATH_BYTES, "{} bytes", prefix.len());
            }
            let again = parse_prefix(&prefix);
            prop_assert_eq!(again.as_ref().ok(), Some(&prefix), "{:?}", raw);
        }
    }

    /// Every document under an accepted prefix is itself an acceptable path.
    #[test]
    fn a_document_under_a_prefix_parses(raw in path_like(), name in "[a-z]{1,8}") {
        if let Ok(prefix) = parse_prefix(&raw) {
            let doc = format!("{prefix}{name}.md");
            if doc.len() <= MAX_PATH_BYTES {
                let parsed = DocPath::parse(&doc);
                prop_assert_eq!(parsed.as_ref().map(DocPath::as_str).ok(), Some(doc.as_str()), "{:?}", raw);
            }
        }
    }
}
