//! The NDJSON export parser: one month's body, line by line as it streams, folded into the
//! client state; memory grows with distinct clients, never with bytes fetched.

use super::api::ExportRecord;
use super::clients::Clients;
use crate::http::BodyError;
use crate::time::Month;
use futures::StreamExt;
use std::sync::{Mutex, MutexGuard};

/// Streams one month's NDJSON body into `clients`. Returns the number of records.
pub(super) async fn parse_export(
    response: reqwest::Response,
    month: Month,
    clients: &Mutex<Clients>,
) -> Result<u64, BodyError> {
    let mut parser = LineParser::new(month);
    let mut stream = response.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk?;
        let mut clients = lock(clients);
        parser.feed(&chunk, &mut clients)?;
    }
    let mut clients = lock(clients);
    parser.finish(&mut clients)?;
    Ok(parser.records)
}

/// Splits a byte stream into lines (LF or CRLF, last newline optional) and parses each.
struct LineParser {
    month: Month,
    partial: Vec<u8>,
    line: u64,
    records: u64,
}

impl LineParser {
    fn new(month: Month) -> Self {
        Self {
            month,
            partial: Vec::new(),
            line: 0,
            records: 0,
        }
    }

    fn feed(&mut self, mut chunk: &[u8], clients: &mut Clients) -> Result<(), BodyError> {
        while let Some(end) = memchr(b'\n', chunk) {
            let (line, rest) = chunk.split_at(end);
            chunk = &rest[1..];
            if self.partial.is_empty() {
                self.parse_line(line, clients)?;
            } else {
                let mut joined = std::mem::take(&mut self.partial);
                joined.extend_from_slice(line);
                self.parse_line(&joined, clients)?;
            }
        }
        self.partial.extend_from_slice(chunk);
        Ok(())
    }

    fn finish(&mut self, clients: &mut Clients) -> Result<(), BodyError> {
        if !self.partial.is_empty() {
            let last = std::mem::take(&mut self.partial);
            self.parse_line(&last, clients)?;
        }
        Ok(())
    }

    fn parse_line(&mut self, line: &[u8], clients: &mut Clients) -> Result<(), BodyError> {
        self.line += 1;
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.iter().all(u8::is_ascii_whitespace) {
            return Ok(());
        }
        let record: ExportRecord<'_> = serde_json::from_slice(line).map_err(|e| {
            let shown: String = String::from_utf8_lossy(&line[..line.len().min(120)]).into();
            BodyError::Invalid(format!(
                "malformed export record for {}, line {}: {e} (line starts `{shown}`)",
                self.month, self.line
            ))
        })?;
        if record.client_id.is_empty() {
            return Err(BodyError::Invalid(format!(
                "export record for {}, line {} has an empty client_id",
                self.month, self.line
            )));
        }
        clients.add(self.month, record);
        self.records += 1;
        Ok(())
    }
}

fn memchr(needle: u8, haystack: &[u8]) -> Option<usize> {
    haystack.iter().position(|b| *b == needle)
}

/// The export parser on its own, fed chunk by chunk as the network would deliver them; for
/// benchmarks and tests of parsing alone.
#[derive(Default)]
pub struct ExportParser {
    clients: Clients,
    month: Option<LineParser>,
}

impl ExportParser {
    /// Feeds a chunk of `month`'s export; months must come oldest first.
    pub fn feed(&mut self, month: Month, chunk: &[u8]) -> Result<(), String> {
        if self.month.as_ref().is_some_and(|p| p.month != month) {
            self.finish_month()?;
        }
        let parser = self.month.get_or_insert_with(|| LineParser::new(month));
        parser.feed(chunk, &mut self.clients).map_err(describe)
    }

    /// Ends the current month (parses a last line without a newline).
    pub fn finish_month(&mut self) -> Result<(), String> {
        match self.month.take() {
            Some(mut parser) => parser.finish(&mut self.clients).map_err(describe),
            None => Ok(()),
        }
    }

    /// Distinct clients so far.
    pub fn clients(&self) -> usize {
        self.clients.len()
    }
}

fn describe(e: BodyError) -> String {
    match e {
        BodyError::Invalid(m) => m,
        BodyError::Transport(e) => e.to_string(),
    }
}

pub(super) fn lock(clients: &Mutex<Clients>) -> MutexGuard<'_, Clients> {
    clients.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn month(y: i32, m: u32) -> Month {
        Month::new(y, m).unwrap()
    }

    #[test]
    fn lines_split_across_chunks_with_crlf_and_no_final_newline() {
        let body = b"{\"client_id\":\"a\"}\r\n{\"client_id\":\"b\"}\n\n{\"client_id\":\"c\"}";
        for split in 0..body.len() {
            let (x, y) = body.split_at(split);
            let mut parser = ExportParser::default();
            parser.feed(month(2025, 1), x).unwrap();
            parser.feed(month(2025, 1), y).unwrap();
            parser.finish_month().unwrap();
            assert_eq!(parser.clients(), 3, "split at {split}");
        }
    }

    #[test]
    fn a_malformed_line_names_month_and_line() {
        let body = b"{\"client_id\":\"a\"}\n{\"client_id\":\n{\"client_id\":\"c\"}\n";
        let err = ExportParser::default()
            .feed(month(2025, 3), body)
            .unwrap_err();
        assert!(err.contains("2025-03") && err.contains("line 2"), "{err}");
        let err = ExportParser::default()
            .feed(month(2025, 3), b"{\"namespace_id\":\"root\"}\n")
            .unwrap_err();
        assert!(err.contains("client_id"), "{err}");
    }
}
