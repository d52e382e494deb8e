//! `wflow bench-serve`: self-service runs through the HTTP API of real `wflow serve`
//! processes. A workflow (form trigger with typed inputs -> webhook to a loopback server ->
//! upsert) is written to a fresh directory and served by child processes on a fresh store;
//! concurrent clients start runs with `POST /v1/workflows/{id}/runs`. Measured:
//! - accepted runs per second (requests answered 201 with a run id) and request latency;
//! - request to first node started: from just before a request is sent to the arrival of its
//!   run's webhook at the loopback server (by the `X-Wflow-Run-Id` header), both on this
//!   process's monotonic clock. It is an upper bound: it includes the webhook's rendering and
//!   connection after the node run is written;
//! - completion: from the first request until every run finished (the servers' `/metrics`),
//!   and every run's result.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value as Json, json};

use crate::loopback::{Loopback, ms, percentile};

/// The benchmark workflow's identifier.
const WORKFLOW: &str = "bench-deploy";
/// Runs started (and finished) before anything is measured.
const WARM_UP: usize = 200;
/// The longest the benchmark may take; the loopback server stops after it.
const LIFETIME: Duration = Duration::from_secs(600);

/// Options of `wflow bench-serve`.
#[derive(clap::Args, Debug)]
pub struct BenchServeArgs {
    /// Runs started through the API (measured).
    #[arg(long, default_value_t = 5000)]
    runs: usize,
    /// Concurrent HTTP clients.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// The servers' store: a `postgres://` URL (use an empty database); default a fresh
    /// SQLite file.
    #[arg(long)]
    store: Option<String>,
    /// `wflow serve` processes on the same store; requests are spread across them.
    #[arg(long, default_value_t = 1)]
    processes: usize,
}

/// Runs the benchmark.
pub fn run(args: BenchServeArgs) -> ExitCode {
    match crate::block_on(bench(args)) {
        Ok(r) => crate::report_error(r),
        Err(code) => code,
    }
}

/// Running `wflow serve` children, stopped when dropped.
struct Servers {
    children: Vec<Child>,
    urls: Vec<String>,
}

impl Servers {
    /// Starts `n` servers of `workflows` on `store`, one after the other, each on a free port
    /// of 127.0.0.1; their logs go to `logs/serve-N.log`.
    fn start(n: usize, workflows: &Path, store: &str, logs: &Path) -> Result<Servers, String> {
        let exe = std::env::current_exe().map_err(|e| format!("cannot find wflow: {e}"))?;
        let mut servers = Servers {
            children: Vec::new(),
            urls: Vec::new(),
        };
        for i in 0..n {
            let log_path = logs.join(format!("serve-{}.log", i + 1));
            let log = std::fs::File::create(&log_path)
                .map_err(|e| format!("cannot create {}: {e}", log_path.display()))?;
            let mut child = Command::new(&exe)
                .arg("serve")
                .arg(workflows)
                .args(["--store", store, "--listen", "127.0.0.1:0"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .map_err(|e| format!("cannot start wflow serve: {e}"))?;
            let stderr = child.stderr.take();
            servers.children.push(child);
            let url = stderr
                .and_then(|s| serving_url(s, log))
                .ok_or_else(|| format!("wflow serve did not start; see {}", log_path.display()))?;
            servers.urls.push(url);
        }
        Ok(servers)
    }

    /// Stops every server: SIGTERM, then a kill after 10 s.
    fn stop(&mut self) {
        for child in &mut self.children {
            if matches!(child.try_wait(), Ok(None)) {
                let _ = Command::new("kill")
                    .args(["-TERM", &child.id().to_string()])
                    .stderr(Stdio::null())
                    .status();
            }
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        for child in &mut self.children {
            while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            if matches!(child.try_wait(), Ok(None)) {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        self.children.clear();
    }
}

impl Drop for Servers {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Copies a server's stderr to `log` on a thread and returns the URL from its
/// `serving ... on http://ADDR` line, or `None` when it ends or 60 s pass first.
fn serving_url(stderr: std::process::ChildStderr, mut log: std::fs::File) -> Option<String> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut tx = Some(tx);
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if let Some(url) = line
                .strip_prefix("serving ")
                .and_then(|l| l.split_once(" on "))
                .map(|(_, url)| url.to_string())
                && let Some(tx) = tx.take()
            {
                let _ = tx.send(url);
            }
            let _ = writeln!(log, "{line}");
        }
    });
    rx.recv_timeout(Duration::from_secs(60)).ok()
}

/// The benchmark workflow, its webhook aimed at `target`.
fn workflow(target: std::net::SocketAddr) -> String {
    format!(
        r#"workflow {WORKFLOW} "Bench Deploy" {{
  form trigger "Deploy" {{
    input service: string "Service" {{ pattern "^[a-z0-9-]+$" }}
    input version: string "Version"
    input environment: string "Environment" {{ enum ["development", "staging", "production"] }}
    input replicas?: number "Replicas" {{ minimum 1; maximum 10; default 2 }}
    input canary?: boolean "Canary"
  }}
  webhook deploy "Deploy" {{
    url "http://{target}/deploy/{{{{ .outputs.trigger.service }}}}"
    body {{
      service: "{{{{ .outputs.trigger.service }}}}"
      version: "{{{{ .outputs.trigger.version }}}}"
      environment: "{{{{ .outputs.trigger.environment }}}}"
      replicas: "{{{{ .outputs.trigger.replicas }}}}"
    }}
  }}
  upsert record "Record" {{
    blueprint service
    entity {{
      identifier "{{{{ .outputs.trigger.service }}}}"
      properties {{ version: "{{{{ .outputs.trigger.version }}}}", deployId: "{{{{ .outputs.deploy.response.data.id }}}}" }}
    }}
  }}
  flow {{ trigger -> deploy -> record }}
}}
"#
    )
}

/// Run `i`'s form.
fn inputs(i: usize) -> Json {
    let env = ["development", "staging", "production"][i % 3];
    json!({"inputs": {
        "service": format!("svc-{}", i % 50), "version": format!("v1.{i}"),
        "environment": env, "replicas": 1 + i % 10, "canary": i.is_multiple_of(2),
    }})
}

/// What a batch of requests got.
#[derive(Default)]
struct Batch {
    /// Per accepted run: its id, when its request was sent, how long the request took.
    accepted: Vec<(String, Instant, Duration)>,
    refused: usize,
    first_problem: Option<String>,
}

/// Starts `runs` runs with `concurrency` clients, request `i` to server `i % servers`.
async fn start_runs(
    client: &reqwest::Client,
    urls: &[String],
    runs: usize,
    concurrency: usize,
) -> Batch {
    let next = Arc::new(AtomicUsize::new(0));
    let urls: Arc<Vec<String>> = Arc::new(
        urls.iter()
            .map(|u| format!("{u}/v1/workflows/{WORKFLOW}/runs"))
            .collect(),
    );
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..concurrency.max(1) {
        let (next, urls, client) = (Arc::clone(&next), Arc::clone(&urls), client.clone());
        workers.spawn(async move {
            let mut batch = Batch::default();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= runs {
                    return batch;
                }
                let Some(url) = urls.get(i % urls.len().max(1)) else {
                    return batch;
                };
                let sent = Instant::now();
                match start_one(&client, url, &inputs(i)).await {
                    Ok(id) => batch.accepted.push((id, sent, sent.elapsed())),
                    Err(e) => {
                        batch.refused += 1;
                        batch.first_problem.get_or_insert(e);
                    }
                }
            }
        });
    }
    let mut all = Batch::default();
    while let Some(done) = workers.join_next().await {
        match done {
            Ok(b) => {
                all.accepted.extend(b.accepted);
                all.refused += b.refused;
                all.first_problem = all.first_problem.or(b.first_problem);
            }
            Err(e) => {
                all.first_problem.get_or_insert(e.to_string());
            }
        }
    }
    all
}

/// Starts one run; its id.
async fn start_one(client: &reqwest::Client, url: &str, body: &Json) -> Result<String, String> {
    let resp = client
        .post(url)
        .json(body)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = resp.status();
    let body: Json = resp.json().await.map_err(|e| e.to_string())?;
    match body["run"]["identifier"].as_str() {
        Some(id) if status.is_success() => Ok(id.to_string()),
        _ => Err(format!("{status}: {body}")),
    }
}

/// Sends a request and reads its body as text; an error status is an error.
async fn text(req: reqwest::RequestBuilder) -> Result<String, String> {
    let resp = req.send().await.map_err(|e| e.to_string())?;
    let status = resp.status();
    let body = resp.text().await.map_err(|e| e.to_string())?;
    if status.is_success() {
        Ok(body)
    } else {
        Err(format!("{status}: {body}"))
    }
}

/// Runs of the benchmark workflow finished so far on all servers, by result.
async fn finished(
    client: &reqwest::Client,
    urls: &[String],
) -> Result<BTreeMap<String, u64>, String> {
    let prefix = format!("wflow_runs_finished_total{{workflow=\"{WORKFLOW}\",result=\"");
    let mut by_result = BTreeMap::new();
    for url in urls {
        let metrics = text(client.get(format!("{url}/metrics"))).await?;
        for line in metrics.lines() {
            if let Some((result, n)) = line
                .strip_prefix(&prefix)
                .and_then(|l| l.split_once("\"} "))
            {
                let n: u64 = n
                    .trim()
                    .parse()
                    .map_err(|_| format!("bad metric: {line}"))?;
                *by_result.entry(result.to_string()).or_default() += n;
            }
        }
    }
    Ok(by_result)
}

/// Waits until `expected` runs finished in all; when they did, by result.
async fn wait_finished(
    client: &reqwest::Client,
    urls: &[String],
    expected: u64,
    until: Instant,
) -> Result<BTreeMap<String, u64>, String> {
    loop {
        let done = finished(client, urls).await?;
        let n: u64 = done.values().sum();
        if n >= expected {
            return Ok(done);
        }
        if Instant::now() > until {
            return Err(format!(
                "only {n} of {expected} runs finished in time: {done:?}"
            ));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn bench(args: BenchServeArgs) -> Result<(), String> {
    let until = Instant::now() + LIFETIME;
    let loopback = Loopback::start(WARM_UP + args.runs, LIFETIME, true).await?;
    let dir = std::env::temp_dir().join(format!("wflow-bench-serve-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let workflows = dir.join("workflows");
    std::fs::create_dir_all(&workflows)
        .map_err(|e| format!("cannot create {}: {e}", workflows.display()))?;
    std::fs::write(workflows.join("deploy.wflow"), workflow(loopback.addr))
        .map_err(|e| format!("cannot write the workflow: {e}"))?;
    let sqlite = dir.join("wflow.db");
    let store = match &args.store {
        Some(url) => url.clone(),
        None => sqlite.display().to_string(),
    };
    let store_name = if args.store.is_some() {
        "PostgreSQL"
    } else {
        "SQLite"
    };
    let mut servers = Servers::start(args.processes.max(1), &workflows, &store, &dir)?;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(|e| e.to_string())?;
    let first = servers.urls.first().cloned().unwrap_or_default();
    text(client.put(format!("{first}/v1/blueprints/service")).json(&json!({
        "identifier": "service", "title": "Service",
        "schema": {"properties": {"version": {"type": "string"}, "deployId": {"type": "string"}}},
    })))
    .await
    .map_err(|e| format!("cannot create the blueprint: {e}"))?;

    let warm = start_runs(&client, &servers.urls, WARM_UP, args.concurrency).await;
    if let Some(p) = warm.first_problem {
        return Err(format!("a warm-up run was refused: {p}"));
    }
    let warm = wait_finished(&client, &servers.urls, WARM_UP as u64, until).await?;
    loopback.arrivals();

    let t0 = Instant::now();
    let batch = start_runs(&client, &servers.urls, args.runs, args.concurrency).await;
    let accepting = t0.elapsed();
    let expected = (WARM_UP + batch.accepted.len()) as u64;
    let results = wait_finished(&client, &servers.urls, expected, until).await?;
    let completing = t0.elapsed();
    servers.stop();

    let arrivals = loopback.arrivals();
    let mut latency: Vec<Duration> = batch.accepted.iter().map(|a| a.2).collect();
    let mut first_node: Vec<Duration> = batch
        .accepted
        .iter()
        .filter_map(|(id, sent, _)| {
            arrivals
                .get(id)
                .map(|at| at.saturating_duration_since(*sent))
        })
        .collect();
    latency.sort();
    first_node.sort();
    let accepted = batch.accepted.len();
    // The measured runs' results: the warm-up's taken away.
    let measured: BTreeMap<&String, u64> = results
        .iter()
        .map(|(r, n)| (r, n.saturating_sub(warm.get(r).copied().unwrap_or(0))))
        .filter(|(_, n)| *n > 0)
        .collect();
    let succeeded = measured.get(&"SUCCESS".to_string()).copied().unwrap_or(0);
    let per_s = |n: usize, d: Duration| n as f64 / d.as_secs_f64();

    println!(
        "wflow bench-serve: {} runs, {} clients, {} wflow serve process{} on {store_name}",
        args.runs,
        args.concurrency,
        servers.urls.len(),
        if servers.urls.len() == 1 { "" } else { "es" },
    );
    println!("  {:<26} {:>10} {:>10} {:>12}", "", "p50", "p99", "rate");
    println!(
        "  {:<26} {:>10} {:>10} {:>8.0} /s  ({accepted} of {} accepted in {:.2} s)",
        "request (201 with run id)",
        format!("{:.2} ms", ms(percentile(&latency, 0.5))),
        format!("{:.2} ms", ms(percentile(&latency, 0.99))),
        per_s(accepted, accepting),
        args.runs,
        accepting.as_secs_f64(),
    );
    println!(
        "  {:<26} {:>10} {:>10} {:>12}  ({} of {accepted} webhooks seen)",
        "request -> first node",
        format!("{:.2} ms", ms(percentile(&first_node, 0.5))),
        format!("{:.2} ms", ms(percentile(&first_node, 0.99))),
        "",
        first_node.len(),
    );
    println!(
        "  {:<26} {:>10} {:>10} {:>8.0} /s  (all finished {:.2} s after the first request)",
        "completed",
        "",
        "",
        per_s(accepted, completing),
        completing.as_secs_f64(),
    );
    println!("  results: {measured:?} (after {WARM_UP} warm-up runs)");
    let store_arg = args
        .store
        .as_ref()
        .map(|s| format!(" --store {s}"))
        .unwrap_or_default();
    println!(
        "reproduce: wflow bench-serve --runs {} --concurrency {}{store_arg} --processes {}",
        args.runs,
        args.concurrency,
        servers.urls.len()
    );
    if args.store.is_none() {
        let _ = std::fs::remove_dir_all(&dir);
    } else {
        println!("server logs: {}", dir.display());
    }
    if let Some(p) = batch.first_problem {
        return Err(format!(
            "{} requests were refused; the first: {p}",
            batch.refused
        ));
    }
    if succeeded != accepted as u64 || first_node.len() != accepted {
        return Err("not every run SUCCEEDED with its webhook seen".into());
    }
    Ok(())
}
