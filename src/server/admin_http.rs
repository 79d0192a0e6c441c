//! The admin HTTP listener: `GET /metrics` (Prometheus), `/healthz` (liveness) and
//! `/readyz` (readiness), in plain HTTP/1.1 on its own port.
//!
//! Bounded so that it cannot hurt the QUIC server it sits beside: at most
//! [`MAX_CONNECTIONS`] connections (extra ones are closed at once), a header read
//! timeout (which also closes idle keep-alive connections), a lifetime per
//! connection, request bodies never read, and one metrics render at a time, on the
//! blocking pool (a render walks the engine's state, milliseconds with millions of
//! reservations, and must not stall a runtime thread that serves requests).

use super::metrics::Metrics;
use crate::feed::FeedHub;
use crate::storage::DurableEngine;
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{HeaderValue, ALLOW, CACHE_CONTROL, CONTENT_TYPE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;

/// Admin connections served at once; more are closed as soon as accepted.
pub const MAX_CONNECTIONS: usize = 64;

/// How long a client has to send a request's headers, counted from the connection's
/// start or the end of the previous response (so also the keep-alive idle limit).
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// The longest a connection lives: then it is asked to close after its current
/// response (and cut [`SHUTDOWN_GRACE`] later). Bounds clients that read slowly.
pub const MAX_CONNECTION_LIFETIME: Duration = Duration::from_secs(120);

/// At shutdown (or the end of a connection's lifetime), how long a response in
/// progress may take to finish before its connection is cut.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// Pause after a failed `accept` (out of file descriptors, say) before the next.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(100);

const TEXT_PLAIN: &str = "text/plain; charset=utf-8";
const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// What the admin listener serves from.
pub struct AdminState {
    pub metrics: Arc<Metrics>,
    pub durable: Arc<DurableEngine>,
    /// The change feed, whose counters `/metrics` shows.
    pub feed: Option<Arc<FeedHub>>,
    ready: AtomicBool,
    /// One render at a time: concurrent scrapes queue instead of each walking the state.
    render: Semaphore,
}

impl AdminState {
    /// Not ready until [`Self::set_ready`]`(true)`.
    pub fn new(metrics: Arc<Metrics>, durable: Arc<DurableEngine>, feed: Option<Arc<FeedHub>>) -> Arc<AdminState> {
        Arc::new(AdminState { metrics, durable, feed, ready: AtomicBool::new(false), render: Semaphore::new(1) })
    }

    /// What `/readyz` answers: the server sets it once it accepts requests, and clears
    /// it when shutdown starts.
    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::Release);
    }

    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    /// The metrics exposition, rendered on the blocking pool.
    async fn render_metrics(self: &Arc<Self>) -> Option<String> {
        // The semaphore is never closed.
        let _one_at_a_time = self.render.acquire().await.ok()?;
        let state = self.clone();
        let rendered = tokio::task::spawn_blocking(move || {
            let mut out = String::with_capacity(64 * 1024);
            let feed = state.feed.as_ref().map(|hub| hub.stats());
            state.metrics.render(&state.durable, feed.as_ref(), &mut out);
            out
        })
        .await;
        match rendered {
            Ok(out) => Some(out),
            Err(error) => {
                tracing::error!(%error, "rendering the metrics failed");
                None
            }
        }
    }
}

/// Serves `GET /metrics` (`text/plain; version=0.0.4`), `/healthz` (200 `ok` while
/// the process runs), `/readyz` (200 `ready` after `set_ready(true)`, else 503 `not
/// ready`); any other path 404, any method but GET 405. HTTP/1.1 (hyper), one task
/// per connection, bounded as the module documentation says.
///
/// Returns once `shutdown` is true (or its sender is dropped): stops accepting,
/// lets responses in progress finish for up to [`SHUTDOWN_GRACE`], then closes
/// every connection.
pub async fn serve(listener: TcpListener, state: Arc<AdminState>, mut shutdown: watch::Receiver<bool>) {
    let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let mut connections = JoinSet::new();
    // Each connection watches its own copy (`wait_for` looks at the current value
    // first, so a copy taken now still sees a later or an earlier signal).
    let for_connections = shutdown.clone();
    loop {
        tokio::select! {
            signalled = shutdown_signalled(&mut shutdown) => {
                if !signalled {
                    tracing::debug!("admin listener: shutdown sender dropped; stopping");
                }
                break;
            }
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(accepted) => accepted,
                    Err(error) => {
                        tracing::warn!(%error, "admin listener: accept failed");
                        tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                        continue;
                    }
                };
                let Ok(permit) = permits.clone().try_acquire_owned() else {
                    tracing::debug!(%peer, "admin listener: too many connections; closing a new one");
                    drop(stream);
                    continue;
                };
                let _ = stream.set_nodelay(true);
                let state = state.clone();
                let shutdown = for_connections.clone();
                connections.spawn(async move {
                    serve_connection(stream, state, shutdown).await;
                    drop(permit);
                });
            }
            // Reap finished connection tasks as they end.
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    drop(listener);
    // Every connection task sees the same signal and closes gracefully; cut those
    // that take longer.
    let drained = tokio::time::timeout(SHUTDOWN_GRACE + Duration::from_millis(500), async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        connections.shutdown().await;
    }
}

/// Waits until shutdown is signalled: true, or false if the sender was dropped (which
/// counts as shutdown too). Returns no borrow of the channel, so that the futures
/// awaiting it stay `Send`.
async fn shutdown_signalled(shutdown: &mut watch::Receiver<bool>) -> bool {
    shutdown.wait_for(|&stop| stop).await.is_ok()
}

async fn serve_connection(stream: tokio::net::TcpStream, state: Arc<AdminState>, mut shutdown: watch::Receiver<bool>) {
    let service = service_fn(move |request| {
        let state = state.clone();
        async move { Ok::<_, Infallible>(respond(&state, request).await) }
    });
    let connection = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .max_buf_size(64 * 1024)
        .serve_connection(TokioIo::new(stream), service);
    let mut connection = std::pin::pin!(connection);
    let finished = tokio::select! {
        result = connection.as_mut() => Some(result),
        _ = shutdown_signalled(&mut shutdown) => None,
        _ = tokio::time::sleep(MAX_CONNECTION_LIFETIME) => None,
    };
    let result = match finished {
        Some(result) => result,
        None => {
            connection.as_mut().graceful_shutdown();
            match tokio::time::timeout(SHUTDOWN_GRACE, connection).await {
                Ok(result) => result,
                Err(_) => return,
            }
        }
    };
    if let Err(error) = result {
        tracing::debug!(%error, "admin connection ended with an error");
    }
}

/// The answer to one request. The body, if any, is never read.
async fn respond(state: &Arc<AdminState>, request: Request<Incoming>) -> Response<Full<Bytes>> {
    if request.method() != Method::GET {
        let mut response = text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed");
        response.headers_mut().insert(ALLOW, HeaderValue::from_static("GET"));
        return response;
    }
    let path = request.uri().path().to_owned();
    drop(request);
    match path.as_str() {
        "/metrics" => match state.render_metrics().await {
            Some(body) => {
                let mut response = Response::new(Full::new(Bytes::from(body)));
                response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static(PROMETHEUS_TEXT));
                response.headers_mut().insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
                response
            }
            None => text(StatusCode::INTERNAL_SERVER_ERROR, "metrics unavailable"),
        },
        "/healthz" => text(StatusCode::OK, "ok"),
        "/readyz" if state.is_ready() => text(StatusCode::OK, "ready"),
        "/readyz" => text(StatusCode::SERVICE_UNAVAILABLE, "not ready"),
        _ => text(StatusCode::NOT_FOUND, "not found"),
    }
}

fn text(status: StatusCode, body: &'static str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *response.status_mut() = status;
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static(TEXT_PLAIN));
    response.headers_mut().insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::ErrorCode;
    use crate::storage::StorageConfig;
    use crate::wal::DurabilityMode;
    use std::net::SocketAddr;
    use std::time::Instant;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;
    use tokio::time::timeout;

    /// Every wait in these tests is bounded by this.
    const BOUND: Duration = Duration::from_secs(10);

    struct Running {
        _dir: tempfile::TempDir,
        state: Arc<AdminState>,
        address: SocketAddr,
        stop: watch::Sender<bool>,
        server: tokio::task::JoinHandle<()>,
    }

    async fn start() -> Running {
        let dir = tempfile::tempdir().unwrap();
        let config = StorageConfig::with_manual_snapshots(
            dir.path().join("data"),
            dir.path().join("snapshots"),
            DurabilityMode::None,
        );
        let (durable, _) = DurableEngine::open(config).unwrap();
        let metrics = Arc::new(Metrics::new());
        let state = AdminState::new(metrics, durable, None);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let (stop, shutdown) = watch::channel(false);
        let server = tokio::spawn(serve(listener, state.clone(), shutdown));
        Running { _dir: dir, state, address, stop, server }
    }

    /// Sends one request (closing the connection after it) and returns the status and body.
    async fn request(address: SocketAddr, method: &str, path: &str) -> (u16, String, String) {
        let exchange = async {
            let mut stream = TcpStream::connect(address).await.unwrap();
            let head = format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n");
            let head =
                if method == "POST" { format!("{head}Content-Length: 5\r\n\r\nhello") } else { format!("{head}\r\n") };
            stream.write_all(head.as_bytes()).await.unwrap();
            let mut response = Vec::new();
            stream.read_to_end(&mut response).await.unwrap();
            String::from_utf8(response).unwrap()
        };
        let response = timeout(BOUND, exchange).await.expect("a response in time");
        let (head, body) = response.split_once("\r\n\r\n").expect("a head and a body");
        let status = head.split(' ').nth(1).unwrap().parse().unwrap();
        (status, head.to_owned(), body.to_owned())
    }

    #[tokio::test]
    async fn serves_metrics_health_and_readiness() {
        let running = start().await;
        let address = running.address;
        running.state.metrics.record_call("ping", Ok(()), Duration::from_micros(5));
        running.state.metrics.record_refused_request(ErrorCode::Overloaded);

        let (status, head, body) = request(address, "GET", "/metrics").await;
        assert_eq!(status, 200, "{head}");
        assert!(head.to_ascii_lowercase().contains("content-type: text/plain; version=0.0.4"), "{head}");
        assert!(body.contains("stockd_requests_total{op=\"ping\",outcome=\"ok\"} 1\n"), "{body}");
        assert!(body.contains("stockd_requests_refused_total{code=\"OVERLOADED\"} 1\n"), "{body}");
        assert!(body.contains("stockd_durability_mode{mode=\"none\"} 1\n"), "{body}");

        assert_eq!(request(address, "GET", "/healthz").await.2, "ok");
        assert_eq!(request(address, "GET", "/healthz").await.0, 200);
        let (status, _, body) = request(address, "GET", "/readyz").await;
        assert_eq!((status, body.as_str()), (503, "not ready"));
        running.state.set_ready(true);
        assert!(running.state.is_ready());
        let (status, _, body) = request(address, "GET", "/readyz").await;
        assert_eq!((status, body.as_str()), (200, "ready"));
        running.state.set_ready(false);
        assert_eq!(request(address, "GET", "/readyz").await.0, 503);

        assert_eq!(request(address, "GET", "/nope").await.0, 404);
        assert_eq!(request(address, "GET", "/metrics/extra").await.0, 404);
        let (status, head, _) = request(address, "POST", "/metrics").await;
        assert_eq!(status, 405);
        assert!(head.to_ascii_lowercase().contains("allow: get"), "{head}");
        assert_eq!(request(address, "PUT", "/healthz").await.0, 405);

        // A query string does not change the path.
        assert_eq!(request(address, "GET", "/healthz?verbose=1").await.0, 200);

        let started = Instant::now();
        running.stop.send(true).unwrap();
        timeout(BOUND, running.server).await.expect("serve returns after shutdown").unwrap();
        assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
    }

    #[tokio::test]
    async fn keep_alive_serves_several_requests_on_one_connection() {
        let running = start().await;
        let mut stream = TcpStream::connect(running.address).await.unwrap();
        let mut buffer = vec![0u8; 64 * 1024];
        for _ in 0..3 {
            stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n").await.unwrap();
            let read = timeout(BOUND, stream.read(&mut buffer)).await.unwrap().unwrap();
            let response = std::str::from_utf8(&buffer[..read]).unwrap();
            assert!(response.starts_with("HTTP/1.1 200"), "{response}");
            assert!(response.ends_with("\r\n\r\nok"), "{response}");
        }
        // Shutdown closes the idle keep-alive connection and returns promptly.
        let started = Instant::now();
        running.stop.send(true).unwrap();
        timeout(BOUND, running.server).await.expect("serve returns after shutdown").unwrap();
        assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
        let read = timeout(BOUND, stream.read(&mut buffer)).await.expect("closed by the server");
        assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    }

    #[tokio::test]
    async fn connections_beyond_the_limit_are_closed() {
        let running = start().await;
        let mut held = Vec::new();
        for _ in 0..MAX_CONNECTIONS {
            held.push(TcpStream::connect(running.address).await.unwrap());
        }
        // Make sure the server has taken all of them before the one too many.
        let mut probe = held.pop().unwrap();
        probe.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n").await.unwrap();
        let mut buffer = vec![0u8; 4096];
        let read = timeout(BOUND, probe.read(&mut buffer)).await.unwrap().unwrap();
        assert!(buffer[..read].starts_with(b"HTTP/1.1 200"));
        held.push(probe);

        let mut extra = TcpStream::connect(running.address).await.unwrap();
        let _ = extra.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n").await;
        let read = timeout(BOUND, extra.read(&mut buffer)).await.expect("closed at once");
        assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");

        // Once one closes, a new connection is served again.
        drop(held.pop());
        let deadline = Instant::now() + BOUND;
        loop {
            let mut stream = TcpStream::connect(running.address).await.unwrap();
            let _ = stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n").await;
            if let Ok(Ok(read)) = timeout(BOUND, stream.read(&mut buffer)).await {
                if buffer[..read].starts_with(b"HTTP/1.1 200") {
                    break;
                }
            }
            assert!(Instant::now() < deadline, "a connection is served again after one closed");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }

        let started = Instant::now();
        running.stop.send(true).unwrap();
        timeout(BOUND, running.server).await.expect("serve returns after shutdown").unwrap();
        assert!(started.elapsed() < Duration::from_secs(4), "{:?}", started.elapsed());
    }

    #[tokio::test]
    async fn dropping_the_shutdown_sender_stops_the_listener() {
        let running = start().await;
        drop(running.stop);
        timeout(BOUND, running.server).await.expect("serve returns").unwrap();
    }
}
