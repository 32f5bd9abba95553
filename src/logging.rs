//! Logging: `tracing` events as JSON lines when stderr is not a terminal (Kubernetes, CI), human
//! text when it is. Logs go to stderr; stdout carries only the run summary.

use crate::config::env::LogFormat;
use std::io::IsTerminal;
use tracing_subscriber::EnvFilter;

/// The filter when none is given.
const DEFAULT_FILTER: &str = "info,object_store=warn";

/// Installs the global subscriber. `filter` is a tracing filter such as `info` or
/// `rollcall=debug`; an invalid one falls back to `info` with a warning.
pub fn init(format: LogFormat, filter: Option<&str>) {
    // object_store logs its own retries in its own words ("retry 1 of 5"); rollcall reports
    // the failure after the last retry, with what failed and what to do.
    let filter_text = filter.unwrap_or(DEFAULT_FILTER);
    let (filter, bad_filter) = match EnvFilter::try_new(filter_text) {
        Ok(f) => (f, false),
        Err(_) => (EnvFilter::new(DEFAULT_FILTER), true),
    };
    let terminal = std::io::stderr().is_terminal();
    let json = match format {
        LogFormat::Json => true,
        LogFormat::Text => false,
        LogFormat::Auto => !terminal,
    };
    // Colour codes are for a person at a terminal; in a file or a log collector they are noise.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(terminal)
        .with_target(false);
    let installed = if json {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .try_init()
    } else {
        builder.try_init()
    };
    if installed.is_ok() && bad_filter {
        tracing::warn!(
            filter = filter_text,
            "Invalid log filter; using `{DEFAULT_FILTER}`."
        );
    }
}
