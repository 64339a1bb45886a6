//! An mdz export's version history: `.mdz/history/<path>/<n>.md` (each version's text) and
//! `.mdz/history/<path>/versions.json` (their times, labels and AI flags, format 1.1), read
//! and checked with the rest of the archive and given to the documents they belong to.
//!
//! A history is all or nothing: versions numbered other than 1, 2, 3… without a gap, a
//! `versions.json` that does not list exactly those, or a history whose document is not in
//! the archive refuse the whole import (422). Dropping them instead would lose versions
//! without anyone noticing; an archive altered by hand says what is wrong and where.

use super::ImportError;
use super::archive::Item;
use crate::export::{VERSIONS_FILE, VersionMeta, VersionsFile};
use crate::interface::parse_label;
use chrono::Datelike;
use std::collections::{BTreeMap, HashMap};

/// Where an export keeps its documents' versions.
pub const HISTORY_DIR: &str = ".mdz/history/";
/// Largest `versions.json` read (one document's versions, about 130 bytes each).
pub const MAX_VERSIONS_FILE_BYTES: u64 = 4 * 1024 * 1024;

/// One version's text in the archive.
#[derive(Debug, Clone)]
pub struct VersionEntry {
    pub index: usize,
    /// The entry's name (for errors).
    pub name: String,
    pub meta: Option<VersionMeta>,
}

/// What an entry under [`HISTORY_DIR`] is.
#[derive(Debug, PartialEq, Eq)]
pub enum Kind<'a> {
    /// Version `n` of the document at this path.
    Text(&'a str, i32),
    /// The `versions.json` of the document at this path.
    Meta(&'a str),
}

/// What `name` is in an export's history: `None` outside [`HISTORY_DIR`], an error for a
/// name there that is neither a version's text nor a `versions.json`.
pub fn kind(name: &str) -> Option<Result<Kind<'_>, &'static str>> {
    let rest = name.strip_prefix(HISTORY_DIR)?;
    let Some((document, last)) = rest.rsplit_once('/') else {
        return Some(Err(
            "is not a version of a document (`.mdz/history/<path>/<n>.md`)",
        ));
    };
    if last == VERSIONS_FILE {
        return Some(Ok(Kind::Meta(document)));
    }
    let number = last
        .strip_suffix(".md")
        .filter(|n| !n.is_empty() && !n.starts_with('0') && n.bytes().all(|b| b.is_ascii_digit()));
    Some(
        number
            .and_then(|n| n.parse::<i32>().ok())
            .map(|n| Kind::Text(document, n))
            .ok_or("is not a version of a document (`.mdz/history/<path>/<n>.md`, n = 1, 2, 3…)"),
    )
}

/// Parse and check a `versions.json`: labels as `PATCH /files/{id}/versions/{n}` takes them,
/// times PostgreSQL can store.
pub fn parse_meta(name: &str, bytes: &[u8]) -> Result<Vec<VersionMeta>, ImportError> {
    let file: VersionsFile = serde_json::from_slice(bytes)
        .map_err(|e| ImportError::bad_entry(name, format!("is not a list of versions: {e}")))?;
    file.versions
        .into_iter()
        .map(|mut v| {
            v.label = match v.label {
                Some(label) => Some(parse_label(&label).ok_or_else(|| {
                    ImportError::bad_entry(
                        name,
                        format!("labels version {} with other than 1 to 100 characters", v.n),
                    )
                })?),
                None => None,
            };
            let year = |t: chrono::DateTime<chrono::Utc>| (1..=9999).contains(&t.year());
            if !year(v.created_at) || !year(v.updated_at) {
                return Err(ImportError::bad_entry(
                    name,
                    format!("dates version {} outside the years 1 to 9999", v.n),
                ));
            }
            Ok(v)
        })
        .collect()
}

/// The histories read so far, by their document's path in the archive.
#[derive(Debug, Default)]
pub struct Histories {
    texts: HashMap<String, BTreeMap<i32, VersionEntry>>,
    metas: HashMap<String, (String, Vec<VersionMeta>)>,
}

impl Histories {
    pub fn text(&mut self, document: &str, n: i32, entry: VersionEntry) {
        self.texts
            .entry(document.to_owned())
            .or_default()
            .insert(n, entry);
    }

    pub fn meta(&mut self, document: &str, name: &str, versions: Vec<VersionMeta>) {
        self.metas
            .insert(document.to_owned(), (name.to_owned(), versions));
    }

    /// Give each document its versions, oldest first; refuse a broken numbering and any
    /// history left without its document.
    pub fn attach(mut self, documents: &mut [Item]) -> Result<(), ImportError> {
        for doc in documents.iter_mut() {
            let texts = self.texts.remove(&doc.source).unwrap_or_default();
            let meta = self.metas.remove(&doc.source);
            doc.versions = numbered(&doc.source, texts, meta)?;
        }
        let mut left: Vec<&String> = self.texts.keys().chain(self.metas.keys()).collect();
        left.sort_unstable();
        match left.first() {
            Some(document) => Err(ImportError::bad_entry(
                &format!("{HISTORY_DIR}{document}/"),
                "is the history of a document the archive does not hold",
            )),
            None => Ok(()),
        }
    }
}

/// The versions 1..=k of one document, each with its `versions.json` entry if there is one.
fn numbered(
    document: &str,
    texts: BTreeMap<i32, VersionEntry>,
    meta: Option<(String, Vec<VersionMeta>)>,
) -> Result<Vec<VersionEntry>, ImportError> {
    let dir = format!("{HISTORY_DIR}{document}/");
    let k = texts.len();
    if !texts.keys().copied().eq((1..).take(k)) {
        return Err(ImportError::bad_entry(
            &dir,
            format!("holds {k} versions not numbered 1 to {k}"),
        ));
    }
    let mut versions: Vec<VersionEntry> = texts.into_values().collect();
    if let Some((name, metas)) = meta {
        let listed = metas.iter().map(|m| m.n);
        if metas.len() != k || !listed.eq((1..).take(k)) {
            let held = if k == 0 {
                "none".to_owned()
            } else {
                format!("1 to {k}")
            };
            return Err(ImportError::bad_entry(
                &name,
                format!(
                    "does not list exactly the versions whose texts the archive holds ({held})"
                ),
            ));
        }
        for (v, m) in versions.iter_mut().zip(metas) {
            v.meta = Some(m);
        }
    }
    Ok(versions)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_names() {
        assert_eq!(kind("a.md"), None);
        assert_eq!(kind(".mdz/other"), None);
        assert_eq!(
            kind(".mdz/history/notes/a.md/12.md"),
            Some(Ok(Kind::Text("notes/a.md", 12)))
        );
        assert_eq!(
            kind(".mdz/history/a.md/versions.json"),
            Some(Ok(Kind::Meta("a.md")))
        );
        for bad in [
            ".mdz/history/a.md",
            ".mdz/history/a.md/01.md",
            ".mdz/history/a.md/0.md",
            ".mdz/history/a.md/-1.md",
            ".mdz/history/a.md/+1.md",
            ".mdz/history/a.md/x.md",
            ".mdz/history/a.md/3",
            ".mdz/history/a.md/99999999999.md",
        ] {
            assert!(matches!(kind(bad), Some(Err(_))), "{bad}");
        }
    }

    fn entry(n: i32) -> VersionEntry {
        VersionEntry {
            index: 0,
            name: format!("{n}.md"),
            meta: None,
        }
    }

    #[test]
    fn versions_must_be_numbered_from_one_without_gaps() {
        let of = |ns: &[i32]| {
            ns.iter()
                .map(|&n| (n, entry(n)))
                .collect::<BTreeMap<_, _>>()
        };
        assert_eq!(numbered("a.md", of(&[1, 2, 3]), None).unwrap().len(), 3);
        assert!(numbered("a.md", of(&[]), None).unwrap().is_empty());
        assert!(numbered("a.md", of(&[2, 3]), None).is_err());
        assert!(numbered("a.md", of(&[1, 3]), None).is_err());
        let meta = |ns: &[i32]| {
            let now = chrono::Utc::now();
            let list = ns
                .iter()
                .map(|&n| VersionMeta {
                    n,
                    created_at: now,
                    updated_at: now,
                    label: None,
                    ai_assisted: false,
                })
                .collect();
            Some(("versions.json".to_owned(), list))
        };
        assert!(numbered("a.md", of(&[1, 2]), meta(&[1, 2])).is_ok());
        assert!(numbered("a.md", of(&[1, 2]), meta(&[1])).is_err());
        assert!(numbered("a.md", of(&[1, 2]), meta(&[2, 1])).is_err());
        assert!(numbered("a.md", of(&[]), meta(&[1])).is_err());
    }

    #[test]
    fn bad_labels_and_dates_are_refused() {
        let ok = br#"{"versions":[{"n":1,"created_at":"2026-01-02T03:04:05Z",
            "updated_at":"2026-01-02T03:04:06Z","label":" v1 ","ai_assisted":true}]}"#;
        let parsed = parse_meta("versions.json", ok).unwrap();
        assert_eq!(parsed[0].label.as_deref(), Some("v1"));
        let long = format!(
            r#"{{"versions":[{{"n":1,"created_at":"2026-01-02T03:04:05Z",
            "updated_at":"2026-01-02T03:04:06Z","label":"{}","ai_assisted":false}}]}}"#,
            "x".repeat(101)
        );
        assert!(parse_meta("versions.json", long.as_bytes()).is_err());
        let far = br#"{"versions":[{"n":1,"created_at":"0000-01-02T03:04:05Z",
            "updated_at":"2026-01-02T03:04:06Z","label":null,"ai_assisted":false}]}"#;
        assert!(matches!(
            parse_meta("versions.json", far),
            Err(ImportError::BadEntry { why, .. }) if why.contains("years 1 to 9999")
        ));
        assert!(parse_meta("versions.json", b"[]").is_err());
    }
}
