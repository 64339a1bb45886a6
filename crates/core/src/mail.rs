//! The mail outbox: a domain writes a mail in the transaction of the event that causes it
//! (so a rolled-back event sends nothing and a committed one is never lost); the sender task
//! of `mdz-mail` delivers it. Also the small template helpers every mail uses: links built
//! from `PUBLIC_URL` and HTML escaping of user-provided values.

use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use prometheus::IntCounter;
use uuid::Uuid;

diesel::table! {
    mail_outbox (id) {
        id -> Uuid,
        kind -> Text,
        recipient -> Text,
        subject -> Text,
        body_text -> Text,
        body_html -> Text,
        attempts -> Int4,
        next_attempt_at -> Timestamptz,
        last_error -> Nullable<Text>,
        sent_at -> Nullable<Timestamptz>,
        failed_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        priority -> Int2,
    }
}

/// Kinds of mail a person is waiting for at the screen; they go out before any other.
pub const ACCOUNT_KINDS: &[&str] = &["verify-email", "password-reset"];

/// A mail ready to be queued: both bodies already rendered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingMail {
    /// What it is about (`verify-email`, `password-reset`, `invitation`), for logs and metrics.
    pub kind: &'static str,
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
}

#[derive(Insertable)]
#[diesel(table_name = mail_outbox)]
struct NewRow<'a> {
    id: Uuid,
    kind: &'a str,
    recipient: &'a str,
    subject: &'a str,
    body_text: &'a str,
    body_html: &'a str,
    /// 0: an [`ACCOUNT_KINDS`] mail, sent first; 1: the rest.
    priority: i16,
}

/// Where domains queue mail; cloned into each domain at start.
#[derive(Clone)]
pub struct Outbox {
    public_url: String,
    queued: IntCounter,
}

impl std::fmt::Debug for Outbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbox")
            .field("public_url", &self.public_url)
            .finish_non_exhaustive()
    }
}

impl Outbox {
    /// `public_url` without a trailing slash; `queued` counts the mails queued.
    pub fn new(public_url: &str, queued: IntCounter) -> Self {
        Self {
            public_url: public_url.trim_end_matches('/').to_owned(),
            queued,
        }
    }

    /// The absolute URL of `path` (which starts with `/`) under `PUBLIC_URL`.
    pub fn link(&self, path: &str) -> String {
        format!("{}{path}", self.public_url)
    }

    /// Queue `mail` on `conn`: call it inside the transaction of the event.
    pub async fn enqueue(
        &self,
        conn: &mut AsyncPgConnection,
        mail: &OutgoingMail,
    ) -> QueryResult<()> {
        diesel::insert_into(mail_outbox::table)
            .values(NewRow {
                id: Uuid::now_v7(),
                kind: mail.kind,
                recipient: &mail.to,
                subject: &mail.subject,
                body_text: &mail.text,
                body_html: &mail.html,
                priority: if ACCOUNT_KINDS.contains(&mail.kind) {
                    0
                } else {
                    1
                },
            })
            .execute(conn)
            .await?;
        self.queued.inc();
        tracing::debug!(kind = mail.kind, "mail queued");
        Ok(())
    }
}

/// `value` safe inside HTML text or a quoted attribute.
pub fn escape_html(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The HTML body every mail shares: `paragraphs` (already escaped HTML) and one button-like
/// link. `link` is escaped here.
pub fn html_page(paragraphs: &[String], link_label: &str, link: &str) -> String {
    let mut body = String::from(
        "<!doctype html><html><body style=\"font-family:sans-serif;line-height:1.5\">",
    );
    for p in paragraphs {
        body.push_str("<p>");
        body.push_str(p);
        body.push_str("</p>");
    }
    let link = escape_html(link);
    body.push_str(&format!(
        "<p><a href=\"{link}\">{}</a></p><p style=\"color:#666;font-size:small\">{link}</p>",
        escape_html(link_label)
    ));
    body.push_str("</body></html>");
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_values_are_escaped() {
        assert_eq!(
            escape_html("<b>\"Ada\" & 'Bob'</b>"),
            "&lt;b&gt;&quot;Ada&quot; &amp; &#39;Bob&#39;&lt;/b&gt;"
        );
        let page = html_page(&[escape_html("<script>")], "Open", "https://x/a?b=1&c=\"");
        assert!(!page.contains("<script>"));
        assert!(page.contains("href=\"https://x/a?b=1&amp;c=&quot;\""));
    }

    #[test]
    fn links_hang_under_the_public_url() {
        let outbox = Outbox::new(
            "https://docs.example.com/",
            IntCounter::new("t", "t").unwrap(),
        );
        assert_eq!(
            outbox.link("/verify-email?token=x"),
            "https://docs.example.com/verify-email?token=x"
        );
    }
}
