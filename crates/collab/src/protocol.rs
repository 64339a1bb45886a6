//! The y-websocket wire format (y-protocols sync and awareness), parsed strictly: a frame
//! must hold whole messages and nothing else, or the connection is closed with 1002.

use bytes::Bytes;
use yrs::encoding::read::{Cursor, Read};
use yrs::encoding::write::Write;
use yrs::sync::protocol::{
    MSG_AUTH, MSG_AWARENESS, MSG_QUERY_AWARENESS, MSG_SYNC, MSG_SYNC_STEP_1, MSG_SYNC_STEP_2,
    MSG_SYNC_UPDATE,
};
use yrs::sync::{AwarenessUpdate, Message, SyncMessage};
use yrs::updates::decoder::Decode;
use yrs::updates::encoder::{Encode, Encoder, EncoderV1};
use yrs::{StateVector, Update};

/// One message a client sent.
#[derive(Debug)]
pub enum Incoming {
    /// "Here is what I have; send me what I miss."
    SyncStep1(StateVector),
    /// Document changes (a sync step 2 answer or a live update), already decoded, with
    /// their v1 encoding.
    Update { update: Update, raw: Vec<u8> },
    /// Presence: cursors, names, colours.
    Awareness { update: AwarenessUpdate },
    /// "Send me everyone's presence."
    AwarenessQuery,
    /// Auth messages and unknown kinds carry nothing the server acts on.
    Ignored,
}

/// Most messages in one frame (stock clients send one; the rate limit counts each).
pub const MAX_MESSAGES_PER_FRAME: usize = 32;
/// Most client entries in one presence message (a room's connections, each with a few).
pub const MAX_AWARENESS_ENTRIES: u64 = 2048;

/// Why a frame was refused.
#[derive(Debug, thiserror::Error)]
#[error("malformed y-websocket frame: {0}")]
pub struct Malformed(&'static str);

/// Parse a binary frame into its messages. The decoders are yrs's; a panic inside one (yrs
/// asserts on some impossible values in debug builds) is a refused frame, not a dead task.
pub fn parse(frame: &[u8]) -> Result<Vec<Incoming>, Malformed> {
    std::panic::catch_unwind(|| parse_frame(frame))
        .unwrap_or(Err(Malformed("the decoder refused the frame")))
}

fn parse_frame(frame: &[u8]) -> Result<Vec<Incoming>, Malformed> {
    if frame.is_empty() {
        return Err(Malformed("empty frame"));
    }
    let mut cursor = Cursor::new(frame);
    let mut out = Vec::with_capacity(1);
    while cursor.has_content() {
        if out.len() == MAX_MESSAGES_PER_FRAME {
            return Err(Malformed("too many messages in one frame"));
        }
        out.push(parse_one(&mut cursor)?);
    }
    Ok(out)
}

fn parse_one(cursor: &mut Cursor<'_>) -> Result<Incoming, Malformed> {
    let tag: u8 = cursor
        .read_var()
        .map_err(|_| Malformed("bad message type"))?;
    match tag {
        MSG_SYNC => {
            let kind: u8 = cursor.read_var().map_err(|_| Malformed("bad sync type"))?;
            let buf = cursor
                .read_buf()
                .map_err(|_| Malformed("truncated sync message"))?;
            match kind {
                MSG_SYNC_STEP_1 => StateVector::decode_v1(buf)
                    .map(Incoming::SyncStep1)
                    .map_err(|_| Malformed("bad state vector")),
                MSG_SYNC_STEP_2 | MSG_SYNC_UPDATE => Update::decode_v1(buf)
                    .map(|update| Incoming::Update {
                        update,
                        raw: buf.to_vec(),
                    })
                    .map_err(|_| Malformed("update does not decode")),
                _ => Err(Malformed("unknown sync message")),
            }
        }
        MSG_AWARENESS => {
            let buf = cursor
                .read_buf()
                .map_err(|_| Malformed("truncated awareness"))?;
            let entries: u64 = Cursor::new(buf)
                .read_var()
                .map_err(|_| Malformed("bad awareness update"))?;
            if entries > MAX_AWARENESS_ENTRIES {
                return Err(Malformed("too many presence entries in one message"));
            }
            AwarenessUpdate::decode_v1(buf)
                .map(|update| Incoming::Awareness { update })
                .map_err(|_| Malformed("bad awareness update"))
        }
        MSG_QUERY_AWARENESS => Ok(Incoming::AwarenessQuery),
        MSG_AUTH => {
            let granted: u8 = cursor.read_var().map_err(|_| Malformed("bad auth"))?;
            if granted == 0 {
                cursor
                    .read_buf()
                    .map_err(|_| Malformed("bad auth reason"))?;
            }
            Ok(Incoming::Ignored)
        }
        _ => {
            cursor
                .read_buf()
                .map_err(|_| Malformed("truncated message"))?;
            Ok(Incoming::Ignored)
        }
    }
}

fn frame(message: &Message) -> Bytes {
    let mut encoder = EncoderV1::new();
    message.encode(&mut encoder);
    Bytes::from(encoder.to_vec())
}

/// A live update, as every client receives it.
pub fn update_frame(update: Vec<u8>) -> Bytes {
    frame(&Message::Sync(SyncMessage::Update(update)))
}

/// The answer to a client's sync step 1.
pub fn step2_frame(update: Vec<u8>) -> Bytes {
    frame(&Message::Sync(SyncMessage::SyncStep2(update)))
}

/// The server's own sync step 1, so the client sends what the server lacks.
pub fn step1_frame(sv: StateVector) -> Bytes {
    frame(&Message::Sync(SyncMessage::SyncStep1(sv)))
}

/// A presence update.
pub fn awareness_frame(update: &AwarenessUpdate) -> Bytes {
    frame(&Message::Awareness(update.clone()))
}

/// A presence update from raw v1 bytes.
pub fn awareness_raw_frame(raw: &[u8]) -> Bytes {
    let mut encoder = EncoderV1::new();
    encoder.write_var(MSG_AWARENESS);
    encoder.write_buf(raw);
    Bytes::from(encoder.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use yrs::{Doc, ReadTxn, Text, Transact};

    fn sample_update() -> Vec<u8> {
        let doc = Doc::new();
        let text = doc.get_or_insert_text("content");
        let mut txn = doc.transact_mut();
        text.insert(&mut txn, 0, "hello");
        drop(txn);
        doc.transact()
            .encode_state_as_update_v1(&StateVector::default())
    }

    #[test]
    fn whole_messages_parse() {
        let frame = update_frame(sample_update());
        let parsed = parse(&frame).unwrap();
        assert!(matches!(parsed.as_slice(), [Incoming::Update { .. }]));
        let sv = step1_frame(StateVector::default());
        assert!(matches!(
            parse(&sv).unwrap().as_slice(),
            [Incoming::SyncStep1(_)]
        ));
        assert!(matches!(
            parse(&[MSG_QUERY_AWARENESS]).unwrap().as_slice(),
            [Incoming::AwarenessQuery]
        ));
    }

    #[test]
    fn every_truncation_is_refused() {
        let frame = update_frame(sample_update());
        for cut in 0..frame.len() {
            assert!(parse(&frame[..cut]).is_err(), "cut at {cut} was accepted");
        }
    }

    #[test]
    fn garbage_is_refused_without_panicking() {
        assert!(parse(&[0, 2, 3, 0xff, 0xff, 0xff]).is_err());
        assert!(parse(&[0, 9, 0]).is_err());
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        for len in 1..200 {
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    (state & 0xff) as u8
                })
                .collect();
            drop(parse(&bytes));
        }
    }

    #[test]
    fn a_frame_of_a_million_requests_is_refused() {
        let one = step1_frame(StateVector::default());
        let flood: Vec<u8> = one
            .iter()
            .copied()
            .cycle()
            .take(one.len() * 1_000_000)
            .collect();
        assert!(parse(&flood).is_err());
        let most: Vec<u8> = one
            .iter()
            .copied()
            .cycle()
            .take(one.len() * MAX_MESSAGES_PER_FRAME)
            .collect();
        assert_eq!(parse(&most).unwrap().len(), MAX_MESSAGES_PER_FRAME);
    }

    #[test]
    fn a_presence_message_with_too_many_entries_is_refused() {
        let mut update = AwarenessUpdate {
            clients: std::collections::HashMap::new(),
        };
        for id in 0..=MAX_AWARENESS_ENTRIES {
            update.clients.insert(
                yrs::block::ClientID::new(id),
                yrs::sync::awareness::AwarenessUpdateEntry {
                    clock: 1,
                    json: "{}".into(),
                },
            );
        }
        assert!(parse(&awareness_frame(&update)).is_err());
        update.clients.remove(&yrs::block::ClientID::new(0));
        assert!(matches!(
            parse(&awareness_frame(&update)).unwrap().as_slice(),
            [Incoming::Awareness { .. }]
        ));
    }

    proptest::proptest! {
        #[test]
        fn the_parser_never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
            drop(parse(&bytes));
        }

        #[test]
        fn valid_frames_parse_and_any_cut_of_them_is_refused(text in "\\PC{1,64}", cut in 0usize..1000) {
            let doc = Doc::new();
            let t = doc.get_or_insert_text("content");
            t.insert(&mut doc.transact_mut(), 0, &text);
            let update = doc.transact().encode_state_as_update_v1(&StateVector::default());
            let frame = update_frame(update);
            proptest::prop_assert!(parse(&frame).is_ok());
            let cut = cut % frame.len();
            proptest::prop_assert!(parse(&frame[..cut]).is_err());
        }
    }
}
