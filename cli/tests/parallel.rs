//! Parallel branches and joins through the real binary: branches run at the same time (a
//! loopback server records when each request arrives), a join waits for all, any or N of
//! them, a failure stops the other branches, and a run killed mid-fork resumes every branch.

mod support;

use std::time::{Duration, Instant};

use support::{
    Scratch as Dir, deliveries, json, latest_run, node_run, recording_server as server,
    resume_latest, spawn_exec, text, wflow,
};

/// A workflow whose trigger forks to webhooks `a` and `b` (at `a_url`, `b_url`), joined by
/// `j` (`wait`), then webhook `after`.
fn forked(a_url: &str, b_url: &str, wait: &str, after_url: &str) -> Dir {
    let d = Dir::new("parallel");
    let src = format!(
        "workflow w \"W\" {{\n  form trigger \"Go\" {{ permissions {{ roles [\"Member\"] }} }}\n  \
         webhook a \"A\" {{ url \"{a_url}\" }}\n  webhook b \"B\" {{ url \"{b_url}\" }}\n  \
         join j \"J\" {{ wait {wait} }}\n  webhook after \"After\" {{ url \"{after_url}\" }}\n  \
         flow {{\n    trigger -> a -> j\n    trigger -> b -> j\n    j -> after\n  }}\n}}\n"
    );
    std::fs::write(d.0.join("w.wflow"), src).expect("write");
    d
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_slow_webhooks_run_at_once_and_a_join_all_waits_for_both() {
    let (base, seen) = server().await;
    let d = forked(
        &format!("{base}/sleep/300/a"),
        &format!("{base}/sleep/300/b"),
        "all",
        &format!("{base}/after"),
    );
    let o = wflow(&d.0, &["exec", "w.wflow", "--format", "json"]).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let run = json(&o);
    assert_eq!(run["result"], "SUCCESS", "{run}");
    let (a, b) = (
        deliveries(&seen, "/sleep/300/a"),
        deliveries(&seen, "/sleep/300/b"),
    );
    let after = deliveries(&seen, "/after");
    assert_eq!((a.len(), b.len(), after.len()), (1, 1, 1), "each node once");
    let (first, last) = if a[0].at <= b[0].at {
        (a[0].at, b[0].at)
    } else {
        (b[0].at, a[0].at)
    };
    assert!(
        last.duration_since(first) < Duration::from_millis(200),
        "the second branch started {:?} after the first: not in parallel",
        last.duration_since(first)
    );
    let total = after[0].at.duration_since(first);
    assert!(
        total >= Duration::from_millis(300)
            && after[0].at.duration_since(last) >= Duration::from_millis(295),
        "the join went on before both answered ({total:?})"
    );
    assert!(
        total < Duration::from_millis(600),
        "two 300 ms webhooks and the join took {total:?}: one after the other"
    );
    assert_eq!(
        node_run(&run, "j")["output"]["arrived"],
        serde_json::json!(["a", "b"])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_join_any_goes_on_with_the_first_branch_and_the_other_still_finishes() {
    let (base, seen) = server().await;
    let d = forked(
        &format!("{base}/sleep/50/a"),
        &format!("{base}/sleep/800/b"),
        "any",
        &format!("{base}/after"),
    );
    let o = wflow(&d.0, &["exec", "w.wflow", "--format", "json"]).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let run = json(&o);
    assert_eq!(run["result"], "SUCCESS", "{run}");
    let b = deliveries(&seen, "/sleep/800/b");
    let after = deliveries(&seen, "/after");
    assert_eq!((b.len(), after.len()), (1, 1));
    assert!(
        after[0].at.duration_since(b[0].at) < Duration::from_millis(700),
        "the join waited for the slow branch"
    );
    assert_eq!(
        node_run(&run, "j")["output"]["arrived"],
        serde_json::json!(["a"])
    );
    assert_eq!(
        node_run(&run, "b")["result"],
        "SUCCESS",
        "the slow branch ran to its end"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_branch_stops_the_other_branches() {
    let (base, seen) = server().await;
    let d = forked(
        &format!("{base}/down"),
        &format!("{base}/hang"),
        "all",
        &format!("{base}/after"),
    );
    let t0 = Instant::now();
    let o = wflow(&d.0, &["exec", "w.wflow", "--format", "json"]).await;
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        t0.elapsed() < Duration::from_secs(10),
        "the run waited for the hanging branch"
    );
    let run = json(&o);
    assert_eq!(run["result"], "FAILED", "{run}");
    assert_eq!(node_run(&run, "a")["result"], "FAILED");
    assert_eq!(node_run(&run, "b")["result"], "CANCELLED");
    assert!(deliveries(&seen, "/after").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_killed_mid_fork_resumes_every_unfinished_branch() {
    let (base, seen) = server().await;
    let d = forked(
        &format!("{base}/hang-once/a"),
        &format!("{base}/hang-once/b"),
        "all",
        &format!("{base}/after"),
    );
    let mut child = spawn_exec(&d.0);
    let t0 = Instant::now();
    while deliveries(&seen, "/hang-once/a").is_empty()
        || deliveries(&seen, "/hang-once/b").is_empty()
    {
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "the branches never started"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    child.kill().expect("kill");
    child.wait().expect("wait");

    let o = resume_latest(&d.0).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(json(&o)["result"], "SUCCESS");
    for path in ["/hang-once/a", "/hang-once/b"] {
        let got = deliveries(&seen, path);
        assert_eq!(got.len(), 2, "{path} sent again once: {got:?}");
        assert_eq!(got[0].key, got[1].key, "{path} kept its Idempotency-Key");
    }
    assert_eq!(
        deliveries(&seen, "/after").len(),
        1,
        "the join went on once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_stops_every_branch_before_its_next_effect() {
    let (base, seen) = server().await;
    let d = Dir::new("parallel-cancel");
    let src = format!(
        "workflow w \"W\" {{\n  form trigger \"Go\" {{ permissions {{ roles [\"Member\"] }} }}\n  \
         webhook a \"A\" {{ url \"{base}/sleep/600/a\" }}\n  webhook a2 \"A2\" {{ url \"{base}/a2\" }}\n  \
         webhook b \"B\" {{ url \"{base}/sleep/600/b\" }}\n  webhook b2 \"B2\" {{ url \"{base}/b2\" }}\n  \
         flow {{\n    trigger -> a -> a2\n    trigger -> b -> b2\n  }}\n}}\n"
    );
    std::fs::write(d.0.join("w.wflow"), src).expect("write");
    let mut child = spawn_exec(&d.0);
    let t0 = Instant::now();
    while deliveries(&seen, "/sleep/600/a").is_empty()
        || deliveries(&seen, "/sleep/600/b").is_empty()
    {
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "the branches never started"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let id = latest_run(&d.0).await;
    let o = wflow(&d.0, &["runs", "cancel", &id]).await;
    assert!(o.status.success(), "{}", text(&o));
    let exit = tokio::task::spawn_blocking(move || child.wait().expect("wait"))
        .await
        .expect("join");
    assert_eq!(exit.code(), Some(1), "a cancelled run exits 1");
    let o = wflow(&d.0, &["runs", "show", &id, "--format", "json"]).await;
    let run = json(&o);
    assert_eq!(run["result"], "CANCELLED", "{run}");
    assert!(
        deliveries(&seen, "/a2").is_empty() && deliveries(&seen, "/b2").is_empty(),
        "a branch went on after the cancel"
    );
}
