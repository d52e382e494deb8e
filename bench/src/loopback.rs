//! Pieces shared by the runtime benchmarks: a loopback HTTP server that stands for a
//! webhook's target, and percentiles.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, StatusCode};

/// A loopback server answering every request with `{"id":"dep-1"}`. It stops by itself after
/// `limit` requests (later ones get 503) or after its lifetime, whichever comes first, and
/// when dropped.
pub(crate) struct Loopback {
    pub addr: SocketAddr,
    state: Arc<State>,
    task: tokio::task::JoinHandle<()>,
}

struct State {
    served: AtomicUsize,
    limit: usize,
    record: bool,
    /// When each run's first request arrived, by its `X-Wflow-Run-Id` header.
    arrivals: Mutex<HashMap<String, Instant>>,
    stop: tokio::sync::Notify,
}

impl Loopback {
    /// Binds 127.0.0.1 on a free port and serves. With `record`, the arrival time of each
    /// run's first request is kept (see [`Loopback::arrivals`]).
    pub async fn start(limit: usize, lifetime: Duration, record: bool) -> Result<Loopback, String> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| format!("cannot bind a loopback port: {e}"))?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        let state = Arc::new(State {
            served: AtomicUsize::new(0),
            limit,
            record,
            arrivals: Mutex::new(HashMap::new()),
            stop: tokio::sync::Notify::new(),
        });
        let handler = {
            let state = Arc::clone(&state);
            move |headers: HeaderMap| {
                let state = Arc::clone(&state);
                async move { state.serve(&headers) }
            }
        };
        let app = axum::Router::new().fallback(handler);
        let stopping = Arc::clone(&state);
        let task = tokio::spawn(async move {
            let stop = async move {
                tokio::select! {
                    _ = stopping.stop.notified() => {}
                    _ = tokio::time::sleep(lifetime) => {}
                }
            };
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(stop)
                .await;
        });
        Ok(Loopback { addr, state, task })
    }

    /// The recorded arrival times, by run id.
    pub fn arrivals(&self) -> HashMap<String, Instant> {
        std::mem::take(
            &mut *self
                .state
                .arrivals
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        )
    }
}

impl State {
    fn serve(&self, headers: &HeaderMap) -> (StatusCode, &'static str) {
        let now = Instant::now();
        let n = self.served.fetch_add(1, Ordering::Relaxed) + 1;
        if n > self.limit {
            return (StatusCode::SERVICE_UNAVAILABLE, "");
        }
        if n == self.limit {
            self.stop.notify_one();
        }
        if let Some(run) = self
            .record
            .then(|| headers.get("x-wflow-run-id"))
            .flatten()
            .and_then(|v| v.to_str().ok())
        {
            self.arrivals
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .entry(run.to_string())
                .or_insert(now);
        }
        (StatusCode::OK, r#"{"id":"dep-1"}"#)
    }
}

impl Drop for Loopback {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The `p` quantile (0 to 1) of sorted durations; zero when there are none.
pub(crate) fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(i).copied().unwrap_or_default()
}

/// Milliseconds, for printing.
pub(crate) fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}
