//! Every operation through the Rust client against a real server on loopback, with
//! the answers checked against the engine's own view; roles; pipelining from many
//! tasks; retries that cannot double-reserve; graceful shutdown with requests in
//! flight; and a restart that finds every acknowledged write.

mod net;

use net::*;
use stockd::client::{Client, ClientError};
use stockd::engine::{
    AdjustReason, Availability, AvailabilityScope, LineQuantity, PartialStep, ReserveLine, ReserveRequest,
    RestockRequest,
};
use stockd::model::{
    Bucket, ChannelBuffer, ChannelSpec, Coordinates, LocationFlags, LocationKind, LocationSpec, PositionRow, Timestamp,
};
use stockd::protocol::{Applied, Call, ErrorCode, Reply, Role};
use stockd::wal::DurabilityMode;
use stockd::Operation;

fn location(name: &str, kind: LocationKind) -> LocationSpec {
    LocationSpec {
        name: name.into(),
        kind,
        coordinates: Coordinates { latitude: 52.37, longitude: 4.89 },
        flags: LocationFlags { ships: true, pickup: kind == LocationKind::Store },
        priority: 1,
    }
}

fn reserve_request(id: &str, lines: &[(&str, &str, u32)]) -> ReserveRequest {
    ReserveRequest {
        id: id.into(),
        lines: lines
            .iter()
            .map(|(sku, location, quantity)| ReserveLine {
                sku: (*sku).into(),
                location: (*location).into(),
                quantity: *quantity,
            })
            .collect(),
        ttl_ms: 600_000,
        promise_by: None,
    }
}

fn here(location: &str) -> AvailabilityScope {
    AvailabilityScope::Location(location.into())
}

fn code(result: Result<impl std::fmt::Debug, ClientError>) -> Option<ErrorCode> {
    result.expect_err("refused").code()
}

/// Sets up a catalogue through the admin client: two locations, a channel, stock.
async fn seed(admin: &Client) {
    let applied = admin
        .apply(Operation::UpsertLocations(vec![
            location("DC-AMS", LocationKind::DistributionCentre),
            location("STORE-1", LocationKind::Store),
        ]))
        .await
        .unwrap();
    assert_eq!(applied, Applied::Locations(vec!["DC-AMS".into(), "STORE-1".into()]));
    let channel = ChannelSpec {
        name: "web".into(),
        locations: vec!["DC-AMS".into(), "STORE-1".into()],
        excluded: vec![],
        buffer: ChannelBuffer::Units(2),
    };
    assert_eq!(admin.apply(Operation::UpsertChannel(channel)).await.unwrap(), Applied::Done);
    let load = admin
        .bulk_load(vec![
            PositionRow {
                sku: "SHIRT".into(),
                location: "DC-AMS".into(),
                on_hand: 100,
                safety_stock: 0,
                damaged: 0,
                quality_control: 0,
                backorder_limit: 0,
            },
            PositionRow {
                sku: "SHIRT".into(),
                location: "STORE-1".into(),
                on_hand: 10,
                safety_stock: 1,
                damaged: 0,
                quality_control: 0,
                backorder_limit: 0,
            },
        ])
        .await
        .unwrap();
    assert_eq!((load.inserted, load.rejected), (2, 0));
    // A load with an invalid row is refused whole, before any row is applied.
    let bad = PositionRow {
        sku: "bad sku with spaces".into(),
        location: "DC-AMS".into(),
        on_hand: 1,
        safety_stock: 0,
        damaged: 0,
        quality_control: 0,
        backorder_limit: 0,
    };
    let mut good = bad.clone();
    good.sku = "NEVER-LOADED".into();
    assert_eq!(code(admin.bulk_load(vec![good, bad]).await), Some(ErrorCode::InvalidArgument));
    assert_eq!(code(admin.position("NEVER-LOADED", "DC-AMS").await), Some(ErrorCode::UnknownEntity));
}

#[test]
fn every_operation_through_the_client_matches_the_engine() {
    let server = TestServer::start(|_| {});
    runtime().block_on(async {
        let admin = server.client(ADMIN_TOKEN).await;
        assert_eq!(admin.role(), Role::Admin);
        assert!(admin.ping().await.unwrap() < PATIENCE);
        seed(&admin).await;
        let engine = server.running().durable().engine();

        // Reads.
        let position = admin.position("SHIRT", "STORE-1").await.unwrap();
        assert_eq!((position.on_hand, position.safety_stock, position.available_to_sell), (10, 1, 9));
        assert_eq!(admin.availability("SHIRT", here("DC-AMS"), Availability::ToSell).await.unwrap(), 100);
        let channel = admin.channel_availability("SHIRT", "web", true).await.unwrap();
        assert_eq!((channel.summed, channel.available, channel.locations.len()), (109, 107, 2));
        let web = AvailabilityScope::Channel("web".into());
        let page = admin
            .availability_batch(vec!["SHIRT".into(), "UNKNOWN".into()], web.clone(), Availability::ToSell)
            .await
            .unwrap();
        assert_eq!(page, vec![107, 0]);
        assert_eq!(code(admin.position("SHIRT", "NOWHERE").await), Some(ErrorCode::UnknownEntity));

        // Stock writes.
        let adjusted = admin.adjust("SHIRT", "DC-AMS", -5, AdjustReason::Damaged, "crate-9").await.unwrap();
        assert_eq!(adjusted.on_hand, 95);
        let counted = admin.set_on_hand("SHIRT", "DC-AMS", 90, Some(adjusted.version)).await.unwrap();
        assert_eq!(counted.on_hand, 90);
        assert_eq!(
            code(admin.set_on_hand("SHIRT", "DC-AMS", 80, Some(adjusted.version)).await),
            Some(ErrorCode::VersionMismatch),
            "a count against a stale version is refused"
        );
        let writes = [
            Operation::SetSafetyStock { sku: "SHIRT".into(), location: "DC-AMS".into(), safety_stock: 5 },
            Operation::SetBackorderLimit { sku: "SHIRT".into(), location: "DC-AMS".into(), limit: 3 },
            Operation::MoveStock {
                sku: "SHIRT".into(),
                location: "DC-AMS".into(),
                from: Bucket::Sellable,
                to: Bucket::QualityControl,
                quantity: 4,
            },
            Operation::AddIncoming {
                sku: "SHIRT".into(),
                location: "DC-AMS".into(),
                reference: "PO-1".into(),
                quantity: 20,
                expected_at: Timestamp::now().saturating_add_ms(86_400_000),
            },
            Operation::ReceiveIncoming {
                sku: "SHIRT".into(),
                location: "DC-AMS".into(),
                reference: "PO-1".into(),
                quantity: 5,
            },
            Operation::CancelIncoming { sku: "SHIRT".into(), location: "DC-AMS".into(), reference: "PO-1".into() },
        ];
        for write in writes {
            assert!(matches!(admin.apply(write).await.unwrap(), Applied::Position(_)));
        }
        let position = admin.position("SHIRT", "DC-AMS").await.unwrap();
        assert_eq!(
            (position.on_hand, position.safety_stock, position.quality_control, position.backorder_limit),
            (91, 5, 4, 3)
        );
        assert!(position.incoming.is_empty());

        // The reservation lifecycle, with the reserve role.
        let checkout = server.client(RESERVE_TOKEN).await;
        let request = reserve_request("order-1", &[("SHIRT", "DC-AMS", 6), ("SHIRT", "STORE-1", 2)]);
        let reserved = checkout.reserve(request.clone()).await.unwrap();
        assert!(!reserved.replayed);
        let again = checkout.reserve(request).await.unwrap();
        assert!(again.replayed, "a retry returns the first outcome and holds nothing more");
        assert_eq!(admin.position("SHIRT", "DC-AMS").await.unwrap().reserved, 6);
        let extended = checkout.extend("order-1", 1_200_000).await.unwrap();
        assert!(extended.expires_at.unwrap() > reserved.expires_at);
        checkout.commit("order-1").await.unwrap();
        let step = PartialStep {
            step_id: "ship-1".into(),
            lines: vec![LineQuantity { sku: "SHIRT".into(), location: "DC-AMS".into(), quantity: 4 }],
        };
        let after = checkout.fulfil("order-1", Some(step.clone())).await.unwrap();
        let again = checkout.fulfil("order-1", Some(step)).await.unwrap();
        assert_eq!(after, again, "a partial step applies once");
        let release = PartialStep {
            step_id: "cancel-1".into(),
            lines: vec![LineQuantity { sku: "SHIRT".into(), location: "STORE-1".into(), quantity: 2 }],
        };
        checkout.release("order-1", Some(release)).await.unwrap();
        let done = checkout.fulfil("order-1", None).await.unwrap();
        let fulfilled: u32 = done.lines.iter().map(|line| line.fulfilled).sum();
        assert_eq!(fulfilled, 6);
        let returned = checkout
            .restock(RestockRequest {
                reservation_id: "order-1".into(),
                step_id: "rma-1".into(),
                line: LineQuantity { sku: "SHIRT".into(), location: "DC-AMS".into(), quantity: 1 },
                bucket: Bucket::Sellable,
            })
            .await
            .unwrap();
        assert_eq!(returned.on_hand, 91 - 6 + 1);
        let seen = checkout.reservation("order-1").await.unwrap();
        assert_eq!(seen.applied_steps.len(), 3);

        // A short reserve names every short line and holds nothing.
        let short = checkout.reserve(reserve_request("order-2", &[("SHIRT", "STORE-1", 50)])).await;
        let error = short.expect_err("short");
        assert_eq!(error.code(), Some(ErrorCode::InsufficientStock));
        assert_eq!(error.short_lines().len(), 1);
        assert_eq!(admin.position("SHIRT", "STORE-1").await.unwrap().reserved, 0);

        // A release of a held reservation, and an expiry sweep.
        checkout.reserve(reserve_request("order-3", &[("SHIRT", "STORE-1", 1)])).await.unwrap();
        checkout.release("order-3", None).await.unwrap();
        assert!(matches!(admin.apply(Operation::ExpireDue).await.unwrap(), Applied::Expiry(_)));

        // Kits.
        admin
            .apply(Operation::DefineKit { kit: "GIFT-SET".into(), components: vec![("SHIRT".into(), 2)] })
            .await
            .unwrap();
        assert_eq!(admin.availability("GIFT-SET", here("STORE-1"), Availability::ToSell).await.unwrap(), 4);

        // A batch: calls run in order, each on its own.
        let replies = admin
            .batch(vec![
                Call::Position { sku: "SHIRT".into(), location: "STORE-1".into() },
                Call::Reservation { id: "missing".into() },
                Call::Ping,
            ])
            .await
            .unwrap();
        assert!(matches!(&replies[0], Reply::Position(p) if p.on_hand == 10));
        assert!(matches!(&replies[1], Reply::Error(e) if e.code == ErrorCode::UnknownEntity));
        assert!(matches!(replies[2], Reply::Pong { .. }));

        // Operator calls.
        let stats = admin.stats().await.unwrap();
        assert_eq!(stats.positions, engine.stats().positions);
        assert_eq!(stats.reservations_fulfilled, 1);
        let report = admin.verify().await.unwrap();
        assert_eq!(report.findings_total, 0);
        assert!(report.positions_checked >= 2);
        let snapshot = admin.take_snapshot().await.unwrap();
        assert!(std::path::Path::new(&snapshot.path).exists());

        // Every answer above matched the engine's own view.
        let wire = admin.position("SHIRT", "DC-AMS").await.unwrap();
        let view = engine.position("SHIRT", "DC-AMS").unwrap();
        assert_eq!((wire.on_hand, wire.reserved, wire.version), (view.on_hand, view.reserved, view.version));
    });
    assert!(server.running().durable().engine().verify().is_clean());
}

#[test]
fn roles_are_enforced_per_call() {
    let server = TestServer::start(|_| {});
    runtime().block_on(async {
        let admin = server.client(ADMIN_TOKEN).await;
        seed(&admin).await;
        let reader = server.client(READ_TOKEN).await;
        assert_eq!(reader.role(), Role::Read);
        assert!(reader.position("SHIRT", "DC-AMS").await.is_ok());
        assert_eq!(
            code(reader.reserve(reserve_request("r-1", &[("SHIRT", "DC-AMS", 1)])).await),
            Some(ErrorCode::Forbidden)
        );
        assert_eq!(code(reader.stats().await), Some(ErrorCode::Forbidden));
        let checkout = server.client(RESERVE_TOKEN).await;
        assert!(checkout.reserve(reserve_request("r-1", &[("SHIRT", "DC-AMS", 1)])).await.is_ok());
        assert_eq!(
            code(checkout.adjust("SHIRT", "DC-AMS", 1, AdjustReason::Found, "x").await),
            Some(ErrorCode::Forbidden)
        );
        assert_eq!(code(checkout.take_snapshot().await), Some(ErrorCode::Forbidden));
        let wrong = Client::connect(server.client_config("stk_nope")).await;
        assert!(matches!(wrong, Err(ClientError::Handshake(error)) if error.code == ErrorCode::Unauthenticated));
    });
}

#[test]
fn many_tasks_pipeline_on_one_connection_and_a_flash_sale_never_oversells() {
    let server = TestServer::start(|_| {});
    let sold = runtime().block_on(async {
        let admin = server.client(ADMIN_TOKEN).await;
        seed(&admin).await;
        let checkout = server.client(RESERVE_TOKEN).await;
        let mut tasks = Vec::new();
        for shopper in 0..40 {
            let client = checkout.clone();
            tasks.push(tokio::spawn(async move {
                let mut sold = 0u32;
                for attempt in 0..10 {
                    let id = format!("shopper-{shopper}-{attempt}");
                    match client.reserve(reserve_request(&id, &[("SHIRT", "STORE-1", 1)])).await {
                        Ok(outcome) => sold += outcome.lines[0].quantity,
                        Err(error) => assert_eq!(error.code(), Some(ErrorCode::InsufficientStock)),
                    }
                }
                sold
            }));
        }
        let mut sold = 0;
        for task in tasks {
            sold += task.await.unwrap();
        }
        sold
    });
    assert_eq!(sold, 9, "exactly the sellable stock (10 on hand less 1 safety stock)");
    let engine = server.running().durable().engine();
    assert_eq!(engine.position("SHIRT", "STORE-1").unwrap().reserved, 9);
    assert!(engine.verify().is_clean());
}

#[test]
fn graceful_shutdown_answers_requests_in_flight_and_a_restart_keeps_them() {
    let mut server = TestServer::start(|config| config.durability = "always".into());
    let acknowledged = runtime().block_on(async {
        let admin = server.client(ADMIN_TOKEN).await;
        seed(&admin).await;
        admin.set_on_hand("SHIRT", "DC-AMS", 100_000, None).await.unwrap();
        // Once the server is gone, calls fail fast instead of retrying for long.
        let mut config = server.client_config(RESERVE_TOKEN);
        config.connect_timeout = std::time::Duration::from_millis(500);
        config.retries = 1;
        let checkout = Client::connect(config).await.unwrap();
        let mut tasks = Vec::new();
        for shopper in 0..16 {
            let client = checkout.clone();
            tasks.push(tokio::spawn(async move {
                let mut acknowledged = Vec::new();
                for attempt in 0.. {
                    let id = format!("s-{shopper}-{attempt}");
                    match client.reserve(reserve_request(&id, &[("SHIRT", "DC-AMS", 1)])).await {
                        Ok(_) => acknowledged.push(id),
                        Err(_) => break,
                    }
                }
                acknowledged
            }));
        }
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        server.running().request_shutdown();
        let mut acknowledged = Vec::new();
        for task in tasks {
            acknowledged.extend(task.await.unwrap());
        }
        acknowledged
    });
    assert!(!acknowledged.is_empty());
    server.restart();
    let engine = server.running().durable().engine();
    for id in &acknowledged {
        assert!(engine.reservation(id).is_ok(), "acknowledged reservation {id} survived the restart");
    }
    let held = engine.position("SHIRT", "DC-AMS").unwrap().reserved as usize;
    assert!(held >= acknowledged.len(), "every acknowledged hold is there ({held} >= {})", acknowledged.len());
    assert!(engine.verify().is_clean());
}

#[test]
fn durability_modes_acknowledge_through_the_network() {
    for mode in ["always", "interval:5", "none"] {
        let mut server = TestServer::start(|config| config.durability = mode.into());
        assert_eq!(server.config.durability_mode().unwrap(), mode.parse::<DurabilityMode>().unwrap());
        runtime().block_on(async {
            let admin = server.client(ADMIN_TOKEN).await;
            seed(&admin).await;
            for n in 0..50 {
                admin.reserve(reserve_request(&format!("o-{n}"), &[("SHIRT", "DC-AMS", 1)])).await.unwrap();
            }
        });
        server.restart();
        let position = server.running().durable().engine().position("SHIRT", "DC-AMS").unwrap();
        assert_eq!(position.reserved, 50, "mode {mode}: every acknowledged reserve is back after a graceful restart");
    }
}

#[test]
fn an_operators_certificate_is_served_and_trusted_by_ca() {
    // The operator's PEM files (made here by the generator, as any CA-issued pair would be).
    let pki = tempfile::tempdir().unwrap();
    stockd::tls::load_or_generate(pki.path(), &[]).unwrap();
    let cert = pki.path().join(stockd::tls::CERT_FILE);
    let key = pki.path().join(stockd::tls::KEY_FILE);
    let server = TestServer::start(|config| {
        config.tls.cert = Some(cert.clone());
        config.tls.key = Some(key.clone());
    });
    assert!(!server.config.data_dir.join("tls").exists(), "no certificate generated when the operator gives one");
    runtime().block_on(async {
        let mut config = server.client_config(READ_TOKEN);
        config.trust = stockd::tls::Trust::CaFile(cert.clone());
        let client = Client::connect(config).await.expect("CA trust with the operator's certificate");
        assert!(client.ping().await.is_ok());
        let mut wrong = server.client_config(READ_TOKEN);
        wrong.server_name = "not-the-name-on-the-certificate".into();
        wrong.trust = stockd::tls::Trust::CaFile(cert.clone());
        assert!(Client::connect(wrong).await.is_err(), "the name is checked under CA trust");
    });
}
