//! `stockd serve` (the default command), `stockd token new`, `stockd config example`.

use clap::Args;
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use stockd::server::auth::{generate_token, token_entry};
use stockd::server::config::RoleName;
use stockd::server::{RunningServer, ServerConfig};

/// Flags and environment variables override the configuration file, which
/// overrides the defaults (`stockd config example` prints them all).
#[derive(Args, Debug, Default)]
pub struct ServeArgs {
    /// A TOML configuration file.
    #[arg(long, env = "STOCKD_CONFIG")]
    pub config: Option<PathBuf>,
    /// QUIC (UDP) address to listen on [default: 127.0.0.1:7171].
    #[arg(long, env = "STOCKD_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// Admin HTTP address for /metrics, /healthz, /readyz, or `off` [default: 127.0.0.1:7172].
    #[arg(long, env = "STOCKD_ADMIN_LISTEN")]
    pub admin_listen: Option<String>,
    /// Folder of the log, the generated certificate and token hash [default: data].
    #[arg(long, env = "STOCKD_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Folder of the snapshots [default: snapshots].
    #[arg(long, env = "STOCKD_SNAPSHOT_DIR")]
    pub snapshot_dir: Option<PathBuf>,
    /// `always` (acknowledge after fsync), `interval:<ms>` or `none` [default: always].
    #[arg(long, env = "STOCKD_DURABILITY")]
    pub durability: Option<String>,
    /// The operator's certificate chain (PEM); with --tls-key.
    #[arg(long, env = "STOCKD_TLS_CERT")]
    pub tls_cert: Option<PathBuf>,
    /// The operator's private key (PEM); with --tls-cert.
    #[arg(long, env = "STOCKD_TLS_KEY")]
    pub tls_key: Option<PathBuf>,
    /// The sourcing profiles file [default: <data-dir>/sourcing.toml].
    #[arg(long, env = "STOCKD_SOURCING_PROFILES")]
    pub sourcing_profiles: Option<PathBuf>,
    /// Most connections at once [default: 1024].
    #[arg(long, env = "STOCKD_MAX_CONNECTIONS")]
    pub max_connections: Option<u32>,
    /// Most requests in flight per connection [default: 1024].
    #[arg(long, env = "STOCKD_MAX_IN_FLIGHT")]
    pub max_in_flight: Option<u32>,
}

impl ServeArgs {
    /// The configuration: defaults, then the file, then environment and flags.
    pub fn resolve(self) -> Result<ServerConfig, stockd::server::ConfigError> {
        let mut config = match &self.config {
            Some(path) => ServerConfig::from_file(path)?,
            None => ServerConfig::default(),
        };
        if let Some(listen) = self.listen {
            config.listen = listen;
        }
        if let Some(admin) = self.admin_listen {
            config.admin_listen = admin;
        }
        if let Some(dir) = self.data_dir {
            config.data_dir = dir;
        }
        if let Some(dir) = self.snapshot_dir {
            config.snapshot_dir = dir;
        }
        if let Some(durability) = self.durability {
            config.durability = durability;
        }
        if self.tls_cert.is_some() || self.tls_key.is_some() {
            config.tls.cert = self.tls_cert;
            config.tls.key = self.tls_key;
        }
        if let Some(path) = self.sourcing_profiles {
            config.sourcing_profiles = Some(path);
        }
        if let Some(max) = self.max_connections {
            config.limits.max_connections = max;
        }
        if let Some(max) = self.max_in_flight {
            config.limits.max_in_flight = max;
        }
        config.validate()?;
        Ok(config)
    }
}

pub fn run(args: ServeArgs) -> ExitCode {
    let config = match args.resolve() {
        Ok(config) => config,
        Err(error) => {
            eprintln!("stockd: {error}");
            return ExitCode::from(2);
        }
    };
    let (data_dir, snapshot_dir, durability) =
        (config.data_dir.clone(), config.snapshot_dir.clone(), config.durability.clone());
    let server = match RunningServer::start(config, true) {
        Ok(server) => server,
        Err(error) => {
            eprintln!("stockd: {error}");
            return ExitCode::FAILURE;
        }
    };
    let stats = server.durable().engine().stats();
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "stockd {} serving quic://{} (ALPN stockd/1)", env!("CARGO_PKG_VERSION"), server.addr);
    let _ = writeln!(
        out,
        "  durability {durability}; data in {}, snapshots in {}",
        data_dir.display(),
        snapshot_dir.display()
    );
    let recovery = &server.recovery;
    let _ = writeln!(
        out,
        "  recovered {} positions, {} reservations held ({} from a snapshot, {} log records replayed)",
        stats.positions,
        stats.reservations_held,
        if recovery.snapshot.is_some() { "started" } else { "none" },
        recovery.records_replayed
    );
    if let Some(admin) = server.admin_addr {
        let _ = writeln!(out, "  metrics  http://{admin}/metrics   health http://{admin}/healthz");
    }
    let _ = writeln!(out, "  certificate fingerprint (sha256): {}", server.fingerprint);
    let token = match &server.generated_admin_token {
        Some(token) => {
            let _ = writeln!(
                out,
                "  admin token (shown this once; only its hash is kept, in {}): {token}",
                data_dir.join(stockd::server::auth::GENERATED_TOKENS_FILE).display()
            );
            token.as_str()
        }
        None => "<your token>",
    };
    let _ = writeln!(
        out,
        "  try: cargo run --release --bin stockctl -- --server {} --fingerprint {} --token {token} ping",
        server.addr, server.fingerprint
    );
    let _ = writeln!(out, "  stop with Ctrl-C (or SIGTERM): in-flight requests are answered, a final snapshot written");
    let _ = out.flush();
    drop(out);
    match server.wait() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("stockd: {error}");
            ExitCode::FAILURE
        }
    }
}

#[derive(clap::Subcommand, Debug)]
pub enum TokenCommand {
    /// Make a new bearer token: prints the token (give it to the client) and the
    /// entry to add to the server's configuration file (only its hash).
    New {
        /// A name for logs ("checkout", "storefront").
        #[arg(long)]
        name: String,
        #[arg(long, value_enum)]
        role: RoleName,
    },
}

pub fn run_token(command: TokenCommand) -> ExitCode {
    match command {
        TokenCommand::New { name, role } => {
            let token = generate_token();
            let entry = token_entry(&name, role, &token);
            #[derive(serde::Serialize)]
            struct Entries<'a> {
                tokens: [&'a stockd::server::config::TokenEntry; 1],
            }
            let toml = toml::to_string(&Entries { tokens: [&entry] }).expect("a token entry serialises");
            println!("token: {token}");
            println!("\n# add to the server's configuration file:\n{toml}");
            ExitCode::SUCCESS
        }
    }
}

#[derive(clap::Subcommand, Debug)]
pub enum ConfigCommand {
    /// Print every configuration key with its default, as a TOML file.
    Example,
}

pub fn run_config(command: ConfigCommand) -> ExitCode {
    match command {
        ConfigCommand::Example => {
            print!("{}", ServerConfig::example_toml());
            ExitCode::SUCCESS
        }
    }
}
