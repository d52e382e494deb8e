//! Schedules: each published SCHEDULE_TRIGGER fires at its cron's times, in UTC.
//!
//! A schedule run records the occurrence it is for (`scheduledAt` in the trigger's output), so
//! the last fire is persisted with the runs: after a restart the next occurrence is counted
//! from it. Occurrences missed while no server ran fire once (for the latest of them), never
//! several times; a schedule that never fired counts from the server's start.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;
use wflow_compiler::cron::Schedule;
use wflow_compiler::ir::NodeConfig;

use super::{ApiError, Server, log_error};

/// The time, injectable so that tests can move it.
pub trait Clock: Send + Sync {
    /// Now, in UTC.
    fn now(&self) -> DateTime<Utc>;
}

/// The system's clock.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// How long the scheduler sleeps at most between looks (so that reloaded workflows count).
const MAX_SLEEP: Duration = Duration::from_secs(30);

/// Fires the schedules of a server's workflows.
pub struct Scheduler {
    server: Server,
    clock: Arc<dyn Clock>,
    started: DateTime<Utc>,
}

impl Scheduler {
    /// A scheduler started now (by `clock`).
    pub fn new(server: Server, clock: Arc<dyn Clock>) -> Scheduler {
        let started = clock.now();
        Scheduler {
            server,
            clock,
            started,
        }
    }

    /// Fires every schedule that is due now. Returns the runs started and the next time a
    /// schedule is due.
    pub async fn tick(&self) -> Result<(Vec<String>, Option<DateTime<Utc>>), ApiError> {
        let now = self.clock.now();
        let mut started = Vec::new();
        let mut next_wake: Option<DateTime<Utc>> = None;
        for plan in self.server.workflows().values() {
            for node in plan.triggers() {
                let NodeConfig::ScheduleTrigger(t) = &node.config else {
                    continue;
                };
                if t.published == Some(false) {
                    continue;
                }
                let Ok(schedule) = Schedule::parse(&t.cron.value) else {
                    continue;
                };
                let workflow = &plan.workflow.identifier.value;
                let trigger = &node.identifier.value;
                let last = self
                    .server
                    .engine()
                    .store
                    .last_run(workflow, trigger)
                    .await?
                    .and_then(|r| {
                        r.trigger_payload["scheduledAt"]
                            .as_str()
                            .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
                    })
                    .map(|t| t.with_timezone(&Utc));
                let (due, next) = due(&schedule, last.unwrap_or(self.started), now);
                if let Some(at) = due {
                    let payload = wflow_engine::events::schedule_output(at);
                    started.push(self.server.start(plan, trigger, payload, None).await?.id);
                }
                if let Some(n) = next {
                    next_wake = Some(next_wake.map_or(n, |w| w.min(n)));
                }
            }
        }
        Ok((started, next_wake))
    }

    /// Ticks until `stop` is cancelled, sleeping until the next due time.
    pub async fn run(self, stop: CancellationToken) {
        loop {
            let wait = match self.tick().await {
                Ok((_, Some(next))) => (next - self.clock.now())
                    .to_std()
                    .unwrap_or(Duration::ZERO)
                    .min(MAX_SLEEP),
                Ok((_, None)) => MAX_SLEEP,
                Err(e) => {
                    log_error("schedules", &e.message());
                    MAX_SLEEP
                }
            };
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(wait.max(Duration::from_millis(200))) => {}
            }
        }
    }
}

/// The occurrence to fire now (the latest one after `last` and not after `now`), and the
/// occurrence after it (or after `last` when nothing is due).
pub fn due(
    schedule: &Schedule,
    last: DateTime<Utc>,
    now: DateTime<Utc>,
) -> (Option<DateTime<Utc>>, Option<DateTime<Utc>>) {
    let Some(mut occurrence) = schedule.next_after(last) else {
        return (None, None);
    };
    if occurrence > now {
        return (None, Some(occurrence));
    }
    // Catch up once: skip to the latest missed occurrence (bounded: a year of 5-minute slots).
    for _ in 0..120_000 {
        match schedule.next_after(occurrence) {
            Some(n) if n <= now => occurrence = n,
            next => return (Some(occurrence), next),
        }
    }
    (Some(occurrence), schedule.next_after(occurrence))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .expect("time")
            .with_timezone(&Utc)
    }

    #[test]
    fn due_fires_once_for_the_latest_missed_occurrence() {
        let s = Schedule::parse("*/5 * * * *").expect("cron");
        assert_eq!(
            due(&s, t("2026-01-01T10:03:00Z"), t("2026-01-01T10:04:59Z")),
            (None, Some(t("2026-01-01T10:05:00Z")))
        );
        assert_eq!(
            due(&s, t("2026-01-01T10:03:00Z"), t("2026-01-01T10:05:00Z")),
            (
                Some(t("2026-01-01T10:05:00Z")),
                Some(t("2026-01-01T10:10:00Z"))
            )
        );
        assert_eq!(
            due(&s, t("2026-01-01T10:05:00Z"), t("2026-01-01T11:02:00Z")),
            (
                Some(t("2026-01-01T11:00:00Z")),
                Some(t("2026-01-01T11:05:00Z"))
            )
        );
    }
}
