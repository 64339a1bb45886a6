//! `get_document_outline`: a document's ATX headings (`#` to `######`) with their level, line
//! and character offset, so an assistant can find a section and propose an edit of it by
//! offsets. Fenced code blocks (``` and ~~~) are skipped; setext headings (underlined with
//! `===`/`---`) are not recognised.

use serde_json::{Value, json};

/// Most headings one answer lists (then `truncated: true`).
pub const MAX_HEADINGS: usize = 1_000;

/// The heading level and text of an ATX heading line, if it is one.
fn heading(line: &str) -> Option<(usize, &str)> {
    let indent = line.len() - line.trim_start_matches(' ').len();
    if indent > 3 {
        return None;
    }
    let rest = &line[indent..];
    let level = rest.len() - rest.trim_start_matches('#').len();
    if !(1..=6).contains(&level) {
        return None;
    }
    let after = &rest[level..];
    if !(after.is_empty() || after.starts_with([' ', '\t'])) {
        return None;
    }
    // A closing run of `#` preceded by a space is not part of the text.
    let text = after.trim();
    let text = match text.trim_end_matches('#') {
        stripped if stripped.is_empty() => stripped,
        stripped if stripped.ends_with([' ', '\t']) => stripped.trim_end(),
        _ => text,
    };
    Some((level, text))
}

/// The fence that opens or closes a code block on this line (its character and length).
fn fence(line: &str) -> Option<(char, usize)> {
    let trimmed = line.trim_start_matches(' ');
    if line.len() - trimmed.len() > 3 {
        return None;
    }
    let c = trimmed.chars().next().filter(|c| *c == '`' || *c == '~')?;
    let n = trimmed.len() - trimmed.trim_start_matches(c).len();
    (n >= 3).then_some((c, n))
}

/// The outline of `content`: `{headings: [{level, text, line, offset}], truncated}`; `line`
/// counts from 1, `offset` is in Unicode scalar values from the start of the document to
/// the heading line's first character (as `propose_edit` counts).
pub fn outline(content: &str) -> Value {
    let mut headings = Vec::new();
    let mut truncated = false;
    let mut open_fence: Option<(char, usize)> = None;
    let mut offset = 0usize;
    for (index, raw) in content.split('\n').enumerate() {
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        match (open_fence, fence(line)) {
            (None, Some(f)) => open_fence = Some(f),
            (Some((c, n)), Some((c2, n2))) if c == c2 && n2 >= n => open_fence = None,
            (None, None) => {
                if let Some((level, text)) = heading(line) {
                    if headings.len() == MAX_HEADINGS {
                        truncated = true;
                        break;
                    }
                    headings.push(
                        json!({"level": level, "text": text, "line": index + 1, "offset": offset}),
                    );
                }
            }
            _ => {}
        }
        offset += raw.chars().count() + 1;
    }
    json!({"headings": headings, "truncated": truncated})
}

#[cfg(test)]
mod tests {
    use super::outline;
    use serde_json::json;

    #[test]
    fn headings_with_levels_lines_and_offsets() {
        let doc = "# Tïtle\n\nText\n## Part one ##\n```\n# not a heading\n```\n   ### Deep\n#nope\n####### seven\n#\n";
        assert_eq!(
            outline(doc),
            json!({"truncated": false, "headings": [
                {"level": 1, "text": "Tïtle", "line": 1, "offset": 0},
                {"level": 2, "text": "Part one", "line": 4, "offset": 14},
                {"level": 3, "text": "Deep", "line": 8, "offset": 53},
                {"level": 1, "text": "", "line": 11, "offset": 85},
            ]})
        );
    }

    #[test]
    fn a_longer_fence_is_closed_only_by_a_long_enough_one() {
        let doc = "~~~~\n# in\n~~~\n# still in\n~~~~\n# out";
        let o = outline(doc);
        assert_eq!(o["headings"].as_array().unwrap().len(), 1);
        assert_eq!(o["headings"][0]["text"], "out");
        assert_eq!(o["headings"][0]["line"], 6);
    }

    #[test]
    fn the_list_is_capped() {
        let doc = "# h\n".repeat(super::MAX_HEADINGS + 5);
        let o = outline(&doc);
        assert_eq!(o["headings"].as_array().unwrap().len(), super::MAX_HEADINGS);
        assert_eq!(o["truncated"], true);
    }
}
