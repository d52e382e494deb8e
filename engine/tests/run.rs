//! The interpreter end to end: a real HTTP server on loopback receives the webhooks, the SQLite
//! file is inspected after the runs.

mod support;

use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use serde_json::{Value as Json, json};
use sqlx::Row;
use support::{on_loopback, plan};
use wflow_engine::Error;
use wflow_engine::control::{Answer, Responded};
use wflow_engine::engine::{Conclusion, NodeStatus};
use wflow_engine::{Config, Engine, Plan, Quiet, Secrets, Store, inputs};

/// One request the server received.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    headers: HeaderMap,
    body: Json,
}

type Log = Arc<Mutex<Vec<Seen>>>;

/// Starts a server on a free loopback port: `/fail*` answers 500, everything else 200 with
/// `{"id": "dep-<n>"}`. Returns its base URL and what it received.
async fn server() -> (String, Log) {
    let log: Log = Arc::default();
    let seen = Arc::clone(&log);
    let app = axum::Router::new().fallback(
        move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
            let seen = Arc::clone(&seen);
            async move {
                let mut log = seen.lock().expect("lock");
                log.push(Seen {
                    method: method.to_string(),
                    path: uri.path().to_string(),
                    headers,
                    body: serde_json::from_slice(&body).unwrap_or(Json::Null),
                });
                let n = log.len();
                if uri.path().starts_with("/fail") {
                    (
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "deploy exploded".to_string(),
                    )
                } else {
                    (
                        StatusCode::OK,
                        json!({ "id": format!("dep-{n}") }).to_string(),
                    )
                }
            }
        },
    );
    (on_loopback(app).await, log)
}

struct Env {
    engine: Engine,
    db: std::path::PathBuf,
    _dir: TempDir,
}

/// A temporary directory removed on drop.
struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

async fn env() -> Env {
    let dir = std::env::temp_dir().join(format!("wflow-rt-{}", uuid_like()));
    std::fs::create_dir_all(&dir).expect("dir");
    let db = dir.join("wflow.db");
    let store = Store::open(&db).await.expect("store");
    let engine = Engine::new(store, Config::default()).expect("engine");
    engine
        .store
        .apply(vec![wflow_store::Write::PutBlueprint {
            identifier: "service".into(),
            body: json!({
                "identifier": "service",
                "schema": {"properties": {
                    "version": {"type": "string"},
                    "deployId": {"type": "string"},
                    "tier": {"type": "string", "enum": ["1", "2"]}
                }},
                "relations": {}
            }),
        }])
        .await
        .expect("blueprint");
    Env {
        engine,
        db,
        _dir: TempDir(dir),
    }
}

fn uuid_like() -> String {
    wflow_engine::engine::new_id("")
}

fn deploy(base: &str) -> String {
    format!(
        r#"workflow deploy "Deploy" {{
  form trigger "Deploy" {{
    input service: string "Service"
    input version: string "Version"
    input environment: string "Env" {{ enum ["staging", "production"] }}
  }}
  condition env "Env" {{
    outlet prod "Prod" when `.outputs.trigger.environment == "production"`
  }}
  webhook call "Call" {{
    url "{base}/deploy/{{{{ .outputs.trigger.service }}}}"
    method PUT
    headers {{ Authorization: "Bearer {{{{ .secrets.token }}}}", "X-Env": "{{{{ .outputs.trigger.environment }}}}" }}
    body {{ service: "{{{{ .outputs.trigger.service }}}}", replicas: 2, tags: "{{{{ [.outputs.trigger.version] }}}}" }}
    variables {{ id: "{{{{ .result.response.data.id }}}}", status: "{{{{ .result.response.status }}}}" }}
    verbose true
  }}
  upsert rec "Record" {{
    blueprint service
    entity {{
      identifier "{{{{ .outputs.trigger.service }}}}"
      title "Service {{{{ .outputs.trigger.service }}}}"
      properties {{ version: "{{{{ .outputs.trigger.version }}}}", deployId: "{{{{ .outputs.call.id }}}}" }}
    }}
  }}
  flow {{
    trigger -> env
    env.prod -> call -> rec
  }}
}}"#
    )
}

const SECRET: &str = "tok-9f8e7d6c5b4a";

fn secrets() -> Secrets {
    Secrets::from_pairs([("token".to_string(), SECRET.to_string())])
}

/// Starts a run of `p` from its trigger without driving it; its id.
async fn stored_run(env: &Env, p: &Plan, payload: Json) -> String {
    env.engine
        .start(p, "trigger", payload, None, &secrets(), None)
        .await
        .expect("start")
        .id()
        .to_string()
}

async fn start(env: &Env, p: &Plan, inputs_: Json) -> wflow_engine::Outcome {
    let form = match &p.node("trigger").expect("trigger").config {
        wflow_compiler::ir::NodeConfig::SelfServeTrigger(f) => f.user_inputs.clone(),
        _ => panic!("form"),
    };
    let given = inputs_.as_object().cloned().unwrap_or_default();
    let values = inputs::validate(&form, &given).expect("valid inputs");
    let id = env
        .engine
        .start(
            p,
            "trigger",
            Json::Object(values),
            Some("dev@example.com"),
            &secrets(),
            None,
        )
        .await
        .expect("start")
        .id()
        .to_string();
    env.engine
        .drive(p, &id, &secrets(), &Quiet)
        .await
        .expect("drive")
}

#[tokio::test]
async fn webhook_and_upsert_run_and_are_recorded() {
    let (base, seen) = server().await;
    let env = env().await;
    let p = plan(&deploy(&base));
    let o = start(
        &env,
        &p,
        json!({"service": "api", "version": "v1.2", "environment": "production"}),
    )
    .await;
    assert_eq!(o.result, Some(Conclusion::Success));

    let seen = seen.lock().expect("lock").clone();
    assert_eq!(seen.len(), 1);
    let req = &seen[0];
    assert_eq!(req.method, "PUT");
    assert_eq!(req.path, "/deploy/api");
    assert_eq!(req.headers["authorization"], format!("Bearer {SECRET}"));
    assert_eq!(req.headers["x-env"], "production");
    assert_eq!(
        req.headers["idempotency-key"],
        format!("{}:call", o.run_id).as_str()
    );
    assert_eq!(
        req.body,
        json!({"service": "api", "replicas": 2, "tags": ["v1.2"]})
    );

    // The catalog entity, and the run as Port shows it.
    let entity = env
        .engine
        .store
        .entity("service", "api")
        .await
        .expect("read")
        .expect("entity");
    assert_eq!(entity["title"], "Service api");
    assert_eq!(
        entity["properties"],
        json!({"version": "v1.2", "deployId": "dep-1"})
    );
    let run = wflow_engine::report::run_json(&env.engine.store, &o.run_id)
        .await
        .expect("read")
        .expect("run");
    assert_eq!(run["status"], "COMPLETED");
    assert_eq!(run["result"], "SUCCESS");
    let nodes: Vec<&str> = run["nodeRuns"]
        .as_array()
        .expect("nodeRuns")
        .iter()
        .map(|n| n["node"]["identifier"].as_str().expect("id"))
        .collect();
    assert_eq!(nodes, ["trigger", "env", "call", "rec"]);
    assert_eq!(
        run["variables"]["outputs"]["call"],
        json!({"id": "dep-1", "status": 200})
    );
    // What the webhook sent and the entity the upsert wrote, rendered, the token redacted;
    // the condition had no side effect to record.
    let sent = |node: usize| run["nodeRuns"][node]["request"].clone();
    assert_eq!(sent(1), Json::Null);
    assert_eq!(
        (&sent(2)["method"], &sent(2)["url"]),
        (&json!("PUT"), &json!(format!("{base}/deploy/api")))
    );
    assert_eq!(sent(2)["headers"]["Authorization"], "Bearer [REDACTED]");
    assert_eq!(sent(2)["headers"]["X-Env"], "production");
    assert_eq!(sent(2)["body"], req.body);
    assert_eq!(
        (&sent(3)["blueprint"], &sent(3)["identifier"]),
        (&json!("service"), &json!("api"))
    );
    assert_eq!(sent(3)["entity"], entity);

    // The SQLite file itself: one run, four node runs, the entity, no secret anywhere.
    let pool = sqlx::SqlitePool::connect(&format!("sqlite:{}", env.db.display()))
        .await
        .expect("open db");
    let row = sqlx::query("SELECT status, result FROM runs WHERE id = $1")
        .bind(&o.run_id)
        .fetch_one(&pool)
        .await
        .expect("run row");
    assert_eq!(row.get::<String, _>(0), "COMPLETED");
    assert_eq!(row.get::<String, _>(1), "SUCCESS");
    let n: i64 =
        sqlx::query("SELECT count(*) FROM node_runs WHERE run_id = $1 AND result = 'SUCCESS'")
            .bind(&o.run_id)
            .fetch_one(&pool)
            .await
            .expect("count")
            .get(0);
    assert_eq!(n, 4);
    pool.close().await;
    env.engine.store.clone().close().await;
    for f in ["wflow.db", "wflow.db-wal"] {
        if let Ok(bytes) = std::fs::read(env.db.with_file_name(f)) {
            let hay = String::from_utf8_lossy(&bytes);
            assert!(!hay.contains(SECRET), "{f} holds the secret");
        }
    }
}

#[tokio::test]
async fn condition_without_match_or_fallback_ends_quietly() {
    let (base, seen) = server().await;
    let env = env().await;
    let p = plan(&deploy(&base));
    let o = start(
        &env,
        &p,
        json!({"service": "api", "version": "v1", "environment": "staging"}),
    )
    .await;
    assert_eq!(o.result, Some(Conclusion::Success));
    assert!(seen.lock().expect("lock").is_empty());
    let nodes = env.engine.store.node_runs(&o.run_id).await.expect("nodes");
    assert_eq!(nodes.len(), 2);
}

fn failing(base: &str, on_failure: &str) -> String {
    format!(
        r#"workflow f "F" {{
  form trigger "T" {{ input n: number "N" }}
  webhook bad "Bad" {{
    url "{base}/fail/{{{{ .outputs.trigger.n }}}}"
    on_failure {on_failure}
  }}
  webhook after "After" {{
    url "{base}/after"
    body {{ {body} secret: "{{{{ .secrets.token }}}}" }}
  }}
  flow {{ trigger -> bad -> after }}
}}"#,
        body = if on_failure == "continue" {
            r#"error: "{{ .outputs.bad.error.message }}","#
        } else {
            ""
        }
    )
}

#[tokio::test]
async fn on_failure_terminate_fails_the_run() {
    let (base, seen) = server().await;
    let env = env().await;
    let p = plan(&failing(&base, "terminate"));
    let id = stored_run(&env, &p, json!({"n": 1})).await;
    let o = env
        .engine
        .drive(&p, &id, &secrets(), &Quiet)
        .await
        .expect("drive");
    assert_eq!(o.result, Some(Conclusion::Failed));
    assert_eq!(seen.lock().expect("lock").len(), 1);
    let run = env.engine.store.run(&id).await.expect("read").expect("run");
    let err = run.error.expect("error");
    assert!(
        err.contains("node `bad` failed") && err.contains("500"),
        "{err}"
    );
}

#[tokio::test]
async fn on_failure_continue_passes_the_error_on_and_redacts_secrets() {
    let (base, seen) = server().await;
    let env = env().await;
    let p = plan(&failing(&base, "continue"));
    let id = stored_run(&env, &p, json!({"n": 1})).await;
    let o = env
        .engine
        .drive(&p, &id, &secrets(), &Quiet)
        .await
        .expect("drive");
    assert_eq!(o.result, Some(Conclusion::Success));
    let seen = seen.lock().expect("lock").clone();
    assert_eq!(seen.len(), 2);
    let msg = seen[1].body["error"].as_str().expect("message");
    assert!(
        msg.contains("returned 500") && msg.contains("deploy exploded"),
        "{msg}"
    );
    // The real secret went out; the stored output of `after` has none.
    assert_eq!(seen[1].body["secret"], SECRET);
    let nodes = env.engine.store.node_runs(&id).await.expect("nodes");
    let bad = nodes.iter().find(|n| n.node == "bad").expect("bad");
    assert_eq!(bad.result, Some(Conclusion::Failed));
    let stored = serde_json::to_string(&nodes.iter().map(|n| n.output.clone()).collect::<Vec<_>>())
        .expect("json");
    assert!(!stored.contains(SECRET));
}

const APPROVAL: &str = r#"workflow a "A" {
  form trigger "T" { input service: string "Service" }
  approval ok "Approve" {
    description "Deploy {{ .outputs.trigger.service }}?"
    input reason?: string "Reason"
    button approve "Approve" PRIMARY { needs 2 }
    button decline "Decline" DANGER { needs 1 }
    responders { users ["alice@example.com", "bob@example.com", "carol@example.com"] }
  }
  upsert rec "Record" {
    blueprint service
    entity { identifier "{{ .outputs.trigger.service }}"; properties { version: "{{ .outputs.ok.responses[0].inputs.reason }}" } }
  }
  flow { trigger -> ok; ok.approve -> rec }
}"#;

#[tokio::test]
async fn approvals_pause_and_continue_down_the_outlet() {
    let env = env().await;
    let p = plan(APPROVAL);
    let id = stored_run(&env, &p, json!({"service": "api"})).await;
    let o = env
        .engine
        .drive(&p, &id, &secrets(), &Quiet)
        .await
        .expect("drive");
    assert_eq!(o.result, None);
    assert_eq!(o.waiting, ["ok"]);

    let reason = json!({"reason": "looks good"});
    let reason = reason.as_object().expect("object");
    let e = &env.engine;
    let sec = secrets();
    let respond = async |by: &str, button: &str, inputs: &serde_json::Map<String, Json>| {
        let answer = Answer {
            button,
            inputs,
            secrets: &sec,
        };
        e.respond(&p, &id, "ok", by, &answer).await
    };
    let err = respond("mallory@example.com", "approve", reason)
        .await
        .expect_err("not a responder");
    assert!(
        matches!(&err, Error::Forbidden(m) if m.contains("may not respond")),
        "{err}"
    );
    let err = respond("alice@example.com", "maybe", reason)
        .await
        .expect_err("no such button");
    assert!(
        matches!(&err, Error::Invalid(m) if m.contains("approve, decline")),
        "{err}"
    );
    let bad = json!({"reason": 5, "extra": 1});
    let err = respond(
        "alice@example.com",
        "approve",
        bad.as_object().expect("obj"),
    )
    .await
    .expect_err("bad inputs");
    assert!(
        matches!(&err, Error::Invalid(m) if m.contains("`reason`") && m.contains("`extra`")),
        "{err}"
    );

    let r = respond("alice@example.com", "approve", reason)
        .await
        .expect("respond");
    assert_eq!(
        r,
        Responded::Recorded {
            button: "approve".into(),
            have: 1,
            need: 2
        }
    );
    let err = respond("Alice@example.com", "approve", reason)
        .await
        .expect_err("twice");
    assert!(
        matches!(&err, Error::Conflict(m) if m.contains("responds once")),
        "{err}"
    );
    // Still waiting after driving.
    let o = e.drive(&p, &id, &secrets(), &Quiet).await.expect("drive");
    assert_eq!(o.waiting, ["ok"]);

    let r = respond("bob@example.com", "approve", &serde_json::Map::new())
        .await
        .expect("respond");
    assert_eq!(
        r,
        Responded::Decided {
            outlet: "approve".into()
        }
    );
    let o = e.drive(&p, &id, &secrets(), &Quiet).await.expect("drive");
    assert_eq!(o.result, Some(Conclusion::Success));
    let entity = e
        .store
        .entity("service", "api")
        .await
        .expect("read")
        .expect("entity");
    assert_eq!(entity["properties"]["version"], "looks good");
    let nodes = e.store.node_runs(&id).await.expect("nodes");
    let ok = nodes.iter().find(|n| n.node == "ok").expect("ok");
    let out = ok.output.as_ref().expect("output");
    assert_eq!(out["description"], "Deploy api?");
    assert_eq!(out["selectedOutlet"]["identifier"], "approve");
    assert_eq!(
        out["responses"][1]["submitterInfo"]["submittedBy"],
        "bob@example.com"
    );
}

#[tokio::test]
async fn a_waiting_run_can_be_cancelled() {
    let env = env().await;
    let p = plan(APPROVAL);
    let id = stored_run(&env, &p, json!({"service": "api"})).await;
    env.engine
        .drive(&p, &id, &secrets(), &Quiet)
        .await
        .expect("drive");
    assert!(env.engine.cancel(&id, false).await.expect("cancel"));
    let run = env.engine.store.run(&id).await.expect("read").expect("run");
    assert_eq!(run.result, Some(Conclusion::Cancelled));
    let nodes = env.engine.store.node_runs(&id).await.expect("nodes");
    assert!(nodes.iter().all(|n| n.status == NodeStatus::Completed));
    let err = env
        .engine
        .respond(
            &p,
            &id,
            "ok",
            "alice@example.com",
            &Answer {
                button: "approve",
                inputs: &serde_json::Map::new(),
                secrets: &secrets(),
            },
        )
        .await
        .expect_err("completed");
    assert!(
        matches!(&err, Error::Conflict(m) if m.contains("already completed")),
        "{err}"
    );
}

#[tokio::test]
async fn unsynchronized_webhooks_wait_to_be_completed() {
    let (base, seen) = server().await;
    let env = env().await;
    let p = plan(&format!(
        r#"workflow u "U" {{
  form trigger "T" {{ input service: string "S" }}
  webhook start "Start" {{ url "{base}/start"; synchronized false }}
  upsert rec "Record" {{
    blueprint service
    entity {{ identifier "x"; properties {{ deployId: "{{{{ .outputs.start.deployId }}}}" }} }}
  }}
  flow {{ trigger -> start -> rec }}
}}"#
    ));
    let id = stored_run(&env, &p, json!({"service": "api"})).await;
    let o = env
        .engine
        .drive(&p, &id, &secrets(), &Quiet)
        .await
        .expect("drive");
    assert_eq!(o.waiting, ["start"]);
    assert_eq!(seen.lock().expect("lock").len(), 1);
    env.engine
        .complete(
            &p,
            &id,
            "start",
            Conclusion::Success,
            Some(json!({"deployId": "d-42"})),
        )
        .await
        .expect("complete");
    let o = env
        .engine
        .drive(&p, &id, &secrets(), &Quiet)
        .await
        .expect("drive");
    assert_eq!(o.result, Some(Conclusion::Success));
    let entity = env
        .engine
        .store
        .entity("service", "x")
        .await
        .expect("read")
        .expect("entity");
    assert_eq!(entity["properties"]["deployId"], "d-42");
}

#[tokio::test]
async fn an_upsert_that_does_not_fit_its_blueprint_fails() {
    let env = env().await;
    let p = plan(
        r#"workflow b "B" {
  form trigger "T" { input tier: string "Tier" }
  upsert rec "Record" {
    blueprint service
    entity { identifier "api"; properties { tier: "{{ .outputs.trigger.tier }}", colour: "red" } }
  }
  flow { trigger -> rec }
}"#,
    );
    let id = stored_run(&env, &p, json!({"tier": "9"})).await;
    let o = env
        .engine
        .drive(&p, &id, &secrets(), &Quiet)
        .await
        .expect("drive");
    assert_eq!(o.result, Some(Conclusion::Failed));
    let run = env.engine.store.run(&id).await.expect("read").expect("run");
    let err = run.error.expect("error");
    assert!(
        err.contains("`colour` is not defined") && err.contains("must be one of"),
        "{err}"
    );
    assert!(
        env.engine
            .store
            .entity("service", "api")
            .await
            .expect("read")
            .is_none()
    );
}

/// A process that recorded an outside node's FAILED result and died before finishing the run:
/// resuming ends the run FAILED (the node's failure terminates it), without running what follows.
#[tokio::test]
async fn resuming_after_a_recorded_terminating_failure_fails_the_run() {
    let (base, _seen) = server().await;
    let env = env().await;
    let p = plan(&format!(
        r#"workflow u "U" {{
  form trigger "T" {{ input service: string "S" }}
  webhook start "Start" {{ url "{base}/start"; synchronized false }}
  upsert rec "Record" {{ blueprint service; entity {{ identifier "x" }} }}
  flow {{ trigger -> start -> rec }}
}}"#
    ));
    let id = stored_run(&env, &p, json!({"service": "api"})).await;
    let o = env
        .engine
        .drive(&p, &id, &secrets(), &Quiet)
        .await
        .expect("drive");
    assert_eq!(o.waiting, ["start"]);
    // The crash: the node's result is in the store, the run is not finished.
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", env.db.display()))
        .await
        .expect("open the store file");
    sqlx::query(
        "UPDATE node_runs SET status = 'COMPLETED', result = 'FAILED', waiting = 0, \
         output = '{\"error\":{\"message\":\"boom\"}}' WHERE run_id = ? AND node = 'start'",
    )
    .bind(&id)
    .execute(&pool)
    .await
    .expect("record the failure");
    pool.close().await;
    let o = env
        .engine
        .drive(&p, &id, &secrets(), &Quiet)
        .await
        .expect("resume");
    assert_eq!(o.result, Some(Conclusion::Failed));
    let entity = env.engine.store.entity("service", "x").await.expect("read");
    assert!(entity.is_none(), "nothing after the failed node runs");
}

/// Two upserts of one entity in one run: the second updates only its own fields.
#[tokio::test]
async fn a_second_upsert_in_a_run_updates_the_first_ones_entity() {
    let env = env().await;
    let p = plan(
        r#"workflow t "T" {
  form trigger "T" { input service: string "S" }
  upsert first "First" {
    blueprint service
    entity { identifier "api"; title "API"; properties { tier: "1" } }
  }
  upsert second "Second" {
    blueprint service
    entity { identifier "api"; properties { version: "v2" } }
  }
  flow { trigger -> first -> second }
}"#,
    );
    let o = start(&env, &p, json!({"service": "api"})).await;
    assert_eq!(o.result, Some(Conclusion::Success));
    let e = env
        .engine
        .store
        .entity("service", "api")
        .await
        .expect("read")
        .expect("entity");
    assert_eq!(e["title"], "API");
    assert_eq!(e["properties"]["tier"], "1");
    assert_eq!(e["properties"]["version"], "v2");
}

/// `wflow runs cancel` from another process while a node runs: the run stops before the next
/// node's effect, and that node is recorded as cancelled.
#[tokio::test]
async fn a_cancel_from_another_process_stops_the_run_before_the_next_effect() {
    let env = env().await;
    let other = Engine::new(
        Store::open(&env.db).await.expect("second store"),
        Config::default(),
    )
    .expect("engine");
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let log = Arc::clone(&seen);
    let app = axum::Router::new().fallback(move |uri: Uri| {
        let (log, other) = (Arc::clone(&log), other.clone());
        async move {
            log.lock().expect("lock").push(uri.path().to_string());
            if let Some(run) = uri.path().strip_prefix("/first/") {
                let stopped = other.cancel(run, false).await.expect("cancel");
                assert!(!stopped, "a running run is only asked to stop");
            }
            json!({ "ok": true }).to_string()
        }
    });
    let base = on_loopback(app).await;
    let p = plan(&format!(
        r#"workflow c "C" {{
  form trigger "Go" {{ }}
  webhook first "First" {{ url "{base}/first/{{{{ .workflowRun.identifier }}}}" }}
  webhook second "Second" {{ url "{base}/second" }}
  flow {{ trigger -> first -> second }}
}}
"#
    ));
    let o = env
        .engine
        .run(&p, "trigger", json!({}), None, &secrets(), &Quiet)
        .await
        .expect("run");
    assert_eq!(o.result, Some(Conclusion::Cancelled));
    let paths = seen.lock().expect("lock").clone();
    assert_eq!(paths.len(), 1, "{paths:?}");
    assert!(paths[0].starts_with("/first/"), "{paths:?}");
    let nodes = env.engine.store.node_runs(&o.run_id).await.expect("nodes");
    let result = |n: &str| nodes.iter().find(|r| r.node == n).and_then(|r| r.result);
    assert_eq!(result("first"), Some(Conclusion::Success));
    assert_eq!(result("second"), Some(Conclusion::Cancelled));
}

#[tokio::test]
async fn only_expressions_naming_secrets_see_them_and_a_secret_key_is_refused() {
    let (base, log) = server().await;
    let env = env().await;
    // `getpath` hides the secret from the compiler's check: the runtime still refuses the key.
    let p = plan(&format!(
        r#"workflow k "K" {{
  form trigger "T" {{ }}
  webhook dump "Dump" {{
    url "{base}/dump"
    body {{ ctx: "{{{{ . | tostring }}}}", up: "{{{{ .secrets.token | ascii_upcase | error }}}}" }}
    on_failure continue
  }}
  upsert rec "Record" {{
    blueprint service
    entity {{ identifier "{{{{ getpath([\"secrets\", \"token\"]) | ascii_upcase }}}}" }}
  }}
  flow {{ trigger -> dump -> rec }}
}}"#
    ));
    let id = stored_run(&env, &p, json!({})).await;
    let o = env
        .engine
        .drive(&p, &id, &secrets(), &Quiet)
        .await
        .expect("drive");
    assert_eq!(o.result, Some(Conclusion::Failed));
    // The failing expression's message (which quotes the upper-cased secret) is withheld, and
    // the dump node never sent anything.
    assert!(log.lock().expect("log").is_empty());
    let records = env.engine.store.node_runs(&id).await.expect("node runs");
    let logs = env.engine.store.logs(&id).await.expect("logs");
    let text = format!("{records:?} {logs:?}");
    assert!(text.contains("withheld"), "{text}");
    let upper = SECRET.to_ascii_uppercase();
    assert!(!text.contains(&upper) && !text.contains(SECRET), "{text}");
    let run = env.engine.store.run(&id).await.expect("read").expect("run");
    let err = run.error.expect("error");
    assert!(err.contains("computed from a secret"), "{err}");
    assert!(
        env.engine
            .store
            .entities(None)
            .await
            .expect("read")
            .is_empty()
    );
}

#[tokio::test]
async fn an_expression_that_does_not_name_secrets_reads_a_context_without_them() {
    let (base, log) = server().await;
    let env = env().await;
    let p = plan(&format!(
        r#"workflow d "D" {{
  form trigger "T" {{ }}
  webhook dump "Dump" {{
    url "{base}/dump"
    body {{ ctx: "{{{{ . | tostring }}}}", keys: "{{{{ keys }}}}" }}
  }}
  flow {{ trigger -> dump }}
}}"#
    ));
    let id = stored_run(&env, &p, json!({})).await;
    env.engine
        .drive(&p, &id, &secrets(), &Quiet)
        .await
        .expect("drive");
    let seen = log.lock().expect("log");
    let body = &seen.first().expect("the dump was sent").body;
    assert!(
        !body["ctx"].as_str().expect("ctx").contains(SECRET),
        "{body}"
    );
    assert!(
        !body["keys"]
            .as_array()
            .expect("keys")
            .contains(&json!("secrets")),
        "{body}"
    );
    assert!(
        body["keys"]
            .as_array()
            .expect("keys")
            .contains(&json!("outputs")),
        "{body}"
    );
}
