//! Shared code of the edge-revoke fuzz targets: the fixed configuration, how
//! input bytes become requests, and the invariants each target checks. Every
//! `check` panics when an invariant is violated, which libFuzzer reports as a
//! crash. See `docs/fuzzing.md`.

pub mod fixtures;
pub mod invalidate;
pub mod routes;
pub mod token;
