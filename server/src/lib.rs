//! `wflow serve`: Port's backend for a directory of workflows, in one process. People and
//! agents start self-service runs over HTTP ([`api`]) and AI agents call them as MCP tools
//! ([`mcp`]), catalog changes fire event triggers ([`events`]), cron schedules fire
//! ([`schedule`]), approvers respond, async nodes report back, and every run can be followed
//! over the API. Access is checked by [`auth`].

mod api;
pub mod auth;
mod catalog_api;
pub mod events;
mod graph_api;
mod guard;
pub mod mcp;
pub mod metrics;
pub mod policy;
pub mod query;
pub mod schedule;
mod session;
pub mod timers;
mod ui;

use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value as Json, json};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use wflow_compiler::catalog::Catalog;
use wflow_compiler::preflight::How;
use wflow_compiler::{Diagnostic, Syntax, check_source_named};

use metrics::{Metrics, Watch};

use wflow_engine::engine::{Conclusion, Config, Engine, Outcome, RunStatus, Started};
use wflow_engine::lease::{DEFAULT_LEASE, Leases};
use wflow_engine::plan::Plan;
use wflow_engine::secrets::Secrets;
use wflow_store::{EntityChange, RunRecord, Store};

pub use auth::{Auth, User};
pub use schedule::{Clock, Scheduler, SystemClock};
pub use timers::Timers;

/// Why a workflow file cannot be served.
#[derive(Debug)]
pub enum Refusal {
    /// The file does not check; its diagnostics.
    Errors(Vec<Diagnostic>),
    /// A workflow checks but cannot run (an expression jaq does not compile, a missing secret).
    Problems(Vec<String>),
}

/// Checks `src` against `catalog` and prepares every workflow in it (fragments are skipped).
/// A file with errors is refused as a whole.
pub fn prepare(
    src: &str,
    syntax: Syntax,
    path: &str,
    catalog: &Catalog,
) -> Result<Vec<Plan>, Refusal> {
    let stem = std::path::Path::new(path)
        .file_stem()
        .and_then(|s| s.to_str());
    let checked = check_source_named(src, syntax, catalog, stem);
    if checked.has_errors() {
        return Err(Refusal::Errors(checked.diagnostics));
    }
    let mut plans = Vec::new();
    let mut problems = Vec::new();
    for wf in checked.module.workflows.into_iter().filter(|w| !w.fragment) {
        let id = wf.identifier.value.clone();
        match Plan::new(wf, src.to_string(), syntax, path.to_string()) {
            Ok(p) => plans.push(p),
            Err(e) => problems.extend(e.into_iter().map(|m| format!("workflow `{id}`: {m}"))),
        }
    }
    if problems.is_empty() {
        Ok(plans)
    } else {
        Err(Refusal::Problems(problems))
    }
}

/// How the server tells its operator and API clients to provide what a preflight found
/// missing.
pub fn preflight_help() -> How {
    How {
        secret: |name| {
            format!(
                "the server needs the secret `{name}`: set {} or add a `{name}=value` line to \
                 its --secrets-file, then restart it",
                wflow_engine::secrets::env_name(name)
            )
        },
        kafka: "configure `[kafka] brokers` and `topic` in the server's wflow.toml (or \
                WFLOW_KAFKA_BROKERS and WFLOW_KAFKA_TOPIC), then restart it",
        ai: "configure `[ai] base_url` in the server's wflow.toml (or WFLOW_AI_BASE_URL), then \
             restart it",
        service: |section| {
            format!(
                "configure `[{section}] api_url` in the server's wflow.toml (or WFLOW_{}_API_URL), \
                 then restart it",
                section.to_ascii_uppercase()
            )
        },
        blueprint: |bp| format!("create the blueprint `{bp}` first (POST /v1/blueprints)"),
    }
}

/// Settings of a server.
#[derive(Default)]
pub struct Options {
    /// Who may do what; `None` lets every request act as an admin (for local use).
    pub auth: Option<Auth>,
    /// The text of a `NAME=value` secrets file (the environment's `WFLOW_SECRET_*` win).
    pub secrets_file: Option<String>,
    /// The engine's settings.
    pub config: Config,
    /// How long a request may take (default 60 s); a run it drives goes on in the background.
    pub request_timeout: Option<Duration>,
    /// How long a process's claim on a run lasts unless renewed (default 30 s): the runs of a
    /// process that died are taken over this long after its last renewal.
    pub lease: Option<Duration>,
    /// Host names the server answers to besides its listen address and loopback names
    /// (`--allowed-host`); any other `Host` header is refused.
    pub allowed_hosts: Vec<String>,
    /// The prefix of this process's name in run leases (default `serve-`; [`MCP_OWNER`] for
    /// `wflow mcp`, whose leases a starting `wflow serve` leaves alone).
    pub lease_owner: Option<&'static str>,
    /// Most runs this process drives at once before it stops claiming due ones (default
    /// [`MAX_DRIVING`]); runs started through the API are always driven.
    pub max_driving: Option<usize>,
}

/// Most runs a process drives at once before it stops claiming due runs: after a restart, the
/// runs a stopped process left are resumed this many at a time, and other processes sharing
/// the store claim the rest.
pub const MAX_DRIVING: usize = 1024;

/// The prefix of `wflow serve` processes' names in run leases.
const SERVE_OWNER: &str = "serve-";

/// The prefix of `wflow mcp` processes' names in run leases.
pub const MCP_OWNER: &str = "mcp-";

/// How often the server looks for due runs when no notification wakes it.
const POLL: Duration = Duration::from_millis(500);

/// How many due runs the server claims in one statement; a claim round claims batch after
/// batch until no run is due.
const CLAIM_BATCH: i64 = 256;

/// A server: the engine, the workflows it serves and the work in flight. Cheap to clone.
#[derive(Clone)]
pub struct Server(Arc<Inner>);

struct Inner {
    engine: Engine,
    /// The engine that drives runs: its store writes a run only while this process leases it.
    driver: Engine,
    /// This process's leases on runs.
    leases: Leases,
    workflows: RwLock<Arc<BTreeMap<String, Arc<Plan>>>>,
    auth: Option<Auth>,
    allowed_hosts: Vec<String>,
    secrets_file: Option<String>,
    /// Blueprints the preflight of a run start found in the store lately.
    blueprints_seen: wflow_engine::preflight::Recent,
    /// One lock per run being driven or answered, so that a run is driven by one task at a time.
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Plans of stored runs, by source and workflow: each run keeps the version it started with.
    pinned: Mutex<HashMap<u64, Arc<Plan>>>,
    changes: Mutex<Option<mpsc::UnboundedReceiver<EntityChange>>>,
    metrics: Metrics,
    request_timeout: Duration,
    tasks: TaskTracker,
    driving: Driving,
    stop: CancellationToken,
}

/// The runs this process is driving: how many, the most it claims more runs up to, and a
/// wake-up for the claim loop once enough of them ended after it held claims back.
struct Driving {
    count: AtomicUsize,
    max: usize,
    held_back: AtomicBool,
    freed: tokio::sync::Notify,
}

impl Driving {
    /// Room for more claimed runs, noting when there is none.
    fn room(&self) -> usize {
        let room = self.max.saturating_sub(self.count.load(Ordering::Acquire));
        self.held_back.store(room == 0, Ordering::Release);
        room
    }
}

/// One run being driven, counted in [`Driving`] until dropped.
struct DrivingOne(Server);

impl DrivingOne {
    fn new(server: &Server) -> DrivingOne {
        server.0.driving.count.fetch_add(1, Ordering::AcqRel);
        DrivingOne(server.clone())
    }
}

impl Drop for DrivingOne {
    fn drop(&mut self) {
        let driving = &self.0.0.driving;
        let left = driving
            .count
            .fetch_sub(1, Ordering::AcqRel)
            .saturating_sub(1);
        // Claims resume once a quarter of the room is free, not at every run's end.
        if left <= driving.max * 3 / 4 && driving.held_back.swap(false, Ordering::AcqRel) {
            driving.freed.notify_one();
        }
    }
}

fn pin_key(source: &str, workflow: &str) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    source.hash(&mut h);
    workflow.hash(&mut h);
    h.finish()
}

/// A server-side failure, logged without secrets (store and engine errors carry none).
fn log_error(what: &str, e: &dyn std::fmt::Display) {
    tracing::error!("{what}: {e}");
}

impl Server {
    /// A server over `store` serving `plans` (checked and prepared with [`prepare`]).
    pub fn new(
        store: Store,
        plans: Vec<Plan>,
        options: Options,
    ) -> Result<Server, wflow_engine::Error> {
        let (tx, rx) = mpsc::unbounded_channel();
        let engine = Engine::new(store.with_entity_changes(tx), options.config)?;
        let leases = Leases::new(
            &engine.store,
            options.lease_owner.unwrap_or(SERVE_OWNER),
            options.lease.unwrap_or(DEFAULT_LEASE),
        );
        let driver = leases.fence(&engine);
        let server = Server(Arc::new(Inner {
            engine,
            driver,
            leases,
            workflows: RwLock::new(Arc::new(BTreeMap::new())),
            auth: options.auth,
            allowed_hosts: options.allowed_hosts,
            secrets_file: options.secrets_file,
            blueprints_seen: wflow_engine::preflight::Recent::default(),
            locks: Mutex::new(HashMap::new()),
            pinned: Mutex::new(HashMap::new()),
            changes: Mutex::new(Some(rx)),
            metrics: Metrics::default(),
            request_timeout: options.request_timeout.unwrap_or(Duration::from_secs(60)),
            tasks: TaskTracker::new(),
            driving: Driving {
                count: AtomicUsize::new(0),
                max: options.max_driving.unwrap_or(MAX_DRIVING).max(1),
                held_back: AtomicBool::new(false),
                freed: tokio::sync::Notify::new(),
            },
            stop: CancellationToken::new(),
        }));
        server.set_workflows(plans.into_iter().map(Arc::new));
        Ok(server)
    }

    /// Replaces the served workflows; runs already started keep their version.
    pub fn set_workflows(&self, plans: impl IntoIterator<Item = Arc<Plan>>) {
        let mut map = BTreeMap::new();
        let mut pinned = self.0.pinned.lock().unwrap_or_else(PoisonError::into_inner);
        for p in plans {
            pinned.insert(
                pin_key(&p.source, &p.workflow.identifier.value),
                Arc::clone(&p),
            );
            map.insert(p.workflow.identifier.value.clone(), p);
        }
        *self
            .0
            .workflows
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Arc::new(map);
    }

    /// The served workflows, by identifier.
    pub fn workflows(&self) -> Arc<BTreeMap<String, Arc<Plan>>> {
        Arc::clone(
            &self
                .0
                .workflows
                .read()
                .unwrap_or_else(PoisonError::into_inner),
        )
    }

    /// The engine (and through it the store).
    pub fn engine(&self) -> &Engine {
        &self.0.engine
    }

    /// The HTTP API of a server listening on `listen`.
    pub fn router(&self, listen: std::net::SocketAddr) -> axum::Router {
        api::router(self.clone(), listen)
    }

    /// Serves the API on `listener`, fires catalog events, schedules and timers (timed by `clock`)
    /// and drives the due runs it claims (those left unfinished by a stopped process), until `shutdown` completes;
    /// then stops accepting requests and waits (up to `grace`) for the runs being driven.
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        clock: Arc<dyn Clock>,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
        grace: Duration,
    ) -> std::io::Result<()> {
        let rx = self
            .0
            .changes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(rx) = rx {
            self.0.tasks.spawn(events::listen(self.clone(), rx));
        }
        self.0
            .tasks
            .spawn(Scheduler::new(self.clone(), Arc::clone(&clock)).run(self.0.stop.clone()));
        self.0
            .tasks
            .spawn(Timers::new(self.clone(), clock).run(self.0.stop.clone()));
        self.0
            .tasks
            .spawn(self.clone().claim_due(self.0.stop.clone()));
        let stop = self.0.stop.clone();
        let router = self.router(listener.local_addr()?);
        let result = axum::serve(listener, router)
            .with_graceful_shutdown(async move {
                shutdown.await;
                stop.cancel();
            })
            .await;
        self.wind_down(grace).await;
        result
    }

    /// Stops the background work and waits (up to `grace`) for the runs being driven.
    async fn wind_down(&self, grace: Duration) {
        self.0.stop.cancel();
        self.0.tasks.close();
        if tokio::time::timeout(grace, self.0.tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                "runs still being driven after {grace:?}; they continue when the server starts \
                 again"
            );
        }
    }

    /// Until `stop`, claims due runs (new, released, or leased by a process that died) and
    /// drives them; wakes on PostgreSQL notifications and every [`POLL`].
    async fn claim_due(self, stop: CancellationToken) {
        let store = &self.0.engine.store;
        if !store.is_shared()
            && let Err(e) = store.expire_leases(SERVE_OWNER).await
        {
            log_error("cannot expire the leases of a stopped process", &e);
        }
        let mut listener = store.listen_due().await.unwrap_or_else(|e| {
            log_error("cannot listen for due runs; polling instead", &e);
            None
        });
        loop {
            // Queued runs whose turn came while nobody was there to start them (their place
            // freed by another command, or by a process that stopped first).
            match store.queued_workflows().await {
                Ok(workflows) => {
                    for w in workflows {
                        if let Err(e) = store.admit(&w).await {
                            log_error(&format!("cannot start queued runs of {w}"), &e);
                        }
                    }
                }
                Err(e) => log_error("cannot read the queued runs", &e),
            }
            self.claim_all_due().await;
            let heard = async {
                match listener.as_mut() {
                    Some(l) => l.recv().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                () = stop.cancelled() => return,
                () = self.0.driving.freed.notified() => {}
                () = tokio::time::sleep(POLL) => {}
                heard = heard => if let Err(e) = heard {
                    log_error("lost the notifications of due runs; polling instead", &e);
                    listener = None;
                },
            }
        }
    }

    /// Claims the due runs batch after batch until none is left (after a restart, every run
    /// the stopped process left unfinished) or this process drives as many as it may, driving
    /// each in the background as it is claimed.
    async fn claim_all_due(&self) {
        let (store, leases) = (&self.0.engine.store, &self.0.leases);
        loop {
            let batch = CLAIM_BATCH.min(i64::try_from(self.0.driving.room()).unwrap_or(i64::MAX));
            if batch == 0 {
                return;
            }
            match store
                .claim_due(leases.owner(), leases.duration(), batch)
                .await
            {
                Ok(runs) => {
                    let more = i64::try_from(runs.len()).is_ok_and(|n| n >= batch);
                    for run in runs {
                        match self.pinned_plan(&run) {
                            Ok(plan) => drop(self.spawn_drive(plan, Drive::Claimed(run.id))),
                            Err(e) => {
                                log_error(&format!("cannot resume run {}", run.id), &e.message())
                            }
                        }
                    }
                    if !more {
                        return;
                    }
                }
                Err(e) => return log_error("cannot claim due runs", &e),
            }
        }
    }

    /// Drives the run `id`, leased to this process (admitted from its queue), in the
    /// background.
    async fn drive_claimed(&self, id: String) {
        let plan = match self.0.engine.store.run(&id).await {
            Ok(Some(run)) => self.pinned_plan(&run),
            Ok(None) => return,
            Err(e) => Err(e.into()),
        };
        match plan {
            Ok(plan) => drop(self.spawn_drive(plan, Drive::Stored(id))),
            Err(e) => log_error(&format!("cannot resume run {id}"), &e.message()),
        }
    }

    /// The plan a stored run started with.
    fn pinned_plan(&self, run: &RunRecord) -> Result<Arc<Plan>, ApiError> {
        let key = pin_key(&run.source, &run.workflow);
        if let Some(p) = self
            .0
            .pinned
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&key)
        {
            return Ok(Arc::clone(p));
        }
        let syntax = if run.syntax == "json" {
            Syntax::Json
        } else {
            Syntax::Wflow
        };
        // A stored run passed its checks when it started; blueprints are not asked again.
        let plan = prepare(&run.source, syntax, &run.source_path, &Catalog::default())
            .ok()
            .and_then(|plans| {
                plans
                    .into_iter()
                    .find(|p| p.workflow.identifier.value == run.workflow)
            })
            .ok_or_else(|| {
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal_error",
                    format!(
                        "the workflow version run `{}` started with no longer prepares",
                        run.id
                    ),
                )
            })?;
        let plan = Arc::new(plan);
        self.0
            .pinned
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key, Arc::clone(&plan));
        Ok(plan)
    }

    /// The secrets `plan` reads.
    fn secrets(&self, plan: &Plan) -> Result<Secrets, ApiError> {
        Secrets::load(&plan.secrets, self.0.secrets_file.as_deref()).map_err(|missing| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "missing_secrets",
                format!(
                    "workflow `{}` reads secrets the server was not given: {}",
                    plan.workflow.identifier.value,
                    missing.join(", ")
                ),
            )
        })
    }

    /// The lock of run `run_id`.
    fn run_lock(&self, run_id: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.0.locks.lock().unwrap_or_else(PoisonError::into_inner);
        locks.retain(|_, l| Arc::strong_count(l) > 1);
        Arc::clone(locks.entry(run_id.to_string()).or_default())
    }

    /// Refuses (422 `environment_not_ready`) a run of `plan` whose environment is wrong: a
    /// blueprint missing from the store, a service not configured, a secret not given.
    async fn ready(&self, plan: &Plan) -> Result<(), ApiError> {
        let problems = wflow_engine::preflight::check(
            plan,
            &self.0.engine,
            self.0.secrets_file.as_deref(),
            &preflight_help(),
            Some(&self.0.blueprints_seen),
        )
        .await?;
        if !problems.is_empty() {
            return Err(ApiError::many(
                StatusCode::UNPROCESSABLE_ENTITY,
                "environment_not_ready",
                problems
                    .iter()
                    .map(|d| match &d.help {
                        Some(help) => format!("{} [{}]; {help}", d.message, d.code),
                        None => format!("{} [{}]", d.message, d.code),
                    })
                    .collect(),
            ));
        }
        Ok(())
    }

    /// Starts a run of `plan` from `trigger` with `payload`, leased to this process, and
    /// drives it in the background.
    async fn start(
        &self,
        plan: &Arc<Plan>,
        trigger: &str,
        payload: Json,
        created_by: Option<&str>,
    ) -> Result<Begun, ApiError> {
        self.ready(plan).await?;
        let secrets = self.secrets(plan)?;
        if plan.workflow.concurrency.is_some() {
            return self
                .enqueue(plan, trigger, payload, created_by, &secrets)
                .await;
        }
        let lease = Some((self.0.leases.owner(), self.0.leases.duration()));
        let mut started = self
            .0
            .engine
            .begin(plan, trigger, payload, created_by, &secrets, lease);
        let run_id = started.id().to_string();
        // The run is written with its first node's start, by the drive.
        let written = started.announce();
        let drive = self.spawn_drive(Arc::clone(plan), Drive::Started(Box::new(started)));
        let Ok(report) = written.await else {
            let why = match drive.await {
                Ok(Err(e)) => e.message(),
                _ => "the drive stopped".into(),
            };
            return Err(ApiError::internal(format!(
                "the run could not be written: {why}"
            )));
        };
        let workflow = &plan.workflow.identifier.value;
        self.0.metrics.started(workflow);
        tracing::info!(run = run_id, workflow, trigger, "run started");
        Ok(Begun {
            id: run_id,
            run: report,
            drive: Some(drive),
        })
    }

    /// Starts a run of `plan`, which has a concurrency limit: accepted as `QUEUED`, then
    /// started (and driven here) at once if the limit lets it.
    async fn enqueue(
        &self,
        plan: &Arc<Plan>,
        trigger: &str,
        payload: Json,
        created_by: Option<&str>,
        secrets: &Secrets,
    ) -> Result<Begun, ApiError> {
        let id = (self.0.engine)
            .enqueue(plan, trigger, payload, created_by, secrets)
            .await
            .map_err(|e| match e {
                // The key is computed from the run's inputs.
                wflow_engine::Error::Expression(why) => {
                    ApiError::invalid(vec![Problem::at("/inputs", why)])
                }
                e => e.into(),
            })?;
        let workflow = &plan.workflow.identifier.value;
        self.0.metrics.started(workflow);
        // The run is accepted: if it cannot be started now, the next claim round starts it.
        let admitted = (self.0.engine.store.admit(workflow).await).unwrap_or_else(|e| {
            log_error(&format!("cannot start queued runs of {workflow}"), &e);
            Vec::new()
        });
        let mut drive = None;
        for started in admitted {
            if started == id {
                drive = Some(self.spawn_drive(Arc::clone(plan), Drive::Stored(started)));
            } else {
                self.drive_claimed(started).await;
            }
        }
        let status = if drive.is_some() { "started" } else { "queued" };
        tracing::info!(run = id, workflow, trigger, "run {status}");
        let run = api::run_value(self, &id).await?;
        Ok(Begun { id, run, drive })
    }

    /// Starts the queued runs of `workflow` whose turn came, driving them here.
    async fn admit(&self, workflow: &str) {
        match self.0.engine.store.admit(workflow).await {
            Ok(ids) => {
                for id in ids {
                    self.drive_claimed(id).await;
                }
            }
            Err(e) => log_error(&format!("cannot start queued runs of {workflow}"), &e),
        }
    }

    /// Drives a run until it completes or waits, holding the run's lock and its lease; a
    /// stored run another process leases is left to it.
    async fn drive(&self, plan: &Plan, run: Drive) -> Result<(), ApiError> {
        let run_id = run.id().to_string();
        let lock = self.run_lock(&run_id);
        // A run claimed a moment ago is leased to this process already, unless another task
        // of it drove the run meanwhile (the lock was taken): then it is claimed again.
        let (_held, leased) = match lock.try_lock() {
            Ok(held) => (held, !matches!(run, Drive::Stored(_))),
            Err(_) => (lock.lock().await, matches!(run, Drive::Started(_))),
        };
        if !leased && !self.0.leases.claim(&run_id).await? {
            return Ok(());
        }
        let driven = (self.0.leases)
            .hold(&run_id, self.drive_leased(plan, run))
            .await
            .unwrap_or_else(|| {
                Err(ApiError::internal(format!(
                    "stopped driving run {run_id}: its lease was lost"
                )))
            });
        // A completed run's lease ended with it, and its place, under a concurrency limit,
        // goes to the next queued run.
        if !matches!(&driven, Ok(o) if o.status == RunStatus::Completed) {
            self.release(&run_id).await;
        } else if plan.workflow.concurrency.is_some() {
            self.admit(&plan.workflow.identifier.value).await;
        }
        driven.map(drop)
    }

    /// Ends this process's lease on `run_id`.
    async fn release(&self, run_id: &str) {
        if let Err(e) = self.0.leases.release(run_id).await {
            log_error(&format!("cannot release run {run_id}"), &e);
        }
    }

    /// Runs `write` (an outside command on `run_id`) holding the run's lease, waiting up to
    /// twice the lease for the process driving it; the lease is ended if `write` fails (else
    /// the drive that follows ends it).
    async fn leased<T>(
        &self,
        run_id: &str,
        write: impl std::future::Future<Output = Result<T, ApiError>>,
    ) -> Result<T, ApiError> {
        let store = &self.0.engine.store;
        let deadline = tokio::time::Instant::now() + self.0.leases.duration() * 2;
        while !self.0.leases.claim(run_id).await? {
            if store
                .run(run_id)
                .await?
                .is_none_or(|r| r.status == RunStatus::Completed)
            {
                break;
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(ApiError::conflict(format!(
                    "run `{run_id}` is being driven by another process; try again"
                )));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let written = write.await;
        if written.is_err() {
            self.release(run_id).await;
        }
        written
    }

    /// Drives a run this process leases.
    async fn drive_leased(&self, plan: &Plan, run: Drive) -> Result<Outcome, ApiError> {
        let secrets = self.secrets(plan)?;
        let run_id = run.id().to_string();
        let watch = Watch {
            metrics: &self.0.metrics,
            run_id: &run_id,
        };
        let driver = &self.0.driver;
        let (open, outcome) = match run {
            Drive::Started(started) => (
                true,
                driver.drive_started(plan, *started, &secrets, &watch).await,
            ),
            Drive::Claimed(run_id) | Drive::Stored(run_id) => {
                match driver.drive_open(plan, &run_id, &secrets, &watch).await {
                    Ok((outcome, open)) => (open, Ok(outcome)),
                    Err(e) => (false, Err(e)),
                }
            }
        };
        let outcome = outcome.map_err(ApiError::internal)?;
        if open && outcome.status == RunStatus::Completed {
            self.finished(
                &plan.workflow.identifier.value,
                &outcome.run_id,
                outcome.result,
            );
        }
        Ok(outcome)
    }

    /// Counts and logs a run that just finished.
    fn finished(&self, workflow: &str, run_id: &str, result: Option<Conclusion>) {
        let result = result.map_or("UNKNOWN", Conclusion::as_str);
        self.0.metrics.finished(workflow, result);
        tracing::info!(run = run_id, workflow, result, "run finished");
    }

    /// Drives a run in the background.
    fn spawn_drive(
        &self,
        plan: Arc<Plan>,
        run: Drive,
    ) -> tokio::task::JoinHandle<Result<(), ApiError>> {
        let server = self.clone();
        let one = DrivingOne::new(self);
        self.0.tasks.spawn(async move {
            let _one = one;
            let run_id = run.id().to_string();
            let driven = server.drive(&plan, run).await;
            if let Err(e) = &driven {
                log_error(&format!("run {run_id}"), &e.message());
            }
            driven
        })
    }

    /// Drives the stored run `run_id` in the background and waits for it: a request that
    /// times out leaves the run going.
    async fn drive_detached(&self, plan: Arc<Plan>, run_id: &str) -> Result<(), ApiError> {
        self.spawn_drive(plan, Drive::Stored(run_id.to_string()))
            .await
            .map_err(ApiError::internal)?
    }
}

/// A run just started: its id, the run as Port's run object once durable, and its drive in
/// the background (done when the run completes or waits).
struct Begun {
    id: String,
    run: Json,
    /// `None` for a run queued behind its workflow's concurrency limit.
    drive: Option<tokio::task::JoinHandle<Result<(), ApiError>>>,
}

/// A run to drive: one just started (in memory), one this process just claimed as due
/// ([`Store::claim_due`]), or one read from the store.
enum Drive {
    Started(Box<Started>),
    Claimed(String),
    Stored(String),
}

impl Drive {
    fn id(&self) -> &str {
        match self {
            Drive::Started(s) => s.id(),
            Drive::Claimed(id) | Drive::Stored(id) => id,
        }
    }
}

/// An API error: its status, Port's `error` code and every problem found.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    problems: Vec<Problem>,
}

/// One problem of an [`ApiError`]: what is wrong and, where it is a part of the request body,
/// the JSON pointer to that part.
#[derive(Debug, serde::Serialize)]
pub struct Problem {
    message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pointer: Option<String>,
}

impl Problem {
    /// A problem with the part of the request body at `pointer`.
    pub fn at(pointer: impl Into<String>, message: impl Into<String>) -> Problem {
        Problem {
            message: message.into(),
            pointer: Some(pointer.into()),
        }
    }

    /// A problem with an input of a form whose values are `at`.
    pub fn input(p: &wflow_engine::inputs::InputProblem, at: &FormAt) -> Problem {
        let message = if p.missing {
            format!("{p}; add it to {}", at.name)
        } else {
            p.to_string()
        };
        Problem::at(format!("{}{}", at.pointer, p.pointer), message)
    }
}

/// Where a request carries a form's values: for the pointers and words of their problems.
pub struct FormAt {
    /// The JSON pointer of the values' object in the request.
    pub pointer: &'static str,
    /// What a message calls that object.
    pub name: &'static str,
}

/// The `inputs` object of an API request body.
pub const BODY_INPUTS: FormAt = FormAt {
    pointer: "/inputs",
    name: "`inputs`",
};

impl From<String> for Problem {
    fn from(message: String) -> Problem {
        Problem {
            message,
            pointer: None,
        }
    }
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: String) -> ApiError {
        ApiError::many(status, code, vec![message])
    }

    fn many(status: StatusCode, code: &'static str, problems: Vec<impl Into<Problem>>) -> ApiError {
        ApiError {
            status,
            code,
            problems: problems.into_iter().map(Into::into).collect(),
        }
    }

    fn not_found(message: String) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    fn invalid(problems: Vec<impl Into<Problem>>) -> ApiError {
        ApiError::many(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_request",
            problems,
        )
    }

    fn conflict(message: String) -> ApiError {
        ApiError::new(StatusCode::CONFLICT, "conflict", message)
    }

    fn internal(e: impl std::fmt::Display) -> ApiError {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            e.to_string(),
        )
    }

    /// Every problem, on one line.
    fn message(&self) -> String {
        let shown: Vec<&str> = self.problems.iter().map(|p| p.message.as_str()).collect();
        shown.join("; ")
    }

    /// The error as the API's body: `{"ok": false, "error", "message", "problems"}`.
    fn body(&self) -> Json {
        json!({
            "ok": false,
            "error": self.code,
            "message": self.message(),
            "problems": self.problems,
        })
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, axum::Json(self.body())).into_response()
    }
}

impl From<wflow_engine::Error> for ApiError {
    /// The engine's kind of failure chooses the status: the caller's input 422, the run's
    /// state 409, a missing run 404, a refusal 403, the store or the engine itself 500.
    fn from(e: wflow_engine::Error) -> ApiError {
        use wflow_engine::Error as E;
        match e {
            E::NoRun(_) => ApiError::not_found(e.to_string()),
            E::Conflict(m) => ApiError::conflict(m),
            E::Invalid(m) | E::Expression(m) => ApiError::invalid(vec![m]),
            E::Forbidden(m) => auth::forbidden(m),
            E::Store(_) | E::Setup(_) | E::Inconsistent(_) => ApiError::internal(e),
        }
    }
}

impl From<wflow_store::StoreError> for ApiError {
    fn from(e: wflow_store::StoreError) -> ApiError {
        ApiError::internal(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wflow_engine::Error as E;

    #[test]
    fn each_kind_of_engine_error_has_its_status() {
        let status = |e: E| ApiError::from(e).status.as_u16();
        let m = || "why".to_string();
        assert_eq!(status(E::NoRun("wfr_1".into())), 404);
        assert_eq!(status(E::Conflict(m())), 409);
        assert_eq!(status(E::Invalid(m())), 422);
        assert_eq!(status(E::Expression(m())), 422);
        assert_eq!(status(E::Forbidden(m())), 403);
        assert_eq!(status(E::Store(wflow_store::StoreError(m()))), 500);
        assert_eq!(status(E::Inconsistent(m())), 500);
        let body = ApiError::from(E::Conflict("run `r` already completed".into())).body();
        assert_eq!(body["message"], "run `r` already completed");
    }
}
