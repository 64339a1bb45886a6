//! Project export: a streamed zip of every live document, the attachments and a manifest,
//! readable by any member; with `history=true`, every version too.

use crate::attachments::{announce, setup, upload};
use mdz_tests::{TestApp, TestUser};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::io::Read;

/// GET the export as `user`: the status, the content type and the zip's entries.
pub(crate) async fn export(
    app: &TestApp,
    user: &TestUser,
    project: &str,
    query: &str,
) -> (StatusCode, String, BTreeMap<String, Vec<u8>>) {
    let res = app
        .request(
            Method::GET,
            &format!("/api/v1/projects/{project}/export{query}"),
            Some(&user.access),
        )
        .send()
        .await
        .unwrap();
    let status = res.status();
    let kind = res
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let body = res.bytes().await.unwrap();
    let mut entries = BTreeMap::new();
    if status == StatusCode::OK {
        let mut zip = zip::ZipArchive::new(std::io::Cursor::new(body.to_vec())).unwrap();
        for i in 0..zip.len() {
            let mut entry = zip.by_index(i).unwrap();
            let mut bytes = Vec::new();
            entry.read_to_end(&mut bytes).unwrap();
            entries.insert(entry.name().unwrap().into_owned(), bytes);
        }
    }
    (status, kind, entries)
}

pub(crate) async fn attach(
    app: &TestApp,
    owner: &TestUser,
    project: &str,
    name: &str,
    bytes: &[u8],
) -> String {
    let (status, announced) = announce(
        app,
        owner,
        project,
        json!({"filename": name, "content_type": "image/png", "size": bytes.len()}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{announced}");
    assert!(upload(&announced, bytes.to_vec()).await.is_success());
    let id = announced["id"].as_str().unwrap().to_owned();
    let (status, done) = app
        .call(
            Method::POST,
            &format!("/api/v1/attachments/{id}/complete"),
            Some(&owner.access),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{done}");
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_project_exports_as_a_zip_of_its_documents_attachments_and_manifest() {
    exports(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_project_exports_its_attachments_from_s3_the_same_way() {
    exports(true).await;
}

async fn exports(s3: bool) {
    // Every save a version of its own (no coalescing), so the history has two.
    let (app, owner, project) = setup(s3, vec![("version_coalesce_secs", json!(0))]).await;
    let viewer = app.new_user().await;
    let (status, _) = app
        .post(
            &format!("/api/v1/projects/{project}/members"),
            Some(&owner.access),
            json!({"email": viewer.email, "role": "viewer"}),
        )
        .await;
    assert!(status.is_success(), "{status}");
    let readme = "# Read me\n\nünïcödé ✓ and a [link](_attachments/pic.png)\n";
    app.create_file(&owner, &project, "README.md", readme).await;
    let notes = app
        .create_file(&owner, &project, "notes/2026/plan.md", "v1\n")
        .await;
    let notes_id = notes["id"].as_str().unwrap().to_owned();
    let (status, _) = app
        .call(
            Method::PUT,
            &format!("/api/v1/files/{notes_id}"),
            Some(&owner.access),
            Some(json!({"content": "v2\n"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let trashed = app.create_file(&owner, &project, "old.md", "gone\n").await;
    app.delete(
        &format!("/api/v1/files/{}", trashed["id"].as_str().unwrap()),
        Some(&owner.access),
    )
    .await;
    let png: Vec<u8> = (0..70_000u32).map(|i| (i % 253) as u8).collect();
    let first = attach(&app, &owner, &project, "pic.png", &png).await;
    let second = attach(&app, &owner, &project, "pic.png", b"another").await;

    let (status, kind, entries) = export(&app, &viewer, &project, "").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(kind, "application/zip");
    assert_eq!(entries["README.md"], readme.as_bytes());
    assert_eq!(entries["notes/2026/plan.md"], b"v2\n");
    assert!(!entries.contains_key("old.md"), "the trash is not exported");
    let manifest: Value = serde_json::from_slice(&entries["mdz-export.json"]).unwrap();
    assert_eq!(manifest["format"], "mdz-export");
    assert_eq!(manifest["version"], 1);
    assert_eq!(manifest["project"]["name"], "Att");
    let files = manifest["files"].as_array().unwrap();
    assert_eq!(files.len(), 2);
    assert_eq!(files[1]["path"], "notes/2026/plan.md");
    assert_eq!(files[1]["revision"], 2);
    let attachments = manifest["attachments"].as_array().unwrap();
    assert_eq!(attachments.len(), 2);
    // Two attachments of one name get unique entries; the manifest says which is which.
    for a in attachments {
        let bytes = &entries[a["path"].as_str().unwrap()];
        let expected: &[u8] = if a["id"] == first.as_str() {
            &png
        } else {
            assert_eq!(a["id"], second.as_str());
            b"another"
        };
        assert_eq!(bytes.as_slice(), expected, "{a}");
        assert_eq!(a["size"], expected.len());
        assert_eq!(a["name"], "pic.png");
    }
    let mut paths: Vec<&str> = attachments
        .iter()
        .map(|a| a["path"].as_str().unwrap())
        .collect();
    paths.sort_unstable();
    assert_eq!(paths, ["_attachments/pic (2).png", "_attachments/pic.png"]);
    assert!(
        !entries.keys().any(|k| k.starts_with(".mdz/")),
        "no history unless asked"
    );

    let (status, _, entries) = export(&app, &viewer, &project, "?history=true").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(entries[".mdz/history/notes/2026/plan.md/2.md"], b"v2\n");
    assert_eq!(entries[".mdz/history/notes/2026/plan.md/1.md"], b"v1\n");
    assert_eq!(entries[".mdz/history/README.md/1.md"], readme.as_bytes());

    // Strangers learn nothing; a bad flag is a problem, not a zip.
    let stranger = app.new_user().await;
    let (status, _, _) = export(&app, &stranger, &project, "").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, kind, _) = export(&app, &owner, &project, "?history=maybe").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(kind, "application/problem+json");
}
