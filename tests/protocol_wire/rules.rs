//! The encoding rules docs/PROTOCOL.md states, roles and error codes.

#[allow(unused_imports)]
use super::*;

// ---------------------------------------------------------------------------------
// The encoding rules docs/PROTOCOL.md states
// ---------------------------------------------------------------------------------

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(" ")
}

#[test]
pub(crate) fn integers_are_varints_with_250_251_252_253_markers_and_zigzag_for_signed() {
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (codec::encode(&0u64), "00"),
        (codec::encode(&250u64), "fa"),
        (codec::encode(&251u64), "fb fb 00"),
        (codec::encode(&65_535u64), "fb ff ff"),
        (codec::encode(&65_536u64), "fc 00 00 01 00"),
        (codec::encode(&u64::from(u32::MAX)), "fc ff ff ff ff"),
        (codec::encode(&(1u64 << 32)), "fd 00 00 00 00 01 00 00 00"),
        (codec::encode(&1_000u32), "fb e8 03"),
        (codec::encode(&300u16), "fb 2c 01"),
        (codec::encode(&0i64), "00"),
        (codec::encode(&-1i64), "01"),
        (codec::encode(&1i64), "02"),
        (codec::encode(&-2i64), "03"),
        (codec::encode(&-125i64), "f9"),
        (codec::encode(&-126i64), "fb fb 00"),
        (codec::encode(&125i64), "fa"),
        (codec::encode(&126i64), "fb fc 00"),
        (codec::encode(&i64::MIN), "fd ff ff ff ff ff ff ff ff"),
        // u8 is one raw byte, not a varint.
        (codec::encode(&255u8), "ff"),
        (codec::encode(&true), "01"),
        (codec::encode(&false), "00"),
        (codec::encode(&1.5f64), "00 00 00 00 00 00 f8 3f"),
        (codec::encode(&"hé"), "03 68 c3 a9"),
        (codec::encode(&vec![1u32, 300]), "02 01 fb 2c 01"),
        (codec::encode(&None::<u64>), "00"),
        (codec::encode(&Some(7u64)), "01 07"),
        (codec::encode(&("k", 2u32)), "01 6b 02"),
        (codec::encode(&Timestamp(251)), "fb fb 00"),
        // Enums: the variant index, then the fields.
        (codec::encode(&Bucket::QualityControl), "02"),
        (codec::encode(&ChannelBuffer::Percent(200)), "02 c8"),
        (codec::encode(&AvailabilityScope::Channel("web".into())), "01 03 77 65 62"),
        (codec::encode(&Availability::ToPromise(Timestamp(5))), "01 05"),
        (codec::encode(&ErrorCode::CapacityExhausted), "11"),
    ];
    for (bytes, expected) in cases {
        assert_eq!(hex(&bytes), expected);
    }
    // A decoder accepts a longer form than the shortest (encoders must not send one).
    assert_eq!(codec::decode::<u64>(&[251, 5, 0]).unwrap(), 5);
    // The marker must fit the type: 253 (u64 follows) is refused for a u32.
    assert!(codec::decode::<u32>(&[253, 0, 0, 0, 0, 0, 0, 0, 0]).is_err());
    // 254 (u128) and 255 are never valid here.
    assert!(codec::decode::<u64>(&[254; 17]).is_err());
    assert!(codec::decode::<u64>(&[255]).is_err());
}

// ---------------------------------------------------------------------------------
// Roles and errors
// ---------------------------------------------------------------------------------

pub(crate) fn op_samples() -> Vec<(Operation, Role)> {
    let s = || "SKU-1".to_owned();
    let l = || "DC-1".to_owned();
    vec![
        (Operation::UpsertLocations(vec![]), Role::Admin),
        (
            Operation::UpsertChannel(ChannelSpec {
                name: "web".into(),
                locations: vec![],
                excluded: vec![],
                buffer: ChannelBuffer::None,
            }),
            Role::Admin,
        ),
        (Operation::DefineKit { kit: s(), components: vec![] }, Role::Admin),
        (
            Operation::Reserve(ReserveRequest { id: "r".into(), lines: vec![], ttl_ms: 0, promise_by: None }),
            Role::Reserve,
        ),
        (Operation::Commit { id: "r".into() }, Role::Reserve),
        (Operation::Release { id: "r".into(), partial: None }, Role::Reserve),
        (Operation::Fulfil { id: "r".into(), partial: None }, Role::Reserve),
        (Operation::Extend { id: "r".into(), ttl_ms: 1 }, Role::Reserve),
        (Operation::ExpireDue, Role::Admin),
        (
            Operation::Adjust {
                sku: s(),
                location: l(),
                delta: 1,
                reason: AdjustReason::Found,
                reference: String::new(),
            },
            Role::Admin,
        ),
        (Operation::SetOnHand { sku: s(), location: l(), on_hand: 1, expected_version: None }, Role::Admin),
        (Operation::SetSafetyStock { sku: s(), location: l(), safety_stock: 1 }, Role::Admin),
        (Operation::SetBackorderLimit { sku: s(), location: l(), limit: 1 }, Role::Admin),
        (
            Operation::MoveStock { sku: s(), location: l(), from: Bucket::Sellable, to: Bucket::Damaged, quantity: 1 },
            Role::Admin,
        ),
        (
            Operation::AddIncoming {
                sku: s(),
                location: l(),
                reference: "PO".into(),
                quantity: 1,
                expected_at: Timestamp(1),
            },
            Role::Admin,
        ),
        (Operation::ReceiveIncoming { sku: s(), location: l(), reference: "PO".into(), quantity: 1 }, Role::Admin),
        (Operation::CancelIncoming { sku: s(), location: l(), reference: "PO".into() }, Role::Admin),
        (
            Operation::Restock(RestockRequest {
                reservation_id: "r".into(),
                step_id: "s".into(),
                line: LineQuantity { sku: s(), location: l(), quantity: 1 },
                bucket: Bucket::Sellable,
            }),
            Role::Reserve,
        ),
        (Operation::BulkLoad(vec![]), Role::Admin),
        (
            Operation::ReserveSourced(SourcedReserveRequest {
                id: "order-9".into(),
                channel: "web".into(),
                lines: vec![OrderLine { sku: s(), quantity: 2 }],
                destination: Destination::Delivery { point: Coordinates { latitude: 51.5, longitude: -0.125 } },
                profile: "default".into(),
                ttl_ms: 900_000,
                promise_by: None,
            }),
            Role::Reserve,
        ),
    ]
}

#[test]
pub(crate) fn every_operation_needs_the_right_role() {
    let samples = op_samples();
    // One sample per Operation variant (the variant index is the first byte).
    let indexes: Vec<u8> = samples.iter().map(|(op, _)| codec::encode(op)[0]).collect();
    assert_eq!(indexes, (0..20).collect::<Vec<u8>>(), "one sample per Operation variant, in order");
    for (operation, role) in samples {
        assert_eq!(operation_role(&operation), role, "{operation:?}");
        assert_eq!(required_role(&Request::Call(Call::Apply(operation.clone()))), role);
    }
    for (call, role) in [
        (Call::Ping, Role::Read),
        (Call::Position { sku: "S".into(), location: "L".into() }, Role::Read),
        (
            Call::Availability {
                sku: "S".into(),
                scope: AvailabilityScope::Channel("c".into()),
                measure: Availability::ToSell,
            },
            Role::Read,
        ),
        (Call::ChannelAvailability { sku: "S".into(), channel: "c".into(), breakdown: true }, Role::Read),
        (
            Call::AvailabilityBatch {
                skus: vec![],
                scope: AvailabilityScope::Location("L".into()),
                measure: Availability::ToSell,
            },
            Role::Read,
        ),
        (Call::Reservation { id: "r".into() }, Role::Read),
        (Call::Stats, Role::Admin),
        (Call::Verify, Role::Admin),
        (Call::TakeSnapshot, Role::Admin),
        (Call::SourcingProfiles, Role::Read),
        (Call::Demand { sku: "S".into(), channel: None }, Role::Read),
        (Call::DemandTop { channel: None, rank: DemandRank::ExpiredUnits, limit: 5 }, Role::Read),
        (Call::SetSourcingProfiles { toml: String::new() }, Role::Admin),
    ] {
        assert_eq!(call.required_role(), role, "{call:?}");
    }
    assert_eq!(required_role(&Request::Hello { protocol_version: 1, token: "t".into() }), Role::Read);
    let subscription =
        WireSubscription { skus: vec![], channels: vec![], locations: true, low_stock_below: None, every_change: true };
    assert_eq!(required_role(&Request::Subscribe(subscription)), Role::Read);
    assert_eq!(required_role(&Request::Resync { skus: vec![] }), Role::Read);
    assert!(Role::Read < Role::Reserve && Role::Reserve < Role::Admin);
}

#[test]
pub(crate) fn a_batch_needs_the_highest_role_of_its_calls() {
    let reserve = Call::Apply(Operation::Commit { id: "r".into() });
    let admin = Call::Apply(Operation::ExpireDue);
    assert_eq!(required_role(&Request::Batch(vec![])), Role::Read);
    assert_eq!(required_role(&Request::Batch(vec![Call::Ping, Call::Ping])), Role::Read);
    assert_eq!(required_role(&Request::Batch(vec![Call::Ping, reserve.clone()])), Role::Reserve);
    assert_eq!(required_role(&Request::Batch(vec![reserve, admin, Call::Ping])), Role::Admin);
}

#[test]
pub(crate) fn engine_errors_map_to_stable_codes() {
    let invalid = EngineError::InvalidId { kind: IdKind::Sku, id: String::new(), reason: "is empty" };
    let cases = [
        (invalid.clone(), ErrorCode::InvalidArgument),
        (EngineError::OutOfRange { field: "ttl_ms", value: 0, min: 1, max: 2 }, ErrorCode::InvalidArgument),
        (EngineError::NoLines, ErrorCode::InvalidArgument),
        (EngineError::TooMany { what: "lines", count: 101, limit: 100 }, ErrorCode::LimitExceeded),
        (EngineError::UnknownLocation("X".into()), ErrorCode::UnknownEntity),
        (EngineError::UnknownReservation("r".into()), ErrorCode::UnknownEntity),
        (EngineError::Conflict("r".into()), ErrorCode::Conflict),
        (
            EngineError::InvalidState {
                id: "r".into(),
                state: ReservationState::Released,
                operation: "commit",
                expected: "Held",
            },
            ErrorCode::InvalidState,
        ),
        (EngineError::ReservationExpired { id: "r".into(), expired_at: Timestamp(5) }, ErrorCode::Expired),
        (
            EngineError::VersionMismatch { sku: "S".into(), location: "L".into(), expected: 1, actual: 2 },
            ErrorCode::VersionMismatch,
        ),
        (
            EngineError::BelowReserved { sku: "S".into(), location: "L".into(), reserved: 5, ceiling: 3 },
            ErrorCode::Conflict,
        ),
        (EngineError::InvalidRow { row: 4, error: Box::new(invalid) }, ErrorCode::InvalidArgument),
        (
            EngineError::InvalidRow { row: 4, error: Box::new(EngineError::UnknownLocation("X".into())) },
            ErrorCode::UnknownEntity,
        ),
        (EngineError::ReservationCapacity { limit: 10 }, ErrorCode::CapacityExhausted),
    ];
    for (error, code) in cases {
        let wire = WireError::from(&error);
        assert_eq!(wire.code, code, "{error:?}");
        assert_eq!(wire.message, error.to_string());
        assert!(wire.short_lines.is_empty());
    }

    let short = EngineError::InsufficientStock(vec![
        EngineShortLine { sku: "A".into(), location: "L".into(), requested: 5, available: 2 },
        EngineShortLine { sku: "B".into(), location: "L".into(), requested: 1, available: 0 },
    ]);
    let wire = WireError::from(&short);
    assert_eq!(wire.code, ErrorCode::InsufficientStock);
    assert_eq!(
        wire.short_lines,
        vec![
            ShortLine { sku: "A".into(), location: "L".into(), requested: 5, available: 2 },
            ShortLine { sku: "B".into(), location: "L".into(), requested: 1, available: 0 },
        ]
    );
    let units = EngineError::InsufficientUnits {
        sku: "A".into(),
        location: "L".into(),
        bucket: "on hand",
        available: 1,
        requested: 3,
    };
    let wire = WireError::from(&units);
    assert_eq!(wire.code, ErrorCode::InsufficientStock);
    assert_eq!(wire.short_lines, vec![ShortLine { sku: "A".into(), location: "L".into(), requested: 3, available: 1 }]);

    // Through the durable layer: a refusal keeps its code; a failed log is NotDurable.
    assert_eq!(WireError::from(&ApplyError::Engine(EngineError::NoLines)).code, ErrorCode::InvalidArgument);
    let failed = ApplyError::Durability(WalError::Failed("disk full".into()));
    let wire = WireError::from(&failed);
    assert_eq!(wire.code, ErrorCode::NotDurable);
    assert!(wire.message.contains("disk full"));
}

#[test]
pub(crate) fn error_codes_are_numbered_once_and_travel_as_their_numbers() {
    for (index, code) in ErrorCode::ALL.iter().enumerate() {
        assert_eq!(code.number() as usize, index + 1, "{code:?} keeps its number");
        assert_eq!(ErrorCode::from_number(code.number()), Some(*code));
        assert_eq!(codec::encode(code), codec::encode(&code.number()));
        assert_eq!(codec::decode::<ErrorCode>(&codec::encode(code)).unwrap(), *code);
    }
    assert_eq!(ErrorCode::from_number(0), None);
    assert_eq!(ErrorCode::from_number(18), None);
    assert!(codec::decode::<ErrorCode>(&[0]).is_err());
}
