//! Chat limits: daily token quotas that parallel posts and regenerations cannot overrun
//! (each answer holds an estimate while it is generated), cancelled answers charged their
//! prompt, `max_tokens` sent to every provider, and the documents a message may name.

use futures_util::future::join_all;
use mdz_tests::{FakeLlm, Options, TestApp, TestUser};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// An app on the fake OpenAI-compatible provider with `config` on top; a hung answer waits
/// 30 s (so answers stay in flight while a test looks).
async fn app_with(llm: &FakeLlm, config: &[(&'static str, Value)]) -> TestApp {
    let mut all = vec![
        ("llm_provider", json!("openai")),
        ("llm_base_url", json!(llm.base_url.clone())),
        ("llm_model", json!("gpt-test")),
        ("llm_timeout_secs", json!(30)),
    ];
    all.extend(config.iter().cloned());
    TestApp::spawn_with(Options {
        config: all,
        ..Options::default()
    })
    .await
}

/// A one-member project with a session without instructions; (user, session id).
async fn solo(app: &TestApp) -> (TestUser, String) {
    let user = app.new_user().await;
    let project = app.project_with(&user, &[]).await;
    let (status, created) = app
        .post(
            &format!("/api/v1/projects/{project}/sessions"),
            Some(&user.access),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    (user, created["id"].as_str().unwrap().to_owned())
}

/// Start `n` streaming requests at once: their statuses and `Retry-After` headers.
async fn at_once(
    app: &TestApp,
    user: &TestUser,
    path: &str,
    body: Value,
    n: usize,
) -> Vec<(StatusCode, Option<u64>)> {
    let requests = (0..n).map(|_| {
        app.request(Method::POST, path, Some(&user.access))
            .header("accept", "text/event-stream")
            .json(&body)
            .send()
    });
    join_all(requests)
        .await
        .into_iter()
        .map(|res| {
            let res = res.unwrap();
            let retry = res
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap().parse().unwrap());
            (res.status(), retry)
        })
        .collect()
}

/// The admitted ones (200) and the refused ones (429, each with a `Retry-After` of at most
/// `HELD_RETRY_SECS`, as answers in flight hold the room); nothing else.
fn admitted(outcomes: &[(StatusCode, Option<u64>)]) -> usize {
    for (status, retry) in outcomes {
        match *status {
            StatusCode::OK => {}
            StatusCode::TOO_MANY_REQUESTS => {
                // A 429 says when to try again.
                assert!(retry.is_some_and(|r| (1..=10).contains(&r)), "{retry:?}");
            }
            other => panic!("unexpected status {other}"),
        }
    }
    outcomes
        .iter()
        .filter(|(s, _)| *s == StatusCode::OK)
        .count()
}

#[tokio::test(flavor = "multi_thread")]
async fn parallel_posts_cannot_overrun_a_daily_quota() {
    let llm = FakeLlm::start().await;
    let app = app_with(
        &llm,
        &[
            ("llm_max_tokens", json!(10)),
            ("llm_daily_tokens_per_user", json!(100)),
        ],
    )
    .await;
    let (user, sid) = solo(&app).await;
    let path = format!("/api/v1/sessions/{sid}/messages");
    // One answer that ends: 12 + 3 tokens used.
    let (status, body) = app
        .post(&path, Some(&user.access), json!({"content": "hi"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    // Twenty answers that stay in flight, asked at once. Each holds its prompt's estimate
    // (at least "hi", "Hello world" and its own question: 5 + 7 + 6) + max_tokens (10) = 28,
    // and 85 tokens are left: two or three fit, never more.
    let outcomes = at_once(&app, &user, &path, json!({"content": "[hang] q"}), 20).await;
    let n = admitted(&outcomes);
    assert!((2..=3).contains(&n), "{n} of 20 admitted: {outcomes:?}");
    let (_, page) = app.get(&path, Some(&user.access)).await;
    assert_eq!(
        page["items"].as_array().unwrap().len(),
        2 + 2 * n,
        "a refused post stores nothing"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn cancelled_answers_pay_their_prompt_and_regenerations_hold_too() {
    let llm = FakeLlm::start().await;
    let app = app_with(
        &llm,
        &[
            ("llm_max_tokens", json!(10)),
            ("llm_daily_tokens_per_user", json!(64)),
        ],
    )
    .await;
    let (user, sid) = solo(&app).await;
    let path = format!("/api/v1/sessions/{sid}/messages");
    let outcomes = at_once(&app, &user, &path, json!({"content": "[hang] q"}), 1).await;
    assert_eq!(admitted(&outcomes), 1);
    let (_, page) = app.get(&path, Some(&user.access)).await;
    let answer = page["items"][1]["id"].as_str().unwrap().to_owned();
    let (status, _) = app
        .post(
            &format!("{path}/{answer}/cancel"),
            Some(&user.access),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let mut cancelled = Value::Null;
    for _ in 0..100 {
        let (_, page) = app.get(&path, Some(&user.access)).await;
        cancelled = page["items"][1].clone();
        if cancelled["status"] != "streaming" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    // The provider had the prompt (8 bytes: 2 tokens + 4): it is charged though nothing came.
    assert_eq!(cancelled["status"], "cancelled");
    assert_eq!(cancelled["prompt_tokens"], 6, "{cancelled}");
    assert_eq!(cancelled["completion_tokens"], 0);
    // Ten regenerations at once, each holding 6 + 10: 64 - 6 = 58 left admits three (had the
    // cancelled answer cost nothing, four would fit).
    let outcomes = at_once(
        &app,
        &user,
        &format!("{path}/{answer}/regenerate"),
        json!({}),
        10,
    )
    .await;
    assert_eq!(admitted(&outcomes), 3, "{outcomes:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn every_provider_is_sent_max_tokens() {
    let llm = FakeLlm::start().await;
    let root = llm.base_url.trim_end_matches("/v1").to_owned();
    let app = app_with(
        &llm,
        &[
            ("llm_max_tokens", json!(777)),
            (
                "llm_providers",
                json!({
                    "claude": {"provider": "anthropic", "base_url": llm.base_url.clone(),
                               "api_key": "sk-ant-fake", "model": "claude-test"},
                    "rock": {"provider": "bedrock", "base_url": root, "region": "eu-west-1",
                             "api_key": "bedrock-key", "model": "anthropic.claude-test-v1:0"},
                }),
            ),
        ],
    )
    .await;
    let user = app.new_user().await;
    let project = app.project_with(&user, &[]).await;
    for provider in [Value::Null, json!("claude"), json!("rock")] {
        let (status, session) = app
            .post(
                &format!("/api/v1/projects/{project}/sessions"),
                Some(&user.access),
                json!({ "provider": provider }),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{session}");
        let sid = session["id"].as_str().unwrap();
        let (status, exchange) = app
            .post(
                &format!("/api/v1/sessions/{sid}/messages"),
                Some(&user.access),
                json!({"content": "hi"}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{exchange}");
    }
    let bodies: Vec<Value> = llm
        .requests
        .lock()
        .unwrap()
        .iter()
        .map(|(_, b)| b.clone())
        .collect();
    assert_eq!(bodies.len(), 3);
    assert_eq!(bodies[0]["max_tokens"], 777, "OpenAI: {}", bodies[0]);
    assert_eq!(bodies[1]["max_tokens"], 777, "Anthropic: {}", bodies[1]);
    assert_eq!(
        bodies[2]["inferenceConfig"]["maxTokens"], 777,
        "Bedrock: {}",
        bodies[2]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_message_names_at_most_50_documents() {
    let llm = FakeLlm::start().await;
    let app = app_with(&llm, &[]).await;
    let (user, sid) = solo(&app).await;
    let (_, session) = app
        .get(&format!("/api/v1/sessions/{sid}"), Some(&user.access))
        .await;
    let project = session["project_id"].as_str().unwrap().to_owned();
    let file = app.create_file(&user, &project, "a.md", "# A\n").await["id"].clone();
    let path = format!("/api/v1/sessions/{sid}/messages");
    let (status, problem) = app
        .post(
            &path,
            Some(&user.access),
            json!({"content": "hi", "context_file_ids": vec![file.clone(); 51]}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(
        problem["errors"][0]["field"], "context_file_ids",
        "{problem}"
    );
    let (_, page) = app.get(&path, Some(&user.access)).await;
    assert_eq!(page["items"], json!([]), "nothing stored");
    let (status, body) = app
        .post(
            &path,
            Some(&user.access),
            json!({"content": "hi", "context_file_ids": vec![file; 50]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_answer_a_stopped_node_left_is_charged_its_hold() {
    let llm = FakeLlm::start().await;
    let app = app_with(
        &llm,
        &[
            ("llm_max_tokens", json!(10)),
            ("llm_daily_tokens_per_user", json!(100)),
        ],
    )
    .await;
    let (user, sid) = solo(&app).await;
    let (_, session) = app
        .get(&format!("/api/v1/sessions/{sid}"), Some(&user.access))
        .await;
    let project = session["project_id"].as_str().unwrap();
    // As a node that stopped mid-answer leaves it: 16 held, no save for an hour.
    let id = uuid::Uuid::now_v7();
    let today = "(now() AT TIME ZONE 'UTC')::date";
    app.sql(&format!(
        "INSERT INTO chat_token_use (scope, owner_id, day, held) \
         VALUES ('user', '{}', {today}, 16), ('project', '{project}', {today}, 16)",
        user.id
    ))
    .await;
    app.sql(&format!(
        "INSERT INTO chat_messages (id, session_id, role, content, status, requested_by, \
           reserved_tokens, created_at, updated_at) \
         VALUES ('{id}', '{sid}', 'assistant', '', 'streaming', '{}', 16, now(), \
                 now() - interval '1 hour')",
        user.id
    ))
    .await;
    let (status, _) = app
        .post(
            &format!("/api/v1/sessions/{sid}/messages/{id}/cancel"),
            Some(&user.access),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let settled = "SELECT 1 FROM chat_token_use WHERE held = 0 AND used = 16 AND cap IS NULL";
    assert_eq!(app.sql(settled).await, 2, "both counters settled");
    // The row holds nothing any more: a late final save would not settle it twice.
    assert_eq!(
        app.sql(&format!(
            "SELECT 1 FROM chat_messages WHERE id = '{id}' AND reserved_tokens IS NULL"
        ))
        .await,
        1
    );
}
