//! Human durations in the spec (`30d`, `90 days`, `1h 30m`), parsed by humantime.

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer};
use std::borrow::Cow;
use std::time::Duration;

/// What a duration looks like to an editor: numbers each followed by a unit, as humantime reads
/// them. A bare number is refused by rollcall too (its unit would be a guess).
const DURATION_PATTERN: &str = r"^\s*([0-9]+\s*[A-Za-z]+\s*)+$";

/// The schema of a duration field: `#[schemars(with = "HumanDuration")]`, or
/// `with = "Option<HumanDuration>"` for an optional one.
pub struct HumanDuration;

impl JsonSchema for HumanDuration {
    fn schema_name() -> Cow<'static, str> {
        "HumanDuration".into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "pattern": DURATION_PATTERN,
            "examples": ["30d", "12h", "1h 30m", "500ms"],
        })
    }
}

/// A schemars transform: a duration's default is written as the spec would write it (`10s`),
/// not as serde serializes a `Duration` (`{"secs": 10, "nanos": 0}`).
pub fn defaults_as_text(schema: &mut Schema) {
    schemars::transform::transform_subschemas(&mut defaults_as_text, schema);
    let is_duration = schema.get("pattern").and_then(|p| p.as_str()) == Some(DURATION_PATTERN);
    let written = schema.get("default").and_then(|default| {
        let secs = default.get("secs")?.as_u64()?;
        let nanos = default.get("nanos")?.as_u64()?;
        Some(Duration::new(secs, u32::try_from(nanos).ok()?))
    });
    if let (true, Some(duration)) = (is_duration, written) {
        schema.insert(
            "default".into(),
            humantime::format_duration(duration).to_string().into(),
        );
    }
}

/// Deserializes `30d`, `90 days` or `500ms`. A bare number is refused: its unit would be a guess.
pub fn deserialize_duration<'de, D: Deserializer<'de>>(de: D) -> Result<Duration, D::Error> {
    match Written::deserialize(de)? {
        Written::Text(text) => parse_duration(&text).map_err(serde::de::Error::custom),
        Written::Number(n) => Err(serde::de::Error::custom(no_unit(n))),
    }
}

fn no_unit(n: f64) -> String {
    format!("`{n}` has no unit; write it like `{n}d`, `{n}h`, `{n}s` or `{n}ms` (e.g. `30d`)")
}

/// A duration as written: text, or a bare number (refused with a helpful message).
#[derive(Deserialize)]
#[serde(untagged)]
enum Written {
    Text(String),
    Number(f64),
}

/// Parses a human duration; the error says what a valid one looks like.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text.trim()).map_err(|e| {
        format!(
            "`{text}` is not a duration ({e}); write it like `30d`, `90 days`, `12h` or `500ms`"
        )
    })
}

/// A duration with the text the spec wrote it as, for records that must show the spec's own
/// words (the manifest shows `lookback: 30d`, not `30days`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrittenDuration {
    pub duration: Duration,
    pub text: String,
}

impl<'de> Deserialize<'de> for WrittenDuration {
    fn deserialize<D: Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        match Written::deserialize(de)? {
            Written::Text(text) => Ok(Self {
                duration: parse_duration(&text).map_err(serde::de::Error::custom)?,
                text: text.trim().to_owned(),
            }),
            Written::Number(n) => Err(serde::de::Error::custom(no_unit(n))),
        }
    }
}

/// Same as [`deserialize_duration`] for optional fields.
pub fn deserialize_optional_duration<'de, D: Deserializer<'de>>(
    de: D,
) -> Result<Option<Duration>, D::Error> {
    #[derive(Deserialize)]
    struct Wrapped(#[serde(deserialize_with = "deserialize_duration")] Duration);
    Ok(Option::<Wrapped>::deserialize(de)?.map(|w| w.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_human_forms() {
        assert_eq!(
            parse_duration("30d").unwrap(),
            Duration::from_secs(30 * 86400)
        );
        assert_eq!(
            parse_duration("90 days").unwrap(),
            Duration::from_secs(90 * 86400)
        );
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert!(parse_duration("30").unwrap_err().contains("30d"));
        assert!(parse_duration("soon").is_err());
    }
}
