//! `wflow serve` over real HTTP on loopback: the API, auth, approvals, node-run reports, the
//! catalog and its events, and schedules with an injected clock.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Value as Json, json};
use wflow_compiler::Syntax;
use wflow_engine::Store;
use wflow_server::{self as server, Auth, Clock, Options, Scheduler, Server};
use wflow_testkit::on_loopback;

const ADMIN: &str = "admin-token-0123456789";
const ALICE: &str = "alice-token-0123456789";
const BOB: &str = "bob-token-0123456789ab";
const CAROL: &str = "carol-token-0123456789";
const ROBOT: &str = "robot-token-0123456789";

const WORKFLOWS: &str = r#"
workflow hello "Hello" {
  form trigger "Say hello" {
    permissions { roles ["Member"] }
    input name: string "Name" { min_length 2 }
    input count?: number "Count" { maximum 3 }
  }
  condition check "Check" {
    outlet yes "Yes" when `.outputs.trigger.name != "nobody"`
  }
  flow { trigger -> check }
}

workflow admin-only "Admin only" {
  form trigger "Go" { input x?: string "X" }
  condition c "C" { outlet y "Y" when `true` }
  flow { trigger -> c }
}

workflow approve "Approve" {
  allow_anyone_to_view_runs true
  form trigger "Ask" { permissions { roles ["Member"] } }
  approval gate "Gate" {
    input reason?: string "Reason"
    button ok "OK" PRIMARY { needs 1 }
    button no "No" DANGER { needs 1 }
    responders { users ["bob@example.com"] }
  }
  condition after "After" { outlet y "Y" when `true` }
  flow {
    trigger -> gate
    gate.ok -> after
  }
}

workflow on-service "On service" {
  event created "Created" {
    on ENTITY_CREATED service
    when `.diff.after.properties.tier == "1"`
  }
  condition c "C" { outlet y "Y" when `true` }
  flow { created -> c }
}

workflow bump "Bump" {
  event updated "Updated" { on ENTITY_UPDATED service }
  upsert touch "Touch" {
    blueprint service
    entity {
      identifier "{{ .outputs.trigger.context.entityIdentifier }}"
      properties { version: "bumped" }
    }
  }
  flow { updated -> touch }
}

workflow nightly "Nightly" {
  schedule every "Every 5 minutes" { cron "*/5 * * * *" }
  condition c "C" { outlet y "Y" when `true` }
  flow { every -> c }
}
"#;

fn async_workflow(base: &str) -> String {
    format!(
        r#"workflow wait "Wait" {{
  form trigger "Go" {{ }}
  webhook call "Call" {{
    url "{base}/hook"
    synchronized false
  }}
  condition done "Done" {{ outlet y "Y" when `.outputs.call.id == 7` }}
  flow {{ trigger -> call -> done }}
}}"#
    )
}

/// A temporary directory removed on drop.
struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn temp_dir() -> TempDir {
    let d = std::env::temp_dir().join(format!("wflow-serve-{}", wflow_engine::engine::new_id("")));
    std::fs::create_dir_all(&d).expect("temp dir");
    TempDir(d)
}

fn plans(src: &str) -> Vec<wflow_engine::Plan> {
    server::prepare(src, Syntax::Wflow, "t.wflow", &Default::default()).expect("workflows prepare")
}

fn auth() -> Auth {
    Auth::parse(
        &json!({"users": [
            {"token": ADMIN, "email": "root@example.com", "roles": ["Admin"]},
            {"token": ALICE, "email": "alice@example.com", "roles": ["Member"]},
            {"token": BOB, "email": "bob@example.com", "roles": ["Member"], "teams": ["ops"]},
            {"token": CAROL, "email": "carol@example.com", "roles": ["Member"],
             "properties": {"department": "eng"}},
            {"token": ROBOT, "email": "ci@example.com", "machine": true},
        ]})
        .to_string(),
    )
    .expect("auth")
}

/// A hook target on loopback that accepts anything.
async fn hook() -> String {
    let app = axum::Router::new().fallback(|| async { "{}" });
    on_loopback(app).await
}

struct Api {
    base: String,
    http: reqwest::Client,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    done: tokio::task::JoinHandle<std::io::Result<()>>,
    _dir: TempDir,
}

struct Fixed(Mutex<DateTime<Utc>>);

impl Clock for Fixed {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().expect("clock")
    }
}

async fn serve(extra: &str) -> Api {
    serve_in(
        temp_dir(),
        Arc::new(Fixed(Mutex::new(Utc::now()))),
        extra,
        None,
    )
    .await
}

/// Serves the workflows and `extra` over the store in `dir`, timed by `clock`, with
/// `request_timeout`.
async fn serve_in(
    dir: TempDir,
    clock: Arc<Fixed>,
    extra: &str,
    request_timeout: Option<Duration>,
) -> Api {
    let options = Options {
        auth: Some(auth()),
        request_timeout,
        ..Options::default()
    };
    serve_with(dir, clock, extra, options).await
}

/// Serves the workflows and `extra` over the store in `dir`, timed by `clock`, with `options`.
async fn serve_with(dir: TempDir, clock: Arc<Fixed>, extra: &str, options: Options) -> Api {
    let store = Store::open(&dir.0.join("wflow.db")).await.expect("store");
    let mut all = plans(WORKFLOWS);
    if !extra.is_empty() {
        all.extend(plans(extra));
    }
    let server = Server::new(store, all, options).expect("server");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let (tx, rx) = tokio::sync::oneshot::channel();
    let done = tokio::spawn(server.clone().serve(
        listener,
        clock,
        async move {
            let _ = rx.await;
        },
        Duration::from_secs(5),
    ));
    Api {
        base,
        http: reqwest::Client::new(),
        stop: Some(tx),
        done,
        _dir: dir,
    }
}

impl Api {
    async fn call(&self, method: &str, path: &str, token: &str, body: Option<Json>) -> (u16, Json) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Json::Null))
    }

    /// Polls run `id` until it completes or only waits (for a response or a report), for up
    /// to 5 s.
    async fn settle(&self, id: &str, token: &str) -> Json {
        for _ in 0..100 {
            let (_, body) = self
                .call("GET", &format!("/v1/workflows/runs/{id}"), token, None)
                .await;
            let run = &body["run"];
            // A waiting node has written its output but has no result.
            let waiting = run["nodeRuns"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|n| n["status"] == "IN_PROGRESS" && !n["output"].is_null());
            if run["status"] == "COMPLETED" || waiting {
                return run.clone();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("run {id} did not settle");
    }

    /// Starts a run of `workflow` with `inputs` as `token` (201) and waits for it to settle;
    /// its id and the run.
    async fn run_settled(&self, workflow: &str, token: &str, inputs: Json) -> (String, Json) {
        let path = format!("/v1/workflows/{workflow}/runs");
        let (s, body) = self
            .call("POST", &path, token, Some(json!({ "inputs": inputs })))
            .await;
        assert_eq!(s, 201, "{body}");
        let id = body["run"]["identifier"].as_str().expect("id").to_string();
        let run = self.settle(&id, token).await;
        (id, run)
    }

    async fn runs_of(&self, workflow: &str) -> Vec<Json> {
        let (_, body) = self
            .call(
                "GET",
                &format!("/v1/workflows/runs?workflow={workflow}"),
                ADMIN,
                None,
            )
            .await;
        body["runs"].as_array().cloned().unwrap_or_default()
    }

    /// Stops the server; returns its directory (with the store) for a restart.
    async fn stop(mut self) -> TempDir {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        (&mut self.done).await.expect("join").expect("served");
        self._dir
    }

    /// Polls until `workflow` has `n` runs (for up to 5 s); returns them.
    async fn wait_runs(&self, workflow: &str, n: usize) -> Vec<Json> {
        let mut runs = Vec::new();
        for _ in 0..100 {
            runs = self.runs_of(workflow).await;
            if runs.len() >= n {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        runs
    }
}

#[tokio::test]
async fn self_service_runs_with_validation_and_permissions() {
    let api = serve("").await;
    let (s, body) = api.call("GET", "/healthz", ADMIN, None).await;
    assert_eq!((s, body), (200, json!({"ok": true})));
    let (s, body) = api.call("GET", "/openapi.json", ADMIN, None).await;
    assert_eq!(s, 200);
    assert!(body["paths"]["/v1/workflows/{id}/runs"]["post"].is_object());

    // 401: no token, unknown token.
    let resp = api
        .http
        .get(format!("{}/v1/workflows", api.base))
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status().as_u16(), 401);
    let (s, body) = api.call("GET", "/v1/workflows", "wrong-token", None).await;
    assert_eq!(s, 401);
    assert!(body["message"].as_str().unwrap_or("").contains("not known"));

    // Members see the workflows they may run; admins see all.
    let (_, body) = api.call("GET", "/v1/workflows", ALICE, None).await;
    let ids: Vec<&str> = body["workflows"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|w| w["identifier"].as_str())
        .collect();
    assert_eq!(ids, ["approve", "hello"]);
    let (_, body) = api.call("GET", "/v1/workflows", ADMIN, None).await;
    assert_eq!(body["workflows"].as_array().map(Vec::len), Some(6));

    // 403: a member on an admin-only workflow... which they cannot even see.
    let (s, _) = api
        .call(
            "POST",
            "/v1/workflows/admin-only/runs",
            ALICE,
            Some(json!({})),
        )
        .await;
    assert_eq!(s, 404);

    // 422 with every problem.
    let (s, body) = api
        .call(
            "POST",
            "/v1/workflows/hello/runs",
            ALICE,
            Some(json!({"inputs": {"name": "x", "count": 9, "extra": 1}, "bogus": true})),
        )
        .await;
    assert_eq!(s, 422, "{body}");
    let problems = body["problems"].as_array().expect("problems");
    assert_eq!(problems.len(), 4, "{body}");
    let resp = api
        .http
        .post(format!("{}/v1/workflows/hello/runs", api.base))
        .bearer_auth(ALICE)
        .body("{not json")
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status().as_u16(), 400);
    // Bodies are limited to 1 MiB.
    let resp = api
        .http
        .post(format!("{}/v1/workflows/hello/runs", api.base))
        .bearer_auth(ALICE)
        .body(vec![b' '; (1 << 20) + 1])
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status().as_u16(), 413);

    // A good run completes; alice sees it, bob does not.
    let (id, run) = api
        .run_settled("hello", ALICE, json!({"name": "Ada"}))
        .await;
    assert_eq!(run["result"], "SUCCESS", "{run}");
    assert_eq!(run["createdBy"], "alice@example.com");
    assert_eq!(run["variables"]["outputs"]["trigger"]["name"], "Ada");
    let (s, body) = api
        .call("GET", &format!("/v1/workflows/runs/{id}"), BOB, None)
        .await;
    assert_eq!(s, 403, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap_or("")
            .contains("may not view")
    );
    let (_, body) = api.call("GET", "/v1/workflows/runs", BOB, None).await;
    assert_eq!(body["runs"], json!([]));
    let (_, body) = api.call("GET", "/v1/workflows/runs", ALICE, None).await;
    assert_eq!(body["runs"].as_array().map(Vec::len), Some(1));
    let (s, _) = api
        .call(
            "POST",
            &format!("/v1/workflows/runs/{id}/cancel"),
            ALICE,
            None,
        )
        .await;
    assert_eq!(s, 409, "a completed run cannot be cancelled");
    api.stop().await;
}

#[tokio::test]
async fn approvals_enforce_responders_and_visibility() {
    let api = serve("").await;
    let (s, body) = api
        .call("POST", "/v1/workflows/approve/runs", ALICE, Some(json!({})))
        .await;
    assert_eq!(s, 201, "{body}");
    let id = body["run"]["identifier"].as_str().expect("id").to_string();
    let run = api.settle(&id, ALICE).await;
    assert_eq!(run["status"], "IN_PROGRESS");
    // allowAnyoneToViewRuns: bob sees alice's run.
    let (s, _) = api
        .call("GET", &format!("/v1/workflows/runs/{id}"), BOB, None)
        .await;
    assert_eq!(s, 200);
    let path = format!("/v1/workflows/runs/{id}/nodes/gate/responses");
    let (s, body) = api
        .call("POST", &path, ALICE, Some(json!({"button": "ok"})))
        .await;
    assert_eq!(s, 403, "{body}");
    let (s, body) = api
        .call(
            "POST",
            &path,
            BOB,
            Some(json!({"button": "maybe", "inputs": {"reason": 3}, "x": 1})),
        )
        .await;
    assert_eq!(s, 422, "{body}");
    assert_eq!(body["problems"].as_array().map(Vec::len), Some(3), "{body}");
    let (s, body) = api
        .call(
            "POST",
            &path,
            BOB,
            Some(json!({"button": "ok", "inputs": {"reason": "fine"}})),
        )
        .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["run"]["result"], "SUCCESS", "{body}");
    let gate = &body["run"]["variables"]["outputs"]["gate"];
    assert_eq!(
        gate["responses"][0]["submitterInfo"]["submittedBy"],
        "bob@example.com"
    );
    api.stop().await;
}

#[tokio::test]
async fn async_nodes_report_back_on_both_paths() {
    let base = hook().await;
    let api = serve(&async_workflow(&base)).await;
    let mut ids = Vec::new();
    for _ in 0..2 {
        let (s, body) = api
            .call("POST", "/v1/workflows/wait/runs", ADMIN, Some(json!({})))
            .await;
        assert_eq!(s, 201, "{body}");
        let id = body["run"]["identifier"].as_str().expect("id").to_string();
        let run = api.settle(&id, ADMIN).await;
        let node_run = run["nodeRuns"]
            .as_array()
            .and_then(|n| n.iter().find(|n| n["node"]["identifier"] == "call"))
            .and_then(|n| n["identifier"].as_str())
            .expect("call node run")
            .to_string();
        ids.push((id, node_run));
    }
    // Every problem of a bad report at once.
    let (id, nr) = &ids[0];
    let (s, body) = api
        .call(
            "PATCH",
            &format!("/v1/workflows/runs/{id}/nodes/{nr}"),
            ADMIN,
            Some(json!({"status": "DONE", "result": "MAYBE", "output": 1, "logs": [{"logLevel": "LOUD"}]})),
        )
        .await;
    assert_eq!(s, 422);
    assert_eq!(
        pointers(&body),
        [
            "/status",
            "/result",
            "/output",
            "/logs/0/logLevel",
            "/logs/0/log"
        ],
        "{body}"
    );
    let (s, body) = api
        .call(
            "PATCH",
            &format!("/v1/workflows/runs/{id}/nodes/{nr}"),
            ALICE,
            Some(json!({"status": "COMPLETED", "result": "SUCCESS"})),
        )
        .await;
    assert_eq!(s, 403, "{body}");
    let (s, body) = api
        .call(
            "PATCH",
            &format!("/v1/workflows/runs/{id}/nodes/{nr}"),
            ADMIN,
            Some(
                json!({"status": "COMPLETED", "result": "SUCCESS", "output": {"id": 7},
                        "logs": [{"logLevel": "INFO", "log": "deployed"}]}),
            ),
        )
        .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["run"]["result"], "SUCCESS", "{body}");
    let logs = body["run"]["nodeRuns"].to_string();
    assert!(logs.contains("deployed"), "{logs}");
    let (id2, nr2) = &ids[1];
    let (s, body) = api
        .call(
            "PATCH",
            &format!("/v1/workflows/nodes/runs/{nr2}"),
            ADMIN,
            Some(json!({"status": "COMPLETED", "result": "FAILED"})),
        )
        .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["run"]["identifier"], id2.as_str());
    let nodes = body["run"]["nodeRuns"].as_array().expect("node runs");
    assert_eq!(nodes.len(), 2, "nothing runs after a failed node: {body}");
    assert_eq!(nodes[1]["result"], "FAILED", "{body}");
    assert_eq!(body["run"]["status"], "COMPLETED", "{body}");
    // onFailure terminate (the default): a node failed from outside fails the run.
    assert_eq!(body["run"]["result"], "FAILED", "{body}");
    assert!(
        body["run"]["error"]
            .as_str()
            .is_some_and(|e| e.contains("node `call` failed")),
        "{body}"
    );
    let (_, body) = api
        .call("GET", &format!("/v1/workflows/runs/{id2}"), ADMIN, None)
        .await;
    assert_eq!(body["run"]["result"], "FAILED", "{body}");
    let (s, _) = api
        .call(
            "PATCH",
            "/v1/workflows/nodes/runs/wfnr_nope",
            ADMIN,
            Some(json!({"status": "COMPLETED", "result": "SUCCESS"})),
        )
        .await;
    assert_eq!(s, 404);

    // The metrics count both runs, by result, and time the nodes that ran.
    let resp = api
        .http
        .get(format!("{}/metrics", api.base))
        .send()
        .await
        .expect("metrics");
    assert_eq!(resp.status().as_u16(), 200);
    let text = resp.text().await.expect("text");
    for line in [
        "wflow_workflows_loaded 7",
        "wflow_runs_started_total{workflow=\"wait\"} 2",
        "wflow_runs_finished_total{workflow=\"wait\",result=\"SUCCESS\"} 1",
        "wflow_runs_finished_total{workflow=\"wait\",result=\"FAILED\"} 1",
        "wflow_node_duration_seconds_count{type=\"CONDITION\"} 1",
        "wflow_node_duration_seconds_bucket{type=\"CONDITION\",le=\"+Inf\"} 1",
        "# TYPE wflow_node_duration_seconds histogram",
    ] {
        assert!(text.lines().any(|l| l == line), "no `{line}` in:\n{text}");
    }
    api.stop().await;
}

/// The JSON pointers of a 422's problems, in order.
fn pointers(body: &Json) -> Vec<&str> {
    body["problems"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| p["pointer"].as_str().unwrap_or("(none)"))
        .collect()
}

fn service_blueprint() -> Json {
    json!({"identifier": "service", "title": "Service", "schema": {"properties": {
        "tier": {"type": "string"}, "version": {"type": "string"}, "replicas": {"type": "number"}
    }}})
}

#[tokio::test]
async fn catalog_crud_search_and_events() {
    let api = serve("").await;
    let (s, _) = api
        .call("POST", "/v1/blueprints", ALICE, Some(service_blueprint()))
        .await;
    assert_eq!(s, 403, "members do not write the catalog");
    let (s, body) = api
        .call("POST", "/v1/blueprints", ADMIN, Some(json!({"schema": 1})))
        .await;
    assert_eq!(s, 422);
    assert_eq!(body["problems"].as_array().map(Vec::len), Some(2), "{body}");
    let (s, _) = api
        .call("POST", "/v1/blueprints", ADMIN, Some(service_blueprint()))
        .await;
    assert_eq!(s, 201);
    let ents = "/v1/blueprints/service/entities";
    let (s, body) = api
        .call(
            "POST",
            ents,
            ADMIN,
            Some(json!({"identifier": "bad", "properties": {"replicas": "two", "colour": 1}})),
        )
        .await;
    assert_eq!(s, 422);
    assert_eq!(
        pointers(&body),
        ["/properties/replicas", "/properties/colour"],
        "{body}"
    );
    for (id, tier, replicas) in [("api", "1", 3), ("web", "2", 1), ("db", "1", 5)] {
        let (s, body) = api
            .call(
                "POST",
                ents,
                ADMIN,
                Some(json!({"identifier": id, "title": id.to_uppercase(),
                            "properties": {"tier": tier, "replicas": replicas}})),
            )
            .await;
        assert_eq!(s, 201, "{body}");
    }
    let (s, _) = api
        .call("POST", ents, ADMIN, Some(json!({"identifier": "api"})))
        .await;
    assert_eq!(s, 409);

    // Two tier-1 creations fire `on-service`; the tier-2 one is filtered out.
    let mut fired = Vec::new();
    for _ in 0..100 {
        fired = api.runs_of("on-service").await;
        if fired.len() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(fired.len(), 2, "{fired:?}");
    let id = fired[0]["identifier"].as_str().expect("id").to_string();
    let run = api.settle(&id, ADMIN).await;
    let event = &run["variables"]["outputs"]["created"];
    assert_eq!(event["action"], "CREATE");
    assert_eq!(event["diff"]["before"], Json::Null);
    assert_eq!(event["context"]["blueprintIdentifier"], "service");

    // Search with Port's rules.
    let (s, body) = api
        .call(
            "POST",
            &format!("{ents}/search"),
            ALICE,
            Some(json!({"combinator": "and", "rules": [
                {"property": "tier", "operator": "=", "value": "1"},
                {"combinator": "or", "rules": [
                    {"property": "replicas", "operator": ">", "value": 4},
                    {"property": "$identifier", "operator": "in", "value": ["web"]}
                ]}
            ]})),
        )
        .await;
    assert_eq!(s, 200, "{body}");
    let found: Vec<&str> = body["entities"]
        .as_array()
        .expect("entities")
        .iter()
        .filter_map(|e| e["identifier"].as_str())
        .collect();
    assert_eq!(found, ["db"]);
    let (s, body) = api
        .call(
            "POST",
            &format!("{ents}/search"),
            ALICE,
            Some(json!({"combinator": "nand", "rules": [{"property": "x", "operator": "~"}]})),
        )
        .await;
    assert_eq!(s, 422);
    assert_eq!(body["problems"].as_array().map(Vec::len), Some(2), "{body}");

    // An update fires `bump`, whose upsert updates the entity again: the guard stops the loop.
    let (s, body) = api
        .call(
            "PATCH",
            &format!("{ents}/web"),
            ADMIN,
            Some(json!({"properties": {"replicas": 2}})),
        )
        .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(
        body["entity"]["properties"]["tier"], "2",
        "PATCH keeps other fields"
    );
    let mut bumps = Vec::new();
    for _ in 0..100 {
        bumps = api.runs_of("bump").await;
        if bumps.first().is_some_and(|r| r["status"] == "COMPLETED") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let bumps_after = api.runs_of("bump").await;
    assert_eq!(bumps_after.len(), 1, "{bumps:?}");
    assert_eq!(bumps_after[0]["result"], "SUCCESS");
    let (_, body) = api.call("GET", &format!("{ents}/web"), ALICE, None).await;
    assert_eq!(body["entity"]["properties"]["version"], "bumped");

    // Delete, then it is gone; the blueprint with entities cannot be deleted.
    let (s, _) = api
        .call("DELETE", &format!("{ents}/web"), ADMIN, None)
        .await;
    assert_eq!(s, 200);
    let (s, _) = api.call("GET", &format!("{ents}/web"), ADMIN, None).await;
    assert_eq!(s, 404);
    let (s, _) = api
        .call("DELETE", "/v1/blueprints/service", ADMIN, None)
        .await;
    assert_eq!(s, 409);
    api.stop().await;
}

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .expect("time")
        .with_timezone(&Utc)
}

#[tokio::test]
async fn schedules_persist_their_last_fire_across_restarts() {
    let dir = temp_dir();
    let db = dir.0.join("wflow.db");
    let nightly = || {
        plans(WORKFLOWS)
            .into_iter()
            .filter(|p| p.workflow.identifier.value == "nightly")
            .collect::<Vec<_>>()
    };
    let clock = Arc::new(Fixed(Mutex::new(at("2026-03-01T10:03:00Z"))));
    let store = Store::open(&db).await.expect("store");
    let server = Server::new(store, nightly(), Options::default()).expect("server");
    let scheduler = Scheduler::new(server.clone(), clock.clone());
    let (fired, next) = scheduler.tick().await.expect("tick");
    assert!(fired.is_empty());
    assert_eq!(next, Some(at("2026-03-01T10:05:00Z")));
    *clock.0.lock().expect("clock") = at("2026-03-01T10:05:00Z");
    let (fired, next) = scheduler.tick().await.expect("tick");
    assert_eq!(fired.len(), 1);
    assert_eq!(next, Some(at("2026-03-01T10:10:00Z")));
    let (fired, _) = scheduler.tick().await.expect("tick");
    assert!(fired.is_empty(), "the same occurrence fires once");
    drop(scheduler);
    drop(server);

    // Restart 22 minutes later: the missed occurrences fire once, for the latest of them.
    *clock.0.lock().expect("clock") = at("2026-03-01T10:27:00Z");
    let store = Store::open(&db).await.expect("store");
    let server = Server::new(store, nightly(), Options::default()).expect("server");
    let scheduler = Scheduler::new(server.clone(), clock.clone());
    let (fired, next) = scheduler.tick().await.expect("tick");
    assert_eq!(fired.len(), 1);
    assert_eq!(next, Some(at("2026-03-01T10:30:00Z")));
    let (fired, _) = scheduler.tick().await.expect("tick");
    assert!(fired.is_empty());
    let run = server
        .engine()
        .store
        .last_run("nightly", "every")
        .await
        .expect("last")
        .expect("a run");
    assert_eq!(run.trigger_payload["scheduledAt"], "2026-03-01T10:25:00Z");
    let runs = server.engine().store.runs(10).await.expect("runs");
    assert_eq!(runs.len(), 2);
}

const TIMER: &str = r#"
workflow expire "Expire" {
  event expired "Expired" {
    on TIMER_EXPIRED environment
    property ttl
  }
  condition c "C" { outlet y "Y" when `true` }
  flow { expired -> c }
}"#;

#[tokio::test]
async fn timers_fire_once_per_entity_and_time_across_restarts() {
    let clock = Arc::new(Fixed(Mutex::new(at("2030-01-01T00:00:00Z"))));
    let api = serve_in(temp_dir(), clock.clone(), TIMER, None).await;
    let bp = json!({"identifier": "environment", "schema": {"properties": {
        "ttl": {"type": "string", "format": "timer"}}}});
    let (s, body) = api.call("POST", "/v1/blueprints", ADMIN, Some(bp)).await;
    assert_eq!(s, 201, "{body}");
    let ents = "/v1/blueprints/environment/entities";
    // In the fake clock's past, in its future, and no timer at all.
    for (id, ttl) in [
        ("old", json!("2029-12-31T00:00:00Z")),
        ("later", json!("2030-01-01T01:00:00Z")),
        ("none", Json::Null),
    ] {
        let (s, body) = api
            .call(
                "POST",
                ents,
                ADMIN,
                Some(json!({"identifier": id, "properties": {"ttl": ttl}})),
            )
            .await;
        assert_eq!(s, 201, "{body}");
    }
    let runs = api.wait_runs("expire", 1).await;
    assert_eq!(runs.len(), 1, "{runs:?}");
    let id = runs[0]["identifier"].as_str().expect("id").to_string();
    let run = api.settle(&id, ADMIN).await;
    assert_eq!(run["result"], "SUCCESS", "{run}");
    let event = &run["variables"]["outputs"]["expired"];
    assert_eq!(event["diff"]["after"]["identifier"], "old", "{event}");
    assert_eq!(
        event["diff"]["after"]["properties"]["ttl"],
        "2029-12-31T00:00:00Z"
    );
    assert_eq!(event["context"]["propertyIdentifier"], "ttl");
    assert_eq!(event["action"], "TIMER_EXPIRED");

    // The clock passes the second timer: it fires; the first does not fire again.
    *clock.0.lock().expect("clock") = at("2030-01-01T02:00:00Z");
    let runs = api.wait_runs("expire", 2).await;
    assert_eq!(runs.len(), 2, "{runs:?}");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(api.runs_of("expire").await.len(), 2);

    // A restart on the same store fires nothing again.
    let dir = api.stop().await;
    let api = serve_in(dir, clock.clone(), TIMER, None).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(api.runs_of("expire").await.len(), 2);

    // A new time arms the timer again.
    let (s, body) = api
        .call(
            "PATCH",
            &format!("{ents}/old"),
            ADMIN,
            Some(json!({"properties": {"ttl": "2030-01-01T01:30:00Z"}})),
        )
        .await;
    assert_eq!(s, 200, "{body}");
    let runs = api.wait_runs("expire", 3).await;
    assert_eq!(runs.len(), 3, "{runs:?}");
    api.stop().await;
}

const POLICY: &str = r#"
workflow deploy "Deploy" {
  form trigger "Deploy" {
    permissions {
      users ["bob@example.com"]
      policy { combinator: "and", rules: [
        { property: { context: "user", property: "department" }, operator: "=", value: "eng" },
        { property: { context: "form", property: "env" }, operator: "in", value: ["dev", "staging"] }
      ] }
    }
    input env: string "Env"
  }
  condition c "C" { outlet y "Y" when `true` }
  flow { trigger -> c }
}"#;

#[tokio::test]
async fn policies_and_machine_tokens() {
    let api = serve(POLICY).await;
    let start = |token: &'static str, workflow: &'static str, inputs: Json| {
        let api = &api;
        async move {
            api.call(
                "POST",
                &format!("/v1/workflows/{workflow}/runs"),
                token,
                Some(json!({ "inputs": inputs })),
            )
            .await
        }
    };
    // Carol (department eng) sees the workflow: the policy may allow her, depending on the
    // form. Alice (no department) cannot be allowed whatever she submits.
    let (s, _) = api.call("GET", "/v1/workflows/deploy", CAROL, None).await;
    assert_eq!(s, 200);
    let (s, _) = api.call("GET", "/v1/workflows/deploy", ALICE, None).await;
    assert_eq!(s, 404);
    let (s, body) = start(CAROL, "deploy", json!({"env": "prod"})).await;
    assert_eq!(s, 403, "{body}");
    assert!(
        body["message"].as_str().unwrap_or("").contains("policy"),
        "{body}"
    );
    let (s, body) = start(CAROL, "deploy", json!({})).await;
    assert_eq!(
        s, 422,
        "the form is checked before the policy reads it: {body}"
    );
    let (s, body) = start(CAROL, "deploy", json!({"env": "staging"})).await;
    assert_eq!(s, 201, "{body}");
    let carols = body["run"]["identifier"].as_str().expect("id").to_string();
    // Static fields are checked first: bob is listed, whatever the policy says.
    let (s, body) = start(BOB, "deploy", json!({"env": "prod"})).await;
    assert_eq!(s, 201, "{body}");

    // A machine token skips the static checks of a trigger without a policy (admin-only
    // here), is held to a policy, and sees and reports on every run.
    let (s, body) = start(ROBOT, "admin-only", json!({})).await;
    assert_eq!(s, 201, "{body}");
    let (s, _) = start(ALICE, "admin-only", json!({})).await;
    assert_eq!(s, 404);
    let (s, body) = start(ROBOT, "deploy", json!({"env": "dev"})).await;
    assert_eq!(
        s, 404,
        "the policy cannot allow it, so it does not see it: {body}"
    );
    let (s, body) = api
        .call("GET", &format!("/v1/workflows/runs/{carols}"), ROBOT, None)
        .await;
    assert_eq!(s, 200, "{body}");
    api.stop().await;
}

#[test]
fn a_malformed_policy_is_refused_with_every_problem() {
    let src = POLICY
        .replace(r#"operator: "=""#, r#"operator: "~""#)
        .replace(r#"context: "form""#, r#"context: "org""#);
    match server::prepare(&src, Syntax::Wflow, "t.wflow", &Default::default()) {
        Err(server::Refusal::Errors(diags)) => {
            let found: Vec<(&str, &str)> = diags
                .iter()
                .map(|d| (d.code, &src[d.primary.span.range()]))
                .collect();
            assert_eq!(
                found,
                [("invalid-policy", r#""~""#), ("invalid-policy", r#""org""#)],
                "{diags:#?}"
            );
        }
        other => panic!("expected diagnostics, got {:?}", other.map(|p| p.len())),
    }
}

fn slow_workflow(base: &str) -> String {
    format!(
        r#"workflow slow "Slow" {{
  form trigger "Go" {{ }}
  approval gate "Gate" {{ button ok "OK" PRIMARY {{ needs 1 }} }}
  webhook call "Call" {{ url "{base}/slow" }}
  flow {{
    trigger -> gate
    gate.ok -> call
  }}
}}"#
    )
}

#[tokio::test]
async fn a_request_that_times_out_leaves_its_run_going() {
    let app = axum::Router::new().fallback(|| async {
        tokio::time::sleep(Duration::from_millis(800)).await;
        "{}"
    });
    let base = on_loopback(app).await;
    let clock = Arc::new(Fixed(Mutex::new(Utc::now())));
    let api = serve_in(
        temp_dir(),
        clock,
        &slow_workflow(&base),
        Some(Duration::from_millis(300)),
    )
    .await;
    let (s, body) = api
        .call("POST", "/v1/workflows/slow/runs", ADMIN, Some(json!({})))
        .await;
    assert_eq!(s, 201, "{body}");
    let id = body["run"]["identifier"].as_str().expect("id").to_string();
    api.settle(&id, ADMIN).await;
    // Answering drives the slow webhook: the request times out, the run goes on.
    let (s, body) = api
        .call(
            "POST",
            &format!("/v1/workflows/runs/{id}/nodes/gate/responses"),
            ADMIN,
            Some(json!({"button": "ok"})),
        )
        .await;
    assert_eq!(s, 408);
    assert_eq!(body["error"], "timeout", "{body}");
    let run = api.settle(&id, ADMIN).await;
    assert_eq!(run["result"], "SUCCESS", "{run}");
    api.stop().await;
}

/// Sends the raw HTTP/1.1 `head` (with `Host: {host}` and `Connection: close` added) and `body`
/// to `api`; the answer's status and body, and how long the answer took.
async fn raw(api: &Api, host: &str, head: &str, body: &str) -> (u16, Json, Duration) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = api.base.trim_start_matches("http://");
    let mut conn = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let t0 = std::time::Instant::now();
    let request = format!("{head}\r\nHost: {host}\r\nConnection: close\r\n\r\n{body}");
    conn.write_all(request.as_bytes()).await.expect("write");
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    // Reads until the answer's body is complete (the connection may stay open while the
    // server waits for a body it will never read).
    let complete = |a: &[u8]| -> bool {
        let text = String::from_utf8_lossy(a);
        let Some((headers, rest)) = text.split_once("\r\n\r\n") else {
            return false;
        };
        let length = headers
            .lines()
            .find_map(|l| {
                l.to_ascii_lowercase()
                    .strip_prefix("content-length:")
                    .map(|v| v.trim().to_string())
            })
            .and_then(|v| v.parse::<usize>().ok())
            .unwrap_or(0);
        rest.len() >= length
    };
    while !complete(&answer) {
        let n = tokio::time::timeout(Duration::from_secs(10), conn.read(&mut buf))
            .await
            .expect("an answer within 10 s")
            .expect("read");
        if n == 0 {
            break;
        }
        answer.extend_from_slice(&buf[..n]);
    }
    let elapsed = t0.elapsed();
    let text = String::from_utf8_lossy(&answer).to_string();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status in {text:?}"));
    let body = text
        .split_once("\r\n\r\n")
        .and_then(|(_, b)| serde_json::from_str(b).ok())
        .unwrap_or(Json::Null);
    (status, body, elapsed)
}

#[tokio::test]
async fn without_auth_cross_site_requests_foreign_hosts_and_huge_bodies_are_refused() {
    let clock = Arc::new(Fixed(Mutex::new(Utc::now())));
    let api = serve_with(temp_dir(), clock, "", Options::default()).await;
    let host = api.base.trim_start_matches("http://").to_string();
    let port = host.rsplit(':').next().expect("port").to_string();
    let start = "POST /v1/workflows/hello/runs HTTP/1.1";
    let inputs = r#"{"inputs": {"name": "Ada"}}"#;
    let with_length = |head: &str, body: &str| format!("{head}\r\nContent-Length: {}", body.len());

    // A cross-site form (`text/plain` or form-encoded) cannot start a run or create a blueprint.
    let (s, body, _) = raw(
        &api,
        &host,
        &with_length(&format!("{start}\r\nContent-Type: text/plain"), inputs),
        inputs,
    )
    .await;
    assert_eq!(
        (s, &body["error"]),
        (415, &json!("unsupported_media_type")),
        "{body}"
    );
    assert!(
        body["message"]
            .as_str()
            .unwrap_or("")
            .contains("application/json"),
        "{body}"
    );
    let form = "identifier=evil&title=Evil";
    let (s, body, _) = raw(
        &api,
        &host,
        &with_length(
            "POST /v1/blueprints HTTP/1.1\r\nContent-Type: application/x-www-form-urlencoded",
            form,
        ),
        form,
    )
    .await;
    assert_eq!(s, 415, "{body}");
    // A foreign Host (DNS rebinding) is refused, even for a read.
    let (s, body, _) = raw(
        &api,
        &format!("evil.example:{port}"),
        "GET /v1/workflows HTTP/1.1",
        "",
    )
    .await;
    assert_eq!(
        (s, &body["error"]),
        (421, &json!("forbidden_host")),
        "{body}"
    );
    assert!(
        body["message"]
            .as_str()
            .unwrap_or("")
            .contains("--allowed-host"),
        "{body}"
    );
    // A foreign Origin is refused, even with JSON.
    let json_start = with_length(
        &format!("{start}\r\nContent-Type: application/json"),
        inputs,
    );
    let (s, body, _) = raw(
        &api,
        &host,
        &format!("{json_start}\r\nOrigin: https://evil.example"),
        inputs,
    )
    .await;
    assert_eq!(
        (s, &body["error"]),
        (403, &json!("forbidden_origin")),
        "{body}"
    );
    assert!(api.runs_of("hello").await.is_empty(), "nothing was started");
    assert_eq!(
        api.call("GET", "/v1/blueprints", ADMIN, None).await.1["blueprints"],
        json!([])
    );

    // JSON with a good Host (and the server's own Origin, or localhost) works.
    let (s, body, _) = raw(
        &api,
        &host,
        &format!("{json_start}\r\nOrigin: http://{host}"),
        inputs,
    )
    .await;
    assert_eq!(s, 201, "{body}");
    let (s, body, _) = raw(&api, &format!("localhost:{port}"), &json_start, inputs).await;
    assert_eq!(s, 201, "{body}");
    assert_eq!(api.runs_of("hello").await.len(), 2);

    // A declared 64 MiB body is refused at once, though only 14 bytes are sent.
    let (s, body, took) = raw(
        &api,
        &host,
        &format!("{start}\r\nContent-Type: application/json\r\nContent-Length: 67108864"),
        r#"{"inputs": {}}"#,
    )
    .await;
    assert_eq!(
        (s, &body["error"]),
        (413, &json!("payload_too_large")),
        "{body}"
    );
    assert!(took < Duration::from_millis(500), "took {took:?}");
    api.stop().await;
}

#[tokio::test]
async fn with_auth_the_host_is_still_checked_and_bearer_requests_need_no_json_type() {
    let api = serve("").await;
    let host = api.base.trim_start_matches("http://").to_string();
    let (s, _, _) = raw(
        &api,
        "rebound.example",
        &format!("GET /v1/workflows HTTP/1.1\r\nAuthorization: Bearer {ADMIN}"),
        "",
    )
    .await;
    assert_eq!(s, 421);
    let inputs = r#"{"inputs": {"name": "Ada"}}"#;
    let (s, body, _) = raw(
        &api,
        &host,
        &format!(
            "POST /v1/workflows/hello/runs HTTP/1.1\r\nAuthorization: Bearer {ALICE}\r\n\
             Content-Type: text/plain\r\nContent-Length: {}",
            inputs.len()
        ),
        inputs,
    )
    .await;
    assert_eq!(s, 201, "{body}");
    api.stop().await;
}

/// The deploy token of [`the_rendered_request_is_recorded_with_its_secrets_redacted`].
const DEPLOY_TOKEN: &str = "deploy-tok-9f31c2ab77e0";

#[tokio::test]
async fn the_rendered_request_is_recorded_with_its_secrets_redacted() {
    // The target keeps the Authorization header it got, to show the secret was sent.
    let got = Arc::new(Mutex::new(Vec::<String>::new()));
    let seen = got.clone();
    let app = axum::Router::new().fallback(move |headers: axum::http::HeaderMap| {
        let seen = seen.clone();
        async move {
            let auth = headers.get("authorization").and_then(|v| v.to_str().ok());
            seen.lock()
                .expect("seen")
                .push(auth.unwrap_or_default().to_string());
            "{}"
        }
    });
    let target = on_loopback(app).await;
    let workflow = format!(
        r#"workflow deploy "Deploy" {{
  form trigger "Go" {{ input x: string "X" }}
  webhook call "Call" {{
    url "{target}/deploy/{{{{ .outputs.trigger.x }}}}"
    headers {{
      Authorization: "Basic {{{{ (\"u:\" + .secrets.DEPLOY_TOKEN) | @base64 }}}}"
      X-Token: "{{{{ .secrets.DEPLOY_TOKEN }}}}"
    }}
    body {{ service: "{{{{ .outputs.trigger.x }}}}", n: 2 }}
  }}
  flow {{ trigger -> call }}
}}"#
    );
    let options = Options {
        auth: Some(auth()),
        secrets_file: Some(format!("DEPLOY_TOKEN={DEPLOY_TOKEN}\n")),
        ..Options::default()
    };
    let clock = Arc::new(Fixed(Mutex::new(Utc::now())));
    let api = serve_with(temp_dir(), clock, &workflow, options).await;
    let (id, run) = api
        .run_settled("deploy", ADMIN, json!({"x": "svc-42"}))
        .await;
    assert_eq!(run["result"], "SUCCESS", "{run}");
    let basic = base64_of(&format!("u:{DEPLOY_TOKEN}"));
    assert_eq!(*got.lock().expect("got"), [format!("Basic {basic}")]);

    let call = run["nodeRuns"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|n| n["node"]["identifier"] == "call")
        .expect("the call's node run");
    let sent = &call["request"];
    assert_eq!(sent["method"], "POST");
    assert_eq!(sent["url"], format!("{target}/deploy/svc-42"));
    assert_eq!(sent["body"], json!({"service": "svc-42", "n": 2}));
    assert_eq!(sent["headers"]["Authorization"], "Basic [REDACTED]");
    assert_eq!(sent["headers"]["X-Token"], "[REDACTED]");
    assert_eq!(sent["headers"]["X-Wflow-Node-Run-Id"], call["identifier"]);

    // Neither the token nor its base64 form is in the API's answers, the page or the store.
    let tail = &DEPLOY_TOKEN[DEPLOY_TOKEN.len() - 8..];
    let mut seen = vec![run.to_string()];
    let (_, runs) = api.call("GET", "/v1/workflows/runs", ADMIN, None).await;
    seen.push(runs.to_string());
    let page = api
        .http
        .get(format!("{}/ui/runs/{id}", api.base))
        .bearer_auth(ADMIN)
        .send()
        .await
        .expect("page");
    seen.push(page.text().await.expect("page text"));
    let dir = api.stop().await;
    for f in std::fs::read_dir(&dir.0).expect("store dir").flatten() {
        let bytes = std::fs::read(f.path()).expect("store file");
        seen.push(String::from_utf8_lossy(&bytes).into_owned());
    }
    assert!(seen.len() >= 4, "the store file was read");
    for text in &seen {
        assert!(!text.contains(tail), "the token's tail in {text:.300}");
        assert!(
            !text.contains(&basic[4..]),
            "the token's base64 form in {text:.300}"
        );
    }
}

/// `s` in standard base64.
fn base64_of(s: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(s)
}

/// A hook on loopback that holds every request while `holding`, and then answers each after
/// 200 ms, noting how many it answered at once at most.
#[derive(Default)]
struct Gate {
    holding: std::sync::atomic::AtomicBool,
    held: std::sync::atomic::AtomicUsize,
    now: std::sync::atomic::AtomicUsize,
    most: std::sync::atomic::AtomicUsize,
    answered: std::sync::atomic::AtomicUsize,
}

impl Gate {
    async fn serve(gate: Arc<Gate>) -> String {
        use std::sync::atomic::Ordering::SeqCst;
        let app = axum::Router::new().fallback(move || {
            let g = Arc::clone(&gate);
            async move {
                if g.holding.load(SeqCst) {
                    g.held.fetch_add(1, SeqCst);
                    std::future::pending::<()>().await;
                }
                let now = g.now.fetch_add(1, SeqCst) + 1;
                g.most.fetch_max(now, SeqCst);
                tokio::time::sleep(Duration::from_millis(200)).await;
                g.now.fetch_sub(1, SeqCst);
                g.answered.fetch_add(1, SeqCst);
                "{}"
            }
        });
        on_loopback(app).await
    }
}

#[tokio::test]
async fn after_a_restart_runs_left_unfinished_are_resumed_at_most_max_driving_at_once() {
    use std::sync::atomic::Ordering::SeqCst;
    let gate = Arc::new(Gate::default());
    gate.holding.store(true, SeqCst);
    let base = Gate::serve(Arc::clone(&gate)).await;
    let workflow = format!(
        r#"workflow hold "Hold" {{
  form trigger "Go" {{ }}
  webhook call "Call" {{ url "{base}/hook" }}
  flow {{ trigger -> call }}
}}"#
    );
    let clock = Arc::new(Fixed(Mutex::new(Utc::now())));
    let api = serve_in(temp_dir(), Arc::clone(&clock), &workflow, None).await;
    let mut ids = Vec::new();
    for _ in 0..6 {
        let (s, body) = api
            .call("POST", "/v1/workflows/hold/runs", ADMIN, Some(json!({})))
            .await;
        assert_eq!(s, 201, "{body}");
        ids.push(body["run"]["identifier"].as_str().expect("id").to_string());
    }
    for _ in 0..100 {
        if gate.held.load(SeqCst) == 6 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        gate.held.load(SeqCst),
        6,
        "every run's webhook is in flight"
    );
    // The process stops with six runs in flight; the next one may drive two at once.
    let dir = api.stop().await;
    gate.holding.store(false, SeqCst);
    let options = Options {
        auth: Some(auth()),
        max_driving: Some(2),
        ..Options::default()
    };
    let api = serve_with(dir, clock, &workflow, options).await;
    for id in &ids {
        let run = api.settle(id, ADMIN).await;
        assert_eq!(run["result"], "SUCCESS", "{run}");
    }
    assert_eq!(
        gate.answered.load(SeqCst),
        6,
        "each run resent its request once"
    );
    assert_eq!(
        gate.most.load(SeqCst),
        2,
        "two runs driven at once, never more"
    );
    api.stop().await;
}
