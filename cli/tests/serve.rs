//! `wflow serve` as a process: a broken workflow is refused with its diagnostics while the
//! others serve over HTTP on loopback, and SIGTERM stops it cleanly.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

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
    let mut child = Command::new(env!("CARGO_BIN_EXE_wflow"))
        .args(["serve", "--listen", "127.0.0.1:0", "--store"])
        .arg(dir.join("wflow.db"))
        .arg(&flows)
        .env("NO_COLOR", "1")
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut stderr = BufReader::new(child.stderr.take().expect("stderr"));
    let mut seen = String::new();
    let addr = loop {
        let mut line = String::new();
        if stderr.read_line(&mut line).expect("read") == 0 {
            panic!("wflow serve exited early:\n{seen}");
        }
        seen.push_str(&line);
        if let Some(rest) = line.trim().strip_prefix("serving 1 workflow on ") {
            break rest.to_string();
        }
    };
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

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let exit = child.wait().expect("wait");
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut rest).expect("read");
    assert!(exit.success(), "{exit:?}\n{rest}");
    assert!(rest.contains("stopped"), "{rest}");
    let _ = std::fs::remove_dir_all(&dir);
}
