//! Presence (y-protocols awareness) in a room: the entries each connection may set, the
//! server's own entries (the AI participant), and the limits on both.

use super::*;

impl Room {
    /// Presence from connection `conn` (or another replica, `conn` 0): apply what it may
    /// set and relay that. A connection sets and removes only the client ids it introduced
    /// (at most [`MAX_PRESENCE_CLIENTS`]); a state is at most [`MAX_PRESENCE_STATE_BYTES`]
    /// and the room's presence at most [`MAX_ROOM_PRESENCE_BYTES`], so nobody grows what
    /// every joiner receives. Entries past these limits are dropped (stock clients echo
    /// others' removals after a timeout, so that is no reason to close). Returns the
    /// applied part, encoded, for the other replicas.
    pub fn awareness(&self, conn: ConnId, update: AwarenessUpdate) -> Option<Vec<u8>> {
        let mut state = self.lock();
        let state = &mut *state;
        let mut kept = AwarenessUpdate {
            clients: HashMap::new(),
        };
        for (id, entry) in update.clients {
            let removal = &*entry.json == "null";
            let size = entry.json.len();
            if !removal && size > MAX_PRESENCE_STATE_BYTES {
                continue;
            }
            if conn == 0 && state.members.values().any(|m| m.clients.contains(&id)) {
                // Another replica cannot set or erase the presence of this node's clients.
                continue;
            }
            if conn == 0 && removal && !state.presence.contains_key(&id) {
                continue;
            }
            if conn != 0 {
                let owner = state
                    .members
                    .iter()
                    .find(|(_, m)| m.clients.contains(&id))
                    .map(|(c, _)| *c);
                let foreign = state.presence.contains_key(&id) && owner != Some(conn);
                if owner.is_some_and(|o| o != conn) || foreign {
                    continue;
                }
                let Some(member) = state.members.get_mut(&conn) else {
                    continue;
                };
                if removal {
                    // Only ids it introduced: removals of unknown ids would each leave a
                    // state behind in the awareness and be relayed to everyone.
                    if !member.clients.remove(&id) {
                        continue;
                    }
                } else if !member.clients.contains(&id) {
                    if member.clients.len() >= MAX_PRESENCE_CLIENTS {
                        continue;
                    }
                    member.clients.insert(id);
                }
            }
            let before = state.presence.get(&id).copied().unwrap_or(0);
            let total = state.presence_bytes - before + if removal { 0 } else { size };
            if !removal && size > before && total > MAX_ROOM_PRESENCE_BYTES {
                continue;
            }
            kept.clients.insert(id, entry);
        }
        self.apply_presence(state, conn, kept)
    }

    /// Set (`Some`) or remove (`None`) a presence entry the server publishes itself (the AI
    /// while it writes), at `clock` (higher than the entry's last); relayed to every
    /// connection. The state and room limits hold as for a connection's entries; removing an
    /// entry the room does not have does nothing. The applied update, encoded, for the other
    /// replicas.
    pub fn server_presence(
        &self,
        client: ClientID,
        clock: u32,
        json: Option<&str>,
    ) -> Option<Vec<u8>> {
        let mut state = self.lock();
        if state.members.values().any(|m| m.clients.contains(&client)) {
            return None;
        }
        let before = state.presence.get(&client).copied();
        match json {
            None if before.is_none() => return None,
            None => {}
            Some(json) => {
                let (size, before) = (json.len(), before.unwrap_or(0));
                let total = state.presence_bytes - before + size;
                if size > MAX_PRESENCE_STATE_BYTES
                    || (size > before && total > MAX_ROOM_PRESENCE_BYTES)
                {
                    return None;
                }
            }
        }
        let entry = yrs::sync::awareness::AwarenessUpdateEntry {
            clock,
            json: std::sync::Arc::from(json.unwrap_or("null")),
        };
        let update = AwarenessUpdate {
            clients: HashMap::from([(client, entry)]),
        };
        self.apply_presence(&mut state, 0, update)
    }

    /// Apply presence entries already checked, keep the room's byte count, relay them to
    /// every connection but `conn`.
    fn apply_presence(
        &self,
        state: &mut State,
        conn: ConnId,
        kept: AwarenessUpdate,
    ) -> Option<Vec<u8>> {
        if kept.clients.is_empty() {
            return None;
        }
        let raw = kept.encode_v1();
        let sizes: HashMap<ClientID, usize> = kept
            .clients
            .iter()
            .map(|(id, e)| (*id, if &*e.json == "null" { 0 } else { e.json.len() }))
            .collect();
        let applied = state
            .awareness
            .apply_update_summary(kept)
            .map_err(|e| e.to_string());
        let summary = match applied {
            Ok(summary) => summary,
            Err(e) => {
                tracing::debug!(file_id = %self.file, error = %e, "awareness update refused");
                return None;
            }
        };
        // What the room holds now decides the byte count (stale clocks change nothing).
        if let Some(summary) = summary {
            for id in summary.all_changes() {
                let now = sizes.get(&id).copied().unwrap_or(0);
                let before = match now {
                    0 => state.presence.remove(&id),
                    n => state.presence.insert(id, n),
                };
                state.presence_bytes = state.presence_bytes - before.unwrap_or(0) + now;
            }
        }
        self.send(conn, protocol::awareness_raw_frame(&raw));
        Some(raw)
    }

    /// Everyone's presence, for a query.
    pub fn awareness_all(&self) -> Option<Bytes> {
        let state = self.lock();
        let update = state.awareness.update().ok()?;
        Some(protocol::awareness_frame(&update))
    }
}
