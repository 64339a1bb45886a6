//! Register, login, refresh rotation and reuse, logout, profile, password change, sessions.

use mdz_tests::{PASSWORD, TestApp, TestUser};
use reqwest::{Method, StatusCode};
use serde_json::json;

#[tokio::test(flavor = "multi_thread")]
async fn register_returns_the_user_and_a_working_token_pair() {
    let app = TestApp::spawn().await;
    let body = app
        .register_unverified("  Ada.Lovelace@Example.COM ", PASSWORD, "  Ada Lovelace ")
        .await;
    assert_eq!(body["user"]["email"], "ada.lovelace@example.com");
    assert_eq!(body["user"]["email_verified"], false);
    assert_eq!(body["user"]["display_name"], "Ada Lovelace");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 900);
    assert!(body["user"]["created_at"].is_string());
    assert!(
        body["refresh_token"]
            .as_str()
            .unwrap()
            .starts_with("mdz_rt_")
    );
    assert!(body.get("password_hash").is_none() && body["user"].get("password_hash").is_none());
    let token = body["access_token"].as_str().unwrap();
    let (status, me) = app.get("/api/v1/auth/me", Some(token)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me, body["user"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_account_with_the_same_email_in_any_case_is_a_conflict() {
    let app = TestApp::spawn().await;
    app.register("grace@example.com", PASSWORD, "Grace").await;
    let (status, body) = app
        .post(
            "/api/v1/auth/register",
            None,
            json!({"email": "GRACE@example.com", "password": PASSWORD, "display_name": "G"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["type"], "urn:mdz:problem:conflict");
}

#[tokio::test(flavor = "multi_thread")]
async fn weak_passwords_and_bad_fields_are_422_with_field_errors() {
    let app = TestApp::spawn().await;
    for (email, password, name, field) in [
        ("a@example.com", "short", "A", "password"),
        ("a@example.com", "password123", "A", "password"),
        ("a@example.com", "1234567890", "A", "password"),
        ("not-an-email", PASSWORD, "A", "email"),
        ("a@example.com", PASSWORD, "", "display_name"),
        ("a@example.com", PASSWORD, &"x".repeat(101), "display_name"),
    ] {
        let (status, body) = app
            .post(
                "/api/v1/auth/register",
                None,
                json!({"email": email, "password": password, "display_name": name}),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{field}: {body}");
        assert_eq!(body["errors"][0]["field"], field, "{body}");
    }
    // Nothing was half-written: the address is still free.
    app.register("a@example.com", PASSWORD, "A").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn login_succeeds_and_failures_are_one_generic_401() {
    let app = TestApp::spawn().await;
    app.register("linus@example.com", PASSWORD, "Linus").await;
    let (status, body) = app
        .post(
            "/api/v1/auth/login",
            None,
            json!({"email": "Linus@Example.com", "password": PASSWORD}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["user"]["email"], "linus@example.com");

    let (s1, wrong_pw) = app
        .post(
            "/api/v1/auth/login",
            None,
            json!({"email": "linus@example.com", "password": "not-the-password"}),
        )
        .await;
    let (s2, unknown) = app
        .post(
            "/api/v1/auth/login",
            None,
            json!({"email": "nobody@example.com", "password": "not-the-password"}),
        )
        .await;
    assert_eq!(s1, StatusCode::UNAUTHORIZED);
    assert_eq!(s2, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong_pw["detail"], unknown["detail"]);
    assert_eq!(wrong_pw["type"], unknown["type"]);
}

async fn refresh(app: &TestApp, token: &str) -> (StatusCode, serde_json::Value) {
    app.post(
        "/api/v1/auth/refresh",
        None,
        json!({"refresh_token": token}),
    )
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn refresh_rotates_and_reuse_revokes_the_whole_session() {
    let app = TestApp::spawn().await;
    let user = app.new_user().await;

    let (status, second) = refresh(&app, &user.refresh).await;
    assert_eq!(status, StatusCode::OK, "{second}");
    let second = TestUser::from_auth(user.email.clone(), &second);
    assert_ne!(second.refresh, user.refresh);
    assert_eq!(
        app.get("/api/v1/auth/me", Some(&second.access)).await.0,
        StatusCode::OK
    );

    // The first refresh token was spent: presenting it again is reuse.
    let (status, body) = refresh(&app, &user.refresh).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    // …and the whole session is gone: the newest refresh and access tokens too.
    assert_eq!(
        refresh(&app, &second.refresh).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.get("/api/v1/auth/me", Some(&second.access)).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.get("/api/v1/auth/me", Some(&user.access)).await.0,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_refreshes_with_one_token_never_both_succeed() {
    let app = TestApp::spawn().await;
    let user = app.new_user().await;
    let (a, b) = tokio::join!(refresh(&app, &user.refresh), refresh(&app, &user.refresh));
    let oks = [a.0, b.0].iter().filter(|s| **s == StatusCode::OK).count();
    assert!(oks <= 1, "{a:?} {b:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_refresh_token_is_401() {
    let app = TestApp::spawn().await;
    let (status, body) = refresh(&app, "mdz_rt_not-a-token").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["status"], 401);
}

#[tokio::test(flavor = "multi_thread")]
async fn logout_revokes_access_and_refresh_at_once() {
    let app = TestApp::spawn().await;
    let user = app.new_user().await;
    let (status, body) = app
        .call(
            Method::POST,
            "/api/v1/auth/logout",
            Some(&user.access),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let res = app
        .request(Method::GET, "/api/v1/auth/me", Some(&user.access))
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
    assert_eq!(
        refresh(&app, &user.refresh).await.0,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn revocation_survives_a_restart_of_a_single_node() {
    let app = TestApp::spawn().await;
    let user = app.new_user().await;
    app.call(
        Method::POST,
        "/api/v1/auth/logout",
        Some(&user.access),
        None,
    )
    .await;
    // A second process on the same database and key, with an empty in-process revocation list.
    let restarted = TestApp::spawn_with(mdz_tests::Options {
        replica_of: Some(app.replica()),
        ..Default::default()
    })
    .await;
    assert_eq!(
        restarted.get("/api/v1/auth/me", Some(&user.access)).await.0,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn profile_can_be_read_and_renamed() {
    let app = TestApp::spawn().await;
    let user = app.new_user().await;
    let (status, body) = app
        .call(
            Method::PATCH,
            "/api/v1/auth/me",
            Some(&user.access),
            Some(json!({"display_name": "  New Name "})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["display_name"], "New Name");
    let (_, me) = app.get("/api/v1/auth/me", Some(&user.access)).await;
    assert_eq!(me["display_name"], "New Name");
    let (status, body) = app
        .call(
            Method::PATCH,
            "/api/v1/auth/me",
            Some(&user.access),
            Some(json!({"display_name": "bad\u{0007}name"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["errors"][0]["field"], "display_name");
}

#[tokio::test(flavor = "multi_thread")]
async fn password_change_signs_out_other_sessions_only() {
    let app = TestApp::spawn().await;
    let laptop = app.new_user().await;
    let (_, phone) = app
        .post(
            "/api/v1/auth/login",
            None,
            json!({"email": laptop.email, "password": PASSWORD}),
        )
        .await;
    let phone = TestUser::from_auth(laptop.email.clone(), &phone);

    let change =
        |current: &str, new: &str| json!({"current_password": current, "new_password": new});
    let (status, body) = app
        .post(
            "/api/v1/auth/password",
            Some(&laptop.access),
            change("wrong-current-pw", "a-brand-new-passphrase"),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["errors"][0]["field"], "current_password");
    let (status, body) = app
        .post(
            "/api/v1/auth/password",
            Some(&laptop.access),
            change(PASSWORD, "tiny"),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["errors"][0]["field"], "new_password");

    let (status, _) = app
        .post(
            "/api/v1/auth/password",
            Some(&laptop.access),
            change(PASSWORD, "a-brand-new-passphrase"),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(
        app.get("/api/v1/auth/me", Some(&laptop.access)).await.0,
        StatusCode::OK
    );
    assert_eq!(
        app.get("/api/v1/auth/me", Some(&phone.access)).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        refresh(&app, &phone.refresh).await.0,
        StatusCode::UNAUTHORIZED
    );
    let login = |pw: &str| json!({"email": laptop.email, "password": pw});
    assert_eq!(
        app.post("/api/v1/auth/login", None, login(PASSWORD))
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.post("/api/v1/auth/login", None, login("a-brand-new-passphrase"))
            .await
            .0,
        StatusCode::OK
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sessions_list_pages_marks_current_and_can_revoke_a_device() {
    let app = TestApp::spawn().await;
    let first = app.new_user().await;
    let mut others = Vec::new();
    for _ in 0..2 {
        let res = app
            .client
            .post(app.url("/api/v1/auth/login"))
            .header("user-agent", "mdz-vscode/1.0")
            .json(&json!({"email": first.email, "password": PASSWORD}))
            .send()
            .await
            .unwrap();
        let body: serde_json::Value = res.json().await.unwrap();
        others.push(TestUser::from_auth(first.email.clone(), &body));
    }

    let (status, page) = app
        .get("/api/v1/auth/sessions?limit=2", Some(&first.access))
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page["items"].as_array().unwrap().len(), 2);
    let cursor = page["next_cursor"].as_str().unwrap().to_owned();
    let (_, rest) = app
        .get(
            &format!("/api/v1/auth/sessions?limit=2&cursor={cursor}"),
            Some(&first.access),
        )
        .await;
    assert_eq!(rest["items"].as_array().unwrap().len(), 1);
    assert!(rest["next_cursor"].is_null());
    let all: Vec<serde_json::Value> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .chain(rest["items"].as_array().unwrap())
        .cloned()
        .collect();
    assert_eq!(all.iter().filter(|s| s["current"] == true).count(), 1);
    assert_eq!(
        all.iter()
            .filter(|s| s["user_agent"] == "mdz-vscode/1.0")
            .count(),
        2
    );
    assert!(all.iter().all(|s| s["ip"] == "127.0.0.1"));

    // Sign out the newest other device from the first.
    let newest = page["items"][0]["id"].as_str().unwrap();
    let (status, _) = app
        .call(
            Method::DELETE,
            &format!("/api/v1/auth/sessions/{newest}"),
            Some(&first.access),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(
        app.get("/api/v1/auth/me", Some(&others[1].access)).await.0,
        StatusCode::UNAUTHORIZED
    );
    let (_, after) = app.get("/api/v1/auth/sessions", Some(&first.access)).await;
    assert_eq!(after["items"].as_array().unwrap().len(), 2);

    // Someone else's session, or a malformed id, is simply not found.
    let stranger = app.new_user().await;
    let (status, _) = app
        .call(
            Method::DELETE,
            &format!(
                "/api/v1/auth/sessions/{}",
                page["items"][1]["id"].as_str().unwrap()
            ),
            Some(&stranger.access),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = app
        .call(
            Method::DELETE,
            "/api/v1/auth/sessions/not-a-uuid",
            Some(&first.access),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["status"], 404);
}

#[tokio::test(flavor = "multi_thread")]
async fn jwks_publishes_the_verifying_key() {
    let app = TestApp::spawn().await;
    let user = app.new_user().await;
    let (status, jwks) = app.get("/.well-known/jwks.json", None).await;
    assert_eq!(status, StatusCode::OK);
    let key = &jwks["keys"][0];
    assert_eq!(key["kty"], "OKP");
    assert_eq!(key["crv"], "Ed25519");
    assert_eq!(key["alg"], "EdDSA");
    // A split-out service verifies an mdz token with nothing but the JWKS.
    let header = jsonwebtoken::decode_header(&user.access).unwrap();
    assert_eq!(header.kid.as_deref(), key["kid"].as_str());
    let decoding =
        jsonwebtoken::DecodingKey::from_ed_components(key["x"].as_str().unwrap()).unwrap();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::EdDSA);
    validation.set_issuer(&["mdz"]);
    let data =
        jsonwebtoken::decode::<serde_json::Value>(&user.access, &decoding, &validation).unwrap();
    assert_eq!(data.claims["sub"], user.id.as_str());
}

#[tokio::test(flavor = "multi_thread")]
async fn the_signing_key_survives_a_restart() {
    let app = TestApp::spawn().await;
    let user = app.new_user().await;
    let again = TestApp::spawn_with(mdz_tests::Options {
        replica_of: Some(app.replica()),
        ..Default::default()
    })
    .await;
    assert_eq!(
        again.get("/api/v1/auth/me", Some(&user.access)).await.0,
        StatusCode::OK
    );
}
