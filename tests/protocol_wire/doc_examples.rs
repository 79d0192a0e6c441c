//! docs/PROTOCOL.md's generated examples and test vectors.

#[allow(unused_imports)]
use super::*;

// ---------------------------------------------------------------------------------
// docs/PROTOCOL.md's generated examples
// ---------------------------------------------------------------------------------

pub(crate) const BEGIN: &str = "<!-- BEGIN GENERATED EXAMPLES -->";
pub(crate) const END: &str = "<!-- END GENERATED EXAMPLES -->";

/// A frame explained piece by piece: each piece encoded on its own, and the pieces
/// checked to add up to the real frame.
pub(crate) struct Annotated {
    title: &'static str,
    value: String,
    frame: Vec<u8>,
    pieces: Vec<(Vec<u8>, String)>,
}

pub(crate) fn framed<T: serde::Serialize>(message: &T) -> Vec<u8> {
    let mut bytes = Vec::new();
    encode_frame(message, MAX_FRAME_BYTES, &mut bytes).unwrap();
    bytes
}

pub(crate) fn annotated<T: serde::Serialize + std::fmt::Debug>(
    title: &'static str,
    message: &T,
    pieces: Vec<(Vec<u8>, &str)>,
) -> Annotated {
    let frame = framed(message);
    let payload_length = frame.len() as u32 - 4;
    let mut all = vec![(payload_length.to_le_bytes().to_vec(), format!("payload length, u32 LE = {payload_length}"))];
    all.extend(pieces.into_iter().map(|(bytes, what)| (bytes, what.to_owned())));
    let joined: Vec<u8> = all.iter().flat_map(|(bytes, _)| bytes.clone()).collect();
    assert_eq!(joined, frame, "the annotation of {title} must add up to the frame");
    Annotated { title, value: format!("{message:#?}"), frame, pieces: all }
}

pub(crate) fn e<T: serde::Serialize + ?Sized>(value: &T) -> Vec<u8> {
    codec::encode(value)
}

pub(crate) fn tag(index: u32) -> Vec<u8> {
    codec::encode(&index)
}

pub(crate) fn examples() -> Vec<Annotated> {
    let hello = RequestFrame {
        request_id: 1,
        request: Request::Hello { protocol_version: PROTOCOL_VERSION, token: "s3cret".into() },
    };
    let position = RequestFrame {
        request_id: 2,
        request: Request::Call(Call::Position { sku: "SKU-1".into(), location: "DC-1".into() }),
    };
    let reserve_request = ReserveRequest {
        id: "cart-77".into(),
        lines: vec![ReserveLine { sku: "SKU-1".into(), location: "DC-1".into(), quantity: 2 }],
        ttl_ms: 900_000,
        promise_by: None,
    };
    let reserve =
        RequestFrame { request_id: 300, request: Request::Call(Call::Apply(Operation::Reserve(reserve_request))) };
    let short = ResponseFrame {
        request_id: 300,
        response: Response::Reply(Reply::Error(WireError {
            code: ErrorCode::InsufficientStock,
            message: "short".into(),
            short_lines: vec![ShortLine { sku: "SKU-1".into(), location: "DC-1".into(), requested: 2, available: 1 }],
        })),
    };
    let batch = RequestFrame {
        request_id: 4,
        request: Request::Batch(vec![
            Call::Availability {
                sku: "SKU-1".into(),
                scope: AvailabilityScope::Channel("web".into()),
                measure: Availability::ToSell,
            },
            Call::Apply(Operation::Commit { id: "cart-77".into() }),
        ]),
    };
    let batch_reply = ResponseFrame {
        request_id: 4,
        response: Response::Batch(vec![
            Reply::Availability { available: 1_000 },
            Reply::Error(WireError::new(ErrorCode::UnknownEntity, "unknown reservation")),
        ]),
    };
    vec![
        annotated(
            "Hello (the handshake)",
            &hello,
            vec![
                (e(&1u64), "request_id = 1 (varint)"),
                (tag(0), "Request::Hello (variant 0)"),
                (e(&PROTOCOL_VERSION), "protocol_version = 1 (varint u16)"),
                (e(&6u64), "token: length 6 (varint)"),
                (b"s3cret".to_vec(), "token: UTF-8 bytes \"s3cret\""),
            ],
        ),
        annotated(
            "A position query",
            &position,
            vec![
                (e(&2u64), "request_id = 2"),
                (tag(1), "Request::Call (variant 1)"),
                (tag(1), "Call::Position (variant 1)"),
                (e("SKU-1"), "sku = \"SKU-1\" (length 5, bytes)"),
                (e("DC-1"), "location = \"DC-1\" (length 4, bytes)"),
            ],
        ),
        annotated(
            "A reserve",
            &reserve,
            vec![
                (e(&300u64), "request_id = 300 (251 = u16 follows, 0x012c LE)"),
                (tag(1), "Request::Call"),
                (tag(8), "Call::Apply (variant 8)"),
                (tag(3), "Operation::Reserve (variant 3)"),
                (e("cart-77"), "ReserveRequest.id = \"cart-77\""),
                (e(&1u64), "lines: 1 element"),
                (e("SKU-1"), "lines[0].sku"),
                (e("DC-1"), "lines[0].location"),
                (e(&2u32), "lines[0].quantity = 2"),
                (e(&900_000u64), "ttl_ms = 900000 (252 = u32 follows)"),
                (e(&None::<u64>), "promise_by = None"),
            ],
        ),
        annotated(
            "A reply refused for insufficient stock",
            &short,
            vec![
                (e(&300u64), "request_id = 300"),
                (tag(1), "Response::Reply (variant 1)"),
                (tag(10), "Reply::Error (variant 10)"),
                (e(&7u16), "code = 7 INSUFFICIENT_STOCK (the number, varint u16)"),
                (e("short"), "message = \"short\""),
                (e(&1u64), "short_lines: 1 element"),
                (e("SKU-1"), "short_lines[0].sku"),
                (e("DC-1"), "short_lines[0].location"),
                (e(&2u32), "short_lines[0].requested = 2"),
                (e(&1u32), "short_lines[0].available = 1"),
            ],
        ),
        annotated(
            "A batch of two calls",
            &batch,
            vec![
                (e(&4u64), "request_id = 4"),
                (tag(2), "Request::Batch (variant 2)"),
                (e(&2u64), "2 calls"),
                (tag(2), "[0] Call::Availability (variant 2)"),
                (e("SKU-1"), "[0] sku"),
                (tag(1), "[0] scope: AvailabilityScope::Channel (variant 1)"),
                (e("web"), "[0] scope: channel name \"web\""),
                (tag(0), "[0] measure: Availability::ToSell (variant 0)"),
                (tag(8), "[1] Call::Apply"),
                (tag(4), "[1] Operation::Commit (variant 4)"),
                (e("cart-77"), "[1] id"),
            ],
        ),
        annotated(
            "Its answer: one reply per call, in order",
            &batch_reply,
            vec![
                (e(&4u64), "request_id = 4"),
                (tag(2), "Response::Batch (variant 2)"),
                (e(&2u64), "2 replies"),
                (tag(2), "[0] Reply::Availability (variant 2)"),
                (e(&1_000u64), "[0] available = 1000"),
                (tag(10), "[1] Reply::Error"),
                (e(&6u16), "[1] code = 6 UNKNOWN_ENTITY"),
                (e("unknown reservation"), "[1] message"),
                (e(&0u64), "[1] short_lines: none"),
            ],
        ),
    ]
}

/// One value of every variant, for other implementations to test against.
pub(crate) fn vectors() -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut request = |request: Request| {
        let frame = RequestFrame { request_id: 7, request };
        out.push((format!("{:?}", frame.request), codec::encode(&frame)));
    };
    request(Request::Hello { protocol_version: 1, token: "t".into() });
    let calls = vec![
        Call::Ping,
        Call::Position { sku: "S".into(), location: "L".into() },
        Call::Availability {
            sku: "S".into(),
            scope: AvailabilityScope::Location("L".into()),
            measure: Availability::ToPromise(Timestamp(1_700_000_000_000)),
        },
        Call::ChannelAvailability { sku: "S".into(), channel: "web".into(), breakdown: true },
        Call::AvailabilityBatch {
            skus: vec!["A".into(), "B".into()],
            scope: AvailabilityScope::Channel("web".into()),
            measure: Availability::ToSell,
        },
        Call::Reservation { id: "r".into() },
        Call::Stats,
        Call::Verify,
        Call::Apply(Operation::ExpireDue),
        Call::TakeSnapshot,
        Call::FindStores(StoreQuery {
            channel: "web".into(),
            point: Coordinates { latitude: 51.5, longitude: -0.125 },
            radius_km: 10.0,
            lines: vec![OrderLine { sku: "S".into(), quantity: 2 }],
            limit: 5,
        }),
        Call::Demand { sku: "S".into(), channel: Some("web".into()) },
        Call::DemandTop { channel: None, rank: DemandRank::RefusedUnits, limit: 20 },
        Call::SourcingProfiles,
        Call::SetSourcingProfiles { toml: "[profile.p]\nmax_locations = 1\n".into() },
    ];
    let indexes: Vec<u8> = calls.iter().map(|c| codec::encode(c)[0]).collect();
    assert_eq!(indexes, (0..15).collect::<Vec<u8>>(), "one vector per Call variant");
    for call in calls {
        request(Request::Call(call));
    }
    let mut operations: Vec<Operation> = op_samples().into_iter().map(|(op, _)| op).collect();
    operations[0] = Operation::UpsertLocations(vec![LocationSpec {
        name: "L".into(),
        kind: LocationKind::DarkStore,
        coordinates: Coordinates { latitude: 51.5, longitude: -0.25 },
        flags: LocationFlags { ships: true, pickup: false },
        priority: 300,
    }]);
    operations[1] = Operation::UpsertChannel(ChannelSpec {
        name: "web".into(),
        locations: vec!["L".into()],
        excluded: vec![],
        buffer: ChannelBuffer::Percent(10),
    });
    operations[2] = Operation::DefineKit { kit: "K".into(), components: vec![("S".into(), 2)] };
    operations[5] = Operation::Release {
        id: "r".into(),
        partial: Some(PartialStep {
            step_id: "s1".into(),
            lines: vec![LineQuantity { sku: "S".into(), location: "L".into(), quantity: 1 }],
        }),
    };
    operations[9] = Operation::Adjust {
        sku: "S".into(),
        location: "L".into(),
        delta: -3,
        reason: AdjustReason::Damaged,
        reference: "cycle count".into(),
    };
    operations[10] =
        Operation::SetOnHand { sku: "S".into(), location: "L".into(), on_hand: 12, expected_version: Some(4) };
    operations[18] = Operation::BulkLoad(vec![PositionRow {
        sku: "S".into(),
        location: "L".into(),
        on_hand: 10,
        safety_stock: 1,
        damaged: 0,
        quality_control: 0,
        backorder_limit: 5,
    }]);
    for operation in operations {
        request(Request::Call(Call::Apply(operation)));
    }
    request(Request::Call(Call::Apply(Operation::ReserveSourced(SourcedReserveRequest {
        id: "order-10".into(),
        channel: "web".into(),
        lines: vec![OrderLine { sku: "S".into(), quantity: 1 }],
        destination: Destination::Pickup { store: "ST-1".into() },
        profile: "pickup".into(),
        ttl_ms: 900_000,
        promise_by: None,
    }))));
    request(Request::Batch(vec![Call::Ping, Call::Stats]));
    request(Request::Subscribe(WireSubscription {
        skus: vec!["S".into()],
        channels: vec!["web".into()],
        locations: true,
        low_stock_below: Some(5),
        every_change: false,
    }));
    request(Request::Resync { skus: vec!["S".into()] });

    let mut response = |response: Response| {
        let frame = ResponseFrame { request_id: 7, response };
        out.push((format!("{:?}", frame.response), codec::encode(&frame)));
    };
    response(Response::Welcome { protocol_version: 1, role: Role::Reserve, limits: Limits::default() });
    let position = WirePosition {
        sku: "S".into(),
        location: "L".into(),
        on_hand: 10,
        reserved: 2,
        safety_stock: 1,
        damaged: 0,
        quality_control: 0,
        backorder_limit: 0,
        available_to_sell: 7,
        incoming: vec![WireIncoming { reference: "PO".into(), quantity: 5, expected_at: Timestamp(9) }],
        version: 3,
    };
    let reservation = WireReservation {
        id: "r".into(),
        state: ReservationState::Committed,
        created_at: Timestamp(1),
        expires_at: None,
        first_expires_at: Timestamp(60_001),
        promise_by: None,
        requested: vec![WireRequestedLine { sku: "S".into(), location: "L".into(), quantity: 2 }],
        lines: vec![WireHeldLine {
            sku: "S".into(),
            location: "L".into(),
            kind: HoldKind::InStock,
            quantity: 2,
            held: 1,
            fulfilled: 1,
            released: 0,
            returned: 0,
        }],
        forget_at: None,
        applied_steps: vec!["s1".into()],
    };
    let mut replies = vec![
        Reply::Pong { server_time_ms: 1_700_000_000_000 },
        Reply::Position(position.clone()),
        Reply::Availability { available: 12 },
        Reply::ChannelAvailability(WireChannelAvailability {
            available: 9,
            summed: 10,
            locations: vec![WireLocationAvailability { location: "L".into(), available: 10 }],
        }),
        Reply::AvailabilityBatch { available: vec![0, 3, 300] },
        Reply::Reservation(Box::new(reservation.clone())),
        Reply::Stats(WireStats { skus: 1, positions: 2, locations: 3, ..WireStats::default() }),
        Reply::Verify(WireVerifyReport {
            positions_checked: 2,
            reservations_checked: 1,
            findings_total: 1,
            findings: vec![WireFinding::Oversold { sku: "S".into(), location: "L".into(), reserved: 5, ceiling: -1 }],
        }),
        Reply::Applied(Applied::Done),
        Reply::SnapshotTaken(WireSnapshot {
            path: "snapshots/s.snap".into(),
            covers_lsn: 10,
            complete_lsn: 12,
            created_at_ms: 1_700_000_000_000,
            positions: 2,
            reservations: 1,
            body_bytes: 4_096,
            copy_time_us: 150,
            total_time_us: 2_000,
            segments_deleted: 0,
        }),
        Reply::Error(WireError::new(ErrorCode::Forbidden, "needs admin")),
    ];
    let counters = WireDemandCounters { refused_reservations: 2, refused_units: 7, ..WireDemandCounters::default() };
    replies.extend([
        Reply::Stores(vec![WireStoreMatch { location: "ST-1".into(), distance_m: 1_250, available: vec![4] }]),
        Reply::Demand(counters),
        Reply::DemandTop(vec![WireDemandEntry { sku: "S".into(), channel: None, counters }]),
        Reply::SourcingProfiles { names: vec!["p".into()], toml: "[profile.p]\n".into() },
    ]);
    let indexes: Vec<u8> = replies.iter().map(|r| codec::encode(r)[0]).collect();
    assert_eq!(indexes, (0..15).collect::<Vec<u8>>(), "one vector per Reply variant");
    for reply in replies {
        response(Response::Reply(reply));
    }
    let mut applied = vec![
        Applied::Locations(vec!["L".into()]),
        Applied::Done,
        Applied::Reserved(WireReserveOutcome {
            id: "r".into(),
            lines: vec![WireReservedLine {
                sku: "S".into(),
                location: "L".into(),
                quantity: 2,
                kind: HoldKind::PreOrder,
            }],
            expires_at: Timestamp(60_001),
            replayed: false,
            state: ReservationState::Held,
        }),
        Applied::Reservation(Box::new(reservation)),
        Applied::Expiry(WireExpiryReport { expired: 3, forgotten: 1, more_due: false }),
        Applied::Position(position),
        Applied::BulkLoad(WireBulkLoad {
            inserted: 1,
            updated: 0,
            unchanged: 0,
            rejected: 1,
            rejections: vec![WireRowRejection { row: 1, error: WireError::new(ErrorCode::Conflict, "below reserved") }],
        }),
    ];
    applied.push(Applied::Sourced(WireSourcedOutcome {
        reservation: WireReserveOutcome {
            id: "order-9".into(),
            lines: vec![WireReservedLine {
                sku: "S".into(),
                location: "DC-1".into(),
                quantity: 2,
                kind: HoldKind::InStock,
            }],
            expires_at: Timestamp(900_000),
            replayed: false,
            state: ReservationState::Held,
        },
        allocation: vec![WireAllocatedLine {
            line: 0,
            sku: "S".into(),
            location: "DC-1".into(),
            quantity: 2,
            kind: HoldKind::InStock,
            distance_m: Some(12_345),
        }],
        locations_used: 1,
        exact: true,
    }));
    let indexes: Vec<u8> = applied.iter().map(|a| codec::encode(a)[0]).collect();
    assert_eq!(indexes, (0..8).collect::<Vec<u8>>(), "one vector per Applied variant");
    for applied in applied.into_iter().filter(|a| *a != Applied::Done) {
        response(Response::Reply(Reply::Applied(applied)));
    }
    response(Response::Batch(vec![Reply::Pong { server_time_ms: 1 }]));
    response(Response::Error(WireError::new(ErrorCode::Unauthenticated, "say Hello first")));
    response(Response::Subscribed { subscription_id: 3 });
    response(Response::Events(vec![WireFeedEvent {
        sku: "S".into(),
        scope: "web".into(),
        scope_is_channel: true,
        available: 0,
        kind: WireEventKind::OutOfStock,
        gap: false,
    }]));
    response(Response::ResyncScheduled);
    out
}

pub(crate) fn hex_lines(bytes: &[u8]) -> String {
    bytes.chunks(24).map(hex).collect::<Vec<_>>().join("\n")
}

pub(crate) fn render_examples() -> String {
    let mut out = String::new();
    out.push_str("### Frames, byte by byte\n\n");
    out.push_str("Each frame below is the exact output of `encode_frame`, length prefix included.\n");
    for example in examples() {
        out.push_str(&format!("\n#### {}\n\n```text\n{}\n```\n\n", example.title, example.value));
        out.push_str(&format!("```text\n{}\n```\n\n", hex_lines(&example.frame)));
        out.push_str("| bytes | meaning |\n|---|---|\n");
        for (bytes, what) in &example.pieces {
            out.push_str(&format!("| `{}` | {} |\n", hex(bytes), what));
        }
    }
    out.push_str("\n### Test vectors: one value of every variant\n\n");
    out.push_str(
        "Payloads (no length prefix) of `RequestFrame { request_id: 7, .. }` and \
         `ResponseFrame { request_id: 7, .. }`; the value is shown in Rust's debug notation.\n\n",
    );
    for (value, payload) in vectors() {
        out.push_str(&format!("- `{value}`\n\n  ```text\n  {}\n  ```\n", hex_lines(&payload).replace('\n', "\n  ")));
    }
    out.push_str("\n### Error codes\n\n| code | name | meaning |\n|---|---|---|\n");
    for code in ErrorCode::ALL {
        out.push_str(&format!("| {} | `{}` | {} |\n", code.number(), code.name(), code.description()));
    }
    out
}

#[test]
pub(crate) fn the_protocol_document_shows_the_frames_the_code_makes() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/PROTOCOL.md");
    let document = std::fs::read_to_string(&path).expect("docs/PROTOCOL.md exists");
    let begin = document.find(BEGIN).expect("docs/PROTOCOL.md has the BEGIN GENERATED EXAMPLES marker") + BEGIN.len();
    let end = document.find(END).expect("docs/PROTOCOL.md has the END GENERATED EXAMPLES marker");
    assert!(begin <= end, "the markers are in order");
    let rendered = format!("\n{}", render_examples());
    if std::env::var_os("STOCKD_BLESS").is_some() {
        let updated = format!("{}{}{}", &document[..begin], rendered, &document[end..]);
        std::fs::write(&path, updated).expect("rewriting docs/PROTOCOL.md");
        return;
    }
    // Every decoded example decodes back to itself.
    for example in examples() {
        let payload = &example.frame[4..];
        assert!(decode_request_frame(payload).is_ok() || decode_response_frame(payload).is_ok(), "{}", example.title);
    }
    assert!(
        document[begin..end] == rendered,
        "docs/PROTOCOL.md's generated examples differ from what the code encodes. If the wire format \
         changed on purpose, regenerate them with `STOCKD_BLESS=1 cargo test --test protocol_wire` \
         (and bump PROTOCOL_VERSION if a released client could break)."
    );
}
