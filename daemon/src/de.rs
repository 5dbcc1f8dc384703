//! Deserialisers shared by the config sections that the features own, and
//! by the request bodies of every frontend.

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

/// One address or a list of them: `"to": "a@b"` or `"to": ["a@b", "c@d"]`.
/// The schema of such a field (`#[schema(value_type = crate::de::Addresses)]`).
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(untagged, expecting = "a string or a list of strings")]
pub enum Addresses {
    One(String),
    Many(Vec<String>),
}

/// Deserialises [`Addresses`] into a list; with `#[serde(default,
/// deserialize_with = "crate::de::one_or_many")]` for optional fields.
pub fn one_or_many<'de, D: Deserializer<'de>>(de: D) -> Result<Vec<String>, D::Error> {
    Ok(match Addresses::deserialize(de)? {
        Addresses::One(s) => vec![s],
        Addresses::Many(v) => v,
    })
}

#[cfg(test)]
mod tests {
    #[derive(Debug, serde::Deserialize)]
    struct To {
        #[serde(default, deserialize_with = "super::one_or_many")]
        to: Vec<String>,
    }

    #[test]
    fn one_or_many_takes_a_string_or_a_list() {
        let to = |j: &str| serde_json::from_str::<To>(j).map(|t| t.to);
        assert_eq!(to(r#"{"to": "a@b"}"#).unwrap(), ["a@b"]);
        assert_eq!(to(r#"{"to": ["a@b", "c@d"]}"#).unwrap(), ["a@b", "c@d"]);
        assert!(to("{}").unwrap().is_empty());
        let e = to(r#"{"to": 3}"#).unwrap_err().to_string();
        assert!(e.contains("a string or a list of strings"), "{e}");
    }
}
