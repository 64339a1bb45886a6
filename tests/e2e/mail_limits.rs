//! Mail that cannot be turned against people or against the queue: invitations by e-mail
//! need a verified inviter and are limited per inviter and per address, and account mail (a
//! password reset) overtakes a flood of other mail in the outbox.

use mdz_tests::{MailSink, Options, Team, TestApp};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

async fn invite(app: &TestApp, token: &str, project: &str, body: Value) -> reqwest::Response {
    app.request(
        Method::POST,
        &format!("/api/v1/projects/{project}/invitations"),
        Some(token),
    )
    .json(&body)
    .send()
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unverified_inviter_may_share_a_link_but_not_send_mail() {
    let app = TestApp::spawn().await;
    let body = app
        .register_unverified("fresh-inviter@example.com", mdz_tests::PASSWORD, "Fresh")
        .await;
    let owner = mdz_tests::TestUser::from_auth("fresh-inviter@example.com".into(), &body);
    let project = app.project_with(&owner, &[]).await;

    let res = invite(
        &app,
        &owner.access,
        &project,
        json!({"role": "viewer", "email": "x@example.com"}),
    )
    .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let problem: Value = res.json().await.unwrap();
    assert_eq!(
        problem["type"].as_str().unwrap().rsplit(':').next(),
        Some("email-unverified")
    );
    assert_eq!(
        app.sql("UPDATE project_invitations SET role = role").await,
        0
    );
    assert_eq!(
        app.sql("UPDATE mail_outbox SET kind = kind WHERE kind = 'invitation'")
            .await,
        0
    );

    let res = invite(&app, &owner.access, &project, json!({"role": "viewer"})).await;
    assert_eq!(res.status(), StatusCode::CREATED);
}

async fn limited_app() -> TestApp {
    TestApp::spawn_with(Options {
        config: vec![
            ("invitation_mails_per_inviter", json!(4)),
            ("invitation_mails_per_pair", json!(2)),
            ("invitation_mails_per_address", json!(3)),
        ],
        ..Options::default()
    })
    .await
}

fn to(address: &str) -> Value {
    json!({"role": "viewer", "email": address})
}

async fn refused(res: reqwest::Response) -> (u64, String) {
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let problem: Value = res.json().await.unwrap();
    (retry, problem["detail"].as_str().unwrap().to_owned())
}

#[tokio::test(flavor = "multi_thread")]
async fn invitations_by_mail_are_limited_per_inviter_and_per_mailbox() {
    let app = limited_app().await;
    let team = Team::new(&app).await;
    let other = app.project_with(&team.admin, &[]).await;
    let third = app.project_with(&team.editor, &[]).await;
    let (owner, admin, editor) = (&team.owner.access, &team.admin.access, &team.editor.access);

    // Two from the owner to one mailbox; a third, even spelt with a +tag, waits a day.
    for address in ["victim@example.com", "Victim+news@example.com"] {
        let res = invite(&app, owner, &team.project, to(address)).await;
        assert_eq!(res.status(), StatusCode::CREATED);
    }
    let (retry, detail) =
        refused(invite(&app, owner, &team.project, to("victim+x@example.com")).await).await;
    assert!((86_000..=86_400).contains(&retry), "{retry}");
    assert!(detail.contains("to this address"), "{detail}");
    // Another inviter still may, until the mailbox had three from anyone: then the same
    // words, and a wait that tells nothing of when the others invited it.
    let res = invite(&app, admin, &other, to("victim@example.com")).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let (retry, detail) =
        refused(invite(&app, editor, &third, to("victim@example.com")).await).await;
    assert_eq!(retry, 3600);
    assert!(detail.contains("to this address"), "{detail}");

    // The owner sent two; two more to other addresses, then the fifth is refused.
    for n in 0..2 {
        let res = invite(&app, owner, &team.project, to(&format!("p{n}@example.com"))).await;
        assert_eq!(res.status(), StatusCode::CREATED);
    }
    let (_, detail) = refused(invite(&app, owner, &team.project, to("p9@example.com")).await).await;
    assert!(detail.contains("from you"), "{detail}");
    // Nothing of the refused ones was written; link invitations are not limited.
    let written = "UPDATE project_invitations SET role = role WHERE email IS NOT NULL";
    assert_eq!(app.sql(written).await, 5);
    let mails = "UPDATE mail_outbox SET kind = kind WHERE kind = 'invitation'";
    assert_eq!(app.sql(mails).await, 5);
    let res = invite(&app, owner, &team.project, json!({"role": "viewer"})).await;
    assert_eq!(res.status(), StatusCode::CREATED);
}

#[tokio::test(flavor = "multi_thread")]
async fn invitations_sent_at_once_cannot_pass_a_limit_together() {
    let app = limited_app().await;
    let team = Team::new(&app).await;
    let sent = futures_util::future::join_all((0..6).map(|_| {
        invite(
            &app,
            &team.owner.access,
            &team.project,
            to("once@example.com"),
        )
    }))
    .await;
    let created = sent
        .iter()
        .filter(|r| r.status() == StatusCode::CREATED)
        .count();
    let limited = sent
        .iter()
        .filter(|r| r.status() == StatusCode::TOO_MANY_REQUESTS)
        .count();
    let statuses: Vec<u16> = sent.iter().map(|r| r.status().as_u16()).collect();
    assert_eq!((created, limited), (2, 4), "{statuses:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_password_reset_overtakes_a_flood_of_other_mail() {
    let sink = MailSink::start().await;
    let app = TestApp::spawn_with(Options {
        config: vec![
            ("smtp_url", json!(sink.smtp_url())),
            ("mail_from", json!("mdz tests <noreply@example.test>")),
        ],
        ..Options::default()
    })
    .await;
    let user = app.new_user().await;
    const FLOOD: usize = 300;
    app.sql(&format!(
        "INSERT INTO mail_outbox (id, kind, recipient, subject, body_text, body_html)
         SELECT gen_random_uuid(), 'invitation', 'flood-' || n || '@example.test', 'Flood',
                'flood', '<p>flood</p>'
         FROM generate_series(1, {FLOOD}) AS n"
    ))
    .await;
    let (status, body) = app
        .post(
            "/api/v1/auth/password/forgot",
            None,
            json!({"email": user.email}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    sink.wait_for_subject(&user.email, "Reset your mdz password")
        .await;
    let flood_sent = sink.all().iter().filter(|m| m.subject == "Flood").count();
    // Without priorities the reset waited behind the whole flood.
    assert!(
        flood_sent < FLOOD / 2,
        "{flood_sent} of the flood went first"
    );
}
