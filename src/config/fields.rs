//! The keys a spec struct accepts, read from its serde derive: a source item is read in two
//! parts (the settings every kind shares, then its kind's own), and an unknown key must still be
//! answered with every key the item accepts.

use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};
use std::fmt;

/// The field names `T` declares, or none if `T` is not a struct with named fields.
pub fn struct_fields<'de, T: Deserialize<'de>>() -> &'static [&'static str] {
    match T::deserialize(FieldsOf) {
        Err(Captured(Some(fields))) => fields,
        _ => &[],
    }
}

/// A deserializer that only asks the type for its field list, then stops.
struct FieldsOf;

#[derive(Debug)]
struct Captured(Option<&'static [&'static str]>);

impl fmt::Display for Captured {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("field names captured")
    }
}

impl std::error::Error for Captured {}

impl de::Error for Captured {
    fn custom<M: fmt::Display>(_: M) -> Self {
        Captured(None)
    }
}

impl<'de> Deserializer<'de> for FieldsOf {
    type Error = Captured;

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Captured> {
        Err(Captured(None))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        fields: &'static [&'static str],
        _: V,
    ) -> Result<V::Value, Captured> {
        Err(Captured(Some(fields)))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
        ignored_any
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    #[allow(dead_code)]
    struct Sample {
        months: u32,
        #[serde(rename = "spec")]
        resource_spec: Option<String>,
    }

    #[test]
    fn field_names_come_from_the_derive_as_written_in_yaml() {
        assert_eq!(struct_fields::<Sample>(), ["months", "spec"]);
        assert!(struct_fields::<u32>().is_empty());
    }
}
