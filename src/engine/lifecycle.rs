//! The reservation lifecycle after `reserve`: commit, fulfil, release, extend and
//! expiry. Whole-reservation calls are idempotent by state; partial calls carry a
//! client step id so that a retried step is applied once.

use super::catalogue_ops::check_range;
use super::journal::{Cause, ReservationImage};
use super::reservations::{Reservation, ReservationShard, ReservationState};
use super::reserve::location_label;
use super::{Engine, EngineError, Operation};
use crate::limits::{MAX_EXPANDED_LINES, MAX_QUANTITY, MAX_STEPS_PER_RESERVATION, MAX_TTL_MS, MIN_TTL_MS};
use crate::model::{validate_id, IdKind, Timestamp};

/// Part of a line, named as the client names it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LineQuantity {
    pub sku: String,
    pub location: String,
    pub quantity: u32,
}

/// A partial fulfil, release or return: which units, under a client step id.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PartialStep {
    pub step_id: String,
    pub lines: Vec<LineQuantity>,
}

/// What one `expire_due` sweep did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ExpiryReport {
    /// Held reservations whose TTL passed, their stock given back.
    pub expired: u64,
    /// Terminal reservations whose idempotency window ended.
    pub forgotten: u64,
    /// True when the sweep stopped at its bound with deadlines still due.
    pub more_due: bool,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum LineAction {
    Fulfil,
    Release,
}

impl Engine {
    /// Confirms a held reservation (the order is placed): it no longer expires.
    pub fn commit(&self, id: &str, now: Timestamp) -> Result<Reservation, EngineError> {
        self.logged(|| Operation::Commit { id: id.to_owned() }, |op| self.commit_as(id, now, op))
    }

    pub(super) fn commit_as(
        &self,
        id: &str,
        now: Timestamp,
        operation: Option<&Operation>,
    ) -> Result<Reservation, EngineError> {
        validate_id(IdKind::Reservation, id)?;
        let mut shard = self.reservations.lock_for(id);
        let reservation = self.live_reservation(&mut shard, id, now)?;
        match reservation.state {
            ReservationState::Held => {
                reservation.state = ReservationState::Committed;
                reservation.expires_at = None;
                self.record_reservation(now, operation, reservation);
                Ok(reservation.clone())
            }
            ReservationState::Committed => Ok(reservation.clone()),
            ReservationState::Expired => Err(expired(reservation)),
            state => Err(invalid_state(id, state, "commit", "a held reservation")),
        }
    }

    /// Gives a held reservation a new time to live, counted from `now`.
    pub fn extend(&self, id: &str, ttl_ms: u64, now: Timestamp) -> Result<Reservation, EngineError> {
        self.logged(|| Operation::Extend { id: id.to_owned(), ttl_ms }, |op| self.extend_as(id, ttl_ms, now, op))
    }

    pub(super) fn extend_as(
        &self,
        id: &str,
        ttl_ms: u64,
        now: Timestamp,
        operation: Option<&Operation>,
    ) -> Result<Reservation, EngineError> {
        validate_id(IdKind::Reservation, id)?;
        check_range("ttl_ms", i64::try_from(ttl_ms).unwrap_or(i64::MAX), MIN_TTL_MS as i64, MAX_TTL_MS as i64)?;
        let mut shard = self.reservations.lock_for(id);
        let reservation = self.live_reservation(&mut shard, id, now)?;
        if reservation.state == ReservationState::Expired {
            return Err(expired(reservation));
        }
        if reservation.state != ReservationState::Held {
            return Err(invalid_state(id, reservation.state, "extend", "a held reservation"));
        }
        let expires_at = now.saturating_add_ms(ttl_ms);
        reservation.expires_at = Some(expires_at);
        self.record_reservation(now, operation, reservation);
        let (outcome, key) = (reservation.clone(), reservation.id.clone());
        shard.schedule(expires_at, key);
        Ok(outcome)
    }

    /// Gives back held units: all of them (`partial` is `None`), or some lines' units.
    /// Releasing a released or expired reservation again changes nothing.
    pub fn release(&self, id: &str, partial: Option<&PartialStep>, now: Timestamp) -> Result<Reservation, EngineError> {
        let build = || Operation::Release { id: id.to_owned(), partial: partial.cloned() };
        self.logged(build, |op| self.apply_to_lines(id, partial, now, LineAction::Release, op))
    }

    /// Ships held units of a committed reservation: on hand and reserved both go down.
    pub fn fulfil(&self, id: &str, partial: Option<&PartialStep>, now: Timestamp) -> Result<Reservation, EngineError> {
        let build = || Operation::Fulfil { id: id.to_owned(), partial: partial.cloned() };
        self.logged(build, |op| self.apply_to_lines(id, partial, now, LineAction::Fulfil, op))
    }

    pub(super) fn apply_to_lines(
        &self,
        id: &str,
        partial: Option<&PartialStep>,
        now: Timestamp,
        action: LineAction,
        operation: Option<&Operation>,
    ) -> Result<Reservation, EngineError> {
        validate_id(IdKind::Reservation, id)?;
        if let Some(step) = partial {
            validate_step(step)?;
        }
        let mut shard = self.reservations.lock_for(id);
        let reservation = self.live_reservation(&mut shard, id, now)?;
        let verb = if action == LineAction::Fulfil { "fulfil" } else { "release" };
        if let Some(step) = partial {
            if reservation.applied_steps.iter().any(|s| **s == *step.step_id) {
                return Ok(reservation.clone());
            }
        }
        match (reservation.state, action, partial) {
            (ReservationState::Held, LineAction::Fulfil, _) => {
                return Err(invalid_state(id, reservation.state, verb, "a committed reservation"))
            }
            (ReservationState::Held | ReservationState::Committed, _, _) => {}
            (ReservationState::Released | ReservationState::Expired, LineAction::Release, None)
            | (ReservationState::Fulfilled, LineAction::Fulfil, None) => return Ok(reservation.clone()),
            (ReservationState::Expired, _, _) => return Err(expired(reservation)),
            (state, _, _) => return Err(invalid_state(id, state, verb, "a held or committed reservation")),
        }
        let amounts = match partial {
            None => reservation.lines.iter().enumerate().map(|(i, l)| (i, l.held)).filter(|(_, q)| *q > 0).collect(),
            Some(step) => {
                if reservation.applied_steps.len() >= MAX_STEPS_PER_RESERVATION {
                    return Err(EngineError::TooMany {
                        what: "partial steps on one reservation",
                        count: reservation.applied_steps.len() + 1,
                        limit: MAX_STEPS_PER_RESERVATION,
                    });
                }
                self.resolve_step_lines(reservation, step)?
            }
        };
        let mut finished = None;
        let cause = operation.map(Cause::Operation);
        self.change_lines(reservation, &amounts, action, now, cause, |reservation| {
            if let Some(step) = partial {
                reservation.applied_steps.push(step.step_id.as_str().into());
            }
            finished = self.finish_if_empty(reservation, now);
        })?;
        let outcome = reservation.clone();
        if let Some(forget_at) = finished {
            shard.schedule(forget_at, outcome.id.clone());
        }
        Ok(outcome)
    }

    /// Maps a step's lines to (held line index, units), checking each fits its line.
    fn resolve_step_lines(
        &self,
        reservation: &Reservation,
        step: &PartialStep,
    ) -> Result<Vec<(usize, u32)>, EngineError> {
        let catalogue = self.catalogue.load();
        let mut amounts: Vec<(usize, u32)> = Vec::with_capacity(step.lines.len());
        for (index, line) in step.lines.iter().enumerate() {
            let unknown = || EngineError::UnknownLine {
                id: reservation.id.to_string(),
                sku: line.sku.clone(),
                location: line.location.clone(),
            };
            let sku = self.skus.get(&line.sku).ok_or_else(unknown)?;
            let location = catalogue.location_id(&line.location).ok_or_else(unknown)?;
            let at =
                reservation.lines.iter().position(|l| l.sku == sku && l.location == location).ok_or_else(unknown)?;
            if amounts.iter().any(|(i, _)| *i == at) {
                return Err(EngineError::DuplicateLine {
                    index,
                    sku: line.sku.clone(),
                    location: line.location.clone(),
                });
            }
            let held = reservation.lines[at].held;
            if line.quantity > held {
                return Err(EngineError::ExceedsLine {
                    id: reservation.id.to_string(),
                    sku: line.sku.clone(),
                    location: line.location.clone(),
                    held,
                    requested: line.quantity,
                });
            }
            amounts.push((at, line.quantity));
        }
        Ok(amounts)
    }

    /// Takes units off held lines and their positions, all or none: a fulfil whose
    /// position lacks the units on hand (a backorder not yet in) changes nothing.
    /// Then `finish` updates the reservation, and the change is recorded (with
    /// `cause`) before the position locks are released.
    fn change_lines(
        &self,
        reservation: &mut Reservation,
        amounts: &[(usize, u32)],
        action: LineAction,
        at: Timestamp,
        cause: Option<Cause<'_>>,
        finish: impl FnOnce(&mut Reservation),
    ) -> Result<(), EngineError> {
        let lines = &reservation.lines;
        let mut guards = self.stock.write_many(amounts.iter().map(|(i, _)| lines[*i].sku));
        if action == LineAction::Fulfil {
            for &(at, quantity) in amounts {
                let line = &lines[at];
                let shard = guards.shard(self.stock.shard_of(line.sku));
                let on_hand = shard.get(line.sku, line.location).map_or(0, |p| p.on_hand);
                if on_hand < quantity {
                    return Err(EngineError::InsufficientUnits {
                        sku: self.skus.name(line.sku).to_string(),
                        location: location_label(&self.catalogue.load(), line.location),
                        bucket: "on hand",
                        available: on_hand,
                        requested: quantity,
                    });
                }
            }
        }
        for &(at, quantity) in amounts {
            let line = &mut reservation.lines[at];
            let position = guards
                .shard(self.stock.shard_of(line.sku))
                .get_mut(line.sku, line.location)
                .expect("a held line's position exists");
            assert!(position.reserved >= quantity, "reserved covers every held line");
            position.reserved -= quantity;
            position.version += 1;
            line.held -= quantity;
            match action {
                LineAction::Fulfil => {
                    position.on_hand -= quantity;
                    line.fulfilled += quantity;
                }
                LineAction::Release => line.released += quantity,
            }
        }
        finish(reservation);
        if let Some(cause) = cause {
            let lines = &reservation.lines;
            let images = || {
                guards.images(self.stock.shard_bits(), amounts.iter().map(|(i, _)| (lines[*i].sku, lines[*i].location)))
            };
            self.record_change(at, cause, images, Some(ReservationImage::Present(reservation)));
        }
        Ok(())
    }

    /// Records a change to a reservation alone (commit, extend).
    fn record_reservation(&self, at: Timestamp, operation: Option<&Operation>, reservation: &Reservation) {
        if let Some(operation) = operation {
            self.record_change(at, Cause::Operation(operation), Vec::new, Some(ReservationImage::Present(reservation)));
        }
    }

    /// Ends a reservation that holds nothing any more; returns when to forget it.
    fn finish_if_empty(&self, reservation: &mut Reservation, now: Timestamp) -> Option<Timestamp> {
        if reservation.state.is_terminal() || reservation.held_units() > 0 {
            return None;
        }
        let any_fulfilled = reservation.lines.iter().any(|l| l.fulfilled > 0);
        reservation.state = if any_fulfilled { ReservationState::Fulfilled } else { ReservationState::Released };
        Some(self.end_reservation(reservation, now))
    }

    /// Marks a terminal reservation's end: no expiry, forgotten after the window.
    fn end_reservation(&self, reservation: &mut Reservation, now: Timestamp) -> Timestamp {
        let forget_at = now.saturating_add_ms(self.config.idempotency_window_ms);
        reservation.expires_at = None;
        reservation.forget_at = Some(forget_at);
        forget_at
    }

    /// Gives back everything a held reservation holds because its TTL passed.
    /// The caller schedules the forgetting (`forget_at` is set). An expired
    /// reservation keeps `expires_at`, to say when it expired.
    pub(super) fn expire_reservation(&self, reservation: &mut Reservation, now: Timestamp) {
        assert!(reservation.is_past_ttl(now), "only a held reservation past its TTL expires");
        let amounts: Vec<(usize, u32)> =
            reservation.lines.iter().enumerate().map(|(i, l)| (i, l.held)).filter(|(_, q)| *q > 0).collect();
        let id = reservation.id.clone();
        // Lost demand: the units this reservation still held when it expired unpaid.
        let expired = reservation.lines.iter().map(|l| (l.sku, u64::from(l.held)));
        self.demand.count_lines(expired, None, super::demand::DemandEvent::Expired);
        self.change_lines(
            reservation,
            &amounts,
            LineAction::Release,
            now,
            Some(Cause::Expired { id: &id }),
            |reservation| {
                let expired_at = reservation.expires_at;
                reservation.state = ReservationState::Expired;
                self.end_reservation(reservation, now);
                reservation.expires_at = expired_at;
            },
        )
        .expect("a release cannot be refused");
    }

    /// The reservation named `id`, expired first if its TTL has passed at `now`.
    fn live_reservation<'s>(
        &self,
        shard: &'s mut ReservationShard,
        id: &str,
        now: Timestamp,
    ) -> Result<&'s mut Reservation, EngineError> {
        let Some(reservation) = shard.by_id.get_mut(id) else {
            return Err(EngineError::UnknownReservation(id.to_owned()));
        };
        if reservation.is_past_ttl(now) {
            self.expire_reservation(reservation, now);
            let (forget_at, key) = (reservation.forget_at.expect("expiry sets it"), reservation.id.clone());
            shard.schedule(forget_at, key);
        }
        Ok(shard.by_id.get_mut(id).expect("looked up above"))
    }

    /// Expires held reservations whose TTL passed and forgets terminal ones whose
    /// idempotency window ended, looking only at due deadlines (never scanning every
    /// reservation), and at most `max_expiries_per_sweep` of them.
    pub fn expire_due(&self, now: Timestamp) -> ExpiryReport {
        let mut report = ExpiryReport::default();
        let mut budget = self.config.max_expiries_per_sweep;
        for index in 0..self.reservations.shard_count() {
            let mut shard = self.reservations.lock_shard(index);
            while budget > 0 {
                let Some((at, id)) = shard.pop_due(now) else { break };
                budget -= 1;
                let Some(reservation) = shard.by_id.get_mut(&id) else { continue };
                if reservation.state == ReservationState::Held && reservation.expires_at == Some(at) {
                    self.expire_reservation(reservation, now);
                    let forget_at = reservation.forget_at.expect("expiry sets it");
                    shard.schedule(forget_at, id);
                    report.expired += 1;
                } else if reservation.state.is_terminal() && reservation.forget_at.is_some_and(|f| f <= now) {
                    let forgotten = Some(ReservationImage::Forgotten { id: &id });
                    self.record_change(now, Cause::Forgotten { id: &id }, Vec::new, forgotten);
                    shard.by_id.remove(&id);
                    self.reservations.count_forgotten();
                    report.forgotten += 1;
                }
            }
            if budget == 0 {
                let due_here = shard.has_due(now);
                drop(shard);
                report.more_due = due_here
                    || (index + 1..self.reservations.shard_count())
                        .any(|i| self.reservations.lock_shard(i).has_due(now));
                break;
            }
        }
        report
    }
}

fn validate_step(step: &PartialStep) -> Result<(), EngineError> {
    validate_id(IdKind::Step, &step.step_id)?;
    if step.lines.is_empty() {
        return Err(EngineError::NoLines);
    }
    if step.lines.len() > MAX_EXPANDED_LINES {
        return Err(EngineError::TooMany {
            what: "lines in a step",
            count: step.lines.len(),
            limit: MAX_EXPANDED_LINES,
        });
    }
    for line in &step.lines {
        validate_id(IdKind::Sku, &line.sku)?;
        validate_id(IdKind::Location, &line.location)?;
        check_range("quantity", i64::from(line.quantity), 1, i64::from(MAX_QUANTITY))?;
    }
    Ok(())
}

fn expired(reservation: &Reservation) -> EngineError {
    EngineError::ReservationExpired {
        id: reservation.id.to_string(),
        expired_at: reservation.expires_at.expect("an expired reservation keeps its expiry"),
    }
}

fn invalid_state(id: &str, state: ReservationState, operation: &'static str, expected: &'static str) -> EngineError {
    EngineError::InvalidState { id: id.to_owned(), state, operation, expected }
}
