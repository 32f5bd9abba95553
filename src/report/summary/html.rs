//! `summary.html`: one self-contained page (inline CSS and SVG, no script, nothing fetched), so
//! it reads the same from a bucket, a download or an e-mail attachment.

use super::charts::Chart;
use super::sections::{Section, Table, section};
use super::{RunView, SourceView, SummaryError};
use askama::Template;

#[derive(Template)]
#[template(path = "summary.html")]
struct Page<'a> {
    run: &'a RunView,
    sources: Vec<SourcePage<'a>>,
    version: &'static str,
}

struct SourcePage<'a> {
    view: &'a SourceView,
    anchor: String,
    headline: String,
    rows: String,
    duration: String,
    thresholds: Vec<(String, String)>,
    section: Section,
    figures: Vec<DrawnFigure>,
}

struct DrawnFigure {
    chart: Chart,
    table: Table,
}

pub fn render(run: &RunView) -> Result<String, SummaryError> {
    let mut sources = Vec::with_capacity(run.sources.len());
    for (index, view) in run.sources.iter().enumerate() {
        let section = section(view, index);
        let figures = section
            .figures
            .iter()
            .map(|figure| {
                Ok(DrawnFigure {
                    chart: figure.chart.draw()?,
                    table: figure.table.clone(),
                })
            })
            .collect::<Result<Vec<_>, SummaryError>>()?;
        sources.push(SourcePage {
            view,
            // Names are letters, digits, `.`, `_` and `-`; the index keeps anchors unique anyway.
            anchor: format!("source-{index}"),
            headline: view.headline(),
            rows: super::group_digits(view.rows),
            duration: format!("{:.1} s", view.duration_seconds()),
            thresholds: super::threshold_lines(&view.thresholds),
            section,
            figures,
        });
    }
    let page = Page {
        run,
        sources,
        version: env!("CARGO_PKG_VERSION"),
    };
    Ok(page.render()?)
}
