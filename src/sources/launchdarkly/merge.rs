//! Puts the rows of concurrently fetched ranges into the report in report order (newest range
//! first) with bounded memory: rows of the range being written go straight to the report as
//! they arrive; rows of later ranges wait in a temporary file each, and are copied in when
//! their range's turn comes.
//!
//! All file and report I/O happens here, in one place; workers only send small batches
//! through a bounded channel, so a slow output slows the fetch down instead of filling memory.

use super::schedule::Schedule;
use crate::report::CsvReport;
use crate::sources::SourceError;
use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{BufReader, BufWriter, Seek, SeekFrom};

/// One report row, cells in column order.
pub type Row = Vec<String>;

/// What workers send the writer. A range's `Done` comes after its last rows.
#[derive(Debug)]
pub enum Msg {
    Rows { range: i64, rows: Vec<Row> },
    Done { range: i64 },
}

/// Rows of one range waiting for their turn, CSV-encoded (lossless for any text; the report
/// writer neutralises formulas when the rows are copied in).
struct Spill {
    writer: csv::Writer<BufWriter<File>>,
}

pub struct OrderedWriter<'a> {
    report: CsvReport,
    schedule: &'a Schedule,
    /// The range whose rows go straight to the report; `None` once all are written.
    head: Option<i64>,
    spills: HashMap<i64, Spill>,
    /// Ranges whose `Done` arrived but that are not written out yet.
    done: HashSet<i64>,
    spilled_rows: u64,
}

fn spill_error(e: impl std::fmt::Display) -> SourceError {
    SourceError::Data(format!(
        "temporary file under {} for rows waiting their turn: {e}; check free space there (TMPDIR)",
        std::env::temp_dir().display()
    ))
}

impl<'a> OrderedWriter<'a> {
    pub fn new(report: CsvReport, schedule: &'a Schedule) -> Self {
        Self {
            report,
            head: schedule.newest(),
            schedule,
            spills: HashMap::new(),
            done: HashSet::new(),
            spilled_rows: 0,
        }
    }

    /// Rows written to the report so far.
    pub fn rows(&self) -> u64 {
        self.report.rows()
    }

    /// Rows that went through a temporary file.
    pub fn spilled_rows(&self) -> u64 {
        self.spilled_rows
    }

    pub async fn accept(&mut self, msg: Msg) -> Result<(), SourceError> {
        match msg {
            Msg::Rows { range, rows } if self.head == Some(range) => {
                for row in rows {
                    self.report.write_row(row).await?;
                }
            }
            Msg::Rows { range, rows } => {
                let spill = match self.spills.entry(range) {
                    std::collections::hash_map::Entry::Occupied(o) => o.into_mut(),
                    std::collections::hash_map::Entry::Vacant(v) => {
                        // Unnamed and deleted by the OS when closed, even if we are killed.
                        let file = tempfile::tempfile().map_err(spill_error)?;
                        v.insert(Spill {
                            writer: csv::WriterBuilder::new()
                                .from_writer(BufWriter::with_capacity(64 * 1024, file)),
                        })
                    }
                };
                for row in &rows {
                    spill.writer.write_record(row).map_err(spill_error)?;
                }
                self.spilled_rows += rows.len() as u64;
            }
            Msg::Done { range } => {
                self.done.insert(range);
                self.advance().await?;
            }
        }
        Ok(())
    }

    /// Moves past finished ranges, copying in the spilled rows of each new head.
    async fn advance(&mut self) -> Result<(), SourceError> {
        while let Some(head) = self.head {
            if !self.done.remove(&head) {
                return Ok(());
            }
            self.head = self.schedule.next_older(head);
            if let Some(next) = self.head
                && let Some(spill) = self.spills.remove(&next)
            {
                self.copy_in(spill).await?;
            }
        }
        Ok(())
    }

    async fn copy_in(&mut self, spill: Spill) -> Result<(), SourceError> {
        let mut file = spill
            .writer
            .into_inner()
            .map_err(|e| spill_error(e.error()))?
            .into_inner()
            .map_err(|e| spill_error(e.error()))?;
        file.seek(SeekFrom::Start(0)).map_err(spill_error)?;
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .from_reader(BufReader::with_capacity(64 * 1024, file));
        let mut record = csv::StringRecord::new();
        while reader.read_record(&mut record).map_err(spill_error)? {
            self.report.write_row(record.iter()).await?;
        }
        Ok(())
    }

    /// The report, once every range is written.
    pub fn finish(self) -> Result<CsvReport, SourceError> {
        if let Some(head) = self.head {
            return Err(SourceError::Data(format!(
                "the fetch ended with the range ending at {head} ms unfinished ({} more waiting); this is a bug, please report it",
                self.spills.len()
            )));
        }
        Ok(self.report)
    }
}
