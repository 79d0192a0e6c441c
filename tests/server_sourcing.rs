//! Issue 6 through the network: reserve with sourcing (delivery and pickup), the click
//! & collect store finder, lost-demand signals and sourcing profiles replaced on a
//! running server, all through the Rust client against a real server on loopback,
//! with the answers checked against the engine's own state.

mod net;

use net::*;
use stockd::client::{Client, ClientError};
use stockd::engine::{DemandRank, Destination, OrderLine, SourcedReserveRequest, StoreQuery};
use stockd::model::{ChannelBuffer, ChannelSpec, Coordinates, HoldKind, LocationFlags, LocationKind, LocationSpec};
use stockd::protocol::{ErrorCode, Role};
use stockd::Operation;

const LONDON: Coordinates = Coordinates { latitude: 51.5072, longitude: -0.1276 };
const SOHO: Coordinates = Coordinates { latitude: 51.5136, longitude: -0.1365 };

fn place(name: &str, kind: LocationKind, latitude: f64, longitude: f64, priority: u16) -> LocationSpec {
    let store = kind == LocationKind::Store;
    LocationSpec {
        name: name.into(),
        kind,
        coordinates: Coordinates { latitude, longitude },
        flags: LocationFlags { ships: !store, pickup: store },
        priority,
    }
}

/// Two warehouses (Manchester, Reading) and three London-area stores, one channel
/// over all of them; SHIRT and MUG in stock.
async fn seed(admin: &Client) {
    admin
        .apply(Operation::UpsertLocations(vec![
            place("DC-NORTH", LocationKind::Warehouse, 53.4808, -2.2426, 1),
            place("DC-SOUTH", LocationKind::Warehouse, 51.4543, -0.9781, 2),
            place("STORE-SOHO", LocationKind::Store, 51.5136, -0.1365, 5),
            place("STORE-CAMDEN", LocationKind::Store, 51.5390, -0.1426, 5),
            place("STORE-BRIGHTON", LocationKind::Store, 50.8225, -0.1372, 5),
        ]))
        .await
        .unwrap();
    let all = ["DC-NORTH", "DC-SOUTH", "STORE-SOHO", "STORE-CAMDEN", "STORE-BRIGHTON"];
    admin
        .apply(Operation::UpsertChannel(ChannelSpec {
            name: "web".into(),
            locations: all.iter().map(|l| l.to_string()).collect(),
            excluded: vec![],
            buffer: ChannelBuffer::None,
        }))
        .await
        .unwrap();
    for (sku, location, on_hand) in [
        ("SHIRT", "DC-NORTH", 10),
        ("SHIRT", "DC-SOUTH", 3),
        ("MUG", "DC-NORTH", 5),
        ("SHIRT", "STORE-SOHO", 2),
        ("SHIRT", "STORE-CAMDEN", 5),
        ("SHIRT", "STORE-BRIGHTON", 5),
    ] {
        admin.set_on_hand(sku, location, on_hand, None).await.unwrap();
    }
}

fn order(id: &str, lines: &[(&str, u32)], destination: Destination, profile: &str) -> SourcedReserveRequest {
    SourcedReserveRequest {
        id: id.into(),
        channel: "web".into(),
        lines: lines.iter().map(|(sku, quantity)| OrderLine { sku: (*sku).into(), quantity: *quantity }).collect(),
        destination,
        profile: profile.into(),
        ttl_ms: 600_000,
        promise_by: None,
    }
}

fn code<T: std::fmt::Debug>(result: Result<T, ClientError>) -> Option<ErrorCode> {
    result.expect_err("refused").code()
}

#[test]
fn a_sourced_reserve_holds_where_the_profile_says_and_a_retry_never_holds_twice() {
    let server = TestServer::start(|_| {});
    runtime().block_on(async {
        let admin = server.client(ADMIN_TOKEN).await;
        seed(&admin).await;
        let checkout = server.client(RESERVE_TOKEN).await;
        let engine = server.running().durable().engine();

        // `default` prefers one location for the whole order: only DC-NORTH has both.
        let both = order("o-1", &[("SHIRT", 2), ("MUG", 1)], Destination::Delivery { point: LONDON }, "default");
        let outcome = checkout.reserve_sourced(both.clone()).await.unwrap();
        assert_eq!(outcome.locations_used, 1);
        assert!(outcome.exact);
        assert!(outcome.allocation.iter().all(|line| line.location == "DC-NORTH" && line.kind == HoldKind::InStock));
        let distance = outcome.allocation[0].distance_m.expect("a delivery has distances");
        assert!((250_000..270_000).contains(&distance), "London to Manchester is about 262 km, not {distance} m");
        assert_eq!(engine.position("SHIRT", "DC-NORTH").unwrap().reserved, 2);
        assert_eq!(engine.position("MUG", "DC-NORTH").unwrap().reserved, 1);

        // The same request again is answered from the first outcome.
        let digest = server.digest();
        let again = checkout.reserve_sourced(both).await.unwrap();
        assert!(again.reservation.replayed);
        assert_eq!(again.allocation, outcome.allocation);
        assert_eq!(server.digest(), digest, "a retry changes nothing");
        // The same id with other lines is a conflict.
        let other = order("o-1", &[("SHIRT", 1)], Destination::Delivery { point: LONDON }, "default");
        assert_eq!(code(checkout.reserve_sourced(other).await), Some(ErrorCode::Conflict));

        // `nearest` takes the nearest warehouse that ships: DC-SOUTH (stores do not ship).
        let near = checkout
            .reserve_sourced(order("o-2", &[("SHIRT", 3)], Destination::Delivery { point: LONDON }, "nearest"))
            .await
            .unwrap();
        assert_eq!(near.allocation.len(), 1);
        assert_eq!(near.allocation[0].location, "DC-SOUTH");

        // The reservation lives on like any other: committed and fulfilled by id.
        checkout.commit("o-2").await.unwrap();
        checkout.fulfil("o-2", None).await.unwrap();
        assert_eq!(engine.position("SHIRT", "DC-SOUTH").unwrap().on_hand, 0);
        assert!(engine.verify().findings.is_empty());
    });
}

#[test]
fn an_order_that_cannot_be_sourced_is_refused_whole_and_counted_as_lost_demand() {
    let server = TestServer::start(|_| {});
    runtime().block_on(async {
        let admin = server.client(ADMIN_TOKEN).await;
        seed(&admin).await;
        let checkout = server.client(RESERVE_TOKEN).await;
        let digest = server.digest();

        let too_many = order("o-9", &[("SHIRT", 100), ("MUG", 1)], Destination::Delivery { point: LONDON }, "default");
        let error = checkout.reserve_sourced(too_many).await.expect_err("refused");
        let ClientError::Refused(wire) = &error else { panic!("refused, not {error:?}") };
        assert_eq!(wire.code, ErrorCode::InsufficientStock);
        let shirt = wire.short_lines.iter().find(|l| l.sku == "SHIRT").expect("the short line is named");
        assert_eq!((shirt.requested, shirt.available, shirt.location.as_str()), (100, 13, ""));
        assert_eq!(server.digest(), digest, "a refused order holds nothing");

        // Bad input: an unknown profile or channel, a bad point, a store that is no pickup store.
        let unknown = order("o-10", &[("SHIRT", 1)], Destination::Delivery { point: LONDON }, "no-such-profile");
        assert_eq!(code(checkout.reserve_sourced(unknown).await), Some(ErrorCode::UnknownEntity));
        let nowhere = Destination::Delivery { point: Coordinates { latitude: 123.0, longitude: 0.0 } };
        assert_eq!(
            code(checkout.reserve_sourced(order("o-11", &[("SHIRT", 1)], nowhere, "default")).await),
            Some(ErrorCode::InvalidArgument)
        );
        let warehouse = Destination::Pickup { store: "DC-NORTH".into() };
        assert_eq!(
            code(checkout.reserve_sourced(order("o-12", &[("SHIRT", 1)], warehouse, "pickup")).await),
            Some(ErrorCode::InvalidArgument)
        );
        assert_eq!(server.digest(), digest, "refusals change nothing");

        // The refusal is lost demand: per SKU, per channel, and at the top of the list.
        let reader = server.client(READ_TOKEN).await;
        let shirt = reader.demand("SHIRT", None).await.unwrap();
        assert_eq!((shirt.refused_reservations, shirt.refused_units), (1, 100));
        let in_web = reader.demand("SHIRT", Some("web")).await.unwrap();
        assert_eq!(in_web.refused_units, 100);
        let top = reader.demand_top(None, DemandRank::RefusedUnits, 5).await.unwrap();
        assert_eq!(top.first().map(|e| e.sku.as_str()), Some("SHIRT"));
        assert_eq!(code(reader.demand_top(None, DemandRank::RefusedUnits, 0).await), Some(ErrorCode::LimitExceeded));
        let metrics = metrics_page(&server).await;
        // Counted against the line that was short (MUG had stock), as docs/ENGINE.md says.
        assert!(metrics.contains("stockd_demand_refused_units_total 100\n"), "{metrics}");
        assert!(metrics.contains("stockd_demand_top_refused_units{sku=\"SHIRT\"} 100"), "{metrics}");
    });
}

#[test]
fn the_store_finder_lists_nearby_pickup_stores_with_the_whole_basket_and_a_pickup_reserve_holds_there() {
    let server = TestServer::start(|_| {});
    runtime().block_on(async {
        let admin = server.client(ADMIN_TOKEN).await;
        seed(&admin).await;
        let shopper = server.client(READ_TOKEN).await;
        let query = |radius_km: f64, quantity: u32| StoreQuery {
            channel: "web".into(),
            point: SOHO,
            radius_km,
            lines: vec![OrderLine { sku: "SHIRT".into(), quantity }],
            limit: 10,
        };
        // Soho has 2: too few for 3. Camden (3 km) has 5; Brighton (77 km) is outside 10 km.
        let near = shopper.find_stores(query(10.0, 3)).await.unwrap();
        assert_eq!(near.iter().map(|s| s.location.as_str()).collect::<Vec<_>>(), ["STORE-CAMDEN"]);
        assert_eq!(near[0].available, [5]);
        assert!((2_500..3_500).contains(&near[0].distance_m), "{}", near[0].distance_m);
        let wide = shopper.find_stores(query(100.0, 2)).await.unwrap();
        assert_eq!(
            wide.iter().map(|s| s.location.as_str()).collect::<Vec<_>>(),
            ["STORE-SOHO", "STORE-CAMDEN", "STORE-BRIGHTON"],
            "nearest first"
        );
        let unknown = StoreQuery { channel: "nope".into(), ..query(10.0, 1) };
        assert_eq!(code(shopper.find_stores(unknown).await), Some(ErrorCode::UnknownEntity));

        // The customer picks Camden: everything is held there.
        let checkout = server.client(RESERVE_TOKEN).await;
        let pickup = Destination::Pickup { store: "STORE-CAMDEN".into() };
        let held = checkout.reserve_sourced(order("c-1", &[("SHIRT", 3)], pickup, "pickup")).await.unwrap();
        assert_eq!(held.allocation.len(), 1);
        assert_eq!((held.allocation[0].location.as_str(), held.allocation[0].distance_m), ("STORE-CAMDEN", None));
        let engine = server.running().durable().engine();
        assert_eq!(engine.position("SHIRT", "STORE-CAMDEN").unwrap().reserved, 3);
        // Camden now has 2 left: a basket of 3 no longer finds it.
        let after = shopper.find_stores(query(10.0, 3)).await.unwrap();
        assert!(after.is_empty(), "{after:?}");
    });
}

#[test]
fn sourcing_profiles_are_replaced_on_a_running_server_validated_first_and_kept_across_a_restart() {
    let mut server = TestServer::start(|_| {});
    runtime().block_on(async {
        let admin = server.client(ADMIN_TOKEN).await;
        seed(&admin).await;
        let builtin = admin.sourcing_profiles().await.unwrap();
        assert_eq!(builtin.names, ["default", "nearest", "pickup", "single"]);

        // Invalid documents are refused whole, naming the problem; nothing changes.
        for bad in [
            "[profile.x]\nmax_locations = 0\n",
            "[profile.x]\nrank_by = [\"price\"]\n",
            "[profile.x]\nmax_locations = 2\nfavourite = true\n",
            "not toml at all [",
        ] {
            let error = admin.set_sourcing_profiles(bad.into()).await.expect_err("refused");
            assert_eq!(error.code(), Some(ErrorCode::InvalidArgument), "{bad:?}: {error}");
        }
        assert_eq!(admin.sourcing_profiles().await.unwrap(), builtin);
        let reader = server.client(READ_TOKEN).await;
        assert_eq!(reader.role(), Role::Read);
        assert_eq!(code(reader.set_sourcing_profiles("[profile.x]\n".into()).await), Some(ErrorCode::Forbidden));

        // A profile that never uses DC-NORTH: the MUG (only there) cannot be sourced.
        let document = "[profile.south-only]\nrank_by = [\"priority\"]\nexclude_locations = [\"DC-NORTH\"]\n\
                        max_locations = 2\n\n[profile.default]\n";
        let set = admin.set_sourcing_profiles(document.into()).await.unwrap();
        assert_eq!(set.names, ["default", "south-only"]);
        let checkout = server.client(RESERVE_TOKEN).await;
        let mug = order("p-1", &[("MUG", 1)], Destination::Delivery { point: LONDON }, "south-only");
        assert_eq!(code(checkout.reserve_sourced(mug).await), Some(ErrorCode::InsufficientStock));
        let shirt = checkout
            .reserve_sourced(order("p-2", &[("SHIRT", 2)], Destination::Delivery { point: LONDON }, "south-only"))
            .await
            .unwrap();
        assert_eq!(shirt.allocation[0].location, "DC-SOUTH");
    });
    server.restart();
    runtime().block_on(async {
        let admin = server.client(ADMIN_TOKEN).await;
        assert_eq!(admin.sourcing_profiles().await.unwrap().names, ["default", "south-only"]);
    });
    let file = std::fs::read_to_string(server.config.data_dir.join("sourcing.toml")).unwrap();
    assert!(file.contains("south-only"));
}
