//! A project with one member of every role and an outsider, and a typed client for the
//! suggestion endpoints.

use crate::{TestApp, TestUser};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// The project roles, highest first.
pub const ROLES: [&str; 5] = ["owner", "admin", "editor", "commenter", "viewer"];

/// A project with one member of every role, and an outsider (no member).
pub struct Team {
    pub project: String,
    pub owner: TestUser,
    pub admin: TestUser,
    pub editor: TestUser,
    pub commenter: TestUser,
    pub viewer: TestUser,
    pub outsider: TestUser,
}

impl Team {
    pub async fn new(app: &TestApp) -> Self {
        let owner = app.new_user().await;
        let admin = app.new_user().await;
        let editor = app.new_user().await;
        let commenter = app.new_user().await;
        let viewer = app.new_user().await;
        let project = app
            .project_with(
                &owner,
                &[
                    (&admin, "admin"),
                    (&editor, "editor"),
                    (&commenter, "commenter"),
                    (&viewer, "viewer"),
                ],
            )
            .await;
        Self {
            project,
            owner,
            admin,
            editor,
            commenter,
            viewer,
            outsider: app.new_user().await,
        }
    }

    /// The member of `role` (`outsider` for none).
    pub fn member(&self, role: &str) -> &TestUser {
        match role {
            "owner" => &self.owner,
            "admin" => &self.admin,
            "editor" => &self.editor,
            "commenter" => &self.commenter,
            "viewer" => &self.viewer,
            _ => &self.outsider,
        }
    }

    /// A new document of the owner's; its id.
    pub async fn document(&self, app: &TestApp, path: &str, content: &str) -> String {
        app.create_file(&self.owner, &self.project, path, content)
            .await["id"]
            .as_str()
            .expect("file id")
            .to_owned()
    }
}

/// The suggestion endpoints, typed by what they take.
pub struct Suggestions<'a> {
    pub app: &'a TestApp,
}

impl Suggestions<'_> {
    /// Suggest replacing characters `from..to` of revision `revision` with `proposed`.
    pub async fn by_offsets(
        &self,
        user: &TestUser,
        file: &str,
        (from, to, revision): (usize, usize, i64),
        proposed: &str,
    ) -> (StatusCode, Value) {
        self.create(
            user,
            file,
            json!({"range": {"from": from, "to": to, "revision": revision}, "proposed": proposed}),
        )
        .await
    }

    /// `POST /files/{file}/suggestions` with any body.
    pub async fn create(&self, user: &TestUser, file: &str, body: Value) -> (StatusCode, Value) {
        self.app
            .post(
                &format!("/api/v1/files/{file}/suggestions"),
                Some(&user.access),
                body,
            )
            .await
    }

    pub async fn list(&self, user: &TestUser, file: &str) -> (StatusCode, Value) {
        self.app
            .get(
                &format!("/api/v1/files/{file}/suggestions"),
                Some(&user.access),
            )
            .await
    }

    pub async fn accept(&self, user: &TestUser, id: &str) -> (StatusCode, Value) {
        self.app
            .post(
                &format!("/api/v1/suggestions/{id}/accept"),
                Some(&user.access),
                json!({}),
            )
            .await
    }

    pub async fn reject(&self, user: &TestUser, id: &str) -> (StatusCode, Value) {
        self.app
            .post(
                &format!("/api/v1/suggestions/{id}/reject"),
                Some(&user.access),
                json!({}),
            )
            .await
    }
}

impl TestApp {
    pub fn suggestions(&self) -> Suggestions<'_> {
        Suggestions { app: self }
    }

    /// A document's text and revision, as REST has it.
    pub async fn file_text(&self, user: &TestUser, file: &str) -> (String, i64) {
        let (status, body) = self
            .get(&format!("/api/v1/files/{file}"), Some(&user.access))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        (
            body["content"].as_str().expect("content").to_owned(),
            body["revision"].as_i64().expect("revision"),
        )
    }
}
