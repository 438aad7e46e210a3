//! What a revocation is: records, cutoffs and their expiry arithmetic. Where
//! they are kept is [`crate::store`].
//!
//! - One entry per revoked token ID, under `revoked:<id>`. It expires when the
//!   token would stop being accepted anyway (its `exp` plus the leeway), so the
//!   list cleans itself.
//! - One entry per signed-out subject, under `subject:<sub>`: a [`Cutoff`].
//!   Tokens of that subject issued at or before the cutoff are rejected. It
//!   expires after `MAX_TOKEN_LIFETIME_SECONDS`, when every such token has
//!   expired anyway.

use crate::token::TokenId;
use serde::{Deserialize, Serialize};

/// Prefix of revocation keys in the store.
pub const KEY_PREFIX: &str = "revoked:";
/// Prefix of subject cutoff keys in the store.
pub const SUBJECT_PREFIX: &str = "subject:";
/// Prefix of session cutoff keys in the store.
pub const SESSION_PREFIX: &str = "session:";
/// Workers KV refuses an expiration less than this many seconds ahead.
pub const MIN_EXPIRY_AHEAD: u64 = 60;
/// `reason`, `by` and `route` of an entry this version cannot read.
pub const UNREADABLE: &str = "unreadable";

/// The store key of a token ID.
pub fn store_key(id: &TokenId) -> String {
    format!("{KEY_PREFIX}{id}")
}

/// The store key of a subject: `subject:<sub>` for a short, printable `sub`,
/// else `subject:#<base64url SHA-256 of sub>` (store keys are size-limited).
pub fn subject_key(sub: &str) -> String {
    named_key(SUBJECT_PREFIX, sub)
}

/// The store key of a session: `session:<sid>`, hashed like a subject's.
pub fn session_key(sid: &str) -> String {
    named_key(SESSION_PREFIX, sid)
}

fn named_key(prefix: &str, name: &str) -> String {
    let plain =
        name.len() <= 256 && !name.starts_with('#') && !name.chars().any(|c| c.is_control());
    if plain {
        format!("{prefix}{name}")
    } else {
        let digest = crate::primitives::sha256(name.as_bytes());
        format!("{prefix}#{}", crate::primitives::base64url_encode(&digest))
    }
}

/// "Every token of `sub` issued at or before `cutoff` is revoked", except
/// the one token `except` (the caller's, for `scope=others`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cutoff {
    /// The subject.
    pub sub: String,
    /// Seconds since the epoch; tokens with `iat` at or before it are revoked.
    pub cutoff: u64,
    /// The token ID kept valid, if any.
    pub except: Option<String>,
    /// Who asked: the caller's `sub`.
    pub by: String,
    /// The route that set it.
    pub route: String,
}

impl Cutoff {
    /// Stands for a stored cutoff of `sub` this version cannot read: it
    /// revokes every token of `sub` (fail closed) until a readable cutoff
    /// replaces it.
    pub fn unreadable(sub: &str) -> Cutoff {
        Cutoff {
            sub: sub.to_owned(),
            cutoff: u64::MAX,
            except: None,
            by: UNREADABLE.into(),
            route: UNREADABLE.into(),
        }
    }

    /// True for [`Cutoff::unreadable`].
    pub fn is_unreadable(&self) -> bool {
        self.cutoff == u64::MAX && self.route == UNREADABLE
    }

    /// True if a token with this `iat` and ID is revoked by the cutoff. A token
    /// without `iat` counts as issued before it.
    pub fn revokes(&self, iat: Option<u64>, id: &TokenId) -> bool {
        iat.is_none_or(|iat| iat <= self.cutoff) && self.except.as_deref() != Some(id.as_str())
    }

    /// Combines a stored cutoff with a new one. The later cutoff wins and a
    /// cutoff never moves backwards. At the same second, an exemption
    /// survives only if both keep the same token.
    ///
    /// An unreadable stored cutoff is replaced, not merged: a new sign-out
    /// repairs the entry instead of locking the subject out for good.
    pub fn merge(old: Option<Cutoff>, new: Cutoff) -> Cutoff {
        match old.filter(|old| !old.is_unreadable()) {
            Some(old) if old.cutoff > new.cutoff => old,
            Some(old) if old.cutoff == new.cutoff && old.except != new.except => Cutoff {
                except: None,
                ..new
            },
            _ => new,
        }
    }
}

/// "Every token of session `sid` issued at or before `cutoff` is revoked":
/// an OpenID Connect session ended (sign-out with `scope=session`, a
/// back-channel logout, a CAEP `session-revoked` event).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionCutoff {
    /// The session (the tokens' `sid` claim).
    pub sid: String,
    /// Seconds since the epoch; tokens with `iat` at or before it are revoked.
    pub cutoff: u64,
    /// Who asked: the caller's `sub`, or the identity provider.
    pub by: String,
    /// The route that set it.
    pub route: String,
}

impl SessionCutoff {
    /// Stands for a stored session cutoff this version cannot read: it
    /// revokes every token of the session until a readable one replaces it.
    pub fn unreadable(sid: &str) -> SessionCutoff {
        SessionCutoff {
            sid: sid.to_owned(),
            cutoff: u64::MAX,
            by: UNREADABLE.into(),
            route: UNREADABLE.into(),
        }
    }

    /// True for [`SessionCutoff::unreadable`].
    pub fn is_unreadable(&self) -> bool {
        self.cutoff == u64::MAX && self.route == UNREADABLE
    }

    /// True if a token with this `iat` is revoked; one without `iat` counts
    /// as issued before the cutoff.
    pub fn revokes(&self, iat: Option<u64>) -> bool {
        iat.is_none_or(|iat| iat <= self.cutoff)
    }

    /// The later cutoff wins; a cutoff never moves backwards, and an
    /// unreadable stored one is replaced. At the same second the stored one
    /// stays, so nothing needs writing.
    pub fn merge(old: Option<SessionCutoff>, new: SessionCutoff) -> SessionCutoff {
        match old.filter(|old| !old.is_unreadable()) {
            Some(old) if old.cutoff >= new.cutoff => old,
            _ => new,
        }
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
fn cut(s: &str) -> String {
    let mut end = s.len().min(256);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_owned()
}

/// A subject or session cutoff, as the admin listing shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum AnyCutoff {
    /// `subject:<sub>`.
    Subject(Cutoff),
    /// `session:<sid>`.
    Session(SessionCutoff),
}

/// Which cutoffs a listing pages through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CutoffKind {
    /// Subject cutoffs (`subject:` keys).
    Subject,
    /// Session cutoffs (`session:` keys).
    Session,
}

impl CutoffKind {
    /// The store key prefix.
    pub fn prefix(self) -> &'static str {
        match self {
            CutoffKind::Subject => SUBJECT_PREFIX,
            CutoffKind::Session => SESSION_PREFIX,
        }
    }
    /// The name in `?kind=` and in listed items.
    pub fn as_str(self) -> &'static str {
        match self {
            CutoffKind::Subject => "subject",
            CutoffKind::Session => "session",
        }
    }
}

impl AnyCutoff {
    /// A copy small enough for KV metadata: names cut to 256 bytes. The
    /// listing shows this copy; enforcement reads the full value.
    pub fn for_metadata(&self) -> AnyCutoff {
        match self {
            AnyCutoff::Subject(c) => AnyCutoff::Subject(Cutoff {
                sub: cut(&c.sub),
                by: cut(&c.by),
                ..c.clone()
            }),
            AnyCutoff::Session(c) => AnyCutoff::Session(SessionCutoff {
                sid: cut(&c.sid),
                by: cut(&c.by),
                ..c.clone()
            }),
        }
    }
}

/// One page of cutoffs: `(cutoff, expires_at)` items, and where the next
/// page starts (`None` on the last page).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CutoffPage {
    /// The cutoffs on this page, in key order, with when each expires.
    pub items: Vec<(AnyCutoff, Option<u64>)>,
    /// Where the next page starts.
    pub cursor: Option<String>,
}

/// When a revocation entry may be dropped: `exp + leeway` when the expiry is
/// known, else `now + max_lifetime`; never sooner than KV's 60 s minimum.
pub fn expires_at(exp: Option<u64>, leeway: u64, max_lifetime: u64, now: u64) -> u64 {
    let natural = match exp {
        Some(exp) => exp.saturating_add(leeway),
        None => now.saturating_add(max_lifetime),
    };
    natural.max(now + MIN_EXPIRY_AHEAD)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

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
        // No exp: the configured lifetime.
        assert_eq!(expires_at(None, 60, 86_400, 1000), 87_400);
        assert_eq!(expires_at(None, 60, 10, 1000), 1060);
        // No overflow near the end of time.
        assert_eq!(expires_at(Some(u64::MAX), 60, 1, 0), u64::MAX);
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
        let long = "x".repeat(300);
        let subject = AnyCutoff::Subject(Cutoff {
            sub: long.clone(),
            by: long.clone(),
            ..cutoff(1, None)
        })
        .for_metadata();
        let AnyCutoff::Subject(subject) = subject else {
            panic!("still a subject cutoff");
        };
        assert_eq!((subject.sub.len(), subject.by.len()), (256, 256));
        let session = AnyCutoff::Session(SessionCutoff {
            sid: long.clone(),
            cutoff: 1,
            by: long,
            route: "r".into(),
        })
        .for_metadata();
        let AnyCutoff::Session(session) = session else {
            panic!("still a session cutoff");
        };
        assert_eq!((session.sid.len(), session.by.len()), (256, 256));
    }

    fn cutoff(at: u64, except: Option<&str>) -> Cutoff {
        Cutoff {
            sub: "alice".into(),
            cutoff: at,
            except: except.map(str::to_owned),
            by: "alice".into(),
            route: "DELETE /api/tokens".into(),
        }
    }

    #[test]
    fn cutoffs_never_move_backwards() {
        assert_eq!(Cutoff::merge(None, cutoff(10, None)).cutoff, 10);
        assert_eq!(
            Cutoff::merge(Some(cutoff(20, None)), cutoff(10, Some("x"))),
            cutoff(20, None)
        );
        assert_eq!(
            Cutoff::merge(Some(cutoff(10, None)), cutoff(20, Some("x"))),
            cutoff(20, Some("x"))
        );
        // Same second: an exemption survives only if both agree.
        assert_eq!(
            Cutoff::merge(Some(cutoff(10, Some("x"))), cutoff(10, None)).except,
            None
        );
        assert_eq!(
            Cutoff::merge(Some(cutoff(10, None)), cutoff(10, Some("x"))).except,
            None
        );
        assert_eq!(
            Cutoff::merge(Some(cutoff(10, Some("x"))), cutoff(10, Some("x")))
                .except
                .as_deref(),
            Some("x")
        );
    }

    #[test]
    fn cutoff_rules() {
        let id = |s| TokenId::from_reference(s).unwrap();
        let c = cutoff(100, Some("keep"));
        assert!(c.revokes(Some(100), &id("t")), "issued at the cutoff");
        assert!(c.revokes(Some(50), &id("t")));
        assert!(c.revokes(None, &id("t")), "no iat counts as before");
        assert!(!c.revokes(Some(101), &id("t")));
        assert!(!c.revokes(Some(50), &id("keep")), "the exempt token");
    }

    #[test]
    fn session_cutoffs_merge_by_max_and_replace_unreadable_ones() {
        let at = |cutoff| SessionCutoff {
            sid: "s1".into(),
            cutoff,
            by: "idp".into(),
            route: "POST /oidc/backchannel-logout".into(),
        };
        assert_eq!(SessionCutoff::merge(None, at(10)), at(10));
        assert_eq!(SessionCutoff::merge(Some(at(20)), at(10)), at(20));
        assert_eq!(SessionCutoff::merge(Some(at(10)), at(20)), at(20));
        let other = SessionCutoff {
            by: "alice".into(),
            ..at(20)
        };
        assert_eq!(
            SessionCutoff::merge(Some(at(20)), other),
            at(20),
            "a tie keeps the stored cutoff"
        );
        assert_eq!(
            SessionCutoff::merge(Some(SessionCutoff::unreadable("s1")), at(10)),
            at(10)
        );
        assert!(at(10).revokes(Some(10)) && at(10).revokes(None));
        assert!(!at(10).revokes(Some(11)));
        assert!(SessionCutoff::unreadable("s1").revokes(Some(u64::MAX - 1)));
        assert_eq!(session_key("abc"), "session:abc");
        assert!(session_key(&"s".repeat(300)).starts_with("session:#"));
    }

    /// Each half of an unreadable marker alone is an ordinary entry.
    #[test]
    fn only_the_whole_marker_is_unreadable() {
        let late = Cutoff {
            cutoff: u64::MAX,
            ..cutoff(10, None)
        };
        let named = Cutoff {
            route: UNREADABLE.into(),
            ..cutoff(10, None)
        };
        assert!(!late.is_unreadable() && !named.is_unreadable());
        assert!(Cutoff::unreadable("alice").is_unreadable());
        let session = SessionCutoff::unreadable("s");
        assert!(session.is_unreadable());
        assert!(!SessionCutoff {
            cutoff: 10,
            ..session.clone()
        }
        .is_unreadable());
        assert!(!SessionCutoff {
            route: "r".into(),
            ..session
        }
        .is_unreadable());
        let unread = Record::unreadable("t".into());
        assert!(unread.is_unreadable());
        assert!(!Record {
            revoked_at: 1,
            ..unread.clone()
        }
        .is_unreadable());
        assert!(!Record {
            reason: "admin".into(),
            ..unread
        }
        .is_unreadable());
    }

    #[test]
    fn subject_keys_stay_small() {
        assert_eq!(subject_key("alice"), "subject:alice");
        let long = subject_key(&"x".repeat(300));
        assert!(long.starts_with("subject:#") && long.len() == 9 + 43);
        assert_ne!(subject_key("#a"), "subject:#a");
        assert!(subject_key("a\nb").starts_with("subject:#"));
    }
}
