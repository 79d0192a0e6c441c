//! What the flows did that the end-of-run checks hold the server to: every reservation
//! (with the last state the server acknowledged and any step whose outcome is unknown),
//! a sample of refused reserves, the exact ledger of adjusted positions, and the
//! highest acknowledged version of every position the feed wrote.
//!
//! An outcome is *unknown* when the request may have been applied without an answer
//! reaching us (a timeout, a lost connection, `DEADLINE_EXCEEDED`, `NOT_DURABLE`, or a
//! flow dropped at the end of the drain): the checks then accept either outcome.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::HashMap;
use stockd::engine::ReservationState;

/// What a reservation line asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Item {
    Sku(u32),
    Kit(u32),
    Hot(u16),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Line {
    pub item: Item,
    pub location: u16,
    pub quantity: u32,
}

/// How a reservation's flow means to end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ending {
    /// commit, then fulfil.
    Fulfil,
    /// Abandoned: released at once.
    Release,
    /// Abandoned: left to expire by its time to live.
    Expire,
}

#[derive(Clone, Debug)]
pub struct Entry {
    /// The flow's sequence number (the reservation id is `lt-<tag>-<seq>`).
    pub seq: u64,
    pub lines: Box<[Line]>,
    pub ending: Ending,
    /// The last state the server acknowledged; `None` while the reserve's outcome is unknown.
    pub known: Option<ReservationState>,
    /// The state a step sent without a definite answer would lead to.
    pub pending: Option<ReservationState>,
    /// When the hold expires (server clock, ms since the epoch), from the reserve's answer.
    pub expires_at_ms: u64,
    /// The reserve was refused or not applied: the reservation must not exist.
    pub refused: bool,
}

/// The feed's adjustments of one ledger position.
#[derive(Clone, Copy, Debug, Default)]
pub struct LedgerAcc {
    /// Sum of acknowledged deltas.
    pub acked: i64,
    /// Sums of the positive and negative deltas whose outcome is unknown.
    pub unknown_up: i64,
    pub unknown_down: i64,
    pub writes: u64,
}

/// A position written by the feed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PosKey {
    Regular(u32, u16),
    Ledger(u32),
}

/// Refused reserve ids kept for the "not created" check (a uniform sample).
const REFUSED_SAMPLE: usize = 1_000;

pub struct Book {
    pub entries: Vec<Entry>,
    /// Sequence numbers of refused reserves (a reservoir sample).
    pub refused_sample: Vec<u64>,
    pub refused_total: u64,
    sampler: StdRng,
    /// `INSUFFICIENT_STOCK` answers per hot SKU.
    pub hot_refusals: Vec<u64>,
    pub ledger: Vec<LedgerAcc>,
    /// The highest version the server acknowledged for each position the feed wrote.
    pub versions: HashMap<PosKey, u64>,
}

impl Book {
    pub fn new(hot: usize, ledger: usize, seed: u64) -> Book {
        Book {
            entries: Vec::new(),
            refused_sample: Vec::new(),
            refused_total: 0,
            sampler: StdRng::seed_from_u64(seed ^ 0x5a5a),
            hot_refusals: vec![0; hot],
            ledger: vec![LedgerAcc::default(); ledger],
            versions: HashMap::new(),
        }
    }

    /// A reserve is about to be sent.
    pub fn begin(&mut self, seq: u64, lines: Box<[Line]>, ending: Ending) -> usize {
        self.entries.push(Entry {
            seq,
            lines,
            ending,
            known: None,
            pending: Some(ReservationState::Held),
            expires_at_ms: 0,
            refused: false,
        });
        self.entries.len() - 1
    }

    pub fn reserved(&mut self, index: usize, expires_at_ms: u64) {
        let entry = &mut self.entries[index];
        entry.known = Some(ReservationState::Held);
        entry.pending = None;
        entry.expires_at_ms = expires_at_ms;
    }

    /// The reserve was definitely not applied (refused, or never sent).
    pub fn not_reserved(&mut self, index: usize) {
        let entry = &mut self.entries[index];
        entry.refused = true;
        entry.pending = None;
        entry.lines = Box::new([]);
        self.refused_total += 1;
        if self.refused_sample.len() < REFUSED_SAMPLE {
            self.refused_sample.push(entry.seq);
        } else {
            let slot = self.sampler.random_range(0..self.refused_total);
            if (slot as usize) < REFUSED_SAMPLE {
                self.refused_sample[slot as usize] = entry.seq;
            }
        }
    }

    /// A step towards `state` is about to be sent.
    pub fn step(&mut self, index: usize, state: ReservationState) {
        self.entries[index].pending = Some(state);
    }

    /// The server acknowledged the reservation in `state`.
    pub fn acked(&mut self, index: usize, state: ReservationState) {
        let entry = &mut self.entries[index];
        entry.known = Some(state);
        entry.pending = None;
    }

    /// The step was definitely not applied.
    pub fn step_refused(&mut self, index: usize) {
        self.entries[index].pending = None;
    }

    pub fn version(&mut self, key: PosKey, version: u64) {
        let slot = self.versions.entry(key).or_default();
        *slot = (*slot).max(version);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reservations_record_follows_its_answers() {
        let mut book = Book::new(1, 1, 1);
        let line = Line { item: Item::Sku(1), location: 0, quantity: 1 };
        let index = book.begin(7, Box::new([line]), Ending::Fulfil);
        assert_eq!((book.entries[index].known, book.entries[index].pending), (None, Some(ReservationState::Held)));
        book.reserved(index, 1_000);
        book.step(index, ReservationState::Committed);
        assert_eq!(book.entries[index].known, Some(ReservationState::Held));
        book.acked(index, ReservationState::Committed);
        assert_eq!((book.entries[index].known, book.entries[index].pending), (Some(ReservationState::Committed), None));
        let refused = book.begin(8, Box::new([line]), Ending::Fulfil);
        book.not_reserved(refused);
        assert!(book.entries[refused].refused && book.entries[refused].lines.is_empty());
        assert_eq!(book.refused_sample, vec![8]);
    }

    #[test]
    fn the_refused_sample_stays_bounded() {
        let mut book = Book::new(0, 0, 1);
        for seq in 0..10_000 {
            let index = book.begin(seq, Box::new([]), Ending::Fulfil);
            book.not_reserved(index);
        }
        assert_eq!(book.refused_sample.len(), REFUSED_SAMPLE);
        assert_eq!(book.refused_total, 10_000);
        assert!(book.refused_sample.iter().any(|seq| *seq >= 5_000), "a sample of the whole run");
    }

    #[test]
    fn versions_keep_the_highest() {
        let mut book = Book::new(0, 0, 1);
        book.version(PosKey::Regular(1, 2), 5);
        book.version(PosKey::Regular(1, 2), 3);
        assert_eq!(book.versions[&PosKey::Regular(1, 2)], 5);
    }
}
