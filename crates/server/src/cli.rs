//! The command line: `mdz serve` (the default), `mdz migrate`, `mdz openapi`, `mdz backup`,
//! `mdz restore`, `mdz sync`.

use crate::backup;
use crate::startup::{Application, Database, stop_on_signal};
use clap::{Parser, Subcommand};
use mdz_core::config::Config;
use std::io::Write;
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "mdz",
    version,
    about = "mdz: the backend of an AI-assisted, collaborative Markdown editor",
    long_about = "mdz: the backend of an AI-assisted, collaborative Markdown editor.\n\n\
        With no configuration it keeps everything under ./.mdz, including its own PostgreSQL \
        cluster. Configure with mdz.toml or MDZ_* environment variables (see README)."
)]
pub struct Cli {
    /// A TOML configuration file (default: ./mdz.toml when it exists).
    #[arg(long, short, global = true, env = "MDZ_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the HTTP server (the default).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Print the OpenAPI document as JSON and exit.
    Openapi,
    /// Write a consistent backup of the database and every attachment to FILE (`-`: stdout).
    /// Safe while mdz serves.
    Backup {
        /// Where to write the backup (a zip; `-` writes to stdout).
        file: String,
    },
    /// Restore a backup into the configured (empty) database and attachment store.
    Restore {
        /// A file written by `mdz backup`.
        file: PathBuf,
        /// Replace whatever the target holds: drops every table of the database first.
        #[arg(long)]
        force: bool,
    },
    /// Sync a folder of Markdown files with a project, both ways (a client: needs a server
    /// and a personal access token in MDZ_TOKEN, not the database).
    Sync(crate::sync::SyncArgs),
}

pub async fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if matches!(cli.command, Some(Command::Openapi)) {
        let json = serde_json::to_string_pretty(&crate::openapi::document())?;
        let mut out = std::io::stdout().lock();
        writeln!(out, "{json}")?;
        return Ok(());
    }
    if let Some(Command::Sync(args)) = cli.command {
        // A client of some server: this machine's server configuration plays no part.
        mdz_core::telemetry::init_to_stderr(
            mdz_core::config::LogFormat::Pretty,
            &std::env::var("MDZ_LOG_LEVEL").unwrap_or_else(|_| "info".into()),
        );
        return crate::sync::run(args).await;
    }
    let config = Config::load(cli.config.as_deref())?;
    let command = cli.command.unwrap_or(Command::Serve);
    if matches!(command, Command::Backup { .. } | Command::Restore { .. }) {
        // A backup may go to stdout: logs go to stderr.
        mdz_core::telemetry::init_to_stderr(config.log_format, &config.log_level);
    } else {
        mdz_core::telemetry::init(config.log_format, &config.log_level);
    }
    match command {
        Command::Serve => serve(config).await,
        Command::Migrate => migrate(config).await,
        Command::Openapi | Command::Sync(_) => Ok(()),
        Command::Backup { file } => backup(config, &file).await,
        Command::Restore { file, force } => restore(config, &file, force).await,
    }
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let listen = config.listen.clone();
    let app = Application::build(config).await?;
    tracing::info!(
        address = %listen,
        port = app.port(),
        "mdz is listening; API docs at /docs"
    );
    tokio::spawn(stop_on_signal(app.handle()));
    app.run_until_stopped().await?;
    tracing::info!("mdz stopped");
    Ok(())
}

async fn migrate(config: Config) -> anyhow::Result<()> {
    let database = Database::open(&config).await?;
    let result = mdz_core::db::run_migrations(&database.url).await;
    database.close().await;
    let ran = result.map_err(anyhow::Error::msg)?;
    tracing::info!(migrations = ran, "migrations applied");
    Ok(())
}

async fn backup(config: Config, file: &str) -> anyhow::Result<()> {
    let output = if file == "-" {
        backup::Output::Stdout
    } else {
        backup::Output::File(PathBuf::from(file))
    };
    let done = backup::backup(&config, &output).await?;
    tracing::info!(
        tables = done.tables,
        rows = done.rows,
        attachments = done.blobs,
        attachment_bytes = done.blob_bytes,
        missing_attachments = done.missing_blobs,
        "backup written"
    );
    Ok(())
}

async fn restore(config: Config, file: &std::path::Path, force: bool) -> anyhow::Result<()> {
    let done = backup::restore(&config, file, force).await?;
    tracing::info!(
        tables = done.tables,
        rows = done.rows,
        attachments = done.blobs,
        newer_migrations = done.newer_migrations,
        backup_created_at = %done.backup_created_at,
        "backup restored"
    );
    Ok(())
}
