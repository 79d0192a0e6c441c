//! The correctness checks at the end of a run. Each holds the server to what it
//! acknowledged during the run (see [`crate::book`]):
//!
//! - `verify`: the server's own invariant check finds nothing (no oversold position,
//!   no drift between a position's `reserved` and the live reservation lines).
//! - `reservations`: every acknowledged reservation exists, in the state its last
//!   acknowledged step left it (abandoned carts expired once their TTL passed), with
//!   the lines it was asked for. A missing one is a lost acknowledged write.
//! - `refused-not-created`: a sample of refused reserves does not exist.
//! - `held-match` (embedded server only: nobody else's reservations): the server's
//!   count of held and committed reservations equals this run's.
//! - `flash-sale`: per hot SKU, units are conserved (`on_hand` = stock - fulfilled,
//!   `reserved` = units still held), nothing was oversold, and once demand exceeded
//!   the stock, exactly the stock was sold: the acknowledged reserve quantities add up
//!   to it.
//! - `ledger`: each ledger position's on hand is its initial stock plus exactly the
//!   acknowledged deltas.
//! - `versions`: no position the feed wrote went back below a version it acknowledged.

use crate::book::{Ending, Entry, Item, PosKey};
use crate::dataset::{sku_name, LEDGER_STOCK};
use crate::params::{FlowKind, Mix};
use crate::workload::Workload;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;
use stockd::client::{Client, ClientError};
use stockd::engine::{Operation, ReservationState};
use stockd::protocol::{Applied, Call, ErrorCode, Reply, WirePosition, WireReservation};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    Passed,
    Failed,
    Skipped,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Check {
    pub name: String,
    pub status: Status,
    pub detail: String,
}

impl Check {
    fn new(name: &str, passed: bool, detail: String) -> Check {
        let status = if passed { Status::Passed } else { Status::Failed };
        Check { name: name.to_owned(), status, detail }
    }

    fn skipped(name: &str, detail: &str) -> Check {
        Check { name: name.to_owned(), status: Status::Skipped, detail: detail.to_owned() }
    }
}

/// Violations listed in a check's detail, at most.
const LISTED: usize = 10;

/// How far apart the harness's and the server's clocks may be judged (expiry).
const CLOCK_MARGIN_MS: u64 = 1_000;

/// Longest wait for the abandoned carts' TTLs to pass before checking them.
const MAX_EXPIRY_WAIT: Duration = Duration::from_secs(15);

/// Positions read back for the version check, at most.
const MAX_VERSION_READS: usize = 20_000;

struct Listing {
    count: u64,
    lines: Vec<String>,
}

impl Listing {
    fn new() -> Listing {
        Listing { count: 0, lines: Vec::new() }
    }

    fn push(&mut self, line: String) {
        self.count += 1;
        if self.lines.len() < LISTED {
            self.lines.push(line);
        }
    }

    fn describe(&self) -> String {
        let more = if self.count > self.lines.len() as u64 {
            format!("; and {} more", self.count - self.lines.len() as u64)
        } else {
            String::new()
        };
        format!("{}{more}", self.lines.join("; "))
    }
}

async fn server_time_ms(client: &Client) -> Result<u64, String> {
    match client.call(Call::Ping).await {
        Ok(Reply::Pong { server_time_ms }) => Ok(server_time_ms),
        Ok(_) => Err("Ping was answered with something else than Pong".to_owned()),
        Err(error) => Err(format!("Ping: {error}")),
    }
}

/// Runs every check that applies to the flows of `mix`.
pub async fn run(work: &Workload<'_>, mix: &Mix, exclusive: bool) -> Vec<Check> {
    let client = &work.pools.control;
    let mut checks = Vec::new();
    let reserving = mix.contains(FlowKind::Checkout) || mix.contains(FlowKind::FlashSale);

    // Let the abandoned carts' TTLs pass, then sweep, so that their state is settled.
    let sweep_time = match settle_expiries(work, client).await {
        Ok(time) => Some(time),
        Err(error) => {
            checks.push(Check::new("expiry-sweep", false, error));
            None
        }
    };

    checks.push(match client.verify().await {
        Ok(report) if report.findings_total == 0 => Check::new(
            "verify",
            true,
            format!(
                "{} positions and {} reservations checked, no finding",
                report.positions_checked, report.reservations_checked
            ),
        ),
        Ok(report) => Check::new(
            "verify",
            false,
            format!(
                "{} findings, e.g. {:?}",
                report.findings_total,
                report.findings.iter().take(LISTED).collect::<Vec<_>>()
            ),
        ),
        Err(error) => Check::new("verify", false, format!("Verify failed: {error}")),
    });

    if reserving {
        match sweep_time {
            Some(sweep_time) => checks.extend(reservations(work, client, sweep_time, exclusive).await),
            None => checks.push(Check::skipped("reservations", "the expiry sweep failed")),
        }
    }
    if mix.contains(FlowKind::Adjust) {
        checks.push(ledger(work, client).await);
    }
    if mix.contains(FlowKind::Adjust) || mix.contains(FlowKind::SetOnHand) {
        checks.push(versions(work, client).await);
    }
    checks
}

/// Waits (bounded) until every cart left to expire is past its TTL on the server's
/// clock, then sweeps expiries until none is due. Returns the server time of the sweep.
async fn settle_expiries(work: &Workload<'_>, client: &Client) -> Result<u64, String> {
    let latest = {
        let book = work.book.borrow();
        book.entries
            .iter()
            .filter(|e| e.ending == Ending::Expire && e.known == Some(ReservationState::Held))
            .map(|e| e.expires_at_ms)
            .max()
    };
    if let Some(latest) = latest {
        let now = server_time_ms(client).await?;
        let wait = Duration::from_millis((latest + 50).saturating_sub(now));
        if wait <= MAX_EXPIRY_WAIT {
            tokio::time::sleep(wait).await;
        }
    }
    for _ in 0..10_000 {
        match client.apply(Operation::ExpireDue).await {
            Ok(Applied::Expiry(report)) if report.more_due => continue,
            Ok(Applied::Expiry(_)) => break,
            Ok(_) => return Err("ExpireDue was answered with something else than Expiry".to_owned()),
            Err(error) => return Err(format!("ExpireDue: {error}")),
        }
    }
    // The sweep ran at or before this server time.
    server_time_ms(client).await
}

/// The states a reservation may be in now, given what was acknowledged.
fn allowed_states(entry: &Entry, sweep_time: u64) -> Vec<ReservationState> {
    use ReservationState::*;
    let Some(known) = entry.known else { return vec![Held, Committed, Fulfilled, Released, Expired] };
    let mut allowed = vec![known];
    allowed.extend(entry.pending);
    if allowed.contains(&Held) {
        if entry.expires_at_ms + CLOCK_MARGIN_MS <= sweep_time {
            // Past its TTL when the sweep ran: it must have expired.
            allowed.retain(|state| *state != Held);
            allowed.push(Expired);
        } else if entry.expires_at_ms <= sweep_time + CLOCK_MARGIN_MS {
            allowed.push(Expired);
        }
    }
    allowed
}

/// Per hot SKU, what the reservations read back say.
#[derive(Default)]
struct HotTally {
    acked_units: u64,
    unknown_units: u64,
    found_units: u64,
    held: u64,
    fulfilled: u64,
    released: u64,
    expired_units: u64,
}

async fn read_reservations(client: &Client, ids: &[String]) -> Result<Vec<Reply>, ClientError> {
    let calls = ids.iter().map(|id| Call::Reservation { id: id.clone() }).collect();
    client.batch_chunked(calls).await
}

async fn read_positions(client: &Client, keys: &[(String, String)]) -> Result<Vec<Reply>, ClientError> {
    let calls =
        keys.iter().map(|(sku, location)| Call::Position { sku: sku.clone(), location: location.clone() }).collect();
    client.batch_chunked(calls).await
}

async fn reservations(work: &Workload<'_>, client: &Client, sweep_time: u64, exclusive: bool) -> Vec<Check> {
    let mut checks = Vec::new();
    let book = work.book.borrow().entries.iter().filter(|e| !e.refused).cloned().collect::<Vec<_>>();
    let ids: Vec<String> = book.iter().map(|e| work.reservation_id(e.seq)).collect();
    let replies = match read_reservations(client, &ids).await {
        Ok(replies) => replies,
        Err(error) => {
            checks.push(Check::new("reservations", false, format!("reading the reservations back failed: {error}")));
            return checks;
        }
    };
    let mut problems = Listing::new();
    let mut by_state: BTreeMap<String, u64> = BTreeMap::new();
    let (mut acked, mut unknown_found, mut unknown_absent) = (0u64, 0u64, 0u64);
    let (mut live_held, mut live_committed) = (0u64, 0u64);
    let mut hot: Vec<HotTally> = (0..work.data.hot.len()).map(|_| HotTally::default()).collect();
    for ((entry, id), reply) in book.iter().zip(&ids).zip(replies) {
        let hot_index = match entry.lines.first().map(|l| l.item) {
            Some(Item::Hot(h)) => Some(h as usize),
            _ => None,
        };
        let units: u64 = entry.lines.iter().map(|l| u64::from(l.quantity)).sum();
        if let Some(h) = hot_index {
            if entry.known.is_some() {
                hot[h].acked_units += units;
            } else {
                hot[h].unknown_units += units;
            }
        }
        acked += u64::from(entry.known.is_some());
        let reservation: WireReservation = match reply {
            Reply::Reservation(reservation) => *reservation,
            Reply::Error(error) if error.code == ErrorCode::UnknownEntity => {
                if entry.known.is_some() {
                    problems.push(format!("{id}: acknowledged ({:?}) but the server does not know it", entry.known));
                } else {
                    unknown_absent += 1;
                }
                continue;
            }
            Reply::Error(error) => {
                problems.push(format!("{id}: reading it back was refused: {error}"));
                continue;
            }
            _ => {
                problems.push(format!("{id}: an unexpected reply"));
                continue;
            }
        };
        if entry.known.is_none() {
            unknown_found += 1;
        }
        *by_state.entry(format!("{:?}", reservation.state)).or_default() += 1;
        match reservation.state {
            ReservationState::Held => live_held += 1,
            ReservationState::Committed => live_committed += 1,
            _ => {}
        }
        let allowed = allowed_states(entry, sweep_time);
        if !allowed.contains(&reservation.state) {
            problems.push(format!(
                "{id}: {:?} on the server; the run's acknowledgements allow {allowed:?} (ending {:?})",
                reservation.state, entry.ending
            ));
        }
        let mut asked: Vec<(String, String, u32)> = entry
            .lines
            .iter()
            .map(|l| (work.item_name(l.item), work.data.location_name(l.location).to_owned(), l.quantity))
            .collect();
        let mut got: Vec<(String, String, u32)> =
            reservation.requested.iter().map(|l| (l.sku.clone(), l.location.clone(), l.quantity)).collect();
        asked.sort();
        got.sort();
        if asked != got {
            problems.push(format!("{id}: lines {got:?} on the server, {asked:?} asked"));
        }
        if let Some(h) = hot_index {
            let tally = &mut hot[h];
            for line in reservation.lines.iter().filter(|l| l.sku == work.data.hot[h]) {
                tally.found_units += u64::from(line.quantity);
                tally.held += u64::from(line.held);
                tally.fulfilled += u64::from(line.fulfilled);
                tally.released += u64::from(line.released);
                if reservation.state == ReservationState::Expired {
                    tally.expired_units += u64::from(line.quantity);
                }
            }
        }
    }
    checks.push(Check::new(
        "reservations",
        problems.count == 0,
        if problems.count == 0 {
            format!(
                "{acked} acknowledged reservations read back, each in its expected state with its lines; \
                 {unknown_found} of unknown outcome found, {unknown_absent} absent; by state {by_state:?}"
            )
        } else {
            format!("{} problems: {}", problems.count, problems.describe())
        },
    ));

    // Refused reserves left nothing behind.
    let (sample, total) = {
        let book = work.book.borrow();
        (book.refused_sample.iter().map(|seq| work.reservation_id(*seq)).collect::<Vec<_>>(), book.refused_total)
    };
    if sample.is_empty() {
        checks.push(Check::skipped("refused-not-created", "no reserve was refused"));
    } else {
        checks.push(match read_reservations(client, &sample).await {
            Ok(replies) => {
                let mut found = Listing::new();
                for (id, reply) in sample.iter().zip(replies) {
                    match reply {
                        Reply::Error(error) if error.code == ErrorCode::UnknownEntity => {}
                        Reply::Reservation(r) => found.push(format!("{id} exists ({:?})", r.state)),
                        other => found.push(format!("{id}: {other:?}")),
                    }
                }
                Check::new(
                    "refused-not-created",
                    found.count == 0,
                    if found.count == 0 {
                        format!("{} of {total} refused reserves read back: none exists", sample.len())
                    } else {
                        format!("refused but created: {}", found.describe())
                    },
                )
            }
            Err(error) => Check::new("refused-not-created", false, format!("reading back failed: {error}")),
        });
    }

    if exclusive {
        checks.push(match client.stats().await {
            Ok(stats) => {
                let ok = stats.reservations_held == live_held && stats.reservations_committed == live_committed;
                Check::new(
                    "held-match",
                    ok,
                    format!(
                        "server: {} held, {} committed; this run's reservations: {live_held} held, {live_committed} committed",
                        stats.reservations_held, stats.reservations_committed
                    ),
                )
            }
            Err(error) => Check::new("held-match", false, format!("Stats failed: {error}")),
        });
    } else {
        checks.push(Check::skipped("held-match", "a remote server may hold other clients' reservations"));
    }

    if !work.data.hot.is_empty() && book.iter().any(|e| matches!(e.lines.first().map(|l| l.item), Some(Item::Hot(_)))) {
        checks.push(flash_sale(work, client, &hot).await);
    } else if work.book.borrow().hot_refusals.iter().any(|r| *r > 0) {
        checks.push(Check::new("flash-sale", false, "refusals on hot SKUs, but no reservation of one".to_owned()));
    }
    checks
}

async fn flash_sale(work: &Workload<'_>, client: &Client, hot: &[HotTally]) -> Check {
    let data = work.data;
    let location = data.location_name(data.hot_location).to_owned();
    let keys: Vec<(String, String)> = data.hot.iter().map(|sku| (sku.clone(), location.clone())).collect();
    let replies = match read_positions(client, &keys).await {
        Ok(replies) => replies,
        Err(error) => return Check::new("flash-sale", false, format!("reading the hot positions failed: {error}")),
    };
    let refusals = work.book.borrow().hot_refusals.clone();
    let stock = u64::from(data.hot_stock);
    let strict = work.params.flash_abandon.0 == 0.0;
    let mut problems = Listing::new();
    let mut notes = Vec::new();
    for (index, reply) in replies.into_iter().enumerate() {
        let sku = &data.hot[index];
        let tally = &hot[index];
        let position: WirePosition = match reply {
            Reply::Position(position) => position,
            other => {
                problems.push(format!("{sku}: reading the position failed: {other:?}"));
                continue;
            }
        };
        let (on_hand, reserved) = (u64::from(position.on_hand), u64::from(position.reserved));
        if stock.checked_sub(tally.fulfilled) != Some(on_hand) {
            problems.push(format!("{sku}: on hand {on_hand}, but {stock} loaded - {} fulfilled", tally.fulfilled));
        }
        if reserved != tally.held {
            problems.push(format!("{sku}: reserved {reserved}, but the reservations hold {}", tally.held));
        }
        if tally.held + tally.fulfilled > stock || reserved > on_hand {
            problems.push(format!(
                "{sku}: OVERSOLD: {} held + {} fulfilled of {stock} (position reserved {reserved}, on hand {on_hand})",
                tally.held, tally.fulfilled
            ));
        }
        if tally.found_units < tally.acked_units || tally.found_units > tally.acked_units + tally.unknown_units {
            problems.push(format!(
                "{sku}: {} units reserved on the server, {} acknowledged (+{} of unknown outcome)",
                tally.found_units, tally.acked_units, tally.unknown_units
            ));
        }
        let sold_out = refusals[index] > 0;
        if sold_out && strict {
            if tally.found_units != stock {
                problems.push(format!(
                    "{sku}: demand exceeded the stock ({} refusals) but {} units were sold of {stock} \
                     ({} acknowledged)",
                    refusals[index], tally.found_units, tally.acked_units
                ));
            }
            notes.push(format!(
                "{sku}: sold out: {} acknowledged units = {stock} in stock, {} refused",
                tally.acked_units, refusals[index]
            ));
        } else if sold_out {
            notes.push(format!(
                "{sku}: {} units reserved ({} released, {} expired) of {stock}; {} refused \
                 (exact sell-out not checked: --flash-abandon gives units back)",
                tally.found_units, tally.released, tally.expired_units, refusals[index]
            ));
        } else {
            notes.push(format!(
                "{sku}: not sold out: {} of {stock} units sold (raise the rate or lower --hot-stock to sell out)",
                tally.found_units
            ));
        }
    }
    let passed = problems.count == 0;
    Check::new(
        "flash-sale",
        passed,
        if passed { notes.join("; ") } else { format!("{} problems: {}", problems.count, problems.describe()) },
    )
}

async fn ledger(work: &Workload<'_>, client: &Client) -> Check {
    let data = work.data;
    let book = work.book.borrow().ledger.clone();
    let touched: Vec<usize> = (0..book.len()).filter(|i| book[*i].writes > 0).collect();
    if touched.is_empty() {
        return Check::skipped("ledger", "no ledger position was adjusted");
    }
    let location = data.location_name(data.ledger_location).to_owned();
    let keys: Vec<(String, String)> = touched.iter().map(|i| (data.ledger[*i].clone(), location.clone())).collect();
    let replies = match read_positions(client, &keys).await {
        Ok(replies) => replies,
        Err(error) => return Check::new("ledger", false, format!("reading the ledger positions failed: {error}")),
    };
    let mut problems = Listing::new();
    let mut inconclusive = 0;
    let mut deltas = 0;
    for (index, reply) in touched.iter().zip(replies) {
        let acc = book[*index];
        let Reply::Position(position) = reply else {
            problems.push(format!("{}: reading it failed: {reply:?}", data.ledger[*index]));
            continue;
        };
        let base = i64::from(LEDGER_STOCK) + acc.acked;
        let actual = i64::from(position.on_hand);
        deltas += acc.writes;
        if acc.unknown_up == 0 && acc.unknown_down == 0 {
            if actual != base {
                problems.push(format!(
                    "{}: on hand {actual}, expected {base} ({LEDGER_STOCK} + {} acknowledged)",
                    data.ledger[*index], acc.acked
                ));
            }
        } else {
            inconclusive += 1;
            if actual < base + acc.unknown_down || actual > base + acc.unknown_up {
                problems.push(format!(
                    "{}: on hand {actual}, expected {base} + between {} and {} of unknown outcome",
                    data.ledger[*index], acc.unknown_down, acc.unknown_up
                ));
            }
        }
    }
    Check::new(
        "ledger",
        problems.count == 0,
        if problems.count == 0 {
            format!(
                "{} ledger positions ({deltas} deltas) hold exactly the acknowledged deltas{}",
                touched.len(),
                if inconclusive > 0 {
                    format!(" ({inconclusive} within the range of unknown outcomes)")
                } else {
                    String::new()
                }
            )
        } else {
            format!("{} problems: {}", problems.count, problems.describe())
        },
    )
}

async fn versions(work: &Workload<'_>, client: &Client) -> Check {
    let data = work.data;
    let mut written: Vec<(PosKey, u64)> = work.book.borrow().versions.iter().map(|(k, v)| (*k, *v)).collect();
    if written.is_empty() {
        return Check::skipped("versions", "no feed write was acknowledged");
    }
    written.sort();
    let total = written.len();
    if total > MAX_VERSION_READS {
        let step = total.div_ceil(MAX_VERSION_READS);
        written = written.into_iter().step_by(step).collect();
    }
    let keys: Vec<(String, String)> = written
        .iter()
        .map(|(key, _)| match key {
            PosKey::Regular(sku, location) => (sku_name(*sku), data.location_name(*location).to_owned()),
            PosKey::Ledger(index) => {
                (data.ledger[*index as usize].clone(), data.location_name(data.ledger_location).to_owned())
            }
        })
        .collect();
    let replies = match read_positions(client, &keys).await {
        Ok(replies) => replies,
        Err(error) => return Check::new("versions", false, format!("reading the positions failed: {error}")),
    };
    let mut problems = Listing::new();
    for (((_, acked), (sku, location)), reply) in written.iter().zip(&keys).zip(replies) {
        match reply {
            Reply::Position(position) if position.version >= *acked => {}
            Reply::Position(position) => problems.push(format!(
                "{sku}@{location}: version {} on the server, {acked} was acknowledged",
                position.version
            )),
            Reply::Error(error) => {
                problems.push(format!("{sku}@{location}: {} ({})", error.message, error.code.name()))
            }
            other => problems.push(format!("{sku}@{location}: {other:?}")),
        }
    }
    Check::new(
        "versions",
        problems.count == 0,
        if problems.count == 0 {
            format!(
                "{} of {total} positions written by the feed read back at or above their acknowledged version",
                written.len()
            )
        } else {
            format!("{} problems: {}", problems.count, problems.describe())
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::book::Line;

    fn entry(known: Option<ReservationState>, pending: Option<ReservationState>, expires_at_ms: u64) -> Entry {
        Entry {
            seq: 1,
            lines: Box::new([Line { item: Item::Sku(0), location: 0, quantity: 1 }]),
            ending: Ending::Expire,
            known,
            pending,
            expires_at_ms,
            refused: false,
        }
    }

    #[test]
    fn allowed_states_follow_the_acknowledgements_and_the_clock() {
        use ReservationState::*;
        let sweep = 100_000;
        // Held and long past its TTL at the sweep: must be expired.
        assert_eq!(allowed_states(&entry(Some(Held), None, 10_000), sweep), vec![Expired]);
        // Held, TTL far ahead: must still be held.
        assert_eq!(allowed_states(&entry(Some(Held), None, 900_000), sweep), vec![Held]);
        // Near the sweep: either.
        assert_eq!(allowed_states(&entry(Some(Held), None, 100_500), sweep), vec![Held, Expired]);
        // A commit of unknown outcome.
        assert_eq!(allowed_states(&entry(Some(Held), Some(Committed), 900_000), sweep), vec![Held, Committed]);
        assert_eq!(allowed_states(&entry(Some(Fulfilled), None, 10_000), sweep), vec![Fulfilled]);
        assert_eq!(allowed_states(&entry(None, Some(Held), 0), sweep).len(), 5);
    }
}
