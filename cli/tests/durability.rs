//! Power-loss durability: `wflow serve` on SQLite has the run on disk (the store fsynced)
//! before it answers 201. Watched with `strace`: after the request is read, an fsync or
//! fdatasync comes before the 201 is written.

mod support;

use std::process::Command;

use support::{Scratch, start_under};

const WORKFLOW: &str = "workflow w \"W\" {\n  form trigger \"Go\" { input n?: number \"N\" }\n  webhook call \"Call\" { url \"http://127.0.0.1:9/x\" }\n  flow { trigger -> call }\n}\n";

#[tokio::test(flavor = "multi_thread")]
async fn the_run_is_fsynced_before_the_201() {
    if Command::new("strace").arg("-V").output().is_err() {
        panic!("this test needs strace (Debian: apt-get install strace)");
    }
    let dir = Scratch::new("durability");
    let flows = dir.0.join("flows");
    std::fs::create_dir_all(&flows).expect("dir");
    std::fs::write(flows.join("w.wflow"), WORKFLOW).expect("write");
    let trace = dir.0.join("trace.txt");
    let trace_arg = trace.display().to_string();
    let server = start_under(
        &[
            "strace",
            "-f",
            "-qq",
            "-s",
            "64",
            "-e",
            "trace=fsync,fdatasync,read,recvfrom,recvmsg,write,writev,sendto,sendmsg",
            "-o",
            &trace_arg,
            "--",
        ],
        &dir.0.join("wflow.db"),
        &flows,
        &[],
        &[],
    );
    let http = reqwest::Client::new();
    let resp = http
        .post(format!("{}/v1/workflows/w/runs", server.addr))
        .json(&serde_json::json!({"inputs": {"n": 1}}))
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status().as_u16(), 201);
    // strace writes each line as the call completes; stop the server it runs (not strace,
    // which would detach and leave it running) once the answer's line is there.
    let mut text = String::new();
    for _ in 0..100 {
        text = std::fs::read_to_string(&trace).unwrap_or_default();
        if text.contains("HTTP/1.1 201") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let _ = Command::new("pkill")
        .args(["-TERM", "-P", &server.child.id().to_string()])
        .status();
    let (_, log) = server.stop();
    let lines: Vec<&str> = text.lines().collect();
    let request = lines
        .iter()
        .position(|l| l.contains("POST /v1/workflows/w/run"))
        .unwrap_or_else(|| panic!("the request is not in the trace:\n{text}\n{log}"));
    let answer = lines
        .iter()
        .position(|l| l.contains("HTTP/1.1 201"))
        .unwrap_or_else(|| panic!("the 201 is not in the trace:\n{text}"));
    assert!(request < answer);
    let synced = lines[request..answer]
        .iter()
        .any(|l| l.contains("fsync(") || l.contains("fdatasync("));
    assert!(
        synced,
        "no fsync between the request and the 201:\n{}",
        lines[request..=answer].join("\n")
    );
}
