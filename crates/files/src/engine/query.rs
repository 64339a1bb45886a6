//! What users type in web-search syntax (as PostgreSQL's `websearch_to_tsquery` reads it),
//! parsed for an engine that builds its own queries: words and "quoted phrases" are required,
//! `-word` excludes, `or` between two of them makes either do.

/// A word or a quoted phrase, not yet split into an engine's tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    pub text: String,
    pub quoted: bool,
}

/// The parsed query: each group must match (any of its items), no excluded item may.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Parsed {
    pub required: Vec<Vec<Item>>,
    pub excluded: Vec<Item>,
}

pub fn parse(head: &str) -> Parsed {
    let mut parsed = Parsed::default();
    let mut chars = head.chars().peekable();
    let mut or_pending = false;
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        let negated = c == '-';
        if negated {
            chars.next();
        }
        let quoted = chars.peek() == Some(&'"');
        let mut text = String::new();
        if quoted {
            chars.next();
            for c in chars.by_ref() {
                if c == '"' {
                    break;
                }
                text.push(c);
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() || c == '"' {
                    break;
                }
                text.push(c);
                chars.next();
            }
        }
        if !quoted && !negated && text.eq_ignore_ascii_case("or") {
            or_pending = !parsed.required.is_empty();
            continue;
        }
        if text.trim().is_empty() {
            continue;
        }
        let item = Item { text, quoted };
        if negated {
            parsed.excluded.push(item);
        } else if or_pending && let Some(last) = parsed.required.last_mut() {
            last.push(item);
        } else {
            parsed.required.push(vec![item]);
        }
        or_pending = false;
    }
    parsed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn word(t: &str) -> Item {
        Item {
            text: t.into(),
            quoted: false,
        }
    }

    #[test]
    fn words_phrases_negations_and_or() {
        let p = parse("roadmap \"release plan\" -draft design or review");
        assert_eq!(
            p.required,
            vec![
                vec![word("roadmap")],
                vec![Item {
                    text: "release plan".into(),
                    quoted: true
                }],
                vec![word("design"), word("review")],
            ]
        );
        assert_eq!(p.excluded, vec![word("draft")]);
    }

    #[test]
    fn a_leading_or_and_an_open_quote_are_harmless() {
        let p = parse("or budget \"open quote");
        assert_eq!(p.required.len(), 2);
        assert_eq!(p.required[1][0].text, "open quote");
        assert_eq!(parse("  ").required.len(), 0);
    }
}
