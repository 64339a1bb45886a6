//! Search benchmark on real Markdown for `scripts/bench.sh`: a corpus of `.md` files not
//! written by this project (by default those of the crates in the local Cargo registry),
//! replicated into folders up to a number of documents, loaded through the API; queries drawn
//! from the corpus. Prints figures; asserts nothing.
//!
//! `searchload seed <base-url> <token> <project> <corpus-dir> <documents> <queries-file>`
//!   loads the corpus and writes the queries (one per line: `kind<TAB>query`).
//! `searchload run <base-url> <token> <project> <clients> <seconds> <queries-file>`
//!   searches with `clients` closed loops for `seconds`; prints p50/p99 overall and per kind.

#![expect(clippy::print_stdout, reason = "a benchmark tool prints its figures")]

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Documents larger than this are left out (the server's default limit is 5 MiB; none of the
/// registry's Markdown comes near).
const MAX_DOC_BYTES: usize = 1_000_000;
/// Concurrent uploads while seeding.
const SEEDERS: usize = 16;

fn markdown_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        match e.file_type() {
            Ok(t) if t.is_dir() => markdown_files(&p, out),
            Ok(t) if t.is_file() && p.extension().is_some_and(|x| x == "md") => out.push(p),
            _ => {}
        }
    }
}

fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty() && w.chars().count() <= 32)
        .map(str::to_lowercase)
}

fn next(seed: &mut u64) -> u64 {
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    *seed
}

/// Queries drawn from the corpus: the 30 most common words, 60 pairs of rare words found
/// together in one document, and 1–3 letter prefixes of 30 common words as a person types
/// them ("r", "re", "rea").
fn queries(docs: &[(String, String)]) -> Vec<(&'static str, String)> {
    let mut df: HashMap<String, usize> = HashMap::new();
    for (_, text) in docs {
        let set: HashSet<String> = words(text).collect();
        for w in set {
            *df.entry(w).or_default() += 1;
        }
    }
    let alpha = |w: &str| w.chars().all(|c| c.is_ascii_alphabetic());
    let mut common: Vec<(&String, &usize)> = df.iter().filter(|(w, _)| alpha(w)).collect();
    common.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    let mut out: Vec<(&'static str, String)> = Vec::new();
    for (w, _) in common.iter().take(30) {
        out.push(("common", (*w).clone()));
    }
    for (w, _) in common.iter().skip(30).step_by(7).take(30) {
        let chars: Vec<char> = w.chars().collect();
        for n in 1..=3.min(chars.len()) {
            out.push(("prefix", chars[..n].iter().collect()));
        }
    }
    let mut seed = 0x5EED_u64;
    let mut pairs = 0;
    while pairs < 60 {
        let (_, text) = &docs[(next(&mut seed) % docs.len() as u64) as usize];
        let rare: Vec<String> = words(text)
            .filter(|w| alpha(w) && w.len() >= 4 && df.get(w).is_some_and(|n| (2..=5).contains(n)))
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        if rare.len() < 2 {
            continue;
        }
        let mut rare = rare;
        rare.sort();
        let a = (next(&mut seed) % rare.len() as u64) as usize;
        let b = (a + 1 + (next(&mut seed) % (rare.len() as u64 - 1)) as usize) % rare.len();
        out.push(("rare pair", format!("{} {}", rare[a], rare[b])));
        pairs += 1;
    }
    out
}

async fn seed(args: &[String]) {
    let [base, token, project, dir, count, qfile] = args else {
        eprintln!("usage: searchload seed <base> <token> <project> <dir> <documents> <queries>");
        std::process::exit(2);
    };
    let count: usize = count.parse().unwrap_or(10_000);
    let mut files = Vec::new();
    markdown_files(Path::new(dir), &mut files);
    files.sort();
    let docs: Vec<(String, String)> = files
        .iter()
        .filter_map(|p| {
            let text = std::fs::read_to_string(p).ok()?;
            (!text.trim().is_empty() && text.len() <= MAX_DOC_BYTES && !text.contains('\0')).then(
                || {
                    let rel = p.strip_prefix(dir).unwrap_or(p);
                    (rel.to_string_lossy().replace('+', "-"), text)
                },
            )
        })
        .collect();
    if docs.is_empty() {
        eprintln!("no Markdown files under {dir}");
        std::process::exit(1);
    }
    let bytes: usize = docs.iter().map(|(_, t)| t.len()).sum();
    let qs = queries(&docs);
    let text: String = qs.iter().map(|(k, q)| format!("{k}\t{q}\n")).collect();
    if let Err(e) = std::fs::write(qfile, text) {
        eprintln!("writing {qfile}: {e}");
        std::process::exit(1);
    }
    let client = reqwest::Client::new();
    let started = Instant::now();
    let docs = std::sync::Arc::new(docs);
    let mut tasks = Vec::new();
    for t in 0..SEEDERS {
        let (client, base, token, project, docs) = (
            client.clone(),
            base.clone(),
            token.clone(),
            project.clone(),
            docs.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut failed = 0usize;
            for i in (t..count).step_by(SEEDERS) {
                let (path, text) = &docs[i % docs.len()];
                let path = format!("copy-{}/{path}", i / docs.len());
                let res = client
                    .post(format!("{base}/api/v1/projects/{project}/files"))
                    .bearer_auth(&token)
                    .json(&serde_json::json!({"path": path, "content": text}))
                    .send()
                    .await;
                if !res.is_ok_and(|r| r.status().is_success()) {
                    failed += 1;
                }
            }
            failed
        }));
    }
    let mut failed = 0;
    for t in tasks {
        failed += t.await.unwrap_or(0);
    }
    println!(
        "corpus: {} Markdown files ({:.1} MB) under {dir}, replicated to {count} documents \
         ({failed} refused) in {:.1} s; {} queries",
        docs.len(),
        bytes as f64 / 1e6,
        started.elapsed().as_secs_f64(),
        qs.len()
    );
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx].as_secs_f64() * 1000.0
}

async fn run(args: &[String]) {
    let [base, token, project, clients, seconds, qfile] = args else {
        eprintln!("usage: searchload run <base> <token> <project> <clients> <seconds> <queries>");
        std::process::exit(2);
    };
    let clients: usize = clients.parse().unwrap_or(1);
    let seconds: u64 = seconds.parse().unwrap_or(10);
    let qs: Vec<(String, String)> = std::fs::read_to_string(qfile)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_once('\t'))
        .map(|(k, q)| (k.to_owned(), q.to_owned()))
        .collect();
    let qs = std::sync::Arc::new(qs);
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()
        .unwrap_or_default();
    let mut handles = Vec::new();
    let started = Instant::now();
    for w in 0..clients {
        let (client, base, token, project, qs) = (
            client.clone(),
            base.clone(),
            token.clone(),
            project.clone(),
            qs.clone(),
        );
        handles.push(tokio::spawn(async move {
            let mut lat: Vec<(usize, Duration)> = Vec::new();
            let mut errors = 0usize;
            let end = Instant::now() + Duration::from_secs(seconds);
            let mut i = w * 17;
            while Instant::now() < end {
                let k = i % qs.len();
                i += 1;
                let url = reqwest::Url::parse_with_params(
                    &format!("{base}/api/v1/projects/{project}/search"),
                    &[("q", qs[k].1.as_str()), ("limit", "20")],
                );
                let Ok(url) = url else { continue };
                let t = Instant::now();
                match client.get(url).bearer_auth(&token).send().await {
                    Ok(r) if r.status().is_success() => {
                        drop(r.bytes().await);
                        lat.push((k, t.elapsed()));
                    }
                    _ => errors += 1,
                }
            }
            (lat, errors)
        }));
    }
    let (mut all, mut errors) = (Vec::new(), 0);
    for h in handles {
        if let Ok((l, e)) = h.await {
            all.extend(l);
            errors += e;
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    let mut total: Vec<Duration> = all.iter().map(|(_, d)| *d).collect();
    total.sort();
    let mut line = format!(
        "search {clients:>2} client(s): {:>7.1} req/s   p50 {:>7.2} ms   p99 {:>7.2} ms   errors {errors}",
        total.len() as f64 / elapsed,
        percentile(&total, 0.5),
        percentile(&total, 0.99),
    );
    for kind in ["common", "rare pair", "prefix"] {
        let mut l: Vec<Duration> = all
            .iter()
            .filter(|(k, _)| qs[*k].0 == kind)
            .map(|(_, d)| *d)
            .collect();
        l.sort();
        line.push_str(&format!(
            "   [{kind}: p50 {:.1} p99 {:.1}]",
            percentile(&l, 0.5),
            percentile(&l, 0.99)
        ));
    }
    // The slowest query, so a regression names its cause.
    if let Some((k, d)) = all.iter().max_by_key(|(_, d)| *d) {
        line.push_str(&format!(
            "   slowest {:.1} ms: {:?}",
            d.as_secs_f64() * 1000.0,
            qs[*k].1
        ));
    }
    println!("{line}");
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("seed") => seed(&args[2..]).await,
        Some("run") => run(&args[2..]).await,
        _ => {
            eprintln!("usage: searchload seed|run …");
            std::process::exit(2);
        }
    }
}
