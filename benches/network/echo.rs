//! The raw quinn echo every stockd figure is reported next to: the same QUIC stack,
//! TLS setup (`stockd::tls`, ALPN `stockd/1`), transport settings, threading (one
//! current-thread runtime on a thread of its own) and framing (`[u32 LE length]
//! [payload]`) as the real server, with no protocol, engine or log behind it.
//!
//! A request payload is `[u32 LE response length][u32 LE sequence][zeros]`, padded to
//! the size of the real request of the scenario; the echo answers each with a frame
//! whose payload is `[u32 LE sequence][zeros]`, padded to the size of the real
//! response. Like the real server it handles every frame of one read, then writes all
//! their responses with one `write_all`.

use super::drive::Link;
use crate::support::FastRandom;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use stockd::protocol::{FrameDecoder, MAX_FRAME_BYTES};
use stockd::tls::{self, Fingerprint, Trust};
use tokio::sync::oneshot;

/// As the real server: `max_concurrent_bidi_streams` 64, idle timeout 30 s.
fn server_transport() -> quinn::TransportConfig {
    let mut transport = quinn::TransportConfig::default();
    transport.max_idle_timeout(Some(quinn::IdleTimeout::from(quinn::VarInt::from_u32(30_000))));
    transport.max_concurrent_bidi_streams(64u8.into());
    transport.max_concurrent_uni_streams(0u8.into());
    transport
}

/// As `stockd::client::Client::connect`: keep-alive 10 s, no streams from the server.
pub fn client_transport() -> quinn::TransportConfig {
    let mut transport = quinn::TransportConfig::default();
    transport.keep_alive_interval(Some(Duration::from_secs(10)));
    transport.max_concurrent_bidi_streams(0u8.into());
    transport.max_concurrent_uni_streams(0u8.into());
    transport
}

/// The echo server, on its thread (`echo-net`) until dropped.
pub struct EchoServer {
    pub addr: SocketAddr,
    pub fingerprint: Fingerprint,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl EchoServer {
    pub fn start() -> EchoServer {
        let identity = tls::generate_self_signed(&[]).expect("a self-signed certificate");
        let mut config = tls::server_config(&identity).expect("the echo's TLS configuration");
        config.transport_config(Arc::new(server_transport()));
        let (bound_tx, bound_rx) = std::sync::mpsc::channel();
        let (stop, stopped) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("echo-net".to_owned())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
                runtime.block_on(async move {
                    let endpoint = quinn::Endpoint::server(config, "127.0.0.1:0".parse().unwrap())
                        .expect("the echo binds a UDP port on 127.0.0.1");
                    bound_tx.send(endpoint.local_addr().expect("a local address")).unwrap();
                    tokio::select! {
                        _ = accept(&endpoint) => {}
                        _ = stopped => {}
                    }
                    endpoint.close(0u8.into(), b"echo stopping");
                    let _ = tokio::time::timeout(Duration::from_secs(1), endpoint.wait_idle()).await;
                });
            })
            .expect("the echo thread starts");
        let addr = bound_rx.recv().expect("the echo server started");
        EchoServer { addr, fingerprint: identity.fingerprint, stop: Some(stop), thread: Some(thread) }
    }
}

impl Drop for EchoServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn accept(endpoint: &quinn::Endpoint) {
    while let Some(incoming) = endpoint.accept().await {
        tokio::spawn(async move {
            let Ok(connection) = incoming.await else { return };
            while let Ok((send, recv)) = connection.accept_bi().await {
                tokio::spawn(serve_stream(send, recv));
            }
        });
    }
}

/// Reads chunks as the real server does (`read_chunk`), answers every whole frame of a
/// chunk, writes the answers with one `write_all`.
async fn serve_stream(mut send: quinn::SendStream, mut recv: quinn::RecvStream) {
    let mut decoder = FrameDecoder::new(MAX_FRAME_BYTES);
    let mut out = Vec::with_capacity(16 * 1024);
    loop {
        match recv.read_chunk(usize::MAX, true).await {
            Ok(Some(chunk)) => {
                decoder.push(&chunk.bytes);
                loop {
                    match decoder.next_payload() {
                        Ok(Some(payload)) => {
                            let length = u32::from_le_bytes(payload[0..4].try_into().unwrap());
                            out.extend_from_slice(&length.to_le_bytes());
                            out.extend_from_slice(&payload[4..8]);
                            out.resize(out.len() + length as usize - 4, 0);
                        }
                        Ok(None) => break,
                        Err(error) => panic!("echo: the bench client broke the framing: {error}"),
                    }
                }
                if !out.is_empty() {
                    if send.write_all(&out).await.is_err() {
                        return;
                    }
                    out.clear();
                }
            }
            Ok(None) => {
                let _ = send.finish();
                return;
            }
            Err(_) => return,
        }
    }
}

/// A connection to the echo.
pub struct EchoClient {
    _endpoint: quinn::Endpoint,
    connection: quinn::Connection,
}

impl EchoClient {
    pub async fn connect(server: &EchoServer) -> EchoClient {
        let mut config = tls::client_config(&Trust::Fingerprint(server.fingerprint)).expect("TLS client configuration");
        config.transport_config(Arc::new(client_transport()));
        let mut endpoint = quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).expect("a client UDP socket");
        endpoint.set_default_client_config(config);
        let connection = endpoint
            .connect(server.addr, "localhost")
            .expect("connect")
            .await
            .expect("the QUIC handshake with the echo");
        EchoClient { _endpoint: endpoint, connection }
    }

    /// A new stream whose requests and responses have the given payload sizes.
    pub async fn link(&self, request_bytes: usize, response_bytes: usize) -> EchoLink {
        assert!(request_bytes >= 8 && response_bytes >= 4, "payloads too small to carry a sequence number");
        let (send, recv) = self.connection.open_bi().await.expect("a stream to the echo");
        EchoLink {
            send,
            recv,
            request_bytes,
            response_bytes,
            sequence: 0,
            out: Vec::new(),
            decoder: FrameDecoder::new(MAX_FRAME_BYTES),
            buffer: vec![0; 64 * 1024],
            in_flight: 0,
        }
    }

    pub fn close(&self) {
        self.connection.close(0u8.into(), b"done");
    }
}

/// One stream to the echo, used like stockd's `Pipeline` (same read size, same
/// framing code; no encoding or decoding of messages).
pub struct EchoLink {
    send: quinn::SendStream,
    recv: quinn::RecvStream,
    request_bytes: usize,
    response_bytes: usize,
    sequence: u32,
    out: Vec<u8>,
    decoder: FrameDecoder,
    buffer: Vec<u8>,
    in_flight: usize,
}

impl Link for EchoLink {
    fn queue(&mut self, _rng: &mut FastRandom) -> u32 {
        self.sequence = self.sequence.wrapping_add(1);
        self.out.extend_from_slice(&(self.request_bytes as u32).to_le_bytes());
        self.out.extend_from_slice(&(self.response_bytes as u32).to_le_bytes());
        self.out.extend_from_slice(&self.sequence.to_le_bytes());
        self.out.resize(self.out.len() + self.request_bytes - 8, 0);
        self.in_flight += 1;
        self.sequence
    }

    async fn flush(&mut self) {
        if !self.out.is_empty() {
            self.send.write_all(&self.out).await.expect("echo: cannot send");
            self.out.clear();
        }
    }

    async fn next(&mut self) -> u32 {
        loop {
            match self.decoder.next_payload() {
                Ok(Some(payload)) => {
                    assert_eq!(payload.len(), self.response_bytes, "echo: a response of the wrong size");
                    self.in_flight -= 1;
                    return u32::from_le_bytes(payload[0..4].try_into().unwrap());
                }
                Ok(None) => {}
                Err(error) => panic!("echo: broken framing: {error}"),
            }
            match self.recv.read(&mut self.buffer).await {
                Ok(Some(read)) => self.decoder.push(&self.buffer[..read]),
                Ok(None) => panic!("echo: the server ended the stream"),
                Err(error) => panic!("echo: cannot read: {error}"),
            }
        }
    }

    fn in_flight(&self) -> usize {
        self.in_flight
    }
}
