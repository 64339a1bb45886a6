//! The outbox as the tests read it: the tokens of queued mails, and verification links
//! followed as a person would.

use crate::{Mail, TestApp};
use diesel_async::RunQueryDsl;
use reqwest::StatusCode;
use serde_json::json;
use std::collections::{BTreeMap, HashMap, HashSet};

/// The `token=` of a mail's text.
fn token_in(text: String) -> String {
    let mail = Mail {
        to: Vec::new(),
        from: String::new(),
        subject: String::new(),
        text,
        html: String::new(),
    };
    mail.token("token=")
}

impl TestApp {
    /// The token of the newest mail of `kind` queued for `to`, read from the outbox (the
    /// `token=` of its link).
    pub async fn outbox_token(&self, to: &str, kind: &str) -> String {
        #[derive(diesel::QueryableByName)]
        struct Row {
            #[diesel(sql_type = diesel::sql_types::Text)]
            body_text: String,
        }
        let mut conn = self.db().await;
        let row: Row = diesel::sql_query(
            "SELECT body_text FROM mail_outbox WHERE recipient = $1 AND kind = $2
             ORDER BY created_at DESC, id DESC LIMIT 1",
        )
        .bind::<diesel::sql_types::Text, _>(to)
        .bind::<diesel::sql_types::Text, _>(kind)
        .get_result(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("no {kind} mail for {to} in the outbox: {e}"));
        token_in(row.body_text)
    }

    /// Follow every verification mail in the outbox not in `done` (as a person clicking the
    /// links would), except those to addresses starting with `except`; adds their tokens to
    /// `done`.
    pub async fn verify_pending_except(&self, done: &mut HashSet<String>, except: &str) {
        #[derive(diesel::QueryableByName)]
        struct Row {
            #[diesel(sql_type = diesel::sql_types::Text)]
            body_text: String,
        }
        let mut conn = self.db().await;
        let rows: Vec<Row> = diesel::sql_query(
            "SELECT body_text FROM mail_outbox WHERE kind = 'verify-email'
             AND NOT starts_with(recipient, $1)",
        )
        .bind::<diesel::sql_types::Text, _>(except)
        .load(&mut conn)
        .await
        .expect("read the outbox");
        for row in rows {
            let token = token_in(row.body_text);
            if done.insert(token.clone()) {
                self.post("/api/v1/auth/verify-email", None, json!({"token": token}))
                    .await;
            }
        }
    }

    /// Verify `email`'s address with the token of its newest verification mail.
    pub async fn verify_email(&self, email: &str) {
        let token = self
            .outbox_token(&email.trim().to_lowercase(), "verify-email")
            .await;
        let (status, body) = self
            .post("/api/v1/auth/verify-email", None, json!({"token": token}))
            .await;
        assert_eq!(status, StatusCode::NO_CONTENT, "verify {email}: {body}");
    }

    /// The newest token of each kind of mail queued for each address starting with `prefix`:
    /// `{address: {kind: token}}`.
    pub async fn mail_tokens_to(&self, prefix: &str) -> BTreeMap<String, HashMap<String, String>> {
        #[derive(diesel::QueryableByName)]
        struct Row {
            #[diesel(sql_type = diesel::sql_types::Text)]
            recipient: String,
            #[diesel(sql_type = diesel::sql_types::Text)]
            kind: String,
            #[diesel(sql_type = diesel::sql_types::Text)]
            body_text: String,
        }
        let mut conn = self.db().await;
        let rows: Vec<Row> = diesel::sql_query(
            "SELECT recipient, kind, body_text FROM mail_outbox WHERE starts_with(recipient, $1)
             ORDER BY created_at, id",
        )
        .bind::<diesel::sql_types::Text, _>(prefix)
        .load(&mut conn)
        .await
        .expect("read the outbox");
        let mut tokens: BTreeMap<String, HashMap<String, String>> = BTreeMap::new();
        for row in rows {
            tokens
                .entry(row.recipient)
                .or_default()
                .insert(row.kind, token_in(row.body_text));
        }
        tokens
    }
}
