//! The admin HTTP listener (placeholder until the metrics branch lands).
use super::metrics::Metrics;
use crate::storage::DurableEngine;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

pub struct AdminState {
    pub metrics: Arc<Metrics>,
    pub durable: Arc<DurableEngine>,
    ready: AtomicBool,
}

impl AdminState {
    pub fn new(metrics: Arc<Metrics>, durable: Arc<DurableEngine>) -> Arc<AdminState> {
        Arc::new(AdminState { metrics, durable, ready: AtomicBool::new(false) })
    }
    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::Release)
    }
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }
}

pub async fn serve(
    _listener: tokio::net::TcpListener,
    _state: Arc<AdminState>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let _ = shutdown.wait_for(|stop| *stop).await;
}
