//! `summary.md`: the summary's facts and tables as GitHub-flavoured Markdown, for a ticket, a
//! chat message or a terminal.
//!
//! Every value is escaped by [`Markdown`] (askama applies it to `.md` templates, see
//! askama.toml): API text such as a namespace `a|b` or an email `*x*@y` stays text and cannot
//! break a table, start a link or inject HTML.

use super::sections::{Section, Table, section};
use super::{RunView, SourceView, SummaryError};
use askama::Template;
use std::fmt::{self, Write};

#[derive(Template)]
#[template(path = "summary.md")]
struct Page<'a> {
    run: &'a RunView,
    sources: Vec<SourcePage<'a>>,
}

struct SourcePage<'a> {
    view: &'a SourceView,
    headline: String,
    rows: String,
    duration: String,
    thresholds: Vec<(String, String)>,
    section: Section,
    /// The figures' tables, then the section's own tables.
    tables: Vec<Table>,
}

pub fn render(run: &RunView) -> Result<String, SummaryError> {
    let sources = run
        .sources
        .iter()
        .enumerate()
        .map(|(index, view)| {
            let section = section(view, index);
            let tables = section
                .figures
                .iter()
                .map(|f| f.table.clone())
                .chain(section.tables.iter().cloned())
                .collect();
            SourcePage {
                view,
                headline: view.headline(),
                rows: super::group_digits(view.rows),
                duration: format!("{:.1} s", view.duration_seconds()),
                thresholds: super::threshold_lines(&view.thresholds),
                section,
                tables,
            }
        })
        .collect();
    Ok(Page { run, sources }.render()?)
}

/// Escapes text for Markdown: a backslash before every character Markdown or GFM tables give a
/// meaning to, `<` and `&` as entities (no raw HTML), and line breaks as spaces (a table row is
/// one line).
#[derive(Debug, Clone, Copy, Default)]
pub struct Markdown;

impl askama::filters::Escaper for Markdown {
    fn write_escaped_str<W: Write>(&self, mut dest: W, text: &str) -> fmt::Result {
        for c in text.chars() {
            match c {
                '\\' | '`' | '*' | '_' | '[' | ']' | '(' | ')' | '#' | '|' | '~' | '!' | '>'
                | '{' | '}' => {
                    dest.write_char('\\')?;
                    dest.write_char(c)?;
                }
                '<' => dest.write_str("&lt;")?,
                '&' => dest.write_str("&amp;")?,
                '\r' | '\n' => dest.write_char(' ')?,
                c => dest.write_char(c)?,
            }
        }
        Ok(())
    }
}
