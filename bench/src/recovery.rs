//! `wflow bench-serve --recovery N`: how fast a restarted `wflow serve` resumes the runs a
//! crash interrupted. N runs of the benchmark workflow (form -> webhook -> upsert) are started
//! through the API of a `wflow serve` on a fresh store; the webhook's loopback sink holds every
//! request (it does not answer), so all N runs are in flight in their webhook node, its start
//! durable. The server is then killed with SIGKILL, the sink starts answering, and a new
//! `wflow serve` is started on the same store.
//!
//! Measured, from the restart (the new process spawned) on this process's monotonic clock:
//! - to the server serving (its `serving ... on` line);
//! - to each run's resumed webhook arriving at the sink (p50, p99, max; the first);
//! - to every run finished (the new server's `/metrics`): resumed runs per second.
//!
//! Checked, and reported as a failure: every run ends SUCCESS exactly once (each of its nodes
//! has one node run, no run is lost or added, the webhook is re-sent once), and every resumed
//! webhook carries the `Idempotency-Key` its run sent before the kill.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, StatusCode};
use wflow_store::{Conclusion, RunStatus};

use crate::loopback::ms;
use crate::serve::{
    Load, Scene, Servers, Via, WORKFLOW, prepare, row, start_runs, wait_finished, workflow,
};

/// The longest the benchmark may take.
const LIFETIME: Duration = Duration::from_secs(600);

/// What `wflow bench-serve --recovery` is given.
pub(crate) struct RecoveryArgs {
    /// Runs interrupted and resumed.
    pub runs: usize,
    /// Clients starting them.
    pub clients: usize,
    /// A PostgreSQL store's URL; `None` for a fresh SQLite file.
    pub postgres: Option<String>,
    /// The servers' `--lease-seconds`, when given.
    pub lease_seconds: Option<f64>,
}

/// A webhook's arrival at the sink: its run's `Idempotency-Key` and when it came.
type Arrival = (String, Instant);

/// The webhook's target: holds every request until [`Sink::answer`], then answers each at once.
/// It records each run's requests (by `X-Wflow-Run-Id`) before and after.
struct Sink {
    addr: SocketAddr,
    state: Arc<SinkState>,
    task: tokio::task::JoinHandle<()>,
}

#[derive(Default)]
struct SinkState {
    answering: AtomicBool,
    /// The requests held (never answered), by run.
    held: Mutex<HashMap<String, Vec<Arrival>>>,
    /// The requests answered, by run.
    answered: Mutex<HashMap<String, Vec<Arrival>>>,
}

impl Sink {
    /// Binds 127.0.0.1 on a free port and serves, holding requests.
    async fn start() -> Result<Sink, String> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| format!("cannot bind a loopback port: {e}"))?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        let state = Arc::new(SinkState::default());
        let handler = {
            let state = Arc::clone(&state);
            move |headers: HeaderMap| {
                let state = Arc::clone(&state);
                async move { state.serve(&headers).await }
            }
        };
        let app = axum::Router::new().fallback(handler);
        let task = tokio::spawn(async move {
            let _ = tokio::time::timeout(LIFETIME, axum::serve(listener, app)).await;
        });
        Ok(Sink { addr, state, task })
    }

    /// From now on, answers every request (those held stay held: their sender is gone).
    fn answer(&self) {
        self.state.answering.store(true, Ordering::SeqCst);
    }

    /// How many requests are held.
    fn held(&self) -> usize {
        lock(&self.state.held).values().map(Vec::len).sum()
    }

    /// The requests held and those answered, by run.
    fn arrivals(&self) -> (HashMap<String, Vec<Arrival>>, HashMap<String, Vec<Arrival>>) {
        (
            lock(&self.state.held).clone(),
            lock(&self.state.answered).clone(),
        )
    }
}

impl SinkState {
    async fn serve(&self, headers: &HeaderMap) -> (StatusCode, &'static str) {
        let at = Instant::now();
        let header = |name| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string()
        };
        let arrival = (header("idempotency-key"), at);
        let run = header("x-wflow-run-id");
        if self.answering.load(Ordering::SeqCst) {
            lock(&self.answered).entry(run).or_default().push(arrival);
            return (StatusCode::OK, r#"{"id":"dep-1"}"#);
        }
        lock(&self.held).entry(run).or_default().push(arrival);
        std::future::pending().await
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The value behind `m`, even when a holder panicked.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// What was wrong with the resumed runs; empty when each of the `started` runs ended SUCCESS
/// exactly once with the same `Idempotency-Key` as before the kill.
#[derive(Default)]
struct Verdict {
    problems: Vec<String>,
    /// Resumed webhooks re-sent with the key sent before the kill.
    same_key: usize,
}

impl Verdict {
    fn problem(&mut self, count: usize, what: &str, example: Option<&String>) {
        if count > 0 {
            let example = example.map(|e| format!(" (e.g. {e})")).unwrap_or_default();
            self.problems.push(format!("{count} {what}{example}"));
        }
    }
}

/// Checks the sink's arrivals against the `started` runs: each held once before the kill and
/// re-sent once after it, with the same key.
fn check_arrivals(
    started: &[String],
    held: &HashMap<String, Vec<Arrival>>,
    answered: &HashMap<String, Vec<Arrival>>,
    verdict: &mut Verdict,
) {
    let count = |m: &HashMap<String, Vec<Arrival>>, id: &String| m.get(id).map_or(0, Vec::len);
    let not_held: Vec<&String> = started.iter().filter(|id| count(held, id) != 1).collect();
    let lost: Vec<&String> = started
        .iter()
        .filter(|id| count(answered, id) == 0)
        .collect();
    let twice: Vec<&String> = started
        .iter()
        .filter(|id| count(answered, id) > 1)
        .collect();
    let strangers: Vec<&String> = answered.keys().filter(|id| !started.contains(id)).collect();
    let mut other_key = Vec::new();
    for id in started {
        let before = held.get(id).and_then(|a| a.first()).map(|a| &a.0);
        let after = answered.get(id).map(Vec::as_slice).unwrap_or_default();
        if let Some(before) = before.filter(|k| !k.is_empty())
            && !after.is_empty()
            && after.iter().all(|a| &a.0 == before)
        {
            verdict.same_key += 1;
        } else if !after.is_empty() {
            other_key.push(id);
        }
    }
    for (runs, what) in [
        (
            &not_held,
            "runs did not send their webhook exactly once before the kill",
        ),
        (&lost, "runs were LOST: their webhook was never re-sent"),
        (
            &twice,
            "runs were DUPLICATED: their webhook was re-sent more than once",
        ),
        (
            &strangers,
            "webhooks came from runs the benchmark did not start",
        ),
        (
            &other_key,
            "webhooks were re-sent with another Idempotency-Key than before the kill",
        ),
    ] {
        verdict.problem(runs.len(), what, runs.first().copied());
    }
}

/// Checks the store (the servers stopped): the workflow has exactly the `started` runs, each
/// COMPLETED SUCCESS with one node run per node.
async fn check_store(store: &str, started: &[String], verdict: &mut Verdict) -> Result<(), String> {
    let store = wflow_store::Store::open(Path::new(store))
        .await
        .map_err(|e| e.to_string())?;
    let limit = i64::try_from(started.len() * 2 + 1).unwrap_or(i64::MAX);
    let runs = store
        .runs_matching(Some(WORKFLOW), None, None, limit)
        .await
        .map_err(|e| e.to_string())?;
    let by_id: HashMap<&str, &wflow_store::RunRecord> =
        runs.iter().map(|r| (r.id.as_str(), r)).collect();
    let mut unsuccessful = Vec::new();
    let mut repeated_nodes = Vec::new();
    for id in started {
        let Some(run) = by_id.get(id.as_str()) else {
            unsuccessful.push(format!("{id}: not in the store"));
            continue;
        };
        if run.status != RunStatus::Completed || run.result != Some(Conclusion::Success) {
            unsuccessful.push(format!(
                "{id}: {} {:?} {:?}",
                run.status, run.result, run.error
            ));
        }
        let nodes = store.node_runs(id).await.map_err(|e| e.to_string())?;
        let mut per_node: BTreeMap<&str, usize> = BTreeMap::new();
        for n in &nodes {
            *per_node.entry(n.node.as_str()).or_default() += 1;
        }
        if per_node.len() != 3 || per_node.values().any(|&c| c != 1) {
            repeated_nodes.push(format!("{id}: {per_node:?}"));
        }
    }
    let extra = runs.len().saturating_sub(started.len());
    verdict.problem(
        unsuccessful.len(),
        "runs did not end SUCCESS",
        unsuccessful.first(),
    );
    verdict.problem(
        repeated_nodes.len(),
        "runs do not have exactly one node run per node",
        repeated_nodes.first(),
    );
    verdict.problem(
        extra,
        "runs in the store were not started by the benchmark",
        None,
    );
    store.close().await;
    Ok(())
}

/// Runs the benchmark and prints what it measured.
pub(crate) async fn run(args: RecoveryArgs) -> Result<(), String> {
    let n = args.runs.max(1);
    let until = Instant::now() + LIFETIME;
    let sink = Sink::start().await?;
    let scene = Scene::new("recovery", &workflow(sink.addr), args.postgres.as_deref())?;
    let extra: Vec<String> = args
        .lease_seconds
        .map(|s| vec!["--lease-seconds".to_string(), s.to_string()])
        .unwrap_or_default();
    let mut servers = Servers::start(1, &scene.workflows, &scene.store, &scene.dir, &extra)?;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(|e| e.to_string())?;
    prepare(&client, &servers.urls).await?;

    // N runs, each held in its webhook node.
    let load = Load::Closed {
        clients: args.clients,
    };
    let batch = start_runs(&client, (&servers.urls, Via::Api), n, load, Instant::now()).await;
    if let Some(p) = batch.first_problem {
        return Err(format!(
            "{} runs were refused; the first: {p}",
            batch.refused
        ));
    }
    let started: Vec<String> = batch.accepted.into_iter().map(|a| a.0).collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    while sink.held() < started.len() {
        if Instant::now() > deadline {
            return Err(format!(
                "only {} of {} runs reached their webhook",
                sink.held(),
                started.len()
            ));
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    // The crash, and the restart on the same store.
    servers.kill()?;
    sink.answer();
    let restart = Instant::now();
    let (workflows, store, log) = (
        scene.workflows.clone(),
        scene.store.clone(),
        scene.dir.join("serve-2.log"),
    );
    let (mut servers, spawned) = tokio::task::spawn_blocking(move || {
        let spawned = servers.spawn(&workflows, &store, &log, &extra);
        (servers, spawned)
    })
    .await
    .map_err(|e| e.to_string())?;
    spawned?;
    let serving = restart.elapsed();
    let results = wait_finished(&client, &servers.urls, started.len() as u64, until).await?;
    let completed = restart.elapsed();
    servers.stop();

    let (held, answered) = sink.arrivals();
    let mut verdict = Verdict::default();
    check_arrivals(&started, &held, &answered, &mut verdict);
    check_store(&scene.store, &started, &mut verdict).await?;
    let mut resumed: Vec<Duration> = answered
        .values()
        .filter_map(|a| a.first())
        .map(|a| a.1.saturating_duration_since(restart))
        .collect();
    resumed.sort();
    let first = resumed.first().copied().unwrap_or_default();

    let total = started.len();
    println!(
        "wflow bench-serve --recovery: {total} runs in flight at their webhook, wflow serve \
         killed (SIGKILL) and restarted on {}",
        scene.store_name
    );
    println!(
        "  {:<26} {:>10} {:>10} {:>10} {:>10}",
        "from the restart to", "p50", "p99", "max", "rate"
    );
    row("serving", None, None, &format!("({:.2} ms)", ms(serving)));
    row(
        "first resumed node",
        None,
        None,
        &format!("({:.2} ms)", ms(first)),
    );
    row(
        "resumed node (webhook)",
        Some(&resumed),
        None,
        &format!("({} of {total} webhooks re-sent)", resumed.len()),
    );
    row(
        "all runs completed",
        None,
        Some(total as f64 / completed.as_secs_f64()),
        &format!(
            "(resumed runs/s: all finished {:.2} s after the restart)",
            completed.as_secs_f64()
        ),
    );
    let due = completed.saturating_sub(first);
    row(
        "  once due",
        None,
        Some(total as f64 / due.as_secs_f64().max(1e-9)),
        &format!(
            "(from the first resumed node to the last run finished, {:.2} s)",
            due.as_secs_f64()
        ),
    );
    println!("  results: {results:?} (finished by the restarted server)");
    println!(
        "  Idempotency-Key: {} of {total} resumed webhooks re-sent with the key sent before the kill",
        verdict.same_key
    );
    let store_arg = args
        .postgres
        .as_ref()
        .map(|s| format!(" --store {s}"))
        .unwrap_or_default();
    let lease_arg = args
        .lease_seconds
        .map(|s| format!(" --lease-seconds {s}"))
        .unwrap_or_default();
    let succeeded = results.get("SUCCESS").copied().unwrap_or(0);
    if succeeded != total as u64 {
        verdict.problems.push(format!(
            "the restarted server finished {results:?}, not {total} SUCCESS"
        ));
    }
    if verdict.problems.is_empty() {
        println!(
            "  exactly once: every run SUCCESS, each node run once, each webhook re-sent once"
        );
    }
    println!(
        "reproduce: wflow bench-serve --recovery {n} --concurrency {}{store_arg}{lease_arg}",
        args.clients
    );
    if verdict.problems.is_empty() {
        if args.postgres.is_none() {
            let _ = std::fs::remove_dir_all(&scene.dir);
        }
        Ok(())
    } else {
        println!("server logs: {}", scene.dir.display());
        Err(format!("RECOVERY FAILED: {}", verdict.problems.join("; ")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Arrivals by run: each run with the keys given.
    fn arrivals(runs: &[(&str, &[&str])]) -> HashMap<String, Vec<Arrival>> {
        let at = Instant::now();
        runs.iter()
            .map(|(run, keys)| {
                let keys = keys.iter().map(|k| (k.to_string(), at)).collect();
                (run.to_string(), keys)
            })
            .collect()
    }

    fn verdict(held: &[(&str, &[&str])], answered: &[(&str, &[&str])]) -> (usize, Vec<String>) {
        let started = vec!["r1".to_string(), "r2".to_string()];
        let mut v = Verdict::default();
        check_arrivals(&started, &arrivals(held), &arrivals(answered), &mut v);
        (v.same_key, v.problems)
    }

    #[test]
    fn each_run_resent_once_with_its_key_passes() {
        let (same, problems) = verdict(
            &[("r1", &["r1:a"]), ("r2", &["r2:a"])],
            &[("r1", &["r1:a"]), ("r2", &["r2:a"])],
        );
        assert_eq!((same, problems), (2, Vec::<String>::new()));
    }

    #[test]
    fn a_lost_a_duplicated_and_a_rekeyed_run_are_each_reported() {
        let held: &[(&str, &[&str])] = &[("r1", &["r1:a"]), ("r2", &["r2:a"])];
        let (_, lost) = verdict(held, &[("r1", &["r1:a"])]);
        assert!(
            lost.iter().any(|p| p.starts_with("1 runs were LOST")),
            "{lost:?}"
        );
        let (_, twice) = verdict(held, &[("r1", &["r1:a"]), ("r2", &["r2:a", "r2:a"])]);
        assert!(twice.iter().any(|p| p.contains("DUPLICATED")), "{twice:?}");
        let (same, rekeyed) = verdict(held, &[("r1", &["r1:a"]), ("r2", &["other"])]);
        assert_eq!(same, 1);
        assert!(
            rekeyed
                .iter()
                .any(|p| p.contains("another Idempotency-Key")),
            "{rekeyed:?}"
        );
        let (_, stranger) = verdict(
            held,
            &[("r1", &["r1:a"]), ("r2", &["r2:a"]), ("r9", &["r9:a"])],
        );
        assert!(
            stranger.iter().any(|p| p.contains("did not start")),
            "{stranger:?}"
        );
    }

    #[test]
    fn a_run_not_held_before_the_kill_is_reported() {
        let (_, problems) = verdict(
            &[("r1", &["r1:a"])],
            &[("r1", &["r1:a"]), ("r2", &["r2:a"])],
        );
        assert!(
            problems
                .iter()
                .any(|p| p.contains("exactly once before the kill")),
            "{problems:?}"
        );
    }
}
