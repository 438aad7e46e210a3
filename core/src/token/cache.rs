//! A bounded cache of verified tokens, keyed by the SHA-256 of the token text.
//!
//! A client reuses its token for many requests, so the signature and claim
//! checks are done once per isolate and reused until the token's `exp` (plus
//! leeway). The cache only replaces *verification*: revocation is still
//! looked up on every request, so a revoked token is never served from here.
//!
//! Eviction is an approximate LRU with O(1) operations: two generations; a hit
//! in the old one is promoted, and when the young one fills, the old one is
//! dropped. At most `max_entries` entries and about `max_bytes` bytes are held.

use crate::primitives::sha256;
use crate::token::VerifiedToken;
use std::cell::RefCell;
use std::collections::HashMap;

type Digest = [u8; 32];

struct Entry {
    token: VerifiedToken,
    /// The first second the token is no longer accepted (`exp + leeway`,
    /// `Rules::rejected_from`).
    rejected_from: u64,
    bytes: usize,
}

#[derive(Default)]
struct Generation {
    map: HashMap<Digest, Entry>,
    bytes: usize,
}

impl Generation {
    fn insert(&mut self, key: Digest, entry: Entry) {
        self.bytes += entry.bytes;
        if let Some(old) = self.map.insert(key, entry) {
            self.bytes -= old.bytes;
        }
    }
    fn remove(&mut self, key: &Digest) -> Option<Entry> {
        let entry = self.map.remove(key)?;
        self.bytes -= entry.bytes;
        Some(entry)
    }
}

/// Verified tokens of this isolate. Single-threaded, like a worker isolate.
pub struct TokenCache {
    young: RefCell<Generation>,
    old: RefCell<Generation>,
    max_entries: usize,
    max_bytes: usize,
}

impl TokenCache {
    /// A cache of at most `max_entries` tokens and about `max_bytes` bytes.
    /// Either bound at 0 disables caching.
    pub fn new(max_entries: usize, max_bytes: usize) -> TokenCache {
        TokenCache {
            young: RefCell::default(),
            old: RefCell::default(),
            max_entries,
            max_bytes,
        }
    }

    fn enabled(&self) -> bool {
        self.max_entries > 0 && self.max_bytes > 0
    }

    /// The verified token for `token`, if cached and still within its expiry.
    pub fn get(&self, token: &str, now: u64) -> Option<VerifiedToken> {
        if !self.enabled() {
            return None;
        }
        let key = sha256(token.as_bytes());
        if let Some(entry) = self.young.borrow().map.get(&key) {
            return (now < entry.rejected_from).then(|| entry.token.clone());
        }
        let entry = self.old.borrow_mut().remove(&key)?;
        if now >= entry.rejected_from {
            return None;
        }
        let token = entry.token.clone();
        self.admit(key, entry);
        Some(token)
    }

    /// Remembers a freshly verified token until `rejected_from`, the first
    /// second it is no longer accepted.
    pub fn insert(&self, token: &str, verified: &VerifiedToken, rejected_from: u64) {
        if !self.enabled() {
            return;
        }
        // Decoded claims are about as large as the token text; count both
        // plus map overhead.
        let bytes = 256 + 2 * token.len();
        if bytes > self.max_bytes / 2 {
            return;
        }
        let entry = Entry {
            token: verified.clone(),
            rejected_from,
            bytes,
        };
        self.admit(sha256(token.as_bytes()), entry);
    }

    fn admit(&self, key: Digest, entry: Entry) {
        let mut young = self.young.borrow_mut();
        // Each generation holds half the budget, so the total stays in bounds.
        let full = young.map.len() >= self.max_entries.div_ceil(2)
            || young.bytes + entry.bytes > self.max_bytes / 2;
        if full && !young.map.contains_key(&key) {
            let retired = std::mem::take(&mut *young);
            *self.old.borrow_mut() = retired;
        }
        self.old.borrow_mut().remove(&key);
        young.insert(key, entry);
    }

    /// Entries held now (both generations).
    pub fn len(&self) -> usize {
        self.young.borrow().map.len() + self.old.borrow().map.len()
    }

    /// True when nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Approximate bytes held now.
    pub fn bytes(&self) -> usize {
        self.young.borrow().bytes + self.old.borrow().bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::block_on;
    use crate::config::Config;
    use crate::primitives::base64url_encode;
    use crate::token::signature::HmacOnly;

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    fn token(n: usize) -> String {
        use jwt_compact::alg::{Hs256, Hs256Key};
        use jwt_compact::Algorithm;
        let header = base64url_encode(br#"{"alg":"HS256"}"#);
        let payload = base64url_encode(format!(r#"{{"exp":2000,"jti":"t{n}"}}"#).as_bytes());
        let message = format!("{header}.{payload}");
        let sig = Hs256.sign(&Hs256Key::new(SECRET.as_bytes()), message.as_bytes());
        let sig = jwt_compact::AlgorithmSignature::as_bytes(&sig);
        format!("{message}.{}", base64url_encode(&sig))
    }

    fn verified(raw: &str) -> VerifiedToken {
        let config =
            Config::from_lookup(|n| (n == "JWT_SECRET").then(|| SECRET.to_owned())).unwrap();
        block_on(crate::token::verify(
            raw,
            &config.rules,
            &config.keys,
            &HmacOnly,
            1000,
        ))
        .unwrap()
    }

    #[test]
    fn hits_until_expiry() {
        let cache = TokenCache::new(10, 1 << 20);
        let raw = token(1);
        assert!(cache.get(&raw, 1000).is_none());
        cache.insert(&raw, &verified(&raw), 2060);
        assert_eq!(cache.get(&raw, 2059).unwrap().id().as_str(), "t1");
        assert!(
            cache.get(&raw, 2060).is_none(),
            "never at or past exp + leeway"
        );
        assert!(cache.get(&format!("{raw}x"), 1000).is_none());
    }

    #[test]
    fn bounded_in_entries_with_recent_hits_kept() {
        let cache = TokenCache::new(4, 1 << 20);
        let tokens: Vec<String> = (0..10).map(token).collect();
        for raw in &tokens[..2] {
            cache.insert(raw, &verified(raw), 2000);
        }
        for raw in &tokens[2..] {
            // Keep token 0 hot.
            assert!(cache.get(&tokens[0], 1000).is_some());
            cache.insert(raw, &verified(raw), 2000);
            assert!(cache.len() <= 4, "{}", cache.len());
        }
        assert!(cache.get(&tokens[0], 1000).is_some(), "hot entry survives");
        assert!(cache.get(&tokens[1], 1000).is_none(), "cold entry evicted");
    }

    #[test]
    fn bounded_in_bytes() {
        let cache = TokenCache::new(1000, 4096);
        for n in 0..100 {
            let raw = token(n);
            cache.insert(&raw, &verified(&raw), 2000);
            assert!(cache.bytes() <= 4096, "{}", cache.bytes());
        }
        assert!(!cache.is_empty());
    }

    #[test]
    fn zero_disables() {
        let cache = TokenCache::new(0, 1 << 20);
        let raw = token(1);
        cache.insert(&raw, &verified(&raw), 2000);
        assert!(cache.get(&raw, 1000).is_none());
        assert!(cache.is_empty());
    }
}
