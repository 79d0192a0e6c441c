//! The `stockd` binary as a newcomer runs it: start on embedded defaults (loopback,
//! generated certificate and admin token printed once), use it through the client
//! with the printed fingerprint and token, stop it with SIGTERM (exit 0, a final
//! snapshot), start it again and find every acknowledged write.

mod net;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use stockd::client::{Client, ClientConfig};
use stockd::engine::{AdjustReason, ReserveLine, ReserveRequest};
use stockd::model::{Coordinates, LocationFlags, LocationKind, LocationSpec};
use stockd::tls::{Fingerprint, Trust};
use stockd::Operation;

struct Started {
    child: Child,
    addr: SocketAddr,
    admin: SocketAddr,
    fingerprint: Fingerprint,
    token: Option<String>,
}

/// Starts `stockd` with no subcommand (what `cargo run --release` runs) in `dir`,
/// with ephemeral ports, and reads its banner.
fn start(dir: &Path) -> Started {
    let mut child = Command::new(env!("CARGO_BIN_EXE_stockd"))
        .current_dir(dir)
        .env("STOCKD_LISTEN", "127.0.0.1:0")
        .env("STOCKD_ADMIN_LISTEN", "127.0.0.1:0")
        .env("STOCKD_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let (mut addr, mut admin, mut fingerprint, mut token) = (None, None, None, None);
    let deadline = Instant::now() + Duration::from_secs(30);
    while let Some(Ok(line)) = lines.next() {
        assert!(Instant::now() < deadline, "the banner came in time");
        if let Some(rest) = line.split("serving quic://").nth(1) {
            addr = Some(rest.split_whitespace().next().unwrap().parse().unwrap());
        }
        if let Some(rest) = line.split("metrics  http://").nth(1) {
            admin = Some(rest.split('/').next().unwrap().parse().unwrap());
        }
        if let Some(rest) = line.split("fingerprint (sha256): ").nth(1) {
            fingerprint = Some(rest.trim().parse().unwrap());
        }
        if line.contains("admin token") {
            token = Some(line.rsplit(' ').next().unwrap().to_owned());
        }
        if line.contains("stop with Ctrl-C") {
            break;
        }
    }
    // Keep draining stdout so the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    Started { child, addr: addr.unwrap(), admin: admin.unwrap(), fingerprint: fingerprint.unwrap(), token }
}

fn sigterm(child: &mut Child) -> std::process::ExitStatus {
    let status = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(Instant::now() < deadline, "stopped in time after SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn http_get(addr: SocketAddr, path: &str) -> String {
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
}

fn location(name: &str) -> LocationSpec {
    LocationSpec {
        name: name.into(),
        kind: LocationKind::Store,
        coordinates: Coordinates { latitude: 48.85, longitude: 2.35 },
        flags: LocationFlags { ships: true, pickup: true },
        priority: 1,
    }
}

#[test]
fn the_default_command_serves_stops_on_sigterm_and_keeps_every_acknowledged_write() {
    let dir = tempfile::tempdir().unwrap();
    let mut first = start(dir.path());
    let token = first.token.clone().expect("the admin token is printed on first start");
    assert!(dir.path().join("data/tls/cert.pem").exists(), "the generated certificate is kept");
    let tokens_file = std::fs::read_to_string(dir.path().join("data/tokens.toml")).unwrap();
    assert!(!tokens_file.contains(&token[4..]), "only the token's hash is stored");
    assert!(http_get(first.admin, "/healthz").starts_with("HTTP/1.1 200"));
    assert!(http_get(first.admin, "/readyz").starts_with("HTTP/1.1 200"));

    let runtime = net::runtime();
    let config = ClientConfig::new(first.addr, Trust::Fingerprint(first.fingerprint), token.clone());
    runtime.block_on(async {
        let client = Client::connect(config.clone()).await.unwrap();
        client.apply(Operation::UpsertLocations(vec![location("STORE-1")])).await.unwrap();
        client.set_on_hand("SKU-1", "STORE-1", 20, None).await.unwrap();
        client
            .reserve(ReserveRequest {
                id: "cart-1".into(),
                lines: vec![ReserveLine { sku: "SKU-1".into(), location: "STORE-1".into(), quantity: 3 }],
                ttl_ms: 3_600_000,
                promise_by: None,
            })
            .await
            .unwrap();
        client.adjust("SKU-1", "STORE-1", -2, AdjustReason::Damaged, "breakage-7").await.unwrap();
    });
    let metrics = http_get(first.admin, "/metrics");
    assert!(metrics.contains("stockd_requests_total"), "{metrics}");

    let status = sigterm(&mut first.child);
    assert!(status.success(), "a graceful stop exits 0: {status:?}");
    let snapshots: Vec<_> = std::fs::read_dir(dir.path().join("snapshots")).unwrap().collect();
    assert!(!snapshots.is_empty(), "a final snapshot was written");

    let mut second = start(dir.path());
    assert!(second.token.is_none(), "the token is printed once only");
    assert_eq!(second.fingerprint, first.fingerprint, "the certificate is kept");
    let config = ClientConfig::new(second.addr, Trust::Fingerprint(second.fingerprint), token);
    runtime.block_on(async {
        let client = Client::connect(config).await.unwrap();
        let position = client.position("SKU-1", "STORE-1").await.unwrap();
        assert_eq!((position.on_hand, position.reserved), (18, 3));
        let reservation = client.reservation("cart-1").await.unwrap();
        assert_eq!(reservation.lines[0].held, 3);
    });
    assert!(sigterm(&mut second.child).success());
}

#[test]
fn a_wrong_fingerprint_is_refused_by_the_client() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = start(dir.path());
    let wrong = Fingerprint([7; 32]);
    let config = ClientConfig::new(server.addr, Trust::Fingerprint(wrong), server.token.clone().unwrap());
    let result = net::runtime().block_on(Client::connect(config));
    assert!(result.is_err(), "a pinned client never talks to another certificate");
    assert!(sigterm(&mut server.child).success());
}

/// SIGKILL of a server under a pipelined write load (durability `always`): after the
/// restart, every reserve the client saw acknowledged is there, and the invariants hold.
#[test]
fn a_server_killed_under_load_keeps_every_acknowledged_reserve() {
    let dir = tempfile::tempdir().unwrap();
    let mut first = start(dir.path());
    let token = first.token.clone().unwrap();
    let config = ClientConfig::new(first.addr, Trust::Fingerprint(first.fingerprint), token.clone());
    let runtime = net::runtime();
    let acknowledged = runtime.block_on(async {
        let client = Client::connect(config.clone()).await.unwrap();
        client.apply(Operation::UpsertLocations(vec![location("STORE-1")])).await.unwrap();
        client.set_on_hand("SKU-1", "STORE-1", 1_000_000, None).await.unwrap();
        let (acks_tx, mut acks_rx) = tokio::sync::mpsc::unbounded_channel();
        let mut tasks = Vec::new();
        for shopper in 0..16 {
            let client = client.clone();
            let acks = acks_tx.clone();
            tasks.push(tokio::spawn(async move {
                for n in 0.. {
                    let id = format!("kill-{shopper}-{n}");
                    let request = ReserveRequest {
                        id: id.clone(),
                        lines: vec![ReserveLine { sku: "SKU-1".into(), location: "STORE-1".into(), quantity: 1 }],
                        ttl_ms: 3_600_000,
                        promise_by: None,
                    };
                    if client.reserve(request).await.is_err() {
                        return;
                    }
                    let _ = acks.send(id);
                }
            }));
        }
        drop(acks_tx);
        tokio::time::sleep(Duration::from_millis(400)).await;
        first.child.kill().unwrap(); // SIGKILL
        let _ = first.child.wait();
        let mut acknowledged = Vec::new();
        // Everything acknowledged before the kill arrives here; later calls fail.
        let collect = async {
            while let Some(id) = acks_rx.recv().await {
                acknowledged.push(id);
            }
        };
        let _ = tokio::time::timeout(Duration::from_secs(60), collect).await;
        for task in tasks {
            task.abort();
        }
        acknowledged
    });
    assert!(!acknowledged.is_empty(), "the load ran before the kill");

    let mut second = start(dir.path());
    let config = ClientConfig::new(second.addr, Trust::Fingerprint(second.fingerprint), token);
    runtime.block_on(async {
        let client = Client::connect(config).await.unwrap();
        for id in &acknowledged {
            let reservation = client.reservation(id).await.expect("an acknowledged reserve survived SIGKILL");
            assert_eq!(reservation.lines[0].held, 1);
        }
        let position = client.position("SKU-1", "STORE-1").await.unwrap();
        assert!(position.reserved as usize >= acknowledged.len());
        assert_eq!(client.verify().await.unwrap().findings_total, 0);
    });
    assert!(sigterm(&mut second.child).success());
}
