//! Bearer tokens: personal access tokens, and access tokens that are expired, tampered with,
//! signed by another key, or missing.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use mdz_tests::TestApp;
use reqwest::{Method, StatusCode};
use serde_json::json;

#[tokio::test(flavor = "multi_thread")]
async fn personal_access_tokens_are_shown_once_work_as_bearer_and_can_be_deleted() {
    let app = TestApp::spawn().await;
    let user = app.new_user().await;
    let (status, created) = app
        .post(
            "/api/v1/auth/tokens",
            Some(&user.access),
            json!({"name": "VS Code", "expires_in_days": 30}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let pat = created["token"].as_str().unwrap().to_owned();
    assert!(pat.starts_with("mdz_pat_"));
    assert_eq!(created["name"], "VS Code");
    assert!(created["expires_at"].is_string());
    assert!(pat.starts_with(created["prefix"].as_str().unwrap()));

    let (status, me) = app.get("/api/v1/auth/me", Some(&pat)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["id"], user.id.as_str());

    let (_, list) = app.get("/api/v1/auth/tokens", Some(&user.access)).await;
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert!(
        items[0].get("token").is_none(),
        "the secret is never listed"
    );
    assert!(
        items[0]["last_used_at"].is_string(),
        "use is recorded: {list}"
    );

    // Another user cannot delete it.
    let stranger = app.new_user().await;
    let id = created["id"].as_str().unwrap();
    let path = format!("/api/v1/auth/tokens/{id}");
    assert_eq!(
        app.call(Method::DELETE, &path, Some(&stranger.access), None)
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.call(Method::DELETE, &path, Some(&user.access), None)
            .await
            .0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.get("/api/v1/auth/me", Some(&pat)).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.call(Method::DELETE, &path, Some(&user.access), None)
            .await
            .0,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn token_requests_are_validated_and_lists_paginate() {
    let app = TestApp::spawn().await;
    let user = app.new_user().await;
    for (body, field) in [
        (json!({"name": ""}), "name"),
        (
            json!({"name": "ok", "expires_in_days": 0}),
            "expires_in_days",
        ),
        (
            json!({"name": "ok", "expires_in_days": 99999}),
            "expires_in_days",
        ),
    ] {
        let (status, problem) = app
            .post("/api/v1/auth/tokens", Some(&user.access), body)
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(problem["errors"][0]["field"], field);
    }
    for i in 0..5 {
        let (status, _) = app
            .post(
                "/api/v1/auth/tokens",
                Some(&user.access),
                json!({"name": format!("t{i}")}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED);
    }
    let mut names = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/auth/tokens?limit=2&cursor={c}"),
            None => "/api/v1/auth/tokens?limit=2".to_owned(),
        };
        let (status, page) = app.get(&path, Some(&user.access)).await;
        assert_eq!(status, StatusCode::OK);
        names.extend(
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t["name"].as_str().unwrap().to_owned()),
        );
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(
        names,
        ["t4", "t3", "t2", "t1", "t0"],
        "newest first, each once"
    );
    for bad in ["?limit=0", "?limit=1000", "?limit=abc", "?cursor=%%%"] {
        let (status, body) = app
            .get(&format!("/api/v1/auth/tokens{bad}"), Some(&user.access))
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {body}");
    }
}

fn sign(pem: &[u8], claims: &serde_json::Value) -> String {
    let key = jsonwebtoken::EncodingKey::from_ed_pem(pem).unwrap();
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA),
        claims,
        &key,
    )
    .unwrap()
}

fn claims_of(token: &str) -> serde_json::Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

async fn assert_rejected(app: &TestApp, token: &str, why: &str) {
    let res = app
        .request(Method::GET, "/api/v1/auth/me", Some(token))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{why}");
    assert!(
        res.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Bearer"),
        "{why}"
    );
    assert_eq!(
        res.headers()["content-type"],
        "application/problem+json",
        "{why}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn expired_tampered_foreign_and_missing_tokens_are_401() {
    let app = TestApp::spawn().await;
    let user = app.new_user().await;
    let our_key = std::fs::read(app.data_dir.join("keys/jwt-ed25519.pem")).unwrap();

    // Expired, but otherwise genuine: signed with the server's own key.
    let mut claims = claims_of(&user.access);
    let now = chrono::Utc::now().timestamp();
    claims["iat"] = json!(now - 3600);
    claims["exp"] = json!(now - 60);
    let expired = sign(&our_key, &claims);
    assert_rejected(&app, &expired, "expired").await;
    // The same claims with a future expiry pass: the rejection above was the expiry.
    claims["exp"] = json!(now + 600);
    assert_eq!(
        app.get("/api/v1/auth/me", Some(&sign(&our_key, &claims)))
            .await
            .0,
        StatusCode::OK
    );

    // Tampered: another user's id in the payload, original signature.
    let mut parts: Vec<String> = user.access.split('.').map(str::to_owned).collect();
    let mut forged = claims_of(&user.access);
    forged["sub"] = json!(uuid::Uuid::now_v7());
    parts[1] = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&forged).unwrap());
    assert_rejected(&app, &parts.join("."), "tampered").await;

    // Signed by a key that is not ours.
    let doc =
        aws_lc_rs::signature::Ed25519KeyPair::generate_pkcs8(&aws_lc_rs::rand::SystemRandom::new())
            .unwrap();
    let b64 = base64::engine::general_purpose::STANDARD.encode(doc.as_ref());
    let other_pem = format!("-----BEGIN PRIVATE KEY-----\n{b64}\n-----END PRIVATE KEY-----\n");
    assert_rejected(
        &app,
        &sign(other_pem.as_bytes(), &claims_of(&user.access)),
        "foreign key",
    )
    .await;

    // The "none" algorithm and garbage.
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let body = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims_of(&user.access)).unwrap());
    assert_rejected(&app, &format!("{header}.{body}."), "alg none").await;
    assert_rejected(&app, "garbage", "garbage").await;
    assert_rejected(&app, "mdz_pat_unknown", "unknown PAT").await;

    // Missing or with another scheme.
    let res = app
        .client
        .get(app.url("/api/v1/auth/me"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert!(
        res.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Bearer")
    );
    let res = app
        .client
        .get(app.url("/api/v1/auth/me"))
        .header("authorization", format!("Basic {}", user.access))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
}
