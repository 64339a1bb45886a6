//! One document's room: the Yjs document in memory, presence, the connections and their
//! rights, which stored updates it holds, and whether its text still has to reach the file.
//!
//! Every method holds the room's lock only for in-memory work (never across an await), and
//! sends frames while holding it, so a joining client sees each update either in the state
//! it is sent or as a frame after it, never neither.

use crate::protocol;
use bytes::Bytes;
use mdz_core::access::Role;
use mdz_core::ids::{FileId, ProjectId, UserId};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::sync::{broadcast, watch};
use yrs::block::ClientID;
use yrs::sync::{Awareness, AwarenessUpdate};
use yrs::updates::decoder::Decode;
use yrs::updates::encoder::Encode;
use yrs::{Doc, GetString, ReadTxn, StateVector, Text, TextRef, Transact, TransactionMut, Update};

/// A connection's number, unique in this process. 0 is the server itself.
pub type ConnId = u64;

/// Frames a room buffers for a slow connection before it must resynchronise it.
const FRAME_BUFFER: usize = 1024;
/// Presence client ids one connection may set (a tab has one; a few for split views).
pub const MAX_PRESENCE_CLIENTS: usize = 4;
/// Largest presence state of one client (JSON bytes).
pub const MAX_PRESENCE_STATE_BYTES: usize = 16 * 1024;
/// Largest presence of a room, all clients together (JSON bytes).
pub const MAX_ROOM_PRESENCE_BYTES: usize = 1024 * 1024;

/// A frame for every connection of the room except `origin`.
#[derive(Debug, Clone)]
pub struct Frame {
    pub origin: ConnId,
    pub bytes: Bytes,
    /// When the room broadcast it (the fan-out latency metric starts here).
    pub sent_at: Instant,
}

/// `role`, lowered to `ceiling` when above it.
fn capped(role: Role, ceiling: Role) -> Role {
    if role.at_least(ceiling) {
        ceiling
    } else {
        role
    }
}

/// Text growth reserved by [`Room::admit`], released when dropped.
pub struct Admitted<'a> {
    room: &'a Room,
    bytes: usize,
}

impl Drop for Admitted<'_> {
    fn drop(&mut self) {
        let mut state = self.room.lock();
        state.reserved = state.reserved.saturating_sub(self.bytes);
    }
}

/// What a connection gets when it joins.
pub struct Joined {
    pub frames: broadcast::Receiver<Frame>,
    pub role: watch::Receiver<Option<Role>>,
    /// The server's sync step 1 and everyone's presence.
    pub hello: Vec<Bytes>,
}

struct Member {
    user: UserId,
    role: watch::Sender<Option<Role>>,
    /// The highest role this connection's credential allows (a read-only token: viewer).
    ceiling: Role,
    clients: HashSet<ClientID>,
}

/// Text that still has to reach the file, and who wrote it last.
#[derive(Debug, Clone, Copy)]
struct Dirty {
    author: Option<UserId>,
    first: Instant,
    last: Instant,
    /// An accepted AI suggestion is in the text: the version it is saved in says so.
    ai_assisted: bool,
}

/// Text due to be saved to the file (see [`Room::take_due`]).
#[derive(Debug)]
pub struct Due {
    pub text: String,
    pub author: Option<UserId>,
    pub ai_assisted: bool,
}

struct State {
    awareness: Awareness,
    text: TextRef,
    members: HashMap<ConnId, Member>,
    /// Every stored update up to here is in the document.
    watermark: i64,
    /// Stored updates past the watermark that are in the document too.
    ahead: BTreeSet<i64>,
    /// Since when the watermark has been stuck behind `ahead`.
    gap_since: Option<Instant>,
    snapshot_seq: i64,
    dirty: Option<Dirty>,
    /// A REST write up to this file revision is already in the document.
    reconciled_revision: i64,
    /// JSON bytes of each client's presence, and their sum.
    presence: HashMap<ClientID, usize>,
    presence_bytes: usize,
    empty_since: Option<Instant>,
    /// Text growth admitted by [`Room::admit`] and not applied yet (each update's bound).
    reserved: usize,
    /// Bytes of the structs the document holds back for a missing update.
    pending: usize,
    pending_measured: Option<(StateVector, usize)>,
    /// Updates applied so far: a size check done outside the lock knows whether the
    /// document changed meanwhile.
    changes: u64,
}

pub struct Room {
    pub file: FileId,
    pub project: ProjectId,
    state: Mutex<State>,
    frames: broadcast::Sender<Frame>,
    closed: AtomicBool,
    /// Held while the room and its file are brought into step (a merge of file changes, a
    /// save of the text), so the two never interleave on this node.
    sync: tokio::sync::Mutex<()>,
    /// A file change may not have reached the room (a merge failed): try again.
    sync_wanted: AtomicBool,
}

/// Where the stored journal stood when the room was loaded.
pub struct Loaded {
    pub doc: Doc,
    pub watermark: i64,
    pub snapshot_seq: i64,
    pub reconciled_revision: i64,
}

impl Room {
    pub fn new(file: FileId, project: ProjectId, loaded: Loaded) -> Self {
        let text = loaded.doc.get_or_insert_text(crate::TEXT_NAME);
        let (frames, _) = broadcast::channel(FRAME_BUFFER);
        Self {
            file,
            project,
            state: Mutex::new(State {
                awareness: Awareness::new(loaded.doc),
                text,
                members: HashMap::new(),
                watermark: loaded.watermark,
                ahead: BTreeSet::new(),
                gap_since: None,
                snapshot_seq: loaded.snapshot_seq,
                dirty: None,
                reconciled_revision: loaded.reconciled_revision,
                presence: HashMap::new(),
                presence_bytes: 0,
                empty_since: Some(Instant::now()),
                reserved: 0,
                pending: 0,
                pending_measured: None,
                changes: 0,
            }),
            frames,
            closed: AtomicBool::new(false),
            sync: tokio::sync::Mutex::new(()),
            sync_wanted: AtomicBool::new(false),
        }
    }

    /// Exclusive right to bring the room and its file into step on this node.
    pub async fn sync_lock(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.sync.lock().await
    }

    /// Ask the room's housekeeping to merge the file again (`take`: and clear the request).
    pub fn want_sync(&self) {
        self.sync_wanted.store(true, Ordering::SeqCst);
    }

    pub fn take_sync_wanted(&self) -> bool {
        self.sync_wanted.swap(false, Ordering::SeqCst)
    }

    /// The file revision whose text the document holds (merged in, or saved from it).
    pub fn reconciled(&self) -> i64 {
        self.lock().reconciled_revision
    }

    pub fn set_reconciled(&self, revision: i64) {
        let mut state = self.lock();
        state.reconciled_revision = state.reconciled_revision.max(revision);
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves in-memory state only; the journal is the truth.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn send(&self, origin: ConnId, bytes: Bytes) {
        // No receivers is fine: nobody is connected.
        drop(self.frames.send(Frame {
            origin,
            bytes,
            sent_at: Instant::now(),
        }));
    }

    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }

    /// Add a connection whose credential allows at most `ceiling`; `None` when the room is
    /// being unloaded (open it again).
    pub fn join(&self, conn: ConnId, user: UserId, role: Role, ceiling: Role) -> Option<Joined> {
        let mut state = self.lock();
        if self.is_closed() {
            return None;
        }
        let frames = self.frames.subscribe();
        let (tx, rx) = watch::channel(Some(capped(role, ceiling)));
        state.members.insert(
            conn,
            Member {
                user,
                role: tx,
                ceiling,
                clients: HashSet::new(),
            },
        );
        state.empty_since = None;
        let sv = state.awareness.doc().transact().state_vector();
        let mut hello = vec![protocol::step1_frame(sv)];
        if let Ok(update) = state.awareness.update()
            && !update.clients.is_empty()
        {
            hello.push(protocol::awareness_frame(&update));
        }
        Some(Joined {
            frames,
            role: rx,
            hello,
        })
    }

    /// Remove a connection; returns the presence removal it caused (already sent locally).
    pub fn leave(&self, conn: ConnId) -> Option<Bytes> {
        let mut state = self.lock();
        let member = state.members.remove(&conn)?;
        if state.members.is_empty() {
            state.empty_since = Some(Instant::now());
        }
        let gone: Vec<ClientID> = member.clients.into_iter().collect();
        if gone.is_empty() {
            return None;
        }
        for id in &gone {
            state.awareness.remove_state(*id);
            if let Some(bytes) = state.presence.remove(id) {
                state.presence_bytes -= bytes;
            }
        }
        let update = state.awareness.update_with_clients(gone).ok()?;
        let raw = update.encode_v1();
        self.send(conn, protocol::awareness_raw_frame(&raw));
        Some(Bytes::from(raw))
    }

    pub fn connections(&self) -> usize {
        self.lock().members.len()
    }

    /// The answer to a client's sync step 1: everything it lacks.
    pub fn sync_step2(&self, sv: &StateVector) -> Bytes {
        let state = self.lock();
        let update = state
            .awareness
            .doc()
            .transact()
            .encode_state_as_update_v1(sv);
        protocol::step2_frame(update)
    }

    /// The whole document as one update (for a connection that fell too far behind).
    pub fn full_state_frame(&self) -> Bytes {
        let state = self.lock();
        let update = state
            .awareness
            .doc()
            .transact()
            .encode_state_as_update_v1(&StateVector::default());
        protocol::update_frame(update)
    }

    /// Apply an update the journal stored as `seq`, and send it to everyone but `origin`.
    pub fn apply_stored(
        &self,
        seq: i64,
        update: Update,
        frame: Bytes,
        author: Option<UserId>,
        origin: ConnId,
    ) {
        let mut state = self.lock();
        if seq <= state.watermark || state.ahead.contains(&seq) {
            return;
        }
        let st = &mut *state;
        st.pending = {
            let mut txn = st.awareness.doc().transact_mut();
            if let Err(e) = txn.apply_update(update) {
                tracing::warn!(file_id = %self.file, seq, error = %e, "a stored update did not apply");
            }
            held_back(&txn, &mut st.pending_measured)
        };
        state.changes += 1;
        mark(&mut state, seq);
        touch(&mut state, author);
        self.send(origin, frame);
    }

    /// Apply an update another replica stored (heard over the bus or read back from the
    /// journal); `false` when it was already here.
    pub fn apply_remote(&self, seq: i64, data: &[u8], author: Option<UserId>) -> bool {
        {
            let state = self.lock();
            if seq <= state.watermark || state.ahead.contains(&seq) {
                return false;
            }
        }
        match Update::decode_v1(data) {
            Ok(update) => {
                self.apply_stored(
                    seq,
                    update,
                    protocol::update_frame(data.to_vec()),
                    author,
                    0,
                );
            }
            Err(e) => {
                tracing::warn!(file_id = %self.file, seq, error = %e, "a stored update does not decode");
                let mut state = self.lock();
                mark(&mut state, seq);
            }
        }
        true
    }

    /// Apply a snapshot another replica wrote (its updates were compacted away).
    pub fn apply_snapshot(&self, snapshot: &[u8], seq: i64) {
        let mut state = self.lock();
        if seq <= state.watermark {
            return;
        }
        if let Ok(update) = Update::decode_v1(snapshot) {
            let st = &mut *state;
            st.pending = {
                let mut txn = st.awareness.doc().transact_mut();
                if let Err(e) = txn.apply_update(update) {
                    tracing::warn!(file_id = %self.file, error = %e, "a snapshot did not apply");
                }
                held_back(&txn, &mut st.pending_measured)
            };
            state.changes += 1;
            self.send(0, protocol::update_frame(snapshot.to_vec()));
        }
        state.watermark = seq;
        state.ahead.retain(|s| *s > seq);
        advance(&mut state);
        touch(&mut state, None);
    }

    /// Run `f` on the live text under the room's lock: for short reads that must not encode
    /// or decode the whole document (`f` must not block).
    pub fn read<T>(&self, f: impl FnOnce(&yrs::Transaction<'_>, &TextRef) -> T) -> T {
        let state = self.lock();
        let txn = state.awareness.doc().transact();
        f(&txn, &state.text)
    }

    /// The document's text.
    pub fn text(&self) -> String {
        let state = self.lock();
        let txn = state.awareness.doc().transact();
        state.text.get_string(&txn)
    }

    /// The document's state, for [`merge_update`] to work on a copy: a server change enters
    /// the room only once it is stored.
    pub fn scratch(&self) -> Vec<u8> {
        let state = self.lock();
        state
            .awareness
            .doc()
            .transact()
            .encode_state_as_update_v1(&StateVector::default())
    }

    /// A server change was stored as `seq`: apply it, count it and send it to everyone. With
    /// `ai_assisted` (an accepted AI suggestion), the version the text is next saved in is
    /// marked so, under the same lock: a save taken in between cannot miss it.
    pub fn stored_server_edit(
        &self,
        seq: i64,
        update: Vec<u8>,
        author: Option<UserId>,
        ai_assisted: bool,
    ) {
        let mut state = self.lock();
        if ai_assisted {
            touch(&mut state, None);
            if let Some(d) = state.dirty.as_mut() {
                d.ai_assisted = true;
            }
        }
        if seq <= state.watermark || state.ahead.contains(&seq) {
            // A catch-up got here first.
            return;
        }
        match Update::decode_v1(&update) {
            Ok(decoded) => {
                let applied = state.awareness.doc().transact_mut().apply_update(decoded);
                if let Err(e) = applied {
                    tracing::warn!(file_id = %self.file, seq, error = %e, "a server change did not apply");
                }
            }
            Err(e) => {
                tracing::warn!(file_id = %self.file, seq, error = %e, "a server change does not decode")
            }
        }
        state.changes += 1;
        mark(&mut state, seq);
        touch(&mut state, author);
        self.send(0, protocol::update_frame(update));
    }

    /// The users connected, for re-checking their roles.
    pub fn users(&self) -> Vec<UserId> {
        let state = self.lock();
        let mut users: Vec<UserId> = state.members.values().map(|m| m.user).collect();
        users.sort_unstable_by_key(|u| u.0);
        users.dedup();
        users
    }

    /// Tell `user`'s connections their role now (`None`: no longer a member).
    pub fn set_role(&self, user: UserId, role: Option<Role>) {
        let state = self.lock();
        for member in state.members.values().filter(|m| m.user == user) {
            let role = role.map(|r| capped(r, member.ceiling));
            member.role.send_if_modified(|r| {
                let changed = *r != role;
                *r = role;
                changed
            });
        }
    }

    /// Unload when nobody has been connected for `idle` and nothing is left to save. Marks
    /// the room closed so late joiners open a fresh one.
    pub fn close_if_idle(&self, idle: Duration) -> bool {
        let state = self.lock();
        let idle_long = state.empty_since.is_some_and(|t| t.elapsed() >= idle);
        if idle_long && state.dirty.is_none() {
            self.closed.store(true, Ordering::SeqCst);
            return true;
        }
        false
    }

    /// Close for good (the document is gone): every connection's role becomes "none".
    pub fn shut(&self) {
        let state = self.lock();
        self.closed.store(true, Ordering::SeqCst);
        for member in state.members.values() {
            member.role.send_replace(None);
        }
    }
}

/// Make a change on a copy of a room's state (see [`Room::scratch`]); `None` when `edit`
/// changed nothing. The copy writes as a fresh random client, never one a connection could
/// also write as (a client could forge the room's own id, and two different changes would
/// then share ids).
pub fn merge_update(
    state: &[u8],
    edit: impl FnOnce(&mut TransactionMut, &TextRef, &str) -> bool,
) -> Result<Option<Vec<u8>>, String> {
    let doc = Doc::new();
    let text = doc.get_or_insert_text(crate::TEXT_NAME);
    let update = Update::decode_v1(state).map_err(|e| e.to_string())?;
    doc.transact_mut()
        .apply_update(update)
        .map_err(|e| e.to_string())?;
    let current = text.get_string(&doc.transact());
    let mut txn = doc.transact_mut();
    if !edit(&mut txn, &text, &current) {
        return Ok(None);
    }
    Ok(Some(txn.encode_update_v1()))
}

/// Bytes of the structs the document holds back for a missing update: when that update
/// arrives, the text can grow by at most this much at once. Measured again only when what
/// is held back changed (`known`: the last measure and what it was of).
fn held_back(txn: &impl ReadTxn, known: &mut Option<(StateVector, usize)>) -> usize {
    let Some(pending) = txn.store().pending_update() else {
        *known = None;
        return 0;
    };
    let key = pending.update.state_vector();
    if let Some((seen, bytes)) = known.as_ref()
        && *seen == key
    {
        return *bytes;
    }
    let bytes = pending.update.encode_v1().len();
    *known = Some((key, bytes));
    bytes
}

fn mark(state: &mut State, seq: i64) {
    if seq == state.watermark + 1 {
        state.watermark = seq;
        advance(state);
    } else if seq > state.watermark {
        state.ahead.insert(seq);
        if state.gap_since.is_none() {
            state.gap_since = Some(Instant::now());
        }
    }
}

fn advance(state: &mut State) {
    while state.ahead.remove(&(state.watermark + 1)) {
        state.watermark += 1;
    }
    if state.ahead.is_empty() {
        state.gap_since = None;
    }
}

fn touch(state: &mut State, author: Option<UserId>) {
    let now = Instant::now();
    match &mut state.dirty {
        Some(d) => {
            d.last = now;
            if author.is_some() {
                d.author = author;
            }
        }
        None => {
            state.dirty = Some(Dirty {
                author,
                first: now,
                last: now,
                ai_assisted: false,
            });
        }
    }
}

mod admission;
mod presence;
mod saving;

#[cfg(test)]
mod presence_tests;
