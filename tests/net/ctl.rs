//! Running `stockctl` as a user runs it, against a test server: the command with a
//! clean environment, bounded by [`PATIENCE`], and readers for its tables and JSON.

use super::{TestServer, PATIENCE};
use serde_json::Value;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Instant;

pub const STOCKCTL: &str = env!("CARGO_BIN_EXE_stockctl");

/// A `stockctl` command with no STOCKCTL_* variable inherited from the environment.
pub fn stockctl(dir: &Path) -> Command {
    let mut command = Command::new(STOCKCTL);
    command.current_dir(dir);
    for name in ["SERVER", "FINGERPRINT", "CA_FILE", "SERVER_NAME", "TOKEN", "TIMEOUT_MS"] {
        command.env_remove(format!("STOCKCTL_{name}"));
    }
    command
}

/// Runs a command to its end, killing it if it takes longer than [`PATIENCE`].
pub fn run(mut command: Command) -> Output {
    let mut child = command.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("stockctl starts");
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut bytes = Vec::new();
        stdout.read_to_end(&mut bytes).unwrap();
        bytes
    });
    let err = std::thread::spawn(move || {
        let mut bytes = Vec::new();
        stderr.read_to_end(&mut bytes).unwrap();
        bytes
    });
    let deadline = Instant::now() + PATIENCE;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("stockctl {command:?} did not finish within {PATIENCE:?}");
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    };
    Output { status, stdout: out.join().unwrap(), stderr: err.join().unwrap() }
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

pub fn describe(output: &Output) -> String {
    format!("{:?}\nstdout:\n{}\nstderr:\n{}", output.status, text(&output.stdout), text(&output.stderr))
}

/// Runs `stockctl` against a test server with a token, pinning its fingerprint, from a
/// folder with no `data/`.
pub struct Ctl<'a> {
    pub server: &'a TestServer,
    pub elsewhere: PathBuf,
}

impl<'a> Ctl<'a> {
    pub fn new(server: &'a TestServer) -> Ctl<'a> {
        let elsewhere = server.dir.path().join("elsewhere");
        std::fs::create_dir_all(&elsewhere).unwrap();
        Ctl { server, elsewhere }
    }

    pub fn output(&self, token: &str, args: &[&str]) -> Output {
        let mut command = stockctl(&self.elsewhere);
        command.args(["--server", &self.server.addr().to_string()]);
        command.args(["--fingerprint", &self.server.running().fingerprint.to_string(), "--token", token]);
        command.args(args);
        run(command)
    }

    /// Succeeds; returns stdout.
    #[track_caller]
    pub fn ok(&self, token: &str, args: &[&str]) -> String {
        let output = self.output(token, args);
        assert!(output.status.success(), "stockctl {args:?} failed: {}", describe(&output));
        text(&output.stdout)
    }

    /// Succeeds with `--json`; returns the parsed document.
    #[track_caller]
    pub fn json(&self, token: &str, args: &[&str]) -> Value {
        let mut all = args.to_vec();
        all.push("--json");
        let stdout = self.ok(token, &all);
        serde_json::from_str(&stdout).unwrap_or_else(|error| panic!("{args:?}: not JSON ({error}):\n{stdout}"))
    }

    /// Exits with `code`; returns the output.
    #[track_caller]
    pub fn fails(&self, code: i32, token: &str, args: &[&str]) -> Output {
        let output = self.output(token, args);
        assert_eq!(output.status.code(), Some(code), "stockctl {args:?}: {}", describe(&output));
        output
    }
}

/// A JSON number as u64.
#[track_caller]
pub fn num(value: &Value, pointer: &str) -> u64 {
    value.pointer(pointer).and_then(Value::as_u64).unwrap_or_else(|| panic!("no number at {pointer} in {value:#}"))
}

#[track_caller]
pub fn string<'a>(value: &'a Value, pointer: &str) -> &'a str {
    value.pointer(pointer).and_then(Value::as_str).unwrap_or_else(|| panic!("no string at {pointer} in {value:#}"))
}

/// A table's data row that starts with `first`, split on whitespace.
#[track_caller]
pub fn row<'a>(table: &'a str, first: &str) -> Vec<&'a str> {
    table
        .lines()
        .map(|line| line.split_whitespace().collect::<Vec<_>>())
        .find(|cells| cells.first() == Some(&first))
        .unwrap_or_else(|| panic!("no row starting with {first:?} in:\n{table}"))
}

/// The value of a `name  value` line.
#[track_caller]
pub fn field<'a>(listing: &'a str, name: &str) -> &'a str {
    listing
        .lines()
        .find_map(|line| line.strip_prefix(name).filter(|rest| rest.starts_with("  ")).map(str::trim))
        .unwrap_or_else(|| panic!("no {name:?} line in:\n{listing}"))
}
