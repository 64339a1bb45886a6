//! Documents at the size limit whose every line changes: saves and version diffs finish (the
//! line diffs stop refining at their deadline) and the stored history still round-trips.

use mdz_tests::{TestApp, TestUser};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// Distinct short lines (`tag` + a counter), just under 5 MiB, the default size limit.
fn distinct_lines(tag: char) -> String {
    (0..580_000u32).map(|i| format!("{tag}{i:07x}\n")).collect()
}

async fn put(app: &TestApp, user: &TestUser, id: &str, content: &str) -> Value {
    let res = app
        .request(
            Method::PUT,
            &format!("/api/v1/files/{id}"),
            Some(&user.access),
        )
        .json(&json!({"content": content}))
        .send()
        .await
        .unwrap();
    let status = res.status();
    let body: Value = res.json().await.unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

#[tokio::test(flavor = "multi_thread")]
async fn replacing_five_mib_of_distinct_lines_saves_and_round_trips() {
    let app = TestApp::spawn().await;
    let owner = app.new_user().await;
    let editor = app.new_user().await;
    let project = app.project_with(&owner, &[(&editor, "editor")]).await;
    let (a, b, c) = (
        distinct_lines('a'),
        distinct_lines('b'),
        distinct_lines('c'),
    );
    assert!(a.len() <= 5 * 1024 * 1024);
    let id = app.create_file(&owner, &project, "big.md", &a).await["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // Another author: version 1 becomes a reverse script from B back to A.
    put(&app, &editor, &id, &b).await;
    // The same author again at once: coalesced into version 2, so version 1's script is
    // recomputed from C back to A.
    let saved = put(&app, &editor, &id, &c).await;
    assert_eq!(saved["revision"], 3);

    let (_, versions) = app
        .get(&format!("/api/v1/files/{id}/versions"), Some(&owner.access))
        .await;
    let items = versions["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{versions}");
    assert_eq!(items[0]["n"], 2);
    // A diff cut short may count more lines than the smallest change, never fewer.
    assert!(items[0]["lines_added"].as_i64().unwrap() >= 580_000);
    assert!(items[0]["lines_removed"].as_i64().unwrap() >= 580_000);

    for (n, want) in [(1, &a), (2, &c)] {
        let (status, v) = app
            .get(
                &format!("/api/v1/files/{id}/versions/{n}"),
                Some(&owner.access),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        assert!(
            v["content"].as_str().unwrap() == want.as_str(),
            "version {n}"
        );
    }

    let (status, diff) = app
        .get(
            &format!("/api/v1/files/{id}/versions/2?diff=1"),
            Some(&owner.access),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let unified = diff["unified"].as_str().unwrap();
    let removed: String = unified
        .lines()
        .filter(|l| l.starts_with('-') && !l.starts_with("---"))
        .map(|l| format!("{}\n", &l[1..]))
        .collect();
    let added: String = unified
        .lines()
        .filter(|l| l.starts_with('+') && !l.starts_with("+++"))
        .map(|l| format!("{}\n", &l[1..]))
        .collect();
    assert!(removed == a, "the diff removes every line of version 1");
    assert!(added == c, "the diff adds every line of version 2");
}
