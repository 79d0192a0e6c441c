//! The server's configuration: a TOML file, then environment variables, then flags
//! (each overrides the one before). Every field has a default that suits a newcomer:
//! loopback addresses, `data/` and `snapshots/` in the working folder, a generated
//! certificate and admin token, durability `always`.
//!
//! docs/CONFIG.md lists every key with its default; [`ServerConfig::example_toml`]
//! is that list as a file (`stockd config example`), checked by a test to parse.

use crate::feed::FeedConfig;
use crate::protocol::{self, Limits, Role, MAX_BATCH_CALLS, MAX_FRAME_BYTES_CEILING, MAX_SUBSCRIPTION_SKUS};
use crate::storage::StorageConfig;
use crate::wal::DurabilityMode;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// Default QUIC (UDP) address.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:7171";
/// Default admin HTTP (TCP) address: `/metrics`, `/healthz`, `/readyz`.
pub const DEFAULT_ADMIN_LISTEN: &str = "127.0.0.1:7172";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read the configuration file {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("the configuration file {path} is invalid: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

/// Everything `stockd serve` needs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// QUIC address (UDP).
    pub listen: SocketAddr,
    /// Admin HTTP address (TCP), or `off`.
    pub admin_listen: String,
    /// Holds the log (`wal/`), the generated certificate (`tls/`), the generated
    /// admin token's hash (`tokens.toml`) and the `LOCK` file.
    pub data_dir: PathBuf,
    pub snapshot_dir: PathBuf,
    /// `always`, `interval:<ms>` or `none`.
    pub durability: String,
    pub snapshot_interval_secs: u64,
    pub snapshot_every_records: u64,
    pub snapshots_retained: usize,
    /// How often held reservations past their TTL are expired.
    pub expiry_tick_ms: u64,
    pub tls: TlsSettings,
    /// Bearer tokens (hashed). The generated admin token is kept in
    /// `<data_dir>/tokens.toml` and added to these.
    pub tokens: Vec<TokenEntry>,
    /// The sourcing profiles (TOML; docs/ENGINE.md "Sourcing"). Default:
    /// `<data_dir>/sourcing.toml`; without the file, the built-in profiles. The admin
    /// call `SetSourcingProfiles` (`stockctl profiles set`) rewrites it.
    pub sourcing_profiles: Option<PathBuf>,
    pub limits: LimitSettings,
    pub feed: FeedSettings,
}

/// The availability change feed's bounds (docs/FEED.md).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FeedSettings {
    /// Subscriptions open at once, server-wide; more are answered `OVERLOADED`.
    pub max_subscribers: u32,
    /// Distinct changes one subscriber may have waiting; beyond it, it falls behind
    /// and gets the latest values marked `gap`.
    pub buffer_keys: u32,
    /// SKUs one subscription may list.
    pub max_skus_per_subscription: u32,
    /// How often the feed looks for changes: its added latency, and the window in
    /// which bursts coalesce.
    pub poll_interval_ms: u64,
}

impl Default for FeedSettings {
    fn default() -> Self {
        let feed = FeedConfig::default();
        FeedSettings {
            max_subscribers: 1_024,
            buffer_keys: feed.buffer_keys as u32,
            max_skus_per_subscription: feed.max_skus_per_subscription as u32,
            poll_interval_ms: feed.poll_interval.as_millis() as u64,
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TlsSettings {
    /// The operator's certificate chain (PEM). With `key`; else a self-signed
    /// certificate is generated on first start into `<data_dir>/tls/`.
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
    /// Extra DNS names / IP addresses for the generated certificate (it always
    /// covers `localhost`, 127.0.0.1 and ::1).
    pub names: Vec<String>,
}

/// One bearer token: only the SHA-256 of the token is stored (`stockd token new`
/// prints a token and its entry).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenEntry {
    /// For logs and people ("checkout", "storefront").
    pub name: String,
    pub role: RoleName,
    /// 64 hex digits: SHA-256 of the token's UTF-8 bytes.
    pub sha256: String,
}

/// A role as written in the configuration file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum RoleName {
    Read,
    Reserve,
    Admin,
}

impl From<RoleName> for Role {
    fn from(role: RoleName) -> Role {
        match role {
            RoleName::Read => Role::Read,
            RoleName::Reserve => Role::Reserve,
            RoleName::Admin => Role::Admin,
        }
    }
}

/// Every bound the server enforces on the network.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitSettings {
    pub max_connections: u32,
    /// Bidirectional streams a client may have open on one connection.
    pub max_streams_per_connection: u32,
    pub max_frame_bytes: u32,
    pub max_batch_calls: u32,
    /// Requests in flight on one connection (being run or waiting for durability).
    pub max_in_flight: u32,
    /// Heavy calls (stats, verify, snapshots, bulk loads, expiry sweeps) queued for
    /// the worker threads, server-wide; more are answered `OVERLOADED`.
    pub max_queued_heavy_calls: u32,
    pub request_deadline_ms: u64,
    pub idle_timeout_ms: u64,
    /// A connection must say `Hello` within this time.
    pub handshake_timeout_ms: u64,
    /// At shutdown, how long in-flight requests get to finish.
    pub drain_timeout_ms: u64,
}

impl Default for LimitSettings {
    fn default() -> Self {
        let wire = Limits::default();
        LimitSettings {
            max_connections: 1_024,
            max_streams_per_connection: 64,
            max_frame_bytes: wire.max_frame_bytes,
            max_batch_calls: wire.max_batch_calls,
            max_in_flight: wire.max_in_flight,
            max_queued_heavy_calls: 64,
            request_deadline_ms: wire.request_deadline_ms,
            idle_timeout_ms: wire.idle_timeout_ms,
            handshake_timeout_ms: 10_000,
            drain_timeout_ms: 10_000,
        }
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        let storage = StorageConfig::default();
        ServerConfig {
            listen: DEFAULT_LISTEN.parse().expect("valid default address"),
            admin_listen: DEFAULT_ADMIN_LISTEN.to_owned(),
            data_dir: storage.data_dir,
            snapshot_dir: storage.snapshot_dir,
            durability: "always".to_owned(),
            snapshot_interval_secs: storage.snapshot_interval_ms / 1_000,
            snapshot_every_records: storage.snapshot_every_records,
            snapshots_retained: storage.snapshots_retained,
            expiry_tick_ms: 1_000,
            tls: TlsSettings::default(),
            tokens: Vec::new(),
            sourcing_profiles: None,
            limits: LimitSettings::default(),
            feed: FeedSettings::default(),
        }
    }
}

impl ServerConfig {
    /// Reads a TOML file (missing keys take their defaults; unknown keys are errors).
    pub fn from_file(path: &Path) -> Result<ServerConfig, ConfigError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.to_owned(), source })?;
        toml::from_str(&text).map_err(|error| ConfigError::Parse { path: path.to_owned(), message: error.to_string() })
    }

    /// Checks every value, so that a bad configuration fails at start with a clear
    /// message rather than later.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |message: String| Err(ConfigError::Invalid(message));
        self.durability_mode()?;
        self.admin_addr()?;
        let limits = &self.limits;
        if limits.max_frame_bytes < 1_024 || limits.max_frame_bytes > MAX_FRAME_BYTES_CEILING {
            return invalid(format!(
                "limits.max_frame_bytes must be from 1024 to {MAX_FRAME_BYTES_CEILING}, not {}",
                limits.max_frame_bytes
            ));
        }
        if limits.max_batch_calls == 0 || limits.max_batch_calls as usize > MAX_BATCH_CALLS {
            return invalid(format!(
                "limits.max_batch_calls must be from 1 to {MAX_BATCH_CALLS}, not {}",
                limits.max_batch_calls
            ));
        }
        for (name, value) in [
            ("limits.max_connections", u64::from(limits.max_connections)),
            ("limits.max_streams_per_connection", u64::from(limits.max_streams_per_connection)),
            ("limits.max_in_flight", u64::from(limits.max_in_flight)),
            ("limits.max_queued_heavy_calls", u64::from(limits.max_queued_heavy_calls)),
            ("limits.request_deadline_ms", limits.request_deadline_ms),
            ("limits.idle_timeout_ms", limits.idle_timeout_ms),
            ("limits.handshake_timeout_ms", limits.handshake_timeout_ms),
            ("expiry_tick_ms", self.expiry_tick_ms),
            ("snapshots_retained", self.snapshots_retained as u64),
            ("feed.max_subscribers", u64::from(self.feed.max_subscribers)),
            ("feed.buffer_keys", u64::from(self.feed.buffer_keys)),
            ("feed.max_skus_per_subscription", u64::from(self.feed.max_skus_per_subscription)),
            ("feed.poll_interval_ms", self.feed.poll_interval_ms),
        ] {
            if value == 0 {
                return invalid(format!("{name} must be above 0"));
            }
        }
        if self.feed.max_skus_per_subscription as usize > MAX_SUBSCRIPTION_SKUS {
            return invalid(format!(
                "feed.max_skus_per_subscription must be at most {MAX_SUBSCRIPTION_SKUS}, not {}",
                self.feed.max_skus_per_subscription
            ));
        }
        if self.tls.cert.is_some() != self.tls.key.is_some() {
            return invalid("tls.cert and tls.key go together: give both or neither".to_owned());
        }
        for token in &self.tokens {
            if token.sha256.len() != 64 || !token.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
                return invalid(format!("token {:?}: sha256 must be 64 hex digits", token.name));
            }
        }
        Ok(())
    }

    /// The admin HTTP address, or `None` when it is `off`.
    pub fn admin_addr(&self) -> Result<Option<SocketAddr>, ConfigError> {
        if self.admin_listen.eq_ignore_ascii_case("off") {
            return Ok(None);
        }
        self.admin_listen.parse().map(Some).map_err(|error| {
            ConfigError::Invalid(format!("admin_listen {:?}: {error} (an address, or `off`)", self.admin_listen))
        })
    }

    pub fn durability_mode(&self) -> Result<DurabilityMode, ConfigError> {
        self.durability.parse().map_err(|error| ConfigError::Invalid(format!("durability: {error}")))
    }

    /// The storage part of the configuration.
    pub fn storage(&self) -> Result<StorageConfig, ConfigError> {
        Ok(StorageConfig {
            data_dir: self.data_dir.clone(),
            snapshot_dir: self.snapshot_dir.clone(),
            durability: self.durability_mode()?,
            snapshot_interval_ms: self.snapshot_interval_secs.saturating_mul(1_000),
            snapshot_every_records: self.snapshot_every_records,
            snapshots_retained: self.snapshots_retained,
            ..StorageConfig::default()
        })
    }

    /// The change feed's settings, as its hub takes them.
    pub fn feed_config(&self) -> FeedConfig {
        FeedConfig {
            max_subscribers: self.feed.max_subscribers as usize,
            buffer_keys: self.feed.buffer_keys as usize,
            max_skus_per_subscription: self.feed.max_skus_per_subscription as usize,
            poll_interval: std::time::Duration::from_millis(self.feed.poll_interval_ms),
            ..FeedConfig::default()
        }
    }

    /// Where the sourcing profiles are kept.
    pub fn sourcing_profiles_path(&self) -> PathBuf {
        self.sourcing_profiles.clone().unwrap_or_else(|| self.data_dir.join("sourcing.toml"))
    }

    /// The limits announced to clients in `Welcome`.
    pub fn wire_limits(&self) -> Limits {
        Limits {
            max_frame_bytes: self.limits.max_frame_bytes,
            max_batch_calls: self.limits.max_batch_calls,
            max_in_flight: self.limits.max_in_flight,
            max_batch_skus: crate::limits::MAX_BATCH_SKUS as u32,
            request_deadline_ms: self.limits.request_deadline_ms,
            idle_timeout_ms: self.limits.idle_timeout_ms,
        }
    }

    /// The defaults as a commented TOML file.
    pub fn example_toml() -> String {
        let defaults = toml::to_string_pretty(&ServerConfig::default()).expect("the defaults serialise");
        format!(
            "# stockd serve configuration (every key optional; these are the defaults).\n\
             # Environment variables and flags override the file: see `stockd serve --help`.\n\
             #\n\
             # Tokens: add one entry per client, made with `stockd token new --name <name> --role <role>`:\n\
             # [[tokens]]\n# name = \"checkout\"\n# role = \"reserve\"   # read | reserve | admin\n\
             # sha256 = \"<64 hex digits>\"\n\n{defaults}"
        )
    }
}

/// The protocol version, re-exported for the server's banner.
pub const PROTOCOL_VERSION: u16 = protocol::PROTOCOL_VERSION;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_file_parses_to_the_defaults() {
        let parsed: ServerConfig = toml::from_str(&ServerConfig::example_toml()).unwrap();
        assert_eq!(parsed, ServerConfig::default());
        parsed.validate().unwrap();
    }

    #[test]
    fn unknown_keys_and_bad_values_are_refused() {
        assert!(toml::from_str::<ServerConfig>("listn = \"127.0.0.1:1\"").is_err());
        let config: ServerConfig = toml::from_str("durability = \"sometimes\"").unwrap();
        assert!(config.validate().unwrap_err().to_string().contains("durability"));
        let config: ServerConfig = toml::from_str("[limits]\nmax_frame_bytes = 100000000").unwrap();
        assert!(config.validate().unwrap_err().to_string().contains("max_frame_bytes"));
        let config: ServerConfig = toml::from_str("[tls]\ncert = \"a.pem\"").unwrap();
        assert!(config.validate().unwrap_err().to_string().contains("tls.cert"));
        let config: ServerConfig =
            toml::from_str("[[tokens]]\nname = \"x\"\nrole = \"read\"\nsha256 = \"abc\"").unwrap();
        assert!(config.validate().unwrap_err().to_string().contains("64 hex"));
    }

    #[test]
    fn docs_config_md_lists_every_key() {
        let doc = include_str!("../../docs/CONFIG.md");
        let mut section = String::new();
        for line in ServerConfig::example_toml().lines().filter(|line| !line.starts_with('#') && !line.is_empty()) {
            if let Some(name) = line.strip_prefix('[').and_then(|rest| rest.strip_suffix(']')) {
                section = format!("{name}.");
                continue;
            }
            let key = format!("`{section}{}", line.split(" = ").next().unwrap());
            assert!(doc.contains(&key), "docs/CONFIG.md does not document {key}`");
        }
    }

    #[test]
    fn a_partial_file_keeps_the_other_defaults() {
        let config: ServerConfig =
            toml::from_str("durability = \"interval:5\"\n[limits]\nmax_in_flight = 16\n").unwrap();
        assert_eq!(config.limits.max_in_flight, 16);
        assert_eq!(config.limits.max_connections, LimitSettings::default().max_connections);
        assert_eq!(config.durability_mode().unwrap(), DurabilityMode::Interval { ms: 5 });
    }
}
