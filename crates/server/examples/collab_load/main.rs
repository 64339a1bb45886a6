//! Collab load generator for `scripts/bench-collab.sh`: yrs clients over real WebSockets,
//! speaking the y-websocket protocol to mdz or to the reference `@y/websocket-server`.
//! Prints figures; asserts nothing.
//!
//! - `collab_load room <url> <clients> <seconds>`: N clients in one room, each inserting one
//!   character 10 times a second; the time from one client's insert until each other client
//!   has it (p50/p99) and deliveries per second. `<url>` is the room's full WebSocket URL.
//! - `collab_load idle <url-prefix> <url-suffix> <rooms-file> <per-room> <server-pid>`: open
//!   `per-room` synced connections to each room listed, and report the server's RSS growth.
//! - `collab_load gen <updates> <file-id> <out.tsv>`: a document typed one character per
//!   update, as rows for `COPY collab_updates (file_id, seq, data)`.
//! - `collab_load sync <url>`: milliseconds until a fresh client is synced (cold room load).
//! - `collab_load accept …`: accepted suggestion to visible in live clients (see `accept.rs`).

#![expect(clippy::print_stdout, reason = "a benchmark tool prints its figures")]

mod accept;

use futures_util::{SinkExt, StreamExt};
use std::collections::HashMap;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;
use yrs::block::ClientID;
use yrs::encoding::read::{Cursor, Read};
use yrs::updates::decoder::Decode;
use yrs::updates::encoder::Encode;
use yrs::{Doc, ReadTxn, StateVector, Text, Transact, Update};

type Sent = Arc<Mutex<HashMap<(ClientID, u32), Instant>>>;

fn varbuf(out: &mut Vec<u8>, data: &[u8]) {
    let mut n = data.len();
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(byte);
            break;
        }
        out.push(byte | 0x80);
    }
    out.extend_from_slice(data);
}

fn sync_frame(kind: u8, data: &[u8]) -> Vec<u8> {
    let mut out = vec![0, kind];
    varbuf(&mut out, data);
    out
}

/// The sync messages in a frame: `(kind, payload)`; awareness and the rest are skipped.
fn sync_messages(frame: &[u8]) -> Vec<(u8, Vec<u8>)> {
    let mut cursor = Cursor::new(frame);
    let mut out = Vec::new();
    while cursor.has_content() {
        let Ok(tag) = cursor.read_var::<u8>() else {
            break;
        };
        match tag {
            0 => {
                let (Ok(kind), Ok(buf)) = (cursor.read_var::<u8>(), cursor.read_buf()) else {
                    break;
                };
                out.push((kind, buf.to_vec()));
            }
            3 => {}
            _ => {
                if cursor.read_buf().is_err() {
                    break;
                }
            }
        }
    }
    out
}

struct Client {
    doc: Doc,
    /// Apply what arrives to `doc` (not for typists: the load generator must not be the
    /// bottleneck, and a typist's updates stay valid without the others' text).
    apply: bool,
    ws: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
    synced: bool,
}

impl Client {
    async fn connect(url: &str) -> Result<Self, String> {
        let (mut ws, _) = tokio_tungstenite::connect_async(url)
            .await
            .map_err(|e| format!("connect {url}: {e}"))?;
        let sv = StateVector::default().encode_v1();
        ws.send(Message::Binary(sync_frame(0, &sv).into()))
            .await
            .map_err(|e| e.to_string())?;
        Ok(Self {
            doc: Doc::new(),
            apply: true,
            ws,
            synced: false,
        })
    }

    /// Handle one frame; returns the `(client, clock)` of every insert it delivered.
    async fn on_frame(&mut self, data: &[u8]) -> Vec<(ClientID, u32)> {
        let mut delivered = Vec::new();
        for (kind, payload) in sync_messages(data) {
            match kind {
                0 => {
                    if let Ok(sv) = StateVector::decode_v1(&payload) {
                        let update = self.doc.transact().encode_state_as_update_v1(&sv);
                        drop(
                            self.ws
                                .send(Message::Binary(sync_frame(1, &update).into()))
                                .await,
                        );
                    }
                }
                1 | 2 => {
                    if let Ok(update) = Update::decode_v1(&payload) {
                        // A live update of one keystroke: its first item names it.
                        if kind == 2 {
                            for (client, clock) in update.state_vector_lower().iter() {
                                delivered.push((*client, *clock));
                            }
                        }
                        if self.apply {
                            drop(self.doc.transact_mut().apply_update(update));
                        }
                    }
                    if kind == 1 {
                        self.synced = true;
                    }
                }
                _ => {}
            }
        }
        delivered
    }

    async fn until_synced(&mut self) -> Result<(), String> {
        while !self.synced {
            match tokio::time::timeout(Duration::from_secs(30), self.ws.next()).await {
                Ok(Some(Ok(Message::Binary(data)))) => {
                    self.on_frame(&data).await;
                }
                Ok(Some(Ok(_))) => {}
                other => return Err(format!("not synced: {other:?}")),
            }
        }
        Ok(())
    }
}

async fn typist(url: String, sent: Sent, until: Instant, warmup: Instant) -> (Vec<u32>, u64) {
    let Ok(mut client) = Client::connect(&url).await else {
        return (Vec::new(), 0);
    };
    client.apply = false;
    if client.until_synced().await.is_err() {
        return (Vec::new(), 0);
    }
    let me = client.doc.client_id();
    let text = client.doc.get_or_insert_text("content");
    let offset = Duration::from_millis(u64::from(rand_u32(&me) % 100));
    let mut tick = tokio::time::interval_at(
        tokio::time::Instant::now() + offset,
        Duration::from_millis(100),
    );
    let mut latencies = Vec::new();
    let mut deliveries = 0_u64;
    loop {
        tokio::select! {
            _ = tick.tick() => {
                if Instant::now() >= until {
                    break;
                }
                let update = {
                    let mut txn = client.doc.transact_mut();
                    let clock = txn.state_vector().get(&me);
                    let len = text.len(&txn);
                    text.insert(&mut txn, len, "x");
                    if let Ok(mut map) = sent.lock() {
                        map.insert((me, clock), Instant::now());
                    }
                    txn.encode_update_v1()
                };
                if client.ws.send(Message::Binary(sync_frame(2, &update).into())).await.is_err() {
                    break;
                }
            }
            frame = client.ws.next() => {
                let Some(Ok(Message::Binary(data))) = frame else {
                    if frame.is_none() { break; }
                    continue;
                };
                let now = Instant::now();
                for key in client.on_frame(&data).await {
                    if key.0 == me {
                        continue;
                    }
                    let at = sent.lock().ok().and_then(|m| m.get(&key).copied());
                    if let Some(at) = at
                        && at >= warmup
                    {
                        deliveries += 1;
                        latencies.push(u32::try_from(now.duration_since(at).as_micros()).unwrap_or(u32::MAX));
                    }
                }
            }
        }
    }
    drop(client.ws.close(None).await);
    (latencies, deliveries)
}

fn rand_u32(seed: &ClientID) -> u32 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    seed.hash(&mut h);
    let seed = h.finish();
    let mut x = seed ^ 0x9e37_79b9_7f4a_7c15;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    (x >> 16) as u32
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    f64::from(sorted[i]) / 1000.0
}

async fn room(url: &str, clients: usize, seconds: u64) {
    let sent: Sent = Arc::new(Mutex::new(HashMap::new()));
    let start = Instant::now();
    let warmup = start + Duration::from_secs(2);
    let until = warmup + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for _ in 0..clients {
        tasks.push(tokio::spawn(typist(
            url.to_owned(),
            sent.clone(),
            until,
            warmup,
        )));
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let mut all = Vec::new();
    let mut deliveries = 0;
    for task in tasks {
        if let Ok((lat, n)) = task.await {
            all.extend(lat);
            deliveries += n;
        }
    }
    all.sort_unstable();
    let measured = until.duration_since(warmup).as_secs_f64();
    let expected = (clients * clients.saturating_sub(1)) as f64 * 10.0 * measured;
    println!(
        "N={clients:<4} p50 {:>8.2} ms  p99 {:>8.2} ms  deliveries {:>9.0}/s  ({:.1}% of the {:.0} expected)",
        percentile(&all, 0.50),
        percentile(&all, 0.99),
        deliveries as f64 / measured,
        100.0 * deliveries as f64 / expected.max(1.0),
        expected / measured,
    );
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|n| n.parse().ok()))
        })
        .unwrap_or(0)
}

async fn open_all(urls: &[String]) -> Vec<Client> {
    let mut clients = Vec::with_capacity(urls.len());
    for chunk in urls.chunks(100) {
        let opened = futures_util::future::join_all(chunk.iter().map(|u| async move {
            let mut c = Client::connect(u).await?;
            c.until_synced().await?;
            Ok::<_, String>(c)
        }))
        .await;
        for c in opened {
            match c {
                Ok(c) => clients.push(c),
                Err(e) => println!("idle: {e}"),
            }
        }
    }
    clients
}

async fn idle(prefix: &str, suffix: &str, rooms_file: &str, per_room: usize, pid: u32) {
    let rooms: Vec<String> = std::fs::read_to_string(rooms_file)
        .unwrap_or_default()
        .lines()
        .map(|l| format!("{prefix}{}{suffix}", l.trim()))
        .collect();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let base = rss_kib(pid);
    let first = open_all(&rooms).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let with_rooms = rss_kib(pid);
    let more: Vec<String> = rooms
        .iter()
        .flat_map(|r| std::iter::repeat_n(r.clone(), per_room.saturating_sub(1)))
        .collect();
    let rest = open_all(&more).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let with_all = rss_kib(pid);
    let conns = first.len() + rest.len();
    println!(
        "idle: {} rooms, {} connections: RSS {} -> {} -> {} MiB; per idle room (with its first connection) {:.1} KiB; per further idle connection {:.1} KiB",
        rooms.len(),
        conns,
        base / 1024,
        with_rooms / 1024,
        with_all / 1024,
        (with_rooms.saturating_sub(base)) as f64 / first.len().max(1) as f64,
        (with_all.saturating_sub(with_rooms)) as f64 / rest.len().max(1) as f64,
    );
    drop(first);
    drop(rest);
}

fn generate(updates: usize, file: &str, out: &str) -> std::io::Result<()> {
    let doc = Doc::new();
    let text = doc.get_or_insert_text("content");
    let mut w = std::io::BufWriter::new(std::fs::File::create(out)?);
    for seq in 1..=updates {
        let mut txn = doc.transact_mut();
        let len = text.len(&txn);
        // Mostly typing at the end, now and then in the middle, like a person editing.
        let at = if seq % 7 == 0 { len / 2 } else { len };
        text.insert(&mut txn, at, if seq % 40 == 0 { "\n" } else { "a" });
        let update = txn.encode_update_v1();
        let hex: String = update.iter().map(|b| format!("{b:02x}")).collect();
        writeln!(w, "{file}\t{seq}\t\\\\x{hex}")?;
    }
    w.flush()
}

async fn sync_time(url: &str) {
    let started = Instant::now();
    match Client::connect(url).await {
        Ok(mut c) => match c.until_synced().await {
            Ok(()) => {
                let text = c.doc.get_or_insert_text("content");
                let len = text.len(&c.doc.transact());
                println!(
                    "synced in {:.1} ms ({} characters)",
                    started.elapsed().as_secs_f64() * 1000.0,
                    len
                );
            }
            Err(e) => println!("sync: {e}"),
        },
        Err(e) => println!("sync: {e}"),
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize| args.get(i).cloned().unwrap_or_default();
    match arg(0).as_str() {
        "room" => {
            room(
                &arg(1),
                arg(2).parse().unwrap_or(2),
                arg(3).parse().unwrap_or(10),
            )
            .await
        }
        "idle" => {
            idle(
                &arg(1),
                &arg(2),
                &arg(3),
                arg(4).parse().unwrap_or(10),
                arg(5).parse().unwrap_or(0),
            )
            .await;
        }
        "gen" => {
            if let Err(e) = generate(arg(1).parse().unwrap_or(100_000), &arg(2), &arg(3)) {
                println!("gen: {e}");
            }
        }
        "sync" => sync_time(&arg(1)).await,
        "accept" => {
            accept::run(
                &arg(1),
                &arg(2),
                &arg(3),
                &arg(4),
                arg(5).parse().unwrap_or(2),
                arg(6).parse().unwrap_or(200),
            )
            .await;
        }
        _ => println!("usage: collab_load room|idle|gen|sync|accept … (see the module docs)"),
    }
}
