//! Entry names: which are safe, which are skipped, what a Notion export's names become.

use super::archive::Format;
use crate::paths::MAX_PATH_BYTES;
use std::collections::{HashMap, HashSet};

/// Longest entry name read, in bytes: a document path's limit with room for a top folder and
/// Notion's ` <32 hex>` page ids, which are stripped before the path is checked again.
pub const MAX_ENTRY_NAME_BYTES: usize = 4 * MAX_PATH_BYTES;
/// Most folders an entry may be nested in (Notion names are renamed folder by folder).
pub const MAX_ENTRY_SEGMENTS: usize = 64;

/// Why an entry's name is refused (the whole archive is), or `Ok`. A trailing `/` (a folder)
/// is allowed; anything that could point outside the archive's root is not.
pub fn check_entry_name(name: &str) -> Result<(), &'static str> {
    if name.is_empty() {
        return Err("has an empty name");
    }
    if name.len() > MAX_ENTRY_NAME_BYTES {
        return Err("has a name longer than 4096 bytes");
    }
    if name.split('/').filter(|s| !s.is_empty()).count() > MAX_ENTRY_SEGMENTS {
        return Err("is nested in more than 64 folders");
    }
    if name.chars().any(char::is_control) {
        return Err("has control characters in its name");
    }
    if name.contains('\\') {
        return Err("has a backslash in its name (a Windows path)");
    }
    if name.starts_with('/') {
        return Err("is an absolute path");
    }
    let first = name.split('/').next().unwrap_or("");
    if first.len() == 2 && first.ends_with(':') {
        return Err("is an absolute path (a drive letter)");
    }
    let body = name.strip_suffix('/').unwrap_or(name);
    for segment in body.split('/') {
        match segment {
            ".." => return Err("escapes the archive's root (`..`)"),
            "." => return Err("has a `.` segment"),
            "" => return Err("has an empty path segment"),
            _ => {}
        }
    }
    Ok(())
}

/// Entries archivers add on their own: dropped before the root folder is looked for.
pub fn is_noise(name: &str) -> bool {
    name.starts_with("__MACOSX/") || name.rsplit('/').next() == Some(".DS_Store")
}

/// The one top-level folder every entry is in, if there is one.
pub fn single_root<'a>(mut names: impl Iterator<Item = &'a str>) -> Option<String> {
    let first = names.next()?;
    let (root, _) = first.split_once('/')?;
    let prefix = format!("{root}/");
    names
        .all(|n| n.starts_with(&prefix))
        .then(|| root.to_owned())
}

/// Entries an import leaves out without a word: an Obsidian vault's settings and trash, an
/// mdz export's manifest and whatever else it keeps under `.mdz/` (its history, under
/// `.mdz/history/`, is taken before this is asked: `super::history`).
pub fn is_ignored(name: &str, format: Format) -> bool {
    if name
        .split('/')
        .any(|segment| segment == ".obsidian" || segment == ".trash")
    {
        return true;
    }
    format == Format::Mdz && (name == "mdz-export.json" || name.starts_with(".mdz/"))
}

pub fn is_markdown(file_name: &str) -> bool {
    let lower = file_name.to_lowercase();
    lower.ends_with(".md") && lower != ".md"
}

/// Images and PDFs become attachments; the type from the extension.
pub fn attachment_type(file_name: &str) -> Option<&'static str> {
    let (_, ext) = file_name.rsplit_once('.')?;
    Some(match ext.to_lowercase().as_str() {
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "svg" => "image/svg+xml",
        "pdf" => "application/pdf",
        _ => return None,
    })
}

/// The rules `POST /projects/{id}/attachments` applies to a file name.
pub fn check_attachment_name(name: &str) -> Result<(), &'static str> {
    let len = name.chars().count();
    if len == 0
        || len > 255
        || name
            .chars()
            .any(|c| c.is_control() || c == '/' || c == '\\')
    {
        return Err("its name is not a valid attachment name (1 to 255 characters)");
    }
    Ok(())
}

/// Notion appends a space and the page's 32-hex id to page files and folders.
fn notion_id_at_end(s: &str) -> Option<usize> {
    let cut = s.len().checked_sub(33)?;
    let (head, tail) = s.split_at_checked(cut)?;
    let mut chars = tail.chars();
    (chars.next() == Some(' ') && chars.all(|c| c.is_ascii_hexdigit()) && tail.len() == 33)
        .then_some(head.len())
}

/// Does any segment of this path carry a Notion id?
pub fn has_notion_id(name: &str) -> bool {
    name.split('/')
        .any(|segment| strip_notion_id(segment).len() != segment.len())
}

/// `Page 0123…ef.md` → `Page.md`, `Page 0123…ef` → `Page`; other names unchanged.
pub fn strip_notion_id(segment: &str) -> std::borrow::Cow<'_, str> {
    if let Some(end) = notion_id_at_end(segment) {
        return non_empty(&segment[..end], "");
    }
    if let Some((stem, ext)) = segment.rsplit_once('.')
        && let Some(end) = notion_id_at_end(stem)
    {
        return non_empty(&stem[..end], &format!(".{ext}"));
    }
    std::borrow::Cow::Borrowed(segment)
}

fn non_empty<'a>(stem: &str, ext: &str) -> std::borrow::Cow<'a, str> {
    let stem = stem.trim();
    let stem = if stem.is_empty() { "Untitled" } else { stem };
    std::borrow::Cow::Owned(format!("{stem}{ext}"))
}

/// `name (2).md`, `name (3).md`… for the `n`th taker of a name.
fn numbered(path: &str, n: usize) -> String {
    let (dir, file) = path.rsplit_once('/').map_or(("", path), |(d, f)| (d, f));
    let (stem, ext) = match file.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() => (stem, format!(".{ext}")),
        _ => (file, String::new()),
    };
    let prefix = if dir.is_empty() {
        String::new()
    } else {
        format!("{dir}/")
    };
    format!("{prefix}{stem} ({n}){ext}")
}

/// New names given so far: documents unique without case (as the database wants them),
/// Notion folders renamed once each.
#[derive(Debug, Default)]
pub struct Renames {
    dirs: HashMap<String, String>,
    taken_dirs: HashSet<String>,
    taken_documents: HashSet<String>,
    /// Lower-case wanted name → the next number to try for it (so many takers of one name
    /// do not each count up from 2).
    next_number: HashMap<String, usize>,
}

impl Renames {
    /// A Notion export's path with the ids gone from every segment.
    pub fn notion_path(&mut self, source: &str) -> String {
        match source.rsplit_once('/') {
            Some((dir, file)) => format!("{}/{}", self.dir(dir), strip_notion_id(file)),
            None => strip_notion_id(source).into_owned(),
        }
    }

    /// The new name of the folder `old`, its parents renamed first (folder by folder, not
    /// recursively: the depth is the archive's).
    fn dir(&mut self, old: &str) -> String {
        let mut new = String::new();
        let mut end = 0;
        for (i, segment) in old.split('/').enumerate() {
            end += segment.len() + usize::from(i > 0);
            let prefix = &old[..end];
            new = match self.dirs.get(prefix) {
                Some(known) => known.clone(),
                None => self.rename_dir(prefix, &new, segment),
            };
        }
        new
    }

    /// Give the folder `old` (its parent already renamed to `parent`) a name of its own.
    fn rename_dir(&mut self, old: &str, parent: &str, name: &str) -> String {
        let wanted = if parent.is_empty() {
            strip_notion_id(name).into_owned()
        } else {
            format!("{parent}/{}", strip_notion_id(name))
        };
        let new = if self.taken_dirs.insert(wanted.to_lowercase()) {
            wanted
        } else {
            let key = format!("{}/", wanted.to_lowercase());
            let mut n = self.next_number.get(&key).copied().unwrap_or(2);
            loop {
                let candidate = format!("{wanted} ({n})");
                n += 1;
                if self.taken_dirs.insert(candidate.to_lowercase()) {
                    self.next_number.insert(key, n);
                    break candidate;
                }
            }
        };
        self.dirs.insert(old.to_owned(), new.clone());
        new
    }

    /// `path`, or a numbered variant when a document already has it (without case).
    pub fn unique_document(&mut self, path: &str) -> String {
        let key = path.to_lowercase();
        if self.taken_documents.insert(key.clone()) {
            return path.to_owned();
        }
        let mut n = self.next_number.get(&key).copied().unwrap_or(2);
        loop {
            let candidate = numbered(path, n);
            n += 1;
            if self.taken_documents.insert(candidate.to_lowercase()) {
                self.next_number.insert(key, n);
                return candidate;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn hostile_names_are_refused() {
        for bad in [
            "../x.md",
            "a/../../x.md",
            "/etc/passwd",
            "C:/x.md",
            "a\\b.md",
            "a//b.md",
            "./a.md",
            "a\u{0}.md",
            "",
        ] {
            assert!(check_entry_name(bad).is_err(), "{bad:?}");
        }
        for good in ["a.md", "dir/", "dir/sub/ü.md", ".obsidian/app.json"] {
            assert!(check_entry_name(good).is_ok(), "{good:?}");
        }
        let deep = format!("{}x.md", "a/".repeat(MAX_ENTRY_SEGMENTS));
        assert_eq!(
            check_entry_name(&deep),
            Err("is nested in more than 64 folders")
        );
        assert!(check_entry_name(&format!("{}x.md", "a/".repeat(63))).is_ok());
        let long = format!("{}.md", "a".repeat(MAX_ENTRY_NAME_BYTES));
        assert!(check_entry_name(&long).is_err());
    }

    #[test]
    fn one_top_folder_is_the_root() {
        assert_eq!(
            single_root(["v/a.md", "v/b/c.md"].into_iter()).as_deref(),
            Some("v")
        );
        assert_eq!(single_root(["v/a.md", "w/b.md"].into_iter()), None);
        assert_eq!(single_root(["a.md"].into_iter()), None);
        assert_eq!(single_root(std::iter::empty()), None);
    }

    #[test]
    fn notion_ids_are_stripped() {
        assert_eq!(strip_notion_id(&format!("Page {ID}.md")), "Page.md");
        assert_eq!(strip_notion_id(&format!("Page {ID}")), "Page");
        assert_eq!(strip_notion_id(&format!("v1.2 {ID}")), "v1.2");
        assert_eq!(strip_notion_id(&format!(" {ID}.md")), "Untitled.md");
        assert_eq!(strip_notion_id("Page.md"), "Page.md");
        assert_eq!(
            strip_notion_id(&format!("Page{ID}.md")),
            format!("Page{ID}.md")
        );
        assert!(has_notion_id(&format!("Home {ID}/Child {ID}.md")));
        assert!(!has_notion_id("Home/Child.md"));
        let mut r = Renames::default();
        assert_eq!(
            r.notion_path(&format!("Home {ID}/Child {ID}.md")),
            "Home/Child.md"
        );
        // Two pages of one title in one folder keep apart.
        let other = "fedcba9876543210fedcba9876543210";
        assert_eq!(
            r.notion_path(&format!("Home {other}/x.md")),
            "Home (2)/x.md"
        );
        assert_eq!(r.unique_document("Home/Child.md"), "Home/Child.md");
        assert_eq!(r.unique_document("home/child.md"), "home/child (2).md");
    }

    #[test]
    fn many_pages_of_one_title_get_names_of_their_own() {
        let mut r = Renames::default();
        let mut seen = HashSet::new();
        for i in 0..20_000 {
            let path = r.notion_path(&format!("Home {i:032x}/Page {i:032x}.md"));
            assert!(seen.insert(r.unique_document(&path)), "{path} twice");
            let same = r.unique_document("Same/Page.md");
            assert!(seen.insert(same.clone()), "{same} twice");
        }
        assert!(seen.contains("Home (20000)/Page.md"));
        assert!(seen.contains("Same/Page (20000).md"));
        assert_eq!(
            r.notion_path(&format!("Home {ID}/x.md")),
            "Home (20001)/x.md"
        );
        assert_eq!(r.unique_document("same/page.md"), "same/page (20001).md");
    }

    #[test]
    fn deep_notion_folders_do_not_recurse() {
        let mut r = Renames::default();
        let deep = format!("{}Page {ID}.md", "a/".repeat(20_000));
        let renamed = r.notion_path(&deep);
        assert!(
            renamed.ends_with("a/a/Page.md"),
            "{}",
            &renamed[renamed.len() - 20..]
        );
    }
}
