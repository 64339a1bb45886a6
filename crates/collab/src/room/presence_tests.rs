//! The room's presence limits hold for the entries the server publishes itself (the AI).

use super::{Loaded, MAX_PRESENCE_STATE_BYTES, MAX_ROOM_PRESENCE_BYTES, Room};
use mdz_core::ids::{FileId, ProjectId};
use yrs::Doc;
use yrs::block::ClientID;

fn room() -> Room {
    Room::new(
        FileId::new(),
        ProjectId::new(),
        Loaded {
            doc: Doc::new(),
            watermark: 0,
            snapshot_seq: 0,
            reconciled_revision: 1,
        },
    )
}

/// A presence state of `bytes` JSON bytes.
fn state(bytes: usize) -> String {
    format!("{{\"pad\":\"{}\"}}", "x".repeat(bytes - 10))
}

#[test]
fn server_entries_count_against_the_room_cap() {
    let room = room();
    let big = state(MAX_PRESENCE_STATE_BYTES);
    let applied = (1..=100_u64)
        .filter(|id| {
            room.server_presence(ClientID::new(*id), 1, Some(&big))
                .is_some()
        })
        .count();
    assert_eq!(applied, MAX_ROOM_PRESENCE_BYTES / MAX_PRESENCE_STATE_BYTES);
    // A state over the per-client limit is dropped too.
    let room = self::room();
    let huge = state(MAX_PRESENCE_STATE_BYTES + 1);
    assert!(
        room.server_presence(ClientID::new(1), 1, Some(&huge))
            .is_none()
    );
}

#[test]
fn removing_an_entry_the_room_never_had_relays_nothing() {
    let room = room();
    assert!(room.server_presence(ClientID::new(7), 2, None).is_none());
    assert!(
        room.server_presence(ClientID::new(7), 3, Some("{}"))
            .is_some()
    );
    assert!(room.server_presence(ClientID::new(7), 4, None).is_some());
}
