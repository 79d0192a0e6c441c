//! `stockctl`: the command-line client of a running `stockd` server.
//!
//! One module per command family: [`args`] (connection flags, trust, parsing of
//! lines and times), [`query`] (reads), [`reserve`] (the reservation lifecycle),
//! [`stock`] (stock writes and CSV imports), [`admin`] (locations and operator
//! calls), [`sourcing`] (sourced reserves, the store finder, lost demand, profiles),
//! [`watch`] (the change feed) and [`output`] (tables, JSON, errors and exit codes).
//!
//! Exit codes: 0 success; 1 the server refused the call (the error code's name and
//! message are printed), or the call ran and reported problems (rejected import rows,
//! verify findings); 2 a usage, file or connection error.

mod admin;
mod args;
mod output;
mod query;
mod reserve;
mod sourcing;
mod stock;
mod watch;

use args::{ConnArgs, Session};
use clap::{Parser, Subcommand};
use output::Failure;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "stockctl",
    version,
    about = "Command-line client of a stockd server (QUIC, TLS pinned or CA-verified)"
)]
#[command(after_help = args::TRUST_HELP)]
struct Cli {
    #[command(flatten)]
    conn: ConnArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// A round trip: latency, the server's clock and the token's role.
    Ping,
    /// Every quantity of one position.
    Position(query::PositionArgs),
    /// Available to sell (or, with --atp/--by, to promise) of one SKU at a location or in a channel.
    Availability(query::AvailabilityArgs),
    /// One SKU across a channel (with --breakdown: each location).
    Channel(query::ChannelArgs),
    /// Availability of many SKUs in one scope.
    Batch(query::BatchArgs),
    /// A reservation as the server remembers it.
    Reservation(query::ReservationArgs),
    /// Hold stock: `reserve <id> <sku>@<location>=<qty>...` (all lines or none; the same call again is a replay).
    Reserve(reserve::ReserveArgs),
    /// Commit a held reservation (it no longer expires).
    Commit(reserve::IdArgs),
    /// Fulfil (ship) a reservation: all of it, or one step with --step and --line.
    Fulfil(reserve::StepArgs),
    /// Release a reservation's units back to stock: all of it, or one step with --step and --line.
    Release(reserve::StepArgs),
    /// Give a held reservation a new time to live, from now.
    Extend(reserve::ExtendArgs),
    /// Take fulfilled units back (a return), under a step id.
    Restock(reserve::RestockArgs),
    /// Add or remove units on hand, with a reason for the audit trail.
    Adjust(stock::AdjustArgs),
    /// Set the count on hand (a stock take), optionally only at an expected version.
    Set(stock::SetArgs),
    /// Bulk-load positions from a CSV file (the format of `stockd snapshot import`).
    Import(stock::ImportArgs),
    /// Locations: `location add <name> --kind ... --lat ... --lon ...`.
    #[command(subcommand)]
    Location(admin::LocationCommand),
    /// Create or replace a sales channel: `channel-define web --locations DC-1,ST-1 [--buffer-units N | --buffer-percent P]`.
    ChannelDefine(admin::ChannelDefineArgs),
    /// Check every invariant of the server's state (exit 1 on findings).
    Verify,
    /// Counts of everything the server holds.
    Stats,
    /// Snapshots: `snapshot take`.
    #[command(subcommand)]
    Snapshot(admin::SnapshotCommand),
    /// Reserve an order where its sourcing profile says: `source <id> --channel web --to LAT,LON SKU=QTY...` (or --pickup STORE).
    Source(sourcing::SourceArgs),
    /// Click & collect: pickup stores near a point that have the whole basket now.
    Stores(sourcing::StoresArgs),
    /// Lost demand: the top SKUs by refused (or expired, backordered) units, or one SKU's counters.
    Demand(sourcing::DemandArgs),
    /// Sourcing profiles: `profiles show`, `profiles set <file.toml>`.
    #[command(subcommand)]
    Profiles(sourcing::ProfilesCommand),
    /// Follow availability changes (out of stock, back in stock, low stock, every change) as they happen.
    Watch(watch::WatchArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let json = cli.conn.json;
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => return output::finish(Err(Failure::Usage(format!("cannot start the runtime: {error}"))), json),
    };
    let session = Session::new(cli.conn);
    let result = runtime.block_on(async {
        let result = run(&session, cli.command).await;
        session.close().await;
        result
    });
    output::finish(result, json)
}

/// Runs one command: `Ok(true)` success, `Ok(false)` done but with problems reported.
async fn run(session: &Session, command: Command) -> Result<bool, Failure> {
    match command {
        Command::Ping => query::ping(session).await,
        Command::Position(args) => query::position(session, args).await,
        Command::Availability(args) => query::availability(session, args).await,
        Command::Channel(args) => query::channel(session, args).await,
        Command::Batch(args) => query::batch(session, args).await,
        Command::Reservation(args) => query::reservation(session, args).await,
        Command::Reserve(args) => reserve::reserve(session, args).await,
        Command::Commit(args) => reserve::commit(session, args).await,
        Command::Fulfil(args) => reserve::fulfil(session, args).await,
        Command::Release(args) => reserve::release(session, args).await,
        Command::Extend(args) => reserve::extend(session, args).await,
        Command::Restock(args) => reserve::restock(session, args).await,
        Command::Adjust(args) => stock::adjust(session, args).await,
        Command::Set(args) => stock::set(session, args).await,
        Command::Import(args) => stock::import(session, args).await,
        Command::Location(command) => admin::location(session, command).await,
        Command::ChannelDefine(args) => admin::channel_define(session, args).await,
        Command::Verify => admin::verify(session).await,
        Command::Stats => admin::stats(session).await,
        Command::Snapshot(command) => admin::snapshot(session, command).await,
        Command::Source(args) => sourcing::source(session, args).await,
        Command::Stores(args) => sourcing::stores(session, args).await,
        Command::Demand(args) => sourcing::demand(session, args).await,
        Command::Profiles(command) => sourcing::profiles(session, command).await,
        Command::Watch(args) => watch::watch(session, args).await,
    }
}
