//! Drives the real `rollcall` binary: runs it with an exact environment, measures its memory,
//! and gives it a scratch folder with a spec and a local output. Shared by the integration tests
//! and (through `#[path]`, since a bench cannot use a test binary's modules) the benchmarks.

// The test binary and each bench use different parts of it.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Result of one run of the real binary.
#[derive(Debug)]
pub struct Ran {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Ran {
    pub fn all_output(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }
}

impl From<std::process::Output> for Ran {
    fn from(output: std::process::Output) -> Self {
        Self {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

/// The real binary with `args`, exactly `env` (nothing inherited but PATH) and JSON logs, its
/// output captured.
fn command(args: &[&str], env: &[(String, String)], cwd: &Path) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(binary());
    command
        .args(args)
        .current_dir(cwd)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("ROLLCALL_LOG_FORMAT", "json")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    command.envs(env.iter().map(|(k, v)| (k, v)));
    command
}

/// Runs the real `rollcall` binary with exactly `env` (nothing inherited but PATH).
pub async fn rollcall(args: &[&str], env: &[(String, String)], cwd: &Path) -> Ran {
    let output = command(args, env, cwd)
        .output()
        .await
        .expect("run rollcall");
    Ran::from(output)
}

/// Runs the real binary like [`rollcall`] and also reports its peak resident memory (KiB), read
/// from `/proc/<pid>/status` while it runs; for benchmarks.
pub async fn rollcall_measured(args: &[&str], env: &[(String, String)], cwd: &Path) -> (Ran, u64) {
    let child = command(args, env, cwd).spawn().expect("run rollcall");
    let status_file = child.id().map(|pid| format!("/proc/{pid}/status"));
    let peak = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let poller = {
        let peak = peak.clone();
        tokio::spawn(async move {
            let Some(path) = status_file else { return };
            while let Ok(text) = tokio::fs::read_to_string(&path).await {
                let hwm = text
                    .lines()
                    .find(|l| l.starts_with("VmHWM:"))
                    .and_then(|l| l.split_whitespace().nth(1))
                    .and_then(|kb| kb.parse::<u64>().ok())
                    .unwrap_or(0);
                peak.fetch_max(hwm, std::sync::atomic::Ordering::SeqCst);
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
        })
    };
    let output = child.wait_with_output().await.expect("wait for rollcall");
    poller.abort();
    (
        Ran::from(output),
        peak.load(std::sync::atomic::Ordering::SeqCst),
    )
}

/// A run of the real binary in the background, to be interrupted.
pub struct Running {
    child: tokio::process::Child,
}

impl Running {
    /// Sends SIGTERM, as Kubernetes does to stop a pod, and waits at most `patience` for the
    /// binary to exit.
    pub async fn terminate(self, patience: Duration) -> Ran {
        let pid = self.child.id().expect("still running").to_string();
        let killed = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("run kill");
        assert!(killed.success(), "kill -TERM {pid} failed");
        let output = tokio::time::timeout(patience, self.child.wait_with_output())
            .await
            .expect("stopped promptly")
            .expect("wait for rollcall");
        Ran::from(output)
    }
}

/// Polls `condition` every 10 ms until it holds; fails the test after 20 s, naming `what` it
/// waited for.
pub async fn wait_until(what: &str, condition: impl Fn() -> bool) {
    let started = std::time::Instant::now();
    while !condition() {
        assert!(started.elapsed() < Duration::from_secs(20), "{what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The real binary. Cargo tells integration tests and benchmarks where it is; the demo example
/// never runs it as a process.
pub fn binary() -> PathBuf {
    option_env!("CARGO_BIN_EXE_rollcall")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/debug/rollcall"))
}

/// A scratch folder holding a spec and the local output.
pub struct Workspace {
    pub dir: tempfile::TempDir,
}

impl Workspace {
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes `job.yaml` with the given sources (YAML list items) and local output.
    pub fn spec(&self, sources: &[String]) -> PathBuf {
        self.spec_text(&format!(
            "job: test-job\noutput:\n  url: {}\nsources:\n{}",
            self.reports().display(),
            sources.join("")
        ))
    }

    pub fn spec_text(&self, text: &str) -> PathBuf {
        let path = self.path().join("job.yaml");
        std::fs::write(&path, text).expect("write spec");
        path
    }

    pub fn reports(&self) -> PathBuf {
        self.path().join("reports")
    }

    /// Every file under the output folder, relative path → contents.
    pub fn objects(&self) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        let root = self.reports();
        let mut stack = vec![root.clone()];
        while let Some(dir) = stack.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.flatten() {
                let path = entry.path();
                if path.is_dir() {
                    stack.push(path);
                } else {
                    let rel = path
                        .strip_prefix(&root)
                        .expect("under root")
                        .to_string_lossy()
                        .into_owned();
                    out.insert(rel, std::fs::read_to_string(&path).unwrap_or_default());
                }
            }
        }
        out
    }

    /// The one object whose key ends with `suffix`.
    pub fn object(&self, suffix: &str) -> Option<String> {
        let objects = self.objects();
        let mut hits = objects.iter().filter(|(k, _)| k.ends_with(suffix));
        let hit = hits.next().map(|(_, v)| v.clone());
        assert!(hits.next().is_none(), "several objects end with {suffix}");
        hit
    }

    /// Runs `rollcall <command> --config <spec>` in this folder with exactly `env`.
    pub async fn rollcall(&self, command: &str, spec: &Path, env: &[(String, String)]) -> Ran {
        let spec = spec.to_str().expect("the scratch folder's path is UTF-8");
        rollcall(&[command, "--config", spec], env, self.path()).await
    }

    /// Starts `rollcall run --config <spec>` in this folder with exactly `env`, without waiting
    /// for it to finish.
    pub fn start_run(&self, spec: &Path, env: &[(String, String)]) -> Running {
        let spec = spec.to_str().expect("the scratch folder's path is UTF-8");
        let child = command(&["run", "--config", spec], env, self.path())
            .spawn()
            .expect("start rollcall");
        Running { child }
    }

    pub fn manifest(&self) -> Option<serde_json::Value> {
        self.object("manifest.json")
            .map(|text| serde_json::from_str(&text).expect("manifest is JSON"))
    }

    /// The error the manifest gives for the source at `index` (in spec order); fails the test
    /// when there is no manifest or that source has no error.
    pub fn source_error(&self, index: usize) -> String {
        let manifest = self.manifest().expect("a manifest was written");
        let source = &manifest["sources"][index];
        source["error"]
            .as_str()
            .unwrap_or_else(|| panic!("no error for source {index}: {manifest:#}"))
            .to_owned()
    }
}

/// Fails, naming the part and the whole, unless `text` contains every one of `parts`.
#[track_caller]
pub fn assert_contains_all(text: &str, parts: &[&str]) {
    for part in parts {
        assert!(text.contains(part), "`{part}` not in: {text}");
    }
}

/// An environment for the binary from `(variable, value)` pairs.
pub fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
        .collect()
}

/// CSV text → rows of cells (header first), through a real CSV reader.
pub fn csv_rows(text: &str) -> Vec<Vec<String>> {
    csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(text.as_bytes())
        .records()
        .map(|r| r.expect("valid CSV").iter().map(str::to_owned).collect())
        .collect()
}
