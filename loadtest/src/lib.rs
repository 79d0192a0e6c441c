//! The bundled load-test harness of stockd (`cargo run --release -p loadtest -- <scenario>`):
//! realistic scenarios against an embedded or remote server, open-loop (no coordinated
//! omission), closed-loop and ramp load, correctness checks at the end, and reports as
//! a terminal table, JSON and a self-contained HTML page. See README.md.
//!
//! - [`params`]: the dataset and flow knobs, the mix, profiles.
//! - [`dataset`]: the seeded network (SKUs x locations, channels, kits, hot SKUs).
//! - [`pacer`], [`driver`]: the arrival schedule and the open/closed/ramp loops.
//! - [`workload`]: the flows, against the client; [`book`]: what they were told.
//! - [`stats`]: histograms and intervals; [`checks`]: the end-of-run checks.
//! - [`report`], [`html`], [`compare`], [`slo`]: the results.
//! - [`target`]: the embedded or remote server and the connection pools.
//! - [`run`]: one run from start to end; [`cli`]: the command line.

pub mod book;
pub mod checks;
pub mod cli;
pub mod compare;
pub mod cpu;
pub mod dataset;
pub mod driver;
pub mod html;
pub mod pacer;
pub mod params;
pub mod progress;
pub mod report;
pub mod run;
pub mod slo;
pub mod stats;
pub mod target;
pub mod units;
pub mod workload;

use clap::Parser;
use cli::{Cli, Command};
use params::{Mix, Profile, DEFAULT_PROFILE};
use run::{Scenario, EXIT_HARNESS, EXIT_OK, EXIT_USAGE};

/// Exit code of `compare --threshold` when it finds a regression.
pub const EXIT_REGRESSION: i32 = 5;

/// The whole program; returns the exit code.
pub fn main_with(args: impl IntoIterator<Item = std::ffi::OsString>) -> i32 {
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(error) => {
            let _ = error.print();
            return if error.use_stderr() { EXIT_USAGE } else { EXIT_OK };
        }
    };
    let (scenario, args, profile, mix) = match cli.command {
        Command::Browse(args) => (Scenario::Browse, args, None, None),
        Command::Checkout(args) => (Scenario::Checkout, args, None, None),
        Command::FlashSale(args) => (Scenario::FlashSale, args, None, None),
        Command::Feed(args) => (Scenario::Feed, args, None, None),
        Command::Mixed(mixed) => {
            let profile = match Profile::load(mixed.profile.as_deref().unwrap_or(DEFAULT_PROFILE)) {
                Ok(profile) => profile,
                Err(error) => {
                    eprintln!("loadtest: {error}");
                    return EXIT_USAGE;
                }
            };
            let mix = match mixed.mix.as_deref().map(Mix::parse_inline).transpose() {
                Ok(mix) => mix,
                Err(error) => {
                    eprintln!("loadtest: --mix: {error}");
                    return EXIT_USAGE;
                }
            };
            (Scenario::Mixed, mixed.run, Some(profile), mix)
        }
        Command::Compare(compare) => {
            if compare.threshold.is_some_and(|t| !(t >= 0.0 && t.is_finite())) {
                eprintln!("loadtest: --threshold is a percentage of at least 0");
                return EXIT_USAGE;
            }
            let (a, b) = match (report::Report::read_json(&compare.a), report::Report::read_json(&compare.b)) {
                (Ok(a), Ok(b)) => (a, b),
                (Err(error), _) | (_, Err(error)) => {
                    eprintln!("loadtest: {error}");
                    return EXIT_HARNESS;
                }
            };
            let result = compare::compare(&a, &b, compare.threshold);
            print!("{}", result.text);
            return if result.regressions.is_empty() { EXIT_OK } else { EXIT_REGRESSION };
        }
        Command::Profiles => {
            print!("{}", run::list_profiles());
            return EXIT_OK;
        }
    };
    match run::plan(scenario, &args, profile, mix) {
        Ok(plan) => run::execute(plan),
        Err(error) => {
            eprintln!("loadtest: {error}");
            EXIT_USAGE
        }
    }
}
