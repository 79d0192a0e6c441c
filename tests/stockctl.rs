//! `stockctl`, the command-line client, run as a user runs it against a real server
//! started in-process on loopback: tables and `--json`, every command family, refusals
//! (exit 1 with the error code), connection and usage errors (exit 2), and the default
//! pin of `data/tls/cert.pem`.

mod net;

use net::ctl::*;
use net::{TestServer, ADMIN_TOKEN, READ_TOKEN, RESERVE_TOKEN};
use serde_json::Value;
use std::path::Path;

/// A channel through the Rust client (stockctl has no command for channels).
#[test]
fn a_newcomer_stocks_reserves_and_reads_through_stockctl() {
    let server = TestServer::start(|_| {});
    let ctl = Ctl::new(&server);
    let admin = ADMIN_TOKEN;

    // ping: a table and JSON.
    let pong = ctl.ok(READ_TOKEN, &["ping"]);
    assert_eq!(field(&pong, "role"), "read");
    assert!(field(&pong, "server time").ends_with("UTC"), "{pong}");
    let pong = ctl.json(admin, &["ping"]);
    assert_eq!(string(&pong, "/role"), "admin");
    assert!(num(&pong, "/server_time_ms") > 1_600_000_000_000);

    // Locations first, so that stock can be set there.
    let added = ctl.ok(
        admin,
        &["location", "add", "DC-1", "--kind", "distribution-centre", "--lat", "51.5", "--lon", "-0.1", "--ships"],
    );
    assert!(field(&added, "location").starts_with("DC-1"), "{added}");
    assert_eq!(field(&added, "ships"), "yes");
    let added = ctl.json(
        admin,
        &[
            "location",
            "add",
            "ST-1",
            "--kind",
            "store",
            "--lat",
            "53.4",
            "--lon",
            "-2.2",
            "--pickup",
            "--priority",
            "5",
        ],
    );
    assert_eq!(string(&added, "/location"), "ST-1");
    assert_eq!(added["longitude"].as_f64(), Some(-2.2));
    assert_eq!(added["pickup"], Value::Bool(true));
    assert_eq!(num(&added, "/priority"), 5);
    let channel = ctl.ok(admin, &["channel-define", "web", "--locations", "DC-1,ST-1"]);
    assert!(channel.contains("web (created or replaced)"), "{channel}");
    let refused = ctl.output(admin, &["channel-define", "bad", "--locations", "NOWHERE"]);
    assert_eq!(refused.status.code(), Some(1), "an unknown location is refused: {}", describe(&refused));

    // set, set at an expected version, adjust by a negative delta.
    let set = ctl.json(admin, &["set", "TSHIRT", "DC-1", "10"]);
    assert_eq!(num(&set, "/on_hand"), 10);
    let version = num(&set, "/version").to_string();
    let set = ctl.json(admin, &["set", "TSHIRT", "DC-1", "11", "--expected-version", &version]);
    assert_eq!(num(&set, "/on_hand"), 11);
    let stale = ctl.fails(1, admin, &["set", "TSHIRT", "DC-1", "12", "--expected-version", &version]);
    assert!(text(&stale.stderr).contains("VERSION_MISMATCH"), "{}", describe(&stale));
    let adjusted = ctl.ok(admin, &["adjust", "TSHIRT", "DC-1", "-1", "--reason", "lost", "--reference", "count-7"]);
    let cells = row(&adjusted, "TSHIRT");
    assert_eq!(cells[..3], ["TSHIRT", "DC-1", "10"], "{adjusted}");

    // reserve, and the same reserve again: a replay, nothing held twice.
    let reserved = ctl.json(RESERVE_TOKEN, &["reserve", "cart-1", "TSHIRT@DC-1=4", "--ttl-ms", "600000"]);
    assert_eq!(reserved["replayed"], Value::Bool(false));
    assert_eq!(string(&reserved, "/state"), "Held");
    assert_eq!(num(&reserved, "/lines/0/quantity"), 4);
    let again = ctl.ok(RESERVE_TOKEN, &["reserve", "cart-1", "TSHIRT@DC-1=4", "--ttl-ms", "600000"]);
    assert!(field(&again, "replayed").starts_with("yes"), "{again}");
    assert_eq!(row(&again, "TSHIRT")[2], "4", "{again}");
    let position = ctl.json(READ_TOKEN, &["position", "TSHIRT", "DC-1"]);
    assert_eq!((num(&position, "/on_hand"), num(&position, "/reserved")), (10, 4));
    assert_eq!(num(&position, "/available_to_sell"), 6);

    // import: three rows load; the one that would leave TSHIRT below its 4 reserved
    // is rejected and reported by its file line (exit 1).
    let csv = server.dir.path().join("positions.csv");
    std::fs::write(
        &csv,
        "sku,location,on_hand,safety_stock\nMUG,DC-1,20,2\nMUG,ST-1,5,\nTSHIRT,DC-1,2,0\nCAP,ST-1,7,0\n",
    )
    .unwrap();
    let csv = csv.to_str().unwrap();
    let imported = ctl.fails(1, admin, &["import", csv]);
    let listing = text(&imported.stdout);
    assert!(field(&listing, "rows").starts_with("4 from"), "{listing}");
    assert_eq!(field(&listing, "inserted"), "3");
    assert_eq!(field(&listing, "rejected"), "1");
    assert!(listing.contains("line 4: CONFLICT"), "{listing}");
    assert!(text(&imported.stderr).contains("1 row was rejected"), "{}", describe(&imported));
    let imported = ctl.fails(1, admin, &["import", csv, "--json"]);
    let imported: Value = serde_json::from_slice(&imported.stdout).unwrap();
    let counts = ["/inserted", "/updated", "/unchanged", "/rejected"].map(|pointer| num(&imported, pointer));
    assert_eq!(counts, [0, 0, 3, 1]);
    assert_eq!(num(&imported, "/rejections/0/line"), 4);
    assert_eq!(string(&imported, "/rejections/0/code"), "CONFLICT");

    // commit, a partial fulfil (applied once), a partial release, then the rest released.
    let committed = ctl.json(RESERVE_TOKEN, &["commit", "cart-1"]);
    assert_eq!(string(&committed, "/state"), "Committed");
    let step = ["fulfil", "cart-1", "--step", "ship-1", "--line", "TSHIRT@DC-1=1"];
    let fulfilled = ctl.json(RESERVE_TOKEN, &step);
    assert_eq!((num(&fulfilled, "/lines/0/held"), num(&fulfilled, "/lines/0/fulfilled")), (3, 1));
    let fulfilled = ctl.json(RESERVE_TOKEN, &step);
    assert_eq!((num(&fulfilled, "/lines/0/held"), num(&fulfilled, "/lines/0/fulfilled")), (3, 1));
    assert_eq!(fulfilled["applied_steps"], serde_json::json!(["ship-1"]));
    let released = ctl.ok(RESERVE_TOKEN, &["release", "cart-1", "--step", "back-1", "--line", "TSHIRT@DC-1=1"]);
    assert_eq!(row(&released, "TSHIRT")[3..], ["4", "2", "1", "1", "0"], "{released}");
    assert_eq!(field(&released, "steps"), "ship-1, back-1");
    let ended = ctl.json(RESERVE_TOKEN, &["release", "cart-1"]);
    assert_eq!(num(&ended, "/lines/0/held"), 0);
    assert_eq!(num(&ended, "/lines/0/released"), 3);
    let position = ctl.json(READ_TOKEN, &["position", "TSHIRT", "DC-1"]);
    assert_eq!((num(&position, "/on_hand"), num(&position, "/reserved")), (9, 0));
    let restocked = ctl.json(RESERVE_TOKEN, &["restock", "cart-1", "--step", "return-1", "--line", "TSHIRT@DC-1=1"]);
    assert_eq!(num(&restocked, "/on_hand"), 10);

    // extend a held reservation.
    let held = ctl.json(RESERVE_TOKEN, &["reserve", "cart-2", "MUG@ST-1=2", "--ttl-ms", "60000"]);
    let first_expiry = num(&held, "/expires_at");
    let extended = ctl.json(RESERVE_TOKEN, &["extend", "cart-2", "--ttl-ms", "3600000"]);
    assert!(num(&extended, "/expires_at") >= first_expiry + 3_000_000, "{extended:#}");
    let shown = ctl.ok(READ_TOKEN, &["reservation", "cart-2"]);
    assert_eq!(field(&shown, "state"), "Held");
    assert_eq!(row(&shown, "MUG")[..5], ["MUG", "ST-1", "InStock", "2", "2"], "{shown}");

    // Reads, as tables and as JSON: MUG is DC-1 20 (safety 2, so 18 to sell) and
    // ST-1 5 with 2 held (3 to sell); TSHIRT DC-1 10; CAP ST-1 7.
    let table = ctl.ok(READ_TOKEN, &["position", "MUG", "DC-1"]);
    assert_eq!(row(&table, "sku")[..4], ["sku", "location", "on_hand", "reserved"], "{table}");
    assert_eq!(row(&table, "MUG")[2..9], ["20", "0", "2", "0", "0", "0", "18"], "{table}");
    let position = ctl.json(READ_TOKEN, &["position", "MUG", "DC-1"]);
    assert_eq!((num(&position, "/safety_stock"), num(&position, "/available_to_sell")), (2, 18));

    let table = ctl.ok(READ_TOKEN, &["availability", "MUG", "--location", "ST-1"]);
    assert_eq!(row(&table, "MUG").last(), Some(&"3"), "{table}");
    let at_store = ctl.json(READ_TOKEN, &["availability", "MUG", "--location", "ST-1"]);
    assert_eq!((num(&at_store, "/available"), string(&at_store, "/measure")), (3, "ats"));
    let in_channel = ctl.json(READ_TOKEN, &["availability", "MUG", "--channel", "web"]);
    assert_eq!(num(&in_channel, "/available"), 21);
    let promised = ctl.json(READ_TOKEN, &["availability", "MUG", "--location", "DC-1", "--by", "+7d"]);
    assert_eq!((num(&promised, "/available"), string(&promised, "/measure")), (18, "atp"));
    let in_six_days = stockd::Timestamp::now().millis() + 6 * 86_400_000;
    assert!(num(&promised, "/by_ms") > in_six_days, "{promised:#}");

    let table = ctl.ok(READ_TOKEN, &["channel", "MUG", "web", "--breakdown"]);
    assert_eq!(row(&table, "MUG")[1..], ["web", "21", "21", "0"], "{table}");
    assert_eq!(row(&table, "DC-1"), ["DC-1", "18"], "{table}");
    assert_eq!(row(&table, "ST-1"), ["ST-1", "3"], "{table}");
    let channel = ctl.json(READ_TOKEN, &["channel", "MUG", "web", "--breakdown"]);
    assert_eq!((num(&channel, "/available"), num(&channel, "/summed")), (21, 21));
    assert_eq!(channel["locations"].as_array().map(Vec::len), Some(2));

    let table = ctl.ok(READ_TOKEN, &["batch", "--channel", "web", "MUG", "TSHIRT", "CAP"]);
    assert_eq!(row(&table, "TSHIRT"), ["TSHIRT", "10"], "{table}");
    let batch = ctl.json(READ_TOKEN, &["batch", "--location", "ST-1", "MUG", "TSHIRT", "CAP"]);
    let numbers: Vec<u64> = (0..3).map(|i| num(&batch, &format!("/skus/{i}/available"))).collect();
    assert_eq!(numbers, [3, 0, 7]);
    assert_eq!(string(&batch, "/skus/2/sku"), "CAP");

    // Operator calls.
    let verified = ctl.ok(admin, &["verify"]);
    assert_eq!(field(&verified, "findings"), "0");
    let verified = ctl.json(admin, &["verify"]);
    assert_eq!((num(&verified, "/findings_total"), num(&verified, "/positions_checked")), (0, 4));
    let stats = ctl.json(admin, &["stats"]);
    assert_eq!((num(&stats, "/positions"), num(&stats, "/locations"), num(&stats, "/channels")), (4, 2, 1));
    assert_eq!(num(&stats, "/reservations_held"), 1);
    assert_eq!(field(&ctl.ok(admin, &["stats"]), "skus"), "3");
    let snapshot = ctl.json(admin, &["snapshot", "take"]);
    assert_eq!(num(&snapshot, "/positions"), 4);
    assert!(Path::new(string(&snapshot, "/path")).is_file(), "{snapshot:#}");
}

#[test]
fn refusals_exit_1_and_connection_or_usage_errors_exit_2() {
    let server = TestServer::start(|_| {});
    let ctl = Ctl::new(&server);
    ctl.ok(ADMIN_TOKEN, &["location", "add", "DC-1", "--kind", "warehouse", "--lat", "0", "--lon", "0"]);
    ctl.ok(ADMIN_TOKEN, &["set", "TSHIRT", "DC-1", "3"]);

    // Not enough stock: the code, the message and one line per short line.
    let short = ctl.fails(1, RESERVE_TOKEN, &["reserve", "big", "TSHIRT@DC-1=5"]);
    let stderr = text(&short.stderr);
    assert!(stderr.contains("INSUFFICIENT_STOCK"), "{}", describe(&short));
    assert!(stderr.contains("TSHIRT at DC-1: requested 5, available 3"), "{}", describe(&short));
    let short = ctl.fails(1, RESERVE_TOKEN, &["reserve", "big", "TSHIRT@DC-1=5", "--json"]);
    let error: Value = serde_json::from_slice(&short.stdout).expect("a JSON error document");
    assert_eq!(string(&error, "/error/code"), "INSUFFICIENT_STOCK");
    assert_eq!(num(&error, "/error/short_lines/0/available"), 3);
    assert_eq!(num(&ctl.json(READ_TOKEN, &["position", "TSHIRT", "DC-1"]), "/reserved"), 0);

    // A read token may read, not write.
    let forbidden =
        ctl.fails(1, READ_TOKEN, &["adjust", "TSHIRT", "DC-1", "5", "--reason", "found", "--reference", "r"]);
    assert!(text(&forbidden.stderr).contains("FORBIDDEN"), "{}", describe(&forbidden));
    assert_eq!(num(&ctl.json(READ_TOKEN, &["position", "TSHIRT", "DC-1"]), "/on_hand"), 3);
    let unknown = ctl.fails(1, "stk_nobody", &["ping"]);
    assert!(text(&unknown.stderr).contains("UNAUTHENTICATED"), "{}", describe(&unknown));
    let missing = ctl.fails(1, READ_TOKEN, &["reservation", "nope"]);
    assert!(text(&missing.stderr).contains("UNKNOWN_ENTITY"), "{}", describe(&missing));

    // Another certificate's fingerprint: no connection.
    let mut command = stockctl(&ctl.elsewhere);
    let other = stockd::tls::generate_self_signed(&[]).unwrap().fingerprint.to_string();
    command.args(["--server", &server.addr().to_string(), "--fingerprint", &other, "--token", ADMIN_TOKEN, "ping"]);
    let wrong = run(command);
    assert_eq!(wrong.status.code(), Some(2), "{}", describe(&wrong));
    assert!(text(&wrong.stderr).contains("fingerprint"), "{}", describe(&wrong));

    // No way to trust the server: refused before connecting, saying what to pass.
    let mut command = stockctl(&ctl.elsewhere);
    command.args(["--server", &server.addr().to_string(), "--token", ADMIN_TOKEN, "ping"]);
    let untrusted = run(command);
    assert_eq!(untrusted.status.code(), Some(2), "{}", describe(&untrusted));
    assert!(text(&untrusted.stderr).contains("--fingerprint"), "{}", describe(&untrusted));

    // Usage errors.
    ctl.fails(2, RESERVE_TOKEN, &["reserve", "cart", "TSHIRT-DC-1"]);
    ctl.fails(2, READ_TOKEN, &["availability", "TSHIRT", "--location", "DC-1", "--channel", "web"]);
    ctl.fails(2, READ_TOKEN, &["availability", "TSHIRT", "--location", "DC-1", "--by", "soon"]);
    ctl.fails(2, RESERVE_TOKEN, &["fulfil", "cart", "--step", "s1"]);
    let absent = ctl.fails(2, ADMIN_TOKEN, &["import", "no-such-file.csv"]);
    assert!(text(&absent.stderr).contains("no-such-file.csv"), "{}", describe(&absent));
    let bad_csv = server.dir.path().join("bad.csv");
    std::fs::write(&bad_csv, "sku,location,on_hand\nTSHIRT,DC-1,lots\n").unwrap();
    let bad = ctl.fails(2, ADMIN_TOKEN, &["import", bad_csv.to_str().unwrap()]);
    assert!(text(&bad.stderr).contains("line 2"), "{}", describe(&bad));
}

#[test]
fn the_certificate_in_data_tls_is_pinned_by_default() {
    let server = TestServer::start(|_| {});
    // The test configuration keeps its data in <root>/data: run from <root>, with the
    // server and the token from the environment.
    assert!(server.dir.path().join("data/tls").join(stockd::tls::CERT_FILE).is_file());
    let mut command = stockctl(server.dir.path());
    command.env("STOCKCTL_SERVER", server.addr().to_string()).env("STOCKCTL_TOKEN", ADMIN_TOKEN);
    command.arg("ping");
    let pinned = run(command);
    assert!(pinned.status.success(), "{}", describe(&pinned));
    assert_eq!(field(&text(&pinned.stdout), "role"), "admin");

    // A folder whose data/tls/cert.pem is another server's: refused, with a hint.
    let other = tempfile::tempdir().unwrap();
    stockd::tls::load_or_generate(&other.path().join("data/tls"), &[]).unwrap();
    let mut command = stockctl(other.path());
    command.args(["--server", &server.addr().to_string(), "--token", ADMIN_TOKEN, "ping"]);
    let wrong = run(command);
    assert_eq!(wrong.status.code(), Some(2), "{}", describe(&wrong));
    assert!(text(&wrong.stderr).contains("data/tls/cert.pem"), "{}", describe(&wrong));
}
