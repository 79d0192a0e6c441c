//! The async Rust client of the QUIC protocol (being written).
