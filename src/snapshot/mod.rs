//! Snapshots: the whole engine state archived with rkyv, so that recovery replays
//! only the log written since.
//!
//! - [`format`](mod@format): the file layout (header with magic, version, LSNs, counts and
//!   checksums; an rkyv body), writing (temp file, fsync, rename, directory fsync)
//!   and loading with validation.
//! - [`store`]: the snapshot folder: listing, choosing, retention.
//! - [`priority`]: the low CPU priority of a snapshot's archiving and writing threads.

pub mod format;
pub mod priority;
pub mod store;

pub use format::{load_snapshot, read_header, write_snapshot, SnapshotError, SnapshotHeader};
pub use store::{list_snapshots, prune_snapshots, SnapshotFile};
