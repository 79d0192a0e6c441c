//! What the load runs against: an embedded server (the default: a `RunningServer` on
//! its own thread, in a temporary folder, with a token per role) or a remote one
//! (`--server`, `--fingerprint` or `--ca-file`, `--token`), and the pools of client
//! connections the flows use.

use serde::{Deserialize, Serialize};
use std::cell::Cell;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;
use stockd::client::{Client, ClientConfig};
use stockd::protocol::Role;
use stockd::server::auth::{generate_token, token_entry};
use stockd::server::config::RoleName;
use stockd::server::{RunningServer, ServerConfig};
use stockd::tls::{Fingerprint, Trust};

/// How to reach (or start) the server.
#[derive(Clone, Debug)]
pub struct TargetOptions {
    pub server: Option<SocketAddr>,
    pub fingerprint: Option<Fingerprint>,
    pub ca_file: Option<PathBuf>,
    pub token: Option<String>,
    pub server_name: String,
    /// Embedded only: `always`, `interval:<ms>` or `none`.
    pub durability: String,
    /// Embedded only: where to keep the data (default: a temporary folder, deleted).
    pub data_dir: Option<PathBuf>,
    pub expiry_tick: Duration,
    pub max_in_flight: Option<u32>,
    pub retries: u32,
    pub request_timeout: Duration,
}

/// The target as reported.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TargetSummary {
    /// `embedded` or `remote`.
    pub kind: String,
    pub addr: String,
    /// Embedded only.
    pub durability: Option<String>,
    pub data_dir: Option<String>,
    /// True when nobody else uses the server (embedded): server-wide counts can be
    /// compared with what this run did.
    pub exclusive: bool,
    pub max_in_flight_per_connection: u32,
    pub connections: usize,
}

pub struct Tokens {
    pub read: String,
    pub reserve: String,
    pub admin: String,
}

pub struct Target {
    server: Option<RunningServer>,
    _dir: Option<tempfile::TempDir>,
    pub addr: SocketAddr,
    pub trust: Trust,
    pub tokens: Tokens,
    pub summary: TargetSummary,
    options: TargetOptions,
}

impl Target {
    /// Starts the embedded server, or checks the options of a remote one.
    pub fn start(options: &TargetOptions) -> Result<Target, String> {
        match options.server {
            Some(addr) => Target::remote(addr, options),
            None => Target::embedded(options),
        }
    }

    fn remote(addr: SocketAddr, options: &TargetOptions) -> Result<Target, String> {
        let trust = match (&options.fingerprint, &options.ca_file) {
            (Some(pin), None) => Trust::Fingerprint(*pin),
            (None, Some(ca)) => Trust::CaFile(ca.clone()),
            (Some(_), Some(_)) => return Err("give --fingerprint or --ca-file, not both".to_owned()),
            (None, None) => {
                return Err("--server needs --fingerprint (the server prints it at start) or --ca-file".to_owned())
            }
        };
        let token = options.token.clone().ok_or("--server needs --token (or STOCKD_TOKEN): an admin token")?;
        Ok(Target {
            server: None,
            _dir: None,
            addr,
            trust,
            tokens: Tokens { read: token.clone(), reserve: token.clone(), admin: token },
            summary: TargetSummary {
                kind: "remote".to_owned(),
                addr: addr.to_string(),
                durability: None,
                data_dir: None,
                exclusive: false,
                max_in_flight_per_connection: 0,
                connections: 0,
            },
            options: options.clone(),
        })
    }

    fn embedded(options: &TargetOptions) -> Result<Target, String> {
        if options.fingerprint.is_some() || options.ca_file.is_some() || options.token.is_some() {
            return Err("--fingerprint, --ca-file and --token are for a remote --server".to_owned());
        }
        let (dir, root) = match &options.data_dir {
            Some(path) => {
                std::fs::create_dir_all(path).map_err(|e| format!("cannot create {}: {e}", path.display()))?;
                (None, path.clone())
            }
            None => {
                let dir = tempfile::Builder::new()
                    .prefix("stockd-loadtest-")
                    .tempdir()
                    .map_err(|e| format!("cannot create a temporary folder: {e}"))?;
                let root = dir.path().to_owned();
                (Some(dir), root)
            }
        };
        let tokens = Tokens { read: generate_token(), reserve: generate_token(), admin: generate_token() };
        let mut config = ServerConfig {
            listen: "127.0.0.1:0".parse().expect("an address"),
            admin_listen: "off".to_owned(),
            data_dir: root.join("data"),
            snapshot_dir: root.join("snapshots"),
            durability: options.durability.clone(),
            snapshot_interval_secs: 0,
            snapshot_every_records: 0,
            expiry_tick_ms: (options.expiry_tick.as_millis() as u64).max(1),
            ..ServerConfig::default()
        };
        if let Some(max) = options.max_in_flight {
            config.limits.max_in_flight = max;
        }
        config.tokens = vec![
            token_entry("loadtest-read", RoleName::Read, &tokens.read),
            token_entry("loadtest-reserve", RoleName::Reserve, &tokens.reserve),
            token_entry("loadtest-admin", RoleName::Admin, &tokens.admin),
        ];
        config.validate().map_err(|error| format!("the embedded server's configuration: {error}"))?;
        let server = RunningServer::start(config, false).map_err(|error| format!("the embedded server: {error}"))?;
        let addr = server.addr;
        let trust = Trust::Fingerprint(server.fingerprint);
        Ok(Target {
            server: Some(server),
            _dir: dir,
            addr,
            trust,
            tokens,
            summary: TargetSummary {
                kind: "embedded".to_owned(),
                addr: addr.to_string(),
                durability: Some(options.durability.clone()),
                data_dir: options.data_dir.as_ref().map(|path| path.display().to_string()),
                exclusive: true,
                max_in_flight_per_connection: 0,
                connections: 0,
            },
            options: options.clone(),
        })
    }

    pub fn is_embedded(&self) -> bool {
        self.server.is_some()
    }

    pub fn client_config(&self, token: &str) -> ClientConfig {
        let mut config = ClientConfig::new(self.addr, self.trust.clone(), token);
        config.server_name = self.options.server_name.clone();
        config.retries = self.options.retries;
        config.request_timeout = self.options.request_timeout;
        config
    }

    pub async fn connect(&self, token: &str) -> Result<Client, String> {
        Client::connect(self.client_config(token)).await.map_err(|error| format!("cannot connect: {error}"))
    }

    /// Stops the embedded server gracefully (final snapshot) and deletes its
    /// temporary folder.
    pub fn shutdown(mut self) -> Result<(), String> {
        match self.server.take() {
            Some(server) => server.shutdown().map_err(|error| format!("the embedded server's shutdown: {error}")),
            None => Ok(()),
        }
    }
}

/// Which roles the flows of a run need.
#[derive(Clone, Copy, Debug, Default)]
pub struct Needs {
    pub read: bool,
    pub reserve: bool,
    pub admin: bool,
}

/// Client connections by role; calls go round-robin over a role's connections.
pub struct Pools {
    read: Vec<Client>,
    reserve: Vec<Client>,
    admin: Vec<Client>,
    /// For setup and the final checks.
    pub control: Client,
    next: Cell<usize>,
    connections: usize,
}

impl Pools {
    /// `connections` clients for each role needed (one shared set when the target has a
    /// single token), and one admin client for setup and checks.
    pub async fn connect(target: &Target, connections: usize, needs: Needs) -> Result<Pools, String> {
        let connections = connections.max(1);
        let control = target.connect(&target.tokens.admin).await?;
        if control.role() != Role::Admin {
            return Err(format!(
                "the token's role is {:?}; the load test needs an admin token (dataset setup, verify, the feed)",
                control.role()
            ));
        }
        let mut pools = Pools {
            read: Vec::new(),
            reserve: Vec::new(),
            admin: Vec::new(),
            control,
            next: Cell::new(0),
            connections: 0,
        };
        let shared = !target.is_embedded();
        if shared {
            for _ in 0..connections {
                pools.admin.push(target.connect(&target.tokens.admin).await?);
            }
            pools.read = pools.admin.clone();
            pools.reserve = pools.admin.clone();
            pools.connections = connections;
            return Ok(pools);
        }
        for (needed, token, pool) in [
            (needs.read, &target.tokens.read, &mut pools.read),
            (needs.reserve, &target.tokens.reserve, &mut pools.reserve),
            (needs.admin, &target.tokens.admin, &mut pools.admin),
        ] {
            if needed {
                for _ in 0..connections {
                    pool.push(target.connect(token).await?);
                }
            }
        }
        pools.connections = pools.read.len() + pools.reserve.len() + pools.admin.len();
        Ok(pools)
    }

    fn pick<'a>(&'a self, pool: &'a [Client]) -> &'a Client {
        if pool.is_empty() {
            return &self.control;
        }
        let next = self.next.get();
        self.next.set(next.wrapping_add(1));
        &pool[next % pool.len()]
    }

    pub fn read(&self) -> &Client {
        self.pick(&self.read)
    }

    pub fn reserve(&self) -> &Client {
        self.pick(&self.reserve)
    }

    pub fn admin(&self) -> &Client {
        self.pick(&self.admin)
    }

    /// Connections the flows use (the control connection aside).
    pub fn count(&self) -> usize {
        self.connections
    }

    pub async fn close(&self) {
        for client in self.read.iter().chain(&self.reserve).chain(&self.admin) {
            client.close().await;
        }
        self.control.close().await;
    }
}
