//! The rooms of this process: loading a document (snapshot + the updates after it),
//! reconciling it with its file, the per-room housekeeping (roles, saving the text to the
//! file, filling gaps, compaction, unloading), and the bus between replicas.

use crate::error::CollabError;
use crate::journal::{Journal, Stored};
use crate::metrics::CollabMetrics;
use crate::repo;
use crate::room::{Loaded, Room};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use diesel_async::AsyncPgConnection;
use futures_util::future::BoxFuture;
use mdz_core::access::ProjectAccess;
use mdz_core::db::{self, DbPool};
use mdz_core::documents::DocumentStore;
use mdz_core::ids::{FileId, UserId};
use mdz_core::kv::{BusEvent, SharedKv};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{OnceCell, mpsc};
use tracing::instrument;
use yrs::updates::decoder::Decode;
use yrs::{Doc, ReadTxn, StateVector, Text, Transact, Update};

/// Bus topic of stored updates.
const TOPIC_UPDATES: &str = "collab.u";
/// Bus topic of presence.
const TOPIC_AWARENESS: &str = "collab.a";
/// How often each room looks after itself.
const TICK: Duration = Duration::from_millis(100);
/// How often connected users' roles are checked again.
const ROLE_CHECK: Duration = Duration::from_millis(400);
/// How long a hole in the sequence may last before it is filled from the journal.
const GAP_GRACE: Duration = Duration::from_millis(300);
/// How often a room of a multi-node deployment asks the journal whether it missed the tail.
const TAIL_CHECK: Duration = Duration::from_secs(2);

#[derive(Debug, Clone)]
pub struct Settings {
    pub max_message_bytes: usize,
    /// The file-size limit: an edit that would make the text longer is refused.
    pub max_text_bytes: usize,
    /// How long a room may take to load before the connection is closed (1013, retry).
    pub load_timeout: Duration,
    pub max_connections: usize,
    pub messages_per_sec: u32,
    pub idle_unload: Duration,
    pub compact_after: i64,
    pub flush_quiet: Duration,
    pub ping_every: Duration,
    pub dead_after: Duration,
}

/// An update on the bus.
#[derive(Serialize, Deserialize)]
struct BusUpdates {
    /// The node that stored them (it ignores its own).
    n: String,
    f: FileId,
    /// `(seq, user, base64 data)`.
    u: Vec<(i64, Option<UserId>, String)>,
}

/// Presence on the bus.
#[derive(Serialize, Deserialize)]
struct BusAwareness {
    n: String,
    f: FileId,
    d: String,
}

type Slot = Arc<OnceCell<Arc<Room>>>;

pub struct Rooms {
    rooms: Mutex<HashMap<FileId, Slot>>,
    pool: DbPool,
    pub(crate) journal: Journal,
    pub(crate) documents: Arc<dyn DocumentStore>,
    pub(crate) access: Arc<dyn ProjectAccess>,
    kv: SharedKv,
    node: String,
    multi_node: bool,
    pub(crate) settings: Settings,
    pub(crate) metrics: Arc<CollabMetrics>,
    runtime: tokio::runtime::Handle,
    next_conn: AtomicU64,
    /// Batches stored outside the journal's writer, for the bus (see [`Rooms::announce`]).
    stored: mpsc::UnboundedSender<Vec<Stored>>,
}

impl Rooms {
    pub fn start(
        (pool, journal_pool): (DbPool, DbPool),
        documents: Arc<dyn DocumentStore>,
        access: Arc<dyn ProjectAccess>,
        kv: SharedKv,
        settings: Settings,
        metrics: Arc<CollabMetrics>,
    ) -> Arc<Self> {
        let runtime = tokio::runtime::Handle::current();
        let (committed, stored) = mpsc::unbounded_channel();
        let journal = Journal::start(journal_pool, committed.clone(), metrics.clone());
        let multi_node = kv.backend() == "redis";
        let rooms = Arc::new(Self {
            rooms: Mutex::new(HashMap::new()),
            pool,
            journal,
            documents,
            access,
            kv,
            node: uuid::Uuid::new_v4().simple().to_string(),
            multi_node,
            settings,
            metrics,
            runtime: runtime.clone(),
            next_conn: AtomicU64::new(1),
            stored: committed,
        });
        runtime.spawn(publish_loop(Arc::downgrade(&rooms), stored));
        if multi_node {
            runtime.spawn(listen_loop(Arc::downgrade(&rooms), rooms.kv.subscribe()));
        }
        rooms
    }

    pub(crate) fn pool(&self) -> &DbPool {
        &self.pool
    }

    pub fn next_conn(&self) -> u64 {
        self.next_conn.fetch_add(1, Ordering::Relaxed)
    }

    fn slots(&self) -> std::sync::MutexGuard<'_, HashMap<FileId, Slot>> {
        self.rooms
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The room of a loaded document, if this process has it.
    fn loaded(&self, file: FileId) -> Option<Arc<Room>> {
        let slot = self.slots().get(&file).cloned()?;
        slot.get().filter(|r| !r.is_closed()).cloned()
    }

    /// The project a document belongs to (without loading its room).
    pub async fn project_of(&self, file: FileId) -> Result<mdz_core::ids::ProjectId, CollabError> {
        if let Some(room) = self.loaded(file) {
            return Ok(room.project);
        }
        Ok(self
            .documents
            .document(file)
            .await?
            .ok_or(CollabError::NotFound("document"))?
            .project_id)
    }

    /// The document's room, loading it when needed.
    pub async fn open(self: &Arc<Self>, file: FileId) -> Result<Arc<Room>, CollabError> {
        loop {
            let slot = self.slots().entry(file).or_default().clone();
            let room = slot.get_or_try_init(|| self.load(file)).await?.clone();
            if !room.is_closed() {
                return Ok(room);
            }
            self.forget(file, &room);
        }
    }

    /// [`Rooms::open`] within the load timeout. The load goes on in its own task when the
    /// caller stops waiting, so a slow load is never cut off half-way and the next
    /// connection joins it.
    pub async fn open_within(self: &Arc<Self>, file: FileId) -> Result<Arc<Room>, CollabError> {
        let rooms = self.clone();
        let load = tokio::spawn(async move { rooms.open(file).await });
        match tokio::time::timeout(self.settings.load_timeout, load).await {
            Ok(Ok(result)) => result,
            Ok(Err(e)) => Err(CollabError::Journal(format!("the load task failed: {e}"))),
            Err(_) => Err(CollabError::LoadTimeout(self.settings.load_timeout)),
        }
    }

    fn forget(&self, file: FileId, room: &Arc<Room>) {
        let mut slots = self.slots();
        if slots
            .get(&file)
            .and_then(|s| s.get())
            .is_some_and(|r| Arc::ptr_eq(r, room))
        {
            slots.remove(&file);
        }
    }

    #[instrument(skip_all, fields(file_id = %file))]
    async fn load(self: &Arc<Self>, file: FileId) -> Result<Arc<Room>, CollabError> {
        let started = Instant::now();
        let head = self
            .documents
            .document(file)
            .await?
            .ok_or(CollabError::NotFound("document"))?;
        let mut conn = db::conn(&self.pool).await?;
        if !repo::exists(&mut conn, file).await? {
            let doc = Doc::new();
            let text = doc.get_or_insert_text(crate::TEXT_NAME);
            text.insert(&mut doc.transact_mut(), 0, &head.content);
            let snapshot = doc
                .transact()
                .encode_state_as_update_v1(&StateVector::default());
            repo::create(&mut conn, file, &snapshot, head.revision, &head.content).await?;
        }
        let (row, updates) = repo::state_since(&mut conn, file, 0)
            .await?
            .ok_or(CollabError::NotFound("document"))?;
        drop(conn);
        let doc = Doc::new();
        let mut watermark = row.snapshot_seq;
        {
            let mut txn = doc.transact_mut();
            apply_stored(&mut txn, file, 0, &row.snapshot)?;
            for update in &updates {
                apply_stored(&mut txn, file, update.seq, &update.data)?;
                watermark = update.seq;
            }
        }
        let stored_updates = updates.len();
        drop(updates);
        let room = Arc::new(Room::new(
            file,
            head.project_id,
            Loaded {
                doc,
                watermark,
                snapshot_seq: row.snapshot_seq,
                reconciled_revision: row.file_revision,
            },
        ));
        drop(row);
        // A file changed while no room held the document (a REST write after a crash, or on
        // a replica without the room) is merged three-way from the text the state agreed
        // with, so the journaled typing that never reached the file and the change survive.
        self.sync(&room, None).await?;
        tracing::debug!(
            updates = stored_updates,
            ms = started.elapsed().as_millis() as u64,
            "room loaded"
        );
        self.metrics.rooms.inc();
        self.runtime
            .spawn(housekeeping(Arc::downgrade(self), room.clone()));
        Ok(room)
    }

    /// Tell the other replicas about presence.
    pub(crate) async fn publish_awareness(&self, file: FileId, raw: &[u8]) {
        if !self.multi_node {
            return;
        }
        let message = BusAwareness {
            n: self.node.clone(),
            f: file,
            d: B64.encode(raw),
        };
        if let Ok(payload) = serde_json::to_string(&message)
            && let Err(e) = self.kv.publish(TOPIC_AWARENESS, &payload).await
        {
            tracing::debug!(error = %e, "presence not published");
        }
    }

    /// A REST write reached the file: bring it into the room (see [`LiveDocuments`]).
    pub async fn rest_edit(
        self: &Arc<Self>,
        file: FileId,
        revision: i64,
        author: UserId,
    ) -> Result<(), CollabError> {
        let room = match self.loaded(file) {
            Some(room) => room,
            None => {
                let mut conn = db::conn(&self.pool).await?;
                if !repo::exists(&mut conn, file).await? {
                    // No collab state yet: the first load starts from the file.
                    return Ok(());
                }
                drop(conn);
                self.open_within(file).await?
            }
        };
        if room.reconciled() >= revision {
            return Ok(());
        }
        let _guard = room.sync_lock().await;
        if room.reconciled() >= revision {
            // Merged while this write waited for the lock.
            return Ok(());
        }
        if let Err(e) = self.sync_locked(&room, Some(author)).await {
            room.want_sync();
            return Err(e);
        }
        Ok(())
    }

    /// Send what was stored outside the journal's writer (a merge) to the other replicas.
    pub(crate) fn announce(&self, stored: Vec<Stored>) {
        drop(self.stored.send(stored));
    }

    async fn check_roles(&self, room: &Room) {
        for user in room.users() {
            match self.access.role(user, room.project).await {
                Ok(role) => room.set_role(user, role),
                Err(e) => tracing::debug!(error = %e, "role check skipped"),
            }
        }
    }

    async fn compact(&self, room: &Room) {
        let Some((snapshot, seq)) = room.snapshot_due(self.settings.compact_after) else {
            return;
        };
        let result = async {
            let mut conn = db::conn(&self.pool).await?;
            let dropped = repo::compact(&mut conn, room.file, &snapshot, seq).await?;
            Ok::<_, CollabError>(dropped)
        }
        .await;
        match result {
            Ok(dropped) => {
                room.snapshot_stored(seq);
                tracing::debug!(file_id = %room.file, seq, dropped, "compacted");
            }
            Err(e) => tracing::warn!(file_id = %room.file, error = %e, "compaction failed"),
        }
    }

    fn room_for_bus(&self, file: FileId) -> Option<Arc<Room>> {
        self.loaded(file)
    }

    fn unload(&self, room: &Arc<Room>) {
        self.forget(room.file, room);
        self.metrics.rooms.dec();
    }

    /// Rooms in memory, for tests and metrics.
    pub fn loaded_count(&self) -> usize {
        self.slots()
            .values()
            .filter(|s| s.get().is_some_and(|r| !r.is_closed()))
            .count()
    }
}

/// The [`mdz_core::documents::InSave`] hook of a collab save: record the saved text as the
/// merge base, in the save's transaction.
pub(crate) fn base_in_save(
    file: FileId,
    text: Arc<str>,
) -> impl for<'c> Fn(&'c mut AsyncPgConnection, i64) -> BoxFuture<'c, Result<(), diesel::result::Error>>
+ Send
+ Sync {
    move |conn, revision| {
        let text = text.clone();
        Box::pin(async move { repo::set_base(conn, file, revision, &text).await })
    }
}

/// Apply a stored snapshot (`seq` 0) or update at load. Bytes that do not decode fail the
/// load: a room missing part of its history must never be served, or its partial text would
/// be saved over the file. An update that decodes but does not apply (a client's update
/// naming a parent of the wrong type) was refused the same way when it arrived live, so it
/// is skipped here too: replaying must do what the live room did, or one hostile update
/// would make the document unloadable.
fn apply_stored(
    txn: &mut yrs::TransactionMut,
    file: FileId,
    seq: i64,
    data: &[u8],
) -> Result<(), CollabError> {
    let update = Update::decode_v1(data).map_err(|e| {
        tracing::error!(file_id = %file, seq, error = %e, "a stored update does not decode");
        CollabError::Corrupt { file, seq }
    })?;
    match txn.apply_update(update) {
        Ok(()) => Ok(()),
        Err(e) if seq == 0 => {
            tracing::error!(file_id = %file, error = %e, "the stored snapshot does not apply");
            Err(CollabError::Corrupt { file, seq })
        }
        Err(e) => {
            tracing::warn!(file_id = %file, seq, error = %e, "skipped a stored update that did not apply live either");
            Ok(())
        }
    }
}

/// Each room's own loop: roles, saving to the file, gaps, compaction, unloading.
async fn housekeeping(rooms: std::sync::Weak<Rooms>, room: Arc<Room>) {
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut roles_at = Instant::now();
    let mut tail_at = Instant::now();
    loop {
        tick.tick().await;
        let Some(rooms) = rooms.upgrade() else {
            return;
        };
        if room.is_closed() {
            rooms.flush(&room).await;
            rooms.unload(&room);
            return;
        }
        if roles_at.elapsed() >= ROLE_CHECK {
            roles_at = Instant::now();
            rooms.check_roles(&room).await;
        }
        if room.take_sync_wanted()
            && let Err(e) = rooms.sync(&room, None).await
        {
            tracing::warn!(file_id = %room.file, error = %e, "merging the file failed; retrying");
            room.want_sync();
        }
        rooms.flush(&room).await;
        let (_, stuck) = room.watermark(GAP_GRACE);
        let tail_due = rooms.multi_node && tail_at.elapsed() >= TAIL_CHECK;
        if stuck || tail_due {
            tail_at = Instant::now();
            if let Err(e) = rooms.catch_up(&room).await {
                tracing::warn!(file_id = %room.file, error = %e, "catching up failed");
            }
        }
        if tail_due {
            // A REST write on a replica whose merge failed reaches this room all the same.
            match rooms.documents.document(room.file).await {
                Ok(Some(head)) if head.revision > room.reconciled() => room.want_sync(),
                Ok(_) => {}
                Err(e) => tracing::debug!(file_id = %room.file, error = %e, "file check skipped"),
            }
        }
        rooms.compact(&room).await;
        if room.close_if_idle(rooms.settings.idle_unload) {
            rooms.unload(&room);
            tracing::debug!(file_id = %room.file, "idle room unloaded");
            return;
        }
    }
}

/// Tell the other replicas about every batch the journal stored.
async fn publish_loop(
    rooms: std::sync::Weak<Rooms>,
    mut stored: mpsc::UnboundedReceiver<Vec<Stored>>,
) {
    while let Some(batch) = stored.recv().await {
        let Some(rooms) = rooms.upgrade() else {
            return;
        };
        rooms.metrics.updates.inc_by(batch.len() as u64);
        if !rooms.multi_node {
            continue;
        }
        let mut per_file: HashMap<FileId, Vec<(i64, Option<UserId>, String)>> = HashMap::new();
        for s in batch {
            per_file
                .entry(s.file)
                .or_default()
                .push((s.seq, s.user, B64.encode(&s.data)));
        }
        for (file, updates) in per_file {
            let message = BusUpdates {
                n: rooms.node.clone(),
                f: file,
                u: updates,
            };
            if let Ok(payload) = serde_json::to_string(&message)
                && let Err(e) = rooms.kv.publish(TOPIC_UPDATES, &payload).await
            {
                // The other replicas notice the hole and read the journal.
                tracing::debug!(error = %e, "collab update not published");
            }
        }
    }
}

/// Apply what the other replicas stored and the presence they relay.
async fn listen_loop(
    rooms: std::sync::Weak<Rooms>,
    mut bus: tokio::sync::broadcast::Receiver<BusEvent>,
) {
    loop {
        let event = match bus.recv().await {
            Ok(event) => event,
            Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => BusEvent::Resync,
            Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
        };
        let Some(rooms) = rooms.upgrade() else {
            return;
        };
        match event {
            BusEvent::Message { topic, payload } if topic == TOPIC_UPDATES => {
                let Ok(message) = serde_json::from_str::<BusUpdates>(&payload) else {
                    continue;
                };
                if message.n == rooms.node {
                    continue;
                }
                let Some(room) = rooms.room_for_bus(message.f) else {
                    continue;
                };
                for (seq, user, data) in message.u {
                    if let Ok(data) = B64.decode(data) {
                        room.apply_remote(seq, &data, user);
                    }
                }
            }
            BusEvent::Message { topic, payload } if topic == TOPIC_AWARENESS => {
                let Ok(message) = serde_json::from_str::<BusAwareness>(&payload) else {
                    continue;
                };
                if message.n == rooms.node {
                    continue;
                }
                if let (Some(room), Ok(raw)) =
                    (rooms.room_for_bus(message.f), B64.decode(&message.d))
                    && let Ok(update) = yrs::sync::AwarenessUpdate::decode_v1(&raw)
                {
                    room.awareness(0, update);
                }
            }
            BusEvent::Message { .. } => {}
            BusEvent::Resync => {
                // Messages may be lost: every room reads the journal's tail.
                let loaded: Vec<Arc<Room>> = rooms
                    .slots()
                    .values()
                    .filter_map(|s| s.get().cloned())
                    .collect();
                for room in loaded {
                    if let Err(e) = rooms.catch_up(&room).await {
                        tracing::warn!(error = %e, "catching up after a bus resync failed");
                    }
                }
            }
        }
    }
}
