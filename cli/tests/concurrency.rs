//! A workflow's concurrency limit through the real binary: `wflow serve` on a SQLite file, runs
//! started over HTTP, and a loopback webhook server that holds each request until the test
//! releases it. A run over the limit is accepted as QUEUED and its webhook is not called until
//! a running run ends; queued runs start in the order they were accepted, a cancelled one
//! leaves the queue, and the queue survives a `kill -9` of the server.

mod support;

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::{StatusCode, Uri};
use serde_json::{Value as Json, json};
use support::{
    Reaper, Scratch, Serving, json as stdout_json, on_loopback, post_json, start, text,
    wait_served, wflow,
};
use tokio::sync::watch;

/// A loopback server holding each request to `/gate/TAG` until [`Gate::release`] opens TAG;
/// it records the tags in the order they arrived.
#[derive(Clone, Default)]
struct Gate {
    arrived: Arc<Mutex<Vec<(String, Instant)>>>,
    doors: Arc<Mutex<HashMap<String, watch::Sender<bool>>>>,
}

impl Gate {
    async fn serve() -> (String, Gate) {
        let gate = Gate::default();
        let g = gate.clone();
        let app = axum::Router::new().fallback(move |uri: Uri| {
            let g = g.clone();
            async move {
                let tag = uri.path().trim_start_matches("/gate/").to_string();
                g.arrived
                    .lock()
                    .expect("lock")
                    .push((tag.clone(), Instant::now()));
                let mut open = g.door(&tag).subscribe();
                // A request still held when its sender is gone is simply dropped.
                let _ = open.wait_for(|o| *o).await;
                (StatusCode::OK, "{\"ok\": true}")
            }
        });
        (on_loopback(app).await, gate)
    }

    fn door(&self, tag: &str) -> watch::Sender<bool> {
        let mut doors = self.doors.lock().expect("lock");
        doors
            .entry(tag.to_string())
            .or_insert_with(|| watch::channel(false).0)
            .clone()
    }

    /// Lets the requests to TAG, held and future, through.
    fn release(&self, tag: &str) {
        self.door(tag).send_replace(true);
    }

    /// The tags that arrived, in order (a tag sent again after a restart appears twice).
    fn arrived(&self) -> Vec<String> {
        let arrived = self.arrived.lock().expect("lock");
        arrived.iter().map(|(t, _)| t.clone()).collect()
    }

    /// When TAG first arrived.
    fn first(&self, tag: &str) -> Option<Instant> {
        let arrived = self.arrived.lock().expect("lock");
        arrived.iter().find(|(t, _)| t == tag).map(|(_, at)| *at)
    }

    /// Waits (up to 15 s) for a request to TAG.
    async fn wait_for(&self, tag: &str) {
        for _ in 0..300 {
            if self.first(tag).is_some() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "{tag} never called the webhook; arrived: {:?}",
            self.arrived()
        );
    }
}

/// A directory with `workflows/deploy.wflow`: the workflow-level `settings` (`concurrency 1`),
/// a form with input `tag`, and one webhook to `GATE/gate/TAG`.
fn deploy(gate: &str, settings: &str) -> Scratch {
    let d = Scratch::new("concurrency");
    let flows = d.0.join("workflows");
    std::fs::create_dir_all(&flows).expect("dir");
    let src = format!(
        "workflow deploy \"Deploy\" {{\n  {settings}\n  form trigger \"Go\" {{ input tag: \
         string \"Tag\" }}\n  webhook hook \"Deploy\" {{ url \"{gate}/gate/{{{{ .outputs.trigger.tag \
         }}}}\" }}\n  flow {{ trigger -> hook }}\n}}\n"
    );
    std::fs::write(flows.join("deploy.wflow"), src).expect("write");
    d
}

/// `wflow serve` on `dir`'s workflows and SQLite file, serving `deploy`.
async fn serving(dir: &Path, http: &reqwest::Client) -> Serving {
    let s = start(dir, &dir.join("workflows"));
    assert!(wait_served(http, &s.addr, "deploy").await, "{}", s.log());
    s
}

/// A gate, `deploy` with `settings` calling it, and `wflow serve` serving it.
async fn served(settings: &str) -> (Gate, Scratch, reqwest::Client, Serving) {
    let (gate_url, gate) = Gate::serve().await;
    let d = deploy(&gate_url, settings);
    let http = reqwest::Client::new();
    let s = serving(&d.0, &http).await;
    (gate, d, http, s)
}

/// Starts a run of `deploy` with `tag`: 201 and the run.
async fn start_run(http: &reqwest::Client, addr: &str, tag: &str) -> Json {
    let url = format!("{addr}/v1/workflows/deploy/runs");
    let (status, body) = post_json(http, url, json!({ "inputs": { "tag": tag } })).await;
    assert_eq!(status, 201, "{body}");
    body["run"].clone()
}

async fn run(http: &reqwest::Client, addr: &str, id: &str) -> Json {
    let resp = http
        .get(format!("{addr}/v1/workflows/runs/{id}"))
        .send()
        .await
        .expect("get");
    resp.json::<Json>().await.expect("json")["run"].clone()
}

fn id(run: &Json) -> String {
    run["identifier"].as_str().expect("an id").to_string()
}

/// Waits (up to 15 s) for run `id` to end; its result.
async fn result(http: &reqwest::Client, addr: &str, id: &str) -> String {
    for _ in 0..300 {
        let r = run(http, addr, id).await;
        if let Some(result) = r["result"].as_str() {
            return result.to_string();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("run {id} did not end");
}

/// The ids of the runs the API lists with status `status`.
async fn listed(http: &reqwest::Client, addr: &str, status: &str) -> Vec<String> {
    let resp = http
        .get(format!(
            "{addr}/v1/workflows/runs?workflow=deploy&status={status}"
        ))
        .send()
        .await
        .expect("list");
    let body: Json = resp.json().await.expect("json");
    body["runs"]
        .as_array()
        .unwrap_or_else(|| panic!("{body}"))
        .iter()
        .map(id)
        .collect()
}

/// Long enough for a webhook that should not be called to have been called.
const SETTLE: Duration = Duration::from_millis(400);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_limit_of_one_holds_the_second_run_until_the_first_ends() {
    let (gate, _dir, http, s) = served("concurrency 1").await;
    let _reaper = Reaper(vec![s.child.id()]);

    let first = start_run(&http, &s.addr, "first").await;
    gate.wait_for("first").await;
    let second = start_run(&http, &s.addr, "second").await;
    assert_eq!(first["status"], "IN_PROGRESS", "{first}");
    assert_eq!(second["status"], "QUEUED", "{second}");
    tokio::time::sleep(SETTLE).await;
    assert_eq!(
        gate.arrived(),
        ["first"],
        "the second run's webhook was called"
    );
    assert_eq!(run(&http, &s.addr, &id(&second)).await["status"], "QUEUED");

    assert_eq!(listed(&http, &s.addr, "QUEUED").await, [id(&second)]);

    let released = Instant::now();
    gate.release("first");
    assert_eq!(result(&http, &s.addr, &id(&first)).await, "SUCCESS");
    gate.wait_for("second").await;
    assert!(gate.first("second").is_some_and(|at| at > released));
    assert_eq!(
        run(&http, &s.addr, &id(&second)).await["status"],
        "IN_PROGRESS"
    );
    gate.release("second");
    assert_eq!(result(&http, &s.addr, &id(&second)).await, "SUCCESS");
    assert_eq!(gate.arrived(), ["first", "second"]);
    let (stopped, log) = s.stop();
    assert!(stopped, "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_limit_of_two_runs_two_at_once_and_queues_the_third() {
    let (gate, _dir, http, s) = served("concurrency 2").await;
    let _reaper = Reaper(vec![s.child.id()]);

    let runs = [
        start_run(&http, &s.addr, "a").await,
        start_run(&http, &s.addr, "b").await,
        start_run(&http, &s.addr, "c").await,
    ];
    let statuses: Vec<&Json> = runs.iter().map(|r| &r["status"]).collect();
    assert_eq!(statuses, ["IN_PROGRESS", "IN_PROGRESS", "QUEUED"]);
    gate.wait_for("a").await;
    gate.wait_for("b").await;
    tokio::time::sleep(SETTLE).await;
    assert_eq!(gate.first("c"), None, "the third run went past the limit");
    assert_eq!(
        run(&http, &s.addr, &id(&runs[2])).await["queue"],
        json!({"ahead": 0, "inProgress": 2, "limit": 2}),
        "where the queued run stands"
    );
    assert_eq!(run(&http, &s.addr, &id(&runs[0])).await.get("queue"), None);

    gate.release("b");
    assert_eq!(result(&http, &s.addr, &id(&runs[1])).await, "SUCCESS");
    gate.wait_for("c").await;
    assert_eq!(
        run(&http, &s.addr, &id(&runs[0])).await["status"],
        "IN_PROGRESS"
    );
    gate.release("a");
    gate.release("c");
    for r in &runs {
        assert_eq!(result(&http, &s.addr, &id(r)).await, "SUCCESS");
    }
    let (stopped, log) = s.stop();
    assert!(stopped, "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_queued_run_leaves_the_queue_and_never_runs() {
    let (gate, _dir, http, s) = served("concurrency 1").await;
    let _reaper = Reaper(vec![s.child.id()]);

    let first = start_run(&http, &s.addr, "first").await;
    gate.wait_for("first").await;
    let doomed = start_run(&http, &s.addr, "doomed").await;
    let last = start_run(&http, &s.addr, "last").await;
    assert_eq!(
        run(&http, &s.addr, &id(&last)).await["queue"],
        json!({"ahead": 1, "inProgress": 1, "limit": 1}),
        "the last run stands behind the doomed one"
    );
    let url = format!("{}/v1/workflows/runs/{}/cancel", s.addr, id(&doomed));
    let (status, body) = post_json(&http, url, json!({})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        run(&http, &s.addr, &id(&last)).await["queue"]["ahead"],
        0,
        "the cancelled run's place is taken"
    );
    assert_eq!(
        (&body["run"]["status"], &body["run"]["result"]),
        (&json!("COMPLETED"), &json!("CANCELLED")),
        "{body}"
    );
    assert_eq!(listed(&http, &s.addr, "QUEUED").await, [id(&last)]);

    gate.release("first");
    gate.wait_for("last").await;
    gate.release("last");
    assert_eq!(result(&http, &s.addr, &id(&first)).await, "SUCCESS");
    assert_eq!(result(&http, &s.addr, &id(&last)).await, "SUCCESS");
    assert_eq!(gate.arrived(), ["first", "last"]);
    let (stopped, log) = s.stop();
    assert!(stopped, "{log}");
}

/// A server killed (-9) with one run held at its webhook and two queued: once restarted, the
/// held run is resumed, and the queued ones run after it, one at a time, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_runs_survive_a_kill_and_run_in_order_after_the_restart() {
    let (gate, d, http, mut doomed) = served("concurrency 1").await;
    let _reaper = Reaper(vec![doomed.child.id()]);
    let held = start_run(&http, &doomed.addr, "held").await;
    gate.wait_for("held").await;
    let second = start_run(&http, &doomed.addr, "second").await;
    let third = start_run(&http, &doomed.addr, "third").await;
    doomed.child.kill().expect("kill -9");
    doomed.child.wait().expect("wait");

    let s = serving(&d.0, &http).await;
    let _reaper = Reaper(vec![s.child.id()]);
    assert_eq!(run(&http, &s.addr, &id(&second)).await["status"], "QUEUED");
    assert_eq!(run(&http, &s.addr, &id(&third)).await["status"], "QUEUED");
    gate.release("held");
    assert_eq!(result(&http, &s.addr, &id(&held)).await, "SUCCESS");
    gate.wait_for("second").await;
    tokio::time::sleep(SETTLE).await;
    assert_eq!(
        gate.first("third"),
        None,
        "the third run overlapped the second"
    );
    gate.release("second");
    gate.wait_for("third").await;
    gate.release("third");
    assert_eq!(result(&http, &s.addr, &id(&third)).await, "SUCCESS");
    let arrived = gate.arrived();
    let after_kill: Vec<&String> = arrived.iter().filter(|t| *t != "held").collect();
    assert_eq!(after_kill, ["second", "third"], "{arrived:?}");
    let (stopped, log) = s.stop();
    assert!(stopped, "{log}");
}

/// A workflow with `concurrency 1` whose runs wait for approval `gate` when input `mode` is
/// `wait`, and otherwise fail (a webhook to a closed port).
fn gated() -> Scratch {
    let d = Scratch::new("concurrency-cli");
    let src = "workflow w \"W\" {\n  concurrency 1\n  form trigger \"Go\" { input mode: string \"Mode\" }\n  \
        condition pick \"Pick\" { outlet wait \"Wait\" when `.outputs.trigger.mode == \"wait\"` }\n  \
        approval gate \"Gate\" { button ok \"OK\" }\n  \
        webhook call \"Call\" { url \"http://127.0.0.1:9/down\" }\n  \
        flow {\n    trigger -> pick\n    pick.wait -> gate\n    pick.fallback -> call\n  }\n}\n";
    std::fs::write(d.0.join("w.wflow"), src).expect("write");
    d
}

/// `wflow exec w.wflow -i mode=MODE` in `d`: its exit code and the run it printed.
async fn exec(d: &Scratch, mode: &str) -> (Option<i32>, Json) {
    let mode = format!("mode={mode}");
    let o = wflow(&d.0, &["exec", "w.wflow", "-i", &mode, "--format", "json"]).await;
    (o.status.code(), stdout_json(&o))
}

/// `wflow exec` of a workflow whose limit is taken queues its run (exit 3, QUEUED); when the
/// running run ends, the queued one may start, and `runs resume` runs it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_queues_a_run_over_the_limit_and_runs_resume_starts_it_in_turn() {
    let d = gated();
    let (code, first) = exec(&d, "wait").await;
    assert_eq!(code, Some(3), "{first}");
    let first = id(&first);
    let (code, second) = exec(&d, "wait").await;
    assert_eq!(
        (code, &second["status"]),
        (Some(3), &json!("QUEUED")),
        "{second}"
    );
    assert_eq!(
        second["nodeRuns"].as_array().map(Vec::len),
        Some(1),
        "only the trigger"
    );
    let second = id(&second);
    let queued = wflow(
        &d.0,
        &["runs", "list", "--status", "queued", "--format", "json"],
    )
    .await;
    assert_eq!(stdout_json(&queued)[0]["identifier"], second.as_str());
    let still = wflow(&d.0, &["runs", "resume", &second]).await;
    assert_eq!(still.status.code(), Some(3), "{}", text(&still));
    assert!(text(&still).contains("queued"), "{}", text(&still));

    let respond = [
        "runs",
        "respond",
        &first,
        "gate",
        "--button",
        "ok",
        "--as",
        "a@example.com",
    ];
    let done = wflow(&d.0, &respond).await;
    assert_eq!(done.status.code(), Some(0), "{}", text(&done));
    assert!(
        text(&done).contains(&format!("run {second} was queued")),
        "{}",
        text(&done)
    );
    let resumed = wflow(&d.0, &["runs", "resume", &second, "--format", "json"]).await;
    assert_eq!(resumed.status.code(), Some(3), "{}", text(&resumed));
    assert_eq!(
        support::node_run(&stdout_json(&resumed), "gate")["status"],
        "IN_PROGRESS"
    );
}

/// `wflow runs retry` of a failed run while another run holds the limit queues it again
/// instead of running it beside the other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_run_waits_for_its_turn() {
    let d = gated();
    let (code, failed) = exec(&d, "fail").await;
    assert_eq!(code, Some(1), "{failed}");
    let failed = id(&failed);
    let (code, holder) = exec(&d, "wait").await;
    assert_eq!(code, Some(3), "{holder}");
    let holder = id(&holder);

    let retried = wflow(&d.0, &["runs", "retry", &failed, "--format", "json"]).await;
    assert_eq!(retried.status.code(), Some(3), "{}", text(&retried));
    assert_eq!(stdout_json(&retried)["status"], "QUEUED");
    let respond = [
        "runs",
        "respond",
        &holder,
        "gate",
        "--button",
        "ok",
        "--as",
        "a@example.com",
    ];
    assert_eq!(wflow(&d.0, &respond).await.status.code(), Some(0));
    let again = wflow(&d.0, &["runs", "resume", &failed, "--format", "json"]).await;
    assert_eq!(again.status.code(), Some(1), "{}", text(&again));
    assert_eq!(stdout_json(&again)["result"], "FAILED");
}

/// Two `wflow serve` processes on one PostgreSQL store, a limit of 1 and runs started on both
/// in turn: one run at a time, in the order they were accepted, whichever process started
/// or drives it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_on_postgres_keep_one_queue() {
    let Some(database) = support::Database::fresh("wflow_concurrency").await else {
        return;
    };
    let (gate_url, gate) = Gate::serve().await;
    let d = deploy(&gate_url, "concurrency 1");
    let http = reqwest::Client::new();
    let store = Path::new(&database.url);
    let processes = [
        support::start_on(store, &d.0.join("workflows"), &[]),
        support::start_on(store, &d.0.join("workflows"), &[]),
    ];
    let _reaper = Reaper(processes.iter().map(|p| p.child.id()).collect());
    for p in &processes {
        assert!(wait_served(&http, &p.addr, "deploy").await, "{}", p.log());
    }
    let tags: Vec<String> = (0..6).map(|i| format!("r{i}")).collect();
    let mut runs = Vec::new();
    for (i, tag) in tags.iter().enumerate() {
        runs.push(start_run(&http, &processes[i % 2].addr, tag).await);
    }
    for (i, tag) in tags.iter().enumerate() {
        gate.wait_for(tag).await;
        tokio::time::sleep(SETTLE).await;
        assert_eq!(
            gate.arrived(),
            tags[..=i],
            "more than one run at once, or out of order"
        );
        gate.release(tag);
    }
    for r in &runs {
        assert_eq!(result(&http, &processes[0].addr, &id(r)).await, "SUCCESS");
    }
    for p in processes {
        let (stopped, log) = p.stop();
        assert!(stopped, "{log}");
    }
    database.drop().await;
}

/// A run that ends by its timeout frees its place; the queued run is timed from its start, not
/// from when it was accepted, so it does not time out for having waited its turn.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_timing_out_frees_its_place_and_queue_time_is_not_run_time() {
    let (gate, _dir, http, s) = served("concurrency 1\n  timeout 1s").await;
    let _reaper = Reaper(vec![s.child.id()]);
    let stuck = start_run(&http, &s.addr, "stuck").await;
    let next = start_run(&http, &s.addr, "next").await;
    assert_eq!(next["status"], "QUEUED", "{next}");
    assert_eq!(result(&http, &s.addr, &id(&stuck)).await, "FAILED");
    let failed = run(&http, &s.addr, &id(&stuck)).await;
    assert!(
        failed["error"]
            .as_str()
            .is_some_and(|e| e.contains("timeout of 1s")),
        "{failed}"
    );
    gate.wait_for("next").await;
    gate.release("next");
    assert_eq!(result(&http, &s.addr, &id(&next)).await, "SUCCESS");
    let (stopped, log) = s.stop();
    assert!(stopped, "{log}");
}

/// `concurrency 1 by KEY`: runs with different keys go on together; a run whose key is taken
/// waits for the run with that key, not for the others.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_limit_per_key_queues_only_runs_of_the_same_key() {
    let (gate, _dir, http, s) =
        served("concurrency 1 by `(.outputs.trigger.tag | split(\"-\"))[0]`").await;
    let _reaper = Reaper(vec![s.child.id()]);
    let api1 = start_run(&http, &s.addr, "api-1").await;
    let web1 = start_run(&http, &s.addr, "web-1").await;
    let api2 = start_run(&http, &s.addr, "api-2").await;
    let statuses = [&api1["status"], &web1["status"], &api2["status"]];
    assert_eq!(statuses, ["IN_PROGRESS", "IN_PROGRESS", "QUEUED"]);
    gate.wait_for("api-1").await;
    gate.wait_for("web-1").await;

    gate.release("web-1");
    assert_eq!(result(&http, &s.addr, &id(&web1)).await, "SUCCESS");
    tokio::time::sleep(SETTLE).await;
    assert_eq!(gate.first("api-2"), None, "another key's end started api-2");
    gate.release("api-1");
    gate.wait_for("api-2").await;
    gate.release("api-2");
    assert_eq!(result(&http, &s.addr, &id(&api2)).await, "SUCCESS");
    let (stopped, log) = s.stop();
    assert!(stopped, "{log}");
}

/// A key that fails on a run's inputs is the starter's to fix: a 422 at `/inputs`, nothing
/// queued; a key that works on the next run starts it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_failing_on_the_inputs_is_refused_with_422() {
    let (gate, _dir, http, s) = served("concurrency 1 by `.outputs.trigger.tag | tonumber`").await;
    let _reaper = Reaper(vec![s.child.id()]);
    let url = format!("{}/v1/workflows/deploy/runs", s.addr);
    let (status, body) = post_json(&http, url.clone(), json!({"inputs": {"tag": "api"}})).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["problems"][0]["pointer"], "/inputs", "{body}");
    assert!(
        body["problems"][0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("concurrency key")),
        "{body}"
    );
    let ok = start_run(&http, &s.addr, "7").await;
    gate.wait_for("7").await;
    gate.release("7");
    assert_eq!(result(&http, &s.addr, &id(&ok)).await, "SUCCESS");
    let (stopped, log) = s.stop();
    assert!(stopped, "{log}");
}
