//! Chat and the question's commit: the answer starts while the question and its row commit,
//! streams before they are in, and ends (`done`, the row written) only once they are; when
//! they are refused, the answer ends with an error and nothing of the exchange is stored.

use crate::chat::{Setup, events, message_by_id, post_sse, setup};
use diesel_async::SimpleAsyncConnection;
use futures_util::StreamExt;
use reqwest::StatusCode;
use serde_json::json;
use std::time::Duration;

/// Hold back the messages' insert: their foreign key waits for this lock on the session.
async fn hold_inserts(s: &Setup) -> diesel_async::AsyncPgConnection {
    let mut blocker = s.app.db().await;
    blocker
        .batch_execute(&format!(
            "BEGIN; SELECT 1 FROM chat_sessions WHERE id = '{}' FOR UPDATE",
            s.session
        ))
        .await
        .unwrap();
    blocker
}

async fn stored_messages(s: &Setup) -> usize {
    s.app
        .sql(&format!(
            "SELECT 1 FROM chat_messages WHERE session_id = '{}'",
            s.session
        ))
        .await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_session_deleted_behind_a_warm_cache_answers_404_and_writes_nothing() {
    let s = setup().await;
    let path = format!("/api/v1/sessions/{}/messages", s.session);
    let (status, body) = s
        .app
        .post(&path, Some(&s.editor.access), json!({"content": "hi"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    // Gone without the sessions domain knowing (as when another replica's invalidation is
    // still on its way): the question's foreign key refuses it.
    s.app
        .sql(&format!(
            "DELETE FROM chat_sessions WHERE id = '{}'",
            s.session
        ))
        .await;
    let (status, problem) = s
        .app
        .post(&path, Some(&s.editor.access), json!({"content": "again"}))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{problem}");
    assert_eq!(stored_messages(&s).await, 0);
}

/// The answer starts while its question commits; an answer that ends before the commit is
/// still stored whole (its final save waits for the row), not lost to an UPDATE of a row not
/// there yet.
#[tokio::test(flavor = "multi_thread")]
async fn an_answer_that_ends_before_its_question_commits_is_stored_whole() {
    let s = setup().await;
    let path = format!("/api/v1/sessions/{}/messages", s.session);
    // The insert is held back while the provider answers.
    let mut blocker = hold_inserts(&s).await;
    let ((status, body), ()) = tokio::join!(
        s.app
            .post(&path, Some(&s.editor.access), json!({"content": "hi"})),
        async {
            tokio::time::sleep(Duration::from_millis(1500)).await;
            blocker.batch_execute("COMMIT").await.unwrap();
        }
    );
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(
        body["assistant_message"]["content"], "Hello world",
        "{body}"
    );
    assert_eq!(body["assistant_message"]["status"], "complete", "{body}");
    let id = body["assistant_message"]["id"].as_str().unwrap();
    let stored = message_by_id(&s, id).await;
    assert_eq!(stored["content"], "Hello world", "{stored}");
    assert_eq!(stored["status"], "complete", "{stored}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_answer_streams_while_its_question_commits_and_ends_once_it_has() {
    let s = setup().await;
    let mut blocker = hold_inserts(&s).await;
    // The response and the whole answer arrive while the insert is held back (before, the
    // post waited for the commit: this timed out).
    let res = tokio::time::timeout(Duration::from_secs(20), post_sse(&s, &s.editor, "hi"))
        .await
        .expect("the answer starts before its question commits");
    assert_eq!(res.status(), StatusCode::OK);
    let mut body = res.bytes_stream();
    let mut seen = String::new();
    let streamed = tokio::time::timeout(Duration::from_secs(20), async {
        while !seen.contains("world") {
            seen.push_str(&String::from_utf8_lossy(
                &body.next().await.unwrap().unwrap(),
            ));
        }
    })
    .await;
    assert!(
        streamed.is_ok(),
        "the text streams before the commit: {seen}"
    );
    assert_eq!(stored_messages(&s).await, 0, "nothing committed yet");
    // The provider is done (its usage may follow), but the end waits for the rows.
    while let Ok(Some(Ok(bytes))) =
        tokio::time::timeout(Duration::from_millis(500), body.next()).await
    {
        seen.push_str(&String::from_utf8_lossy(&bytes));
    }
    assert!(
        !seen.contains("event: done") && !seen.contains("event: error"),
        "no end before the commit: {seen}"
    );
    blocker.batch_execute("COMMIT").await.unwrap();
    while let Some(Ok(bytes)) = body.next().await {
        seen.push_str(&String::from_utf8_lossy(&bytes));
    }
    let evs = events(&seen);
    let (last, done) = evs.last().unwrap();
    assert_eq!(last, "done", "{seen}");
    assert_eq!(done["status"], "complete", "{seen}");
    let id = evs[0].1["assistant_message_id"].as_str().unwrap();
    let stored = message_by_id(&s, id).await;
    assert_eq!(stored["content"], "Hello world", "{stored}");
    assert_eq!(stored["status"], "complete", "{stored}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_streamed_answer_whose_question_is_refused_ends_with_an_error_and_stores_nothing() {
    let s = setup().await;
    // Deleted behind the sessions cache: the question's foreign key refuses it, after the
    // answer has started.
    let (status, body) = s
        .app
        .post(
            &format!("/api/v1/sessions/{}/messages", s.session),
            Some(&s.editor.access),
            json!({"content": "warm the cache"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    s.app
        .sql(&format!(
            "DELETE FROM chat_sessions WHERE id = '{}'",
            s.session
        ))
        .await;
    let res = post_sse(&s, &s.editor, "hi").await;
    assert_eq!(res.status(), StatusCode::OK);
    let text = res.text().await.unwrap();
    let evs = events(&text);
    let (last, error) = evs.last().unwrap();
    assert_eq!(last, "error", "{text}");
    assert_eq!(error["type"], "urn:mdz:problem:not-found", "{text}");
    assert_eq!(error["status"], "failed", "{text}");
    assert_eq!(
        stored_messages(&s).await,
        0,
        "nothing of the exchange is stored"
    );
}
