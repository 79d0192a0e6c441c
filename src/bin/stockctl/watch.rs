//! `watch`: the availability change feed, one line per event as it comes (or one
//! JSON object per line with `--json`), until Ctrl-C, `--count` events or `--for`.

use crate::args::Session;
use crate::output::{utc, Failure};
use std::io::{self, Write};
use std::time::Duration;
use stockd::model::Timestamp;
use stockd::protocol::{WireEventKind, WireFeedEvent, WireSubscription};

#[derive(clap::Args)]
pub struct WatchArgs {
    /// A SKU to watch (repeat for more); none: every SKU.
    #[arg(long = "sku", value_name = "SKU")]
    pub skus: Vec<String>,
    /// A channel whose availability to watch (repeat for more).
    #[arg(long = "channel", value_name = "CHANNEL", required_unless_present = "locations")]
    pub channels: Vec<String>,
    /// Also watch each position (SKU at a location) on its own.
    #[arg(long)]
    pub locations: bool,
    /// Report LowStock when a value falls below this.
    #[arg(long, value_name = "UNITS")]
    pub low_below: Option<u32>,
    /// Report every change, not only out of stock / back in stock / low stock.
    #[arg(long)]
    pub every_change: bool,
    /// Stop after this many events.
    #[arg(long)]
    pub count: Option<u64>,
    /// Stop after this many seconds.
    #[arg(long = "for", value_name = "SECONDS")]
    pub for_secs: Option<u64>,
}

pub async fn watch(session: &Session, args: WatchArgs) -> Result<bool, Failure> {
    let subscription = WireSubscription {
        skus: args.skus,
        channels: args.channels,
        locations: args.locations,
        low_stock_below: args.low_below,
        every_change: args.every_change,
    };
    let client = session.client().await?;
    let mut feed = client.subscribe(subscription).await?;
    let deadline = args.for_secs.map(|secs| tokio::time::Instant::now() + Duration::from_secs(secs));
    let mut seen = 0u64;
    let json = session.json();
    loop {
        if args.count.is_some_and(|count| seen >= count) {
            break;
        }
        let next = feed.next();
        let event = match deadline {
            Some(deadline) => match tokio::time::timeout_at(deadline, next).await {
                Ok(event) => event?,
                Err(_elapsed) => break,
            },
            None => tokio::select! {
                event = next => event?,
                _ = tokio::signal::ctrl_c() => break,
            },
        };
        let Some(event) = event else { break };
        seen += 1;
        print_event(&event, json)?;
    }
    feed.close().await;
    Ok(true)
}

fn print_event(event: &WireFeedEvent, json: bool) -> Result<(), Failure> {
    let mut out = io::stdout().lock();
    if json {
        serde_json::to_writer(&mut out, event).map_err(io::Error::from)?;
        writeln!(out)?;
    } else if event.sku.is_empty() {
        writeln!(
            out,
            "{}  resync: changes may have been missed; query what you need now",
            utc(Timestamp::now().millis())
        )?;
    } else {
        let kind = match event.kind {
            WireEventKind::Snapshot => "now",
            WireEventKind::OutOfStock => "OUT OF STOCK",
            WireEventKind::BackInStock => "back in stock",
            WireEventKind::LowStock => "low stock",
            WireEventKind::Changed => "changed",
        };
        let scope = if event.scope_is_channel { "channel" } else { "location" };
        let gap = if event.gap { "  (after a gap)" } else { "" };
        writeln!(
            out,
            "{}  {}  {} {}  {}  {}{gap}",
            utc(Timestamp::now().millis()),
            event.sku,
            scope,
            event.scope,
            kind,
            event.available
        )?;
    }
    out.flush()?;
    Ok(())
}
