//! The catalogue and operator calls: `location add`, `channel-define`, `verify`, `stats`, `snapshot take`.

use crate::args::Session;
use crate::output::{emit, fields, utc, Failure};
use serde::Serialize;
use stockd::model::{ChannelBuffer, ChannelSpec, Coordinates, LocationFlags, LocationKind, LocationSpec};
use stockd::protocol::{Applied, WireFinding};
use stockd::Operation;

#[derive(clap::Subcommand)]
pub enum LocationCommand {
    /// Create a location (or replace the one of that name), so that stock can be set there.
    Add(LocationArgs),
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum KindArg {
    Warehouse,
    DistributionCentre,
    Store,
    DarkStore,
    DropShipVendor,
}

impl From<KindArg> for LocationKind {
    fn from(kind: KindArg) -> LocationKind {
        match kind {
            KindArg::Warehouse => LocationKind::Warehouse,
            KindArg::DistributionCentre => LocationKind::DistributionCentre,
            KindArg::Store => LocationKind::Store,
            KindArg::DarkStore => LocationKind::DarkStore,
            KindArg::DropShipVendor => LocationKind::DropShipVendor,
        }
    }
}

#[derive(clap::Args)]
pub struct LocationArgs {
    /// The location's name (its id in every other call).
    pub name: String,
    #[arg(long, value_enum)]
    pub kind: KindArg,
    /// Latitude in degrees (-90 to 90).
    #[arg(long, allow_negative_numbers = true, value_name = "DEGREES")]
    pub lat: f64,
    /// Longitude in degrees (-180 to 180).
    #[arg(long, allow_negative_numbers = true, value_name = "DEGREES")]
    pub lon: f64,
    /// It ships to customers.
    #[arg(long)]
    pub ships: bool,
    /// It serves click & collect.
    #[arg(long)]
    pub pickup: bool,
    /// Sourcing preference: lower is preferred.
    #[arg(long, default_value_t = 100)]
    pub priority: u16,
}

#[derive(clap::Args)]
pub struct ChannelDefineArgs {
    /// The channel's name ("web", "app", "marketplace").
    pub name: String,
    /// The locations whose stock the channel sees, comma-separated.
    #[arg(long, value_delimiter = ',', required = true)]
    pub locations: Vec<String>,
    /// Locations taken out of the channel even if listed, comma-separated.
    #[arg(long, value_delimiter = ',')]
    pub excluded: Vec<String>,
    /// Units held back from the channel's summed availability.
    #[arg(long, conflicts_with = "buffer_percent")]
    pub buffer_units: Option<u32>,
    /// A share (0-100) of the summed availability held back, rounded in the buffer's favour.
    #[arg(long)]
    pub buffer_percent: Option<u8>,
}

#[derive(Serialize)]
struct ChannelOut<'a> {
    channel: &'a str,
    locations: &'a [String],
    excluded: &'a [String],
    buffer: String,
}

pub async fn channel_define(session: &Session, args: ChannelDefineArgs) -> Result<bool, Failure> {
    let buffer = match (args.buffer_units, args.buffer_percent) {
        (Some(units), _) => ChannelBuffer::Units(units),
        (None, Some(percent)) => ChannelBuffer::Percent(percent),
        (None, None) => ChannelBuffer::None,
    };
    let shown_buffer = match buffer {
        ChannelBuffer::None => "none".to_owned(),
        ChannelBuffer::Units(units) => format!("{units} units"),
        ChannelBuffer::Percent(percent) => format!("{percent} %"),
    };
    let spec = ChannelSpec { name: args.name, locations: args.locations, excluded: args.excluded, buffer };
    session.client().await?.apply(Operation::UpsertChannel(spec.clone())).await?;
    let result =
        ChannelOut { channel: &spec.name, locations: &spec.locations, excluded: &spec.excluded, buffer: shown_buffer };
    emit(session.json(), &result, |out| {
        fields(
            out,
            &[
                ("channel", format!("{} (created or replaced)", result.channel)),
                ("locations", result.locations.join(", ")),
                ("excluded", if result.excluded.is_empty() { "-".to_owned() } else { result.excluded.join(", ") }),
                ("buffer", result.buffer.clone()),
            ],
        )
    })?;
    Ok(true)
}

#[derive(clap::Subcommand)]
pub enum SnapshotCommand {
    /// Take a snapshot now (the server keeps serving meanwhile).
    Take,
}

#[derive(Serialize)]
struct LocationOut<'a> {
    location: &'a str,
    kind: &'a LocationKind,
    latitude: f64,
    longitude: f64,
    ships: bool,
    pickup: bool,
    priority: u16,
}

pub async fn location(session: &Session, command: LocationCommand) -> Result<bool, Failure> {
    let LocationCommand::Add(args) = command;
    let spec = LocationSpec {
        name: args.name,
        kind: args.kind.into(),
        coordinates: Coordinates { latitude: args.lat, longitude: args.lon },
        flags: LocationFlags { ships: args.ships, pickup: args.pickup },
        priority: args.priority,
    };
    let applied = session.client().await?.apply(Operation::UpsertLocations(vec![spec.clone()])).await?;
    if !matches!(applied, Applied::Locations(_)) {
        return Err(stockd::client::ClientError::Protocol("expected Applied::Locations".to_owned()).into());
    }
    let result = LocationOut {
        location: &spec.name,
        kind: &spec.kind,
        latitude: spec.coordinates.latitude,
        longitude: spec.coordinates.longitude,
        ships: spec.flags.ships,
        pickup: spec.flags.pickup,
        priority: spec.priority,
    };
    emit(session.json(), &result, |out| {
        let yes_no = |flag: bool| if flag { "yes" } else { "no" }.to_owned();
        fields(
            out,
            &[
                ("location", format!("{} (created or replaced)", result.location)),
                ("kind", format!("{:?}", result.kind)),
                ("coordinates", format!("{}, {}", result.latitude, result.longitude)),
                ("ships", yes_no(result.ships)),
                ("pickup", yes_no(result.pickup)),
                ("priority", result.priority.to_string()),
            ],
        )
    })?;
    Ok(true)
}

/// Verify findings listed in the table output.
const SHOWN_FINDINGS: usize = 20;

pub async fn verify(session: &Session) -> Result<bool, Failure> {
    let report = session.client().await?.verify().await?;
    emit(session.json(), &report, |out| {
        fields(
            out,
            &[
                ("positions checked", report.positions_checked.to_string()),
                ("reservations checked", report.reservations_checked.to_string()),
                ("findings", report.findings_total.to_string()),
            ],
        )?;
        for finding in report.findings.iter().take(SHOWN_FINDINGS) {
            let text = match finding {
                WireFinding::ReservedDrift { sku, location, reserved, held_by_lines } => {
                    format!("{sku} at {location}: reserved {reserved}, but reservations hold {held_by_lines}")
                }
                WireFinding::Oversold { sku, location, reserved, ceiling } => {
                    format!("{sku} at {location}: reserved {reserved} above its ceiling {ceiling}")
                }
                WireFinding::BrokenReservation { id, reason } => format!("reservation {id}: {reason}"),
            };
            writeln!(out, "  {text}")?;
        }
        if report.findings_total > SHOWN_FINDINGS as u64 {
            writeln!(out, "  ... and {} more", report.findings_total - SHOWN_FINDINGS as u64)?;
        }
        Ok(())
    })?;
    if report.findings_total > 0 {
        eprintln!("verify found {} broken invariants", report.findings_total);
        return Ok(false);
    }
    Ok(true)
}

pub async fn stats(session: &Session) -> Result<bool, Failure> {
    let stats = session.client().await?.stats().await?;
    emit(session.json(), &stats, |out| {
        fields(
            out,
            &[
                ("skus", stats.skus.to_string()),
                ("positions", stats.positions.to_string()),
                ("locations", stats.locations.to_string()),
                ("channels", stats.channels.to_string()),
                ("kits", stats.kits.to_string()),
                ("reservations held", stats.reservations_held.to_string()),
                ("committed", stats.reservations_committed.to_string()),
                ("fulfilled", stats.reservations_fulfilled.to_string()),
                ("released", stats.reservations_released.to_string()),
                ("expired", stats.reservations_expired.to_string()),
                ("remembered", stats.reservations_remembered.to_string()),
            ],
        )
    })?;
    Ok(true)
}

pub async fn snapshot(session: &Session, command: SnapshotCommand) -> Result<bool, Failure> {
    let SnapshotCommand::Take = command;
    let snapshot = session.client().await?.take_snapshot().await?;
    emit(session.json(), &snapshot, |out| {
        fields(
            out,
            &[
                ("snapshot", snapshot.path.clone()),
                ("covers LSN", snapshot.covers_lsn.to_string()),
                ("complete LSN", snapshot.complete_lsn.to_string()),
                ("created", utc(snapshot.created_at_ms)),
                ("positions", snapshot.positions.to_string()),
                ("reservations", snapshot.reservations.to_string()),
                ("body bytes", snapshot.body_bytes.to_string()),
                ("copy time", format!("{:.3} ms", snapshot.copy_time_us as f64 / 1e3)),
                ("total time", format!("{:.3} ms", snapshot.total_time_us as f64 / 1e3)),
                ("segments deleted", snapshot.segments_deleted.to_string()),
            ],
        )
    })?;
    Ok(true)
}
