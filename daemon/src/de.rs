//! Deserialisers shared by the config sections that the features own.

use std::time::Duration;

use serde::{Deserialize, Deserializer};

/// Parses "90s", "15m", "72h", "7d", "0s".
pub fn duration<'de, D: Deserializer<'de>>(de: D) -> Result<Duration, D::Error> {
    let text = String::deserialize(de)?;
    humantime::parse_duration(&text).map_err(|e| {
        serde::de::Error::custom(format!(
            "invalid duration {text:?} ({e}); expected a duration such as \"90s\", \"15m\", \"72h\" or \"7d\""
        ))
    })
}

/// A list of strings given as one string or as a list: `"a@b"` or `["a@b"]`.
pub fn one_or_many<'de, D: Deserializer<'de>>(de: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged, expecting = "a string or a list of strings")]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match OneOrMany::deserialize(de)? {
        OneOrMany::One(s) => vec![s],
        OneOrMany::Many(v) => v,
    })
}

/// [`one_or_many`] for an optional field: absent or null is `None`.
pub fn opt_one_or_many<'de, D: Deserializer<'de>>(de: D) -> Result<Option<Vec<String>>, D::Error> {
    #[derive(Deserialize)]
    struct Wrap(#[serde(deserialize_with = "one_or_many")] Vec<String>);
    Ok(Option::<Wrap>::deserialize(de)?.map(|w| w.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct To {
        #[serde(deserialize_with = "one_or_many")]
        to: Vec<String>,
    }

    #[test]
    fn one_or_many_takes_a_string_or_a_list() {
        let one: To = serde_json::from_str(r#"{"to":"a@example.org"}"#).unwrap();
        assert_eq!(one.to, ["a@example.org"]);
        let many: To = serde_json::from_str(r#"{"to":["a@x.org","b@x.org"]}"#).unwrap();
        assert_eq!(many.to, ["a@x.org", "b@x.org"]);
        let err = serde_json::from_str::<To>(r#"{"to":3}"#).err().unwrap();
        assert!(
            err.to_string().contains("a string or a list of strings"),
            "{err}"
        );
    }
}
