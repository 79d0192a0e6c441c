//! Service-level objectives given on the command line (`--slo p99=1ms`), checked
//! against the report at the end of a run.
//!
//! | form | meaning |
//! |---|---|
//! | `p50=`, `p90=`, `p99=`, `p99.9=`, `max=`, `mean=` + a duration | latency (from intended send time) of all requests at most this |
//! | `<op>:p99=2ms` | the same for one op (`reserve:p99=2ms`, `page:p99.9=10ms`) |
//! | `errors=N` | at most N errors (refusals the scenario expects are not errors) |
//! | `<op>:errors=N` | the same for one op |
//! | `error-rate=0.1%` | at most this share of requests failed |
//! | `throughput=N` | at least N requests per second overall (`<op>:throughput=N` for one op) |

use crate::report::{OpReport, Report};
use crate::units::{fmt_us_f, parse_duration, parse_share};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Metric {
    /// A latency percentile (`p99`, `p99.9`, `max`, `mean`), in microseconds.
    Latency(String),
    Errors,
    ErrorRate,
    Throughput,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Slo {
    pub text: String,
    /// One op, or every request.
    pub op: Option<String>,
    pub metric: Metric,
    /// µs for latency, a count, a share or requests/s.
    pub limit: f64,
}

impl FromStr for Slo {
    type Err = String;
    fn from_str(text: &str) -> Result<Slo, String> {
        let text = text.trim();
        let (left, value) = text
            .split_once('=')
            .ok_or_else(|| format!("--slo {text:?}: write metric=value, e.g. p99=1ms, errors=0, reserve:p99=2ms"))?;
        let (op, name) = match left.split_once(':') {
            Some((op, name)) => {
                let op = op.trim();
                if !crate::stats::Op::ALL.iter().any(|known| known.name() == op) {
                    let names: Vec<&str> = crate::stats::Op::ALL.iter().map(|o| o.name()).collect();
                    return Err(format!("--slo {text:?}: unknown op {op:?} (one of {})", names.join(", ")));
                }
                (Some(op.to_owned()), name.trim())
            }
            None => (None, left.trim()),
        };
        let value = value.trim();
        let (metric, limit) = match name {
            "p50" | "p90" | "p99" | "p99.9" | "p999" | "max" | "mean" => {
                let duration = parse_duration(value).map_err(|error| format!("--slo {text:?}: {error}"))?;
                (Metric::Latency(name.replace("p999", "p99.9")), duration.as_secs_f64() * 1e6)
            }
            "errors" => {
                let count: u64 = value.parse().map_err(|_| format!("--slo {text:?}: errors= takes a count"))?;
                (Metric::Errors, count as f64)
            }
            "error-rate" => (Metric::ErrorRate, parse_share(value).map_err(|error| format!("--slo {text:?}: {error}"))?),
            "throughput" => {
                let rate: f64 = value
                    .trim_end_matches("/s")
                    .parse()
                    .map_err(|_| format!("--slo {text:?}: throughput= takes requests per second"))?;
                (Metric::Throughput, rate)
            }
            other => {
                return Err(format!(
                    "--slo {text:?}: unknown metric {other:?} (p50, p90, p99, p99.9, max, mean, errors, error-rate, throughput)"
                ))
            }
        };
        if op.is_some() && metric == Metric::ErrorRate {
            return Err(format!("--slo {text:?}: error-rate is for all requests; use <op>:errors=N for one op"));
        }
        Ok(Slo { text: text.to_owned(), op, metric, limit })
    }
}

impl fmt::Display for Slo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SloResult {
    pub slo: String,
    pub actual: String,
    pub passed: bool,
}

impl Slo {
    pub fn evaluate(&self, report: &Report) -> SloResult {
        let empty = OpReport::default();
        let scope: &OpReport = match &self.op {
            None => &report.total,
            Some(name) => report.ops.iter().find(|op| &op.name == name).unwrap_or(&empty),
        };
        let (actual, passed) = match &self.metric {
            Metric::Latency(percentile) => {
                let value = scope.latency.get(percentile).unwrap_or(0.0);
                let passed = scope.requests > 0 && value <= self.limit;
                let shown = if scope.requests == 0 { "no requests".to_owned() } else { fmt_us_f(value) };
                (shown, passed)
            }
            Metric::Errors => (scope.errors.to_string(), scope.errors as f64 <= self.limit),
            Metric::ErrorRate => {
                let rate = if scope.requests == 0 { 0.0 } else { scope.errors as f64 / scope.requests as f64 };
                (format!("{:.3}%", rate * 100.0), rate <= self.limit)
            }
            Metric::Throughput => (format!("{:.1}/s", scope.throughput_rps), scope.throughput_rps >= self.limit),
        };
        SloResult { slo: self.text.clone(), actual, passed }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::Percentiles;

    #[test]
    fn slos_parse() {
        let slo: Slo = "p99=1ms".parse().unwrap();
        assert_eq!((slo.op, slo.metric, slo.limit), (None, Metric::Latency("p99".into()), 1_000.0));
        let slo: Slo = "reserve:p99.9=2.5ms".parse().unwrap();
        assert_eq!((slo.op.as_deref(), slo.limit), (Some("reserve"), 2_500.0));
        assert_eq!("errors=0".parse::<Slo>().unwrap().metric, Metric::Errors);
        assert_eq!("error-rate=0.5%".parse::<Slo>().unwrap().limit, 0.005);
        assert_eq!("throughput=1500/s".parse::<Slo>().unwrap().limit, 1_500.0);
        assert!("p98=1ms".parse::<Slo>().is_err());
        assert!("search:p99=1ms".parse::<Slo>().is_err());
        assert!("p99".parse::<Slo>().is_err());
        assert!("p99=fast".parse::<Slo>().is_err());
    }

    #[test]
    fn slos_are_judged_on_the_report() {
        let mut report = Report::default();
        report.total.requests = 1_000;
        report.total.errors = 2;
        report.total.throughput_rps = 900.0;
        report.total.latency = Percentiles { p99: 1_500, ..Percentiles::default() };
        report.ops.push(OpReport { name: "reserve".into(), requests: 10, ..OpReport::default() });
        let judge = |text: &str| text.parse::<Slo>().unwrap().evaluate(&report).passed;
        assert!(judge("p99=2ms"));
        assert!(!judge("p99=1ms"));
        assert!(!judge("errors=0"));
        assert!(judge("errors=2"));
        assert!(judge("error-rate=0.2%"));
        assert!(!judge("error-rate=0.1%"));
        assert!(!judge("throughput=1000"));
        assert!(judge("reserve:errors=0"));
        // An op that never ran cannot meet a latency objective.
        assert!(!judge("page:p99=1s"));
    }
}
