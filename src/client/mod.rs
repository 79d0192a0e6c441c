//! The async Rust client of the stockd protocol (docs/PROTOCOL.md).
//!
//! ```no_run
//! # async fn example() -> Result<(), stockd::client::ClientError> {
//! use stockd::client::{Client, ClientConfig};
//! use stockd::tls::{Fingerprint, Trust};
//!
//! let pin: Fingerprint = "sha256:…64 hex digits printed by the server…".parse().expect("a fingerprint");
//! let client = Client::connect(ClientConfig::new("127.0.0.1:7878".parse().unwrap(), Trust::Fingerprint(pin), "token")).await?;
//! let position = client.position("SKU-1", "DC-1").await?;
//! println!("{} available to sell", position.available_to_sell);
//! client.close().await;
//! # Ok(())
//! # }
//! ```
//!
//! # Design
//!
//! **One connection, shared.** A [`Client`] is an `Arc` around one QUIC connection
//! (and the endpoint it came from); clones share it. After the QUIC handshake the
//! client sends `Hello` on a new bidirectional stream and waits for `Welcome`; that
//! stream then stays open as the connection's *shared stream*, which every call of
//! every clone is pipelined on.
//!
//! **Per-request path, kept short.** A call takes a permit of the connection's
//! in-flight gate (a semaphore sized to the server's `max_in_flight`: when it is full,
//! calls wait for room instead of being refused `OVERLOADED`), then, under one
//! uncontended lock, takes a *slot* from a slab and encodes its frame straight into the
//! outgoing buffer. The request id names the slot and the slot's generation, so a
//! response finds its caller by indexing, not hashing, and a late response to an
//! abandoned request can never be taken for a newer one. The caller then awaits a
//! plain future that polls its slot: no channel, no boxed future, no task per request.
//!
//! **Coalesced writes.** The first request encoded since the last write wakes the
//! connection's writer task; everything encoded until the writer runs (every call made
//! in the same scheduler tick) goes out in one `write_all`. The reader task decodes
//! every whole frame of each read and hands them all to their slots under one lock,
//! then wakes the callers. So the hops per request are amortised: one writer wake-up
//! per batch of requests, one reader pass per batch of responses, one wake-up of the
//! caller. This works the same on a `current_thread` runtime (the load-test harness) as
//! on a multi-threaded one.
//!
//! **Timeouts without a timer per request.** A sweeper task advances a coarse clock
//! (an eighth of `request_timeout`, at most 250 ms) and fails the requests past their
//! deadline with [`ClientError::Timeout`]. A timed-out request keeps its slot and its
//! in-flight permit until its response arrives, because the server still counts it.
//!
//! **Failures and reconnection.** When the connection or its shared stream breaks,
//! every waiting call fails with [`ClientError::ConnectionLost`] and the next call
//! reconnects (one task reconnects, the others wait for it). Calls are retried (see
//! [`retry`](is_safe_to_retry)) only when repeating them is safe by construction, after
//! a lost connection or a transient refusal, with the same operation and exponential
//! backoff. A response that does not decode fails its call with
//! [`ClientError::Protocol`] (the stream goes on: frame boundaries are intact); a
//! broken framing fails the connection. Nothing the server sends can make the client
//! panic.
//!
//! **Raw pipelines.** [`Client::open_pipeline`] gives a load generator its own stream
//! with no task, no lock and no slot at all: queue requests, flush them in one write,
//! read responses as they arrive. Pipelines share the connection's in-flight gate
//! with the calls.
//!
//! **Limits.** `max_in_flight` through the gate; `max_frame_bytes` when encoding
//! (a larger request is refused with [`ClientError::LimitExceeded`] before sending;
//! [`Client::bulk_load`] splits its rows to fit); `max_batch_calls` in
//! [`Client::batch`] (refused) and [`Client::batch_chunked`] (split).

mod calls;
mod config;
mod connection;
mod error;
mod feed;
mod pipeline;
mod retry;
mod sourcing_calls;

#[cfg(test)]
mod test_double;
#[cfg(test)]
mod tests;

pub use config::ClientConfig;
pub use error::ClientError;
pub use feed::Subscription;
pub use pipeline::Pipeline;
pub use retry::{is_call_safe_to_retry, is_request_safe_to_retry, is_safe_to_retry};
pub use sourcing_calls::ProfilesInForce;

use crate::protocol::{Call, Limits, Reply, Request, Response, Role};
use arc_swap::ArcSwap;
use connection::{Conn, Failure};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// A connection to a stockd server, shared by all clones. See the module documentation.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    config: ClientConfig,
    endpoint: quinn::Endpoint,
    quic: quinn::ClientConfig,
    current: ArcSwap<Conn>,
    /// Held by the one task reconnecting: the reason the last attempt failed, if it did.
    reconnect: tokio::sync::Mutex<Option<String>>,
    /// Reconnection attempts finished so far: a caller that waited for another's
    /// attempt shares its outcome instead of trying again at once.
    reconnect_attempts: std::sync::atomic::AtomicU64,
    closed: AtomicBool,
}

impl Client {
    /// Connects and says `Hello` (bounded by `config.connect_timeout`). One attempt: a
    /// server that cannot be reached is an error now; a connection lost later is
    /// re-established by the next call.
    pub async fn connect(config: ClientConfig) -> Result<Client, ClientError> {
        let mut quic = crate::tls::client_config(&config.trust)?;
        let mut transport = quinn::TransportConfig::default();
        transport.keep_alive_interval(config.keep_alive);
        // The server never opens streams.
        transport.max_concurrent_bidi_streams(0u8.into());
        transport.max_concurrent_uni_streams(0u8.into());
        quic.transport_config(Arc::new(transport));
        let bind = connection::bind_address(config.server);
        let endpoint = quinn::Endpoint::client(bind).map_err(|error| ClientError::Connect {
            server: config.server,
            reason: format!("cannot open a UDP socket on {bind}: {error}"),
        })?;
        let conn = Conn::establish(&endpoint, &quic, &config).await?;
        Ok(Client {
            inner: Arc::new(Inner {
                config,
                endpoint,
                quic,
                current: ArcSwap::new(conn),
                reconnect: tokio::sync::Mutex::new(None),
                reconnect_attempts: std::sync::atomic::AtomicU64::new(0),
                closed: AtomicBool::new(false),
            }),
        })
    }

    /// The role the server granted the token (of the current connection).
    pub fn role(&self) -> Role {
        self.inner.current.load().role
    }

    /// The server's limits (of the current connection).
    pub fn limits(&self) -> Limits {
        self.inner.current.load().limits
    }

    pub fn server_addr(&self) -> SocketAddr {
        self.inner.config.server
    }

    pub fn config(&self) -> &ClientConfig {
        &self.inner.config
    }

    /// One call. A refusal (`Reply::Error`, or `Response::Error` for the request as a
    /// whole) is `Err(ClientError::Refused)`. Retried as [`is_call_safe_to_retry`] allows.
    pub async fn call(&self, call: Call) -> Result<Reply, ClientError> {
        match self.request(&Request::Call(call)).await? {
            Response::Reply(Reply::Error(error)) | Response::Error(error) => Err(ClientError::Refused(error)),
            Response::Reply(reply) => Ok(reply),
            other => Err(unexpected_response("a Reply", &other)),
        }
    }

    /// Calls run one after another on the server, in one frame; one reply per call, in
    /// order. A call refused on its own stays in the list as `Reply::Error`; a refusal
    /// of the whole batch is `Err(ClientError::Refused)`. At most the server's
    /// `max_batch_calls` (see [`batch_chunked`](Client::batch_chunked) for more). The
    /// batch is retried only if every call of it is safe to retry.
    pub async fn batch(&self, calls: Vec<Call>) -> Result<Vec<Reply>, ClientError> {
        if calls.is_empty() {
            return Ok(Vec::new());
        }
        let limit = self.limits().max_batch_calls;
        if calls.len() > limit as usize {
            return Err(ClientError::LimitExceeded(format!(
                "a batch of {} calls; the server takes at most {limit} (batch_chunked splits)",
                calls.len()
            )));
        }
        let count = calls.len();
        let response = self.request(&Request::Batch(calls)).await?;
        batch_replies(response, count)
    }

    /// Closes the connection (for every clone): calls in flight fail, later calls
    /// return [`ClientError::Closed`]. Waits briefly for the close to reach the server.
    pub async fn close(&self) {
        self.inner.closed.store(true, Ordering::Release);
        {
            let _reconnecting = self.inner.reconnect.lock().await;
            self.inner.current.load().shut_down(Failure::Closed);
        }
        let _ = tokio::time::timeout(Duration::from_secs(1), self.inner.endpoint.wait_idle()).await;
    }

    /// A raw pipeline on a stream of its own (see [`Pipeline`]).
    pub async fn open_pipeline(&self) -> Result<Pipeline, ClientError> {
        let conn = self.connection().await?;
        conn.open_pipeline().await
    }
}

/// The replies of a batch of `count` calls.
fn batch_replies(response: Response, count: usize) -> Result<Vec<Reply>, ClientError> {
    match response {
        Response::Batch(replies) if replies.len() == count => Ok(replies),
        Response::Batch(replies) => {
            Err(ClientError::Protocol(format!("a batch of {count} calls was answered with {} replies", replies.len())))
        }
        Response::Error(error) => Err(ClientError::Refused(error)),
        other => Err(unexpected_response("a Batch", &other)),
    }
}

fn unexpected_response(expected: &str, response: &Response) -> ClientError {
    ClientError::Protocol(format!("expected {expected}, the server answered {}", response_name(response)))
}

/// The variant of a response, for error messages (never the whole value).
pub(crate) fn response_name(response: &Response) -> &'static str {
    match response {
        Response::Welcome { .. } => "Welcome",
        Response::Reply(reply) => reply_name(reply),
        Response::Batch(_) => "Batch",
        Response::Error(_) => "Error",
        Response::Subscribed { .. } => "Subscribed",
        Response::Events(_) => "Events",
        Response::ResyncScheduled => "ResyncScheduled",
    }
}

pub(crate) fn reply_name(reply: &Reply) -> &'static str {
    match reply {
        Reply::Pong { .. } => "Reply::Pong",
        Reply::Position(_) => "Reply::Position",
        Reply::Availability { .. } => "Reply::Availability",
        Reply::ChannelAvailability(_) => "Reply::ChannelAvailability",
        Reply::AvailabilityBatch { .. } => "Reply::AvailabilityBatch",
        Reply::Reservation(_) => "Reply::Reservation",
        Reply::Stats(_) => "Reply::Stats",
        Reply::Verify(_) => "Reply::Verify",
        Reply::Applied(_) => "Reply::Applied",
        Reply::SnapshotTaken(_) => "Reply::SnapshotTaken",
        Reply::Error(_) => "Reply::Error",
        Reply::Stores(_) => "Reply::Stores",
        Reply::Demand(_) => "Reply::Demand",
        Reply::DemandTop(_) => "Reply::DemandTop",
        Reply::SourcingProfiles { .. } => "Reply::SourcingProfiles",
    }
}
