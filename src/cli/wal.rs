//! `stockd wal ...` (being written).

use std::process::ExitCode;

#[derive(clap::Subcommand)]
pub enum WalCommand {
    Dump,
}

pub fn run(_command: WalCommand) -> ExitCode {
    ExitCode::FAILURE
}
