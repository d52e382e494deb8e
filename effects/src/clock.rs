//! The engine's time: the system clock, or a virtual one for `wflow test` on which backoffs,
//! timeouts and approval deadlines take no wall time.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};

/// What the engine reads the time from and waits on.
#[derive(Clone, Default)]
pub enum Clock {
    /// Wall time; waits sleep.
    #[default]
    System,
    /// Time that moves only when the engine waits (or a test moves it): a wait returns at
    /// once, having moved the clock past it.
    Virtual(Arc<VirtualTime>),
}

/// The state of a [`Clock::Virtual`]: where it started and how far it moved.
pub struct VirtualTime {
    start: DateTime<Utc>,
    elapsed_ms: AtomicU64,
}

impl Clock {
    /// A virtual clock that starts at `start`.
    pub fn virtual_at(start: DateTime<Utc>) -> Clock {
        Clock::Virtual(Arc::new(VirtualTime {
            start,
            elapsed_ms: AtomicU64::new(0),
        }))
    }

    /// Now.
    pub fn now(&self) -> DateTime<Utc> {
        match self {
            Clock::System => Utc::now(),
            Clock::Virtual(v) => {
                v.start + chrono::Duration::milliseconds(v.elapsed_ms.load(Ordering::SeqCst) as i64)
            }
        }
    }

    /// Now, as RFC 3339 with milliseconds (how records stamp times).
    pub fn stamp(&self) -> String {
        self.now()
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    }

    /// How often a long wait looks whether it should stop (a cancelled run): every second on
    /// the system clock; a virtual wait is over at once, so it looks only at its end.
    pub fn check_every(&self) -> Duration {
        match self {
            Clock::System => Duration::from_secs(1),
            Clock::Virtual(_) => Duration::MAX,
        }
    }

    /// Moves a virtual clock `by` forward (a system clock does not move).
    pub fn advance(&self, by: Duration) {
        if let Clock::Virtual(v) = self {
            v.elapsed_ms
                .fetch_add(by.as_millis() as u64, Ordering::SeqCst);
        }
    }

    /// Waits `d`: sleeps on the system clock, moves a virtual one.
    pub async fn sleep(&self, d: Duration) {
        match self {
            Clock::System => tokio::time::sleep(d).await,
            Clock::Virtual(_) => {
                self.advance(d);
                tokio::task::yield_now().await;
            }
        }
    }

    /// `work`'s output, or `None` when it took longer than `limit`. On a virtual clock the work
    /// always finishes and is measured by how far it moved the clock.
    pub async fn within<F: Future>(&self, limit: Duration, work: F) -> Option<F::Output> {
        match self {
            Clock::System => tokio::time::timeout(limit, work).await.ok(),
            Clock::Virtual(_) => {
                let t0 = self.now();
                let out = work.await;
                let took = (self.now() - t0).to_std().unwrap_or_default();
                (took <= limit).then_some(out)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_virtual_hour_takes_no_wall_time() {
        let start = Utc::now();
        let clock = Clock::virtual_at(start);
        let wall = std::time::Instant::now();
        clock.sleep(Duration::from_secs(3600)).await;
        assert!(wall.elapsed() < Duration::from_secs(1));
        assert_eq!((clock.now() - start).num_seconds(), 3600);
        let late = clock
            .within(
                Duration::from_secs(10),
                clock.sleep(Duration::from_secs(11)),
            )
            .await;
        assert!(late.is_none());
        let on_time = clock.within(Duration::from_secs(10), async { 7 }).await;
        assert_eq!(on_time, Some(7));
    }
}
