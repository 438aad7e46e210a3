//! Revocations: what they are, how they are kept in a key-value store, and
//! the rules of reading and writing them. The worker's Workers KV binding
//! moves text ([`Kv`]); everything it means is decided here.
//!
//! | module | holds |
//! |---|---|
//! | (here) | records ([`Record`], [`RevokeReason`]), store key names, expiry arithmetic |
//! | [`cutoff`] | cutoffs of a subject or a session ([`Cutoff`]), and how two merge |
//! | [`stored`] | the stored text of records and cutoffs, KV's list answers, what an entry we cannot read counts as |
//! | [`kv`] | [`Kv`]: all the worker asks of a key-value store |
//! | [`recent`] | this isolate's own writes (read-your-writes), and the recheck window |
//! | [`store`] | [`Revocations`]: one bulk read per check, writes with retries and merges, listings |
//! | [`journal`] | the revocation journal (a Durable Object): ordered entries, carried to KV, retained until every location's KV has them |
//! | [`mirror`] | one isolate's copy of the journal's tail, and the KV answers it lets the isolate reuse |
//! | [`follow`] | when an isolate syncs its mirror, from where, and what it does when the journal is out of reach |
//!
//! - One entry per revoked token ID, under `revoked:<id>`. It expires when the
//!   token would stop being accepted anyway (its `exp` plus the leeway), so the
//!   list cleans itself.
//! - One entry per signed-out subject, under `subject:<sub>`, and per ended
//!   session, under `session:<sid>`, and per email address a Global Token
//!   Revocation call named, under `email:<address>`: a [`Cutoff`]. It expires when every token
//!   it revokes has expired anyway.

pub mod cutoff;
pub mod follow;
pub mod journal;
pub mod kv;
#[cfg(any(test, feature = "test-support"))]
pub mod memory;
#[cfg(any(test, feature = "test-support"))]
pub mod memory_journal;
pub mod mirror;
pub mod recent;
pub mod store;
pub mod stored;

pub use cutoff::{Cutoff, CutoffKind, CutoffPage, Exemption};
pub use follow::{Follower, JournalLink, NoJournal};
pub use journal::{Change, Journal, JournalStore};
pub use kv::Kv;
pub use recent::RecentRevocations;
pub use store::{Found, Lifetimes, Names, Revocations, WRITE_BACKOFF_MS};

use crate::token::TokenId;
use serde::{Deserialize, Serialize};

/// Prefix of revocation keys in the store.
pub const KEY_PREFIX: &str = "revoked:";
/// Prefix of subject cutoff keys in the store.
pub const SUBJECT_PREFIX: &str = "subject:";
/// Prefix of session cutoff keys in the store.
pub const SESSION_PREFIX: &str = "session:";
/// Prefix of email cutoff keys in the store.
pub const EMAIL_PREFIX: &str = "email:";
/// Workers KV refuses an expiration less than this many seconds ahead.
pub const MIN_EXPIRY_AHEAD: u64 = 60;
/// `reason`, `by` and `route` of an entry this version cannot read.
pub const UNREADABLE: &str = "unreadable";

/// The store key of a token ID.
pub fn store_key(id: &TokenId) -> String {
    format!("{KEY_PREFIX}{id}")
}

/// The store key of a cutoff: `subject:<sub>` (or `session:<sid>`) for a
/// short, printable name, else `subject:#<base64url SHA-256 of the name>`
/// (store keys are size-limited).
pub fn cutoff_key(kind: CutoffKind, name: &str) -> String {
    let prefix = kind.prefix();
    let plain =
        name.len() <= 256 && !name.starts_with('#') && !name.chars().any(|c| c.is_control());
    if plain {
        format!("{prefix}{name}")
    } else {
        let digest = crate::primitives::sha256(name.as_bytes());
        format!("{prefix}#{}", crate::primitives::base64url_encode(&digest))
    }
}

/// One page of revocation records.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Page {
    /// Records on this page, in key order.
    pub items: Vec<Listed>,
    /// Where the next page starts; `None` on the last page.
    pub cursor: Option<String>,
}

/// A listed revocation: its record and when the entry expires.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Listed {
    /// The stored record (from metadata).
    pub record: Record,
    /// When the entry expires, seconds since the epoch, if known.
    pub expires_at: Option<u64>,
}

/// Why a token or subject was revoked: a record's `reason`, and the
/// `reason` of the log line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RevokeReason {
    /// The holder signed its own token out.
    SignOut,
    /// The holder signed out every token of its subject.
    SignOutGlobal,
    /// The holder signed out every other token of its subject.
    SignOutOthers,
    /// The holder signed out every token of its session.
    SignOutSession,
    /// The identity provider ended a session or a user's sessions
    /// (OpenID Connect Back-Channel Logout).
    BackchannelLogout,
    /// A Shared Signals transmitter reported an event (CAEP or RISC).
    SecurityEvent,
    /// An admin revoked another token.
    Admin,
    /// An admin signed a subject out everywhere.
    AdminSignOut,
    /// A backend service invalidated a token with an API key.
    Service,
    /// An OAuth client revoked a token (RFC 7009).
    OAuthRevoke,
    /// An identity provider or an admin signed a user out through the
    /// Global Token Revocation endpoint.
    GlobalTokenRevocation,
    /// A Global Token Revocation assertion was used, and may not be used
    /// again (its `jti`, kept until it expires).
    AssertionUsed,
}

impl RevokeReason {
    /// The stored and logged name.
    pub fn as_str(self) -> &'static str {
        match self {
            RevokeReason::SignOut => "sign_out",
            RevokeReason::SignOutGlobal => "sign_out_global",
            RevokeReason::SignOutOthers => "sign_out_others",
            RevokeReason::SignOutSession => "sign_out_session",
            RevokeReason::BackchannelLogout => "backchannel_logout",
            RevokeReason::SecurityEvent => "security_event",
            RevokeReason::Admin => "admin",
            RevokeReason::AdminSignOut => "admin_sign_out",
            RevokeReason::Service => "service",
            RevokeReason::OAuthRevoke => "oauth_revoke",
            RevokeReason::GlobalTokenRevocation => "global_token_revocation",
            RevokeReason::AssertionUsed => "assertion_used",
        }
    }
}

/// What is stored for a revoked token. Never the token itself.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// The token ID (its `jti`, or the SHA-256 derived ID).
    pub jti: String,
    /// When it was revoked, seconds since the epoch.
    pub revoked_at: u64,
    /// The token's `exp`, when known.
    pub exp: Option<u64>,
    /// The token's `sub`, when known.
    pub sub: Option<String>,
    /// Why: `sign_out`, `admin` or `service`.
    pub reason: String,
    /// Who: the caller's `sub`, or `api-key`.
    pub by: String,
    /// The route that revoked it, e.g. `DELETE /api/tokens`.
    pub route: String,
}

impl Record {
    /// Stands for a stored revocation of `jti` this version cannot read:
    /// still a revocation.
    pub fn unreadable(jti: String) -> Record {
        Record {
            jti,
            revoked_at: 0,
            exp: None,
            sub: None,
            reason: UNREADABLE.into(),
            by: UNREADABLE.into(),
            route: UNREADABLE.into(),
        }
    }

    /// True for [`Record::unreadable`].
    pub fn is_unreadable(&self) -> bool {
        self.revoked_at == 0 && self.reason == UNREADABLE
    }

    /// A copy small enough for KV metadata (at most 1024 bytes): long
    /// subjects and callers are cut to 256 bytes.
    pub fn for_metadata(&self) -> Record {
        Record {
            sub: self.sub.as_deref().map(cut),
            by: cut(&self.by),
            ..self.clone()
        }
    }
}

/// At most 256 bytes of `s`, cut at a character boundary: KV metadata holds
/// at most 1024 bytes.
pub(crate) fn cut(s: &str) -> String {
    let mut end = s.len().min(256);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_owned()
}

/// When a revocation entry may be dropped: when its token is no longer
/// accepted anyway. That is `exp + leeway` when the expiry is known (the
/// token is rejected from that second on, `Rules::rejected_from`). For a
/// bare ID it is `now + max_lifetime + 2 * leeway`: the token was issued at
/// most the leeway ahead of now (its `iat` is accepted that far ahead),
/// lives at most `max_lifetime`, and is accepted the leeway past its `exp`.
/// Never sooner than KV's 60 s minimum.
pub fn expires_at(exp: Option<u64>, leeway: u64, max_lifetime: u64, now: u64) -> u64 {
    let natural = match exp {
        Some(exp) => exp.saturating_add(leeway),
        None => now
            .saturating_add(max_lifetime)
            .saturating_add(leeway.saturating_mul(2)),
    };
    natural.max(now + MIN_EXPIRY_AHEAD)
}

/// When a cutoff reaching `latest` may be dropped: every token it revokes
/// was issued at or before `latest`, lives at most `max_lifetime`, and is
/// accepted the leeway past its `exp`. Never sooner than KV's 60 s minimum.
pub fn cutoff_expires_at(latest: u64, leeway: u64, max_lifetime: u64, now: u64) -> u64 {
    latest
        .saturating_add(max_lifetime)
        .saturating_add(leeway)
        .max(now + MIN_EXPIRY_AHEAD)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The token ID `s` (for the revocation modules' tests).
    pub(crate) fn id(s: &str) -> TokenId {
        TokenId::from_reference(s).unwrap()
    }

    /// A sign-out of `jti` by alice at `at`, its token expiring 600 s later.
    pub(crate) fn revoked_at(jti: &str, at: u64) -> Record {
        Record {
            revoked_at: at,
            exp: Some(at + 600),
            ..record(jti)
        }
    }

    /// A record of `jti`, revoked at 1000 (for this module's and the store's tests).
    pub(crate) fn record(jti: &str) -> Record {
        Record {
            jti: jti.into(),
            revoked_at: 1000,
            exp: Some(5000),
            sub: Some("alice".into()),
            reason: "sign_out".into(),
            by: "alice".into(),
            route: "DELETE /api/tokens".into(),
        }
    }

    #[test]
    fn expiry_follows_the_token() {
        // exp + leeway when that is more than 60 s ahead.
        assert_eq!(expires_at(Some(5000), 60, 86_400, 1000), 5060);
        // Clamped to now + 60 for a token about to expire.
        assert_eq!(expires_at(Some(1010), 0, 86_400, 1000), 1060);
        assert_eq!(expires_at(Some(990), 30, 86_400, 1000), 1060);
        // No exp: the configured lifetime, from an iat up to the leeway
        // ahead, plus the leeway past exp.
        assert_eq!(expires_at(None, 60, 86_400, 1000), 87_520);
        assert_eq!(expires_at(None, 0, 10, 1000), 1060);
        assert_eq!(expires_at(None, 30, 60, 1000), 1120);
        // No overflow near the end of time.
        assert_eq!(expires_at(Some(u64::MAX), 60, 1, 0), u64::MAX);
    }

    #[test]
    fn a_cutoff_lasts_as_long_as_the_tokens_it_revokes() {
        // A token issued at the cutoff (1000) lives 60 s and is accepted 30 s
        // past its exp: until 1090.
        assert_eq!(cutoff_expires_at(1000, 30, 60, 1000), 1090);
        assert_eq!(cutoff_expires_at(1000, 0, 10, 1000), 1060, "KV's floor");
        // An identity provider's cutoff stamped in the past.
        assert_eq!(cutoff_expires_at(900, 60, 86_400, 1000), 87_360);
        assert_eq!(cutoff_expires_at(u64::MAX, 60, 1, 0), u64::MAX);
    }

    #[test]
    fn metadata_fits_in_kv_limits() {
        let mut big = record(&"j".repeat(256));
        big.sub = Some("é".repeat(2000));
        big.by = "b".repeat(5000);
        let small = big.for_metadata();
        assert!(serde_json::to_vec(&small).unwrap().len() <= 1024);
        assert_eq!(small.jti, big.jti);
        assert!(big.sub.unwrap().starts_with(small.sub.as_deref().unwrap()));
    }

    #[test]
    fn names_are_cut_at_a_character_boundary() {
        // Byte 256 falls inside the 128th 'é': the cut backs up one byte.
        let odd = format!("a{}", "é".repeat(200));
        let cut_odd = cut(&odd);
        assert_eq!(cut_odd.len(), 255);
        assert!(odd.starts_with(&cut_odd));
        assert_eq!(cut("short"), "short");
    }

    #[test]
    fn cutoff_keys_stay_small() {
        let subject = |name: &str| cutoff_key(CutoffKind::Subject, name);
        assert_eq!(subject("alice"), "subject:alice");
        let long = subject(&"x".repeat(300));
        assert!(long.starts_with("subject:#") && long.len() == 9 + 43);
        assert_ne!(subject("#a"), "subject:#a");
        assert!(subject("a\nb").starts_with("subject:#"));
        assert_eq!(cutoff_key(CutoffKind::Session, "abc"), "session:abc");
        assert!(cutoff_key(CutoffKind::Session, &"s".repeat(300)).starts_with("session:#"));
    }
}
