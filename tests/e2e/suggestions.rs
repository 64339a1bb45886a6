//! Suggestions: edits proposed to a live document and accepted (one server edit through the
//! collab journal, typing around the range kept, seen by stock y-websocket clients and by
//! REST) or rejected; stale when the quoted text changed; offsets in Unicode scalar values;
//! the role matrix of every endpoint; bad input and limits.

use crate::collab::eventually;
use mdz_tests::{JsClient, Options, ROLES, Team, TestApp, TestUser};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// Characters (Unicode scalar values) before the first `needle` in `text`, and after it.
fn chars_of(text: &str, needle: &str) -> (usize, usize) {
    let at = text.find(needle).unwrap();
    let from = text[..at].chars().count();
    (from, from + needle.chars().count())
}

/// Suggest replacing the first `needle` of the document's current text with `proposed`.
async fn suggest(
    app: &TestApp,
    user: &TestUser,
    file: &str,
    needle: &str,
    proposed: &str,
) -> Value {
    let (text, revision) = app.file_text(user, file).await;
    let (from, to) = chars_of(&text, needle);
    let (status, body) = app
        .suggestions()
        .by_offsets(user, file, (from, to, revision), proposed)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["quote"], needle, "{body}");
    assert_eq!(body["status"], "open");
    body
}

async fn rest_text_becomes(app: &TestApp, user: &TestUser, file: &str, expected: &str) {
    let mut last = String::new();
    let became = eventually(|| {
        let app = &app;
        async move { app.file_text(user, file).await.0 == expected }
    })
    .await;
    if !became {
        last = app.file_text(user, file).await.0;
    }
    assert!(became, "the file never became {expected:?}: {last:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accepting_keeps_typing_around_the_range_and_live_clients_see_it() {
    let app = TestApp::spawn().await;
    let team = Team::new(&app).await;
    let start = "Hello wörld 🙂! The old phrase stays here.\nEnd.\n";
    let file = team.document(&app, "intro.md", start).await;
    let mut typist = JsClient::connect(&app.ws_base(), &file, &team.admin.access).await;
    let mut watcher = JsClient::connect(&app.ws_base(), &file, &team.viewer.access).await;
    typist.synced().await;
    watcher.synced().await;

    let s = suggest(&app, &team.editor, &file, "old phrase", "new words").await;
    assert!(s["provider"].is_null());
    // Someone types before and after the range after it was suggested.
    typist
        .call(json!({"cmd": "insert", "pos": 0, "text": "Intro. "}))
        .await;
    typist.append("More.\n").await;
    watcher.wait_contains("More.\n").await;
    watcher.wait_contains("Intro. ").await;

    let (status, accepted) = app
        .suggestions()
        .accept(&team.editor, s["id"].as_str().unwrap())
        .await;
    assert_eq!(status, StatusCode::OK, "{accepted}");
    assert_eq!(accepted["status"], "accepted");
    assert_eq!(accepted["decided_by"], team.editor.id.as_str());

    let expected = "Intro. Hello wörld 🙂! The new words stays here.\nEnd.\nMore.\n";
    let seen = watcher
        .call(json!({"cmd": "wait_text", "equals": expected, "timeout_ms": 10_000}))
        .await;
    assert_eq!(seen["ok"], true, "{seen}");
    let seen = typist
        .call(json!({"cmd": "wait_text", "equals": expected, "timeout_ms": 10_000}))
        .await;
    assert_eq!(seen["ok"], true, "{seen}");
    // The edit reaches the file (and so history and search) like any other.
    rest_text_becomes(&app, &team.viewer, &file, expected).await;
    let (_, versions) = app
        .get(
            &format!("/api/v1/files/{file}/versions"),
            Some(&team.viewer.access),
        )
        .await;
    assert!(
        versions["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|v| v["ai_assisted"] == false),
        "a person's suggestion is not AI-assisted: {versions}"
    );

    // A latecomer loads the accepted text from the journal.
    let mut late = JsClient::connect(&app.ws_base(), &file, &team.owner.access).await;
    late.synced().await;
    assert_eq!(late.wait_contains("new words").await, expected);
    for client in [typist, watcher, late] {
        client.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_quote_makes_the_suggestion_stale_and_nothing_is_overwritten() {
    let app = TestApp::spawn().await;
    let team = Team::new(&app).await;
    let file = team.document(&app, "plan.md", "We ship on Monday.\n").await;
    let mut typist = JsClient::connect(&app.ws_base(), &file, &team.editor.access).await;
    typist.synced().await;
    let s = suggest(&app, &team.owner, &file, "on Monday", "on Friday").await;
    let id = s["id"].as_str().unwrap();

    // Someone rewrites the middle of the quoted words live: "Monday" → "Munday".
    let at = "We ship on M".len();
    typist
        .call(json!({"cmd": "delete", "pos": at, "len": "ond".len()}))
        .await;
    typist
        .call(json!({"cmd": "insert", "pos": at, "text": "und"}))
        .await;
    let mut watcher = JsClient::connect(&app.ws_base(), &file, &team.viewer.access).await;
    watcher.synced().await;
    watcher.wait_contains("Munday").await;

    let (status, problem) = app.suggestions().accept(&team.editor, id).await;
    assert_eq!(status, StatusCode::CONFLICT, "{problem}");
    assert_eq!(problem["type"], "urn:mdz:problem:suggestion-stale");
    assert_eq!(problem["current"]["text"], "on Munday");
    // Nothing was overwritten, live or in the file.
    assert_eq!(typist.text().await, "We ship on Munday.\n");
    rest_text_becomes(&app, &team.viewer, &file, "We ship on Munday.\n").await;
    let (_, list) = app.suggestions().list(&team.viewer, &file).await;
    assert_eq!(list["items"][0]["status"], "stale", "{list}");
    assert_eq!(list["items"][0]["decided_by"], team.editor.id.as_str());
    // Settled: neither accepted nor rejected again.
    let (status, problem) = app.suggestions().accept(&team.owner, id).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(problem["type"], "urn:mdz:problem:suggestion-not-open");
    let (status, _) = app.suggestions().reject(&team.owner, id).await;
    assert_eq!(status, StatusCode::CONFLICT);

    // A quote that does not match the document is refused when suggested, too.
    let (text, revision) = app.file_text(&team.owner, &file).await;
    let (from, to) = chars_of(&text, "Munday");
    let (status, problem) = app
        .suggestions()
        .create(
            &team.owner,
            &file,
            json!({"range": {"from": from, "to": to, "revision": revision},
                   "quote": "Monday", "proposed": "Friday"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{problem}");
    assert_eq!(problem["current"]["text"], "Munday");
    typist.stop().await;
    watcher.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn rejecting_changes_nothing_and_ai_suggestions_mark_their_version() {
    let app = TestApp::spawn().await;
    let team = Team::new(&app).await;
    let file = team.document(&app, "notes.md", "alpha beta gamma\n").await;
    let human = suggest(&app, &team.editor, &file, "beta", "BETA").await;
    let (text, revision) = app.file_text(&team.owner, &file).await;
    let (from, to) = chars_of(&text, "gamma");
    let (status, ai) = app
        .suggestions()
        .create(
            &team.editor,
            &file,
            json!({"range": {"from": from, "to": to, "revision": revision},
                   "proposed": "delta", "explanation": "  Greek, in order.  ",
                   "provider": "openai", "model": "gpt-test"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{ai}");
    assert_eq!(ai["explanation"], "Greek, in order.");
    assert_eq!(ai["provider"], "openai");
    assert_eq!(ai["model"], "gpt-test");

    let (status, rejected) = app
        .suggestions()
        .reject(&team.admin, human["id"].as_str().unwrap())
        .await;
    assert_eq!(status, StatusCode::OK, "{rejected}");
    assert_eq!(rejected["status"], "rejected");
    let (status, _) = app
        .suggestions()
        .accept(&team.admin, human["id"].as_str().unwrap())
        .await;
    assert_eq!(status, StatusCode::CONFLICT);

    // Accepted by someone other than the document's author: a version of its own (one
    // author's saves within the coalescing window share a version).
    let (status, accepted) = app
        .suggestions()
        .accept(&team.admin, ai["id"].as_str().unwrap())
        .await;
    assert_eq!(status, StatusCode::OK, "{accepted}");
    rest_text_becomes(&app, &team.owner, &file, "alpha beta delta\n").await;
    let (_, versions) = app
        .get(
            &format!("/api/v1/files/{file}/versions"),
            Some(&team.owner.access),
        )
        .await;
    let items = versions["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{versions}");
    assert_eq!(items[0]["ai_assisted"], true, "{versions}");
    assert_eq!(items[0]["author"], team.admin.id.as_str());
    assert_eq!(items[1]["ai_assisted"], false, "{versions}");

    let (_, open) = app
        .get(
            &format!("/api/v1/files/{file}/suggestions?status=open"),
            Some(&team.viewer.access),
        )
        .await;
    assert_eq!(open["items"].as_array().unwrap().len(), 0, "{open}");
    let (_, all) = app.suggestions().list(&team.viewer, &file).await;
    let statuses: Vec<&str> = all["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["rejected", "accepted"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn every_endpoint_by_role() {
    let app = TestApp::spawn().await;
    let team = Team::new(&app).await;
    let words = "a b c d e f g h i j k l\n";
    let file = team.document(&app, "roles.md", words).await;
    let api = app.suggestions();
    let (_, revision) = app.file_text(&team.owner, &file).await;
    // Two suggestions per role (one to accept, one to reject) on distinct letters, all made
    // before any is accepted so every offset is into one revision.
    let mut made = Vec::new();
    for (i, _) in ROLES.iter().enumerate() {
        let mut pair = Vec::new();
        for k in 0..2 {
            let at = 2 * (2 * i + k);
            let (status, s) = api
                .by_offsets(&team.owner, &file, (at, at + 1, revision), "X")
                .await;
            assert_eq!(status, StatusCode::CREATED, "{s}");
            pair.push(s["id"].as_str().unwrap().to_owned());
        }
        made.push(pair);
    }
    // Created by each role below with server-made anchors (of the last letter): offsets
    // would need the revision of the moment, which the accepts keep moving.
    let (status, last) = api
        .by_offsets(&team.owner, &file, (22, 23, revision), "L")
        .await;
    assert_eq!(status, StatusCode::CREATED, "{last}");
    let anchor = last["anchor"].clone();
    for (i, role) in ROLES.iter().chain(["outsider"].iter()).enumerate() {
        let user = team.member(role);
        let (may_read, may_edit) = match *role {
            "owner" | "admin" | "editor" => (true, true),
            "commenter" | "viewer" => (true, false),
            _ => (false, false),
        };
        let denied = if may_read {
            StatusCode::FORBIDDEN
        } else {
            StatusCode::NOT_FOUND
        };
        let (status, _) = api.list(user, &file).await;
        assert_eq!(
            status,
            if may_read {
                StatusCode::OK
            } else {
                StatusCode::NOT_FOUND
            },
            "{role} lists"
        );
        let (status, body) = api
            .create(user, &file, json!({"anchor": anchor, "proposed": "Y"}))
            .await;
        let created = if may_edit {
            StatusCode::CREATED
        } else {
            denied
        };
        assert_eq!(status, created, "{role} creates: {body}");
        if status.is_success() {
            // Not left open: the accept and reject checks below use their own.
            let (status, _) = api.reject(user, body["id"].as_str().unwrap()).await;
            assert_eq!(status, StatusCode::OK);
        }
        let pair = &made[i.min(ROLES.len() - 1)];
        let settled = if may_edit { StatusCode::OK } else { denied };
        let (status, body) = api.accept(user, &pair[0]).await;
        assert_eq!(status, settled, "{role} accepts: {body}");
        let (status, body) = api.reject(user, &pair[1]).await;
        assert_eq!(status, settled, "{role} rejects: {body}");
    }
    // Owner, admin and editor each accepted one letter.
    rest_text_becomes(&app, &team.owner, &file, "X b X d X f g h i j k l\n").await;
    // Unknown suggestions are 404 for everyone.
    let nobody = uuid::Uuid::now_v7();
    let (status, _) = api.accept(&team.owner, &nobody.to_string()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offsets_count_unicode_scalar_values_and_stock_anchors_work() {
    let app = TestApp::spawn().await;
    let team = Team::new(&app).await;
    let text = "日本語 🙂 emoji é — the end\n";
    let file = team.document(&app, "unicode.md", text).await;
    let (_, revision) = app.file_text(&team.owner, &file).await;
    // "日本語 " is four characters (nine bytes); "🙂 emoji" is seven characters.
    let (status, s) = app
        .suggestions()
        .by_offsets(&team.editor, &file, (4, 11, revision), "😀 絵文字")
        .await;
    assert_eq!(status, StatusCode::CREATED, "{s}");
    assert_eq!(s["quote"], "🙂 emoji");
    let (status, _) = app
        .suggestions()
        .accept(&team.editor, s["id"].as_str().unwrap())
        .await;
    assert_eq!(status, StatusCode::OK);
    let after = "日本語 😀 絵文字 é — the end\n";
    rest_text_becomes(&app, &team.owner, &file, after).await;

    // Anchors made by the stock Yjs client (as the web app makes comment anchors).
    let mut client = JsClient::connect(&app.ws_base(), &file, &team.editor.access).await;
    client.synced().await;
    client.wait_contains("絵文字").await;
    let anchor = client
        .call(json!({"cmd": "anchor", "find": "é — the"}))
        .await;
    assert_eq!(anchor["ok"], true, "{anchor}");
    let (status, s) = app
        .suggestions()
        .create(
            &team.editor,
            &file,
            json!({"anchor": {"start": anchor["start"], "end": anchor["end"]}, "proposed": "è"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{s}");
    assert_eq!(s["quote"], "é — the");
    let (status, _) = app
        .suggestions()
        .accept(&team.owner, s["id"].as_str().unwrap())
        .await;
    assert_eq!(status, StatusCode::OK);
    let done = "日本語 😀 絵文字 è end\n";
    let seen = client
        .call(json!({"cmd": "wait_text", "equals": done, "timeout_ms": 10_000}))
        .await;
    assert_eq!(seen["ok"], true, "{seen}");
    rest_text_becomes(&app, &team.owner, &file, done).await;
    client.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_input_and_limits_are_problems() {
    let app = TestApp::spawn_with(Options {
        config: vec![
            ("max_file_bytes", json!(64)),
            ("collab_max_message_bytes", json!(4096)),
            ("suggestions_max_open_per_doc", json!(2)),
        ],
        ..Options::default()
    })
    .await;
    let team = Team::new(&app).await;
    let file = team.document(&app, "small.md", "short text\n").await;
    let (_, revision) = app.file_text(&team.owner, &file).await;
    let api = app.suggestions();
    let range = json!({"from": 0, "to": 5, "revision": revision});
    let cases = [
        (json!({"proposed": "x"}), StatusCode::UNPROCESSABLE_ENTITY),
        (
            json!({"range": range, "anchor": {"start": "AQID", "end": "AQID"}, "proposed": "x"}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({"range": {"from": 5, "to": 2, "revision": revision}, "proposed": "x"}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({"range": {"from": 0, "to": 99, "revision": revision}, "proposed": "x"}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({"anchor": {"start": "not base64!", "end": "AQID"}, "proposed": "x"}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({"range": range, "proposed": "nul\u{0}"}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({"range": range, "proposed": "x", "explanation": "e".repeat(4001)}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({"range": range, "proposed": "x", "provider": "bad\nname"}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({"range": range, "proposed": "x".repeat(65)}),
            StatusCode::PAYLOAD_TOO_LARGE,
        ),
        (
            json!({"range": {"from": 0, "to": 5, "revision": revision + 7}, "proposed": "x"}),
            StatusCode::CONFLICT,
        ),
        (
            json!({"range": range, "proposed": "x", "surprise": true}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
    ];
    for (body, expected) in cases {
        let (status, problem) = api.create(&team.editor, &file, body.clone()).await;
        assert_eq!(status, expected, "{body}: {problem}");
        assert!(
            problem["type"]
                .as_str()
                .unwrap()
                .starts_with("urn:mdz:problem:")
        );
    }
    let (_, problem) = api
        .create(
            &team.editor,
            &file,
            json!({"range": {"from": 0, "to": 5, "revision": revision + 7}, "proposed": "x"}),
        )
        .await;
    assert_eq!(problem["type"], "urn:mdz:problem:revision-unavailable");
    assert_eq!(problem["current"]["revision"], revision);
    let (status, problem) = app
        .get(
            &format!("/api/v1/files/{file}/suggestions?status=maybe"),
            Some(&team.viewer.access),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");

    // At most two open suggestions; settling one frees a place.
    let first = suggest(&app, &team.editor, &file, "short", "long").await;
    suggest(&app, &team.editor, &file, "text", "words").await;
    let (status, problem) = api
        .create(
            &team.editor,
            &file,
            json!({"range": range, "proposed": "x"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{problem}");
    assert_eq!(problem["type"], "urn:mdz:problem:too-many-suggestions");
    api.reject(&team.editor, first["id"].as_str().unwrap())
        .await;
    let (status, _) = api
        .create(
            &team.editor,
            &file,
            json!({"range": range, "proposed": "x"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);

    // An accept that would grow the document past the limit changes nothing.
    let (_, open) = app
        .get(
            &format!("/api/v1/files/{file}/suggestions?status=open"),
            Some(&team.viewer.access),
        )
        .await;
    for s in open["items"].as_array().unwrap() {
        api.reject(&team.editor, s["id"].as_str().unwrap()).await;
    }
    let big = suggest(&app, &team.owner, &file, "text", &"y".repeat(60)).await;
    let (status, problem) = api.accept(&team.owner, big["id"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{problem}");
    assert_eq!(app.file_text(&team.owner, &file).await.0, "short text\n");
    let (_, list) = api.list(&team.viewer, &file).await;
    let still = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == big["id"])
        .unwrap();
    assert_eq!(still["status"], "open");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_suggestion_replaces_at_most_64_kib() {
    let app = TestApp::spawn().await;
    let team = Team::new(&app).await;
    // 100,000 characters: a whole-document range stored as the quote of every suggestion,
    // and sent with every page of the list, before ranges had a limit.
    let text = "lorem ipsum ".repeat(8_334);
    let file = team.document(&app, "big.md", &text).await;
    let (_, revision) = app.file_text(&team.owner, &file).await;
    let api = app.suggestions();
    let (status, problem) = api
        .create(
            &team.editor,
            &file,
            json!({"range": {"from": 0, "to": 100_000, "revision": revision}, "proposed": "x"}),
        )
        .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{problem}");
    assert_eq!(problem["type"], "urn:mdz:problem:range-too-big");
    let (status, body) = api
        .create(
            &team.editor,
            &file,
            json!({"range": {"from": 0, "to": 60_000, "revision": revision}, "proposed": "x"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}
