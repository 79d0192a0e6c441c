//! `stockd`: the inventory availability engine's command line.

mod cli;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[global_allocator]
static GLOBAL: stockd::Allocator = stockd::Allocator;

#[derive(Parser)]
#[command(name = "stockd", version, about = "In-memory inventory availability engine")]
#[command(args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// With no subcommand, `stockd` serves: these are `stockd serve`'s options.
    #[command(flatten)]
    serve: cli::serve::ServeArgs,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the QUIC protocol on the durable engine (the default): loopback,
    /// `data/` and `snapshots/` in this folder, a generated certificate and admin token.
    Serve(cli::serve::ServeArgs),
    /// Bearer tokens: `token new --name <name> --role read|reserve|admin`.
    #[command(subcommand)]
    Token(cli::serve::TokenCommand),
    /// The configuration file: `config example` prints every key with its default.
    #[command(subcommand)]
    Config(cli::serve::ConfigCommand),
    /// Load a generated demo network and run a scripted flash sale, checkouts and
    /// TTL expiry against it, then verify every invariant.
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
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt().with_env_filter(filter).with_ansi(ansi).with_writer(std::io::stderr).init();
    let cli = Cli::parse();
    match cli.command {
        None => cli::serve::run(cli.serve),
        Some(Command::Serve(args)) => cli::serve::run(args),
        Some(Command::Token(command)) => cli::serve::run_token(command),
        Some(Command::Config(command)) => cli::serve::run_config(command),
        Some(Command::Demo(args)) => cli::demo::run(args),
        Some(Command::Soak(args)) => cli::soak::run(args),
        Some(Command::Snapshot(command)) => cli::snapshot::run(command),
        Some(Command::Wal(command)) => cli::wal::run(command),
    }
}
