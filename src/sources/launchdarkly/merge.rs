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
        if self.head.is_some() || !self.spills.is_empty() {
            return Err(SourceError::Data(format!(
                "the fetch ended with ranges unwritten (next: {:?}, {} waiting); this is a bug, please report it",
                self.head,
                self.spills.len()
            )));
        }
        Ok(self.report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::Output;
    use object_store::memory::InMemory;
    use object_store::path::Path as ObjectPath;
    use object_store::{ObjectStore, ObjectStoreExt};
    use std::sync::Arc;

    use crate::report::Column;
    const COLUMNS: &[Column] = &[Column::identifier("id"), Column::free_text("text")];

    fn row(id: &str, text: &str) -> Row {
        vec![id.to_owned(), text.to_owned()]
    }

    /// Rows arrive for three ranges in any order; the report holds them range by range,
    /// newest first, and text goes through the temporary files unchanged (formulas escaped
    /// once, by the report writer).
    #[tokio::test]
    async fn ranges_are_written_in_order_whatever_order_rows_arrive() {
        let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
        let output = Output::for_tests(store.clone());
        let report =
            CsvReport::new("ld".into(), COLUMNS, output.writer("ld.csv".into()), true).unwrap();
        // Ranges [0,100), [100,200), [200,300): written 300 first.
        let schedule = Schedule::new(0, 300, 3);
        let mut writer = OrderedWriter::new(report, &schedule);
        let messages = vec![
            Msg::Rows {
                range: 100,
                rows: vec![row("c1", "=1+1"), row("c2", "two\nlines, \"quoted\"")],
            },
            Msg::Rows {
                range: 300,
                rows: vec![row("a1", "first")],
            },
            Msg::Rows {
                range: 200,
                rows: vec![row("b1", "Zürich ✓")],
            },
            Msg::Done { range: 100 },
            Msg::Rows {
                range: 300,
                rows: vec![row("a2", "-2")],
            },
            Msg::Done { range: 300 },
            Msg::Rows {
                range: 200,
                rows: vec![row("b2", "\r\nx")],
            },
            Msg::Done { range: 200 },
        ];
        for msg in messages {
            writer.accept(msg).await.unwrap();
        }
        assert_eq!(writer.spilled_rows(), 3, "c1, c2 and b1 waited their turn");
        let (meta, _) = writer.finish().unwrap().finish().await.unwrap();
        assert_eq!(meta.rows, 6);
        let bytes = store
            .get(&ObjectPath::from("ld.csv"))
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        let rows: Vec<Vec<String>> = csv::Reader::from_reader(&bytes[..])
            .records()
            .map(|r| r.unwrap().iter().map(str::to_owned).collect())
            .collect();
        assert_eq!(
            rows,
            [
                row("a1", "first"),
                row("a2", "'-2"),
                row("b1", "Zürich ✓"),
                row("b2", "'\r\nx"),
                row("c1", "'=1+1"),
                row("c2", "two\nlines, \"quoted\""),
            ]
        );
    }

    #[tokio::test]
    async fn a_range_left_unfinished_is_an_error() {
        let output = Output::for_tests(Arc::new(InMemory::new()));
        let report =
            CsvReport::new("ld".into(), COLUMNS, output.writer("ld.csv".into()), true).unwrap();
        let schedule = Schedule::new(0, 300, 3);
        let mut writer = OrderedWriter::new(report, &schedule);
        writer.accept(Msg::Done { range: 300 }).await.unwrap();
        assert!(writer.finish().is_err());
    }
}
