//! Reads: `ping`, `position`, `availability`, `channel`, `batch`, `reservation`.

use crate::args::{Session, When};
use crate::output::{emit, fields, utc, utc_or_dash, Align, Failure, Table};
use serde::Serialize;
use std::io::{self, Write};
use std::time::Instant;
use stockd::engine::{Availability, AvailabilityScope};
use stockd::protocol::{Call, Reply, Role, WirePosition, WireReservation};

#[derive(clap::Args)]
pub struct PositionArgs {
    pub sku: String,
    pub location: String,
}

/// Where availability is counted: exactly one of `--location` and `--channel`.
#[derive(clap::Args)]
#[group(required = true, multiple = false)]
pub struct ScopeArgs {
    /// At one location.
    #[arg(long, value_name = "LOCATION")]
    location: Option<String>,
    /// Across a channel's locations, less its buffer.
    #[arg(long, value_name = "CHANNEL")]
    channel: Option<String>,
}

/// What is counted: available to sell (default) or to promise by a date.
#[derive(clap::Args)]
pub struct MeasureArgs {
    /// Available to promise: to sell plus incoming supply due by --by (default: now).
    #[arg(long)]
    atp: bool,
    /// The promise date (implies --atp): ms since the epoch, RFC 3339, a date, or +15m, +2h, +7d from now.
    #[arg(long, value_name = "WHEN")]
    by: Option<When>,
}

#[derive(clap::Args)]
pub struct AvailabilityArgs {
    pub sku: String,
    #[command(flatten)]
    scope: ScopeArgs,
    #[command(flatten)]
    measure: MeasureArgs,
}

#[derive(clap::Args)]
pub struct ChannelArgs {
    pub sku: String,
    pub channel: String,
    /// Also each location of the channel.
    #[arg(long)]
    breakdown: bool,
}

#[derive(clap::Args)]
pub struct BatchArgs {
    #[command(flatten)]
    scope: ScopeArgs,
    #[command(flatten)]
    measure: MeasureArgs,
    /// The SKUs, answered in this order (any number: split to the server's limits).
    #[arg(required = true, value_name = "SKU")]
    skus: Vec<String>,
}

#[derive(clap::Args)]
pub struct ReservationArgs {
    pub id: String,
}

/// The scope and measure of an availability answer, as JSON shows them.
#[derive(Serialize)]
struct Counted {
    #[serde(skip_serializing_if = "Option::is_none")]
    location: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    channel: Option<String>,
    /// `ats` or `atp`.
    measure: &'static str,
    /// For `atp`: the promise date.
    #[serde(skip_serializing_if = "Option::is_none")]
    by_ms: Option<u64>,
}

impl Counted {
    fn new(scope: ScopeArgs, measure: &MeasureArgs) -> (Counted, AvailabilityScope, Availability) {
        let wire_scope = match (&scope.location, &scope.channel) {
            (Some(location), _) => AvailabilityScope::Location(location.clone()),
            (None, Some(channel)) => AvailabilityScope::Channel(channel.clone()),
            (None, None) => unreachable!("clap requires --location or --channel"),
        };
        let wire_measure = match (measure.atp, measure.by) {
            (_, Some(When(by))) => Availability::ToPromise(by),
            (true, None) => Availability::ToPromise(stockd::Timestamp::now()),
            (false, None) => Availability::ToSell,
        };
        let (name, by_ms) = match wire_measure {
            Availability::ToSell => ("ats", None),
            Availability::ToPromise(by) => ("atp", Some(by.millis())),
        };
        (Counted { location: scope.location, channel: scope.channel, measure: name, by_ms }, wire_scope, wire_measure)
    }

    fn scope_text(&self) -> String {
        match (&self.location, &self.channel) {
            (Some(location), _) => format!("location {location}"),
            (None, Some(channel)) => format!("channel {channel}"),
            (None, None) => String::new(),
        }
    }

    fn measure_text(&self) -> String {
        match self.by_ms {
            Some(by) => format!("atp by {}", utc(by)),
            None => "ats".to_owned(),
        }
    }
}

pub fn role_name(role: Role) -> &'static str {
    match role {
        Role::Read => "read",
        Role::Reserve => "reserve",
        Role::Admin => "admin",
    }
}

#[derive(Serialize)]
struct Pong {
    server: String,
    role: &'static str,
    round_trip_us: u64,
    server_time_ms: u64,
}

pub async fn ping(session: &Session) -> Result<bool, Failure> {
    let client = session.client().await?;
    let start = Instant::now();
    let reply = client.call(Call::Ping).await?;
    let round_trip = start.elapsed();
    let Reply::Pong { server_time_ms } = reply else {
        return Err(stockd::client::ClientError::Protocol("expected Pong".to_owned()).into());
    };
    let pong = Pong {
        server: client.server_addr().to_string(),
        role: role_name(client.role()),
        round_trip_us: u64::try_from(round_trip.as_micros()).unwrap_or(u64::MAX),
        server_time_ms,
    };
    emit(session.json(), &pong, |out| {
        fields(
            out,
            &[
                ("pong from", pong.server.clone()),
                ("round trip", format!("{:.3} ms", round_trip.as_secs_f64() * 1e3)),
                ("server time", utc(pong.server_time_ms)),
                ("role", pong.role.to_owned()),
            ],
        )
    })?;
    Ok(true)
}

pub async fn position(session: &Session, args: PositionArgs) -> Result<bool, Failure> {
    let position = session.client().await?.position(&args.sku, &args.location).await?;
    emit(session.json(), &position, |out| write_position(out, &position))?;
    Ok(true)
}

/// A position as a one-row table, then its incoming supply if any.
pub fn write_position(out: &mut dyn Write, position: &WirePosition) -> io::Result<()> {
    let mut table = Table::new(&[
        ("sku", Align::Left),
        ("location", Align::Left),
        ("on_hand", Align::Right),
        ("reserved", Align::Right),
        ("safety", Align::Right),
        ("damaged", Align::Right),
        ("qc", Align::Right),
        ("backorder", Align::Right),
        ("ats", Align::Right),
        ("version", Align::Right),
    ]);
    let p = position;
    table.row(vec![
        p.sku.clone(),
        p.location.clone(),
        p.on_hand.to_string(),
        p.reserved.to_string(),
        p.safety_stock.to_string(),
        p.damaged.to_string(),
        p.quality_control.to_string(),
        p.backorder_limit.to_string(),
        p.available_to_sell.to_string(),
        p.version.to_string(),
    ]);
    table.write(out)?;
    if !p.incoming.is_empty() {
        writeln!(out)?;
        let mut incoming =
            Table::new(&[("incoming", Align::Left), ("quantity", Align::Right), ("expected (UTC)", Align::Left)]);
        for supply in &p.incoming {
            incoming.row(vec![supply.reference.clone(), supply.quantity.to_string(), utc(supply.expected_at.millis())]);
        }
        incoming.write(out)?;
    }
    Ok(())
}

#[derive(Serialize)]
struct AvailabilityOut {
    sku: String,
    #[serde(flatten)]
    counted: Counted,
    available: u64,
}

pub async fn availability(session: &Session, args: AvailabilityArgs) -> Result<bool, Failure> {
    let (counted, scope, measure) = Counted::new(args.scope, &args.measure);
    let available = session.client().await?.availability(&args.sku, scope, measure).await?;
    let result = AvailabilityOut { sku: args.sku, counted, available };
    emit(session.json(), &result, |out| {
        let mut table = Table::new(&[
            ("sku", Align::Left),
            ("scope", Align::Left),
            ("measure", Align::Left),
            ("available", Align::Right),
        ]);
        table.row(vec![
            result.sku.clone(),
            result.counted.scope_text(),
            result.counted.measure_text(),
            result.available.to_string(),
        ]);
        table.write(out)
    })?;
    Ok(true)
}

#[derive(Serialize)]
struct ChannelOut {
    sku: String,
    channel: String,
    #[serde(flatten)]
    availability: stockd::protocol::WireChannelAvailability,
}

pub async fn channel(session: &Session, args: ChannelArgs) -> Result<bool, Failure> {
    let availability = session.client().await?.channel_availability(&args.sku, &args.channel, args.breakdown).await?;
    let result = ChannelOut { sku: args.sku, channel: args.channel, availability };
    emit(session.json(), &result, |out| {
        let mut table = Table::new(&[
            ("sku", Align::Left),
            ("channel", Align::Left),
            ("available", Align::Right),
            ("summed", Align::Right),
            ("buffer", Align::Right),
        ]);
        let a = &result.availability;
        table.row(vec![
            result.sku.clone(),
            result.channel.clone(),
            a.available.to_string(),
            a.summed.to_string(),
            (a.summed - a.available.min(a.summed)).to_string(),
        ]);
        table.write(out)?;
        if args.breakdown {
            writeln!(out)?;
            let mut locations = Table::new(&[("location", Align::Left), ("available", Align::Right)]);
            for location in &a.locations {
                locations.row(vec![location.location.clone(), location.available.to_string()]);
            }
            locations.write(out)?;
        }
        Ok(())
    })?;
    Ok(true)
}

#[derive(Serialize)]
struct SkuAvailable {
    sku: String,
    available: u64,
}

#[derive(Serialize)]
struct BatchOut {
    #[serde(flatten)]
    counted: Counted,
    skus: Vec<SkuAvailable>,
}

pub async fn batch(session: &Session, args: BatchArgs) -> Result<bool, Failure> {
    let (counted, scope, measure) = Counted::new(args.scope, &args.measure);
    let available = session.client().await?.availability_batch(args.skus.clone(), scope, measure).await?;
    let skus = args.skus.into_iter().zip(available).map(|(sku, available)| SkuAvailable { sku, available }).collect();
    let result = BatchOut { counted, skus };
    emit(session.json(), &result, |out| {
        writeln!(out, "{}, {}", result.counted.scope_text(), result.counted.measure_text())?;
        let mut table = Table::new(&[("sku", Align::Left), ("available", Align::Right)]);
        for sku in &result.skus {
            table.row(vec![sku.sku.clone(), sku.available.to_string()]);
        }
        table.write(out)
    })?;
    Ok(true)
}

pub async fn reservation(session: &Session, args: ReservationArgs) -> Result<bool, Failure> {
    let reservation = session.client().await?.reservation(&args.id).await?;
    emit(session.json(), &reservation, |out| write_reservation(out, &reservation))?;
    Ok(true)
}

/// A reservation: its state and times, then its held lines.
pub fn write_reservation(out: &mut dyn Write, r: &WireReservation) -> io::Result<()> {
    let steps = if r.applied_steps.is_empty() { "-".to_owned() } else { r.applied_steps.join(", ") };
    fields(
        out,
        &[
            ("reservation", r.id.clone()),
            ("state", format!("{:?}", r.state)),
            ("created", utc(r.created_at.millis())),
            ("expires", utc_or_dash(r.expires_at.map(|t| t.millis()))),
            ("promise by", utc_or_dash(r.promise_by.map(|t| t.millis()))),
            ("forgotten at", utc_or_dash(r.forget_at.map(|t| t.millis()))),
            ("steps", steps),
        ],
    )?;
    writeln!(out)?;
    let mut table = Table::new(&[
        ("sku", Align::Left),
        ("location", Align::Left),
        ("kind", Align::Left),
        ("quantity", Align::Right),
        ("held", Align::Right),
        ("fulfilled", Align::Right),
        ("released", Align::Right),
        ("returned", Align::Right),
    ]);
    for line in &r.lines {
        table.row(vec![
            line.sku.clone(),
            line.location.clone(),
            format!("{:?}", line.kind),
            line.quantity.to_string(),
            line.held.to_string(),
            line.fulfilled.to_string(),
            line.released.to_string(),
            line.returned.to_string(),
        ]);
    }
    table.write(out)
}
