//! A typed reader of a project's live event stream (`GET /projects/{id}/events`, SSE).

use crate::TestApp;
use reqwest::{Method, StatusCode};
use serde_json::Value;
use std::time::Duration;

/// How long a test waits for an event it expects (a bound, not a speed claim).
pub const EVENT_WAIT: Duration = Duration::from_secs(20);

/// One SSE event: its `id`, its name (`message` when unnamed) and its JSON data.
#[derive(Debug, Clone, PartialEq)]
pub struct Sse {
    pub id: Option<String>,
    pub event: String,
    pub data: Value,
}

impl Sse {
    /// A project event's `type` (`file.created`, …), or the SSE name (`ready`, `reset`).
    pub fn kind(&self) -> String {
        match self.event.as_str() {
            "message" => self.data["type"].as_str().unwrap_or_default().to_owned(),
            other => other.to_owned(),
        }
    }
}

/// What the stream did next.
#[derive(Debug, Clone, PartialEq)]
pub enum Next {
    Event(Sse),
    /// The server ended the stream.
    Ended,
    /// Nothing but heartbeats within the wait.
    Quiet,
}

/// An open event stream.
pub struct EventStream {
    response: reqwest::Response,
    buffer: String,
    ended: bool,
}

/// `GET /projects/{project}/events` with an optional `Last-Event-ID`; the raw response.
pub async fn open_events(
    app: &TestApp,
    token: Option<&str>,
    project: &str,
    last_event_id: Option<&str>,
) -> reqwest::Response {
    let mut request = app.request(
        Method::GET,
        &format!("/api/v1/projects/{project}/events"),
        token,
    );
    if let Some(id) = last_event_id {
        request = request.header("last-event-id", id);
    }
    request.send().await.expect("the event stream request")
}

fn parse(block: &str) -> Option<Sse> {
    let (mut id, mut event, mut data) = (None, "message".to_owned(), String::new());
    for line in block.lines() {
        if let Some(v) = line.strip_prefix("id: ") {
            id = Some(v.to_owned());
        } else if let Some(v) = line.strip_prefix("event: ") {
            v.clone_into(&mut event);
        } else if let Some(v) = line.strip_prefix("data: ") {
            data.push_str(v);
        }
    }
    if data.is_empty() {
        return None; // a comment (heartbeat)
    }
    let data = serde_json::from_str(&data).expect("SSE data is JSON");
    Some(Sse { id, event, data })
}

impl EventStream {
    /// Open `project`'s stream as `token` (resuming after `last_event_id`); asserts 200.
    pub async fn open(
        app: &TestApp,
        token: &str,
        project: &str,
        last_event_id: Option<&str>,
    ) -> Self {
        Self::from_response(open_events(app, Some(token), project, last_event_id).await)
    }

    /// Read an event stream already requested; asserts 200.
    pub fn from_response(response: reqwest::Response) -> Self {
        assert_eq!(response.status(), StatusCode::OK, "open the event stream");
        assert_eq!(
            response.headers()["content-type"],
            "text/event-stream",
            "an event stream"
        );
        Self {
            response,
            buffer: String::new(),
            ended: false,
        }
    }

    /// The next event, waiting at most `wait`.
    pub async fn next_within(&mut self, wait: Duration) -> Next {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            while let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                if let Some(event) = parse(&block) {
                    return Next::Event(event);
                }
            }
            if self.ended {
                return Next::Ended;
            }
            match tokio::time::timeout_at(deadline, self.response.chunk()).await {
                Err(_) => return Next::Quiet,
                Ok(Ok(Some(bytes))) => self.buffer.push_str(&String::from_utf8_lossy(&bytes)),
                Ok(Ok(None) | Err(_)) => self.ended = true,
            }
        }
    }

    /// The next event; panics when the stream ends or stays quiet for [`EVENT_WAIT`].
    pub async fn next(&mut self) -> Sse {
        match self.next_within(EVENT_WAIT).await {
            Next::Event(event) => event,
            other => panic!("expected an event, got {other:?}"),
        }
    }

    /// Events until one of `kind` (included); panics if it does not come.
    pub async fn until(&mut self, kind: &str) -> Vec<Sse> {
        let mut seen = Vec::new();
        loop {
            let event = self.next().await;
            let done = event.kind() == kind;
            seen.push(event);
            if done {
                return seen;
            }
        }
    }

    /// Whether the server ends the stream within [`EVENT_WAIT`] (events before are skipped).
    pub async fn ends(&mut self) -> bool {
        loop {
            match self.next_within(EVENT_WAIT).await {
                Next::Event(_) => {}
                Next::Ended => return true,
                Next::Quiet => return false,
            }
        }
    }
}
