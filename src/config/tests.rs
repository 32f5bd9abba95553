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
    assert!(problems.read::<Item>(value, &at).is_none());
    let found = problems.into_list();
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].key, "items[0].monts");
    assert_eq!(found[0].line, Some(3));
}
