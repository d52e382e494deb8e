//! A platform team's day, end to end through the shipped binary: `wflow check`, `wflow serve`
//! with `--auth` and a `wflow.toml` on a real SQLite file (and two of them on PostgreSQL when
//! `WFLOW_IT_PG` is set), real HTTP on loopback, a loopback server speaking GitHub's REST
//! shape, and `wflow exec` / `wflow runs` beside it.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value as Json, json};
use support::{Database, Reaper, on_loopback, start_with_env};

/// What a loopback service received: method, path, Idempotency-Key and body.
type Received = Arc<Mutex<Vec<(String, String, String, String)>>>;

/// A loopback server for the outside world of the journeys: GitHub's REST shape (a repository
/// and its workflow dispatches), `/notify`, and `/flaky`, which answers 503 while `down` holds.
async fn outside_world(down: Arc<Mutex<bool>>) -> (String, Received) {
    let received: Received = Arc::default();
    let seen = Arc::clone(&received);
    let app = axum::Router::new().fallback(
        move |method: axum::http::Method,
              uri: axum::http::Uri,
              headers: axum::http::HeaderMap,
              body: axum::body::Bytes| {
            let (seen, down) = (Arc::clone(&seen), Arc::clone(&down));
            async move {
                let key = headers
                    .get("idempotency-key")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_string();
                let path = uri.path().to_string();
                seen.lock().expect("received").push((
                    method.to_string(),
                    path.clone(),
                    key,
                    String::from_utf8_lossy(&body).into(),
                ));
                let status = if path == "/flaky" && *down.lock().expect("down") {
                    axum::http::StatusCode::SERVICE_UNAVAILABLE
                } else if path.ends_with("/dispatches") {
                    axum::http::StatusCode::NO_CONTENT
                } else {
                    axum::http::StatusCode::OK
                };
                (
                    status,
                    r#"{"default_branch": "main", "ok": true}"#.to_string(),
                )
            }
        },
    );
    (on_loopback(app).await, received)
}

/// A fresh directory for one journey.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("wflow-journey-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("workflows")).expect("dir");
    dir
}

/// Runs the shipped `wflow` with `args` in `dir`.
fn wflow(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_wflow"))
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env_remove("WFLOW_CONFIG")
        .output()
        .expect("wflow")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

const ADMIN: &str = "token-admin-0123456789";
const DEVELOPER: &str = "token-developer-0123456789";
const APPROVER: &str = "token-approver-0123456789";
const OUTSIDER: &str = "token-outsider-0123456789";

/// The team: an admin, a developer (role Member), an approver who qualifies only through the
/// `platform` team, and an outsider.
fn users() -> String {
    json!({"users": [
        {"token": ADMIN, "email": "admin@acme.io", "roles": ["Admin"]},
        {"token": DEVELOPER, "email": "dev@acme.io", "roles": ["Member"]},
        {"token": APPROVER, "email": "lead@acme.io", "roles": ["Member"], "teams": ["platform"]},
        {"token": OUTSIDER, "email": "guest@acme.io", "roles": ["Member"]},
    ]})
    .to_string()
}

/// Journey 1's workflow: a form, a webhook, an approval with two buttons, a condition on the
/// form and a GitHub dispatch.
fn deploy_workflow(base: &str) -> String {
    format!(
        r#"workflow deploy "Deploy a Service" {{
  form trigger "Deploy" {{
    permissions {{ roles ["Member"] }}
    input service: string "Service" {{ pattern "^[a-z]+$" }}
    input env: string "Environment" {{ enum ["dev", "prod"] }}
    input replicas: number "Replicas" {{ minimum 1; maximum 10 }}
  }}
  webhook announce "Announce" {{
    url "{base}/notify"
    body {{ text: "deploying {{{{ .outputs.trigger.service }}}}" }}
  }}
  approval review "Review" {{
    button approve "Approve" PRIMARY {{ needs 1 }}
    button reject "Reject" DANGER {{ needs 1 }}
    responders {{ teams ["platform"] }}
  }}
  condition where "Where" {{
    outlet prod "Production" when `.outputs.trigger.env == "prod"`
    outlet other "Elsewhere" when `.outputs.trigger.env != "prod"`
  }}
  github ship "Ship" {{
    installation "gh"
    org "acme"; repo "deploys"; workflow "deploy.yml"
    inputs {{ service: "{{{{ .outputs.trigger.service }}}}" }}
    report_status false
  }}
  webhook skip "Skip" {{ url "{base}/notify" }}
  webhook rejected "Rejected" {{ url "{base}/notify" }}
  flow {{
    trigger -> announce -> review
    review.approve -> where
    review.reject -> rejected
    where.prod -> ship
    where.other -> skip
  }}
}}
"#
    )
}

/// Journey 1's project: `wflow.toml` pointing GitHub at `base`, the team's auth file and
/// the deploy workflow.
fn approval_project(name: &str, base: &str) -> PathBuf {
    let dir = scratch(name);
    std::fs::write(
        dir.join("wflow.toml"),
        format!("[github]\napi_url = \"{base}\"\n"),
    )
    .expect("config");
    std::fs::write(dir.join("users.json"), users()).expect("users");
    std::fs::write(dir.join("workflows/deploy.wflow"), deploy_workflow(base)).expect("workflow");
    dir
}

/// `wflow serve` of the project in `dir` with the team's `--auth` file, on `store`.
fn serve_team(dir: &Path, store: &Path) -> support::Serving {
    let users_file = dir.join("users.json");
    start_with_env(
        store,
        &dir.join("workflows"),
        &["--auth", users_file.to_str().expect("path")],
        &[("WFLOW_SECRET_GITHUB_TOKEN", "ghp-journey")],
    )
}

/// The requests to GitHub's dispatch endpoint `received` holds: their bodies.
fn dispatches(received: &Received) -> Vec<String> {
    received
        .lock()
        .expect("received")
        .iter()
        .filter(|(_, p, _, _)| p.ends_with("/dispatches"))
        .map(|(_, _, _, body)| body.clone())
        .collect()
}

/// An HTTP client of the served API acting as the user of `token`.
struct Client {
    http: reqwest::Client,
    addr: String,
    token: &'static str,
}

impl Client {
    fn new(addr: &str, token: &'static str) -> Client {
        Client {
            http: reqwest::Client::new(),
            addr: addr.to_string(),
            token,
        }
    }

    async fn send(&self, method: reqwest::Method, path: &str, body: Option<Json>) -> (u16, Json) {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.addr))
            .bearer_auth(self.token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Json::Null))
    }

    async fn get(&self, path: &str) -> (u16, Json) {
        self.send(reqwest::Method::GET, path, None).await
    }

    async fn post(&self, path: &str, body: Json) -> (u16, Json) {
        self.send(reqwest::Method::POST, path, Some(body)).await
    }

    /// Polls run `id` (up to 15 s) until `done` holds for it.
    async fn wait_run(&self, id: &str, done: impl Fn(&Json) -> bool) -> Json {
        for _ in 0..300 {
            let (_, body) = self.get(&format!("/v1/workflows/runs/{id}")).await;
            if done(&body["run"]) {
                return body["run"].clone();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("run {id} did not get there");
    }
}

fn waiting(run: &Json) -> bool {
    run["nodeRuns"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|n| n["node"]["identifier"] == "review")
}

fn ended(run: &Json) -> bool {
    !run["result"].is_null()
}

/// Journeys 1 to 3: a platform engineer checks and serves a workflow with `--auth` and a
/// `wflow.toml` pointing GitHub at a loopback server; a developer starts it with three
/// mistakes (one 422 naming each field by JSON pointer), then correctly; an approver who
/// qualifies only through a team finds the approval in their list and approves; the dispatch
/// goes out and the run succeeds. An outsider is refused; an admin can answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn form_approval_and_dispatch_with_auth() {
    let (base, received) = outside_world(Arc::default()).await;
    let dir = approval_project("approval", &base);
    let checked = wflow(&dir, &["check", "workflows"]);
    assert!(checked.status.success(), "{}", text(&checked));
    let serving = serve_team(&dir, &dir.join("wflow.db"));
    let _reaper = Reaper(vec![serving.child.id()]);
    let addr = serving.addr.clone();
    let (dev, approver, outsider, admin) = (
        Client::new(&addr, DEVELOPER),
        Client::new(&addr, APPROVER),
        Client::new(&addr, OUTSIDER),
        Client::new(&addr, ADMIN),
    );

    // The workflow as the API shows it: the form and the nodes, in Port's JSON.
    let (status, shown) = dev.get("/v1/workflows/deploy").await;
    assert_eq!(status, 200, "{shown}");
    assert_eq!(shown["workflow"]["nodes"].as_array().map(Vec::len), Some(7));

    // Three mistakes, one answer, each at its field.
    let bad = json!({"inputs": {"service": "Billing API", "env": "staging", "replicas": 0}});
    let (status, refused) = dev.post("/v1/workflows/deploy/runs", bad).await;
    assert_eq!(status, 422, "{refused}");
    let pointers: Vec<&str> = refused["problems"]
        .as_array()
        .expect("problems")
        .iter()
        .filter_map(|p| p["pointer"].as_str())
        .collect();
    assert_eq!(
        pointers,
        ["/inputs/service", "/inputs/env", "/inputs/replicas"],
        "{refused}"
    );
    assert!(
        !refused.to_string().contains("--input"),
        "CLI words in an API answer: {refused}"
    );
    let (status, missing) = dev
        .post("/v1/workflows/deploy/runs", json!({"inputs": {}}))
        .await;
    assert_eq!(status, 422);
    assert!(
        missing["problems"][0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("add it to `inputs`")),
        "{missing}"
    );

    let good = json!({"inputs": {"service": "billing", "env": "prod", "replicas": 2}});
    let (status, started) = dev.post("/v1/workflows/deploy/runs", good.clone()).await;
    assert_eq!(status, 201, "{started}");
    let id = started["run"]["identifier"]
        .as_str()
        .expect("run id")
        .to_string();
    dev.wait_run(&id, waiting).await;

    // Only the responders see the approval; an outsider can neither see nor answer it.
    let (_, list) = outsider.get("/v1/approvals").await;
    assert_eq!(list["approvals"], json!([]), "{list}");
    let respond = format!("/v1/workflows/runs/{id}/nodes/review/responses");
    let (status, _) = outsider.post(&respond, json!({"button": "approve"})).await;
    assert_eq!(status, 403);

    let (status, list) = approver.get("/v1/approvals").await;
    assert_eq!(status, 200, "{list}");
    let pending = list["approvals"].as_array().expect("approvals");
    assert_eq!(pending.len(), 1, "{list}");
    assert_eq!(pending[0]["run"]["identifier"], id.as_str());
    assert_eq!(pending[0]["node"]["identifier"], "review");
    let (status, seen) = approver.get(&format!("/v1/workflows/runs/{id}")).await;
    assert_eq!(status, 200, "a responder may see what they approve: {seen}");
    let (status, answered) = approver.post(&respond, json!({"button": "approve"})).await;
    assert_eq!(status, 200, "{answered}");

    let done = dev.wait_run(&id, ended).await;
    assert_eq!(done["result"], "SUCCESS", "{done}");
    let dispatched = dispatches(&received);
    assert_eq!(dispatched.len(), 1, "{dispatched:?}");
    assert!(dispatched[0].contains("billing"), "{dispatched:?}");
    let (_, list) = approver.get("/v1/approvals").await;
    assert_eq!(list["approvals"], json!([]), "answered: {list}");

    // An admin may answer any approval.
    let (_, second) = dev.post("/v1/workflows/deploy/runs", good).await;
    let second = second["run"]["identifier"]
        .as_str()
        .expect("id")
        .to_string();
    dev.wait_run(&second, waiting).await;
    let (status, answer) = admin
        .post(
            &format!("/v1/workflows/runs/{second}/nodes/review/responses"),
            json!({"button": "reject"}),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    let done = dev.wait_run(&second, ended).await;
    assert_eq!(done["result"], "SUCCESS", "{done}");

    let (ok, log) = serving.stop();
    assert!(ok, "{log}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Journey 7: journey 1 on two `serve` processes sharing PostgreSQL; the run starts on one
/// and its approval is answered on the other, which finds it in its approvals list; the
/// dispatch goes out once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approval_answered_on_the_other_process_of_a_postgres_cluster() {
    let Some(database) = Database::fresh("wflow_journey").await else {
        return;
    };
    let (base, received) = outside_world(Arc::default()).await;
    let dir = approval_project("cluster", &base);
    let store = PathBuf::from(&database.url);
    let (one, other) = (serve_team(&dir, &store), serve_team(&dir, &store));
    let _reaper = Reaper(vec![one.child.id(), other.child.id()]);
    let dev = Client::new(&one.addr, DEVELOPER);
    let approver = Client::new(&other.addr, APPROVER);

    let good = json!({"inputs": {"service": "billing", "env": "prod", "replicas": 2}});
    let (status, started) = dev.post("/v1/workflows/deploy/runs", good).await;
    assert_eq!(status, 201, "{started}");
    let id = started["run"]["identifier"]
        .as_str()
        .expect("id")
        .to_string();
    dev.wait_run(&id, waiting).await;
    let (_, list) = approver.get("/v1/approvals").await;
    assert_eq!(
        list["approvals"][0]["run"]["identifier"],
        id.as_str(),
        "{list}"
    );
    let (status, answered) = approver
        .post(
            &format!("/v1/workflows/runs/{id}/nodes/review/responses"),
            json!({"button": "approve"}),
        )
        .await;
    assert_eq!(status, 200, "{answered}");
    let done = dev.wait_run(&id, ended).await;
    assert_eq!(done["result"], "SUCCESS", "{done}");
    assert_eq!(dispatches(&received).len(), 1);
    for serving in [one, other] {
        let (ok, log) = serving.stop();
        assert!(ok, "{log}");
    }
    database.drop().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// A workflow whose second webhook calls a service that is down.
fn flaky_workflow(base: &str) -> String {
    format!(
        r#"workflow flaky "Flaky" {{
  form trigger "Go" {{ }}
  webhook first "First" {{ url "{base}/notify" }}
  webhook second "Second" {{ url "{base}/flaky" }}
  flow {{ trigger -> first -> second }}
}}
"#
    )
}

/// What `received` holds for `path`: the Idempotency-Keys of its requests.
fn keys(received: &Received, path: &str) -> Vec<String> {
    received
        .lock()
        .expect("received")
        .iter()
        .filter(|(_, p, _, _)| p == path)
        .map(|(_, _, k, _)| k.clone())
        .collect()
}

/// Journey 4: a node fails because a service is down; once it is back, an operator retries
/// the run from the failed node over the API, and over the CLI: the completed node is not
/// repeated and the re-sent webhook keeps its Idempotency-Key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_from_the_failed_node_over_the_api_and_the_cli() {
    let down = Arc::new(Mutex::new(true));
    let (base, received) = outside_world(Arc::clone(&down)).await;
    let dir = scratch("retry");
    let file = dir.join("workflows/flaky.wflow");
    std::fs::write(&file, flaky_workflow(&base)).expect("workflow");

    // Over the API.
    let serving = start_with_env(&dir.join("serve.db"), &dir.join("workflows"), &[], &[]);
    let _reaper = Reaper(vec![serving.child.id()]);
    let api = Client::new(&serving.addr, ADMIN);
    let (status, started) = api.post("/v1/workflows/flaky/runs", json!({})).await;
    assert_eq!(status, 201, "{started}");
    let id = started["run"]["identifier"]
        .as_str()
        .expect("id")
        .to_string();
    let failed = api.wait_run(&id, ended).await;
    assert_eq!(failed["result"], "FAILED", "{failed}");
    *down.lock().expect("down") = false;
    let (status, retried) = api
        .post(&format!("/v1/workflows/runs/{id}/retry"), json!({}))
        .await;
    assert_eq!(status, 200, "{retried}");
    let done = api.wait_run(&id, ended).await;
    assert_eq!(done["result"], "SUCCESS", "{done}");
    assert_eq!(
        keys(&received, "/notify").len(),
        1,
        "the first node ran again"
    );
    let second = keys(&received, "/flaky");
    assert_eq!(second.len(), 2);
    assert_eq!(second[0], second[1], "a retry keeps the Idempotency-Key");
    let (status, again) = api
        .post(&format!("/v1/workflows/runs/{id}/retry"), json!({}))
        .await;
    assert_eq!(status, 409, "a run that succeeded is not retried: {again}");
    let (ok, log) = serving.stop();
    assert!(ok, "{log}");

    // Over the CLI.
    received.lock().expect("received").clear();
    *down.lock().expect("down") = true;
    let store = dir.join("cli.db");
    let store = store.to_str().expect("path");
    let ran = wflow(&dir, &["exec", "workflows/flaky.wflow", "--store", store]);
    assert_eq!(ran.status.code(), Some(1), "{}", text(&ran));
    let listed = wflow(
        &dir,
        &["runs", "list", "--status", "failed", "--store", store],
    );
    let listed = text(&listed);
    let run = listed
        .lines()
        .find_map(|l| {
            l.split_whitespace()
                .next()
                .filter(|w| w.starts_with("wfr_"))
        })
        .unwrap_or_else(|| panic!("no failed run listed:\n{listed}"))
        .to_string();
    *down.lock().expect("down") = false;
    let retried = wflow(&dir, &["runs", "retry", &run, "--store", store]);
    assert!(retried.status.success(), "{}", text(&retried));
    assert!(
        text(&retried).contains("from node second"),
        "{}",
        text(&retried)
    );
    assert_eq!(keys(&received, "/notify").len(), 1);
    let second = keys(&received, "/flaky");
    assert_eq!(second.len(), 2);
    assert_eq!(second[0], second[1]);
    let shown = text(&wflow(&dir, &["runs", "show", &run, "--store", store]));
    assert!(
        shown.contains("TOOK") && shown.contains("SUCCESS"),
        "{shown}"
    );
    // Each webhook's request as sent, under its node's line.
    let sent: Vec<&str> = shown
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("request: "))
        .collect();
    assert!(
        sent.iter()
            .any(|r| r.contains("\"method\":\"POST\"") && r.contains("/flaky\"")),
        "{shown}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Journeys 5 and 6: an entity update through the catalog API fires an event workflow whose
/// condition reads the diff, and its trigger output is Port's event; `exec --event` with that
/// event gives the same result and refuses an event of another type or blueprint saying why.
/// `exec` of a schedule workflow gives its trigger `scheduledAt`, as `serve` does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catalog_events_and_schedules_alike_in_exec_and_serve() {
    let (base, received) = outside_world(Arc::default()).await;
    let dir = scratch("events");
    std::fs::write(
        dir.join("workflows/tier.wflow"),
        format!(
            r#"blueprint service "Service" {{
  property tier string "Tier"
}}

workflow tier-changed "Tier Changed" {{
  event trigger "On update" {{
    on ENTITY_UPDATED service
    when `.diff.before.properties.tier != .diff.after.properties.tier`
  }}
  webhook tell "Tell" {{
    url "{base}/notify"
    body {{ tier: "{{{{ .outputs.trigger.diff.after.properties.tier }}}}" }}
  }}
  flow {{ trigger -> tell }}
}}

workflow nightly "Nightly" {{
  schedule trigger "Nightly" {{ cron "0 3 * * *" }}
  webhook tell "Tell" {{
    url "{base}/notify"
    body {{ at: "{{{{ .outputs.trigger.scheduledAt }}}}" }}
  }}
  flow {{ trigger -> tell }}
}}
"#
        ),
    )
    .expect("workflow");
    let serving = start_with_env(&dir.join("wflow.db"), &dir.join("workflows"), &[], &[]);
    let _reaper = Reaper(vec![serving.child.id()]);
    let api = Client::new(&serving.addr, ADMIN);
    let blueprint = json!({"identifier": "service", "title": "Service",
        "schema": {"properties": {"tier": {"type": "string"}}}});
    let (status, body) = api.post("/v1/blueprints", blueprint).await;
    assert!(status == 200 || status == 201, "{body}");
    let bad = json!({"identifier": "billing", "properties": 3, "blueprint": "team"});
    let (status, refused) = api.post("/v1/blueprints/service/entities", bad).await;
    assert_eq!(status, 422, "{refused}");
    let pointers: Vec<&str> = refused["problems"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p["pointer"].as_str())
        .collect();
    assert_eq!(pointers, ["/properties", "/blueprint"], "{refused}");
    let entity = |tier: &str| json!({"identifier": "billing", "properties": {"tier": tier}});
    let (status, body) = api
        .post("/v1/blueprints/service/entities", entity("gold"))
        .await;
    assert!(status == 200 || status == 201, "{body}");
    let (status, body) = api
        .post(
            "/v1/blueprints/service/entities?upsert=true",
            entity("silver"),
        )
        .await;
    assert!(status == 200 || status == 201, "{body}");
    let mut run = Json::Null;
    for _ in 0..200 {
        let (_, list) = api.get("/v1/workflows/runs?workflow=tier-changed").await;
        if let Some(id) = list["runs"][0]["identifier"].as_str() {
            run = api.wait_run(id, ended).await;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(run["result"], "SUCCESS", "the update fired no run: {run}");
    let (ok, log) = serving.stop();
    assert!(ok, "{log}");
    let sent: Vec<String> = received
        .lock()
        .expect("received")
        .iter()
        .map(|r| r.3.clone())
        .collect();
    assert_eq!(sent, [r#"{"tier":"silver"}"#], "{sent:?}");

    // The event as the served run got it, through `exec --event`.
    let store = dir.join("wflow.db");
    let store = store.to_str().expect("path");
    let id = run["identifier"].as_str().expect("id");
    let shown = wflow(
        &dir,
        &["runs", "show", id, "--format", "json", "--store", store],
    );
    let shown: Json = serde_json::from_slice(&shown.stdout).expect("run json");
    let event = shown["variables"]["outputs"]["trigger"].clone();
    assert_eq!(event["action"], "UPDATE", "{event}");
    assert_eq!(event["resourceType"], "entity", "{event}");
    assert_eq!(event["context"]["entityIdentifier"], "billing", "{event}");
    let event_file = dir.join("event.json");
    std::fs::write(&event_file, event.to_string()).expect("event");
    received.lock().expect("received").clear();
    let exec = |event: &Path| {
        wflow(
            &dir,
            &[
                "exec",
                "workflows/tier.wflow",
                "--workflow",
                "tier-changed",
                "--event",
                event.to_str().expect("path"),
                "--store",
                "exec.db",
            ],
        )
    };
    let ran = exec(&event_file);
    assert!(ran.status.success(), "{}", text(&ran));
    assert_eq!(received.lock().expect("received").len(), 1);

    let mut deleted = event.clone();
    deleted["action"] = json!("DELETE");
    deleted["diff"]["after"] = Json::Null;
    deleted["context"]["blueprintIdentifier"] = json!("team");
    std::fs::write(&event_file, deleted.to_string()).expect("event");
    let refused = exec(&event_file);
    assert_eq!(refused.status.code(), Some(2), "{}", text(&refused));
    let why = text(&refused);
    assert!(
        why.contains("`team` entity") && why.contains("DELETE") && why.contains("ENTITY_UPDATED"),
        "{why}"
    );
    std::fs::write(&event_file, "[1, 2]").expect("event");
    assert_eq!(exec(&event_file).status.code(), Some(2));
    assert_eq!(
        received.lock().expect("received").len(),
        1,
        "nothing more was sent"
    );

    // A schedule's trigger output through exec.
    received.lock().expect("received").clear();
    let ran = wflow(
        &dir,
        &[
            "exec",
            "workflows/tier.wflow",
            "--workflow",
            "nightly",
            "--store",
            "exec.db",
        ],
    );
    assert!(ran.status.success(), "{}", text(&ran));
    let body: Json =
        serde_json::from_str(&received.lock().expect("received")[0].3).expect("json body");
    let at = body["at"].as_str().expect("scheduledAt");
    assert!(
        chrono::DateTime::parse_from_rfc3339(at).is_ok(),
        "scheduledAt is not a time: {at}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A whole workflow as Port's docs print it: nodes with a trigger, and connections, but
/// neither `identifier` nor `title`. It is named after its file, checked whole (an unreachable
/// node is reported), run by `exec` and served by `serve` under that name.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_port_docs_workflow_without_identifier_runs_under_its_file_name() {
    let (base, received) = outside_world(Arc::default()).await;
    let dir = scratch("docs-shape");
    let workflow = |extra_node: Option<Json>| {
        let mut nodes = vec![
            json!({"identifier": "trigger", "title": "Restart", "config": {
                "type": "SELF_SERVE_TRIGGER",
                "userInputs": {"properties": {"service": {"type": "string"}}, "required": ["service"]}}}),
            json!({"identifier": "restart", "title": "Restart", "config": {
                "type": "WEBHOOK", "url": format!("{base}/notify"), "method": "POST",
                "body": {"service": "{{ .outputs.trigger.service }}"}}}),
        ];
        nodes.extend(extra_node);
        json!({
            "nodes": nodes,
            "connections": [{"sourceIdentifier": "trigger", "targetIdentifier": "restart"}]
        })
        .to_string()
    };
    // Checked as a whole workflow: a node nothing leads to is reported.
    let stray = json!({"identifier": "stray", "title": "Stray",
        "config": {"type": "WEBHOOK", "url": "https://example.com"}});
    std::fs::write(
        dir.join("workflows/restart-service.json"),
        workflow(Some(stray)),
    )
    .expect("write");
    let checked = wflow(&dir, &["check", "workflows/restart-service.json"]);
    assert!(text(&checked).contains("stray"), "{}", text(&checked));
    assert!(!text(&checked).contains("fragment"), "{}", text(&checked));

    std::fs::write(dir.join("workflows/restart-service.json"), workflow(None)).expect("write");
    let checked = wflow(&dir, &["check", "workflows/restart-service.json"]);
    assert!(checked.status.success(), "{}", text(&checked));
    assert!(
        text(&checked).contains("0 errors, 0 warnings"),
        "{}",
        text(&checked)
    );

    let ran = wflow(
        &dir,
        &[
            "exec",
            "workflows/restart-service.json",
            "--input",
            "service=billing",
            "--store",
            "exec.db",
        ],
    );
    assert!(ran.status.success(), "{}", text(&ran));
    assert!(
        text(&ran).contains("running restart-service"),
        "{}",
        text(&ran)
    );
    assert_eq!(received.lock().expect("received").len(), 1);

    let serving = start_with_env(&dir.join("wflow.db"), &dir.join("workflows"), &[], &[]);
    let _reaper = Reaper(vec![serving.child.id()]);
    let api = Client::new(&serving.addr, ADMIN);
    let (status, started) = api
        .post(
            "/v1/workflows/restart-service/runs",
            json!({"inputs": {"service": "payments"}}),
        )
        .await;
    assert_eq!(status, 201, "{started}");
    let id = started["run"]["identifier"]
        .as_str()
        .or(started["identifier"].as_str())
        .expect("run id");
    let run = api.wait_run(id, ended).await;
    assert_eq!(run["result"], "SUCCESS", "{run}");
    serving.stop();
}
