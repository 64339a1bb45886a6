//! Changing an account's address: the new address confirms it (over real SMTP), the old one
//! is told, and nothing changes without the password, for a taken address, or before the
//! link is followed.

use mdz_tests::{MailSink, Options, PASSWORD, TestApp, TestUser};
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn app_with_smtp(sink: &MailSink) -> TestApp {
    TestApp::spawn_with(Options {
        config: vec![
            ("smtp_url", json!(sink.smtp_url())),
            ("mail_from", json!("mdz tests <noreply@example.test>")),
            ("public_url", json!("https://docs.example.test")),
        ],
        ..Options::default()
    })
    .await
}

async fn me(app: &TestApp, user: &TestUser) -> Value {
    let (status, body) = app.get("/api/v1/auth/me", Some(&user.access)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

async fn change(
    app: &TestApp,
    user: &TestUser,
    email: &str,
    password: &str,
) -> (StatusCode, Value) {
    app.post(
        "/api/v1/auth/email",
        Some(&user.access),
        json!({"email": email, "current_password": password}),
    )
    .await
}

async fn login(app: &TestApp, email: &str) -> StatusCode {
    app.post(
        "/api/v1/auth/login",
        None,
        json!({"email": email, "password": PASSWORD}),
    )
    .await
    .0
}

#[tokio::test(flavor = "multi_thread")]
async fn a_new_address_takes_effect_when_its_link_is_followed() {
    let sink = MailSink::start().await;
    let app = app_with_smtp(&sink).await;
    let user = app.new_user().await;
    let new = format!("moved-{}@example.org", uuid::Uuid::new_v4().simple());

    let (status, body) = change(&app, &user, &new, PASSWORD).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    // Nothing changes before the new address answers.
    assert_eq!(me(&app, &user).await["email"], user.email.as_str());
    let notice = sink
        .wait_for_subject(&user.email, "Your mdz address is being changed")
        .await;
    assert!(notice.text.contains(&new), "{}", notice.text);
    let confirm = sink
        .wait_for_subject(&new, "Confirm your new e-mail address")
        .await;
    let token = confirm.token("token=");

    let (status, body) = app
        .post("/api/v1/auth/verify-email", None, json!({"token": token}))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let now = me(&app, &user).await;
    assert_eq!(now["email"], new.as_str());
    assert_eq!(now["email_verified"], true);
    assert_eq!(login(&app, &new).await, StatusCode::OK);
    assert_eq!(login(&app, &user.email).await, StatusCode::UNAUTHORIZED);
    // Single use.
    let (status, _) = app
        .post("/api/v1/auth/verify-email", None, json!({"token": token}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_change_needs_the_password_and_an_address_no_one_has() {
    let sink = MailSink::start().await;
    let app = app_with_smtp(&sink).await;
    let user = app.new_user().await;
    let other = app.new_user().await;

    let (status, body) = change(&app, &user, "fresh@example.org", "not-the-password-1").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["errors"][0]["field"], "current_password", "{body}");
    let (status, body) = change(&app, &user, &other.email, PASSWORD).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let (status, body) = change(&app, &user, &user.email, PASSWORD).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (status, body) = change(&app, &user, "no-at-sign", PASSWORD).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");

    // Free when asked, taken before the link is followed: refused then, nothing changed.
    let wanted = format!("wanted-{}@example.org", uuid::Uuid::new_v4().simple());
    let (status, body) = change(&app, &user, &wanted, PASSWORD).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let token = sink
        .wait_for_subject(&wanted, "Confirm your new e-mail address")
        .await
        .token("token=");
    app.register_unverified(&wanted, PASSWORD, "Squatter").await;
    let (status, body) = app
        .post("/api/v1/auth/verify-email", None, json!({"token": token}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(me(&app, &user).await["email"], user.email.as_str());
}
