//! Human durations in the spec (`30d`, `90 days`, `1h 30m`), parsed by humantime.

use serde::{Deserialize, Deserializer};
use std::time::Duration;

/// Deserializes `30d`, `90 days` or `500ms`. A bare number is refused: its unit would be a guess.
pub fn deserialize_duration<'de, D: Deserializer<'de>>(de: D) -> Result<Duration, D::Error> {
    match Written::deserialize(de)? {
        Written::Text(text) => parse_duration(&text).map_err(serde::de::Error::custom),
        Written::Number(n) => Err(serde::de::Error::custom(format!(
            "`{n}` has no unit; write it like `{n}d`, `{n}h`, `{n}s` or `{n}ms` (e.g. `30d`)"
        ))),
    }
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
