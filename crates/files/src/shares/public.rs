//! What a reader of a share link gets: the share behind a token, the password check, the
//! documents (rendered or raw) with their ETags, and the attachments they reference.

use super::render::{self, IndexEntry};
use super::repo::{self, ShareRow};
use super::{ShareError, SharesService, unlock};
use crate::attachments::repo::AttachmentRow;
use crate::attachments::store::BlobChunks;
use crate::error::FileError;
use crate::repo::{FileMetaRow, FileRow};
use base64::Engine;
use chrono::Utc;
use mdz_core::db;
use mdz_core::ids::AttachmentId;
use mdz_core::secrets;
use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};
use sha2::{Digest, Sha256};

/// Documents listed on a folder share's index page at most.
pub const MAX_INDEX_ENTRIES: i64 = 1000;
/// Longest token looked up (real ones are 50 characters).
const MAX_TOKEN_LEN: usize = 128;
/// Changes whenever rendering changes, so old ETags stop matching.
const RENDER_VERSION: &str = "1";

/// What a share shows at a path.
#[derive(Debug)]
pub enum Shown {
    Document(Box<FileRow>),
    Index {
        entries: Vec<FileMetaRow>,
        truncated: bool,
    },
}

/// A rendered answer.
#[derive(Debug)]
pub struct Body {
    pub text: String,
    pub markdown: bool,
}

/// Characters escaped in a path segment of an index link.
const SEGMENT: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'`')
    .add(b'{')
    .add(b'}')
    .add(b'\\')
    .add(b'^')
    .add(b'|')
    .add(b'\'');

impl SharesService {
    /// The live share behind `token`.
    pub async fn open(&self, token: &str) -> Result<ShareRow, ShareError> {
        if token.len() > MAX_TOKEN_LEN || !token.starts_with(super::TOKEN_PREFIX) {
            return Err(ShareError::Gone);
        }
        let mut conn = db::conn(&self.pool).await?;
        repo::by_token(&mut conn, &secrets::digest(token), Utc::now())
            .await?
            .ok_or(ShareError::Gone)
    }

    /// May the holder of these cookie values read `share`?
    pub fn unlocked<'a>(
        &self,
        share: &ShareRow,
        mut cookies: impl Iterator<Item = &'a str>,
    ) -> bool {
        if share.password_hash.is_none() {
            return true;
        }
        let now = Utc::now();
        cookies.any(|value| unlock::verify(&share.cookie_key, share.id, value, now))
    }

    /// Reserve one attempt against `key`; a shared store that is down lets it through.
    async fn reserve(&self, key: &str) -> Result<(), ShareError> {
        match self.kv.incr(key, self.settings.rate_window).await {
            Ok(w) if w.count > self.settings.max_failures => {
                self.release(key).await;
                Err(ShareError::RateLimited {
                    retry_after_secs: w.resets_in.as_secs().max(1),
                })
            }
            Ok(_) => Ok(()),
            Err(e) => {
                tracing::warn!(error = %e, "rate limiter unavailable; allowing the attempt");
                Ok(())
            }
        }
    }

    async fn release(&self, key: &str) {
        if let Err(e) = self.kv.release(key).await {
            tracing::warn!(error = %e, "rate limiter unavailable; attempt not given back");
        }
    }

    /// Check a password: the value of a cookie that unlocks the share, or why not. Attempts
    /// are counted per share and per client address before the hash is checked (as logins);
    /// a right password gives its reservation back.
    pub async fn unlock(
        &self,
        share: &ShareRow,
        password: String,
        ip: Option<&str>,
    ) -> Result<String, ShareError> {
        let Some(stored) = share.password_hash.clone() else {
            return Ok(unlock::sign(&share.cookie_key, share.id, Utc::now()));
        };
        let share_key = format!("rl:share:{}", share.id);
        let ip_key = format!("rl:share:ip:{}", ip.unwrap_or("unknown"));
        self.reserve(&share_key).await?;
        if let Err(e) = self.reserve(&ip_key).await {
            self.release(&share_key).await;
            return Err(e);
        }
        let ok = match self.passwords.verify(password, stored).await {
            Ok(ok) => ok,
            Err(e) => {
                self.release(&share_key).await;
                self.release(&ip_key).await;
                return Err(e.into());
            }
        };
        if !ok {
            tracing::info!(share = %share.id, "wrong share password");
            return Err(ShareError::WrongPassword);
        }
        self.release(&share_key).await;
        self.release(&ip_key).await;
        Ok(unlock::sign(&share.cookie_key, share.id, Utc::now()))
    }

    /// What `share` shows at `path` (`None`: its root). Anything else is [`ShareError::Gone`].
    pub async fn resolve(&self, share: &ShareRow, path: Option<&str>) -> Result<Shown, ShareError> {
        let mut conn = db::conn(&self.pool).await?;
        let found = match (&share.file_id, &share.folder, path) {
            (Some(file), _, None) => repo::live_file(&mut conn, share.project_id, *file)
                .await?
                .map(|f| Shown::Document(Box::new(f))),
            (None, Some(folder), None) => {
                let mut entries =
                    repo::live_under(&mut conn, share.project_id, folder, MAX_INDEX_ENTRIES + 1)
                        .await?;
                let truncated = entries.len() > usize::try_from(MAX_INDEX_ENTRIES).unwrap_or(0);
                entries.truncate(usize::try_from(MAX_INDEX_ENTRIES).unwrap_or(0));
                Some(Shown::Index { entries, truncated })
            }
            (None, Some(folder), Some(rel)) => {
                let full = format!("{folder}{rel}");
                repo::live_file_at(&mut conn, share.project_id, &full)
                    .await?
                    .map(|f| Shown::Document(Box::new(f)))
            }
            _ => None,
        };
        found.ok_or(ShareError::Gone)
    }

    /// The ETag of what `shown` renders to: its revision(s) and the share's settings.
    pub fn etag(share: &ShareRow, shown: &Shown, raw: bool) -> String {
        let mut h = Sha256::new();
        h.update(RENDER_VERSION);
        h.update(share.id.0.as_bytes());
        h.update(share.updated_at.timestamp_micros().to_be_bytes());
        h.update([
            u8::from(share.allow_indexing),
            u8::from(share.password_hash.is_some()),
            u8::from(raw),
        ]);
        match shown {
            Shown::Document(f) => {
                h.update(f.id.0.as_bytes());
                h.update(f.revision.to_be_bytes());
                h.update(f.path.as_bytes());
            }
            Shown::Index { entries, truncated } => {
                h.update([u8::from(*truncated)]);
                for e in entries {
                    h.update(e.id.0.as_bytes());
                    h.update(e.revision.to_be_bytes());
                    h.update(e.path.as_bytes());
                    h.update([0]);
                    h.update(e.title.as_bytes());
                    h.update([0]);
                }
            }
        }
        let digest = h.finalize();
        format!(
            "\"{}\"",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&digest[..18])
        )
    }

    /// The page (or with `raw`, the Markdown) of `shown`, reached through `token`.
    pub async fn render(
        &self,
        share: &ShareRow,
        token: &str,
        shown: Shown,
        raw: bool,
    ) -> Result<Body, ShareError> {
        let root = format!("/s/{token}");
        let indexable = share.allow_indexing;
        match shown {
            Shown::Document(file) if raw => Ok(Body {
                text: file.content,
                markdown: true,
            }),
            Shown::Document(file) => {
                let attachments_at = format!("{root}/a/");
                let text = tokio::task::spawn_blocking(move || {
                    render::markdown_to_html(
                        &file.content,
                        &attachments_at,
                        render::MAX_RENDERED_BYTES,
                    )
                    .map(|html| render::page(&file.title, &html, indexable))
                })
                .await??;
                Ok(Body {
                    text,
                    markdown: false,
                })
            }
            Shown::Index { .. } if raw => Err(ShareError::Gone),
            Shown::Index { entries, truncated } => {
                let folder = share.folder.clone().unwrap_or_default();
                let entries: Vec<IndexEntry> = entries
                    .into_iter()
                    .map(|e| {
                        let rel = e.path.strip_prefix(&folder).unwrap_or(&e.path).to_owned();
                        let href = rel
                            .split('/')
                            .map(|s| utf8_percent_encode(s, SEGMENT).to_string())
                            .collect::<Vec<_>>()
                            .join("/");
                        IndexEntry {
                            href: format!("{root}/{href}"),
                            title: e.title,
                            path: rel,
                        }
                    })
                    .collect();
                let title = if folder.is_empty() {
                    "Shared documents".to_owned()
                } else {
                    folder.trim_end_matches('/').to_owned()
                };
                Ok(Body {
                    text: render::index_page(&title, &entries, truncated, indexable),
                    markdown: false,
                })
            }
        }
    }

    /// An attachment that a document of the share references, and its bytes.
    pub async fn attachment(
        &self,
        share: &ShareRow,
        id: AttachmentId,
    ) -> Result<(AttachmentRow, BlobChunks), ShareError> {
        let row = {
            let mut conn = db::conn(&self.pool).await?;
            repo::referenced_attachment(&mut conn, share, id)
                .await?
                .ok_or(ShareError::Gone)?
        };
        let chunks = self
            .store
            .read(&row.object_key)
            .await
            .map_err(FileError::from)?
            .ok_or(ShareError::Gone)?;
        Ok((row, chunks))
    }

    /// Whether unlock cookies are `Secure`.
    pub fn secure_cookie(&self) -> bool {
        self.settings.secure_cookie
    }
}
