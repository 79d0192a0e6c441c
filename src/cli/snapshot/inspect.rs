//! `stockd snapshot inspect`.

use super::*;

#[derive(Serialize)]
pub(super) struct ReservationCounts {
    pub(super) total: u64,
    pub(super) held: u64,
    pub(super) committed: u64,
    pub(super) fulfilled: u64,
    pub(super) released: u64,
    pub(super) expired: u64,
}

#[derive(Serialize)]
pub(super) struct LocationSummary {
    pub(super) name: String,
    pub(super) kind: String,
}

#[derive(Serialize)]
pub(super) struct ChannelSummary {
    pub(super) name: String,
    pub(super) locations: usize,
    pub(super) buffer: String,
}

#[derive(Serialize)]
pub(super) struct KitPart {
    pub(super) sku: String,
    pub(super) quantity: u32,
}

#[derive(Serialize)]
pub(super) struct KitSummary {
    pub(super) sku: String,
    pub(super) components: Vec<KitPart>,
}

#[derive(Serialize)]
pub(super) struct InspectSummary {
    pub(super) file: String,
    pub(super) bytes: u64,
    pub(super) covers_lsn: u64,
    pub(super) complete_lsn: u64,
    pub(super) created_at_ms: u64,
    pub(super) created: String,
    pub(super) skus: u64,
    pub(super) positions: u64,
    pub(super) units_on_hand: u64,
    pub(super) units_reserved: u64,
    pub(super) reservations: ReservationCounts,
    pub(super) locations: Vec<LocationSummary>,
    pub(super) channels: Vec<ChannelSummary>,
    pub(super) kits: Vec<KitSummary>,
}

#[derive(Serialize)]
pub(super) struct IncomingOut {
    pub(super) reference: String,
    pub(super) quantity: u32,
    pub(super) expected_at_ms: u64,
}

#[derive(Serialize)]
pub(super) struct PositionOut {
    pub(super) location: String,
    pub(super) on_hand: u32,
    pub(super) reserved: u32,
    pub(super) safety_stock: u32,
    pub(super) damaged: u32,
    pub(super) quality_control: u32,
    pub(super) backorder_limit: u32,
    pub(super) incoming_total: i64,
    pub(super) available_to_sell: u32,
    pub(super) version: u64,
    pub(super) incoming: Vec<IncomingOut>,
}

#[derive(Serialize)]
pub(super) struct SkuPositions {
    pub(super) file: String,
    pub(super) covers_lsn: u64,
    pub(super) sku: String,
    /// The components, when the SKU is a kit (kits have no positions of their own).
    pub(super) kit: Option<Vec<KitPart>>,
    pub(super) positions: Vec<PositionOut>,
}

/// Names for the ids of one image.
pub(super) struct ImageNames<'a>(&'a EngineImage);

impl ImageNames<'_> {
    fn sku(&self, id: stockd::model::SkuId) -> String {
        self.0.sku_names.get(id.index()).cloned().unwrap_or_else(|| format!("sku#{}", id.0))
    }

    fn location(&self, id: stockd::model::LocationId) -> String {
        self.0.locations.get(id.index()).map_or_else(|| format!("location#{}", id.0), |l| l.name.clone())
    }

    fn kit_parts(&self, kit: &stockd::model::Kit) -> Vec<KitPart> {
        kit.components.iter().map(|c| KitPart { sku: self.sku(c.sku), quantity: c.quantity }).collect()
    }
}

pub(super) fn describe_parts(parts: &[KitPart]) -> String {
    parts.iter().map(|p| format!("{} x{}", p.sku, p.quantity)).collect::<Vec<_>>().join(" + ")
}

pub(super) fn load_with_spinner(path: &Path) -> Result<(EngineImage, SnapshotHeader), ToolError> {
    let _spinner = progress::spinner(format!("loading {}", path.display()));
    Ok(load_image(path)?)
}

pub(super) fn inspect(args: &InspectArgs) -> Result<bool, ToolError> {
    let (image, header) = load_with_spinner(&args.file)?;
    let names = ImageNames(&image);
    let mut out = output::stdout();
    match &args.sku {
        Some(sku) => inspect_sku(&args.file, &image, &header, &names, sku, args.json, &mut out)?,
        None => {
            let summary = summarise(&args.file, &image, &header, &names);
            if args.json {
                output::write_json(&mut out, &summary)?;
            } else {
                write_summary(&summary, &mut out)?;
            }
        }
    }
    out.flush()?;
    Ok(true)
}

pub(super) fn summarise(
    path: &Path,
    image: &EngineImage,
    header: &SnapshotHeader,
    names: &ImageNames,
) -> InspectSummary {
    let mut reservations = ReservationCounts { total: 0, held: 0, committed: 0, fulfilled: 0, released: 0, expired: 0 };
    for reservation in &image.reservations {
        reservations.total += 1;
        *match reservation.state {
            ReservationState::Held => &mut reservations.held,
            ReservationState::Committed => &mut reservations.committed,
            ReservationState::Fulfilled => &mut reservations.fulfilled,
            ReservationState::Released => &mut reservations.released,
            ReservationState::Expired => &mut reservations.expired,
        } += 1;
    }
    InspectSummary {
        file: path.display().to_string(),
        bytes: header.body_bytes + stockd::snapshot::format::SNAPSHOT_HEADER_BYTES as u64,
        covers_lsn: header.covers_lsn,
        complete_lsn: header.complete_lsn,
        created_at_ms: header.created_at_ms,
        created: output::utc(header.created_at_ms),
        skus: image.sku_names.len() as u64,
        positions: image.positions.len() as u64,
        units_on_hand: image.positions.iter().map(|p| u64::from(p.position.on_hand)).sum(),
        units_reserved: image.positions.iter().map(|p| u64::from(p.position.reserved)).sum(),
        reservations,
        locations: image
            .locations
            .iter()
            .map(|l| LocationSummary { name: l.name.clone(), kind: format!("{:?}", l.kind) })
            .collect(),
        channels: image
            .channels
            .iter()
            .map(|c| ChannelSummary {
                name: c.name.clone(),
                locations: c.locations.len(),
                buffer: format!("{:?}", c.buffer),
            })
            .collect(),
        kits: image.kits.iter().map(|k| KitSummary { sku: names.sku(k.sku), components: names.kit_parts(k) }).collect(),
    }
}

pub(super) fn write_summary(summary: &InspectSummary, out: &mut Out) -> Result<(), ToolError> {
    const SHOWN: usize = 20;
    let r = &summary.reservations;
    writeln!(out, "snapshot      {} ({})", summary.file, output::bytes(summary.bytes))?;
    writeln!(out, "covers LSN    {} (complete LSN {})", summary.covers_lsn, summary.complete_lsn)?;
    writeln!(out, "created       {}", summary.created)?;
    writeln!(out, "SKUs          {} ({} kits)", summary.skus, summary.kits.len())?;
    writeln!(
        out,
        "positions     {}: {} units on hand, {} reserved",
        summary.positions, summary.units_on_hand, summary.units_reserved
    )?;
    writeln!(
        out,
        "reservations  {}: {} held, {} committed, {} fulfilled, {} released, {} expired",
        r.total, r.held, r.committed, r.fulfilled, r.released, r.expired
    )?;
    let locations: Vec<String> = summary.locations.iter().map(|l| format!("{} ({})", l.name, l.kind)).collect();
    writeln!(out, "locations     {}: {}", locations.len(), output::some_of(&locations, SHOWN))?;
    let channels: Vec<String> = summary
        .channels
        .iter()
        .map(|c| format!("{} ({} locations, buffer {})", c.name, c.locations, c.buffer))
        .collect();
    writeln!(out, "channels      {}: {}", channels.len(), output::some_of(&channels, SHOWN))?;
    let kits: Vec<String> =
        summary.kits.iter().map(|k| format!("{} = {}", k.sku, describe_parts(&k.components))).collect();
    writeln!(out, "kits          {}: {}", kits.len(), output::some_of(&kits, SHOWN))?;
    Ok(())
}

pub(super) fn position_out(location: String, position: &Position) -> PositionOut {
    PositionOut {
        location,
        on_hand: position.on_hand,
        reserved: position.reserved,
        safety_stock: position.safety_stock,
        damaged: position.damaged,
        quality_control: position.quality_control,
        backorder_limit: position.backorder_limit,
        incoming_total: position.incoming_total(),
        available_to_sell: position.available_to_sell(),
        version: position.version,
        incoming: position
            .incoming_lines()
            .iter()
            .map(|s| IncomingOut {
                reference: s.reference.to_string(),
                quantity: s.quantity,
                expected_at_ms: s.expected_at.0,
            })
            .collect(),
    }
}

pub(super) fn inspect_sku(
    path: &Path,
    image: &EngineImage,
    header: &SnapshotHeader,
    names: &ImageNames,
    sku: &str,
    json: bool,
    out: &mut Out,
) -> Result<(), ToolError> {
    let Some(index) = image.sku_names.iter().position(|name| name == sku) else {
        return Err(ToolError::Refused(format!("SKU {sku:?} is not in {}", path.display())));
    };
    let kit = image.kits.iter().find(|k| k.sku.index() == index).map(|k| names.kit_parts(k));
    let mut positions: Vec<PositionOut> = image
        .positions
        .iter()
        .filter(|p| p.sku.index() == index)
        .map(|p| position_out(names.location(p.location), &p.position))
        .collect();
    positions.sort_by(|a, b| a.location.cmp(&b.location));
    let view = SkuPositions {
        file: path.display().to_string(),
        covers_lsn: header.covers_lsn,
        sku: sku.to_owned(),
        kit,
        positions,
    };
    if json {
        return output::write_json(out, &view);
    }
    if let Some(parts) = &view.kit {
        writeln!(out, "{sku} is a kit: {} (kits have no positions of their own)", describe_parts(parts))?;
    }
    let sum = |field: fn(&PositionOut) -> u64| view.positions.iter().map(field).sum::<u64>();
    writeln!(
        out,
        "{sku} in {} (covers LSN {}): {} positions, {} on hand, {} reserved, {} available to sell",
        view.file,
        view.covers_lsn,
        view.positions.len(),
        sum(|p| u64::from(p.on_hand)),
        sum(|p| u64::from(p.reserved)),
        sum(|p| u64::from(p.available_to_sell)),
    )?;
    if view.positions.is_empty() {
        return Ok(());
    }
    let mut table = Table::new(&[
        ("location", Align::Left),
        ("on_hand", Align::Right),
        ("reserved", Align::Right),
        ("safety", Align::Right),
        ("damaged", Align::Right),
        ("qc", Align::Right),
        ("backorder", Align::Right),
        ("incoming", Align::Right),
        ("ATS", Align::Right),
        ("version", Align::Right),
    ]);
    for p in &view.positions {
        table.row(vec![
            p.location.clone(),
            p.on_hand.to_string(),
            p.reserved.to_string(),
            p.safety_stock.to_string(),
            p.damaged.to_string(),
            p.quality_control.to_string(),
            p.backorder_limit.to_string(),
            p.incoming_total.to_string(),
            p.available_to_sell.to_string(),
            p.version.to_string(),
        ]);
    }
    table.write(out)?;
    Ok(())
}
