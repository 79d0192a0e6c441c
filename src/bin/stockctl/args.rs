//! The connection flags, how the server is trusted, the shared connection of a
//! command, and the parsers of the values commands take (`sku@location=qty`, times).

use crate::output::Failure;
use std::cell::OnceCell;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;
use stockd::client::{Client, ClientConfig, ClientError};
use stockd::engine::LineQuantity;
use stockd::model::Timestamp;
use stockd::tls::{Fingerprint, Trust};
use stockd::tools::time_text::parse_utc;

/// Shown at the end of `stockctl --help`.
pub const TRUST_HELP: &str = "\
Trusting the server: pass --fingerprint with the SHA-256 fingerprint `stockd` prints when it \
starts, or --ca-file with the CA that signed its certificate. With neither, stockctl pins the \
certificate in ./data/tls/cert.pem if there is one (the certificate a server started in this \
folder generated) and otherwise refuses to connect. It never accepts an unverified certificate.

Every connection flag can come from the environment: STOCKCTL_SERVER, STOCKCTL_FINGERPRINT, \
STOCKCTL_CA_FILE, STOCKCTL_SERVER_NAME, STOCKCTL_TOKEN, STOCKCTL_TIMEOUT_MS.

Exit codes: 0 success; 1 the server refused the call (its error code is printed) or reported \
problems (rejected rows, verify findings); 2 a usage, file or connection error.";

#[derive(clap::Args, Debug)]
#[command(next_help_heading = "Connection")]
pub struct ConnArgs {
    /// The server's QUIC address.
    #[arg(long, env = "STOCKCTL_SERVER", default_value = "127.0.0.1:7171", value_name = "HOST:PORT", global = true)]
    pub server: String,
    /// Pin the server's certificate by its SHA-256 fingerprint (printed by `stockd` at start).
    /// Default: the fingerprint of ./data/tls/cert.pem, if that file exists.
    #[arg(long, env = "STOCKCTL_FINGERPRINT", value_name = "SHA256", conflicts_with = "ca_file", global = true)]
    pub fingerprint: Option<Fingerprint>,
    /// Verify the server's certificate against the CA certificates of this PEM file.
    #[arg(long, env = "STOCKCTL_CA_FILE", value_name = "PEM", global = true)]
    pub ca_file: Option<PathBuf>,
    /// The name sent in TLS SNI and checked against the certificate with --ca-file.
    #[arg(long, env = "STOCKCTL_SERVER_NAME", default_value = "localhost", value_name = "NAME", global = true)]
    pub server_name: String,
    /// The bearer token (the admin token `stockd` printed at its first start, or one from `stockd token new`).
    #[arg(long, env = "STOCKCTL_TOKEN", value_name = "TOKEN", hide_env_values = true, global = true)]
    pub token: Option<String>,
    /// Print one JSON document instead of tables.
    #[arg(long, global = true)]
    pub json: bool,
    /// How long to wait for the connection and for each answer (default: 5 s to connect, 10 s per call).
    #[arg(long, env = "STOCKCTL_TIMEOUT_MS", value_name = "MS", global = true)]
    #[arg(value_parser = clap::value_parser!(u64).range(1..))]
    pub timeout_ms: Option<u64>,
}

/// Where the trusted identity came from, for error messages.
enum TrustSource {
    FingerprintFlag,
    CaFile,
    DefaultCertificate(PathBuf),
}

/// One command's context: the flags, and the connection, made on first use (so that a
/// command checks its own input, such as a CSV file, before connecting).
pub struct Session {
    pub conn: ConnArgs,
    client: OnceCell<Client>,
}

impl Session {
    pub fn new(conn: ConnArgs) -> Session {
        Session { conn, client: OnceCell::new() }
    }

    pub fn json(&self) -> bool {
        self.conn.json
    }

    /// The connection, made now if it is not yet.
    pub async fn client(&self) -> Result<Client, Failure> {
        if let Some(client) = self.client.get() {
            return Ok(client.clone());
        }
        let client = connect(&self.conn).await?;
        Ok(self.client.get_or_init(|| client).clone())
    }

    /// Closes the connection, if one was made.
    pub async fn close(&self) {
        if let Some(client) = self.client.get() {
            client.close().await;
        }
    }
}

async fn connect(args: &ConnArgs) -> Result<Client, Failure> {
    let server = resolve(&args.server)?;
    let (trust, source) = trust(args)?;
    let token = args.token.clone().filter(|token| !token.is_empty()).ok_or_else(|| {
        Failure::Usage(
            "no token: pass --token (or set STOCKCTL_TOKEN); `stockd` prints an admin token at its first start"
                .to_owned(),
        )
    })?;
    let mut config = ClientConfig::new(server, trust, token);
    config.server_name = args.server_name.clone();
    if let Some(ms) = args.timeout_ms {
        config.connect_timeout = Duration::from_millis(ms);
        config.request_timeout = Duration::from_millis(ms);
    }
    Client::connect(config).await.map_err(|error| {
        let hint = match (&error, &source) {
            (ClientError::Connect { reason, .. }, TrustSource::DefaultCertificate(path))
                if reason.contains("fingerprint") =>
            {
                Some(format!(
                    "the pin came from {}, which is not this server's certificate: pass --fingerprint with the \
                     fingerprint the server printed",
                    path.display()
                ))
            }
            (ClientError::Connect { reason, .. }, TrustSource::FingerprintFlag) if reason.contains("fingerprint") => {
                Some("check --fingerprint against the fingerprint the server printed at start".to_owned())
            }
            (ClientError::Connect { .. }, TrustSource::CaFile) => {
                Some("check --ca-file and --server-name (the name must be in the server's certificate)".to_owned())
            }
            (ClientError::Connect { .. }, _) => Some("is the server running, and is --server its address?".to_owned()),
            _ => None,
        };
        Failure::Client { error, hint }
    })
}

fn resolve(server: &str) -> Result<SocketAddr, Failure> {
    if let Ok(addr) = server.parse() {
        return Ok(addr);
    }
    let bad = |reason: String| Failure::Usage(format!("--server {server:?}: {reason} (expected HOST:PORT)"));
    let mut addrs = server.to_socket_addrs().map_err(|error| bad(error.to_string()))?;
    addrs.next().ok_or_else(|| bad("no address".to_owned()))
}

/// The trust the flags ask for, or the default pin of ./data/tls/cert.pem.
fn trust(args: &ConnArgs) -> Result<(Trust, TrustSource), Failure> {
    if let Some(pin) = args.fingerprint {
        return Ok((Trust::Fingerprint(pin), TrustSource::FingerprintFlag));
    }
    if let Some(path) = &args.ca_file {
        return Ok((Trust::CaFile(path.clone()), TrustSource::CaFile));
    }
    let path = Path::new("data").join("tls").join(stockd::tls::CERT_FILE);
    if !path.is_file() {
        return Err(Failure::Usage(format!(
            "no way to trust the server: pass --fingerprint with the fingerprint `stockd` printed at start (or \
             --ca-file); {} does not exist here, so there is no certificate to pin by default",
            path.display()
        )));
    }
    let pin = fingerprint_of_pem(&path)?;
    Ok((Trust::Fingerprint(pin), TrustSource::DefaultCertificate(path)))
}

/// The fingerprint of the first certificate of a PEM file.
fn fingerprint_of_pem(path: &Path) -> Result<Fingerprint, Failure> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::CertificateDer;
    let bad = |reason: String| Failure::Usage(format!("{}: {reason}", path.display()));
    let pem = std::fs::read(path).map_err(|error| bad(error.to_string()))?;
    let first = CertificateDer::pem_slice_iter(&pem)
        .next()
        .ok_or_else(|| bad("holds no certificate".to_owned()))?
        .map_err(|error| bad(format!("is not valid PEM: {error}")))?;
    Ok(Fingerprint::of(&first))
}

/// `sku@location=quantity`: a line of a reservation or a step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LineSpec {
    pub sku: String,
    pub location: String,
    pub quantity: u32,
}

impl FromStr for LineSpec {
    type Err = String;

    fn from_str(text: &str) -> Result<LineSpec, String> {
        let shape = || format!("{text:?} is not SKU@LOCATION=QUANTITY");
        let (place, quantity) = text.rsplit_once('=').ok_or_else(shape)?;
        let (sku, location) = place.rsplit_once('@').ok_or_else(shape)?;
        if sku.is_empty() || location.is_empty() {
            return Err(shape());
        }
        let quantity = quantity.trim().parse().map_err(|_| format!("{text:?}: {quantity:?} is not a quantity"))?;
        Ok(LineSpec { sku: sku.to_owned(), location: location.to_owned(), quantity })
    }
}

impl From<LineSpec> for LineQuantity {
    fn from(line: LineSpec) -> LineQuantity {
        LineQuantity { sku: line.sku, location: line.location, quantity: line.quantity }
    }
}

/// A point in time: milliseconds since the Unix epoch, an RFC 3339 time
/// (`2025-03-01T12:00:00Z`, `2025-03-01T13:00:00+01:00`), a date (`2025-03-01`, midnight
/// UTC), or a time from now (`+90s`, `+15m`, `+2h`, `+7d`, `+500ms`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct When(pub Timestamp);

impl FromStr for When {
    type Err = String;

    fn from_str(text: &str) -> Result<When, String> {
        parse_when(text.trim(), Timestamp::now()).map(When).ok_or_else(|| {
            format!(
                "{text:?} is not a time: give milliseconds since the epoch, an RFC 3339 time \
                 (2025-03-01T12:00:00Z), a date (2025-03-01) or a time from now (+15m, +2h, +7d)"
            )
        })
    }
}

fn parse_when(text: &str, now: Timestamp) -> Option<Timestamp> {
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return text.parse().ok().map(Timestamp);
    }
    if let Some(relative) = text.strip_prefix('+') {
        let split = relative.find(|c: char| !c.is_ascii_digit())?;
        let (number, unit) = relative.split_at(split);
        let unit_ms: u64 = match unit {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            _ => return None,
        };
        return number.parse::<u64>().ok()?.checked_mul(unit_ms).map(|ms| now.saturating_add_ms(ms));
    }
    parse_utc(text).map(Timestamp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times() {
        let now = Timestamp(1_000_000);
        assert_eq!(parse_when("1700000000123", now), Some(Timestamp(1_700_000_000_123)));
        assert_eq!(parse_when("+15m", now), Some(Timestamp(1_000_000 + 900_000)));
        assert_eq!(parse_when("+500ms", now), Some(Timestamp(1_000_500)));
        assert_eq!(parse_when("2000-02-29", now), Some(Timestamp(951_782_400_000)));
        assert_eq!(parse_when("2023-11-14T22:13:20.123Z", now), Some(Timestamp(1_700_000_000_123)));
        assert_eq!(parse_when("2023-11-14T23:13:20.1+01:00", now), Some(Timestamp(1_700_000_000_100)));
        assert_eq!(parse_when("2023-11-14 22:13Z", now), Some(Timestamp(1_699_999_980_000)));
        for bad in ["", "+", "+5y", "2023-02-29", "2023-13-01", "2023-11-14T22:13:20", "tomorrow", "1.5"] {
            assert_eq!(parse_when(bad, now), None, "{bad:?}");
        }
    }

    #[test]
    fn lines() {
        let line: LineSpec = "TSHIRT@DC-1=3".parse().unwrap();
        assert_eq!(line, LineSpec { sku: "TSHIRT".into(), location: "DC-1".into(), quantity: 3 });
        for bad in ["TSHIRT@DC-1", "TSHIRT=3", "@DC-1=3", "TSHIRT@=3", "TSHIRT@DC-1=-1", "TSHIRT@DC-1=x"] {
            assert!(bad.parse::<LineSpec>().is_err(), "{bad:?}");
        }
    }
}
