//! # stockd
//!
//! An in-memory inventory availability engine: how many of every SKU sit at every
//! location, what can be sold and from where, and atomic reservations that never
//! oversell.
//!
//! ## Map of the crate
//! - [`model`]: the vocabulary: validated names, [`Timestamp`], positions and their
//!   arithmetic, locations, channels and kits. Plain data, no locks.
//! - [`engine`]: the [`Engine`], the one API that binaries and tests call: the
//!   sharded stock table, the reservation table with its deadline heaps, every
//!   write ([`Operation`]), every read, bulk loads and `verify`.
//! - [`feed`]: the availability change feed: subscriptions to SKUs, channels or
//!   everything, coalesced events, bounded per subscriber, fed by the engine's
//!   change tracker on one hub thread.
//! - [`limits`]: every bound the engine enforces.
//! - [`codec`]: the one place that names an encoding (bincode 2.0.1, pinned).
//! - [`wal`]: the write-ahead log: segment format, group-commit writer and syncer,
//!   reader with torn-tail handling; the log is the engine's `Journal`.
//! - [`snapshot`]: rkyv snapshot files: format, writing, validated loading, retention.
//! - [`storage`]: `DurableEngine` (engine + log + snapshots) and recovery.
//! - [`protocol`]: the wire protocol (messages, frames, error codes), no networking.
//! - [`server`]: `stockd serve`: the QUIC endpoint on one network thread, its
//!   configuration, tokens, limits, metrics and admin HTTP listener.
//! - [`tls`]: certificates (generated or the operator's) and fingerprint pinning.
//! - [`client`]: the async Rust client: one connection, pipelined calls, safe retries.
//! - [`demo`]: a generated demo catalogue and a scripted scenario (`stockd demo`).
//! - [`tools`]: helpers shared by the command-line binaries (`stockd`'s tools and
//!   `stockctl`): positions CSV, text tables, time formatting.
//!
//! The engine is deterministic: time is an argument and there is no I/O, so the
//! tests, a replayed log and a live server all drive the same code.

mod allocator;
pub mod client;
pub mod codec;
pub mod demo;
pub mod engine;
pub mod feed;
pub mod limits;
pub mod model;
pub mod protocol;
pub mod server;
pub mod snapshot;
pub mod storage;
pub mod tls;
pub mod tools;
pub mod wal;

pub use allocator::Allocator;
pub use engine::{Engine, EngineConfig, EngineError, Operation, Outcome};
pub use model::Timestamp;

/// The README's examples, compiled and run as doctests so they cannot rot.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
