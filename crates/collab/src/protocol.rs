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
    Awareness {
        update: AwarenessUpdate,
        raw: Vec<u8>,
    },
    /// "Send me everyone's presence."
    AwarenessQuery,
    /// Auth messages and unknown kinds carry nothing the server acts on.
    Ignored,
}

/// Why a frame was refused.
#[derive(Debug, thiserror::Error)]
#[error("malformed y-websocket frame: {0}")]
pub struct Malformed(&'static str);

/// Parse a binary frame into its messages.
pub fn parse(frame: &[u8]) -> Result<Vec<Incoming>, Malformed> {
    if frame.is_empty() {
        return Err(Malformed("empty frame"));
    }
    let mut cursor = Cursor::new(frame);
    let mut out = Vec::with_capacity(1);
    while cursor.has_content() {
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
            AwarenessUpdate::decode_v1(buf)
                .map(|update| Incoming::Awareness {
                    update,
                    raw: buf.to_vec(),
                })
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
}
