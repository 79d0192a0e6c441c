//! The admin HTTP listener: /metrics, /healthz, /readyz (being written).
