//! Helpers for the tests that talk to a real server over QUIC on loopback: start a
//! server in temporary folders with one token per role, connect the Rust client or
//! a raw QUIC connection, and read raw frames.
#![allow(dead_code)]

pub mod ctl;

use std::net::SocketAddr;
use std::time::Duration;
use stockd::client::{Client, ClientConfig};
use stockd::protocol::{
    decode_response_frame, encode_frame, FrameDecoder, Request, RequestFrame, ResponseFrame, MAX_FRAME_BYTES,
    PROTOCOL_VERSION,
};
use stockd::server::auth::token_entry;
use stockd::server::config::RoleName;
use stockd::server::{RunningServer, ServerConfig};
use stockd::tls::Trust;

pub const READ_TOKEN: &str = "stk_test_read";
pub const RESERVE_TOKEN: &str = "stk_test_reserve";
pub const ADMIN_TOKEN: &str = "stk_test_admin";

/// Every wait in these tests is bounded by this.
pub const PATIENCE: Duration = Duration::from_secs(20);

pub struct TestServer {
    pub server: Option<RunningServer>,
    pub dir: tempfile::TempDir,
    pub config: ServerConfig,
}

/// A configuration on loopback with ephemeral ports, folders under `root`, one token
/// per role and no periodic snapshots.
pub fn test_config(root: &std::path::Path) -> ServerConfig {
    ServerConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        admin_listen: "127.0.0.1:0".to_owned(),
        data_dir: root.join("data"),
        snapshot_dir: root.join("snapshots"),
        snapshot_interval_secs: 0,
        snapshot_every_records: 0,
        tokens: vec![
            token_entry("reader", RoleName::Read, READ_TOKEN),
            token_entry("checkout", RoleName::Reserve, RESERVE_TOKEN),
            token_entry("ops", RoleName::Admin, ADMIN_TOKEN),
        ],
        ..ServerConfig::default()
    }
}

impl TestServer {
    pub fn start(tweak: impl FnOnce(&mut ServerConfig)) -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        let mut config = test_config(dir.path());
        tweak(&mut config);
        let server = RunningServer::start(config.clone(), false).expect("the server starts");
        TestServer { server: Some(server), dir, config }
    }

    pub fn running(&self) -> &RunningServer {
        self.server.as_ref().expect("running")
    }

    pub fn addr(&self) -> SocketAddr {
        self.running().addr
    }

    pub fn trust(&self) -> Trust {
        Trust::Fingerprint(self.running().fingerprint)
    }

    pub fn client_config(&self, token: &str) -> ClientConfig {
        ClientConfig::new(self.addr(), self.trust(), token)
    }

    pub async fn client(&self, token: &str) -> Client {
        Client::connect(self.client_config(token)).await.expect("the client connects")
    }

    /// A digest of the whole engine state.
    pub fn digest(&self) -> u64 {
        self.running().durable().engine().digest()
    }

    /// Stops the server gracefully and starts it again on the same folders.
    pub fn restart(&mut self) {
        self.server.take().expect("running").shutdown().expect("graceful shutdown");
        self.server = Some(RunningServer::start(self.config.clone(), false).expect("the server restarts"));
    }
}

/// A raw QUIC connection (no handshake sent yet).
pub async fn raw_connection(server: &TestServer) -> quinn::Connection {
    let mut endpoint = quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
    endpoint.set_default_client_config(stockd::tls::client_config(&server.trust()).unwrap());
    let connecting = endpoint.connect(server.addr(), "localhost").unwrap();
    tokio::time::timeout(PATIENCE, connecting).await.expect("connects in time").expect("QUIC handshake")
}

/// A raw connection and stream that said `Hello` with `token` and got `Welcome`.
pub async fn authenticated(server: &TestServer, token: &str) -> (quinn::Connection, RawStream) {
    let connection = raw_connection(server).await;
    let mut stream = RawStream::open(&connection).await;
    let answer = stream.hello(token).await;
    assert!(matches!(answer.response, stockd::protocol::Response::Welcome { .. }), "Hello was refused: {answer:?}");
    (connection, stream)
}

/// One raw bidirectional stream with its frame decoder.
pub struct RawStream {
    pub send: quinn::SendStream,
    pub recv: quinn::RecvStream,
    decoder: FrameDecoder,
}

impl RawStream {
    pub async fn open(connection: &quinn::Connection) -> RawStream {
        let (send, recv) = connection.open_bi().await.unwrap();
        RawStream { send, recv, decoder: FrameDecoder::new(MAX_FRAME_BYTES) }
    }

    pub async fn send_request(&mut self, request_id: u64, request: Request) {
        let mut bytes = Vec::new();
        encode_frame(&RequestFrame { request_id, request }, MAX_FRAME_BYTES, &mut bytes).unwrap();
        self.send.write_all(&bytes).await.unwrap();
    }

    pub async fn send_bytes(&mut self, bytes: &[u8]) {
        self.send.write_all(bytes).await.unwrap();
    }

    pub async fn hello(&mut self, token: &str) -> ResponseFrame {
        self.send_request(1, Request::Hello { protocol_version: PROTOCOL_VERSION, token: token.to_owned() }).await;
        self.next().await.expect("an answer to Hello")
    }

    /// The next response frame, or `None` when the stream or connection ended.
    pub async fn next(&mut self) -> Option<ResponseFrame> {
        loop {
            if let Some(payload) = self.decoder.next_payload().expect("the server frames correctly") {
                return Some(decode_response_frame(payload).expect("the server's frames decode"));
            }
            let chunk = tokio::time::timeout(PATIENCE, self.recv.read_chunk(usize::MAX, true))
                .await
                .expect("the server answers in time");
            match chunk {
                Ok(Some(chunk)) => self.decoder.push(&chunk.bytes),
                Ok(None) | Err(_) => return None,
            }
        }
    }
}

/// The frame of a request, as bytes.
pub fn frame_bytes(request_id: u64, request: Request) -> Vec<u8> {
    let mut bytes = Vec::new();
    encode_frame(&RequestFrame { request_id, request }, MAX_FRAME_BYTES, &mut bytes).unwrap();
    bytes
}

/// Waits until the connection is closed and returns its application close code.
pub async fn closed_with(connection: &quinn::Connection) -> Option<u64> {
    let error = tokio::time::timeout(PATIENCE, connection.closed()).await.expect("closed in time");
    match error {
        quinn::ConnectionError::ApplicationClosed(close) => Some(close.error_code.into_inner()),
        _ => None,
    }
}

/// A current-thread runtime, as clients of this server are meant to use.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

/// The admin listener's `/metrics` page, read with a plain HTTP/1.1 request.
pub async fn metrics_page(server: &TestServer) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = server.running().admin_addr.expect("the admin listener is on");
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").await.unwrap();
    let mut body = String::new();
    tokio::time::timeout(PATIENCE, stream.read_to_string(&mut body)).await.unwrap().unwrap();
    body
}
