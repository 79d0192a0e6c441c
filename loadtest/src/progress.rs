//! The live progress line (on stderr, only when it is a terminal): elapsed time,
//! achieved against target rate, requests per second, errors, the last second's p99.

use crate::driver::Tick;
use crate::stats::Recorder;
use crate::units::fmt_us;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::time::{Duration, Instant};

pub struct Progress {
    bar: ProgressBar,
    /// (when, flows started, requests) about a second ago, for the rates.
    previous: Option<(Instant, u64, u64)>,
    rates: (f64, f64),
}

impl Progress {
    pub fn new(quiet: bool) -> Progress {
        let target = if quiet { ProgressDrawTarget::hidden() } else { ProgressDrawTarget::stderr_with_hz(4) };
        let bar = ProgressBar::with_draw_target(None, target);
        bar.set_style(ProgressStyle::with_template("{spinner} {msg}").expect("a valid template"));
        Progress { bar, previous: None, rates: (0.0, 0.0) }
    }

    pub fn message(&self, text: &str) {
        self.bar.set_message(text.to_owned());
        self.bar.tick();
    }

    pub fn update(&mut self, rec: &Recorder, tick: Tick<'_>) {
        if self.bar.is_hidden() {
            return;
        }
        let now = Instant::now();
        let requests = rec.requests();
        match self.previous {
            // Rates over the last second or so.
            Some((then, flows, reqs)) if now.duration_since(then) >= Duration::from_millis(900) => {
                let seconds = now.duration_since(then).as_secs_f64();
                self.rates = (
                    rec.flows_started.saturating_sub(flows) as f64 / seconds,
                    requests.saturating_sub(reqs) as f64 / seconds,
                );
                self.previous = Some((now, rec.flows_started, requests));
            }
            Some(_) => {}
            None => self.previous = Some((now, rec.flows_started, requests)),
        }
        if tick.elapsed < Duration::from_secs(1) {
            // The first second: rates since the start of the phase.
            let seconds = tick.elapsed.as_secs_f64().max(0.05);
            self.rates = (rec.flows_started as f64 / seconds, requests as f64 / seconds);
        }
        let target = tick.target_rate.map(|rate| format!("/{rate:.0}")).unwrap_or_default();
        self.bar.set_message(format!(
            "{} {:.1}s/{:.0}s | {:.0}{target} flows/s | {:.0} req/s | {} requests | errors {} | p99 (last 1s) {} | in flight {}",
            tick.label,
            tick.elapsed.as_secs_f64(),
            tick.duration.as_secs_f64(),
            self.rates.0,
            self.rates.1,
            requests,
            rec.errors(),
            fmt_us(rec.last_p99_us),
            tick.in_flight
        ));
        self.bar.tick();
    }

    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}
