//! `mdz backup` and `mdz restore` through the real binary: a backup taken during concurrent
//! saves restores to one consistent snapshot; a restore into a fresh database and store
//! brings back accounts (old passwords), documents, history, comments, chat sessions and
//! attachments (local store and S3); a non-empty target is refused unless `--force`; a
//! damaged or foreign file is refused with nothing written; an older schema is migrated.

use crate::attachments::{announce, upload};
use mdz_tests::{PASSWORD, RestoreTarget, TestApp, TestUser, mdz};
use reqwest::{Method, StatusCode};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// A backup file's path in the temporary directory, removed when the test is done with it.
pub(crate) struct BackupFile(PathBuf);

impl std::ops::Deref for BackupFile {
    type Target = PathBuf;
    fn deref(&self) -> &PathBuf {
        &self.0
    }
}

impl AsRef<Path> for BackupFile {
    fn as_ref(&self) -> &Path {
        &self.0
    }
}

impl Drop for BackupFile {
    fn drop(&mut self) {
        drop(std::fs::remove_file(&self.0));
    }
}

pub(crate) fn backup_path() -> BackupFile {
    BackupFile(
        std::env::temp_dir().join(format!("mdz-backup-{}.zip", uuid::Uuid::new_v4().simple())),
    )
}

pub(crate) fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

pub(crate) async fn backup(app: &TestApp, file: &Path) {
    let out = mdz(&["backup", &file.to_string_lossy()], &app.cli_env()).await;
    assert!(out.status.success(), "mdz backup: {}", stderr(&out));
}

pub(crate) async fn restore(
    target: &RestoreTarget,
    file: &Path,
    force: bool,
) -> std::process::Output {
    let file = file.to_string_lossy();
    let mut args = vec!["restore", file.as_ref()];
    if force {
        args.push("--force");
    }
    mdz(&args, &target.env()).await
}

pub(crate) async fn login(app: &TestApp, email: &str) -> (StatusCode, String) {
    let (status, body) = app
        .post(
            "/api/v1/auth/login",
            None,
            json!({"email": email, "password": PASSWORD}),
        )
        .await;
    let token = body["access_token"].as_str().unwrap_or_default().to_owned();
    (status, token)
}

#[derive(diesel::QueryableByName)]
pub(crate) struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub n: i64,
}

pub(crate) async fn count(conn: &mut diesel_async::AsyncPgConnection, sql: &str) -> i64 {
    diesel_async::RunQueryDsl::get_result::<Count>(diesel::sql_query(sql), conn)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .n
}

pub(crate) async fn save(app: &TestApp, user: &TestUser, id: &str, content: &str) -> StatusCode {
    app.request(
        Method::PUT,
        &format!("/api/v1/files/{id}"),
        Some(&user.access),
    )
    .json(&json!({"content": content}))
    .send()
    .await
    .unwrap()
    .status()
}

/// Writers that save their own document in a loop until `stop`, counting saves in `saved`.
fn start_writers(
    app: &Arc<TestApp>,
    owner: &TestUser,
    docs: &[String],
    stop: &Arc<AtomicBool>,
    saved: &Arc<AtomicUsize>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let mut writers = Vec::new();
    for (i, id) in docs.iter().cloned().enumerate() {
        let (app, owner, stop, saved) = (app.clone(), owner.clone(), stop.clone(), saved.clone());
        writers.push(tokio::spawn(async move {
            let mut k = 0;
            while !stop.load(Ordering::Relaxed) {
                let status = save(&app, &owner, &id, &format!("doc {i} save {k}")).await;
                assert_eq!(status, StatusCode::OK);
                k += 1;
                saved.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    writers
}

/// Every document's revision matches its versions and its change feed (no save is half in
/// the snapshot), and the feed's numbers are gap-free.
async fn assert_one_snapshot(target: &RestoreTarget, docs: usize) {
    let mut conn = target.db().await;
    let torn = count(
        &mut conn,
        "SELECT count(*) AS n FROM files f
         WHERE f.revision <> (SELECT count(*) FROM file_versions v WHERE v.file_id = f.id)
            OR f.revision <> (SELECT count(*) FROM file_changes c WHERE c.file_id = f.id)
            OR f.revision <> (SELECT max(revision) FROM file_changes c WHERE c.file_id = f.id)",
    )
    .await;
    assert_eq!(torn, 0, "documents whose save is half in the backup");
    let saved = count(
        &mut conn,
        "SELECT count(*) AS n FROM files WHERE revision > 1",
    )
    .await;
    assert_eq!(saved, i64::try_from(docs).unwrap());
    let gaps = count(
        &mut conn,
        "SELECT count(*) AS n FROM (SELECT seq, row_number() OVER (ORDER BY seq) AS r
         FROM file_changes) s WHERE seq <> r",
    )
    .await;
    assert_eq!(gaps, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_backup_during_concurrent_saves_restores_one_consistent_snapshot() {
    // One version per save, so a save writes files, file_versions and file_changes rows.
    let app = Arc::new(
        TestApp::spawn_with(mdz_tests::Options {
            config: vec![("version_coalesce_secs", json!(0))],
            ..Default::default()
        })
        .await,
    );
    let owner = app.new_user().await;
    let project = app.project_with(&owner, &[]).await;
    let mut docs = Vec::new();
    for i in 0..6 {
        let doc = app
            .create_file(&owner, &project, &format!("doc{i}.md"), "start")
            .await;
        docs.push(doc["id"].as_str().unwrap().to_owned());
    }
    let stop = Arc::new(AtomicBool::new(false));
    let saved = Arc::new(AtomicUsize::new(0));
    let writers = start_writers(&app, &owner, &docs, &stop, &saved);
    while saved.load(Ordering::Relaxed) < 30 {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let file = backup_path();
    backup(&app, &file).await;
    let during = saved.load(Ordering::Relaxed);
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.await.unwrap();
    }
    assert!(during > 30, "the writers kept saving during the backup");

    let target = RestoreTarget::new(false).await;
    let out = restore(&target, &file, false).await;
    assert!(out.status.success(), "mdz restore: {}", stderr(&out));
    assert_one_snapshot(&target, docs.len()).await;

    // The restored instance serves each document at the text of its newest version.
    let restored = target.serve().await;
    let (status, token) = login(&restored, &owner.email).await;
    assert_eq!(status, StatusCode::OK);
    for (i, id) in docs.iter().enumerate() {
        let (status, doc) = restored
            .get(&format!("/api/v1/files/{id}"), Some(&token))
            .await;
        assert_eq!(status, StatusCode::OK, "{doc}");
        let revision = doc["revision"].as_i64().unwrap();
        assert_eq!(doc["content"], format!("doc {i} save {}", revision - 2));
    }
    drop(std::fs::remove_file(file));
}

/// What the round trip checks, made on the source.
pub(crate) struct Made {
    pub owner: TestUser,
    pub editor: TestUser,
    pub project: String,
    pub doc: String,
    pub attachment: String,
    pub bytes: Vec<u8>,
}

pub(crate) async fn fill(app: &TestApp, attachment_bytes: u32) -> Made {
    let owner = app.new_user().await;
    let editor = app.new_user().await;
    let project = app.project_with(&owner, &[(&editor, "editor")]).await;
    let doc = app
        .create_file(&owner, &project, "notes/plan.md", "# Plan\n")
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        save(app, &editor, &doc, "# Plan\n\nShip it.\n").await,
        StatusCode::OK
    );
    let (status, body) = app
        .post(
            &format!("/api/v1/files/{doc}/comments"),
            Some(&editor.access),
            json!({"body": "When?"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = app
        .post(
            &format!("/api/v1/projects/{project}/sessions"),
            Some(&owner.access),
            json!({"title": "Release notes"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let bytes: Vec<u8> = (0..attachment_bytes).map(|i| (i % 251) as u8).collect();
    let (status, announced) = announce(
        app,
        &owner,
        &project,
        json!({"filename": "chart.png", "content_type": "image/png", "size": bytes.len()}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{announced}");
    assert!(upload(&announced, bytes.clone()).await.is_success());
    let attachment = announced["id"].as_str().unwrap().to_owned();
    let (status, _) = app
        .call(
            Method::POST,
            &format!("/api/v1/attachments/{attachment}/complete"),
            Some(&owner.access),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    Made {
        owner,
        editor,
        project,
        doc,
        attachment,
        bytes,
    }
}

async fn download(app: &TestApp, token: &str, id: &str) -> Vec<u8> {
    let res = app
        .request(
            Method::GET,
            &format!("/api/v1/attachments/{id}"),
            Some(token),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FOUND);
    let location = res.headers()["location"].to_str().unwrap().to_owned();
    let got = reqwest::get(&location).await.unwrap();
    assert_eq!(got.status(), StatusCode::OK);
    got.bytes().await.unwrap().to_vec()
}

/// The restored instance has everything `fill` made, and old sign-ins are gone.
pub(crate) async fn check_restored(restored: &TestApp, made: &Made) {
    let (status, _) = restored
        .get("/api/v1/auth/me", Some(&made.owner.access))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "old sessions end");
    let (status, token) = login(restored, &made.owner.email).await;
    assert_eq!(status, StatusCode::OK, "the old password still works");
    let (status, editor_token) = login(restored, &made.editor.email).await;
    assert_eq!(status, StatusCode::OK);

    let (status, doc) = restored
        .get(&format!("/api/v1/files/{}", made.doc), Some(&token))
        .await;
    assert_eq!(status, StatusCode::OK, "{doc}");
    assert_eq!(doc["content"], "# Plan\n\nShip it.\n");
    let (_, versions) = restored
        .get(
            &format!("/api/v1/files/{}/versions", made.doc),
            Some(&token),
        )
        .await;
    assert_eq!(versions["items"].as_array().unwrap().len(), 2, "{versions}");
    let (_, members) = restored
        .get(
            &format!("/api/v1/projects/{}/members", made.project),
            Some(&token),
        )
        .await;
    assert_eq!(members["items"].as_array().unwrap().len(), 2, "{members}");
    let (_, comments) = restored
        .get(
            &format!("/api/v1/files/{}/comments", made.doc),
            Some(&editor_token),
        )
        .await;
    assert_eq!(comments["items"][0]["body"], "When?", "{comments}");
    let (_, sessions) = restored
        .get(
            &format!("/api/v1/projects/{}/sessions", made.project),
            Some(&token),
        )
        .await;
    assert_eq!(sessions["items"][0]["title"], "Release notes", "{sessions}");
    assert_eq!(
        download(restored, &token, &made.attachment).await,
        made.bytes
    );
    // Writing works too (sequences and triggers are back).
    assert_eq!(
        save(
            restored,
            &TestUser {
                access: token.clone(),
                ..made.owner.clone()
            },
            &made.doc,
            "# Plan\n\nShipped.\n"
        )
        .await,
        StatusCode::OK
    );
    restored
        .create_file(
            &TestUser {
                access: token,
                ..made.owner.clone()
            },
            &made.project,
            "new.md",
            "after the restore",
        )
        .await;
}

async fn round_trip(s3: bool) {
    let app = TestApp::spawn_with(mdz_tests::Options {
        s3,
        ..Default::default()
    })
    .await;
    // On S3, larger than a part: the restore uploads it in parts.
    let size = if s3 { 9 * 1024 * 1024 + 1 } else { 70_000 };
    let made = fill(&app, size).await;
    let file = backup_path();
    backup(&app, &file).await;

    let target = RestoreTarget::new(s3).await;
    let out = restore(&target, &file, false).await;
    assert!(out.status.success(), "mdz restore: {}", stderr(&out));
    let restored = target.serve().await;
    check_restored(&restored, &made).await;
    drop(std::fs::remove_file(file));
}

#[tokio::test(flavor = "multi_thread")]
async fn restore_into_a_fresh_instance_then_sign_in_and_read_local_store() {
    round_trip(false).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn restore_into_a_fresh_instance_then_sign_in_and_read_s3() {
    round_trip(true).await;
}
