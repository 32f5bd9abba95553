//! CSV reports: one writer for every report of every source, streaming to the output as rows
//! arrive, with spreadsheet-formula neutralisation, row and byte counts and a SHA-256.
//!
//! Every report is UTF-8, RFC 4180 (CRLF line ends, quotes only where needed) and starts with a
//! header row. Column contracts are documented in `docs/reports.md`.

pub mod manifest;
pub mod summary;

use crate::output::{ObjectWriter, OutputError};
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
}

/// One CSV report being written. Created by the run for a source; finished (made visible) by
/// the run only if the whole source succeeds, aborted otherwise.
pub struct CsvReport {
    name: String,
    columns: &'static [&'static str],
    encoder: csv::Writer<Vec<u8>>,
    writer: ObjectWriter,
    escape_formulas: bool,
    rows: u64,
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
    pub(crate) fn new(
        name: String,
        columns: &'static [&'static str],
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
            bytes: 0,
            digest: Sha256::new(),
        };
        // The header is ours, never user data: no escaping.
        report
            .encoder
            .write_record(columns)
            .map_err(|e| report.encode_error(e))?;
        Ok(report)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Appends one row; cells must follow the report's column contract.
    pub async fn write_row<I, S>(&mut self, cells: I) -> Result<(), ReportError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut count = 0usize;
        let escape = self.escape_formulas;
        let mut record = csv::StringRecord::with_capacity(256, self.columns.len());
        for cell in cells {
            count += 1;
            let cell = cell.as_ref();
            if escape && needs_formula_escape(cell) {
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

    /// Writes the rest and makes the object visible under its final key.
    pub(crate) async fn finish(mut self) -> Result<ReportMeta, ReportError> {
        self.flush().await?;
        let key = self.writer.key().to_owned();
        let name = self.name.clone();
        self.writer
            .finish()
            .await
            .map_err(|source| ReportError::Output {
                report: name.clone(),
                source: Box::new(source),
            })?;
        Ok(ReportMeta {
            name,
            key,
            rows: self.rows,
            bytes: self.bytes,
            sha256: hex::encode(self.digest.finalize()),
            columns: self.columns.iter().map(|c| (*c).to_owned()).collect(),
        })
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
}
