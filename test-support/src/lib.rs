//! What the native scenario tests (`tests/*.rs`), the fuzz targets (`fuzz/`)
//! and the native benchmark (`bench/native`) share:
//!
//! - [`tokens`]: the fixture keys (`fixtures/test-keys.json`, test-only),
//!   tokens of every algorithm, raw and broken tokens. jwt-compact signs and
//!   base64ct encodes, so nothing here reuses the core's code under test.
//! - [`world`]: the fixture configuration and [`World`], the core with a
//!   fixed clock, driven one request at a time.
//! - [`idp`]: a receiving configuration, logout tokens and SETs as
//!   identity providers send them, and the requests that carry them.
//! - [`store`]: [`FaultKv`], a key-value store whose calls fail or wait as scripted, and
//!   [`drive`], a poll loop for futures that wait.
//!
//! Everything is re-exported at the crate root.

pub mod idp;
pub mod store;
pub mod tokens;
pub mod world;

pub use idp::*;
pub use store::*;
pub use tokens::*;
pub use world::*;
