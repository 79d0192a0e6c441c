//! Batches: per-call refusals kept in place, chunking to the server's limits, bulk
//! loads split to fit frames.

use super::*;

#[tokio::test]
async fn a_batch_keeps_per_call_refusals_in_place() {
    bounded(async {
        let server = start(plain());
        let client = Client::connect(server.client_config()).await.unwrap();
        let replies = client
            .batch(vec![
                Call::Ping,
                Call::Reservation { id: "missing".into() },
                Call::Position { sku: "S".into(), location: "L".into() },
            ])
            .await
            .unwrap();
        assert_eq!(replies.len(), 3);
        assert!(matches!(replies[0], Reply::Pong { .. }));
        assert!(matches!(&replies[1], Reply::Error(e) if e.code == ErrorCode::UnknownEntity));
        assert!(matches!(&replies[2], Reply::Position(p) if p.sku == "S"));
        assert!(client.batch(Vec::new()).await.unwrap().is_empty());
        assert_eq!(server.requests().len(), 1);
    })
    .await;
}

#[tokio::test]
async fn batches_are_chunked_to_the_servers_limits() {
    bounded(async {
        let limits = Limits { max_batch_calls: 3, max_frame_bytes: 400, ..Limits::default() };
        let server = TestServer::start(Role::Read, limits, plain());
        let client = Client::connect(server.client_config()).await.unwrap();
        let calls = |count: usize, width: usize| -> Vec<Call> {
            (0..count).map(|i| Call::Position { sku: format!("{i:0width$}"), location: "L".into() }).collect()
        };
        // Longer than max_batch_calls: refused by `batch`, split by `batch_chunked`.
        let error = client.batch(calls(10, 4)).await.unwrap_err();
        assert_eq!(error.code(), Some(ErrorCode::LimitExceeded));
        let replies = client.batch_chunked(calls(10, 4)).await.unwrap();
        let skus: Vec<String> = replies
            .iter()
            .map(|r| match r {
                Reply::Position(p) => p.sku.clone(),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(skus, (0..10).map(|i| format!("{i:04}")).collect::<Vec<_>>());
        let sizes: Vec<usize> = server
            .requests()
            .iter()
            .map(|s| match &s.request {
                Request::Batch(calls) => calls.len(),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(sizes, vec![3, 3, 3, 1]);

        // Three calls of ~150 bytes do not fit 400 bytes: halved until they do.
        let before = server.requests().len();
        let replies = client.batch_chunked(calls(7, 150)).await.unwrap();
        assert_eq!(replies.len(), 7);
        for (i, reply) in replies.iter().enumerate() {
            assert!(matches!(reply, Reply::Position(p) if p.sku == format!("{i:0150}")));
        }
        let later = &server.requests()[before..];
        assert!(later.len() > 3);
        assert!(later.iter().all(|s| s.bytes <= 400));
        // A single call larger than a frame cannot be split.
        let error = client.batch_chunked(calls(1, 500)).await.unwrap_err();
        assert_eq!(error.code(), Some(ErrorCode::LimitExceeded));
        let error = client.position(&"x".repeat(500), "L").await.unwrap_err();
        assert!(matches!(error, ClientError::LimitExceeded(_)), "{error}");
        client.ping().await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn availability_batch_splits_over_max_batch_skus() {
    bounded(async {
        let limits = Limits { max_batch_skus: 4, ..Limits::default() };
        let server = TestServer::start(Role::Read, limits, plain());
        let client = Client::connect(server.client_config()).await.unwrap();
        let skus: Vec<String> = (0..10).map(|i| "s".repeat(i + 1)).collect();
        let scope = crate::engine::AvailabilityScope::Channel("web".into());
        let measure = crate::engine::Availability::ToSell;
        let numbers = client.availability_batch(skus.clone(), scope.clone(), measure).await.unwrap();
        assert_eq!(numbers, (1..=10).collect::<Vec<u64>>());
        assert_eq!(server.requests().len(), 1, "one batch of three calls");
        let numbers = client.availability_batch(skus[..3].to_vec(), scope, measure).await.unwrap();
        assert_eq!(numbers, vec![1, 2, 3]);
    })
    .await;
}

#[tokio::test]
async fn a_bulk_load_is_split_to_fit_frames() {
    bounded(async {
        let limits = Limits { max_frame_bytes: 1024, ..Limits::default() };
        let server = TestServer::start(Role::Admin, limits, plain());
        let client = Client::connect(server.client_config()).await.unwrap();
        let rows: Vec<PositionRow> = (0..300)
            .map(|i| PositionRow {
                sku: format!("SKU-{i:05}"),
                location: "DC-1".into(),
                on_hand: i,
                safety_stock: 0,
                damaged: 0,
                quality_control: 0,
                backorder_limit: 0,
            })
            .collect();
        let outcome = client.bulk_load(rows.clone()).await.unwrap();
        let loads: Vec<Seen> = server.requests();
        let parts: Vec<&Vec<PositionRow>> = loads
            .iter()
            .map(|s| match &s.request {
                Request::Call(Call::Apply(Operation::BulkLoad(rows))) => rows,
                other => panic!("{other:?}"),
            })
            .collect();
        assert!(parts.len() > 1);
        assert!(loads.iter().all(|s| s.bytes <= 1024));
        assert_eq!(parts.iter().flat_map(|p| p.iter()).cloned().collect::<Vec<_>>(), rows);
        assert_eq!(outcome.inserted + outcome.rejected, 300);
        assert_eq!(outcome.rejected, parts.len() as u64);
        // Each part's row 0 was rejected: numbered in the whole load.
        let mut first = 0;
        for (rejection, part) in outcome.rejections.iter().zip(&parts) {
            assert_eq!(rejection.row, first);
            first += part.len() as u64;
        }
    })
    .await;
}
