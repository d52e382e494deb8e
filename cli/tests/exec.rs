//! `wflow exec` / `wflow runs` / `wflow catalog` as a user runs them: the real binary, a real
//! HTTP server on loopback, the SQLite store on disk.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{HeaderMap, Uri};
use serde_json::{Value as Json, json};

use support::{Scratch as Dir, on_loopback};

const BIN: &str = env!("CARGO_BIN_EXE_wflow");
const SECRET: &str = "s3cr3t-f00-b4r-token";

/// (path, idempotency key) of each request received.
type Seen = Arc<Mutex<Vec<(String, String)>>>;

/// A loopback server: `/slow` hangs the first time it sees a key (so that the test can kill
/// the client mid-request), every other request answers 200 `{"ok": true}`.
async fn server() -> (String, Seen) {
    let seen: Seen = Arc::default();
    let log = Arc::clone(&seen);
    let app = axum::Router::new().fallback(move |uri: Uri, headers: HeaderMap, _body: Bytes| {
        let log = Arc::clone(&log);
        async move {
            let key = headers
                .get("idempotency-key")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string();
            let first = {
                let mut l = log.lock().expect("lock");
                let first = !l.iter().any(|(p, k)| p == uri.path() && *k == key);
                l.push((uri.path().to_string(), key));
                first
            };
            if uri.path() == "/slow" && first {
                tokio::time::sleep(Duration::from_secs(60)).await;
            }
            json!({ "ok": true }).to_string()
        }
    });
    (on_loopback(app).await, seen)
}

fn dir(name: &str) -> Dir {
    Dir::new(&format!("cli-{name}"))
}

fn wflow(cwd: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .current_dir(cwd)
        .env("WFLOW_SECRET_TOKEN", SECRET)
        .env_remove("WFLOW_STORE")
        .output()
        .expect("run wflow")
}

async fn wflow_async(cwd: &Path, args: &[&str]) -> Output {
    let cwd = cwd.to_path_buf();
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        wflow(&cwd, &args)
    })
    .await
    .expect("join")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn write(d: &Dir, name: &str, content: &str) -> PathBuf {
    let p = d.0.join(name);
    std::fs::write(&p, content).expect("write");
    p
}

fn chain(base: &str) -> String {
    format!(
        r#"workflow chain "Chain" {{
  form trigger "T" {{
    input service: string "Service" {{ pattern "^[a-z-]+$" }}
    input env: string "Env" {{ enum ["staging", "production"] }}
    input replicas?: number "Replicas" {{ maximum 5 }}
  }}
  webhook a "A" {{ url "{base}/a"; headers {{ Authorization: "Bearer {{{{ .secrets.token }}}}" }} }}
  webhook b "B" {{ url "{base}/slow"; body {{ service: "{{{{ .outputs.trigger.service }}}}" }} }}
  webhook c "C" {{ url "{base}/c" }}
  flow {{ trigger -> a -> b -> c }}
}}"#
    )
}

#[test]
fn bad_inputs_are_all_reported_and_nothing_runs() {
    let d = dir("bad");
    write(&d, "w.wflow", &chain("http://127.0.0.1:9"));
    let o = wflow(
        &d.0,
        &[
            "exec",
            "w.wflow",
            "-i",
            "service=API!",
            "-i",
            "env=dev",
            "-i",
            "replicas=lots",
            "-i",
            "colour=red",
        ],
    );
    let t = text(&o);
    assert_eq!(o.status.code(), Some(2), "{t}");
    for needle in [
        "4 problems",
        "`service`",
        "pattern",
        "`env`",
        "not one of",
        "`replicas`: expected number",
        "`colour`: unknown input",
    ] {
        assert!(t.contains(needle), "missing {needle:?} in {t}");
    }
    // Missing required inputs, too.
    let o = wflow(&d.0, &["exec", "w.wflow"]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(2), "{t}");
    assert!(
        t.contains("`service`: required") && t.contains("`env`: required"),
        "{t}"
    );
    // No run was created.
    let o = wflow(&d.0, &["runs", "list", "--format", "json"]);
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "[]");
}

#[test]
fn a_missing_secret_or_a_broken_workflow_runs_nothing() {
    let d = dir("nosecret");
    write(&d, "w.wflow", &chain("http://127.0.0.1:9"));
    let o = Command::new(BIN)
        .args(["exec", "w.wflow", "-i", "service=api", "-i", "env=staging"])
        .current_dir(&d.0)
        .env_remove("WFLOW_SECRET_TOKEN")
        .output()
        .expect("run");
    let t = text(&o);
    assert_eq!(o.status.code(), Some(2), "{t}");
    assert!(
        t.contains("missing-secret") && t.contains("set WFLOW_SECRET_TOKEN"),
        "{t}"
    );

    write(
        &d,
        "broken.wflow",
        "workflow x \"X\" {\n  webhook a \"A\" { }\n}\n",
    );
    let o = wflow(&d.0, &["exec", "broken.wflow"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
}

/// A workflow whose first node calls `base`, then needs a secret, a Kafka broker and a
/// blueprint the store does not have.
fn needs_everything(base: &str) -> String {
    format!(
        r#"workflow release "Release" {{
  form trigger "Release" {{
    input service: string "Service"
  }}
  webhook notify "Notify" {{
    url "{base}/notify"
    headers {{ Authorization: "Bearer {{{{ .secrets.API_KEY }}}}" }}
  }}
  kafka publish "Publish" {{ payload {{ service: "{{{{ .outputs.trigger.service }}}}" }} }}
  upsert record "Record" {{
    blueprint deployment
    entity {{ identifier "{{{{ .outputs.trigger.service }}}}" }}
  }}
  flow {{ trigger -> notify -> publish -> record }}
}}"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_environment_is_checked_before_the_first_side_effect() {
    let (base, seen) = server().await;
    let d = dir("preflight");
    write(&d, "release.wflow", &needs_everything(&base));
    let check = wflow_async(&d.0, &["check", "release.wflow"]).await;
    assert_eq!(check.status.code(), Some(0), "{}", text(&check));
    let o = wflow_async(&d.0, &["exec", "release.wflow", "-i", "service=api"]).await;
    let t = text(&o);
    assert_eq!(o.status.code(), Some(2), "{t}");
    for needle in [
        "missing-secret",
        "the secret `API_KEY` is not provided",
        "set WFLOW_SECRET_API_KEY",
        "service-not-configured",
        "`publish` publishes to Kafka",
        "missing-blueprint",
        "the catalog has no blueprint `deployment`",
        "3 problems with its environment",
    ] {
        assert!(t.contains(needle), "missing {needle:?} in {t}");
    }
    assert!(seen.lock().expect("lock").is_empty(), "a request went out");
    let o = wflow_async(&d.0, &["runs", "list", "--format", "json"]).await;
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "[]");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_runs_resume_without_repeating_nodes() {
    killed_run_resumes(None).await;
}

/// The same against PostgreSQL (`--store postgres://…`, a fresh database on the `WFLOW_IT_PG`
/// server), when that variable is set.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_runs_resume_on_postgres() {
    let Ok(admin) = std::env::var("WFLOW_IT_PG") else {
        eprintln!("skipped: set WFLOW_IT_PG to a PostgreSQL URL to run it");
        return;
    };
    let name = format!("wflow_cli_{}", std::process::id());
    let pool = sqlx::PgPool::connect(&admin)
        .await
        .expect("WFLOW_IT_PG connects");
    let sql = |s: String| sqlx::raw_sql(sqlx::AssertSqlSafe(s));
    sql(format!("DROP DATABASE IF EXISTS {name}"))
        .execute(&pool)
        .await
        .expect("drop");
    sql(format!("CREATE DATABASE {name}"))
        .execute(&pool)
        .await
        .expect("create");
    let (server, _) = admin.rsplit_once('/').expect("a URL with a database");
    let url = format!("{server}/{name}");
    killed_run_resumes(Some(&url)).await;
    // The runs are in PostgreSQL, not in a SQLite file.
    let db = sqlx::PgPool::connect(&url).await.expect("connect");
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM node_runs")
        .fetch_one(&db)
        .await
        .expect("count");
    assert_eq!(n, 4);
    db.close().await;
    sql(format!("DROP DATABASE {name} WITH (FORCE)"))
        .execute(&pool)
        .await
        .expect("drop");
}

/// `exec` killed during node `b`, then `runs resume`: in the SQLite file of the working
/// directory, or in `store` (given through `WFLOW_STORE`).
async fn killed_run_resumes(store: Option<&str>) {
    let (base, seen) = server().await;
    let d = dir("kill");
    write(&d, "w.wflow", &chain(&base));
    let mut exec = Command::new(BIN);
    exec.args(["exec", "w.wflow", "-i", "service=api", "-i", "env=staging"]);
    if let Some(store) = store {
        exec.args(["--store", store]);
    }
    let mut child = exec
        .current_dir(&d.0)
        .env("WFLOW_SECRET_TOKEN", SECRET)
        .env_remove("WFLOW_STORE")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    // Wait until the request of `b` is in flight, then kill -9.
    let t0 = Instant::now();
    while !seen.lock().expect("lock").iter().any(|(p, _)| p == "/slow") {
        assert!(t0.elapsed() < Duration::from_secs(30), "b never called");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    child.kill().expect("kill");
    child.wait().expect("wait");

    let store_args = store.map(|s| vec!["--store", s]).unwrap_or_default();
    fn with<'a>(store: &[&'a str], args: &[&'a str]) -> Vec<&'a str> {
        [args, store].concat()
    }
    let o = wflow_async(
        &d.0,
        &with(&store_args, &["runs", "list", "--format", "json"]),
    )
    .await;
    let runs: Json = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(runs[0]["status"], "IN_PROGRESS");
    let run = runs[0]["identifier"].as_str().expect("id").to_string();

    // The dead command's lease still holds the run: resuming needs --take-over (or waiting
    // for the lease to end).
    let o = wflow_async(&d.0, &with(&store_args, &["runs", "resume", &run])).await;
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("--take-over"), "{}", text(&o));
    let o = wflow_async(
        &d.0,
        &with(
            &store_args,
            &["runs", "resume", &run, "--take-over", "--format", "json"],
        ),
    )
    .await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let shown: Json = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(shown["result"], "SUCCESS");
    let nodes: Vec<&str> = shown["nodeRuns"]
        .as_array()
        .expect("nodeRuns")
        .iter()
        .map(|n| n["node"]["identifier"].as_str().expect("node"))
        .collect();
    assert_eq!(nodes, ["trigger", "a", "b", "c"]);

    let seen = seen.lock().expect("lock").clone();
    let count = |p: &str| seen.iter().filter(|(q, _)| q == p).count();
    assert_eq!(count("/a"), 1, "{seen:?}");
    assert_eq!(count("/c"), 1, "{seen:?}");
    // `b` was in flight: re-sent once, with the same Idempotency-Key.
    let keys: Vec<&String> = seen
        .iter()
        .filter(|(p, _)| p == "/slow")
        .map(|(_, k)| k)
        .collect();
    assert_eq!(keys.len(), 2, "{seen:?}");
    assert_eq!(keys[0], keys[1]);
    assert_eq!(keys[0], &format!("{run}:b"));

    // The store never holds the secret, though `a` sent it.
    let o = wflow_async(&d.0, &with(&store_args, &["runs", "logs", &run])).await;
    assert!(!text(&o).contains(SECRET));
    if store.is_none() {
        for entry in std::fs::read_dir(d.0.join(".wflow")).expect("store dir") {
            let bytes = std::fs::read(entry.expect("entry").path()).expect("read");
            assert!(!String::from_utf8_lossy(&bytes).contains(SECRET));
        }
    } else {
        assert!(
            !d.0.join(".wflow").exists(),
            "no SQLite file beside a postgres store"
        );
    }
}

#[test]
fn a_bad_postgres_store_is_named_without_its_password() {
    let d = dir("badpg");
    // Port 1 on loopback refuses connections.
    let url = "postgres://wflow:hunter2@127.0.0.1:1/wflow";
    let o = wflow(&d.0, &["runs", "list", "--store", url]);
    let t = text(&o);
    assert_ne!(o.status.code(), Some(0), "{t}");
    assert!(
        t.contains("cannot connect to the PostgreSQL store postgres://wflow:***@127.0.0.1:1/wflow"),
        "{t}"
    );
    assert!(!t.contains("hunter2"), "{t}");
    let o = wflow(
        &d.0,
        &[
            "runs",
            "list",
            "--store",
            "postgres://wflow@127.0.0.1:x/wflow",
        ],
    );
    let t = text(&o);
    assert!(t.contains("not a valid PostgreSQL URL"), "{t}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approvals_through_the_command_line() {
    let (base, _seen) = server().await;
    let d = dir("approve");
    write(
        &d,
        "bp.json",
        r#"[{"identifier": "service", "title": "Service", "schema": {"properties": {"approvedBy": {"type": "string"}}}, "relations": {}}]"#,
    );
    write(
        &d,
        "w.wflow",
        &format!(
            r#"workflow approve "Approve" {{
  form trigger "T" {{ input service: string "Service" }}
  approval ok "OK?" {{
    button approve "Approve" PRIMARY {{ needs 1 }}
    button decline "Decline" DANGER {{ needs 2 }}
    responders {{ users ["alice@example.com"]; teams ["platform"] }}
  }}
  webhook notify "Notify" {{ url "{base}/notify" }}
  upsert rec "Record" {{
    blueprint service
    entity {{ identifier "{{{{ .outputs.trigger.service }}}}"; properties {{ approvedBy: "{{{{ .outputs.ok.responses[-1].submitterInfo.submittedBy }}}}" }} }}
  }}
  flow {{ trigger -> ok; ok.approve -> notify -> rec }}
}}"#
        ),
    );
    let o = wflow_async(&d.0, &["catalog", "load", "bp.json"]).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let o = wflow_async(
        &d.0,
        &["exec", "w.wflow", "-i", "service=api", "--format", "json"],
    )
    .await;
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    let run: Json = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(run["status"], "IN_PROGRESS");
    assert_eq!(run["result"], Json::Null);
    let id = run["identifier"].as_str().expect("id").to_string();

    let o = wflow_async(
        &d.0,
        &[
            "runs",
            "respond",
            &id,
            "ok",
            "--button",
            "approve",
            "--as",
            "eve@example.com",
            "--teams",
            "web,ops",
        ],
    )
    .await;
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains(
            "`eve@example.com` (roles: none; teams: web, ops) may not respond to node `ok`; its \
             responders are users alice@example.com; teams platform"
        ),
        "{}",
        text(&o)
    );
    // A member of the team may respond; `decline` needs two, so the run still waits.
    let o = wflow_async(
        &d.0,
        &[
            "runs",
            "respond",
            &id,
            "ok",
            "--button",
            "decline",
            "--as",
            "eve@example.com",
            "--teams",
            "platform",
        ],
    )
    .await;
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(
        text(&o).contains("recorded: `decline` has 1 of 2 responses"),
        "{}",
        text(&o)
    );

    let o = wflow_async(
        &d.0,
        &[
            "runs",
            "respond",
            &id,
            "ok",
            "--button",
            "approve",
            "--as",
            "alice@example.com",
        ],
    )
    .await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let o = wflow_async(&d.0, &["catalog", "show", "service", "api"]).await;
    let entity: Json = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(entity["properties"]["approvedBy"], "alice@example.com");

    let o = wflow_async(&d.0, &["runs", "show", &id]).await;
    let t = text(&o);
    assert!(t.contains("COMPLETED SUCCESS"), "{t}");
    let o = wflow_async(&d.0, &["runs", "logs", &id]).await;
    assert!(
        text(&o).contains("alice@example.com responded `approve`"),
        "{}",
        text(&o)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_conditions_decide_whether_anything_runs() {
    let (base, seen) = server().await;
    let d = dir("event");
    write(
        &d,
        "e.wflow",
        &format!(
            r#"workflow on-critical "On critical" {{
  event trigger "Service updated" {{
    on ENTITY_UPDATED service
    when `.diff.after.properties.tier == "critical"`
    when `.diff.after.properties.status == "down"`
    combinator or
  }}
  webhook notify "Notify" {{ url "{base}/notify" }}
  flow {{ trigger -> notify }}
}}"#
        ),
    );
    let event = |tier: &str, status: &str| {
        json!({
            "action": "UPDATE",
            "diff": {
                "before": {"identifier": "api", "properties": {}},
                "after": {"identifier": "api", "properties": {"tier": tier, "status": status}},
            },
            "context": {"blueprintIdentifier": "service", "entityIdentifier": "api"},
        })
        .to_string()
    };
    write(&d, "quiet.json", &event("low", "up"));
    write(&d, "loud.json", &event("low", "down"));
    let o = wflow_async(&d.0, &["exec", "e.wflow", "--event", "quiet.json"]).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        text(&o).contains(
            "the event does not match the condition of trigger `trigger`; nothing was run"
        ),
        "{}",
        text(&o)
    );
    let o = wflow_async(&d.0, &["runs", "list", "--format", "json"]).await;
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "[]");
    assert!(seen.lock().expect("lock").is_empty());

    let o = wflow_async(&d.0, &["exec", "e.wflow", "--event", "loud.json"]).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("SUCCESS"), "{}", text(&o));
    assert_eq!(seen.lock().expect("lock").len(), 1);
}

/// An OpenAI-compatible API that answers every completion with `hello from <model>`.
async fn ai_server() -> String {
    let app = axum::Router::new().route(
        "/v1/chat/completions",
        axum::routing::post(|body: Bytes| async move {
            let req: Json = serde_json::from_slice(&body).unwrap_or(Json::Null);
            let model = req["model"].as_str().unwrap_or("?").to_string();
            json!({"id": "cmpl-1", "choices": [{"message": {"role": "assistant",
                    "content": format!("hello from {model}")}}]})
            .to_string()
        }),
    );
    format!("{}/v1", on_loopback(app).await)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wflow_toml_configures_services_and_the_environment_overrides_it() {
    let base = ai_server().await;
    let d = dir("config");
    write(
        &d,
        "ai.wflow",
        r#"workflow ask "Ask" {
  form trigger "T" { }
  ai answer "Answer" { prompt "Say hello" }
  flow { trigger -> answer }
}"#,
    );
    let show = |o: &Output| -> Json {
        let run: Json = serde_json::from_slice(&o.stdout).unwrap_or(Json::Null);
        run["variables"]["outputs"]["answer"].clone()
    };
    // Nothing configured: the preflight refuses the run and says how to configure it.
    let o = wflow_async(&d.0, &["exec", "ai.wflow", "--format", "json"]).await;
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("service-not-configured") && text(&o).contains("[ai] base_url"),
        "{}",
        text(&o)
    );

    write(
        &d,
        "wflow.toml",
        &format!("[ai]\nbase_url = \"{base}\"\nmodel = \"from-file\"\n"),
    );
    let o = wflow_async(&d.0, &["exec", "ai.wflow", "--format", "json"]).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(
        show(&o),
        json!({"response": "hello from from-file", "invocationIdentifier": "cmpl-1"})
    );

    let o = tokio::task::spawn_blocking({
        let cwd = d.0.clone();
        move || {
            Command::new(BIN)
                .args(["exec", "ai.wflow", "--format", "json"])
                .current_dir(cwd)
                .env("WFLOW_AI_MODEL", "from-env")
                .env_remove("WFLOW_STORE")
                .output()
                .expect("run")
        }
    })
    .await
    .expect("join");
    assert_eq!(show(&o)["response"], "hello from from-env", "{}", text(&o));

    write(&d, "bad.toml", "[kafka]\nbrokers = \"127.0.0.1:1\"\n");
    let o = wflow_async(&d.0, &["exec", "ai.wflow", "--config", "bad.toml"]).await;
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("kafka.brokers is set but kafka.topic is not"),
        "{}",
        text(&o)
    );
}

/// `wflow graph --run` colours each node by what a run of `wflow exec` did, while it waits for
/// an approval and once it has ended.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graph_colours_the_nodes_of_a_run() {
    let (base, _seen) = server().await;
    let d = dir("graph");
    write(
        &d,
        "w.wflow",
        &format!(
            r#"workflow g "G" {{
  form trigger "T" {{ input env: string "Env" {{ enum ["staging", "production"] }} }}
  condition env "Env?" {{
    outlet prod "Production" when `.outputs.trigger.env == "production"`
  }}
  approval ok "OK?" {{ button approve "Ship it" PRIMARY {{ needs 1 }}; responders {{ users ["alice@example.com"] }} }}
  webhook ship "Ship" {{ url "{base}/ship" }}
  webhook stage "Stage" {{ url "{base}/stage" }}
  flow {{ trigger -> env; env.prod -> ok; ok.approve -> ship; env.fallback -> stage }}
}}"#
        ),
    );
    let o = wflow_async(
        &d.0,
        &[
            "exec",
            "w.wflow",
            "-i",
            "env=production",
            "--format",
            "json",
        ],
    )
    .await;
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    let run: Json = serde_json::from_slice(&o.stdout).expect("json");
    let id = run["identifier"].as_str().expect("id").to_string();
    let status = |svg: &str, node: &str| {
        let at = svg
            .find(&format!(" data-node=\"{node}\""))
            .unwrap_or_else(|| panic!("node {node} is not drawn: {svg}"));
        let class = &svg[svg[..at].rfind("class=\"").expect("class")..at];
        class
            .split([' ', '"'])
            .find_map(|c| c.strip_prefix("status-"))
            .expect("status class")
            .to_string()
    };
    let taken = |svg: &str, from: &str, to: &str| {
        svg.contains(&format!(
            "taken\" data-source=\"{from}\" data-target=\"{to}\""
        ))
    };

    let o = wflow_async(&d.0, &["graph", "w.wflow", "--run", &id]).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let svg = String::from_utf8_lossy(&o.stdout).to_string();
    assert_eq!(status(&svg, "trigger"), "succeeded");
    assert_eq!(status(&svg, "env"), "succeeded");
    assert_eq!(status(&svg, "ok"), "waiting");
    // Not reached yet: no status.
    assert_eq!(status(&svg, "ship"), "none");
    assert_eq!(status(&svg, "stage"), "none");
    assert!(taken(&svg, "env", "ok"), "{svg}");
    assert!(!taken(&svg, "env", "stage"), "{svg}");

    let o = wflow_async(
        &d.0,
        &[
            "runs",
            "respond",
            &id,
            "ok",
            "--button",
            "approve",
            "--as",
            "alice@example.com",
        ],
    )
    .await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let o = wflow_async(&d.0, &["graph", "w.wflow", "--run", &id, "-o", "run.svg"]).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(o.stdout.is_empty());
    let svg = std::fs::read_to_string(d.0.join("run.svg")).expect("run.svg");
    assert_eq!(status(&svg, "ship"), "succeeded");
    assert_eq!(status(&svg, "stage"), "skipped");
    assert!(taken(&svg, "ok", "ship"), "{svg}");
    assert!(svg.contains("class=\"legend\""));

    let o = wflow_async(
        &d.0,
        &["graph", "w.wflow", "--run", &id, "--format", "mermaid"],
    )
    .await;
    let mermaid = String::from_utf8_lossy(&o.stdout);
    assert!(
        mermaid.contains("  class n0,n1,n2,n3 succeeded\n"),
        "{mermaid}"
    );
    assert!(mermaid.contains("  class n4 skipped\n"), "{mermaid}");

    // A failed node; the node after it is skipped.
    write(
        &d,
        "f.wflow",
        r#"workflow f "F" {
  form trigger "T" { input x?: string "X" }
  webhook boom "Boom" { url "http://127.0.0.1:9/closed" }
  webhook after "After" { url "http://127.0.0.1:9/never" }
  flow { trigger -> boom -> after }
}"#,
    );
    let o = wflow_async(&d.0, &["exec", "f.wflow", "--format", "json"]).await;
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let run: Json = serde_json::from_slice(&o.stdout).expect("json");
    let failed = run["identifier"].as_str().expect("id").to_string();
    let o = wflow_async(&d.0, &["graph", "f.wflow", "--run", &failed]).await;
    let svg = String::from_utf8_lossy(&o.stdout).to_string();
    assert_eq!(status(&svg, "trigger"), "succeeded");
    assert_eq!(status(&svg, "boom"), "failed");
    assert_eq!(status(&svg, "after"), "skipped");
    assert!(taken(&svg, "trigger", "boom"), "{svg}");
    assert!(!taken(&svg, "boom", "after"), "{svg}");

    // A run that does not exist, a workflow the file does not hold, a file with errors.
    let o = wflow_async(&d.0, &["graph", "w.wflow", "--run", "wfr_nope"]).await;
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("no run `wfr_nope`"), "{}", text(&o));
    let o = wflow_async(&d.0, &["graph", "w.wflow", "--run", &id, "--workflow", "h"]).await;
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("is of workflow `g`, not `h`"),
        "{}",
        text(&o)
    );
    write(&d, "bad.wflow", "workflow b { flow { trigger -> x } }");
    let o = wflow_async(&d.0, &["graph", "bad.wflow"]).await;
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(o.stdout.is_empty());
    assert!(text(&o).contains("unknown-node"), "{}", text(&o));
    assert!(
        text(&o).contains("bad.wflow has errors; nothing was drawn"),
        "{}",
        text(&o)
    );
}
