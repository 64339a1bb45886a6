//! AI edits (`POST /files/{id}/ai/edit`) and completions (`…/ai/complete`) over the real
//! provider wire formats (local fakes): streamed like chat answers, cancelled, resumed from
//! an offset, shown in presence to stock y-websocket clients while the AI writes, ending as
//! an open suggestion that accepts as an AI-assisted version; and who may ask.

use crate::collab::eventually;
use futures_util::StreamExt;
use mdz_tests::{FakeLlm, JsClient, Options, ROLES, SLOW_PIECES, Team, TestApp, TestUser};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const TEXT: &str = "# Plan\nShip on Friday.\nThanks.\n";

struct Setup {
    app: TestApp,
    llm: FakeLlm,
    team: Team,
    file: String,
    revision: i64,
}

async fn setup(provider: &str) -> Setup {
    setup_with(provider, &[]).await
}

async fn setup_with(provider: &str, more: &[(&'static str, Value)]) -> Setup {
    let llm = FakeLlm::start().await;
    let mut config = vec![
        ("llm_provider", json!(provider)),
        ("llm_base_url", json!(llm.base_url.clone())),
        ("llm_api_key", json!("sk-fake-SECRET")),
        ("llm_model", json!("model-test")),
        ("llm_timeout_secs", json!(2)),
    ];
    config.extend_from_slice(more);
    let app = TestApp::spawn_with(Options {
        config,
        ..Options::default()
    })
    .await;
    let team = Team::new(&app).await;
    let file = team.document(&app, "plan.md", TEXT).await;
    let (_, revision) = app.file_text(&team.owner, &file).await;
    Setup {
        app,
        llm,
        team,
        file,
        revision,
    }
}

/// "Ship on Friday." of [`TEXT`], in characters.
fn selection(revision: i64) -> Value {
    json!({"from": 7, "to": 22, "revision": revision})
}

/// Parse SSE text into (event, data) pairs.
fn events(text: &str) -> Vec<(String, Value)> {
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

fn deltas(evs: &[(String, Value)]) -> String {
    evs.iter()
        .filter(|(e, _)| e == "delta")
        .map(|(_, d)| d["text"].as_str().unwrap().to_owned())
        .collect()
}

/// POST an edit asking for SSE.
async fn edit_sse(s: &Setup, user: &TestUser, body: Value) -> reqwest::Response {
    let res = s
        .app
        .request(
            Method::POST,
            &format!("/api/v1/files/{}/ai/edit", s.file),
            Some(&user.access),
        )
        .header("accept", "text/event-stream")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    res
}

/// Read a stream until `until` holds of what arrived; returns it.
async fn read_until<B: AsRef<[u8]>>(
    body: &mut (impl futures_util::Stream<Item = reqwest::Result<B>> + Unpin),
    until: impl Fn(&str) -> bool,
) -> String {
    let mut seen = String::new();
    while !until(&seen) {
        let Some(Ok(bytes)) = body.next().await else {
            break;
        };
        seen.push_str(&String::from_utf8_lossy(bytes.as_ref()));
    }
    seen
}

async fn edit_row(s: &Setup, id: &str) -> Value {
    let (status, edit) = s
        .app
        .get(
            &format!("/api/v1/files/{}/ai/edits/{id}", s.file),
            Some(&s.team.viewer.access),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{edit}");
    edit
}

/// The other presence entries a stock client sees.
async fn presence(client: &mut JsClient, count: usize) -> Value {
    client
        .call(json!({"cmd": "wait_awareness", "count": count, "timeout_ms": 10_000}))
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edit_streams_shows_the_ai_in_presence_and_accepts_as_ai_assisted() {
    let s = setup("openai").await;
    let mut watcher = JsClient::connect(&s.app.ws_base(), &s.file, &s.team.viewer.access).await;
    watcher.synced().await;
    let res = edit_sse(
        &s,
        &s.team.editor,
        json!({"instruction": "Make it formal [slow]", "range": selection(s.revision)}),
    )
    .await;
    let mut body = res.bytes_stream();
    let seen = read_until(&mut body, |t| t.contains("event: delta")).await;
    let id = events(&seen)[0].1["ai_edit_id"]
        .as_str()
        .unwrap()
        .to_owned();

    // While the AI writes, a stock client sees it in presence, with the asker attached.
    let during = presence(&mut watcher, 1).await;
    assert_eq!(during["ok"], true, "{during}");
    let entry = &during["states"][0];
    assert_eq!(entry["ai"], true, "{entry}");
    assert!(
        entry["user"]["name"].as_str().unwrap().starts_with("AI"),
        "{entry}"
    );
    assert_eq!(entry["requested_by"], s.team.editor.id.as_str());
    assert!(entry["range"]["start"].is_string(), "{entry}");

    let rest = read_until(&mut body, |_| false).await;
    let evs = events(&format!("{seen}{rest}"));
    assert_eq!(deltas(&evs), SLOW_PIECES.concat());
    let (last, done) = evs.last().unwrap();
    assert_eq!(last, "done", "{evs:?}");
    assert_eq!(done["status"], "complete");
    let suggestion = done["suggestion_id"].as_str().unwrap().to_owned();

    // ... and not after it ended.
    let after = presence(&mut watcher, 0).await;
    assert_eq!(after["ok"], true, "the AI's presence is removed: {after}");

    // The selection, the instruction and the cap went to the provider.
    let (_, sent) = s.llm.requests.lock().unwrap()[0].clone();
    let prompt = sent["messages"].to_string();
    assert!(
        prompt.contains("<selection>Ship on Friday.</selection>"),
        "{prompt}"
    );
    assert!(prompt.contains("Make it formal"), "{prompt}");
    assert_eq!(sent["max_tokens"], 4096);

    let stored = edit_row(&s, &id).await;
    assert_eq!(stored["status"], "complete");
    assert_eq!(stored["content"], SLOW_PIECES.concat());
    assert_eq!(stored["suggestion_id"], suggestion.as_str());
    assert_eq!(stored["quote"], "Ship on Friday.");

    let (status, list) = s.app.suggestions().list(&s.team.viewer, &s.file).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let open = &list["items"][0];
    assert_eq!(open["id"], suggestion.as_str());
    assert_eq!(open["status"], "open");
    assert_eq!(open["quote"], "Ship on Friday.");
    assert_eq!(open["proposed"], SLOW_PIECES.concat());
    assert_eq!(open["created_by"], s.team.editor.id.as_str());
    assert_eq!(open["model"], "model-test");

    let (status, accepted) = s.app.suggestions().accept(&s.team.admin, &suggestion).await;
    assert_eq!(status, StatusCode::OK, "{accepted}");
    let expected = format!("# Plan\n{}\nThanks.\n", SLOW_PIECES.concat());
    assert!(
        eventually(|| async { s.app.file_text(&s.team.owner, &s.file).await.0 == expected }).await,
        "the accepted edit reaches the file"
    );
    let (_, versions) = s
        .app
        .get(
            &format!("/api/v1/files/{}/versions", s.file),
            Some(&s.team.owner.access),
        )
        .await;
    assert_eq!(versions["items"][0]["ai_assisted"], true, "{versions}");
    watcher.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_midway_keeps_the_part_and_makes_no_suggestion() {
    let s = setup("openai").await;
    let mut watcher = JsClient::connect(&s.app.ws_base(), &s.file, &s.team.viewer.access).await;
    watcher.synced().await;
    let res = edit_sse(&s, &s.team.editor, json!({"instruction": "[slow] shorter"})).await;
    let mut body = res.bytes_stream();
    let seen = read_until(&mut body, |t| t.contains("event: delta")).await;
    let id = events(&seen)[0].1["ai_edit_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(presence(&mut watcher, 1).await["ok"], true);

    let cancel = format!("/api/v1/files/{}/ai/edits/{id}/cancel", s.file);
    let (status, _) = s
        .app
        .post(&cancel, Some(&s.team.viewer.access), json!({}))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = s
        .app
        .post(&cancel, Some(&s.team.outsider.access), json!({}))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = s
        .app
        .post(&cancel, Some(&s.team.editor.access), json!({}))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let rest = read_until(&mut body, |_| false).await;
    let evs = events(&format!("{seen}{rest}"));
    let (last, done) = evs.last().unwrap();
    assert_eq!(last, "done", "{evs:?}");
    assert_eq!(done["status"], "cancelled");
    assert!(done["suggestion_id"].is_null(), "{done}");

    let stored = edit_row(&s, &id).await;
    assert_eq!(stored["status"], "cancelled");
    let kept = stored["content"].as_str().unwrap();
    let full = SLOW_PIECES.concat();
    assert!(
        !kept.is_empty() && full.starts_with(kept) && kept != full,
        "{kept:?}"
    );
    assert!(stored["suggestion_id"].is_null());
    let (_, list) = s.app.suggestions().list(&s.team.viewer, &s.file).await;
    assert_eq!(
        list["items"],
        json!([]),
        "a cancelled edit suggests nothing"
    );
    assert_eq!(
        presence(&mut watcher, 0).await["ok"],
        true,
        "presence ends with a cancel"
    );
    let (status, _) = s
        .app
        .post(&cancel, Some(&s.team.editor.access), json!({}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    watcher.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_client_resumes_an_edit_from_an_offset() {
    let s = setup("openai").await;
    let res = edit_sse(
        &s,
        &s.team.editor,
        json!({"instruction": "[slow] count", "range": selection(s.revision)}),
    )
    .await;
    let mut body = res.bytes_stream();
    let first = read_until(&mut body, |t| t.contains("event: edit")).await;
    let id = events(&first)[0].1["ai_edit_id"]
        .as_str()
        .unwrap()
        .to_owned();
    drop(body);

    let stream = |offset: usize| {
        s.app
            .request(
                Method::GET,
                &format!(
                    "/api/v1/files/{}/ai/edits/{id}/stream?offset={offset}",
                    s.file
                ),
                Some(&s.team.viewer.access),
            )
            .send()
    };
    let res = stream(4).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let evs = events(&res.text().await.unwrap());
    assert_eq!(deltas(&evs), SLOW_PIECES.concat()[4..]);
    let done = &evs.last().unwrap().1;
    assert_eq!(done["status"], "complete", "{evs:?}");
    assert!(done["suggestion_id"].is_string(), "{done}");

    // Once it ended, the rest is replayed from storage.
    let res = stream(8).await.unwrap();
    let evs = events(&res.text().await.unwrap());
    assert_eq!(deltas(&evs), SLOW_PIECES.concat()[8..]);
    assert_eq!(
        evs.last().unwrap().1["suggestion_id"],
        done["suggestion_id"]
    );
    let (status, _) = s
        .app
        .get(
            &format!("/api/v1/files/{}/ai/edits/{id}/stream", s.file),
            Some(&s.team.outsider.access),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_anthropic_provider_writes_an_edit_of_the_whole_document() {
    let s = setup("anthropic").await;
    let (status, edit) = s
        .app
        .post(
            &format!("/api/v1/files/{}/ai/edit", s.file),
            Some(&s.team.editor.access),
            json!({"instruction": "Greet"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{edit}");
    assert_eq!(edit["status"], "complete");
    assert_eq!(edit["content"], "Hello world");
    assert_eq!(edit["quote"], TEXT);
    assert_eq!(edit["completion_tokens"], 3);
    let (auth, sent) = s.llm.requests.lock().unwrap()[0].clone();
    assert_eq!(auth.as_deref(), Some("sk-fake-SECRET"));
    assert!(
        sent["system"]
            .as_str()
            .unwrap()
            .contains("replacement text only"),
        "{sent}"
    );
    let (_, list) = s.app.suggestions().list(&s.team.viewer, &s.file).await;
    assert_eq!(list["items"][0]["id"], edit["suggestion_id"]);
    assert_eq!(list["items"][0]["quote"], TEXT);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_completion_is_short_streamed_and_suggests_nothing() {
    let s = setup("openai").await;
    let res = s
        .app
        .request(
            Method::POST,
            &format!("/api/v1/files/{}/ai/complete", s.file),
            Some(&s.team.editor.access),
        )
        .header("accept", "text/event-stream")
        .json(&json!({"position": 11}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let evs = events(&res.text().await.unwrap());
    assert_eq!(deltas(&evs), "Hello world");
    assert_eq!(evs.last().unwrap().1["status"], "complete");
    let (_, sent) = s.llm.requests.lock().unwrap()[0].clone();
    assert_eq!(sent["max_tokens"], 64, "the tight cap");
    let prompt = sent["messages"].to_string();
    assert!(
        prompt.contains("# Plan\\nShip<cursor/> on Friday."),
        "{prompt}"
    );
    let (_, list) = s.app.suggestions().list(&s.team.viewer, &s.file).await;
    assert_eq!(list["items"], json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roles_for_ai_edits_and_completions() {
    let s = setup("openai").await;
    for role in ROLES.into_iter().chain(["outsider"]) {
        let user = s.team.member(role);
        let expected = match role {
            "owner" | "admin" | "editor" => StatusCode::CREATED,
            "outsider" => StatusCode::NOT_FOUND,
            _ => StatusCode::FORBIDDEN,
        };
        let (status, edit) = s
            .app
            .post(
                &format!("/api/v1/files/{}/ai/edit", s.file),
                Some(&user.access),
                json!({"instruction": "Greet", "range": selection(s.revision)}),
            )
            .await;
        assert_eq!(status, expected, "{role} edit: {edit}");
        let (status, done) = s
            .app
            .post(
                &format!("/api/v1/files/{}/ai/complete", s.file),
                Some(&user.access),
                json!({"position": 3}),
            )
            .await;
        assert_eq!(status, expected, "{role} complete: {done}");
        if expected == StatusCode::CREATED {
            assert_eq!(edit["status"], "complete", "{edit}");
            // Members read it; a stranger does not learn it exists.
            let path = format!(
                "/api/v1/files/{}/ai/edits/{}",
                s.file,
                edit["id"].as_str().unwrap()
            );
            let (status, _) = s.app.get(&path, Some(&s.team.viewer.access)).await;
            assert_eq!(status, StatusCode::OK);
            let (status, _) = s.app.get(&path, Some(&s.team.outsider.access)).await;
            assert_eq!(status, StatusCode::NOT_FOUND);
        }
    }
    // Bad input: an empty instruction, an unknown provider, both range kinds.
    for body in [
        json!({"instruction": "  "}),
        json!({"instruction": "x", "provider": "nope"}),
        json!({"instruction": "x", "range": selection(s.revision), "anchor": {"start": "AA", "end": "AA"}}),
    ] {
        let (status, problem) = s
            .app
            .post(
                &format!("/api/v1/files/{}/ai/edit", s.file),
                Some(&s.team.editor.access),
                body,
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    }
}

/// The `model` labels of the LLM duration series in `/metrics`.
async fn model_labels(app: &TestApp) -> std::collections::BTreeSet<String> {
    let res = app.client.get(app.url("/metrics")).send().await.unwrap();
    let text = res.text().await.unwrap();
    text.lines()
        .filter(|l| l.starts_with("mdz_llm_request_duration_seconds_count{"))
        .filter_map(|l| {
            let from = l.find("model=\"")? + 7;
            let len = l[from..].find('"')?;
            Some(l[from..from + len].to_owned())
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn model_names_are_checked_and_do_not_grow_the_metrics() {
    let s = setup("openai").await;
    let complete = format!("/api/v1/files/{}/ai/complete", s.file);
    for bad in ["gpt 4", "m<script>", "m\u{7f}x", "ünïcode"] {
        let (status, problem) = s
            .app
            .post(
                &complete,
                Some(&s.team.editor.access),
                json!({"position": 3, "model": bad}),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {problem}");
    }
    let (status, _) = s
        .app
        .post(
            &complete,
            Some(&s.team.editor.access),
            json!({"position": 3}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    for i in 0..12 {
        let model = format!("random-{i}");
        let (status, done) = s
            .app
            .post(
                &complete,
                Some(&s.team.editor.access),
                json!({"position": 3, "model": model}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{done}");
        // Chat's answers are labelled the same way: a session may name any model.
        let (status, session) = s
            .app
            .post(
                &format!("/api/v1/projects/{}/sessions", s.team.project),
                Some(&s.team.editor.access),
                json!({"model": format!("chat-{i}")}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{session}");
        let (status, answer) = s
            .app
            .post(
                &format!(
                    "/api/v1/sessions/{}/messages",
                    session["id"].as_str().unwrap()
                ),
                Some(&s.team.editor.access),
                json!({"content": "Hi"}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{answer}");
    }
    let labels = model_labels(&s.app).await;
    assert_eq!(
        labels,
        ["model-test", "other"].map(str::to_owned).into(),
        "unknown models share one label"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_whole_document_edit_takes_the_live_text_with_unsaved_typing() {
    let s = setup("openai").await;
    let mut typist = JsClient::connect(&s.app.ws_base(), &s.file, &s.team.editor.access).await;
    typist.synced().await;
    let mut watcher = JsClient::connect(&s.app.ws_base(), &s.file, &s.team.viewer.access).await;
    watcher.synced().await;
    // Typed in the middle, not yet saved to the file: the server has it once the watcher does.
    typist
        .call(json!({"cmd": "insert", "pos": 7, "text": "Soon: "}))
        .await;
    let live = watcher.wait_contains("Soon: ").await;
    let (status, edit) = s
        .app
        .post(
            &format!("/api/v1/files/{}/ai/edit", s.file),
            Some(&s.team.editor.access),
            json!({"instruction": "Greet"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{edit}");
    assert_eq!(edit["quote"], live.as_str(), "the whole live text");
    assert!(edit["suggestion_id"].is_string(), "{edit}");
    typist.stop().await;
    watcher.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streaming_edits_are_capped_per_user_and_per_document() {
    let s = setup_with(
        "openai",
        &[
            ("llm_ai_max_live_per_user", json!(1)),
            ("llm_ai_max_live_per_document", json!(2)),
        ],
    )
    .await;
    let ask = |user: &TestUser| {
        s.app
            .request(
                Method::POST,
                &format!("/api/v1/files/{}/ai/edit", s.file),
                Some(&user.access),
            )
            .header("accept", "text/event-stream")
            .json(&json!({"instruction": "[slow] go"}))
            .send()
    };
    let refused = |res: reqwest::Response| async move {
        assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
        assert!(res.headers().contains_key("retry-after"));
        assert_eq!(
            res.headers()["content-type"],
            "application/problem+json",
            "{res:?}"
        );
        let problem: Value = res.json().await.unwrap();
        assert_eq!(
            problem["type"], "urn:mdz:problem:too-many-ai-edits",
            "{problem}"
        );
    };
    let first = ask(&s.team.editor).await.unwrap();
    assert_eq!(first.status(), StatusCode::OK);
    let mut first = first.bytes_stream();
    read_until(&mut first, |t| t.contains("event: edit")).await;
    // The same user again, while the first streams.
    refused(ask(&s.team.editor).await.unwrap()).await;
    let (status, problem) = s
        .app
        .post(
            &format!("/api/v1/files/{}/ai/complete", s.file),
            Some(&s.team.editor.access),
            json!({"position": 1}),
        )
        .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{problem}");
    // Another user: the document has room for one more, then none.
    let second = ask(&s.team.admin).await.unwrap();
    assert_eq!(second.status(), StatusCode::OK);
    let mut second = second.bytes_stream();
    read_until(&mut second, |t| t.contains("event: edit")).await;
    refused(ask(&s.team.owner).await.unwrap()).await;
    // Once they end, the slots are free again.
    read_until(&mut first, |_| false).await;
    read_until(&mut second, |_| false).await;
    let (status, edit) = s
        .app
        .post(
            &format!("/api/v1/files/{}/ai/edit", s.file),
            Some(&s.team.editor.access),
            json!({"instruction": "Greet"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{edit}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ended_completions_are_purged_after_their_retention() {
    let s = setup("openai").await;
    let (status, completion) = s
        .app
        .post(
            &format!("/api/v1/files/{}/ai/complete", s.file),
            Some(&s.team.editor.access),
            json!({"position": 3}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{completion}");
    let (status, edit) = s
        .app
        .post(
            &format!("/api/v1/files/{}/ai/edit", s.file),
            Some(&s.team.editor.access),
            json!({"instruction": "Greet"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{edit}");
    let fresh = s
        .app
        .post(
            &format!("/api/v1/files/{}/ai/complete", s.file),
            Some(&s.team.editor.access),
            json!({"position": 3}),
        )
        .await
        .1;
    // Both asked a day ago; the sweeper runs when a node starts.
    s.app
        .sql(&format!(
            "UPDATE ai_edits SET created_at = now() - interval '1 day' WHERE id IN ('{}', '{}')",
            completion["id"].as_str().unwrap(),
            edit["id"].as_str().unwrap()
        ))
        .await;
    let _replica = TestApp::spawn_with(Options {
        replica_of: Some(s.app.replica()),
        ..Options::default()
    })
    .await;
    let path = |e: &Value| {
        format!(
            "/api/v1/files/{}/ai/edits/{}",
            s.file,
            e["id"].as_str().unwrap()
        )
    };
    let gone = crate::collab::eventually(|| async {
        s.app
            .get(&path(&completion), Some(&s.team.editor.access))
            .await
            .0
            == StatusCode::NOT_FOUND
    })
    .await;
    assert!(gone, "an old completion is purged");
    let (status, _) = s.app.get(&path(&edit), Some(&s.team.editor.access)).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "an edit is kept (its suggestion refers to it)"
    );
    let (status, _) = s.app.get(&path(&fresh), Some(&s.team.editor.access)).await;
    assert_eq!(status, StatusCode::OK, "a recent completion is kept");
}

#[derive(diesel::QueryableByName)]
struct Unindexed {
    #[diesel(sql_type = diesel::sql_types::Text)]
    column: String,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_foreign_key_of_ai_edits_is_indexed() {
    use diesel_async::RunQueryDsl;
    let app = TestApp::spawn().await;
    let mut db = app.db().await;
    // Deleting a project, file, user or suggestion looks its rows up by these columns.
    let unindexed: Vec<Unindexed> = diesel::sql_query(
        "SELECT a.attname::text AS column FROM pg_constraint c \
         JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1] \
         WHERE c.contype = 'f' AND c.conrelid = 'ai_edits'::regclass \
           AND NOT EXISTS (SELECT 1 FROM pg_index i \
                           WHERE i.indrelid = c.conrelid AND i.indkey[0] = c.conkey[1]) \
         ORDER BY 1",
    )
    .load(&mut db)
    .await
    .unwrap();
    let columns: Vec<String> = unindexed.into_iter().map(|u| u.column).collect();
    assert_eq!(columns, Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edits_of_a_trashed_document_are_not_found() {
    let s = setup("openai").await;
    let (status, edit) = s
        .app
        .post(
            &format!("/api/v1/files/{}/ai/edit", s.file),
            Some(&s.team.editor.access),
            json!({"instruction": "Greet"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{edit}");
    let path = format!(
        "/api/v1/files/{}/ai/edits/{}",
        s.file,
        edit["id"].as_str().unwrap()
    );
    assert_eq!(
        s.app.get(&path, Some(&s.team.viewer.access)).await.0,
        StatusCode::OK
    );
    let (status, _) = s
        .app
        .delete(
            &format!("/api/v1/files/{}", s.file),
            Some(&s.team.owner.access),
        )
        .await;
    assert!(status.is_success(), "{status}");
    for path in [path.clone(), format!("{path}/stream")] {
        let (status, body) = s.app.get(&path, Some(&s.team.viewer.access)).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {body}");
    }
}
