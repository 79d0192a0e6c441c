//! The arrival schedule of open-loop load: when each flow is *meant* to start,
//! independently of how fast the server answers.
//!
//! A [`Pacer`] is a pure, seeded sequence of offsets from the start of a phase:
//! `k / rate` for constant arrivals (computed from `k`, so rounding never drifts), or
//! the running sum of exponential gaps for Poisson arrivals (the arrivals of many
//! independent users). The driver sends each flow at its offset, or as soon after as
//! it can, and measures latency from the offset: that is what keeps a slow server
//! from slowing the schedule down.

use rand::rngs::StdRng;
use rand::SeedableRng;
use rand_distr::{Distribution, Exp};
use serde::{Deserialize, Serialize};
use std::time::Duration;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Arrival {
    /// Evenly spaced: one flow every 1/rate seconds.
    Constant,
    /// Exponential gaps with mean 1/rate: bursts and lulls, as independent users make.
    Poisson,
}

#[derive(Clone, Debug)]
pub struct Pacer {
    rate: f64,
    arrival: Arrival,
    rng: StdRng,
    exp: Option<Exp<f64>>,
    /// Arrivals handed out so far.
    issued: u64,
    /// The Poisson clock, in seconds.
    clock: f64,
}

impl Pacer {
    /// `rate` flows per second (above 0).
    pub fn new(rate: f64, arrival: Arrival, seed: u64) -> Pacer {
        assert!(rate > 0.0 && rate.is_finite(), "a rate above 0");
        let exp = match arrival {
            Arrival::Constant => None,
            Arrival::Poisson => Some(Exp::new(rate).expect("a positive rate")),
        };
        Pacer { rate, arrival, rng: StdRng::seed_from_u64(seed), exp, issued: 0, clock: 0.0 }
    }

    pub fn rate(&self) -> f64 {
        self.rate
    }

    pub fn arrival(&self) -> Arrival {
        self.arrival
    }

    /// The offset of the next arrival from the start of the phase. The first constant
    /// arrival is at 0; offsets never decrease.
    pub fn next_offset(&mut self) -> Duration {
        let k = self.issued;
        self.issued += 1;
        let seconds = match &self.exp {
            None => k as f64 / self.rate,
            Some(exp) => {
                self.clock += exp.sample(&mut self.rng);
                self.clock
            }
        };
        Duration::from_secs_f64(seconds)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Arrivals per `window` over `span`, on the pacer's own (simulated) clock.
    fn per_window(pacer: &mut Pacer, span: Duration, window: Duration) -> Vec<u64> {
        let mut counts = vec![0u64; (span.as_nanos() / window.as_nanos()) as usize];
        loop {
            let offset = pacer.next_offset();
            if offset >= span {
                return counts;
            }
            counts[(offset.as_nanos() / window.as_nanos()) as usize] += 1;
        }
    }

    #[test]
    fn constant_arrivals_hit_the_rate_exactly_in_every_window() {
        for rate in [1.0, 7.0, 250.0, 1_000.0, 33_333.0] {
            let mut pacer = Pacer::new(rate, Arrival::Constant, 1);
            let counts = per_window(&mut pacer, Duration::from_secs(10), Duration::from_secs(1));
            for (second, count) in counts.iter().enumerate() {
                assert!(count.abs_diff(rate.round() as u64) <= 1, "rate {rate}, second {second}: {count} arrivals");
            }
            let total: u64 = counts.iter().sum();
            assert!(total.abs_diff((rate * 10.0).round() as u64) <= 1, "rate {rate}: {total} in 10 s");
        }
    }

    #[test]
    fn constant_offsets_do_not_drift() {
        let mut pacer = Pacer::new(3.0, Arrival::Constant, 1);
        let offsets: Vec<Duration> = (0..4).map(|_| pacer.next_offset()).collect();
        assert_eq!(offsets[0], Duration::ZERO);
        assert_eq!(offsets[3], Duration::from_secs(1));
        let mut pacer = Pacer::new(1_000.0, Arrival::Constant, 1);
        let last = (0..=1_000_000).map(|_| pacer.next_offset()).last().unwrap();
        assert_eq!(last, Duration::from_secs(1_000));
    }

    #[test]
    fn poisson_arrivals_average_the_rate_within_tolerance() {
        for seed in 0..5 {
            let mut pacer = Pacer::new(2_000.0, Arrival::Poisson, seed);
            let counts = per_window(&mut pacer, Duration::from_secs(20), Duration::from_secs(1));
            let total: u64 = counts.iter().sum();
            // 40,000 expected; one standard deviation is 200 (0.5 %).
            assert!(total.abs_diff(40_000) <= 800, "seed {seed}: {total} arrivals in 20 s");
            for (second, count) in counts.iter().enumerate() {
                // One second: 2,000 ± 45 (1 sd); 10 % is over 4 sd.
                assert!(count.abs_diff(2_000) <= 200, "seed {seed}, second {second}: {count}");
            }
        }
    }

    #[test]
    fn poisson_gaps_are_exponential() {
        // Coefficient of variation 1, and about 1/e of the gaps above the mean.
        let mut pacer = Pacer::new(100.0, Arrival::Poisson, 9);
        let mut previous = Duration::ZERO;
        let gaps: Vec<f64> = (0..50_000)
            .map(|_| {
                let offset = pacer.next_offset();
                let gap = (offset - previous).as_secs_f64();
                previous = offset;
                gap
            })
            .collect();
        let mean = gaps.iter().sum::<f64>() / gaps.len() as f64;
        let variance = gaps.iter().map(|g| (g - mean).powi(2)).sum::<f64>() / gaps.len() as f64;
        assert!((mean - 0.01).abs() < 0.0003, "mean gap {mean}");
        assert!((variance.sqrt() / mean - 1.0).abs() < 0.03, "cv {}", variance.sqrt() / mean);
        let above = gaps.iter().filter(|g| **g > mean).count() as f64 / gaps.len() as f64;
        assert!((above - (-1.0f64).exp()).abs() < 0.01, "share above the mean {above}");
    }

    #[test]
    fn the_same_seed_gives_the_same_schedule() {
        let mut a = Pacer::new(500.0, Arrival::Poisson, 42);
        let mut b = Pacer::new(500.0, Arrival::Poisson, 42);
        for _ in 0..1_000 {
            assert_eq!(a.next_offset(), b.next_offset());
        }
    }
}
