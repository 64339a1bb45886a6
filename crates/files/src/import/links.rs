//! Links inside imported documents, pointed at what they became: attachment URLs of an mdz
//! export get the new attachments' ids; in other archives, Markdown links and Obsidian
//! embeds of images and PDFs become attachment URLs, and links between Notion pages follow
//! the pages' new names. Wiki links (`[[Note]]`) stay as written. Code is left alone.

use super::archive::Format;
use mdz_core::ids::AttachmentId;
use std::collections::HashMap;

/// How documents refer to attachments (the web app writes these).
pub const ATTACHMENT_URL: &str = "/api/v1/attachments/";

/// Where everything in the archive went.
#[derive(Debug, Default)]
pub struct Links {
    pub format: Option<Format>,
    /// Source path (under the root) → the document's path in the project.
    pub documents: HashMap<String, String>,
    /// Source path → the new attachment.
    pub attachments: HashMap<String, AttachmentId>,
    /// An mdz export's attachment ids → the new ones.
    pub ids: HashMap<AttachmentId, AttachmentId>,
    /// Lower-case file name → the attachment source path an embed of that name finds: the
    /// shortest, then the first in order (Obsidian finds an embed by its name anywhere in the
    /// vault). Only that one is kept, so adding is O(1).
    by_name: HashMap<String, String>,
}

impl Links {
    pub fn new(format: Format) -> Self {
        Self {
            format: Some(format),
            ..Self::default()
        }
    }

    pub fn add_attachment(&mut self, source: &str, old: Option<AttachmentId>, new: AttachmentId) {
        self.attachments.insert(source.to_owned(), new);
        if let Some(old) = old {
            self.ids.insert(old, new);
        }
        let name = source.rsplit('/').next().unwrap_or(source).to_lowercase();
        match self.by_name.get_mut(&name) {
            Some(best) if (best.len(), best.as_str()) <= (source.len(), source) => {}
            Some(best) => source.clone_into(best),
            None => {
                self.by_name.insert(name, source.to_owned());
            }
        }
    }

    /// `text` of the document at `source` (which becomes `target`), its links rewritten.
    pub fn rewrite(&self, source: &str, target: &str, text: &str) -> String {
        let text = self.rewrite_ids(text);
        if self.format == Some(Format::Mdz) {
            // An export's relative links already hold (same paths): bytes stay as they were.
            return text;
        }
        let doc = Doc {
            links: self,
            src_dir: parent(source),
            new_dir: parent(target),
        };
        let mut out = String::with_capacity(text.len());
        let mut fence: Option<&str> = None;
        for line in text.split_inclusive('\n') {
            let trimmed = line.trim_start();
            let marker = ["```", "~~~"].into_iter().find(|m| trimmed.starts_with(m));
            match (fence, marker) {
                (None, Some(m)) => {
                    fence = Some(m);
                    out.push_str(line);
                }
                (Some(open), Some(m)) if open == m => {
                    fence = None;
                    out.push_str(line);
                }
                (Some(_), _) => out.push_str(line),
                (None, None) => doc.line(line, &mut out),
            }
        }
        out
    }

    /// `/api/v1/attachments/<old id>` → the new id, wherever it appears (absolute URLs too).
    fn rewrite_ids(&self, text: &str) -> String {
        if self.ids.is_empty() || !text.contains(ATTACHMENT_URL) {
            return text.to_owned();
        }
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(at) = rest.find(ATTACHMENT_URL) {
            let start = at + ATTACHMENT_URL.len();
            out.push_str(&rest[..start]);
            rest = &rest[start..];
            let new = rest
                .get(..36)
                .and_then(|id| id.parse::<uuid::Uuid>().ok())
                .and_then(|id| self.ids.get(&AttachmentId(id)));
            if let Some(new) = new {
                out.push_str(&new.to_string());
                rest = &rest[36..];
            }
        }
        out.push_str(rest);
        out
    }

    /// An embed's target: a vault path, a path beside the document, or a name anywhere.
    fn find_attachment(&self, src_dir: &str, target: &str) -> Option<AttachmentId> {
        if let Some(id) = self.attachments.get(target) {
            return Some(*id);
        }
        if let Some(id) = normalize(&join(src_dir, target)).and_then(|p| self.attachments.get(&p)) {
            return Some(*id);
        }
        let name = target.rsplit('/').next().unwrap_or(target).to_lowercase();
        self.by_name
            .get(&name)
            .and_then(|p| self.attachments.get(p))
            .copied()
    }
}

/// One document being rewritten.
struct Doc<'a> {
    links: &'a Links,
    src_dir: &'a str,
    new_dir: &'a str,
}

impl Doc<'_> {
    /// A line outside fenced code: inline code spans are copied as they are.
    fn line(&self, line: &str, out: &mut String) {
        for (i, part) in line.split('`').enumerate() {
            if i > 0 {
                out.push('`');
            }
            if i % 2 == 0 {
                self.prose(part, out);
            } else {
                out.push_str(part);
            }
        }
    }

    fn prose(&self, text: &str, out: &mut String) {
        let mut rest = text;
        loop {
            let embed = rest.find("![[");
            let link = rest.find("](");
            match (embed, link) {
                (Some(e), l) if l.is_none_or(|l| e < l) => {
                    out.push_str(&rest[..e]);
                    rest = self.embed(&rest[e..], out);
                }
                (_, Some(l)) => {
                    out.push_str(&rest[..l + 2]);
                    rest = self.link_target(&rest[l + 2..], out);
                }
                _ => {
                    out.push_str(rest);
                    return;
                }
            }
        }
    }

    /// `![[name.png]]` (also `|size`, `#part`) → a Markdown image of the attachment; the rest
    /// of `text` after it is returned.
    fn embed<'t>(&self, text: &'t str, out: &mut String) -> &'t str {
        let Some(end) = text[3..].find("]]").map(|e| e + 3) else {
            out.push_str("![[");
            return &text[3..];
        };
        let inner = &text[3..end];
        let target = inner.split(['|', '#']).next().unwrap_or(inner).trim();
        match self.links.find_attachment(self.src_dir, target) {
            Some(id) => {
                let alt = target.rsplit('/').next().unwrap_or(target);
                out.push_str(&format!("![{alt}]({ATTACHMENT_URL}{id})"));
            }
            None => out.push_str(&text[..end + 2]),
        }
        &text[end + 2..]
    }

    /// The target of a `[…](target "title")` whose `](` was written; returns what follows it.
    fn link_target<'t>(&self, text: &'t str, out: &mut String) -> &'t str {
        let (raw, end, angled) = if let Some(inner) = text.strip_prefix('<') {
            match inner.find('>') {
                Some(close) => (&inner[..close], close + 2, true),
                None => return text,
            }
        } else {
            let mut depth = 0usize;
            let mut end = text.len();
            for (i, c) in text.char_indices() {
                match c {
                    '(' => depth += 1,
                    ')' if depth == 0 => {
                        end = i;
                        break;
                    }
                    ')' => depth -= 1,
                    c if c.is_whitespace() => {
                        end = i;
                        break;
                    }
                    _ => {}
                }
            }
            (&text[..end], end, false)
        };
        match self.resolve(raw) {
            Some(new) if angled => out.push_str(&format!("<{new}>")),
            Some(new) => out.push_str(&new),
            None => out.push_str(&text[..end]),
        }
        &text[end..]
    }

    /// What a link's target becomes, or `None` to leave it as written.
    fn resolve(&self, raw: &str) -> Option<String> {
        if raw.is_empty() || raw.starts_with('#') || raw.starts_with('/') || has_scheme(raw) {
            return None;
        }
        let cut = raw.find(['#', '?']).unwrap_or(raw.len());
        let (path, suffix) = raw.split_at(cut);
        let decoded = percent_decode(path);
        let resolved = normalize(&join(self.src_dir, &decoded));
        if let Some(resolved) = &resolved {
            if let Some(id) = self.links.attachments.get(resolved) {
                return Some(format!("{ATTACHMENT_URL}{id}{suffix}"));
            }
            if let Some(new) = self.links.documents.get(resolved) {
                if new == resolved && self.src_dir == self.new_dir {
                    return None;
                }
                return Some(format!(
                    "{}{suffix}",
                    percent_encode(&relative(self.new_dir, new))
                ));
            }
        }
        let file = decoded.rsplit('/').next().unwrap_or(&decoded);
        if super::names::attachment_type(file).is_some() {
            // Obsidian's "shortest path" links name a file found anywhere in the vault.
            return self
                .links
                .find_attachment(self.src_dir, &decoded)
                .map(|id| format!("{ATTACHMENT_URL}{id}{suffix}"));
        }
        None
    }
}

fn has_scheme(raw: &str) -> bool {
    match raw.find(':') {
        Some(colon) => raw[..colon]
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c)),
        None => false,
    }
}

fn parent(path: &str) -> &str {
    path.rsplit_once('/').map_or("", |(dir, _)| dir)
}

fn join(dir: &str, path: &str) -> String {
    if dir.is_empty() {
        path.to_owned()
    } else {
        format!("{dir}/{path}")
    }
}

/// `a/./b/../c` → `a/c`; `None` when it climbs above the root.
fn normalize(path: &str) -> Option<String> {
    let mut parts: Vec<&str> = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            s => parts.push(s),
        }
    }
    Some(parts.join("/"))
}

/// The path from folder `from` to `to` (both from the root).
fn relative(from: &str, to: &str) -> String {
    let from: Vec<&str> = from.split('/').filter(|s| !s.is_empty()).collect();
    let to_parts: Vec<&str> = to.split('/').collect();
    let common = from
        .iter()
        .zip(&to_parts)
        .take_while(|(a, b)| a == b)
        .count()
        .min(to_parts.len().saturating_sub(1));
    let mut out: Vec<&str> = vec![".."; from.len() - common];
    out.extend(&to_parts[common..]);
    out.join("/")
}

/// `s` with its `%XX` escapes decoded; `s` as written when they do not make UTF-8.
fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8()
        .map_or_else(|_| s.to_owned(), std::borrow::Cow::into_owned)
}

fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u128) -> AttachmentId {
        AttachmentId(uuid::Uuid::from_u128(n))
    }

    #[test]
    fn obsidian_embeds_and_image_links_become_attachment_urls() {
        let mut links = Links::new(Format::Folder);
        links.add_attachment("assets/img.png", None, id(1));
        links.add_attachment("notes/paper.pdf", None, id(2));
        links
            .documents
            .insert("notes/a.md".into(), "notes/a.md".into());
        let text = "![[img.png]] and ![[img.png|200]]\n[[Other note]] ![[Other note]]\n\
                    ![x](../assets/img.png) [p](paper.pdf#page=2) [web](https://x.org/a.png)\n\
                    `![[img.png]]`\n```\n![[img.png]]\n```\n![](img.png)\n";
        let out = links.rewrite("notes/a.md", "notes/a.md", text);
        let u1 = format!("{ATTACHMENT_URL}{}", id(1));
        let u2 = format!("{ATTACHMENT_URL}{}", id(2));
        assert_eq!(
            out,
            format!(
                "![img.png]({u1}) and ![img.png]({u1})\n[[Other note]] ![[Other note]]\n\
                 ![x]({u1}) [p]({u2}#page=2) [web](https://x.org/a.png)\n\
                 `![[img.png]]`\n```\n![[img.png]]\n```\n![]({u1})\n"
            )
        );
    }

    #[test]
    fn notion_links_follow_renamed_pages() {
        let hex = "0123456789abcdef0123456789abcdef";
        let mut links = Links::new(Format::Notion);
        let home = format!("Home {hex}.md");
        let child = format!("Home {hex}/Child Page {hex}.md");
        links.documents.insert(home.clone(), "Home.md".into());
        links
            .documents
            .insert(child.clone(), "Home/Child Page.md".into());
        let text = format!("[Child](Home%20{hex}/Child%20Page%20{hex}.md)\n");
        assert_eq!(
            links.rewrite(&home, "Home.md", &text),
            "[Child](Home/Child%20Page.md)\n"
        );
        let back = format!("[Up](../Home%20{hex}.md) [Me](<Child Page {hex}.md>)\n");
        assert_eq!(
            links.rewrite(&child, "Home/Child Page.md", &back),
            "[Up](../Home.md) [Me](<Child%20Page.md>)\n"
        );
    }

    #[test]
    fn an_export_keeps_its_bytes_but_gets_the_new_ids() {
        let mut links = Links::new(Format::Mdz);
        links.add_attachment("_attachments/pic.png", Some(id(7)), id(8));
        let text = format!(
            "![a](/api/v1/attachments/{}) [b](_attachments/pic.png) /api/v1/attachments/x\n",
            id(7)
        );
        assert_eq!(
            links.rewrite("a.md", "a.md", &text),
            format!(
                "![a](/api/v1/attachments/{}) [b](_attachments/pic.png) /api/v1/attachments/x\n",
                id(8)
            )
        );
    }

    #[test]
    fn paths() {
        assert_eq!(relative("a/b", "a/c/x.md"), "../c/x.md");
        assert_eq!(relative("", "a/x.md"), "a/x.md");
        assert_eq!(relative("a", "x.md"), "../x.md");
        assert_eq!(normalize("a/../../x"), None);
        assert_eq!(percent_decode("a%20b%2"), "a b%2");
    }
}
