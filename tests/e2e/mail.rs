//! E-mail: the outbox delivered over real SMTP (aiosmtpd), verification, password reset,
//! invitation mails, retries while the SMTP server is down, and several senders at once.

use mdz_tests::{MailSink, Options, PASSWORD, TestApp, TestUser};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;

const PUBLIC: &str = "https://docs.example.test";

async fn app_with_smtp(sink: &MailSink, extra: Vec<(&'static str, Value)>) -> TestApp {
    let mut config = vec![
        ("smtp_url", json!(sink.smtp_url())),
        ("mail_from", json!("mdz tests <noreply@example.test>")),
        ("public_url", json!(PUBLIC)),
    ];
    config.extend(extra);
    TestApp::spawn_with(Options {
        config,
        ..Options::default()
    })
    .await
}

fn unique_email() -> String {
    format!("mail-{}@example.com", uuid::Uuid::new_v4().simple())
}

async fn me(app: &TestApp, access: &str) -> Value {
    let (status, body) = app.get("/api/v1/auth/me", Some(access)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// Rows of the outbox for `to`.
async fn outbox_rows(app: &TestApp, to: &str) -> usize {
    app.sql(&format!(
        "UPDATE mail_outbox SET kind = kind WHERE recipient = '{to}'"
    ))
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_verification_mail_arrives_over_smtp_and_verifies_the_address() {
    let sink = MailSink::start().await;
    let app = app_with_smtp(&sink, vec![]).await;
    let email = unique_email();
    let body = app
        .register_unverified(&email, PASSWORD, "<b>Ada</b> & co")
        .await;
    let user = TestUser::from_auth(email.clone(), &body);
    assert_eq!(me(&app, &user.access).await["email_verified"], false);

    let mail = sink.wait_for(&email).await;
    assert_eq!(mail.from, "noreply@example.test");
    assert_eq!(mail.subject, "Confirm your e-mail address");
    let link = mail.link("token=");
    assert!(
        link.starts_with(&format!("{PUBLIC}/verify-email?token=mdz_ev_")),
        "{link}"
    );
    // The name is the registrant's text, sent to an address nobody has proven: left out.
    assert!(!mail.text.contains("Ada"), "{}", mail.text);
    assert!(!mail.html.contains("Ada"), "{}", mail.html);

    let token = mail.token("token=");
    let (status, body) = app
        .post("/api/v1/auth/verify-email", None, json!({"token": token}))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    assert_eq!(me(&app, &user.access).await["email_verified"], true);

    // Single use.
    let (status, body) = app
        .post("/api/v1/auth/verify-email", None, json!({"token": token}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["title"], "Invalid or expired link");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_registration_queues_no_mail() {
    let app = TestApp::spawn().await;
    let email = unique_email();
    app.register_unverified(&email, PASSWORD, "Ada").await;
    let (status, _) = app
        .post(
            "/api/v1/auth/register",
            None,
            json!({"email": email, "password": PASSWORD, "display_name": "Eve"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(outbox_rows(&app, &email).await, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn only_verified_accounts_can_be_added_by_email() {
    // No SMTP_URL: mails are logged and marked sent; the flows still work through the API.
    let app = TestApp::spawn().await;
    let owner = app.new_user().await;
    let email = unique_email();
    let body = app.register_unverified(&email, PASSWORD, "Bob").await;
    let bob = TestUser::from_auth(email.clone(), &body);
    let (status, p) = app
        .post(
            "/api/v1/projects",
            Some(&owner.access),
            json!({"name": "Team"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{p}");
    let members = format!("/api/v1/projects/{}/members", p["id"].as_str().unwrap());

    let (status, body) = app
        .post(
            &members,
            Some(&owner.access),
            json!({"email": email, "role": "editor"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(
        body["title"],
        "The account's e-mail address is not verified"
    );

    // An unverified account still uses its own projects.
    let (status, own) = app
        .post(
            "/api/v1/projects",
            Some(&bob.access),
            json!({"name": "Mine"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{own}");
    app.create_file(&bob, own["id"].as_str().unwrap(), "a.md", "# hi")
        .await;

    app.verify_email(&email).await;
    let (status, body) = app
        .post(
            &members,
            Some(&owner.access),
            json!({"email": email, "role": "editor"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_invitation_mail_carries_the_link_and_needs_a_verified_address() {
    let sink = MailSink::start().await;
    let app = app_with_smtp(&sink, vec![]).await;
    let owner = app.new_user().await;
    let (_, p) = app
        .post(
            "/api/v1/projects",
            Some(&owner.access),
            json!({"name": "R&D <notes>"}),
        )
        .await;
    let project = p["id"].as_str().unwrap().to_owned();
    let email = unique_email();
    let (status, inv) = app
        .post(
            &format!("/api/v1/projects/{project}/invitations"),
            Some(&owner.access),
            json!({"email": email, "role": "editor"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{inv}");

    let mail = sink.wait_for(&email).await;
    assert_eq!(
        mail.subject.split(" invited you to ").nth(1),
        Some("R&D <notes> on mdz")
    );
    assert!(mail.html.contains("R&amp;D &lt;notes&gt;"), "{}", mail.html);
    let token = mail.token("/invite/");
    assert_eq!(
        mail.link("/invite/"),
        format!("{PUBLIC}/invite/{token}"),
        "the link is built from PUBLIC_URL"
    );
    assert_eq!(inv["token"], token.as_str());

    // Whoever registers the address first cannot take the invitation before proving it.
    let body = app.register_unverified(&email, PASSWORD, "Bob").await;
    let bob = TestUser::from_auth(email.clone(), &body);
    let accept = format!("/api/v1/invitations/{token}/accept");
    let (status, body) = app.post(&accept, Some(&bob.access), json!({})).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["title"], "Verify your e-mail address first");

    let verify = sink
        .wait_for_subject(&email, "Confirm your e-mail address")
        .await;
    let (status, _) = app
        .post(
            "/api/v1/auth/verify-email",
            None,
            json!({"token": verify.token("token=")}),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = app.post(&accept, Some(&bob.access), json!({})).await;
    assert!(status.is_success(), "{status} {body}");
    assert_eq!(body["project_id"], project.as_str());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_password_reset_sets_the_password_once_and_signs_out_everywhere() {
    let sink = MailSink::start().await;
    let app = app_with_smtp(&sink, vec![]).await;
    let user = app.new_user().await;
    // A personal access token made before the reset (by whoever held the account).
    let (status, pat) = app
        .post(
            "/api/v1/auth/tokens",
            Some(&user.access),
            json!({"name": "laptop", "expires_in_days": 30}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{pat}");
    let pat = pat["token"].as_str().unwrap().to_owned();
    let (status, body) = app
        .post(
            "/api/v1/auth/password/forgot",
            None,
            json!({"email": user.email.to_uppercase()}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let mail = sink
        .wait_for_subject(&user.email, "Reset your mdz password")
        .await;
    assert!(
        mail.link("token=")
            .starts_with(&format!("{PUBLIC}/reset-password?token=mdz_pr_")),
        "{}",
        mail.text
    );
    let token = mail.token("token=");

    let reset = |password: &str| json!({"token": token, "password": password});
    let (status, body) = app
        .post("/api/v1/auth/password/reset", None, reset("short"))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");

    let new_password = "amber-lighthouse-77";
    let (status, body) = app
        .post("/api/v1/auth/password/reset", None, reset(new_password))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");

    // Every session ended: the access token and the refresh token are dead, and so is
    // every personal access token.
    let (status, _) = app.get("/api/v1/auth/me", Some(&user.access)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = app.get("/api/v1/auth/me", Some(&pat)).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "a token outlived the reset"
    );
    let (status, _) = app
        .post(
            "/api/v1/auth/refresh",
            None,
            json!({"refresh_token": user.refresh}),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let login = |password: &str| json!({"email": user.email, "password": password});
    let (status, _) = app.post("/api/v1/auth/login", None, login(PASSWORD)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, body) = app
        .post("/api/v1/auth/login", None, login(new_password))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // The token worked once.
    let (status, body) = app
        .post(
            "/api/v1/auth/password/reset",
            None,
            reset("another-fine-password-9"),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reset_token_expires_after_thirty_minutes() {
    let app = TestApp::spawn().await;
    let user = app.new_user().await;
    let (status, _) = app
        .post(
            "/api/v1/auth/password/forgot",
            None,
            json!({"email": user.email}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let token = app.outbox_token(&user.email, "password-reset").await;
    let aged = app
        .sql(
            "UPDATE auth_email_tokens SET expires_at = now() - interval '1 second' \
             WHERE purpose = 'reset' AND expires_at <= now() + interval '30 minutes'",
        )
        .await;
    assert_eq!(aged, 1, "one reset token, valid for at most 30 minutes");
    let (status, body) = app
        .post(
            "/api/v1/auth/password/reset",
            None,
            json!({"token": token, "password": "amber-lighthouse-77"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn forgot_password_for_an_unknown_address_is_indistinguishable() {
    let sink = MailSink::start().await;
    let app = app_with_smtp(&sink, vec![]).await;
    let user = app.new_user().await;
    let ask = async |email: &str| {
        let res = app
            .request(reqwest::Method::POST, "/api/v1/auth/password/forgot", None)
            .json(&json!({"email": email}))
            .send()
            .await
            .unwrap();
        let status = res.status();
        let mut headers: Vec<String> = res
            .headers()
            .iter()
            .filter(|(k, _)| *k != "x-request-id" && *k != "date")
            .map(|(k, v)| format!("{k}: {v:?}"))
            .collect();
        headers.sort();
        (status, headers, res.bytes().await.unwrap())
    };
    let unknown = unique_email();
    let known = ask(&user.email).await;
    let missing = ask(&unknown).await;
    assert_eq!(known.0, StatusCode::ACCEPTED);
    assert_eq!(known, missing);
    sink.wait_for_subject(&user.email, "Reset your mdz password")
        .await;
    assert_eq!(outbox_rows(&app, &unknown).await, 0);
    assert!(sink.to(&unknown).is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn forgot_password_is_limited_per_address_and_per_ip() {
    let app = TestApp::spawn_with(Options {
        config: vec![
            ("password_reset_max_per_address", json!(2)),
            ("password_reset_max_per_ip", json!(4)),
        ],
        ..Options::default()
    })
    .await;
    let forgot = async |email: &str| {
        app.post(
            "/api/v1/auth/password/forgot",
            None,
            json!({"email": email}),
        )
        .await
        .0
    };
    let one = unique_email();
    assert_eq!(forgot(&one).await, StatusCode::ACCEPTED);
    assert_eq!(forgot(&one).await, StatusCode::ACCEPTED);
    assert_eq!(forgot(&one).await, StatusCode::TOO_MANY_REQUESTS);
    // Two more from this address fit the per-IP limit of 4; the next does not.
    assert_eq!(forgot(&unique_email()).await, StatusCode::ACCEPTED);
    assert_eq!(forgot(&unique_email()).await, StatusCode::ACCEPTED);
    assert_eq!(forgot(&unique_email()).await, StatusCode::TOO_MANY_REQUESTS);
}

async fn metric(app: &TestApp, name: &str) -> f64 {
    let text = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {name} in /metrics"))
}

#[tokio::test(flavor = "multi_thread")]
async fn mail_waits_while_the_smtp_server_is_down_and_goes_out_when_it_returns() {
    let mut sink = MailSink::start().await;
    sink.stop().await;
    let app = app_with_smtp(&sink, vec![("mail_retry_base_secs", json!(1))]).await;
    let email = unique_email();
    app.register_unverified(&email, PASSWORD, "Ada").await;

    // At least two attempts fail while nothing listens.
    let mut failed = false;
    for _ in 0..100 {
        let n = app
            .sql(&format!(
                "UPDATE mail_outbox SET kind = kind WHERE recipient = '{email}' \
                 AND attempts >= 2 AND last_error IS NOT NULL AND sent_at IS NULL \
                 AND failed_at IS NULL"
            ))
            .await;
        if n == 1 {
            failed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(failed, "the delivery was tried and is waiting for a retry");
    assert!(metric(&app, "mdz_mail_delivery_errors_total").await >= 2.0);
    assert_eq!(metric(&app, "mdz_mail_backlog").await, 1.0);

    sink.resume().await;
    let mail = sink.wait_for(&email).await;
    assert_eq!(mail.subject, "Confirm your e-mail address");
    let sent = app
        .sql(&format!(
            "UPDATE mail_outbox SET kind = kind WHERE recipient = '{email}' AND sent_at IS NOT NULL"
        ))
        .await;
    assert_eq!(sent, 1);
    assert!(metric(&app, "mdz_mail_sent_total").await >= 1.0);
    assert!(metric(&app, "mdz_mail_queued_total").await >= 1.0);
}

#[tokio::test(flavor = "multi_thread")]
async fn two_replicas_deliver_every_mail_exactly_once() {
    let sink = MailSink::start().await;
    let a = app_with_smtp(&sink, vec![]).await;
    let b = TestApp::spawn_with(Options {
        replica_of: Some(a.replica()),
        config: vec![
            ("smtp_url", json!(sink.smtp_url())),
            ("public_url", json!(PUBLIC)),
        ],
        ..Options::default()
    })
    .await;
    let emails: Vec<String> = (0..12).map(|_| unique_email()).collect();
    for (i, email) in emails.iter().enumerate() {
        let app = if i % 2 == 0 { &a } else { &b };
        app.register_unverified(email, PASSWORD, "Ada").await;
    }
    for email in &emails {
        sink.wait_for(email).await;
    }
    // Both senders kept polling meanwhile; give a duplicate time to show up.
    tokio::time::sleep(Duration::from_secs(2)).await;
    for email in &emails {
        assert_eq!(sink.to(email).len(), 1, "{email} got exactly one mail");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_verification_mail_can_be_sent_again_until_the_address_is_verified() {
    let app = TestApp::spawn().await;
    let email = unique_email();
    let body = app.register_unverified(&email, PASSWORD, "Ada").await;
    let user = TestUser::from_auth(email.clone(), &body);
    let resend = async || {
        app.call(
            reqwest::Method::POST,
            "/api/v1/auth/verify-email/resend",
            Some(&user.access),
            None,
        )
        .await
    };
    let (status, body) = resend().await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(outbox_rows(&app, &email).await, 2);
    // The newest link works (the first one still does too: each is single use on its own).
    let token = app.outbox_token(&email, "verify-email").await;
    let (status, body) = app
        .post("/api/v1/auth/verify-email", None, json!({"token": token}))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    assert_eq!(me(&app, &user.access).await["email_verified"], true);
    let (status, body) = resend().await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(outbox_rows(&app, &email).await, 2);

    // Limited per account (3 per window by default): the fourth ask is refused.
    let other = unique_email();
    let body = app.register_unverified(&other, PASSWORD, "Bob").await;
    let bob = TestUser::from_auth(other, &body);
    let mut statuses = Vec::new();
    for _ in 0..4 {
        let (status, _) = app
            .call(
                reqwest::Method::POST,
                "/api/v1/auth/verify-email/resend",
                Some(&bob.access),
                None,
            )
            .await;
        statuses.push(status);
    }
    assert_eq!(
        statuses,
        [
            StatusCode::ACCEPTED,
            StatusCode::ACCEPTED,
            StatusCode::ACCEPTED,
            StatusCode::TOO_MANY_REQUESTS
        ]
    );
    let (status, _) = app
        .call(
            reqwest::Method::POST,
            "/api/v1/auth/verify-email/resend",
            None,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}
