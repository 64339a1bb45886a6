//! Mention mails: @mentions reach people by mail over real SMTP, batched (one mail for the
//! mentions of a wait, at most one mail per interval), never for a mention read in the app
//! in time, and not for people who turned them off or left the project.

use diesel::sql_types::{BigInt, Text};
use diesel_async::RunQueryDsl;
use mdz_tests::{MailSink, Options, Team, TestApp, TestUser};
use reqwest::StatusCode;
use serde_json::json;
use std::time::Duration;

const PUBLIC: &str = "https://docs.example.test";

async fn app(sink: &MailSink, delay_secs: u64) -> TestApp {
    TestApp::spawn_with(Options {
        config: vec![
            ("smtp_url", json!(sink.smtp_url())),
            ("mail_from", json!("mdz tests <noreply@example.test>")),
            ("public_url", json!(PUBLIC)),
            ("mention_mail_delay_secs", json!(delay_secs)),
            ("mention_mail_interval_secs", json!(600)),
        ],
        ..Options::default()
    })
    .await
}

async fn document(app: &TestApp, team: &Team) -> String {
    app.create_file(&team.owner, &team.project, "plan.md", "# Plan\n")
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn comment(app: &TestApp, author: &TestUser, file: &str, body: &str) {
    let (status, out) = app
        .post(
            &format!("/api/v1/files/{file}/comments"),
            Some(&author.access),
            json!({ "body": body }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{out}");
}

/// `user`'s mentions not yet mailed (nor passed over).
async fn unmailed(app: &TestApp, user: &TestUser) -> i64 {
    #[derive(diesel::QueryableByName)]
    struct Count {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }
    let mut conn = app.db().await;
    diesel::sql_query(
        "SELECT count(*) AS n FROM notifications WHERE user_id = $1::uuid AND mailed_at IS NULL",
    )
    .bind::<Text, _>(&user.id)
    .get_result::<Count>(&mut conn)
    .await
    .unwrap()
    .n
}

/// Mention mails queued for `user`.
async fn mention_mails(app: &TestApp, user: &TestUser) -> usize {
    app.sql(&format!(
        "UPDATE mail_outbox SET kind = kind WHERE recipient = '{}' AND kind = 'mention'",
        user.email
    ))
    .await
}

/// Mention mails that reached `to` (the sink also has the verification mails of sign-up).
fn mentions_mailed(sink: &MailSink, to: &str) -> usize {
    sink.to(to)
        .iter()
        .filter(|m| m.subject.contains("mention"))
        .count()
}

/// Wait until every mention of `user` was mailed or passed over.
async fn settled(app: &TestApp, user: &TestUser) {
    for _ in 0..150 {
        if unmailed(app, user).await == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("the mentions of {} were never settled", user.email);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_mentions_of_a_wait_arrive_in_one_mail_with_links_to_the_document() {
    let sink = MailSink::start().await;
    let app = app(&sink, 4).await;
    let team = Team::new(&app).await;
    let file = document(&app, &team).await;
    let to = &team.commenter.email;
    comment(
        &app,
        &team.editor,
        &file,
        &format!("@{to} <b>first</b> & look"),
    )
    .await;
    comment(&app, &team.admin, &file, &format!("and @{to} second")).await;

    let mail = sink.wait_for_subject(to, "2 new mentions on mdz").await;
    let link = format!("{PUBLIC}/p/{}/f/{file}", team.project);
    assert!(mail.text.contains(&link), "{}", mail.text);
    assert!(mail.text.contains("<b>first</b> & look"), "{}", mail.text);
    assert!(mail.text.contains("second"), "{}", mail.text);
    assert!(
        mail.text.contains(&format!("{PUBLIC}/settings")),
        "{}",
        mail.text
    );
    assert!(
        mail.html.contains("&lt;b&gt;first&lt;/b&gt; &amp; look"),
        "{}",
        mail.html
    );
    assert!(!mail.html.contains("<b>first"), "{}", mail.html);

    // The next mention waits for the interval: the viewer, mentioned after it, is mailed
    // while the commenter's stays unmailed.
    comment(&app, &team.editor, &file, &format!("@{to} third")).await;
    comment(
        &app,
        &team.editor,
        &file,
        &format!("@{} hi", team.viewer.email),
    )
    .await;
    sink.wait_for_subject(&team.viewer.email, "Test User mentioned you in Docs")
        .await;
    assert_eq!(unmailed(&app, &team.commenter).await, 1);
    assert_eq!(mentions_mailed(&sink, to), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_mention_read_in_time_or_turned_off_is_not_mailed() {
    let sink = MailSink::start().await;
    let app = app(&sink, 4).await;
    let team = Team::new(&app).await;
    let file = document(&app, &team).await;

    // Read in the app before the delay.
    comment(
        &app,
        &team.editor,
        &file,
        &format!("@{} read me", team.commenter.email),
    )
    .await;
    let (status, marked) = app
        .post(
            "/api/v1/notifications/read",
            Some(&team.commenter.access),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{marked}");
    assert_eq!(marked["updated"], 1);

    // Turned off.
    let (status, me) = app
        .patch(
            "/api/v1/auth/me",
            Some(&team.viewer.access),
            json!({ "mention_mails": false }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(me["mention_mails"], false);
    comment(
        &app,
        &team.editor,
        &file,
        &format!("@{} quiet", team.viewer.email),
    )
    .await;

    // No longer a member by then: nothing of the project reaches them.
    comment(
        &app,
        &team.editor,
        &file,
        &format!("@{} secret plans", team.admin.email),
    )
    .await;
    let (status, body) = app
        .delete(
            &format!(
                "/api/v1/projects/{}/members/{}",
                team.project, team.admin.id
            ),
            Some(&team.owner.access),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");

    settled(&app, &team.commenter).await;
    settled(&app, &team.viewer).await;
    settled(&app, &team.admin).await;
    assert_eq!(mention_mails(&app, &team.admin).await, 0);
    assert_eq!(mention_mails(&app, &team.commenter).await, 0);
    assert_eq!(mention_mails(&app, &team.viewer).await, 0);
    assert_eq!(mentions_mailed(&sink, &team.commenter.email), 0);
    assert_eq!(mentions_mailed(&sink, &team.viewer.email), 0);
}
