//! Document paths: parsed once, so every path in the service is already normal and safe.

use std::fmt;

pub const MAX_PATH_BYTES: usize = 1024;

/// A normalised document path like `notes/2026/plan.md`: relative, `/`-separated, no empty,
/// `.` or `..` segments, no control characters or backslashes, at most 1024 bytes, `.md`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocPath(String);

impl DocPath {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let trimmed = raw.trim().trim_start_matches('/');
        if trimmed.is_empty() {
            return Err("must not be empty".into());
        }
        if trimmed.len() > MAX_PATH_BYTES {
            return Err(format!("must be at most {MAX_PATH_BYTES} bytes"));
        }
        check_segments(trimmed)?;
        let lower = trimmed.to_lowercase();
        if !lower.ends_with(".md") || lower == ".md" || lower.ends_with("/.md") {
            return Err("must name a Markdown document ending in `.md`".into());
        }
        Ok(Self(trimmed.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for DocPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The rules every segment of a path obeys: no control characters or backslashes, no empty,
/// `.` or `..` segments, none starting or ending with spaces.
fn check_segments(path: &str) -> Result<(), String> {
    if path.chars().any(|c| c.is_control() || c == '\\') {
        return Err("must not contain control characters or backslashes".into());
    }
    for segment in path.split('/') {
        match segment {
            "" => return Err("must not contain empty segments (`//` or a trailing `/`)".into()),
            "." | ".." => return Err("must not contain `.` or `..` segments".into()),
            s if s.trim() != s => {
                return Err("segments must not start or end with spaces".into());
            }
            _ => {}
        }
    }
    Ok(())
}

/// A folder prefix for listings: empty (the root) or a normalised path ending in `/`, whose
/// segments obey the rules of document paths (a prefix no document can have is refused, not
/// answered with an empty list) and which, with its `/`, fits in [`MAX_PATH_BYTES`].
pub fn parse_prefix(raw: &str) -> Result<String, String> {
    let trimmed = raw.trim().trim_start_matches('/');
    if trimmed.is_empty() {
        return Ok(String::new());
    }
    let body = trimmed.trim_end_matches('/');
    if body.len() >= MAX_PATH_BYTES || check_segments(body).is_err() {
        return Err("is not a folder path".into());
    }
    Ok(format!("{body}/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn good_paths_are_normalised() {
        assert_eq!(
            DocPath::parse("/notes/2026/plan.md").unwrap().as_str(),
            "notes/2026/plan.md"
        );
        assert_eq!(DocPath::parse("README.MD").unwrap().as_str(), "README.MD");
        assert_eq!(
            DocPath::parse("ünïcode/ノート.md").unwrap().as_str(),
            "ünïcode/ノート.md"
        );
    }

    #[test]
    fn hostile_paths_are_refused() {
        for bad in [
            "",
            "/",
            "../etc/passwd.md",
            "a/../b.md",
            "a/./b.md",
            "a//b.md",
            "a/b.md/",
            "a\\b.md",
            "a\u{0000}b.md",
            "a\nb.md",
            "plan.txt",
            ".md",
            "a/.md",
            " a /b.md",
        ] {
            assert!(DocPath::parse(bad).is_err(), "{bad:?}");
        }
        assert!(DocPath::parse(&format!("{}.md", "a".repeat(1100))).is_err());
    }

    #[test]
    fn prefixes() {
        assert_eq!(parse_prefix("").unwrap(), "");
        assert_eq!(parse_prefix("notes").unwrap(), "notes/");
        assert_eq!(parse_prefix("/notes/2026/").unwrap(), "notes/2026/");
        assert!(parse_prefix("../x").is_err());
        // Found by the property tests: padded segments (which no document path can have)
        // and a prefix one byte too long to re-parse were accepted.
        assert!(parse_prefix("/ 0").is_err());
        assert!(parse_prefix(&"a".repeat(MAX_PATH_BYTES)).is_err());
        let longest = "a".repeat(MAX_PATH_BYTES - 1);
        assert_eq!(parse_prefix(&longest).unwrap(), format!("{longest}/"));
    }
}
