//! Live project events (`GET /projects/{id}/events`): who may follow them, what arrives and
//! in which order, notifications only for their recipient, resuming with `Last-Event-ID` on
//! another replica, the reset below the horizon, the end of a removed member's stream, and the
//! per-user stream limit.

use mdz_tests::{EventStream, Next, Options, ROLES, Sse, Team, TestApp, TestUser, open_events};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::time::Duration;

/// Text in the documents these tests write.
const TEXT: &str = "# Plan\n\nThe old phrase stays here.\n";

async fn ok(app: &TestApp, method: Method, path: &str, user: &TestUser, body: Value) -> Value {
    let (status, value) = app.call(method, path, Some(&user.access), Some(body)).await;
    assert!(status.is_success(), "{path}: {status} {value}");
    value
}

fn kinds(events: &[Sse]) -> Vec<String> {
    events.iter().map(Sse::kind).collect()
}

/// The `type`s of `events` among `wanted`, in order (live saves add `file.updated` at times
/// these tests do not control).
fn among(events: &[Sse], wanted: &[&str]) -> Vec<String> {
    kinds(events)
        .into_iter()
        .filter(|k| wanted.contains(&k.as_str()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_member_may_follow_the_events_and_nobody_else() {
    let app = TestApp::spawn().await;
    let team = Team::new(&app).await;
    for role in ROLES {
        let mut stream =
            EventStream::open(&app, &team.member(role).access, &team.project, None).await;
        let ready = stream.next().await;
        assert_eq!(ready.event, "ready", "{role}: {ready:?}");
        assert_eq!(ready.id.as_deref(), ready.data["id"].as_str(), "{role}");
    }
    let outsider = open_events(&app, Some(&team.outsider.access), &team.project, None).await;
    assert_eq!(outsider.status(), StatusCode::NOT_FOUND);
    let anonymous = open_events(&app, None, &team.project, None).await;
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    let bad = open_events(&app, Some(&team.viewer.access), &team.project, Some("x")).await;
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let problem: Value = bad.json().await.unwrap();
    assert_eq!(problem["type"], "urn:mdz:problem:validation", "{problem}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_happens_in_a_project_arrives_in_order() {
    let app = TestApp::spawn().await;
    let team = Team::new(&app).await;
    let mut stream = EventStream::open(&app, &team.viewer.access, &team.project, None).await;
    assert_eq!(stream.next().await.event, "ready");

    let file = team.document(&app, "plan.md", TEXT).await;
    let path = format!("/api/v1/files/{file}");
    ok(
        &app,
        Method::PATCH,
        &path,
        &team.editor,
        json!({"path": "plans/plan.md"}),
    )
    .await;
    let comment = ok(
        &app,
        Method::POST,
        &format!("{path}/comments"),
        &team.commenter,
        json!({"body": "Looks fine"}),
    )
    .await;
    let (text, revision) = app.file_text(&team.editor, &file).await;
    let at = text.find("old").unwrap();
    let suggestions = app.suggestions();
    let (status, first) = suggestions
        .by_offsets(&team.editor, &file, (at, at + 3, revision), "new")
        .await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    let (status, _) = suggestions
        .reject(&team.admin, first["id"].as_str().unwrap())
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, second) = suggestions
        .by_offsets(&team.editor, &file, (at, at + 3, revision), "fresh")
        .await;
    assert_eq!(status, StatusCode::CREATED, "{second}");
    let (status, _) = suggestions
        .accept(&team.admin, second["id"].as_str().unwrap())
        .await;
    assert_eq!(status, StatusCode::OK);
    let newcomer = app.new_user().await;
    let members = format!("/api/v1/projects/{}/members", team.project);
    ok(
        &app,
        Method::POST,
        &members,
        &team.owner,
        json!({"email": newcomer.email, "role": "viewer"}),
    )
    .await;
    ok(
        &app,
        Method::DELETE,
        &format!("{members}/{}", newcomer.id),
        &team.owner,
        Value::Null,
    )
    .await;
    ok(&app, Method::DELETE, &path, &team.editor, Value::Null).await;

    let seen = stream.until("file.deleted").await;
    let wanted = [
        "file.created",
        "file.renamed",
        "comment.created",
        "suggestion.created",
        "suggestion.rejected",
        "suggestion.accepted",
        "member.added",
        "member.removed",
        "file.deleted",
    ];
    assert_eq!(
        among(&seen, &wanted),
        [
            "file.created",
            "file.renamed",
            "comment.created",
            "suggestion.created",
            "suggestion.rejected",
            "suggestion.created",
            "suggestion.accepted",
            "member.added",
            "member.removed",
            "file.deleted",
        ],
        "{seen:#?}"
    );
    let by_kind = |k: &str| seen.iter().find(|e| e.kind() == k).unwrap().data.clone();
    let renamed = by_kind("file.renamed");
    assert_eq!(renamed["data"]["path"], "plans/plan.md");
    assert_eq!(renamed["data"]["file_id"], file.as_str());
    assert_eq!(renamed["actor"], team.editor.id.as_str());
    assert_eq!(renamed["project_id"], team.project.as_str());
    let commented = by_kind("comment.created");
    assert_eq!(commented["data"]["comment_id"], comment["id"]);
    assert_eq!(commented["actor"], team.commenter.id.as_str());
    assert!(
        !commented.to_string().contains("Looks fine"),
        "events carry ids, not text: {commented}"
    );
    assert_eq!(
        by_kind("member.added")["data"]["user_id"],
        newcomer.id.as_str()
    );
    // Every id is unique and each event's id is where the feed stands after it.
    let ids: Vec<&str> = seen.iter().filter_map(|e| e.id.as_deref()).collect();
    let unique: std::collections::BTreeSet<&str> = ids.iter().copied().collect();
    assert_eq!(unique.len(), ids.len(), "{ids:?}");
    for event in &seen {
        assert_eq!(event.id.as_deref(), event.data["id"].as_str());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notifications_reach_only_their_recipient() {
    let app = TestApp::spawn().await;
    let team = Team::new(&app).await;
    let file = team.document(&app, "plan.md", TEXT).await;
    let mut mentioned = EventStream::open(&app, &team.viewer.access, &team.project, None).await;
    let mut other = EventStream::open(&app, &team.editor.access, &team.project, None).await;
    mentioned.next().await;
    other.next().await;
    let body = format!("@{} please look", team.viewer.email);
    ok(
        &app,
        Method::POST,
        &format!("/api/v1/files/{file}/comments"),
        &team.commenter,
        json!({"body": body}),
    )
    .await;
    // A marker after the comment: whatever the editor sees before it is all they get.
    ok(
        &app,
        Method::PATCH,
        &format!("/api/v1/files/{file}"),
        &team.editor,
        json!({"path": "marker.md"}),
    )
    .await;

    let theirs = mentioned.until("file.renamed").await;
    let note = theirs.iter().find(|e| e.kind() == "notification").unwrap();
    assert_eq!(note.data["data"]["kind"], "mention");
    assert_eq!(note.data["actor"], team.commenter.id.as_str());
    let seen = other.until("file.renamed").await;
    assert_eq!(
        among(&seen, &["comment.created", "notification"]),
        ["comment.created"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_resumed_on_another_replica_misses_nothing_and_repeats_nothing() {
    let a = TestApp::spawn_with(Options {
        redis: mdz_tests::Redis::Shared,
        ..Options::default()
    })
    .await;
    let b = TestApp::spawn_with(Options {
        redis: mdz_tests::Redis::Shared,
        replica_of: Some(a.replica()),
        ..Options::default()
    })
    .await;
    let team = Team::new(&a).await;
    let mut on_a = EventStream::open(&a, &team.viewer.access, &team.project, None).await;
    assert_eq!(on_a.next().await.event, "ready");
    team.document(&a, "one.md", TEXT).await;
    let first = on_a.until("file.created").await.pop().unwrap();
    drop(on_a);
    // While the client is away, on both replicas.
    team.document(&a, "two.md", TEXT).await;
    team.document(&b, "three.md", TEXT).await;

    let mut on_b =
        EventStream::open(&b, &team.viewer.access, &team.project, first.id.as_deref()).await;
    let ready = on_b.next().await;
    assert_eq!(
        (ready.event.as_str(), ready.id.clone()),
        ("ready", first.id.clone())
    );
    let mut paths = Vec::new();
    while paths.len() < 2 {
        let event = on_b.next().await;
        if event.kind() == "file.created" {
            paths.push(event.data["data"]["path"].as_str().unwrap().to_owned());
        }
    }
    assert_eq!(paths, ["two.md", "three.md"], "after one.md, each once");
    // Live again: a change made on the other replica arrives through the bus (the poll
    // does not run while the bus is up).
    team.document(&a, "four.md", TEXT).await;
    let live = on_b.until("file.created").await.pop().unwrap();
    assert_eq!(live.data["data"]["path"], "four.md");
    // The same id resumed from `?after=` on the first replica gives the same events.
    let after = first.id.clone().unwrap();
    let (status, problem) = a
        .get(
            &format!("/api/v1/projects/{}/events?after=bad", team.project),
            Some(&team.viewer.access),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(problem["errors"][0]["field"], "after", "{problem}");
    let bad = open_events(&a, Some(&team.viewer.access), &team.project, Some("x")).await;
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let problem: Value = bad.json().await.unwrap();
    assert_eq!(problem["errors"][0]["field"], "Last-Event-ID", "{problem}");
    // An empty `Last-Event-ID` is no id: the stream starts at the present.
    let mut empty = EventStream::open(&a, &team.viewer.access, &team.project, Some("")).await;
    assert_eq!(empty.next().await.event, "ready");
    drop(empty);
    let res = a
        .request(
            Method::GET,
            &format!("/api/v1/projects/{}/events?after={after}", team.project),
            Some(&team.viewer.access),
        )
        .send()
        .await
        .unwrap();
    let mut resumed = EventStream::from_response(res);
    assert_eq!(resumed.next().await.id, first.id, "ready at the id resumed");
    let mut paths = Vec::new();
    while paths.len() < 3 {
        let event = resumed.next().await;
        if event.kind() == "file.created" {
            paths.push(event.data["data"]["path"].as_str().unwrap().to_owned());
        }
    }
    assert_eq!(paths, ["two.md", "three.md", "four.md"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cursor_below_the_horizon_gets_a_reset_then_the_present() {
    let app = TestApp::spawn().await;
    let team = Team::new(&app).await;
    team.document(&app, "one.md", TEXT).await;
    team.document(&app, "two.md", TEXT).await;
    let mut stream = EventStream::open(&app, &team.owner.access, &team.project, None).await;
    let ready = stream.next().await;
    let old = ready.id.clone().unwrap();
    drop(stream);
    // The retention compacted the feed past where the client stood.
    app.sql(&format!(
        "UPDATE file_change_counters SET horizon = seq WHERE project_id = '{}'",
        team.project
    ))
    .await;
    team.document(&app, "three.md", TEXT).await;
    let mut stream = EventStream::open(&app, &team.owner.access, &team.project, Some("0-0")).await;
    assert_eq!(stream.next().await.event, "ready");
    let reset = stream.next().await;
    assert_eq!(reset.event, "reset", "{reset:?}");
    assert_ne!(
        reset.id.as_deref(),
        Some(old.as_str()),
        "the present, after three.md"
    );
    team.document(&app, "four.md", TEXT).await;
    let next = stream.until("file.created").await.pop().unwrap();
    assert_eq!(
        next.data["data"]["path"], "four.md",
        "three.md is not replayed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cursor_ahead_of_the_feed_gets_a_reset_then_the_present() {
    let app = TestApp::spawn().await;
    let team = Team::new(&app).await;
    team.document(&app, "one.md", TEXT).await;
    for ahead in ["999-0", "0-999"] {
        let mut stream =
            EventStream::open(&app, &team.owner.access, &team.project, Some(ahead)).await;
        assert_eq!(stream.next().await.event, "ready");
        let reset = stream.next().await;
        assert_eq!(reset.event, "reset", "{ahead}: {reset:?}");
        assert_ne!(reset.id.as_deref(), Some(ahead));
        team.document(&app, &format!("after-{ahead}.md"), TEXT)
            .await;
        let next = stream.until("file.created").await.pop().unwrap();
        assert_eq!(next.data["data"]["path"], format!("after-{ahead}.md"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_ends_when_its_reader_loses_access() {
    let app = TestApp::spawn().await;
    let team = Team::new(&app).await;
    let mut removed = EventStream::open(&app, &team.viewer.access, &team.project, None).await;
    let mut stays = EventStream::open(&app, &team.editor.access, &team.project, None).await;
    removed.next().await;
    stays.next().await;
    let members = format!("/api/v1/projects/{}/members", team.project);
    ok(
        &app,
        Method::DELETE,
        &format!("{members}/{}", team.viewer.id),
        &team.owner,
        Value::Null,
    )
    .await;
    let last = removed.until("member.removed").await.pop().unwrap();
    assert_eq!(last.data["data"]["user_id"], team.viewer.id.as_str());
    assert!(removed.ends().await, "the removed member's stream ends");
    assert_eq!(stays.until("member.removed").await.len(), 1);
    assert!(
        matches!(
            stays.next_within(Duration::from_millis(500)).await,
            Next::Quiet
        ),
        "the others' streams stay open"
    );

    // Deleting the project ends everyone's.
    ok(
        &app,
        Method::DELETE,
        &format!("/api/v1/projects/{}", team.project),
        &team.owner,
        Value::Null,
    )
    .await;
    assert!(stays.ends().await, "a deleted project's streams end");

    // So does signing out.
    let team = Team::new(&app).await;
    let mut stream = EventStream::open(&app, &team.editor.access, &team.project, None).await;
    stream.next().await;
    let (status, _) = app
        .call(
            Method::POST,
            "/api/v1/auth/logout",
            Some(&team.editor.access),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(stream.ends().await, "a revoked session's stream ends");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_may_hold_only_so_many_streams() {
    let app = TestApp::spawn_with(Options {
        config: vec![("events_max_streams_per_user", json!(2))],
        ..Options::default()
    })
    .await;
    let team = Team::new(&app).await;
    let _one = EventStream::open(&app, &team.editor.access, &team.project, None).await;
    let _two = EventStream::open(&app, &team.editor.access, &team.project, None).await;
    let third = open_events(&app, Some(&team.editor.access), &team.project, None).await;
    assert_eq!(third.status(), StatusCode::TOO_MANY_REQUESTS);
    let problem: Value = third.json().await.unwrap();
    assert_eq!(
        problem["type"], "urn:mdz:problem:too-many-event-streams",
        "{problem}"
    );
    // Per user: another member still gets theirs.
    EventStream::open(&app, &team.viewer.access, &team.project, None).await;
}
