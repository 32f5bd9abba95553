//! What each source's section shows, decided once for both renderers: facts (label and value),
//! figures (a chart and the table of its numbers) and plain tables. The HTML page draws the
//! charts and the tables; the Markdown file shows the facts and tables only.

use super::charts::{BarChart, Orientation, Reference, Series};
use super::{
    Completeness, Count, KindDetails, LaunchDarklyDetails, RANKED_ROWS, SourceView, VaultDetails,
    VisionOneDetails, group_digits, top_counts,
};

/// Kinds drawn in their own pattern in the per-day chart; the rest are folded together.
const CHARTED_KINDS: usize = 5;

#[derive(Debug, Clone, Default)]
pub struct Section {
    pub facts: Vec<Fact>,
    pub figures: Vec<Figure>,
    pub tables: Vec<Table>,
}

#[derive(Debug, Clone)]
pub struct Fact {
    pub label: String,
    pub value: String,
}

/// A chart and the same numbers as a table, for readers without colour, sight or a browser.
#[derive(Debug, Clone)]
pub struct Figure {
    pub chart: BarChart,
    pub table: Table,
}

#[derive(Debug, Clone)]
pub struct Table {
    pub title: String,
    pub headers: Vec<String>,
    pub rows: Vec<Vec<String>>,
    /// A sentence under the table, e.g. how many rows were left out.
    pub note: Option<String>,
}

fn fact(label: &str, value: impl Into<String>) -> Fact {
    Fact {
        label: label.to_owned(),
        value: value.into(),
    }
}

fn strings<const N: usize>(cells: [&str; N]) -> Vec<String> {
    cells.iter().map(|c| (*c).to_owned()).collect()
}

/// The section of the source at `index` (the index keeps chart ids unique on the page).
pub fn section(source: &SourceView, index: usize) -> Section {
    let id = |n: usize| format!("chart-{index}-{n}");
    let mut section = match &source.facts.details {
        Some(KindDetails::Vault(v)) => vault(v, id),
        Some(KindDetails::VisionOne(v)) => vision_one(v, id),
        Some(KindDetails::LaunchDarkly(v)) => launchdarkly(v, id),
        None => Section::default(),
    };
    if let Some(requests) = source.facts.requests {
        section
            .facts
            .push(fact("HTTP requests", group_digits(requests)));
    }
    if let Some(limited) = source.facts.rate_limited {
        section.facts.push(fact(
            "Rate-limited answers (HTTP 429)",
            group_digits(limited),
        ));
    }
    section
}

fn counts_figure(id: String, title: &str, what: &str, counts: &[Count]) -> Figure {
    Figure {
        chart: BarChart {
            id,
            title: title.to_owned(),
            orientation: Orientation::Rows,
            categories: counts.iter().map(|c| c.label.clone()).collect(),
            series: vec![Series {
                name: what.to_owned(),
                values: counts.iter().map(|c| c.count).collect(),
            }],
            reference: None,
            marked: Vec::new(),
            mark_word: String::new(),
        },
        table: Table {
            title: title.to_owned(),
            headers: strings([what, "count"]),
            rows: counts
                .iter()
                .map(|c| vec![c.label.clone(), group_digits(c.count)])
                .collect(),
            note: None,
        },
    }
}

fn vault(v: &VaultDetails, id: impl Fn(usize) -> String) -> Section {
    let mut facts = vec![
        fact(
            "Clients seen in the exported months",
            group_digits(v.clients),
        ),
        fact("Clients counted now", group_digits(v.counted_now())),
    ];
    let over = v.months_over_licence();
    let licence_reference = v.licensed_clients.map(|l| Reference {
        value: l,
        label: format!("licence {}", group_digits(l)),
    });
    match v.licensed_clients {
        Some(_) => {
            // The licence itself is among the thresholds above.
            facts.push(fact(
                "Months over the licence",
                if over.is_empty() {
                    "none".to_owned()
                } else {
                    over.iter()
                        .map(|m| m.month.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                },
            ));
        }
        None => facts.push(fact(
            "Licensed clients",
            "not set (`licensed_clients`), so no month is compared with a licence",
        )),
    }

    let mut figures = Vec::new();
    if !v.trailing_window.is_empty() {
        let title = "Clients counted per month (trailing window)";
        figures.push(Figure {
            chart: BarChart {
                id: id(0),
                title: title.to_owned(),
                orientation: Orientation::Columns,
                categories: v.trailing_window.iter().map(|m| m.month.clone()).collect(),
                series: vec![Series {
                    name: "clients counted".into(),
                    values: v.trailing_window.iter().map(|m| m.counted).collect(),
                }],
                reference: licence_reference.clone(),
                marked: v
                    .trailing_window
                    .iter()
                    .map(|m| v.licensed_clients.is_some_and(|l| m.counted > l))
                    .collect(),
                mark_word: "over".into(),
            },
            table: Table {
                title: title.to_owned(),
                headers: strings([
                    "month",
                    "clients counted",
                    "rolling off",
                    "over the licence",
                ]),
                rows: v
                    .trailing_window
                    .iter()
                    .map(|m| {
                        vec![
                            m.month.clone(),
                            group_digits(m.counted),
                            group_digits(m.rolling_off),
                            match v.licensed_clients {
                                Some(l) if m.counted > l => {
                                    format!("yes, by {}", group_digits(m.counted - l))
                                }
                                Some(_) => "no".into(),
                                None => "no licence set".into(),
                            },
                        ]
                    })
                    .collect(),
                note: None,
            },
        });
    }
    if let Some(period) = &v.billing_period {
        let title = "Clients counted by billing period";
        let current = format!("period from {}", period.period_start.format("%Y-%m-%d"));
        let next = format!("from {}", period.next_period_start.format("%Y-%m-%d"));
        let next_count = period
            .counted_in_period
            .saturating_sub(period.rolling_off_at_next_start);
        let counts = [period.counted_in_period, next_count];
        figures.push(Figure {
            chart: BarChart {
                id: id(1),
                title: title.to_owned(),
                orientation: Orientation::Columns,
                categories: vec![current.clone(), next.clone()],
                series: vec![Series {
                    name: "clients counted".into(),
                    values: counts.to_vec(),
                }],
                reference: licence_reference,
                marked: counts
                    .iter()
                    .map(|c| v.licensed_clients.is_some_and(|l| *c > l))
                    .collect(),
                mark_word: "over".into(),
            },
            table: Table {
                title: title.to_owned(),
                headers: strings([
                    "billing period",
                    "clients counted",
                    "rolling off at its end",
                ]),
                rows: vec![
                    vec![
                        current,
                        group_digits(period.counted_in_period),
                        group_digits(period.rolling_off_at_next_start),
                    ],
                    vec![
                        format!("{next} (at its start)"),
                        group_digits(next_count),
                        String::new(),
                    ],
                ],
                note: None,
            },
        });
    }
    if !v.by_type.is_empty() {
        figures.push(counts_figure(
            id(2),
            "Clients by type",
            "client type",
            &v.by_type,
        ));
    }
    if !v.by_namespace.is_empty() {
        let ranked = top_counts(v.by_namespace.clone(), RANKED_ROWS);
        figures.push(counts_figure(
            id(3),
            "Clients by namespace",
            "namespace",
            &ranked,
        ));
    }
    Section {
        facts,
        figures,
        tables: Vec::new(),
    }
}

fn vision_one(v: &VisionOneDetails, id: impl Fn(usize) -> String) -> Section {
    let facts = vec![
        fact("Accounts", group_digits(v.accounts)),
        fact("Accounts to remove", group_digits(v.to_remove_total)),
    ];
    let mut figures = Vec::new();
    if !v.by_reason.is_empty() {
        let title = "Decisions by reason";
        figures.push(Figure {
            chart: BarChart {
                id: id(0),
                title: title.to_owned(),
                orientation: Orientation::Rows,
                categories: v
                    .by_reason
                    .iter()
                    .map(|d| format!("{}: {}", d.decision, d.reason))
                    .collect(),
                series: vec![Series {
                    name: "accounts".into(),
                    values: v.by_reason.iter().map(|d| d.count).collect(),
                }],
                reference: None,
                marked: Vec::new(),
                mark_word: String::new(),
            },
            table: Table {
                title: title.to_owned(),
                headers: strings(["decision", "reason", "accounts"]),
                rows: v
                    .by_reason
                    .iter()
                    .map(|d| vec![d.decision.clone(), d.reason.clone(), group_digits(d.count)])
                    .collect(),
                note: None,
            },
        });
    }
    if !v.by_role.is_empty() {
        let title = "Decisions by role";
        let column = |f: fn(&super::RoleDecisions) -> u64| v.by_role.iter().map(f).collect();
        figures.push(Figure {
            chart: BarChart {
                id: id(1),
                title: title.to_owned(),
                orientation: Orientation::Rows,
                categories: v.by_role.iter().map(|r| r.role.clone()).collect(),
                series: vec![
                    Series {
                        name: "keep".into(),
                        values: column(|r| r.keep),
                    },
                    Series {
                        name: "remove".into(),
                        values: column(|r| r.remove),
                    },
                    Series {
                        name: "skip".into(),
                        values: column(|r| r.skip),
                    },
                ],
                reference: None,
                marked: Vec::new(),
                mark_word: String::new(),
            },
            table: Table {
                title: title.to_owned(),
                headers: strings(["role", "keep", "remove", "skip"]),
                rows: v
                    .by_role
                    .iter()
                    .map(|r| {
                        vec![
                            r.role.clone(),
                            group_digits(r.keep),
                            group_digits(r.remove),
                            group_digits(r.skip),
                        ]
                    })
                    .collect(),
                note: None,
            },
        });
    }
    let kept: Vec<Vec<String>> = v
        .by_reason
        .iter()
        .filter(|d| d.decision != "remove")
        .map(|d| vec![d.decision.clone(), d.reason.clone(), group_digits(d.count)])
        .collect();
    let left_out = v.to_remove_total.saturating_sub(v.to_remove.len() as u64);
    let tables = vec![
        Table {
            title: "Accounts to remove".into(),
            headers: strings(["email", "role", "last logon", "reason"]),
            rows: v
                .to_remove
                .iter()
                .map(|a| {
                    vec![
                        a.email.clone(),
                        a.role.clone(),
                        a.last_logon
                            .clone()
                            .unwrap_or_else(|| "none in the window".into()),
                        a.reason.clone(),
                    ]
                })
                .collect(),
            note: (left_out > 0)
                .then(|| format!("{} more are in the cleanup report.", group_digits(left_out))),
        },
        Table {
            title: "Kept, and why".into(),
            headers: strings(["decision", "reason", "accounts"]),
            rows: kept,
            note: None,
        },
    ];
    Section {
        facts,
        figures,
        tables,
    }
}

fn launchdarkly(v: &LaunchDarklyDetails, id: impl Fn(usize) -> String) -> Section {
    let facts = vec![
        fact("Entries", group_digits(v.entries)),
        fact(
            "Completeness",
            match &v.completeness {
                Completeness::Complete => {
                    "complete: every entry of the window was fetched".to_owned()
                }
                Completeness::Missing { entries } => format!(
                    "incomplete: {} entries counted by LaunchDarkly could not be fetched",
                    group_digits(*entries)
                ),
                Completeness::Unknown { reason } => format!("possibly incomplete: {reason}"),
            },
        ),
    ];
    let mut figures = Vec::new();
    if !v.per_day.is_empty() {
        // The busiest kinds over the whole window get their own pattern; the rest share one.
        let mut totals: std::collections::BTreeMap<&str, u64> = Default::default();
        for day in &v.per_day {
            for kind in &day.by_kind {
                *totals.entry(kind.label.as_str()).or_default() += kind.count;
            }
        }
        let all: Vec<Count> = totals
            .iter()
            .map(|(label, count)| Count {
                label: (*label).to_owned(),
                count: *count,
            })
            .collect();
        let mut charted = top_counts(all.clone(), CHARTED_KINDS);
        let others = charted.len() > CHARTED_KINDS;
        charted.truncate(CHARTED_KINDS);
        let count_of = |day: &super::DayKinds, kind: &str| -> u64 {
            day.by_kind
                .iter()
                .filter(|k| k.label == kind)
                .map(|k| k.count)
                .sum()
        };
        let mut series: Vec<Series> = charted
            .iter()
            .map(|kind| Series {
                name: kind.label.clone(),
                values: v.per_day.iter().map(|d| count_of(d, &kind.label)).collect(),
            })
            .collect();
        if others {
            series.push(Series {
                name: "other kinds".into(),
                values: v
                    .per_day
                    .iter()
                    .map(|d| d.total() - charted.iter().map(|k| count_of(d, &k.label)).sum::<u64>())
                    .collect(),
            });
        }
        let title = "Entries per day by kind";
        let mut headers = vec!["day".to_owned(), "entries".to_owned()];
        headers.extend(series.iter().map(|s| s.name.clone()));
        let rows = v
            .per_day
            .iter()
            .enumerate()
            .map(|(i, d)| {
                let mut row = vec![d.day.clone(), group_digits(d.total())];
                row.extend(series.iter().map(|s| group_digits(s.values[i])));
                row
            })
            .collect();
        figures.push(Figure {
            chart: BarChart {
                id: id(0),
                title: title.to_owned(),
                orientation: Orientation::Columns,
                // `MM-DD`: the table and the window carry the year.
                categories: v
                    .per_day
                    .iter()
                    .map(|d| d.day.get(5..).unwrap_or(&d.day).to_owned())
                    .collect(),
                series,
                reference: None,
                marked: Vec::new(),
                mark_word: String::new(),
            },
            table: Table {
                title: title.to_owned(),
                headers,
                rows,
                note: None,
            },
        });
    }
    if !v.top_members.is_empty() {
        figures.push(counts_figure(
            id(1),
            "Most active members",
            "member",
            &v.top_members,
        ));
    }
    if !v.top_tokens.is_empty() {
        figures.push(counts_figure(
            id(2),
            "Most active access tokens",
            "token",
            &v.top_tokens,
        ));
    }
    Section {
        facts,
        figures,
        tables: Vec::new(),
    }
}
