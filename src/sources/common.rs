//! The settings every source kind shares, read once for all kinds.
//!
//! An item is read in two parts: its kind's own settings (a struct with
//! `deny_unknown_fields`), then the shared ones. serde's `flatten` would do this in one step but
//! silently disables `deny_unknown_fields`, so a misspelt key would be ignored; the split below
//! keeps every unknown key an error that names its line and lists every key the item accepts.

use super::SourceKind;
use crate::config::duration::deserialize_optional_duration;
use crate::config::fields::struct_fields;
use crate::config::{Environment, KeyPath, Problems, check_env_name, check_name};
use serde::Deserialize;
use std::time::Duration;

/// The settings every source has, with the kind's defaults applied.
#[derive(Debug, Clone)]
pub struct CommonSpec {
    /// Unique name of this source; used in object keys and logs.
    pub name: String,
    /// Environment variable holding the token (or `<it>_FILE` naming a file).
    pub token_env: String,
    /// Allow plain `http://` to a host that is not loopback.
    pub allow_http: bool,
    /// Time allowed for one request (one page, one month's export).
    pub request_timeout: Duration,
    /// Deadline of this source's whole fetch. Default: the job's `source_timeout`.
    pub timeout: Option<Duration>,
}

/// The shared keys as written; defaults depend on the kind.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CommonFields {
    name: String,
    #[serde(default)]
    token_env: Option<String>,
    #[serde(default)]
    allow_http: bool,
    #[serde(default, deserialize_with = "deserialize_optional_duration")]
    request_timeout: Option<Duration>,
    #[serde(default, deserialize_with = "deserialize_optional_duration")]
    timeout: Option<Duration>,
}

impl CommonSpec {
    /// A token pasted with its `Bearer ` prefix: `consequence` says what the API would do with
    /// it. The message names the variable, never the value; a token that cannot be read is
    /// left to the source's preparation, which says why.
    pub(super) fn check_token_prefix(
        &self,
        at: &KeyPath,
        env: &Environment,
        consequence: &str,
        problems: &mut Problems<'_>,
    ) {
        let Ok(token) = env.secret(&self.name, &self.token_env) else {
            return;
        };
        let has_prefix = token
            .expose()
            .trim_start()
            .get(..7)
            .is_some_and(|p| p.eq_ignore_ascii_case("bearer "));
        if has_prefix {
            let var = &self.token_env;
            problems.add(
                &at.key("token_env"),
                format!(
                    "the token in {var} (or {var}_FILE) starts with `Bearer `; {consequence}: store the bare token"
                ),
            );
        }
    }

    /// Checks the shared settings of the item at `at`.
    pub(super) fn validate(&self, at: &KeyPath, problems: &mut Problems<'_>) {
        check_name(problems, &at.key("name"), &self.name);
        check_env_name(problems, &at.key("token_env"), &self.token_env);
        if self.request_timeout < Duration::from_secs(1) {
            problems.add(&at.key("request_timeout"), "must be at least 1s");
        }
    }
}

/// Reads one item (without its `kind`) as kind `K`: the kind's settings, then the shared ones.
/// The first problem ends the reading, as serde would for a single struct.
pub(super) fn read_item<K: SourceKind>(
    item: serde_yaml::Mapping,
    at: &KeyPath,
    problems: &mut Problems<'_>,
) -> Option<(K, CommonSpec)> {
    let shared_keys = struct_fields::<CommonFields>();
    let kind_keys = struct_fields::<K>();
    let (mut shared, mut own) = (serde_yaml::Mapping::new(), serde_yaml::Mapping::new());
    for (key, value) in item {
        match key.as_str() {
            Some(name) if shared_keys.contains(&name) => shared.insert(key, value),
            Some(name) if !kind_keys.contains(&name) => {
                let accepted: Vec<String> = shared_keys
                    .iter()
                    .chain(kind_keys)
                    .map(|k| format!("`{k}`"))
                    .collect();
                problems.add(
                    &at.key(name),
                    format!(
                        "unknown field `{name}`, expected one of {}",
                        accepted.join(", ")
                    ),
                );
                return None;
            }
            _ => own.insert(key, value),
        };
    }
    let spec: K = problems.read(serde_yaml::Value::Mapping(own), at)?;
    let fields: CommonFields = problems.read(serde_yaml::Value::Mapping(shared), at)?;
    let common = CommonSpec {
        name: fields.name,
        token_env: fields
            .token_env
            .unwrap_or_else(|| K::DEFAULT_TOKEN_ENV.to_owned()),
        allow_http: fields.allow_http,
        request_timeout: fields.request_timeout.unwrap_or(K::DEFAULT_REQUEST_TIMEOUT),
        timeout: fields.timeout,
    };
    Some((spec, common))
}
