//! `wflow serve` as a process: a broken workflow is refused with its diagnostics while the
//! others serve over HTTP on loopback, changed files are reloaded (runs keep the version they
//! started with), and SIGTERM stops it cleanly.

mod support;

use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};

use support::{Reaper, on_loopback, run_to_end, start, start_on, start_with_env, wait_served};

#[test]
fn serves_the_good_workflows_refuses_the_broken_and_stops_on_sigterm() {
    let dir = std::env::temp_dir().join(format!("wflow-serve-cli-{}", std::process::id()));
    let flows = dir.join("workflows");
    std::fs::create_dir_all(&flows).expect("dir");
    std::fs::write(
        flows.join("good.wflow"),
        r#"workflow good "Good" {
  form trigger "Go" { input name: string "Name" }
  condition c "C" { outlet y "Y" when `true` }
  flow { trigger -> c }
}"#,
    )
    .expect("write");
    std::fs::write(
        flows.join("broken.wflow"),
        "workflow broken \"Broken\" {\n  form trigger \"Go\" { }\n  flow { trigger -> nowhere }\n}\n",
    )
    .expect("write");
    let serving = start(&dir, &flows);
    let (addr, seen) = (serving.addr.clone(), serving.log());
    assert!(seen.contains("serving 1 workflow on"), "{seen}");
    assert!(seen.contains("nowhere"), "diagnostics are shown:\n{seen}");
    assert!(seen.contains("refused"), "{seen}");

    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let http = reqwest::Client::new();
        let list: serde_json::Value = http
            .get(format!("{addr}/v1/workflows"))
            .send()
            .await
            .expect("list")
            .json()
            .await
            .expect("json");
        let ids: Vec<&str> = list["workflows"]
            .as_array()
            .expect("workflows")
            .iter()
            .filter_map(|w| w["identifier"].as_str())
            .collect();
        assert_eq!(ids, ["good"]);
        let resp = http
            .post(format!("{addr}/v1/workflows/good/runs"))
            .json(&serde_json::json!({"inputs": {"name": "x"}}))
            .send()
            .await
            .expect("start");
        assert_eq!(resp.status().as_u16(), 201);
    });

    let (ok, rest) = serving.stop();
    assert!(ok, "{rest}");
    assert!(rest.contains("stopped"), "{rest}");
    let _ = std::fs::remove_dir_all(&dir);
}

fn approval_flow(last: &str) -> String {
    format!(
        r#"workflow flow "Flow" {{
  form trigger "Go" {{ }}
  approval gate "Gate" {{
    button ok "OK" PRIMARY {{ needs 1 }}
  }}
  condition {last} "Last" {{ outlet y "Y" when `true` }}
  flow {{
    trigger -> gate
    gate.ok -> {last}
  }}
}}"#
    )
}

#[test]
fn reloads_changed_files_and_runs_keep_their_version() {
    let dir = std::env::temp_dir().join(format!("wflow-serve-reload-{}", std::process::id()));
    let flows = dir.join("workflows");
    std::fs::create_dir_all(&flows).expect("dir");
    let file = flows.join("flow.wflow");
    std::fs::write(&file, approval_flow("old-step")).expect("write");
    let serving = start(&dir, &flows);
    let addr = serving.addr.clone();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let http = reqwest::Client::new();
    let get = |path: String| {
        let http = http.clone();
        async move {
            let resp = http.get(path).send().await.expect("get");
            resp.json::<serde_json::Value>().await.expect("json")
        }
    };
    // Waits (up to 10 s) until the served workflow names `node`.
    let serves = |node: &'static str| {
        let get = &get;
        let addr = &addr;
        async move {
            for _ in 0..100 {
                let wf = get(format!("{addr}/v1/workflows/flow")).await;
                if wf.to_string().contains(node) {
                    return;
                }
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            panic!("the server never served `{node}`");
        }
    };
    rt.block_on(async {
        serves("old-step").await;
        let run: serde_json::Value = http
            .post(format!("{addr}/v1/workflows/flow/runs"))
            .json(&serde_json::json!({}))
            .send()
            .await
            .expect("start")
            .json()
            .await
            .expect("json");
        let id = run["run"]["identifier"].as_str().expect("id").to_string();
        // Wait until the run waits at the approval.
        for _ in 0..100 {
            let run = get(format!("{addr}/v1/workflows/runs/{id}")).await;
            if run.to_string().contains("\"gate\"") {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }

        // The new version serves new runs...
        std::fs::write(&file, approval_flow("new-step")).expect("write");
        serves("new-step").await;
        // ...while the run started before finishes on the old version's nodes.
        let done: serde_json::Value = http
            .post(format!(
                "{addr}/v1/workflows/runs/{id}/nodes/gate/responses"
            ))
            .json(&serde_json::json!({"button": "ok"}))
            .send()
            .await
            .expect("respond")
            .json()
            .await
            .expect("json");
        assert_eq!(done["run"]["result"], "SUCCESS", "{done}");
        let nodes: Vec<&str> = done["run"]["nodeRuns"]
            .as_array()
            .expect("node runs")
            .iter()
            .filter_map(|n| n["node"]["identifier"].as_str())
            .collect();
        assert_eq!(nodes, ["trigger", "gate", "old-step"], "{done}");

        // A broken edit is refused with its diagnostics; the last good version keeps serving.
        std::fs::write(
            &file,
            approval_flow("new-step").replace("gate.ok", "gate.nope"),
        )
        .expect("write");
        for _ in 0..100 {
            if serving.log().contains("keeps serving") {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        let log = serving.log();
        assert!(log.contains("nope"), "diagnostics are shown:\n{log}");
        assert!(log.contains("its previous version keeps serving"), "{log}");
        serves("new-step").await;
    });
    let (ok, log) = serving.stop();
    assert!(ok, "{log}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Idempotency-Keys received by [`counting_server`], in arrival order.
type Keys = Arc<Mutex<Vec<String>>>;

/// A loopback webhook receiver that records each request's Idempotency-Key and answers after
/// 200 ms (so that runs are in flight when a process is killed).
async fn counting_server() -> (String, Keys) {
    let keys: Keys = Arc::default();
    let seen = Arc::clone(&keys);
    let app = axum::Router::new().fallback(move |headers: axum::http::HeaderMap| {
        let seen = Arc::clone(&seen);
        async move {
            let key = headers
                .get("idempotency-key")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string();
            seen.lock().expect("keys").push(key);
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            "{}"
        }
    });
    (on_loopback(app).await, keys)
}

/// `wflow exec` on the store a `wflow serve` uses: the run is leased to the command, so the
/// server (which claims due runs every 500 ms) never drives it too: each webhook is sent once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_beside_serve_on_one_store_sends_each_webhook_once() {
    let (hook, keys) = counting_server().await;
    let dir = std::env::temp_dir().join(format!("wflow-serve-exec-{}", std::process::id()));
    let flows = dir.join("workflows");
    std::fs::create_dir_all(&flows).expect("dir");
    let file = flows.join("chain.wflow");
    std::fs::write(
        &file,
        format!(
            r#"workflow chain "Chain" {{
  form trigger "Go" {{ }}
  webhook a "A" {{ url "{hook}/a" }}
  webhook b "B" {{ url "{hook}/b" }}
  webhook c "C" {{ url "{hook}/c" }}
  webhook d "D" {{ url "{hook}/d" }}
  webhook e "E" {{ url "{hook}/e" }}
  flow {{ trigger -> a -> b -> c -> d -> e }}
}}"#
        ),
    )
    .expect("write");
    let store = dir.join("wflow.db");
    let serving = start_on(&store, &flows, &[]);
    let exec = Command::new(env!("CARGO_BIN_EXE_wflow"))
        .arg("exec")
        .arg(&file)
        .arg("--store")
        .arg(&store)
        .env("NO_COLOR", "1")
        .output();
    let out = tokio::task::spawn_blocking(move || exec)
        .await
        .expect("join")
        .expect("exec");
    let log = serving.log();
    let (ok, _) = serving.stop();
    assert!(ok, "{log}");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let keys = keys.lock().expect("keys").clone();
    let distinct: std::collections::BTreeSet<&String> = keys.iter().collect();
    assert_eq!(keys.len(), 5, "{keys:?}\n{log}");
    assert_eq!(distinct.len(), 5, "{keys:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Two `serve` processes on one PostgreSQL database (a fresh one on the `WFLOW_IT_PG` server)
/// run 200 runs while one is killed mid-way: the survivor takes over the dead one's runs once
/// their leases expire, and every node's effect happens once per run (a webhook in flight at
/// the kill may be re-sent, with the same Idempotency-Key).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_on_postgres_run_every_node_once_when_one_is_killed() {
    let Some(database) = support::Database::fresh("wflow_cluster").await else {
        return;
    };
    let url = database.url.clone();
    const RUNS: usize = 200;

    let (hook, keys) = counting_server().await;
    let dir = std::env::temp_dir().join(format!("wflow-serve-cluster-{}", std::process::id()));
    let flows = dir.join("workflows");
    std::fs::create_dir_all(&flows).expect("dir");
    std::fs::write(
        flows.join("deploy.wflow"),
        format!(
            r#"workflow deploy "Deploy" {{
  form trigger "Go" {{ input n: string "N" }}
  webhook a "A" {{ url "{hook}/a" }}
  upsert b "B" {{
    blueprint service
    entity {{ identifier "svc-{{{{ .outputs.trigger.n }}}}"; properties {{ version: "{{{{ .outputs.trigger.n }}}}" }} }}
  }}
  flow {{ trigger -> a -> b }}
}}"#
        ),
    )
    .expect("write");
    let store = Path::new(&url);
    // Short enough for the takeover to come soon, long enough that a loaded machine still
    // renews leases in time.
    let lease = ["--lease-seconds", "6"];
    let mut doomed = start_on(store, &flows, &lease);
    let survivor = start_on(store, &flows, &lease);
    let _reaper = Reaper(vec![doomed.child.id(), survivor.child.id()]);
    let http = reqwest::Client::new();
    let blueprint = serde_json::json!({"identifier": "service", "title": "Service",
        "schema": {"properties": {"version": {"type": "string"}}}});
    let resp = http
        .post(format!("{}/v1/blueprints", survivor.addr))
        .json(&blueprint)
        .send()
        .await
        .expect("blueprint");
    assert!(resp.status().is_success(), "{:?}", resp.text().await);
    // Each process admits the workflow once its preflight sees the blueprint.
    for serving in [&doomed, &survivor] {
        assert!(
            wait_served(&http, &serving.addr, "deploy").await,
            "{}",
            serving.log()
        );
    }

    // Start the runs on both processes, alternating.
    let starts = (0..RUNS).map(|i| {
        let addr = if i % 2 == 0 {
            doomed.addr.clone()
        } else {
            survivor.addr.clone()
        };
        let http = http.clone();
        async move {
            let resp = http
                .post(format!("{addr}/v1/workflows/deploy/runs"))
                .json(&serde_json::json!({"inputs": {"n": i.to_string()}}))
                .send()
                .await
                .expect("start");
            let status = resp.status().as_u16();
            let run: serde_json::Value = resp.json().await.expect("json");
            assert_eq!(status, 201, "{run}");
            run["run"]["identifier"].as_str().expect("id").to_string()
        }
    });
    let ids: Vec<String> = futures_join_all(starts).await;

    // Kill -9 one process while webhooks are in flight.
    let db = sqlx::PgPool::connect(&url).await.expect("connect");
    let t0 = std::time::Instant::now();
    while keys.lock().expect("keys").len() < RUNS / 4 {
        assert!(
            t0.elapsed() < std::time::Duration::from_secs(60),
            "no webhooks"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let done_before: Vec<String> =
        sqlx::query_scalar("SELECT run_id FROM node_runs WHERE node = 'a' AND result = 'SUCCESS'")
            .fetch_all(&db)
            .await
            .expect("done");
    doomed.child.kill().expect("kill -9");
    doomed.child.wait().expect("wait");
    assert!(
        done_before.len() < RUNS,
        "the kill came too late to test a takeover"
    );
    // The dead process's unfinished runs (it started the even ones, leased to itself): only
    // a takeover can finish them.
    let started_by_doomed: Vec<String> = ids.iter().step_by(2).cloned().collect();
    let orphaned: Vec<String> = sqlx::query_scalar(
        "SELECT id FROM runs WHERE status <> 'COMPLETED' AND lease_owner IS NOT NULL \
         AND id = ANY($1)",
    )
    .bind(&started_by_doomed)
    .fetch_all(&db)
    .await
    .expect("orphaned runs");
    assert!(
        !orphaned.is_empty(),
        "the killed process held no unfinished run: nothing to take over"
    );

    // The survivor finishes every run.
    let t0 = std::time::Instant::now();
    loop {
        let open: i64 = sqlx::query_scalar("SELECT count(*) FROM runs WHERE status <> 'COMPLETED'")
            .fetch_one(&db)
            .await
            .expect("count");
        if open == 0 {
            break;
        }
        assert!(
            t0.elapsed() < std::time::Duration::from_secs(120),
            "{open} runs never finished:\n{}",
            survivor.log()
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let mut taken_over = 0;
    for id in &ids {
        let run: serde_json::Value = http
            .get(format!("{}/v1/workflows/runs/{id}", survivor.addr))
            .send()
            .await
            .expect("get")
            .json()
            .await
            .expect("json");
        assert_eq!(run["run"]["result"], "SUCCESS", "{run}");
        if orphaned.contains(id) {
            taken_over += 1;
        }
        let nodes: Vec<&str> = run["run"]["nodeRuns"]
            .as_array()
            .expect("node runs")
            .iter()
            .filter_map(|n| n["node"]["identifier"].as_str())
            .collect();
        assert_eq!(nodes, ["trigger", "a", "b"], "{run}");
    }

    assert_eq!(taken_over, orphaned.len());
    eprintln!(
        "{} of the killed process's runs were taken over",
        orphaned.len()
    );
    let keys = keys.lock().expect("keys").clone();
    let mut sends = std::collections::BTreeMap::<&str, usize>::new();
    for k in &keys {
        *sends.entry(k.as_str()).or_default() += 1;
    }
    let expected: std::collections::BTreeSet<String> =
        ids.iter().map(|id| format!("{id}:a")).collect();
    assert_eq!(
        sends
            .keys()
            .map(|k| k.to_string())
            .collect::<std::collections::BTreeSet<_>>(),
        expected
    );
    for id in &done_before {
        assert_eq!(
            sends[format!("{id}:a").as_str()],
            1,
            "{id} was done before the kill"
        );
    }
    // Only webhooks in flight at the kill were re-sent, once.
    let resent = sends.values().filter(|&&n| n > 1).count();
    assert!(sends.values().all(|&n| n <= 2), "{sends:?}");
    assert!(resent <= orphaned.len(), "{sends:?}");

    // Every upsert applied once: one entity per run, one node run per node.
    let entities: i64 = sqlx::query_scalar("SELECT count(*) FROM entities")
        .fetch_one(&db)
        .await
        .expect("entities");
    assert_eq!(entities, RUNS as i64);
    let node_runs: i64 = sqlx::query_scalar("SELECT count(*) FROM node_runs")
        .fetch_one(&db)
        .await
        .expect("node runs");
    assert_eq!(node_runs, 3 * RUNS as i64);
    let log = survivor.log();
    let (ok, _) = survivor.stop();
    assert!(ok, "{log}");
    db.close().await;
    database.drop().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// Awaits every future of `futures` concurrently, in order.
async fn futures_join_all<T: Send + 'static>(
    futures: impl Iterator<Item = impl std::future::Future<Output = T> + Send + 'static>,
) -> Vec<T> {
    let tasks: Vec<_> = futures.map(tokio::spawn).collect();
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.expect("task"));
    }
    out
}

/// A secret with `"` and `\` (escaped in JSON) and `/`, `+` (encoded by `@uri`).
const ODD_SECRET: &str = r#"tok"en\with/odd+Tail9Q"#;

/// A loopback server that echoes each request (headers, URI and body text) as JSON: 200 at
/// `/echo`, 500 at `/fail`. Returns its base URL and the `Authorization` headers it saw.
async fn echo_server() -> (String, Arc<Mutex<Vec<String>>>) {
    use axum::http::{HeaderMap, StatusCode, Uri};
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let log = Arc::clone(&seen);
    let app = axum::Router::new().fallback(
        move |uri: Uri, headers: HeaderMap, body: axum::body::Bytes| {
            let log = Arc::clone(&log);
            async move {
                let shown: serde_json::Map<String, serde_json::Value> = headers
                    .iter()
                    .map(|(k, v)| (k.to_string(), String::from_utf8_lossy(v.as_bytes()).into()))
                    .collect();
                if let Some(a) = headers.get("authorization") {
                    log.lock()
                        .expect("log")
                        .push(String::from_utf8_lossy(a.as_bytes()).into());
                }
                let echo = serde_json::json!({
                    "uri": uri.to_string(),
                    "headers": shown,
                    "body": String::from_utf8_lossy(&body),
                });
                let status = if uri.path() == "/fail" {
                    StatusCode::INTERNAL_SERVER_ERROR
                } else {
                    StatusCode::OK
                };
                (status, echo.to_string())
            }
        },
    );
    (on_loopback(app).await, seen)
}

/// Runs `wflow runs ARGS --store STORE`; its stdout and stderr.
fn runs_cli(store: &Path, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_wflow"))
        .arg("runs")
        .args(args)
        .arg("--store")
        .arg(store)
        .env("NO_COLOR", "1")
        .output()
        .expect("wflow runs");
    assert!(out.status.success(), "wflow runs {args:?}: {out:?}");
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn secrets_and_values_computed_from_them_never_reach_the_store_logs_or_answers() {
    use base64::Engine as _;
    let dir = std::env::temp_dir().join(format!("wflow-serve-secret-{}", std::process::id()));
    let flows = dir.join("workflows");
    std::fs::create_dir_all(&flows).expect("dir");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let (echo, seen) = rt.block_on(echo_server());
    std::fs::write(
        flows.join("leak.wflow"),
        format!(
            r#"workflow leak "Leak" {{
  form trigger "Go" {{ }}
  webhook call "Call" {{
    url "{echo}/echo?k={{{{ .secrets.TOKEN | @uri }}}}"
    headers {{
      Authorization: "Basic {{{{ ("u:" + .secrets.TOKEN) | @base64 }}}}"
      X-Up: "{{{{ .secrets.TOKEN | ascii_upcase }}}}"
    }}
    body {{ raw: "{{{{ .secrets.TOKEN }}}}", uri: "{{{{ .secrets.TOKEN | @uri }}}}" }}
    verbose true
  }}
  webhook fail "Fail" {{
    url "{echo}/fail"
    headers {{ X-Up: "{{{{ .secrets.TOKEN | ascii_upcase }}}}" }}
    body {{ raw: "{{{{ .secrets.TOKEN }}}}" }}
  }}
  flow {{ trigger -> call -> fail }}
}}"#
        ),
    )
    .expect("write");
    let store = dir.join("wflow.db");
    let serving = start_with_env(&store, &flows, &[], &[("WFLOW_SECRET_TOKEN", ODD_SECRET)]);
    let addr = serving.addr.clone();
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("u:{ODD_SECRET}"));
    // The secret's tail (raw, JSON-escaped and `@uri` forms all end with it), upper-cased, and
    // the Basic credentials whole and in part.
    let needles = [
        "Tail9Q".to_string(),
        "TAIL9Q".to_string(),
        basic.clone(),
        basic[basic.len() - 12..].to_string(),
    ];
    let mut answers = String::new();
    let run = rt.block_on(async {
        let http = reqwest::Client::new();
        let resp = http
            .post(format!("{addr}/v1/workflows/leak/runs"))
            .json(&serde_json::json!({}))
            .send()
            .await
            .expect("start");
        assert_eq!(resp.status().as_u16(), 201);
        let started: serde_json::Value = resp.json().await.expect("json");
        answers.push_str(&started.to_string());
        let id = started["run"]["identifier"]
            .as_str()
            .expect("id")
            .to_string();
        let mut run = serde_json::Value::Null;
        for _ in 0..200 {
            run = http
                .get(format!("{addr}/v1/workflows/runs/{id}"))
                .send()
                .await
                .expect("get")
                .json()
                .await
                .expect("json");
            if run["run"]["status"] == "COMPLETED" {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        answers.push_str(&run.to_string());
        for path in ["/v1/workflows/runs", "/v1/workflows/leak"] {
            let text = http
                .get(format!("{addr}{path}"))
                .send()
                .await
                .expect("get")
                .text()
                .await
                .expect("text");
            answers.push_str(&text);
        }
        run["run"].clone()
    });
    // The secret did go out, and came back echoed; the run failed at `fail` as intended.
    assert_eq!(
        seen.lock().expect("seen").first(),
        Some(&format!("Basic {basic}"))
    );
    assert_eq!(run["result"], "FAILED", "{run}");
    assert!(answers.contains("[REDACTED]"), "{answers}");
    let id = run["identifier"].as_str().expect("id");
    let mut files = String::new();
    for f in ["wflow.db", "wflow.db-wal"] {
        let bytes = std::fs::read(dir.join(f)).unwrap_or_default();
        files.push_str(&String::from_utf8_lossy(&bytes));
    }
    assert!(
        files.contains("[REDACTED]"),
        "the run is in the store files"
    );
    let shown =
        runs_cli(&store, &["show", id, "--format", "json"]) + &runs_cli(&store, &["show", id]);
    let logs = runs_cli(&store, &["logs", id]);
    assert!(logs.contains("[REDACTED]"), "{logs}");
    let (ok, serve_log) = serving.stop();
    assert!(ok, "{serve_log}");
    for (what, text) in [
        ("API answers", &answers),
        ("the SQLite db and WAL", &files),
        ("runs show", &shown),
        ("runs logs", &logs),
        ("serve logs", &serve_log),
    ] {
        for needle in &needles {
            assert!(
                !text.contains(needle.as_str()),
                "`{needle}` in {what}:\n{text}"
            );
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Requests received by [`recording_server`]: method, path and Authorization header.
type Requests = Arc<Mutex<Vec<(String, String, String)>>>;

/// A loopback server speaking enough of GitHub's REST shape for a dispatch (`GET /repos/..`
/// gives the default branch, a dispatch answers 204), and `/slow`, which answers after 5 s.
async fn recording_server() -> (String, Requests) {
    let requests: Requests = Arc::default();
    let seen = Arc::clone(&requests);
    let app = axum::Router::new().fallback(
        move |method: axum::http::Method, uri: axum::http::Uri, headers: axum::http::HeaderMap| {
            let seen = Arc::clone(&seen);
            async move {
                let auth = headers
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_string();
                let path = uri.path().to_string();
                seen.lock()
                    .expect("requests")
                    .push((method.to_string(), path.clone(), auth));
                if path == "/slow" {
                    tokio::time::sleep(std::time::Duration::from_secs(5)).await;
                }
                if path.ends_with("/dispatches") {
                    (axum::http::StatusCode::NO_CONTENT, String::new())
                } else {
                    (
                        axum::http::StatusCode::OK,
                        r#"{"default_branch": "main"}"#.to_string(),
                    )
                }
            }
        },
    );
    (on_loopback(app).await, requests)
}

/// `wflow serve` reads `wflow.toml` like `wflow exec`: the GitHub API URL and the webhook
/// timeout it sets apply to the runs it serves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_applies_wflow_toml() {
    let (base, requests) = recording_server().await;
    let dir = std::env::temp_dir().join(format!("wflow-serve-toml-{}", std::process::id()));
    let flows = dir.join("workflows");
    std::fs::create_dir_all(&flows).expect("dir");
    std::fs::write(
        dir.join("wflow.toml"),
        format!("[github]\napi_url = \"{base}\"\n\n[webhook]\ntimeout_secs = 1\n"),
    )
    .expect("config");
    std::fs::write(
        flows.join("flows.wflow"),
        format!(
            r#"workflow dispatch "Dispatch" {{
  form trigger "Go" {{ input service: string "Service" }}
  github run "Run" {{
    installation "gh"
    org "acme"; repo "deploys"; workflow "deploy.yml"
    inputs {{ service: "{{{{ .outputs.trigger.service }}}}" }}
    report_status false
  }}
  flow {{ trigger -> run }}
}}

workflow slow "Slow" {{
  form trigger "Go" {{ }}
  webhook call "Call" {{ url "{base}/slow" }}
  flow {{ trigger -> call }}
}}
"#
        ),
    )
    .expect("workflows");
    let serving = start_with_env(
        &dir.join("wflow.db"),
        &flows,
        &[],
        &[("WFLOW_SECRET_GITHUB_TOKEN", "ghp-loopback")],
    );
    let addr = serving.addr.clone();
    assert!(serving.log().contains("wflow.toml"), "{}", serving.log());

    let done = run_to_end(&addr, "dispatch", serde_json::json!({"service": "api"})).await;
    assert_eq!(done["run"]["result"], "SUCCESS", "{done}");
    let dispatches: Vec<(String, String, String)> = requests
        .lock()
        .expect("requests")
        .iter()
        .filter(|(_, p, _)| p.ends_with("/dispatches"))
        .cloned()
        .collect();
    assert_eq!(
        dispatches,
        [(
            "POST".to_string(),
            "/repos/acme/deploys/actions/workflows/deploy.yml/dispatches".to_string(),
            "Bearer ghp-loopback".to_string()
        )]
    );

    let t0 = std::time::Instant::now();
    let done = run_to_end(&addr, "slow", serde_json::json!({})).await;
    assert_eq!(done["run"]["result"], "FAILED", "{done}");
    assert!(
        t0.elapsed() < std::time::Duration::from_secs(4),
        "the 1 s timeout of wflow.toml did not apply: {:?}",
        t0.elapsed()
    );
    let (ok, log) = serving.stop();
    assert!(ok, "{log}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A workflow whose environment is not ready is refused at load with every problem, the others
/// serve; it is served once its blueprint exists; a run whose blueprint was deleted since is
/// refused by the API with 422 before anything is sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_preflights_workflows_at_load_and_at_each_start() {
    let (base, requests) = recording_server().await;
    let dir = std::env::temp_dir().join(format!("wflow-serve-preflight-{}", std::process::id()));
    let flows = dir.join("workflows");
    std::fs::create_dir_all(&flows).expect("dir");
    std::fs::write(
        flows.join("release.wflow"),
        format!(
            r#"workflow release "Release" {{
  form trigger "Go" {{ input service: string "Service" }}
  webhook notify "Notify" {{ url "{base}/notify"; headers {{ Authorization: "{{{{ .secrets.API_KEY }}}}" }} }}
  kafka publish "Publish" {{ payload {{ service: "{{{{ .outputs.trigger.service }}}}" }} }}
  flow {{ trigger -> notify -> publish }}
}}

workflow record "Record" {{
  form trigger "Go" {{ input service: string "Service" }}
  webhook notify "Notify" {{ url "{base}/notify" }}
  upsert save "Save" {{
    blueprint service
    entity {{ identifier "{{{{ .outputs.trigger.service }}}}" }}
  }}
  flow {{ trigger -> notify -> save }}
}}
"#
        ),
    )
    .expect("workflows");
    let serving = start_on(&dir.join("wflow.db"), &flows, &[]);
    let addr = serving.addr.clone();
    let log = serving.log();
    assert!(log.contains("serving 0 workflows"), "{log}");
    for needle in [
        "missing-secret",
        "WFLOW_SECRET_API_KEY",
        "service-not-configured",
        "refused: workflow `release`",
        "missing-blueprint",
        "create the blueprint `service` first",
        "refused: workflow `record`",
    ] {
        assert!(log.contains(needle), "missing {needle:?} in\n{log}");
    }

    let http = reqwest::Client::new();
    let blueprint = serde_json::json!({"identifier": "service", "title": "Service", "schema": {"properties": {}}});
    let created = http
        .put(format!("{addr}/v1/blueprints/service"))
        .json(&blueprint)
        .send()
        .await
        .expect("put");
    assert!(created.status().is_success(), "{:?}", created.text().await);
    let served = wait_served(&http, &addr, "record").await;
    assert!(served, "record was not admitted:\n{}", serving.log());
    assert!(serving.log().contains("admitted: workflow `record`"));
    let deleted = http
        .delete(format!("{addr}/v1/blueprints/service"))
        .send()
        .await
        .expect("delete");
    assert!(deleted.status().is_success(), "{:?}", deleted.text().await);
    let refused = http
        .post(format!("{addr}/v1/workflows/record/runs"))
        .json(&serde_json::json!({"inputs": {"service": "api"}}))
        .send()
        .await
        .expect("start");
    assert_eq!(refused.status().as_u16(), 422);
    let body = refused.text().await.expect("body");
    assert!(
        body.contains("missing-blueprint") && body.contains("POST /v1/blueprints"),
        "{body}"
    );
    assert!(
        requests.lock().expect("requests").is_empty(),
        "a request went out"
    );
    let (ok, log) = serving.stop();
    assert!(ok, "{log}");
    let _ = std::fs::remove_dir_all(&dir);
}
