//! The files API as the sync client uses it, on the files crate's own wire types.

use mdz_core::ids::{FileId, ProjectId};
use mdz_core::pagination::{MAX_LIMIT, Page};
use mdz_core::secret::Secret;
use mdz_files::interface::{Changes, File, FileMeta};
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde::de::DeserializeOwned;
use serde_json::json;
use std::time::Duration;

/// Changes asked for per feed read (the server's maximum).
pub const FEED_PAGE: i64 = 1000;
/// One request, connection and answer, at most.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("{what}: the request failed")]
    Transport {
        what: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("{what}: the server answered {status}: {detail}")]
    Status {
        what: String,
        status: u16,
        detail: String,
    },
    #[error("the change feed no longer reaches back to the saved cursor")]
    CursorExpired,
    #[error("the document changed on the server in between")]
    Precondition,
    #[error("the path is taken on the server")]
    PathTaken,
}

impl ClientError {
    /// The server refused this document for good (too big, bad path or text): retrying the
    /// same request cannot help.
    pub fn is_refusal(&self) -> bool {
        matches!(self, ClientError::Status { status, .. } if [413, 415, 422].contains(status))
    }
}

/// An mdz server, one project, one personal access token.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    api: String,
    project: ProjectId,
    token: Secret,
}

impl Client {
    /// `server` is the server's base URL (`https://mdz.example.com`).
    pub fn new(server: &str, project: ProjectId, token: Secret) -> Result<Self, ClientError> {
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .build()
            .map_err(|source| ClientError::Transport {
                what: "build the HTTP client".into(),
                source,
            })?;
        Ok(Self {
            http,
            api: format!("{}/api/v1", server.trim_end_matches('/')),
            project,
            token,
        })
    }

    pub fn project(&self) -> ProjectId {
        self.project
    }

    fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.api))
            .bearer_auth(self.token.expose())
    }

    /// Changes after `cursor` (from the oldest kept one when `None`).
    pub async fn changes(&self, cursor: Option<&str>) -> Result<Changes, ClientError> {
        let mut url = format!("/projects/{}/changes?limit={FEED_PAGE}", self.project);
        if let Some(cursor) = cursor {
            url.push_str(&format!("&cursor={}", encode(cursor)));
        }
        let what = "read the change feed";
        let res = send(what, self.request(Method::GET, &url)).await?;
        if res.status() == StatusCode::GONE {
            return Err(ClientError::CursorExpired);
        }
        json(what, res).await
    }

    /// Every live document of the project, without content.
    pub async fn list(&self) -> Result<Vec<FileMeta>, ClientError> {
        let mut all = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut url = format!("/projects/{}/files?limit={MAX_LIMIT}", self.project);
            if let Some(c) = &cursor {
                url.push_str(&format!("&cursor={}", encode(c)));
            }
            let what = "list the documents";
            let res = send(what, self.request(Method::GET, &url)).await?;
            let page: Page<FileMeta> = json(what, res).await?;
            all.extend(page.items);
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => return Ok(all),
            }
        }
    }

    /// A live document with its content; `None` when it is gone (trashed or purged).
    pub async fn get(&self, id: FileId) -> Result<Option<File>, ClientError> {
        let what = format!("read document {id}");
        let res = send(&what, self.request(Method::GET, &format!("/files/{id}"))).await?;
        if res.status() == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        json(&what, res).await.map(Some)
    }

    /// Create a document; a retry with the same `key` is answered from the first attempt.
    pub async fn create(&self, path: &str, content: &str, key: &str) -> Result<File, ClientError> {
        let what = format!("create {path}");
        let res = send(
            &what,
            self.request(Method::POST, &format!("/projects/{}/files", self.project))
                .header("idempotency-key", key)
                .json(&json!({"path": path, "content": content})),
        )
        .await?;
        if res.status() == StatusCode::CONFLICT {
            return Err(ClientError::PathTaken);
        }
        json(&what, res).await
    }

    /// Save `content` if the document is still at `revision`; the new revision.
    pub async fn save(
        &self,
        id: FileId,
        content: &str,
        revision: i64,
        key: &str,
    ) -> Result<i64, ClientError> {
        let what = format!("save document {id}");
        let res = send(
            &what,
            self.request(Method::PUT, &format!("/files/{id}"))
                .header("if-match", format!("\"{revision}\""))
                .header("idempotency-key", key)
                .json(&json!({"content": content})),
        )
        .await?;
        if res.status() == StatusCode::PRECONDITION_FAILED {
            return Err(ClientError::Precondition);
        }
        let meta: FileMeta = json(&what, res).await?;
        Ok(meta.revision)
    }

    /// Move a document to `path` (a retry finds it there already and changes nothing).
    pub async fn rename(&self, id: FileId, path: &str) -> Result<File, ClientError> {
        let what = format!("move document {id} to {path}");
        let res = send(
            &what,
            self.request(Method::PATCH, &format!("/files/{id}"))
                .json(&json!({"path": path})),
        )
        .await?;
        if res.status() == StatusCode::CONFLICT {
            return Err(ClientError::PathTaken);
        }
        json(&what, res).await
    }

    /// Move a document to the trash; one already gone counts as done.
    pub async fn trash(&self, id: FileId) -> Result<(), ClientError> {
        let what = format!("trash document {id}");
        let res = send(&what, self.request(Method::DELETE, &format!("/files/{id}"))).await?;
        if res.status() == StatusCode::NOT_FOUND || res.status().is_success() {
            return Ok(());
        }
        Err(status_error(&what, res).await)
    }

    /// Announce, upload and complete an attachment; its id.
    pub async fn attach(
        &self,
        filename: &str,
        content_type: &str,
        bytes: Vec<u8>,
    ) -> Result<uuid::Uuid, ClientError> {
        #[derive(serde::Deserialize)]
        struct Announced {
            id: uuid::Uuid,
            upload_url: String,
            headers: std::collections::BTreeMap<String, String>,
        }
        let what = format!("attach {filename}");
        let res = send(
            &what,
            self.request(
                Method::POST,
                &format!("/projects/{}/attachments", self.project),
            )
            .json(
                &json!({"filename": filename, "content_type": content_type, "size": bytes.len()}),
            ),
        )
        .await?;
        let announced: Announced = json(&what, res).await?;
        let mut upload = self.http.put(&announced.upload_url);
        for (k, v) in &announced.headers {
            upload = upload.header(k, v);
        }
        let res = send(&what, upload.body(bytes)).await?;
        if !res.status().is_success() {
            return Err(status_error(&what, res).await);
        }
        let res = send(
            &what,
            self.request(
                Method::POST,
                &format!("/attachments/{}/complete", announced.id),
            ),
        )
        .await?;
        if !res.status().is_success() {
            return Err(status_error(&what, res).await);
        }
        Ok(announced.id)
    }
}

fn encode(value: &str) -> percent_encoding::PercentEncode<'_> {
    percent_encoding::utf8_percent_encode(value, percent_encoding::NON_ALPHANUMERIC)
}

async fn send(what: &str, request: RequestBuilder) -> Result<Response, ClientError> {
    request
        .send()
        .await
        .map_err(|source| ClientError::Transport {
            what: what.to_owned(),
            source,
        })
}

async fn json<T: DeserializeOwned>(what: &str, res: Response) -> Result<T, ClientError> {
    if !res.status().is_success() {
        return Err(status_error(what, res).await);
    }
    res.json().await.map_err(|source| ClientError::Transport {
        what: what.to_owned(),
        source,
    })
}

/// The problem's `detail` (or `title`) of an error answer.
async fn status_error(what: &str, res: Response) -> ClientError {
    let status = res.status().as_u16();
    let body: serde_json::Value = res.json().await.unwrap_or_default();
    let detail = body["detail"]
        .as_str()
        .or_else(|| body["title"].as_str())
        .unwrap_or("")
        .to_owned();
    ClientError::Status {
        what: what.to_owned(),
        status,
        detail,
    }
}
