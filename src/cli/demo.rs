//! `stockd demo`: the generated demo, printed for a newcomer.

use std::process::ExitCode;
use stockd::demo::{self, DemoSettings};

#[derive(clap::Args)]
pub struct DemoArgs {
    /// SKUs in the generated catalogue.
    #[arg(long, default_value_t = DemoSettings::default().skus)]
    skus: u32,
    /// Locations (3 warehouses, the rest stores).
    #[arg(long, default_value_t = DemoSettings::default().locations, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    locations: u32,
    /// Threads fighting over the flash-sale SKU.
    #[arg(long, default_value_t = DemoSettings::default().shoppers as u16, value_parser = clap::value_parser!(u16).range(1..=256))]
    shoppers: u16,
    /// Units of the flash-sale SKU on sale.
    #[arg(long, default_value_t = DemoSettings::default().flash_sale_units)]
    flash_sale_units: u32,
    /// Seed of the generated catalogue.
    #[arg(long, default_value_t = DemoSettings::default().seed)]
    seed: u64,
}

impl Default for DemoArgs {
    fn default() -> Self {
        let settings = DemoSettings::default();
        DemoArgs {
            skus: settings.skus,
            locations: settings.locations,
            shoppers: settings.shoppers as u16,
            flash_sale_units: settings.flash_sale_units,
            seed: settings.seed,
        }
    }
}

pub fn run(args: DemoArgs) -> ExitCode {
    let settings = DemoSettings {
        skus: args.skus,
        locations: args.locations,
        seed: args.seed,
        shoppers: usize::from(args.shoppers),
        flash_sale_units: args.flash_sale_units,
    };
    println!(
        "stockd demo: {} SKUs x {} locations, {} shoppers in a flash sale of {} units",
        settings.skus, settings.locations, settings.shoppers, settings.flash_sale_units
    );
    let report = match demo::run(&settings) {
        Ok(report) => report,
        Err(error) => {
            eprintln!("demo failed: {error}");
            return ExitCode::FAILURE;
        }
    };
    println!("bulk load      {} positions in {:.0?}", report.positions_loaded, report.load_time);
    println!("listing page   (channel {}, first 6 of 49):", demo::DEMO_CHANNEL);
    for (sku, available) in &report.page_availability {
        println!("                 {sku:<16} {available:>6}");
    }
    println!(
        "flash sale     {} sold, {} refused, {} left, in {:.0?} ({:.0} reserves/s)",
        report.flash_sale_sold,
        report.flash_sale_refused,
        report.flash_sale_left,
        report.flash_sale_time,
        report.flash_sale_sold as f64 / report.flash_sale_time.as_secs_f64().max(1e-9)
    );
    println!(
        "checkouts      {} fulfilled; {} held carts (flash sale and abandoned checkouts) expired by TTL",
        report.checkouts_fulfilled, report.expired_by_ttl
    );
    let stats = &report.stats;
    println!(
        "engine         {} SKUs, {} positions, {} reservations (held {}, committed {}, fulfilled {}, expired {})",
        stats.skus,
        stats.positions,
        stats.reservations_remembered,
        stats.reservations_held,
        stats.reservations_committed,
        stats.reservations_fulfilled,
        stats.reservations_expired
    );
    let oversold = report.flash_sale_sold != u64::from(settings.flash_sale_units);
    println!(
        "verify         {} positions, {} reservations checked: {}",
        report.verify.positions_checked,
        report.verify.reservations_checked,
        if report.verify.is_clean() {
            "all invariants hold".to_owned()
        } else {
            format!("{:?}", report.verify.findings)
        }
    );
    if oversold || !report.verify.is_clean() {
        eprintln!("INVARIANT BROKEN: sold {} of {} units", report.flash_sale_sold, settings.flash_sale_units);
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
