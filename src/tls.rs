//! TLS for the QUIC endpoint and its clients (being written).
