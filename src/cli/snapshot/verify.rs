//! `stockd snapshot verify`.

use super::*;

#[derive(Serialize)]
pub(super) struct Check {
    pub(super) check: &'static str,
    pub(super) ok: bool,
    pub(super) detail: String,
}

#[derive(Serialize)]
pub(super) struct VerifyOutput {
    /// The snapshot file, or `recovery` for the whole recovery path.
    pub(super) target: String,
    pub(super) ok: bool,
    pub(super) checks: Vec<Check>,
    pub(super) warnings: Vec<String>,
    pub(super) findings_total: u64,
    pub(super) findings: Vec<String>,
}

impl VerifyOutput {
    fn new(target: String) -> VerifyOutput {
        VerifyOutput {
            target,
            ok: true,
            checks: Vec::new(),
            warnings: Vec::new(),
            findings_total: 0,
            findings: Vec::new(),
        }
    }

    fn pass(&mut self, check: &'static str, detail: String) {
        self.checks.push(Check { check, ok: true, detail });
    }

    fn fail(&mut self, check: &'static str, detail: String) {
        self.ok = false;
        self.checks.push(Check { check, ok: false, detail });
    }

    fn invariants(&mut self, engine: &Engine) {
        let report = engine.verify();
        let checked = format!("{} positions, {} reservations", report.positions_checked, report.reservations_checked);
        if report.is_clean() {
            self.pass("invariants", format!("{checked} checked: every invariant holds"));
        } else {
            self.fail("invariants", format!("{checked} checked: {} finding(s)", report.findings_total));
        }
        self.findings_total = report.findings_total;
        self.findings = report.findings.iter().map(|finding| format!("{finding:?}")).collect();
    }

    fn write(&self, out: &mut Out) -> Result<(), ToolError> {
        writeln!(out, "verifying {}", self.target)?;
        for check in &self.checks {
            writeln!(out, "  {:<12} {:<6}  {}", check.check, if check.ok { "ok" } else { "FAILED" }, check.detail)?;
        }
        for finding in &self.findings {
            writeln!(out, "  finding: {finding}")?;
        }
        if self.findings_total > self.findings.len() as u64 {
            writeln!(out, "  ... and {} more findings", self.findings_total - self.findings.len() as u64)?;
        }
        for warning in &self.warnings {
            writeln!(out, "  warning: {warning}")?;
        }
        writeln!(out, "{}", if self.ok { "result: ok" } else { "result: PROBLEMS FOUND" })?;
        Ok(())
    }
}

pub(super) fn verify(args: &VerifyArgs) -> Result<bool, ToolError> {
    let report = match &args.file {
        Some(file) => verify_file(file),
        None => verify_recovery(&args.dirs)?,
    };
    let mut out = output::stdout();
    if args.json {
        output::write_json(&mut out, &report)?;
    } else {
        report.write(&mut out)?;
    }
    out.flush()?;
    Ok(report.ok)
}

pub(super) fn describe_header(header: &SnapshotHeader) -> String {
    format!(
        "covers LSN {}, complete LSN {}, created {}, {} positions, {} reservations",
        header.covers_lsn,
        header.complete_lsn,
        output::utc(header.created_at_ms),
        header.positions,
        header.reservations
    )
}

pub(super) fn describe_image(image: &EngineImage) -> String {
    format!(
        "{} SKUs, {} locations, {} channels, {} kits",
        image.sku_names.len(),
        image.locations.len(),
        image.channels.len(),
        image.kits.len()
    )
}

pub(super) fn verify_file(path: &Path) -> VerifyOutput {
    let mut report = VerifyOutput::new(path.display().to_string());
    let spinner = progress::spinner(format!("checking {}", path.display()));
    match read_header(path) {
        Ok(header) => report.pass("header", describe_header(&header)),
        Err(error) => {
            report.fail("header", error.to_string());
            return report;
        }
    }
    spinner.set_message("reading and validating the body");
    let (image, header) = match load_image(path) {
        Ok(loaded) => loaded,
        Err(error) => {
            report.fail("body", error.to_string());
            return report;
        }
    };
    report.pass("body", format!("{}: checksum matches, archive valid", output::bytes(header.body_bytes)));
    let counted = (image.positions.len() as u64, image.reservations.len() as u64);
    if counted == (header.positions, header.reservations) {
        report.pass("counts", format!("{} positions and {} reservations, as the header says", counted.0, counted.1));
    } else {
        report.fail(
            "counts",
            format!(
                "the body holds {} positions and {} reservations, the header says {} and {}",
                counted.0, counted.1, header.positions, header.reservations
            ),
        );
    }
    let described = describe_image(&image);
    spinner.set_message("loading the engine");
    let engine = match Engine::from_image(EngineConfig::default(), image) {
        Ok(engine) => engine,
        Err(error) => {
            report.fail("load", format!("the archive holds an inconsistent state: {error}"));
            return report;
        }
    };
    report.pass("load", format!("{described}; every id resolves"));
    spinner.set_message("checking the invariants");
    report.invariants(&engine);
    report
}

pub(super) fn verify_recovery(dirs: &DirArgs) -> Result<VerifyOutput, ToolError> {
    dirs.require_existing()?;
    let config = dirs.config();
    let mut report = VerifyOutput::new(format!(
        "recovery from {} and {} (read-only)",
        dirs.snapshots.display(),
        config.wal_dir().display()
    ));
    let spinner = progress::spinner("recovering (read-only)");
    let (engine, recovery) = match recover(&config, RecoveryTarget::default(), false) {
        Ok(recovered) => recovered,
        Err(error) => {
            report.fail("recovery", error.to_string());
            return Ok(report);
        }
    };
    for (path, reason) in &recovery.skipped_snapshots {
        report.fail("snapshot", format!("skipped {}: {reason}", path.display()));
    }
    match &recovery.snapshot {
        Some((path, header)) => report.pass("snapshot", format!("{}: {}", path.display(), describe_header(header))),
        None => report.pass("snapshot", "none loaded: the log is replayed from its start".to_owned()),
    }
    report.pass(
        "log",
        format!("replayed {} records; the state reflects LSN {}", recovery.records_replayed, recovery.last_lsn),
    );
    if let Some(torn) = &recovery.torn_tail {
        report.warnings.push(format!(
            "torn final record in {} at byte {} ({} bytes): the leftover of a crash mid-write, never acknowledged; \
             cut off when the engine next opens",
            torn.path.display(),
            torn.offset,
            torn.bytes_dropped
        ));
    }
    let stats = engine.stats();
    report.pass(
        "state",
        format!(
            "{} SKUs, {} positions, {} reservations, {} locations, {} channels, {} kits",
            stats.skus, stats.positions, stats.reservations_remembered, stats.locations, stats.channels, stats.kits
        ),
    );
    spinner.set_message("checking the invariants");
    report.invariants(&engine);
    Ok(report)
}
