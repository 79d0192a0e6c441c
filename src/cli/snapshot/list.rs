//! `stockd snapshot list`.

use super::*;

#[derive(Serialize)]
pub(super) struct ListedSnapshot {
    pub(super) file: String,
    pub(super) path: String,
    pub(super) bytes: u64,
    pub(super) ok: bool,
    /// `ok`, or why the header cannot be read.
    pub(super) status: String,
    pub(super) covers_lsn: Option<u64>,
    pub(super) complete_lsn: Option<u64>,
    pub(super) created_at_ms: Option<u64>,
    pub(super) created: Option<String>,
    pub(super) positions: Option<u64>,
    pub(super) reservations: Option<u64>,
}

pub(super) fn list(args: &ListArgs) -> Result<bool, ToolError> {
    if !args.snapshots.is_dir() {
        return Err(ToolError::Refused(format!("snapshot directory {} does not exist", args.snapshots.display())));
    }
    let listed: Vec<ListedSnapshot> = list_snapshots(&args.snapshots)?
        .into_iter()
        .map(|file| {
            let header = file.header.as_ref().ok();
            ListedSnapshot {
                file: output::file_name(&file.path),
                path: file.path.display().to_string(),
                bytes: file.bytes,
                ok: header.is_some(),
                status: file.header.as_ref().err().map_or_else(|| "ok".to_owned(), Clone::clone),
                covers_lsn: header.map(|h| h.covers_lsn),
                complete_lsn: header.map(|h| h.complete_lsn),
                created_at_ms: header.map(|h| h.created_at_ms),
                created: header.map(|h| output::utc(h.created_at_ms)),
                positions: header.map(|h| h.positions),
                reservations: header.map(|h| h.reservations),
            }
        })
        .collect();
    let mut out = output::stdout();
    if args.json {
        output::write_json(&mut out, &listed)?;
    } else if listed.is_empty() {
        writeln!(out, "no snapshots in {}", args.snapshots.display())?;
    } else {
        let mut table = Table::new(&[
            ("file", Align::Left),
            ("covers LSN", Align::Right),
            ("complete LSN", Align::Right),
            ("created (UTC)", Align::Left),
            ("size", Align::Right),
            ("positions", Align::Right),
            ("reservations", Align::Right),
            ("status", Align::Left),
        ]);
        let or_dash = |value: Option<u64>| value.map_or_else(|| "-".to_owned(), |v| v.to_string());
        for snapshot in &listed {
            table.row(vec![
                snapshot.file.clone(),
                or_dash(snapshot.covers_lsn),
                or_dash(snapshot.complete_lsn),
                snapshot.created.as_deref().map_or("-", |c| c.trim_end_matches(" UTC")).to_owned(),
                output::bytes(snapshot.bytes),
                or_dash(snapshot.positions),
                or_dash(snapshot.reservations),
                snapshot.status.clone(),
            ]);
        }
        table.write(&mut out)?;
    }
    out.flush()?;
    Ok(true)
}
