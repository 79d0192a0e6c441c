//! `stockd soak`: a built-in write load against a durable engine in a data
//! directory, printing every acknowledged write. The crash tests (`tests/crash.rs`)
//! kill it with SIGKILL at random moments, recover the directory and check that
//! every write it acknowledged is there.
//!
//! A line is printed only after `DurableEngine::apply` returned `Ok` (the write is
//! acknowledged under the chosen mode: fsynced under `always`, in the log's buffer
//! under `interval`), and stdout is flushed before the thread goes on. One line per
//! acknowledged operation (`<seq>` counts lines in the order they were printed):
//!
//! ```text
//! ack <seq> setup-locations count=<n>
//! ack <seq> setup-channel name=<channel>
//! ack <seq> setup-bulk rows=<n> inserted=<n> updated=<n> unchanged=<n> rejected=<n>
//! ack <seq> setup-kit kit=<sku>
//! ack <seq> location name=<location>
//! ack <seq> <reserve|commit|fulfil|release|extend> id=<id> state=<State> held=<units>
//!     fulfilled=<units> released=<units> returned=<units> steps=<n> [step=<step id>]
//! ack <seq> <adjust|set|set-cas|restock> sku=<sku> loc=<location> version=<v> on_hand=<n>
//!     [expected=<v>] [id=<reservation> step=<step id>]
//! ack <seq> expire expired=<n> forgotten=<n>
//! done <digest>
//! ```
//! Each `ack` is one line, and ends with ` lsn=<appended> written=<written>`: the
//! last LSN appended when it was printed (at or after the write's own records) and
//! the last LSN handed to the OS (see [`Acks`]). The totals are over the
//! reservation's lines, as the outcome of the call reported them. `done` follows a
//! normal end: the operations are exhausted or the time is up, the final snapshot
//! is written and `verify()` is clean.
//!
//! The load: multi-line reserves (a kit now and then), commits, whole and partial
//! fulfils and releases, extends, adjustments, counts with and without
//! compare-and-set, returns of fulfilled units, expiry sweeps, and now and then a
//! new SKU or a new location, so that the catalogue and the SKU names change while
//! snapshots are taken. Reservation and step ids carry the run's start time in
//! nanoseconds: unique across restarts.

use parking_lot::Mutex;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use stockd::engine::{
    AdjustReason, LineQuantity, PartialStep, Reservation, ReservationState, ReserveLine, ReserveRequest, RestockRequest,
};
use stockd::model::{
    Bucket, ChannelBuffer, ChannelSpec, Coordinates, LocationFlags, LocationKind, LocationSpec, PositionRow,
};
use stockd::storage::{ApplyError, DurableEngine, RecoveryReport, StorageConfig};
use stockd::wal::DurabilityMode;
use stockd::{EngineConfig, Operation, Outcome, Timestamp};

const LOCATIONS: [(&str, LocationKind, f64, f64); 4] = [
    ("SOAK-WH-1", LocationKind::Warehouse, 52.48, -1.89),
    ("SOAK-WH-2", LocationKind::Warehouse, 53.48, -2.24),
    ("SOAK-STORE-1", LocationKind::Store, 51.51, -0.13),
    ("SOAK-STORE-2", LocationKind::Store, 51.45, -0.97),
];
const CHANNEL: &str = "SOAK-WEB";
const KIT: &str = "SOAK-KIT";
/// Units of every position at setup: enough that reserves rarely run short.
const SETUP_ON_HAND: u32 = 1_000_000;
/// Reservations one worker keeps track of (older ones are left to expire).
const TRACKED_PER_WORKER: usize = 64;

#[derive(clap::Args)]
pub struct SoakArgs {
    /// Holds the write-ahead log (in `<data>/wal`).
    #[arg(long, default_value = "data")]
    data: PathBuf,
    /// Where snapshots are written.
    #[arg(long, default_value = "snapshots")]
    snapshots: PathBuf,
    /// `always`, `interval:<ms>` or `none`.
    #[arg(long, default_value = "always", value_parser = parse_durability)]
    durability: DurabilityMode,
    /// Take a snapshot every this many log records (0: never; one is still taken at the end).
    #[arg(long, default_value_t = 20_000)]
    snapshot_every_records: u64,
    /// Snapshots kept (older ones and the log segments only they needed are deleted).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u16).range(1..))]
    snapshots_retained: u16,
    /// Log segments rotate past this many bytes.
    #[arg(long, default_value_t = StorageConfig::default().segment_bytes, value_parser = clap::value_parser!(u64).range(64..))]
    segment_bytes: u64,
    /// SKUs bulk-loaded at setup (each at every location).
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u32).range(2..=1_000_000))]
    skus: u32,
    /// Writer threads.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=256))]
    threads: u16,
    /// Seed of the operations (thread i uses seed + i).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Operations per thread (default: no limit, run until killed or `--seconds`).
    #[arg(long)]
    ops: Option<u64>,
    /// Stop after this many seconds.
    #[arg(long, value_parser = parse_seconds)]
    seconds: Option<f64>,
    /// How long an ended reservation is remembered (for idempotent retries) before
    /// it is forgotten, in milliseconds.
    #[arg(long, default_value_t = EngineConfig::default().idempotency_window_ms, value_parser = clap::value_parser!(u64).range(1..))]
    idempotency_window_ms: u64,
    /// How often the background thread expires due reservations and checks whether
    /// a snapshot is due, in milliseconds.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u64).range(1..=60_000))]
    expiry_tick_ms: u64,
}

fn parse_durability(text: &str) -> Result<DurabilityMode, String> {
    DurabilityMode::from_str(text)
}

fn parse_seconds(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(seconds) if seconds.is_finite() && seconds > 0.0 && seconds <= 1e9 => Ok(seconds),
        _ => Err(format!("{text:?} is not a positive number of seconds")),
    }
}

pub fn run(args: SoakArgs) -> ExitCode {
    let config = StorageConfig {
        data_dir: args.data.clone(),
        snapshot_dir: args.snapshots.clone(),
        durability: args.durability,
        snapshot_interval_ms: 0,
        snapshot_every_records: args.snapshot_every_records,
        snapshots_retained: usize::from(args.snapshots_retained),
        segment_bytes: args.segment_bytes,
        engine: EngineConfig { idempotency_window_ms: args.idempotency_window_ms, ..EngineConfig::default() },
    };
    let (durable, report) = match DurableEngine::open(config) {
        Ok(opened) => opened,
        Err(error) => {
            eprintln!("soak: recovery failed: {error}");
            return ExitCode::FAILURE;
        }
    };
    eprintln!("soak: {}", describe_recovery(&report));
    let acks = Arc::new(Acks { printed: Mutex::new(0), durable: durable.clone() });
    if let Err(error) = set_up(&durable, &acks, args.skus) {
        eprintln!("soak: setting up the network failed: {error}");
        return ExitCode::FAILURE;
    }
    durable.start_background(Duration::from_millis(args.expiry_tick_ms));
    let run_id = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    let deadline = args.seconds.map(|seconds| Instant::now() + Duration::from_secs_f64(seconds));
    eprintln!(
        "soak: {} threads, durability {}, run {run_id}, {} ops per thread{}",
        args.threads,
        args.durability,
        args.ops.map_or_else(|| "unbounded".to_owned(), |ops| ops.to_string()),
        args.seconds.map_or_else(String::new, |s| format!(", for at most {s} s")),
    );
    let workers: Vec<_> = (0..args.threads)
        .map(|thread| {
            let worker = Worker {
                durable: durable.clone(),
                acks: acks.clone(),
                rng: StdRng::seed_from_u64(args.seed.wrapping_add(u64::from(thread))),
                prefix: format!("s{run_id}-t{thread}"),
                counter: 0,
                skus: args.skus,
                tracked: Vec::new(),
            };
            std::thread::Builder::new()
                .name(format!("soak-{thread}"))
                .spawn(move || worker.run(args.ops, deadline))
                .expect("spawning a soak thread")
        })
        .collect();
    let mut panicked = false;
    for worker in workers {
        panicked |= worker.join().is_err();
    }
    if panicked {
        eprintln!("soak: a worker thread panicked");
        return ExitCode::FAILURE;
    }
    match durable.shutdown(Timestamp::now()) {
        Ok(taken) => eprintln!(
            "soak: final snapshot {} (covers lsn {}, {} positions, {} reservations)",
            taken.path.display(),
            taken.header.covers_lsn,
            taken.header.positions,
            taken.header.reservations
        ),
        Err(error) => {
            eprintln!("soak: the final snapshot failed: {error}");
            return ExitCode::FAILURE;
        }
    }
    let verify = durable.engine().verify();
    if !verify.is_clean() {
        eprintln!("soak: INVARIANT BROKEN: {} findings: {:?}", verify.findings_total, verify.findings);
        return ExitCode::FAILURE;
    }
    let digest = durable.engine().digest();
    let mut stdout = std::io::stdout().lock();
    if writeln!(stdout, "done {digest}").and_then(|()| stdout.flush()).is_err() {
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

fn describe_recovery(report: &RecoveryReport) -> String {
    let snapshot = match &report.snapshot {
        Some((path, header)) => format!("snapshot {} (covers lsn {})", path.display(), header.covers_lsn),
        None => "no snapshot".to_owned(),
    };
    let torn = match &report.torn_tail {
        Some(torn) => {
            format!("{} at byte {} ({} bytes dropped)", torn.path.display(), torn.offset, torn.bytes_dropped)
        }
        None => "none".to_owned(),
    };
    format!(
        "recovered: {snapshot}, {} snapshots skipped, {} records replayed, last lsn {}, torn tail {torn}",
        report.skipped_snapshots.len(),
        report.records_replayed,
        report.last_lsn
    )
}

/// Stdout behind a mutex: one whole line per acknowledged write, flushed before the
/// caller goes on, numbered in the order printed. Each line ends with the log's
/// position when it was printed: `lsn=` the last LSN appended (at or after the
/// write's own records) and `written=` the last LSN handed to the OS. Under
/// `interval` a write is acknowledged once appended, so a process crash may lose
/// the acknowledged writes whose records were not yet written (see ARCHITECTURE.md);
/// these fields tell a checker which ones were certainly written.
struct Acks {
    printed: Mutex<u64>,
    durable: Arc<DurableEngine>,
}

impl Acks {
    fn print(&self, line: std::fmt::Arguments<'_>) {
        let mut printed = self.printed.lock();
        *printed += 1;
        let wal = self.durable.wal();
        let appended = wal.map_or(0, |wal| wal.appended_lsn());
        let written = wal.map_or(0, |wal| wal.written_lsn());
        let mut stdout = std::io::stdout().lock();
        let result = writeln!(stdout, "ack {} {line} lsn={appended} written={written}", *printed);
        if result.and_then(|()| stdout.flush()).is_err() {
            // Nobody reads the acknowledgements any more: stop rather than run blind.
            std::process::exit(3);
        }
    }
}

/// Applies `operation` now; `None` if the engine refused it. A write the log could
/// not make durable ends the process: nothing more may be acknowledged.
fn apply(durable: &DurableEngine, operation: &Operation) -> Option<Outcome> {
    match durable.apply(operation, Timestamp::now()) {
        Ok(outcome) => Some(outcome),
        Err(ApplyError::Engine(_)) => None,
        Err(ApplyError::Durability(error)) => {
            eprintln!("soak: a write could not be made durable: {error}");
            std::process::exit(2);
        }
    }
}

fn sku_name(index: u32) -> String {
    format!("SOAK-SKU-{index:05}")
}

/// Creates whatever part of the network is missing (a crash may have cut an
/// earlier setup short): locations, a channel, every SKU at every location, a kit.
fn set_up(durable: &DurableEngine, acks: &Acks, skus: u32) -> Result<(), String> {
    let engine = durable.engine();
    let checked = |operation: &Operation| -> Result<Outcome, String> {
        match durable.apply(operation, Timestamp::now()) {
            Ok(outcome) => Ok(outcome),
            Err(error) => Err(error.to_string()),
        }
    };
    let catalogue = engine.catalogue();
    if LOCATIONS.iter().any(|(name, ..)| catalogue.location_id(name).is_none()) {
        let specs = LOCATIONS
            .iter()
            .enumerate()
            .map(|(index, &(name, kind, latitude, longitude))| LocationSpec {
                name: name.to_owned(),
                kind,
                coordinates: Coordinates { latitude, longitude },
                flags: LocationFlags { ships: true, pickup: kind == LocationKind::Store },
                priority: index as u16,
            })
            .collect();
        checked(&Operation::UpsertLocations(specs))?;
        acks.print(format_args!("setup-locations count={}", LOCATIONS.len()));
    }
    if catalogue.channel(CHANNEL).is_none() {
        checked(&Operation::UpsertChannel(ChannelSpec {
            name: CHANNEL.to_owned(),
            locations: LOCATIONS.iter().map(|(name, ..)| (*name).to_owned()).collect(),
            excluded: Vec::new(),
            buffer: ChannelBuffer::Units(2),
        }))?;
        acks.print(format_args!("setup-channel name={CHANNEL}"));
    }
    let missing: Vec<PositionRow> = (0..skus)
        .flat_map(|sku| LOCATIONS.iter().map(move |(location, ..)| (sku, *location)))
        .filter(|(sku, location)| engine.position(&sku_name(*sku), location).is_err())
        .map(|(sku, location)| PositionRow {
            sku: sku_name(sku),
            location: location.to_owned(),
            on_hand: SETUP_ON_HAND,
            safety_stock: sku % 3,
            damaged: 0,
            quality_control: 0,
            backorder_limit: 0,
        })
        .collect();
    if !missing.is_empty() {
        let Outcome::BulkLoad(loaded) = checked(&Operation::BulkLoad(missing.clone()))? else {
            return Err("a bulk load answered something else".to_owned());
        };
        acks.print(format_args!(
            "setup-bulk rows={} inserted={} updated={} unchanged={} rejected={}",
            missing.len(),
            loaded.inserted,
            loaded.updated,
            loaded.unchanged,
            loaded.rejected
        ));
    }
    let kit_defined = engine.sku_id(KIT).is_some_and(|id| engine.catalogue().kit(id).is_some());
    if !kit_defined {
        let components = vec![(sku_name(0), 1), (sku_name(1), 2)];
        checked(&Operation::DefineKit { kit: KIT.to_owned(), components })?;
        acks.print(format_args!("setup-kit kit={KIT}"));
    }
    Ok(())
}

/// A reservation a worker made, as the last outcome reported it, by names.
struct Tracked {
    id: String,
    state: ReservationState,
    lines: Vec<TrackedLine>,
}

struct TrackedLine {
    sku: String,
    location: String,
    held: u32,
    fulfilled: u32,
    returned: u32,
}

impl Tracked {
    fn returnable(&self) -> impl Iterator<Item = (usize, &TrackedLine)> {
        self.lines.iter().enumerate().filter(|(_, line)| line.fulfilled > line.returned)
    }

    /// Worth keeping: it can still change by a call of ours.
    fn is_useful(&self) -> bool {
        !self.state.is_terminal() || self.returnable().next().is_some()
    }
}

struct Worker {
    durable: Arc<DurableEngine>,
    acks: Arc<Acks>,
    rng: StdRng,
    /// Makes reservation ids unique across threads and runs.
    prefix: String,
    counter: u64,
    skus: u32,
    tracked: Vec<Tracked>,
}

impl Worker {
    fn run(mut self, ops: Option<u64>, deadline: Option<Instant>) {
        let mut done = 0u64;
        while ops.is_none_or(|ops| done < ops) && deadline.is_none_or(|deadline| Instant::now() < deadline) {
            match self.rng.random_range(0..100) {
                0..34 => self.reserve(),
                34..44 => self.commit(),
                44..50 => self.fulfil(false),
                50..56 => self.fulfil(true),
                56..60 => self.release(false),
                60..65 => self.release(true),
                65..68 => self.extend(),
                68..78 => self.adjust(),
                78..83 => self.set_on_hand(true),
                83..86 => self.set_on_hand(false),
                86..95 => self.restock(),
                _ => match self.rng.random_range(0..50) {
                    // The catalogue and the SKU names grow while snapshots are taken.
                    0 => self.new_location(),
                    1..=25 => self.new_sku(),
                    _ => self.expire(),
                },
            }
            done += 1;
        }
    }

    fn next_id(&mut self, kind: &str) -> String {
        self.counter += 1;
        format!("{}-{kind}{}", self.prefix, self.counter)
    }

    fn random_sku(&mut self) -> String {
        sku_name(self.rng.random_range(0..self.skus))
    }

    fn random_location(&mut self) -> &'static str {
        LOCATIONS[self.rng.random_range(0..LOCATIONS.len())].0
    }

    /// A tracked reservation that `wanted` accepts, at random.
    fn pick(&mut self, wanted: impl Fn(&Tracked) -> bool) -> Option<usize> {
        let candidates: Vec<usize> = (0..self.tracked.len()).filter(|&index| wanted(&self.tracked[index])).collect();
        if candidates.is_empty() {
            return None;
        }
        Some(candidates[self.rng.random_range(0..candidates.len())])
    }

    fn reserve(&mut self) {
        let id = self.next_id("r");
        let mut lines: Vec<ReserveLine> = Vec::new();
        for _ in 0..self.rng.random_range(1..=3) {
            let sku = if self.rng.random_bool(0.1) { KIT.to_owned() } else { self.random_sku() };
            let location = self.random_location().to_owned();
            if lines.iter().any(|line| line.sku == sku && line.location == location) {
                continue;
            }
            lines.push(ReserveLine { sku, location, quantity: self.rng.random_range(1..=3) });
        }
        let ttl_ms = self.rng.random_range(1_000..=4_000);
        let request = ReserveRequest { id: id.clone(), lines, ttl_ms, promise_by: None };
        let Some(Outcome::Reserved(outcome)) = apply(&self.durable, &Operation::Reserve(request)) else { return };
        let engine = self.durable.engine();
        let held: u64 = outcome.lines.iter().map(|line| u64::from(line.quantity)).sum();
        self.acks.print(format_args!(
            "reserve id={id} state={:?} held={held} fulfilled=0 released=0 returned=0 steps=0",
            outcome.state
        ));
        let lines = outcome
            .lines
            .iter()
            .map(|line| TrackedLine {
                sku: engine.sku_name(line.sku).to_string(),
                location: engine.location_name(line.location).map(|name| name.to_string()).unwrap_or_default(),
                held: line.quantity,
                fulfilled: 0,
                returned: 0,
            })
            .collect();
        self.tracked.push(Tracked { id, state: outcome.state, lines });
        if self.tracked.len() > TRACKED_PER_WORKER {
            self.tracked.retain(Tracked::is_useful);
            if self.tracked.len() > TRACKED_PER_WORKER {
                self.tracked.remove(0);
            }
        }
    }

    /// Applies a call on the reservation at `index`; prints and records the outcome.
    fn lifecycle(&mut self, index: usize, kind: &str, operation: Operation, step: Option<&str>) {
        let id = self.tracked[index].id.clone();
        match apply(&self.durable, &operation) {
            Some(Outcome::Reservation(reservation)) => {
                let step = step.map_or_else(String::new, |step| format!(" step={step}"));
                self.acks.print(format_args!("{kind} {}{step}", describe_reservation(&reservation)));
                self.refresh(index, &reservation);
            }
            Some(other) => panic!("{kind} of {id} answered {other:?}"),
            // Refused (for instance expired meanwhile): look again, changing nothing.
            None => match self.durable.engine().reservation(&id) {
                Ok(reservation) => self.refresh(index, &reservation),
                Err(_) => {
                    self.tracked.remove(index);
                }
            },
        }
    }

    fn refresh(&mut self, index: usize, reservation: &Reservation) {
        let tracked = &mut self.tracked[index];
        tracked.state = reservation.state;
        let engine = self.durable.engine();
        for (line, now) in tracked.lines.iter_mut().zip(&reservation.lines) {
            debug_assert_eq!(*engine.sku_name(now.sku), *line.sku);
            line.held = now.held;
            line.fulfilled = now.fulfilled;
            line.returned = now.returned;
        }
        if !tracked.is_useful() {
            self.tracked.remove(index);
        }
    }

    fn commit(&mut self) {
        let Some(index) = self.pick(|t| t.state == ReservationState::Held) else { return self.reserve() };
        let id = self.tracked[index].id.clone();
        self.lifecycle(index, "commit", Operation::Commit { id }, None);
    }

    /// A random part of the units still held on one or two lines.
    fn partial_step(&mut self, index: usize) -> Option<PartialStep> {
        let held: Vec<(String, String, u32)> = self.tracked[index]
            .lines
            .iter()
            .filter(|line| line.held > 0)
            .map(|line| (line.sku.clone(), line.location.clone(), line.held))
            .collect();
        if held.is_empty() {
            return None;
        }
        let mut lines: Vec<LineQuantity> = Vec::new();
        for _ in 0..self.rng.random_range(1..=2) {
            let (sku, location, held) = held[self.rng.random_range(0..held.len())].clone();
            if lines.iter().any(|line| line.sku == sku && line.location == location) {
                continue;
            }
            lines.push(LineQuantity { sku, location, quantity: self.rng.random_range(1..=held) });
        }
        Some(PartialStep { step_id: self.next_id("p"), lines })
    }

    fn fulfil(&mut self, partial: bool) {
        let Some(index) = self.pick(|t| t.state == ReservationState::Committed) else { return self.commit() };
        let id = self.tracked[index].id.clone();
        let partial = if partial { self.partial_step(index) } else { None };
        let step = partial.as_ref().map(|step| step.step_id.clone());
        self.lifecycle(index, "fulfil", Operation::Fulfil { id, partial }, step.as_deref());
    }

    fn release(&mut self, partial: bool) {
        let live = |t: &Tracked| matches!(t.state, ReservationState::Held | ReservationState::Committed);
        let Some(index) = self.pick(live) else { return self.reserve() };
        let id = self.tracked[index].id.clone();
        let partial = if partial { self.partial_step(index) } else { None };
        let step = partial.as_ref().map(|step| step.step_id.clone());
        self.lifecycle(index, "release", Operation::Release { id, partial }, step.as_deref());
    }

    fn extend(&mut self) {
        let Some(index) = self.pick(|t| t.state == ReservationState::Held) else { return self.reserve() };
        let id = self.tracked[index].id.clone();
        let ttl_ms = self.rng.random_range(1_000..=4_000);
        self.lifecycle(index, "extend", Operation::Extend { id, ttl_ms }, None);
    }

    fn adjust(&mut self) {
        let (sku, location) = (self.random_sku(), self.random_location());
        self.adjust_at(sku, location.to_owned());
    }

    fn adjust_at(&mut self, sku: String, location: String) {
        let magnitude = self.rng.random_range(1..=5);
        let (delta, reason) = if self.rng.random_bool(0.5) {
            (magnitude, AdjustReason::Received)
        } else {
            (-magnitude, AdjustReason::Damaged)
        };
        let operation = Operation::Adjust {
            sku: sku.clone(),
            location: location.clone(),
            delta,
            reason,
            reference: "soak".to_owned(),
        };
        if let Some(Outcome::Position(view)) = apply(&self.durable, &operation) {
            self.acks.print(format_args!(
                "adjust sku={sku} loc={location} version={} on_hand={} delta={delta}",
                view.version, view.on_hand
            ));
        }
    }

    /// Stock of a SKU no write named before (its name is interned, then written).
    fn new_sku(&mut self) {
        let sku = self.next_id("sku");
        let location = self.random_location();
        self.adjust_at(sku, location.to_owned());
    }

    /// A new store, and stock there.
    fn new_location(&mut self) {
        let name = self.next_id("loc");
        let spec = LocationSpec {
            name: name.clone(),
            kind: LocationKind::DarkStore,
            coordinates: Coordinates {
                latitude: self.rng.random_range(50.0..55.0),
                longitude: self.rng.random_range(-3.0..0.0),
            },
            flags: LocationFlags { ships: true, pickup: false },
            priority: 9,
        };
        if apply(&self.durable, &Operation::UpsertLocations(vec![spec])).is_some() {
            self.acks.print(format_args!("location name={name}"));
            let sku = self.random_sku();
            self.adjust_at(sku, name);
        }
    }

    /// A count near the current on hand, with or without compare-and-set.
    fn set_on_hand(&mut self, compare: bool) {
        let (sku, location) = (self.random_sku(), self.random_location());
        let Ok(current) = self.durable.engine().position(&sku, location) else { return };
        let on_hand = (i64::from(current.on_hand) + self.rng.random_range(-3..=5)).max(0) as u32;
        let expected_version = compare.then_some(current.version);
        let operation =
            Operation::SetOnHand { sku: sku.clone(), location: location.to_owned(), on_hand, expected_version };
        if let Some(Outcome::Position(view)) = apply(&self.durable, &operation) {
            let (kind, expected) = match expected_version {
                Some(version) => ("set-cas", format!(" expected={version}")),
                None => ("set", String::new()),
            };
            self.acks.print(format_args!(
                "{kind} sku={sku} loc={location} version={} on_hand={}{expected}",
                view.version, view.on_hand
            ));
        }
    }

    /// Returns some fulfilled units, to where they left or elsewhere.
    fn restock(&mut self) {
        let Some(index) = self.pick(|t| t.returnable().next().is_some()) else { return self.fulfil(false) };
        let (sku, from, returnable) = {
            let lines: Vec<(usize, &TrackedLine)> = self.tracked[index].returnable().collect();
            let (_, line) = lines[self.rng.random_range(0..lines.len())];
            (line.sku.clone(), line.location.clone(), line.fulfilled - line.returned)
        };
        let location = if self.rng.random_bool(0.7) { from } else { self.random_location().to_owned() };
        let quantity = self.rng.random_range(1..=returnable);
        let bucket = if self.rng.random_bool(0.8) { Bucket::Sellable } else { Bucket::Damaged };
        let id = self.tracked[index].id.clone();
        let step_id = self.next_id("x");
        let request = RestockRequest {
            reservation_id: id.clone(),
            step_id: step_id.clone(),
            line: LineQuantity { sku: sku.clone(), location: location.clone(), quantity },
            bucket,
        };
        match apply(&self.durable, &Operation::Restock(request)) {
            Some(Outcome::Position(view)) => {
                self.acks.print(format_args!(
                    "restock sku={sku} loc={location} version={} on_hand={} id={id} step={step_id}",
                    view.version, view.on_hand
                ));
                let mut left = quantity;
                for line in self.tracked[index].lines.iter_mut().filter(|line| line.sku == sku) {
                    let take = left.min(line.fulfilled - line.returned);
                    line.returned += take;
                    left -= take;
                }
                if !self.tracked[index].is_useful() {
                    self.tracked.remove(index);
                }
            }
            Some(other) => panic!("restock on {id} answered {other:?}"),
            None => {}
        }
    }

    fn expire(&mut self) {
        if let Some(Outcome::Expiry(report)) = apply(&self.durable, &Operation::ExpireDue) {
            self.acks.print(format_args!("expire expired={} forgotten={}", report.expired, report.forgotten));
        }
    }
}

/// `id=.. state=.. held=.. fulfilled=.. released=.. returned=.. steps=..` of a reservation.
fn describe_reservation(reservation: &Reservation) -> String {
    let total = |field: fn(&stockd::engine::HeldLine) -> u32| -> u64 {
        reservation.lines.iter().map(|line| u64::from(field(line))).sum()
    };
    format!(
        "id={} state={:?} held={} fulfilled={} released={} returned={} steps={}",
        reservation.id,
        reservation.state,
        total(|l| l.held),
        total(|l| l.fulfilled),
        total(|l| l.released),
        total(|l| l.returned),
        reservation.applied_steps.len()
    )
}
