//! The interpreter: runs a [`Plan`] with Port's semantics, durably.
//!
//! A run is driven from its stored state: the node runs recorded so far say which nodes ran,
//! which outlets were taken and which node is next. Each node run's start is written before
//! its side effect and its result right after; an upsert's entity is written in the same
//! transaction as its result. A run killed mid-node is resumed by driving it again: completed
//! nodes are not re-run, and an in-flight webhook is re-sent with the same `Idempotency-Key`.

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use futures_util::stream::{FuturesUnordered, StreamExt};
use std::time::{Duration, Instant};

use serde_json::{Map, Value as Json, json};
use wflow_compiler::ir::{self, Node, NodeConfig, OnFailure, RetryOn};

use crate::ai;
use crate::jq::{Evaluator, Limits};
use crate::plan::Plan;
use crate::request;
use crate::retry::{Failure, expired, run_deadline, run_timed_out};
use crate::secrets::Secrets;
use crate::settings;
use crate::template::{self, Piece};
use wflow_effects::clock::Clock;
use wflow_effects::http::{Http, Reqwest};
use wflow_effects::kafka::{Publisher, RdKafka};
use wflow_store::{LogRecord, NodeRunRecord, RunRecord, Store, Write};

pub use crate::error::Error;
pub use wflow_store::now;
pub use wflow_store::{Conclusion, NodeStatus, RunStatus};

/// Settings of the engine.
#[derive(Debug, Clone)]
pub struct Config {
    /// How long a webhook may take.
    pub webhook_timeout: Duration,
    /// Bounds on jq evaluation.
    pub jq: Limits,
    /// Where KAFKA nodes publish (`None`: they fail, saying so).
    pub kafka: Option<settings::Kafka>,
    /// The APIs of integration actions (`None`: not configured; the preflight refuses).
    pub github: settings::Service,
    pub gitlab: settings::Service,
    pub azure_devops: Option<settings::Service>,
    pub jira: Option<settings::Service>,
    /// The chat completions API of AI nodes (`None`: they fail, saying so).
    pub ai: Option<settings::Ai>,
}

impl Config {
    /// The default configuration with the services of `settings`.
    pub fn with_settings(settings: &settings::Settings) -> Config {
        let mut config = Config::default();
        if let Some(t) = settings.webhook_timeout {
            config.webhook_timeout = t;
        }
        config.kafka = settings.kafka.clone();
        config.github = settings.github.clone();
        config.gitlab = settings.gitlab.clone();
        config.azure_devops = settings.azure_devops.clone();
        config.jira = settings.jira.clone();
        config.ai = settings.ai.clone();
        config
    }

    /// The services without a default URL that are configured, for the preflight.
    pub fn services_configured(&self) -> BTreeSet<&'static str> {
        let mut out = BTreeSet::new();
        if self.azure_devops.is_some() {
            out.insert("azure_devops");
        }
        if self.jira.is_some() {
            out.insert("jira");
        }
        out
    }
}

impl Default for Config {
    fn default() -> Config {
        Config {
            webhook_timeout: Duration::from_secs(30),
            jq: Limits::default(),
            kafka: None,
            github: settings::Service::at("https://api.github.com"),
            gitlab: settings::Service::at("https://gitlab.com/api/v4"),
            azure_devops: None,
            jira: None,
            ai: None,
        }
    }
}

/// Progress of a run, for display.
#[derive(Debug, Clone)]
pub enum Event<'a> {
    Started {
        node: &'a Node,
    },
    Finished {
        node: &'a Node,
        result: Conclusion,
        elapsed: Duration,
        message: Option<&'a str>,
    },
    Waiting {
        node: &'a Node,
        reason: &'a str,
    },
}

/// Receives [`Event`]s.
pub trait Observer: Send + Sync {
    fn event(&self, e: &Event<'_>);
}

/// An observer that ignores everything.
pub struct Quiet;

impl Observer for Quiet {
    fn event(&self, _: &Event<'_>) {}
}

/// Where a run stands after driving it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub run_id: String,
    pub status: RunStatus,
    pub result: Option<Conclusion>,
    /// Nodes waiting for a response or an outside completion.
    pub waiting: Vec<String>,
}

/// The interpreter.
#[derive(Clone)]
pub struct Engine {
    pub store: Store,
    pub(crate) ev: Evaluator,
    pub(crate) http: Arc<dyn Http>,
    pub(crate) config: Config,
    /// The time waits and deadlines are measured on.
    pub(crate) clock: Clock,
    /// Publishes KAFKA nodes' messages (made from `config.kafka`).
    pub(crate) publisher: Option<Arc<dyn Publisher>>,
}

/// A new id: `prefix` and a time-ordered UUID.
pub fn new_id(prefix: &str) -> String {
    format!("{prefix}{}", uuid::Uuid::now_v7().simple())
}

/// A log line of `node` at `level`, stamped now.
pub fn log(node: &str, level: &str, message: String) -> LogRecord {
    LogRecord {
        node: node.to_string(),
        level: level.to_string(),
        message,
        at: now(),
    }
}

/// A new run, not driven yet: made by [`Engine::begin`] (not written yet) or
/// [`Engine::start`] (written).
pub struct Started(State);

impl Started {
    /// The run's id.
    pub fn id(&self) -> &str {
        &self.0.run.id
    }

    /// A receiver of the run (as Port's run object) once it is durable: when the first write
    /// of its drive commits (with its first node's start, for a run from [`Engine::begin`]).
    /// Dropped without a value if that write fails.
    pub fn announce(&mut self) -> tokio::sync::oneshot::Receiver<Json> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.0.announce = Some(tx);
        rx
    }
}

/// In-memory state of a run being driven.
pub(crate) struct State {
    pub(crate) run: RunRecord,
    pub(crate) nodes: HashMap<String, NodeRunRecord>,
    pub(crate) seq: i64,
    pub(crate) pending: Vec<Write>,
    /// Hears the run once the next write commits ([`Started::announce`]).
    pub(crate) announce: Option<tokio::sync::oneshot::Sender<Json>>,
}

impl State {
    /// The run as Port's run object (its node runs in start order, without logs).
    fn report(&self) -> Json {
        let mut nodes: Vec<NodeRunRecord> = self.nodes.values().cloned().collect();
        nodes.sort_by_key(|n| n.seq);
        crate::report::run_report(&self.run, &nodes, &[])
    }

    /// Records `rec`: a write of the same node run still pending is replaced (one statement,
    /// the same end state).
    pub(crate) fn put(&mut self, rec: NodeRunRecord) {
        let same = self.pending.iter_mut().find_map(|w| match w {
            Write::PutNodeRun(p) if p.id == rec.id => Some(p),
            _ => None,
        });
        match same {
            Some(p) => **p = rec.clone(),
            None => self.pending.push(Write::PutNodeRun(Box::new(rec.clone()))),
        }
        self.nodes.insert(rec.node.clone(), rec);
    }

    /// A copy for a node on a parallel branch: what ran so far, nothing pending.
    fn branch(&self) -> State {
        State {
            run: self.run.clone(),
            nodes: self.nodes.clone(),
            seq: self.seq,
            pending: Vec::new(),
            announce: None,
        }
    }

    /// Takes back what branch `sub` did with `node`: its node run and its writes not made yet.
    fn merge(&mut self, mut sub: State, node: &Node) {
        if let Some(rec) = sub.nodes.remove(node.identifier.value.as_str()) {
            self.nodes.insert(rec.node.clone(), rec);
        }
        self.pending.append(&mut sub.pending);
    }

    pub(crate) fn log(&mut self, rec: LogRecord) {
        self.pending.push(Write::Log {
            run_id: self.run.id.clone(),
            record: rec,
        });
    }
}

/// What a node did.
pub(crate) struct Done {
    pub(crate) result: Conclusion,
    pub(crate) output: Json,
    pub(crate) outlet: Option<String>,
    pub(crate) fallback: bool,
    /// Stays IN_PROGRESS, waiting for a response or an outside completion.
    pub(crate) waiting: bool,
    /// Written in the same transaction as the node's result.
    pub(crate) effects: Vec<Write>,
    pub(crate) logs: Vec<LogRecord>,
    /// Why it failed.
    pub(crate) error: Option<String>,
    /// A failure that fails the run whatever `onFailure` says (a condition error, the run's
    /// timeout).
    pub(crate) fatal: bool,
    /// A failure a retry policy may retry.
    pub(crate) failure: Option<Failure>,
}

impl Done {
    pub(crate) fn ok(output: Json) -> Done {
        Done {
            result: Conclusion::Success,
            output,
            outlet: None,
            fallback: false,
            waiting: false,
            effects: Vec::new(),
            logs: Vec::new(),
            error: None,
            fatal: false,
            failure: None,
        }
    }

    /// The run was cancelled before the node's effect.
    pub(crate) fn cancelled() -> Done {
        Done {
            result: Conclusion::Cancelled,
            ..Done::ok(json!({}))
        }
    }

    /// An attempt that ran out of time (`{"timeout": true}`).
    pub(crate) fn timed_out(message: String) -> Done {
        Done {
            failure: Some(Failure {
                class: RetryOn::Timeout,
                retry_after: None,
            }),
            ..Done::failed(message, json!({ "timeout": true }))
        }
    }

    pub(crate) fn failed(message: String, mut output: Json) -> Done {
        if let Json::Object(m) = &mut output {
            m.insert("error".into(), json!({ "message": message }));
        } else {
            output = json!({ "error": { "message": message } });
        }
        Done {
            result: Conclusion::Failed,
            error: Some(message),
            ..Done::ok(output)
        }
    }
}

/// How a run goes on after a node.
enum After {
    Next,
    /// The node's failure fails the run, with this message.
    Fail(String),
    /// Cancelling the run was requested before the node's effect.
    Cancel,
}

impl Engine {
    /// An engine over `store`.
    pub fn new(store: Store, config: Config) -> Result<Engine, Error> {
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
        let ev = Evaluator::new(threads, config.jq).map_err(Error::Setup)?;
        let http = Arc::new(Reqwest::new().map_err(Error::Setup)?);
        let publisher = match &config.kafka {
            Some(k) => Some(Arc::new(
                RdKafka::new(&k.brokers, config.webhook_timeout).map_err(Error::Setup)?,
            ) as Arc<dyn Publisher>),
            None => None,
        };
        Ok(Engine {
            store,
            ev,
            http,
            config,
            clock: Clock::System,
            publisher,
        })
    }

    /// This engine asking `ai` for AI nodes' completions.
    pub fn with_ai(mut self, ai: settings::Ai) -> Engine {
        self.config.ai = Some(ai);
        self
    }

    /// The engine's jq evaluator.
    pub fn evaluator(&self) -> &Evaluator {
        &self.ev
    }

    /// This engine publishing KAFKA nodes' messages to `kafka`'s topic through `publisher`.
    pub fn with_kafka(mut self, kafka: settings::Kafka, publisher: Arc<dyn Publisher>) -> Engine {
        self.config.kafka = Some(kafka);
        self.publisher = Some(publisher);
        self
    }

    /// This engine sending its HTTP requests (webhooks, GitHub, AI) through `http`.
    pub fn with_http(mut self, http: Arc<dyn Http>) -> Engine {
        self.http = http;
        self
    }

    /// This engine measuring waits and deadlines on `clock`.
    pub fn with_clock(mut self, clock: Clock) -> Engine {
        self.clock = clock;
        self
    }

    /// This engine (its jq evaluator and services) on another store.
    pub fn with_store(mut self, store: Store) -> Engine {
        self.store = store;
        self
    }

    /// This engine publishing KAFKA nodes' messages through `publisher` (a topic must still be
    /// configured in [`Config::kafka`]).
    pub fn with_publisher(mut self, publisher: Arc<dyn Publisher>) -> Engine {
        self.publisher = Some(publisher);
        self
    }

    /// Renders `pieces` for a side effect; a templating failure says why the node fails.
    async fn render_effect(
        &self,
        plan: &Plan,
        pieces: &[Piece<'_>],
        ctx: Json,
        secrets: &Secrets,
    ) -> Result<Vec<Json>, String> {
        template::render(&self.ev, &plan.programs, pieces, ctx, secrets)
            .await
            .map_err(|e| format!("templating failed: {e}"))
    }

    /// Records `request` (redacted) on `rec` and makes the node's start durable with it,
    /// before its side effect; `Some` (the node cancelled) when a cancel was requested by then.
    async fn begin_effect(
        &self,
        st: &mut State,
        rec: &mut NodeRunRecord,
        request: &Json,
        secrets: &Secrets,
    ) -> Result<Option<Done>, Error> {
        request::record(rec, request, secrets);
        st.put(rec.clone());
        let applied = self.flush(st).await?;
        Ok(applied.cancel_requested.then(Done::cancelled))
    }

    /// A new run of `plan` fired by `trigger` with `payload` as the trigger's output (the
    /// validated form inputs, or the event), leased to `lease`'s owner for its duration when
    /// given. Nothing is written yet: [`Engine::drive_started`] writes the run together with
    /// its first node's start.
    pub fn begin(
        &self,
        plan: &Plan,
        trigger: &str,
        payload: Json,
        created_by: Option<&str>,
        secrets: &Secrets,
        lease: Option<(&str, Duration)>,
    ) -> Started {
        let started = RunStatus::InProgress;
        let mut st = new_run(plan, trigger, payload, created_by, secrets, started);
        if let Some((owner, lease)) = lease {
            st.pending.push(Write::Lease {
                run_id: st.run.id.clone(),
                owner: owner.to_string(),
                until: wflow_store::lease_until(lease),
            });
        }
        Started(st)
    }

    /// A new run as [`Engine::begin`] makes it, written at once.
    pub async fn start(
        &self,
        plan: &Plan,
        trigger: &str,
        payload: Json,
        created_by: Option<&str>,
        secrets: &Secrets,
        lease: Option<(&str, Duration)>,
    ) -> Result<Started, Error> {
        let mut started = self.begin(plan, trigger, payload, created_by, secrets, lease);
        self.flush(&mut started.0).await?;
        Ok(started)
    }

    /// A new run of a workflow with a concurrency limit, written as [`RunStatus::Queued`] (unleased):
    /// [`Store::admit`] starts it when its turn comes, and it is then driven as a stored run.
    pub async fn enqueue(
        &self,
        plan: &Plan,
        trigger: &str,
        payload: Json,
        created_by: Option<&str>,
        secrets: &Secrets,
    ) -> Result<String, Error> {
        let queued = RunStatus::Queued;
        let mut st = new_run(plan, trigger, payload, created_by, secrets, queued);
        if let Some(code) = (plan.workflow.concurrency.as_ref()).and_then(|c| c.key.as_ref()) {
            let key = self.concurrency_key(plan, &st, &code.code, secrets).await;
            st.run.concurrency_key = Some(key?);
            for w in &mut st.pending {
                if let Write::InsertRun(r) = w {
                    r.concurrency_key.clone_from(&st.run.concurrency_key);
                }
            }
        }
        self.flush(&mut st).await?;
        Ok(st.run.id)
    }

    /// The concurrency key of the new run `st`: jq `code` over the run context, its string as
    /// it is, any other value as compact JSON; redacted, as everything stored.
    async fn concurrency_key(
        &self,
        plan: &Plan,
        st: &State,
        code: &str,
        secrets: &Secrets,
    ) -> Result<String, Error> {
        let trigger = st
            .nodes
            .get(&st.run.trigger_node)
            .ok_or_else(|| Error::Inconsistent("the run has no trigger node run".into()))?;
        let ctx = context(plan, st, trigger, secrets);
        let out = template::eval(&self.ev, &plan.programs, &[code], ctx, secrets).await;
        match out.into_iter().next() {
            Some(Ok(values)) => Ok(secrets.redact_str(&match values.into_iter().next() {
                Some(Json::String(s)) => s,
                Some(v) => v.to_string(),
                None => "null".into(),
            })),
            Some(Err(e)) => Err(Error::Expression(format!(
                "the workflow's concurrency key `{code}` failed: {e}"
            ))),
            None => Err(Error::Expression(format!(
                "the workflow's concurrency key `{code}` was not evaluated"
            ))),
        }
    }

    /// Drives a run from [`Engine::begin`] or [`Engine::start`], as [`Engine::drive`] does
    /// (without reading it back).
    pub async fn drive_started(
        &self,
        plan: &Plan,
        started: Started,
        secrets: &Secrets,
        obs: &dyn Observer,
    ) -> Result<Outcome, Error> {
        self.drive_state(plan, started.0, secrets, obs).await
    }

    /// Creates a run as [`Engine::begin`] does and drives it as [`Engine::drive`] does.
    pub async fn run(
        &self,
        plan: &Plan,
        trigger: &str,
        payload: Json,
        created_by: Option<&str>,
        secrets: &Secrets,
        obs: &dyn Observer,
    ) -> Result<Outcome, Error> {
        let started = self.begin(plan, trigger, payload, created_by, secrets, None);
        self.drive_started(plan, started, secrets, obs).await
    }

    /// Writes what `st` has pending, then announces the run if someone waits for it.
    pub(crate) async fn flush(&self, st: &mut State) -> Result<wflow_store::Applied, Error> {
        let applied = self.store.apply(std::mem::take(&mut st.pending)).await?;
        if let Some(tx) = st.announce.take() {
            // The receiver may be gone (a request that timed out); the run goes on.
            let _ = tx.send(st.report());
        }
        Ok(applied)
    }

    pub(crate) async fn load(&self, run_id: &str) -> Result<State, Error> {
        let run = (self.store.run(run_id).await?).ok_or_else(|| Error::NoRun(run_id.into()))?;
        let records = self.store.node_runs(run_id).await?;
        let seq = records.iter().map(|r| r.seq).max().unwrap_or(0);
        let nodes = records.into_iter().map(|r| (r.node.clone(), r)).collect();
        Ok(State {
            run,
            nodes,
            seq,
            pending: Vec::new(),
            announce: None,
        })
    }

    /// Runs `run_id` until it completes or waits (for an approval or an outside completion).
    pub async fn drive(
        &self,
        plan: &Plan,
        run_id: &str,
        secrets: &Secrets,
        obs: &dyn Observer,
    ) -> Result<Outcome, Error> {
        Ok(self.drive_open(plan, run_id, secrets, obs).await?.0)
    }

    /// As [`Engine::drive`], and whether the run was still open (not completed) when it was
    /// read, so driven here: a caller learns it from the one read of the run.
    pub async fn drive_open(
        &self,
        plan: &Plan,
        run_id: &str,
        secrets: &Secrets,
        obs: &dyn Observer,
    ) -> Result<(Outcome, bool), Error> {
        let st = self.load(run_id).await?;
        if st.run.status == RunStatus::Completed {
            return Ok((outcome(&st, Vec::new()), false));
        }
        Ok((self.drive_state(plan, st, secrets, obs).await?, true))
    }

    async fn drive_state(
        &self,
        plan: &Plan,
        mut st: State,
        secrets: &Secrets,
        obs: &dyn Observer,
    ) -> Result<Outcome, Error> {
        // Parallel branches: nodes running beside the one driven here, each on its own copy
        // of the run's state, merged back when it ends.
        let mut flight: FuturesUnordered<Branch<'_>> = FuturesUnordered::new();
        let mut in_flight: HashSet<String> = HashSet::new();
        loop {
            let front = frontier(plan, &st, &in_flight, &self.clock.stamp());
            if let Some(id) = front.failed {
                let why = format!("node `{id}` failed");
                abandon(&mut flight);
                self.finish(&mut st, Conclusion::Failed, Some(why)).await?;
                return Ok(outcome(&st, Vec::new()));
            }
            if front.run.is_empty() && in_flight.is_empty() {
                if front.waiting.is_empty() {
                    self.finish(&mut st, Conclusion::Success, None).await?;
                    return Ok(outcome(&st, Vec::new()));
                }
                let applied = self.flush(&mut st).await?;
                if applied.cancel_requested {
                    return self.cancelled(st).await;
                }
                return Ok(outcome(&st, front.waiting));
            }
            if !front.run.is_empty()
                && run_deadline(plan, &st).is_some_and(|d| d <= self.clock.now())
            {
                abandon(&mut flight);
                self.finish(&mut st, Conclusion::Failed, Some(run_timed_out(plan)))
                    .await?;
                return Ok(outcome(&st, Vec::new()));
            }
            let mut nodes = Vec::with_capacity(front.run.len());
            for id in &front.run {
                let node = plan.node(id).ok_or_else(|| {
                    Error::Inconsistent(format!("the workflow has no node `{id}`"))
                })?;
                nodes.push(node);
            }
            let after = match nodes.as_slice() {
                // One node and nothing beside it: driven here, as a run without branches.
                [node] if in_flight.is_empty() => {
                    self.before_upsert(&mut st, node).await?;
                    let rec = open_node(&mut st, node);
                    Some(
                        self.run_node(plan, &mut st, node, rec, secrets, obs)
                            .await?,
                    )
                }
                _ => {
                    // Branches write on their own: the run itself must be written first.
                    if in_flight.is_empty() && !st.pending.is_empty() {
                        self.flush(&mut st).await?;
                    }
                    for node in nodes {
                        self.before_upsert(&mut st, node).await?;
                        let rec = open_node(&mut st, node);
                        let mut sub = st.branch();
                        // The first takes what is waiting to be written (the run is already).
                        sub.pending = std::mem::take(&mut st.pending);
                        in_flight.insert(rec.node.clone());
                        flight.push(Box::pin(async move {
                            let after =
                                self.run_node(plan, &mut sub, node, rec, secrets, obs).await;
                            (sub, node, after)
                        }));
                    }
                    match flight.next().await {
                        Some((sub, node, after)) => {
                            in_flight.remove(node.identifier.value.as_str());
                            st.merge(sub, node);
                            Some(after?)
                        }
                        None => None,
                    }
                }
            };
            match after {
                None | Some(After::Next) => {}
                Some(After::Fail(message)) => {
                    abandon(&mut flight);
                    self.finish(&mut st, Conclusion::Failed, Some(message))
                        .await?;
                    return Ok(outcome(&st, Vec::new()));
                }
                Some(After::Cancel) => {
                    abandon(&mut flight);
                    return self.cancelled(st).await;
                }
            }
        }
    }

    /// An upsert reads the entity from the store: an earlier upsert's write waiting in `st`
    /// must be there first, or a second upsert of one entity would replace it.
    async fn before_upsert(&self, st: &mut State, node: &Node) -> Result<(), Error> {
        if matches!(node.config, NodeConfig::UpsertEntity(_))
            && st
                .pending
                .iter()
                .any(|w| matches!(w, Write::PutEntity { .. }))
        {
            self.flush(st).await?;
        }
        Ok(())
    }

    /// Finishes `st` as cancelled (a cancel requested from outside the process driving it,
    /// seen when the run's node runs were written).
    async fn cancelled(&self, mut st: State) -> Result<Outcome, Error> {
        self.finish(
            &mut st,
            Conclusion::Cancelled,
            Some("the run was cancelled".into()),
        )
        .await?;
        Ok(outcome(&st, Vec::new()))
    }

    /// Runs one node from its opened record ([`open_node`]); says how the run goes on.
    async fn run_node(
        &self,
        plan: &Plan,
        st: &mut State,
        node: &Node,
        mut rec: NodeRunRecord,
        secrets: &Secrets,
        obs: &dyn Observer,
    ) -> Result<After, Error> {
        let id = node.identifier.value.as_str();
        st.put(rec.clone());
        obs.event(&Event::Started { node });
        let t0 = Instant::now();
        let ctx = context(plan, st, &rec, secrets);
        let mut done = if rec.waiting {
            // Only a wait that is over is driven again (see `next`).
            self.expire(plan, st, node, &rec)
        } else {
            self.attempts(plan, st, node, &mut rec, ctx.clone(), secrets)
                .await?
        };
        if done.result == Conclusion::Success
            && !done.waiting
            && let Some(vars) = &node.variables
        {
            let mut ctx = ctx;
            if let Json::Object(m) = &mut ctx {
                // What came back may echo a secret: variables read it redacted.
                m.insert("result".into(), secrets.redact(&done.output));
            }
            match template::render_variables(&self.ev, &plan.programs, vars, ctx, secrets).await {
                Ok(v) => done.output = v,
                Err(e) => {
                    done = Done::failed(
                        format!("the node's variables failed: {e}"),
                        done.output.clone(),
                    )
                }
            }
        }
        if done.result == Conclusion::Failed && plan.workflow.has_error_path(id) {
            // What the error path receives: the class of the last failure and the attempts.
            let kind = done.failure.map_or("other", |f| f.class.word());
            if let Some(Json::Object(e)) = done.output.get_mut("error") {
                e.insert("kind".into(), json!(kind));
                e.insert("attempts".into(), json!(rec.attempts.len().max(1)));
            }
        }
        let message = done.error.as_deref().map(|m| secrets.redact_str(m));
        for l in done.logs.drain(..) {
            st.log(LogRecord {
                message: secrets.redact_str(&l.message),
                ..l
            });
        }
        if let Some(m) = &message {
            st.log(log(id, "ERROR", m.clone()));
        }
        if done.result == Conclusion::Cancelled {
            return Ok(After::Cancel);
        }
        let at = now();
        rec.output = Some(secrets.redact(&done.output));
        rec.outlet = done.outlet.clone();
        rec.fallback = done.fallback;
        rec.updated_at = at.clone();
        if done.waiting {
            rec.waiting = true;
            rec.deadline = self.wait_deadline(plan, st, node);
        } else {
            rec.waiting = false;
            rec.deadline = None;
            rec.status = NodeStatus::Completed;
            rec.result = Some(done.result);
            rec.completed_at = Some(at);
        }
        st.put(rec);
        for w in done.effects.drain(..) {
            st.pending.push(match w {
                Write::PutEntity {
                    blueprint,
                    identifier,
                    body,
                    at,
                } => Write::PutEntity {
                    blueprint,
                    identifier,
                    body: secrets.redact(&body),
                    at,
                },
                other => other,
            });
        }
        if done.waiting {
            st.log(log(
                id,
                "INFO",
                format!("waiting for {}", crate::control::awaited(plan, id)),
            ));
            obs.event(&Event::Waiting {
                node,
                reason: match node.config {
                    NodeConfig::Input(_) => "waiting for responses",
                    _ => "waiting to be completed from outside",
                },
            });
        } else {
            obs.event(&Event::Finished {
                node,
                result: done.result,
                elapsed: t0.elapsed(),
                message: message.as_deref(),
            });
        }
        if external(&node.config) {
            self.flush(st).await?;
        }
        if done.result == Conclusion::Failed && (done.fatal || terminates(plan, node)) {
            let m = message.unwrap_or_default();
            return Ok(After::Fail(format!("node `{id}` failed: {m}")));
        }
        Ok(After::Next)
    }

    /// Runs the node once; a side effect's request is recorded on `rec` (see
    /// [`Engine::begin_effect`]).
    pub(crate) async fn execute(
        &self,
        plan: &Plan,
        st: &mut State,
        node: &Node,
        rec: &mut NodeRunRecord,
        ctx: Json,
        secrets: &Secrets,
    ) -> Result<Done, Error> {
        let id = node.identifier.value.as_str();
        Ok(match &node.config {
            NodeConfig::Condition(c) => self.condition(plan, id, c, ctx, secrets).await,
            NodeConfig::Webhook(w) => {
                let mut pieces = vec![Piece::Template(&w.url)];
                pieces.extend(w.headers.iter().map(|(_, v)| Piece::Value(v)));
                if let Some(b) = &w.body {
                    pieces.push(Piece::Value(b));
                }
                let req = self.render_effect(plan, &pieces, ctx, secrets).await;
                match req.and_then(|values| self.webhook_request(node, w, rec, values)) {
                    Err(e) => Done::failed(e, json!({})),
                    Ok(req) => match self
                        .begin_effect(st, rec, &request::http(&req), secrets)
                        .await?
                    {
                        Some(stop) => stop,
                        None => self.webhook(node, w, req, secrets).await,
                    },
                }
            }
            NodeConfig::Kafka(k) => {
                let pieces: Vec<Piece> = k.payload.iter().map(Piece::Value).collect();
                match self.render_effect(plan, &pieces, ctx, secrets).await {
                    Err(e) => Done::failed(e, json!({})),
                    Ok(mut v) => {
                        let payload = v.pop().unwrap_or(Json::Null);
                        let message = crate::kafka::envelope(&st.run, rec, payload);
                        let sent = self.kafka_request(&st.run, rec, &message);
                        match self.begin_effect(st, rec, &sent, secrets).await? {
                            Some(stop) => stop,
                            None => self.kafka(&st.run, rec, &message).await,
                        }
                    }
                }
            }
            NodeConfig::IntegrationAction(i) if let Some(spec) = i.spec() => {
                let pieces: Vec<Piece> = i
                    .integration_action_execution_properties
                    .iter()
                    .map(Piece::Value)
                    .collect();
                match self.render_effect(plan, &pieces, ctx, secrets).await {
                    Err(e) => Done::failed(e, json!({})),
                    Ok(mut v) => {
                        let props = v.pop().unwrap_or(Json::Null);
                        let mut asked = json!({
                            "service": spec.service,
                            "action": spec.invocation,
                            "properties": props,
                        });
                        if let Some(stop) = self.begin_effect(st, rec, &asked, secrets).await? {
                            return Ok(stop);
                        }
                        let sent = request::Sent::default();
                        let (r, props) = (&*rec, asked["properties"].clone());
                        let done = match spec.service.as_str() {
                            "gitlab" => self.gitlab(r, &sent, props, secrets).await?,
                            "azure_devops" => self.azure_devops(r, &sent, props, secrets).await?,
                            "jira" => {
                                self.jira(&spec.invocation, r, &sent, props, secrets)
                                    .await?
                            }
                            _ => self.github(i, r, &sent, props, secrets).await?,
                        };
                        // The requests sent are recorded with the node's result.
                        asked["requests"] = Json::Array(sent.take());
                        request::record(rec, &asked, secrets);
                        done
                    }
                }
            }
            NodeConfig::Ai(a) => {
                let mut pieces = vec![Piece::Template(&a.user_prompt)];
                pieces.extend(a.system_prompt.iter().map(Piece::Template));
                match self.render_effect(plan, &pieces, ctx, secrets).await {
                    Err(e) => Done::failed(e, json!({})),
                    Ok(v) => {
                        let mut v = v.into_iter().map(|x| prompt_text(&x));
                        let user = v.next().unwrap_or_default();
                        let prompt = ai::Prompt {
                            node: id,
                            system: v.next(),
                            user,
                            model: a.model.model.as_ref().map(|m| m.value.as_str()),
                            schema: a.model.output_schema.as_ref().map(ir::Value::to_json),
                        };
                        self.ask_ai(st, rec, prompt, secrets).await?
                    }
                }
            }
            NodeConfig::AiAgent(a) => {
                let pieces = [Piece::Template(&a.user_prompt)];
                match self.render_effect(plan, &pieces, ctx, secrets).await {
                    Err(e) => Done::failed(e, json!({})),
                    Ok(v) => {
                        let prompt = ai::Prompt {
                            node: id,
                            system: Some(format!(
                                "You are the AI agent `{}` of an internal developer portal.",
                                a.agent_identifier.value
                            )),
                            user: v.first().map(prompt_text).unwrap_or_default(),
                            model: a.model.model.as_ref().map(|m| m.value.as_str()),
                            schema: a.model.output_schema.as_ref().map(ir::Value::to_json),
                        };
                        self.ask_ai(st, rec, prompt, secrets).await?
                    }
                }
            }
            NodeConfig::UpsertEntity(u) => {
                let done = self.upsert(plan, u, ctx, secrets).await?;
                // The entity is written with the node's result, and so is its record.
                for w in &done.effects {
                    if let Write::PutEntity {
                        blueprint,
                        identifier,
                        body,
                        ..
                    } = w
                    {
                        let written = json!({
                            "blueprint": blueprint,
                            "identifier": identifier,
                            "entity": body,
                        });
                        request::record(rec, &written, secrets);
                    }
                }
                done
            }
            NodeConfig::Input(i) => {
                let pieces: Vec<Piece> = i.description.iter().map(Piece::Template).collect();
                match template::render(&self.ev, &plan.programs, &pieces, ctx, secrets).await {
                    Err(e) => Done::failed(format!("templating failed: {e}"), json!({})),
                    Ok(mut v) => Done {
                        waiting: true,
                        ..Done::ok(json!({ "description": v.pop().unwrap_or(Json::Null) }))
                    },
                }
            }
            NodeConfig::Join(_) => Done::ok(json!({ "arrived": arrived(plan, st, id) })),
            other => Done::failed(
                format!(
                    "{} nodes are not supported by this version of the wflow runtime yet \
                     (node `{id}`)",
                    other.type_name()
                ),
                json!({}),
            ),
        })
    }

    async fn condition(
        &self,
        plan: &Plan,
        id: &str,
        c: &ir::Condition,
        ctx: Json,
        secrets: &Secrets,
    ) -> Done {
        for outlet in &c.outlets {
            let code = [outlet.expression.code.as_str()];
            let out = template::eval(&self.ev, &plan.programs, &code, ctx.clone(), secrets).await;
            let value = match out.into_iter().next() {
                Some(Ok(v)) => v.into_iter().next().unwrap_or(Json::Null),
                Some(Err(e)) => {
                    return Done {
                        fatal: true,
                        ..Done::failed(
                            format!(
                                "the expression of outlet `{}` failed: {e}",
                                outlet.identifier.value
                            ),
                            json!({}),
                        )
                    };
                }
                None => Json::Null,
            };
            if value == Json::Bool(true) {
                return Done {
                    outlet: Some(outlet.identifier.value.clone()),
                    ..Done::ok(
                        json!({ "selectedOutlet": { "identifier": outlet.identifier.value } }),
                    )
                };
            }
        }
        let fallback = plan.outgoing(id).any(|conn| conn.fallback);
        let selected = if fallback {
            json!({ "identifier": "fallback" })
        } else {
            Json::Null
        };
        Done {
            fallback,
            ..Done::ok(json!({ "selectedOutlet": selected }))
        }
    }
}

impl Engine {
    /// Asks for the AI completion of `p`, its request recorded and durable first.
    async fn ask_ai(
        &self,
        st: &mut State,
        rec: &mut NodeRunRecord,
        p: ai::Prompt<'_>,
        secrets: &Secrets,
    ) -> Result<Done, Error> {
        let req = match self.ai_request(&p, secrets) {
            Ok(req) => req,
            Err(e) => return Ok(Done::failed(e, json!({}))),
        };
        Ok(
            match self
                .begin_effect(st, rec, &request::http(&req), secrets)
                .await?
            {
                Some(stop) => stop,
                None => self.ai(&p, req, secrets).await,
            },
        )
    }
}

/// A rendered prompt as text.
fn prompt_text(v: &Json) -> String {
    let mut s = String::new();
    template::interpolate(&mut s, v);
    s
}

/// The record of `node`'s run: its unfinished one (a resumed node, or a wait to drive again),
/// else a new one, numbered in start order and kept in `st`.
fn open_node(st: &mut State, node: &Node) -> NodeRunRecord {
    let id = node.identifier.value.as_str();
    let rec = match st
        .nodes
        .get(id)
        .filter(|r| r.status == NodeStatus::InProgress)
        .cloned()
    {
        Some(r) if r.waiting => r,
        Some(r) => {
            st.log(log(
                id,
                "INFO",
                "resuming the node after an interruption".into(),
            ));
            r
        }
        None => {
            st.seq += 1;
            NodeRunRecord::started(new_id("wfnr_"), &st.run.id, id, st.seq, &now())
        }
    };
    st.nodes.insert(id.to_string(), rec.clone());
    rec
}

/// A node running on a parallel branch: its own state, the node, how the run goes on.
type Branch<'a> =
    Pin<Box<dyn Future<Output = (State, &'a Node, Result<After, Error>)> + Send + 'a>>;

/// Stops the branches still running (a failure or a cancel ends the run): they are dropped
/// where they wait, before any further effect, and their node runs, still in progress in
/// `st`, are cancelled when the run finishes.
fn abandon(flight: &mut FuturesUnordered<Branch<'_>>) {
    flight.clear();
}

/// A new run of `plan` whose trigger `trigger` fired with `payload`, in `status`, not yet
/// written.
fn new_run(
    plan: &Plan,
    trigger: &str,
    payload: Json,
    created_by: Option<&str>,
    secrets: &Secrets,
    status: RunStatus,
) -> State {
    let at = now();
    let run_id = new_id("wfr_");
    let mut payload = secrets.redact(&payload);
    let output = crate::secret_inputs::seal(plan, trigger, &mut payload, secrets);
    let run = RunRecord {
        id: run_id.clone(),
        workflow: plan.workflow.identifier.value.clone(),
        source: plan.source.clone(),
        syntax: match plan.syntax {
            wflow_compiler::Syntax::Json => "json".into(),
            wflow_compiler::Syntax::Wflow => "wflow".into(),
        },
        source_path: plan.path.clone(),
        trigger_node: trigger.to_string(),
        trigger_payload: payload,
        status,
        result: None,
        error: None,
        created_by: created_by.map(str::to_string),
        cancel_requested: false,
        created_at: at.clone(),
        updated_at: at.clone(),
        completed_at: None,
        concurrency: plan
            .workflow
            .concurrency
            .as_ref()
            .map(|c| i64::from(c.limit)),
        concurrency_key: None,
    };
    let node_run = NodeRunRecord {
        status: NodeStatus::Completed,
        result: Some(Conclusion::Success),
        output: Some(output),
        completed_at: Some(at.clone()),
        ..NodeRunRecord::started(new_id("wfnr_"), &run_id, trigger, 0, &at)
    };
    let mut nodes = HashMap::new();
    nodes.insert(trigger.to_string(), node_run.clone());
    State {
        pending: vec![
            Write::InsertRun(Box::new(run.clone())),
            Write::PutNodeRun(Box::new(node_run)),
        ],
        run,
        nodes,
        seq: 0,
        announce: None,
    }
}

pub(crate) fn outcome(st: &State, waiting: Vec<String>) -> Outcome {
    Outcome {
        run_id: st.run.id.clone(),
        status: st.run.status,
        result: st.run.result,
        waiting,
    }
}

/// Whether the node has effects outside the store (its result is written right after).
fn external(c: &NodeConfig) -> bool {
    matches!(
        c,
        NodeConfig::Webhook(_)
            | NodeConfig::Kafka(_)
            | NodeConfig::IntegrationAction(_)
            | NodeConfig::Ai(_)
            | NodeConfig::AiAgent(_)
    )
}

pub(crate) fn on_failure(c: &NodeConfig) -> OnFailure {
    let given = match c {
        NodeConfig::Webhook(w) => w.on_failure,
        NodeConfig::Kafka(k) => k.on_failure,
        NodeConfig::UpsertEntity(u) => u.on_failure,
        NodeConfig::IntegrationAction(i) => i.on_failure,
        _ => None,
    };
    given.unwrap_or(OnFailure::Terminate)
}

/// Where a run stands: the nodes it may run now, those waiting, a failure that ends it.
pub(crate) struct Frontier<'a> {
    pub(crate) run: Vec<&'a str>,
    pub(crate) waiting: Vec<String>,
    /// A node failed and its failure terminates the run (seen when resuming a run whose
    /// process stopped after recording the failure but before finishing the run).
    pub(crate) failed: Option<&'a str>,
}

/// Whether connection `conn` out of a completed node (its record `rec`) was taken. An
/// action's error path is taken when it failed, its other connections when it did not.
fn took(plan: &Plan, node: &Node, rec: &NodeRunRecord, conn: &ir::Connection) -> bool {
    if node.config.is_action() && plan.workflow.has_error_path(&node.identifier.value) {
        return plan.workflow.is_error_path(conn) == (rec.result == Some(Conclusion::Failed));
    }
    let outlets = node.config.has_outlets() && rec.result == Some(Conclusion::Success);
    !outlets
        || (conn.fallback && rec.fallback)
        || (conn.outlet.as_ref().map(|o| &o.value) == rec.outlet.as_ref() && rec.outlet.is_some())
}

/// Whether a failure of `node` ends the run: it terminates (`onFailure`, the default) and
/// the node has no error path to take instead.
pub(crate) fn terminates(plan: &Plan, node: &Node) -> bool {
    on_failure(&node.config) == OnFailure::Terminate
        && !plan.workflow.has_error_path(&node.identifier.value)
}

/// The sources of the connections into `node` that were taken, in declaration order.
pub(crate) fn arrived<'a>(plan: &'a Plan, st: &State, node: &str) -> Vec<&'a str> {
    plan.workflow
        .connections
        .iter()
        .filter(|c| c.target.value == node)
        .filter(|c| {
            let source = c.source.value.as_str();
            match (st.nodes.get(source), plan.node(source)) {
                (Some(rec), Some(n)) => {
                    rec.status == NodeStatus::Completed && took(plan, n, rec, c)
                }
                _ => false,
            }
        })
        .map(|c| c.source.value.as_str())
        .collect()
}

/// Walks the taken paths from the trigger: every node that may run now (not one of
/// `in_flight`, which run on branches), in path order. A join may run once enough of its
/// incoming connections were taken.
pub(crate) fn frontier<'a>(
    plan: &'a Plan,
    st: &State,
    in_flight: &HashSet<String>,
    now: &str,
) -> Frontier<'a> {
    let mut front = Frontier {
        run: Vec::new(),
        waiting: Vec::new(),
        failed: None,
    };
    let mut queue: VecDeque<&str> = VecDeque::new();
    let mut seen: HashSet<&str> = HashSet::new();
    let Some(trigger) = plan.node(&st.run.trigger_node) else {
        return front;
    };
    queue.push_back(trigger.identifier.value.as_str());
    while let Some(id) = queue.pop_front() {
        if !seen.insert(id) || in_flight.contains(id) {
            continue;
        }
        let Some(node) = plan.node(id) else {
            continue;
        };
        let Some(rec) = st.nodes.get(id) else {
            let ready = match &node.config {
                NodeConfig::Join(j) => {
                    let incoming = plan
                        .workflow
                        .connections
                        .iter()
                        .filter(|c| c.target.value == id)
                        .count();
                    arrived(plan, st, id).len() >= j.wait.needed(incoming).max(1)
                }
                _ => true,
            };
            if ready {
                front.run.push(id);
            }
            continue;
        };
        if rec.status == NodeStatus::InProgress {
            if rec.waiting && !expired(rec, now) {
                front.waiting.push(id.to_string());
            } else {
                front.run.push(id);
            }
            continue;
        }
        if rec.result == Some(Conclusion::Failed) && terminates(plan, node) {
            front.failed.get_or_insert(id);
            continue;
        }
        // A branch stopped when its run ended goes no further.
        if rec.result == Some(Conclusion::Cancelled) {
            continue;
        }
        for conn in plan.outgoing(id) {
            if took(plan, node, rec, conn) {
                queue.push_back(conn.target.value.as_str());
            }
        }
    }
    front
}

/// The run context templates are evaluated against.
fn context(plan: &Plan, st: &State, rec: &NodeRunRecord, secrets: &Secrets) -> Json {
    let mut outputs = Map::new();
    let mut done: Vec<&NodeRunRecord> = st
        .nodes
        .values()
        .filter(|r| r.status == NodeStatus::Completed)
        .collect();
    done.sort_by_key(|r| r.seq);
    for r in done {
        if let Some(o) = &r.output {
            let mut o = o.clone();
            if let Some(NodeConfig::Input(input)) = plan.node(&r.node).map(|n| &n.config) {
                crate::secret_inputs::open_answers(&input.user_inputs, &mut o, secrets);
            }
            outputs.insert(r.node.clone(), o);
        }
    }
    let trigger = &st.run.trigger_node;
    if let Some(mut t) = st.nodes.get(trigger).and_then(|r| r.output.clone()) {
        crate::secret_inputs::open(plan, trigger, &st.run.trigger_payload, &mut t, secrets);
        outputs.insert(trigger.clone(), t.clone());
        outputs.insert("trigger".into(), t);
    }
    json!({
        "outputs": outputs,
        "secrets": secrets.to_json(),
        "workflow": { "identifier": plan.workflow.identifier.value },
        "workflowRun": {
            "identifier": st.run.id,
            "createdAt": st.run.created_at,
            "trigger": {
                "identifier": st.run.trigger_node,
                "by": { "email": st.run.created_by },
            },
        },
        "workflowNodeRun": { "identifier": rec.id, "createdAt": rec.created_at },
    })
}
