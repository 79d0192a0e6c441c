//! The real server, in process: a `RunningServer` on its own thread in a temporary
//! folder, its catalogue loaded straight into its durable engine before any clock
//! starts, and the stockd side of each scenario as a [`Link`] over the client's raw
//! `Pipeline`.

use super::drive::Link;
use crate::support::{location_name, position_rows, write_sku_name, FastRandom};
use std::path::Path;
use stockd::client::{Client, ClientConfig, Pipeline};
use stockd::engine::{Availability, AvailabilityScope, ReserveLine, ReserveRequest, ScopeName};
use stockd::model::{ChannelBuffer, ChannelSpec, Coordinates, LocationFlags, LocationKind, LocationSpec};
use stockd::protocol::hot::HotCall;
use stockd::protocol::{encode_frame, Applied, Call, Reply, Request, RequestFrame, Response, ResponseFrame};
use stockd::server::auth::token_entry;
use stockd::server::config::RoleName;
use stockd::server::{RunningServer, ServerConfig};
use stockd::tls::Trust;
use stockd::{Operation, Outcome, Timestamp};

pub const READ_TOKEN: &str = "stk_bench_read";
pub const RESERVE_TOKEN: &str = "stk_bench_reserve";

/// Locations every SKU is stocked at, all in the channel [`CHANNEL`].
pub const LOCATIONS: usize = 10;
pub const CHANNEL: &str = "web";
/// SKUs in one `AvailabilityBatch` (a listing page).
pub const BATCH_SKUS: usize = 48;
/// Reservations are held this long: none expires during a run.
const RESERVE_TTL_MS: u64 = 3_600_000;

/// A running server and the folder it lives in (removed when dropped, after the
/// server has stopped).
pub struct StockdServer {
    pub running: Option<RunningServer>,
    _dir: tempfile::TempDir,
}

impl StockdServer {
    /// Starts a server (`durability`: `interval:5`, `always`...) on 127.0.0.1 with an
    /// ephemeral port, no admin listener, no periodic snapshots, and loads `skus` SKUs
    /// x [`LOCATIONS`] positions with `on_hand` units each, plus the channel.
    pub fn start(durability: &str, skus: usize, on_hand: u32, parent: &Path) -> StockdServer {
        let dir = tempfile::tempdir_in(parent).expect("a temporary folder for the server");
        let config = ServerConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            admin_listen: "off".to_owned(),
            data_dir: dir.path().join("data"),
            snapshot_dir: dir.path().join("snapshots"),
            snapshot_interval_secs: 0,
            snapshot_every_records: 0,
            durability: durability.to_owned(),
            tokens: vec![
                token_entry("bench-reader", RoleName::Read, READ_TOKEN),
                token_entry("bench-checkout", RoleName::Reserve, RESERVE_TOKEN),
            ],
            ..ServerConfig::default()
        };
        let running = RunningServer::start(config, false).expect("the stockd server starts");
        preload(&running, skus, on_hand);
        StockdServer { running: Some(running), _dir: dir }
    }

    pub fn running(&self) -> &RunningServer {
        self.running.as_ref().expect("running")
    }

    pub async fn client(&self, token: &str) -> Client {
        let config = ClientConfig::new(self.running().addr, Trust::Fingerprint(self.running().fingerprint), token);
        Client::connect(config).await.expect("the bench client connects to stockd")
    }

    /// Graceful shutdown (final snapshot included), outside any measurement.
    pub fn stop(mut self) {
        if let Some(running) = self.running.take() {
            running.shutdown().expect("the stockd server shuts down cleanly");
        }
    }
}

fn preload(running: &RunningServer, skus: usize, on_hand: u32) {
    let durable = running.durable();
    let now = Timestamp::now();
    let locations = (0..LOCATIONS)
        .map(|index| LocationSpec {
            name: location_name(index),
            kind: LocationKind::Warehouse,
            coordinates: Coordinates { latitude: 51.0, longitude: 0.0 },
            flags: LocationFlags { ships: true, pickup: false },
            priority: 1,
        })
        .collect();
    durable.apply(&Operation::UpsertLocations(locations), now).expect("the locations load");
    let channel = ChannelSpec {
        name: CHANNEL.to_owned(),
        locations: (0..LOCATIONS).map(location_name).collect(),
        excluded: Vec::new(),
        buffer: ChannelBuffer::None,
    };
    durable.apply(&Operation::UpsertChannel(channel), now).expect("the channel loads");
    let mut rows = position_rows(skus, LOCATIONS);
    rows.iter_mut().for_each(|row| row.on_hand = on_hand);
    match durable.apply(&Operation::BulkLoad(rows), now).expect("the positions load") {
        Outcome::BulkLoad(outcome) => assert_eq!(outcome.inserted as usize, skus * LOCATIONS, "every position loads"),
        other => panic!("a bulk load answered {other:?}"),
    }
}

/// What a scenario asks stockd.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `Call::Availability` (to sell) of a random SKU at a random location.
    Query,
    /// `Call::AvailabilityBatch` of [`BATCH_SKUS`] random SKUs over the channel.
    Batch,
    /// `Apply(Reserve)`: one line, quantity 1, a random position, a new id each time.
    Reserve,
}

/// Builds the requests of one scenario.
pub struct Requests {
    kind: Kind,
    skus: usize,
    /// Reservation ids are `<prefix><12-digit counter>`.
    prefix: String,
    counter: u64,
    name: String,
    /// A batch's SKU names back to back (all of one width).
    batch_names: String,
    /// The location names, made once (formatting one per request would cost the
    /// client more than the rest of the request).
    locations: Vec<String>,
}

impl Requests {
    pub fn new(kind: Kind, skus: usize, prefix: &str) -> Requests {
        Requests {
            kind,
            skus,
            prefix: prefix.to_owned(),
            counter: 0,
            name: String::with_capacity(16),
            batch_names: String::new(),
            locations: (0..LOCATIONS).map(location_name).collect(),
        }
    }

    fn sku(&mut self, rng: &mut FastRandom) -> String {
        write_sku_name(&mut self.name, rng.below(self.skus));
        self.name.clone()
    }

    fn location(&self, rng: &mut FastRandom) -> String {
        self.locations[rng.below(LOCATIONS)].clone()
    }

    pub fn next(&mut self, rng: &mut FastRandom) -> Request {
        match self.kind {
            Kind::Query => Request::Call(Call::Availability {
                sku: self.sku(rng),
                scope: AvailabilityScope::Location(self.location(rng)),
                measure: Availability::ToSell,
            }),
            Kind::Batch => Request::Call(Call::AvailabilityBatch {
                skus: (0..BATCH_SKUS).map(|_| self.sku(rng)).collect(),
                scope: AvailabilityScope::Channel(CHANNEL.to_owned()),
                measure: Availability::ToSell,
            }),
            Kind::Reserve => {
                self.counter += 1;
                Request::Call(Call::Apply(Operation::Reserve(ReserveRequest {
                    id: format!("{}{:012}", self.prefix, self.counter),
                    lines: vec![ReserveLine { sku: self.sku(rng), location: self.location(rng), quantity: 1 }],
                    ttl_ms: RESERVE_TTL_MS,
                    promise_by: None,
                })))
            }
        }
    }
}

/// Panics unless `response` is the success a request of `kind` must get.
fn check(kind: Kind, request_id: u64, response: &Response) {
    let good = match (kind, response) {
        (Kind::Query, Response::Reply(Reply::Availability { .. })) => true,
        (Kind::Batch, Response::Reply(Reply::AvailabilityBatch { available })) => available.len() == BATCH_SKUS,
        (Kind::Reserve, Response::Reply(Reply::Applied(Applied::Reserved(outcome)))) => !outcome.replayed,
        _ => false,
    };
    if !good {
        let expected = match kind {
            Kind::Query => "Reply::Availability",
            Kind::Batch => "Reply::AvailabilityBatch of 48 SKUs",
            Kind::Reserve => "Reply::Applied(Reserved), not replayed",
        };
        panic!("stockd answered request {request_id:#x} with {response:?}; expected {expected}");
    }
}

/// The stockd side of a scenario: the client's raw pipeline on a stream of its own.
pub struct StockdLink {
    pipeline: Pipeline,
    requests: Requests,
}

impl StockdLink {
    pub async fn open(client: &Client, requests: Requests) -> StockdLink {
        let pipeline = client.open_pipeline().await.expect("a pipeline to stockd");
        StockdLink { pipeline, requests }
    }

    /// Sends one request of the scenario and returns the payload sizes of that request
    /// and of its response as encoded on the wire (what the echo then sends and
    /// answers).
    pub async fn measure_sizes(&mut self, rng: &mut FastRandom) -> (usize, usize) {
        let request = self.requests.next(rng);
        let request_id = self.pipeline.queue(request.clone());
        self.pipeline.flush().await.expect("send to stockd");
        let frame = self.pipeline.next_response().await.expect("a response from stockd");
        check(self.requests.kind, frame.request_id, &frame.response);
        let payload = |bytes: Vec<u8>| bytes.len() - stockd::protocol::FRAME_HEADER_BYTES;
        let mut bytes = Vec::new();
        encode_frame(&RequestFrame { request_id, request }, u32::MAX, &mut bytes).unwrap();
        let request_bytes = payload(std::mem::take(&mut bytes));
        encode_frame(&ResponseFrame { request_id: frame.request_id, response: frame.response }, u32::MAX, &mut bytes)
            .unwrap();
        (request_bytes, payload(bytes))
    }
}

impl Link for StockdLink {
    fn queue(&mut self, rng: &mut FastRandom) -> u32 {
        match self.requests.kind {
            // The queries through the pipeline's borrowed-name path (the same bytes).
            Kind::Query => {
                let requests = &mut self.requests;
                write_sku_name(&mut requests.name, rng.below(requests.skus));
                let location = &requests.locations[rng.below(LOCATIONS)];
                let call = HotCall::Availability {
                    sku: &requests.name,
                    scope: ScopeName::Location(location),
                    measure: Availability::ToSell,
                };
                self.pipeline.queue_hot(&call) as u32
            }
            Kind::Batch => {
                let requests = &mut self.requests;
                requests.batch_names.clear();
                for _ in 0..BATCH_SKUS {
                    write_sku_name(&mut requests.name, rng.below(requests.skus));
                    requests.batch_names.push_str(&requests.name);
                }
                let width = requests.name.len();
                let skus: Vec<&str> =
                    (0..BATCH_SKUS).map(|i| &requests.batch_names[i * width..(i + 1) * width]).collect();
                let call = HotCall::AvailabilityBatch {
                    skus,
                    scope: ScopeName::Channel(CHANNEL),
                    measure: Availability::ToSell,
                };
                self.pipeline.queue_hot(&call) as u32
            }
            Kind::Reserve => {
                let request = self.requests.next(rng);
                self.pipeline.queue(request) as u32
            }
        }
    }

    async fn flush(&mut self) {
        if let Err(error) = self.pipeline.flush().await {
            panic!("cannot send to stockd: {error}");
        }
    }

    async fn next(&mut self) -> u32 {
        match self.pipeline.next_response().await {
            Ok(frame) => {
                check(self.requests.kind, frame.request_id, &frame.response);
                frame.request_id as u32
            }
            Err(error) => panic!("no response from stockd: {error}"),
        }
    }

    fn in_flight(&self) -> usize {
        self.pipeline.in_flight()
    }
}
