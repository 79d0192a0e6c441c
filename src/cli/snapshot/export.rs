//! `stockd snapshot export`.

use super::*;

#[derive(Serialize)]
pub(super) struct ExportRow<'a> {
    pub(super) sku: &'a str,
    pub(super) location: &'a str,
    pub(super) on_hand: u32,
    pub(super) reserved: u32,
    pub(super) safety_stock: u32,
    pub(super) damaged: u32,
    pub(super) quality_control: u32,
    pub(super) backorder_limit: u32,
    pub(super) available_to_sell: u32,
    pub(super) version: u64,
}

pub(super) fn export_row<'a>(&(sku, location, p): &(&'a str, &'a str, &Position)) -> ExportRow<'a> {
    ExportRow {
        sku,
        location,
        on_hand: p.on_hand,
        reserved: p.reserved,
        safety_stock: p.safety_stock,
        damaged: p.damaged,
        quality_control: p.quality_control,
        backorder_limit: p.backorder_limit,
        available_to_sell: p.available_to_sell(),
        version: p.version,
    }
}

pub(super) fn export(args: &ExportArgs) -> Result<bool, ToolError> {
    if let Some(out) = &args.out {
        let same =
            std::fs::canonicalize(out).ok().zip(std::fs::canonicalize(&args.file).ok()).is_some_and(|(a, b)| a == b);
        if same {
            return Err(ToolError::Refused("--out names the snapshot being exported".to_owned()));
        }
    }
    let (image, _) = load_with_spinner(&args.file)?;
    let sorting = progress::spinner("sorting positions");
    let mut rows: Vec<(&str, &str, &Position)> = image
        .positions
        .iter()
        .map(|p| {
            let sku = image.sku_names.get(p.sku.index()).map_or("?", String::as_str);
            let location = image.locations.get(p.location.index()).map_or("?", |l| l.name.as_str());
            (sku, location, &p.position)
        })
        .collect();
    rows.sort_unstable_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
    drop(sorting);
    let writer: Box<dyn Write> = match &args.out {
        Some(path) => Box::new(BufWriter::new(File::create(path).map_err(ToolError::io(path))?)),
        None => Box::new(output::stdout()),
    };
    let bar = progress::streaming_bar(rows.len() as u64, "exporting", args.out.is_none());
    let written_to = |error: std::io::Error| match &args.out {
        Some(path) => ToolError::Io { path: path.clone(), source: error },
        None => ToolError::Output(error),
    };
    match args.format {
        ExportFormat::Csv => {
            let mut csv = csv::Writer::from_writer(writer);
            for (index, entry) in rows.iter().enumerate() {
                csv.serialize(export_row(entry)).map_err(|error| written_to(error.into()))?;
                if index % 4096 == 0 {
                    bar.set_position(index as u64);
                }
            }
            csv.flush().map_err(written_to)?;
        }
        ExportFormat::Jsonl => {
            let mut writer = writer;
            for (index, entry) in rows.iter().enumerate() {
                serde_json::to_writer(&mut writer, &export_row(entry)).map_err(|error| written_to(error.into()))?;
                writer.write_all(b"\n").map_err(written_to)?;
                if index % 4096 == 0 {
                    bar.set_position(index as u64);
                }
            }
            writer.flush().map_err(written_to)?;
        }
    }
    drop(bar);
    if let Some(path) = &args.out {
        eprintln!("exported {} positions to {}", rows.len(), path.display());
    }
    Ok(true)
}
