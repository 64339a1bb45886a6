//! Snippets: the part of a long text that holds a match, highlighted by tantivy.

use super::*;

/// Bytes of text around the first match that the snippet generator reads.
pub(super) const WINDOW_BYTES: usize = 4 * SNIPPET_CHARS;
/// Bytes of text read when no match is found as written (a word that differs from the text
/// in more than ASCII case).
pub(super) const NO_MATCH_BYTES: usize = 16 * 1024;

/// Finds the query's words in `field` of a text, ignoring ASCII case (the index lowercases).
pub(super) fn finder(query: &dyn Query, field: Field) -> Option<AhoCorasick> {
    let mut words: Vec<String> = Vec::new();
    query.query_terms(&mut |term: &Term, _| {
        if term.field() == field
            && let Some(word) = term.value().as_str()
        {
            words.push(word.to_owned());
        }
    });
    if words.is_empty() {
        return None;
    }
    AhoCorasick::builder()
        .ascii_case_insensitive(true)
        .build(words)
        .ok()
}

/// The part of `text` worth tokenising for a snippet: the generator tokenises all it is given,
/// and hits are often long (a 200 KB changelog), so it gets the passage around the first match.
pub(super) fn window<'t>(finder: Option<&AhoCorasick>, text: &'t str) -> &'t str {
    let floor = |mut i: usize| {
        while !text.is_char_boundary(i) {
            i -= 1;
        }
        i
    };
    match finder.and_then(|f| f.find(text)) {
        Some(m) => {
            let start = floor(m.start().saturating_sub(WINDOW_BYTES / 2));
            let end = floor((m.start() + WINDOW_BYTES / 2).min(text.len()));
            &text[start..end]
        }
        None => &text[..floor(NO_MATCH_BYTES.min(text.len()))],
    }
}

/// The best passage of `text` with its matches marked, HTML-safe; the start of the text when
/// no word of the query is in it (a match in the title or path only).
pub(super) fn snippet(
    generator: &SnippetGenerator,
    finder: Option<&AhoCorasick>,
    text: &str,
) -> String {
    let snippet = generator.snippet(window(finder, text));
    if snippet.is_empty() {
        let start: String = text.chars().take(SNIPPET_CHARS).collect();
        return safe_snippet(start.trim());
    }
    let fragment = snippet.fragment();
    let mut marked = String::with_capacity(fragment.len() + 16);
    let mut at = 0;
    for range in snippet.highlighted() {
        if range.start < at || !fragment.is_char_boundary(range.start) {
            continue;
        }
        marked.push_str(&fragment[at..range.start]);
        marked.push_str(START);
        marked.push_str(fragment.get(range.clone()).unwrap_or_default());
        marked.push_str(STOP);
        at = range.end;
    }
    marked.push_str(fragment.get(at..).unwrap_or_default());
    safe_snippet(marked.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finder_of(words: &[&str]) -> AhoCorasick {
        AhoCorasick::builder()
            .ascii_case_insensitive(true)
            .build(words)
            .unwrap()
    }

    #[test]
    fn the_window_holds_a_match_far_into_a_long_text() {
        let text = format!(
            "{}Quokka lives here.{}",
            "é filler ".repeat(20_000),
            "tail ".repeat(9)
        );
        let finder = finder_of(&["quokka"]);
        let w = window(Some(&finder), &text);
        assert!(w.contains("Quokka"), "{w}");
        assert!(w.len() <= WINDOW_BYTES, "{}", w.len());
    }

    #[test]
    fn without_a_match_the_window_is_the_start_of_the_text() {
        let text = "ü".repeat(NO_MATCH_BYTES);
        let w = window(Some(&finder_of(&["absent"])), &text);
        assert!(text.starts_with(w));
        assert!(w.len() <= NO_MATCH_BYTES && w.len() + 2 > NO_MATCH_BYTES);
        assert_eq!(window(None, "short"), "short");
    }
}
