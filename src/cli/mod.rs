//! The `stockd` command line: one module per subcommand family.

pub mod demo;
pub mod output;
pub mod progress;
pub mod serve;
pub mod snapshot;
pub mod soak;
pub mod wal;
