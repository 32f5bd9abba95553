use super::*;

fn problems(text: &str) -> Vec<Problem> {
    parse(text).expect_err("spec should be refused")
}

fn one(text: &str) -> Problem {
    let p = problems(text);
    assert_eq!(p.len(), 1, "{p:#?}");
    p.into_iter().next().unwrap()
}

const VALID: &str = "\
job: nightly
output:
  url: ./reports
sources:
  - name: vault-prod
    kind: vault_client_activity
    address: https://vault.example.com:8200
    months: 12
";

#[test]
fn a_valid_spec_parses_with_defaults() {
    let spec = parse(VALID).unwrap();
    assert_eq!(spec.job, "nightly");
    assert_eq!(spec.sources.len(), 1);
    assert_eq!(spec.sources[0].name(), "vault-prod");
    assert!(spec.reports.formula_escape);
    assert_eq!(
        spec.output.key_template,
        "{job}/{date}/{run_id}/{report}.csv"
    );
}

#[test]
fn unknown_top_level_key_names_its_line() {
    let p = one("job: x\nsourcs: []\nsources: [{name: v, kind: vault_client_activity}]\n");
    assert_eq!(p.line, Some(2), "{p:?}");
    assert!(p.message.contains("unknown field `sourcs`"), "{p:?}");
}

#[test]
fn every_problem_is_reported_at_once_across_phases() {
    // An unknown key, a value of the wrong type, a range error in another section and a bad
    // source: none hides another.
    let text = "job: nightly\nschedule: daily\nhttp:\n  max_retries: 50\n  connect_timeout: 10\nsources:\n  - name: v\n    kind: vault_client_activity\n    months: 0\n    monts: 3\n    address: vault.acme.internal:8200\n";
    let found: Vec<(String, Option<usize>)> = problems(text)
        .into_iter()
        .map(|p| (p.key, p.line))
        .collect();
    for want in [
        ("schedule", Some(2)),
        ("http.max_retries", Some(4)),
        ("http.connect_timeout", Some(5)),
        ("sources[0].months", Some(9)),
        ("sources[0].monts", Some(10)),
        ("sources[0].address", Some(11)),
    ] {
        assert!(
            found.contains(&(want.0.to_owned(), want.1)),
            "{want:?} not in {found:#?}"
        );
    }
    assert_eq!(found.len(), 6, "{found:#?}");
}

#[test]
fn unknown_source_key_names_its_own_line() {
    let text = VALID.replace("    months: 12\n", "    months: 12\n    monts: 3\n");
    let p = one(&text);
    assert_eq!(p.key, "sources[0].monts");
    assert_eq!(p.line, Some(9));
    assert_eq!(p.column, Some(5));
}

#[test]
fn wrong_type_in_a_source_names_key_and_line() {
    let text = VALID.replace("months: 12", "months: twelve");
    let p = one(&text);
    assert_eq!(p.key, "sources[0].months");
    assert_eq!(p.line, Some(8));
    assert_eq!(
        p.message,
        "must be a whole number, 0 or more, not the text \"twelve\""
    );
}

#[test]
fn out_of_range_values_and_bad_urls_are_reported_together() {
    let text = VALID
        .replace("months: 12", "months: 0\n    roll_off_months: 500")
        .replace(
            "https://vault.example.com:8200",
            "http://vault.example.com:8200",
        );
    let p = problems(&text);
    let keys: Vec<&str> = p.iter().map(|p| p.key.as_str()).collect();
    assert!(keys.contains(&"sources[0].months"), "{p:#?}");
    assert!(keys.contains(&"sources[0].roll_off_months"), "{p:#?}");
    assert!(keys.contains(&"sources[0].address"), "{p:#?}");
    assert!(p.iter().all(|p| p.line.is_some()), "{p:#?}");
}

#[test]
fn duplicate_names_unknown_kinds_and_bad_names() {
    let text = format!(
        "{VALID}  - name: vault-prod\n    kind: vault_client_activity\n  - name: x\n    kind: jira\n  - name: 'bad name'\n    kind: vault_client_activity\n"
    );
    let p = problems(&text);
    let find = |k: &str| {
        p.iter()
            .find(|p| p.key == k)
            .unwrap_or_else(|| panic!("{k}: {p:#?}"))
    };
    assert_eq!(find("sources[1].name").line, Some(9));
    assert!(
        find("sources[2].kind")
            .message
            .contains("unknown source kind `jira`")
    );
    assert!(find("sources[3].name").message.contains("not a valid name"));
}

#[test]
fn key_templates_are_checked() {
    for (template, needle) in [
        ("{job}/{run}/{report}.csv", "unknown placeholder `{run}`"),
        ("{job}/{date}.csv", "must contain `{report}`"),
        ("{job}/{report.csv", "unclosed"),
        ("/abs/{report}.csv", "relative"),
        ("../{report}.csv", "relative"),
    ] {
        let text = VALID.replace(
            "  url: ./reports\n",
            &format!("  url: ./reports\n  key_template: \"{template}\"\n"),
        );
        let p = one(&text);
        assert_eq!(p.key, "output.key_template");
        assert_eq!(p.line, Some(4));
        assert!(p.message.contains(needle), "{template}: {p:?}");
    }
}

#[test]
fn durations_are_human() {
    let text = VALID.replace(
        "    months: 12\n",
        "    months: 12\n    timeout: 90 minutes\n",
    );
    let spec = parse(&text).unwrap();
    assert_eq!(
        spec.deadline_of(&spec.sources[0]),
        Duration::from_secs(90 * 60)
    );
    let text = VALID.replace("    months: 12\n", "    months: 12\n    timeout: soon\n");
    let p = one(&text);
    assert_eq!(p.key, "sources[0].timeout");
    assert!(p.message.contains("30d"), "{p:?}");
}

#[test]
fn empty_sources_and_missing_job_are_refused() {
    let p = one("job: x\nsources: []\n");
    assert_eq!(p.key, "sources");
    assert_eq!(p.line, Some(2));
    let p = problems("sources: []\n");
    assert!(p[0].message.contains("missing field `job`"), "{p:?}");
    assert_eq!(
        p[1].key, "sources",
        "a missing job hides nothing else: {p:?}"
    );
}
