//! A real Prometheus Pushgateway on a free loopback port, stopped when dropped.
//!
//! `PUSHGATEWAY_BIN` names the binary (default `/usr/bin/prometheus-pushgateway`, Debian's
//! package). A missing binary fails the test.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const VARIABLE: &str = "PUSHGATEWAY_BIN";
const DEFAULT: &str = "/usr/bin/prometheus-pushgateway";

pub struct Pushgateway {
    pub url: String,
    child: Child,
    _persistence: tempfile::TempDir,
}

impl Pushgateway {
    pub async fn start() -> Self {
        let binary = std::env::var_os(VARIABLE)
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(DEFAULT));
        assert!(
            binary.is_file(),
            "no Pushgateway at {}: install Debian's `prometheus-pushgateway` package or set {VARIABLE} to its path",
            binary.display()
        );
        let port = free_port();
        let persistence = tempfile::tempdir().expect("persistence dir");
        let child = Command::new(&binary)
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg(format!(
                "--persistence.file={}",
                persistence.path().join("metrics").display()
            ))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {} ({VARIABLE}): {e}", binary.display()));
        let gateway = Self {
            url: format!("http://127.0.0.1:{port}"),
            child,
            _persistence: persistence,
        };
        gateway.wait_ready().await;
        gateway
    }

    async fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        let ready = format!("{}/-/ready", self.url);
        while Instant::now() < deadline {
            if let Ok(response) = reqwest::get(&ready).await
                && response.status().is_success()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "the Pushgateway at {} did not become ready within 10s",
            self.url
        );
    }

    /// Every series the Pushgateway exposes, as `name{labels}` (labels sorted) → value.
    pub async fn series(&self) -> BTreeMap<String, f64> {
        let text = reqwest::get(format!("{}/metrics", self.url))
            .await
            .expect("GET /metrics")
            .text()
            .await
            .expect("metrics text");
        parse(&text)
    }
}

impl Drop for Pushgateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind loopback")
        .local_addr()
        .expect("local addr")
        .port()
}

/// Parses the text exposition (what the Pushgateway serves) into `name{k="v",...}` → value,
/// with labels in name order so tests can look series up exactly.
pub fn parse(text: &str) -> BTreeMap<String, f64> {
    let mut series = BTreeMap::new();
    for line in text.lines() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let (key, value) = line.rsplit_once(' ').expect("`series value`");
        let value: f64 = value.parse().expect("a number");
        let (name, labels) = match key.split_once('{') {
            Some((name, labels)) => (name, labels.trim_end_matches('}')),
            None => (key, ""),
        };
        let mut labels = parse_labels(labels);
        labels.sort_unstable();
        let labels: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
        series.insert(format!("{name}{{{}}}", labels.join(",")), value);
    }
    series
}

/// `a="x",b="y \" z"` → [(a, x), (b, y \" z)]; values kept escaped as the exposition has them.
fn parse_labels(text: &str) -> Vec<(String, String)> {
    let mut labels = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let (name, after) = rest.split_once("=\"").expect("label=\"value\"");
        let mut value = String::new();
        let mut chars = after.char_indices();
        let mut end = after.len();
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => {
                    value.push(c);
                    if let Some((_, escaped)) = chars.next() {
                        value.push(escaped);
                    }
                }
                '"' => {
                    end = i + 1;
                    break;
                }
                c => value.push(c),
            }
        }
        labels.push((name.trim_start_matches(',').to_owned(), value));
        rest = &after[end..];
    }
    labels
}
