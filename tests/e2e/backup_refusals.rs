//! `mdz restore` refusing: a target that holds data (unless `--force`, which replaces it), a
//! damaged, truncated or foreign file (nothing written, and the target can still be restored
//! into); and a backup of an older schema, which is migrated after the load.

use crate::backup::{
    Made, backup, backup_path, check_restored, count, fill, login, restore, stderr,
};
use mdz_tests::{RestoreTarget, TestApp, mdz, mdz_to_file};
use reqwest::StatusCode;
use std::io::{Read, Write};
use std::path::Path;

/// Rows in `users`, 0 when the table does not exist.
async fn users(target: &RestoreTarget) -> i64 {
    let mut conn = target.db().await;
    let exists = count(
        &mut conn,
        "SELECT count(*) AS n FROM pg_class WHERE relname = 'users'",
    )
    .await;
    if exists == 0 {
        return 0;
    }
    count(&mut conn, "SELECT count(*) AS n FROM users").await
}

async fn source() -> (TestApp, Made, crate::backup::BackupFile) {
    let app = TestApp::spawn().await;
    let made = fill(&app, 70_000).await;
    let file = backup_path();
    backup(&app, &file).await;
    (app, made, file)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_target_with_data_is_refused_unless_forced() {
    let app = TestApp::spawn().await;
    let made = fill(&app, 70_000).await;
    // To stdout this time.
    let out = mdz(&["backup", "-"], &app.cli_env()).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let file = backup_path();
    std::fs::write(&file, &out.stdout).unwrap();
    // Into a file others may read (a shell's `>` with umask 022): it says so.
    let loose = backup_path();
    let out = mdz_to_file(&["backup", "-"], &app.cli_env(), &loose, 0o644).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("chmod 600"), "{}", stderr(&out));
    std::fs::remove_file(&loose).unwrap();
    let out = mdz_to_file(&["backup", "-"], &app.cli_env(), &loose, 0o600).await;
    assert!(!stderr(&out).contains("chmod 600"), "{}", stderr(&out));
    drop(std::fs::remove_file(loose));

    // The source itself holds data.
    let out = mdz(&["restore", &file.to_string_lossy()], &app.cli_env()).await;
    assert!(!out.status.success());
    assert!(stderr(&out).contains("--force"), "{}", stderr(&out));

    let target = RestoreTarget::new(false).await;
    let out = restore(&target, &file, false).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let out = restore(&target, &file, false).await;
    assert!(!out.status.success(), "a second restore is refused");
    let said = stderr(&out);
    assert!(
        said.contains("not empty") && said.contains("users has rows"),
        "{said}"
    );

    // Someone uses the restored instance; --force then puts the backup back exactly.
    {
        let restored = target.serve().await;
        restored
            .register("intruder@example.com", mdz_tests::PASSWORD, "In")
            .await;
    }
    let out = restore(&target, &file, true).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let restored = target.serve().await;
    let (status, _) = login(&restored, "intruder@example.com").await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "--force emptied the target"
    );
    check_restored(&restored, &made).await;
    drop(std::fs::remove_file(file));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_damaged_file_leaves_a_forced_target_as_it_was() {
    let (_app, made, file) = source().await;
    let target = RestoreTarget::new(false).await;
    let out = restore(&target, &file, false).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let before = users(&target).await;
    assert!(before > 0);

    // One byte of one table changed: found only while loading, after --force had emptied
    // the target, before every entry was checked first.
    let damaged = backup_path();
    rewrite(&file, &damaged, "tables/files.copy", |bytes| {
        let last = bytes.len() - 2;
        bytes[last] ^= 0x01;
    });
    let out = restore(&target, &damaged, true).await;
    assert!(!out.status.success(), "a damaged file was restored");
    assert!(
        stderr(&out).contains("differs from its manifest"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        users(&target).await,
        before,
        "--force emptied the target first"
    );
    let restored = target.serve().await;
    check_restored(&restored, &made).await;

    // Mail bodies (live reset links) stay out of backups.
    let mut archive = zip::ZipArchive::new(std::fs::File::open(&file).unwrap()).unwrap();
    assert!(archive.by_name("tables/mail_outbox.copy").is_err());
    drop(std::fs::remove_file(file));
    drop(std::fs::remove_file(damaged));
}

/// A copy of the zip at `from` with `entry`'s bytes changed by `change`.
fn rewrite(from: &Path, to: &Path, entry: &str, change: impl Fn(&mut Vec<u8>)) {
    let mut archive = zip::ZipArchive::new(std::fs::File::open(from).unwrap()).unwrap();
    let mut out = zip::ZipWriter::new(std::fs::File::create(to).unwrap());
    for i in 0..archive.len() {
        let mut file = archive.by_index(i).unwrap();
        let name = file.name().unwrap().into_owned();
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).unwrap();
        if name == entry {
            change(&mut bytes);
        }
        out.start_file(name, zip::write::SimpleFileOptions::default())
            .unwrap();
        out.write_all(&bytes).unwrap();
    }
    out.finish().unwrap();
}

fn zip_of(to: &Path, entries: &[(&str, &[u8])]) {
    let mut out = zip::ZipWriter::new(std::fs::File::create(to).unwrap());
    for (name, bytes) in entries {
        out.start_file(*name, zip::write::SimpleFileOptions::default())
            .unwrap();
        out.write_all(bytes).unwrap();
    }
    out.finish().unwrap();
}

/// Restore `file` into a fresh target: refused with `expected` in the message, and nothing
/// written. Returns the target.
async fn refused(file: &Path, expected: &str) -> RestoreTarget {
    let target = RestoreTarget::new(false).await;
    let out = restore(&target, file, false).await;
    assert!(!out.status.success(), "{expected}: restored");
    let said = stderr(&out);
    assert!(said.contains(expected), "{expected}: {said}");
    assert_eq!(users(&target).await, 0, "{expected}: rows were written");
    assert_eq!(target.local_blobs(), 0, "{expected}: objects were written");
    target
}

#[tokio::test(flavor = "multi_thread")]
async fn a_damaged_or_foreign_file_is_refused_and_nothing_is_written() {
    let (_app, made, good) = source().await;
    let bytes = std::fs::read(&good).unwrap();
    let bad = backup_path();

    std::fs::write(&bad, &bytes[..bytes.len() / 2]).unwrap();
    refused(&bad, "not a complete zip").await;

    zip_of(&bad, &[("notes.md", b"# not a backup")]);
    refused(&bad, "no manifest.json").await;

    zip_of(
        &bad,
        &[("manifest.json", br#"{"format": "something-else"}"#)],
    );
    refused(&bad, "manifest does not parse").await;

    let manifest = {
        let mut archive = zip::ZipArchive::new(std::fs::File::open(&good).unwrap()).unwrap();
        let mut json = String::new();
        archive
            .by_name("manifest.json")
            .unwrap()
            .read_to_string(&mut json)
            .unwrap();
        json
    };
    zip_of(
        &bad,
        &[(
            "manifest.json",
            manifest
                .replace("\"format\": \"mdz-backup\"", "\"format\": \"other\"")
                .as_bytes(),
        )],
    );
    refused(&bad, "its format is \"other\"").await;

    // A manifest that leaves a table out: not restored in part.
    rewrite(&good, &bad, "manifest.json", |json| {
        let mut manifest: serde_json::Value = serde_json::from_slice(json).unwrap();
        let tables = manifest["tables"].as_array_mut().unwrap();
        tables.retain(|t| t["name"] != "comments");
        *json = serde_json::to_vec(&manifest).unwrap();
    });
    refused(&bad, "are not those of its schema").await;

    // One changed character in a document: the load is rolled back and the attachment
    // objects already stored are removed; the target can still take the good backup.
    rewrite(&good, &bad, "tables/files.copy", |rows| {
        let at = rows.windows(4).position(|w| w == b"Plan").unwrap();
        rows[at] = b'X';
    });
    let target = refused(&bad, "table files differs from its manifest").await;
    let out = restore(&target, &good, false).await;
    assert!(out.status.success(), "{}", stderr(&out));
    check_restored(&target.serve().await, &made).await;

    // Bytes flipped in the middle of the file: caught by a checksum, whichever entry.
    let mut flipped = bytes.clone();
    let middle = flipped.len() / 2;
    for b in &mut flipped[middle..middle + 16] {
        *b ^= 0x5a;
    }
    std::fs::write(&bad, &flipped).unwrap();
    refused(&bad, "damaged").await;
    drop(std::fs::remove_file(bad));
    drop(std::fs::remove_file(good));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_backup_of_an_older_schema_is_migrated_after_the_load() {
    let app = TestApp::spawn().await;
    let owner = app.new_user().await;
    let project = app.project_with(&owner, &[]).await;
    let doc = app
        .create_file(&owner, &project, "old.md", "old schema")
        .await;
    // The newest migration is not applied yet: this is an older mdz's database.
    app.revert_migrations(1).await;
    let file = backup_path();
    backup(&app, &file).await;

    let target = RestoreTarget::new(false).await;
    let out = restore(&target, &file, false).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let migrations = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../migrations"))
        .unwrap()
        .count();
    let mut conn = target.db().await;
    let applied = count(
        &mut conn,
        "SELECT count(*) AS n FROM __diesel_schema_migrations",
    )
    .await;
    assert_eq!(applied, i64::try_from(migrations).unwrap());
    let restored = target.serve().await;
    let (status, token) = login(&restored, &owner.email).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = restored
        .get(
            &format!("/api/v1/files/{}", doc["id"].as_str().unwrap()),
            Some(&token),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["content"], "old schema");
    drop(std::fs::remove_file(file));
}
