//! A real headless Chromium that renders a page to a PNG and to its DOM after layout.
//!
//! `CHROMIUM_BIN` names the browser (default `/usr/bin/chromium`, Debian's package). A missing
//! browser fails the test: a summary nobody checked in a browser is not tested.

use std::path::{Path, PathBuf};
use std::process::Command;

pub const VARIABLE: &str = "CHROMIUM_BIN";
const DEFAULT: &str = "/usr/bin/chromium";

pub fn binary() -> PathBuf {
    let path = std::env::var_os(VARIABLE)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEFAULT));
    assert!(
        path.is_file(),
        "no Chromium at {}: install Debian's `chromium` package or set {VARIABLE} to the browser's path",
        path.display()
    );
    path
}

/// Renders `page` (a local file) headless to a PNG at `png` of `width`×`height`, and returns
/// its DOM after parsing and layout (`--dump-dom`).
pub fn render(page: &Path, png: &Path, width: u32, height: u32) -> String {
    let browser = binary();
    let url = format!("file://{}", page.display());
    let dom = run(&browser, &["--dump-dom".to_owned(), url.clone()]);
    run(
        &browser,
        &[
            format!("--screenshot={}", png.display()),
            format!("--window-size={width},{height}"),
            "--hide-scrollbars".to_owned(),
            url,
        ],
    );
    let bytes = std::fs::read(png).expect("Chromium wrote no screenshot");
    assert!(
        bytes.starts_with(b"\x89PNG\r\n\x1a\n") && bytes.len() > 10_000,
        "the screenshot at {} is not a PNG of a drawn page ({} bytes)",
        png.display(),
        bytes.len()
    );
    dom
}

/// One browser run with a fresh, empty profile and every background connection turned off (the
/// machine has no network beyond loopback, and the page must need none).
fn run(browser: &Path, args: &[String]) -> String {
    let profile = tempfile::tempdir().expect("profile dir");
    let output = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot start {} ({VARIABLE}): {e}", browser.display()));
    assert!(
        output.status.success(),
        "Chromium failed ({}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("the DOM is UTF-8")
}

/// The `<title>` of every inline SVG chart in a DOM (`<svg role="img" ...><title ...>T</title>`).
pub fn chart_titles(dom: &str) -> Vec<String> {
    let mut titles = Vec::new();
    let mut rest = dom;
    while let Some(at) = rest.find("<svg role=\"img\"") {
        rest = &rest[at..];
        let open = rest.find('>').expect("an svg start tag ends");
        let after = &rest[open + 1..];
        let title = after
            .strip_prefix("<title")
            .and_then(|t| t.split_once('>'))
            .and_then(|(_, t)| t.split_once("</title>"))
            .map(|(t, _)| t.to_owned())
            .unwrap_or_else(|| panic!("a chart without a title: {}", &rest[..open + 1]));
        titles.push(title);
        rest = after;
    }
    titles
}
