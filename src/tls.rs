//! TLS for the QUIC endpoint and its clients: the server's identity (an operator's
//! certificate, or a self-signed one generated on first start), the quinn server and
//! client configurations, and certificate pinning.
//!
//! Everything uses the *ring* crypto provider explicitly
//! ([`rustls::crypto::ring::default_provider`]) and TLS 1.3 only (QUIC requires it), with
//! the ALPN [`crate::protocol::ALPN`].
//!
//! A client trusts a server in one of two ways ([`Trust`]); there is deliberately no
//! "accept any certificate" option:
//! - [`Trust::Fingerprint`]: the SHA-256 of the server's DER-encoded end-entity
//!   certificate must equal the pin. Names and validity dates are not checked (that is
//!   what pinning means), but the handshake signatures are: the server must hold the
//!   pinned certificate's private key.
//! - [`Trust::CaFile`]: normal WebPKI verification against the PEM roots of a file, for
//!   the server name the client dialled.

use crate::protocol::ALPN;
use crate::tools::durable_file::{self, Readers};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};
use sha2::{Digest, Sha256};
use std::fmt;
use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

/// The certificate file in a server's TLS directory.
pub const CERT_FILE: &str = "cert.pem";
/// The private key file in a server's TLS directory (mode 0600 when generated).
pub const KEY_FILE: &str = "key.pem";

/// Names a generated certificate is always valid for, besides the ones asked for.
pub const DEFAULT_NAMES: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

/// The SHA-256 of a certificate's DER encoding: what a pinning client compares.
///
/// Displayed as 64 lowercase hex digits; parsed from 64 hex digits in any case, with an
/// optional `sha256:` prefix and optional `:` separators (`AB:CD:…`).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub struct Fingerprint(pub [u8; 32]);

impl Fingerprint {
    pub fn of(cert: &CertificateDer<'_>) -> Fingerprint {
        Fingerprint(Sha256::digest(cert.as_ref()).into())
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for byte in self.0 {
            write!(f, "{byte:02x}")?;
        }
        Ok(())
    }
}

/// Why a string is not a fingerprint.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FingerprintError {
    #[error("a fingerprint has 64 hex digits, this one has {digits}")]
    WrongLength { digits: usize },
    #[error("{character:?} at position {position} is not a hex digit")]
    NotHex { character: char, position: usize },
}

impl FromStr for Fingerprint {
    type Err = FingerprintError;

    fn from_str(text: &str) -> Result<Fingerprint, FingerprintError> {
        let text = text.trim();
        let (offset, body) = match text.get(..7) {
            Some(prefix) if prefix.eq_ignore_ascii_case("sha256:") => (7, &text[7..]),
            _ => (0, text),
        };
        let mut bytes = [0u8; 32];
        let mut digits = 0usize;
        for (position, character) in body.char_indices() {
            if character == ':' {
                continue;
            }
            let value =
                character.to_digit(16).ok_or(FingerprintError::NotHex { character, position: offset + position })?;
            if digits < 64 {
                bytes[digits / 2] |= (value as u8) << if digits.is_multiple_of(2) { 4 } else { 0 };
            }
            digits += 1;
        }
        if digits != 64 {
            return Err(FingerprintError::WrongLength { digits });
        }
        Ok(Fingerprint(bytes))
    }
}

/// What a server presents: its certificate chain (end-entity first) and private key.
pub struct ServerIdentity {
    pub cert_chain: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
    /// Of `cert_chain[0]`: what clients pin.
    pub fingerprint: Fingerprint,
}

impl Clone for ServerIdentity {
    fn clone(&self) -> Self {
        ServerIdentity { cert_chain: self.cert_chain.clone(), key: self.key.clone_key(), fingerprint: self.fingerprint }
    }
}

impl fmt::Debug for ServerIdentity {
    // Never prints the key.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerIdentity")
            .field("certificates", &self.cert_chain.len())
            .field("fingerprint", &self.fingerprint.to_string())
            .finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error("cannot write {path}: {source}")]
    Write { path: PathBuf, source: io::Error },
    /// A TLS directory holds one of `cert.pem` and `key.pem` but not the other.
    #[error(
        "{present} exists but {missing} does not: provide both, or remove {present} to have a new self-signed \
         certificate generated"
    )]
    IncompletePair { present: PathBuf, missing: PathBuf },
    #[error("{path} is not valid PEM: {reason}")]
    Pem { path: PathBuf, reason: String },
    #[error("{path} holds no certificate")]
    NoCertificate { path: PathBuf },
    #[error("{path} holds no private key")]
    NoPrivateKey { path: PathBuf },
    /// The key cannot be used, or is not the key of the certificate.
    #[error("the key in {key_path} does not fit the certificate in {cert_path}: {reason}")]
    KeyMismatch { cert_path: PathBuf, key_path: PathBuf, reason: String },
    /// A certificate of a CA file could not be added as a root.
    #[error("{path} holds a certificate that cannot be a root: {reason}")]
    BadRoot { path: PathBuf, reason: String },
    #[error("cannot generate a self-signed certificate for {dir}: {reason}")]
    Generate { dir: PathBuf, reason: String },
    /// rustls or quinn refused the configuration (no file involved).
    #[error("invalid TLS configuration: {0}")]
    Config(String),
}

fn read_error(path: &Path) -> impl FnOnce(io::Error) -> TlsError + '_ {
    move |source| TlsError::Read { path: path.to_path_buf(), source }
}

fn write_error(path: &Path) -> impl FnOnce(io::Error) -> TlsError + '_ {
    move |source| TlsError::Write { path: path.to_path_buf(), source }
}

/// The crypto provider everything here uses.
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Loads `<dir>/cert.pem` and `<dir>/key.pem`, or if neither exists generates a
/// self-signed certificate for `names` plus `localhost`, `127.0.0.1` and `::1` and
/// writes both (each through a temporary file, fsynced, renamed, then the directory
/// fsynced; the key with mode 0600). Returns the identity and whether it was generated
/// now. One file without the other is an error (nothing is overwritten).
pub fn load_or_generate(dir: &Path, names: &[String]) -> Result<(ServerIdentity, bool), TlsError> {
    let cert_path = dir.join(CERT_FILE);
    let key_path = dir.join(KEY_FILE);
    let cert_exists = exists(&cert_path)?;
    let key_exists = exists(&key_path)?;
    match (cert_exists, key_exists) {
        (true, true) => return Ok((load_pem(&cert_path, &key_path)?, false)),
        (true, false) => return Err(TlsError::IncompletePair { present: cert_path, missing: key_path }),
        (false, true) => return Err(TlsError::IncompletePair { present: key_path, missing: cert_path }),
        (false, false) => {}
    }
    let (cert_pem, key_pem) = generate_pem(dir, names)?;
    fs::create_dir_all(dir).map_err(write_error(dir))?;
    // The key first: a crash between the two renames leaves a key without a
    // certificate, which the next start reports rather than silently replaces.
    write_atomically(dir, KEY_FILE, key_pem.as_bytes(), true)?;
    write_atomically(dir, CERT_FILE, cert_pem.as_bytes(), false)?;
    File::open(dir).and_then(|d| d.sync_all()).map_err(write_error(dir))?;
    Ok((load_pem(&cert_path, &key_path)?, true))
}

fn exists(path: &Path) -> Result<bool, TlsError> {
    path.try_exists().map_err(read_error(path))
}

/// A self-signed certificate for `names` plus [`DEFAULT_NAMES`], in memory only (tests,
/// ephemeral servers). [`load_or_generate`] is this plus the files.
pub fn generate_self_signed(names: &[String]) -> Result<ServerIdentity, TlsError> {
    let (cert_pem, key_pem) = generate_pem(Path::new("<memory>"), names)?;
    identity_from_pem(
        Path::new("<generated certificate>"),
        cert_pem.as_bytes(),
        Path::new("<generated key>"),
        key_pem.as_bytes(),
    )
}

/// The certificate and its key, as PEM.
fn generate_pem(dir: &Path, names: &[String]) -> Result<(String, String), TlsError> {
    let failed = |error: rcgen::Error| TlsError::Generate { dir: dir.to_path_buf(), reason: error.to_string() };
    let mut all: Vec<String> = Vec::with_capacity(names.len() + DEFAULT_NAMES.len());
    for name in names.iter().map(String::as_str).chain(DEFAULT_NAMES) {
        let name = name.trim();
        if !name.is_empty() && !all.iter().any(|n| n.eq_ignore_ascii_case(name)) {
            all.push(name.to_string());
        }
    }
    let mut params = rcgen::CertificateParams::new(all).map_err(failed)?;
    params.distinguished_name = rcgen::DistinguishedName::new();
    params.distinguished_name.push(rcgen::DnType::CommonName, "stockd self-signed");
    let key_pair = rcgen::KeyPair::generate().map_err(failed)?;
    let cert = params.self_signed(&key_pair).map_err(failed)?;
    Ok((cert.pem(), key_pair.serialize_pem()))
}

/// Writes `<dir>/<name>` atomically and durably (the key readable by its owner only).
fn write_atomically(dir: &Path, name: &str, contents: &[u8], secret: bool) -> Result<(), TlsError> {
    let path = dir.join(name);
    let readers = if secret { Readers::OwnerOnly } else { Readers::Anyone };
    durable_file::write_atomically(&path, contents, readers).map_err(write_error(&path))
}

/// An operator's certificate chain (end-entity first) and private key, as PEM files.
/// The key must be the certificate's.
pub fn load_pem(cert_path: &Path, key_path: &Path) -> Result<ServerIdentity, TlsError> {
    let cert_pem = fs::read(cert_path).map_err(read_error(cert_path))?;
    let key_pem = fs::read(key_path).map_err(read_error(key_path))?;
    identity_from_pem(cert_path, &cert_pem, key_path, &key_pem)
}

fn identity_from_pem(
    cert_path: &Path,
    cert_pem: &[u8],
    key_path: &Path,
    key_pem: &[u8],
) -> Result<ServerIdentity, TlsError> {
    let cert_chain = certificates(cert_path, cert_pem)?;
    let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|error| match error {
        rustls::pki_types::pem::Error::NoItemsFound => TlsError::NoPrivateKey { path: key_path.to_path_buf() },
        other => TlsError::Pem { path: key_path.to_path_buf(), reason: other.to_string() },
    })?;
    rustls::sign::CertifiedKey::from_der(cert_chain.clone(), key.clone_key(), &provider()).map_err(|error| {
        TlsError::KeyMismatch {
            cert_path: cert_path.to_path_buf(),
            key_path: key_path.to_path_buf(),
            reason: error.to_string(),
        }
    })?;
    let fingerprint = Fingerprint::of(&cert_chain[0]);
    Ok(ServerIdentity { cert_chain, key, fingerprint })
}

/// Every certificate of a PEM file, in order; at least one.
fn certificates(path: &Path, pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| TlsError::Pem { path: path.to_path_buf(), reason: error.to_string() })?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate { path: path.to_path_buf() });
    }
    Ok(certs)
}

/// The quinn server configuration: TLS 1.3 only, ALPN `stockd/1`, no client
/// authentication (clients authenticate with a token in `Hello`), no 0-RTT. The caller
/// sets the transport configuration afterwards.
pub fn server_config(identity: &ServerIdentity) -> Result<quinn::ServerConfig, TlsError> {
    let mut tls = rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|error| TlsError::Config(error.to_string()))?
        .with_no_client_auth()
        .with_single_cert(identity.cert_chain.clone(), identity.key.clone_key())
        .map_err(|error| TlsError::Config(format!("the server certificate or key: {error}")))?;
    tls.alpn_protocols = vec![ALPN.to_vec()];
    let quic =
        quinn::crypto::rustls::QuicServerConfig::try_from(tls).map_err(|error| TlsError::Config(error.to_string()))?;
    Ok(quinn::ServerConfig::with_crypto(Arc::new(quic)))
}

/// How a client trusts the server. There is deliberately no "accept anything" option.
#[derive(Clone, Debug)]
pub enum Trust {
    /// Exactly the end-entity certificate with this SHA-256 (names and dates ignored;
    /// handshake signatures still verified).
    Fingerprint(Fingerprint),
    /// WebPKI verification against the PEM root certificates of this file.
    CaFile(PathBuf),
}

/// The quinn client configuration: TLS 1.3 only, ALPN `stockd/1`, no client
/// certificate, no 0-RTT, the server verified as `trust` says.
pub fn client_config(trust: &Trust) -> Result<quinn::ClientConfig, TlsError> {
    let provider = provider();
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|error| TlsError::Config(error.to_string()))?;
    let mut tls = match trust {
        Trust::Fingerprint(pin) => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(PinnedVerifier { pin: *pin, provider }))
            .with_no_client_auth(),
        Trust::CaFile(path) => {
            let pem = fs::read(path).map_err(read_error(path))?;
            let mut roots = RootCertStore::empty();
            for cert in certificates(path, &pem)? {
                roots.add(cert).map_err(|error| TlsError::BadRoot { path: path.clone(), reason: error.to_string() })?;
            }
            builder.with_root_certificates(roots).with_no_client_auth()
        }
    };
    tls.alpn_protocols = vec![ALPN.to_vec()];
    let quic =
        quinn::crypto::rustls::QuicClientConfig::try_from(tls).map_err(|error| TlsError::Config(error.to_string()))?;
    Ok(quinn::ClientConfig::new(Arc::new(quic)))
}

/// Accepts exactly the pinned end-entity certificate, and checks that the server
/// proves it holds its key (the handshake signatures), with the provider's algorithms.
#[derive(Debug)]
struct PinnedVerifier {
    pin: Fingerprint,
    provider: Arc<CryptoProvider>,
}

#[derive(thiserror::Error)]
#[error("the server's certificate has fingerprint {presented}, not the pinned {pinned}")]
struct PinMismatch {
    presented: Fingerprint,
    pinned: Fingerprint,
}

// rustls reports the error with `Debug`: make that the readable sentence.
impl fmt::Debug for PinMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl ServerCertVerifier for PinnedVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let presented = Fingerprint::of(end_entity);
        if presented == self.pin {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::InvalidCertificate(rustls::CertificateError::Other(rustls::OtherError(Arc::new(
                PinMismatch { presented, pinned: self.pin },
            )))))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::pki_types::PrivatePkcs8KeyDer;
    use std::net::{Ipv4Addr, SocketAddr};
    use std::time::Duration;

    fn names() -> Vec<String> {
        vec!["stockd.test".to_string()]
    }

    #[test]
    fn fingerprint_display_and_parse_round_trip() {
        let fingerprint = Fingerprint(std::array::from_fn(|i| (i as u8).wrapping_mul(37)));
        let text = fingerprint.to_string();
        assert_eq!(text.len(), 64);
        assert!(text.chars().all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c)));
        assert_eq!(text.parse::<Fingerprint>(), Ok(fingerprint));
        assert_eq!(text.to_uppercase().parse::<Fingerprint>(), Ok(fingerprint));
        assert_eq!(format!("sha256:{text}").parse::<Fingerprint>(), Ok(fingerprint));
        assert_eq!(format!("SHA256:{}", text.to_uppercase()).parse::<Fingerprint>(), Ok(fingerprint));
        let colons = fingerprint.0.iter().map(|b| format!("{b:02X}")).collect::<Vec<_>>().join(":");
        assert_eq!(colons.parse::<Fingerprint>(), Ok(fingerprint));
        assert_eq!(format!("  {colons}\n").parse::<Fingerprint>(), Ok(fingerprint));
    }

    #[test]
    fn fingerprint_refuses_bad_input() {
        let good = "ab".repeat(32);
        assert_eq!("".parse::<Fingerprint>(), Err(FingerprintError::WrongLength { digits: 0 }));
        assert_eq!(good[..62].parse::<Fingerprint>(), Err(FingerprintError::WrongLength { digits: 62 }));
        assert_eq!(format!("{good}ab").parse::<Fingerprint>(), Err(FingerprintError::WrongLength { digits: 66 }));
        assert_eq!(
            format!("{}g{}", &good[..10], &good[11..]).parse::<Fingerprint>(),
            Err(FingerprintError::NotHex { character: 'g', position: 10 })
        );
        assert_eq!(
            format!("sha1:{good}").parse::<Fingerprint>(),
            Err(FingerprintError::NotHex { character: 's', position: 0 })
        );
        assert!(format!("sha256:{}é", &good[..63]).parse::<Fingerprint>().is_err());
        assert!("sha256:".parse::<Fingerprint>().is_err());
    }

    #[test]
    fn fingerprint_is_the_sha256_of_the_der() {
        let der = CertificateDer::from(b"not really a certificate".to_vec());
        let expected: [u8; 32] = Sha256::digest(b"not really a certificate").into();
        assert_eq!(Fingerprint::of(&der).0, expected);
    }

    #[test]
    fn generate_then_load_gives_the_same_identity() {
        let dir = tempfile::tempdir().unwrap();
        let tls_dir = dir.path().join("tls");
        let (generated, fresh) = load_or_generate(&tls_dir, &names()).unwrap();
        assert!(fresh);
        let (loaded, fresh) = load_or_generate(&tls_dir, &names()).unwrap();
        assert!(!fresh);
        assert_eq!(generated.fingerprint, loaded.fingerprint);
        assert_eq!(generated.fingerprint, Fingerprint::of(&loaded.cert_chain[0]));
        let direct = load_pem(&tls_dir.join(CERT_FILE), &tls_dir.join(KEY_FILE)).unwrap();
        assert_eq!(direct.fingerprint, generated.fingerprint);
        // No temporary files left behind.
        let mut entries: Vec<_> =
            fs::read_dir(&tls_dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        entries.sort();
        assert_eq!(entries, vec![CERT_FILE.to_string(), KEY_FILE.to_string()]);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(tls_dir.join(KEY_FILE)).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn one_file_without_the_other_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        load_or_generate(dir.path(), &[]).unwrap();
        fs::remove_file(dir.path().join(KEY_FILE)).unwrap();
        match load_or_generate(dir.path(), &[]) {
            Err(TlsError::IncompletePair { present, missing }) => {
                assert_eq!(present, dir.path().join(CERT_FILE));
                assert_eq!(missing, dir.path().join(KEY_FILE));
            }
            other => panic!("expected IncompletePair, got {other:?}"),
        }
        // The certificate was not replaced.
        assert!(dir.path().join(CERT_FILE).exists());
        assert!(!dir.path().join(KEY_FILE).exists());

        let dir = tempfile::tempdir().unwrap();
        load_or_generate(dir.path(), &[]).unwrap();
        fs::remove_file(dir.path().join(CERT_FILE)).unwrap();
        let error = load_or_generate(dir.path(), &[]).unwrap_err();
        assert!(matches!(error, TlsError::IncompletePair { .. }), "{error:?}");
        assert!(error.to_string().contains(KEY_FILE), "{error}");
    }

    #[test]
    fn bad_files_name_their_path() {
        let dir = tempfile::tempdir().unwrap();
        let cert = dir.path().join("c.pem");
        let key = dir.path().join("k.pem");
        let missing = load_pem(&cert, &key).unwrap_err();
        assert!(matches!(&missing, TlsError::Read { path, .. } if path == &cert), "{missing:?}");

        fs::write(&cert, "no pem here").unwrap();
        fs::write(&key, "no pem here").unwrap();
        let error = load_pem(&cert, &key).unwrap_err();
        assert!(matches!(&error, TlsError::NoCertificate { path } if path == &cert), "{error:?}");

        // A valid certificate with another certificate's key.
        let a = generate_pem(dir.path(), &[]).unwrap();
        let b = generate_pem(dir.path(), &[]).unwrap();
        fs::write(&cert, &a.0).unwrap();
        let error = load_pem(&cert, &key).unwrap_err();
        assert!(matches!(&error, TlsError::NoPrivateKey { path } if path == &key), "{error:?}");
        fs::write(&key, &b.1).unwrap();
        let error = load_pem(&cert, &key).unwrap_err();
        assert!(matches!(&error, TlsError::KeyMismatch { .. }), "{error:?}");
        assert!(error.to_string().contains("k.pem"), "{error}");
        fs::write(&key, &a.1).unwrap();
        load_pem(&cert, &key).unwrap();

        let error = client_config(&Trust::CaFile(dir.path().join("nope.pem"))).unwrap_err();
        assert!(error.to_string().contains("nope.pem"), "{error}");
    }

    /// A loopback QUIC server presenting `identity`, accepting one connection and
    /// echoing one stream; returns its address.
    fn loopback_server(identity: &ServerIdentity) -> (quinn::Endpoint, SocketAddr) {
        serve(server_config(identity).unwrap())
    }

    fn serve(config: quinn::ServerConfig) -> (quinn::Endpoint, SocketAddr) {
        let endpoint = quinn::Endpoint::server(config, SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).unwrap();
        let address = endpoint.local_addr().unwrap();
        let server = endpoint.clone();
        tokio::spawn(async move {
            while let Some(incoming) = server.accept().await {
                tokio::spawn(async move {
                    let Ok(connection) = incoming.await else { return };
                    assert_eq!(
                        connection
                            .handshake_data()
                            .unwrap()
                            .downcast::<quinn::crypto::rustls::HandshakeData>()
                            .unwrap()
                            .protocol
                            .unwrap(),
                        ALPN
                    );
                    if let Ok((mut send, mut recv)) = connection.accept_bi().await {
                        let data = recv.read_to_end(1024).await.unwrap_or_default();
                        let _ = send.write_all(&data).await;
                        let _ = send.finish();
                        let _ = connection.closed().await;
                    }
                });
            }
        });
        (endpoint, address)
    }

    async fn handshake(trust: &Trust, address: SocketAddr, name: &str) -> Result<Vec<u8>, String> {
        let mut client = quinn::Endpoint::client(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).unwrap();
        client.set_default_client_config(client_config(trust).unwrap());
        let attempt = async {
            let connection =
                client.connect(address, name).map_err(|e| e.to_string())?.await.map_err(|e| e.to_string())?;
            let (mut send, mut recv) = connection.open_bi().await.map_err(|e| e.to_string())?;
            send.write_all(b"ping").await.map_err(|e| e.to_string())?;
            send.finish().map_err(|e| e.to_string())?;
            let echoed = recv.read_to_end(1024).await.map_err(|e| e.to_string())?;
            connection.close(0u32.into(), b"done");
            Ok(echoed)
        };
        let result =
            tokio::time::timeout(Duration::from_secs(10), attempt).await.map_err(|_| "timed out".to_string())?;
        client.wait_idle().await;
        result
    }

    #[tokio::test]
    async fn pinned_handshake_accepts_the_pin_and_refuses_another() {
        let identity = generate_self_signed(&names()).unwrap();
        let (_server, address) = loopback_server(&identity);

        let right = Trust::Fingerprint(identity.fingerprint);
        // Pinning ignores the name.
        assert_eq!(handshake(&right, address, "any.name.example").await.unwrap(), b"ping");

        let mut wrong = identity.fingerprint;
        wrong.0[0] ^= 1;
        let error = handshake(&Trust::Fingerprint(wrong), address, "localhost").await.unwrap_err();
        assert!(error.contains("fingerprint"), "{error}");

        // A server holding another key cannot pass for the pinned one.
        let other = generate_self_signed(&names()).unwrap();
        let (_other_server, other_address) = loopback_server(&other);
        let error = handshake(&right, other_address, "localhost").await.unwrap_err();
        assert!(error.contains("fingerprint"), "{error}");
    }

    /// Presents a certificate with a private key that is not its own.
    #[derive(Debug)]
    struct Impostor(Arc<rustls::sign::CertifiedKey>);

    impl rustls::server::ResolvesServerCert for Impostor {
        fn resolve(&self, _: rustls::server::ClientHello<'_>) -> Option<Arc<rustls::sign::CertifiedKey>> {
            Some(self.0.clone())
        }
    }

    #[tokio::test]
    async fn pinning_still_checks_the_handshake_signature() {
        // A server presenting the pinned certificate without holding its key: the
        // fingerprint matches, the CertificateVerify signature does not.
        let genuine = generate_self_signed(&names()).unwrap();
        let other_key = rcgen::KeyPair::generate().unwrap();
        let signer = rustls::crypto::ring::sign::any_supported_type(&PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
            other_key.serialize_der(),
        )))
        .unwrap();
        let certified = rustls::sign::CertifiedKey::new(genuine.cert_chain.clone(), signer);
        let mut tls = rustls::ServerConfig::builder_with_provider(provider())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .unwrap()
            .with_no_client_auth()
            .with_cert_resolver(Arc::new(Impostor(Arc::new(certified))));
        tls.alpn_protocols = vec![ALPN.to_vec()];
        let quic = quinn::crypto::rustls::QuicServerConfig::try_from(tls).unwrap();
        let (_server, address) = serve(quinn::ServerConfig::with_crypto(Arc::new(quic)));
        let error = handshake(&Trust::Fingerprint(genuine.fingerprint), address, "localhost").await.unwrap_err();
        assert!(error.contains("BadSignature"), "refused for the signature, not the pin: {error}");
    }

    #[tokio::test]
    async fn ca_file_trust_verifies_name_and_chain() {
        let dir = tempfile::tempdir().unwrap();
        let (identity, _) = load_or_generate(dir.path(), &names()).unwrap();
        let (_server, address) = loopback_server(&identity);
        let trust = Trust::CaFile(dir.path().join(CERT_FILE));
        assert_eq!(handshake(&trust, address, "localhost").await.unwrap(), b"ping");
        assert_eq!(handshake(&trust, address, "stockd.test").await.unwrap(), b"ping");
        assert_eq!(handshake(&trust, address, "127.0.0.1").await.unwrap(), b"ping");
        // A name the certificate is not for.
        let error = handshake(&trust, address, "elsewhere.example").await.unwrap_err();
        assert!(error.to_lowercase().contains("certificate"), "{error}");
        // Another CA.
        let other_dir = tempfile::tempdir().unwrap();
        load_or_generate(other_dir.path(), &names()).unwrap();
        let other = Trust::CaFile(other_dir.path().join(CERT_FILE));
        let error = handshake(&other, address, "localhost").await.unwrap_err();
        assert!(error.to_lowercase().contains("certificate"), "{error}");
    }
}
