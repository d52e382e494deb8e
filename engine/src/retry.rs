//! Retries and timeouts: a node's attempts, their durable backoff, per-attempt and per-run
//! timeouts, and the expiry of waits (an approval's `timeout`).
//!
//! Each failed attempt that is retried is written to the node run (its cause, its wait and when
//! the next attempt starts) before the wait begins, so a process that dies during a backoff
//! is resumed by waiting out what is left of it: no attempt is sent early and none is added.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Value as Json, json};
use wflow_compiler::ir::{Node, NodeConfig, OnTimeout, Retry, RetryOn};

use crate::engine::{Done, Engine, Error, State, log};
use crate::plan::Plan;
use crate::secrets::Secrets;
use wflow_effects::http::{Failed, Response};
use wflow_store::{Attempt, NodeRunRecord};

/// A failure that may be retried: its class and the wait the server asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Failure {
    pub(crate) class: RetryOn,
    pub(crate) retry_after: Option<Duration>,
}

impl Failure {
    /// The class of a request that failed without an answer.
    pub(crate) fn of_error(e: &Failed) -> Option<Failure> {
        let class = match e {
            Failed::Timeout => RetryOn::Timeout,
            Failed::Connect(_) => RetryOn::Connect,
            Failed::Other(_) => return None,
        };
        Some(Failure {
            class,
            retry_after: None,
        })
    }

    /// The class of an answer (5xx, 429), with its `Retry-After`.
    pub(crate) fn of_status(resp: &Response, now: DateTime<Utc>) -> Option<Failure> {
        let class = if resp.status == 429 {
            RetryOn::TooManyRequests
        } else if (500..600).contains(&resp.status) {
            RetryOn::ServerError
        } else {
            return None;
        };
        let retry_after = resp
            .header_value("retry-after")
            .and_then(|v| retry_after(v, now));
        Some(Failure { class, retry_after })
    }
}

/// A `Retry-After` value: seconds, or an HTTP date (a date passed is no wait).
fn retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = DateTime::parse_from_rfc2822(value).ok()?;
    Some((at.with_timezone(&Utc) - now).to_std().unwrap_or_default())
}

/// The wait after failed attempt `attempt`: the policy's, or the server's `Retry-After`,
/// never more than the policy's longest wait; with jitter, between half of it and all of it.
fn wait(r: &Retry, attempt: u32, f: &Failure) -> Duration {
    let base = match f.retry_after {
        Some(ra) => (ra.as_millis() as u64).min(r.cap_ms()),
        None => r.delay_ms(attempt),
    };
    let ms = if r.jitter && f.retry_after.is_none() {
        let random = u64::from_le_bytes(
            uuid::Uuid::now_v7().as_bytes()[8..16]
                .try_into()
                .unwrap_or_default(),
        );
        base / 2 + random % (base - base / 2 + 1)
    } else {
        base
    };
    Duration::from_millis(ms)
}

/// Parses a time written by [`crate::engine::now`].
fn parse(at: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(at)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// `at` as [`crate::engine::now`] writes times.
fn stamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// How long from `now` until `at` (zero when it passed).
fn until(at: &str, now: DateTime<Utc>) -> Duration {
    parse(at)
        .and_then(|t| (t - now).to_std().ok())
        .unwrap_or_default()
}

/// When the run must have finished, if the workflow has a `timeout`: counted from its first
/// node after the trigger, so that a run queued behind a concurrency limit is not timed while
/// it waits its turn (`None` until that node starts).
pub(crate) fn run_deadline(plan: &Plan, st: &State) -> Option<DateTime<Utc>> {
    let t = plan.workflow.timeout?;
    let first = st
        .nodes
        .values()
        .filter(|n| n.seq > 0)
        .map(|n| n.created_at.as_str())
        .min()?;
    Some(parse(first)? + chrono::Duration::milliseconds(t.ms as i64))
}

/// The message of a run that ran out of time.
pub(crate) fn run_timed_out(plan: &Plan) -> String {
    let t = plan.workflow.timeout.map(|t| t.text()).unwrap_or_default();
    format!("the run did not finish within its timeout of {t}")
}

/// Whether a waiting node run's wait is over.
/// Whether `rec` waits for a deadline that passed by `now` (a stamp as [`crate::engine::now`] writes).
pub(crate) fn expired(rec: &NodeRunRecord, now: &str) -> bool {
    rec.waiting && rec.deadline.as_deref().is_some_and(|d| d <= now)
}

impl Engine {
    /// Runs the node's attempts: each bounded by its timeout and the run's, failures of the
    /// classes its retry policy names retried after a durable wait. `rec` gets the attempts.
    pub(crate) async fn attempts(
        &self,
        plan: &Plan,
        st: &mut State,
        node: &Node,
        rec: &mut NodeRunRecord,
        ctx: Json,
        secrets: &Secrets,
    ) -> Result<Done, Error> {
        let id = node.identifier.value.as_str();
        let retry = plan.workflow.retry_of(node);
        if let Some(next) = rec.attempts.last().and_then(|a| a.next_at.clone()) {
            // Resumed during a backoff: wait out what is left of it.
            if self
                .back_off(&rec.run_id, until(&next, self.clock.now()))
                .await?
            {
                return Ok(Done::cancelled());
            }
        }
        loop {
            let attempt = rec.attempts.len() as u32 + 1;
            let mut done = self
                .attempt(plan, st, node, rec, ctx.clone(), secrets)
                .await?;
            let (Some(r), Some(error)) = (retry, done.error.as_deref()) else {
                return Ok(self.timed_out(node, done));
            };
            let at = self.clock.now();
            let cause = secrets.redact_str(error);
            let retried = done
                .failure
                .filter(|f| r.on.contains(&f.class) && !done.fatal && attempt < r.attempts);
            let Some(f) = retried else {
                if attempt > 1 {
                    done.logs
                        .push(log(id, "WARN", format!("gave up after {attempt} attempts")));
                }
                rec.attempts.push(Attempt {
                    attempt,
                    at: stamp(at),
                    class: done.failure.map_or("other", |f| f.class.word()).into(),
                    cause,
                    delay_ms: 0,
                    next_at: None,
                });
                return Ok(self.timed_out(node, done));
            };
            let delay = wait(r, attempt, &f);
            let next_at = stamp(at + chrono::Duration::milliseconds(delay.as_millis() as i64));
            st.log(log(
                id,
                "WARN",
                format!(
                    "attempt {attempt} of {} failed ({}): {cause}; retrying in {} ms",
                    r.attempts,
                    f.class.word(),
                    delay.as_millis()
                ),
            ));
            for l in done.logs.drain(..) {
                st.log(wflow_store::LogRecord {
                    message: secrets.redact_str(&l.message),
                    ..l
                });
            }
            rec.attempts.push(Attempt {
                attempt,
                at: stamp(at),
                class: f.class.word().into(),
                cause,
                delay_ms: delay.as_millis() as u64,
                next_at: Some(next_at),
            });
            rec.updated_at = stamp(at);
            st.put(rec.clone());
            if self.flush(st).await?.cancel_requested || self.back_off(&rec.run_id, delay).await? {
                return Ok(Done::cancelled());
            }
        }
    }

    /// Waits `delay` between attempts; says whether cancelling the run was requested
    /// meanwhile (looked at every [`wflow_effects::clock::Clock::check_every`]).
    async fn back_off(&self, run_id: &str, delay: Duration) -> Result<bool, Error> {
        let end = self.clock.now() + chrono::Duration::milliseconds(delay.as_millis() as i64);
        loop {
            let Ok(left) = (end - self.clock.now()).to_std() else {
                return Ok(false);
            };
            if left.is_zero() {
                return Ok(false);
            }
            self.clock.sleep(left.min(self.clock.check_every())).await;
            if self
                .store
                .run(run_id)
                .await?
                .is_some_and(|r| r.cancel_requested)
            {
                return Ok(true);
            }
        }
    }

    /// One attempt, bounded by the node's `timeout` and what is left of the run's.
    async fn attempt(
        &self,
        plan: &Plan,
        st: &mut State,
        node: &Node,
        rec: &mut NodeRunRecord,
        ctx: Json,
        secrets: &Secrets,
    ) -> Result<Done, Error> {
        let left =
            run_deadline(plan, st).map(|d| (d - self.clock.now()).to_std().unwrap_or_default());
        let own = node.timeout.map(|t| t.std());
        let limit = match (own, left) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let Some(limit) = limit else {
            return self.execute(plan, st, node, rec, ctx, secrets).await;
        };
        let work = self.execute(plan, st, node, rec, ctx, secrets);
        match self.clock.within(limit, work).await {
            Some(done) => done,
            None if left.is_some_and(|l| l <= limit) => Ok(Done {
                fatal: true,
                ..Done::failed(run_timed_out(plan), json!({ "timeout": true }))
            }),
            None => Ok(Done::timed_out(format!(
                "the attempt did not finish within the node's timeout of {}",
                node.timeout.map(|t| t.text()).unwrap_or_default()
            ))),
        }
    }

    /// A final timeout under `on_timeout continue`: the node succeeds with `{"timeout": true}`.
    fn timed_out(&self, node: &Node, done: Done) -> Done {
        let timeout = done.failure.is_some_and(|f| f.class == RetryOn::Timeout);
        if !timeout || done.fatal || node.on_timeout != Some(OnTimeout::Continue) {
            return done;
        }
        let why = done.error.unwrap_or_default();
        let mut logs = done.logs;
        logs.push(log(
            &node.identifier.value,
            "WARN",
            format!("{why}; continuing (onTimeout: continue)"),
        ));
        Done {
            logs,
            ..Done::ok(json!({ "timeout": true }))
        }
    }

    /// What a waiting node does when its wait is over: the run fails when its own timeout
    /// passed; an approval takes the outlet of its `on_timeout`, or fails.
    pub(crate) fn expire(&self, plan: &Plan, st: &State, node: &Node, rec: &NodeRunRecord) -> Done {
        if run_deadline(plan, st).is_some_and(|d| d <= self.clock.now()) {
            return Done {
                fatal: true,
                ..Done::failed(run_timed_out(plan), json!({ "timeout": true }))
            };
        }
        let mut out = match rec.output.clone() {
            Some(Json::Object(m)) => m,
            _ => serde_json::Map::new(),
        };
        out.insert("timeout".into(), Json::Bool(true));
        let after = node.timeout.map(|t| t.text()).unwrap_or_default();
        match (&node.on_timeout, &node.config) {
            (Some(OnTimeout::Outlet(o)), NodeConfig::Input(_)) => {
                out.insert("selectedOutlet".into(), json!({ "identifier": o.value }));
                out.entry("responses").or_insert_with(|| json!([]));
                Done {
                    outlet: Some(o.value.clone()),
                    logs: vec![log(
                        &node.identifier.value,
                        "WARN",
                        format!("no decision within {after}; taking outlet `{}`", o.value),
                    )],
                    ..Done::ok(Json::Object(out))
                }
            }
            _ => Done::failed(format!("no decision within {after}"), Json::Object(out)),
        }
    }

    /// When a node that starts waiting stops waiting: its own `timeout` (approvals), or the
    /// run's, whichever comes first.
    pub(crate) fn wait_deadline(&self, plan: &Plan, st: &State, node: &Node) -> Option<String> {
        let own = node
            .timeout
            .filter(|_| matches!(node.config, NodeConfig::Input(_)))
            .map(|t| self.clock.now() + chrono::Duration::milliseconds(t.ms as i64));
        let run = run_deadline(plan, st);
        let at = match (own, run) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        at.map(stamp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        let now = DateTime::parse_from_rfc3339("2015-10-21T07:27:00Z")
            .map(|t| t.with_timezone(&Utc))
            .expect("time");
        assert_eq!(retry_after("3", now), Some(Duration::from_secs(3)));
        assert_eq!(
            retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now),
            Some(Duration::from_secs(60))
        );
        assert_eq!(
            retry_after("Wed, 21 Oct 2015 07:20:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(retry_after("soon", now), None);
    }

    #[test]
    fn waits_grow_are_capped_and_jitter_stays_within_half() {
        let ms = |ms| wflow_compiler::ir::Duration {
            ms,
            span: Default::default(),
        };
        let r = Retry {
            attempts: 10,
            backoff: wflow_compiler::ir::Backoff::Exponential,
            delay: ms(100),
            max: Some(ms(1_000)),
            jitter: false,
            on: vec![RetryOn::ServerError],
            span: Default::default(),
        };
        let f = Failure {
            class: RetryOn::ServerError,
            retry_after: None,
        };
        let waits: Vec<u128> = (1..=6).map(|a| wait(&r, a, &f).as_millis()).collect();
        assert_eq!(waits, [100, 200, 400, 800, 1_000, 1_000]);
        let asked = Failure {
            retry_after: Some(Duration::from_secs(60)),
            ..f
        };
        assert_eq!(wait(&r, 1, &asked), Duration::from_secs(1));
        let jittered = Retry { jitter: true, ..r };
        for _ in 0..50 {
            let w = wait(&jittered, 3, &f).as_millis();
            assert!((200..=400).contains(&w), "{w}");
        }
    }
}
