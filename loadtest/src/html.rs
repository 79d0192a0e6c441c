//! The HTML report: one self-contained file (inline CSS and SVG, no JavaScript, no
//! network), viewable offline. Charts: latency percentiles per op, throughput and p99
//! per 1-second interval, and the ramp's steps; then the tables of the terminal
//! report, the checks, the SLOs and the configuration. The report's JSON is embedded
//! too (`<script type="application/json" id="report">`).

use crate::checks::Status;
use crate::report::Report;
use crate::units::fmt_us_f;
use std::fmt::Write as _;

const PALETTE: [&str; 10] =
    ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f"];

pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Round tick values covering `[0, max]`.
fn linear_ticks(max: f64) -> Vec<f64> {
    let max = if max <= 0.0 || !max.is_finite() { 1.0 } else { max };
    let raw = max / 5.0;
    let magnitude = 10f64.powf(raw.log10().floor());
    let step =
        [1.0, 2.0, 5.0, 10.0].iter().map(|m| m * magnitude).find(|step| max / step <= 6.0).unwrap_or(magnitude * 10.0);
    let mut ticks = Vec::new();
    let mut value = 0.0;
    while value <= max * 1.0001 + step {
        ticks.push(value);
        if value >= max {
            break;
        }
        value += step;
    }
    ticks
}

/// Powers of ten covering `[min, max]` (for log axes).
fn log_ticks(min: f64, max: f64) -> Vec<f64> {
    let low = min.max(1.0).log10().floor() as i32;
    let high = max.max(10.0).log10().ceil() as i32;
    (low..=high.max(low + 1)).map(|e| 10f64.powi(e)).collect()
}

pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
    pub dashed: bool,
}

/// A line chart of `series` (x in seconds or rate, y as given), with an optional
/// horizontal reference line.
pub fn line_chart(
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[Series],
    latency_axis: bool,
    reference: Option<(f64, &str)>,
) -> String {
    let (width, height) = (760.0, 300.0);
    let (left, right, top, bottom) = (70.0, 170.0, 30.0, 45.0);
    let (plot_w, plot_h) = (width - left - right, height - top - bottom);
    let points = series.iter().flat_map(|s| s.points.iter());
    let x_max = points.clone().map(|p| p.0).fold(0.0f64, f64::max).max(1.0);
    let x_min = points.clone().map(|p| p.0).fold(f64::INFINITY, f64::min).min(x_max - 1.0).max(0.0);
    let mut y_max = points.clone().map(|p| p.1).fold(0.0f64, f64::max);
    let y_min_positive = points.map(|p| p.1).filter(|v| *v > 0.0).fold(f64::INFINITY, f64::min);
    if let Some((value, _)) = reference {
        y_max = y_max.max(value);
    }
    let log = latency_axis && y_min_positive.is_finite() && y_max / y_min_positive > 50.0;
    let y_ticks = if log { log_ticks(y_min_positive, y_max) } else { linear_ticks(y_max) };
    let (y_low, y_high) = (y_ticks[0], *y_ticks.last().unwrap_or(&1.0));
    let y_of = |v: f64| -> f64 {
        let fraction = if log {
            (v.max(y_low).log10() - y_low.log10()) / (y_high.log10() - y_low.log10()).max(1e-9)
        } else {
            (v - y_low) / (y_high - y_low).max(1e-9)
        };
        top + plot_h * (1.0 - fraction.clamp(0.0, 1.0))
    };
    let x_of = |v: f64| left + plot_w * ((v - x_min) / (x_max - x_min).max(1e-9));
    let label = |v: f64| if latency_axis { fmt_us_f(v) } else { short_number(v) };
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" aria-label="{t}">"#,
        t = escape(title)
    );
    let _ = write!(svg, r#"<text x="{left}" y="18" class="title">{}</text>"#, escape(title));
    for tick in &y_ticks {
        let y = y_of(*tick);
        let _ = write!(
            svg,
            r##"<line x1="{left}" x2="{}" y1="{y:.1}" y2="{y:.1}" stroke="#ddd"/><text x="{}" y="{:.1}" text-anchor="end" class="tick">{}</text>"##,
            left + plot_w,
            left - 6.0,
            y + 4.0,
            escape(&label(*tick))
        );
    }
    for tick in linear_ticks(x_max - x_min) {
        let x = x_of(x_min + tick);
        let _ = write!(
            svg,
            r##"<line x1="{x:.1}" x2="{x:.1}" y1="{top}" y2="{}" stroke="#eee"/><text x="{x:.1}" y="{}" text-anchor="middle" class="tick">{}</text>"##,
            top + plot_h,
            top + plot_h + 16.0,
            short_number(x_min + tick)
        );
    }
    let _ = write!(
        svg,
        r##"<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="none" stroke="#999"/><text x="{}" y="{}" text-anchor="middle" class="axis">{}</text><text x="14" y="{}" text-anchor="middle" class="axis" transform="rotate(-90 14 {})">{}</text>"##,
        left + plot_w / 2.0,
        height - 6.0,
        escape(x_label),
        top + plot_h / 2.0,
        top + plot_h / 2.0,
        escape(&format!("{y_label}{}", if log { " (log)" } else { "" }))
    );
    if let Some((value, text)) = reference {
        let y = y_of(value);
        let _ = write!(
            svg,
            r##"<line x1="{left}" x2="{}" y1="{y:.1}" y2="{y:.1}" stroke="#000" stroke-dasharray="6 4"/><text x="{}" y="{:.1}" class="tick">{}</text>"##,
            left + plot_w,
            left + 4.0,
            y - 4.0,
            escape(text)
        );
    }
    for (index, s) in series.iter().enumerate() {
        let color = PALETTE[index % PALETTE.len()];
        let path: Vec<String> = s.points.iter().map(|(x, y)| format!("{:.1},{:.1}", x_of(*x), y_of(*y))).collect();
        let dash = if s.dashed { r#" stroke-dasharray="4 3""# } else { "" };
        if path.len() == 1 {
            let _ = write!(svg, r#"<circle cx="{}" r="3" fill="{color}"/>"#, path[0].replace(',', "\" cy=\""));
        } else if !path.is_empty() {
            let _ = write!(
                svg,
                r#"<polyline fill="none" stroke="{color}" stroke-width="1.8"{dash} points="{}"/>"#,
                path.join(" ")
            );
        }
        let legend_y = top + 14.0 + 18.0 * index as f64;
        let _ = write!(
            svg,
            r#"<line x1="{}" x2="{}" y1="{legend_y}" y2="{legend_y}" stroke="{color}" stroke-width="3"{dash}/><text x="{}" y="{}" class="legend">{}</text>"#,
            left + plot_w + 12.0,
            left + plot_w + 32.0,
            left + plot_w + 38.0,
            legend_y + 4.0,
            escape(&s.name)
        );
    }
    svg.push_str("</svg>");
    svg
}

fn short_number(v: f64) -> String {
    if v.abs() >= 1e6 {
        format!("{:.1}M", v / 1e6)
    } else if v.abs() >= 10_000.0 {
        format!("{:.0}k", v / 1e3)
    } else if v.abs() >= 1_000.0 {
        format!("{:.1}k", v / 1e3)
    } else if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

/// Latency percentiles per op on a log axis: one row per op, a dot per percentile.
pub fn percentile_chart(report: &Report) -> String {
    let rows: Vec<&crate::report::OpReport> = report.ops.iter().chain(std::iter::once(&report.total)).collect();
    let marks = [("p50", 0), ("p90", 1), ("p99", 2), ("p99.9", 3), ("max", 4)];
    let (width, row_h, top, left, right) = (760.0, 26.0, 40.0, 110.0, 40.0);
    let height = top + row_h * rows.len() as f64 + 40.0;
    let plot_w = width - left - right;
    let values = rows.iter().flat_map(|op| [op.latency.p50.max(1), op.latency.max.max(1), op.service.p50.max(1)]);
    let min = values.clone().min().unwrap_or(1) as f64;
    let max = values.max().unwrap_or(10) as f64;
    let ticks = log_ticks(min, max);
    let (low, high) = (ticks[0].log10(), ticks.last().unwrap_or(&10.0).log10());
    let x_of = |v: f64| left + plot_w * ((v.max(1.0).log10() - low) / (high - low).max(1e-9)).clamp(0.0, 1.0);
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" aria-label="latency percentiles per op">"#
    );
    let _ = write!(
        svg,
        r#"<text x="{left}" y="16" class="title">Latency percentiles per op (from intended send time; hollow: service p50 / p99)</text>"#
    );
    for tick in &ticks {
        let x = x_of(*tick);
        let _ = write!(
            svg,
            r##"<line x1="{x:.1}" x2="{x:.1}" y1="{top}" y2="{}" stroke="#ddd"/><text x="{x:.1}" y="{}" text-anchor="middle" class="tick">{}</text>"##,
            height - 30.0,
            height - 14.0,
            escape(&fmt_us_f(*tick))
        );
    }
    for (index, op) in rows.iter().enumerate() {
        let y = top + row_h * index as f64 + row_h / 2.0;
        let _ = write!(
            svg,
            r#"<text x="{}" y="{:.1}" text-anchor="end" class="legend">{}</text>"#,
            left - 8.0,
            y + 4.0,
            escape(&op.name)
        );
        if op.requests == 0 {
            continue;
        }
        let _ = write!(
            svg,
            r##"<line x1="{:.1}" x2="{:.1}" y1="{y:.1}" y2="{y:.1}" stroke="#bbb" stroke-width="2"/>"##,
            x_of(op.latency.p50 as f64),
            x_of(op.latency.max as f64)
        );
        for (name, color) in marks {
            let value = op.latency.get(name).unwrap_or(0.0);
            let _ = write!(
                svg,
                r#"<circle cx="{:.1}" cy="{y:.1}" r="5" fill="{}"><title>{} {}: {}</title></circle>"#,
                x_of(value),
                PALETTE[color],
                escape(&op.name),
                name,
                fmt_us_f(value)
            );
        }
        for (name, value) in [("service p50", op.service.p50), ("service p99", op.service.p99)] {
            let _ = write!(
                svg,
                r##"<circle cx="{:.1}" cy="{y:.1}" r="4" fill="none" stroke="#333"><title>{} {name}: {}</title></circle>"##,
                x_of(value as f64),
                escape(&op.name),
                fmt_us_f(value as f64)
            );
        }
    }
    for (i, (name, color)) in marks.iter().enumerate() {
        let x = left + 80.0 * i as f64;
        let _ = write!(
            svg,
            r#"<circle cx="{x}" cy="{}" r="5" fill="{}"/><text x="{}" y="{}" class="legend">{name}</text>"#,
            top - 12.0,
            PALETTE[*color],
            x + 8.0,
            top - 8.0
        );
    }
    svg.push_str("</svg>");
    svg
}

fn status_cell(status: Status) -> &'static str {
    match status {
        Status::Passed => r#"<td class="pass">PASS</td>"#,
        Status::Failed => r#"<td class="fail">FAIL</td>"#,
        Status::Skipped => r#"<td class="skip">skipped</td>"#,
    }
}

pub fn render(report: &Report) -> String {
    let mut html = String::new();
    let title = format!(
        "stockd load test: {}{}",
        report.scenario,
        report.profile.as_ref().map(|p| format!(" ({p})")).unwrap_or_default()
    );
    let _ = write!(
        html,
        r#"<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{t}</title><style>
body{{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#222;max-width:1100px}}
h1{{font-size:22px}} h2{{font-size:17px;margin-top:28px;border-bottom:1px solid #ddd;padding-bottom:4px}}
table{{border-collapse:collapse;font-size:13px;margin:8px 0}} td,th{{border:1px solid #ddd;padding:3px 8px;text-align:right}}
th{{background:#f4f4f4}} td.l,th.l{{text-align:left}} .pass{{color:#080;font-weight:bold;text-align:center}}
.fail{{color:#fff;background:#c00;font-weight:bold;text-align:center}} .skip{{color:#888;text-align:center}}
.verdict{{font-size:18px;font-weight:bold;padding:8px 12px;display:inline-block;border-radius:4px}}
.ok{{background:#e3f6e3;color:#060}} .bad{{background:#fde2e2;color:#a00}}
svg{{background:#fff;border:1px solid #eee;margin:6px 0;max-width:100%;height:auto}} svg .title{{font-size:13px;font-weight:bold}}
svg .tick{{font-size:10px;fill:#555}} svg .axis{{font-size:11px;fill:#333}} svg .legend{{font-size:11px;fill:#222}}
.muted{{color:#666;font-size:13px}} pre{{background:#f7f7f7;padding:8px;font-size:12px;overflow:auto}}
</style></head><body>"#,
        t = escape(&title)
    );
    let _ = write!(html, "<h1>{}</h1>", escape(&title));
    let ok = report.verdict.exit_code == 0;
    let verdict = match report.verdict.exit_code {
        0 => "OK: every check passed, every SLO met",
        3 => "CORRECTNESS VIOLATION",
        4 => "SLO MISSED",
        _ => "FAILED",
    };
    let _ = write!(html, r#"<div class="verdict {}">{verdict}</div>"#, if ok { "ok" } else { "bad" });
    let load = &report.load;
    let shape = match load.mode.as_str() {
        "closed" => format!("closed loop, {} users", load.concurrency.unwrap_or(0)),
        "ramp" => "ramp (open-loop steps of rising rate)".to_owned(),
        _ => format!(
            "open loop, {} flows/s, {} arrivals, {} pacing",
            load.target_rate.unwrap_or(0.0),
            load.arrival.as_deref().unwrap_or("?"),
            load.pacing.as_deref().unwrap_or("?")
        ),
    };
    let _ = write!(
        html,
        r#"<p class="muted">Started {} &middot; {} server {}{} &middot; {} &middot; {:.1}s measured &middot; {}</p>"#,
        escape(&report.started_at),
        escape(&report.target.kind),
        escape(&report.target.addr),
        report.target.durability.as_ref().map(|d| format!(", durability {}", escape(d))).unwrap_or_default(),
        escape(&shape),
        report.elapsed_s,
        escape(&report.tool)
    );
    if let Some(description) = &report.profile_description {
        let _ = write!(html, r#"<p class="muted">Profile: {}</p>"#, escape(description));
    }

    let _ = write!(html, "<h2>Summary</h2><table>");
    let rows = [
        ("requests", report.total.requests.to_string()),
        ("throughput", format!("{:.1} requests/s", report.total.throughput_rps)),
        (
            "flows",
            format!(
                "{} started ({:.1}/s), {} completed, {} unfinished",
                report.flows.started, report.flows.achieved_rate, report.flows.completed, report.flows.unfinished
            ),
        ),
        (
            "latency (all)",
            format!(
                "p50 {} · p90 {} · p99 {} · p99.9 {} · max {}",
                fmt_us_f(report.total.latency.p50 as f64),
                fmt_us_f(report.total.latency.p90 as f64),
                fmt_us_f(report.total.latency.p99 as f64),
                fmt_us_f(report.total.latency.p999 as f64),
                fmt_us_f(report.total.latency.max as f64)
            ),
        ),
        ("errors", format!("{} ({:?})", report.total.errors, report.total.errors_by_code)),
        ("expected refusals", format!("{} ({:?})", report.total.refused, report.total.refusals_by_code)),
        (
            "generator lag",
            format!(
                "p50 {} · p99 {} · max {}",
                fmt_us_f(report.generator_lag.p50 as f64),
                fmt_us_f(report.generator_lag.p99 as f64),
                fmt_us_f(report.generator_lag.max as f64)
            ),
        ),
        (
            "harness CPU",
            format!(
                "{:.2}s, {:.1}µs per request (pacer {:.2}s)",
                report.cpu.harness_cpu_s, report.cpu.harness_us_per_request, report.cpu.pacer_cpu_s
            ),
        ),
        (
            "process CPU",
            format!(
                "{:.2}s over {:.1}s wall{}",
                report.cpu.process_cpu_s,
                report.cpu.wall_s,
                report
                    .cpu
                    .server_us_per_request
                    .map(|v| format!(" (embedded server {v:.1}µs per request)"))
                    .unwrap_or_default()
            ),
        ),
        (
            "dataset",
            format!(
                "{} SKUs × {} locations = {} positions, {} kits, channels {}, seed {}, loaded in {} ms",
                report.dataset.skus,
                report.dataset.locations,
                report.dataset.positions,
                report.dataset.kits,
                report.dataset.channels.join(", "),
                report.dataset.seed,
                report.dataset.load_ms
            ),
        ),
        ("mix", report.mix.iter().map(|(k, v)| format!("{k} {v:.1}%")).collect::<Vec<_>>().join(", ")),
    ];
    for (name, value) in rows {
        let _ = write!(html, r#"<tr><th class="l">{name}</th><td class="l">{}</td></tr>"#, escape(&value));
    }
    html.push_str("</table>");

    let _ = write!(html, "<h2>Correctness checks</h2><table><tr><th class=\"l\">check</th><th>result</th><th class=\"l\">detail</th></tr>");
    for check in &report.checks {
        let _ = write!(
            html,
            r#"<tr><td class="l">{}</td>{}<td class="l">{}</td></tr>"#,
            escape(&check.name),
            status_cell(check.status),
            escape(&check.detail)
        );
    }
    html.push_str("</table>");
    if !report.slos.is_empty() {
        let _ =
            write!(html, "<h2>SLOs</h2><table><tr><th class=\"l\">objective</th><th>actual</th><th>result</th></tr>");
        for slo in &report.slos {
            let status = if slo.passed { Status::Passed } else { Status::Failed };
            let _ = write!(
                html,
                r#"<tr><td class="l">{}</td><td>{}</td>{}</tr>"#,
                escape(&slo.slo),
                escape(&slo.actual),
                status_cell(status)
            );
        }
        html.push_str("</table>");
    }

    let _ = write!(html, "<h2>Latency per op</h2>{}", percentile_chart(report));
    let _ = write!(
        html,
        r#"<table><tr><th class="l">op</th><th>requests</th><th>ok</th><th>refused</th><th>errors</th><th>req/s</th><th>p50</th><th>p90</th><th>p99</th><th>p99.9</th><th>max</th><th>svc p50</th><th>svc p99</th><th class="l">refusals / errors by code</th></tr>"#
    );
    for op in report.ops.iter().chain(std::iter::once(&report.total)) {
        let codes: Vec<String> = op
            .refusals_by_code
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .chain(op.errors_by_code.iter().map(|(k, v)| format!("ERROR {k} {v}")))
            .collect();
        let _ = write!(
            html,
            r#"<tr><td class="l">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.1}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class="l">{}</td></tr>"#,
            escape(&op.name),
            op.requests,
            op.ok,
            op.refused,
            op.errors,
            op.throughput_rps,
            fmt_us_f(op.latency.p50 as f64),
            fmt_us_f(op.latency.p90 as f64),
            fmt_us_f(op.latency.p99 as f64),
            fmt_us_f(op.latency.p999 as f64),
            fmt_us_f(op.latency.max as f64),
            fmt_us_f(op.service.p50 as f64),
            fmt_us_f(op.service.p99 as f64),
            escape(&codes.join(", "))
        );
    }
    html.push_str("</table>");

    let _ = write!(html, "<h2>Over time (1-second intervals, by completion)</h2>");
    let intervals = &report.intervals;
    // Per second of each interval (the last one may be shorter than a second).
    let rate = |count: u64, seconds: f64| count as f64 / seconds.max(0.001);
    let per_second = |name: &str, dashed: bool, count: &dyn Fn(&crate::stats::IntervalRecord) -> u64| Series {
        name: name.to_owned(),
        points: intervals.iter().map(|i| (i.t as f64, rate(count(i), i.seconds))).collect(),
        dashed,
    };
    let throughput = vec![
        per_second("requests/s", false, &|i| i.requests),
        per_second("flows due/s", true, &|i| i.arrivals),
        per_second("errors/s", false, &|i| i.errors),
        per_second("refused/s", true, &|i| i.refused),
    ];
    html.push_str(&line_chart("Throughput per second", "seconds", "per second", &throughput, false, None));
    let mut latency = vec![Series {
        name: "all p99".into(),
        points: intervals.iter().map(|i| (i.t as f64, i.p99_us as f64)).collect(),
        dashed: false,
    }];
    let mut busiest: Vec<&crate::report::OpReport> = report.ops.iter().collect();
    busiest.sort_by_key(|op| std::cmp::Reverse(op.requests));
    for op in busiest.iter().take(7) {
        let points = intervals
            .iter()
            .filter_map(|i| i.ops.iter().find(|(o, _)| o.name() == op.name).map(|(_, s)| (i.t as f64, s.p99_us as f64)))
            .collect();
        latency.push(Series { name: format!("{} p99", op.name), points, dashed: true });
    }
    html.push_str(&line_chart(
        "p99 latency per second (from intended send time)",
        "seconds",
        "p99",
        &latency,
        true,
        None,
    ));

    if let Some(ramp) = &report.ramp {
        let _ = write!(html, "<h2>Ramp</h2>");
        let p99 = vec![
            Series {
                name: "p99".into(),
                points: ramp.steps.iter().map(|s| (s.rate, s.p99_us as f64)).collect(),
                dashed: false,
            },
            Series {
                name: "p50".into(),
                points: ramp.steps.iter().map(|s| (s.rate, s.p50_us as f64)).collect(),
                dashed: true,
            },
        ];
        let objective = format!("objective {}", fmt_us_f(ramp.p99_objective_us as f64));
        html.push_str(&line_chart(
            "Latency per step of the ramp",
            "target rate (flows/s)",
            "latency",
            &p99,
            true,
            Some((ramp.p99_objective_us as f64, &objective)),
        ));
        let _ = write!(
            html,
            r#"<p><b>Highest rate meeting the objective: {}</b></p><table><tr><th>rate</th><th>achieved</th><th>req/s</th><th>p50</th><th>p99</th><th>max</th><th>errors</th><th class="l">verdict</th></tr>"#,
            ramp.best_rate.map_or("none".to_owned(), |r| format!("{r:.0} flows/s"))
        );
        for step in &ramp.steps {
            let _ = write!(
                html,
                r#"<tr><td>{:.0}</td><td>{:.1}</td><td>{:.1}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class="l">{}</td></tr>"#,
                step.rate,
                step.achieved,
                step.requests_per_s,
                fmt_us_f(step.p50_us as f64),
                fmt_us_f(step.p99_us as f64),
                fmt_us_f(step.max_us as f64),
                step.errors,
                if step.passed { "ok".to_owned() } else { format!("missed: {}", escape(&step.reason)) }
            );
        }
        html.push_str("</table>");
    }

    if !report.notes.is_empty() || !report.counters.is_empty() {
        let _ = write!(html, "<h2>Notes</h2><ul>");
        for note in &report.notes {
            let _ = write!(html, "<li>{}</li>", escape(note));
        }
        for (name, value) in &report.counters {
            let _ = write!(html, "<li>{}: {value}</li>", escape(name));
        }
        html.push_str("</ul>");
    }
    let _ = write!(
        html,
        "<h2>Configuration</h2><p class=\"muted\">Command: <code>{}</code></p>",
        escape(&report.command.join(" "))
    );
    let config = serde_json::json!({ "load": report.load, "params": report.params, "target": report.target });
    let _ = write!(html, "<pre>{}</pre>", escape(&serde_json::to_string_pretty(&config).unwrap_or_default()));
    let json = serde_json::to_string(report).unwrap_or_default().replace("</", "<\\/");
    let _ = write!(html, r#"<script type="application/json" id="report">{json}</script></body></html>"#);
    html
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_cover_the_range() {
        let ticks = linear_ticks(937.0);
        assert_eq!(ticks[0], 0.0);
        assert!(*ticks.last().unwrap() >= 937.0 && ticks.len() <= 8, "{ticks:?}");
        assert_eq!(log_ticks(80.0, 12_000.0), vec![10.0, 100.0, 1_000.0, 10_000.0, 100_000.0]);
        assert_eq!(linear_ticks(0.0).last(), Some(&1.0));
    }

    #[test]
    fn a_report_renders_to_self_contained_html() {
        let mut report = Report { scenario: "t<e>st".into(), ..Report::default() };
        report.intervals.push(crate::stats::IntervalRecord { t: 0, requests: 10, p99_us: 500, ..Default::default() });
        report.intervals.push(crate::stats::IntervalRecord {
            t: 1,
            requests: 12,
            p99_us: 50_000,
            ..Default::default()
        });
        let html = render(&report);
        assert!(html.starts_with("<!DOCTYPE html>") && html.ends_with("</html>"));
        assert!(html.contains("<svg") && html.contains("t&lt;e&gt;st"));
        assert!(!html.contains("<script src"), "no external script");
        assert!(!html.contains("<link"), "no external stylesheet");
    }
}
