//! Credentials that stopped being valid, heard on every node at once: long-lived
//! connections (collab WebSockets, chat SSE streams) authenticated once, so a logout, a
//! deleted session, a password change, a reused refresh token or a deleted personal access
//! token must reach them as an event, not wait for their next request.
//!
//! Announcements go over the Kv bus (Redis pub/sub across replicas, in-process without
//! Redis), and also straight to this node's listeners, so a node whose bus is down still
//! closes its own connections.

use crate::ids::{SessionId, TokenId};
use crate::kv::{BusEvent, SharedKv};
use crate::ports::{Credential, Principal, TokenVerifier};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use tokio::sync::broadcast;

/// Bus topic of revocations.
const TOPIC: &str = "auth.revoked";
/// Revocations buffered for a slow listener before it lags (and rechecks nothing: a lagging
/// listener closes, see [`Revocations::subscribe`]).
const CAPACITY: usize = 1024;

/// A credential that no longer opens anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Revoked {
    Session(SessionId),
    Token(TokenId),
}

impl Revoked {
    /// Does this revocation end what `principal` opened?
    pub fn ends(&self, principal: &Principal) -> bool {
        match (self, principal.credential) {
            (Revoked::Session(s), Credential::AccessToken { session_id }) => *s == session_id,
            (Revoked::Token(t), Credential::PersonalAccessToken { token_id }) => *t == token_id,
            _ => false,
        }
    }
}

/// What a listener hears.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Heard {
    Revoked(Revoked),
    /// Announcements may have been lost (the bus reconnected, or this listener lagged):
    /// a listener that cannot tell whether its credential still holds should end.
    MaybeMissed,
}

/// The node's hub of revocations.
pub struct Revocations {
    kv: SharedKv,
    local: broadcast::Sender<Heard>,
}

impl std::fmt::Debug for Revocations {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Revocations").finish_non_exhaustive()
    }
}

impl Revocations {
    /// Listen on the bus (a task on the current runtime) and hand out subscriptions.
    pub fn start(kv: SharedKv) -> Arc<Self> {
        let (local, _) = broadcast::channel(CAPACITY);
        let hub = Arc::new(Self {
            kv: kv.clone(),
            local: local.clone(),
        });
        let bus = kv.subscribe();
        tokio::spawn(forward(bus, local));
        hub
    }

    /// Tell every node (this one at once) that `revoked` is no longer valid.
    pub async fn announce(&self, revoked: Revoked) {
        drop(self.local.send(Heard::Revoked(revoked)));
        match serde_json::to_string(&revoked) {
            Ok(payload) => {
                if let Err(e) = self.kv.publish(TOPIC, &payload).await {
                    tracing::warn!(error = %e, ?revoked, "a revocation was not announced to other nodes");
                }
            }
            Err(e) => tracing::error!(error = %e, "a revocation does not encode"),
        }
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Heard> {
        self.local.subscribe()
    }
}

async fn forward(mut bus: broadcast::Receiver<BusEvent>, local: broadcast::Sender<Heard>) {
    loop {
        let heard = match bus.recv().await {
            Ok(BusEvent::Message { topic, payload }) if topic == TOPIC => {
                match serde_json::from_str::<Revoked>(&payload) {
                    Ok(revoked) => Heard::Revoked(revoked),
                    Err(_) => continue,
                }
            }
            Ok(BusEvent::Message { .. }) => continue,
            Ok(BusEvent::Resync) | Err(broadcast::error::RecvError::Lagged(_)) => {
                Heard::MaybeMissed
            }
            Err(broadcast::error::RecvError::Closed) => return,
        };
        drop(local.send(heard));
    }
}

/// Resolves once `principal`'s credential is revoked: announced, or found no longer valid
/// when announcements may have been missed (a database that cannot answer keeps it open).
/// Subscribe before authenticating, so nothing announced in between is missed.
pub async fn until_ended(
    mut listener: broadcast::Receiver<Heard>,
    principal: Principal,
    verifier: Arc<dyn TokenVerifier>,
) {
    loop {
        match ended(&mut listener, &principal).await {
            Heard::Revoked(_) => return,
            Heard::MaybeMissed => match verifier.still_valid(&principal).await {
                Ok(false) => return,
                Ok(true) => {}
                Err(e) => tracing::warn!(error = %e, "could not recheck a credential; keeping it"),
            },
        }
    }
}

/// Wait until `principal`'s credential is revoked (or announcements may have been lost).
async fn ended(listener: &mut broadcast::Receiver<Heard>, principal: &Principal) -> Heard {
    loop {
        match listener.recv().await {
            Ok(Heard::Revoked(r)) if r.ends(principal) => return Heard::Revoked(r),
            Ok(Heard::Revoked(_)) => {}
            Ok(Heard::MaybeMissed) | Err(broadcast::error::RecvError::Lagged(_)) => {
                return Heard::MaybeMissed;
            }
            Err(broadcast::error::RecvError::Closed) => std::future::pending::<()>().await,
        }
    }
}
