//! serde's messages in the user's words: a spec's author knows "a whole number" and "one of: us,
//! eu", not `u32` or `unknown variant`. Messages serde did not write pass through unchanged.

/// Rewrites one of serde's standard messages (`invalid type: string "six", expected u32`).
pub fn plain_words(message: &str) -> String {
    if let Some(rest) = message
        .strip_prefix("invalid type: ")
        .or_else(|| message.strip_prefix("invalid value: "))
        && let Some((found, expected)) = rest.split_once(", expected ")
    {
        return format!(
            "must be {}, not {}",
            expected_words(expected),
            found_words(found)
        );
    }
    if let Some(rest) = message.strip_prefix("unknown variant ")
        && let Some((variant, expected)) = rest.split_once(", expected ")
    {
        return format!(
            "{variant} is not a known value; use one of: {}",
            listed(expected).join(", ")
        );
    }
    message.to_owned()
}

/// What serde expected (`u32`, `a boolean`, `struct OutputSpec`), as the spec's author says it.
fn expected_words(expected: &str) -> String {
    let words = match expected {
        "u8" | "u16" | "u32" | "u64" | "u128" | "usize" => "a whole number, 0 or more",
        "i8" | "i16" | "i32" | "i64" | "i128" | "isize" => "a whole number",
        "f32" | "f64" => "a number",
        "a boolean" => "true or false",
        "a string" | "a borrowed string" | "a character" => "text",
        "a sequence" => "a list",
        "a map" => "a mapping of keys",
        _ if expected.starts_with("struct ") => "a mapping of keys",
        _ if expected.starts_with("enum ") => "one of its listed values",
        _ => return expected.to_owned(),
    };
    words.to_owned()
}

/// What serde found (`string "six"`, `integer `-3``, `map`), as the spec's author wrote it.
fn found_words(found: &str) -> String {
    for prefix in ["integer ", "floating point ", "boolean ", "character "] {
        if let Some(value) = found.strip_prefix(prefix) {
            return value.to_owned();
        }
    }
    if let Some(text) = found.strip_prefix("string ") {
        return format!("the text {text}");
    }
    match found {
        "map" => "a mapping".to_owned(),
        "sequence" => "a list".to_owned(),
        "unit value" => "empty".to_owned(),
        _ => found.to_owned(),
    }
}

/// serde's list of names: "`a`", "`a` or `b`", "one of `a`, `b`, `c`".
fn listed(expected: &str) -> Vec<&str> {
    let names = expected.strip_prefix("one of ").unwrap_or(expected);
    names
        .split(", ")
        .flat_map(|part| part.split(" or "))
        .map(|name| name.trim_matches('`'))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serde_type_names_become_words() {
        for (serde, plain) in [
            (
                r#"invalid type: string "six", expected u32"#,
                r#"must be a whole number, 0 or more, not the text "six""#,
            ),
            (
                "invalid value: integer `-3`, expected u32",
                "must be a whole number, 0 or more, not `-3`",
            ),
            (
                "invalid type: string \"yes please\", expected a boolean",
                "must be true or false, not the text \"yes please\"",
            ),
            (
                "invalid type: sequence, expected struct OutputSpec",
                "must be a mapping of keys, not a list",
            ),
            (
                "invalid type: map, expected a string",
                "must be text, not a mapping",
            ),
            (
                "unknown variant `uk`, expected one of `us`, `eu`, `sg`, `au`, `in`, `mea`, `jp`",
                "`uk` is not a known value; use one of: us, eu, sg, au, in, mea, jp",
            ),
            (
                "unknown variant `b`, expected `a` or `c`",
                "`b` is not a known value; use one of: a, c",
            ),
            // Messages rollcall wrote itself are left alone.
            (
                "`30` has no unit; write it like `30d`",
                "`30` has no unit; write it like `30d`",
            ),
        ] {
            assert_eq!(plain_words(serde), plain, "{serde}");
        }
    }
}
