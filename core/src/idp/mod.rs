//! Revocation driven by the identity provider: the claim rules of OpenID
//! Connect Back-Channel Logout 1.0 logout tokens ([`logout`]), of Shared
//! Signals security event tokens carrying CAEP and RISC events ([`set`]),
//! and of Global Token Revocation assertions and bodies ([`gtr`]), and what
//! each one revokes ([`Effect`]). The signature has been checked
//! before these rules run ([`crate::token::verify_signature`]); this module
//! reads claims only.

pub mod gtr;
pub mod logout;
pub mod set;

pub use logout::{logout_token, LogoutToken, BACKCHANNEL_LOGOUT_EVENT, LOGOUT_TOKEN_MAX_AGE};
pub use set::{
    effect, security_events, Policy, RiskLevel, SecurityEvent, SecurityEvents,
    CAEP_CREDENTIAL_CHANGE, CAEP_RISK_LEVEL_CHANGE, CAEP_SESSION_REVOKED, RISC_ACCOUNT_DISABLED,
    RISC_SESSIONS_REVOKED, RISC_TOKENS_REVOKED, SSF_VERIFICATION,
};

/// What one event revokes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Effect {
    /// Every token of the subject issued at or before `at`.
    Subject {
        /// The subject.
        sub: String,
        /// The cutoff, seconds since the epoch.
        at: u64,
    },
    /// Every token of the session issued at or before `at`.
    Session {
        /// The session.
        sid: String,
        /// The cutoff, seconds since the epoch.
        at: u64,
    },
    /// Nothing: the SSF verification event.
    Nothing,
    /// Nothing, and the reason is logged: an event type or subject format
    /// this worker does not act on.
    Ignored(&'static str),
}
