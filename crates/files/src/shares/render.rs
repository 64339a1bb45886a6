//! Markdown → safe HTML for share pages (pulldown-cmark, then ammonia), and the pages around it.
//!
//! Whatever a document holds, the page carries no script, no event handler, no `style`
//! attribute, no link with a scheme other than http, https or mailto, and no image but the
//! project's attachments served through the share (`/s/{token}/a/{id}`); the page's CSP
//! (`default-src 'none'`, the stylesheet by hash) would stop the rest anyway.

use crate::import::links::ATTACHMENT_URL;
use base64::Engine;
use mdz_core::mail::escape_html;
use pulldown_cmark::{Event, Options, Parser, html};
use sha2::{Digest, Sha256};
use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt;
use std::sync::OnceLock;

/// The most HTML one page may render to (a 5 MiB document is far below it unless it expands
/// reference links on purpose); beyond it the page answers 413 and `?raw=1` still works.
pub const MAX_RENDERED_BYTES: usize = 16 * 1024 * 1024;

/// The page's only stylesheet, allowed by its hash.
const STYLE: &str = "body{margin:0;background:#fff;color:#1f2328;font:16px/1.6 system-ui,sans-serif}\
main{max-width:46rem;margin:0 auto;padding:2rem 1rem}\
pre,code{font-family:ui-monospace,monospace;font-size:.9em}\
pre{background:#f6f8fa;padding:.75rem;overflow:auto}\
table{border-collapse:collapse}td,th{border:1px solid #d0d7de;padding:.25rem .5rem}\
img{max-width:100%}blockquote{margin-left:0;padding-left:1rem;border-left:.25rem solid #d0d7de;color:#59636e}\
.path{color:#59636e;font-size:.85em}";

#[derive(Debug, thiserror::Error)]
#[error("the rendered page would be larger than {MAX_RENDERED_BYTES} bytes")]
pub struct TooBig;

/// A `fmt::Write` that refuses to grow past `limit`.
struct Bounded {
    out: String,
    limit: usize,
}

impl fmt::Write for Bounded {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        if self.out.len().saturating_add(s.len()) > self.limit {
            return Err(fmt::Error);
        }
        self.out.push_str(s);
        Ok(())
    }
}

/// `text` as sanitised HTML; attachment images point at `attachments_at` + id.
pub fn markdown_to_html(text: &str, attachments_at: &str, limit: usize) -> Result<String, TooBig> {
    let options =
        Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TASKLISTS;
    let events = Parser::new_ext(text, options).map(|event| match event {
        // Checkboxes would be `<input>`s: shown as characters instead.
        Event::TaskListMarker(done) => Event::Text(if done { "☑ " } else { "☐ " }.into()),
        other => other,
    });
    let mut raw = Bounded {
        out: String::new(),
        limit,
    };
    html::write_html_fmt(&mut raw, events).map_err(|_| TooBig)?;
    // Cleaning adds a `rel` to every link: the limit holds for what is sent too.
    let clean = sanitise(&raw.out, attachments_at);
    if clean.len() > limit {
        return Err(TooBig);
    }
    Ok(clean)
}

/// ammonia's defaults (no script, style, iframe, form or input elements; no event handler or
/// `style` attribute), http/https/mailto links only, and images only from attachments.
fn sanitise(html: &str, attachments_at: &str) -> String {
    let base = attachments_at.to_owned();
    let mut builder = ammonia::Builder::default();
    builder
        .url_schemes(HashSet::from(["http", "https", "mailto"]))
        .link_rel(Some("noopener noreferrer nofollow"))
        .attribute_filter(move |element, attribute, value| {
            if element == "img" && attribute == "src" {
                return attachment_id(value).map(|id| Cow::Owned(format!("{base}{id}")));
            }
            Some(Cow::Borrowed(value))
        });
    builder.clean(html).to_string()
}

/// The attachment named by `/api/v1/attachments/{id}`, written as a path or as an absolute
/// http(s) URL of any host (documents are written on some server of this deployment).
pub fn attachment_id(url: &str) -> Option<uuid::Uuid> {
    let at = url.find(ATTACHMENT_URL)?;
    let (origin, rest) = url.split_at(at);
    let origin_ok = origin.is_empty()
        || ["http://", "https://"].iter().any(|scheme| {
            origin
                .strip_prefix(scheme)
                .is_some_and(|host| !host.is_empty() && !host.contains(['/', '?', '#']))
        });
    if !origin_ok {
        return None;
    }
    let id = &rest[ATTACHMENT_URL.len()..];
    if id.len() != 36 {
        return None;
    }
    uuid::Uuid::parse_str(id).ok()
}

/// `'sha256-…'` of [`STYLE`].
fn style_source() -> &'static str {
    static HASH: OnceLock<String> = OnceLock::new();
    HASH.get_or_init(|| {
        let digest = Sha256::digest(STYLE.as_bytes());
        format!(
            "'sha256-{}'",
            base64::engine::general_purpose::STANDARD.encode(digest)
        )
    })
}

/// The pages' Content-Security-Policy: nothing but same-origin images and the one stylesheet.
pub fn page_csp() -> String {
    format!(
        "default-src 'none'; img-src 'self'; style-src {}; form-action 'self'; \
         frame-ancestors 'none'; base-uri 'none'",
        style_source()
    )
}

/// A whole page around `body` (already safe HTML).
pub fn page(title: &str, body: &str, indexable: bool) -> String {
    let robots = if indexable {
        ""
    } else {
        "<meta name=\"robots\" content=\"noindex, nofollow\">"
    };
    format!(
        "<!doctype html><html><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">{robots}\
         <meta name=\"referrer\" content=\"no-referrer\"><title>{}</title><style>{STYLE}</style>\
         </head><body><main>{body}</main></body></html>",
        escape_html(title)
    )
}

/// The password form of a protected share, posting to `action`.
pub fn password_page(action: &str, message: Option<&str>) -> String {
    let message = message
        .map(|m| format!("<p><strong>{}</strong></p>", escape_html(m)))
        .unwrap_or_default();
    page(
        "Password required",
        &format!(
            "<h1>Password required</h1>{message}<form method=\"post\" action=\"{}\">\
             <p><label>Password <input type=\"password\" name=\"password\" \
             autocomplete=\"current-password\" required></label> \
             <button type=\"submit\">Open</button></p></form>",
            escape_html(action)
        ),
        false,
    )
}

/// A page that only says something (not found, too big…).
pub fn message_page(title: &str, text: &str) -> String {
    page(
        title,
        &format!(
            "<h1>{}</h1><p>{}</p>",
            escape_html(title),
            escape_html(text)
        ),
        false,
    )
}

/// One document of a folder index.
#[derive(Debug)]
pub struct IndexEntry {
    pub href: String,
    pub title: String,
    pub path: String,
}

/// The index of a folder share.
pub fn index_page(title: &str, entries: &[IndexEntry], truncated: bool, indexable: bool) -> String {
    let mut body = format!("<h1>{}</h1><ul>", escape_html(title));
    for e in entries {
        body.push_str(&format!(
            "<li><a href=\"{}\">{}</a> <span class=\"path\">{}</span></li>",
            escape_html(&e.href),
            escape_html(&e.title),
            escape_html(&e.path)
        ));
    }
    body.push_str("</ul>");
    if truncated {
        body.push_str("<p>Only the first documents are listed.</p>");
    }
    page(title, &body, indexable)
}

#[cfg(test)]
mod tests {
    use super::*;

    const AT: &str = "/s/tok/a/";

    fn render(md: &str) -> String {
        markdown_to_html(md, AT, MAX_RENDERED_BYTES).unwrap()
    }

    #[test]
    fn hostile_markdown_loses_everything_active() {
        let html = render(
            "<script>alert(1)</script>\n\n<img src=x onerror=alert(2)>\n\n\
             [x](javascript:alert(3)) [y](JaVaScRiPt:alert(4)) [d](data:text/html,hi)\n\n\
             <iframe src=\"https://evil.example\"></iframe>\n\n\
             <p style=\"color:red\" onclick=\"alert(5)\">p</p>\n\n\
             ![i](data:image/png;base64,AAAA) ![e](https://evil.example/t.png)\n\n\
             <a href=\"vbscript:x\">v</a> <form><input name=q></form><style>*{}</style>",
        );
        for bad in [
            "<script",
            "onerror",
            "javascript",
            "JaVaScRiPt",
            "data:",
            "<iframe",
            "style=",
            "onclick",
            "evil.example",
            "vbscript",
            "<form",
            "<input",
            "<style",
        ] {
            assert!(!html.contains(bad), "{bad} in {html}");
        }
        assert!(html.contains(">p</p>"), "{html}");
    }

    #[test]
    fn attachments_are_pointed_through_the_share() {
        let id = "0193a3a0-0000-7000-8000-000000000001";
        let html = render(&format!(
            "![a](/api/v1/attachments/{id}) ![b](https://mdz.example/api/v1/attachments/{id})\n\n\
             <img src=\"/api/v1/attachments/{id}\" alt=c>\n\n![d](//evil/api/v1/attachments/{id})"
        ));
        assert_eq!(
            html.matches(&format!("src=\"{AT}{id}\"")).count(),
            3,
            "{html}"
        );
        assert!(!html.contains("evil"), "{html}");
    }

    #[test]
    fn markdown_renders() {
        let html =
            render("# T\n\n- [x] done\n- [ ] not\n\n| a |\n|---|\n| b |\n\n[l](https://x.example)");
        assert!(html.contains("<h1>T</h1>"), "{html}");
        assert!(html.contains("☑ done") && html.contains("☐ not"), "{html}");
        assert!(html.contains("<td>b</td>"), "{html}");
        assert!(
            html.contains("rel=\"noopener noreferrer nofollow\""),
            "{html}"
        );
    }

    #[test]
    fn output_is_bounded() {
        assert!(markdown_to_html(&"*a* ".repeat(10_000), AT, 4096).is_err());
        assert!(markdown_to_html(&"[a](/b) ".repeat(100), AT, 2000).is_err());
        // Reference links re-using one long destination: pulldown-cmark caps the expansion,
        // and whatever it lets through still meets the limit.
        let md = format!("[a]: /{}\n\n{}", "x".repeat(10_000), "[a] ".repeat(10_000));
        if let Ok(html) = markdown_to_html(&md, AT, 1024 * 1024) {
            assert!(html.len() <= 1024 * 1024);
        }
    }

    #[test]
    fn pages_escape_and_say_noindex() {
        let p = page("<t>", "", false);
        assert!(p.contains("&lt;t&gt;") && p.contains("noindex"));
        assert!(!page("t", "", true).contains("noindex"));
        assert!(page_csp().contains(style_source()));
    }
}
