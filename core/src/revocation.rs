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

/// The cutoffs of one subject: "every token of `sub` issued at or before
/// `cutoff` is revoked", and, from a `scope=others` sign-out, "every token
/// of `sub` issued at or before `others.cutoff` is revoked too, except the
/// one token `others.except`".
///
/// The two thresholds are kept apart so that an exemption never lifts a
/// cutoff that has none: a token revoked by `cutoff` stays revoked whatever
/// `others` says. [`Cutoff::merge`] keeps that invariant when two cutoffs of
/// one subject meet.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "StoredCutoff")]
pub struct Cutoff {
    /// The subject.
    pub sub: String,
    /// Seconds since the epoch: every token with `iat` at or before it is
    /// revoked, with no exemption. `None` when only `others` is set.
    pub cutoff: Option<u64>,
    /// The `scope=others` part, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub others: Option<Exemption>,
    /// Who asked: the caller's `sub`.
    pub by: String,
    /// The route that set it.
    pub route: String,
}

/// "Every token issued at or before `cutoff` is revoked, except `except`":
/// a `scope=others` sign-out, which keeps the calling token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Exemption {
    /// Seconds since the epoch.
    pub cutoff: u64,
    /// The ID of the token kept valid: the caller's.
    pub except: String,
    /// That token's `iat` (`None` when it has none, which counts as issued
    /// before every cutoff). A cutoff of the same subject at or after it
    /// revokes that token too, so merging one in ends the exemption.
    #[serde(default)]
    pub except_iat: Option<u64>,
}

/// A subject cutoff as stored: today's shape, or the shape before exemptions
/// had a threshold of their own (`{"cutoff": T, "except": "id"}`), which
/// meant "every token but `id` issued at or before T".
#[derive(Deserialize)]
struct StoredCutoff {
    sub: String,
    cutoff: Option<u64>,
    #[serde(default)]
    others: Option<Exemption>,
    #[serde(default)]
    except: Option<String>,
    by: String,
    route: String,
}

impl From<StoredCutoff> for Cutoff {
    fn from(stored: StoredCutoff) -> Cutoff {
        let (cutoff, others) = match (stored.except, stored.cutoff) {
            (Some(except), Some(cutoff)) if stored.others.is_none() => (
                None,
                Some(Exemption {
                    cutoff,
                    except,
                    except_iat: None,
                }),
            ),
            _ => (stored.cutoff, stored.others),
        };
        Cutoff {
            sub: stored.sub,
            cutoff,
            others,
            by: stored.by,
            route: stored.route,
        }
    }
}

/// True when a token with this `iat` counts as issued at or before `at`.
/// A token without `iat` counts as issued before every cutoff.
fn issued_by(iat: Option<u64>, at: u64) -> bool {
    iat.is_none_or(|iat| iat <= at)
}

impl Cutoff {
    /// Every token of `sub` issued at or before `at`.
    pub fn all(sub: &str, at: u64, by: String, route: String) -> Cutoff {
        Cutoff {
            sub: sub.to_owned(),
            cutoff: Some(at),
            others: None,
            by,
            route,
        }
    }

    /// Every token of `sub` issued at or before `at` but the one `except`
    /// (issued at `except_iat`): `scope=others`.
    pub fn others(
        sub: &str,
        at: u64,
        except: &TokenId,
        except_iat: Option<u64>,
        by: String,
        route: String,
    ) -> Cutoff {
        Cutoff {
            sub: sub.to_owned(),
            cutoff: None,
            others: Some(Exemption {
                cutoff: at,
                except: except.to_string(),
                except_iat,
            }),
            by,
            route,
        }
    }

    /// Stands for a stored cutoff of `sub` this version cannot read: it
    /// revokes every token of `sub` (fail closed) until a readable cutoff
    /// replaces it.
    pub fn unreadable(sub: &str) -> Cutoff {
        Cutoff {
            sub: sub.to_owned(),
            cutoff: Some(u64::MAX),
            others: None,
            by: UNREADABLE.into(),
            route: UNREADABLE.into(),
        }
    }

    /// True for [`Cutoff::unreadable`].
    pub fn is_unreadable(&self) -> bool {
        self.cutoff == Some(u64::MAX) && self.route == UNREADABLE
    }

    /// The latest second this cutoff reaches, over both thresholds.
    pub fn latest(&self) -> u64 {
        let others = self.others.as_ref().map(|others| others.cutoff);
        self.cutoff.max(others).unwrap_or(0)
    }

    /// True if a token with this `iat` and ID is revoked by the cutoff. A token
    /// without `iat` counts as issued before it.
    pub fn revokes(&self, iat: Option<u64>, id: &TokenId) -> bool {
        let by_all = self.cutoff.is_some_and(|at| issued_by(iat, at));
        by_all
            || self
                .others
                .as_ref()
                .is_some_and(|others| issued_by(iat, others.cutoff) && others.except != id.as_str())
    }

    /// Combines a stored cutoff with a new one. The result revokes exactly
    /// the tokens either of them revokes: no cutoff moves backwards, and an
    /// exemption never survives a cutoff that revokes its token.
    ///
    /// - `cutoff` is the later of the two.
    /// - Of two exemptions, the later one is kept. The earlier one is dropped
    ///   when it kept the same token (the later one covers it), and otherwise
    ///   folded into `cutoff`: the token it kept is revoked by the later
    ///   exemption anyway, unless issued after the earlier one's threshold,
    ///   where the fold does not reach it.
    /// - The kept exemption ends, folded into `cutoff`, when its own token is
    ///   issued at or before `cutoff`, which revokes it anyway; and it is
    ///   dropped when `cutoff` already reaches as far.
    ///
    /// An unreadable stored cutoff revoked every token of the subject: a new
    /// cutoff replaces it (repairing the entry), but without any exemption.
    pub fn merge(old: Option<Cutoff>, new: Cutoff) -> Cutoff {
        let Some(old) = old else {
            return new;
        };
        if old.is_unreadable() {
            let cutoff = Some(new.latest());
            return Cutoff {
                cutoff,
                others: None,
                ..new
            };
        }
        let mut cutoff = old.cutoff.max(new.cutoff);
        let (kept, earlier) = match (old.others.clone(), new.others.clone()) {
            (Some(a), Some(b)) if a.cutoff >= b.cutoff => (Some(a), Some(b)),
            (Some(a), Some(b)) => (Some(b), Some(a)),
            (a, b) => (a.or(b), None),
        };
        if let (Some(kept), Some(earlier)) = (&kept, &earlier) {
            if earlier.except != kept.except {
                cutoff = cutoff.max(Some(earlier.cutoff));
            }
        }
        let others = kept.and_then(|kept| {
            if cutoff.is_some_and(|at| issued_by(kept.except_iat, at)) {
                cutoff = cutoff.max(Some(kept.cutoff));
                None
            } else {
                (cutoff < Some(kept.cutoff)).then_some(kept)
            }
        });
        let merged = Cutoff {
            cutoff,
            others,
            ..new
        };
        if (merged.cutoff, &merged.others) == (old.cutoff, &old.others) {
            old
        } else {
            merged
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
        match except {
            None => Cutoff::all("alice", at, "alice".into(), "DELETE /api/tokens".into()),
            Some(except) => exempting(at, except, None),
        }
    }

    /// `scope=others` at `at`, keeping `except`, issued at `iat`.
    fn exempting(at: u64, except: &str, iat: Option<u64>) -> Cutoff {
        let id = TokenId::from_reference(except).unwrap();
        Cutoff::others("alice", at, &id, iat, "alice".into(), "r".into())
    }

    fn thresholds(c: &Cutoff) -> (Option<u64>, Option<(u64, &str)>) {
        let others = c.others.as_ref().map(|o| (o.cutoff, o.except.as_str()));
        (c.cutoff, others)
    }

    #[test]
    fn cutoffs_never_move_backwards() {
        assert_eq!(Cutoff::merge(None, cutoff(10, None)).cutoff, Some(10));
        assert_eq!(
            Cutoff::merge(Some(cutoff(20, None)), cutoff(10, None)),
            cutoff(20, None)
        );
        // A later exemption keeps the earlier cutoff: its token, issued after
        // it, stays valid; every other token before the exemption is revoked.
        let merged = Cutoff::merge(Some(cutoff(10, None)), exempting(20, "x", Some(15)));
        assert_eq!(thresholds(&merged), (Some(10), Some((20, "x"))));
        // An earlier exemption under a later cutoff adds nothing, nor one at
        // the same second for a token issued after it.
        let merged = Cutoff::merge(Some(cutoff(20, None)), exempting(10, "x", Some(5)));
        assert_eq!(thresholds(&merged), (Some(20), None));
        let merged = Cutoff::merge(Some(cutoff(10, None)), exempting(10, "x", Some(12)));
        assert_eq!(thresholds(&merged), (Some(10), None));
    }

    /// The exemption of `scope=others` never outlives a cutoff that revokes
    /// its token, in either order of arrival.
    #[test]
    fn an_exemption_never_lifts_a_cutoff() {
        let x = TokenId::from_reference("x").unwrap();
        // x (issued at 5) signs out its others at 10; the identity provider's
        // logout of the user, stamped 8, arrives after.
        for (first, second) in [
            (exempting(10, "x", Some(5)), cutoff(8, None)),
            (cutoff(8, None), exempting(10, "x", Some(5))),
        ] {
            let merged = Cutoff::merge(Some(first.clone()), second.clone());
            assert!(merged.revokes(Some(5), &x), "{first:?} then {second:?}");
            assert_eq!(thresholds(&merged), (Some(10), None));
        }
        // A cutoff before x was issued leaves x's exemption in force.
        let merged = Cutoff::merge(Some(exempting(10, "x", Some(5))), cutoff(4, None));
        assert!(!merged.revokes(Some(5), &x));
        assert!(merged.revokes(Some(4), &TokenId::from_reference("y").unwrap()));
        assert_eq!(thresholds(&merged), (Some(4), Some((10, "x"))));
        // Same second, two tokens each keeping itself: neither survives.
        let merged = Cutoff::merge(
            Some(exempting(10, "x", Some(5))),
            exempting(10, "y", Some(6)),
        );
        assert_eq!(thresholds(&merged), (Some(10), None));
        // The same token twice: the later threshold, still kept.
        let merged = Cutoff::merge(
            Some(exempting(10, "x", Some(5))),
            exempting(12, "x", Some(5)),
        );
        assert_eq!(thresholds(&merged), (None, Some((12, "x"))));
        // A token without iat counts as issued before every cutoff.
        let merged = Cutoff::merge(Some(exempting(10, "x", None)), cutoff(1, None));
        assert_eq!(thresholds(&merged), (Some(10), None));
    }

    /// Every pair of cutoffs over a small world of three tokens and three
    /// seconds: the merge revokes exactly the tokens either cutoff revokes.
    #[test]
    fn a_merge_revokes_exactly_what_either_side_revokes() {
        let times = [None, Some(1), Some(2), Some(3)];
        let names = ["x", "y", "z"];
        let ids: Vec<TokenId> = names
            .iter()
            .map(|n| TokenId::from_reference(n).unwrap())
            .collect();
        let mut checked = 0;
        for ix in times {
            for iy in times {
                for iz in times {
                    let iat = [ix, iy, iz];
                    // Every cutoff of this world; an exemption carries its
                    // token's own iat.
                    let mut all = Vec::new();
                    for plain in times {
                        let mut exemptions = vec![None];
                        for at in 1..=3 {
                            for (i, name) in names[..2].iter().enumerate() {
                                exemptions.push(Some((at, *name, iat[i])));
                            }
                        }
                        for others in exemptions {
                            let mut c = match others {
                                Some((at, name, iat)) => exempting(at, name, iat),
                                None => Cutoff::all("alice", 0, "a".into(), "r".into()),
                            };
                            c.cutoff = plain;
                            if c.cutoff.is_some() || c.others.is_some() {
                                all.push(c);
                            }
                        }
                    }
                    for a in &all {
                        for b in &all {
                            let merged = Cutoff::merge(Some(a.clone()), b.clone());
                            for (id, iat) in ids.iter().zip(iat) {
                                let either = a.revokes(iat, id) || b.revokes(iat, id);
                                assert_eq!(
                                    merged.revokes(iat, id),
                                    either,
                                    "{a:?} + {b:?} = {merged:?} for {id} at {iat:?}"
                                );
                                checked += 1;
                            }
                        }
                    }
                }
            }
        }
        assert!(checked > 100_000, "{checked}");
    }

    #[test]
    fn an_unreadable_cutoff_is_replaced_without_an_exemption() {
        let repaired = Cutoff::merge(
            Some(Cutoff::unreadable("alice")),
            exempting(10, "x", Some(5)),
        );
        assert_eq!(thresholds(&repaired), (Some(10), None));
        let repaired = Cutoff::merge(Some(Cutoff::unreadable("alice")), cutoff(7, None));
        assert_eq!(repaired, cutoff(7, None));
    }

    /// Cutoffs stored before exemptions had their own threshold read as
    /// they meant: every token but `except` issued at or before `cutoff`.
    #[test]
    fn cutoffs_in_the_earlier_shape_are_read_as_they_meant() {
        let x = TokenId::from_reference("x").unwrap();
        let y = TokenId::from_reference("y").unwrap();
        let old: Cutoff = serde_json::from_str(
            r#"{"sub":"alice","cutoff":10,"except":"x","by":"alice","route":"r"}"#,
        )
        .unwrap();
        assert_eq!(thresholds(&old), (None, Some((10, "x"))));
        assert!(!old.revokes(Some(5), &x) && old.revokes(Some(5), &y));
        let plain: Cutoff = serde_json::from_str(
            r#"{"sub":"alice","cutoff":10,"except":null,"by":"alice","route":"r"}"#,
        )
        .unwrap();
        assert_eq!(plain, Cutoff::all("alice", 10, "alice".into(), "r".into()));
        // Today's shape wins over a stray `except` beside it.
        let stray: Cutoff = serde_json::from_str(
            r#"{"sub":"alice","cutoff":4,"others":{"cutoff":10,"except":"x","except_iat":5},"except":"y","by":"a","route":"r"}"#,
        )
        .unwrap();
        assert_eq!(thresholds(&stray), (Some(4), Some((10, "x"))));
        // Today's shape round-trips.
        let both = Cutoff::merge(Some(cutoff(4, None)), exempting(10, "x", Some(5)));
        let text = serde_json::to_string(&both).unwrap();
        assert_eq!(serde_json::from_str::<Cutoff>(&text).unwrap(), both);
        assert!(!serde_json::to_string(&cutoff(4, None))
            .unwrap()
            .contains("others"));
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
        assert_eq!(c.latest(), 100);
        let both = Cutoff::merge(Some(cutoff(40, None)), exempting(100, "keep", Some(60)));
        assert!(
            both.revokes(Some(40), &id("keep")),
            "the plain cutoff has no exemption"
        );
        assert!(!both.revokes(Some(60), &id("keep")));
        assert_eq!(both.latest(), 100);
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
            cutoff: Some(u64::MAX),
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
