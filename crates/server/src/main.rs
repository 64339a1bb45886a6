//! The `mdz` binary.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match mdz_server::cli::run().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // Logging may not be up yet (bad config), so say it on stderr too.
            tracing::error!(error = %format!("{e:#}"), "mdz failed");
            eprintln!("mdz: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
