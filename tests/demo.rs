//! The newcomer's first command runs real work: a bulk load, a flash sale on real
//! threads, checkouts and expiry, and every invariant checked at the end.

use stockd::demo::{run, DemoSettings};

#[test]
fn the_demo_sells_exactly_the_flash_sale_stock_and_keeps_every_invariant() {
    let settings = DemoSettings { skus: 500, locations: 8, seed: 3, shoppers: 4, flash_sale_units: 801 };
    let report = run(&settings).expect("the demo runs");
    assert_eq!(report.positions_loaded, 500 * 8 + 8);
    assert_eq!(report.flash_sale_sold, 801, "every unit sold, none twice");
    assert_eq!(report.flash_sale_left, 0);
    assert!(report.flash_sale_refused >= 8, "each shopper hears 'sold out' at every location at least once");
    assert!(report.checkouts_fulfilled > 0);
    assert_eq!(report.stats.reservations_held, 0, "abandoned carts and flash-sale holds expired by TTL");
    assert!(report.expired_by_ttl >= 801);
    assert!(report.verify.is_clean(), "{:?}", report.verify.findings);
}
