//! What the tests of `wflow serve` and the journeys share: a `wflow serve` process on loopback,
//! loopback servers, and cleanup.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use serde_json::Value as Json;

#[allow(unused_imports)]
pub use wflow_testkit::{Database, Delivery, Scratch, Seen, on_loopback, recording_server};

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
