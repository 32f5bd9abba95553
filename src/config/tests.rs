use super::*;

#[test]
fn problems_render_file_line_column_and_key() {
    let err = ConfigError::Invalid {
        path: "job.yaml".into(),
        problems: vec![Problem {
            line: Some(9),
            column: Some(5),
            key: "sources[0].monts".into(),
            message: "unknown field".into(),
        }],
    };
    assert_eq!(
        err.to_string(),
        "job.yaml:9:5: `sources[0].monts`: unknown field"
    );
}

#[test]
fn a_value_read_at_a_key_names_the_nested_key_and_its_line() {
    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Item {
        months: u32,
    }
    let text = "items:\n  - months: 3\n    monts: 4\n";
    let mut problems = Problems::new(text);
    let value: serde_yaml::Value = serde_yaml::from_str("months: 3\nmonts: 4\n").unwrap();
    let at = KeyPath::root().key("items").index(0);
    let item = problems.read::<Item>(value, &at);
    // The unknown key is refused; the rest is still read, so later checks can run on it.
    assert_eq!(item.map(|i| i.months), Some(3));
    let found = problems.into_list();
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].key, "items[0].monts");
    assert_eq!(found[0].line, Some(3));
}

#[test]
fn every_refused_key_of_a_mapping_is_reported_at_once() {
    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        #[serde(default)]
        per: u32,
    }
    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Item {
        months: u32,
        #[serde(default)]
        retries: u32,
        #[serde(default)]
        limit: Option<Inner>,
    }
    let text = "months: six
retries: -1
limit:
  per: x
  pre: 3
extra: 1
";
    let mut problems = Problems::new(text);
    let value: serde_yaml::Value = serde_yaml::from_str(text).unwrap();
    // `months` is required and refused: nothing to return, but every problem is named.
    assert!(problems.read::<Item>(value, &KeyPath::root()).is_none());
    let found: Vec<(String, Option<usize>, String)> = problems
        .into_list()
        .into_iter()
        .map(|p| (p.key, p.line, p.message))
        .collect();
    let mut keys: Vec<&str> = found.iter().map(|f| f.0.as_str()).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        ["extra", "limit.per", "limit.pre", "months", "retries"],
        "{found:#?}"
    );
    let months = found.iter().find(|f| f.0 == "months").unwrap();
    assert_eq!(
        months.2,
        "must be a whole number, 0 or more, not the text \"six\""
    );
    assert_eq!(
        found.iter().find(|f| f.0 == "limit.pre").unwrap().1,
        Some(5)
    );
}
