//! One QUIC connection: the connection limit, the handshake deadline, the
//! connection's authenticated role and in-flight count, and a task per stream.

use super::stream::serve_stream;
use super::ServerShared;
use crate::protocol::{close, Role};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinSet;

/// What the streams of one connection share.
pub(super) struct ConnectionState {
    connection: quinn::Connection,
    remote: SocketAddr,
    /// 0 until `Hello` succeeds, then the role's number + 1.
    role: AtomicU8,
    /// Requests in flight on all the connection's streams.
    pub(super) in_flight: AtomicU32,
}

impl ConnectionState {
    pub(super) fn role(&self) -> Option<Role> {
        match self.role.load(Ordering::Acquire) {
            1 => Some(Role::Read),
            2 => Some(Role::Reserve),
            3 => Some(Role::Admin),
            _ => None,
        }
    }

    pub(super) fn authenticate(&self, role: Role, token_name: &str) {
        let number = match role {
            Role::Read => 1,
            Role::Reserve => 2,
            Role::Admin => 3,
        };
        self.role.store(number, Ordering::Release);
        tracing::info!(remote = %self.remote, token = token_name, ?role, "connection authenticated");
    }

    /// Counts one more request in flight, unless the connection is at `limit`.
    pub(super) fn try_enter(&self, limit: u32) -> bool {
        self.in_flight
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |count| (count < limit).then_some(count + 1))
            .is_ok()
    }

    pub(super) fn close(&self, code: u32, reason: &str) {
        tracing::info!(remote = %self.remote, code, reason, "closing connection");
        self.connection.close(code.into(), reason.as_bytes());
    }
}

/// Serves one incoming connection until it closes or the server drains it.
pub(super) async fn serve_connection(shared: Arc<ServerShared>, incoming: quinn::Incoming) {
    let remote = incoming.remote_address();
    let connection = match incoming.await {
        Ok(connection) => connection,
        Err(error) => {
            shared.metrics.connection_refused("handshake_failed");
            tracing::info!(%remote, %error, "QUIC handshake failed");
            return;
        }
    };
    let open = shared.open_connections.fetch_add(1, Ordering::AcqRel) + 1;
    let _open_guard = OpenGuard(shared.clone());
    if open > shared.config.limits.max_connections {
        shared.metrics.connection_refused("too_many_connections");
        tracing::warn!(%remote, open, "connection refused: at the connection limit");
        connection.close(close::TOO_MANY_CONNECTIONS.into(), b"the server is at its connection limit");
        return;
    }
    shared.metrics.connection_opened();
    tracing::info!(%remote, "connection opened");
    let state = Arc::new(ConnectionState {
        connection: connection.clone(),
        remote,
        role: AtomicU8::new(0),
        in_flight: AtomicU32::new(0),
    });
    let mut streams = JoinSet::new();
    let handshake_deadline = tokio::time::sleep(Duration::from_millis(shared.config.limits.handshake_timeout_ms));
    tokio::pin!(handshake_deadline);
    let mut handshake_checked = false;
    let mut shutdown = shared.shutdown.clone();
    let reason = loop {
        tokio::select! {
            accepted = connection.accept_bi() => match accepted {
                Ok((send, recv)) => {
                    streams.spawn(serve_stream(shared.clone(), state.clone(), send, recv));
                }
                Err(error) => break error.to_string(),
            },
            Some(_) = streams.join_next(), if !streams.is_empty() => {}
            // A guard is read when an iteration starts, and this loop may wait in
            // `accept_bi` across the Hello: look at the role again when it fires.
            _ = &mut handshake_deadline, if !handshake_checked => {
                handshake_checked = true;
                if state.role().is_none() {
                    state.close(close::UNAUTHENTICATED, "no Hello within the handshake timeout");
                }
            }
            _ = super::stopping(&mut shutdown) => {
                // Streams stop reading and answer what they have in flight.
                let drain = Duration::from_millis(shared.config.limits.drain_timeout_ms);
                let drained = tokio::time::timeout(drain, async { while streams.join_next().await.is_some() {} }).await;
                if drained.is_err() {
                    tracing::warn!(%remote, "in-flight requests not finished within the drain timeout");
                }
                state.close(close::SHUTTING_DOWN, "the server is shutting down");
                break "server shutdown".to_owned();
            }
        }
    };
    streams.abort_all();
    shared.metrics.connection_closed();
    tracing::info!(%remote, reason, "connection closed");
}

/// Decrements the open-connection count however the connection ends.
struct OpenGuard(Arc<ServerShared>);

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.0.open_connections.fetch_sub(1, Ordering::AcqRel);
    }
}
