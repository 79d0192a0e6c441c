//! `stockd`: the inventory availability engine's command line.

mod cli;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "stockd", version, about = "In-memory inventory availability engine")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Load a generated demo network and run a scripted flash sale, checkouts and
    /// TTL expiry against it, then verify every invariant (the default).
    Demo(cli::demo::DemoArgs),
    /// Run a built-in write load against a durable engine in a data directory,
    /// printing every acknowledged write (what the crash tests kill and check).
    Soak(cli::soak::SoakArgs),
    /// Snapshots: list, verify, inspect, take, restore, export, import.
    #[command(subcommand)]
    Snapshot(cli::snapshot::SnapshotCommand),
    /// The write-ahead log: dump records, one SKU's history.
    #[command(subcommand)]
    Wal(cli::wal::WalCommand),
}

fn main() -> ExitCode {
    let filter = tracing_subscriber::EnvFilter::try_from_env("STOCKD_LOG").unwrap_or_else(|_| "info".into());
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
    match Cli::parse().command {
        None => cli::demo::run(cli::demo::DemoArgs::default()),
        Some(Command::Demo(args)) => cli::demo::run(args),
        Some(Command::Soak(args)) => cli::soak::run(args),
        Some(Command::Snapshot(command)) => cli::snapshot::run(command),
        Some(Command::Wal(command)) => cli::wal::run(command),
    }
}
