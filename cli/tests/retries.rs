//! Retries and timeouts through the real binary: a loopback endpoint that fails N times then
//! succeeds, one that always fails, a `kill -9` during a backoff, an expired approval, and
//! timeouts of nodes and runs.

mod support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value as Json;

use support::{
    BIN, Scratch as Dir, deliveries, json, node_run, recording_server as server, resume_latest,
    spawn_exec, text, wflow,
};

fn dir(name: &str, workflow: &str) -> Dir {
    let d = Dir::new(&format!("retries-{name}"));
    std::fs::write(d.0.join("w.wflow"), workflow).expect("write");
    d
}

fn workflow(body: &str) -> String {
    format!(
        "workflow w \"W\" {{\n  form trigger \"Go\" {{ permissions {{ roles [\"Member\"] }} }}\n{body}\n}}\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endpoint_that_fails_three_times_succeeds_on_the_fourth_attempt() {
    let (base, seen) = server().await;
    let d = dir(
        "flaky",
        &workflow(&format!(
            "  webhook call \"Call\" {{\n    url \"{base}/fail/3\"\n    \
             retry {{ attempts 5; backoff exponential 100ms max 1s jitter; on [5xx] }}\n  }}\n  \
             flow {{ trigger -> call }}"
        )),
    );
    let o = wflow(&d.0, &["exec", "w.wflow", "--format", "json"]).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let run = json(&o);
    let id = run["identifier"].as_str().expect("run id");
    let call = node_run(&run, "call");
    assert_eq!(call["result"], "SUCCESS");

    let got = deliveries(&seen, "/fail/3");
    assert_eq!(got.len(), 4, "{got:?}");
    // One Idempotency-Key, the node run's, for every attempt; the attempts are numbered.
    assert!(got.iter().all(|g| g.key == format!("{id}:call")), "{got:?}");
    let numbers: Vec<&str> = got.iter().map(|g| g.attempt.as_str()).collect();
    assert_eq!(numbers, ["1", "2", "3", "4"]);
    // Waits of 100, 200 and 400 ms, each jittered down to no less than half.
    for (i, (lo, hi)) in [(50, 100), (100, 200), (200, 400)].into_iter().enumerate() {
        let gap = got[i + 1].at.duration_since(got[i].at).as_millis();
        assert!(gap >= lo, "wait {} was {gap} ms, under {lo}", i + 1);
        assert!(
            gap <= hi + 1_500,
            "wait {} was {gap} ms, far over {hi}",
            i + 1
        );
    }
    // Each retried attempt is recorded with its cause and its wait, within the bounds.
    let attempts = call["attempts"].as_array().expect("attempts");
    assert_eq!(attempts.len(), 3, "{call}");
    for (a, (lo, hi)) in attempts.iter().zip([(50, 100), (100, 200), (200, 400)]) {
        assert_eq!(a["class"], "5xx");
        assert!(
            a["cause"].as_str().is_some_and(|c| c.contains("503")),
            "{a}"
        );
        let delay = a["delay_ms"].as_u64().expect("delay");
        assert!((lo..=hi).contains(&delay), "{a}");
    }
    let logs = wflow(&d.0, &["runs", "logs", id]).await;
    assert!(
        text(&logs).contains("attempt 1 of 5 failed (5xx)"),
        "{}",
        text(&logs)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endpoint_that_always_fails_fails_the_node_after_its_attempts() {
    let (base, seen) = server().await;
    let d = dir(
        "down",
        &workflow(&format!(
            "  defaults {{ retry {{ attempts 3; backoff fixed 20ms }} }}\n  \
             webhook call \"Call\" {{ url \"{base}/down\" }}\n  \
             webhook after \"After\" {{ url \"{base}/after\" }}\n  \
             flow {{ trigger -> call -> after }}"
        )),
    );
    let o = wflow(&d.0, &["exec", "w.wflow", "--format", "json"]).await;
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let run = json(&o);
    assert_eq!(run["result"], "FAILED");
    let call = node_run(&run, "call");
    assert_eq!(call["result"], "FAILED");
    assert_eq!(deliveries(&seen, "/down").len(), 3);
    assert!(deliveries(&seen, "/after").is_empty());
    // Every attempt is recorded; the last one has no next attempt.
    let attempts = call["attempts"].as_array().expect("attempts");
    let numbers: Vec<u64> = attempts
        .iter()
        .filter_map(|a| a["attempt"].as_u64())
        .collect();
    assert_eq!(numbers, [1, 2, 3], "{call}");
    assert!(attempts[2]["next_at"].is_null(), "{call}");
    assert!(attempts[..2].iter().all(|a| a["delay_ms"] == 20), "{call}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_declared_failures_retry_and_retry_after_is_honoured() {
    let (base, seen) = server().await;
    let d = dir(
        "classes",
        &workflow(&format!(
            "  webhook busy \"Busy\" {{\n    url \"{base}/busy\"\n    \
             retry {{ attempts 2; backoff fixed 10ms max 5s; on [429] }}\n  }}\n  \
             webhook down \"Down\" {{\n    url \"{base}/down\"\n    on_failure continue\n    \
             retry {{ attempts 4; backoff fixed 10ms; on [connect, 429] }}\n  }}\n  \
             flow {{ trigger -> busy -> down }}"
        )),
    );
    let o = wflow(&d.0, &["exec", "w.wflow", "--format", "json"]).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    // `Retry-After: 1` made the wait a second, not the declared 10 ms.
    let busy = deliveries(&seen, "/busy");
    assert_eq!(busy.len(), 2);
    assert!(busy[1].at.duration_since(busy[0].at) >= Duration::from_millis(950));
    // A 503 is not among `down`'s classes: one delivery, no retry.
    assert_eq!(deliveries(&seen, "/down").len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kill_during_a_backoff_resumes_at_the_right_time_without_an_extra_attempt() {
    let (base, seen) = server().await;
    let d = dir(
        "kill",
        &workflow(&format!(
            "  webhook call \"Call\" {{\n    url \"{base}/fail/1\"\n    \
             retry {{ attempts 3; backoff fixed 3s }}\n  }}\n  \
             flow {{ trigger -> call }}"
        )),
    );
    let mut child = spawn_exec(&d.0);
    let t0 = Instant::now();
    while deliveries(&seen, "/fail/1").is_empty() {
        assert!(t0.elapsed() < Duration::from_secs(30), "never called");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Well inside the 3 s backoff, once the failed attempt is written: kill -9.
    tokio::time::sleep(Duration::from_millis(700)).await;
    child.kill().expect("kill");
    child.wait().expect("wait");
    assert_eq!(deliveries(&seen, "/fail/1").len(), 1);

    let o = resume_latest(&d.0).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(json(&o)["result"], "SUCCESS");
    let got = deliveries(&seen, "/fail/1");
    assert_eq!(got.len(), 2, "no extra attempt: {got:?}");
    assert_eq!(got[0].key, got[1].key);
    assert_eq!(got[1].attempt, "2");
    let waited = got[1].at.duration_since(got[0].at);
    assert!(
        waited >= Duration::from_millis(2_950),
        "the second attempt came {waited:?} after the first, before the backoff ended"
    );
}

/// A workflow whose approval expires after `timeout` and takes `decline`.
fn expiring(base: &str, timeout: &str) -> String {
    workflow(&format!(
        "  approval ok \"OK\" {{\n    button approve \"Approve\" PRIMARY\n    \
         button decline \"Decline\" DANGER\n    timeout {timeout}\n    on_timeout decline\n  }}\n  \
         webhook deploy \"Deploy\" {{ url \"{base}/deploy\" }}\n  \
         webhook cleanup \"Clean up\" {{ url \"{base}/cleanup\" }}\n  \
         flow {{\n    trigger -> ok\n    ok.approve -> deploy\n    ok.decline -> cleanup\n  }}"
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_approval_takes_its_outlet() {
    let (base, seen) = server().await;
    let d = dir("expire", &expiring(&base, "1s"));
    let o = wflow(&d.0, &["exec", "w.wflow", "--format", "json"]).await;
    assert_eq!(o.status.code(), Some(3), "waiting: {}", text(&o));
    let run = json(&o)["identifier"].as_str().expect("id").to_string();
    tokio::time::sleep(Duration::from_millis(1_300)).await;
    // Too late to respond.
    let o = wflow(
        &d.0,
        &[
            "runs",
            "respond",
            &run,
            "ok",
            "--button",
            "approve",
            "--as",
            "a@example.com",
        ],
    )
    .await;
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("timeout passed"), "{}", text(&o));
    let o = wflow(&d.0, &["runs", "resume", &run, "--format", "json"]).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let shown = json(&o);
    let ok = node_run(&shown, "ok");
    assert_eq!(ok["output"]["selectedOutlet"]["identifier"], "decline");
    assert_eq!(ok["output"]["timeout"], true);
    assert_eq!(deliveries(&seen, "/cleanup").len(), 1);
    assert!(deliveries(&seen, "/deploy").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_expires_an_approval_by_itself() {
    let (base, seen) = server().await;
    let d = dir("serve", "");
    std::fs::create_dir_all(d.0.join("workflows")).expect("dir");
    std::fs::write(d.0.join("workflows/w.wflow"), expiring(&base, "1s")).expect("write");
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let listen = format!("127.0.0.1:{port}");
    let mut child = Command::new(BIN)
        .args(["serve", "workflows", "--listen", &listen])
        .current_dir(&d.0)
        .env_remove("WFLOW_STORE")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let client = reqwest::Client::new();
    let url = format!("http://{listen}/v1/workflows/w/runs");
    let t0 = Instant::now();
    let created = loop {
        let r = client
            .post(&url)
            .header("content-type", "application/json")
            .body("{\"inputs\": {}}")
            .send()
            .await;
        if let Ok(r) = r
            && r.status() == reqwest::StatusCode::CREATED
        {
            break r.json::<Json>().await.expect("json");
        }
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "serve never started"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let run = created["run"]["identifier"]
        .as_str()
        .or_else(|| created["identifier"].as_str())
        .unwrap_or_else(|| panic!("no run id in {created}"))
        .to_string();
    let t0 = Instant::now();
    let shown = loop {
        let r: Json = client
            .get(format!("http://{listen}/v1/workflows/runs/{run}"))
            .send()
            .await
            .expect("get")
            .json()
            .await
            .expect("json");
        let r = if r["run"].is_object() {
            r["run"].clone()
        } else {
            r
        };
        if r["status"] == "COMPLETED" {
            break r;
        }
        assert!(t0.elapsed() < Duration::from_secs(20), "never expired: {r}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(shown["result"], "SUCCESS", "{shown}");
    assert!(t0.elapsed() >= Duration::from_millis(800));
    assert_eq!(deliveries(&seen, "/cleanup").len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_and_run_timeouts() {
    let (base, seen) = server().await;
    // Each attempt may take 200 ms; a timeout is retried once, then the node continues.
    let d = dir(
        "node-timeout",
        &workflow(&format!(
            "  webhook slow \"Slow\" {{\n    url \"{base}/hang\"\n    timeout 200ms\n    \
             on_timeout continue\n    retry {{ attempts 2; backoff fixed 10ms; on [timeout] }}\n  }}\n  \
             webhook after \"After\" {{ url \"{base}/after\" }}\n  \
             flow {{ trigger -> slow -> after }}"
        )),
    );
    let t0 = Instant::now();
    let o = wflow(&d.0, &["exec", "w.wflow", "--format", "json"]).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(t0.elapsed() < Duration::from_secs(10));
    let run = json(&o);
    assert_eq!(node_run(&run, "slow")["output"]["timeout"], true);
    assert_eq!(deliveries(&seen, "/hang").len(), 2);
    assert_eq!(deliveries(&seen, "/after").len(), 1);

    // The run may take 1 s: an approval waiting past it fails the run.
    let d = dir(
        "run-timeout",
        &workflow(
            "  timeout 1s\n  approval ok \"OK\" { button yes \"Yes\" PRIMARY }\n  \
             flow { trigger -> ok }",
        ),
    );
    let o = wflow(&d.0, &["exec", "w.wflow", "--format", "json"]).await;
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    let run = json(&o)["identifier"].as_str().expect("id").to_string();
    tokio::time::sleep(Duration::from_millis(1_300)).await;
    let o = wflow(&d.0, &["runs", "resume", &run, "--format", "json"]).await;
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let shown = json(&o);
    assert_eq!(shown["result"], "FAILED");
    assert!(
        shown["error"]
            .as_str()
            .is_some_and(|e| e.contains("timeout of 1s")),
        "{shown}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endpoint_that_always_fails_takes_the_error_path_with_its_attempts() {
    let (base, seen) = server().await;
    let d = dir(
        "error-path",
        &workflow(&format!(
            "  webhook call \"Call\" {{\n    url \"{base}/down\"\n    \
             retry {{ attempts 2; backoff fixed 100ms }}\n  }}\n  \
             webhook report \"Report\" {{ url \"{base}/report/{{{{ .outputs.call.error.kind }}}}/{{{{ .outputs.call.error.attempts }}}}\" }}\n  \
             webhook next \"Next\" {{ url \"{base}/next\" }}\n  \
             flow {{\n    trigger -> call -> next\n    call.error -> report\n  }}"
        )),
    );
    let o = wflow(&d.0, &["exec", "w.wflow", "--format", "json"]).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let run = json(&o);
    assert_eq!(run["result"], "SUCCESS", "the error path handled it: {run}");
    assert_eq!(deliveries(&seen, "/down").len(), 2);
    assert_eq!(
        deliveries(&seen, "/report/5xx/2").len(),
        1,
        "the error path ran with kind and attempts"
    );
    assert!(
        deliveries(&seen, "/next").is_empty(),
        "the success path was not taken"
    );
    let call = node_run(&run, "call");
    assert_eq!(call["result"], "FAILED");
    assert_eq!(call["output"]["error"]["attempts"], 2);
}
