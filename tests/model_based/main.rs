//! Model-based test: random sequences of every write operation, applied to the
//! engine and to the reference model in `reference_model/`, which is written from
//! `docs/ENGINE.md`. Every outcome, every error and, after every operation, every
//! position, availability (location, channel, kit), reservation and `verify()`
//! must agree.
//!
//! The universe is tiny on purpose (SKUs A, B, C, kit K = 2 A + 1 B, a SKU K2 that
//! may become a kit, a SKU Z nobody stocks; locations L1-L3 and an unknown LX; a
//! pool of five reservation ids and four step ids), so that conflicts, retries,
//! expiries, forgetting and id reuse happen within 60 operations. Time advances by
//! random steps, past TTLs and past the (short) idempotency window.
//!
//! `PROPTEST_CASES` raises the number of cases (512 by default); the seed is fixed
//! unless `PROPTEST_RNG_SEED` is set.

mod driver;
mod mix;
#[path = "../reference_model/mod.rs"]
mod reference_model;
mod strategies;

use driver::*;
use mix::*;
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed, TestCaseError, TestRunner};
use reference_model::compare::{compare_outcomes, compare_state, Universe};
use reference_model::{Model, Reservation};
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use stockd::engine::{LineQuantity, PartialStep, ReservationState, ReserveLine, ReserveRequest, RestockRequest};
use stockd::limits::{MAX_QUANTITY, MAX_TTL_MS};
use stockd::model::{
    Bucket, ChannelBuffer, ChannelSpec, Coordinates, LocationFlags, LocationKind, LocationSpec, PositionRow,
};
use stockd::{Engine, EngineConfig, EngineError, Operation, Timestamp};
use strategies::*;

const SKUS: [&str; 6] = ["A", "B", "C", "K", "K2", "Z"];
/// `LX` is never created.
const LOCATIONS: [&str; 4] = ["L1", "L2", "L3", "LX"];
const KNOWN_LOCATIONS: [&str; 3] = ["L1", "L2", "L3"];
const ID_POOL: [&str; 5] = ["r0", "r1", "r2", "r3", "r4"];
const INVALID_IDS: [&str; 3] = ["", "two words", "bell\u{7}"];
const STEP_IDS: [&str; 4] = ["s0", "s1", "s2", "s3"];
const SUPPLIES: [&str; 3] = ["po1", "po2", "po3"];
const REFERENCES: [&str; 3] = ["", "ASN 1001", "bad\nreference"];
const BUCKETS: [Bucket; 3] = [Bucket::Sellable, Bucket::Damaged, Bucket::QualityControl];
const CHANNEL: &str = "web";
const START_MS: u64 = 1_700_000_000_000;
const IDEMPOTENCY_WINDOW_MS: u64 = 15_000;
const DEFAULT_CASES: u32 = 512;
/// Availability to promise is compared at `now` plus this.
const PROMISE_HORIZON_MS: u64 = 20_000;

fn run_case(case: &Case, mix: &mut Mix) -> Result<(), TestCaseError> {
    let engine = Engine::new(EngineConfig {
        stock_shards: case.setup.stock_shards,
        reservation_shards: case.setup.reservation_shards,
        idempotency_window_ms: IDEMPOTENCY_WINDOW_MS,
        max_reservations: case.setup.max_reservations,
        max_expiries_per_sweep: 1_000_000,
    });
    let mut model = Model::new(IDEMPOTENCY_WINDOW_MS, case.setup.max_reservations);
    let mut now = START_MS;
    for operation in setup_operations(&case.setup) {
        let actual = engine.apply(&operation, Timestamp(now));
        let expected = model.apply(&operation, Timestamp(now));
        prop_assert!(actual.is_ok(), "setup {:?}: {:?}", operation, actual);
        compare_outcomes(&engine, &operation, &actual, &expected)?;
    }
    let mut driver = Driver::default();
    driver.seen.extend(ID_POOL.iter().map(|id| (*id).to_owned()));
    let universe = Universe {
        skus: SKUS.map(str::to_owned).to_vec(),
        locations: KNOWN_LOCATIONS.map(str::to_owned).to_vec(),
        channel: CHANNEL.to_owned(),
    };
    for (index, (advance, act)) in case.acts.iter().enumerate() {
        now = match advance {
            Advance::Ms(ms) => now + ms,
            Advance::ToNextDeadline => model.next_deadline(now).unwrap_or(now + 1_000),
        };
        let operation = driver.operation(act, &model, now);
        let actual = engine.apply(&operation, Timestamp(now));
        let expected = model.apply(&operation, Timestamp(now));
        mix.record(&operation, &expected);
        driver.record(&expected);
        let context = format!("operation {index} at {now}: {operation:?}");
        compare_outcomes(&engine, &operation, &actual, &expected)
            .map_err(|e| TestCaseError::fail(format!("{context}\n{e}")))?;
        compare_state(&engine, &model, &universe, &driver.seen, now + PROMISE_HORIZON_MS)
            .map_err(|e| TestCaseError::fail(format!("after {context}\n{e}")))?;
    }
    Ok(())
}

fn config() -> Config {
    let mut config = Config { failure_persistence: None, ..Config::default() };
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = DEFAULT_CASES;
    }
    if std::env::var_os("PROPTEST_RNG_SEED").is_none() {
        config.rng_seed = RngSeed::Fixed(0x5700_cd00);
    }
    config
}

#[test]
fn engine_matches_the_reference_model() {
    let mix = RefCell::new(Mix::default());
    let mut runner = TestRunner::new(config());
    let result = runner.run(&case(), |case| run_case(&case, &mut mix.borrow_mut()));
    let mix = mix.into_inner();
    eprintln!("{}", mix.report());
    if let Err(error) = result {
        panic!("{error}");
    }
    // The generator must keep reaching the states that matter, not only refusals.
    let total = mix.total();
    for (label, at_least_per_mille) in [
        ("reserve", 50),
        ("reserve (replayed)", 5),
        ("commit", 30),
        ("fulfil whole", 5),
        ("fulfil partial", 5),
        ("release whole", 5),
        ("release partial", 5),
        ("restock", 2),
        ("adjust", 10),
        ("set_on_hand (versioned)", 5),
    ] {
        let succeeded = mix.succeeded(label);
        assert!(
            succeeded * 1000 >= total * at_least_per_mille,
            "only {succeeded} successful {label} in {total} operations"
        );
    }
    assert!(mix.expired > 0 && mix.forgotten > 0, "sweeps must expire and forget: {}", mix.report());
}
