//! Prometheus metrics of the server (placeholder until the metrics branch lands).
use crate::protocol::{Call, ErrorCode};
use crate::storage::DurableEngine;
use std::time::Duration;

pub fn call_label(_call: &Call) -> &'static str {
    "call"
}

#[derive(Default)]
pub struct Metrics {}

impl Metrics {
    pub fn new() -> Metrics {
        Metrics {}
    }
    pub fn record_call(&self, _label: &'static str, _outcome: Result<(), ErrorCode>, _latency: Duration) {}
    pub fn record_refused_request(&self, _code: ErrorCode) {}
    pub fn connection_opened(&self) {}
    pub fn connection_closed(&self) {}
    pub fn connection_refused(&self, _reason: &'static str) {}
    pub fn in_flight_add(&self, _delta: i64) {}
    pub fn render(&self, _durable: &DurableEngine, _out: &mut String) {}
}
