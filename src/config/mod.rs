//! The toolkit every part of the spec is read with: problems located at file:line:col, the YAML
//! locator, durations, the environment and its secrets, and the shared checks (names, URLs,
//! environment variable names). A leaf: it imports no other module of rollcall.
//!
//! Parsing happens in two stages so every error names a line and a key: the top level is read by
//! `serde_yaml` (which tracks locations), then each source item is read from its YAML value with
//! `serde_path_to_error`, and the key path it reports is mapped back to a line by [`locate`].

pub mod checks;
pub mod duration;
pub mod env;
pub mod fields;
mod locate;

use std::fmt;
use std::path::{Path, PathBuf};

pub use checks::{check_env_name, check_name, check_scheme, parse_base_url};
pub use duration::deserialize_duration;
pub use env::{Environment, Secret, Settings};
pub use locate::KeyPath;

/// One problem in the spec: where it is and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub key: String,
    pub message: String,
}

/// Why a spec (or the environment it needs) cannot be used. Every variant exits 2.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read job spec {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}", render_problems(path, problems))]
    Invalid {
        path: PathBuf,
        problems: Vec<Problem>,
    },
    #[error("environment: {0}")]
    Environment(String),
    #[error("source `{source_name}`: {message}")]
    Source {
        source_name: String,
        message: String,
    },
}

fn render_problems(path: &Path, problems: &[Problem]) -> String {
    let mut out = String::new();
    for (i, p) in problems.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        out.push_str(&p.render(path));
    }
    out
}

impl Problem {
    fn render(&self, path: &Path) -> String {
        let place = match (self.line, self.column) {
            (Some(l), Some(c)) => format!("{}:{l}:{c}", path.display()),
            (Some(l), None) => format!("{}:{l}", path.display()),
            _ => path.display().to_string(),
        };
        if self.key.is_empty() {
            format!("{place}: {}", self.message)
        } else {
            format!("{place}: `{}`: {}", self.key, self.message)
        }
    }
}

/// Collects problems with their locations while a spec is checked.
pub struct Problems<'a> {
    text: &'a str,
    list: Vec<Problem>,
}

impl<'a> Problems<'a> {
    pub fn new(text: &'a str) -> Self {
        Self {
            text,
            list: Vec::new(),
        }
    }

    /// Records a problem at `key` (a path such as `sources[1].months`).
    pub fn add(&mut self, key: &KeyPath, message: impl fmt::Display) {
        let (line, column) = match locate::locate(self.text, key) {
            Some((l, c)) => (Some(l), Some(c)),
            None => (None, None),
        };
        self.list.push(Problem {
            line,
            column,
            key: key.to_string(),
            message: message.to_string(),
        });
    }

    fn add_at(&mut self, key: String, line: Option<usize>, column: Option<usize>, message: String) {
        self.list.push(Problem {
            line,
            column,
            key,
            message,
        });
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// Every problem recorded, in the order found.
    pub fn into_list(self) -> Vec<Problem> {
        self.list
    }

    /// Turns a parse error into a problem at the offending key's own line where possible.
    /// `type_names` replaces names of our own types in serde's message with words for the user.
    pub fn add_yaml_error(
        &mut self,
        error: &serde_path_to_error::Error<serde_yaml::Error>,
        type_names: &[(&str, &str)],
    ) {
        let inner = error.inner();
        let mut message = inner.to_string();
        // serde_yaml appends a location; the one chosen below replaces it.
        if let Some((m, _)) = message.rsplit_once(" at line ") {
            message = m.to_owned();
        }
        let key = KeyPath::parse(&error.path().to_string());
        if let Some(rest) = message.strip_prefix(&format!("{key}: ")) {
            message = rest.to_owned();
        }
        for (type_name, words) in type_names {
            message = message.replace(type_name, words);
        }
        // serde_yaml places data errors at the enclosing item, the key's own line is better; a
        // syntax error (a tab, an unclosed quote) lies after the key it interrupted, at its own
        // place.
        let at_key = locate::locate(self.text, &key).filter(|_| !key.is_root());
        let at_error = inner.location().map(|l| (l.line(), l.column()));
        let place = match (at_key, at_error) {
            (Some(k), Some(e)) => Some(k.max(e)),
            (k, e) => k.or(e),
        };
        self.add_at(
            key.to_string(),
            place.map(|p| p.0),
            place.map(|p| p.1),
            message,
        )
    }

    /// Reads settings from a YAML value found at `at`; an error names the key path and its line.
    pub fn read<T: serde::de::DeserializeOwned>(
        &mut self,
        value: serde_yaml::Value,
        at: &KeyPath,
    ) -> Option<T> {
        match serde_path_to_error::deserialize(value) {
            Ok(settings) => Some(settings),
            Err(e) => {
                // The path already ends at the offending key, unknown ones included.
                let key = at.join(&KeyPath::parse(&e.path().to_string()));
                self.add(&key, e.inner().to_string());
                None
            }
        }
    }
}

#[cfg(test)]
mod tests;
