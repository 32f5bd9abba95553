//! CSV reports: one writer for every report of every source, streaming to the output as rows
//! arrive, with spreadsheet-formula neutralisation of free text, row and byte counts and a
//! SHA-256.
//!
//! Every report is UTF-8, RFC 4180 (CRLF line ends, quotes only where needed) and starts with a
//! header row. Each column has a kind; only free text is ever neutralised, because identifiers,
//! emails, times, numbers and enum values are compared with the API's own data and must stay
//! exactly as it sent them (a Vault client id may start with `+`, an email with `-`). Column
//! contracts are documented in `docs/reports.md`.

pub mod manifest;
pub mod summary;

use crate::output::{ObjectWriter, OutputError, Visible};
use serde::Serialize;
use sha2::{Digest, Sha256};

/// `reports:` in the job spec: options shared by every CSV report.
#[derive(Debug, serde::Deserialize, schemars::JsonSchema, Clone)]
#[serde(deny_unknown_fields)]
pub struct ReportOptions {
    /// Prefix cells starting with `=`, `+`, `-`, `@`, tab or CR with `'` so spreadsheets never
    /// run them as formulas. On by default.
    #[serde(default = "yes")]
    pub formula_escape: bool,
}

impl Default for ReportOptions {
    fn default() -> Self {
        Self {
            formula_escape: true,
        }
    }
}

fn yes() -> bool {
    true
}

/// Encoded rows are handed to the output in chunks of about this size.
const FLUSH_BYTES: usize = 256 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("report {report}: cannot encode a row: {message}")]
    Encode { report: String, message: String },
    #[error("report {report}: {source}")]
    Output {
        report: String,
        #[source]
        source: Box<OutputError>,
    },
    #[error("report {report}: row has {got} cells, the contract has {expected} columns")]
    Width {
        report: String,
        got: usize,
        expected: usize,
    },
}

/// What a column holds, which decides whether its cells may be altered on the way out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ColumnKind {
    /// An id, email, key, path or name another system matches on: written verbatim.
    Identifier,
    /// A timestamp or month in a documented format: written verbatim.
    Time,
    /// A count or other number: written verbatim.
    Number,
    /// One of a documented set of words: written verbatim.
    Enum,
    /// Text people wrote (names, titles, comments): neutralised against formula injection.
    FreeText,
}

/// One column of a report's contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Column {
    pub name: &'static str,
    pub kind: ColumnKind,
}

impl Column {
    pub const fn identifier(name: &'static str) -> Self {
        Self {
            name,
            kind: ColumnKind::Identifier,
        }
    }
    pub const fn time(name: &'static str) -> Self {
        Self {
            name,
            kind: ColumnKind::Time,
        }
    }
    pub const fn number(name: &'static str) -> Self {
        Self {
            name,
            kind: ColumnKind::Number,
        }
    }
    pub const fn enumeration(name: &'static str) -> Self {
        Self {
            name,
            kind: ColumnKind::Enum,
        }
    }
    pub const fn free_text(name: &'static str) -> Self {
        Self {
            name,
            kind: ColumnKind::FreeText,
        }
    }
}

/// What the manifest records of a finished report.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ReportMeta {
    /// File stem of the report, e.g. `vault-prod-forecast`.
    pub name: String,
    /// Object key, relative to the output's prefix.
    pub key: String,
    /// Data rows, not counting the header.
    pub rows: u64,
    pub bytes: u64,
    pub sha256: String,
    pub columns: Vec<String>,
    /// Free-text cells that got a leading `'` because a spreadsheet would run them as a formula.
    pub neutralised_cells: u64,
}

/// One CSV report being written. Created by the run for a source; finished (made visible) by
/// the run only if the whole source succeeds, aborted otherwise.
pub struct CsvReport {
    name: String,
    columns: &'static [Column],
    encoder: csv::Writer<Vec<u8>>,
    writer: ObjectWriter,
    escape_formulas: bool,
    rows: u64,
    neutralised: u64,
    bytes: u64,
    digest: Sha256,
}

impl std::fmt::Debug for CsvReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CsvReport")
            .field("name", &self.name)
            .field("rows", &self.rows)
            .finish()
    }
}

impl CsvReport {
    /// A report named `name` with the column contract `columns`, written through `writer`.
    /// Sources get theirs from their context; this is for embedding and tests.
    pub fn new(
        name: String,
        columns: &'static [Column],
        writer: ObjectWriter,
        escape_formulas: bool,
    ) -> Result<Self, ReportError> {
        let mut report = Self {
            name,
            columns,
            encoder: encoder(),
            writer,
            escape_formulas,
            rows: 0,
            neutralised: 0,
            bytes: 0,
            digest: Sha256::new(),
        };
        // The header is ours, never user data: no escaping.
        report
            .encoder
            .write_record(columns.iter().map(|c| c.name))
            .map_err(|e| report.encode_error(e))?;
        Ok(report)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Free-text cells neutralised so far.
    pub fn neutralised_cells(&self) -> u64 {
        self.neutralised
    }

    /// Appends one row; cells must follow the report's column contract.
    pub async fn write_row<I, S>(&mut self, cells: I) -> Result<(), ReportError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut count = 0usize;
        let mut neutralised = 0u64;
        let mut record = csv::StringRecord::with_capacity(256, self.columns.len());
        for cell in cells {
            let cell = cell.as_ref();
            let free_text = self
                .columns
                .get(count)
                .is_some_and(|c| c.kind == ColumnKind::FreeText);
            count += 1;
            if self.escape_formulas && free_text && needs_formula_escape(cell) {
                neutralised += 1;
                record.push_field(&format!("'{cell}"));
            } else {
                record.push_field(cell);
            }
        }
        if count != self.columns.len() {
            return Err(ReportError::Width {
                report: self.name.clone(),
                got: count,
                expected: self.columns.len(),
            });
        }
        self.encoder
            .write_record(&record)
            .map_err(|e| self.encode_error(e))?;
        self.rows += 1;
        self.neutralised += neutralised;
        if self.encoder.get_ref().len() >= FLUSH_BYTES {
            self.flush().await?;
        }
        Ok(())
    }

    async fn flush(&mut self) -> Result<(), ReportError> {
        // csv::Writer only gives its buffer up by value; swap in a fresh encoder.
        let full = std::mem::replace(&mut self.encoder, encoder());
        let chunk = full.into_inner().map_err(|e| ReportError::Encode {
            report: self.name.clone(),
            message: e.error().to_string(),
        })?;
        if chunk.is_empty() {
            return Ok(());
        }
        self.digest.update(&chunk);
        self.bytes += chunk.len() as u64;
        self.writer
            .write(chunk)
            .await
            .map_err(|source| ReportError::Output {
                report: self.name.clone(),
                source: Box::new(source),
            })
    }

    /// Hands every row to the output and waits for the parts in flight, so that making the
    /// report visible is all that is left; nothing is visible yet.
    pub(crate) async fn stage(&mut self) -> Result<(), ReportError> {
        self.flush().await?;
        self.writer
            .stage()
            .await
            .map_err(|source| ReportError::Output {
                report: self.name.clone(),
                source: Box::new(source),
            })
    }

    /// Writes the rest and makes the object visible under its final key; the handle can take
    /// it back if a sibling report fails to become visible.
    pub(crate) async fn finish(mut self) -> Result<(ReportMeta, Visible), ReportError> {
        self.flush().await?;
        let key = self.writer.key().to_owned();
        let name = self.name.clone();
        let visible = self
            .writer
            .finish()
            .await
            .map_err(|source| ReportError::Output {
                report: name.clone(),
                source: Box::new(source),
            })?;
        let meta = ReportMeta {
            name,
            key,
            rows: self.rows,
            bytes: self.bytes,
            sha256: hex::encode(self.digest.finalize()),
            columns: self.columns.iter().map(|c| c.name.to_owned()).collect(),
            neutralised_cells: self.neutralised,
        };
        Ok((meta, visible))
    }

    /// Drops what was written; nothing appears under the final key.
    pub(crate) async fn abort(self) {
        self.writer.abort().await;
    }

    fn encode_error(&self, e: csv::Error) -> ReportError {
        ReportError::Encode {
            report: self.name.clone(),
            message: e.to_string(),
        }
    }
}

fn encoder() -> csv::Writer<Vec<u8>> {
    csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::with_capacity(FLUSH_BYTES + 4096))
}

/// Cells a spreadsheet would run as a formula (OWASP CSV injection list).
pub fn needs_formula_escape(cell: &str) -> bool {
    matches!(
        cell.as_bytes().first(),
        Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r')
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_prefixes_are_detected() {
        for cell in ["=1+1", "+cmd", "-2", "@SUM(A1)", "\tx", "\rx"] {
            assert!(needs_formula_escape(cell), "{cell:?}");
        }
        for cell in ["", "alice", "1-2", " =x", "O'Brien"] {
            assert!(!needs_formula_escape(cell), "{cell:?}");
        }
    }

    #[tokio::test]
    async fn only_free_text_is_neutralised_and_each_neutralised_cell_is_counted() {
        use crate::output::Output;
        use object_store::ObjectStoreExt;
        use object_store::memory::InMemory;
        use object_store::path::Path;
        use std::sync::Arc;
        const COLUMNS: &[Column] = &[
            Column::identifier("client_id"),
            Column::identifier("email"),
            Column::time("at"),
            Column::number("n"),
            Column::enumeration("kind"),
            Column::free_text("comment"),
        ];
        let store = Arc::new(InMemory::new());
        let output = Output::for_tests(store.clone());
        let mut report =
            CsvReport::new("r".into(), COLUMNS, output.writer("r.csv".into()), true).unwrap();
        report
            .write_row([
                "+44PUxYz",
                "-dash@example.com",
                "-0",
                "-1",
                "@x",
                "=SUM(A1)",
            ])
            .await
            .unwrap();
        report
            .write_row(["a", "b", "c", "d", "e", "plain"])
            .await
            .unwrap();
        report
            .write_row(["a", "b", "c", "d", "e", "+1"])
            .await
            .unwrap();
        let (meta, _) = report.finish().await.unwrap();
        assert_eq!(meta.neutralised_cells, 2);
        let bytes = store
            .get(&Path::from("r.csv"))
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        assert_eq!(
            String::from_utf8(bytes.to_vec()).unwrap(),
            "client_id,email,at,n,kind,comment\r\n+44PUxYz,-dash@example.com,-0,-1,@x,'=SUM(A1)\r\na,b,c,d,e,plain\r\na,b,c,d,e,'+1\r\n"
        );
    }
}
