//! One WebSocket connection of a room: reads y-websocket frames, stores writes through the
//! journal before they are applied and relayed, relays room frames back (draining whatever
//! is queued at once, so bursts leave together without waiting for a timer), keeps the peer
//! alive with pings, and follows role changes while open.

use crate::protocol::{self, Incoming};
use crate::room::{ConnId, Frame, Joined, Room};
use crate::rooms::Rooms;
use actix_ws::{AggregatedMessage, AggregatedMessageStream, CloseCode, CloseReason, Session};
use bytes::Bytes;
use mdz_core::access::Role;
use mdz_core::ids::UserId;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::broadcast::error::RecvError;

/// Why the server ended a connection: the close code and a short reason.
struct Close(CloseCode, &'static str, &'static str);

const CLOSE_TOO_BIG: Close = Close(CloseCode::Size, "message-too-big", "message too big");
const CLOSE_MALFORMED: Close = Close(CloseCode::Protocol, "malformed", "malformed message");
const CLOSE_TEXT: Close = Close(CloseCode::Unsupported, "text-frame", "binary frames only");
const CLOSE_RATE: Close = Close(CloseCode::Policy, "rate-limit", "too many messages");
const CLOSE_REMOVED: Close = Close(CloseCode::Other(4403), "removed", "no longer a member");
const CLOSE_STORAGE: Close = Close(
    CloseCode::Again,
    "storage",
    "storage unavailable; reconnect",
);
const CLOSE_DOC_TOO_BIG: Close = Close(
    CloseCode::Size,
    "document-too-big",
    "the document would pass its size limit (max_file_bytes)",
);
const CLOSE_SIGNED_OUT: Close = Close(
    CloseCode::Other(4401),
    "signed-out",
    "the session or token that opened this connection has ended",
);
const CLOSE_DEAD: Close = Close(CloseCode::Away, "dead-peer", "no answer to pings");

/// A token bucket: `rate` messages a second, bursts of twice that.
struct Bucket {
    tokens: f64,
    rate: f64,
    at: Instant,
}

impl Bucket {
    fn new(rate: u32) -> Self {
        let rate = f64::from(rate);
        Self {
            tokens: rate * 2.0,
            rate,
            at: Instant::now(),
        }
    }

    /// Take `n` tokens (one per message), or none when there are not enough.
    fn take(&mut self, n: usize) -> bool {
        let now = Instant::now();
        self.tokens = (self.tokens + now.duration_since(self.at).as_secs_f64() * self.rate)
            .min(self.rate * 2.0);
        self.at = now;
        let n = n as f64;
        if self.tokens >= n {
            self.tokens -= n;
            true
        } else {
            false
        }
    }
}

pub struct Connection {
    pub rooms: Arc<Rooms>,
    pub room: Arc<Room>,
    pub id: ConnId,
    pub user: UserId,
    pub session: Session,
    pub joined: Joined,
    /// Resolves when the credential that opened the socket is revoked (see
    /// `mdz_core::revocation::until_ended`).
    pub ended: Pin<Box<dyn Future<Output = ()> + Send>>,
}

impl Connection {
    /// Serve until either side closes.
    pub async fn run(mut self, mut stream: AggregatedMessageStream) {
        let metrics = self.rooms.metrics.clone();
        metrics.connections.inc();
        let close = self.serve(&mut stream).await;
        if let Some(raw) = self.room.leave(self.id) {
            self.rooms.publish_awareness(self.room.file, &raw).await;
        }
        metrics.connections.dec();
        if let Some(Close(code, label, description)) = close {
            metrics.closes.with_label_values(&[label]).inc();
            tracing::debug!(file_id = %self.room.file, reason = label, "closing collab connection");
            drop(
                self.session
                    .close(Some(CloseReason {
                        code,
                        description: Some(description.to_owned()),
                    }))
                    .await,
            );
        }
    }

    fn can_write(&self) -> bool {
        self.joined
            .role
            .borrow()
            .is_some_and(|r| r.at_least(Role::Editor))
    }

    async fn send(&mut self, bytes: Bytes) -> Result<(), ()> {
        self.session.binary(bytes).await.map_err(drop)
    }

    async fn serve(&mut self, stream: &mut AggregatedMessageStream) -> Option<Close> {
        for frame in std::mem::take(&mut self.joined.hello) {
            self.send(frame).await.ok()?;
        }
        let settings = self.rooms.settings.clone();
        let mut bucket = Bucket::new(settings.messages_per_sec);
        let mut ping = tokio::time::interval(settings.ping_every);
        ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut heard = Instant::now();
        loop {
            tokio::select! {
                incoming = stream.recv() => {
                    heard = Instant::now();
                    match incoming {
                        Some(Ok(AggregatedMessage::Binary(data))) => {
                            if let Some(close) = self.handle(&data, &mut bucket).await {
                                return Some(close);
                            }
                        }
                        Some(Ok(AggregatedMessage::Ping(payload))) => {
                            self.session.pong(&payload).await.ok()?;
                        }
                        Some(Ok(AggregatedMessage::Pong(_))) => {}
                        Some(Ok(AggregatedMessage::Text(_))) => return Some(CLOSE_TEXT),
                        Some(Ok(AggregatedMessage::Close(_))) | None => return None,
                        Some(Err(actix_ws::ProtocolError::Overflow)) => return Some(CLOSE_TOO_BIG),
                        Some(Err(_)) => return Some(CLOSE_MALFORMED),
                    }
                }
                frame = self.joined.frames.recv() => {
                    match frame {
                        Ok(frame) => self.relay(frame).await.ok()?,
                        Err(RecvError::Lagged(_)) => {
                            // Too far behind to replay frame by frame: send the whole state.
                            let state = self.room.full_state_frame();
                            self.send(state).await.ok()?;
                        }
                        Err(RecvError::Closed) => return None,
                    }
                }
                () = &mut self.ended => return Some(CLOSE_SIGNED_OUT),
                changed = self.joined.role.changed() => {
                    if changed.is_err() || self.joined.role.borrow().is_none() {
                        return Some(CLOSE_REMOVED);
                    }
                }
                _ = ping.tick() => {
                    if heard.elapsed() >= settings.dead_after {
                        return Some(CLOSE_DEAD);
                    }
                    self.session.ping(b"").await.ok()?;
                }
            }
        }
    }

    /// Send a room frame and everything else already queued, back to back.
    async fn relay(&mut self, first: Frame) -> Result<(), ()> {
        if first.origin != self.id {
            self.deliver(first).await?;
        }
        loop {
            match self.joined.frames.try_recv() {
                Ok(frame) if frame.origin == self.id => {}
                Ok(frame) => self.deliver(frame).await?,
                Err(tokio::sync::broadcast::error::TryRecvError::Lagged(_)) => {
                    let state = self.room.full_state_frame();
                    self.send(state).await?;
                }
                Err(_) => return Ok(()),
            }
        }
    }

    /// Write a room frame, timing it from its broadcast.
    async fn deliver(&mut self, frame: Frame) -> Result<(), ()> {
        self.send(frame.bytes).await?;
        self.rooms
            .metrics
            .fanout
            .observe(frame.sent_at.elapsed().as_secs_f64());
        Ok(())
    }

    async fn handle(&mut self, data: &[u8], bucket: &mut Bucket) -> Option<Close> {
        let messages = match protocol::parse(data) {
            Ok(messages) => messages,
            Err(e) => {
                tracing::debug!(file_id = %self.room.file, error = %e, "refused a frame");
                return Some(CLOSE_MALFORMED);
            }
        };
        if !bucket.take(messages.len()) {
            return Some(CLOSE_RATE);
        }
        for message in messages {
            match message {
                Incoming::SyncStep1(sv) => {
                    let answer = self.room.sync_step2(&sv);
                    if self.send(answer).await.is_err() {
                        return None;
                    }
                }
                Incoming::Update { update, raw } => {
                    if !self.can_write() {
                        self.rooms.metrics.dropped_writes.inc();
                        continue;
                    }
                    if update.is_empty() {
                        continue;
                    }
                    let Some(admitted) = self.room.admit(&raw, self.rooms.settings.max_text_bytes)
                    else {
                        // Refused before it is stored: the file, its history and the room
                        // keep the last text within the limit.
                        return Some(CLOSE_DOC_TOO_BIG);
                    };
                    // Applied and relayed by the journal's writer once committed.
                    let (room, user, id) = (self.room.clone(), self.user, self.id);
                    let frame = protocol::update_frame(raw.clone());
                    let stored = self
                        .rooms
                        .journal
                        .append(
                            self.room.file,
                            Some(self.user),
                            Bytes::from(raw),
                            Box::new(move |seq| {
                                room.apply_stored(seq, update, frame, Some(user), id);
                            }),
                        )
                        .await;
                    if let Err(e) = stored {
                        tracing::warn!(error = %e, "collab update not stored");
                        return Some(CLOSE_STORAGE);
                    }
                    // Applied: its growth is in the text now.
                    drop(admitted);
                }
                Incoming::Awareness { update, .. } => {
                    if let Some(applied) = self.room.awareness(self.id, update) {
                        self.rooms.publish_awareness(self.room.file, &applied).await;
                    }
                }
                Incoming::AwarenessQuery => {
                    if let Some(all) = self.room.awareness_all()
                        && self.send(all).await.is_err()
                    {
                        return None;
                    }
                }
                Incoming::Ignored => {}
            }
        }
        None
    }
}
