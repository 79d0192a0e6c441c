//! Round trips, byte layouts and damaged payloads of log records.

use super::*;
use crate::engine::ReserveLine;

/// The hand-written encoding of a reserve's cause is the codec's, byte for byte,
/// across every varint width and both option states.
#[test]
fn reserve_cause_is_encoded_as_the_codec_does() {
    let widths = [0u64, 1, 250, 251, 65_535, 65_536, u64::from(u32::MAX), u64::from(u32::MAX) + 1, u64::MAX];
    let long = "x".repeat(300);
    let mut checked = 0;
    for (i, &ttl_ms) in widths.iter().enumerate() {
        for promise_by in [None, Some(Timestamp(widths[(i + 3) % widths.len()]))] {
            for line_count in [0usize, 1, 3, 260] {
                let lines = (0..line_count)
                    .map(|n| ReserveLine {
                        sku: if n % 2 == 0 { format!("SKU-{n}") } else { long.clone() },
                        location: format!("L{n}"),
                        quantity: widths[(n + i) % widths.len()] as u32,
                    })
                    .collect();
                let id = if i % 2 == 0 { format!("order-{i}") } else { long.clone() };
                let operation = Operation::Reserve(ReserveRequest { id, lines, ttl_ms, promise_by });
                let cause = Cause::Operation(&operation);
                let mut fast = Vec::new();
                encode_cause(&cause, &mut fast);
                assert_eq!(fast, codec::encode(&cause), "ttl {ttl_ms}, promise {promise_by:?}, {line_count} lines");
                checked += 1;
            }
        }
    }
    assert_eq!(checked, widths.len() * 2 * 4);
}

fn reservation() -> Reservation {
    Reservation {
        id: Arc::from("order-1"),
        state: ReservationState::Committed,
        created_at: Timestamp(5),
        expires_at: None,
        first_expires_at: Timestamp(65),
        promise_by: Some(Timestamp(99)),
        requested: vec![RequestedLine { sku: SkuId(3), location: LocationId(1), quantity: 2 }],
        lines: vec![HeldLine {
            sku: SkuId(4),
            location: LocationId(2),
            kind: HoldKind::PreOrder,
            quantity: 2,
            held: 1,
            fulfilled: 1,
            released: 0,
            returned: 7,
        }],
        forget_at: Some(Timestamp(1_000)),
        applied_steps: vec![Box::from("step-a"), Box::from("step-b")],
    }
}

/// The reservation image as the layout lists it, field by field (the encoder
/// writes fixed-size parts in blocks: the bytes must be the same).
#[test]
fn reservation_image_is_laid_out_field_by_field() {
    let mut reservation = reservation();
    reservation.requested.push(RequestedLine { sku: SkuId(u32::MAX), location: LocationId(9), quantity: 1 << 20 });
    reservation.lines.push(HeldLine { kind: HoldKind::Backorder, returned: u32::MAX, ..reservation.lines[0] });
    for (expires_at, promise_by, forget_at) in
        [(None, None, None), (Some(Timestamp(1)), Some(Timestamp(u64::MAX)), None), (None, None, Some(Timestamp(3)))]
    {
        let r = Reservation { expires_at, promise_by, forget_at, ..reservation.clone() };
        let mut expected = Vec::new();
        put_str(&mut expected, &r.id);
        expected.push(state_code(r.state));
        put_u64(&mut expected, r.created_at.0);
        let option = |out: &mut Vec<u8>, value: Option<Timestamp>| {
            out.push(u8::from(value.is_some()));
            put_u64(out, value.map_or(0, |at| at.0));
        };
        option(&mut expected, r.expires_at);
        put_u64(&mut expected, r.first_expires_at.0);
        option(&mut expected, r.promise_by);
        option(&mut expected, r.forget_at);
        put_u32(&mut expected, r.requested.len() as u32);
        for line in &r.requested {
            for word in [line.sku.0, line.location.0, line.quantity] {
                put_u32(&mut expected, word);
            }
        }
        put_u32(&mut expected, r.lines.len() as u32);
        for line in &r.lines {
            put_u32(&mut expected, line.sku.0);
            put_u32(&mut expected, line.location.0);
            expected.push(hold_kind_code(line.kind));
            for word in [line.quantity, line.held, line.fulfilled, line.released, line.returned] {
                put_u32(&mut expected, word);
            }
        }
        put_u32(&mut expected, r.applied_steps.len() as u32);
        for step in &r.applied_steps {
            put_str(&mut expected, step);
        }
        let mut encoded = Vec::new();
        put_reservation(&mut encoded, &r);
        assert_eq!(encoded, expected);
    }
}

fn position() -> Position {
    Position {
        on_hand: 10,
        reserved: 2,
        safety_stock: 1,
        damaged: 3,
        quality_control: 4,
        backorder_limit: 5,
        version: u64::MAX - 1,
        incoming: Some(Box::new(vec![IncomingSupply {
            reference: Box::from("PO-7"),
            quantity: 9,
            expected_at: Timestamp(77),
        }])),
    }
}

fn encode(entry: &JournalEntry<'_>) -> Vec<u8> {
    let mut out = Vec::new();
    encode_entry(entry, &mut out);
    out
}

#[test]
fn every_kind_round_trips_through_both_decoders() {
    let (reservation, position, plain) = (reservation(), position(), Position::default());
    let operation = Operation::Reserve(ReserveRequest {
        id: "order-1".to_owned(),
        lines: vec![ReserveLine { sku: "SKU-1".to_owned(), location: "WH-1".to_owned(), quantity: 2 }],
        ttl_ms: 60_000,
        promise_by: None,
    });
    let entries = [
        JournalEntry::SkuInterned { sku: SkuId(7), name: "SKU-ü" },
        JournalEntry::Catalogue { operation: &operation },
        JournalEntry::Change {
            at: Timestamp(42),
            positions: vec![
                PositionImage { sku: SkuId(1), location: LocationId(2), position: &position },
                PositionImage { sku: SkuId(3), location: LocationId(0), position: &plain },
            ],
            reservation: Some(ReservationImage::Present(&reservation)),
            cause: Cause::Operation(&operation),
        },
        JournalEntry::Change {
            at: Timestamp(43),
            positions: vec![],
            reservation: Some(ReservationImage::Forgotten { id: "order-1" }),
            cause: Cause::Forgotten { id: "order-1" },
        },
        JournalEntry::Change {
            at: Timestamp(44),
            positions: vec![],
            reservation: None,
            cause: Cause::BulkLoadPart { rows: 3 },
        },
    ];
    for entry in &entries {
        let payload = encode(entry);
        let whole = decode_entry(&payload).unwrap();
        assert_eq!(decode_replay(&payload).unwrap(), ReplayEntry::from(whole.clone()));
        match (entry, whole) {
            (JournalEntry::SkuInterned { name, .. }, LogEntry::SkuInterned { name: decoded, .. }) => {
                assert_eq!(*name, decoded)
            }
            (JournalEntry::Catalogue { .. }, LogEntry::Catalogue { operation: decoded }) => {
                assert_eq!(decoded, operation)
            }
            (
                JournalEntry::Change { at, positions, .. },
                LogEntry::Change { at: t, positions: p, reservation: r, .. },
            ) => {
                assert_eq!(*at, t);
                let expected: Vec<_> = positions.iter().map(|i| (i.sku, i.location, i.position.clone())).collect();
                let decoded: Vec<_> = p.into_iter().map(|i| (i.sku, i.location, i.position)).collect();
                assert_eq!(expected, decoded);
                if t == Timestamp(42) {
                    assert_eq!(r, Some(LoggedReservation::Present(reservation.clone())));
                }
            }
            (entry, decoded) => panic!("{entry:?} decoded as {decoded:?}"),
        }
    }
}

#[test]
fn damaged_payloads_are_errors_not_panics() {
    let (reservation, position) = (reservation(), position());
    let payload = encode(&JournalEntry::Change {
        at: Timestamp(1),
        positions: vec![PositionImage { sku: SkuId(1), location: LocationId(2), position: &position }],
        reservation: Some(ReservationImage::Present(&reservation)),
        cause: Cause::Expired { id: "order-1" },
    });
    for cut in 0..payload.len() {
        assert!(decode_entry(&payload[..cut]).is_err(), "cut at {cut}");
    }
    assert_eq!(decode_replay(&[9]).unwrap_err(), RecordError::BadTag { what: "record kind", tag: 9 });
    let mut interned = encode(&JournalEntry::SkuInterned { sku: SkuId(0), name: "A" });
    interned.push(0);
    assert_eq!(decode_replay(&interned).unwrap_err(), RecordError::TrailingBytes(1));
    let huge_count = [KIND_CHANGE, 0, 0, 0, 0, 0, 0, 0, 0, 255, 255, 255, 255];
    assert!(decode_replay(&huge_count).is_err());
}
