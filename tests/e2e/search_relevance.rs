//! Search relevance on a small judged corpus: for each query, the document a person would
//! expect ranks in the top 3, with either engine (the embedded index and PostgreSQL). And the
//! embedded index of a second process (a replica on the same database) finds what the first
//! one saved: every process follows the indexed-documents feed, and builds its index from
//! PostgreSQL at start.

use mdz_tests::{Options, TestApp, TestUser};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// Short READMEs of the kind the benchmark corpus holds; several share words on purpose.
const CORPUS: &[(&str, &str)] = &[
    (
        "tokio/README.md",
        "# Tokio\n\nA runtime for writing reliable asynchronous applications with Rust. It \
         provides an async runtime with a multi-threaded scheduler, timers, and non-blocking \
         I/O: TCP and UDP sockets.\n",
    ),
    (
        "serde/README.md",
        "# Serde\n\nSerde is a framework for serializing and deserializing Rust data \
         structures efficiently and generically. Derive Serialize and Deserialize for your \
         types; formats such as JSON and TOML are separate crates.\n",
    ),
    (
        "serde_json/README.md",
        "# Serde JSON\n\nJSON support for Serde. Parse a string of JSON into an untyped \
         value, or into a strongly typed Rust data structure.\n",
    ),
    (
        "regex/README.md",
        "# regex\n\nA library for parsing, compiling and executing regular expressions. \
         Its syntax is similar to Perl-style regular expressions, without look-around and \
         backreferences, so that matching runs in linear time.\n",
    ),
    (
        "reqwest/README.md",
        "# reqwest\n\nAn ergonomic, batteries-included HTTP client for Rust: async and \
         blocking clients, plain bodies, JSON, urlencoded forms, cookies, proxies and TLS.\n",
    ),
    (
        "clap/README.md",
        "# clap\n\nCommand Line Argument Parser for Rust: parse command line arguments and \
         subcommands, with generated help and suggestions for typos.\n",
    ),
    (
        "thiserror/README.md",
        "# thiserror\n\nThis library provides a derive macro for the standard library's \
         Error trait: convenient error handling for libraries, with the source of each \
         error kept.\n",
    ),
    (
        "deadpool/README.md",
        "# Deadpool\n\nA dead simple async pool for connections and objects of any type. \
         The connection pool hands out objects and takes them back when they are dropped.\n",
    ),
    (
        "tungstenite/README.md",
        "# Tungstenite\n\nLightweight stream-based WebSocket implementation for Rust: a \
         client and a server, with TLS through a separate crate.\n",
    ),
    (
        "changelog/CHANGELOG.md",
        "# Changelog\n\n## 1.2.0\n\n- Faster JSON parsing in the client.\n- The runtime \
         no longer blocks on timers.\n- Error messages name the command line argument.\n",
    ),
];

/// Query, expected document.
const JUDGED: &[(&str, &str)] = &[
    ("async runtime ", "tokio/README.md"),
    ("serializing deserializing ", "serde/README.md"),
    ("regular expressions ", "regex/README.md"),
    ("http client ", "reqwest/README.md"),
    ("command line arguments ", "clap/README.md"),
    ("\"connection pool\" ", "deadpool/README.md"),
    ("websocket ", "tungstenite/README.md"),
    ("error handling ", "thiserror/README.md"),
    ("json -serde ", "reqwest/README.md"),
    ("deseri", "serde/README.md"),
    ("tungs", "tungstenite/README.md"),
    ("regular expr", "regex/README.md"),
    ("json value", "serde_json/README.md"),
];

async fn search(app: &TestApp, user: &TestUser, project: &str, q: &str) -> Value {
    let url = reqwest::Url::parse_with_params(
        &app.url(&format!("/api/v1/projects/{project}/search")),
        &[("q", q)],
    )
    .unwrap();
    let res = app
        .client
        .get(url)
        .bearer_auth(&user.access)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    res.json().await.unwrap()
}

fn paths(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["path"].as_str().unwrap().to_owned())
        .collect()
}

async fn seeded(app: &TestApp) -> (TestUser, String) {
    let owner = app.new_user().await;
    let (_, p) = app
        .post(
            "/api/v1/projects",
            Some(&owner.access),
            json!({"name": "Judged"}),
        )
        .await;
    let project = p["id"].as_str().unwrap().to_owned();
    for (path, content) in CORPUS {
        let (status, body) = app
            .post(
                &format!("/api/v1/projects/{project}/files"),
                Some(&owner.access),
                json!({"path": path, "content": content}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    (owner, project)
}

#[tokio::test(flavor = "multi_thread")]
async fn judged_queries_rank_the_expected_document_in_the_top_three() {
    for engine in ["embedded", "postgres"] {
        let app = TestApp::spawn_with(Options {
            config: vec![("search_engine", json!(engine))],
            ..Options::default()
        })
        .await;
        let (owner, project) = seeded(&app).await;
        for (q, expected) in JUDGED {
            let page = search(&app, &owner, &project, q).await;
            let found = paths(&page);
            assert!(
                found.iter().take(3).any(|p| p == expected),
                "{engine}: {q:?} should find {expected} in the top 3, found {found:?}"
            );
            let snippet = page["items"][0]["snippet"].as_str().unwrap();
            assert!(!snippet.is_empty(), "{engine}: {q:?}: empty snippet");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_process_builds_its_index_from_postgres_and_follows_saves() {
    let app = TestApp::spawn().await;
    let (owner, project) = seeded(&app).await;
    // Another process on the same database: its index starts empty and is built from the
    // feed at its first search.
    let replica = TestApp::spawn_with(Options {
        replica_of: Some(app.replica()),
        ..Options::default()
    })
    .await;
    assert_eq!(
        paths(&search(&replica, &owner, &project, "websocket ").await),
        ["tungstenite/README.md"]
    );
    // A save through the first process is found through the second at once.
    let (status, body) = app
        .post(
            &format!("/api/v1/projects/{project}/files"),
            Some(&owner.access),
            json!({"path": "new.md", "content": "# Quokka\n\nA marsupial.\n"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let page = search(&replica, &owner, &project, "quokka ").await;
    assert_eq!(paths(&page), ["new.md"]);
    assert!(
        page["items"][0]["snippet"]
            .as_str()
            .unwrap()
            .contains("<mark>Quokka</mark>"),
        "{page}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_half_typed_word_completes_from_the_callers_projects_only() {
    let app = TestApp::spawn().await;
    let (owner, project) = seeded(&app).await;
    // Another team's project holds twenty words starting with `quo`, each more frequent
    // than anything of the caller's: completions drawn from the whole index would be theirs
    // (and tell the caller which words they hold), and the caller would find nothing.
    let other = app.new_user().await;
    let (_, p) = app
        .post(
            "/api/v1/projects",
            Some(&other.access),
            json!({"name": "Theirs"}),
        )
        .await;
    let theirs = p["id"].as_str().unwrap().to_owned();
    let words: Vec<String> = ('a'..='t').map(|c| format!("quo{c}{c}")).collect();
    for n in 0..3 {
        let (status, body) = app
            .post(
                &format!("/api/v1/projects/{theirs}/files"),
                Some(&other.access),
                json!({"path": format!("secret-{n}.md"), "content": words.join(" ")}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let (status, body) = app
        .post(
            &format!("/api/v1/projects/{project}/files"),
            Some(&owner.access),
            json!({"path": "quokka.md", "content": "# Quokka\n\nA marsupial.\n"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(
        paths(&search(&app, &owner, &project, "quo").await),
        ["quokka.md"]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_forged_deep_search_cursor_is_refused() {
    use base64::Engine as _;
    let app = TestApp::spawn().await;
    let (owner, project) = seeded(&app).await;
    let cursor =
        |offset: i64| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(offset.to_string());
    // An engine that collects the top `offset + limit` would try to allocate for this.
    let (status, body) = app
        .get(
            &format!(
                "/api/v1/projects/{project}/search?q=rust&cursor={}",
                cursor(1 << 58)
            ),
            Some(&owner.access),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["errors"][0]["field"], "cursor", "{body}");
    let (status, body) = app
        .get(
            &format!(
                "/api/v1/projects/{project}/search?q=rust&cursor={}",
                cursor(1_000)
            ),
            Some(&owner.access),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["items"], json!([]), "{body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_purged_document_leaves_the_index_and_gives_its_place_back() {
    let app = TestApp::spawn().await;
    let owner = app.new_user().await;
    let project = app.project_with(&owner, &[]).await;
    // The three that go match more strongly, so a stale index ranks them first (a page of
    // two asks the index for three, to know whether there is more).
    for path in ["gone-1.md", "gone-2.md", "gone-3.md"] {
        app.create_file(&owner, &project, path, "wombat wombat wombat wombat")
            .await;
    }
    app.create_file(&owner, &project, "live.md", "A wombat, once.")
        .await;
    let two = |app: &TestApp| {
        let url = reqwest::Url::parse_with_params(
            &app.url(&format!("/api/v1/projects/{project}/search")),
            &[("q", "wombat"), ("limit", "2")],
        )
        .unwrap();
        let request = app.client.get(url).bearer_auth(&owner.access).send();
        async move { request.await.unwrap().json::<Value>().await.unwrap() }
    };
    let before = paths(&two(&app).await);
    assert!(before.iter().all(|p| p.starts_with("gone-")), "{before:?}");

    // What the trash's purge does once the retention has passed.
    app.sql(&format!(
        "DELETE FROM files WHERE project_id = '{project}' AND path LIKE 'gone-%'"
    ))
    .await;
    let page = two(&app).await;
    assert_eq!(paths(&page), ["live.md"], "{page}");
}
