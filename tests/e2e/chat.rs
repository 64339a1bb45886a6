//! Chat: the OpenAI-compatible provider over its real wire format (a local fake), streaming
//! and whole answers, stored as they stream, cancel, a dropped client, resume with an offset,
//! upstream errors and timeouts, no provider configured, and roles.

use futures_util::StreamExt;
use mdz_tests::{FakeLlm, Options, SLOW_PIECES, TestApp, TestUser};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::time::Duration;

pub(crate) struct Setup {
    pub(crate) app: TestApp,
    pub(crate) llm: FakeLlm,
    pub(crate) owner: TestUser,
    pub(crate) editor: TestUser,
    pub(crate) viewer: TestUser,
    pub(crate) session: String,
    pub(crate) file: String,
    pub(crate) project: String,
}

pub(crate) async fn setup() -> Setup {
    let llm = FakeLlm::start().await;
    let app = TestApp::spawn_with(Options {
        config: vec![
            ("llm_provider", json!("openai")),
            ("llm_base_url", json!(llm.base_url.clone())),
            ("llm_api_key", json!("sk-fake-SECRET")),
            ("llm_model", json!("gpt-test")),
            ("llm_timeout_secs", json!(1)),
        ],
        ..Options::default()
    })
    .await;
    let owner = app.new_user().await;
    let editor = app.new_user().await;
    let viewer = app.new_user().await;
    let project = app
        .project_with(&owner, &[(&editor, "editor"), (&viewer, "viewer")])
        .await;
    let file = app
        .create_file(
            &owner,
            &project,
            "notes/brief.md",
            "# Brief\nShip on Friday.\n",
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, session) = app
        .post(
            &format!("/api/v1/projects/{project}/sessions"),
            Some(&editor.access),
            json!({"instructions": "Answer in English.", "context_file_ids": [file]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    Setup {
        session: session["id"].as_str().unwrap().to_owned(),
        app,
        llm,
        owner,
        editor,
        viewer,
        file,
        project,
    }
}

/// POST a message asking for SSE; the response (streaming).
pub(crate) async fn post_sse(s: &Setup, user: &TestUser, content: &str) -> reqwest::Response {
    s.app
        .request(
            Method::POST,
            &format!("/api/v1/sessions/{}/messages", s.session),
            Some(&user.access),
        )
        .header("accept", "text/event-stream")
        .json(&json!({"content": content}))
        .send()
        .await
        .unwrap()
}

/// Parse SSE text into (event, data) pairs.
pub(crate) fn events(text: &str) -> Vec<(String, Value)> {
    text.split("\n\n")
        .filter(|b| !b.trim().is_empty())
        .map(|block| {
            let mut event = String::new();
            let mut data = Value::Null;
            for line in block.lines() {
                if let Some(e) = line.strip_prefix("event: ") {
                    event = e.to_owned();
                } else if let Some(d) = line.strip_prefix("data: ") {
                    data = serde_json::from_str(d).unwrap();
                }
            }
            (event, data)
        })
        .collect()
}

pub(crate) fn deltas(evs: &[(String, Value)]) -> String {
    evs.iter()
        .filter(|(e, _)| e == "delta")
        .map(|(_, d)| d["text"].as_str().unwrap().to_owned())
        .collect()
}

async fn messages(s: &Setup) -> Vec<Value> {
    let (status, page) = s
        .app
        .get(
            &format!("/api/v1/sessions/{}/messages", s.session),
            Some(&s.viewer.access),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    page["items"].as_array().unwrap().clone()
}

async fn last_answer_when(s: &Setup, done: impl Fn(&Value) -> bool) -> Value {
    for _ in 0..100 {
        let all = messages(s).await;
        if let Some(last) = all.last()
            && done(last)
        {
            return last.clone();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "the answer never reached the expected state: {:?}",
        messages(s).await.last()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_streamed_answer_is_stored_with_usage_citations_and_the_context_sent() {
    let s = setup().await;
    let res = post_sse(&s, &s.editor, "When do we ship?").await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["content-type"], "text/event-stream");
    let evs = events(&res.text().await.unwrap());
    assert_eq!(evs[0].0, "message");
    assert!(
        evs.iter()
            .any(|(e, d)| e == "citation" && d["path"] == "notes/brief.md")
    );
    assert_eq!(deltas(&evs), "Hello world");
    let usage = evs.iter().find(|(e, _)| e == "usage").unwrap();
    assert_eq!(usage.1["prompt_tokens"], 12);
    assert_eq!(
        evs.last().unwrap(),
        &("done".to_owned(), json!({"status": "complete"}))
    );

    let all = messages(&s).await;
    assert_eq!(all.len(), 2);
    assert_eq!(all[0]["role"], "user");
    assert_eq!(all[0]["content"], "When do we ship?");
    assert_eq!(all[0]["author"], s.editor.id.as_str());
    assert_eq!(all[1]["role"], "assistant");
    assert_eq!(all[1]["content"], "Hello world");
    assert_eq!(all[1]["status"], "complete");
    assert_eq!(all[1]["model"], "gpt-test");
    assert_eq!(all[1]["prompt_tokens"], 12);
    assert_eq!(all[1]["completion_tokens"], 3);
    assert_eq!(all[1]["citations"][0]["file_id"], s.file.as_str());

    // What the provider got: the key, the model, streaming, instructions + the pinned document
    // in the system message, then the question.
    let (auth, body) = s.llm.requests.lock().unwrap()[0].clone();
    assert_eq!(auth.as_deref(), Some("Bearer sk-fake-SECRET"));
    assert_eq!(body["model"], "gpt-test");
    assert_eq!(body["stream"], true);
    assert_eq!(body["max_tokens"], 4096);
    let sent = body["messages"].as_array().unwrap();
    assert_eq!(sent[0]["role"], "system");
    assert!(
        sent[0]["content"]
            .as_str()
            .unwrap()
            .starts_with("Answer in English.")
    );
    assert!(
        sent[0]["content"]
            .as_str()
            .unwrap()
            .contains("Ship on Friday.")
    );
    assert_eq!(sent.last().unwrap()["content"], "When do we ship?");

    // The session took its title from the first message and moved to the top.
    let (_, session) = s
        .app
        .get(
            &format!("/api/v1/sessions/{}", s.session),
            Some(&s.editor.access),
        )
        .await;
    assert_eq!(session["title"], "When do we ship?");

    // A second message carries the history; JSON without SSE answers whole.
    let (status, exchange) = s
        .app
        .post(
            &format!("/api/v1/sessions/{}/messages", s.session),
            Some(&s.editor.access),
            json!({"content": "And after that?"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{exchange}");
    assert_eq!(exchange["assistant_message"]["content"], "Hello world");
    assert_eq!(exchange["user_message"]["content"], "And after that?");
    let (_, body) = s.llm.requests.lock().unwrap()[1].clone();
    let history: Vec<&str> = body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .skip(1)
        .map(|m| m["content"].as_str().unwrap())
        .collect();
    assert_eq!(
        history,
        ["When do we ship?", "Hello world", "And after that?"]
    );
    let (_, session) = s
        .app
        .get(
            &format!("/api/v1/sessions/{}", s.session),
            Some(&s.editor.access),
        )
        .await;
    assert_eq!(
        session["title"], "When do we ship?",
        "only the first message names it"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn use_search_adds_the_projects_best_passages_and_cites_them() {
    let s = setup().await;
    let rollout = s
        .app
        .create_file(
            &s.owner,
            &s.project,
            "ops/rollout.md",
            "# Rollout\nThe canary rollout of the billing service starts on Tuesday at noon.\n",
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    s.app
        .create_file(
            &s.owner,
            &s.project,
            "misc/soup.md",
            "# Soup\nCarrots and leeks.\n",
        )
        .await;
    let elsewhere = s.app.project_with(&s.owner, &[]).await;
    s.app
        .create_file(
            &s.owner,
            &elsewhere,
            "secret.md",
            "The canary rollout of another project.\n",
        )
        .await;
    let path = format!("/api/v1/sessions/{}/messages", s.session);
    let ask = json!({"content": "When does the canary rollout start?", "use_search": true});
    let (status, exchange) = s.app.post(&path, Some(&s.editor.access), ask.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{exchange}");
    let cited: Vec<(String, String)> = exchange["assistant_message"]["citations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["path"].as_str().unwrap().to_owned(),
                c["source"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        cited,
        [
            ("notes/brief.md".to_owned(), "pinned".to_owned()),
            ("ops/rollout.md".to_owned(), "search".to_owned()),
        ],
        "the pinned document, then the one passage found in this project only"
    );
    let citation = &exchange["assistant_message"]["citations"][1];
    assert_eq!(citation["file_id"], rollout.as_str());
    assert_eq!(citation["revision"], 1);
    let (_, body) = s.llm.requests.lock().unwrap()[0].clone();
    let system = body["messages"][0]["content"].as_str().unwrap().to_owned();
    assert!(
        system.contains("### ops/rollout.md (revision 1)"),
        "{system}"
    );
    assert!(system.contains("starts on Tuesday at noon"), "{system}");
    assert!(!system.contains("Carrots") && !system.contains("another project"));

    // Regenerating searches again: a trashed document is no longer found.
    let (status, _) = s
        .app
        .delete(&format!("/api/v1/files/{rollout}"), Some(&s.owner.access))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let answer = exchange["assistant_message"]["id"].as_str().unwrap();
    let (status, again) = s
        .app
        .post(
            &format!("{path}/{answer}/regenerate"),
            Some(&s.editor.access),
            json!({}),
        )
        .await;
    assert!(status.is_success(), "{again}");
    let (_, body) = s.llm.requests.lock().unwrap()[1].clone();
    let system = body["messages"][0]["content"].as_str().unwrap().to_owned();
    assert!(!system.contains("canary"), "{system}");

    // Nothing to search for: no passages, the question still answered.
    let (status, exchange) = s
        .app
        .post(
            &path,
            Some(&s.editor.access),
            json!({"content": "Is it?", "use_search": true}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{exchange}");
    assert_eq!(
        exchange["assistant_message"]["citations"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn upstream_failures_are_problems_and_keep_what_arrived() {
    let s = setup().await;
    // An error status: 502, nothing of the upstream body or the key leaks.
    let (status, problem) = s
        .app
        .post(
            &format!("/api/v1/sessions/{}/messages", s.session),
            Some(&s.editor.access),
            json!({"content": "[500] please"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{problem}");
    assert_eq!(problem["type"], "urn:mdz:problem:upstream-error");
    let text = problem.to_string();
    assert!(
        !text.contains("SECRET") && !text.contains("internal failure"),
        "{text}"
    );
    assert_eq!(messages(&s).await.last().unwrap()["status"], "failed");

    // A hang: 504 after the timeout.
    let (status, problem) = s
        .app
        .post(
            &format!("/api/v1/sessions/{}/messages", s.session),
            Some(&s.editor.access),
            json!({"content": "[hang] please"}),
        )
        .await;
    assert_eq!(status, StatusCode::GATEWAY_TIMEOUT, "{problem}");
    assert_eq!(problem["type"], "urn:mdz:problem:upstream-timeout");

    // Garbage mid-stream, over SSE: an error event; the partial answer is kept, incomplete.
    let res = post_sse(&s, &s.editor, "[malformed] please").await;
    let evs = events(&res.text().await.unwrap());
    assert_eq!(deltas(&evs), "partial ");
    let (event, data) = evs.last().unwrap();
    assert_eq!(event, "error");
    assert_eq!(data["status"], "incomplete");
    assert_eq!(data["type"], "urn:mdz:problem:upstream-error");
    let last = messages(&s).await.last().unwrap().clone();
    assert_eq!(last["status"], "incomplete");
    assert_eq!(last["content"], "partial ");
}

#[tokio::test(flavor = "multi_thread")]
async fn cancel_stops_the_answer_and_keeps_the_part_so_far() {
    let s = setup().await;
    let res = post_sse(&s, &s.editor, "[slow] count").await;
    let mut body = res.bytes_stream();
    let mut seen = String::new();
    let mut assistant = String::new();
    while !seen.contains("event: delta") {
        seen.push_str(&String::from_utf8_lossy(
            &body.next().await.unwrap().unwrap(),
        ));
        if assistant.is_empty()
            && let Some((_, data)) = events(&seen).iter().find(|(e, _)| e == "message")
        {
            assistant = data["assistant_message_id"].as_str().unwrap().to_owned();
        }
    }
    assert!(
        streams(&s.app).await.contains("\nmdz_chat_streams 1\n"),
        "one answer is being generated"
    );
    // A viewer may not cancel.
    let cancel = format!("/api/v1/sessions/{}/messages/{assistant}/cancel", s.session);
    let (status, _) = s.app.post(&cancel, Some(&s.viewer.access), json!({})).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = s.app.post(&cancel, Some(&s.editor.access), json!({})).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    while let Some(Ok(bytes)) = body.next().await {
        seen.push_str(&String::from_utf8_lossy(&bytes));
    }
    let evs = events(&seen);
    assert_eq!(evs.last().unwrap().1["status"], "cancelled");
    let last = last_answer_when(&s, |m| m["status"] != "streaming").await;
    assert_eq!(last["status"], "cancelled");
    let full: String = SLOW_PIECES.concat();
    let kept = last["content"].as_str().unwrap();
    assert!(
        !kept.is_empty() && full.starts_with(kept) && kept != full,
        "{kept:?}"
    );
    // Cancelling again: nothing is being generated.
    let (status, _) = s.app.post(&cancel, Some(&s.editor.access), json!({})).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(
        crate::collab::eventually(|| async {
            streams(&s.app).await.contains("\nmdz_chat_streams 0\n")
        })
        .await,
        "the stream gauge falls back when the answer ends"
    );
}

async fn streams(app: &TestApp) -> String {
    let res = app.client.get(app.url("/metrics")).send().await.unwrap();
    res.text().await.unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dropped_client_loses_nothing_and_can_resume_from_an_offset() {
    let s = setup().await;
    let res = post_sse(&s, &s.editor, "[slow] count").await;
    let mut body = res.bytes_stream();
    let first = String::from_utf8_lossy(&body.next().await.unwrap().unwrap()).to_string();
    let assistant = events(&first)
        .iter()
        .find(|(e, _)| e == "message")
        .map(|(_, d)| d["assistant_message_id"].as_str().unwrap().to_owned())
        .unwrap();
    drop(body);

    // Another device sees it grow.
    let growing = last_answer_when(&s, |m| {
        m["status"] == "streaming" && !m["content"].as_str().unwrap().is_empty()
    })
    .await;
    assert!(
        SLOW_PIECES
            .concat()
            .starts_with(growing["content"].as_str().unwrap())
    );

    // Resume from character 4 ("one " already seen): the rest, live, then done.
    let res = s
        .app
        .request(
            Method::GET,
            &format!(
                "/api/v1/sessions/{}/messages/{assistant}/stream?offset=4",
                s.session
            ),
            Some(&s.viewer.access),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let evs = events(&res.text().await.unwrap());
    assert_eq!(deltas(&evs), SLOW_PIECES.concat()[4..]);
    assert_eq!(evs.last().unwrap().1["status"], "complete");

    let last = last_answer_when(&s, |m| m["status"] == "complete").await;
    assert_eq!(last["content"], SLOW_PIECES.concat());
    // Resuming a finished answer replays the rest from storage.
    let res = s
        .app
        .request(
            Method::GET,
            &format!(
                "/api/v1/sessions/{}/messages/{assistant}/stream?offset=8",
                s.session
            ),
            Some(&s.viewer.access),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        deltas(&events(&res.text().await.unwrap())),
        SLOW_PIECES.concat()[8..]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn roles_and_bad_input() {
    let s = setup().await;
    let path = format!("/api/v1/sessions/{}/messages", s.session);
    let (status, _) = s
        .app
        .post(&path, Some(&s.viewer.access), json!({"content": "hi"}))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let stranger = s.app.new_user().await;
    let (status, _) = s
        .app
        .post(&path, Some(&stranger.access), json!({"content": "hi"}))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = s.app.get(&path, Some(&stranger.access)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    for bad in [
        json!({"content": "   "}),
        json!({"content": "hi", "context_file_ids": [uuid::Uuid::now_v7()]}),
        json!({"content": "hi", "use_search": "yes"}),
    ] {
        let (status, problem) = s.app.post(&path, Some(&s.owner.access), bad.clone()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {problem}");
    }
    let (status, _) = s
        .app
        .post(&path, Some(&s.owner.access), json!({"text": "wrong field"}))
        .await;
    assert!(status.is_client_error());
    assert!(messages(&s).await.is_empty(), "nothing half-written");
}

#[tokio::test(flavor = "multi_thread")]
async fn without_a_provider_chat_says_how_to_configure_one() {
    let app = TestApp::spawn().await;
    let user = app.new_user().await;
    let project = app.project_with(&user, &[]).await;
    let (status, session) = app
        .post(
            &format!("/api/v1/projects/{project}/sessions"),
            Some(&user.access),
            json!({}),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::CREATED,
        "sessions work without a provider"
    );
    let (status, problem) = app
        .post(
            &format!(
                "/api/v1/sessions/{}/messages",
                session["id"].as_str().unwrap()
            ),
            Some(&user.access),
            json!({"content": "hello"}),
        )
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(problem["type"], "urn:mdz:problem:no-llm-provider");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("MDZ_LLM_PROVIDER")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_anthropic_provider_streams_over_its_own_event_format() {
    let llm = FakeLlm::start().await;
    let app = TestApp::spawn_with(Options {
        config: vec![
            ("llm_provider", json!("anthropic")),
            ("llm_base_url", json!(llm.base_url.clone())),
            ("llm_api_key", json!("sk-ant-fake")),
            ("llm_model", json!("claude-test")),
        ],
        ..Options::default()
    })
    .await;
    let user = app.new_user().await;
    let project = app.project_with(&user, &[]).await;
    let (_, session) = app
        .post(
            &format!("/api/v1/projects/{project}/sessions"),
            Some(&user.access),
            json!({"instructions": "Be kind."}),
        )
        .await;
    let sid = session["id"].as_str().unwrap();
    let res = app
        .request(
            Method::POST,
            &format!("/api/v1/sessions/{sid}/messages"),
            Some(&user.access),
        )
        .header("accept", "text/event-stream")
        .json(&json!({"content": "Say hello"}))
        .send()
        .await
        .unwrap();
    let evs = events(&res.text().await.unwrap());
    assert_eq!(deltas(&evs), "Hello world");
    let usage = evs.iter().find(|(e, _)| e == "usage").unwrap();
    assert_eq!(
        usage.1,
        json!({"prompt_tokens": 12, "completion_tokens": 3})
    );
    assert_eq!(evs.last().unwrap().1["status"], "complete");
    let (auth, body) = llm.requests.lock().unwrap()[0].clone();
    assert_eq!(auth.as_deref(), Some("sk-ant-fake"));
    assert_eq!(body["system"], "Be kind.");
    assert_eq!(
        body["messages"],
        json!([{"role": "user", "content": "Say hello"}])
    );
    assert_eq!(body["max_tokens"], 4096);
    // Garbage mid-stream is an error here too, keeping the part that came.
    let (status, problem) = app
        .post(
            &format!("/api/v1/sessions/{sid}/messages"),
            Some(&user.access),
            json!({"content": "[malformed]"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{problem}");
}

#[tokio::test(flavor = "multi_thread")]
async fn regenerate_answers_the_same_question_again() {
    let s = setup().await;
    let path = format!("/api/v1/sessions/{}/messages", s.session);
    let (_, first) = s
        .app
        .post(
            &path,
            Some(&s.editor.access),
            json!({"content": "First question"}),
        )
        .await;
    let (_, second) = s
        .app
        .post(
            &path,
            Some(&s.editor.access),
            json!({"content": "Second question"}),
        )
        .await;
    let answer = second["assistant_message"]["id"].as_str().unwrap();
    let question = first["user_message"]["id"].as_str().unwrap();

    let regen = |mid: &str| format!("/api/v1/sessions/{}/messages/{mid}/regenerate", s.session);
    let (status, again) = s
        .app
        .post(&regen(answer), Some(&s.editor.access), json!({}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{again}");
    assert_eq!(again["user_message"]["content"], "Second question");
    assert_eq!(again["assistant_message"]["content"], "Hello world");
    assert_ne!(again["assistant_message"]["id"], answer);
    // The provider got the same question with the history before it, not the old answer.
    let (_, body) = s.llm.requests.lock().unwrap()[2].clone();
    let sent: Vec<&str> = body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .skip(1)
        .map(|m| m["content"].as_str().unwrap())
        .collect();
    assert_eq!(sent, ["First question", "Hello world", "Second question"]);
    assert_eq!(
        messages(&s).await.len(),
        5,
        "the old answer stays in the history"
    );

    let (status, _) = s
        .app
        .post(&regen(question), Some(&s.editor.access), json!({}))
        .await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "a question is not regenerated"
    );
    let (status, _) = s
        .app
        .post(&regen(answer), Some(&s.viewer.access), json!({}))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test(flavor = "multi_thread")]
async fn daily_token_quotas_answer_429() {
    let llm = FakeLlm::start().await;
    let app = TestApp::spawn_with(Options {
        config: vec![
            ("llm_provider", json!("openai")),
            ("llm_base_url", json!(llm.base_url.clone())),
            ("llm_model", json!("gpt-test")),
            // An answer holds its prompt's estimate + 5 while it is generated, then costs 15
            // (12 + 3). Alice's first holds 10 ("hi": 1 + 4, + 5), her second 22 (her history
            // too): both fit in 40; her third (35) does not.
            ("llm_max_tokens", json!(5)),
            ("llm_daily_tokens_per_user", json!(40)),
            ("llm_daily_tokens_per_project", json!(50)),
        ],
        ..Options::default()
    })
    .await;
    let alice = app.new_user().await;
    let bob = app.new_user().await;
    let project = app.project_with(&alice, &[(&bob, "editor")]).await;
    let session_of = |user: &TestUser| {
        let (app, access) = (&app, user.access.clone());
        let sessions = format!("/api/v1/projects/{project}/sessions");
        async move {
            let (_, session) = app.post(&sessions, Some(&access), json!({})).await;
            format!(
                "/api/v1/sessions/{}/messages",
                session["id"].as_str().unwrap()
            )
        }
    };
    let path = session_of(&alice).await;
    for _ in 0..2 {
        let (status, body) = app
            .post(&path, Some(&alice.access), json!({"content": "hi"}))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let res = app
        .request(Method::POST, &path, Some(&alice.access))
        .json(&json!({"content": "one more"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    // Ended answers used the room: try again tomorrow (UTC), not in a few seconds.
    let retry: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let now = chrono::Utc::now();
    let midnight = (now.date_naive() + chrono::Days::new(1))
        .and_hms_opt(0, 0, 0)
        .unwrap()
        .and_utc();
    assert!(
        retry.abs_diff((midnight - now).num_seconds().unsigned_abs()) <= 5,
        "{retry}"
    );
    let problem: Value = res.json().await.unwrap();
    assert_eq!(problem["type"], "urn:mdz:problem:quota-exceeded");
    assert!(problem["detail"].as_str().unwrap().contains("user"));
    // Bob has his own allowance, but the project's (50, 30 used) runs out after his first
    // answer (10 held, 15 used; his second holds 22).
    let path = session_of(&bob).await;
    let (status, _) = app
        .post(&path, Some(&bob.access), json!({"content": "hi"}))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, problem) = app
        .post(&path, Some(&bob.access), json!({"content": "hi"}))
        .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert!(
        problem["detail"].as_str().unwrap().contains("project"),
        "{problem}"
    );
    let (_, metrics) = app.get("/metrics", None).await;
    assert!(metrics.as_str().unwrap().contains(
        "mdz_llm_tokens_total{kind=\"completion\",model=\"gpt-test\",provider=\"openai\"} 9"
    ));
}

/// A one-member project with a session on `app`; (user, session id).
async fn solo_session(app: &TestApp, session: Value) -> (TestUser, String) {
    let user = app.new_user().await;
    let project = app.project_with(&user, &[]).await;
    let (status, created) = app
        .post(
            &format!("/api/v1/projects/{project}/sessions"),
            Some(&user.access),
            session,
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    (user, created["id"].as_str().unwrap().to_owned())
}

#[tokio::test(flavor = "multi_thread")]
async fn the_bedrock_provider_signs_and_reads_the_aws_event_stream() {
    let llm = FakeLlm::start().await;
    let root = llm.base_url.trim_end_matches("/v1").to_owned();
    let app = TestApp::spawn_with(Options {
        config: vec![
            ("llm_provider", json!("bedrock")),
            ("llm_base_url", json!(root)),
            ("llm_region", json!("eu-west-1")),
            ("llm_aws_access_key_id", json!("AKIDFAKE")),
            ("llm_aws_secret_access_key", json!("fake-secret-KEY")),
            ("llm_model", json!("anthropic.claude-test-v1:0")),
            ("llm_timeout_secs", json!(1)),
        ],
        ..Options::default()
    })
    .await;
    let (user, sid) = solo_session(&app, json!({"instructions": "Be kind."})).await;
    let path = format!("/api/v1/sessions/{sid}/messages");
    let res = app
        .request(Method::POST, &path, Some(&user.access))
        .header("accept", "text/event-stream")
        .json(&json!({"content": "Say hello"}))
        .send()
        .await
        .unwrap();
    let evs = events(&res.text().await.unwrap());
    assert_eq!(deltas(&evs), "Hello world");
    let usage = evs.iter().find(|(e, _)| e == "usage").unwrap();
    assert_eq!(
        usage.1,
        json!({"prompt_tokens": 12, "completion_tokens": 3})
    );
    assert_eq!(evs.last().unwrap().1["status"], "complete");

    // Signed with SigV4 for the region and service; the secret itself never travels.
    let (auth, body) = llm.requests.lock().unwrap()[0].clone();
    let auth = auth.unwrap();
    assert!(
        auth.starts_with("AWS4-HMAC-SHA256 Credential=AKIDFAKE/")
            && auth.contains("/eu-west-1/bedrock/aws4_request"),
        "{auth}"
    );
    assert!(!auth.contains("fake-secret-KEY"));
    assert_eq!(body["system"], json!([{"text": "Be kind."}]));
    assert_eq!(
        body["messages"],
        json!([{"role": "user", "content": [{"text": "Say hello"}]}])
    );
    assert_eq!(body["inferenceConfig"]["maxTokens"], 4096);

    // A frame with a broken CRC mid-stream: an error event, the part before it kept.
    let res = app
        .request(Method::POST, &path, Some(&user.access))
        .header("accept", "text/event-stream")
        .json(&json!({"content": "[malformed] now"}))
        .send()
        .await
        .unwrap();
    let evs = events(&res.text().await.unwrap());
    assert_eq!(deltas(&evs), "partial ");
    let (event, data) = evs.last().unwrap();
    assert_eq!(event, "error");
    assert_eq!(data["status"], "incomplete");
    let (_, page) = app.get(&path, Some(&user.access)).await;
    let last = page["items"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["status"], "incomplete");
    assert_eq!(last["content"], "partial ");
    // An upstream exception: 502 without its message; a hang: 504.
    let (status, problem) = app
        .post(&path, Some(&user.access), json!({"content": "[500] now"}))
        .await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{problem}");
    assert!(!problem.to_string().contains("SECRET"));
    let (status, problem) = app
        .post(&path, Some(&user.access), json!({"content": "[hang] now"}))
        .await;
    assert_eq!(status, StatusCode::GATEWAY_TIMEOUT, "{problem}");
    // The next question after a timeout is answered normally.
    let (status, exchange) = app
        .post(&path, Some(&user.access), json!({"content": "Again"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{exchange}");
    assert_eq!(exchange["assistant_message"]["content"], "Hello world");
    assert_eq!(
        llm.requests.lock().unwrap().len(),
        5,
        "no retries behind the client's back"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bedrock_api_key_is_sent_as_a_bearer_token() {
    let llm = FakeLlm::start().await;
    let root = llm.base_url.trim_end_matches("/v1").to_owned();
    let app = TestApp::spawn_with(Options {
        config: vec![
            ("llm_provider", json!("bedrock")),
            ("llm_base_url", json!(root)),
            ("llm_api_key", json!("bedrock-api-key-XYZ")),
            ("llm_model", json!("amazon.nova-lite-v1:0")),
        ],
        ..Options::default()
    })
    .await;
    let (user, sid) = solo_session(&app, json!({})).await;
    let (status, exchange) = app
        .post(
            &format!("/api/v1/sessions/{sid}/messages"),
            Some(&user.access),
            json!({"content": "Hi"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{exchange}");
    assert_eq!(exchange["assistant_message"]["content"], "Hello world");
    assert_eq!(
        exchange["assistant_message"]["model"],
        "amazon.nova-lite-v1:0"
    );
    let (auth, _) = llm.requests.lock().unwrap()[0].clone();
    assert_eq!(auth.as_deref(), Some("Bearer bedrock-api-key-XYZ"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_session_may_choose_another_configured_provider() {
    let llm = FakeLlm::start().await;
    let app = TestApp::spawn_with(Options {
        config: vec![
            ("llm_provider", json!("openai")),
            ("llm_base_url", json!(llm.base_url.clone())),
            ("llm_model", json!("gpt-test")),
            (
                "llm_providers",
                json!({"claude": {"provider": "anthropic", "base_url": llm.base_url.clone(),
                                  "api_key": "sk-ant-other", "model": "claude-test"}}),
            ),
        ],
        ..Options::default()
    })
    .await;
    let user = app.new_user().await;
    let (status, list) = app.get("/api/v1/chat/providers", Some(&user.access)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        list["items"],
        json!([
            {"name": "default", "kind": "openai", "default_model": "gpt-test", "default": true},
            {"name": "claude", "kind": "anthropic", "default_model": "claude-test", "default": false},
        ])
    );
    assert!(!list.to_string().contains("sk-ant-other"));

    let project = app.project_with(&user, &[]).await;
    let sessions = format!("/api/v1/projects/{project}/sessions");
    let (status, problem) = app
        .post(&sessions, Some(&user.access), json!({"provider": "nope"}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert!(problem.to_string().contains("default, claude"), "{problem}");

    let (status, session) = app
        .post(&sessions, Some(&user.access), json!({"provider": "claude"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{session}");
    assert_eq!(session["provider"], "claude");
    let sid = session["id"].as_str().unwrap();
    let ask = |content: &'static str| {
        let app = &app;
        let user = &user;
        async move {
            let (status, exchange) = app
                .post(
                    &format!("/api/v1/sessions/{sid}/messages"),
                    Some(&user.access),
                    json!({ "content": content }),
                )
                .await;
            assert_eq!(status, StatusCode::CREATED, "{exchange}");
            exchange
        }
    };
    let exchange = ask("Hello Claude").await;
    assert_eq!(exchange["assistant_message"]["model"], "claude-test");
    let (key, body) = llm.requests.lock().unwrap()[0].clone();
    assert_eq!(key.as_deref(), Some("sk-ant-other"), "the Anthropic format");
    assert_eq!(body["model"], "claude-test");

    // Back to the default provider, with a model of its own.
    let (status, session) = app
        .patch(
            &format!("/api/v1/sessions/{sid}"),
            Some(&user.access),
            json!({"provider": null, "model": "gpt-other"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{session}");
    assert_eq!(session["provider"], Value::Null);
    let exchange = ask("Hello GPT").await;
    assert_eq!(exchange["assistant_message"]["model"], "gpt-other");
    let (key, body) = llm.requests.lock().unwrap()[1].clone();
    assert_eq!(key, None, "the OpenAI format, without a key");
    assert_eq!(body["model"], "gpt-other");
    assert_eq!(body["stream"], true);
}

/// The system prompt of the `n`th request the provider received.
fn system_prompt(llm: &FakeLlm, n: usize) -> String {
    let (_, body) = llm.requests.lock().unwrap()[n].clone();
    body["messages"][0]["content"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn session_changes_on_one_replica_apply_to_chat_on_the_other_at_once() {
    let llm = FakeLlm::start().await;
    let config = vec![
        ("llm_provider", json!("openai")),
        ("llm_base_url", json!(llm.base_url.clone())),
        ("llm_model", json!("gpt-test")),
    ];
    let a = TestApp::spawn_with(Options {
        redis: mdz_tests::Redis::Shared,
        config: config.clone(),
        ..Options::default()
    })
    .await;
    let b = TestApp::spawn_with(Options {
        redis: mdz_tests::Redis::Shared,
        replica_of: Some(a.replica()),
        config,
        ..Options::default()
    })
    .await;
    let owner = a.new_user().await;
    let editor = a.new_user().await;
    let project = a.project_with(&owner, &[(&editor, "editor")]).await;
    let (status, session) = a
        .post(
            &format!("/api/v1/projects/{project}/sessions"),
            Some(&editor.access),
            json!({"instructions": "Answer in English."}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let session = session["id"].as_str().unwrap().to_owned();
    let messages = format!("/api/v1/sessions/{session}/messages");
    let ask = |user: &TestUser| {
        let (b, path, token) = (&b, messages.clone(), user.access.clone());
        async move { b.post(&path, Some(&token), json!({"content": "hi"})).await }
    };
    // Replica b reads the session (and keeps it) while answering the owner.
    for _ in 0..2 {
        let (status, body) = ask(&owner).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    assert!(system_prompt(&llm, 1).contains("Answer in English."));

    // Private to its creator on replica a: the owner is refused on b from the next request.
    let session_path = format!("/api/v1/sessions/{session}");
    let (status, _) = a
        .patch(
            &session_path,
            Some(&editor.access),
            json!({"visibility": "private"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ask(&owner).await.0, StatusCode::NOT_FOUND);
    assert_eq!(
        b.get(&messages, Some(&owner.access)).await.0,
        StatusCode::NOT_FOUND
    );
    let (status, body) = ask(&editor).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    // New instructions on a are the ones b sends with its next answer.
    let (status, _) = a
        .patch(
            &session_path,
            Some(&editor.access),
            json!({"instructions": "Answer in French."}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = ask(&editor).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let sent = llm.requests.lock().unwrap().len();
    assert!(system_prompt(&llm, sent - 1).contains("Answer in French."));

    // Deleted on a: gone on b, and nothing is written for it.
    assert_eq!(
        a.delete(&session_path, Some(&editor.access)).await.0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(ask(&editor).await.0, StatusCode::NOT_FOUND);
    assert_eq!(
        a.sql(&format!(
            "SELECT 1 FROM chat_messages WHERE session_id = '{session}'"
        ))
        .await,
        0
    );
}

/// A message row as a node that stopped mid-answer leaves it: `minutes_ago` since its last save.
async fn leave_message(
    s: &Setup,
    role: &str,
    content: &str,
    status: &str,
    minutes_ago: u32,
) -> String {
    let id = uuid::Uuid::now_v7().to_string();
    s.app
        .sql(&format!(
            "INSERT INTO chat_messages (id, session_id, role, content, status, created_at, updated_at) \
             VALUES ('{id}', '{}', '{role}', '{content}', '{status}', \
                     now() - interval '{minutes_ago} minutes', now() - interval '{minutes_ago} minutes')",
            s.session
        ))
        .await;
    id
}

pub(crate) async fn message_by_id(s: &Setup, id: &str) -> Value {
    messages(s)
        .await
        .into_iter()
        .find(|m| m["id"] == id)
        .unwrap_or_else(|| panic!("no message {id}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn answers_left_streaming_by_a_stopped_node_are_ended() {
    let s = setup().await;
    let base = format!("/api/v1/sessions/{}/messages", s.session);
    leave_message(&s, "user", "What ships on Friday?", "complete", 60).await;
    let half = leave_message(&s, "assistant", "The release and", "streaming", 60).await;
    let empty = leave_message(&s, "assistant", "", "streaming", 60).await;
    // Saved a moment ago: perhaps another node is still generating it.
    let fresh = leave_message(&s, "assistant", "Still", "streaming", 0).await;

    let cancel = |id: &str| format!("{base}/{id}/cancel");
    let (status, _) = s
        .app
        .post(&cancel(&fresh), Some(&s.editor.access), json!({}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, _) = s
        .app
        .post(&cancel(&half), Some(&s.editor.access), json!({}))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let cancelled = message_by_id(&s, &half).await;
    assert_eq!(cancelled["status"], "cancelled");
    assert_eq!(
        cancelled["content"], "The release and",
        "the part so far stays"
    );

    // An orphan may be regenerated (no "cancel it first").
    let (status, again) = s
        .app
        .post(
            &format!("{base}/{empty}/regenerate"),
            Some(&s.editor.access),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{again}");
    assert_eq!(again["assistant_message"]["status"], "complete");
    assert_eq!(message_by_id(&s, &empty).await["status"], "failed");

    // The sweeper (which runs when a node starts, then every minute) ends the rest.
    let forgotten = leave_message(&s, "assistant", "Half", "streaming", 60).await;
    let _replica = TestApp::spawn_with(Options {
        replica_of: Some(s.app.replica()),
        ..Options::default()
    })
    .await;
    let mut ended = Value::Null;
    for _ in 0..50 {
        ended = message_by_id(&s, &forgotten).await;
        if ended["status"] != "streaming" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(ended["status"], "incomplete", "{ended}");
    assert_eq!(ended["content"], "Half");
    assert_eq!(
        message_by_id(&s, &fresh).await["status"],
        "streaming",
        "a recently saved answer is left alone"
    );
}
