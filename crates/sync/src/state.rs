//! What the last sync left: `DIR/.mdz-sync/state.json` (the feed cursor, and per document
//! its path, revision and the hash of its last synced text) and `DIR/.mdz-sync/base/<id>`
//! (that text, the base of three-way merges). Every file is written to a temporary file in
//! `.mdz-sync/tmp` and renamed into place, so a killed round leaves either the old or the new
//! version, never half of one.

use mdz_core::ids::{FileId, ProjectId};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The folder of the sync state inside the synced folder (never synced itself).
pub const STATE_DIR: &str = ".mdz-sync";
const STATE_FILE: &str = "state.json";
const STATE_VERSION: u32 = 1;

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("{path}: {op} failed")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not a sync state this version reads")]
    Corrupt {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("this folder is synced with project {project} on {server}, not this one")]
    OtherProject { server: String, project: ProjectId },
}

/// A document as last synced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tracked {
    pub path: String,
    pub revision: i64,
    /// [`hash`] of the last synced text (kept in `base/<id>`).
    pub hash: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct State {
    pub version: u32,
    pub server: String,
    pub project: ProjectId,
    /// The change feed cursor every change up to which is in this folder; `None`: list all.
    pub cursor: Option<String>,
    pub files: BTreeMap<FileId, Tracked>,
    /// Binary files already uploaded as attachments: path → content hash.
    #[serde(default)]
    pub attachments: BTreeMap<String, String>,
}

/// SHA-256 of a text, hex.
pub fn hash(text: &[u8]) -> String {
    hex::encode(Sha256::digest(text))
}

/// The `.mdz-sync` folder of one synced folder.
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
}

impl Store {
    pub fn new(dir: &Path) -> Self {
        Self {
            root: dir.join(STATE_DIR),
        }
    }

    /// The saved state, a fresh one when there is none; refuses another server's or project's.
    pub fn load(&self, server: &str, project: ProjectId) -> Result<State, StateError> {
        let path = self.root.join(STATE_FILE);
        let state = match std::fs::read(&path) {
            Ok(bytes) => {
                serde_json::from_slice::<State>(&bytes).map_err(|source| StateError::Corrupt {
                    path: path.clone(),
                    source,
                })?
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(State {
                    version: STATE_VERSION,
                    server: server.to_owned(),
                    project,
                    cursor: None,
                    files: BTreeMap::new(),
                    attachments: BTreeMap::new(),
                });
            }
            Err(source) => {
                return Err(StateError::Io {
                    op: "read",
                    path,
                    source,
                });
            }
        };
        if state.project != project || state.server != server {
            return Err(StateError::OtherProject {
                server: state.server,
                project: state.project,
            });
        }
        Ok(state)
    }

    pub fn save(&self, state: &State) -> Result<(), StateError> {
        let bytes = serde_json::to_vec_pretty(state).map_err(|source| StateError::Corrupt {
            path: self.root.join(STATE_FILE),
            source,
        })?;
        self.write(&self.root.join(STATE_FILE), &bytes)
    }

    /// The last synced text of a document (empty when missing: every side then differs).
    pub fn base(&self, id: FileId) -> Result<String, StateError> {
        let path = self.base_path(id);
        match std::fs::read(&path) {
            Ok(bytes) => Ok(String::from_utf8_lossy(&bytes).into_owned()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
            Err(source) => Err(StateError::Io {
                op: "read",
                path,
                source,
            }),
        }
    }

    pub fn put_base(&self, id: FileId, text: &str) -> Result<(), StateError> {
        self.write(&self.base_path(id), text.as_bytes())
    }

    pub fn drop_base(&self, id: FileId) -> Result<(), StateError> {
        let path = self.base_path(id);
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(StateError::Io {
                op: "remove",
                path,
                source: e,
            }),
            _ => Ok(()),
        }
    }

    /// Remove what a killed round left in `.mdz-sync/tmp`.
    pub fn clean_tmp(&self) -> Result<(), StateError> {
        let tmp = self.root.join("tmp");
        match std::fs::remove_dir_all(&tmp) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(StateError::Io {
                op: "remove",
                path: tmp,
                source: e,
            }),
            _ => Ok(()),
        }
    }

    fn base_path(&self, id: FileId) -> PathBuf {
        self.root.join("base").join(id.to_string())
    }

    /// Write `bytes` to `target` (anywhere on this folder's filesystem) atomically: a
    /// temporary file in `.mdz-sync/tmp`, flushed, then renamed over the target.
    pub fn write(&self, target: &Path, bytes: &[u8]) -> Result<(), StateError> {
        let io = |op, path: &Path| {
            let path = path.to_owned();
            move |source| StateError::Io { op, path, source }
        };
        let tmp_dir = self.root.join("tmp");
        std::fs::create_dir_all(&tmp_dir).map_err(io("create", &tmp_dir))?;
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(io("create", parent))?;
        }
        let tmp = tmp_dir.join(uuid::Uuid::new_v4().simple().to_string());
        let mut file = std::fs::File::create(&tmp).map_err(io("create", &tmp))?;
        file.write_all(bytes).map_err(io("write", &tmp))?;
        file.sync_all().map_err(io("flush", &tmp))?;
        drop(file);
        std::fs::rename(&tmp, target).map_err(io("rename into place", target))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp() -> PathBuf {
        let dir = std::env::temp_dir().join(format!("mdz-sync-state-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn state_round_trips_and_belongs_to_one_project() {
        let dir = temp();
        let store = Store::new(&dir);
        let project = ProjectId::new();
        let mut state = store.load("http://a", project).unwrap();
        assert!(state.cursor.is_none() && state.files.is_empty());
        let id = FileId::new();
        state.cursor = Some("7".into());
        state.files.insert(
            id,
            Tracked {
                path: "a.md".into(),
                revision: 3,
                hash: hash(b"x"),
            },
        );
        store.save(&state).unwrap();
        store.put_base(id, "x").unwrap();
        let again = store.load("http://a", project).unwrap();
        assert_eq!(again.cursor.as_deref(), Some("7"));
        assert_eq!(again.files[&id].revision, 3);
        assert_eq!(store.base(id).unwrap(), "x");
        assert!(matches!(
            store.load("http://a", ProjectId::new()),
            Err(StateError::OtherProject { .. })
        ));
        assert!(matches!(
            store.load("http://b", project),
            Err(StateError::OtherProject { .. })
        ));
        // Nothing is left in tmp after atomic writes; a leftover is cleaned up.
        std::fs::write(dir.join(STATE_DIR).join("tmp").join("half"), "x").unwrap();
        store.clean_tmp().unwrap();
        assert!(!dir.join(STATE_DIR).join("tmp").exists());
        std::fs::remove_dir_all(dir).unwrap();
    }
}
