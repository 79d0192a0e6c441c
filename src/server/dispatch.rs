//! Runs calls against the durable engine and builds their replies. No networking:
//! the stream loop (`super::stream`) decides when a reply may be sent (after its
//! log position is durable) and where a call runs (inline on the network thread, or
//! on a worker thread for the heavy ones).

use super::metrics::{call_label, Metrics};
use super::profiles::{ProfileStore, ReplaceError};
use crate::engine::SourcingProfiles;
use crate::protocol::convert::{self, Names};
use crate::protocol::{Call, ErrorCode, Reply, WireError, MAX_DEMAND_TOP};
use crate::storage::DurableEngine;
use crate::{Operation, Timestamp};
use std::time::Instant;

/// What calls run against.
#[derive(Clone, Copy)]
pub struct Services<'s> {
    pub durable: &'s DurableEngine,
    pub metrics: &'s Metrics,
    pub profiles: &'s ProfileStore,
}

/// Calls that walk the whole state or may take milliseconds: they run on a worker
/// thread so that they never stall the thread serving every connection.
pub fn is_heavy(call: &Call) -> bool {
    match call {
        Call::Stats | Call::Verify | Call::TakeSnapshot => true,
        // A ranking over every SKU's counters; a file written and fsynced.
        Call::DemandTop { .. } | Call::SetSourcingProfiles { .. } => true,
        Call::Apply(Operation::BulkLoad(_) | Operation::ExpireDue) => true,
        Call::Ping
        | Call::Position { .. }
        | Call::Availability { .. }
        | Call::ChannelAvailability { .. }
        | Call::AvailabilityBatch { .. }
        | Call::Reservation { .. }
        | Call::FindStores(_)
        | Call::Demand { .. }
        | Call::SourcingProfiles
        | Call::Apply(_) => false,
    }
}

/// Runs a sequence of calls in order (a single call is a sequence of one) and
/// returns their replies and the log position that must be durable before any of
/// them is sent (0 when nothing was written). `lap` is when the previous call ended
/// (or the work began): each call's latency runs from it, so that back-to-back calls
/// cost one clock read each.
pub fn run_calls<'c>(
    services: Services<'_>,
    calls: impl IntoIterator<Item = &'c Call>,
    lap: &mut Instant,
) -> (Vec<Reply>, u64) {
    let mut wait_for = 0;
    let replies = calls.into_iter().map(|call| run_call(services, call, &mut wait_for, lap)).collect();
    (replies, wait_for)
}

/// Runs one call; raises `wait_for` to the log position its reply depends on.
pub fn run_call(services: Services<'_>, call: &Call, wait_for: &mut u64, lap: &mut Instant) -> Reply {
    let reply = execute(services, call, wait_for);
    let outcome = match &reply {
        Reply::Error(error) => Err(error.code),
        _ => Ok(()),
    };
    let ended = Instant::now();
    services.metrics.record_call(call_label(call), outcome, ended.saturating_duration_since(*lap));
    *lap = ended;
    reply
}

fn execute(services: Services<'_>, call: &Call, wait_for: &mut u64) -> Reply {
    let durable = services.durable;
    let engine = durable.engine();
    let refused = |error: crate::EngineError| Reply::Error(WireError::from(&error));
    match call {
        Call::Ping => Reply::Pong { server_time_ms: Timestamp::now().millis() },
        Call::Position { sku, location } => match engine.position(sku, location) {
            Ok(view) => Reply::Position(Names::new(engine).position(&view)),
            Err(error) => refused(error),
        },
        Call::Availability { sku, scope, measure } => match engine.availability(sku, scope, *measure) {
            Ok(available) => Reply::Availability { available },
            Err(error) => refused(error),
        },
        Call::ChannelAvailability { sku, channel, breakdown } => {
            match engine.channel_availability(sku, channel, *breakdown) {
                Ok(found) => Reply::ChannelAvailability(Names::new(engine).channel_availability(&found)),
                Err(error) => refused(error),
            }
        }
        Call::AvailabilityBatch { skus, scope, measure } => match engine.availability_batch(skus, scope, *measure) {
            Ok(available) => Reply::AvailabilityBatch { available },
            Err(error) => refused(error),
        },
        Call::Reservation { id } => match engine.reservation(id) {
            Ok(found) => Reply::Reservation(Box::new(Names::new(engine).reservation(&found))),
            Err(error) => refused(error),
        },
        Call::Stats => Reply::Stats(convert::stats(&engine.stats())),
        Call::Verify => Reply::Verify(convert::verify_report(&engine.verify())),
        Call::TakeSnapshot => match durable.take_snapshot(Timestamp::now()) {
            Ok(taken) => Reply::SnapshotTaken(convert::snapshot(&taken)),
            Err(error) => Reply::Error(WireError::new(ErrorCode::Internal, format!("snapshot failed: {error}"))),
        },
        Call::Apply(operation) => {
            let (outcome, lsn) = durable.apply_pipelined(operation, Timestamp::now());
            // Even a refused write may have logged something (an expiry found on
            // touch): its reply waits like any other.
            *wait_for = (*wait_for).max(lsn);
            match outcome {
                Ok(outcome) => Reply::Applied(Names::new(engine).outcome(&outcome)),
                Err(error) => refused(error),
            }
        }
        Call::FindStores(query) => match engine.find_stores(query) {
            Ok(stores) => Reply::Stores(convert::store_matches(&stores)),
            Err(error) => refused(error),
        },
        Call::Demand { sku, channel } => match engine.demand_for(sku, channel.as_deref()) {
            Ok(counters) => Reply::Demand(convert::demand_counters(&counters)),
            Err(error) => refused(error),
        },
        Call::DemandTop { channel, rank, limit } => {
            if *limit == 0 || *limit > MAX_DEMAND_TOP {
                let message = format!("limit must be from 1 to {MAX_DEMAND_TOP}, not {limit}");
                return Reply::Error(WireError::new(ErrorCode::LimitExceeded, message));
            }
            match engine.demand_top(channel.as_deref(), *rank, *limit as usize) {
                Ok(entries) => Reply::DemandTop(convert::demand_entries(&entries)),
                Err(error) => refused(error),
            }
        }
        Call::SourcingProfiles => profiles_reply(&engine.sourcing_profiles()),
        Call::SetSourcingProfiles { toml } => match services.profiles.replace(engine, toml) {
            Ok(profiles) => profiles_reply(&profiles),
            Err(error @ ReplaceError::Invalid(_)) => {
                Reply::Error(WireError::new(ErrorCode::InvalidArgument, error.to_string()))
            }
            Err(error @ ReplaceError::Write { .. }) => {
                Reply::Error(WireError::new(ErrorCode::Internal, error.to_string()))
            }
        },
    }
}

fn profiles_reply(profiles: &SourcingProfiles) -> Reply {
    Reply::SourcingProfiles { names: profiles.names().map(str::to_owned).collect(), toml: profiles.to_toml() }
}
