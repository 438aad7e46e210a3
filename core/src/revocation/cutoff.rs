//! Cutoffs: "every token of this subject (or session, or email address)
//! issued at or before a second is revoked". One type for every kind; only a
//! subject's cutoff can carry the exemption of a `scope=others` sign-out.

use super::UNREADABLE;
use crate::token::TokenId;
use serde::{Deserialize, Serialize, Serializer};

/// Whose tokens a cutoff revokes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CutoffKind {
    /// Every token of a subject (`sub`), under `subject:<sub>`.
    Subject,
    /// Every token of an OpenID Connect session (`sid`), under
    /// `session:<sid>`.
    Session,
    /// Every token whose email claim (`SUBJECT_EMAIL_CLAIM`) is this address,
    /// compared in ASCII lower case, under `email:<address>`: a Global Token
    /// Revocation call that names the user by email.
    Email,
}

impl CutoffKind {
    /// Every kind.
    pub const ALL: [CutoffKind; 3] = [CutoffKind::Subject, CutoffKind::Session, CutoffKind::Email];

    /// The store key prefix.
    pub fn prefix(self) -> &'static str {
        match self {
            CutoffKind::Subject => super::SUBJECT_PREFIX,
            CutoffKind::Session => super::SESSION_PREFIX,
            CutoffKind::Email => super::EMAIL_PREFIX,
        }
    }

    /// The name in `?kind=` and in listed items.
    pub fn as_str(self) -> &'static str {
        match self {
            CutoffKind::Subject => "subject",
            CutoffKind::Session => "session",
            CutoffKind::Email => "email",
        }
    }
}

/// "Every token of `name` issued at or before `cutoff` is revoked", and,
/// from a `scope=others` sign-out of a subject, "every token issued at or
/// before `others.cutoff` is revoked too, except the one token
/// `others.except`".
///
/// The two thresholds are kept apart so that an exemption never lifts a
/// cutoff that has none: a token revoked by `cutoff` stays revoked whatever
/// `others` says. [`Cutoff::merge`] keeps that invariant when two cutoffs of
/// one name meet.
///
/// Stored as `{"sub" (or "sid", or "email"), "cutoff", "others", "by",
/// "route"}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cutoff {
    /// Subject, session or email address.
    pub kind: CutoffKind,
    /// The subject (`sub`), session (`sid`) or email address.
    pub name: String,
    /// Seconds since the epoch: every token with `iat` at or before it is
    /// revoked, with no exemption. `None` when only `others` is set.
    pub cutoff: Option<u64>,
    /// The `scope=others` part of a subject cutoff, when there is one.
    pub others: Option<Exemption>,
    /// Who asked: the caller's `sub`, `idp`, or an admin's.
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
    /// before every cutoff). A cutoff at or after it revokes that token too,
    /// so merging one in ends the exemption.
    #[serde(default)]
    pub except_iat: Option<u64>,
}

/// A cutoff as stored: today's shape, or a subject cutoff in the shape
/// before exemptions had a threshold of their own (`{"cutoff": T,
/// "except": "id"}`, meaning "every token but `id` issued at or before T").
#[derive(Deserialize)]
struct Stored {
    #[serde(default)]
    sub: Option<String>,
    #[serde(default)]
    sid: Option<String>,
    #[serde(default)]
    email: Option<String>,
    cutoff: Option<u64>,
    #[serde(default)]
    others: Option<Exemption>,
    #[serde(default)]
    except: Option<String>,
    by: String,
    route: String,
}

/// A cutoff as written: its name under the member its kind names.
#[derive(Serialize)]
struct Written<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    sub: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sid: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    email: Option<&'a str>,
    cutoff: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    others: Option<&'a Exemption>,
    by: &'a str,
    route: &'a str,
}

impl Serialize for Cutoff {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let name = Some(self.name.as_str());
        let (sub, sid, email) = match self.kind {
            CutoffKind::Subject => (name, None, None),
            CutoffKind::Session => (None, name, None),
            CutoffKind::Email => (None, None, name),
        };
        Written {
            sub,
            sid,
            email,
            cutoff: self.cutoff,
            others: self.others.as_ref(),
            by: &self.by,
            route: &self.route,
        }
        .serialize(serializer)
    }
}

impl Cutoff {
    /// Reads a stored cutoff of `kind` from its JSON value: `None` when it
    /// is not one (another kind's, not the shape, no name).
    pub fn from_value(kind: CutoffKind, value: serde_json::Value) -> Option<Cutoff> {
        Cutoff::from_stored(kind, serde_json::from_value(value).ok()?)
    }

    /// Reads a stored cutoff of `kind` from its JSON text (see
    /// [`Cutoff::from_value`]).
    pub fn from_json(kind: CutoffKind, text: &str) -> Option<Cutoff> {
        Cutoff::from_stored(kind, serde_json::from_str(text).ok()?)
    }

    fn from_stored(kind: CutoffKind, stored: Stored) -> Option<Cutoff> {
        // Exactly one name, the one of its kind.
        let (name, foreign) = match kind {
            CutoffKind::Subject => (stored.sub, [stored.sid, stored.email]),
            CutoffKind::Session => (stored.sid, [stored.sub, stored.email]),
            CutoffKind::Email => (stored.email, [stored.sub, stored.sid]),
        };
        if foreign.iter().any(Option::is_some) {
            return None;
        }
        let name = name?;
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
        // A cutoff revokes something; only a subject's has an exemption.
        if cutoff.is_none() && others.is_none() || kind != CutoffKind::Subject && others.is_some() {
            return None;
        }
        Some(Cutoff {
            kind,
            name,
            cutoff,
            others,
            by: stored.by,
            route: stored.route,
        })
    }

    /// Every token of `name` issued at or before `at`.
    pub fn all(kind: CutoffKind, name: &str, at: u64, by: String, route: String) -> Cutoff {
        Cutoff {
            kind,
            name: name.to_owned(),
            cutoff: Some(at),
            others: None,
            by,
            route,
        }
    }

    /// Every token of subject `sub` issued at or before `at` but the one
    /// `except` (issued at `except_iat`): `scope=others`.
    pub fn others(
        sub: &str,
        at: u64,
        except: &TokenId,
        except_iat: Option<u64>,
        by: String,
        route: String,
    ) -> Cutoff {
        Cutoff {
            kind: CutoffKind::Subject,
            name: sub.to_owned(),
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

    /// Stands for a stored cutoff of `name` this version cannot read: it
    /// revokes every token of `name` (fail closed) until a readable cutoff
    /// replaces it.
    pub fn unreadable(kind: CutoffKind, name: &str) -> Cutoff {
        Cutoff {
            kind,
            name: name.to_owned(),
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

    /// The store key: see [`super::cutoff_key`].
    pub fn key(&self) -> String {
        super::cutoff_key(self.kind, &self.name)
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

    /// Combines a stored cutoff with a new one of the same name. The result
    /// revokes exactly the tokens either of them revokes: no cutoff moves
    /// backwards, and an exemption never survives a cutoff that revokes its
    /// token.
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
    /// When the result revokes what `old` did, `old` itself is returned
    /// (nothing to write). An unreadable stored cutoff revoked every token of
    /// the name: a new cutoff replaces it (repairing the entry), but without
    /// any exemption.
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
        if (cutoff, &others) == (old.cutoff, &old.others) {
            return old;
        }
        Cutoff {
            cutoff,
            others,
            ..new
        }
    }

    /// A copy small enough for KV metadata (at most 1024 bytes): the name and
    /// the caller cut to 256 bytes. The listing shows this copy; enforcement
    /// reads the full value.
    pub fn for_metadata(&self) -> Cutoff {
        Cutoff {
            name: super::cut(&self.name),
            by: super::cut(&self.by),
            ..self.clone()
        }
    }
}

/// True when a token with this `iat` counts as issued at or before `at`.
/// A token without `iat` counts as issued before every cutoff.
fn issued_by(iat: Option<u64>, at: u64) -> bool {
    iat.is_none_or(|iat| iat <= at)
}

/// One page of cutoffs: `(cutoff, expires_at)` items, and where the next
/// page starts (`None` on the last page).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CutoffPage {
    /// The cutoffs on this page, in key order, with when each expires.
    pub items: Vec<(Cutoff, Option<u64>)>,
    /// Where the next page starts.
    pub cursor: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> TokenId {
        TokenId::from_reference(s).unwrap()
    }

    fn cutoff(at: u64, except: Option<&str>) -> Cutoff {
        match except {
            None => Cutoff::all(
                CutoffKind::Subject,
                "alice",
                at,
                "alice".into(),
                "DELETE /api/tokens".into(),
            ),
            Some(except) => exempting(at, except, None),
        }
    }

    /// `scope=others` at `at`, keeping `except`, issued at `iat`.
    fn exempting(at: u64, except: &str, iat: Option<u64>) -> Cutoff {
        Cutoff::others("alice", at, &id(except), iat, "alice".into(), "r".into())
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
        let x = id("x");
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
        assert!(merged.revokes(Some(4), &id("y")));
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
        let ids: Vec<TokenId> = names.iter().map(|n| id(n)).collect();
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
                                None => cutoff(0, None),
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
        let unreadable = Cutoff::unreadable(CutoffKind::Subject, "alice");
        let repaired = Cutoff::merge(Some(unreadable.clone()), exempting(10, "x", Some(5)));
        assert_eq!(thresholds(&repaired), (Some(10), None));
        let repaired = Cutoff::merge(Some(unreadable), cutoff(7, None));
        assert_eq!(repaired, cutoff(7, None));
    }

    /// Cutoffs stored before exemptions had their own threshold read as
    /// they meant: every token but `except` issued at or before `cutoff`.
    #[test]
    fn cutoffs_in_the_earlier_shape_are_read_as_they_meant() {
        let subject = |text: &str| Cutoff::from_json(CutoffKind::Subject, text);
        let old = subject(r#"{"sub":"alice","cutoff":10,"except":"x","by":"alice","route":"r"}"#)
            .unwrap();
        assert_eq!(thresholds(&old), (None, Some((10, "x"))));
        assert!(!old.revokes(Some(5), &id("x")) && old.revokes(Some(5), &id("y")));
        let plain =
            subject(r#"{"sub":"alice","cutoff":10,"except":null,"by":"alice","route":"r"}"#)
                .unwrap();
        assert_eq!(
            plain,
            Cutoff::all(CutoffKind::Subject, "alice", 10, "alice".into(), "r".into())
        );
        // Today's shape wins over a stray `except` beside it.
        let stray = subject(
            r#"{"sub":"alice","cutoff":4,"others":{"cutoff":10,"except":"x","except_iat":5},"except":"y","by":"a","route":"r"}"#,
        )
        .unwrap();
        assert_eq!(thresholds(&stray), (Some(4), Some((10, "x"))));
        // Today's shape round-trips, its name under the member of its kind.
        let both = Cutoff::merge(Some(cutoff(4, None)), exempting(10, "x", Some(5)));
        let text = serde_json::to_string(&both).unwrap();
        assert_eq!(subject(&text).unwrap(), both);
        assert!(!serde_json::to_string(&cutoff(4, None))
            .unwrap()
            .contains("others"));
        let session = Cutoff::all(CutoffKind::Session, "s-1", 7, "idp".into(), "r".into());
        let text = serde_json::to_string(&session).unwrap();
        assert_eq!(text, r#"{"sid":"s-1","cutoff":7,"by":"idp","route":"r"}"#);
        assert_eq!(Cutoff::from_json(CutoffKind::Session, &text), Some(session));
        // Another kind's value, no threshold, or no name is not a cutoff.
        assert_eq!(subject(&text), None);
        assert_eq!(
            subject(r#"{"sub":"a","cutoff":null,"by":"a","route":"r"}"#),
            None
        );
        assert_eq!(subject(r#"{"cutoff":1,"by":"a","route":"r"}"#), None);
        let session_with_others =
            r#"{"sid":"s","cutoff":1,"others":{"cutoff":2,"except":"x"},"by":"a","route":"r"}"#;
        assert_eq!(
            Cutoff::from_json(CutoffKind::Session, session_with_others),
            None
        );
    }

    #[test]
    fn cutoff_rules() {
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
        let at = |cutoff| {
            Cutoff::all(
                CutoffKind::Session,
                "s1",
                cutoff,
                "idp".into(),
                "POST /oidc/backchannel-logout".into(),
            )
        };
        assert_eq!(Cutoff::merge(None, at(10)), at(10));
        assert_eq!(Cutoff::merge(Some(at(20)), at(10)), at(20));
        assert_eq!(Cutoff::merge(Some(at(10)), at(20)), at(20));
        let other = Cutoff {
            by: "alice".into(),
            ..at(20)
        };
        assert_eq!(
            Cutoff::merge(Some(at(20)), other),
            at(20),
            "a tie keeps the stored cutoff"
        );
        let unreadable = Cutoff::unreadable(CutoffKind::Session, "s1");
        assert_eq!(Cutoff::merge(Some(unreadable.clone()), at(10)), at(10));
        let t = id("t");
        assert!(at(10).revokes(Some(10), &t) && at(10).revokes(None, &t));
        assert!(!at(10).revokes(Some(11), &t));
        assert!(unreadable.revokes(Some(u64::MAX - 1), &t));
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
        for kind in CutoffKind::ALL {
            assert!(Cutoff::unreadable(kind, "n").is_unreadable());
        }
    }

    #[test]
    fn metadata_copies_cut_every_name() {
        let long = "x".repeat(300);
        for kind in CutoffKind::ALL {
            let c = Cutoff {
                name: long.clone(),
                by: long.clone(),
                ..Cutoff::all(kind, "n", 1, "b".into(), "r".into())
            }
            .for_metadata();
            assert_eq!((c.name.len(), c.by.len()), (256, 256), "{kind:?}");
            assert!(serde_json::to_vec(&c).unwrap().len() <= 1024);
        }
    }
}
