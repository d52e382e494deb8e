//! `wflow test`: runs the cases of test files on the real engine — the same code as `exec`
//! and `serve` — with the outside world swapped at its trait boundaries ([`double::World`]
//! answers HTTP and Kafka from the case's mocks), each case on its own in-memory store and a
//! virtual clock, so backoffs, timeouts and approval deadlines take no wall time.
//!
//! The front end (the CLI) finds and checks the files; this crate runs checked cases and
//! reports, per case, each failed assertion with the span of its line, plus what every case
//! reached (for coverage) and its record (for snapshots).

pub mod coverage;
pub mod double;
mod expect;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Map, Value as Json, json};
use wflow_compiler::catalog::{Blueprint, Catalog};
use wflow_compiler::ir::NodeConfig;
use wflow_compiler::testfile::{Case, Step};
use wflow_effects::clock::Clock;
use wflow_engine::control::{Answer, Responder};
use wflow_engine::engine::{Conclusion, Config, Engine, Quiet};
use wflow_engine::jq::Programs;
use wflow_engine::plan::Plan;
use wflow_engine::secrets::Secrets;
use wflow_engine::settings::{self, Settings};
use wflow_grammar::Span;
use wflow_store::{NodeRunRecord, RunRecord, Store, Write};

pub use double::Sent;

/// A workflow the cases may run, compiled once for all of them.
pub struct Source {
    pub plan: Plan,
}

/// One case to run, with the test file it is in and the workflow it runs.
#[derive(Clone)]
pub struct Job {
    pub file: String,
    pub case: Case,
    pub source: Arc<Source>,
}

/// A failed assertion (or a case that could not run): where, what, and the two values.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    /// The line it is about in the test file (an `expect`, a `respond`, the `test` line).
    pub span: Span,
    pub message: String,
    pub expected: Option<String>,
    pub actual: Option<String>,
}

impl Failure {
    fn at(span: Span, message: impl Into<String>) -> Failure {
        Failure {
            span,
            message: message.into(),
            expected: None,
            actual: None,
        }
    }
}

/// What a case did: its verdict and its record.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub file: String,
    pub workflow: String,
    pub name: String,
    /// The `test` line.
    pub span: Span,
    pub failures: Vec<Failure>,
    /// Wall time the case took.
    pub took: Duration,
    /// The run (absent when it could not start, or the event did not match the trigger).
    pub run: Option<RunRecord>,
    /// The event did not match the trigger's condition: no run started.
    pub not_triggered: bool,
    /// Its node runs, in start order.
    pub nodes: Vec<NodeRunRecord>,
    /// Every request and message sent, in order.
    pub sent: Vec<Sent>,
    /// Entities in the catalog after the run: (blueprint, entity).
    pub entities: Vec<(String, Json)>,
}

impl Outcome {
    /// An outcome that ran nothing.
    fn empty() -> Outcome {
        Outcome {
            file: String::new(),
            workflow: String::new(),
            name: String::new(),
            span: Span::default(),
            failures: Vec::new(),
            took: Duration::ZERO,
            run: None,
            not_triggered: false,
            nodes: Vec::new(),
            sent: Vec::new(),
            entities: Vec::new(),
        }
    }

    /// `job`'s outcome when it could not run, saying `why`.
    fn failed(job: &Job, why: String) -> Outcome {
        Outcome {
            file: job.file.clone(),
            workflow: job.case.workflow.clone(),
            name: job.case.name.clone(),
            span: job.case.span,
            failures: vec![Failure::at(job.case.span, why)],
            ..Outcome::empty()
        }
    }

    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }

    /// The run's record with what varies between runs (ids, times) left out: what a snapshot
    /// holds.
    pub fn record(&self) -> Json {
        let nodes: Vec<Json> = self
            .nodes
            .iter()
            .map(|n| {
                json!({
                    "node": n.node,
                    "status": n.status,
                    "result": n.result,
                    "outlet": n.outlet,
                    "fallback": n.fallback,
                    "attempts": n.attempts.len(),
                    "output": stable(n.output.clone().unwrap_or(Json::Null)),
                })
            })
            .collect();
        // Parallel branches interleave their requests: grouped by node (in start order),
        // each node's in the order sent.
        let mut sent: Vec<&Sent> = self.sent.iter().collect();
        sent.sort_by_key(|s| self.nodes.iter().position(|n| n.node == s.node));
        let sent: Vec<Json> = sent
            .into_iter()
            .map(|s| {
                let headers: Map<String, Json> = s
                    .headers
                    .iter()
                    .filter(|(k, _)| !k.to_ascii_lowercase().starts_with("x-wflow-"))
                    .filter(|(k, _)| !k.eq_ignore_ascii_case("idempotency-key"))
                    .map(|(k, v)| (k.clone(), Json::String(v.clone())))
                    .collect();
                json!({ "node": s.node, "method": s.method, "url": s.url, "headers": headers,
                        "body": stable(s.body.clone().unwrap_or(Json::Null)) })
            })
            .collect();
        let entities: Vec<Json> = self
            .entities
            .iter()
            .map(|(bp, e)| json!({ "blueprint": bp, "entity": stable(e.clone()) }))
            .collect();
        json!({
            "result": self.run.as_ref().map(result_of),
            "error": self.run.as_ref().and_then(|r| r.error.clone()),
            "nodes": nodes,
            "sent": sent,
            "entities": entities,
        })
    }
}

/// `v` with what differs from run to run (ids, times) replaced by `[id]` and `[time]`.
fn stable(v: Json) -> Json {
    static VARYING: std::sync::OnceLock<Option<(regex::Regex, regex::Regex)>> =
        std::sync::OnceLock::new();
    let Some((ids, times)) = VARYING.get_or_init(|| {
        Some((
            regex::Regex::new(r"\b[a-z]+_[0-9a-f]{32}\b").ok()?,
            regex::Regex::new(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})")
                .ok()?,
        ))
    }) else {
        return v;
    };
    match v {
        Json::String(s) => {
            let s = ids.replace_all(&s, "[id]");
            Json::String(times.replace_all(&s, "[time]").into_owned())
        }
        Json::Object(m) => Json::Object(m.into_iter().map(|(k, v)| (k, stable(v))).collect()),
        Json::Array(a) => Json::Array(a.into_iter().map(stable).collect()),
        other => other,
    }
}

/// The result a test sees: the run's result, or WAITING while it waits.
pub(crate) fn result_of(run: &RunRecord) -> String {
    run.result.map_or("WAITING", Conclusion::as_str).to_string()
}

/// Runs cases: the engine (its jq evaluator) is shared, everything else is per case.
pub struct Runner {
    engine: Engine,
    /// Blueprints every case's store starts with.
    blueprints: Vec<Blueprint>,
    ai: settings::Ai,
    kafka_topic: String,
}

impl Runner {
    /// A runner with the project's `catalog` and service `settings` (their timeouts, models
    /// and topics; never their addresses: nothing is called).
    pub async fn new(catalog: &Catalog, settings: &Settings) -> Result<Runner, String> {
        let mut config = Config::with_settings(settings);
        config.kafka = None;
        // Services without a default URL get a mocked one: nothing is called.
        config
            .azure_devops
            .get_or_insert_with(|| settings::Service::at("https://dev.azure.com/mocked"));
        config
            .jira
            .get_or_insert_with(|| settings::Service::at("https://mocked.atlassian.net"));
        let store = Store::open_memory().await.map_err(|e| e.to_string())?;
        let engine = Engine::new(store, config).map_err(|e| e.to_string())?;
        let blueprints = catalog
            .blueprints()
            .iter()
            .filter(|b| !b.identifier.starts_with('_'))
            .cloned()
            .collect();
        let ai = settings.ai.clone().unwrap_or(settings::Ai {
            base_url: "https://ai.mocked/v1".into(),
            model: None,
            timeout: Duration::from_secs(60),
        });
        let ai = settings::Ai {
            model: ai.model.or_else(|| Some("mocked-model".into())),
            ..ai
        };
        let kafka_topic = settings
            .kafka
            .as_ref()
            .map_or_else(|| "wflow".to_string(), |k| k.topic.clone());
        Ok(Runner {
            engine,
            blueprints,
            ai,
            kafka_topic,
        })
    }

    /// Runs every job, `parallel` at a time, calling `done` as each case ends; outcomes in the
    /// jobs' order.
    pub async fn run(
        self: Arc<Self>,
        jobs: Vec<Job>,
        parallel: usize,
        done: Arc<dyn Fn(&Outcome) + Send + Sync>,
    ) -> Vec<Outcome> {
        let programs = Arc::new(expect::compile(jobs.iter().map(|j| &j.case)));
        // One store per case running at once, emptied between cases: a new store would
        // create its schema and prepare its statements again.
        let (free, stores) = tokio::sync::mpsc::channel::<Store>(parallel.max(1));
        let stores = Arc::new(tokio::sync::Mutex::new(stores));
        let mut opened = 0;
        let mut tasks = Vec::with_capacity(jobs.len());
        for job in jobs {
            if opened < parallel.max(1) {
                opened += 1;
                match Store::open_memory().await {
                    Ok(s) => {
                        let _ = free.send(s).await;
                    }
                    Err(e) => {
                        tasks.push(tokio::spawn(async move { Err::<Outcome, _>((job, e.0)) }));
                        continue;
                    }
                }
            }
            let runner = Arc::clone(&self);
            let programs = Arc::clone(&programs);
            let (free, stores) = (free.clone(), Arc::clone(&stores));
            let done = Arc::clone(&done);
            tasks.push(tokio::spawn(async move {
                let store = stores.lock().await.recv().await;
                let Some(store) = store else {
                    return Err((job, "no store is left".to_string()));
                };
                let out = runner.case(job, &programs, &store).await;
                let _ = free.send(store).await;
                done(&out);
                Ok(out)
            }));
        }
        let mut out = Vec::with_capacity(tasks.len());
        for t in tasks {
            out.push(match t.await {
                Ok(Ok(o)) => o,
                Ok(Err((job, why))) => Outcome::failed(&job, why),
                Err(e) => Outcome {
                    failures: vec![Failure::at(Span::default(), format!("a case crashed: {e}"))],
                    ..Outcome::empty()
                },
            });
        }
        out
    }

    /// Runs one case on `store` (emptied first); `programs` holds its expectations' jq,
    /// compiled.
    pub async fn case(&self, job: Job, programs: &Arc<Programs>, store: &Store) -> Outcome {
        let t0 = Instant::now();
        let case = &job.case;
        let mut out = Outcome::failed(&job, String::new());
        out.failures.clear();
        if let Err(f) = self
            .drive(case, &job.source, programs, store, &mut out)
            .await
        {
            out.failures.push(f);
        }
        out.took = t0.elapsed();
        out
    }

    async fn drive(
        &self,
        case: &Case,
        source: &Source,
        programs: &Arc<Programs>,
        store: &Store,
        out: &mut Outcome,
    ) -> Result<(), Failure> {
        let here = |m: String| Failure::at(case.span, m);
        let plan = &source.plan;
        let start = match &case.at {
            Some(at) => chrono::DateTime::parse_from_rfc3339(at)
                .map_err(|e| here(format!("`at \"{at}\"` is not an RFC 3339 time: {e}")))?
                .with_timezone(&chrono::Utc),
            None => chrono::Utc::now(),
        };
        let clock = Clock::virtual_at(start);
        let world = Arc::new(double::World::new(
            case.mocks.clone(),
            clock.clone(),
            self.engine.evaluator().clone(),
            Arc::clone(programs),
        ));
        self.seed(case, store).await?;
        let engine = self
            .engine
            .clone()
            .with_store(store.clone())
            .with_http(world.clone())
            .with_clock(clock.clone())
            .with_ai(self.ai.clone())
            .with_kafka(
                settings::Kafka {
                    brokers: "mocked".into(),
                    topic: self.kafka_topic.clone(),
                },
                world.clone(),
            );
        for bp in wflow_compiler::preflight::blueprints_upserted(&plan.workflow) {
            if store
                .blueprint(&bp)
                .await
                .map_err(|e| here(e.to_string()))?
                .is_none()
            {
                return Err(here(format!(
                    "the workflow upserts blueprint `{bp}`, which the project does not define; \
                     add blueprints/{bp}.json (Port blueprint JSON)"
                )));
            }
        }
        let secrets = secrets(plan, case);
        let payload = self.payload(&engine, plan, case, start).await?;
        if matches!(
            plan.node(&case.trigger).map(|n| &n.config),
            Some(NodeConfig::EventTrigger(_))
        ) && !engine
            .event_matches(plan, &case.trigger, &payload)
            .await
            .map_err(|e| here(e.to_string()))?
        {
            out.not_triggered = true;
            expect::check_all(
                self.engine.evaluator(),
                programs,
                case,
                out,
                &Secrets::default(),
            )
            .await;
            return Ok(());
        }
        let created_by = case.user.as_ref().map(|u| u.email.as_str());
        let fail = |e: wflow_engine::Error| here(e.to_string());
        let mut run = engine
            .run(plan, &case.trigger, payload, created_by, &secrets, &Quiet)
            .await
            .map_err(fail)?;
        for step in &case.steps {
            match step {
                Step::Wait { ms, .. } => clock.advance(Duration::from_millis(*ms)),
                Step::Respond {
                    node,
                    button,
                    by,
                    inputs,
                    after_ms,
                    span,
                } => {
                    clock.advance(Duration::from_millis(*after_ms));
                    if *after_ms > 0 {
                        // Deadlines that passed meanwhile are taken first.
                        run = engine
                            .drive(plan, &run.run_id, &secrets, &Quiet)
                            .await
                            .map_err(fail)?;
                    }
                    if !run.waiting.contains(node) {
                        out.failures.push(Failure {
                            span: *span,
                            message: format!("`{node}` was not waiting for a response"),
                            expected: Some(format!("the run waits at `{node}`")),
                            actual: Some(if run.waiting.is_empty() {
                                format!(
                                    "the run ended: {}",
                                    run.result.map_or("?", Conclusion::as_str)
                                )
                            } else {
                                format!("it waits at {}", run.waiting.join(", "))
                            }),
                        });
                        continue;
                    }
                    let who = Responder {
                        email: by.email.clone(),
                        roles: by.roles.clone(),
                        teams: by.teams.clone(),
                    };
                    let answer = Answer {
                        button,
                        inputs,
                        secrets: &secrets,
                    };
                    if let Err(e) = engine
                        .respond_as(plan, &run.run_id, node, &who, &answer)
                        .await
                    {
                        out.failures.push(Failure::at(*span, e.to_string()));
                        continue;
                    }
                }
            }
            run = engine
                .drive(plan, &run.run_id, &secrets, &Quiet)
                .await
                .map_err(fail)?;
        }
        out.run = store
            .run(&run.run_id)
            .await
            .map_err(|e| here(e.to_string()))?;
        let mut nodes = store
            .node_runs(&run.run_id)
            .await
            .map_err(|e| here(e.to_string()))?;
        nodes.sort_by_key(|n| n.seq);
        out.nodes = nodes;
        out.sent = world.sent();
        for (bp, e) in store
            .entities(None)
            .await
            .map_err(|e| here(e.to_string()))?
            .into_iter()
            .filter_map(|e| Some((e.get("blueprint")?.as_str()?.to_string(), e)))
        {
            out.entities.push((bp, e));
        }
        for s in out.sent.iter().filter(|s| s.unmocked) {
            out.failures.push(Failure::at(
                case.span,
                format!(
                    "node `{}` called the outside world and no mock answered: {} {}",
                    s.node, s.method, s.url
                ),
            ));
        }
        expect::check_all(self.engine.evaluator(), programs, case, out, &secrets).await;
        Ok(())
    }

    /// Empties `store` and fills it with the project's blueprints and the case's entities.
    async fn seed(&self, case: &Case, store: &Store) -> Result<(), Failure> {
        let here = |m: String| Failure::at(case.span, m);
        store.clear().await.map_err(|e| here(e.to_string()))?;
        let mut writes: Vec<Write> = self
            .blueprints
            .iter()
            .map(|b| Write::PutBlueprint {
                identifier: b.identifier.clone(),
                body: b.to_port_json(),
            })
            .collect();
        for (bp, e) in &case.entities {
            let Some(blueprint) = self.blueprints.iter().find(|b| b.identifier == *bp) else {
                return Err(here(format!(
                    "entity `{}` is of blueprint `{bp}`, which the project does not define; add \
                     blueprints/{bp}.json",
                    e["identifier"].as_str().unwrap_or_default()
                )));
            };
            let mut e = e.clone();
            e["blueprint"] = json!(bp);
            for k in ["properties", "relations"] {
                if e.get(k).is_none() {
                    e[k] = Json::Object(Map::new());
                }
            }
            let problems = wflow_engine::catalog::validate(blueprint, &e);
            if !problems.is_empty() {
                return Err(here(format!(
                    "entity `{}`: {}",
                    e["identifier"].as_str().unwrap_or_default(),
                    wflow_engine::catalog::joined(&problems)
                )));
            }
            writes.push(Write::PutEntity {
                blueprint: bp.clone(),
                identifier: e["identifier"].as_str().unwrap_or_default().to_string(),
                body: e,
                at: wflow_engine::engine::now(),
            });
        }
        store.apply(writes).await.map_err(|e| here(e.to_string()))?;
        Ok(())
    }

    /// The trigger's output: the form's inputs checked as `exec` checks them, the event, or
    /// the schedule's tick.
    async fn payload(
        &self,
        engine: &Engine,
        plan: &Plan,
        case: &Case,
        start: chrono::DateTime<chrono::Utc>,
    ) -> Result<Json, Failure> {
        let here = |m: String| Failure::at(case.span, m);
        let node = plan
            .node(&case.trigger)
            .ok_or_else(|| here(format!("no trigger `{}`", case.trigger)))?;
        match &node.config {
            NodeConfig::SelfServeTrigger(form) => {
                let person = match &case.user {
                    Some(u) => json!({ "email": u.email, "roles": u.roles, "teams": u.teams }),
                    None => json!({ "email": null, "roles": ["Admin"], "teams": [] }),
                };
                let checked = engine
                    .check_form(
                        plan,
                        &form.user_inputs,
                        &case.inputs,
                        &person,
                        &secrets(plan, case),
                    )
                    .await
                    .map_err(|e| here(e.to_string()))?;
                checked.map(Json::Object).map_err(|problems| {
                    let list: Vec<String> = problems
                        .iter()
                        .map(|p| match p.key.as_str() {
                            "" => p.message.clone(),
                            key => format!("input `{key}`: {}", p.message),
                        })
                        .collect();
                    here(format!("the form refuses the inputs: {}", list.join("; ")))
                })
            }
            NodeConfig::EventTrigger(t) => {
                let event = case.event.clone().ok_or_else(|| {
                    here(format!(
                        "`{}` starts on a catalog event; give it with `event {{ ... }}`",
                        case.trigger
                    ))
                })?;
                wflow_engine::events::accept_event(t, &case.trigger, event)
                    .map_err(|p| here(format!("the event is refused: {}", p.join("; "))))
            }
            _ => Ok(wflow_engine::events::schedule_output(start)),
        }
    }
}

/// The case's secrets, and a placeholder for every other secret the workflow reads.
fn secrets(plan: &Plan, case: &Case) -> Secrets {
    let names: BTreeSet<&String> = plan.secrets.iter().chain(&plan.optional_secrets).collect();
    let mut pairs: Vec<(String, String)> = names
        .into_iter()
        .filter(|n| !case.secrets.iter().any(|(g, _)| g == *n))
        .map(|n| (n.clone(), format!("mocked-secret-{n}")))
        .collect();
    pairs.extend(case.secrets.iter().cloned());
    Secrets::from_pairs(pairs)
}
