//! The settings every source kind shares, read once for all kinds.
//!
//! An item is read in two parts: its kind's own settings (a struct with
//! `deny_unknown_fields`), then the shared ones. serde's `flatten` would do this in one step but
//! silently disables `deny_unknown_fields`, so a misspelt key would be ignored; the split below
//! keeps every unknown key an error that names its line and lists every key the item accepts.

use super::SourceKind;
use crate::config::checks::{ENV_NAME_PATTERN, NAME_PATTERN};
use crate::config::duration::{HumanDuration, deserialize_optional_duration};
use crate::config::fields::struct_fields;
use crate::config::{ConfigError, Environment, KeyPath, Problems, check_env_name, check_name};
use schemars::{JsonSchema, Schema, SchemaGenerator};
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
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct CommonFields {
    /// Unique name of this source; used in object keys and logs. 1 to 64 letters, digits, `.`,
    /// `_` or `-`, not starting with `.`.
    #[schemars(regex(pattern = NAME_PATTERN))]
    name: String,
    /// Environment variable holding the token, or `<it>_FILE` naming a file that holds it. The
    /// variable's name, never the token itself.
    #[serde(default)]
    #[schemars(regex(pattern = ENV_NAME_PATTERN))]
    token_env: Option<String>,
    /// Allow plain `http://` to a host that is not loopback. Default false.
    #[serde(default)]
    allow_http: bool,
    /// Time allowed for one request (one page, one month's export).
    #[serde(default, deserialize_with = "deserialize_optional_duration")]
    #[schemars(with = "Option<HumanDuration>")]
    request_timeout: Option<Duration>,
    /// Deadline of this source's whole fetch. Default: the job's `source_timeout`.
    #[serde(default, deserialize_with = "deserialize_optional_duration")]
    #[schemars(with = "Option<HumanDuration>")]
    timeout: Option<Duration>,
}

impl CommonSpec {
    /// A problem preparing this source, said in its name.
    pub(super) fn error(&self, message: String) -> ConfigError {
        ConfigError::Source {
            source_name: self.name.clone(),
            message,
        }
    }

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
/// Every problem of the item is recorded; the item is returned (with defaults in place of
/// refused keys) whenever its required keys could be read, so its checks still run.
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
                None
            }
            _ => own.insert(key, value),
        };
    }
    let spec: Option<K> = problems.read(serde_yaml::Value::Mapping(own), at);
    let fields: Option<CommonFields> = problems.read(serde_yaml::Value::Mapping(shared), at);
    let (spec, fields) = (spec?, fields?);
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

/// The JSON Schema of an item of kind `K`: the shared keys with `K`'s defaults, the kind's own
/// keys, `kind` fixed to `K::KIND`, and no other key (as [`read_item`] reads it).
pub(super) fn item_schema<K: SourceKind>(generator: &mut SchemaGenerator) -> Schema {
    let shared = CommonFields::json_schema(generator);
    let own = K::json_schema(generator);
    let mut properties = serde_json::Map::new();
    properties.insert(
        "kind".into(),
        serde_json::json!({
            "const": K::KIND,
            "description": "The kind of source; decides which other keys it takes.",
        }),
    );
    let mut required = vec![serde_json::Value::from("kind")];
    for part in [&shared, &own] {
        if let Some(keys) = part.get("properties").and_then(|p| p.as_object()) {
            properties.extend(keys.clone());
        }
        if let Some(keys) = part.get("required").and_then(|r| r.as_array()) {
            required.extend(keys.iter().cloned());
        }
    }
    // The shared keys' defaults depend on the kind.
    if let Some(token_env) = properties.get_mut("token_env") {
        token_env["default"] = K::DEFAULT_TOKEN_ENV.into();
    }
    if let Some(request_timeout) = properties.get_mut("request_timeout") {
        request_timeout["default"] = humantime::format_duration(K::DEFAULT_REQUEST_TIMEOUT)
            .to_string()
            .into();
    }
    let mut schema = schemars::json_schema!({
        "type": "object",
        "title": K::KIND,
        "properties": properties,
        "required": required,
        "additionalProperties": false,
    });
    if let Some(description) = own.get("description") {
        schema.insert("description".into(), description.clone());
    }
    schema
}
