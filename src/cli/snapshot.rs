//! `stockd snapshot ...` (being written).

use std::process::ExitCode;

#[derive(clap::Subcommand)]
pub enum SnapshotCommand {
    List,
}

pub fn run(_command: SnapshotCommand) -> ExitCode {
    ExitCode::FAILURE
}
