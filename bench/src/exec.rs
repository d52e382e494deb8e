//! `wflow bench-exec`: the runtime's figures on this machine. A 3-node workflow (form trigger
//! -> webhook to a loopback server -> upsert into the catalog) runs against a fresh durable
//! SQLite store:
//! - latency: runs one at a time; the engine's overhead per node is the run's time minus the
//!   webhook's HTTP round trip (measured separately with the same client), divided by 3;
//! - throughput: many runs at once, runs per second;
//! - memory: the resident set size every tenth of the throughput runs.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use wflow_compiler::{Syntax, check_source};
use wflow_engine::engine::Conclusion;
use wflow_engine::{Config, Engine, Plan, Quiet, Secrets, Store};

use crate::loopback::{Loopback, percentile};

/// Runs before anything is measured.
const WARM_UP: usize = 200;

/// Options of `wflow bench-exec`.
#[derive(clap::Args, Debug)]
pub struct BenchExecArgs {
    /// Runs measured one at a time (latency).
    #[arg(long, default_value_t = 2000)]
    latency_runs: usize,
    /// Runs measured concurrently (throughput and memory).
    #[arg(long, default_value_t = 20_000)]
    runs: usize,
    /// Runs in flight at once.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
}

fn rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Runs the benchmark and prints what it measured.
pub async fn run(args: BenchExecArgs) -> Result<(), String> {
    // Warm-up, round trips alone, sequential runs, concurrent runs.
    let requests = WARM_UP + 2 * args.latency_runs + args.runs;
    let loopback = Loopback::start(requests, Duration::from_secs(3600), false).await?;
    let addr = loopback.addr;

    let dir = std::env::temp_dir().join(format!("wflow-bench-exec-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let store = Store::open(&dir.join("wflow.db")).await.map_err(|e| e.0)?;
    store
        .apply(vec![wflow_store::Write::PutBlueprint {
            identifier: "service".into(),
            body: json!({"identifier": "service", "schema": {"properties": {
                "version": {"type": "string"}, "deployId": {"type": "string"}}}}),
        }])
        .await
        .map_err(|e| e.0)?;
    let engine = Engine::new(store, Config::default()).map_err(|e| e.to_string())?;
    let src = format!(
        r#"workflow bench "Bench" {{
  form trigger "T" {{ input service: string "S"; input version: string "V" }}
  webhook deploy "Deploy" {{
    url "http://{addr}/deploy/{{{{ .outputs.trigger.service }}}}"
    body {{ service: "{{{{ .outputs.trigger.service }}}}", version: "{{{{ .outputs.trigger.version }}}}" }}
  }}
  upsert rec "Record" {{
    blueprint service
    entity {{ identifier "{{{{ .outputs.trigger.service }}}}"; properties {{ version: "{{{{ .outputs.trigger.version }}}}", deployId: "{{{{ .outputs.deploy.response.data.id }}}}" }} }}
  }}
  flow {{ trigger -> deploy -> rec }}
}}"#
    );
    let checked = check_source(&src, Syntax::Wflow);
    let wf = checked
        .module
        .workflows
        .into_iter()
        .next()
        .ok_or("the benchmark workflow did not compile")?;
    let plan = Arc::new(
        Plan::new(wf, src.clone(), Syntax::Wflow, "bench.wflow".into())
            .map_err(|p| p.join("; "))?,
    );
    let secrets = Arc::new(Secrets::default());

    let one = {
        let (engine, plan, secrets) = (engine.clone(), Arc::clone(&plan), Arc::clone(&secrets));
        move |i: usize| {
            let engine = engine.clone();
            let plan = Arc::clone(&plan);
            let secrets = Arc::clone(&secrets);
            async move {
                let payload =
                    json!({"service": format!("svc-{}", i % 500), "version": format!("v{i}")});
                let o = engine
                    .run(&plan, "trigger", payload, None, &secrets, &Quiet)
                    .await
                    .map_err(|e| e.to_string())?;
                if o.result != Some(Conclusion::Success) {
                    return Err(format!("run {} ended {:?}", o.run_id, o.result));
                }
                Ok::<(), String>(())
            }
        }
    };

    // Warm up, then the HTTP round trip alone.
    for i in 0..WARM_UP {
        one(i).await?;
    }
    let client = reqwest::Client::new();
    let mut http = Vec::with_capacity(args.latency_runs);
    for _ in 0..args.latency_runs {
        let t = Instant::now();
        client
            .post(format!("http://{addr}/deploy/x"))
            .json(&json!({"service": "x", "version": "v"}))
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .map_err(|e| e.to_string())?
            .text()
            .await
            .map_err(|e| e.to_string())?;
        http.push(t.elapsed());
    }
    http.sort();
    let mut lat = Vec::with_capacity(args.latency_runs);
    for i in 0..args.latency_runs {
        let t = Instant::now();
        one(i).await?;
        lat.push(t.elapsed());
    }
    lat.sort();
    let http_p50 = percentile(&http, 0.5);
    let run_p50 = percentile(&lat, 0.5);
    let overhead = run_p50.saturating_sub(http_p50) / 3;
    println!(
        "latency ({} sequential runs): run p50 {:.3} ms, p99 {:.3} ms; webhook round trip p50 {:.3} ms",
        args.latency_runs,
        run_p50.as_secs_f64() * 1e3,
        percentile(&lat, 0.99).as_secs_f64() * 1e3,
        http_p50.as_secs_f64() * 1e3,
    );
    println!(
        "engine overhead per node (p50, durable SQLite store, webhook latency excluded): {:.3} ms",
        overhead.as_secs_f64() * 1e3
    );

    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let total = args.runs;
    let step = (total / 10).max(1);
    let t0 = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..args.concurrency.max(1) {
        let next = Arc::clone(&next);
        let one = one.clone();
        workers.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= total {
                    return Ok::<(), String>(());
                }
                one(i).await?;
                if (i + 1).is_multiple_of(step) {
                    println!(
                        "  {:>7} runs  rss {} KiB",
                        i + 1,
                        rss_kib().map_or("?".into(), |r| r.to_string())
                    );
                }
            }
        }));
    }
    for w in workers {
        w.await.map_err(|e| e.to_string())??;
    }
    let secs = t0.elapsed().as_secs_f64();
    println!(
        "throughput: {total} runs of trigger -> webhook -> upsert in {secs:.2} s = {:.0} runs/s ({} at once)",
        total as f64 / secs,
        args.concurrency
    );
    engine.store.clone().close().await;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
