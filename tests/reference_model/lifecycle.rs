//! The reservation lifecycle: expiry, commit, extend, fulfil/release steps, restock.

use super::*;

impl Model {
    /// Gives back every unit a held reservation past its TTL still holds.
    pub(super) fn expire_if_due(&mut self, id: &str, now: u64) {
        let Some(reservation) = self.reservations.get_mut(id) else { return };
        let due = reservation.state == ReservationState::Held && reservation.expires_at.is_some_and(|at| at <= now);
        if !due {
            return;
        }
        for line in reservation.lines.iter_mut().filter(|l| l.held > 0) {
            let p = self.positions.get_mut(&(line.sku.clone(), line.location.clone())).expect("a held line's position");
            p.reserved -= line.held;
            p.version += 1;
            line.released += line.held;
            line.held = 0;
        }
        reservation.state = ReservationState::Expired;
        // ENGINE CHOICE: the window counts from when the expiry is processed.
        reservation.forget_at = Some(now.saturating_add(self.idempotency_window_ms));
    }

    /// The reservation `id`, expired first if its TTL has passed.
    pub(super) fn live(&mut self, id: &str, now: u64) -> Result<(), EngineError> {
        if !self.reservations.contains_key(id) {
            return Err(EngineError::UnknownReservation(id.to_owned()));
        }
        self.expire_if_due(id, now);
        Ok(())
    }

    pub(super) fn commit(&mut self, id: &str, now: u64) -> Result<Outcome, EngineError> {
        check_id(IdKind::Reservation, id)?;
        self.live(id, now)?;
        let reservation = self.reservations.get_mut(id).expect("live");
        match reservation.state {
            ReservationState::Held => {
                reservation.state = ReservationState::Committed;
                reservation.expires_at = None;
            }
            ReservationState::Committed => {}
            ReservationState::Expired => return Err(expired_error(reservation)),
            state => return Err(invalid_state(id, state, "commit")),
        }
        Ok(Outcome::Reservation(reservation.clone()))
    }

    pub(super) fn extend(&mut self, id: &str, ttl_ms: u64, now: u64) -> Result<Outcome, EngineError> {
        check_id(IdKind::Reservation, id)?;
        check_ttl(ttl_ms)?;
        self.live(id, now)?;
        let reservation = self.reservations.get_mut(id).expect("live");
        match reservation.state {
            ReservationState::Held => reservation.expires_at = Some(now.saturating_add(ttl_ms)),
            ReservationState::Expired => return Err(expired_error(reservation)),
            state => return Err(invalid_state(id, state, "extend")),
        }
        Ok(Outcome::Reservation(reservation.clone()))
    }

    /// `release` (fulfil = false) and `fulfil`, whole or partial.
    pub(super) fn take_units(
        &mut self,
        id: &str,
        partial: Option<&PartialStep>,
        now: u64,
        fulfil: bool,
    ) -> Result<Outcome, EngineError> {
        check_id(IdKind::Reservation, id)?;
        if let Some(step) = partial {
            check_step(step)?;
        }
        self.live(id, now)?;
        let operation = if fulfil { "fulfil" } else { "release" };
        let reservation = &self.reservations[id];
        // ENGINE CHOICE: a step id already applied answers before any state check.
        if let Some(step) = partial {
            if reservation.applied_steps.contains(&step.step_id) {
                return Ok(Outcome::Reservation(reservation.clone()));
            }
        }
        use ReservationState::{Committed, Expired, Fulfilled, Held, Released};
        match (reservation.state, fulfil, partial.is_some()) {
            (Held, true, _) => return Err(invalid_state(id, Held, operation)),
            (Held | Committed, _, _) => {}
            (Released | Expired, false, false) | (Fulfilled, true, false) => {
                return Ok(Outcome::Reservation(reservation.clone()))
            }
            (Expired, _, _) => return Err(expired_error(reservation)),
            (state, _, _) => return Err(invalid_state(id, state, operation)),
        }
        let amounts: Vec<(usize, i64)> = match partial {
            None => {
                reservation.lines.iter().enumerate().filter(|(_, l)| l.held > 0).map(|(i, l)| (i, l.held)).collect()
            }
            Some(step) => {
                if reservation.applied_steps.len() >= MAX_STEPS_PER_RESERVATION {
                    let count = reservation.applied_steps.len() + 1;
                    return Err(too_many("partial steps on one reservation", count, MAX_STEPS_PER_RESERVATION));
                }
                step_amounts(reservation, step)?
            }
        };
        if fulfil {
            for &(at, quantity) in &amounts {
                let line = &reservation.lines[at];
                let key = (line.sku.clone(), line.location.clone());
                let on_hand = self.positions.get(&key).map_or(0, |p| p.on_hand);
                if on_hand < quantity {
                    return Err(EngineError::InsufficientUnits {
                        sku: line.sku.clone(),
                        location: line.location.clone(),
                        bucket: "on hand",
                        available: on_hand as u32,
                        requested: quantity as u32,
                    });
                }
            }
        }
        let reservation = self.reservations.get_mut(id).expect("live");
        for (at, quantity) in amounts {
            let line = &mut reservation.lines[at];
            let p = self.positions.get_mut(&(line.sku.clone(), line.location.clone())).expect("a held line's position");
            p.reserved -= quantity;
            p.version += 1;
            line.held -= quantity;
            if fulfil {
                p.on_hand -= quantity;
                line.fulfilled += quantity;
            } else {
                line.released += quantity;
            }
        }
        if let Some(step) = partial {
            reservation.applied_steps.push(step.step_id.clone());
        }
        // When no line holds units any more, the reservation ends.
        if reservation.lines.iter().all(|l| l.held == 0) {
            let any_fulfilled = reservation.lines.iter().any(|l| l.fulfilled > 0);
            reservation.state = if any_fulfilled { Fulfilled } else { Released };
            reservation.expires_at = None;
            reservation.forget_at = Some(now.saturating_add(self.idempotency_window_ms));
        }
        Ok(Outcome::Reservation(reservation.clone()))
    }

    pub(super) fn expire_due(&mut self, now: u64) -> Outcome {
        // Forget first: a reservation expired by this sweep starts its window now.
        let before = self.reservations.len();
        self.reservations.retain(|_, r| !(is_terminal(r.state) && r.forget_at.is_some_and(|at| at <= now)));
        let forgotten = (before - self.reservations.len()) as u64;
        let due: Vec<String> = self
            .reservations
            .values()
            .filter(|r| r.state == ReservationState::Held && r.expires_at.is_some_and(|at| at <= now))
            .map(|r| r.id.clone())
            .collect();
        for id in &due {
            self.expire_if_due(id, now);
        }
        Outcome::Expiry { expired: due.len() as u64, forgotten }
    }

    pub(super) fn restock(&mut self, request: &RestockRequest) -> Result<PositionSnapshot, EngineError> {
        let (sku, location) = (&request.line.sku, &request.line.location);
        check_id(IdKind::Reservation, &request.reservation_id)?;
        check_id(IdKind::Step, &request.step_id)?;
        check_id(IdKind::Sku, sku)?;
        check_quantity(request.line.quantity)?;
        self.location_exists(location)?;
        // ENGINE CHOICE: restock carries no time, so it does not expire a held
        // reservation first (one past its TTL has nothing fulfilled anyway).
        let Some(reservation) = self.reservations.get(&request.reservation_id) else {
            return Err(EngineError::UnknownReservation(request.reservation_id.clone()));
        };
        if self.kits.contains_key(sku) {
            return Err(EngineError::KitNotAllowed { sku: sku.clone(), operation: "" });
        }
        let key = (sku.clone(), location.clone());
        // A step id already applied: the position as it is now, changing nothing.
        if reservation.applied_steps.contains(&request.step_id) {
            let unknown = || EngineError::UnknownPosition { sku: sku.clone(), location: location.clone() };
            return self.positions.get(&key).map(|p| snapshot(sku, location, p)).ok_or_else(unknown);
        }
        if reservation.applied_steps.len() >= MAX_STEPS_PER_RESERVATION {
            let count = reservation.applied_steps.len() + 1;
            return Err(too_many("partial steps on one reservation", count, MAX_STEPS_PER_RESERVATION));
        }
        let quantity = i64::from(request.line.quantity);
        let returnable: i64 =
            reservation.lines.iter().filter(|l| l.sku == *sku).map(|l| l.fulfilled - l.returned).sum();
        if quantity > returnable {
            return Err(EngineError::ReturnExceedsFulfilled {
                id: request.reservation_id.clone(),
                sku: sku.clone(),
                returnable: returnable as u32,
                requested: quantity as u32,
            });
        }
        let mut next = self.positions.get(&key).cloned().unwrap_or_default();
        let after = *next.bucket_mut(request.bucket) + quantity;
        check_range(bucket_name(request.bucket), after, 0, MAX)?;
        *next.bucket_mut(request.bucket) = after;
        next.version += 1;
        let view = snapshot(sku, location, &next);
        self.positions.insert(key, next);
        let reservation = self.reservations.get_mut(&request.reservation_id).expect("found above");
        let mut left = quantity;
        for line in reservation.lines.iter_mut().filter(|l| l.sku == *sku) {
            let take = left.min(line.fulfilled - line.returned);
            line.returned += take;
            left -= take;
        }
        reservation.applied_steps.push(request.step_id.clone());
        Ok(view)
    }
}

fn check_step(step: &PartialStep) -> Result<(), EngineError> {
    check_id(IdKind::Step, &step.step_id)?;
    if step.lines.is_empty() {
        return Err(EngineError::NoLines);
    }
    if step.lines.len() > MAX_EXPANDED_LINES {
        return Err(too_many("lines in a step", step.lines.len(), MAX_EXPANDED_LINES));
    }
    for line in &step.lines {
        check_id(IdKind::Sku, &line.sku)?;
        check_id(IdKind::Location, &line.location)?;
        check_quantity(line.quantity)?;
    }
    Ok(())
}

/// A step's lines as (index of the reservation line, units), each checked to fit.
fn step_amounts(reservation: &Reservation, step: &PartialStep) -> Result<Vec<(usize, i64)>, EngineError> {
    let mut amounts: Vec<(usize, i64)> = Vec::new();
    for (index, LineQuantity { sku, location, quantity }) in step.lines.iter().enumerate() {
        let Some(at) = reservation.lines.iter().position(|l| l.sku == *sku && l.location == *location) else {
            return Err(EngineError::UnknownLine {
                id: reservation.id.clone(),
                sku: sku.clone(),
                location: location.clone(),
            });
        };
        if amounts.iter().any(|(i, _)| *i == at) {
            return Err(EngineError::DuplicateLine { index, sku: sku.clone(), location: location.clone() });
        }
        let held = reservation.lines[at].held;
        if i64::from(*quantity) > held {
            return Err(EngineError::ExceedsLine {
                id: reservation.id.clone(),
                sku: sku.clone(),
                location: location.clone(),
                held: held as u32,
                requested: *quantity,
            });
        }
        amounts.push((at, i64::from(*quantity)));
    }
    Ok(amounts)
}
