//! The command line (see README.md for every option).

use crate::driver::Pacing;
use crate::pacer::Arrival;
use crate::params::{Mode, Params};
use crate::slo::Slo;
use crate::units::{Dur, Share};
use clap::{Args, Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;
use stockd::tls::Fingerprint;

#[derive(Parser, Debug)]
#[command(
    name = "loadtest",
    version,
    about = "Load tests for stockd: realistic scenarios, open/closed/ramp load, correctness checks, reports",
    after_help = "Exit codes: 0 ok; 1 the harness could not run (server, connection, files); 2 bad usage; \
                  3 a correctness check failed; 4 an SLO was missed; 5 `compare --threshold` found a regression.\n\
                  Examples:\n  loadtest mixed --duration 5s\n  loadtest flash-sale --rate 2000 --hot-stock 300\n  \
                  loadtest checkout --mode ramp --ramp-p99 5ms\n  loadtest browse --mode closed --concurrency 64 --slo p99=2ms\n  \
                  loadtest compare before.json after.json --threshold 10"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Storefront reads: single positions, channel availability, 48-SKU listing pages
    /// (Zipf popularity). The store finder is not in the protocol yet and is skipped.
    Browse(RunArgs),
    /// Checkouts: reserve -> commit -> fulfil; a share abandoned (released, or left to
    /// expire by TTL). Every acknowledged reservation is read back at the end.
    Checkout(RunArgs),
    /// Many clients fight over a few hot SKUs with limited stock; checks that exactly
    /// the stock was sold, nothing oversold, no reservation leaked.
    FlashSale(RunArgs),
    /// Warehouse feed (adjustments, counts with and without compare-and-set, bulk
    /// loads) concurrently with checkouts.
    Feed(RunArgs),
    /// A weighted mix of every flow, from a TOML profile (built in: weekday,
    /// black-friday, nightly-sync; default weekday).
    Mixed(MixedArgs),
    /// Prints what changed between two JSON reports.
    Compare(CompareArgs),
    /// Lists the built-in profiles.
    Profiles,
}

#[derive(Args, Debug)]
pub struct MixedArgs {
    /// A built-in profile name or a TOML file.
    #[arg(long, value_name = "NAME|FILE")]
    pub profile: Option<String>,
    /// The mix inline instead of a profile's, e.g. `page=30,checkout=10,flash-sale=5`.
    #[arg(long, value_name = "FLOW=WEIGHT,...")]
    pub mix: Option<String>,
    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Args, Debug)]
pub struct CompareArgs {
    /// The baseline report (JSON).
    pub a: PathBuf,
    /// The new report (JSON).
    pub b: PathBuf,
    /// Exit 5 if an op's p99 rose, or its throughput fell, by more than this percentage.
    #[arg(long, value_name = "PERCENT")]
    pub threshold: Option<f64>,
}

#[derive(Args, Debug, Clone)]
pub struct RunArgs {
    #[command(flatten)]
    pub load: LoadArgs,
    #[command(flatten)]
    pub target: TargetArgs,
    #[command(flatten)]
    pub output: OutputArgs,
    #[command(flatten)]
    pub params: ParamArgs,
}

#[derive(Args, Debug, Clone)]
#[command(next_help_heading = "Load")]
pub struct LoadArgs {
    /// open: a target arrival rate; closed: a fixed number of users; ramp: rising rate
    /// until the p99 objective breaks [default: open, or the profile's].
    #[arg(long, value_enum)]
    pub mode: Option<Mode>,
    /// Open loop: flows started per second [default: 200, or the profile's].
    #[arg(long, value_name = "PER_SECOND")]
    pub rate: Option<f64>,
    /// Open loop: arrival process [default: poisson, or the profile's].
    #[arg(long, value_enum)]
    pub arrival: Option<Arrival>,
    /// Closed loop: users, each running flows back to back [default: 32].
    #[arg(long)]
    pub concurrency: Option<usize>,
    /// How long the load runs (ramp: at most) [default: 10s; ramp 60s].
    #[arg(long)]
    pub duration: Option<Dur>,
    /// Stop after this many flows (arrivals) even if time is left.
    #[arg(long, value_name = "FLOWS")]
    pub requests: Option<u64>,
    /// Load (at the same shape) before measuring; its flows are still checked.
    #[arg(long, default_value = "0s")]
    pub warmup: Dur,
    /// Open loop: flows in flight at most; further arrivals wait (and are charged for it).
    #[arg(long, default_value_t = 10_000)]
    pub max_in_flight: usize,
    /// After the load, how long flows in flight get to finish (the rest count as errors).
    #[arg(long, default_value = "10s")]
    pub drain: Dur,
    /// Open loop: precise (a pacer thread, ~50µs) or timer (tokio's, 1 ms granularity).
    #[arg(long, value_enum, default_value_t = Pacing::Precise)]
    pub pacing: Pacing,
    /// Ramp: the first step's rate (flows/s).
    #[arg(long, default_value_t = 100.0, help_heading = "Ramp")]
    pub ramp_start: f64,
    /// Ramp: add this rate per step (instead of multiplying by --ramp-factor).
    #[arg(long, help_heading = "Ramp")]
    pub ramp_step: Option<f64>,
    /// Ramp: multiply the rate by this per step.
    #[arg(long, default_value_t = 1.5, help_heading = "Ramp")]
    pub ramp_factor: f64,
    /// Ramp: how long each step runs.
    #[arg(long, default_value = "3s", help_heading = "Ramp")]
    pub ramp_step_duration: Dur,
    /// Ramp: the highest rate tried.
    #[arg(long, default_value_t = 1_000_000.0, help_heading = "Ramp")]
    pub ramp_max: f64,
    /// Ramp: a step meets the objective when the p99 of all its requests is at most this...
    #[arg(long, default_value = "10ms", help_heading = "Ramp")]
    pub ramp_p99: Dur,
    /// Ramp: ... and at most this share of them failed.
    #[arg(long, default_value = "1%", help_heading = "Ramp")]
    pub ramp_max_errors: Share,
    /// An objective checked at the end (repeatable): p99=1ms, reserve:p99.9=5ms, errors=0,
    /// error-rate=0.1%, throughput=1000. A miss exits 4.
    #[arg(long = "slo", value_name = "SPEC")]
    pub slos: Vec<Slo>,
}

#[derive(Args, Debug, Clone)]
#[command(next_help_heading = "Target")]
pub struct TargetArgs {
    /// A running server's QUIC address (default: start an embedded server).
    #[arg(long)]
    pub server: Option<SocketAddr>,
    /// The remote server's certificate SHA-256 (as it prints at start).
    #[arg(long)]
    pub fingerprint: Option<Fingerprint>,
    /// Or trust the remote server by this CA file (PEM).
    #[arg(long)]
    pub ca_file: Option<PathBuf>,
    /// The remote server's admin token (better in the environment than on the command line).
    #[arg(long, env = "STOCKD_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// TLS server name (SNI; checked with --ca-file).
    #[arg(long, default_value = "localhost")]
    pub server_name: String,
    /// Embedded server: always, interval:<ms> or none.
    #[arg(long, default_value = "always")]
    pub durability: String,
    /// Embedded server: keep its data here (default: a temporary folder, deleted).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Embedded server: how often it expires holds past their TTL.
    #[arg(long, default_value = "250ms")]
    pub expiry_tick: Dur,
    /// Embedded server: requests in flight per connection (its max_in_flight).
    #[arg(long)]
    pub server_max_in_flight: Option<u32>,
    /// Client connections per role (read, reserve, admin; one set for a remote server).
    #[arg(long, default_value_t = 2)]
    pub connections: usize,
    /// Retries of requests that are safe to retry (0: every failure is counted as is).
    #[arg(long, default_value_t = 0)]
    pub retries: u32,
    /// How long a request waits for its answer before it counts as TIMEOUT.
    #[arg(long, default_value = "10s")]
    pub request_timeout: Dur,
}

#[derive(Args, Debug, Clone)]
#[command(next_help_heading = "Output")]
pub struct OutputArgs {
    /// Folder for the reports [default: target/loadtest/ of the workspace, else loadtest-results/].
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Base name of the report files [default: <scenario>-<UTC time>].
    #[arg(long)]
    pub name: Option<String>,
    /// Write no HTML report.
    #[arg(long)]
    pub no_html: bool,
    /// No progress line.
    #[arg(long, short)]
    pub quiet: bool,
}

/// Every dataset and flow parameter (see [`Params`] for their meaning and defaults).
#[derive(Args, Debug, Clone, Default)]
#[command(next_help_heading = "Dataset and flows")]
pub struct ParamArgs {
    /// SKUs in the catalogue [default: 10000].
    #[arg(long)]
    pub skus: Option<u32>,
    /// Locations (distribution centres, a dark store, stores) [default: 20].
    #[arg(long)]
    pub locations: Option<u32>,
    /// Kits (bundles of 2-4 SKUs) [default: 50].
    #[arg(long)]
    pub kits: Option<u32>,
    /// Seed of the dataset and of the sequence of flows [default: 42].
    #[arg(long)]
    pub seed: Option<u64>,
    /// Zipf exponent of SKU popularity (0 uniform) [default: 1.0].
    #[arg(long)]
    pub zipf: Option<f64>,
    /// SKUs per listing page [default: 48].
    #[arg(long)]
    pub page_size: Option<u32>,
    /// Lines per checkout, at most [default: 3].
    #[arg(long)]
    pub max_lines: Option<u32>,
    /// Share of checkout lines that are kits [default: 5%].
    #[arg(long)]
    pub kit_share: Option<Share>,
    /// Share of checkouts that are click & collect [default: 20%].
    #[arg(long)]
    pub pickup_share: Option<Share>,
    /// Time to live of a checkout's hold [default: 15m].
    #[arg(long)]
    pub ttl: Option<Dur>,
    /// Share of checkouts abandoned [default: 20%].
    #[arg(long)]
    pub abandon: Option<Share>,
    /// Share of abandoned carts released at once; the rest expire by TTL [default: 50%].
    #[arg(long)]
    pub abandon_release: Option<Share>,
    /// TTL of carts left to expire (at least 1s) [default: 1s].
    #[arg(long)]
    pub abandon_ttl: Option<Dur>,
    /// Pause between reserve and commit, not counted in latency [default: 0s].
    #[arg(long)]
    pub think: Option<Dur>,
    /// Hot SKUs in the flash sale [default: 3].
    #[arg(long)]
    pub hot_skus: Option<u32>,
    /// Units of each hot SKU [default: 200].
    #[arg(long)]
    pub hot_stock: Option<u32>,
    /// Share of flash-sale winners who abandon [default: 0%].
    #[arg(long)]
    pub flash_abandon: Option<Share>,
    /// Ledger positions (adjusted only by the feed, checked exactly) [default: 50].
    #[arg(long)]
    pub ledger_skus: Option<u32>,
    /// Share of counts made as compare-and-set [default: 50%].
    #[arg(long)]
    pub cas_share: Option<Share>,
    /// Rows per bulk load [default: 200].
    #[arg(long)]
    pub bulk_rows: Option<u32>,
}

impl ParamArgs {
    /// Writes the options given over `params`.
    pub fn apply(&self, params: &mut Params) {
        macro_rules! set {
            ($($field:ident),*) => { $( if let Some(value) = self.$field { params.$field = value; } )* };
        }
        set!(
            skus,
            locations,
            kits,
            seed,
            zipf,
            page_size,
            max_lines,
            kit_share,
            pickup_share,
            ttl,
            abandon,
            abandon_release,
            abandon_ttl,
            think,
            hot_skus,
            hot_stock,
            flash_abandon,
            ledger_skus,
            cas_share,
            bulk_rows
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn flags_parse() {
        let cli = Cli::try_parse_from([
            "loadtest",
            "mixed",
            "--profile",
            "black-friday",
            "--duration",
            "5s",
            "--slo",
            "p99=1ms",
            "--slo",
            "errors=0",
            "--abandon",
            "30%",
            "--mode",
            "ramp",
        ])
        .unwrap();
        let Command::Mixed(args) = cli.command else { panic!("mixed") };
        assert_eq!(args.profile.as_deref(), Some("black-friday"));
        assert_eq!(args.run.load.slos.len(), 2);
        assert_eq!(args.run.load.mode, Some(Mode::Ramp));
        let mut params = Params::default();
        args.run.params.apply(&mut params);
        assert_eq!(params.abandon, Share(0.3));
        assert!(Cli::try_parse_from(["loadtest", "browse", "--slo", "p98=1ms"]).is_err());
        assert!(Cli::try_parse_from(["loadtest", "browse", "--duration", "soon"]).is_err());
    }
}
