//! Search queries: what users type (`"exact phrase" -word or`, a half-typed last word) turned
//! into a PostgreSQL tsquery expression, and snippets made safe to render as HTML.

/// Markers `ts_headline` puts around matches; replaced by `<mark>` after HTML escaping.
pub const START: &str = "\u{27E6}";
pub const STOP: &str = "\u{27E7}";

/// A validated search query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchQuery {
    /// The websearch-syntax part.
    pub head: String,
    /// The last word, still being typed, matched as a prefix.
    pub prefix: Option<String>,
}

impl SearchQuery {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let q = raw.trim_start();
        if q.trim().is_empty() {
            return Err("must not be empty".into());
        }
        if q.chars().count() > 256 {
            return Err("must be at most 256 characters".into());
        }
        if q.chars().any(char::is_control) {
            return Err("must not contain control characters".into());
        }
        // The last word is a prefix when the user is still typing it: no trailing space, not
        // inside quotes, not negated, and plain letters or digits.
        let open_quote = q.matches('"').count() % 2 == 1;
        let last = q.rsplit(char::is_whitespace).next().unwrap_or("");
        let plain = !last.is_empty() && last.chars().all(char::is_alphanumeric);
        if !q.ends_with(char::is_whitespace)
            && !open_quote
            && plain
            && !last.eq_ignore_ascii_case("or")
        {
            let head = q[..q.len() - last.len()].trim().to_owned();
            return Ok(Self {
                head,
                prefix: Some(last.to_lowercase()),
            });
        }
        Ok(Self {
            head: q.trim().to_owned(),
            prefix: None,
        })
    }
}

/// HTML-escape a headline and turn the match markers into `<mark>` tags.
pub fn safe_snippet(headline: &str) -> String {
    let mut out = String::with_capacity(headline.len() + 16);
    for c in headline.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out.replace(START, "<mark>").replace(STOP, "</mark>")
}

/// A plain search word (letters and digits, at most 64 characters), lowercased; anything
/// else is not a word and is left out.
pub fn search_word(raw: &str) -> Option<String> {
    let word = raw.trim().to_lowercase();
    let plain =
        !word.is_empty() && word.chars().count() <= 64 && word.chars().all(char::is_alphanumeric);
    plain.then_some(word)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_plain_word_is_a_prefix() {
        let q = SearchQuery::parse("roadmap plan").unwrap();
        assert_eq!(q.head, "roadmap");
        assert_eq!(q.prefix.as_deref(), Some("plan"));
        let q = SearchQuery::parse("plan ").unwrap();
        assert_eq!(q.prefix, None);
        let q = SearchQuery::parse("\"exact phrase\" -draft").unwrap();
        assert_eq!(q.prefix, None);
        let q = SearchQuery::parse("\"open quote").unwrap();
        assert_eq!(q.prefix, None);
        assert!(SearchQuery::parse("   ").is_err());
        assert!(SearchQuery::parse(&"x".repeat(300)).is_err());
    }

    #[test]
    fn snippets_are_escaped_then_marked() {
        assert_eq!(
            safe_snippet("a <script> ⟦plan⟧ & more"),
            "a &lt;script&gt; <mark>plan</mark> &amp; more"
        );
    }
}
