//! Sessions end everywhere at once: logout, a deleted session, a password change and a
//! deleted personal access token close the WebSockets and end the SSE streams they opened,
//! on every replica; collab tickets open one socket, once, for a minute.

use crate::collab::{raw_socket, setup_with};
use futures_util::StreamExt;
use mdz_tests::{FakeLlm, Options, PASSWORD, Redis, TestApp, TestUser};
use reqwest::{Method, StatusCode};
use serde_json::json;
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Read until the server closes (at most 5 s); its close code.
async fn closed_with(ws: &mut Socket) -> Option<u16> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while let Ok(Some(msg)) = tokio::time::timeout_at(deadline, ws.next()).await {
        match msg {
            Ok(Message::Close(frame)) => return frame.map(|f| u16::from(f.code)),
            Ok(_) => {}
            Err(_) => return None,
        }
    }
    None
}

/// Is the socket still served (answers an awareness query)?
async fn still_open(ws: &mut Socket) -> bool {
    use futures_util::SinkExt;
    if ws.send(Message::Binary(vec![3].into())).await.is_err() {
        return false;
    }
    let deadline = tokio::time::Instant::now() + Duration::from_millis(1500);
    while let Ok(Some(Ok(msg))) = tokio::time::timeout_at(deadline, ws.next()).await {
        if matches!(msg, Message::Close(_)) {
            return false;
        }
    }
    true
}

async fn login(app: &TestApp, user: &TestUser) -> TestUser {
    let (status, body) = app
        .post(
            "/api/v1/auth/login",
            None,
            json!({"email": user.email, "password": PASSWORD}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    TestUser::from_auth(user.email.clone(), &body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_and_password_change_close_that_sessions_sockets() {
    let s = setup_with(Options::default(), "live").await;
    let other_session = login(&s.app, &s.editor).await;
    let mut ws = raw_socket(&s.app, &s.file, &s.editor.access).await;
    let mut bystander = raw_socket(&s.app, &s.file, &other_session.access).await;
    let (status, _) = s
        .app
        .call(
            Method::POST,
            "/api/v1/auth/logout",
            Some(&s.editor.access),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(closed_with(&mut ws).await, Some(4401));
    assert!(still_open(&mut bystander).await, "another session stays");

    // A password change signs every other session out, and their sockets close.
    let current = login(&s.app, &s.editor).await;
    let (status, body) = s
        .app
        .post(
            "/api/v1/auth/password",
            Some(&current.access),
            json!({"current_password": PASSWORD, "new_password": "a-whole-new-harbour-77"}),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    assert_eq!(closed_with(&mut bystander).await, Some(4401));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_deleted_on_one_replica_closes_its_socket_on_another() {
    let s = setup_with(
        Options {
            redis: Redis::Shared,
            ..Options::default()
        },
        "two nodes",
    )
    .await;
    let b = TestApp::spawn_with(Options {
        redis: Redis::Shared,
        replica_of: Some(s.app.replica()),
        ..Options::default()
    })
    .await;
    let phone = login(&s.app, &s.editor).await;
    let mut ws = raw_socket(&s.app, &s.file, &phone.access).await;
    assert!(still_open(&mut ws).await);
    let (_, sessions) = b.get("/api/v1/auth/sessions", Some(&s.editor.access)).await;
    let phone_session = sessions["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|x| x["current"] != true)
        .map(|x| x["id"].as_str().unwrap().to_owned())
        .collect::<Vec<_>>();
    for id in phone_session {
        let (status, _) = b
            .delete(
                &format!("/api/v1/auth/sessions/{id}"),
                Some(&s.editor.access),
            )
            .await;
        assert_eq!(status, StatusCode::NO_CONTENT);
    }
    assert_eq!(closed_with(&mut ws).await, Some(4401));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tickets_open_one_socket_once_and_tokens_close_theirs_when_deleted() {
    let s = setup_with(Options::default(), "tickets").await;
    let (status, created) = s
        .app
        .post(
            "/api/v1/auth/tokens",
            Some(&s.editor.access),
            json!({"name": "cli"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let pat = created["token"].as_str().unwrap().to_owned();
    let pat_id = created["id"].as_str().unwrap().to_owned();
    let (status, ticket) = s
        .app
        .post("/api/v1/collab/tickets", Some(&pat), json!({}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{ticket}");
    let ticket = ticket["ticket"].as_str().unwrap().to_owned();
    assert!(ticket.starts_with("mdz_ct_"));
    let url = format!("{}/{}?ticket={ticket}", s.app.ws_base(), s.file);
    let (mut ws, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
    assert!(still_open(&mut ws).await);
    // Spent: the same ticket opens nothing.
    match tokio_tungstenite::connect_async(&url).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(res)) => {
            assert_eq!(res.status().as_u16(), 401);
        }
        other => panic!("a spent ticket opened a socket: {:?}", other.map(|_| ())),
    }
    // Expired: refused too.
    let (_, late) = s
        .app
        .post("/api/v1/collab/tickets", Some(&pat), json!({}))
        .await;
    s.app
        .sql("UPDATE collab_tickets SET expires_at = now() - interval '1 second' WHERE used_at IS NULL")
        .await;
    let late_url = format!(
        "{}/{}?ticket={}",
        s.app.ws_base(),
        s.file,
        late["ticket"].as_str().unwrap()
    );
    assert!(tokio_tungstenite::connect_async(&late_url).await.is_err());
    // Deleting the token closes the socket its ticket opened.
    let (status, _) = s
        .app
        .delete(
            &format!("/api/v1/auth/tokens/{pat_id}"),
            Some(&s.editor.access),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(closed_with(&mut ws).await, Some(4401));
    // A ticket of a signed-out session is refused.
    let (_, t) = s
        .app
        .post("/api/v1/collab/tickets", Some(&s.owner.access), json!({}))
        .await;
    s.app
        .call(
            Method::POST,
            "/api/v1/auth/logout",
            Some(&s.owner.access),
            None,
        )
        .await;
    let url = format!(
        "{}/{}?ticket={}",
        s.app.ws_base(),
        s.file,
        t["ticket"].as_str().unwrap()
    );
    assert!(tokio_tungstenite::connect_async(&url).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_ends_an_answer_stream() {
    let llm = FakeLlm::start().await;
    let app = TestApp::spawn_with(Options {
        config: vec![
            ("llm_provider", json!("openai")),
            ("llm_base_url", json!(llm.base_url.clone())),
            ("llm_api_key", json!("sk-fake")),
            ("llm_model", json!("gpt-test")),
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
            json!({}),
        )
        .await;
    let res = app
        .request(
            Method::POST,
            &format!(
                "/api/v1/sessions/{}/messages",
                session["id"].as_str().unwrap()
            ),
            Some(&user.access),
        )
        .header("accept", "text/event-stream")
        .json(&json!({"content": "count slowly [slow]"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let mut body = res.bytes_stream();
    let first = body.next().await;
    assert!(matches!(first, Some(Ok(_))));
    let (status, _) = app
        .call(
            Method::POST,
            "/api/v1/auth/logout",
            Some(&user.access),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    // The stream ends before the slow answer (10 pieces, 150 ms apart) does.
    let mut rest = String::new();
    let ended = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(Ok(chunk)) = body.next().await {
            rest.push_str(&String::from_utf8_lossy(&chunk));
        }
    })
    .await;
    assert!(ended.is_ok(), "the stream was still open: {rest}");
    assert!(
        !rest.contains("ten") && !rest.contains("event: done"),
        "{rest}"
    );
}
