//! `stockd soak` (being written).

use std::process::ExitCode;

#[derive(clap::Args)]
pub struct SoakArgs {}

pub fn run(_args: SoakArgs) -> ExitCode {
    ExitCode::FAILURE
}
