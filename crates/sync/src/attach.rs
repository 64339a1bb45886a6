//! Files that are not documents: ignored (reported once), or with `--attachments` uploaded
//! once per content as attachments of the project (one way: attachments made on the server
//! are not brought into the folder).

use crate::local::{MAX_READ_BYTES, OtherFile, Scan};
use crate::round::{Report, SyncError, Syncer};
use crate::state::{StateError, hash};

/// Content types by extension; the server's `ATTACHMENT_TYPES` decides what it accepts.
const TYPES: &[(&str, &str)] = &[
    ("png", "image/png"),
    ("jpg", "image/jpeg"),
    ("jpeg", "image/jpeg"),
    ("gif", "image/gif"),
    ("webp", "image/webp"),
    ("pdf", "application/pdf"),
];

fn content_type(path: &str) -> Option<&'static str> {
    let ext = path.rsplit_once('.')?.1.to_lowercase();
    TYPES.iter().find(|(e, _)| *e == ext).map(|(_, t)| *t)
}

impl Syncer {
    pub(crate) async fn others(
        &mut self,
        scan: &Scan,
        report: &mut Report,
    ) -> Result<(), SyncError> {
        for OtherFile { path, size } in &scan.others {
            let kind = content_type(path).filter(|_| self.options.attachments);
            let Some(kind) = kind else {
                self.once(&mut report.ignored, path, path.clone());
                continue;
            };
            if *size > MAX_READ_BYTES {
                let line = format!("{path}: larger than {MAX_READ_BYTES} bytes");
                self.once(&mut report.refused, path, line);
                continue;
            }
            let disk = crate::local::on_disk(&self.dir, path);
            let bytes = std::fs::read(&disk).map_err(|source| StateError::Io {
                op: "read",
                path: disk,
                source,
            })?;
            let digest = hash(&bytes);
            if self.state.attachments.get(path) == Some(&digest) {
                continue;
            }
            let name = path.rsplit('/').next().unwrap_or(path);
            match self.client.attach(name, kind, bytes).await {
                Ok(_) => {
                    self.state.attachments.insert(path.clone(), digest);
                    self.save()?;
                    report.attached += 1;
                }
                Err(
                    e @ crate::client::ClientError::Status {
                        status: 400..=499, ..
                    },
                ) => {
                    self.once(&mut report.refused, path, format!("{path}: {e}"));
                }
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }
}
