//! One store conformance suite, run against SQLite always and against PostgreSQL when
//! `WFLOW_IT_PG` holds a connection URL (each PostgreSQL test creates and drops its own
//! database, so the URL's user needs `CREATEDB`). `.ci/run` starts Debian's PostgreSQL for it.

mod support;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use serde_json::{Value as Json, json};
use support::on_loopback;
use wflow_engine::control::{Answer, Responded};
use wflow_engine::engine::{Conclusion, NodeStatus, RunStatus, new_id};
use wflow_engine::{Config, Engine, Plan, Quiet, Secrets, Store};
use wflow_store::{
    Attempt, EntityChange, LogRecord, NodeRunRecord, ResponseRecord, RunRecord, Write,
};
use wflow_testkit::{Database, plan};

const SECRET: &str = "tok-5e3c7a19b2d4";

/// Where a test's store lives: a SQLite file in a temp dir, or a fresh PostgreSQL database.
struct Location {
    /// The file path or URL given to `Store::open`, as `--store` would.
    store: PathBuf,
    cleanup: Cleanup,
}

enum Cleanup {
    Dir(PathBuf),
    Database(Database),
}

impl Location {
    fn sqlite() -> Location {
        let dir = std::env::temp_dir().join(format!("wflow-conf-{}", new_id("")));
        std::fs::create_dir_all(&dir).expect("temp dir");
        Location {
            store: dir.join("wflow.db"),
            cleanup: Cleanup::Dir(dir),
        }
    }

    /// A new database on the `WFLOW_IT_PG` server; `None` when the variable is unset.
    async fn postgres() -> Option<Location> {
        let db = Database::fresh("wflow_conf").await?;
        Some(Location {
            store: PathBuf::from(&db.url),
            cleanup: Cleanup::Database(db),
        })
    }

    async fn open(&self) -> Store {
        Store::open(&self.store).await.expect("store opens")
    }

    async fn remove(self) {
        match self.cleanup {
            Cleanup::Dir(dir) => {
                let _ = std::fs::remove_dir_all(dir);
            }
            Cleanup::Database(db) => db.drop().await,
        }
    }
}

/// Runs each scenario against SQLite and PostgreSQL (skipped without `WFLOW_IT_PG`).
macro_rules! conformance {
    ($($scenario:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $scenario() {
                    let at = super::Location::sqlite();
                    super::$scenario(&at).await;
                    at.remove().await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $scenario() {
                    let Some(at) = super::Location::postgres().await else {
                        eprintln!("skipped: set WFLOW_IT_PG to a PostgreSQL URL to run it");
                        return;
                    };
                    super::$scenario(&at).await;
                    at.remove().await;
                }
            )*
        }
    };
}

conformance!(
    runs_and_node_runs_round_trip,
    a_node_run_is_recorded_before_its_side_effect,
    a_waiting_run_resumes_after_reopening,
    upserts_create_then_update_only_the_given_fields,
    catalog_writes_and_deletes,
    approval_responses_are_kept_in_order_once_per_responder,
    entity_changes_are_reported_with_their_run,
    secrets_stay_out_of_the_store,
    timers_fire_once,
    due_runs_are_leased_renewed_fenced_and_taken_over,
    concurrent_batches_commit_together_and_fail_alone,
    parallel_branches_start_durably_together_and_join_once,
    runs_are_listed_by_workflow_status_and_creator,
    queued_runs_start_in_order_within_their_limit,
    two_stores_admitting_at_once_never_pass_the_limit,
    a_workflow_with_a_limit_queues_its_runs_and_cancels_a_queued_one,
    a_limit_per_key_keeps_one_queue_per_key,
);

fn secrets() -> Secrets {
    Secrets::from_pairs([("token".to_string(), SECRET.to_string())])
}

async fn engine(at: &Location) -> Engine {
    let store = at.open().await;
    store
        .apply(vec![Write::PutBlueprint {
            identifier: "service".into(),
            body: json!({
                "identifier": "service",
                "schema": {"properties": {
                    "version": {"type": "string"},
                    "tier": {"type": "string", "enum": ["1", "2"]}
                }},
                "relations": {}
            }),
        }])
        .await
        .expect("blueprint");
    Engine::new(store, Config::default()).expect("engine")
}

/// Starts a run of `p` from its form trigger and drives it as far as it goes.
async fn run(engine: &Engine, p: &Plan, inputs: Json) -> wflow_engine::Outcome {
    let id = engine
        .start(
            p,
            "trigger",
            inputs,
            Some("dev@example.com"),
            &secrets(),
            None,
        )
        .await
        .expect("start")
        .id()
        .to_string();
    engine
        .drive(p, &id, &secrets(), &Quiet)
        .await
        .expect("drive")
}

/// A loopback HTTP server answering `{"echo": <request body>}`; `on_request` runs first.
async fn server<F, Fut>(on_request: F) -> String
where
    F: Fn() -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let app = axum::Router::new().fallback(move |body: axum::body::Bytes| {
        let on_request = on_request.clone();
        async move {
            on_request().await;
            let body: Json = serde_json::from_slice(&body).unwrap_or(Json::Null);
            json!({"echo": body}).to_string()
        }
    });
    on_loopback(app).await
}

/// The node runs of the unfinished run as the store held them when each request arrived, at
/// a [`server`] that answers `delay` later.
type Watched = Arc<Mutex<Vec<Vec<NodeRunRecord>>>>;

async fn watching_server(engine: &Engine, delay: std::time::Duration) -> (String, Watched) {
    let seen: Watched = Arc::default();
    let (store, log) = (engine.store.clone(), Arc::clone(&seen));
    let base = server(move || {
        let (store, log) = (store.clone(), Arc::clone(&log));
        async move {
            let runs = store.unfinished_runs().await.expect("runs");
            let nodes = store.node_runs(&runs[0].id).await.expect("node runs");
            log.lock().expect("lock").push(nodes);
            tokio::time::sleep(delay).await;
        }
    })
    .await;
    (base, seen)
}

fn run_record(id: &str, workflow: &str, created_at: &str) -> RunRecord {
    RunRecord {
        id: id.into(),
        workflow: workflow.into(),
        source: "workflow w \"W\" {}".into(),
        syntax: "wflow".into(),
        source_path: "w.wflow".into(),
        trigger_node: "trigger".into(),
        trigger_payload: json!({"service": "api", "nested": {"n": 1.5, "list": [true, null]}}),
        status: RunStatus::InProgress,
        result: None,
        error: None,
        created_by: Some("dev@example.com".into()),
        cancel_requested: false,
        created_at: created_at.into(),
        updated_at: created_at.into(),
        completed_at: None,
        concurrency: None,
        concurrency_key: None,
    }
}

/// A run of `workflow` waiting behind a concurrency limit of `limit`.
fn queued(id: &str, workflow: &str, created_at: &str, limit: i64) -> Write {
    keyed(id, workflow, created_at, limit, None)
}

/// A run of `workflow` waiting behind a concurrency limit of `limit` for the runs with `key`.
fn keyed(id: &str, workflow: &str, created_at: &str, limit: i64, key: Option<&str>) -> Write {
    Write::InsertRun(Box::new(RunRecord {
        status: RunStatus::Queued,
        concurrency: Some(limit),
        concurrency_key: key.map(str::to_string),
        ..run_record(id, workflow, created_at)
    }))
}

fn finished(id: &str) -> Write {
    Write::FinishRun {
        id: id.into(),
        status: RunStatus::Completed,
        result: Some(Conclusion::Success),
        error: None,
        at: "2026-01-01T00:01:00Z".into(),
    }
}

async fn status(store: &Store, id: &str) -> RunStatus {
    store.run(id).await.expect("read").expect("run").status
}

/// The ids of the runs `owner` claims as due ([`Store::claim_due`]), at most `limit`, for a
/// minute; each claimed run comes back as leased, in progress, oldest first.
async fn claimed(store: &Store, owner: &str, limit: i64) -> Vec<String> {
    let runs = (store
        .claim_due(owner, std::time::Duration::from_secs(60), limit)
        .await)
        .expect("claim");
    assert!(
        runs.iter().all(|r| r.status == RunStatus::InProgress),
        "{runs:?}"
    );
    assert!(
        runs.windows(2).all(|w| w[0].created_at <= w[1].created_at),
        "not oldest first: {runs:?}"
    );
    runs.into_iter().map(|r| r.id).collect()
}

/// Queued runs start oldest first, only while fewer runs of their workflow than the limit are
/// in progress; they are never due before; a cancelled queued run leaves the queue.
async fn queued_runs_start_in_order_within_their_limit(at: &Location) {
    let store = at.open().await;
    let running = RunRecord {
        concurrency: Some(1),
        ..run_record("a1", "w", "2026-01-01T00:00:00Z")
    };
    store
        .apply(vec![
            Write::InsertRun(Box::new(running)),
            // Accepted in this order, whatever the order of the writes.
            queued("q3", "w", "2026-01-01T00:00:03Z", 1),
            queued("q1", "w", "2026-01-01T00:00:01Z", 1),
            queued("q2", "w", "2026-01-01T00:00:02Z", 1),
            queued("z1", "other", "2026-01-01T00:00:04Z", 2),
        ])
        .await
        .expect("insert runs");
    assert_eq!(
        store.queued_workflows().await.expect("queued"),
        ["other", "w"]
    );
    assert_eq!(claimed(&store, "p", 10).await, ["a1"]);
    assert!(store.admit("w").await.expect("admit").is_empty());
    assert_eq!(status(&store, "q1").await, RunStatus::Queued);
    assert_eq!(store.admit("other").await.expect("admit"), ["z1"]);
    // A started run is due, like any new run.
    assert_eq!(claimed(&store, "p", 10).await, ["z1"]);

    store.apply(vec![finished("a1")]).await.expect("finish");
    assert_eq!(store.admit("w").await.expect("admit"), ["q1"]);
    assert!(store.admit("w").await.expect("admit again").is_empty());
    assert_eq!(claimed(&store, "p", 10).await, ["q1"]);

    // A queued run is cancelled at once; a started one is not cancelled this way.
    assert!(
        store
            .cancel_queued("q2", "2026-01-01T00:00:09Z")
            .await
            .expect("cancel")
    );
    assert!(
        !store
            .cancel_queued("q1", "2026-01-01T00:00:09Z")
            .await
            .expect("cancel")
    );
    let q2 = store.run("q2").await.expect("read").expect("q2");
    assert_eq!(
        (q2.status, q2.result),
        (RunStatus::Completed, Some(Conclusion::Cancelled))
    );

    store.apply(vec![finished("q1")]).await.expect("finish");
    assert_eq!(store.admit("w").await.expect("admit"), ["q3"]);
    assert!(store.queued_workflows().await.expect("queued").is_empty());
    store.close().await;
}

/// Two stores on one database (two processes) admitting the same queue at once start no more
/// runs than the limit, and the oldest.
async fn two_stores_admitting_at_once_never_pass_the_limit(at: &Location) {
    let (one, two) = (at.open().await, at.open().await);
    let writes = (0..12)
        .map(|i| {
            queued(
                &format!("c{i:02}"),
                "c",
                &format!("2026-01-01T00:00:{i:02}Z"),
                2,
            )
        })
        .collect();
    one.apply(writes).await.expect("insert runs");
    // Round after round, two places free up and many admissions race for them.
    for round in 0..6 {
        let admits: Vec<_> = (0..16)
            .map(|i| {
                let store = if i % 2 == 0 { one.clone() } else { two.clone() };
                tokio::spawn(async move { store.admit("c").await.expect("admit") })
            })
            .collect();
        let mut started: Vec<String> = Vec::new();
        for a in admits {
            started.extend(a.await.expect("task"));
        }
        started.sort();
        let oldest = [
            format!("c{:02}", 2 * round),
            format!("c{:02}", 2 * round + 1),
        ];
        assert_eq!(started, oldest, "round {round}");
        let done = started.iter().map(|id| finished(id)).collect();
        one.apply(done).await.expect("finish");
    }
    one.close().await;
    two.close().await;
}

/// `Engine::enqueue` accepts a run of a workflow with a limit as QUEUED with its limit; a
/// queued run is cancelled at once, without ever starting.
async fn a_workflow_with_a_limit_queues_its_runs_and_cancels_a_queued_one(at: &Location) {
    let engine = engine(at).await;
    let p = plan(
        "workflow deploy \"D\" {\n  concurrency 1\n  form trigger \"T\" {}\n  \
         approval gate \"G\" { button ok \"OK\" }\n  flow { trigger -> gate }\n}\n",
    );
    let secrets = secrets();
    let enqueue = || engine.enqueue(&p, "trigger", json!({}), None, &secrets);
    let first = enqueue().await.expect("enqueue");
    let second = enqueue().await.expect("enqueue");
    let stored = engine.store.run(&first).await.expect("read").expect("run");
    assert_eq!(
        (stored.status, stored.concurrency),
        (RunStatus::Queued, Some(1))
    );
    assert_eq!(
        engine.store.admit("deploy").await.expect("admit"),
        std::slice::from_ref(&first)
    );
    // The first waits for its approval, still in progress: the second stays queued.
    let out = engine
        .drive(&p, &first, &secrets, &Quiet)
        .await
        .expect("drive");
    assert_eq!(out.waiting, ["gate"]);
    assert!(
        engine
            .store
            .admit("deploy")
            .await
            .expect("admit")
            .is_empty()
    );
    assert!(engine.cancel(&second, false).await.expect("cancel"));
    let cancelled = engine.store.run(&second).await.expect("read").expect("run");
    assert_eq!(cancelled.result, Some(Conclusion::Cancelled));
    assert_eq!(
        engine.store.node_runs(&second).await.expect("nodes").len(),
        1
    );
    engine.store.clone().close().await;
}

fn node_run(run_id: &str, node: &str, seq: i64) -> NodeRunRecord {
    let id = format!("{run_id}-{node}");
    NodeRunRecord::started(id, run_id, node, seq, "2026-01-01T00:00:01Z")
}

async fn runs_are_listed_by_workflow_status_and_creator(at: &Location) {
    let store = at.open().await;
    let mut runs = Vec::new();
    for (i, (workflow, result, by)) in [
        ("deploy", Some(Conclusion::Failed), "dev@example.com"),
        ("deploy", Some(Conclusion::Success), "ops@example.com"),
        ("release", Some(Conclusion::Failed), "dev@example.com"),
        ("deploy", None, "Dev@Example.com"),
    ]
    .into_iter()
    .enumerate()
    {
        let mut r = run_record(
            &format!("m{i}"),
            workflow,
            &format!("2026-01-01T00:00:0{i}Z"),
        );
        if let Some(result) = result {
            r.status = RunStatus::Completed;
            r.result = Some(result);
        }
        r.created_by = Some(by.into());
        runs.push(Write::InsertRun(Box::new(r)));
    }
    store.apply(runs).await.expect("insert runs");
    let ids = |rs: Vec<RunRecord>| rs.into_iter().map(|r| r.id).collect::<Vec<_>>();
    let list = |w: Option<&'static str>, st: Option<&'static str>, by: Option<&'static str>, n| {
        let store = store.clone();
        async move { ids(store.runs_matching(w, st, by, n).await.expect("list")) }
    };
    assert_eq!(list(None, None, None, 10).await, ["m3", "m2", "m1", "m0"]);
    assert_eq!(list(Some("deploy"), Some("failed"), None, 10).await, ["m0"]);
    assert_eq!(list(None, Some("IN_PROGRESS"), None, 10).await, ["m3"]);
    assert_eq!(
        list(None, None, Some("dev@EXAMPLE.com"), 10).await,
        ["m3", "m2", "m0"]
    );
    // The limit counts matching runs only: an old match is still found.
    assert_eq!(list(Some("deploy"), Some("FAILED"), None, 1).await, ["m0"]);
}

async fn runs_and_node_runs_round_trip(at: &Location) {
    let store = at.open().await;
    let first = run_record("r1", "deploy", "2026-01-01T00:00:00Z");
    let second = run_record("r2", "deploy", "2026-01-01T00:00:05Z");
    store
        .apply(vec![
            Write::InsertRun(Box::new(first.clone())),
            Write::InsertRun(Box::new(second.clone())),
        ])
        .await
        .expect("insert runs");
    let mut cond = node_run("r1", "cond", 2);
    let trigger = node_run("r1", "trigger", 1);
    store
        .apply(vec![
            Write::PutNodeRun(Box::new(cond.clone())),
            Write::PutNodeRun(Box::new(trigger.clone())),
        ])
        .await
        .expect("node runs");
    cond.status = NodeStatus::Completed;
    cond.result = Some(Conclusion::Success);
    cond.output = Some(json!({"b": 1, "a": [1, 2]}));
    cond.outlet = Some("prod".into());
    cond.fallback = true;
    cond.waiting = true;
    cond.completed_at = Some("2026-01-01T00:00:02Z".into());
    cond.attempts = vec![Attempt {
        attempt: 1,
        at: "2026-01-01T00:00:01Z".into(),
        class: "5xx".into(),
        cause: "POST http://x returned 503".into(),
        delay_ms: 250,
        next_at: Some("2026-01-01T00:00:01.250Z".into()),
    }];
    cond.deadline = Some("2026-01-01T00:00:09Z".into());
    cond.request = Some(json!({"method": "POST", "url": "http://x/a?b=1", "body": {"n": [1.5]}}));
    let lines = ["first", "second", "third"].map(|m| LogRecord {
        node: "cond".into(),
        level: "INFO".into(),
        message: m.into(),
        at: "2026-01-01T00:00:02Z".into(),
    });
    let mut writes = vec![Write::PutNodeRun(Box::new(cond.clone()))];
    writes.extend(lines.iter().map(|record| Write::Log {
        run_id: "r1".into(),
        record: record.clone(),
    }));
    writes.push(Write::RequestCancel {
        id: "r1".into(),
        at: "2026-01-01T00:00:03Z".into(),
    });
    store.apply(writes).await.expect("update");

    assert_eq!(store.node_runs("r1").await.expect("read"), [trigger, cond]);
    assert_eq!(store.logs("r1").await.expect("logs"), lines);
    // Writing a run's node runs tells whether cancelling it was asked.
    let again = |run: &str| vec![Write::PutNodeRun(Box::new(node_run(run, "trigger", 0)))];
    let applied = store.apply(again("r1")).await.expect("write");
    assert!(applied.cancel_requested);
    let applied = store.apply(again("r2")).await.expect("write");
    assert!(!applied.cancel_requested);
    assert_eq!(
        store.node_run_owner("r1-cond").await.expect("owner"),
        Some("r1".into())
    );
    assert_eq!(store.node_run_owner("nope").await.expect("owner"), None);

    store
        .apply(vec![Write::FinishRun {
            id: "r2".into(),
            status: RunStatus::Completed,
            result: Some(Conclusion::Failed),
            error: Some("node `x` failed".into()),
            at: "2026-01-01T00:00:09Z".into(),
        }])
        .await
        .expect("finish");
    let done = store.run("r2").await.expect("read").expect("run");
    assert_eq!(done.status, RunStatus::Completed);
    assert_eq!(done.result, Some(Conclusion::Failed));
    assert_eq!(done.error.as_deref(), Some("node `x` failed"));
    assert_eq!(done.completed_at.as_deref(), Some("2026-01-01T00:00:09Z"));
    assert_eq!(done.trigger_payload, second.trigger_payload);

    let unfinished = store.unfinished_runs().await.expect("unfinished");
    assert_eq!(unfinished.len(), 1);
    assert_eq!(unfinished[0].id, "r1");
    assert!(unfinished[0].cancel_requested);
    let ids: Vec<String> = store
        .runs(10)
        .await
        .expect("runs")
        .into_iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(ids, ["r2", "r1"]);
    assert_eq!(store.runs(1).await.expect("runs").len(), 1);
    let last = store.last_run("deploy", "trigger").await.expect("last");
    assert_eq!(last.map(|r| r.id).as_deref(), Some("r2"));
    assert_eq!(store.last_run("deploy", "cron").await.expect("last"), None);
    assert_eq!(store.run("nope").await.expect("read"), None);

    // A failed write rolls back the whole transaction.
    let err = store
        .apply(vec![
            Write::InsertRun(Box::new(run_record("r3", "deploy", "2026-01-01T00:00:10Z"))),
            Write::InsertRun(Box::new(first)),
        ])
        .await
        .expect_err("duplicate run id");
    assert!(err.to_string().contains("store: write"), "{err}");
    assert_eq!(store.run("r3").await.expect("read"), None);
    store.close().await;
}

const WEBHOOK: &str = r#"workflow hook "Hook" {
  form trigger "T" { input service: string "Service" }
  webhook call "Call" {
    url "BASE/deploy"
    headers { Authorization: "Bearer {{ .secrets.token }}" }
    body { service: "{{ .outputs.trigger.service }}", token: "{{ .secrets.token }}" }
    verbose true
  }
  flow { trigger -> call }
}"#;

async fn a_node_run_is_recorded_before_its_side_effect(at: &Location) {
    let engine = engine(at).await;
    let (base, seen) = watching_server(&engine, std::time::Duration::ZERO).await;
    let p = plan(&WEBHOOK.replace("BASE", &base));
    let o = run(&engine, &p, json!({"service": "api"})).await;
    assert_eq!(o.result, Some(Conclusion::Success));
    let seen: Vec<NodeRunRecord> = seen.lock().expect("lock").concat();
    let call = seen
        .iter()
        .find(|n| n.node == "call")
        .expect("`call` started first");
    assert_eq!(call.status, NodeStatus::InProgress);
    assert_eq!(call.completed_at, None);
    // The start's write holds the request: rendered, its secret redacted.
    let sent = call
        .request
        .clone()
        .expect("the request, written with the start");
    assert_eq!(sent["url"], format!("{base}/deploy"));
    assert_eq!(
        sent["body"],
        json!({"service": "api", "token": "[REDACTED]"})
    );
    assert_eq!(sent["headers"]["Authorization"], "Bearer [REDACTED]");
    assert_eq!(sent["headers"]["X-Wflow-Node-Run-Id"], call.id.as_str());
    let after = engine.store.node_runs(&o.run_id).await.expect("node runs");
    let call = after.iter().find(|n| n.node == "call").expect("call");
    assert_eq!(call.result, Some(Conclusion::Success));
    assert_eq!(call.request, Some(sent));
    assert!(!format!("{after:?}").contains(SECRET));
    engine.store.clone().close().await;
}

const FORK: &str = r#"workflow f "F" {
  form trigger "T" { input service: string "Service" }
  webhook a "A" { url "BASE/a"; body { n: 1 } }
  webhook b "B" { url "BASE/b"; body { n: 2 } }
  join j "J" { wait all }
  upsert rec "Record" {
    blueprint service
    entity { identifier "{{ .outputs.trigger.service }}"; properties { version: "{{ .outputs.a.response.data.echo.n + .outputs.b.response.data.echo.n | tostring }}" } }
  }
  flow { trigger -> a -> j; trigger -> b -> j; j -> rec }
}"#;

async fn parallel_branches_start_durably_together_and_join_once(at: &Location) {
    let engine = engine(at).await;
    let (base, seen) = watching_server(&engine, std::time::Duration::from_millis(300)).await;
    let p = plan(&FORK.replace("BASE", &base));
    let t0 = std::time::Instant::now();
    let o = run(&engine, &p, json!({"service": "api"})).await;
    assert_eq!(o.result, Some(Conclusion::Success));
    assert!(
        t0.elapsed() < std::time::Duration::from_millis(550),
        "two 300 ms branches took {:?}",
        t0.elapsed()
    );
    let seen = seen.lock().expect("lock").clone();
    assert_eq!(seen.len(), 2);
    // The second request came while the first was unanswered: both started, on the store.
    let started: Vec<&str> = seen[1]
        .iter()
        .filter(|n| n.status == NodeStatus::InProgress)
        .map(|n| n.node.as_str())
        .collect();
    assert!(
        started.contains(&"a") && started.contains(&"b"),
        "{started:?}"
    );
    let after = engine.store.node_runs(&o.run_id).await.expect("node runs");
    assert_eq!(after.iter().filter(|n| n.node == "j").count(), 1);
    let mut seqs: Vec<i64> = after.iter().map(|n| n.seq).collect();
    seqs.sort_unstable();
    seqs.dedup();
    assert_eq!(seqs.len(), after.len(), "each node run has its own number");
    let entity = engine
        .store
        .entity("service", "api")
        .await
        .expect("entity")
        .expect("upserted after the join");
    assert_eq!(entity["properties"]["version"], "3");
    engine.store.clone().close().await;
}

const APPROVAL: &str = r#"workflow a "A" {
  form trigger "T" { input service: string "Service" }
  approval ok "Approve" {
    description "Deploy {{ .outputs.trigger.service }}?"
    input reason?: string "Reason"
    button approve "Approve" PRIMARY { needs 1 }
    responders { users ["alice@example.com"] }
  }
  upsert rec "Record" {
    blueprint service
    entity { identifier "{{ .outputs.trigger.service }}"; properties { version: "{{ .outputs.ok.responses[0].inputs.reason }}" } }
  }
  flow { trigger -> ok; ok.approve -> rec }
}"#;

async fn a_waiting_run_resumes_after_reopening(at: &Location) {
    let p = plan(APPROVAL);
    let engine = engine(at).await;
    let o = run(&engine, &p, json!({"service": "api"})).await;
    assert_eq!(o.result, None);
    assert_eq!(o.waiting, ["ok"]);
    engine.store.clone().close().await;

    // A new process: the run is found unfinished, answered, and driven to the end.
    let engine = Engine::new(at.open().await, Config::default()).expect("engine");
    let unfinished = engine.store.unfinished_runs().await.expect("unfinished");
    assert_eq!(
        unfinished.iter().map(|r| &r.id).collect::<Vec<_>>(),
        [&o.run_id]
    );
    let reason = json!({"reason": "v9"});
    let r = engine
        .respond(
            &p,
            &o.run_id,
            "ok",
            "alice@example.com",
            &Answer {
                button: "approve",
                inputs: reason.as_object().expect("object"),
                secrets: &secrets(),
            },
        )
        .await
        .expect("respond");
    assert_eq!(
        r,
        Responded::Decided {
            outlet: "approve".into()
        }
    );
    let done = engine
        .drive(&p, &o.run_id, &secrets(), &Quiet)
        .await
        .expect("drive");
    assert_eq!(done.result, Some(Conclusion::Success));
    let entity = engine.store.entity("service", "api").await.expect("read");
    assert_eq!(entity.expect("entity")["properties"]["version"], "v9");
    assert!(
        engine
            .store
            .unfinished_runs()
            .await
            .expect("read")
            .is_empty()
    );
    let nodes: Vec<String> = engine
        .store
        .node_runs(&o.run_id)
        .await
        .expect("node runs")
        .into_iter()
        .map(|n| n.node)
        .collect();
    assert_eq!(nodes, ["trigger", "ok", "rec"]);
    engine.store.clone().close().await;
}

const CREATE: &str = r#"workflow create "Create" {
  form trigger "T" { input version: string "Version" }
  upsert rec "Record" {
    blueprint service
    entity {
      identifier "api"
      title "API"
      properties { version: "{{ .outputs.trigger.version }}", tier: "1" }
    }
  }
  flow { trigger -> rec }
}"#;

const BUMP: &str = r#"workflow bump "Bump" {
  form trigger "T" { input version: string "Version" }
  upsert rec "Record" {
    blueprint service
    entity { identifier "api"; properties { version: "{{ .outputs.trigger.version }}" } }
  }
  flow { trigger -> rec }
}"#;

async fn upserts_create_then_update_only_the_given_fields(at: &Location) {
    let engine = engine(at).await;
    let o = run(&engine, &plan(CREATE), json!({"version": "v1"})).await;
    assert_eq!(o.result, Some(Conclusion::Success), "{o:?}");
    let created = engine
        .store
        .entity("service", "api")
        .await
        .expect("read")
        .expect("entity");
    assert_eq!(created["title"], "API", "{created}");
    assert_eq!(created["properties"], json!({"version": "v1", "tier": "1"}));

    let o = run(&engine, &plan(BUMP), json!({"version": "v2"})).await;
    assert_eq!(o.result, Some(Conclusion::Success), "{o:?}");
    let updated = engine
        .store
        .entity("service", "api")
        .await
        .expect("read")
        .expect("entity");
    // Only `version` was given: `tier`, the title and the creation time stay.
    assert_eq!(updated["properties"], json!({"version": "v2", "tier": "1"}));
    assert_eq!(updated["title"], "API");
    assert_eq!(updated["createdAt"], created["createdAt"]);
    engine.store.clone().close().await;
}

async fn catalog_writes_and_deletes(at: &Location) {
    let store = at.open().await;
    let team = json!({"identifier": "team", "title": "Team", "schema": {"properties": {}}});
    let svc = json!({"identifier": "svc", "title": "Service", "schema": {"properties": {}}});
    let entity = |bp: &str, id: &str, title: &str| Write::PutEntity {
        blueprint: bp.into(),
        identifier: id.into(),
        body: json!({"identifier": id, "blueprint": bp, "title": title}),
        at: "2026-01-01T00:00:00Z".into(),
    };
    store
        .apply(vec![
            Write::PutBlueprint {
                identifier: "team".into(),
                body: team.clone(),
            },
            Write::PutBlueprint {
                identifier: "svc".into(),
                body: svc.clone(),
            },
            entity("svc", "b", "B"),
            entity("svc", "a", "A"),
            entity("team", "t", "T"),
        ])
        .await
        .expect("load");
    assert_eq!(store.blueprints().await.expect("list"), [svc.clone(), team]);
    assert_eq!(
        store.blueprint("svc").await.expect("read"),
        Some(svc.clone())
    );
    assert_eq!(store.blueprint("nope").await.expect("read"), None);
    // What an upsert reads: the blueprint with its entity, or without one, in one read.
    let both = |bp: &'static str, id: &'static str| {
        let store = store.clone();
        async move { store.blueprint_and_entity(bp, id).await.expect("read") }
    };
    let a = json!({"identifier": "a", "blueprint": "svc", "title": "A"});
    assert_eq!(both("svc", "a").await, Some((svc.clone(), Some(a))));
    assert_eq!(both("svc", "t").await, Some((svc, None)));
    assert_eq!(both("nope", "a").await, None);
    let titles = |v: Vec<Json>| v.iter().map(|e| e["title"].clone()).collect::<Vec<_>>();
    assert_eq!(
        titles(store.entities(Some("svc")).await.expect("list")),
        ["A", "B"]
    );
    assert_eq!(
        titles(store.entities(None).await.expect("list")),
        ["A", "B", "T"]
    );

    store
        .apply(vec![
            entity("svc", "a", "A2"),
            Write::DeleteEntity {
                blueprint: "svc".into(),
                identifier: "b".into(),
            },
            Write::DeleteEntity {
                blueprint: "team".into(),
                identifier: "t".into(),
            },
            Write::DeleteBlueprint {
                identifier: "team".into(),
            },
        ])
        .await
        .expect("update");
    let a = store.entity("svc", "a").await.expect("read").expect("a");
    assert_eq!(a["title"], "A2");
    assert_eq!(store.entity("svc", "b").await.expect("read"), None);
    assert_eq!(store.blueprint("team").await.expect("read"), None);
    assert_eq!(titles(store.entities(None).await.expect("list")), ["A2"]);
    store.close().await;
}

async fn approval_responses_are_kept_in_order_once_per_responder(at: &Location) {
    let store = at.open().await;
    store
        .apply(vec![Write::InsertRun(Box::new(run_record(
            "r1",
            "a",
            "2026-01-01T00:00:00Z",
        )))])
        .await
        .expect("run");
    let response = |who: &str, at: &str| Write::Response {
        run_id: "r1".into(),
        node: "ok".into(),
        record: ResponseRecord {
            responder: who.into(),
            button: "approve".into(),
            inputs: json!({"reason": format!("by {who}")}),
            at: at.into(),
        },
    };
    store
        .apply(vec![
            response("bob@example.com", "2026-01-01T00:00:02Z"),
            response("alice@example.com", "2026-01-01T00:00:01Z"),
            response("carol@example.com", "2026-01-01T00:00:02Z"),
        ])
        .await
        .expect("responses");
    let got = store.responses("r1", "ok").await.expect("read");
    let who: Vec<&str> = got.iter().map(|r| r.responder.as_str()).collect();
    assert_eq!(
        who,
        ["alice@example.com", "bob@example.com", "carol@example.com"]
    );
    assert_eq!(got[0].inputs, json!({"reason": "by alice@example.com"}));
    store
        .apply(vec![response("bob@example.com", "2026-01-01T00:00:03Z")])
        .await
        .expect_err("one response per responder");
    assert!(
        store
            .responses("r1", "other")
            .await
            .expect("read")
            .is_empty()
    );
    store.close().await;
}

async fn entity_changes_are_reported_with_their_run(at: &Location) {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let store = at.open().await.with_entity_changes(tx);
    store
        .apply(vec![Write::InsertRun(Box::new(run_record(
            "r1",
            "up",
            "2026-01-01T00:00:00Z",
        )))])
        .await
        .expect("run");
    let put = |v: &str| Write::PutEntity {
        blueprint: "svc".into(),
        identifier: "api".into(),
        body: json!({"identifier": "api", "properties": {"v": v}}),
        at: "2026-01-01T00:00:00Z".into(),
    };
    let delete = Write::DeleteEntity {
        blueprint: "svc".into(),
        identifier: "api".into(),
    };
    store.apply(vec![put("1")]).await.expect("create");
    store
        .apply(vec![
            Write::PutNodeRun(Box::new(node_run("r1", "rec", 1))),
            put("2"),
        ])
        .await
        .expect("update");
    store.apply(vec![delete.clone()]).await.expect("delete");
    // Deleting what is not there changes nothing.
    store.apply(vec![delete]).await.expect("delete again");
    let body = |v: &str| Some(json!({"identifier": "api", "properties": {"v": v}}));
    let change = |before, after, run_id: Option<&str>| EntityChange {
        blueprint: "svc".into(),
        identifier: "api".into(),
        before,
        after,
        run_id: run_id.map(str::to_string),
    };
    let mut got = Vec::new();
    while let Ok(c) = rx.try_recv() {
        got.push(c);
    }
    assert_eq!(
        got,
        [
            change(None, body("1"), None),
            change(body("1"), body("2"), Some("r1")),
            change(body("2"), None, None),
        ]
    );
    store.close().await;
}

async fn secrets_stay_out_of_the_store(at: &Location) {
    let engine = engine(at).await;
    let base = server(|| async {}).await;
    let p = plan(&WEBHOOK.replace("BASE", &base));
    let o = run(&engine, &p, json!({"service": "api"})).await;
    assert_eq!(o.result, Some(Conclusion::Success));
    let store = &engine.store;
    let nodes = store.node_runs(&o.run_id).await.expect("node runs");
    // The echoed body went through the store (redacted).
    let call = nodes.iter().find(|n| n.node == "call").expect("call");
    assert!(call.output.is_some(), "{call:?}");
    let everything = format!(
        "{:?}{:?}{:?}{:?}",
        store.runs(100).await.expect("runs"),
        nodes,
        store.logs(&o.run_id).await.expect("logs"),
        store.entities(None).await.expect("entities"),
    );
    assert!(everything.contains("api"), "the run was recorded");
    assert!(!everything.contains(SECRET), "the store holds the secret");
    engine.store.clone().close().await;
}

async fn timers_fire_once(at: &Location) {
    let store = at.open().await;
    let at_ = "2026-01-01T00:00:00Z";
    assert!(store.claim_timer("wf/cron/1", at_).await.expect("claim"));
    assert!(!store.claim_timer("wf/cron/1", at_).await.expect("claim"));
    store.close().await;
    // Across a reopen (a restart) too.
    let store = at.open().await;
    assert!(!store.claim_timer("wf/cron/1", at_).await.expect("claim"));
    assert!(store.claim_timer("wf/cron/2", at_).await.expect("claim"));
    store.close().await;
}

async fn due_runs_are_leased_renewed_fenced_and_taken_over(at: &Location) {
    let store = at.open().await;
    let long = std::time::Duration::from_secs(60);
    let mut waiting = node_run("r3", "gate", 1);
    waiting.waiting = true;
    waiting.deadline = Some("2999-01-01T00:00:00.000Z".into());
    let mut expired = node_run("r4", "gate", 1);
    expired.waiting = true;
    expired.deadline = Some("2026-01-01T00:00:00.000Z".into());
    store
        .apply(vec![
            Write::InsertRun(Box::new(run_record("r1", "w", "2026-01-01T00:00:00Z"))),
            Write::InsertRun(Box::new(run_record("r2", "w", "2026-01-01T00:00:01Z"))),
            Write::InsertRun(Box::new(run_record("r3", "w", "2026-01-01T00:00:02Z"))),
            Write::InsertRun(Box::new(run_record("r4", "w", "2026-01-01T00:00:03Z"))),
            Write::PutNodeRun(Box::new(waiting)),
            Write::PutNodeRun(Box::new(expired)),
        ])
        .await
        .expect("insert runs");
    // Oldest first, `limit` at a time; a run merely waiting for a response is not due until
    // its wait's deadline passes.
    assert_eq!(claimed(&store, "a", 1).await, ["r1"]);
    assert_eq!(claimed(&store, "b", 1).await, ["r2"]);
    assert_eq!(claimed(&store, "b", 5).await, ["r4"]);
    assert!(claimed(&store, "c", 5).await.is_empty());
    assert!(!store.claim_run("r1", "b", long).await.expect("claim"));
    assert!(
        store
            .claim_run("r1", "a", long)
            .await
            .expect("own lease again")
    );
    assert!(store.renew("r1", "a", long).await.expect("renew"));
    assert!(!store.renew("r1", "b", long).await.expect("renew"));

    // Only the lease owner writes the run's node runs.
    let write = vec![Write::PutNodeRun(Box::new(node_run("r1", "trigger", 1)))];
    let stale = store.fenced("b").apply(write.clone()).await;
    assert!(stale.expect_err("fenced").0.contains("no longer leased"));
    assert!(store.node_runs("r1").await.expect("read").is_empty());
    store
        .fenced("a")
        .apply(write.clone())
        .await
        .expect("owner writes");

    // An expired lease is taken over; the old owner can neither renew nor write any more.
    let short = std::time::Duration::from_millis(1);
    assert!(store.renew("r1", "a", short).await.expect("renew"));
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    assert_eq!(claimed(&store, "b", 5).await, ["r1"]);
    assert!(!store.renew("r1", "a", long).await.expect("renew"));
    assert!(store.fenced("a").apply(write.clone()).await.is_err());

    // A released run is due again; expiring the leases of owners named `serve-…` frees
    // theirs and no others.
    store.release("r1", "b").await.expect("release");
    assert_eq!(claimed(&store, "serve-1", 5).await, ["r1"]);
    store.expire_leases("serve-").await.expect("expire");
    assert_eq!(claimed(&store, "d", 5).await, ["r1"]);
    assert!(!store.claim_run("r2", "d", long).await.expect("claim"));
    store.close().await;
}

/// Batches applied at the same moment by many tasks (committed together, in groups): each
/// succeeds or fails on its own: a batch whose run another process leases and a batch whose
/// statement fails are refused without losing the others' writes.
async fn concurrent_batches_commit_together_and_fail_alone(at: &Location) {
    let store = at.open().await;
    let runs: Vec<String> = (0..40).map(|i| format!("r{i:02}")).collect();
    let mut setup = Vec::new();
    for r in &runs {
        setup.push(Write::InsertRun(Box::new(run_record(
            r,
            "w",
            "2026-01-01T00:00:00Z",
        ))));
        setup.push(Write::Lease {
            run_id: r.clone(),
            owner: "a".into(),
            until: wflow_store::lease_until(std::time::Duration::from_secs(60)),
        });
    }
    let response = |responder: &str| Write::Response {
        run_id: "r00".into(),
        node: "ok".into(),
        record: ResponseRecord {
            responder: responder.into(),
            button: "approve".into(),
            inputs: json!({}),
            at: "2026-01-01T00:00:02Z".into(),
        },
    };
    setup.push(response("alice@example.com"));
    store.apply(setup).await.expect("setup");

    let mut tasks = tokio::task::JoinSet::new();
    for (i, r) in runs.iter().enumerate() {
        let owner = store.fenced("a");
        let write = vec![
            Write::PutNodeRun(Box::new(node_run(r, "trigger", 0))),
            Write::Log {
                run_id: r.clone(),
                record: LogRecord {
                    node: "trigger".into(),
                    level: "INFO".into(),
                    message: format!("line {i}"),
                    at: "2026-01-01T00:00:01Z".into(),
                },
            },
        ];
        tasks.spawn(async move { ("good", owner.apply(write).await) });
        if i == 10 {
            // Another process's stale write, and a second response by the same responder.
            let stale = store.fenced("b");
            let write = vec![Write::PutNodeRun(Box::new(node_run("r01", "late", 1)))];
            tasks.spawn(async move { ("stale", stale.apply(write).await) });
            let dup = store.clone();
            let write = vec![
                Write::PutEntity {
                    blueprint: "service".into(),
                    identifier: "lost".into(),
                    body: json!({"identifier": "lost"}),
                    at: "2026-01-01T00:00:02Z".into(),
                },
                response("alice@example.com"),
            ];
            tasks.spawn(async move { ("duplicate", dup.apply(write).await) });
        }
    }
    let mut good = 0;
    while let Some(done) = tasks.join_next().await {
        match done.expect("task") {
            ("good", r) => {
                r.expect("a leased run's write");
                good += 1;
            }
            ("stale", r) => {
                let e = r.expect_err("another process's lease");
                assert!(e.to_string().contains("no longer leased"), "{e}");
            }
            (_, r) => {
                r.expect_err("a duplicate response");
            }
        }
    }
    assert_eq!(good, runs.len());
    for r in &runs {
        let nodes = store.node_runs(r).await.expect("read");
        assert_eq!(nodes.len(), 1, "{r}: {nodes:?}");
        assert_eq!(store.logs(r).await.expect("logs").len(), 1, "{r}");
    }
    // Nothing of the refused batches was written, not even their other writes.
    assert_eq!(store.entity("service", "lost").await.expect("read"), None);
    assert_eq!(
        store.responses("r00", "ok").await.expect("responses").len(),
        1
    );
    store.close().await;
}

/// A limit per key: runs of different keys go on together, runs of one key queue in order,
/// and a full key does not hold back the runs of another queued behind it.
async fn a_limit_per_key_keeps_one_queue_per_key(at: &Location) {
    let store = at.open().await;
    let run = |id: &str, t: &str, key: &str| keyed(id, "deploy", t, 1, Some(key));
    store
        .apply(vec![
            run("api1", "2026-01-01T00:00:01Z", "api"),
            run("api2", "2026-01-01T00:00:02Z", "api"),
            run("web1", "2026-01-01T00:00:03Z", "web"),
            run("api3", "2026-01-01T00:00:04Z", "api"),
            run("web2", "2026-01-01T00:00:05Z", "web"),
        ])
        .await
        .expect("insert runs");
    assert_eq!(
        store.admit("deploy").await.expect("admit"),
        ["api1", "web1"]
    );
    assert!(store.admit("deploy").await.expect("admit").is_empty());
    store.apply(vec![finished("web1")]).await.expect("finish");
    assert_eq!(store.admit("deploy").await.expect("admit"), ["web2"]);
    store.apply(vec![finished("api1")]).await.expect("finish");
    assert_eq!(store.admit("deploy").await.expect("admit"), ["api2"]);
    let api2 = store.run("api2").await.expect("read").expect("run");
    assert_eq!(api2.concurrency_key.as_deref(), Some("api"));
    store.close().await;
}
