//! Vault export parsing: 12 months of NDJSON exports, 100,000 clients a month (with churn, so
//! distinct clients grow past one month's count), fed in 64 KiB chunks as a network would.
//! Prints MB/s of NDJSON parsed (parse time only, generation excluded) and peak RSS.
//!
//! `cargo bench --bench vault_parse`

use rollcall::sources::vault::ExportParser;
use rollcall::time::Month;
use std::time::{Duration, Instant};

const MONTHS: i64 = 12;
const CLIENTS_PER_MONTH: u64 = 100_000;
/// New clients each month; the rest were active the month before.
const CHURN: u64 = 10_000;
const CHUNK: usize = 64 * 1024;

fn record(out: &mut Vec<u8>, id: u64, month: Month) {
    use std::io::Write;
    // The 1.18-1.20 shape: every key present, as Vault writes it.
    let _ = writeln!(
        out,
        r#"{{"entity_name":"user-{id}","entity_alias_name":"user-{id}","local_entity_alias":false,"client_id":"{id:08x}-7210-98e8-1f0d-e6a39ffb29c6","client_type":"entity","namespace_id":"root","namespace_path":"ns{}/","mount_accessor":"auth_userpass_a005db73","mount_type":"userpass","mount_path":"auth/userpass/","timestamp":"{}-{:02}-10T09:33:51Z","policies":["secret-read","secret-list"],"entity_metadata":{{"email_address":"user{id}@example.com"}},"entity_alias_metadata":{{}},"entity_alias_custom_metadata":{{"region":"west"}},"entity_group_ids":["746fbaf9-ffeb-62b9-7f0b-42d79ca0883f"]}}"#,
        id % 7,
        month.year(),
        month.month()
    );
}

fn status_mib(field: &str) -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

/// Parses `MONTHS` months of exports with `churn` new clients a month; prints figures.
fn scenario(name: &str, churn: u64) {
    let first = Month::new(2025, 12).expect("valid month");
    let mut parser = ExportParser::default();
    let mut parse_time = Duration::ZERO;
    let mut bytes = 0u64;
    let mut chunk = Vec::with_capacity(CHUNK + 1024);
    let mut rss_after_first_month = 0.0;
    for m in 0..MONTHS {
        let month = first.plus(m);
        let start_id = m as u64 * churn;
        for id in start_id..start_id + CLIENTS_PER_MONTH {
            record(&mut chunk, id, month);
            if chunk.len() >= CHUNK {
                let t = Instant::now();
                parser.feed(month, &chunk).expect("valid export");
                parse_time += t.elapsed();
                bytes += chunk.len() as u64;
                chunk.clear();
            }
        }
        let t = Instant::now();
        parser.feed(month, &chunk).expect("valid export");
        parser.finish_month().expect("valid export");
        parse_time += t.elapsed();
        bytes += chunk.len() as u64;
        chunk.clear();
        if m == 0 {
            rss_after_first_month = status_mib("VmRSS:");
        }
    }
    let mb = bytes as f64 / 1e6;
    println!(
        "vault_parse[{name}]: {MONTHS} months x {CLIENTS_PER_MONTH} clients, {} distinct; parsed {mb:.1} MB in {:.2} s = {:.0} MB/s; RSS after month 1 {:.1} MiB, after month {MONTHS} {:.1} MiB",
        parser.clients(),
        parse_time.as_secs_f64(),
        mb / parse_time.as_secs_f64(),
        rss_after_first_month,
        status_mib("VmRSS:"),
    );
}

fn main() {
    // Same clients every month: bytes grow 12x, memory must not.
    scenario("steady", 0);
    // 10,000 new clients a month: memory grows with distinct clients only.
    scenario("churn", CHURN);
    println!(
        "vault_parse: peak RSS of the process {:.1} MiB",
        status_mib("VmHWM:")
    );
}
