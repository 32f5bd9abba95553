//! rollcall: a scheduled job that answers "who is still here?" for the systems a company pays for
//! and must audit. It reads one YAML job spec, fetches every source concurrently, writes CSV reports
//! and a run manifest to object storage, and tells the truth in its exit code.
//!
//! Data flows one way: [`job`] → [`run`] → each source in [`sources`] (using [`http`], emitting
//! rows) → [`report`] (CSV bytes) → [`output`] (object store).

pub mod check;
pub mod config;
pub mod http;
pub mod job;
pub mod logging;
pub mod metrics;
pub mod output;
pub mod report;
pub mod run;
pub mod sources;
pub mod time;

pub use run::{ExitStatus, RunOptions, RunSummary};
