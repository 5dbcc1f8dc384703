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
