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
mod wording;

use std::fmt;
use std::path::{Path, PathBuf};

pub use checks::{check_env_name, check_name, check_scheme, parse_base_url, url_for_messages};
pub use duration::deserialize_duration;
pub use env::{Environment, Secret, Settings};
pub use locate::KeyPath;
pub use wording::plain_words;

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
    /// Several of the above, found together: a person fixes them all in one go.
    #[error("{}", render_all(.0))]
    All(Vec<ConfigError>),
}

impl ConfigError {
    /// One error for all of `errors` (one stays itself).
    pub fn all(mut errors: Vec<ConfigError>) -> Self {
        if errors.len() == 1 {
            errors.remove(0)
        } else {
            ConfigError::All(errors)
        }
    }
}

fn render_all(errors: &[ConfigError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
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
        // A problem of the whole document is placed where the document starts.
        let place = if key.is_root() {
            Some((1, 1))
        } else {
            locate::locate(self.text, key)
        };
        let (line, column) = match place {
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

    /// Whether a problem is already recorded at `key`.
    pub fn has_any_at(&self, key: &KeyPath) -> bool {
        let key = key.to_string();
        self.list.iter().any(|p| p.key == key)
    }

    /// How many problems are recorded so far.
    pub fn len(&self) -> usize {
        self.list.len()
    }

    /// Every problem recorded, in the order found.
    pub fn into_list(self) -> Vec<Problem> {
        self.list
    }

    /// Turns a parse error into a problem at the offending key's own line where possible.
    pub fn add_yaml_error(&mut self, error: &serde_path_to_error::Error<serde_yaml::Error>) {
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
        let message = plain_words(&message);
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

    /// Reads settings from a YAML value found at `at`, recording every key serde refuses, not
    /// only the first: a refused key is set aside and the rest read again, so its neighbours are
    /// still checked. An error names the key path and its line.
    ///
    /// Returns the settings with defaults in place of the refused keys, so that the checks after
    /// reading run on everything else too (the problems already recorded make the spec invalid
    /// whatever they find); `None` when a required key is missing or refused.
    pub fn read<T: serde::de::DeserializeOwned>(
        &mut self,
        mut value: serde_yaml::Value,
        at: &KeyPath,
    ) -> Option<T> {
        let mut set_aside: Vec<KeyPath> = Vec::new();
        loop {
            let error = match serde_path_to_error::deserialize(value.clone()) {
                Ok(settings) => return Some(settings),
                Err(e) => e,
            };
            // The path ends at the offending key, unknown ones included; a missing key is
            // reported at the mapping that lacks it.
            let path = KeyPath::parse(&error.path().to_string());
            let message = error.inner().to_string();
            if let Some(missing) = missing_field(&message) {
                if set_aside.contains(&path.key(missing)) {
                    // Required, and already reported as refused: nothing more to say.
                    return None;
                }
                self.add(&at.join(&path), plain_words(&message));
                return None;
            }
            self.add(&at.join(&path), plain_words(&message));
            // A problem with no key to set aside (the whole value is wrong) ends the reading.
            path.take_from(&mut value)?;
            set_aside.push(path);
        }
    }
}

/// The key of serde's "missing field `name`" message.
fn missing_field(message: &str) -> Option<&str> {
    message
        .strip_prefix("missing field `")
        .and_then(|rest| rest.strip_suffix('`'))
}

#[cfg(test)]
mod tests;
