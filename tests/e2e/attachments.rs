//! Attachments end to end, on the real S3-compatible server and on the local store: announce,
//! a plain-HTTP presigned PUT, complete, download through the redirect, delete; and the
//! failures: wrong size, expired URL, disallowed types, roles.

use mdz_tests::{Options, TestApp, TestUser};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

pub(crate) async fn setup(
    s3: bool,
    config: Vec<(&'static str, Value)>,
) -> (TestApp, TestUser, String) {
    let app = TestApp::spawn_with(Options {
        s3,
        config,
        ..Options::default()
    })
    .await;
    let owner = app.new_user().await;
    let (_, p) = app
        .post(
            "/api/v1/projects",
            Some(&owner.access),
            json!({"name": "Att"}),
        )
        .await;
    let project = p["id"].as_str().unwrap().to_owned();
    (app, owner, project)
}

pub(crate) async fn announce(
    app: &TestApp,
    user: &TestUser,
    project: &str,
    body: Value,
) -> (StatusCode, Value) {
    app.post(
        &format!("/api/v1/projects/{project}/attachments"),
        Some(&user.access),
        body,
    )
    .await
}

/// PUT bytes to a presigned URL with a plain HTTP client, as a browser would.
pub(crate) async fn upload(announced: &Value, bytes: Vec<u8>) -> StatusCode {
    let client = reqwest::Client::new();
    let mut req = client.put(announced["upload_url"].as_str().unwrap());
    for (k, v) in announced["headers"].as_object().unwrap() {
        if k.eq_ignore_ascii_case("content-length") || k.eq_ignore_ascii_case("host") {
            continue;
        }
        req = req.header(k, v.as_str().unwrap());
    }
    req.body(bytes).send().await.unwrap().status()
}

async fn round_trip(s3: bool) {
    let (app, owner, project) = setup(s3, vec![]).await;
    let bytes: Vec<u8> = (0..5000u32).map(|i| (i % 251) as u8).collect();
    let (status, announced) = announce(
        &app,
        &owner,
        &project,
        json!({"filename": "diagram ü.png", "content_type": "image/png", "size": bytes.len()}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{announced}");
    assert!(announced["expires_at"].is_string());
    let id = announced["id"].as_str().unwrap().to_owned();

    // Completing before uploading says so.
    let (status, _) = app
        .call(
            Method::POST,
            &format!("/api/v1/attachments/{id}/complete"),
            Some(&owner.access),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(
        app.get(&format!("/api/v1/attachments/{id}"), Some(&owner.access))
            .await
            .0,
        StatusCode::NOT_FOUND
    );

    let status = upload(&announced, bytes.clone()).await;
    assert!(status.is_success(), "upload: {status}");
    let (status, done) = app
        .call(
            Method::POST,
            &format!("/api/v1/attachments/{id}/complete"),
            Some(&owner.access),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{done}");
    assert_eq!(done["ready"], true);
    assert_eq!(done["size"], 5000);

    let res = app
        .request(
            Method::GET,
            &format!("/api/v1/attachments/{id}"),
            Some(&owner.access),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FOUND);
    let location = res.headers()["location"].to_str().unwrap().to_owned();
    let store = if s3 {
        std::env::var("TEST_S3_ENDPOINT").unwrap()
    } else {
        app.address.clone()
    };
    assert!(
        location.starts_with(&store),
        "{location} is served by {store}"
    );
    assert!(
        announced["upload_url"]
            .as_str()
            .unwrap()
            .starts_with(&store)
    );
    let got = reqwest::get(&location).await.unwrap();
    assert_eq!(got.status(), StatusCode::OK);
    let disposition = got.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(disposition.starts_with("attachment;"), "{disposition}");
    assert!(
        disposition.contains("diagram%20%C3%BC.png"),
        "{disposition}"
    );
    assert_eq!(got.bytes().await.unwrap().to_vec(), bytes);

    let (_, feed) = app
        .get(
            &format!("/api/v1/projects/{project}/changes"),
            Some(&owner.access),
        )
        .await;
    assert_eq!(feed["items"][0]["kind"], "attachment_added");
    assert_eq!(feed["items"][0]["id"], id.as_str());

    assert_eq!(
        app.delete(&format!("/api/v1/attachments/{id}"), Some(&owner.access))
            .await
            .0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.get(&format!("/api/v1/attachments/{id}"), Some(&owner.access))
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    let (_, feed) = app
        .get(
            &format!("/api/v1/projects/{project}/changes"),
            Some(&owner.access),
        )
        .await;
    assert_eq!(feed["items"][1]["kind"], "attachment_deleted");
}

#[tokio::test(flavor = "multi_thread")]
async fn s3_round_trip_with_a_plain_presigned_put() {
    round_trip(true).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn local_store_round_trip_behaves_the_same() {
    round_trip(false).await;
}

async fn larger_than_promised_is_refused(s3: bool) {
    let (app, owner, project) = setup(s3, vec![]).await;
    let (_, announced) = announce(
        &app,
        &owner,
        &project,
        json!({"filename": "a.txt", "content_type": "text/plain", "size": 10}),
    )
    .await;
    let id = announced["id"].as_str().unwrap().to_owned();
    // The store may refuse the oversized PUT outright; either way complete must not accept it.
    let _ = upload(&announced, vec![b'x'; 20]).await;
    let (status, body) = app
        .call(
            Method::POST,
            &format!("/api/v1/attachments/{id}/complete"),
            Some(&owner.access),
            None,
        )
        .await;
    assert!(
        status == StatusCode::UNPROCESSABLE_ENTITY || status == StatusCode::CONFLICT,
        "{status}: {body}"
    );
    assert_eq!(
        app.get(&format!("/api/v1/attachments/{id}"), Some(&owner.access))
            .await
            .0,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn s3_upload_larger_than_promised_is_refused() {
    larger_than_promised_is_refused(true).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn local_upload_larger_than_promised_is_refused() {
    larger_than_promised_is_refused(false).await;
}

async fn expired_upload_url_is_refused(s3: bool) {
    let (app, owner, project) = setup(s3, vec![("attachment_upload_ttl_secs", json!(1))]).await;
    let (_, announced) = announce(
        &app,
        &owner,
        &project,
        json!({"filename": "a.txt", "content_type": "text/plain", "size": 3}),
    )
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let status = upload(&announced, b"abc".to_vec()).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let id = announced["id"].as_str().unwrap();
    let (status, _) = app
        .call(
            Method::POST,
            &format!("/api/v1/attachments/{id}/complete"),
            Some(&owner.access),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
}

#[tokio::test(flavor = "multi_thread")]
async fn s3_expired_upload_url_is_refused() {
    expired_upload_url_is_refused(true).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn local_expired_upload_url_is_refused() {
    expired_upload_url_is_refused(false).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn types_sizes_and_roles_are_checked() {
    let (app, owner, project) = setup(false, vec![("attachment_max_bytes", json!(1000))]).await;
    let viewer = app.new_user().await;
    let outsider = app.new_user().await;
    app.post(
        &format!("/api/v1/projects/{project}/members"),
        Some(&owner.access),
        json!({"email": viewer.email, "role": "viewer"}),
    )
    .await;
    let cases = [
        (
            json!({"filename": "x.exe", "content_type": "application/x-msdownload", "size": 10}),
            422,
            Some("content_type"),
        ),
        (
            json!({"filename": "a/b.png", "content_type": "image/png", "size": 10}),
            422,
            Some("filename"),
        ),
        (
            json!({"filename": "x.png", "content_type": "image/png", "size": -1}),
            422,
            Some("size"),
        ),
        (
            json!({"filename": "x.png", "content_type": "image/png", "size": 1001}),
            413,
            None,
        ),
    ];
    for (body, want, field) in cases {
        let (status, problem) = announce(&app, &owner, &project, body).await;
        assert_eq!(status.as_u16(), want, "{problem}");
        if let Some(field) = field {
            assert_eq!(problem["errors"][0]["field"], field);
        }
    }
    let ok = json!({"filename": "x.png", "content_type": "image/png", "size": 10});
    assert_eq!(
        announce(&app, &viewer, &project, ok.clone()).await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        announce(&app, &outsider, &project, ok.clone()).await.0,
        StatusCode::NOT_FOUND
    );
    let (_, announced) = announce(&app, &owner, &project, ok).await;
    let id = announced["id"].as_str().unwrap();
    assert_eq!(
        app.delete(&format!("/api/v1/attachments/{id}"), Some(&viewer.access))
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.delete(&format!("/api/v1/attachments/{id}"), Some(&outsider.access))
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    // A forged local URL is refused.
    let res = reqwest::Client::new()
        .put(app.url("/api/v1/blobs/mdz_blob_forged"))
        .header("content-type", "image/png")
        .body(vec![0u8; 10])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
}
