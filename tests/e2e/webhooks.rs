//! Webhooks: signed deliveries checked with the `standardwebhooks` reference library, retries
//! against a receiver that fails first, the delivery log and redelivery, SSRF refusals (at
//! creation and at delivery), redirects not followed, disabling after persistent failure with
//! the admins' mail, `file.updated` coalescing, limits and the role matrix.

use mdz_tests::{
    MailSink, Options, ROLES, Team, TestApp, TestUser, WebhookReceiver,
    verify_with_standardwebhooks,
};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::time::Duration;

async fn app_with(config: Vec<(&'static str, Value)>) -> TestApp {
    TestApp::spawn_with(Options {
        config,
        ..Options::default()
    })
    .await
}

/// An app whose webhooks may call the test's receiver on 127.0.0.1, retrying after `retries`.
async fn local_app(retries: &str) -> TestApp {
    app_with(vec![
        ("webhook_allow_private", json!(true)),
        ("webhook_retry_secs", json!(retries)),
    ])
    .await
}

async fn create_hook(
    app: &TestApp,
    user: &TestUser,
    project: &str,
    url: &str,
    events: &[&str],
) -> (StatusCode, Value) {
    app.post(
        &format!("/api/v1/projects/{project}/webhooks"),
        Some(&user.access),
        json!({"url": url, "events": events}),
    )
    .await
}

async fn deliveries(app: &TestApp, user: &TestUser, hook: &str) -> Vec<Value> {
    let (status, body) = app
        .get(
            &format!("/api/v1/webhooks/{hook}/deliveries"),
            Some(&user.access),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["items"].as_array().unwrap().clone()
}

/// Wait (up to 30 s) until the newest delivery of `hook` is `status`.
async fn wait_for_status(app: &TestApp, user: &TestUser, hook: &str, status: &str) -> Value {
    for _ in 0..300 {
        if let Some(d) = deliveries(app, user, hook).await.first()
            && d["status"] == status
        {
            return d.clone();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "no {status} delivery: {:?}",
        deliveries(app, user, hook).await
    );
}

async fn save(app: &TestApp, user: &TestUser, file: &str, content: &str) -> Value {
    let (status, body) = app
        .call(
            Method::PUT,
            &format!("/api/v1/files/{file}"),
            Some(&user.access),
            Some(json!({"content": content})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

#[tokio::test(flavor = "multi_thread")]
async fn deliveries_are_signed_retried_logged_and_redelivered() {
    let receiver = WebhookReceiver::start(1).await;
    let app = local_app("1,1,1").await;
    let team = Team::new(&app).await;
    let (status, created) = create_hook(
        &app,
        &team.admin,
        &team.project,
        &receiver.url("/hook"),
        &["file.created", "file.deleted"],
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let secret = created["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"), "{secret}");
    let hook = created["id"].as_str().unwrap().to_owned();
    insta::assert_json_snapshot!("webhook_created", created, {
        ".id" => "[id]", ".project_id" => "[id]", ".created_at" => "[time]",
        ".secret" => "[secret]", ".url" => "[url]", ".created_by" => "[id]",
    });
    assert_eq!(created["created_by"], team.admin.id.as_str());
    let (_, shown) = app
        .get(
            &format!("/api/v1/webhooks/{hook}"),
            Some(&team.owner.access),
        )
        .await;
    assert!(shown.get("secret").is_none(), "{shown}");
    assert!(!shown.to_string().contains(&secret[6..]));

    let file = team.document(&app, "notes/a.md", "hello").await;
    // The first attempt gets a 500, the retry a 200.
    let got = receiver.wait_for(2, 30).await;
    assert_eq!((got[0].answered, got[1].answered), (500, 200));
    assert_eq!(got[0].headers["webhook-id"], got[1].headers["webhook-id"]);
    assert_eq!(got[0].headers["content-type"], "application/json");
    let checked = verify_with_standardwebhooks(&secret, &got).await;
    for payload in &checked {
        let payload = payload.as_ref().unwrap();
        assert_eq!(payload["type"], "file.created");
        assert_eq!(payload["data"]["file_id"], file.as_str());
        assert_eq!(payload["data"]["path"], "notes/a.md");
        assert_eq!(payload["data"]["project_id"], team.project.as_str());
        assert_eq!(payload["data"]["actor_id"], team.owner.id.as_str());
        assert!(payload["timestamp"].as_str().unwrap().ends_with('Z'));
    }
    // The verifier can fail: another secret does not verify them.
    let (_, other) = create_hook(
        &app,
        &team.owner,
        &team.project,
        &receiver.url("/other"),
        &["member.added"],
    )
    .await;
    let wrong = verify_with_standardwebhooks(other["secret"].as_str().unwrap(), &got).await;
    assert!(wrong.iter().all(Result::is_err), "{wrong:?}");

    let log = wait_for_status(&app, &team.admin, &hook, "delivered").await;
    assert_eq!(log["id"], got[0].headers["webhook-id"].as_str());
    assert_eq!(log["attempt_count"], 2);
    assert_eq!(log["attempts"][0]["status_code"], 200);
    assert_eq!(log["attempts"][0]["response_excerpt"], "thanks");
    assert_eq!(log["attempts"][1]["status_code"], 500);
    assert_eq!(log["attempts"][1]["error"], "HTTP 500");
    insta::assert_json_snapshot!("webhook_delivery", log, {
        ".id" => "[id]", ".webhook_id" => "[id]", ".created_at" => "[time]",
        ".delivered_at" => "[time]", ".attempts[].at" => "[time]",
        ".attempts[].duration_ms" => "[ms]", ".payload.timestamp" => "[time]",
        ".payload.data.file_id" => "[id]", ".payload.data.project_id" => "[id]",
        ".payload.data.actor_id" => "[id]", ".payload.data.event_id" => "[event]",
    });

    // Redelivery: the same id, signed again, a third attempt in the log.
    let (status, body) = app
        .post(
            &format!(
                "/api/v1/webhooks/{hook}/deliveries/{}/redeliver",
                log["id"].as_str().unwrap()
            ),
            Some(&team.admin.access),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let got = receiver.wait_for(3, 30).await;
    assert_eq!(got[2].headers["webhook-id"], got[0].headers["webhook-id"]);
    assert!(verify_with_standardwebhooks(&secret, &got[2..]).await[0].is_ok());
    for _ in 0..100 {
        let d = deliveries(&app, &team.admin, &hook).await;
        if d[0]["attempt_count"] == 3 && d[0]["status"] == "delivered" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        deliveries(&app, &team.admin, &hook).await[0]["attempt_count"],
        3
    );

    // A deletion is an event too; an event nobody subscribed to (an update) is not sent.
    save(&app, &team.owner, &file, "changed").await;
    app.delete(&format!("/api/v1/files/{file}"), Some(&team.owner.access))
        .await;
    let got = receiver.wait_for(4, 30).await;
    assert_eq!(got[3].json()["type"], "file.deleted");
    assert!(
        !receiver
            .requests()
            .iter()
            .any(|r| r.json()["type"] == "file.updated")
    );

    let (_, metrics) = app.get("/metrics", None).await;
    assert!(
        metrics
            .as_str()
            .unwrap()
            .contains("mdz_webhook_delivered_total"),
    );

    // Deliveries are kept DELIVERY_RETENTION (30 days), then purged with their attempts.
    app.sql(&format!(
        "UPDATE webhook_deliveries SET created_at = now() - interval '31 days' WHERE webhook_id = '{hook}'"
    ))
    .await;
    for _ in 0..100 {
        if deliveries(&app, &team.admin, &hook).await.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(deliveries(&app, &team.admin, &hook).await.is_empty());
    assert_eq!(
        app.sql("UPDATE webhook_attempts SET error = error").await,
        0
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn internal_addresses_are_refused_at_creation_and_at_delivery() {
    let receiver = WebhookReceiver::start(0).await;
    let app = app_with(vec![("webhook_retry_secs", json!("60"))]).await;
    let team = Team::new(&app).await;
    let port = receiver.port;
    for url in [
        format!("http://127.0.0.1:{port}/hook"),
        "http://10.1.2.3/hook".to_owned(),
        "http://192.168.0.10/hook".to_owned(),
        "http://169.254.169.254/latest/meta-data/".to_owned(),
        "http://[::1]/hook".to_owned(),
        "http://[::ffff:127.0.0.1]/hook".to_owned(),
        "http://[fd00::1]/hook".to_owned(),
        "http://[2002:a9fe:a9fe::1]/hook".to_owned(),
        "http://[64:ff9b:1::a00:1]/hook".to_owned(),
        "http://[2001::1]/hook".to_owned(),
        "http://[::ffff:0:7f00:1]/hook".to_owned(),
        "http://100.64.0.1/hook".to_owned(),
        "http://0.0.0.0/hook".to_owned(),
        format!("http://localhost:{port}/hook"),
        "ftp://example.com/hook".to_owned(),
        "http://user:pw@example.com/hook".to_owned(),
        format!("https://example.com/{}", "x".repeat(2048)),
    ] {
        let (status, body) =
            create_hook(&app, &team.owner, &team.project, &url, &["file.created"]).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{url}: {body}");
        assert_eq!(body["errors"][0]["field"], "url", "{url}: {body}");
    }
    let (status, created) = create_hook(
        &app,
        &team.owner,
        &team.project,
        "http://93.184.216.34/hook",
        &["file.created"],
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let hook = created["id"].as_str().unwrap();
    let (status, body) = app
        .patch(
            &format!("/api/v1/webhooks/{hook}"),
            Some(&team.owner.access),
            json!({"url": "http://169.254.169.254/"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");

    // At delivery the guard runs again: an address in the URL, and a name that resolves to
    // loopback (as a rebound DNS name would), are refused without a connection.
    for (i, url) in [
        format!("http://127.0.0.1:{port}/hook"),
        format!("http://localhost:{port}/hook"),
    ]
    .iter()
    .enumerate()
    {
        app.sql(&format!(
            "UPDATE webhooks SET url = '{url}' WHERE id = '{hook}'"
        ))
        .await;
        let (status, body) = app
            .post(
                &format!("/api/v1/webhooks/{hook}/test"),
                Some(&team.owner.access),
                json!({}),
            )
            .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
        let mut attempt = Value::Null;
        for _ in 0..300 {
            let d = deliveries(&app, &team.owner, hook).await;
            if d.len() == i + 1 && d[0]["attempts"][0].is_object() {
                attempt = d[0]["attempts"][0].clone();
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(attempt["status_code"].is_null(), "{url}: {attempt}");
        assert!(
            attempt["error"]
                .as_str()
                .unwrap()
                .contains("loopback, private"),
            "{url}: {attempt}"
        );
        if url.contains("localhost") {
            // What the name resolved to stays in the server's log.
            let error = attempt["error"].as_str().unwrap();
            assert!(
                !error.contains("127.0.0.1") && !error.contains("::1"),
                "{error}"
            );
        }
    }
    assert!(receiver.requests().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn redirects_are_not_followed() {
    let receiver = WebhookReceiver::start(0).await;
    let app = local_app("60").await;
    let team = Team::new(&app).await;
    let (_, created) = create_hook(
        &app,
        &team.owner,
        &team.project,
        &receiver.url("/redirect"),
        &["file.created"],
    )
    .await;
    let hook = created["id"].as_str().unwrap();
    team.document(&app, "r.md", "x").await;
    let got = receiver.wait_for(1, 30).await;
    assert_eq!(got[0].path, "/redirect");
    let mut log = Value::Null;
    for _ in 0..300 {
        log = deliveries(&app, &team.owner, hook).await[0].clone();
        if log["attempts"][0].is_object() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(log["status"], "pending", "{log}");
    assert_eq!(log["attempts"][0]["status_code"], 302);
    assert_eq!(log["attempts"][0]["error"], "HTTP 302");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(receiver.requests().len(), 1, "{:?}", receiver.requests());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_long_answer_is_cut_in_the_delivery_log() {
    let receiver = WebhookReceiver::start(0).await;
    let app = local_app("60").await;
    let team = Team::new(&app).await;
    let (_, created) = create_hook(
        &app,
        &team.owner,
        &team.project,
        &receiver.url("/big"),
        &["file.created"],
    )
    .await;
    let hook = created["id"].as_str().unwrap();
    let (status, ping) = app
        .post(
            &format!("/api/v1/webhooks/{hook}/test"),
            Some(&team.owner.access),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{ping}");
    assert_eq!(ping["event_type"], "webhook.ping");
    let log = wait_for_status(&app, &team.owner, hook, "delivered").await;
    let excerpt = log["attempts"][0]["response_excerpt"].as_str().unwrap();
    // RESPONSE_EXCERPT_BYTES: the receiver sent 5,000.
    assert_eq!(excerpt.len(), 2048);
    let got = receiver.wait_for(1, 30).await;
    let payload = verify_with_standardwebhooks(created["secret"].as_str().unwrap(), &got).await;
    assert_eq!(payload[0].as_ref().unwrap()["data"]["webhook_id"], hook);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_webhook_failing_its_whole_schedule_is_disabled_and_its_admins_mailed() {
    let receiver = WebhookReceiver::start(0).await;
    let sink = MailSink::start().await;
    let app = app_with(vec![
        ("webhook_allow_private", json!(true)),
        ("webhook_retry_secs", json!("1,1")),
        ("smtp_url", json!(sink.smtp_url())),
        ("mail_from", json!("mdz tests <noreply@example.test>")),
    ])
    .await;
    let team = Team::new(&app).await;
    let (_, created) = create_hook(
        &app,
        &team.admin,
        &team.project,
        &receiver.url("/fail"),
        &["file.created"],
    )
    .await;
    let hook = created["id"].as_str().unwrap();
    team.document(&app, "f.md", "x").await;
    let log = wait_for_status(&app, &team.owner, hook, "failed").await;
    assert_eq!(log["attempt_count"], 3);
    assert_eq!(receiver.requests().len(), 3);
    let (_, shown) = app
        .get(
            &format!("/api/v1/webhooks/{hook}"),
            Some(&team.owner.access),
        )
        .await;
    assert_eq!(shown["enabled"], false, "{shown}");
    assert!(
        shown["disabled_reason"]
            .as_str()
            .unwrap()
            .contains("HTTP 500")
    );

    let disabled_mail = |user: &TestUser| {
        sink.to(&user.email)
            .into_iter()
            .find(|m| m.subject.starts_with("Webhook disabled in "))
    };
    for manager in [&team.owner, &team.admin] {
        let mut mail = None;
        for _ in 0..300 {
            mail = disabled_mail(manager);
            if mail.is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let mail = mail.unwrap_or_else(|| panic!("no mail to {}", manager.email));
        assert!(mail.text.contains(&receiver.url("/fail")), "{}", mail.text);
    }
    assert!(disabled_mail(&team.editor).is_none());

    // Disabled: nothing is sent, redelivery waits for it to be enabled again.
    let redeliver = format!(
        "/api/v1/webhooks/{hook}/deliveries/{}/redeliver",
        log["id"].as_str().unwrap()
    );
    let (status, _) = app
        .post(&redeliver, Some(&team.owner.access), json!({}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    team.document(&app, "g.md", "x").await;
    // Reading the change feed numbers what was committed, so g.md is behind the cursor that
    // re-enabling sets.
    let (status, _) = app
        .get(
            &format!("/api/v1/projects/{}/changes", team.project),
            Some(&team.owner.access),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, enabled) = app
        .patch(
            &format!("/api/v1/webhooks/{hook}"),
            Some(&team.owner.access),
            json!({"enabled": true, "url": receiver.url("/hook")}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{enabled}");
    assert_eq!(enabled["enabled"], true);
    assert!(enabled["disabled_reason"].is_null());
    let (status, _) = app
        .post(&redeliver, Some(&team.owner.access), json!({}))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    wait_for_status(&app, &team.owner, hook, "delivered").await;
    // g.md was created while the webhook was disabled: never sent.
    let sent = receiver.requests();
    assert_eq!(sent.len(), 4);
    assert_eq!(sent[3].json()["data"]["path"], "f.md");
    assert_eq!(deliveries(&app, &team.owner, hook).await.len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn live_typing_gives_one_file_updated_call() {
    let receiver = WebhookReceiver::start(0).await;
    let app = local_app("60").await;
    let team = Team::new(&app).await;
    let (_, created) = create_hook(
        &app,
        &team.owner,
        &team.project,
        &receiver.url("/hook"),
        &["file.updated"],
    )
    .await;
    let hook = created["id"].as_str().unwrap();
    let file = team.document(&app, "typing.md", "a").await;
    let mut last = Value::Null;
    let texts = ["ab", "abc", "abcd", "abcde", "abcdef"];
    for text in texts {
        last = save(&app, &team.owner, &file, text).await;
    }
    // What does not depend on the machine's speed: the final revision arrives, as a
    // `file.updated`, in fewer calls than saves (saves within the 3 s delay coalesce; on a
    // slow machine more than one call may come, never one per save).
    let sent = wait_for_revision(&receiver, &last["revision"]).await;
    assert!(
        sent.iter().all(|r| r.json()["type"] == "file.updated"),
        "{sent:?}"
    );
    assert!(sent.len() < texts.len(), "{sent:?}");
    assert!(deliveries(&app, &team.owner, hook).await.len() < texts.len());

    // Once that delivery went out, a new update is a new delivery.
    let later = save(&app, &team.owner, &file, "later").await;
    let sent = wait_for_revision(&receiver, &later["revision"]).await;
    let (newest, earlier) = sent.split_last().unwrap();
    assert!(
        earlier
            .iter()
            .all(|r| r.headers["webhook-id"] != newest.headers["webhook-id"]),
        "{sent:?}"
    );
}

/// Wait (up to 30 s) for a call carrying `revision`; every call received until then.
async fn wait_for_revision(
    receiver: &WebhookReceiver,
    revision: &Value,
) -> Vec<mdz_tests::Received> {
    for _ in 0..300 {
        let sent = receiver.requests();
        if sent
            .iter()
            .any(|r| r.json()["data"]["revision"] == *revision)
        {
            return sent;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("revision {revision} never sent: {:?}", receiver.requests());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_webhook_stops_when_its_creator_is_no_longer_admin() {
    let receiver = WebhookReceiver::start(0).await;
    let app = local_app("60").await;
    let team = Team::new(&app).await;
    let admin = team.member("admin");
    let (status, created) = create_hook(
        &app,
        admin,
        &team.project,
        &receiver.url("/hook"),
        &["file.created"],
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["created_by"], admin.id.as_str());
    let hook = created["id"].as_str().unwrap();
    team.document(&app, "before.md", "a").await;
    receiver.wait_for(1, 30).await;

    let (status, body) = app
        .patch(
            &format!("/api/v1/projects/{}/members/{}", team.project, admin.id),
            Some(&team.owner.access),
            json!({"role": "editor"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    team.document(&app, "after.md", "b").await;
    let mut shown = Value::Null;
    for _ in 0..300 {
        shown = app
            .get(
                &format!("/api/v1/webhooks/{hook}"),
                Some(&team.owner.access),
            )
            .await
            .1;
        if shown["enabled"] == false {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(shown["enabled"], false, "{shown}");
    assert!(
        shown["disabled_reason"]
            .as_str()
            .is_some_and(|r| r.contains("creator")),
        "{shown}"
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(receiver.requests().len(), 1, "{:?}", receiver.requests());
}

#[tokio::test(flavor = "multi_thread")]
async fn disabling_fails_the_pending_deliveries() {
    let receiver = WebhookReceiver::start(1).await;
    let app = local_app("60").await;
    let team = Team::new(&app).await;
    let (_, created) = create_hook(
        &app,
        &team.owner,
        &team.project,
        &receiver.url("/hook"),
        &["file.created"],
    )
    .await;
    let hook = created["id"].as_str().unwrap();
    team.document(&app, "a.md", "a").await;
    // The first call fails: the delivery waits a minute for its retry.
    receiver.wait_for(1, 30).await;
    let mut pending = false;
    for _ in 0..300 {
        let d = deliveries(&app, &team.owner, hook).await;
        if d.first()
            .is_some_and(|d| d["status"] == "pending" && d["attempts"][0].is_object())
        {
            pending = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(pending, "{:?}", deliveries(&app, &team.owner, hook).await);
    let path = format!("/api/v1/webhooks/{hook}");
    for enabled in [false, true] {
        let (status, body) = app
            .patch(&path, Some(&team.owner.access), json!({"enabled": enabled}))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let d = deliveries(&app, &team.owner, hook).await;
        assert_eq!(d[0]["status"], "failed", "{d:?}");
    }
    // Re-enabled, the old delivery is not sent (it can be redelivered by hand).
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(receiver.requests().len(), 1, "{:?}", receiver.requests());
}

#[tokio::test(flavor = "multi_thread")]
async fn only_admins_and_owners_manage_webhooks_within_the_limits() {
    let app = local_app("60").await;
    let team = Team::new(&app).await;
    let url = "http://127.0.0.1:9/hook";
    let mut hook = String::new();
    for role in ROLES.iter().copied().chain(["outsider"]) {
        let user = team.member(role);
        let (status, body) = create_hook(&app, user, &team.project, url, &["file.created"]).await;
        let (list, _) = app
            .get(
                &format!("/api/v1/projects/{}/webhooks", team.project),
                Some(&user.access),
            )
            .await;
        let expected = match role {
            "owner" | "admin" => StatusCode::CREATED,
            "outsider" => StatusCode::NOT_FOUND,
            _ => StatusCode::FORBIDDEN,
        };
        assert_eq!(status, expected, "{role}: {body}");
        assert_eq!(
            list,
            if expected == StatusCode::CREATED {
                StatusCode::OK
            } else {
                expected
            },
            "{role}"
        );
        if role == "owner" {
            hook = body["id"].as_str().unwrap().to_owned();
        }
    }
    for role in ["editor", "commenter", "viewer", "outsider"] {
        let user = team.member(role);
        let expected = if role == "outsider" {
            StatusCode::NOT_FOUND
        } else {
            StatusCode::FORBIDDEN
        };
        for (method, path) in [
            (Method::GET, format!("/api/v1/webhooks/{hook}")),
            (Method::GET, format!("/api/v1/webhooks/{hook}/deliveries")),
            (Method::PATCH, format!("/api/v1/webhooks/{hook}")),
            (Method::DELETE, format!("/api/v1/webhooks/{hook}")),
            (Method::POST, format!("/api/v1/webhooks/{hook}/secret")),
            (Method::POST, format!("/api/v1/webhooks/{hook}/test")),
        ] {
            let (status, body) = app
                .call(method.clone(), &path, Some(&user.access), Some(json!({})))
                .await;
            assert_eq!(status, expected, "{role} {method} {path}: {body}");
        }
    }
    let (status, body) = app
        .call(
            Method::GET,
            &format!("/api/v1/webhooks/{}", uuid::Uuid::now_v7()),
            Some(&team.owner.access),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");

    // A rotated secret is new and shown once.
    let (status, rotated) = app
        .post(
            &format!("/api/v1/webhooks/{hook}/secret"),
            Some(&team.admin.access),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(rotated["secret"].as_str().unwrap().starts_with("whsec_"));

    // Events: known ones only, at least one.
    for events in [
        json!([]),
        json!(["file.moved"]),
        json!(vec!["file.created"; 29]),
    ] {
        let (status, body) = app
            .post(
                &format!("/api/v1/projects/{}/webhooks", team.project),
                Some(&team.owner.access),
                json!({"url": url, "events": events}),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{events}: {body}");
    }
    // At most 20 webhooks a project (two exist).
    for _ in 2..20 {
        let (status, _) =
            create_hook(&app, &team.owner, &team.project, url, &["file.created"]).await;
        assert_eq!(status, StatusCode::CREATED);
    }
    let (status, body) =
        create_hook(&app, &team.owner, &team.project, url, &["file.created"]).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["type"], "urn:mdz:problem:too-many-webhooks");
    let (_, page) = app
        .get(
            &format!("/api/v1/projects/{}/webhooks?limit=15", team.project),
            Some(&team.owner.access),
        )
        .await;
    assert_eq!(page["items"].as_array().unwrap().len(), 15);
    assert!(page["next_cursor"].is_string());

    let (status, _) = app
        .delete(
            &format!("/api/v1/webhooks/{hook}"),
            Some(&team.admin.access),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = create_hook(&app, &team.owner, &team.project, url, &["file.created"]).await;
    assert_eq!(status, StatusCode::CREATED);
}

#[tokio::test(flavor = "multi_thread")]
async fn comment_and_member_events_come_from_the_project_event_log() {
    let receiver = WebhookReceiver::start(0).await;
    let app = local_app("60").await;
    let team = Team::new(&app).await;
    let (status, created) = create_hook(
        &app,
        &team.owner,
        &team.project,
        &receiver.url("/hook"),
        &["comment.created", "member.added", "member.removed"],
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let secret = created["secret"].as_str().unwrap();
    let file = team.document(&app, "c.md", "text").await;
    let (status, body) = app
        .post(
            &format!("/api/v1/files/{file}/comments"),
            Some(&team.commenter.access),
            json!({"body": format!("hi @{}", team.editor.email)}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let newcomer = app.new_user().await;
    let members = format!("/api/v1/projects/{}/members", team.project);
    let (status, body) = app
        .post(
            &members,
            Some(&team.owner.access),
            json!({"email": newcomer.email, "role": "viewer"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = app
        .delete(
            &format!("{members}/{}", newcomer.id),
            Some(&team.owner.access),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");

    let got = receiver.wait_for(3, 30).await;
    let payloads: Vec<Value> = verify_with_standardwebhooks(secret, &got)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    let mut types: Vec<&str> = payloads
        .iter()
        .map(|p| p["type"].as_str().unwrap())
        .collect();
    types.sort_unstable();
    assert_eq!(types, ["comment.created", "member.added", "member.removed"]);
    for p in &payloads {
        assert_eq!(p["data"]["project_id"], team.project.as_str(), "{p}");
    }
    let comment = payloads
        .iter()
        .find(|p| p["type"] == "comment.created")
        .unwrap();
    assert_eq!(comment["data"]["actor_id"], team.commenter.id.as_str());
    // The mention's notification (one user's own) and the file event are not sent.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(receiver.requests().len(), 3, "{:?}", receiver.requests());
}
