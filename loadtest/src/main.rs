//! `loadtest`: see README.md, or `loadtest --help`.

fn main() -> std::process::ExitCode {
    let code = loadtest::main_with(std::env::args_os());
    std::process::ExitCode::from(u8::try_from(code).unwrap_or(1))
}
