//! Schema fuzzing: schemathesis (pinned in tests/fuzz-py/requirements.txt, installed by
//! `scripts/test.sh`) runs every operation of `/api/v1/openapi.json` against a live server,
//! positive and negative cases, and checks that no answer is a 5xx and that every status,
//! content type and body is one the document describes. The fuzzing user owns a project with
//! a member, an invitation, documents with history, comments, attachments and AI sessions, and
//! `tests/fuzz-py/schemathesis.toml` binds path parameters to those ids most of the time.
//!
//! Budget: `SCHEMATHESIS_MAX_EXAMPLES` cases per operation and phase (default 20) and
//! `SCHEMATHESIS_SEED` (default a fixed seed, so a run is reproducible); a failure prints the
//! whole report, with a `curl` line for each failing case.

use mdz_tests::{FakeLlm, Options, TestApp, TestUser};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::PathBuf;

const DEFAULT_MAX_EXAMPLES: &str = "20";
const DEFAULT_SEED: &str = "20261130";

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

/// `POST` a JSON body as `user`; the answer, which must be a 201.
async fn created(app: &TestApp, user: &TestUser, path: &str, body: Value) -> Value {
    let (status, answer) = app.post(path, Some(&user.access), body).await;
    assert_eq!(status, StatusCode::CREATED, "POST {path}: {answer}");
    answer
}

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap().to_owned()
}

/// An attachment announced in `project`, uploaded and completed when `complete`; the
/// announcement.
async fn attachment(app: &TestApp, user: &TestUser, project: &str, complete: bool) -> Value {
    let bytes = b"fuzzing attachment\n".to_vec();
    let announced = created(
        app,
        user,
        &format!("/api/v1/projects/{project}/attachments"),
        json!({"filename": "notes.txt", "content_type": "text/plain", "size": bytes.len()}),
    )
    .await;
    if complete {
        let mut put = app.client.put(announced["upload_url"].as_str().unwrap());
        for (k, v) in announced["headers"].as_object().unwrap() {
            put = put.header(k, v.as_str().unwrap());
        }
        let res = put.body(bytes).send().await.unwrap();
        assert!(res.status().is_success(), "upload: {}", res.status());
        let (status, body) = app
            .post(
                &format!("/api/v1/attachments/{}/complete", id(&announced)),
                Some(&user.access),
                json!({}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "complete: {body}");
    }
    announced
}

/// The last path segment of a URL (the token of a blob URL).
fn last_segment(url: &str) -> String {
    url.rsplit('/').next().unwrap().to_owned()
}

/// Everything the fuzzer works on; the values of the `${NAME}`s of the config template.
async fn fixtures(app: &TestApp) -> BTreeMap<&'static str, String> {
    let mut v = BTreeMap::new();
    let user = app.new_user().await;
    let member = app.new_user().await;
    // A second user whose sessions the sign-out, password and session operations act on: the
    // first signs out, the second is revoked by id and refreshed, the third changes passwords.
    let spare = app.new_user().await;
    let login = || async {
        let (status, body) = app
            .post(
                "/api/v1/auth/login",
                None,
                json!({"email": spare.email, "password": mdz_tests::PASSWORD}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    };
    let second = login().await;
    let third = login().await;
    let project = app.project_with(&user, &[(&member, "editor")]).await;
    let doomed = app.project_with(&user, &[]).await;
    let given = app.project_with(&user, &[(&member, "admin")]).await;
    let invitation = created(
        app,
        &user,
        &format!("/api/v1/projects/{project}/invitations"),
        json!({"role": "viewer"}),
    )
    .await;

    let file = id(&app
        .create_file(&user, &project, "notes/fuzz.md", "# Fuzz\nfirst\n")
        .await);
    let (status, saved) = app
        .call(
            Method::PUT,
            &format!("/api/v1/files/{file}"),
            Some(&user.access),
            Some(json!({"content": "# Fuzz\nsecond\n"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{saved}");
    let file_doomed = id(&app
        .create_file(&user, &project, "notes/doomed.md", "# Doomed\n")
        .await);
    let comments = format!("/api/v1/files/{file}/comments");
    let comment = id(&created(app, &user, &comments, json!({"body": "Check this"})).await);
    let comment_doomed = id(&created(app, &user, &comments, json!({"body": "Gone soon"})).await);

    let ready = id(&attachment(app, &user, &project, true).await);
    let ready_doomed = id(&attachment(app, &user, &project, true).await);
    let pending = attachment(app, &user, &project, false).await;
    let res = app
        .request(
            Method::GET,
            &format!("/api/v1/attachments/{ready}"),
            Some(&user.access),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FOUND);
    let download = res.headers()["location"].to_str().unwrap().to_owned();

    let sessions = format!("/api/v1/projects/{project}/sessions");
    let chat = id(&created(app, &user, &sessions, json!({"title": "Fuzz"})).await);
    let chat_doomed = id(&created(app, &user, &sessions, json!({})).await);
    let exchange = created(
        app,
        &user,
        &format!("/api/v1/sessions/{chat}/messages"),
        json!({"content": "Hello"}),
    )
    .await;
    let token = created(app, &user, "/api/v1/auth/tokens", json!({"name": "fuzz"})).await;

    let (status, spare_sessions) = app
        .get(
            "/api/v1/auth/sessions",
            Some(second["access_token"].as_str().unwrap()),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{spare_sessions}");
    let spare_session = spare_sessions["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["current"] == true)
        .map(id)
        .unwrap();

    v.insert("TOKEN", user.access.clone());
    v.insert(
        "SPARE_TOKEN",
        third["access_token"].as_str().unwrap().to_owned(),
    );
    v.insert("SPARE_LOGOUT_TOKEN", spare.access.clone());
    v.insert("SPARE_SESSION", spare_session);
    v.insert(
        "SPARE_REFRESH",
        second["refresh_token"].as_str().unwrap().to_owned(),
    );
    v.insert("MEMBER", member.id.clone());
    v.insert("PROJECT", project);
    v.insert("PROJECT_DOOMED", doomed);
    v.insert("PROJECT_GIVEN", given);
    v.insert("INVITATION", id(&invitation));
    v.insert(
        "INVITATION_TOKEN",
        invitation["token"].as_str().unwrap().to_owned(),
    );
    v.insert("FILE", file);
    v.insert("FILE_DOOMED", file_doomed);
    v.insert("COMMENT", comment);
    v.insert("COMMENT_DOOMED", comment_doomed);
    v.insert("ATTACHMENT", ready);
    v.insert("ATTACHMENT_DOOMED", ready_doomed);
    v.insert("ATTACHMENT_PENDING", id(&pending));
    v.insert(
        "UPLOAD_TOKEN",
        last_segment(pending["upload_url"].as_str().unwrap()),
    );
    v.insert("DOWNLOAD_TOKEN", last_segment(&download));
    v.insert("CHAT", chat);
    v.insert("CHAT_DOOMED", chat_doomed);
    v.insert("MESSAGE", id(&exchange["assistant_message"]));
    v.insert("PERSONAL_TOKEN", id(&token));
    v
}

/// The template with every `${NAME}` replaced; a name without a value fails the test.
fn render(template: &str, values: &BTreeMap<&'static str, String>) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let end = rest[start..].find('}').unwrap() + start;
        let name = &rest[start + 2..end];
        let value = values.get(name).unwrap_or_else(|| {
            panic!("the config names ${{{name}}}, which the test does not fill")
        });
        out.push_str(value);
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn every_operation_answers_as_the_openapi_document_says() {
    let llm = FakeLlm::start().await;
    let app = TestApp::spawn_with(Options {
        config: vec![
            ("llm_provider", json!("openai")),
            ("llm_base_url", json!(llm.base_url.clone())),
            ("llm_api_key", json!("sk-fake")),
            ("llm_model", json!("gpt-test")),
            ("llm_timeout_secs", json!(5)),
            // Generated credentials fail by the thousand; lockouts have tests of their own.
            ("login_max_failures", json!(1_000_000)),
            ("version_coalesce_secs", json!(0)),
            ("database_pool_size", json!(8)),
        ],
        ..Options::default()
    })
    .await;
    let mut values = fixtures(&app).await;
    values.insert("BASE_URL", app.address.clone());
    values.insert(
        "MAX_EXAMPLES",
        env_or("SCHEMATHESIS_MAX_EXAMPLES", DEFAULT_MAX_EXAMPLES),
    );
    values.insert("SEED", env_or("SCHEMATHESIS_SEED", DEFAULT_SEED));

    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz-py");
    let template = std::fs::read_to_string(dir.join("schemathesis.toml")).unwrap();
    let work = app.data_dir.join("schemathesis");
    std::fs::create_dir_all(&work).unwrap();
    let config = work.join("schemathesis.toml");
    std::fs::write(&config, render(&template, &values)).unwrap();

    let out = tokio::process::Command::new(dir.join(".venv/bin/schemathesis"))
        .arg("--config-file")
        .arg(&config)
        .arg("--no-color")
        .arg("run")
        .arg(app.url("/api/v1/openapi.json"))
        .current_dir(&work)
        .env("NO_COLOR", "1")
        // Serializers for the media types schemathesis does not know (the import's zip).
        .env("SCHEMATHESIS_HOOKS", dir.join("hooks.py"))
        .output()
        .await
        .unwrap_or_else(|e| panic!("run schemathesis (installed by scripts/test.sh): {e}"));
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "schemathesis found problems:\n{report}"
    );
    // A run that tested nothing would pass too: every operation must have been tested but the
    // one that serves the document (schemathesis leaves out the URL it loaded the schema from).
    let (_, doc) = app.get("/api/v1/openapi.json", None).await;
    let operations = doc["paths"]
        .as_object()
        .unwrap()
        .values()
        .flat_map(|item| item.as_object().unwrap().keys())
        .filter(|key| {
            [
                "get", "put", "post", "delete", "patch", "head", "options", "trace",
            ]
            .contains(&key.as_str())
        })
        .count()
        - 1;
    assert!(
        report
            .lines()
            .any(|l| l.trim() == format!("Tested: {operations}")),
        "not all {operations} operations were tested:\n{report}"
    );
}
