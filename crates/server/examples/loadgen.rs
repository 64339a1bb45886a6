//! Load generator for `scripts/bench.sh`'s document benchmarks (saves with If-Match, search over
//! many documents, version storage), against a running mdz. Prints figures; asserts nothing.
//!
//! `loadgen <base-url> <access-token> <project-id> <seconds> [what]`, `what` one of `spread`
//! (16 writers every 100 ms, phases spread: the paced figure), `saves` (back to back, spread,
//! all at once), `history` (version storage), `synthetic` (search over generated text); all
//! of them when left out.

#![expect(clippy::print_stdout, reason = "a benchmark tool prints its figures")]

use std::time::{Duration, Instant};

const WRITERS: usize = 16;
const SEARCHERS: usize = 16;
const SEARCH_DOCS: usize = 10_000;
const WORDS: &[&str] = &[
    "roadmap",
    "release",
    "editor",
    "planning",
    "meeting",
    "budget",
    "design",
    "review",
    "customer",
    "feature",
    "deadline",
    "markdown",
    "collaboration",
    "search",
    "history",
    "version",
    "sync",
    "offline",
    "desktop",
    "extension",
    "migration",
    "database",
    "latency",
    "throughput",
    "backup",
    "security",
    "onboarding",
    "hiring",
    "quarter",
    "strategy",
    "retrospective",
    "incident",
    "postmortem",
    "architecture",
    "interface",
    "document",
    "project",
    "attachment",
    "session",
    "summary",
    "decision",
    "proposal",
    "experiment",
    "metric",
    "dashboard",
    "feedback",
    "support",
];

fn next(seed: &mut u64) -> u64 {
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    *seed
}

const SYLLABLES: &[&str] = &[
    "ka", "lo", "ren", "ti", "mar", "so", "vel", "un", "dra", "pe", "qui", "zan", "or", "bel",
    "fi", "gu", "hal", "ne", "tro", "sim", "ax", "cor", "dim", "est",
];

/// A vocabulary word with a Zipf-like frequency: the common words of the fixed list most often,
/// then thousands of rarer made-up words, as in real notes.
fn pick(seed: &mut u64) -> String {
    let r = next(seed) % 1000;
    if r < 30 {
        return WORDS[(next(seed) % WORDS.len() as u64) as usize].to_owned();
    }
    // 1 in ~5,000 rarer words, skewed towards the first ones.
    let n = next(seed) % 5000;
    let n = (n * n) / 5000;
    let mut w = String::new();
    let mut k = n + 7;
    for _ in 0..3 {
        w.push_str(SYLLABLES[(k % SYLLABLES.len() as u64) as usize]);
        k /= SYLLABLES.len() as u64;
    }
    w
}

/// A realistic-looking Markdown document of about `bytes` bytes.
fn document(seed: u64, bytes: usize) -> String {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = format!("# {} {} notes\n\n", pick(&mut s), pick(&mut s));
    while out.len() < bytes {
        out.push_str(&format!("## {} {}\n\n", pick(&mut s), pick(&mut s)));
        for _ in 0..3 {
            let sentence: Vec<String> = (0..12).map(|_| pick(&mut s)).collect();
            out.push_str(&format!("- {}.\n", sentence.join(" ")));
        }
        let para: Vec<String> = (0..40).map(|_| pick(&mut s)).collect();
        out.push_str(&format!("\n{}.\n\n", para.join(" ")));
    }
    out
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx].as_secs_f64() * 1000.0
}

fn report(name: &str, mut lat: Vec<Duration>, elapsed: Duration, errors: usize) {
    lat.sort();
    println!(
        "{name:<42} {:>9.1} req/s   p50 {:>7.2} ms   p99 {:>7.2} ms   errors {errors}",
        lat.len() as f64 / elapsed.as_secs_f64(),
        percentile(&lat, 0.50),
        percentile(&lat, 0.99),
    );
}

async fn create(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    project: &str,
    path: &str,
    content: &str,
) -> Option<String> {
    let res = client
        .post(format!("{base}/api/v1/projects/{project}/files"))
        .bearer_auth(token)
        .json(&serde_json::json!({"path": path, "content": content}))
        .send()
        .await
        .ok()?;
    let body: serde_json::Value = res.json().await.ok()?;
    body["id"].as_str().map(str::to_owned)
}

/// How the writers pace their saves.
#[derive(Clone, Copy)]
enum Pace {
    /// Each saves again as soon as its last save answered.
    BackToBack,
    /// Each saves every period, all at the same instants: 16 saves arrive at once.
    Together(Duration),
    /// Each saves every period, the writers' phases spread evenly over it, as independent
    /// editors' autosaves are.
    Spread(Duration),
}

/// 16 writers saving their own 20 KB document with If-Match, paced by `pace`.
async fn saves(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    project: &str,
    seconds: u64,
    pace: Pace,
) {
    let mut handles = Vec::new();
    // One clock for every writer, after their documents exist.
    let start = tokio::time::Instant::now() + Duration::from_millis(500);
    let tag = match pace {
        Pace::BackToBack => "fast".to_owned(),
        Pace::Together(e) => format!("together-{}ms", e.as_millis()),
        Pace::Spread(e) => format!("spread-{}ms", e.as_millis()),
    };
    // Each run its own documents (the process id in the path): runs repeat in one project.
    for w in 0..WRITERS {
        let (client, base, token, project, tag) = (
            client.clone(),
            base.to_owned(),
            token.to_owned(),
            project.to_owned(),
            tag.clone(),
        );
        handles.push(tokio::spawn(async move {
            let mut text = document(w as u64 + 1, 20_000);
            let Some(id) = create(
                &client,
                &base,
                &token,
                &project,
                &format!("bench/save-{tag}-{}-{w}.md", std::process::id()),
                &text,
            )
            .await
            else {
                return (Vec::new(), 1usize);
            };
            let mut etag = "\"1\"".to_owned();
            let (mut lat, mut errors) = (Vec::new(), 0usize);
            tokio::time::sleep_until(start).await;
            let end = start.into_std() + Duration::from_secs(seconds);
            let mut tick = match pace {
                Pace::BackToBack => None,
                Pace::Together(e) => Some((start, e)),
                Pace::Spread(e) => Some((start + e * w as u32 / WRITERS as u32, e)),
            }
            .map(|(start, e)| {
                let mut t = tokio::time::interval_at(start, e);
                t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                t
            });
            let mut i = 0u64;
            while Instant::now() < end {
                if let Some(t) = tick.as_mut() {
                    t.tick().await;
                }
                i += 1;
                text.push_str(&format!("edit {i} "));
                let started = Instant::now();
                let res = client
                    .put(format!("{base}/api/v1/files/{id}"))
                    .bearer_auth(&token)
                    .header("if-match", &etag)
                    .json(&serde_json::json!({"content": text}))
                    .send()
                    .await;
                match res {
                    Ok(r) if r.status().is_success() => {
                        if let Some(e) = r.headers().get("etag").and_then(|v| v.to_str().ok()) {
                            etag = e.to_owned();
                        }
                        drop(r.bytes().await);
                        lat.push(started.elapsed());
                    }
                    _ => errors += 1,
                }
            }
            (lat, errors)
        }));
    }
    let started = start.into_std();
    let (mut lat, mut errors) = (Vec::new(), 0);
    for h in handles {
        if let Ok((l, e)) = h.await {
            lat.extend(l);
            errors += e;
        }
    }
    let label = match pace {
        Pace::BackToBack => "PUT /files/{id} 20 KB, If-Match, 16 writers back to back".to_owned(),
        Pace::Together(e) => format!(
            "PUT /files/{{id}} 20 KB, If-Match, 16 writers each every {} ms, all at once",
            e.as_millis()
        ),
        Pace::Spread(e) => format!(
            "PUT /files/{{id}} 20 KB, If-Match, 16 writers each every {} ms, phases spread",
            e.as_millis()
        ),
    };
    report(&label, lat, started.elapsed(), errors);
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (base, token, project, seconds, what) = match &args[..] {
        [_, b, t, p, s] => (b, t, p, s, "all"),
        [_, b, t, p, s, w] => (b, t, p, s, w.as_str()),
        _ => {
            eprintln!("usage: loadgen <base-url> <access-token> <project-id> <seconds> [what]");
            std::process::exit(2);
        }
    };
    let seconds: u64 = seconds.parse().unwrap_or(10);
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()
        .unwrap_or_default();
    let all = what == "all";
    let period = Duration::from_millis(100);
    // ---- saves: 16 writers, each its own 20 KB document, PUT with If-Match ------------------
    // As fast as each writer can (throughput; latency is then concurrency / throughput), and
    // paced like editors autosaving every 100 ms (latency at a stated offered load): with the
    // writers' phases spread as independent editors' are (the target's case), and all 16 at
    // the same instant (a burst: the worst case of the same load).
    if all || what == "saves" {
        saves(&client, base, token, project, seconds, Pace::BackToBack).await;
    }
    if all || what == "saves" || what == "spread" {
        saves(&client, base, token, project, seconds, Pace::Spread(period)).await;
    }
    if all || what == "saves" {
        saves(
            &client,
            base,
            token,
            project,
            seconds,
            Pace::Together(period),
        )
        .await;
    }
    if all || what == "history" {
        history(&client, base, token, project).await;
    }
    if all || what == "synthetic" {
        synthetic_search(&client, base, token, project, seconds).await;
    }
}

/// Version storage: 1,000 small edits of one 20 KB document.
async fn history(client: &reqwest::Client, base: &str, token: &str, project: &str) {
    let mut text = document(999, 20_000);
    if let Some(id) = create(client, base, token, project, "bench/history.md", &text).await {
        let mut s = 42u64;
        for i in 0..1000 {
            let at = (text.len() / 1000 * i).min(text.len() - 1);
            let at = (0..=at)
                .rev()
                .find(|p| text.is_char_boundary(*p))
                .unwrap_or(0);
            text.insert_str(at, &format!("{} ", pick(&mut s)));
            let _ = client
                .put(format!("{base}/api/v1/files/{id}"))
                .bearer_auth(token)
                .json(&serde_json::json!({"content": text}))
                .send()
                .await;
        }
        println!("HISTORY_FILE {id} {}", text.len());
    }
}

/// Search over 10,000 generated documents of ~2 KB (hides the cost of long real documents:
/// see `searchload` for the real corpus).
async fn synthetic_search(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    project: &str,
    seconds: u64,
) {
    let seed_started = Instant::now();
    let mut seeders = Vec::new();
    for t in 0..16 {
        let (client, base, token, project) = (
            client.clone(),
            base.to_owned(),
            token.to_owned(),
            project.to_owned(),
        );
        seeders.push(tokio::spawn(async move {
            for i in (t..SEARCH_DOCS).step_by(16) {
                let text = document(10_000 + i as u64, 2_000);
                create(
                    &client,
                    &base,
                    &token,
                    &project,
                    &format!("corpus/{}/doc-{i}.md", i % 50),
                    &text,
                )
                .await;
            }
        }));
    }
    for s in seeders {
        drop(s.await);
    }
    println!(
        "(seeded {SEARCH_DOCS} documents of ~2 KB in {:.1} s)",
        seed_started.elapsed().as_secs_f64()
    );
    let queries = [
        "roadmap",
        "budget meeting",
        "\"release planning\"",
        "migration -backup",
        "retro",
        "design or review",
        "incident postm",
        "latency throughput",
    ];
    for clients in [1usize, SEARCHERS] {
        let mut handles = Vec::new();
        for w in 0..clients {
            let (client, base, token, project) = (
                client.clone(),
                base.to_owned(),
                token.to_owned(),
                project.to_owned(),
            );
            handles.push(tokio::spawn(async move {
                let (mut lat, mut errors) = (Vec::new(), 0usize);
                let end = Instant::now() + Duration::from_secs(seconds);
                let mut i = w;
                while Instant::now() < end {
                    let q = queries[i % queries.len()];
                    i += 1;
                    let started = Instant::now();
                    let url = reqwest::Url::parse_with_params(
                        &format!("{base}/api/v1/projects/{project}/search"),
                        &[("q", q), ("limit", "20")],
                    );
                    let Ok(url) = url else { continue };
                    match client.get(url).bearer_auth(&token).send().await {
                        Ok(r) if r.status().is_success() => {
                            drop(r.bytes().await);
                            lat.push(started.elapsed());
                        }
                        _ => errors += 1,
                    }
                }
                (lat, errors)
            }));
        }
        let started = Instant::now();
        let (mut lat, mut errors) = (Vec::new(), 0);
        for h in handles {
            if let Ok((l, e)) = h.await {
                lat.extend(l);
                errors += e;
            }
        }
        report(
            &format!("GET /projects/{{id}}/search, 10k docs, {clients} client(s)"),
            lat,
            started.elapsed(),
            errors,
        );
    }
}
