//! `mdz sync DIR --server URL --project ID`: the command line of the `mdz-sync` library.

use anyhow::Context;
use mdz_core::secret::Secret;
use mdz_sync::{Client, Options, Report, Syncer};
use std::path::PathBuf;

/// Rounds `--once` runs at most while some change had to wait for the next round (someone
/// wrote in between).
pub const ONCE_ROUNDS: usize = 3;

#[derive(Debug, clap::Args)]
pub struct SyncArgs {
    /// The folder (created when missing; the first run pulls the project into it).
    dir: PathBuf,
    /// The server's base URL (`https://mdz.example.com`).
    #[arg(long)]
    server: String,
    /// The project's id.
    #[arg(long)]
    project: uuid::Uuid,
    /// One round, then exit (default: keep watching both sides).
    #[arg(long)]
    once: bool,
    /// Upload images and PDFs in the folder as attachments (default: ignore them).
    #[arg(long)]
    attachments: bool,
}

pub async fn run(args: SyncArgs) -> anyhow::Result<()> {
    let token = std::env::var("MDZ_TOKEN")
        .ok()
        .filter(|t| !t.is_empty())
        .context("MDZ_TOKEN must hold a personal access token")?;
    let server = args.server.trim_end_matches('/');
    let client = Client::new(server, args.project.into(), Secret::new(token))?;
    let options = Options {
        attachments: args.attachments,
    };
    let mut syncer = Syncer::open(&args.dir, client, server, options)?;
    if args.once {
        for _ in 0..ONCE_ROUNDS {
            let report = syncer.round().await?;
            tell(&report);
            if report.deferred == 0 {
                break;
            }
        }
        return Ok(());
    }
    tracing::info!(dir = %syncer.dir().display(), "watching; Ctrl-C stops");
    mdz_sync::watch(&mut syncer, stopped(), tell).await?;
    Ok(())
}

/// What a round did, on stderr: ignored and refused files once, conflicts, a summary.
fn tell(report: &Report) {
    for path in &report.ignored {
        eprintln!("mdz sync: ignored (not a Markdown document): {path}");
    }
    for line in &report.refused {
        eprintln!("mdz sync: not synced: {line}");
    }
    for path in &report.conflicts {
        eprintln!("mdz sync: edited on both sides, your text is in: {path}");
    }
    if report.changed() {
        tracing::info!(
            pulled = report.pulled,
            pushed = report.pushed,
            created = report.created,
            renamed = report.renamed,
            deleted = report.deleted,
            merged = report.merged,
            conflicts = report.conflicts.len(),
            attached = report.attached,
            "synced"
        );
    }
}

/// Ctrl-C or SIGTERM.
async fn stopped() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => drop(tokio::signal::ctrl_c().await),
    }
}
