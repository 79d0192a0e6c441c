//! Turns generated acts into operations, picking ids and steps from what the model
//! holds.

use super::*;

#[derive(Default)]
pub(super) struct Driver {
    pub(super) last_reserve: Option<ReserveRequest>,
    /// Ids that a reserve created, oldest first.
    pub(super) created: Vec<String>,
    pub(super) fresh: usize,
    /// Every reservation id any operation named (for the state comparison).
    pub(super) seen: BTreeSet<String>,
}

impl Driver {
    pub(super) fn id(&mut self, pick: &IdPick, model: &Model, actionable: fn(&Reservation) -> bool) -> String {
        let candidates: Vec<String> =
            model.reservation_ids().into_iter().filter(|id| model.reservation(id).is_some_and(actionable)).collect();
        let id = match pick {
            IdPick::Actionable(k) if !candidates.is_empty() => candidates[k % candidates.len()].clone(),
            IdPick::Actionable(_) | IdPick::Recent(_) if self.created.is_empty() => ID_POOL[0].to_owned(),
            IdPick::Actionable(k) => self.created[self.created.len() - 1 - k % self.created.len()].clone(),
            IdPick::Pool(i) => ID_POOL[*i].to_owned(),
            IdPick::Recent(_) if self.created.is_empty() => ID_POOL[0].to_owned(),
            IdPick::Recent(k) => self.created[self.created.len() - 1 - k % self.created.len()].clone(),
            IdPick::Fresh => {
                self.fresh += 1;
                format!("n{}", self.fresh)
            }
            IdPick::Invalid(i) => INVALID_IDS[*i].to_owned(),
        };
        if !id.is_empty() && !INVALID_IDS.contains(&id.as_str()) {
            self.seen.insert(id.clone());
        }
        id
    }

    pub(super) fn step(&self, pick: &StepPick, reservation: Option<&Reservation>) -> PartialStep {
        let lines = match (&pick.lines, reservation) {
            (StepLines::Matching(picks), Some(r)) if !r.lines.is_empty() => picks
                .iter()
                .map(|&(which, seed)| {
                    let line = &r.lines[which % r.lines.len()];
                    let held = line.held as u32;
                    let quantity = if seed == 0 { held + 1 } else { 1 + seed % held.max(1) };
                    LineQuantity { sku: line.sku.clone(), location: line.location.clone(), quantity }
                })
                .collect(),
            (StepLines::Raw(raw), _) => raw
                .iter()
                .map(|&(sku, location, quantity)| LineQuantity {
                    sku: SKUS[sku].to_owned(),
                    location: LOCATIONS[location].to_owned(),
                    quantity,
                })
                .collect(),
            (StepLines::Matching(_), _) => vec![LineQuantity { sku: "A".into(), location: "L1".into(), quantity: 1 }],
        };
        PartialStep { step_id: STEP_IDS[pick.step].to_owned(), lines }
    }

    /// (sku, location, reference) of a supply line.
    pub(super) fn supply(pick: &SupplyPick, model: &Model) -> (String, String, String) {
        let supplies = model.supplies();
        match pick {
            SupplyPick::Existing(n) if !supplies.is_empty() => supplies[n % supplies.len()].clone(),
            SupplyPick::Existing(_) => ("A".into(), "L1".into(), SUPPLIES[0].into()),
            SupplyPick::Raw { sku, location, supply } => {
                (SKUS[*sku].to_owned(), LOCATIONS[*location].to_owned(), SUPPLIES[*supply].to_owned())
            }
        }
    }

    pub(super) fn operation(&mut self, act: &Act, model: &Model, now: u64) -> Operation {
        let names = |sku: usize, location: usize| (SKUS[sku].to_owned(), LOCATIONS[location].to_owned());
        match act {
            Act::Reserve { id, lines, ttl_ms, promise } => {
                let dates = model.supply_dates();
                let promise_by = match promise {
                    None => None,
                    Some(Promise::AtSupply(n)) if !dates.is_empty() => Some(Timestamp(dates[n % dates.len()])),
                    Some(Promise::AtSupply(_)) => Some(Timestamp(now)),
                    Some(Promise::InMs(ms)) => Some(Timestamp(now + ms)),
                };
                let request = ReserveRequest {
                    id: self.id(id, model, |_| false),
                    lines: lines
                        .iter()
                        .map(|&(sku, location, quantity)| ReserveLine {
                            sku: SKUS[sku].to_owned(),
                            location: LOCATIONS[location].to_owned(),
                            quantity,
                        })
                        .collect(),
                    ttl_ms: *ttl_ms,
                    promise_by,
                };
                self.last_reserve = Some(request.clone());
                Operation::Reserve(request)
            }
            Act::RetryReserve => match &self.last_reserve {
                Some(request) => Operation::Reserve(request.clone()),
                None => Operation::ExpireDue,
            },
            Act::Commit(id) => Operation::Commit { id: self.id(id, model, |r| r.state == ReservationState::Held) },
            Act::Release(id, step) | Act::Fulfil(id, step) => {
                let fulfil = matches!(act, Act::Fulfil(..));
                let id = if fulfil {
                    self.id(id, model, |r| r.state == ReservationState::Committed)
                } else {
                    self.id(id, model, |r| matches!(r.state, ReservationState::Held | ReservationState::Committed))
                };
                let partial = step.as_ref().map(|s| self.step(s, model.reservation(&id)));
                if fulfil {
                    Operation::Fulfil { id, partial }
                } else {
                    Operation::Release { id, partial }
                }
            }
            Act::Extend(id, ttl_ms) => {
                Operation::Extend { id: self.id(id, model, |r| r.state == ReservationState::Held), ttl_ms: *ttl_ms }
            }
            Act::ExpireDue => Operation::ExpireDue,
            Act::Adjust { sku, location, delta, reference } => {
                let (sku, location) = names(*sku, *location);
                let reason = stockd::engine::AdjustReason::Correction;
                Operation::Adjust { sku, location, delta: *delta, reason, reference: REFERENCES[*reference].to_owned() }
            }
            Act::SetOnHand { sku, location, on_hand, version } => {
                let (sku, location) = names(*sku, *location);
                let current = model.position(&sku, &location).map_or(0, |p| p.version);
                let expected_version = match version {
                    VersionPick::None => None,
                    VersionPick::Current => Some(current),
                    VersionPick::Stale(off) => Some(current + off),
                };
                Operation::SetOnHand { sku, location, on_hand: *on_hand, expected_version }
            }
            Act::SetSafetyStock { sku, location, value } => {
                let (sku, location) = names(*sku, *location);
                Operation::SetSafetyStock { sku, location, safety_stock: *value }
            }
            Act::SetBackorderLimit { sku, location, value } => {
                let (sku, location) = names(*sku, *location);
                Operation::SetBackorderLimit { sku, location, limit: *value }
            }
            Act::MoveStock { sku, location, from, to, quantity } => {
                let (sku, location) = names(*sku, *location);
                Operation::MoveStock { sku, location, from: BUCKETS[*from], to: BUCKETS[*to], quantity: *quantity }
            }
            Act::AddIncoming { sku, location, supply, quantity, due_in_ms } => {
                let (sku, location) = names(*sku, *location);
                let expected_at = Timestamp(now.saturating_add_signed(*due_in_ms));
                Operation::AddIncoming {
                    sku,
                    location,
                    reference: SUPPLIES[*supply].to_owned(),
                    quantity: *quantity,
                    expected_at,
                }
            }
            Act::ReceiveIncoming { supply, quantity } => {
                let (sku, location, reference) = Driver::supply(supply, model);
                Operation::ReceiveIncoming { sku, location, reference, quantity: *quantity }
            }
            Act::CancelIncoming { supply } => {
                let (sku, location, reference) = Driver::supply(supply, model);
                Operation::CancelIncoming { sku, location, reference }
            }
            Act::Restock { id, step, line, sku, location, quantity_seed, bucket } => {
                let id = self.id(id, model, |r| r.lines.iter().any(|l| l.fulfilled > l.returned));
                let (mut sku, mut location) = names(*sku, *location);
                let mut quantity = quantity_seed + 1;
                if let (Some(which), Some(r)) = (line, model.reservation(&id)) {
                    if !r.lines.is_empty() {
                        let held = &r.lines[which % r.lines.len()];
                        sku = held.sku.clone();
                        location = held.location.clone();
                        let returnable: i64 =
                            r.lines.iter().filter(|l| l.sku == sku).map(|l| l.fulfilled - l.returned).sum();
                        let returnable = returnable as u32;
                        quantity =
                            if *quantity_seed == 0 { returnable + 1 } else { 1 + quantity_seed % returnable.max(1) };
                    }
                }
                Operation::Restock(RestockRequest {
                    reservation_id: id,
                    step_id: STEP_IDS[*step].to_owned(),
                    line: LineQuantity { sku, location, quantity },
                    bucket: BUCKETS[*bucket],
                })
            }
            Act::BulkLoad(rows) => Operation::BulkLoad(
                rows.iter()
                    .map(|r| PositionRow {
                        sku: SKUS[r.sku].to_owned(),
                        location: LOCATIONS[r.location].to_owned(),
                        on_hand: r.on_hand,
                        safety_stock: r.safety_stock,
                        damaged: r.damaged,
                        quality_control: r.quality_control,
                        backorder_limit: r.backorder_limit,
                    })
                    .collect(),
            ),
            Act::DefineKit { kit, components } => Operation::DefineKit {
                kit: SKUS[*kit].to_owned(),
                components: components.iter().map(|&(sku, quantity)| (SKUS[sku].to_owned(), quantity)).collect(),
            },
            Act::UpsertChannel { locations, excluded, buffer } => Operation::UpsertChannel(ChannelSpec {
                name: CHANNEL.to_owned(),
                locations: locations.iter().map(|&l| LOCATIONS[l].to_owned()).collect(),
                excluded: excluded.iter().map(|&l| LOCATIONS[l].to_owned()).collect(),
                buffer: *buffer,
            }),
        }
    }

    /// Remembers what a reserve created, for later operations to aim at.
    pub(super) fn record(&mut self, result: &Result<reference_model::Outcome, EngineError>) {
        if let Ok(reference_model::Outcome::Reserved(reserved)) = result {
            if !reserved.replayed {
                self.created.push(reserved.id.clone());
            }
        }
    }
}

pub(super) fn setup_operations(setup: &Setup) -> Vec<Operation> {
    let location = |name: &str, kind, pickup| LocationSpec {
        name: name.to_owned(),
        kind,
        coordinates: Coordinates { latitude: 51.5, longitude: -0.1 },
        flags: LocationFlags { ships: true, pickup },
        priority: 1,
    };
    let excluded = if setup.channel_excludes_l3 { vec!["L3".to_owned()] } else { Vec::new() };
    let mut rows = Vec::new();
    for (index, stock) in setup.stock.iter().enumerate() {
        if let Some((on_hand, safety_stock, backorder_limit)) = *stock {
            rows.push(PositionRow {
                sku: SKUS[index / 3].to_owned(),
                location: KNOWN_LOCATIONS[index % 3].to_owned(),
                on_hand,
                safety_stock,
                damaged: 0,
                quality_control: 0,
                backorder_limit,
            });
        }
    }
    vec![
        Operation::UpsertLocations(vec![
            location("L1", LocationKind::Warehouse, false),
            location("L2", LocationKind::Store, true),
            location("L3", LocationKind::DarkStore, false),
        ]),
        Operation::UpsertChannel(ChannelSpec {
            name: CHANNEL.to_owned(),
            locations: vec!["L2".into(), "L1".into(), "L3".into(), "L2".into()],
            excluded,
            buffer: setup.buffer,
        }),
        Operation::DefineKit { kit: "K".into(), components: vec![("A".into(), 2), ("B".into(), 1)] },
        Operation::BulkLoad(rows),
    ]
}
