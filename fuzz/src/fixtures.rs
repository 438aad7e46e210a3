//! The fixed world every target runs in: the fixture keys and configuration
//! of `edge-revoke-test-support` (the same as the native tests) and a fixed
//! clock.

use edge_revoke_core::config::Config;

pub use edge_revoke_test_support::{API_KEY, AUDIENCE, AUDIENCE_2, ISSUER, NOW, SECRET};

/// `exp` of the seed tokens: 2100-01-01, far beyond `NOW`.
pub const FAR_EXP: u64 = 4_102_444_800;
/// Default `JWT_LEEWAY_SECONDS`.
pub const LEEWAY: u64 = 60;

/// The test configuration: every key type, issuer, two audiences and the
/// invalidation API keys. (`Config` holds `Rc`s, so each thread builds and
/// leaks its own copy; a fuzz process has one thread.)
pub fn config() -> &'static Config {
    thread_local! {
        static CONFIG: &'static Config = Box::leak(Box::new(edge_revoke_test_support::config()));
    }
    CONFIG.with(|config| *config)
}
