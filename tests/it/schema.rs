//! The job spec's JSON Schema: `rollcall schema` prints what the repository ships to editors
//! (docs/job-spec.schema.json) and to `helm lint` (the chart's `config`), and the example spec
//! shows every key the schema knows.

use crate::support::{Workspace, rollcall};
use serde_json::Value;
use std::path::Path;

const SYNC: &str = "the spec types changed: run scripts/sync-schema.sh and commit the result";

fn repo_file(path: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

async fn printed_schema() -> (String, Value) {
    let ws = Workspace::new();
    let ran = rollcall(&["schema"], &[], ws.path()).await;
    assert_eq!(ran.code, 0, "{ran:#?}");
    let schema = serde_json::from_str(&ran.stdout).expect("`rollcall schema` prints JSON");
    (ran.stdout, schema)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_checked_in_schemas_are_what_rollcall_prints() {
    let (text, schema) = printed_schema().await;
    assert_eq!(text, repo_file("docs/job-spec.schema.json"), "{SYNC}");

    let values: Value = serde_json::from_str(&repo_file("helm/rollcall/values.schema.json"))
        .expect("the chart's values.schema.json is JSON");
    let mut embedded = schema.clone();
    embedded
        .as_object_mut()
        .expect("the schema is an object")
        .remove("$schema");
    assert_eq!(values["properties"]["config"], embedded, "{SYNC}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_schema_has_one_branch_per_kind_with_only_its_keys() {
    let (_, schema) = printed_schema().await;
    assert_eq!(schema["additionalProperties"], false);
    let kinds = schema["properties"]["sources"]["items"]["oneOf"]
        .as_array()
        .expect("sources are a oneOf by kind");
    let names: Vec<&str> = kinds
        .iter()
        .map(|k| k["properties"]["kind"]["const"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "vault_client_activity",
            "vision_one_inactive_accounts",
            "launchdarkly_audit_log"
        ]
    );
    for kind in kinds {
        assert_eq!(kind["additionalProperties"], false, "{kind:#}");
        let required = kind["required"].as_array().unwrap();
        assert!(required.contains(&"name".into()) && required.contains(&"kind".into()));
    }
    // Durations are strings with a unit; the shared keys carry their kind's defaults.
    let vault = &kinds[0]["properties"];
    assert_eq!(vault["request_timeout"]["default"], "15m");
    assert_eq!(vault["token_env"]["default"], "VAULT_TOKEN");
    assert!(vault["timeout"]["pattern"].is_string());
    assert_eq!(schema["properties"]["source_timeout"]["default"], "1h");
    // Doc comments are the descriptions.
    assert!(
        vault["roll_off_months"]["description"]
            .as_str()
            .unwrap()
            .contains("stops counting")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_example_spec_points_editors_at_the_schema() {
    let example = repo_file("config.example.yaml");
    let first = example.lines().next().unwrap_or_default();
    assert_eq!(
        first,
        "# yaml-language-server: $schema=docs/job-spec.schema.json"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_example_spec_shows_every_key_of_every_spec_type() {
    let (_, schema) = printed_schema().await;
    let example: Value = serde_yaml::from_str(&shown(&repo_file("config.example.yaml")))
        .expect("config.example.yaml is YAML");
    let mut missing = Vec::new();
    missing_keys(&schema, &example, "", &mut missing);
    assert!(
        missing.is_empty(),
        "config.example.yaml does not show {missing:?}; add each with a comment saying what it does"
    );
}

/// The example as a reader sees it: a key shown commented out (`# base_url: ...`, an
/// alternative to another key) counts as shown.
fn shown(text: &str) -> String {
    text.lines()
        .map(|line| {
            let indent = &line[..line.len() - line.trim_start().len()];
            let commented = line.trim_start().strip_prefix("# ").filter(|rest| {
                rest.split_once(':').is_some_and(|(key, value)| {
                    !key.is_empty()
                        && key.chars().all(|c| c.is_ascii_lowercase() || c == '_')
                        && (value.is_empty() || value.starts_with(' '))
                })
            });
            match commented {
                Some(rest) => format!("{indent}{rest}\n"),
                None => format!("{line}\n"),
            }
        })
        .collect()
}

/// The branches of a schema's `anyOf`/`oneOf`, unions within unions flattened.
fn alternatives(schema: &Value) -> Vec<&Value> {
    ["anyOf", "oneOf"]
        .iter()
        .filter_map(|key| schema[*key].as_array())
        .flatten()
        .flat_map(|branch| {
            let nested = alternatives(branch);
            if nested.is_empty() {
                vec![branch]
            } else {
                nested
            }
        })
        .collect()
}

/// Walks `schema` alongside `example`: every property of every object schema must appear, and
/// each kind of source must appear as an item whose `kind` is that kind.
fn missing_keys(schema: &Value, example: &Value, at: &str, missing: &mut Vec<String>) {
    if let Some(kinds) = schema["items"]["oneOf"].as_array() {
        for kind in kinds {
            let name = &kind["properties"]["kind"]["const"];
            let item = example
                .as_array()
                .and_then(|items| items.iter().find(|item| item["kind"] == *name));
            match item {
                Some(item) => missing_keys(kind, item, &format!("{at}[kind={name}]"), missing),
                None => missing.push(format!("{at}[kind={name}]")),
            }
        }
        return;
    }
    let Some(properties) = schema["properties"].as_object() else {
        // A union (`auth`'s methods, an optional block): the example shows every alternative's
        // keys, the one in use and the others commented out.
        for alternative in alternatives(schema) {
            if alternative["properties"].is_object() {
                missing_keys(alternative, example, at, missing);
            }
        }
        missing.sort();
        missing.dedup();
        return;
    };
    for (key, property) in properties {
        let path = if at.is_empty() {
            key.clone()
        } else {
            format!("{at}.{key}")
        };
        match example.get(key) {
            Some(value) => missing_keys(property, value, &path, missing),
            None => missing.push(path),
        }
    }
}
