//! `wflow bench-serve`: self-service runs through the HTTP API of real `wflow serve`
//! processes. A workflow (form trigger with typed inputs -> webhook to a loopback server ->
//! upsert) is written to a fresh directory and served by child processes on a fresh store;
//! runs are started with `POST /v1/workflows/{id}/runs`, after a warm-up of closed-loop runs.
//! With `--parallel`, the workflow has 10 nodes and two parallel branches instead (form ->
//! webhook -> two branches of two webhooks each -> `join` (all) -> two webhooks -> upsert).
//! Two loads:
//! - closed loop (default): `--concurrency` clients, each sending its next request as soon as
//!   the previous one was answered. It finds the saturation throughput; its latencies are
//!   mostly queueing at saturation;
//! - open loop (`--rate R`): request `i` is due at `t0 + i / R` and sent then, whatever was
//!   answered, as its own task (`--concurrency` only caps the requests in flight). Latencies
//!   are measured from each request's scheduled send, not its actual one, so a server that
//!   falls behind is charged for the wait it causes (no coordinated omission).
//!
//! With `--mcp` the runs are started with MCP tool calls at `/mcp` instead.
//!
//! Measured:
//! - accepted runs per second (requests answered 201 with a run id) and request latency;
//! - request to first node started: from a request's start (sent, or scheduled in an open
//!   loop) to the arrival of its run's webhook at the loopback server (by the
//!   `X-Wflow-Run-Id` header), both on this process's monotonic clock. It is an upper bound:
//!   it includes the webhook's rendering and connection after the node run is written;
//! - completion: from the first request until every run finished (the servers' `/metrics`),
//!   and every run's result.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value as Json, json};

use crate::loopback::{Loopback, ms, percentile};

/// The benchmark workflow's identifier.
pub(crate) const WORKFLOW: &str = "bench-deploy";
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
    /// Closed loop: concurrent HTTP clients (default 32). With `--rate`: the most requests in
    /// flight, a safety cap (default 256); a send waiting for it is late, and counted so.
    #[arg(long)]
    concurrency: Option<usize>,
    /// Open loop: runs started per second on a fixed schedule, whatever was answered.
    #[arg(long)]
    rate: Option<f64>,
    /// The servers' store: a `postgres://` URL (use an empty database); default a fresh
    /// SQLite file.
    #[arg(long)]
    store: Option<String>,
    /// `wflow serve` processes on the same store; requests are spread across them.
    #[arg(long, default_value_t = 1)]
    processes: usize,
    /// Start the runs with MCP tool calls (`tools/call` of the workflow's tool at `/mcp`,
    /// streamable HTTP) instead of the API's `POST`.
    #[arg(long)]
    mcp: bool,
    /// The 10-node workflow with two parallel branches joined (7 webhooks and an upsert a run).
    #[arg(long)]
    parallel: bool,
    /// Recovery after a crash instead: start N runs held at their webhook, kill the server
    /// (SIGKILL), restart it on the same store and measure until every run resumed and
    /// completed (see `recovery.rs`).
    #[arg(long, value_name = "N", conflicts_with_all = ["rate", "processes", "mcp", "parallel", "runs"])]
    recovery: Option<usize>,
    /// With `--recovery`: the servers' `--lease-seconds` (how long the killed server's leases
    /// keep a PostgreSQL store's runs from the restarted one; default the server's, 30 s).
    #[arg(long, requires = "recovery")]
    lease_seconds: Option<f64>,
}

/// How runs are started.
#[derive(Clone, Copy)]
pub(crate) enum Via {
    /// `POST /v1/workflows/{id}/runs`.
    Api,
    /// An MCP `tools/call` at `/mcp`.
    Mcp,
}

impl Via {
    /// Where a server at `url` takes the requests.
    fn endpoint(self, url: &str) -> String {
        match self {
            Via::Api => format!("{url}/v1/workflows/{WORKFLOW}/runs"),
            Via::Mcp => format!("{url}/mcp"),
        }
    }

    /// Run `i`'s request.
    fn request(self, client: &reqwest::Client, url: &str, i: usize) -> reqwest::RequestBuilder {
        match self {
            Via::Api => client.post(url).json(&inputs(i)),
            Via::Mcp => client
                .post(url)
                .header("accept", "application/json, text/event-stream")
                .json(&json!({
                    "jsonrpc": "2.0", "id": i, "method": "tools/call",
                    "params": { "name": WORKFLOW, "arguments": inputs(i)["inputs"] },
                })),
        }
    }

    /// The run of an answer's body.
    fn run(self, body: &Json) -> &Json {
        match self {
            Via::Api => &body["run"],
            Via::Mcp => &body["result"]["structuredContent"]["run"],
        }
    }

    /// What the report calls a request.
    fn name(self) -> &'static str {
        match self {
            Via::Api => "request",
            Via::Mcp => "tool call",
        }
    }
}

/// Running `wflow serve` children, stopped when dropped.
pub(crate) struct Servers {
    children: Vec<Child>,
    pub(crate) urls: Vec<String>,
}

impl Servers {
    /// Starts `n` servers of `workflows` on `store` with the options `extra`, one after the
    /// other, each on a free port of 127.0.0.1; their logs go to `logs/serve-N.log`.
    pub(crate) fn start(
        n: usize,
        workflows: &Path,
        store: &str,
        logs: &Path,
        extra: &[String],
    ) -> Result<Servers, String> {
        let mut servers = Servers {
            children: Vec::new(),
            urls: Vec::new(),
        };
        for i in 0..n {
            servers.spawn(
                workflows,
                store,
                &logs.join(format!("serve-{}.log", i + 1)),
                extra,
            )?;
        }
        Ok(servers)
    }

    /// Starts one more server of `workflows` on `store` with the options `extra`, its log in
    /// `log_path`, and waits until it serves.
    pub(crate) fn spawn(
        &mut self,
        workflows: &Path,
        store: &str,
        log_path: &Path,
        extra: &[String],
    ) -> Result<(), String> {
        let exe = std::env::current_exe().map_err(|e| format!("cannot find wflow: {e}"))?;
        let log = std::fs::File::create(log_path)
            .map_err(|e| format!("cannot create {}: {e}", log_path.display()))?;
        // The server writes its log itself: nothing here reads it line by line meanwhile.
        let mut child = Command::new(&exe)
            .arg("serve")
            .arg(workflows)
            .args(["--store", store, "--listen", "127.0.0.1:0"])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .map_err(|e| format!("cannot start wflow serve: {e}"))?;
        let url = serving_url(log_path, &mut child);
        self.children.push(child);
        let url =
            url.ok_or_else(|| format!("wflow serve did not start; see {}", log_path.display()))?;
        self.urls.push(url);
        Ok(())
    }

    /// Kills every server at once (SIGKILL, as a crash or an OOM kill would), and waits for
    /// them to be gone.
    pub(crate) fn kill(&mut self) -> Result<(), String> {
        for child in &mut self.children {
            child
                .kill()
                .map_err(|e| format!("cannot kill wflow serve {}: {e}", child.id()))?;
            child
                .wait()
                .map_err(|e| format!("cannot wait for wflow serve {}: {e}", child.id()))?;
        }
        self.children.clear();
        self.urls.clear();
        Ok(())
    }

    /// Stops every server: SIGTERM, then a kill after 10 s.
    pub(crate) fn stop(&mut self) {
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

/// The URL of the `serving ... on http://ADDR` line that `server` writes to its log at `log`,
/// once it is there; `None` when the server ends or 60 s pass first.
fn serving_url(log: &Path, server: &mut Child) -> Option<String> {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline && matches!(server.try_wait(), Ok(None)) {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        let url = text.lines().find_map(|line| {
            line.strip_prefix("serving ")
                .and_then(|l| l.split_once(" on "))
                .map(|(_, url)| url.to_string())
        });
        if url.is_some() {
            return url;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    None
}

/// The benchmark workflows' trigger.
const FORM: &str = r#"  form trigger "Deploy" {
    input service: string "Service" { pattern "^[a-z0-9-]+$" }
    input version: string "Version"
    input environment: string "Environment" { enum ["development", "staging", "production"] }
    input replicas?: number "Replicas" { minimum 1; maximum 10; default 2 }
    input canary?: boolean "Canary"
  }
"#;

/// The benchmark workflows' last node.
const RECORD: &str = r#"  upsert record "Record" {
    blueprint service
    entity {
      identifier "{{ .outputs.trigger.service }}"
      properties { version: "{{ .outputs.trigger.version }}", deployId: "{{ .outputs.deploy.response.data.id }}" }
    }
  }
"#;

/// The benchmark workflow, its webhook aimed at `target`.
pub(crate) fn workflow(target: std::net::SocketAddr) -> String {
    format!(
        r#"workflow {WORKFLOW} "Bench Deploy" {{
{FORM}  webhook deploy "Deploy" {{
    url "http://{target}/deploy/{{{{ .outputs.trigger.service }}}}"
    body {{
      service: "{{{{ .outputs.trigger.service }}}}"
      version: "{{{{ .outputs.trigger.version }}}}"
      environment: "{{{{ .outputs.trigger.environment }}}}"
      replicas: "{{{{ .outputs.trigger.replicas }}}}"
    }}
  }}
{RECORD}  flow {{ trigger -> deploy -> record }}
}}
"#
    )
}

/// Webhooks a run of the `--parallel` workflow sends.
const PARALLEL_WEBHOOKS: usize = 7;

/// The `--parallel` workflow: 10 nodes, two branches of two webhooks each between a fork and a
/// join, every webhook aimed at `target`.
fn parallel_workflow(target: std::net::SocketAddr) -> String {
    let hook = |id: &str| {
        format!(
            "  webhook {id} \"{id}\" {{\n    url \"http://{target}/{id}/{{{{ .outputs.trigger.service }}}}\"\n    \
             body {{ version: \"{{{{ .outputs.trigger.version }}}}\" }}\n  }}\n"
        )
    };
    let hooks: String = ["check", "build", "push", "test", "scan", "deploy", "notify"]
        .into_iter()
        .map(hook)
        .collect();
    format!(
        r#"workflow {WORKFLOW} "Bench Parallel Deploy" {{
{FORM}{hooks}  join ready "Ready" {{ wait all }}
{RECORD}  flow {{
    trigger -> check
    check -> build -> push -> ready
    check -> test -> scan -> ready
    ready -> deploy -> notify -> record
  }}
}}
"#
    )
}

/// Run `i`'s form.
pub(crate) fn inputs(i: usize) -> Json {
    let env = ["development", "staging", "production"][i % 3];
    json!({"inputs": {
        "service": format!("svc-{}", i % 50), "version": format!("v1.{i}"),
        "environment": env, "replicas": 1 + i % 10, "canary": i.is_multiple_of(2),
    }})
}

/// Clients of a closed loop, unless `--concurrency` says otherwise; also the warm-up's.
pub(crate) const CLIENTS: usize = 32;
/// The most requests in flight in an open loop, unless `--concurrency` says otherwise.
const IN_FLIGHT: usize = 256;

/// How requests are issued.
#[derive(Clone, Copy)]
pub(crate) enum Load {
    /// `clients` clients, each sending its next request when the previous one was answered.
    Closed { clients: usize },
    /// Request `i` sent at `t0 + i / rate`, whatever was answered; at most `cap` in flight.
    Open { rate: f64, cap: usize },
}

impl Load {
    /// The load `args` ask for.
    fn of(args: &BenchServeArgs) -> Result<Load, String> {
        match args.rate {
            None => Ok(Load::Closed {
                clients: args.concurrency.unwrap_or(CLIENTS).max(1),
            }),
            Some(rate) if rate.is_finite() && rate > 0.0 => Ok(Load::Open {
                rate,
                cap: args.concurrency.unwrap_or(IN_FLIGHT).max(1),
            }),
            Some(rate) => Err(format!("--rate must be above 0 runs/s, not {rate}")),
        }
    }

    /// The options that ask for this load.
    fn options(self) -> String {
        match self {
            Load::Closed { clients } => format!("--concurrency {clients}"),
            Load::Open { rate, cap } => format!("--rate {rate} --concurrency {cap}"),
        }
    }
}

/// What a batch of requests got.
#[derive(Default)]
pub(crate) struct Batch {
    /// Per accepted run: its id, when its request was due (sent, or scheduled in an open
    /// loop), and how long after that it was answered.
    pub(crate) accepted: Vec<(String, Instant, Duration)>,
    pub(crate) refused: usize,
    pub(crate) first_problem: Option<String>,
    /// The most requests in flight at once (open loop).
    most_in_flight: usize,
}

impl Batch {
    /// Records the answer, just come, to a request due at `due`.
    fn add(&mut self, answer: Result<String, String>, due: Instant) {
        match answer {
            Ok(id) => self.accepted.push((id, due, due.elapsed())),
            Err(e) => {
                self.refused += 1;
                self.first_problem.get_or_insert(e);
            }
        }
    }

    /// Adds what each of `tasks` got, once they all ended.
    async fn join(mut self, mut tasks: tokio::task::JoinSet<Batch>) -> Batch {
        while let Some(done) = tasks.join_next().await {
            match done {
                Ok(b) => {
                    self.accepted.extend(b.accepted);
                    self.refused += b.refused;
                    self.first_problem = self.first_problem.or(b.first_problem);
                }
                Err(e) => {
                    self.first_problem.get_or_insert(e.to_string());
                }
            }
        }
        self
    }
}

/// Starts `runs` runs under `load`, request `i` to server `i % servers`; an open loop's
/// schedule starts at `t0`.
pub(crate) async fn start_runs(
    client: &reqwest::Client,
    (urls, via): (&[String], Via),
    runs: usize,
    load: Load,
    t0: Instant,
) -> Batch {
    let urls: Arc<Vec<String>> = Arc::new(urls.iter().map(|u| via.endpoint(u)).collect());
    let mut tasks = tokio::task::JoinSet::new();
    match load {
        Load::Closed { clients } => {
            let next = Arc::new(AtomicUsize::new(0));
            for _ in 0..clients {
                let (next, urls, client) = (Arc::clone(&next), Arc::clone(&urls), client.clone());
                tasks.spawn(async move {
                    let mut batch = Batch::default();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= runs {
                            return batch;
                        }
                        let sent = Instant::now();
                        batch.add(start_one(&client, &urls, via, i).await, sent);
                    }
                });
            }
            Batch::default().join(tasks).await
        }
        Load::Open { rate, cap } => {
            let slots = Arc::new(tokio::sync::Semaphore::new(cap));
            let mut most_in_flight = 0;
            for i in 0..runs {
                let due = t0 + Duration::from_secs_f64(i as f64 / rate);
                if due > Instant::now() {
                    tokio::time::sleep_until(due.into()).await;
                }
                let Ok(slot) = Arc::clone(&slots).acquire_owned().await else {
                    break;
                };
                most_in_flight = most_in_flight.max(cap - slots.available_permits());
                let (urls, client) = (Arc::clone(&urls), client.clone());
                tasks.spawn(async move {
                    let mut batch = Batch::default();
                    batch.add(start_one(&client, &urls, via, i).await, due);
                    drop(slot);
                    batch
                });
            }
            let batch = Batch {
                most_in_flight,
                ..Batch::default()
            };
            batch.join(tasks).await
        }
    }
}

/// Starts run `i` on server `i % urls` `via` the API or MCP; its id.
async fn start_one(
    client: &reqwest::Client,
    urls: &[String],
    via: Via,
    i: usize,
) -> Result<String, String> {
    let url = urls.get(i % urls.len().max(1)).ok_or("no server")?;
    let resp = via
        .request(client, url, i)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = resp.status();
    let body: Json = resp.json().await.map_err(|e| e.to_string())?;
    match via.run(&body)["identifier"].as_str() {
        Some(id) if status.is_success() => Ok(id.to_string()),
        _ => Err(format!("{status}: {body}")),
    }
}

/// Sends a request and reads its body as text; an error status is an error.
pub(crate) async fn text(req: reqwest::RequestBuilder) -> Result<String, String> {
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
pub(crate) async fn finished(
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
pub(crate) async fn wait_finished(
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

/// Prints a row of the report: `label`, the p50, p99 and max of `sorted` (blank without),
/// a rate (blank without) and a note.
pub(crate) fn row(label: &str, sorted: Option<&[Duration]>, rate: Option<f64>, note: &str) {
    let q = |p| sorted.map(|s| format!("{:.2} ms", ms(percentile(s, p))));
    let rate = rate.map(|r| format!("{r:.0} /s"));
    println!(
        "  {label:<26} {:>10} {:>10} {:>10} {:>10}  {note}",
        q(0.5).unwrap_or_default(),
        q(0.99).unwrap_or_default(),
        q(1.0).unwrap_or_default(),
        rate.unwrap_or_default(),
    );
}

/// Where a benchmark's servers run: a fresh directory with the workflow, and the store.
pub(crate) struct Scene {
    /// The directory: the workflows, the servers' logs and the SQLite store.
    pub(crate) dir: std::path::PathBuf,
    /// The workflows directory the servers serve.
    pub(crate) workflows: std::path::PathBuf,
    /// The store location given to the servers.
    pub(crate) store: String,
    /// `SQLite` or `PostgreSQL`.
    pub(crate) store_name: &'static str,
}

impl Scene {
    /// A fresh `wflow-bench-NAME-PID` directory in the temporary directory with `source` as
    /// its one workflow file; the store is `postgres` (a URL) or a new SQLite file in it.
    pub(crate) fn new(name: &str, source: &str, postgres: Option<&str>) -> Result<Scene, String> {
        let dir = std::env::temp_dir().join(format!("wflow-bench-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let workflows = dir.join("workflows");
        std::fs::create_dir_all(&workflows)
            .map_err(|e| format!("cannot create {}: {e}", workflows.display()))?;
        std::fs::write(workflows.join("deploy.wflow"), source)
            .map_err(|e| format!("cannot write the workflow: {e}"))?;
        let (store, store_name) = match postgres {
            Some(url) => (url.to_string(), "PostgreSQL"),
            None => (dir.join("wflow.db").display().to_string(), "SQLite"),
        };
        Ok(Scene {
            dir,
            workflows,
            store,
            store_name,
        })
    }
}

/// Creates the blueprint the benchmark workflow upserts to, through the first of `urls`, and
/// waits until every server serves the workflow.
pub(crate) async fn prepare(client: &reqwest::Client, urls: &[String]) -> Result<(), String> {
    let first = urls.first().cloned().unwrap_or_default();
    text(client.put(format!("{first}/v1/blueprints/service")).json(&json!({
        "identifier": "service", "title": "Service",
        "schema": {"properties": {"version": {"type": "string"}, "deployId": {"type": "string"}}},
    })))
    .await
    .map_err(|e| format!("cannot create the blueprint: {e}"))?;
    // Each server admits the workflow once its preflight sees the blueprint (within a second).
    for url in urls {
        let served = format!("{url}/v1/workflows/{WORKFLOW}");
        let deadline = Instant::now() + Duration::from_secs(10);
        while text(client.get(&served)).await.is_err() {
            if Instant::now() > deadline {
                return Err(format!("{url} did not start serving {WORKFLOW}"));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    Ok(())
}

/// Runs the benchmark and prints what it measured.
pub async fn run(args: BenchServeArgs) -> Result<(), String> {
    if let Some(runs) = args.recovery {
        return crate::recovery::run(crate::recovery::RecoveryArgs {
            runs,
            clients: args.concurrency.unwrap_or(CLIENTS).max(1),
            postgres: args.store,
            lease_seconds: args.lease_seconds,
        })
        .await;
    }
    let load = Load::of(&args)?;
    let via = if args.mcp { Via::Mcp } else { Via::Api };
    let until = Instant::now() + LIFETIME;
    let per_run = if args.parallel { PARALLEL_WEBHOOKS } else { 1 };
    let loopback = Loopback::start((WARM_UP + args.runs) * per_run, LIFETIME, true).await?;
    let source = if args.parallel {
        parallel_workflow(loopback.addr)
    } else {
        workflow(loopback.addr)
    };
    let Scene {
        dir,
        workflows,
        store,
        store_name,
    } = Scene::new("serve", &source, args.store.as_deref())?;
    let mut servers = Servers::start(args.processes.max(1), &workflows, &store, &dir, &[])?;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(|e| e.to_string())?;
    prepare(&client, &servers.urls).await?;

    // The warm-up is a closed loop: the measured one, or one of the default clients.
    let warm_up = match load {
        Load::Closed { .. } => load,
        Load::Open { .. } => Load::Closed { clients: CLIENTS },
    };
    let warm = start_runs(
        &client,
        (&servers.urls, via),
        WARM_UP,
        warm_up,
        Instant::now(),
    )
    .await;
    if let Some(p) = warm.first_problem {
        return Err(format!("a warm-up run was refused: {p}"));
    }
    let warm = wait_finished(&client, &servers.urls, WARM_UP as u64, until).await?;
    loopback.arrivals();

    let t0 = Instant::now();
    let batch = start_runs(&client, (&servers.urls, via), args.runs, load, t0).await;
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
        .filter_map(|(id, due, _)| {
            arrivals
                .get(id)
                .map(|at| at.saturating_duration_since(*due))
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

    let processes = servers.urls.len();
    let loop_name = match load {
        Load::Closed { clients } => format!("closed loop of {clients} clients"),
        Load::Open { rate, cap } => format!(
            "open loop at {rate} runs/s ({} of at most {cap} in flight)",
            batch.most_in_flight
        ),
    };
    println!(
        "wflow bench-serve: {} runs{}, {loop_name}, {processes} wflow serve process{} on {store_name}",
        args.runs,
        if args.parallel {
            " of a 10-node workflow with two parallel branches"
        } else {
            ""
        },
        if processes == 1 { "" } else { "es" },
    );
    if let Load::Open { .. } = load {
        println!("  latencies are measured from each request's scheduled send");
    }
    println!(
        "  {:<26} {:>10} {:>10} {:>10} {:>10}",
        "", "p50", "p99", "max", "rate"
    );
    if let Load::Open { rate, .. } = load {
        let last_due = Duration::from_secs_f64(args.runs.saturating_sub(1) as f64 / rate);
        row(
            "offered",
            None,
            Some(rate),
            &format!(
                "(the last answer came {:.2} ms after the last scheduled send)",
                ms(accepting.saturating_sub(last_due))
            ),
        );
    }
    let request = match via {
        Via::Api => "request (201 with run id)",
        Via::Mcp => "tool call (run id)",
    };
    row(
        request,
        Some(&latency),
        Some(per_s(accepted, accepting)),
        &format!(
            "({accepted} of {} accepted in {:.2} s)",
            args.runs,
            accepting.as_secs_f64()
        ),
    );
    row(
        &format!("{} -> first node", via.name()),
        Some(&first_node),
        None,
        &format!("({} of {accepted} webhooks seen)", first_node.len()),
    );
    row(
        "completed",
        None,
        Some(per_s(accepted, completing)),
        &format!(
            "(all finished {:.2} s after the first request)",
            completing.as_secs_f64()
        ),
    );
    println!("  results: {measured:?} (after {WARM_UP} warm-up runs)");
    let store_arg = args
        .store
        .as_ref()
        .map(|s| format!(" --store {s}"))
        .unwrap_or_default();
    println!(
        "reproduce: wflow bench-serve --runs {} {}{store_arg} --processes {processes}{}{}",
        args.runs,
        load.options(),
        if args.mcp { " --mcp" } else { "" },
        if args.parallel { " --parallel" } else { "" },
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
