//! Prometheus metrics of the server (being written).
