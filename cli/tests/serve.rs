//! `wflow serve` as a process: a broken workflow is refused with its diagnostics while the
//! others serve over HTTP on loopback, changed files are reloaded (runs keep the version they
//! started with), and SIGTERM stops it cleanly.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

/// A `wflow serve` process: its address and what it printed (read in the background).
struct Serving {
    child: Child,
    addr: String,
    log: Arc<Mutex<String>>,
    reader: JoinHandle<()>,
}

/// Starts `wflow serve` on `flows` and waits for its "serving" line.
fn start(dir: &Path, flows: &Path) -> Serving {
    let mut child = Command::new(env!("CARGO_BIN_EXE_wflow"))
        .args(["serve", "--listen", "127.0.0.1:0", "--store"])
        .arg(dir.join("wflow.db"))
        .arg(flows)
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
    fn log(&self) -> String {
        self.log.lock().expect("log").clone()
    }

    /// Sends SIGTERM; returns whether it exited successfully, and everything it printed.
    fn stop(mut self) -> (bool, String) {
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
