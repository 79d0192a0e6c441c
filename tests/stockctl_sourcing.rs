//! Issue 6's `stockctl` commands run as a user runs them against a real server:
//! `source` (delivery and pickup), `stores`, `demand`, `profiles show|set` and
//! `watch`, in tables and `--json`, with refusals exiting 1 and usage errors 2.

mod net;

use net::ctl::*;
use net::{TestServer, ADMIN_TOKEN, READ_TOKEN, RESERVE_TOKEN};
use std::process::Stdio;

/// Two warehouses and two London stores, one channel, stock of SHIRT and MUG.
fn seed(ctl: &Ctl<'_>) {
    for (name, kind, lat, lon, flag) in [
        ("DC-NORTH", "warehouse", "53.4808", "-2.2426", "--ships"),
        ("DC-SOUTH", "warehouse", "51.4543", "-0.9781", "--ships"),
        ("STORE-SOHO", "store", "51.5136", "-0.1365", "--pickup"),
        ("STORE-CAMDEN", "store", "51.5390", "-0.1426", "--pickup"),
    ] {
        ctl.ok(ADMIN_TOKEN, &["location", "add", name, "--kind", kind, "--lat", lat, "--lon", lon, flag]);
    }
    ctl.ok(ADMIN_TOKEN, &["channel-define", "web", "--locations", "DC-NORTH,DC-SOUTH,STORE-SOHO,STORE-CAMDEN"]);
    for (sku, location, on_hand) in [
        ("SHIRT", "DC-NORTH", "10"),
        ("SHIRT", "DC-SOUTH", "3"),
        ("MUG", "DC-NORTH", "5"),
        ("SHIRT", "STORE-CAMDEN", "4"),
    ] {
        ctl.ok(ADMIN_TOKEN, &["set", sku, location, on_hand]);
    }
}

#[test]
fn source_stores_demand_and_profiles_through_stockctl() {
    let server = TestServer::start(|_| {});
    let ctl = Ctl::new(&server);
    seed(&ctl);

    // A delivery: the default profile ships both lines from DC-NORTH.
    let table =
        ctl.ok(RESERVE_TOKEN, &["source", "o-1", "--channel", "web", "--to", "51.5072,-0.1276", "SHIRT=2", "MUG=1"]);
    assert_eq!(field(&table, "locations"), "1", "{table}");
    assert_eq!(row(&table, "0")[1..4], ["SHIRT", "DC-NORTH", "2"], "{table}");
    // The same command again is a replay.
    let again =
        ctl.json(RESERVE_TOKEN, &["source", "o-1", "--channel", "web", "--to", "51.5072,-0.1276", "SHIRT=2", "MUG=1"]);
    assert_eq!(again["reservation"]["replayed"], serde_json::Value::Bool(true));
    assert_eq!(string(&again, "/allocation/0/location"), "DC-NORTH");

    // The store finder, then a pickup at the store found.
    let stores = ctl.json(READ_TOKEN, &["stores", "--channel", "web", "--near", "51.5136,-0.1365", "SHIRT=2"]);
    assert_eq!(string(&stores, "/0/location"), "STORE-CAMDEN", "{stores:#}");
    let none = ctl.ok(READ_TOKEN, &["stores", "--channel", "web", "--near", "51.5136,-0.1365", "SHIRT=50"]);
    assert!(none.contains("no pickup store"), "{none}");
    let pickup = ctl.json(
        RESERVE_TOKEN,
        &["source", "c-1", "--channel", "web", "--pickup", "STORE-CAMDEN", "--profile", "pickup", "SHIRT=2"],
    );
    assert_eq!(string(&pickup, "/allocation/0/location"), "STORE-CAMDEN");

    // A refusal exits 1 with the code; it is lost demand.
    let short = ctl.fails(1, RESERVE_TOKEN, &["source", "o-2", "--channel", "web", "--to", "51.5,-0.1", "SHIRT=500"]);
    assert!(text(&short.stderr).contains("INSUFFICIENT_STOCK"), "{}", describe(&short));
    let top = ctl.ok(READ_TOKEN, &["demand", "--top", "5"]);
    assert_eq!(row(&top, "SHIRT")[1..3], ["1", "500"], "{top}");
    let one = ctl.json(READ_TOKEN, &["demand", "--sku", "SHIRT", "--channel", "web"]);
    assert_eq!(num(&one, "/refused_units"), 500);
    // Usage errors exit 2 before anything is sent.
    ctl.fails(2, RESERVE_TOKEN, &["source", "o-3", "--channel", "web", "SHIRT=1"]);
    ctl.fails(2, RESERVE_TOKEN, &["source", "o-3", "--channel", "web", "--to", "north", "SHIRT=1"]);
    ctl.fails(2, RESERVE_TOKEN, &["source", "o-3", "--channel", "web", "--to", "51,0", "SHIRT"]);

    // Profiles: shown, replaced from a file (a bad one is refused with exit 1), in force.
    let shown = ctl.ok(READ_TOKEN, &["profiles", "show"]);
    assert!(shown.contains("[profile.default]"), "{shown}");
    let bad = ctl.elsewhere.join("bad.toml");
    std::fs::write(&bad, "[profile.x]\nmax_locations = 99\n").unwrap();
    let refused = ctl.fails(1, ADMIN_TOKEN, &["profiles", "set", bad.to_str().unwrap()]);
    assert!(text(&refused.stderr).contains("INVALID_ARGUMENT"), "{}", describe(&refused));
    let good = ctl.elsewhere.join("profiles.toml");
    std::fs::write(&good, "[profile.south]\nrank_by = [\"priority\"]\nexclude_locations = [\"DC-NORTH\"]\n").unwrap();
    let set = ctl.json(ADMIN_TOKEN, &["profiles", "set", good.to_str().unwrap()]);
    assert_eq!(set["names"], serde_json::json!(["south"]));
    let south = ctl.json(
        RESERVE_TOKEN,
        &["source", "o-4", "--channel", "web", "--to", "51.5,-0.1", "--profile", "south", "SHIRT=1"],
    );
    assert_eq!(string(&south, "/allocation/0/location"), "DC-SOUTH");
    ctl.fails(2, ADMIN_TOKEN, &["profiles", "set", "/no/such/file.toml"]);
}

#[test]
fn watch_prints_events_as_they_happen_and_stops_by_itself() {
    let server = TestServer::start(|_| {});
    let ctl = Ctl::new(&server);
    seed(&ctl);
    // `watch` runs in the background while stock changes.
    let mut command = stockctl(&ctl.elsewhere);
    command.args(["--server", &server.addr().to_string()]);
    command.args(["--fingerprint", &server.running().fingerprint.to_string(), "--token", READ_TOKEN]);
    command.args(["watch", "--sku", "MUG", "--channel", "web", "--count", "2", "--for", "20", "--json"]);
    let mut child = command.stdout(Stdio::piped()).stderr(Stdio::null()).spawn().unwrap();
    // The first event (the snapshot) shows the subscription is live before MUG sells out.
    let deadline = std::time::Instant::now() + net::PATIENCE;
    let mut reader = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    std::io::BufRead::read_line(&mut reader, &mut first).unwrap();
    let snapshot: serde_json::Value = serde_json::from_str(&first).unwrap();
    assert_eq!((string(&snapshot, "/kind"), num(&snapshot, "/available")), ("Snapshot", 5));
    ctl.ok(RESERVE_TOKEN, &["reserve", "r-1", "MUG@DC-NORTH=5"]);
    let mut second = String::new();
    std::io::BufRead::read_line(&mut reader, &mut second).unwrap();
    let out: serde_json::Value = serde_json::from_str(&second).unwrap();
    assert_eq!((string(&out, "/kind"), num(&out, "/available")), ("OutOfStock", 0));
    // After --count events it closes its subscription and exits 0 by itself.
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(std::time::Instant::now() < deadline, "watch stops after --count events");
        std::thread::sleep(std::time::Duration::from_millis(10));
    };
    assert!(status.success(), "{status:?}");
}
