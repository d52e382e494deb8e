//! What the tests of `wflow serve` and the journeys share: a `wflow serve` process on loopback,
//! loopback servers, and cleanup.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, StatusCode, Uri};
use serde_json::Value as Json;

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_wflow");

/// A `wflow serve` process: its address and what it printed (read in the background).
pub struct Serving {
    pub child: Child,
    pub addr: String,
    log: Arc<Mutex<String>>,
    reader: JoinHandle<()>,
}

/// Starts `wflow serve` on `flows` with its SQLite store in `dir`.
pub fn start(dir: &Path, flows: &Path) -> Serving {
    start_on(&dir.join("wflow.db"), flows, &[])
}

/// Starts `wflow serve` on `flows` with `store` and `args`, and waits for its "serving" line.
pub fn start_on(store: &Path, flows: &Path, args: &[&str]) -> Serving {
    start_with_env(store, flows, args, &[])
}

/// As [`start_on`], with the environment variables `env` set.
pub fn start_with_env(store: &Path, flows: &Path, args: &[&str], env: &[(&str, &str)]) -> Serving {
    start_under(&[], store, flows, args, env)
}

/// As [`start_with_env`], run by `wrapper` (a program and its arguments, such as `strace`)
/// when it is not empty.
pub fn start_under(
    wrapper: &[&str],
    store: &Path,
    flows: &Path,
    args: &[&str],
    env: &[(&str, &str)],
) -> Serving {
    let bin = env!("CARGO_BIN_EXE_wflow");
    let mut command = match wrapper {
        [] => Command::new(bin),
        [program, rest @ ..] => {
            let mut c = Command::new(program);
            c.args(rest).arg(bin);
            c
        }
    };
    let mut child = command
        .args(["serve", "--listen", "127.0.0.1:0", "--store"])
        .arg(store)
        .args(args)
        .arg(flows)
        .envs(env.iter().copied())
        .env_remove("WFLOW_CONFIG")
        .env("NO_COLOR", "1")
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut stderr = BufReader::new(child.stderr.take().expect("stderr"));
    let log = Arc::new(Mutex::new(String::new()));
    let addr = loop {
        let mut line = String::new();
        if stderr.read_line(&mut line).expect("read") == 0 {
            panic!("wflow serve exited early:\n{}", log.lock().expect("log"));
        }
        log.lock().expect("log").push_str(&line);
        if let Some((_, rest)) = line.trim().split_once(" on http://") {
            break format!("http://{rest}");
        }
    };
    let sink = Arc::clone(&log);
    let reader = std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = stderr.read(&mut buf) {
            if n == 0 {
                break;
            }
            sink.lock()
                .expect("log")
                .push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    });
    Serving {
        child,
        addr,
        log,
        reader,
    }
}

impl Serving {
    pub fn log(&self) -> String {
        self.log.lock().expect("log").clone()
    }

    /// Sends SIGTERM; returns whether it exited successfully, and everything it printed.
    pub fn stop(mut self) -> (bool, String) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
        let exit = self.child.wait().expect("wait");
        let log = Arc::clone(&self.log);
        self.reader.join().expect("reader");
        let printed = log.lock().expect("log").clone();
        (exit.success(), printed)
    }
}

/// Kills (-9) the processes left when a test fails.
pub struct Reaper(pub Vec<u32>);

impl Drop for Reaper {
    fn drop(&mut self) {
        for pid in &self.0 {
            let _ = Command::new("kill")
                .args(["-9", &pid.to_string()])
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// Serves `app` on a free loopback port in the background; its base URL.
pub async fn on_loopback(app: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

/// Waits (up to 10 s) until the server at `addr` serves `workflow`; whether it does.
pub async fn wait_served(http: &reqwest::Client, addr: &str, workflow: &str) -> bool {
    for _ in 0..200 {
        let resp = http
            .get(format!("{addr}/v1/workflows/{workflow}"))
            .send()
            .await
            .expect("get");
        if resp.status().is_success() {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    false
}

/// A throwaway database on the PostgreSQL server of `WFLOW_IT_PG`.
pub struct Database {
    /// Its URL, for `--store`.
    pub url: String,
    admin: String,
    name: String,
}

fn sql(s: String) -> sqlx::RawSql {
    sqlx::raw_sql(sqlx::AssertSqlSafe(s))
}

impl Database {
    /// A fresh, empty database named `prefix_<pid>`; `None` (the test is skipped) when
    /// `WFLOW_IT_PG` is not set.
    pub async fn fresh(prefix: &str) -> Option<Database> {
        let Ok(admin) = std::env::var("WFLOW_IT_PG") else {
            eprintln!("skipped: set WFLOW_IT_PG to a PostgreSQL URL to run it");
            return None;
        };
        let name = format!("{prefix}_{}", std::process::id());
        let pool = sqlx::PgPool::connect(&admin)
            .await
            .expect("WFLOW_IT_PG connects");
        for statement in [
            format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
            format!("CREATE DATABASE {name}"),
        ] {
            sql(statement)
                .execute(&pool)
                .await
                .expect("create the database");
        }
        pool.close().await;
        let (server, _) = admin.rsplit_once('/').expect("a URL with a database");
        Some(Database {
            url: format!("{server}/{name}"),
            admin,
            name,
        })
    }

    /// Drops the database.
    pub async fn drop(self) {
        let pool = sqlx::PgPool::connect(&self.admin)
            .await
            .expect("WFLOW_IT_PG connects");
        sql(format!("DROP DATABASE {} WITH (FORCE)", self.name))
            .execute(&pool)
            .await
            .expect("drop the database");
        pool.close().await;
    }
}

/// A fresh temporary directory, removed when dropped.
pub struct Scratch(pub PathBuf);

impl Scratch {
    /// A new empty directory named after `name`, this process and the moment.
    pub fn new(name: &str) -> Scratch {
        let d = std::env::temp_dir().join(format!(
            "wflow-{name}-{}-{:?}",
            std::process::id(),
            std::time::Instant::now()
        ));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).expect("dir");
        Scratch(d)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// One request the loopback server received.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub path: String,
    pub key: String,
    pub attempt: String,
    pub at: Instant,
}

pub type Seen = Arc<Mutex<Vec<Delivery>>>;

/// A loopback server recording every request: `/fail/N` answers 503 to its first N requests,
/// then 200; `/down` always 503; `/busy` answers 429 with `Retry-After: 1` once, then 200;
/// `/hang` never answers in time; `/sleep/MS/...` answers after MS milliseconds;
/// `/hang-once/...` never answers in time the first time, then at once; anything else 200.
pub async fn recording_server() -> (String, Seen) {
    let seen: Seen = Arc::default();
    let log = Arc::clone(&seen);
    let app = axum::Router::new().fallback(move |uri: Uri, headers: HeaderMap| {
        let log = Arc::clone(&log);
        async move {
            let header = |name: &str| {
                headers
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_string()
            };
            let path = uri.path().to_string();
            let before = {
                let mut l = log.lock().expect("lock");
                let before = l.iter().filter(|d| d.path == path).count();
                l.push(Delivery {
                    path: path.clone(),
                    key: header("idempotency-key"),
                    attempt: header("x-wflow-attempt"),
                    at: Instant::now(),
                });
                before
            };
            let ok = (StatusCode::OK, HeaderMap::new(), "{\"ok\": true}");
            let unavailable = (StatusCode::SERVICE_UNAVAILABLE, HeaderMap::new(), "down");
            match path.split('/').collect::<Vec<_>>().as_slice() {
                ["", "fail", n] if before < n.parse().unwrap_or(0) => unavailable,
                ["", "down"] => unavailable,
                ["", "busy"] if before == 0 => {
                    let mut h = HeaderMap::new();
                    h.insert("retry-after", "1".parse().expect("header"));
                    (StatusCode::TOO_MANY_REQUESTS, h, "slow down")
                }
                ["", "hang"] => {
                    tokio::time::sleep(Duration::from_secs(30)).await;
                    ok
                }
                ["", "hang-once", ..] if before == 0 => {
                    tokio::time::sleep(Duration::from_secs(30)).await;
                    ok
                }
                ["", "sleep", ms, ..] => {
                    tokio::time::sleep(Duration::from_millis(ms.parse().unwrap_or(0))).await;
                    ok
                }
                _ => ok,
            }
        }
    });
    (on_loopback(app).await, seen)
}

/// Runs `wflow ARGS` in `cwd` (without `WFLOW_STORE`).
pub async fn wflow(cwd: &Path, args: &[&str]) -> Output {
    let cwd = cwd.to_path_buf();
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        Command::new(BIN)
            .args(&args)
            .current_dir(cwd)
            .env_remove("WFLOW_STORE")
            .output()
            .expect("run wflow")
    })
    .await
    .expect("join")
}

/// Its stdout and stderr.
pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Its stdout as JSON.
pub fn json(o: &Output) -> Json {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(o)))
}

/// The node run of `node` in a run shown as JSON.
pub fn node_run<'a>(run: &'a Json, node: &str) -> &'a Json {
    run["nodeRuns"]
        .as_array()
        .and_then(|n| n.iter().find(|n| n["node"]["identifier"] == node))
        .unwrap_or_else(|| panic!("no node run of `{node}` in {run}"))
}

/// The requests to `path`, in arrival order.
pub fn deliveries(seen: &Seen, path: &str) -> Vec<Delivery> {
    let seen = seen.lock().expect("lock");
    seen.iter().filter(|d| d.path == path).cloned().collect()
}

/// `wflow exec w.wflow` started in `dir` (without `WFLOW_STORE`), its output discarded: a
/// process to kill.
pub fn spawn_exec(dir: &Path) -> Child {
    Command::new(BIN)
        .args(["exec", "w.wflow"])
        .current_dir(dir)
        .env_remove("WFLOW_STORE")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn")
}

/// The id of the latest run of the store in `dir`.
pub async fn latest_run(dir: &Path) -> String {
    let o = wflow(dir, &["runs", "list", "--format", "json"]).await;
    json(&o)[0]["identifier"]
        .as_str()
        .expect("run id")
        .to_string()
}

/// `wflow runs resume RUN --take-over --format json` on the latest run of the store in `dir`,
/// once its process was killed.
pub async fn resume_latest(dir: &Path) -> Output {
    let run = latest_run(dir).await;
    wflow(
        dir,
        &["runs", "resume", &run, "--take-over", "--format", "json"],
    )
    .await
}

/// A workflow a Member may run whose one webhook goes to a closed port (its run fails).
pub const HELLO: &str = r#"workflow hello "Hello" {
  form trigger "Say hello" {
    permissions { roles ["Member"] }
  }
  webhook call "Call" { url "http://127.0.0.1:9/hello" }
  flow { trigger -> call }
}
"#;

/// POSTs `body` as JSON to `url`: the status and the JSON answer.
pub async fn post_json(http: &reqwest::Client, url: String, body: Json) -> (u16, Json) {
    let resp = http.post(url).json(&body).send().await.expect("post");
    let status = resp.status().as_u16();
    (status, resp.json().await.expect("json"))
}

/// Starts a run of `workflow` and waits (up to 15 s) for its result.
pub async fn run_to_end(
    addr: &str,
    workflow: &str,
    inputs: serde_json::Value,
) -> serde_json::Value {
    let http = reqwest::Client::new();
    let started: serde_json::Value = http
        .post(format!("{addr}/v1/workflows/{workflow}/runs"))
        .json(&serde_json::json!({ "inputs": inputs }))
        .send()
        .await
        .expect("start")
        .json()
        .await
        .expect("json");
    let id = started["run"]["identifier"]
        .as_str()
        .unwrap_or_else(|| panic!("no run: {started}"))
        .to_string();
    for _ in 0..300 {
        let run: serde_json::Value = http
            .get(format!("{addr}/v1/workflows/runs/{id}"))
            .send()
            .await
            .expect("get")
            .json()
            .await
            .expect("json");
        if !run["run"]["result"].is_null() {
            return run;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("run {id} did not finish");
}
