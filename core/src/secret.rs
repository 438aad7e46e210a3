//! Secret material (HMAC keys, API keys, OAuth client secrets) behind a type
//! whose `Debug` never shows it and whose comparisons run in constant time.

use crate::primitives::constant_time_eq;
use std::fmt;

/// Bytes that must never reach a log line. `{:?}` prints `Secret(<redacted>)`;
/// equality is constant-time in the bytes (it depends on the lengths only).
#[derive(Clone, Default)]
pub struct Secret(Box<[u8]>);

impl Secret {
    /// Wraps secret bytes.
    pub fn new(bytes: impl Into<Box<[u8]>>) -> Secret {
        Secret(bytes.into())
    }

    /// The secret itself, for the one place that uses it (an HMAC key).
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// True if `presented` equals the secret, compared in constant time.
    pub fn matches(&self, presented: &[u8]) -> bool {
        constant_time_eq(&self.0, presented)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl From<&str> for Secret {
    fn from(text: &str) -> Secret {
        Secret::new(text.as_bytes())
    }
}

impl PartialEq for Secret {
    fn eq(&self, other: &Secret) -> bool {
        self.matches(&other.0)
    }
}

impl Eq for Secret {}

impl PartialEq<&str> for Secret {
    fn eq(&self, other: &&str) -> bool {
        self.matches(other.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_bytes() {
        let secret = Secret::from("hunter2-0123456789");
        let shown = format!("{secret:?} {:?}", vec![secret.clone()]);
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("<redacted>"));
        assert_eq!(secret.expose(), b"hunter2-0123456789");
    }

    #[test]
    fn equality_is_exact() {
        let secret = Secret::from("abc");
        assert!(secret.matches(b"abc"));
        assert!(!secret.matches(b"abd") && !secret.matches(b"ab") && !secret.matches(b"abcd"));
        assert_eq!(secret, "abc");
        assert_ne!(secret, Secret::from("abC"));
    }
}
