//! One tracing subscriber for the process: pretty for people, JSON for pipelines.

use crate::config::LogFormat;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::FmtSpan;

/// Install the global subscriber. Safe to call more than once (later calls do nothing),
/// so tests that boot several apps in one process can call it freely.
pub fn init(format: LogFormat, level: &str) {
    init_with(format, level, false);
}

/// [`init`], writing to stderr instead of stdout (commands whose output is their stdout,
/// such as `mdz backup -`).
pub fn init_to_stderr(format: LogFormat, level: &str) {
    init_with(format, level, true);
}

fn init_with(format: LogFormat, level: &str, to_stderr: bool) {
    use tracing_subscriber::fmt::writer::BoxMakeWriter;
    let writer = if to_stderr {
        BoxMakeWriter::new(std::io::stderr)
    } else {
        BoxMakeWriter::new(std::io::stdout)
    };
    let filter = EnvFilter::try_from_env("RUST_LOG")
        .or_else(|_| EnvFilter::try_new(level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_span_events(FmtSpan::NONE)
        .with_target(true)
        .with_writer(writer);
    let result = match format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
        LogFormat::Pretty => builder.compact().try_init(),
    };
    // An Err here only means a subscriber is already installed.
    drop(result);
}
