//! The MCP endpoint of `wflow serve --auth` through the shipped binary, with raw JSON-RPC: tool
//! names (several triggers, a clash with a fixed tool), who sees which tool, and the schema of
//! a form with jq in it. `tests/mcp/test_mcp.py` drives both transports with a real client.

mod support;

use serde_json::{Value as Json, json};
use support::{Reaper, Scratch, start_on};

const ADMIN: &str = "token-admin-0123456789";
const MEMBER: &str = "token-member-0123456789";

const WORKFLOWS: &str = r#"workflow multi "Two Ways" {
  form quick "Quick" {
    permissions { roles ["Member"] }
    input region: string "Region" { enum `["eu", "us"]` }
    input size?: number "Size" { default `3` }
  }
  form full "Full" {
    input size: number "Size"
  }
  webhook call "Call" { url "http://127.0.0.1:9/x" }
  flow {
    quick -> call
    full -> call
  }
}
workflow get_run "Clashes With A Tool" {
  form trigger "Go" {
    permissions { roles ["Member"] }
  }
  webhook call "Call" { url "http://127.0.0.1:9/x" }
  flow { trigger -> call }
}
"#;

/// A JSON-RPC request to `/mcp` as `token`; the response's `result`.
async fn rpc(http: &reqwest::Client, addr: &str, token: &str, method: &str, params: Json) -> Json {
    let resp = http
        .post(format!("{addr}/mcp"))
        .bearer_auth(token)
        .header("accept", "application/json, text/event-stream")
        .json(&json!({ "jsonrpc": "2.0", "id": 1, "method": method, "params": params }))
        .send()
        .await
        .expect("post");
    assert!(resp.status().is_success(), "{}", resp.status());
    let body: Json = resp.json().await.expect("json");
    body.get("result")
        .cloned()
        .unwrap_or_else(|| panic!("{body}"))
}

/// The tool names `token` is given, and the tools.
async fn tools(http: &reqwest::Client, addr: &str, token: &str) -> (Vec<String>, Vec<Json>) {
    let listed = rpc(http, addr, token, "tools/list", json!({})).await;
    let tools = listed["tools"].as_array().expect("tools").clone();
    let names = tools
        .iter()
        .filter_map(|t| t["name"].as_str().map(String::from))
        .collect();
    (names, tools)
}

#[tokio::test(flavor = "multi_thread")]
async fn tools_are_named_per_trigger_and_shown_to_who_may_run_them() {
    let dir = Scratch::new("mcp");
    let flows = dir.0.join("workflows");
    std::fs::create_dir_all(&flows).expect("dir");
    std::fs::write(flows.join("multi.wflow"), WORKFLOWS).expect("write");
    let users = json!({"users": [
        {"token": ADMIN, "email": "admin@acme.io", "roles": ["Admin"]},
        {"token": MEMBER, "email": "dev@acme.io", "roles": ["Member"]},
    ]});
    std::fs::write(dir.0.join("users.json"), users.to_string()).expect("write");
    let auth = dir.0.join("users.json");
    let server = start_on(
        &dir.0.join("wflow.db"),
        &flows,
        &["--auth", auth.to_str().expect("path")],
    );
    let _reaper = Reaper(vec![server.child.id()]);
    let http = reqwest::Client::new();

    let (admin, _) = tools(&http, &server.addr, ADMIN).await;
    assert_eq!(
        admin,
        [
            "get_run_2",
            "multi.quick",
            "multi.full",
            "get_run",
            "list_runs_waiting_for_me"
        ],
        "the workflow `get_run` does not take the fixed tool's name"
    );
    let (member, listed) = tools(&http, &server.addr, MEMBER).await;
    assert_eq!(
        member,
        [
            "get_run_2",
            "multi.quick",
            "get_run",
            "list_runs_waiting_for_me"
        ],
        "the admins-only trigger is not the member's tool"
    );
    let quick = listed
        .iter()
        .find(|t| t["name"] == "multi.quick")
        .expect("multi.quick");
    assert_eq!(quick["title"], "Two Ways: Quick", "{quick}");
    let schema = &quick["inputSchema"];
    assert_eq!(
        schema["properties"],
        json!({
            "region": { "type": "string", "title": "Region" },
            "size": { "type": "number", "title": "Size" },
        }),
        "an enum and a default written as jq are left out: {schema}"
    );
    assert_eq!(schema["required"], json!(["region"]), "{schema}");

    // The member calling the admins' trigger by name: not found, and no run.
    let refused = rpc(
        &http,
        &server.addr,
        MEMBER,
        "tools/call",
        json!({ "name": "multi.full", "arguments": { "size": 1 } }),
    )
    .await;
    assert_eq!(refused["isError"], true, "{refused}");
    assert_eq!(
        refused["structuredContent"]["error"], "not_found",
        "{refused}"
    );
    // The workflow named `get_run` is started by its own tool; `get_run` reads runs.
    let started = rpc(
        &http,
        &server.addr,
        MEMBER,
        "tools/call",
        json!({ "name": "get_run_2", "arguments": {} }),
    )
    .await;
    assert_eq!(started["isError"], false, "{started}");
    let run = &started["structuredContent"]["run"];
    assert_eq!(run["workflow"]["identifier"], "get_run", "{run}");
    let read = rpc(
        &http,
        &server.addr,
        MEMBER,
        "tools/call",
        json!({ "name": "get_run", "arguments": { "run": run["identifier"] } }),
    )
    .await;
    assert_eq!(read["isError"], false, "{read}");
    assert_eq!(
        read["structuredContent"]["run"]["identifier"], run["identifier"],
        "{read}"
    );
    let (stopped, log) = server.stop();
    assert!(stopped, "{log}");
}
