//! Importing an mdz export's version history: every version back (count, order, text,
//! times, labels), authored by the importing user; older exports (format 1.0, no
//! `versions.json`) still read; a history that is not whole refused with nothing left.

use crate::attachments::setup;
use crate::export::{attach, export};
use crate::import::{attachment_ids, ids, import, nothing_left, zip_of};
use mdz_tests::{Options, TestApp, TestUser};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// Every version of a document, oldest first: its entry of `GET /files/{id}/versions` and
/// its text from `GET /files/{id}/versions/{n}`.
async fn versions(app: &TestApp, user: &TestUser, file: &str) -> Vec<(Value, String)> {
    let (status, page) = app
        .get(
            &format!("/api/v1/files/{file}/versions?limit=100"),
            Some(&user.access),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page["next_cursor"].is_null(), "{page}");
    let mut out = Vec::new();
    for v in page["items"].as_array().unwrap().iter().rev() {
        let n = v["n"].as_i64().unwrap();
        let (status, read) = app
            .get(
                &format!("/api/v1/files/{file}/versions/{n}"),
                Some(&user.access),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{read}");
        out.push((v.clone(), read["content"].as_str().unwrap().to_owned()));
    }
    out
}

async fn save(app: &TestApp, user: &TestUser, file: &str, content: &str) {
    let (status, body) = app
        .call(
            Method::PUT,
            &format!("/api/v1/files/{file}"),
            Some(&user.access),
            Some(json!({ "content": content })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

fn rezip(entries: &BTreeMap<String, Vec<u8>>) -> Vec<u8> {
    let list: Vec<(&str, &[u8])> = entries
        .iter()
        .map(|(n, b)| (n.as_str(), b.as_slice()))
        .collect();
    zip_of(&list)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_export_with_history_imports_back_with_every_version() {
    // Every save a version of its own.
    let (app, owner, project) = setup(false, vec![("version_coalesce_secs", json!(0))]).await;
    let old = attach(&app, &owner, &project, "pic.png", b"png bytes").await;
    let link = format!("![pic](/api/v1/attachments/{old})\n");
    let readme = app
        .create_file(&owner, &project, "README.md", &format!("# One\n{link}"))
        .await;
    let readme = readme["id"].as_str().unwrap().to_owned();
    save(&app, &owner, &readme, &format!("# Two\n{link}more\n")).await;
    save(&app, &owner, &readme, "# Three, the link gone\n").await;
    let (status, labelled) = app
        .patch(
            &format!("/api/v1/files/{readme}/versions/2"),
            Some(&owner.access),
            json!({"label": "Draft ✓"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{labelled}");
    // Many versions, with rewrites big enough to be stored as full copies.
    let plan = app
        .create_file(&owner, &project, "notes/plan.md", "start\n")
        .await;
    let plan = plan["id"].as_str().unwrap().to_owned();
    let mut text = String::from("start\n");
    for i in 0..24 {
        text.push_str(&format!("line {i} {}\n", "x".repeat(200)));
        if i % 6 == 5 {
            text = if i % 12 == 5 {
                text.to_uppercase()
            } else {
                text.to_lowercase()
            };
        }
        save(&app, &owner, &plan, &text).await;
    }
    app.create_file(&owner, &project, "single.md", "one version")
        .await;
    app.sql(&format!(
        "UPDATE file_versions SET ai_assisted = true WHERE file_id = '{plan}' AND n = 7"
    ))
    .await;
    assert!(
        app.sql(&format!(
            "SELECT 1 FROM file_versions WHERE file_id = '{plan}' AND snapshot"
        ))
        .await
            > 0,
        "the original keeps full copies too"
    );

    let (status, _, entries) = export(&app, &owner, &project, "?history=true").await;
    assert_eq!(status, StatusCode::OK);
    let manifest: Value = serde_json::from_slice(&entries["mdz-export.json"]).unwrap();
    assert_eq!(
        (manifest["version"].as_i64(), manifest["minor"].as_i64()),
        (Some(1), Some(1))
    );
    assert!(entries.contains_key(".mdz/history/notes/plan.md/versions.json"));

    // Another user imports it: the versions become theirs.
    let importer = app.new_user().await;
    let (status, _, body) = import(&app, Some(&importer), "?name=Copy", rezip(&entries)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["import"]["documents"], 3);
    assert_eq!(body["import"]["versions"], 3 + 25 + 1, "{body}");
    let copy = body["id"].as_str().unwrap().to_owned();
    let (before, after) = (
        ids(&app, &owner, &project).await,
        ids(&app, &importer, &copy).await,
    );
    let readme_versions = versions(&app, &importer, &after["README.md"]).await;
    let new = attachment_ids(&readme_versions[0].1);
    assert_eq!(new.len(), 1);
    assert_ne!(new[0], old, "the copy has attachments of its own");
    assert_eq!(readme_versions[1].0["label"], "Draft ✓");
    assert_eq!(
        before.keys().collect::<Vec<_>>(),
        after.keys().collect::<Vec<_>>()
    );
    for (path, id) in &before {
        let original = versions(&app, &owner, id).await;
        let imported = versions(&app, &importer, &after[path]).await;
        assert_eq!(original.len(), imported.len(), "{path}");
        for ((v, text), (w, copied)) in original.iter().zip(&imported) {
            let n = &v["n"];
            // Links to attachments point at the copy's own.
            assert_eq!(*copied, text.replace(&old, &new[0]), "{path}@{n}");
            assert_eq!(w["author"], importer.id.as_str(), "{path}@{n}");
            for field in [
                "n",
                "size",
                "lines_added",
                "lines_removed",
                "label",
                "created_at",
                "updated_at",
                "ai_assisted",
            ] {
                assert_eq!(v[field], w[field], "{path}@{n}: {field}");
            }
        }
        let (_, file) = app
            .get(
                &format!("/api/v1/files/{}", after[path]),
                Some(&importer.access),
            )
            .await;
        assert_eq!(file["revision"], original.len(), "{path}");
        assert_eq!(
            file["content"].as_str(),
            imported.last().map(|(_, t)| t.as_str())
        );
    }
    let plan_versions = versions(&app, &importer, &after["notes/plan.md"]).await;
    assert_eq!(plan_versions[6].0["ai_assisted"], true);

    // The copy keeps saving on top of its history.
    save(&app, &importer, &after["notes/plan.md"], "rewritten\n").await;
    let again = versions(&app, &importer, &after["notes/plan.md"]).await;
    assert_eq!(again.len(), 26);
    assert_eq!(again[24].1, text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_older_export_and_an_edited_one_keep_their_versions() {
    let app = TestApp::spawn().await;
    let owner = app.new_user().await;
    // Format 1.0: version texts without versions.json; `b.md` edited after the export.
    let manifest = br#"{"format": "mdz-export", "version": 1, "project": {"name": "Old"}}"#;
    let zip = zip_of(&[
        ("mdz-export.json", manifest),
        ("a.md", b"# a\nthird\n"),
        (".mdz/history/a.md/1.md", b"# a\n"),
        (".mdz/history/a.md/2.md", b"# a\nsecond\n"),
        (".mdz/history/a.md/3.md", b"# a\nthird\n"),
        ("b.md", b"edited by hand\n"),
        (".mdz/history/b.md/1.md", b"as exported\n"),
        ("c.md", b"no history\n"),
        (".mdz/future/thing.bin", b"a later minor's entry"),
    ]);
    let (status, _, body) = import(&app, Some(&owner), "", zip).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["name"], "Old");
    assert_eq!(body["import"]["versions"], 3 + 2 + 1, "{body}");
    assert_eq!(body["import"]["skipped_count"], 0, "{body}");
    let project = body["id"].as_str().unwrap();
    let docs = ids(&app, &owner, project).await;
    let texts = |v: Vec<(Value, String)>| v.into_iter().map(|(_, t)| t).collect::<Vec<_>>();
    assert_eq!(
        texts(versions(&app, &owner, &docs["a.md"]).await),
        ["# a\n", "# a\nsecond\n", "# a\nthird\n"]
    );
    assert_eq!(
        texts(versions(&app, &owner, &docs["b.md"]).await),
        ["as exported\n", "edited by hand\n"]
    );
    assert_eq!(
        texts(versions(&app, &owner, &docs["c.md"]).await),
        ["no history\n"]
    );
    // A versions.json over its 4 MiB is refused before it is parsed.
    let mut padded = br#"{"versions": []}"#.to_vec();
    padded.resize(4 * 1024 * 1024 + 1, b' ');
    let zip = zip_of(&[
        ("mdz-export.json", manifest),
        ("a.md", b"a"),
        (".mdz/history/a.md/versions.json", &padded),
    ]);
    let (status, _, body) = import(&app, Some(&owner), "?name=Padded", zip).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("versions.json is larger than 4194304 bytes"),
        "{body}"
    );
    let a = versions(&app, &owner, &docs["a.md"]).await;
    assert_eq!(
        (
            a[1].0["lines_added"].as_i64(),
            a[1].0["lines_removed"].as_i64()
        ),
        (Some(1), Some(0))
    );
    assert_eq!(
        (
            a[2].0["lines_added"].as_i64(),
            a[2].0["lines_removed"].as_i64()
        ),
        (Some(1), Some(1))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_history_that_is_not_whole_is_refused_and_leaves_nothing() {
    let app = TestApp::spawn_with(Options {
        config: vec![
            ("import_max_entries", json!(10)),
            ("import_max_uncompressed_bytes", json!(100_000)),
        ],
        ..Options::default()
    })
    .await;
    let owner = app.new_user().await;
    let manifest: &[u8] = br#"{"format": "mdz-export", "version": 1, "minor": 1}"#;
    let times = r#""created_at":"2026-01-02T03:04:05Z","updated_at":"2026-01-02T03:04:05Z""#;
    let meta = |ns: &[i32], label: &str| {
        let list: Vec<String> = ns
            .iter()
            .map(|n| format!(r#"{{"n":{n},{times},"label":{label},"ai_assisted":false}}"#))
            .collect();
        format!(r#"{{"versions":[{}]}}"#, list.join(",")).into_bytes()
    };
    let big = vec![b'v'; 60_000];
    let two = meta(&[1, 2], "null");
    let one = meta(&[1], "null");
    let bad_label = meta(&[1], &format!("\"{}\"", "l".repeat(101)));
    let many: Vec<(String, Vec<u8>)> = (1..=10)
        .map(|n| (format!(".mdz/history/a.md/{n}.md"), b"v".to_vec()))
        .collect();
    let mut many: Vec<(&str, &[u8])> = many
        .iter()
        .map(|(n, b)| (n.as_str(), b.as_slice()))
        .collect();
    many.push(("a.md", b"v"));
    let cases: Vec<(&str, Vec<u8>, StatusCode, &str)> = vec![
        (
            "a history without its document",
            zip_of(&[
                ("mdz-export.json", manifest),
                ("a.md", b"a"),
                (".mdz/history/gone.md/1.md", b"gone"),
            ]),
            StatusCode::UNPROCESSABLE_ENTITY,
            ".mdz/history/gone.md/ is the history of a document the archive does not hold",
        ),
        (
            "a gap in the numbering",
            zip_of(&[
                ("mdz-export.json", manifest),
                ("a.md", b"a"),
                (".mdz/history/a.md/1.md", b"1"),
                (".mdz/history/a.md/3.md", b"3"),
            ]),
            StatusCode::UNPROCESSABLE_ENTITY,
            "holds 2 versions not numbered 1 to 2",
        ),
        (
            "a number that is not one",
            zip_of(&[
                ("mdz-export.json", manifest),
                ("a.md", b"a"),
                (".mdz/history/a.md/01.md", b"1"),
            ]),
            StatusCode::UNPROCESSABLE_ENTITY,
            "01.md is not a version of a document",
        ),
        (
            "versions.json listing other versions",
            zip_of(&[
                ("mdz-export.json", manifest),
                ("a.md", b"a"),
                (".mdz/history/a.md/1.md", b"a"),
                (".mdz/history/a.md/versions.json", &two),
            ]),
            StatusCode::UNPROCESSABLE_ENTITY,
            "does not list exactly the versions whose texts the archive holds (1 to 1)",
        ),
        (
            "versions.json without texts",
            zip_of(&[
                ("mdz-export.json", manifest),
                ("a.md", b"a"),
                (".mdz/history/a.md/versions.json", &one),
            ]),
            StatusCode::UNPROCESSABLE_ENTITY,
            "does not list exactly the versions whose texts the archive holds (none)",
        ),
        (
            "a label the API would refuse",
            zip_of(&[
                ("mdz-export.json", manifest),
                ("a.md", b"a"),
                (".mdz/history/a.md/1.md", b"a"),
                (".mdz/history/a.md/versions.json", &bad_label),
            ]),
            StatusCode::UNPROCESSABLE_ENTITY,
            "other than 1 to 100 characters",
        ),
        (
            "a version that is not UTF-8",
            zip_of(&[
                ("mdz-export.json", manifest),
                ("a.md", b"a"),
                (".mdz/history/a.md/1.md", b"caf\xe9"),
            ]),
            StatusCode::UNPROCESSABLE_ENTITY,
            ".mdz/history/a.md/1.md is not UTF-8",
        ),
        (
            "versions count toward the inflated bytes",
            zip_of(&[
                ("mdz-export.json", manifest),
                ("a.md", b"a"),
                (".mdz/history/a.md/1.md", &big),
                (".mdz/history/a.md/2.md", &big),
            ]),
            StatusCode::PAYLOAD_TOO_LARGE,
            "inflates to more than 100000 bytes",
        ),
        (
            "versions count toward the entries",
            {
                many.push(("mdz-export.json", manifest));
                zip_of(&many)
            },
            StatusCode::PAYLOAD_TOO_LARGE,
            "more than 10 entries",
        ),
    ];
    for (what, zip, expected, why) in cases {
        let (status, kind, body) = import(&app, Some(&owner), "?name=Evil", zip).await;
        assert_eq!(status, expected, "{what}: {body}");
        assert_eq!(kind, "application/problem+json", "{what}");
        assert!(
            body["detail"].as_str().unwrap().contains(why),
            "{what}: {body}"
        );
        nothing_left(&app, &owner).await;
    }
}
