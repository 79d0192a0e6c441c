//! Retries: transient refusals retried with the same reservation, bounded, and never
//! for unsafe writes.

use super::*;

#[tokio::test]
async fn a_transient_refusal_is_retried_with_the_same_reservation() {
    bounded(async {
        let attempts = Arc::new(AtomicUsize::new(0));
        let counter = attempts.clone();
        let server = start(Arc::new(move |request: &Request, _| match request {
            Request::Call(Call::Apply(Operation::Reserve(reserve))) => {
                match counter.fetch_add(1, Ordering::SeqCst) {
                    // The request as a whole refused: nothing ran.
                    0 => Action::Respond(Response::Error(WireError::new(ErrorCode::Overloaded, "busy"))),
                    // The call ran out of time.
                    1 => Action::Respond(Response::Reply(Reply::Error(WireError::new(
                        ErrorCode::DeadlineExceeded,
                        "slow log",
                    )))),
                    _ => Action::Respond(reserved(reserve, true)),
                }
            }
            Request::Call(call) => Action::Respond(Response::Reply(answer(call))),
            _ => Action::Ignore,
        }));
        let client = Client::connect(server.client_config()).await.unwrap();
        let outcome = client.reserve(reserve_request("cart-1")).await.unwrap();
        assert_eq!(outcome.id, "cart-1");
        assert!(outcome.replayed);
        let seen = reserves(&server);
        assert_eq!(seen.len(), 3);
        // The same operation every time (same reservation id), under new request ids.
        assert!(seen.iter().all(|(_, request)| *request == reserve_request("cart-1")));
        let mut ids: Vec<u64> = seen.iter().map(|(id, _)| *id).collect();
        ids.dedup();
        assert_eq!(ids.len(), 3);
    })
    .await;
}

#[tokio::test]
async fn retries_are_bounded() {
    bounded(async {
        let server = start(Arc::new(|_: &Request, _| {
            Action::Respond(Response::Error(WireError::new(ErrorCode::Overloaded, "always busy")))
        }));
        let mut config = server.client_config();
        config.retries = 2;
        let client = Client::connect(config).await.unwrap();
        let error = client.commit("cart-1").await.unwrap_err();
        assert_eq!(error.code(), Some(ErrorCode::Overloaded));
        assert_eq!(server.requests().len(), 3);
    })
    .await;
}

#[tokio::test]
async fn unsafe_writes_are_never_retried() {
    bounded(async {
        let server = start(Arc::new(|request: &Request, _| match request {
            Request::Call(Call::Apply(Operation::Adjust { .. })) => {
                Action::Respond(Response::Error(WireError::new(ErrorCode::Overloaded, "busy")))
            }
            Request::Call(Call::Apply(Operation::SetOnHand { .. })) => {
                Action::Respond(Response::Reply(Reply::Error(WireError::new(ErrorCode::DeadlineExceeded, "slow"))))
            }
            _ => Action::Ignore,
        }));
        let client = Client::connect(server.client_config()).await.unwrap();
        let error = client.adjust("S", "L", -1, AdjustReason::Lost, "").await.unwrap_err();
        assert_eq!(error.code(), Some(ErrorCode::Overloaded));
        let error = client.set_on_hand("S", "L", 5, None).await.unwrap_err();
        assert_eq!(error.code(), Some(ErrorCode::DeadlineExceeded));
        assert_eq!(server.requests().len(), 2);
        // With a version it is a compare-and-set, and retried.
        let error = client.set_on_hand("S", "L", 5, Some(1)).await.unwrap_err();
        assert_eq!(error.code(), Some(ErrorCode::DeadlineExceeded));
        assert_eq!(server.requests().len(), 2 + 1 + client.config().retries as usize);
    })
    .await;
}
