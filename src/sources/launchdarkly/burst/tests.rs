use super::Burst;
use super::split::{KINDS, Part, Project, Statement, first_parts, refine, whole};

fn projects() -> Vec<Project> {
    vec![
        Project {
            key: "web".into(),
            environments: vec!["production".into(), "staging".into()],
        },
        Project {
            key: "api".into(),
            environments: vec!["production".into()],
        },
    ]
}

#[test]
fn the_first_split_covers_every_kind_and_a_catch_all_of_the_rest() {
    let parts = first_parts(None);
    assert_eq!(parts.len(), KINDS.len() + 1);
    let rest = parts.last().unwrap().statements();
    assert_eq!(rest.len(), 1);
    assert!(rest[0].resources.is_empty());
    assert_eq!(rest[0].not_resources.len(), KINDS.len());
    let json = serde_json::to_value(&rest).unwrap();
    assert!(json[0].get("notResources").is_some() && json[0].get("resources").is_none());
    assert_eq!(whole(None).len(), 2);
    assert_eq!(
        whole(Some("proj/web:env/*:flag/*")),
        vec![Statement::allow(vec!["proj/web:env/*:flag/*".into()])]
    );
}

#[test]
fn a_full_part_splits_by_project_then_environment_with_a_remainder() {
    let flags = Part {
        resource: Some("proj/*:env/*:flag/*".into()),
        deny: Vec::new(),
        refinable: true,
    };
    let by_project = refine(&flags, &projects()).unwrap();
    let resources: Vec<String> = by_project
        .iter()
        .map(|p| p.resource.clone().unwrap())
        .collect();
    assert_eq!(
        resources,
        [
            "proj/web:env/*:flag/*",
            "proj/api:env/*:flag/*",
            "proj/*:env/*:flag/*"
        ]
    );
    let rest = by_project.last().unwrap();
    assert!(!rest.refinable);
    assert_eq!(
        rest.deny,
        ["proj/web:env/*:flag/*", "proj/api:env/*:flag/*"]
    );
    assert_eq!(rest.statements()[1].effect, "deny");
    assert!(refine(rest, &projects()).is_none());

    let web = refine(&by_project[0], &projects()).unwrap();
    let resources: Vec<String> = web.iter().map(|p| p.resource.clone().unwrap()).collect();
    assert_eq!(
        resources,
        [
            "proj/web:env/production:flag/*",
            "proj/web:env/staging:flag/*",
            "proj/web:env/*:flag/*"
        ]
    );
    // No level left to split on.
    assert!(refine(&web[0], &projects()).is_none());
    // A project-level kind has no environment level.
    let metrics = Part {
        resource: Some("proj/api:metric/*".into()),
        deny: Vec::new(),
        refinable: true,
    };
    assert!(refine(&metrics, &projects()).is_none());
}

#[test]
fn completeness_follows_the_count_or_else_the_parts() {
    let mut b = Burst {
        ms: 5,
        fetched: 31,
        counted: Some(31),
        uncounted: None,
        unsplit: vec!["member/*".into()],
        requests: 9,
    };
    assert!(b.complete());
    assert_eq!(b.missing(), Some(0));
    b.counted = Some(40);
    assert!(!b.complete());
    assert_eq!(b.missing(), Some(9));
    b.counted = None;
    assert!(!b.complete());
    assert_eq!(b.missing(), None);
    b.unsplit.clear();
    assert!(b.complete());
}
