//! PROTOCOL TEST DOUBLE, for the client's unit tests only.
//!
//! This is **not** the stockd server and runs no engine: it is a few dozen lines of
//! QUIC plumbing that speak the handshake (`Hello` / `Welcome`, with one token) and the
//! framing of docs/PROTOCOL.md, and answer every other request as the test's handler
//! says (a reply, a delayed reply, silence, a dropped connection, raw bytes). It lets
//! the client's machinery (pipelining, out-of-order replies, retries, reconnection,
//! limits) be tested before the real server exists. End-to-end tests against the real
//! server belong elsewhere. Loopback only (127.0.0.1).

use crate::client::ClientConfig;
use crate::protocol::{
    close, decode_request_frame, encode_frame, ErrorCode, FrameDecoder, Limits, Request, Response, ResponseFrame, Role,
    WireError, PROTOCOL_VERSION,
};
use crate::tls::{self, Fingerprint, Trust};
use parking_lot::Mutex;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

pub(super) const TOKEN: &str = "test-token";

/// What the double does with one request (after the handshake).
pub(super) enum Action {
    Respond(Response),
    /// Answers after a pause (other requests are answered meanwhile).
    After(Duration, Response),
    /// Never answers.
    Ignore,
    /// Closes the connection (`SHUTTING_DOWN`) without answering.
    DropConnection,
    /// Answers with a payload of the request id followed by these bytes (an
    /// undecodable response that still names its request).
    Undecodable(Vec<u8>),
    /// Sends this payload as a frame, with no request id of its own.
    RawPayload(Vec<u8>),
}

/// A request as the double saw it.
#[derive(Clone, Debug)]
pub(super) struct Seen {
    /// Connections are numbered from 1 in the order accepted.
    pub connection: usize,
    pub request_id: u64,
    pub request: Request,
    /// The frame's payload length.
    pub bytes: usize,
}

#[derive(Default)]
pub(super) struct Log {
    pub connections: usize,
    pub hellos: usize,
    pub requests: Vec<Seen>,
    pub in_flight: usize,
    pub max_in_flight: usize,
    /// Why each connection that ended did (the QUIC close as the double saw it).
    pub closed: Vec<String>,
}

/// The handler: the request and the number of the connection it came on.
pub(super) type Handler = Arc<dyn Fn(&Request, usize) -> Action + Send + Sync>;

pub(super) struct TestServer {
    pub address: SocketAddr,
    pub fingerprint: Fingerprint,
    pub log: Arc<Mutex<Log>>,
    endpoint: quinn::Endpoint,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.endpoint.close(0u32.into(), b"test over");
    }
}

impl TestServer {
    pub fn start(role: Role, limits: Limits, handler: Handler) -> TestServer {
        let identity = tls::generate_self_signed(&[]).expect("a test certificate");
        let config = tls::server_config(&identity).expect("a server config");
        let endpoint = quinn::Endpoint::server(config, SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).expect("a socket");
        let address = endpoint.local_addr().expect("an address");
        let log = Arc::new(Mutex::new(Log::default()));
        let accepting = endpoint.clone();
        let shared = log.clone();
        tokio::spawn(async move {
            while let Some(incoming) = accepting.accept().await {
                let log = shared.clone();
                let handler = handler.clone();
                tokio::spawn(async move {
                    let Ok(connection) = incoming.await else { return };
                    let number = {
                        let mut log = log.lock();
                        log.connections += 1;
                        log.connections
                    };
                    let authenticated = Arc::new(AtomicBool::new(false));
                    while let Ok((send, recv)) = connection.accept_bi().await {
                        let stream = Stream {
                            connection: connection.clone(),
                            number,
                            authenticated: authenticated.clone(),
                            log: log.clone(),
                            handler: handler.clone(),
                            role,
                            limits,
                        };
                        tokio::spawn(stream.serve(send, recv));
                    }
                    let reason = connection.close_reason().map(|r| r.to_string()).unwrap_or_default();
                    log.lock().closed.push(reason);
                });
            }
        });
        TestServer { address, fingerprint: identity.fingerprint, log, endpoint }
    }

    /// A client configuration for this double, with short timeouts and backoff.
    pub fn client_config(&self) -> ClientConfig {
        let mut config = ClientConfig::new(self.address, Trust::Fingerprint(self.fingerprint), TOKEN);
        config.connect_timeout = Duration::from_secs(5);
        config.request_timeout = Duration::from_secs(5);
        config.retry_backoff = Duration::from_millis(5);
        config
    }

    /// Every request after the handshakes, in the order received.
    pub fn requests(&self) -> Vec<Seen> {
        self.log.lock().requests.clone()
    }
}

struct Stream {
    connection: quinn::Connection,
    number: usize,
    authenticated: Arc<AtomicBool>,
    log: Arc<Mutex<Log>>,
    handler: Handler,
    role: Role,
    limits: Limits,
}

impl Stream {
    async fn serve(self, mut send: quinn::SendStream, mut recv: quinn::RecvStream) {
        let (replies, mut outgoing) = mpsc::unbounded_channel::<Vec<u8>>();
        tokio::spawn(async move {
            while let Some(bytes) = outgoing.recv().await {
                if send.write_all(&bytes).await.is_err() {
                    return;
                }
            }
        });
        let mut decoder = FrameDecoder::new(self.limits.max_frame_bytes);
        let mut buffer = vec![0; 64 * 1024];
        loop {
            loop {
                let payload = match decoder.next_payload() {
                    Ok(Some(payload)) => payload,
                    Ok(None) => break,
                    Err(error) => {
                        self.connection.close(close::PROTOCOL_ERROR.into(), error.to_string().as_bytes());
                        return;
                    }
                };
                let bytes = payload.len();
                match decode_request_frame(payload) {
                    Ok(frame) => self.handle(frame.request_id, frame.request, bytes, &replies),
                    Err(error) => {
                        let response = Response::Error(WireError::new(error.code(), error.to_string()));
                        let _ = replies.send(frame(error.request_id(), response));
                    }
                }
            }
            match recv.read(&mut buffer).await {
                Ok(Some(read)) => decoder.push(&buffer[..read]),
                Ok(None) | Err(_) => return,
            }
        }
    }

    fn handle(&self, request_id: u64, request: Request, bytes: usize, replies: &mpsc::UnboundedSender<Vec<u8>>) {
        if let Request::Hello { protocol_version, token } = &request {
            self.log.lock().hellos += 1;
            if *protocol_version != PROTOCOL_VERSION {
                let _ = replies.send(frame(request_id, refusal(ErrorCode::UnsupportedVersion)));
                self.close_soon(close::UNSUPPORTED_VERSION);
            } else if token != TOKEN {
                let _ = replies.send(frame(request_id, refusal(ErrorCode::Unauthenticated)));
                self.close_soon(close::UNAUTHENTICATED);
            } else {
                self.authenticated.store(true, Ordering::SeqCst);
                let welcome =
                    Response::Welcome { protocol_version: PROTOCOL_VERSION, role: self.role, limits: self.limits };
                let _ = replies.send(frame(request_id, welcome));
            }
            return;
        }
        if !self.authenticated.load(Ordering::SeqCst) {
            let _ = replies.send(frame(request_id, refusal(ErrorCode::Unauthenticated)));
            return;
        }
        {
            let mut log = self.log.lock();
            log.requests.push(Seen { connection: self.number, request_id, request: request.clone(), bytes });
            log.in_flight += 1;
            log.max_in_flight = log.max_in_flight.max(log.in_flight);
        }
        let answer = |log: &Mutex<Log>, replies: &mpsc::UnboundedSender<Vec<u8>>, bytes: Vec<u8>| {
            log.lock().in_flight -= 1;
            let _ = replies.send(bytes);
        };
        match (self.handler)(&request, self.number) {
            Action::Respond(response) => answer(&self.log, replies, frame(request_id, response)),
            Action::After(pause, response) => {
                let log = self.log.clone();
                let replies = replies.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(pause).await;
                    answer(&log, &replies, frame(request_id, response));
                });
            }
            Action::Ignore => {}
            Action::DropConnection => {
                self.log.lock().in_flight -= 1;
                self.connection.close(close::SHUTTING_DOWN.into(), b"the test double drops the connection");
            }
            Action::Undecodable(tail) => {
                let mut payload = crate::codec::encode(&request_id);
                payload.extend_from_slice(&tail);
                answer(&self.log, replies, raw_frame(&payload));
            }
            Action::RawPayload(payload) => answer(&self.log, replies, raw_frame(&payload)),
        }
    }

    fn close_soon(&self, code: u32) {
        let connection = self.connection.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            connection.close(code.into(), b"refused");
        });
    }
}

fn refusal(code: ErrorCode) -> Response {
    Response::Error(WireError::new(code, format!("the test double refuses: {}", code.name())))
}

fn frame(request_id: u64, response: Response) -> Vec<u8> {
    let mut out = Vec::new();
    encode_frame(&ResponseFrame { request_id, response }, u32::MAX, &mut out).expect("a frame");
    out
}

fn raw_frame(payload: &[u8]) -> Vec<u8> {
    let mut out = (payload.len() as u32).to_le_bytes().to_vec();
    out.extend_from_slice(payload);
    out
}
