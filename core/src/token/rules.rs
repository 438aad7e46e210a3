//! The rules a token must pass, in one place, in the spirit of
//! jsonwebtoken's `Validation`. [`crate::config::Config`] embeds one, built
//! from the settings; [`crate::token::signature`] takes it.
//!
//! Fixed rules (no setting changes them): the token is at most
//! [`MAX_TOKEN_BYTES`]; the algorithm comes from [`Rules::algorithms`] and the
//! key from the configured keys, never from the token's header (`jwk`, `jku`,
//! `x5u`, `x5c` and `crit` are refused); NumericDates are integers up to the
//! year 9999; claim names are unique; `exp` is required; claims are parsed only
//! after the signature checks.

use crate::keys::Alg;

/// Default of `JWT_LEEWAY_SECONDS`.
pub const DEFAULT_LEEWAY: u64 = 60;
/// Largest `JWT_LEEWAY_SECONDS` accepted.
pub const MAX_LEEWAY: u64 = 3600;
/// Largest token accepted, in bytes; a longer one is not parsed.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;

/// What a token's algorithm and claims must satisfy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rules {
    /// `JWT_ALGORITHMS`: the accepted algorithms. Default: every algorithm the
    /// configured keys support, plus RS*, PS*, ES256 and EdDSA when
    /// `JWT_JWKS_URL` is set (see `Config::from_lookup`).
    pub algorithms: Vec<Alg>,
    /// `JWT_ISSUER`: required `iss`. Default: unset, `iss` not checked.
    pub issuer: Option<String>,
    /// `JWT_AUDIENCE`: comma list; `aud` must contain one. Default: unset,
    /// `aud` not checked.
    pub audiences: Vec<String>,
    /// `JWT_LEEWAY_SECONDS`: clock skew allowed on `exp`, `nbf` and `iat`.
    /// Default: [`DEFAULT_LEEWAY`]; at most [`MAX_LEEWAY`].
    pub leeway: u64,
}

impl Rules {
    /// The default rules for tokens signed with one of `algorithms`: no
    /// issuer or audience check, the default leeway.
    pub fn new(algorithms: Vec<Alg>) -> Rules {
        Rules {
            algorithms,
            issuer: None,
            audiences: Vec::new(),
            leeway: DEFAULT_LEEWAY,
        }
    }

    /// True if `alg` may sign an accepted token.
    pub fn allows(&self, alg: Alg) -> bool {
        self.algorithms.contains(&alg)
    }

    /// The first second at which a token expiring at `exp` is no longer
    /// accepted: `exp` plus the leeway. RFC 7519 §4.1.4: the current time
    /// must be before `exp` (plus the leeway). Every check uses this one
    /// boundary: the token rules, the token cache, logout tokens and SETs,
    /// and the revocation record, which KV keeps until exactly then.
    pub fn rejected_from(&self, exp: u64) -> u64 {
        exp.saturating_add(self.leeway)
    }

    /// True when a token expiring at `exp` is no longer accepted at `now`.
    pub fn expired(&self, exp: u64, now: u64) -> bool {
        now >= self.rejected_from(exp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_named_constants() {
        let rules = Rules::new(vec![Alg::RS256]);
        assert_eq!(rules.leeway, DEFAULT_LEEWAY);
        assert_eq!(rules.issuer, None);
        assert!(rules.audiences.is_empty());
        assert!(rules.allows(Alg::RS256) && !rules.allows(Alg::HS256));
        assert_eq!(rules.rejected_from(100), 160);
        assert_eq!(rules.rejected_from(u64::MAX), u64::MAX);
        assert!(!rules.expired(100, 159), "the last second accepted");
        assert!(rules.expired(100, 160), "rejected from exp + leeway on");
    }
}
