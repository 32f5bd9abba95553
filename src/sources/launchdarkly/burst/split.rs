//! How a full millisecond is cut into parts: the statement lists of the first split (one per
//! resource kind plus a catch-all), and the finer splits by project and environment, each
//! with its own catch-all so nothing falls between the parts.

use serde::Serialize;

/// Resource kinds of the first split, in LaunchDarkly's resource specifier syntax. Anything
/// not listed (a kind added later, say) falls to the catch-all part.
pub const KINDS: &[&str] = &[
    "acct",
    "application/*",
    "code-reference-repository/*",
    "domain-verification/*",
    "integration/*",
    "member/*",
    "member/*:token/*",
    "pending-request/*",
    "proj/*",
    "proj/*:ai-config/*",
    "proj/*:context-kind/*",
    "proj/*:env/*",
    "proj/*:env/*:destination/*",
    "proj/*:env/*:experiment/*",
    "proj/*:env/*:flag/*",
    "proj/*:env/*:segment/*",
    "proj/*:layer/*",
    "proj/*:metric/*",
    "proj/*:metric-group/*",
    "proj/*:release-pipeline/*",
    "relay-proxy-config/*",
    "role/*",
    "service-token/*",
    "team/*",
    "template/*",
    "webhook/*",
];

/// One element of a `StatementPostList`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Statement {
    pub effect: &'static str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<String>,
    #[serde(rename = "notResources", skip_serializing_if = "Vec::is_empty")]
    pub not_resources: Vec<String>,
    pub actions: Vec<&'static str>,
}

impl Statement {
    pub(super) fn allow(resources: Vec<String>) -> Self {
        Self {
            effect: "allow",
            resources,
            not_resources: Vec::new(),
            actions: vec!["*"],
        }
    }

    pub(super) fn allow_all_but(not_resources: Vec<String>) -> Self {
        Self {
            effect: "allow",
            resources: Vec::new(),
            not_resources,
            actions: vec!["*"],
        }
    }

    pub(super) fn deny(resources: Vec<String>) -> Self {
        Self {
            effect: "deny",
            resources,
            not_resources: Vec::new(),
            actions: vec!["*"],
        }
    }
}

/// One part of a millisecond: what its statement list allows, minus what it denies.
#[derive(Debug, Clone)]
pub(super) struct Part {
    /// The resource specifier it allows; `None` for the catch-all of the first split.
    pub resource: Option<String>,
    /// Specifiers taken out (the siblings of a catch-all).
    pub deny: Vec<String>,
    /// A catch-all is not split again: its specifier is its parent's.
    pub refinable: bool,
}

impl Part {
    pub fn statements(&self) -> Vec<Statement> {
        let mut list = vec![match &self.resource {
            Some(r) => Statement::allow(vec![r.clone()]),
            None => Statement::allow_all_but(KINDS.iter().map(|k| (*k).to_owned()).collect()),
        }];
        if !self.deny.is_empty() {
            list.push(Statement::deny(self.deny.clone()));
        }
        list
    }

    pub fn label(&self) -> String {
        let base = self
            .resource
            .clone()
            .unwrap_or_else(|| "every other resource".to_owned());
        if self.deny.is_empty() {
            base
        } else {
            format!("{base} (the rest)")
        }
    }
}

/// The first split: the user's specifier alone, or one part per kind plus the catch-all.
pub(super) fn first_parts(spec: Option<&str>) -> Vec<Part> {
    match spec {
        Some(spec) => vec![Part {
            resource: Some(spec.to_owned()),
            deny: Vec::new(),
            refinable: true,
        }],
        None => KINDS
            .iter()
            .map(|k| Part {
                resource: Some((*k).to_owned()),
                deny: Vec::new(),
                refinable: true,
            })
            .chain(std::iter::once(Part {
                resource: None,
                deny: Vec::new(),
                refinable: false,
            }))
            .collect(),
    }
}

/// The statement list that covers every part of the first split, for the count.
pub(super) fn whole(spec: Option<&str>) -> Vec<Statement> {
    match spec {
        Some(spec) => vec![Statement::allow(vec![spec.to_owned()])],
        None => vec![
            Statement::allow(KINDS.iter().map(|k| (*k).to_owned()).collect()),
            Statement::allow_all_but(KINDS.iter().map(|k| (*k).to_owned()).collect()),
        ],
    }
}

/// A project and its environment keys, all the split needs of the catalogue.
#[derive(Debug, Clone)]
pub struct Project {
    pub key: String,
    pub environments: Vec<String>,
}

/// The next split of a full part: its first `proj/*` replaced by each project key, else its
/// first `env/*` (under a known project) by each environment key, plus a catch-all holding
/// the rest (projects deleted since, say). `None` when there is nothing left to split on.
pub(super) fn refine(part: &Part, projects: &[Project]) -> Option<Vec<Part>> {
    if !part.refinable {
        return None;
    }
    let resource = part.resource.as_deref()?;
    let segments: Vec<&str> = resource.split(':').collect();
    let (index, keys): (usize, Vec<String>) =
        if let Some(i) = segments.iter().position(|s| *s == "proj/*") {
            (i, projects.iter().map(|p| p.key.clone()).collect())
        } else {
            let project = segments.iter().find_map(|s| s.strip_prefix("proj/"))?;
            let i = segments.iter().position(|s| *s == "env/*")?;
            let envs = &projects.iter().find(|p| p.key == project)?.environments;
            (i, envs.clone())
        };
    if keys.is_empty() {
        return None;
    }
    let kind = segments[index].trim_end_matches("/*");
    let children: Vec<String> = keys
        .iter()
        .map(|key| {
            let mut s = segments.clone();
            let replaced = format!("{kind}/{key}");
            s[index] = &replaced;
            s.join(":")
        })
        .collect();
    let mut parts: Vec<Part> = children
        .iter()
        .map(|child| Part {
            resource: Some(child.clone()),
            deny: part.deny.clone(),
            refinable: true,
        })
        .collect();
    let mut rest_deny = part.deny.clone();
    rest_deny.extend(children);
    parts.push(Part {
        resource: part.resource.clone(),
        deny: rest_deny,
        refinable: false,
    });
    Some(parts)
}
