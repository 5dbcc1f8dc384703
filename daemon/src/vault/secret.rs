//! [`Secret`]: a string that never shows itself and is wiped when dropped.

use zeroize::Zeroizing;

/// A secret value (refresh token, app password, passphrase).
///
/// `Debug` and `Display` print `***`; the only way to the text is
/// [`Secret::expose`], so a secret cannot reach a log line by accident.
/// The buffer is overwritten with zeros when the value is dropped.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Zeroizing<String>);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(Zeroizing::new(value.into()))
    }

    /// The secret text. Never log it, never put it in an error.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<String> for Secret {
    /// Takes the buffer over (no copy is left behind to wipe).
    fn from(value: String) -> Secret {
        Secret(Zeroizing::new(value))
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl std::fmt::Display for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacted_in_debug_and_display() {
        let s = Secret::new("hunter2-refresh-token");
        assert_eq!(format!("{s:?}"), "Secret(***)");
        assert_eq!(format!("{s}"), "***");
        assert_eq!(format!("{:?}", Some(&s)), "Some(Secret(***))");
        assert_eq!(s.expose(), "hunter2-refresh-token");
    }

    #[test]
    fn from_string_keeps_the_value() {
        let s = Secret::from("app-password".to_owned());
        assert_eq!(s.expose(), "app-password");
        assert!(!s.is_empty());
        assert_eq!(s.clone(), s);
    }
}
