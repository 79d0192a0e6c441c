//! `loadtest`: see README.md, or `loadtest --help`.

fn main() -> std::process::ExitCode {
    // The embedded server's and the client's logs, off unless asked for (`STOCKD_LOG=info`).
    let filter = tracing_subscriber::EnvFilter::try_from_env("STOCKD_LOG").unwrap_or_else(|_| "off".into());
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
    let code = loadtest::main_with(std::env::args_os());
    std::process::ExitCode::from(u8::try_from(code).unwrap_or(1))
}
