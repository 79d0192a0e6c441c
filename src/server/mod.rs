//! The QUIC server (being written).

pub mod admin_http;
pub mod metrics;
