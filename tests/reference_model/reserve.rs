//! Reserve: shape checks, idempotent retries, holding every line or nothing.

use super::*;

impl Model {
    pub(super) fn reserve(&mut self, request: &ReserveRequest, now: u64) -> Result<Outcome, EngineError> {
        // 1. Shape.
        check_id(IdKind::Reservation, &request.id)?;
        if request.lines.is_empty() {
            return Err(EngineError::NoLines);
        }
        if request.lines.len() > MAX_LINES_PER_RESERVATION {
            return Err(too_many("lines in a reservation", request.lines.len(), MAX_LINES_PER_RESERVATION));
        }
        check_ttl(request.ttl_ms)?;
        // ENGINE CHOICE: a repeated (SKU, location) is a shape error, found before
        // any location is looked up (the document lists both under step 2).
        for (index, line) in request.lines.iter().enumerate() {
            check_id(IdKind::Sku, &line.sku)?;
            check_id(IdKind::Location, &line.location)?;
            check_quantity(line.quantity)?;
            if request.lines[..index].iter().any(|l| l.sku == line.sku && l.location == line.location) {
                return Err(EngineError::DuplicateLine {
                    index,
                    sku: line.sku.clone(),
                    location: line.location.clone(),
                });
            }
        }
        // 2. Locations, kit expansion.
        let mut requested: Vec<(String, String, i64)> = Vec::new();
        let mut expanded: Vec<(String, String, i64)> = Vec::new();
        for line in &request.lines {
            self.location_exists(&line.location)?;
            requested.push((line.sku.clone(), line.location.clone(), i64::from(line.quantity)));
            let components = match self.kits.get(&line.sku) {
                Some(components) => components.clone(),
                None => vec![(line.sku.clone(), 1)],
            };
            for (component, per_kit) in components {
                let units = i64::from(line.quantity) * per_kit;
                match expanded.iter_mut().find(|(s, l, _)| *s == component && *l == line.location) {
                    Some(existing) => existing.2 += units,
                    None => expanded.push((component, line.location.clone(), units)),
                }
            }
        }
        if expanded.len() > MAX_EXPANDED_LINES {
            return Err(too_many("lines after kit expansion", expanded.len(), MAX_EXPANDED_LINES));
        }
        for (_, _, units) in &expanded {
            check_range("quantity after kit expansion", *units, 1, MAX)?;
        }
        // 3. A known id: the first outcome again, or a conflict.
        let promise_by = request.promise_by.map(Timestamp::millis);
        if let Some(existing) = self.reservations.get(&request.id) {
            let mut before = existing.requested.clone();
            let mut asked = requested.clone();
            before.sort();
            asked.sort();
            if before != asked || existing.promise_by != promise_by {
                return Err(EngineError::Conflict(request.id.clone()));
            }
            self.expire_if_due(&request.id, now);
            return Ok(Outcome::Reserved(first_outcome(&self.reservations[&request.id], true)));
        }
        // 4. Capacity.
        if self.reservations.len() >= self.max_reservations {
            return Err(EngineError::ReservationCapacity { limit: self.max_reservations });
        }
        // 5. Every line, all or nothing.
        let mut kinds = Vec::new();
        let mut short = Vec::new();
        for (sku, location, units) in &expanded {
            let check = match self.positions.get(&(sku.clone(), location.clone())) {
                Some(p) => p.check_hold(*units, promise_by),
                None => Err(0),
            };
            match check {
                Ok(kind) => kinds.push(kind),
                Err(available) => short.push(ShortLine {
                    sku: sku.clone(),
                    location: location.clone(),
                    requested: *units as u32,
                    available: available.min(i64::from(u32::MAX)) as u32,
                }),
            }
        }
        if !short.is_empty() {
            return Err(EngineError::InsufficientStock(short));
        }
        let mut lines = Vec::new();
        for ((sku, location, units), kind) in expanded.into_iter().zip(kinds) {
            let p = self.positions.get_mut(&(sku.clone(), location.clone())).expect("checked above");
            p.reserved += units;
            p.version += 1;
            lines.push(Line {
                sku,
                location,
                kind,
                quantity: units,
                held: units,
                fulfilled: 0,
                released: 0,
                returned: 0,
            });
        }
        let expires_at = now.saturating_add(request.ttl_ms);
        let reservation = Reservation {
            id: request.id.clone(),
            state: ReservationState::Held,
            created_at: now,
            expires_at: Some(expires_at),
            first_expires_at: expires_at,
            promise_by,
            requested,
            lines,
            forget_at: None,
            applied_steps: Vec::new(),
        };
        let outcome = first_outcome(&reservation, false);
        self.reservations.insert(request.id.clone(), reservation);
        Ok(Outcome::Reserved(outcome))
    }
}

fn first_outcome(reservation: &Reservation, replayed: bool) -> Reserved {
    Reserved {
        id: reservation.id.clone(),
        lines: reservation
            .lines
            .iter()
            .map(|l| ReservedLine {
                sku: l.sku.clone(),
                location: l.location.clone(),
                quantity: l.quantity,
                kind: l.kind,
            })
            .collect(),
        expires_at: reservation.first_expires_at,
        replayed,
        state: reservation.state,
    }
}
