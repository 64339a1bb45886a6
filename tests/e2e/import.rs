//! Project import: an mdz export back byte for byte (attachments restored, links to them
//! pointed at the new ones), an Obsidian vault, a Notion export; and every hostile archive
//! refused whole with a problem and nothing left behind.

use crate::attachments::setup;
use crate::export::{attach, export};
use mdz_tests::{Options, TestApp, TestUser};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::io::{Cursor, Write};
use zip::ZipWriter;
use zip::write::SimpleFileOptions;

/// POST `zip` to the import as `user` (no token: anonymous).
pub(crate) async fn import(
    app: &TestApp,
    user: Option<&TestUser>,
    query: &str,
    zip: Vec<u8>,
) -> (StatusCode, String, Value) {
    let res = app
        .request(
            Method::POST,
            &format!("/api/v1/projects/import{query}"),
            user.map(|u| u.access.as_str()),
        )
        .header("content-type", "application/zip")
        .body(zip)
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
    let body = serde_json::from_slice(&body).unwrap_or(Value::Null);
    (status, kind, body)
}

/// A zip of `entries`, deflated.
pub(crate) fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
    for (name, bytes) in entries {
        zip.start_file(*name, SimpleFileOptions::default()).unwrap();
        zip.write_all(bytes).unwrap();
    }
    zip.finish().unwrap().into_inner()
}

/// path → id of a project's documents.
pub(crate) async fn ids(app: &TestApp, user: &TestUser, project: &str) -> BTreeMap<String, String> {
    let (status, page) = app
        .get(
            &format!("/api/v1/projects/{project}/files?limit=100"),
            Some(&user.access),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let path = f["path"].as_str().unwrap().to_owned();
            (path, f["id"].as_str().unwrap().to_owned())
        })
        .collect()
}

/// Every document of a project: path → content.
async fn documents(app: &TestApp, user: &TestUser, project: &str) -> BTreeMap<String, String> {
    let mut docs = BTreeMap::new();
    for (path, id) in ids(app, user, project).await {
        let (status, file) = app
            .get(&format!("/api/v1/files/{id}"), Some(&user.access))
            .await;
        assert_eq!(status, StatusCode::OK);
        docs.insert(path, file["content"].as_str().unwrap().to_owned());
    }
    docs
}

/// The attachment ids a text links to, in order.
pub(crate) fn attachment_ids(text: &str) -> Vec<String> {
    text.split("/api/v1/attachments/")
        .skip(1)
        .map(|rest| rest[..36].to_owned())
        .collect()
}

/// The bytes behind an attachment link, through the API's redirect.
async fn download(app: &TestApp, user: &TestUser, id: &str) -> Vec<u8> {
    let res = app
        .request(
            Method::GET,
            &format!("/api/v1/attachments/{id}"),
            Some(&user.access),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FOUND, "attachment {id}");
    let location = res.headers()["location"].to_str().unwrap().to_owned();
    reqwest::get(&location)
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap()
        .to_vec()
}

const PNG: &[u8] = b"\x89PNG\r\n\x1a\n not really a picture, but bytes to compare";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_export_imports_back_byte_for_byte_with_working_attachment_links() {
    round_trip(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_export_imports_back_into_s3_the_same_way() {
    round_trip(true).await;
}

async fn round_trip(s3: bool) {
    let (app, owner, project) = setup(s3, vec![]).await;
    let png: Vec<u8> = (0..70_000u32).map(|i| (i % 253) as u8).collect();
    let old = attach(&app, &owner, &project, "pic.png", &png).await;
    let readme = format!("# Read me\n\nünïcödé ✓ ![pic](/api/v1/attachments/{old})\n");
    app.create_file(&owner, &project, "README.md", &readme)
        .await;
    app.create_file(
        &owner,
        &project,
        "notes/2026/plan.md",
        "no trailing newline",
    )
    .await;
    let (status, _, entries) = export(&app, &owner, &project, "?history=true").await;
    assert_eq!(status, StatusCode::OK);
    let zip = {
        let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
        for (name, bytes) in &entries {
            zip.start_file(name.as_str(), SimpleFileOptions::default())
                .unwrap();
            zip.write_all(bytes).unwrap();
        }
        zip.finish().unwrap().into_inner()
    };

    let (status, _, body) = import(&app, Some(&owner), "?name=Copy", zip).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["name"], "Copy");
    assert_eq!(body["role"], "owner");
    assert_eq!(body["import"]["documents"], 2);
    assert_eq!(body["import"]["attachments"], 1);
    assert_eq!(body["import"]["skipped_count"], 0, "{body}");
    let copy = body["id"].as_str().unwrap().to_owned();

    let docs = documents(&app, &owner, &copy).await;
    assert_eq!(
        docs.keys().collect::<Vec<_>>(),
        ["README.md", "notes/2026/plan.md"]
    );
    assert_eq!(docs["notes/2026/plan.md"], "no trailing newline");
    let new = attachment_ids(&docs["README.md"]);
    assert_eq!(new.len(), 1);
    assert_ne!(new[0], old, "the copy has attachments of its own");
    assert_eq!(docs["README.md"], readme.replace(&old, &new[0]));
    assert_eq!(download(&app, &owner, &new[0]).await, png);

    // The copy exports as the original did, but for the attachment's id.
    let (_, _, again) = export(&app, &owner, &copy, "").await;
    assert_eq!(again["_attachments/pic.png"], png);
    assert_eq!(again["notes/2026/plan.md"], entries["notes/2026/plan.md"]);
    // The change feed of the copy starts like any project's.
    let (status, feed) = app
        .get(
            &format!("/api/v1/projects/{copy}/changes"),
            Some(&owner.access),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{feed}");
    assert_eq!(feed["items"].as_array().unwrap().len(), 3, "{feed}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_obsidian_vault_imports_with_its_images_as_attachments() {
    let app = TestApp::spawn().await;
    let owner = app.new_user().await;
    let home = "# Home\n\n![[img.png]] and [[Other]] and [[Other|an alias]]\n\
                ![inline](assets/img.png)\n```\n![[img.png]]\n```\n";
    let zip = zip_of(&[
        ("My Vault/.obsidian/app.json", b"{}"),
        ("My Vault/.obsidian/plugins/x/main.js", b"alert(1)"),
        ("My Vault/.trash/old.md", b"# gone"),
        ("My Vault/Home.md", home.as_bytes()),
        ("My Vault/Other.md", b"# Other\n"),
        ("My Vault/sub/deep.md", b"![[img.png|120]]"),
        ("My Vault/assets/img.png", PNG),
        ("My Vault/board.canvas", b"{}"),
        ("__MACOSX/My Vault/._Home.md", b"junk"),
    ]);
    let (status, _, body) = import(&app, Some(&owner), "", zip).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["name"], "My Vault", "the top folder names the project");
    assert_eq!(body["import"]["documents"], 3);
    assert_eq!(body["import"]["attachments"], 1);
    assert_eq!(body["import"]["skipped_count"], 1, "{body}");
    assert!(
        body["import"]["skipped"][0]
            .as_str()
            .unwrap()
            .starts_with("board.canvas"),
        "{body}"
    );
    let project = body["id"].as_str().unwrap();
    let docs = documents(&app, &owner, project).await;
    assert_eq!(
        docs.keys().collect::<Vec<_>>(),
        ["Home.md", "Other.md", "sub/deep.md"]
    );
    let ids = attachment_ids(&docs["Home.md"]);
    assert_eq!(ids.len(), 2, "{}", docs["Home.md"]);
    assert_eq!(ids[0], ids[1]);
    let url = format!("/api/v1/attachments/{}", ids[0]);
    assert_eq!(
        docs["Home.md"],
        format!(
            "# Home\n\n![img.png]({url}) and [[Other]] and [[Other|an alias]]\n\
             ![inline]({url})\n```\n![[img.png]]\n```\n"
        )
    );
    assert_eq!(docs["sub/deep.md"], format!("![img.png]({url})"));
    assert_eq!(download(&app, &owner, &ids[0]).await, PNG);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notion_export_loses_its_ids_and_keeps_its_links() {
    let app = TestApp::spawn().await;
    let owner = app.new_user().await;
    let a = "0123456789abcdef0123456789abcdef";
    let b = "fedcba9876543210fedcba9876543210";
    let home = format!(
        "# Home\n\n[Child page](Home%20{a}/Child%20page%20{b}.md)\n\n![](Home%20{a}/diagram.png)\n\
         [Web](https://notion.so/Child-{b})\n"
    );
    let child = format!("# Child page\n\nBack [home](../Home%20{a}.md)\n");
    let zip = zip_of(&[
        (&format!("Home {a}.md"), home.as_bytes()),
        (&format!("Home {a}/Child page {b}.md"), child.as_bytes()),
        (&format!("Home {a}/diagram.png"), PNG),
        (&format!("Home {a}/Table {b}.csv"), b"a,b\n"),
    ]);
    let (status, _, body) = import(&app, Some(&owner), "?name=Wiki", zip).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["import"]["documents"], 2);
    assert_eq!(body["import"]["attachments"], 1);
    let project = body["id"].as_str().unwrap();
    let docs = documents(&app, &owner, project).await;
    assert_eq!(
        docs.keys().collect::<Vec<_>>(),
        ["Home.md", "Home/Child page.md"]
    );
    let ids = attachment_ids(&docs["Home.md"]);
    assert_eq!(ids.len(), 1);
    assert_eq!(
        docs["Home.md"],
        format!(
            "# Home\n\n[Child page](Home/Child%20page.md)\n\n![](/api/v1/attachments/{})\n\
             [Web](https://notion.so/Child-{b})\n",
            ids[0]
        )
    );
    assert_eq!(
        docs["Home/Child page.md"],
        "# Child page\n\nBack [home](../Home.md)\n"
    );
    assert_eq!(download(&app, &owner, &ids[0]).await, PNG);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vault_of_many_documents_imports_in_one_transaction() {
    let app = TestApp::spawn().await;
    let owner = app.new_user().await;
    let texts: Vec<(String, String)> = (0..1_201)
        .map(|i| (format!("n/{:04}.md", i), format!("# Note {i}\n")))
        .collect();
    let entries: Vec<(&str, &[u8])> = texts
        .iter()
        .map(|(p, t)| (p.as_str(), t.as_bytes()))
        .collect();
    let (status, _, body) = import(&app, Some(&owner), "?name=Big", zip_of(&entries)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["import"]["documents"], 1_201);
    let project = body["id"].as_str().unwrap();
    assert_eq!(
        app.sql(&format!(
            "SELECT 1 FROM files WHERE project_id = '{project}'"
        ))
        .await,
        1_201
    );
    assert_eq!(
        app.sql(&format!(
            "SELECT 1 FROM file_change_counters WHERE project_id = '{project}' AND seq = 1201"
        ))
        .await,
        1
    );
    let (status, found) = app
        .get(
            &format!("/api/v1/projects/{project}/search?q=note"),
            Some(&owner.access),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{found}");
    assert!(!found["items"].as_array().unwrap().is_empty());
}

/// A zip whose first entry claims `claimed` bytes while it inflates to `real` (a bomb).
fn lying_zip(real: usize, claimed: u32) -> Vec<u8> {
    let mut bytes = zip_of(&[("bomb.md", &vec![b'a'; real])]);
    // The uncompressed size: at 22 in the local header, at 24 in the central one.
    bytes[22..26].copy_from_slice(&claimed.to_le_bytes());
    let central = bytes.windows(4).position(|w| w == b"PK\x01\x02").unwrap();
    bytes[central + 24..central + 28].copy_from_slice(&claimed.to_le_bytes());
    bytes
}

/// Nothing of a refused import is left: no project, no attachment row, no object.
pub(crate) async fn nothing_left(app: &TestApp, owner: &TestUser) {
    let (status, list) = app.get("/api/v1/projects", Some(&owner.access)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["items"], json!([]), "{list}");
    assert_eq!(app.sql("SELECT 1 FROM projects").await, 0);
    assert_eq!(app.sql("SELECT 1 FROM attachments").await, 0);
    assert_eq!(app.sql("SELECT 1 FROM blob_deletions").await, 0);
    let blobs: Vec<_> = match std::fs::read_dir(app.data_dir.join("blobs")) {
        Ok(dir) => dir.map(|e| e.unwrap().file_name()).collect(),
        Err(_) => Vec::new(),
    };
    assert!(blobs.is_empty(), "{blobs:?}");
    let uploads: Vec<_> = match std::fs::read_dir(app.data_dir.join("imports")) {
        Ok(dir) => dir.map(|e| e.unwrap().file_name()).collect(),
        Err(_) => Vec::new(),
    };
    assert!(uploads.is_empty(), "{uploads:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_archives_are_refused_whole_and_leave_nothing() {
    let app = TestApp::spawn_with(Options {
        config: vec![
            ("import_max_bytes", json!(300_000)),
            ("import_max_entries", json!(10)),
            ("import_max_uncompressed_bytes", json!(100_000)),
        ],
        ..Options::default()
    })
    .await;
    let owner = app.new_user().await;
    let png: &[u8] = PNG;
    let symlink = {
        let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
        zip.start_file("ok.md", SimpleFileOptions::default())
            .unwrap();
        zip.write_all(b"# ok").unwrap();
        zip.add_symlink("link.md", "/etc/passwd", SimpleFileOptions::default())
            .unwrap();
        zip.finish().unwrap().into_inner()
    };
    let many: Vec<(String, Vec<u8>)> = (0..11)
        .map(|i| (format!("{i}.md"), b"x".to_vec()))
        .collect();
    let many: Vec<(&str, &[u8])> = many
        .iter()
        .map(|(n, b)| (n.as_str(), b.as_slice()))
        .collect();
    let big = vec![b'a'; 60_000];
    let cases: Vec<(&str, Vec<u8>, StatusCode, &str)> = vec![
        (
            "escapes the root",
            zip_of(&[("ok.md", b"# ok"), ("../evil.md", b"# evil")]),
            StatusCode::UNPROCESSABLE_ENTITY,
            "escapes the archive's root",
        ),
        (
            "deeper escape",
            zip_of(&[("a/../../evil.md", b"# evil")]),
            StatusCode::UNPROCESSABLE_ENTITY,
            "escapes the archive's root",
        ),
        (
            "absolute path",
            zip_of(&[("/etc/evil.md", b"# evil")]),
            StatusCode::UNPROCESSABLE_ENTITY,
            "absolute path",
        ),
        (
            "symlink",
            symlink,
            StatusCode::UNPROCESSABLE_ENTITY,
            "symbolic link",
        ),
        (
            "too many entries",
            zip_of(&many),
            StatusCode::PAYLOAD_TOO_LARGE,
            "more than 10 entries",
        ),
        (
            "inflates past the limit",
            zip_of(&[("a.md", &big), ("b.md", &big)]),
            StatusCode::PAYLOAD_TOO_LARGE,
            "inflates to more than 100000 bytes",
        ),
        (
            "a bomb that lies about its size",
            lying_zip(1_000_000, 1_000),
            StatusCode::BAD_REQUEST,
            "entry bomb.md cannot be read",
        ),
        (
            "not a zip",
            b"PK\x03\x04 but nothing after".to_vec(),
            StatusCode::BAD_REQUEST,
            "the archive cannot be read",
        ),
        (
            "non-UTF-8 Markdown",
            zip_of(&[("img.png", png), ("bad.md", b"caf\xe9\n")]),
            StatusCode::UNPROCESSABLE_ENTITY,
            "bad.md is not UTF-8",
        ),
        (
            "a path documents cannot have",
            zip_of(&[("ok.md", b"# ok"), (" padded /x.md", b"# x")]),
            StatusCode::UNPROCESSABLE_ENTITY,
            "is not a document path",
        ),
        (
            "over the body limit",
            vec![0u8; 300_001],
            StatusCode::PAYLOAD_TOO_LARGE,
            "larger than 300000 bytes",
        ),
    ];
    for (what, zip, expected, why) in cases {
        let (status, kind, body) = import(&app, Some(&owner), "?name=Evil", zip).await;
        assert_eq!(status, expected, "{what}: {body}");
        assert!(
            body["detail"].as_str().unwrap().contains(why),
            "{what}: {body}"
        );
        assert_eq!(kind, "application/problem+json", "{what}");
        assert_eq!(body["status"], expected.as_u16(), "{what}");
        nothing_left(&app, &owner).await;
    }

    // A failure after the attachments were stored (the project's name is refused inside the
    // transaction) deletes them again.
    let long = "n".repeat(101);
    let (status, _, body) = import(
        &app,
        Some(&owner),
        &format!("?name={long}"),
        zip_of(&[("a.md", b"![[img.png]]"), ("img.png", png)]),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["errors"][0]["field"], "name", "{body}");
    nothing_left(&app, &owner).await;

    // A body without a length is counted as it arrives.
    let chunks = (0..10).map(|_| Ok::<_, std::io::Error>(vec![0u8; 40_000]));
    let res = app
        .request(Method::POST, "/api/v1/projects/import", Some(&owner.access))
        .header("content-type", "application/zip")
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
            chunks,
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
    nothing_left(&app, &owner).await;

    // Not a zip by its type; no credentials.
    let res = app
        .request(Method::POST, "/api/v1/projects/import", Some(&owner.access))
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let (status, kind, _) = import(&app, None, "", zip_of(&[("a.md", b"# a")])).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(kind, "application/problem+json");
    nothing_left(&app, &owner).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deeply_nested_entry_is_refused_not_overflowing_the_stack() {
    let app = TestApp::spawn().await;
    let owner = app.new_user().await;
    // 32,000 folders deep (a 64 KB name), and a Notion id to rename folder by folder.
    let deep = format!("{}x.md", "a/".repeat(32_000));
    let notion = "Page 0123456789abcdef0123456789abcdef.md";
    let zip = zip_of(&[(notion, b"# page"), (deep.as_str(), b"# deep")]);
    let (status, kind, body) = import(&app, Some(&owner), "?name=Deep", zip).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(kind, "application/problem+json");
    let detail = body["detail"].as_str().unwrap();
    assert!(detail.contains("longer than 4096 bytes"), "{detail:.200}");
    assert!(detail.starts_with("entry a/a/"), "{detail:.200}");
    nothing_left(&app, &owner).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_manifest_is_refused() {
    let app = TestApp::spawn_with(Options {
        config: vec![("import_max_entries", json!(10))],
        ..Options::default()
    })
    .await;
    let owner = app.new_user().await;
    let listed: Vec<Value> = (0..11)
        .map(|i| {
            json!({"id": uuid::Uuid::new_v4(), "name": format!("{i}.png"),
                   "path": format!("attachments/{i}.png"), "content_type": "image/png"})
        })
        .collect();
    let manifest = json!({"format": "mdz-export", "version": 1, "attachments": listed});
    let manifest = serde_json::to_vec(&manifest).unwrap();
    let zip = zip_of(&[("mdz-export.json", &manifest), ("a.md", b"# a")]);
    let (status, _, body) = import(&app, Some(&owner), "?name=M", zip).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("more than 10 attachments"),
        "{body}"
    );
    nothing_left(&app, &owner).await;

    // 5 MiB of manifest (padding a small one) is over its 4 MiB.
    let mut padded = br#"{"format": "mdz-export", "version": 1}"#.to_vec();
    padded.resize(5 * 1024 * 1024, b' ');
    let zip = zip_of(&[("mdz-export.json", &padded), ("a.md", b"# a")]);
    let (status, _, body) = import(&app, Some(&owner), "?name=M", zip).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("mdz-export.json is larger than 4194304"),
        "{body}"
    );
    nothing_left(&app, &owner).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imports_past_the_node_limit_are_refused_before_their_body() {
    let app = TestApp::spawn_with(Options {
        config: vec![("import_max_concurrent", json!(1))],
        ..Options::default()
    })
    .await;
    let owner = app.new_user().await;
    // The first import's body is sent a chunk at a time and not finished yet.
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<Vec<u8>>();
    tx.send(b"PK".to_vec()).unwrap();
    let rx = futures_util::stream::unfold(rx, async |mut rx| {
        rx.recv().await.map(|c| (Ok::<_, std::io::Error>(c), rx))
    });
    let first = app
        .request(Method::POST, "/api/v1/projects/import", Some(&owner.access))
        .header("content-type", "application/zip")
        .body(reqwest::Body::wrap_stream(rx))
        .send();
    let first = tokio::spawn(first);
    // It holds the slot once its upload file exists (the slot is taken before the body).
    let imports = app.data_dir.join("imports");
    for _ in 0..3000 {
        let started = std::fs::read_dir(&imports).is_ok_and(|mut d| d.next().is_some());
        if started {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let res = app
        .request(Method::POST, "/api/v1/projects/import", Some(&owner.access))
        .header("content-type", "application/zip")
        .body(zip_of(&[("a.md", b"# a")]))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(res.headers()["retry-after"], "5");
    assert_eq!(res.headers()["content-type"], "application/problem+json");
    let body: Value = res.json().await.unwrap();
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("1 imports are running"),
        "{body}"
    );

    // The first ends (a broken zip); its slot is free again.
    drop(tx);
    let res = first.await.unwrap().unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let (status, _, body) = import(
        &app,
        Some(&owner),
        "?name=Third",
        zip_of(&[("a.md", b"# a")]),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_name_is_refused_before_the_body() {
    let app = TestApp::spawn().await;
    let owner = app.new_user().await;
    // Not even a zip: the name is what is refused, before the body is read.
    let long = "n".repeat(101);
    let (status, kind, body) = import(
        &app,
        Some(&owner),
        &format!("?name={long}"),
        b"not a zip".to_vec(),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(kind, "application/problem+json");
    assert_eq!(body["errors"][0]["field"], "name", "{body}");
    nothing_left(&app, &owner).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_left_by_a_crash_are_removed_at_startup() {
    let app = TestApp::spawn().await;
    let imports = app.data_dir.join("imports");
    std::fs::create_dir_all(&imports).unwrap();
    let old = imports.join("left.zip");
    let fresh = imports.join("receiving.zip");
    std::fs::write(&old, b"PK").unwrap();
    std::fs::write(&fresh, b"PK").unwrap();
    let two_days = std::time::Duration::from_secs(2 * 86_400);
    std::fs::File::options()
        .write(true)
        .open(&old)
        .unwrap()
        .set_modified(std::time::SystemTime::now() - two_days)
        .unwrap();
    // Another node starting on the same data directory.
    let _node = TestApp::spawn_with(Options {
        replica_of: Some(app.replica()),
        ..Options::default()
    })
    .await;
    assert!(!old.exists(), "a day-old upload is a leftover");
    assert!(
        fresh.exists(),
        "a fresh one may be another node's, receiving now"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_token_cannot_import() {
    let app = TestApp::spawn().await;
    let owner = app.new_user().await;
    let (status, created) = app
        .post(
            "/api/v1/auth/tokens",
            Some(&owner.access),
            json!({"name": "reader", "scope": "read"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let reader = TestUser {
        access: created["token"].as_str().unwrap().to_owned(),
        ..owner.clone()
    };
    let (status, kind, body) =
        import(&app, Some(&reader), "?name=R", zip_of(&[("a.md", b"# a")])).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(kind, "application/problem+json");
    nothing_left(&app, &owner).await;
}
