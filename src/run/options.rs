//! What a run is asked to do: the options the CLI builds, and the shard of the sources a pod
//! takes when a job runs as an Indexed Job.

use crate::config::Environment;
use crate::time::RunClock;
use std::path::PathBuf;

/// What to run; built by the CLI from flags and `ROLLCALL_*` settings.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub config: PathBuf,
    /// Only these sources (by name); empty means all.
    pub only: Vec<String>,
    /// Replaces the spec's `output.url`.
    pub output: Option<String>,
    pub run_id: Option<String>,
    pub clock: RunClock,
    pub env: Environment,
    pub shard: Option<Shard>,
}

/// One slice of the sources, for running a job as an Indexed Job across pods.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

impl Shard {
    /// Parses `INDEX/COUNT`, e.g. `0/3`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let (index, count) = text
            .split_once('/')
            .ok_or_else(|| format!("`{text}` is not INDEX/COUNT, e.g. 0/3"))?;
        let index: u32 = index
            .trim()
            .parse()
            .map_err(|_| format!("`{index}` is not a shard index"))?;
        let count: u32 = count
            .trim()
            .parse()
            .map_err(|_| format!("`{count}` is not a shard count"))?;
        if count == 0 || index >= count {
            return Err(format!(
                "shard {index}/{count} is out of range: the index counts from 0 and must be below the count"
            ));
        }
        Ok(Self { index, count })
    }

    /// Stable assignment: the same source name lands on the same shard in every run, whatever
    /// the order or number of other sources (FNV-1a of the name, modulo the count).
    pub fn owns(&self, source_name: &str) -> bool {
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for byte in source_name.bytes() {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
        hash % u64::from(self.count) == u64::from(self.index)
    }
}
