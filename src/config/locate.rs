//! Maps a key path such as `sources[1].months` to its line and column in block-style YAML.
//!
//! serde_yaml reports the line of the enclosing item (or none at all for checks made after
//! parsing), but a user fixing a spec wants the line of the key itself. Flow-style mappings are
//! not descended into; the nearest enclosing key is returned instead.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Key(String),
    Index(usize),
}

/// A path to a value in the spec, printed as `sources[1].months`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KeyPath {
    segments: Vec<Segment>,
}

impl KeyPath {
    pub fn root() -> Self {
        Self::default()
    }

    pub fn is_root(&self) -> bool {
        self.segments.is_empty()
    }

    pub fn key(&self, key: &str) -> Self {
        let mut next = self.clone();
        next.segments.push(Segment::Key(key.to_owned()));
        next
    }

    pub fn index(&self, index: usize) -> Self {
        let mut next = self.clone();
        next.segments.push(Segment::Index(index));
        next
    }

    /// Parses the path notation used by serde_yaml and serde_path_to_error (`a.b[2].c`).
    pub fn parse(text: &str) -> Self {
        let mut path = Self::root();
        if text.is_empty() || text == "." {
            return path;
        }
        for part in text.split('.') {
            let (name, mut indexes) = match part.find('[') {
                Some(i) => (&part[..i], &part[i..]),
                None => (part, ""),
            };
            if !name.is_empty() {
                path = path.key(name);
            }
            while let Some(rest) = indexes.strip_prefix('[') {
                let Some((n, after)) = rest.split_once(']') else {
                    break;
                };
                if let Ok(n) = n.parse() {
                    path = path.index(n);
                }
                indexes = after;
            }
        }
        path
    }

    /// Removes the value at this path from `document`, if there is one under a key (an item of
    /// a list is never removed: the indexes of the others would change).
    pub fn take_from(&self, document: &mut serde_yaml::Value) -> Option<serde_yaml::Value> {
        let (Segment::Key(last), parents) = self.segments.split_last()? else {
            return None;
        };
        let mut parent = document;
        for segment in parents {
            parent = match segment {
                Segment::Key(key) => parent.get_mut(key.as_str())?,
                Segment::Index(index) => parent.get_mut(*index)?,
            };
        }
        parent.as_mapping_mut()?.remove(last.as_str())
    }

    /// Appends a path reported relative to this one.
    pub fn join(&self, relative: &KeyPath) -> Self {
        let mut next = self.clone();
        next.segments.extend(relative.segments.iter().cloned());
        next
    }
}

impl fmt::Display for KeyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, segment) in self.segments.iter().enumerate() {
            match segment {
                Segment::Key(k) if i == 0 => write!(f, "{k}")?,
                Segment::Key(k) => write!(f, ".{k}")?,
                Segment::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

/// One meaningful line: 1-based number, column of its content, and the content.
#[derive(Clone, Copy)]
struct Line<'t> {
    number: usize,
    indent: usize,
    content: &'t str,
}

/// Returns the 1-based line and column of the deepest part of `path` that can be found.
pub fn locate(text: &str, path: &KeyPath) -> Option<(usize, usize)> {
    let mut scope: Vec<Line<'_>> = text
        .lines()
        .enumerate()
        .filter_map(|(i, raw)| {
            let content = raw.trim_start();
            (!content.is_empty() && !content.starts_with('#') && content != "---").then(|| Line {
                number: i + 1,
                indent: raw.len() - content.len(),
                content,
            })
        })
        .collect();
    let mut found = None;
    for segment in &path.segments {
        let Some(first) = scope.first().copied() else {
            break;
        };
        let level = first.indent;
        match segment {
            Segment::Key(key) => {
                let Some(at) = scope
                    .iter()
                    .position(|l| l.indent == level && is_key_line(l.content, key))
                else {
                    break;
                };
                let line = scope[at];
                found = Some((line.number, line.indent + 1));
                scope = children(&scope[at + 1..], level);
            }
            Segment::Index(n) => {
                let items: Vec<usize> = scope
                    .iter()
                    .enumerate()
                    .filter(|(_, l)| l.indent == level && is_item_line(l.content))
                    .map(|(i, _)| i)
                    .collect();
                let Some(&at) = items.get(*n) else {
                    break;
                };
                let line = scope[at];
                let after_dash = line.content[1..].trim_start();
                let inner_indent = line.indent + (line.content.len() - after_dash.len());
                found = Some((line.number, inner_indent + 1));
                // The item's first key sits on the dash line; treat it as a line of its own.
                let mut inner = vec![Line {
                    number: line.number,
                    indent: inner_indent,
                    content: after_dash,
                }];
                inner.extend(children(&scope[at + 1..], level));
                scope = inner;
            }
        }
    }
    found
}

/// Lines nested deeper than `level`, up to the first line that is not.
fn children<'t>(lines: &[Line<'t>], level: usize) -> Vec<Line<'t>> {
    lines
        .iter()
        .take_while(|l| l.indent > level)
        .copied()
        .collect()
}

fn is_item_line(content: &str) -> bool {
    content == "-" || content.starts_with("- ")
}

fn is_key_line(content: &str, key: &str) -> bool {
    let unquoted = [key.to_owned(), format!("\"{key}\""), format!("'{key}'")];
    unquoted.iter().any(|k| {
        content
            .strip_prefix(k.as_str())
            .is_some_and(|rest| rest.trim_start().starts_with(':'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC: &str = "\
job: nightly
# a comment
output:
  url: ./reports
sources:
  - name: a
    kind: vault_client_activity
    months: 12
  -   name: b
      kind: launchdarkly_audit_log
      window:
        lookback: 30d
";

    #[test]
    fn finds_nested_keys_and_items() {
        assert_eq!(locate(SPEC, &KeyPath::parse("job")), Some((1, 1)));
        assert_eq!(locate(SPEC, &KeyPath::parse("output.url")), Some((4, 3)));
        assert_eq!(locate(SPEC, &KeyPath::parse("sources[0]")), Some((6, 5)));
        assert_eq!(
            locate(SPEC, &KeyPath::parse("sources[0].name")),
            Some((6, 5))
        );
        assert_eq!(
            locate(SPEC, &KeyPath::parse("sources[0].months")),
            Some((8, 5))
        );
        assert_eq!(
            locate(SPEC, &KeyPath::parse("sources[1].kind")),
            Some((10, 7))
        );
        assert_eq!(
            locate(SPEC, &KeyPath::parse("sources[1].window.lookback")),
            Some((12, 9))
        );
    }

    #[test]
    fn falls_back_to_the_nearest_known_parent() {
        assert_eq!(
            locate(SPEC, &KeyPath::parse("sources[1].nope")),
            Some((9, 7))
        );
        assert_eq!(locate(SPEC, &KeyPath::parse("sources[5]")), Some((5, 1)));
    }

    #[test]
    fn paths_round_trip() {
        let p = KeyPath::parse("sources[3].rate_limit.per");
        assert_eq!(p.to_string(), "sources[3].rate_limit.per");
        assert_eq!(KeyPath::root().key("a").index(0).to_string(), "a[0]");
    }
}
