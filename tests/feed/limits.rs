//! Limits and typed errors of subscriptions.

use super::*;

#[test]
fn limits_and_typed_errors() {
    let engine = engine();
    let hub =
        FeedHub::manual(engine.clone(), FeedConfig { max_subscribers: 2, max_skus_per_subscription: 3, ..config() });
    assert_eq!(hub.subscribe(spec(&[TSHIRT], vec![])).unwrap_err(), FeedError::NoScopes);
    assert_eq!(
        hub.subscribe(spec(&["A", "B", "C", "D"], vec![web()])).unwrap_err(),
        FeedError::TooManySkus { count: 4, limit: 3 }
    );
    let many = vec![web(); MAX_SCOPES_PER_SUBSCRIPTION + 1];
    assert!(matches!(hub.subscribe(spec(&[TSHIRT], many)).unwrap_err(), FeedError::TooManyScopes { .. }));
    assert_eq!(
        hub.subscribe(spec(&[TSHIRT], vec![FeedScope::Channel("nope".to_owned())])).unwrap_err(),
        FeedError::UnknownChannel("nope".to_owned())
    );
    assert!(matches!(
        hub.subscribe(spec(&["has space"], vec![web()])).unwrap_err(),
        FeedError::InvalidSku { sku, .. } if sku == "has space"
    ));
    let first = hub.subscribe(spec(&[TSHIRT], vec![web()])).expect("first");
    let second = hub.subscribe(spec(&[TSHIRT], vec![web()])).expect("second");
    assert_ne!(first.id(), second.id());
    assert_eq!(hub.subscribe(spec(&[TSHIRT], vec![web()])).unwrap_err(), FeedError::TooManySubscribers { limit: 2 });
    drop(second);
    let third = hub.subscribe(spec(&[TSHIRT], vec![web()])).expect("a slot was freed");
    hub.stop();
    assert_eq!(hub.subscribe(spec(&[TSHIRT], vec![web()])).unwrap_err(), FeedError::Stopped);
    drop((first, third));
}
