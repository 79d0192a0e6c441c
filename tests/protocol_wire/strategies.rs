//! Strategies for every message (each variant of each enum).

#[allow(unused_imports)]
use super::*;

// ---------------------------------------------------------------------------------
// Strategies for every message
// ---------------------------------------------------------------------------------

pub(crate) fn text() -> BoxedStrategy<String> {
    // Any Unicode, including what ids refuse: the wire carries strings as they are.
    ".{0,10}".boxed()
}

pub(crate) fn timestamp() -> BoxedStrategy<Timestamp> {
    any::<u64>().prop_map(Timestamp).boxed()
}

pub(crate) fn location_kind() -> BoxedStrategy<LocationKind> {
    prop_oneof![
        Just(LocationKind::Warehouse),
        Just(LocationKind::DistributionCentre),
        Just(LocationKind::Store),
        Just(LocationKind::DarkStore),
        Just(LocationKind::DropShipVendor),
    ]
    .boxed()
}

pub(crate) fn location_spec() -> BoxedStrategy<LocationSpec> {
    (text(), location_kind(), -90.0..90.0f64, -180.0..180.0f64, any::<(bool, bool)>(), any::<u16>())
        .prop_map(|(name, kind, latitude, longitude, (ships, pickup), priority)| LocationSpec {
            name,
            kind,
            coordinates: Coordinates { latitude, longitude },
            flags: LocationFlags { ships, pickup },
            priority,
        })
        .boxed()
}

pub(crate) fn channel_buffer() -> BoxedStrategy<ChannelBuffer> {
    prop_oneof![
        Just(ChannelBuffer::None),
        any::<u32>().prop_map(ChannelBuffer::Units),
        any::<u8>().prop_map(ChannelBuffer::Percent),
    ]
    .boxed()
}

pub(crate) fn bucket() -> BoxedStrategy<Bucket> {
    prop_oneof![Just(Bucket::Sellable), Just(Bucket::Damaged), Just(Bucket::QualityControl)].boxed()
}

pub(crate) fn adjust_reason() -> BoxedStrategy<AdjustReason> {
    prop_oneof![
        Just(AdjustReason::Received),
        Just(AdjustReason::Damaged),
        Just(AdjustReason::Lost),
        Just(AdjustReason::Found),
        Just(AdjustReason::Correction),
        Just(AdjustReason::Other),
    ]
    .boxed()
}

pub(crate) fn line_quantity() -> BoxedStrategy<LineQuantity> {
    (text(), text(), any::<u32>())
        .prop_map(|(sku, location, quantity)| LineQuantity { sku, location, quantity })
        .boxed()
}

pub(crate) fn partial_step() -> BoxedStrategy<Option<PartialStep>> {
    option::of((text(), vec(line_quantity(), 0..3)).prop_map(|(step_id, lines)| PartialStep { step_id, lines })).boxed()
}

pub(crate) fn reserve_request() -> BoxedStrategy<ReserveRequest> {
    let line =
        (text(), text(), any::<u32>()).prop_map(|(sku, location, quantity)| ReserveLine { sku, location, quantity });
    (text(), vec(line, 0..4), any::<u64>(), option::of(timestamp()))
        .prop_map(|(id, lines, ttl_ms, promise_by)| ReserveRequest { id, lines, ttl_ms, promise_by })
        .boxed()
}

pub(crate) fn position_row() -> BoxedStrategy<PositionRow> {
    (text(), text(), any::<[u32; 5]>())
        .prop_map(|(sku, location, q)| PositionRow {
            sku,
            location,
            on_hand: q[0],
            safety_stock: q[1],
            damaged: q[2],
            quality_control: q[3],
            backorder_limit: q[4],
        })
        .boxed()
}

pub(crate) fn coordinates() -> BoxedStrategy<Coordinates> {
    (-90.0..90.0f64, -180.0..180.0f64).prop_map(|(latitude, longitude)| Coordinates { latitude, longitude }).boxed()
}

pub(crate) fn order_lines() -> BoxedStrategy<Vec<OrderLine>> {
    vec((text(), any::<u32>()).prop_map(|(sku, quantity)| OrderLine { sku, quantity }), 0..4).boxed()
}

pub(crate) fn sourced_request() -> BoxedStrategy<SourcedReserveRequest> {
    let destination = prop_oneof![
        coordinates().prop_map(|point| Destination::Delivery { point }),
        text().prop_map(|store| Destination::Pickup { store }),
    ];
    (text(), text(), order_lines(), destination, text(), any::<u64>(), option::of(timestamp()))
        .prop_map(|(id, channel, lines, destination, profile, ttl_ms, promise_by)| SourcedReserveRequest {
            id,
            channel,
            lines,
            destination,
            profile,
            ttl_ms,
            promise_by,
        })
        .boxed()
}

pub(crate) fn demand_rank() -> BoxedStrategy<DemandRank> {
    prop_oneof![Just(DemandRank::RefusedUnits), Just(DemandRank::ExpiredUnits), Just(DemandRank::BackorderUnits)]
        .boxed()
}

pub(crate) fn demand_counters() -> BoxedStrategy<WireDemandCounters> {
    any::<[u64; 6]>()
        .prop_map(|n| WireDemandCounters {
            refused_reservations: n[0],
            refused_units: n[1],
            expired_reservations: n[2],
            expired_units: n[3],
            backorder_reservations: n[4],
            backorder_units: n[5],
        })
        .boxed()
}

pub(crate) fn feed_event() -> BoxedStrategy<WireFeedEvent> {
    let kind = prop_oneof![
        Just(WireEventKind::Snapshot),
        Just(WireEventKind::OutOfStock),
        Just(WireEventKind::BackInStock),
        Just(WireEventKind::LowStock),
        Just(WireEventKind::Changed),
    ];
    (text(), text(), any::<bool>(), any::<u64>(), kind, any::<bool>())
        .prop_map(|(sku, scope, scope_is_channel, available, kind, gap)| WireFeedEvent {
            sku,
            scope,
            scope_is_channel,
            available,
            kind,
            gap,
        })
        .boxed()
}

/// Every `Operation` variant.
pub(crate) fn operation() -> BoxedStrategy<Operation> {
    let sl = || (text(), text());
    Union::new(vec![
        vec(location_spec(), 0..3).prop_map(Operation::UpsertLocations).boxed(),
        (text(), vec(text(), 0..3), vec(text(), 0..2), channel_buffer())
            .prop_map(|(name, locations, excluded, buffer)| {
                Operation::UpsertChannel(ChannelSpec { name, locations, excluded, buffer })
            })
            .boxed(),
        (text(), vec((text(), any::<u32>()), 0..3))
            .prop_map(|(kit, components)| Operation::DefineKit { kit, components })
            .boxed(),
        reserve_request().prop_map(Operation::Reserve).boxed(),
        text().prop_map(|id| Operation::Commit { id }).boxed(),
        (text(), partial_step()).prop_map(|(id, partial)| Operation::Release { id, partial }).boxed(),
        (text(), partial_step()).prop_map(|(id, partial)| Operation::Fulfil { id, partial }).boxed(),
        (text(), any::<u64>()).prop_map(|(id, ttl_ms)| Operation::Extend { id, ttl_ms }).boxed(),
        Just(Operation::ExpireDue).boxed(),
        (sl(), any::<i64>(), adjust_reason(), text())
            .prop_map(|((sku, location), delta, reason, reference)| Operation::Adjust {
                sku,
                location,
                delta,
                reason,
                reference,
            })
            .boxed(),
        (sl(), any::<u32>(), option::of(any::<u64>()))
            .prop_map(|((sku, location), on_hand, expected_version)| Operation::SetOnHand {
                sku,
                location,
                on_hand,
                expected_version,
            })
            .boxed(),
        (sl(), any::<u32>())
            .prop_map(|((sku, location), safety_stock)| Operation::SetSafetyStock { sku, location, safety_stock })
            .boxed(),
        (sl(), any::<u32>())
            .prop_map(|((sku, location), limit)| Operation::SetBackorderLimit { sku, location, limit })
            .boxed(),
        (sl(), bucket(), bucket(), any::<u32>())
            .prop_map(|((sku, location), from, to, quantity)| Operation::MoveStock {
                sku,
                location,
                from,
                to,
                quantity,
            })
            .boxed(),
        (sl(), text(), any::<u32>(), timestamp())
            .prop_map(|((sku, location), reference, quantity, expected_at)| Operation::AddIncoming {
                sku,
                location,
                reference,
                quantity,
                expected_at,
            })
            .boxed(),
        (sl(), text(), any::<u32>())
            .prop_map(|((sku, location), reference, quantity)| Operation::ReceiveIncoming {
                sku,
                location,
                reference,
                quantity,
            })
            .boxed(),
        (sl(), text())
            .prop_map(|((sku, location), reference)| Operation::CancelIncoming { sku, location, reference })
            .boxed(),
        (text(), text(), line_quantity(), bucket())
            .prop_map(|(reservation_id, step_id, line, bucket)| {
                Operation::Restock(RestockRequest { reservation_id, step_id, line, bucket })
            })
            .boxed(),
        vec(position_row(), 0..3).prop_map(Operation::BulkLoad).boxed(),
        sourced_request().prop_map(Operation::ReserveSourced).boxed(),
    ])
    .boxed()
}

pub(crate) fn scope() -> BoxedStrategy<AvailabilityScope> {
    prop_oneof![text().prop_map(AvailabilityScope::Location), text().prop_map(AvailabilityScope::Channel)].boxed()
}

pub(crate) fn measure() -> BoxedStrategy<Availability> {
    prop_oneof![Just(Availability::ToSell), timestamp().prop_map(Availability::ToPromise)].boxed()
}

/// Every `Call` variant.
pub(crate) fn call() -> BoxedStrategy<Call> {
    Union::new(vec![
        Just(Call::Ping).boxed(),
        (text(), text()).prop_map(|(sku, location)| Call::Position { sku, location }).boxed(),
        (text(), scope(), measure())
            .prop_map(|(sku, scope, measure)| Call::Availability { sku, scope, measure })
            .boxed(),
        (text(), text(), any::<bool>())
            .prop_map(|(sku, channel, breakdown)| Call::ChannelAvailability { sku, channel, breakdown })
            .boxed(),
        (vec(text(), 0..5), scope(), measure())
            .prop_map(|(skus, scope, measure)| Call::AvailabilityBatch { skus, scope, measure })
            .boxed(),
        text().prop_map(|id| Call::Reservation { id }).boxed(),
        Just(Call::Stats).boxed(),
        Just(Call::Verify).boxed(),
        operation().prop_map(Call::Apply).boxed(),
        Just(Call::TakeSnapshot).boxed(),
        (text(), coordinates(), any::<f64>(), order_lines(), any::<u16>())
            .prop_filter("NaN never equals itself", |(.., radius_km, _, _)| !radius_km.is_nan())
            .prop_map(|(channel, point, radius_km, lines, limit)| {
                Call::FindStores(StoreQuery { channel, point, radius_km, lines, limit })
            })
            .boxed(),
        (text(), option::of(text())).prop_map(|(sku, channel)| Call::Demand { sku, channel }).boxed(),
        (option::of(text()), demand_rank(), any::<u32>())
            .prop_map(|(channel, rank, limit)| Call::DemandTop { channel, rank, limit })
            .boxed(),
        Just(Call::SourcingProfiles).boxed(),
        text().prop_map(|toml| Call::SetSourcingProfiles { toml }).boxed(),
    ])
    .boxed()
}

/// Every `Request` variant.
pub(crate) fn request() -> BoxedStrategy<Request> {
    prop_oneof![
        (any::<u16>(), text()).prop_map(|(protocol_version, token)| Request::Hello { protocol_version, token }),
        call().prop_map(Request::Call),
        vec(call(), 0..4).prop_map(Request::Batch),
        (vec(text(), 0..3), vec(text(), 0..3), any::<bool>(), option::of(any::<u32>()), any::<bool>()).prop_map(
            |(skus, channels, locations, low_stock_below, every_change)| {
                Request::Subscribe(WireSubscription { skus, channels, locations, low_stock_below, every_change })
            }
        ),
        vec(text(), 0..3).prop_map(|skus| Request::Resync { skus }),
    ]
    .boxed()
}

pub(crate) fn error_code() -> BoxedStrategy<ErrorCode> {
    proptest::sample::select(ErrorCode::ALL.to_vec()).boxed()
}

pub(crate) fn wire_error() -> BoxedStrategy<WireError> {
    let short = (text(), text(), any::<u32>(), any::<u32>())
        .prop_map(|(sku, location, requested, available)| ShortLine { sku, location, requested, available });
    (error_code(), text(), vec(short, 0..3))
        .prop_map(|(code, message, short_lines)| WireError { code, message, short_lines })
        .boxed()
}

pub(crate) fn reservation_state() -> BoxedStrategy<ReservationState> {
    prop_oneof![
        Just(ReservationState::Held),
        Just(ReservationState::Committed),
        Just(ReservationState::Fulfilled),
        Just(ReservationState::Released),
        Just(ReservationState::Expired),
    ]
    .boxed()
}

pub(crate) fn hold_kind() -> BoxedStrategy<HoldKind> {
    prop_oneof![Just(HoldKind::InStock), Just(HoldKind::PreOrder), Just(HoldKind::Backorder)].boxed()
}

pub(crate) fn wire_position() -> BoxedStrategy<WirePosition> {
    let incoming = (text(), any::<u32>(), timestamp()).prop_map(|(reference, quantity, expected_at)| WireIncoming {
        reference,
        quantity,
        expected_at,
    });
    (text(), text(), any::<[u32; 7]>(), vec(incoming, 0..3), any::<u64>())
        .prop_map(|(sku, location, q, incoming, version)| WirePosition {
            sku,
            location,
            on_hand: q[0],
            reserved: q[1],
            safety_stock: q[2],
            damaged: q[3],
            quality_control: q[4],
            backorder_limit: q[5],
            available_to_sell: q[6],
            incoming,
            version,
        })
        .boxed()
}

pub(crate) fn wire_reservation() -> BoxedStrategy<WireReservation> {
    let requested = (text(), text(), any::<u32>()).prop_map(|(sku, location, quantity)| WireRequestedLine {
        sku,
        location,
        quantity,
    });
    let held = (text(), text(), hold_kind(), any::<[u32; 5]>()).prop_map(|(sku, location, kind, q)| WireHeldLine {
        sku,
        location,
        kind,
        quantity: q[0],
        held: q[1],
        fulfilled: q[2],
        released: q[3],
        returned: q[4],
    });
    (
        (text(), reservation_state(), timestamp(), option::of(timestamp()), timestamp(), option::of(timestamp())),
        (vec(requested, 0..3), vec(held, 0..3), option::of(timestamp()), vec(text(), 0..3)),
    )
        .prop_map(
            |(
                (id, state, created_at, expires_at, first_expires_at, promise_by),
                (requested, lines, forget_at, applied_steps),
            )| WireReservation {
                id,
                state,
                created_at,
                expires_at,
                first_expires_at,
                promise_by,
                requested,
                lines,
                forget_at,
                applied_steps,
            },
        )
        .boxed()
}

/// Every `Applied` variant.
pub(crate) fn applied() -> BoxedStrategy<Applied> {
    let reserved_line = (text(), text(), any::<u32>(), hold_kind())
        .prop_map(|(sku, location, quantity, kind)| WireReservedLine { sku, location, quantity, kind });
    let rejection = (any::<u64>(), wire_error()).prop_map(|(row, error)| WireRowRejection { row, error });
    Union::new(vec![
        vec(text(), 0..3).prop_map(Applied::Locations).boxed(),
        Just(Applied::Done).boxed(),
        (text(), vec(reserved_line, 0..3), timestamp(), any::<bool>(), reservation_state())
            .prop_map(|(id, lines, expires_at, replayed, state)| {
                Applied::Reserved(WireReserveOutcome { id, lines, expires_at, replayed, state })
            })
            .boxed(),
        wire_reservation().prop_map(|r| Applied::Reservation(Box::new(r))).boxed(),
        (any::<u64>(), any::<u64>(), any::<bool>())
            .prop_map(|(expired, forgotten, more_due)| {
                Applied::Expiry(WireExpiryReport { expired, forgotten, more_due })
            })
            .boxed(),
        wire_position().prop_map(Applied::Position).boxed(),
        (any::<[u64; 4]>(), vec(rejection, 0..3))
            .prop_map(|(n, rejections)| {
                Applied::BulkLoad(WireBulkLoad {
                    inserted: n[0],
                    updated: n[1],
                    unchanged: n[2],
                    rejected: n[3],
                    rejections,
                })
            })
            .boxed(),
        (
            (text(), vec(reserved_line_strategy(), 0..2), timestamp(), any::<bool>(), reservation_state()),
            vec(allocated_line(), 0..3),
            any::<u8>(),
            any::<bool>(),
        )
            .prop_map(|((id, lines, expires_at, replayed, state), allocation, locations_used, exact)| {
                Applied::Sourced(WireSourcedOutcome {
                    reservation: WireReserveOutcome { id, lines, expires_at, replayed, state },
                    allocation,
                    locations_used,
                    exact,
                })
            })
            .boxed(),
    ])
    .boxed()
}

pub(crate) fn reserved_line_strategy() -> BoxedStrategy<WireReservedLine> {
    (text(), text(), any::<u32>(), hold_kind())
        .prop_map(|(sku, location, quantity, kind)| WireReservedLine { sku, location, quantity, kind })
        .boxed()
}

pub(crate) fn allocated_line() -> BoxedStrategy<WireAllocatedLine> {
    (any::<u16>(), text(), text(), any::<u32>(), hold_kind(), option::of(any::<u32>()))
        .prop_map(|(line, sku, location, quantity, kind, distance_m)| WireAllocatedLine {
            line,
            sku,
            location,
            quantity,
            kind,
            distance_m,
        })
        .boxed()
}

pub(crate) fn wire_finding() -> BoxedStrategy<WireFinding> {
    prop_oneof![
        (text(), text(), any::<u64>(), any::<u64>()).prop_map(|(sku, location, reserved, held_by_lines)| {
            WireFinding::ReservedDrift { sku, location, reserved, held_by_lines }
        }),
        (text(), text(), any::<u64>(), any::<i64>())
            .prop_map(|(sku, location, reserved, ceiling)| WireFinding::Oversold { sku, location, reserved, ceiling }),
        (text(), text()).prop_map(|(id, reason)| WireFinding::BrokenReservation { id, reason }),
    ]
    .boxed()
}

/// Every `Reply` variant.
pub(crate) fn reply() -> BoxedStrategy<Reply> {
    let location_availability =
        (text(), any::<u64>()).prop_map(|(location, available)| WireLocationAvailability { location, available });
    Union::new(vec![
        any::<u64>().prop_map(|server_time_ms| Reply::Pong { server_time_ms }).boxed(),
        wire_position().prop_map(Reply::Position).boxed(),
        any::<u64>().prop_map(|available| Reply::Availability { available }).boxed(),
        (any::<u64>(), any::<u64>(), vec(location_availability, 0..3))
            .prop_map(|(available, summed, locations)| {
                Reply::ChannelAvailability(WireChannelAvailability { available, summed, locations })
            })
            .boxed(),
        vec(any::<u64>(), 0..5).prop_map(|available| Reply::AvailabilityBatch { available }).boxed(),
        wire_reservation().prop_map(|r| Reply::Reservation(Box::new(r))).boxed(),
        any::<[u64; 11]>()
            .prop_map(|n| {
                Reply::Stats(WireStats {
                    skus: n[0],
                    positions: n[1],
                    locations: n[2],
                    channels: n[3],
                    kits: n[4],
                    reservations_held: n[5],
                    reservations_committed: n[6],
                    reservations_fulfilled: n[7],
                    reservations_released: n[8],
                    reservations_expired: n[9],
                    reservations_remembered: n[10],
                })
            })
            .boxed(),
        (any::<[u64; 3]>(), vec(wire_finding(), 0..3))
            .prop_map(|(n, findings)| {
                Reply::Verify(WireVerifyReport {
                    positions_checked: n[0],
                    reservations_checked: n[1],
                    findings_total: n[2],
                    findings,
                })
            })
            .boxed(),
        applied().prop_map(Reply::Applied).boxed(),
        (text(), any::<[u64; 9]>())
            .prop_map(|(path, n)| {
                Reply::SnapshotTaken(WireSnapshot {
                    path,
                    covers_lsn: n[0],
                    complete_lsn: n[1],
                    created_at_ms: n[2],
                    positions: n[3],
                    reservations: n[4],
                    body_bytes: n[5],
                    copy_time_us: n[6],
                    total_time_us: n[7],
                    segments_deleted: n[8],
                })
            })
            .boxed(),
        wire_error().prop_map(Reply::Error).boxed(),
        vec(
            (text(), any::<u32>(), vec(any::<u32>(), 0..3))
                .prop_map(|(location, distance_m, available)| WireStoreMatch { location, distance_m, available }),
            0..3,
        )
        .prop_map(Reply::Stores)
        .boxed(),
        demand_counters().prop_map(Reply::Demand).boxed(),
        vec(
            (text(), option::of(text()), demand_counters()).prop_map(|(sku, channel, counters)| WireDemandEntry {
                sku,
                channel,
                counters,
            }),
            0..3,
        )
        .prop_map(Reply::DemandTop)
        .boxed(),
        (vec(text(), 0..3), text()).prop_map(|(names, toml)| Reply::SourcingProfiles { names, toml }).boxed(),
    ])
    .boxed()
}

pub(crate) fn role() -> BoxedStrategy<Role> {
    prop_oneof![Just(Role::Read), Just(Role::Reserve), Just(Role::Admin)].boxed()
}

/// Every `Response` variant.
pub(crate) fn response() -> BoxedStrategy<Response> {
    let limits = (any::<[u32; 4]>(), any::<[u64; 2]>()).prop_map(|(a, b)| Limits {
        max_frame_bytes: a[0],
        max_batch_calls: a[1],
        max_in_flight: a[2],
        max_batch_skus: a[3],
        request_deadline_ms: b[0],
        idle_timeout_ms: b[1],
    });
    prop_oneof![
        (any::<u16>(), role(), limits).prop_map(|(protocol_version, role, limits)| Response::Welcome {
            protocol_version,
            role,
            limits
        }),
        reply().prop_map(Response::Reply),
        vec(reply(), 0..4).prop_map(Response::Batch),
        wire_error().prop_map(Response::Error),
        any::<u64>().prop_map(|subscription_id| Response::Subscribed { subscription_id }),
        vec(feed_event(), 0..4).prop_map(Response::Events),
        Just(Response::ResyncScheduled),
    ]
    .boxed()
}

pub(crate) fn runner(cases: u32) -> TestRunner {
    TestRunner::new(Config { cases, failure_persistence: None, ..Config::default() })
}

/// Frames `message`, feeds the bytes to a decoder in the pieces `cuts` gives, and
/// returns the one payload that comes out.
pub(crate) fn through_decoder<T: serde::Serialize>(message: &T, cuts: &[usize]) -> Vec<u8> {
    let mut bytes = Vec::new();
    encode_frame(message, MAX_FRAME_BYTES, &mut bytes).expect("a small message fits a frame");
    let mut decoder = FrameDecoder::new(MAX_FRAME_BYTES);
    let mut payloads = Vec::new();
    let mut rest = &bytes[..];
    for &cut in cuts {
        let (piece, tail) = rest.split_at(cut.min(rest.len()));
        decoder.push(piece);
        rest = tail;
        while let Some(payload) = decoder.next_frame().unwrap() {
            payloads.push(payload);
        }
    }
    decoder.push(rest);
    while let Some(payload) = decoder.next_frame().unwrap() {
        payloads.push(payload);
    }
    decoder.finish().expect("the stream ended on a frame boundary");
    assert_eq!(payloads.len(), 1, "one frame in, one frame out");
    payloads.pop().unwrap()
}
