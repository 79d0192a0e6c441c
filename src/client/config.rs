//! What a [`Client`](super::Client) connects to and how patient it is.

use crate::tls::Trust;
use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

/// Everything [`Client::connect`](super::Client::connect) needs. Build it with
/// [`ClientConfig::new`] and change the public fields.
#[derive(Clone)]
pub struct ClientConfig {
    /// The server's UDP address.
    pub server: SocketAddr,
    /// The name sent in TLS SNI and, with [`Trust::CaFile`], checked against the
    /// server's certificate (ignored by pinning). Default `localhost`.
    pub server_name: String,
    pub trust: Trust,
    /// The bearer token sent in `Hello` (at most 256 bytes).
    pub token: String,
    /// For the QUIC handshake and `Hello` together. Default 5 s.
    pub connect_timeout: Duration,
    /// How long one attempt of a call waits for its response (and for room under the
    /// server's `max_in_flight`) before failing with
    /// [`ClientError::Timeout`](super::ClientError::Timeout). Default 10 s, above the
    /// server's default deadline of 5 s, so that a slow call is normally answered
    /// `DEADLINE_EXCEEDED` by the server rather than abandoned here. Checked with a
    /// coarse clock: a timeout fires up to an eighth later (at most 250 ms).
    pub request_timeout: Duration,
    /// Further attempts of a call that is safe to repeat (see
    /// [`is_safe_to_retry`](super::is_safe_to_retry)) after a lost connection or a
    /// transient refusal. Default 3.
    pub retries: u32,
    /// The pause before the first retry, doubled for each further one (with a little
    /// jitter, at most 64 times this). Default 50 ms.
    pub retry_backoff: Duration,
    /// QUIC keep-alive interval, so that an idle client keeps its connection (the
    /// server drops connections silent for its `idle_timeout_ms`, 30 s by default).
    /// `None`: no keep-alive; the next call reconnects. Default 10 s.
    pub keep_alive: Option<Duration>,
}

impl ClientConfig {
    pub fn new(server: SocketAddr, trust: Trust, token: impl Into<String>) -> Self {
        ClientConfig {
            server,
            server_name: "localhost".to_string(),
            trust,
            token: token.into(),
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(10),
            retries: 3,
            retry_backoff: Duration::from_millis(50),
            keep_alive: Some(Duration::from_secs(10)),
        }
    }
}

impl fmt::Debug for ClientConfig {
    // Never prints the token.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientConfig")
            .field("server", &self.server)
            .field("server_name", &self.server_name)
            .field("trust", &self.trust)
            .field("token", &"<redacted>")
            .field("connect_timeout", &self.connect_timeout)
            .field("request_timeout", &self.request_timeout)
            .field("retries", &self.retries)
            .field("retry_backoff", &self.retry_backoff)
            .field("keep_alive", &self.keep_alive)
            .finish()
    }
}
