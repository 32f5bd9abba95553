//! `http:` in the job spec: the settings of the shared HTTP client.

use crate::config::duration::HumanDuration;
use crate::config::{KeyPath, Problems, deserialize_duration};
use schemars::JsonSchema;
use serde::Deserialize;
use std::time::Duration;

/// Settings of the shared HTTP client.
#[derive(Debug, Deserialize, JsonSchema, Clone)]
#[serde(deny_unknown_fields)]
pub struct HttpSpec {
    /// Time allowed to open a connection.
    #[serde(
        default = "default_connect_timeout",
        deserialize_with = "deserialize_duration"
    )]
    #[schemars(with = "HumanDuration")]
    pub connect_timeout: Duration,
    /// Retries after the first attempt, for connection errors, timeouts, 408, 429 and 5xx.
    #[serde(default = "default_max_retries")]
    pub max_retries: u32,
    /// First backoff delay; doubles on each retry, with full jitter.
    #[serde(
        default = "default_backoff_base",
        deserialize_with = "deserialize_duration"
    )]
    #[schemars(with = "HumanDuration")]
    pub backoff_base: Duration,
    /// Longest single wait between retries, including a server's `Retry-After`.
    #[serde(
        default = "default_backoff_max",
        deserialize_with = "deserialize_duration"
    )]
    #[schemars(with = "HumanDuration")]
    pub backoff_max: Duration,
}

impl Default for HttpSpec {
    fn default() -> Self {
        Self {
            connect_timeout: default_connect_timeout(),
            max_retries: default_max_retries(),
            backoff_base: default_backoff_base(),
            backoff_max: default_backoff_max(),
        }
    }
}

fn default_connect_timeout() -> Duration {
    Duration::from_secs(10)
}
fn default_max_retries() -> u32 {
    5
}
fn default_backoff_base() -> Duration {
    Duration::from_millis(500)
}
fn default_backoff_max() -> Duration {
    Duration::from_secs(120)
}

impl HttpSpec {
    /// Checks the settings found at `at` (`http`).
    pub fn validate(&self, at: &KeyPath, problems: &mut Problems<'_>) {
        if self.max_retries > 20 {
            problems.add(&at.key("max_retries"), "must be at most 20");
        }
        if self.backoff_base.is_zero() {
            problems.add(&at.key("backoff_base"), "must be positive");
        }
        if self.backoff_max < self.backoff_base {
            problems.add(
                &at.key("backoff_max"),
                "must not be shorter than `backoff_base`",
            );
        }
        if self.connect_timeout.is_zero() {
            problems.add(&at.key("connect_timeout"), "must be positive");
        }
    }
}
