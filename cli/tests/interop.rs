//! `wflow fmt`, `import`, `export` and `push` end to end. `push` talks to a loopback server
//! that speaks Port's auth and workflows REST shape, including its 422 validation errors.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use serde_json::{Value as J, json};

fn wflow(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_wflow"))
        .args(args)
        .output()
        .expect("run wflow")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A fresh directory under the system temp dir.
fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("wflow-interop-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create temp dir");
    dir
}

fn write(dir: &Path, name: &str, body: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, body).expect("write");
    path
}

const DEPLOY: &str = r#"// Deploys a service.
workflow deploy "Deploy" {
  form trigger "Go" {
    input service: string "Service"
  }

  webhook call "Call" {
    url "https://example.com/{{ .outputs.trigger.service }}"
  }

  flow {
    trigger -> call
  }
}
"#;

#[test]
fn fmt_check_reports_and_fmt_rewrites_keeping_comments() {
    let dir = temp_dir("fmt");
    let messy = DEPLOY.replace("  webhook call", "    webhook   call");
    let path = write(&dir, "deploy.wflow", &messy);
    let p = path.to_str().expect("utf-8 path");
    let out = wflow(&["fmt", "--check", p]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("would reformat"));
    assert_eq!(std::fs::read_to_string(&path).expect("read"), messy);
    let out = wflow(&["fmt", p]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(std::fs::read_to_string(&path).expect("read"), DEPLOY);
    assert_eq!(wflow(&["fmt", "--check", p]).status.code(), Some(0));
}

#[test]
fn fmt_refuses_a_file_with_syntax_errors() {
    let dir = temp_dir("fmt-broken");
    let broken = "workflow w {\n  webhook a \"A\" {\n    url = \"x\"\n  }\n}\n";
    let path = write(&dir, "broken.wflow", broken);
    let out = wflow(&["fmt", path.to_str().expect("utf-8 path")]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("broken.wflow:3:"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(std::fs::read_to_string(&path).expect("read"), broken);
}

#[test]
fn import_writes_wflow_files_and_export_gives_the_json_back() {
    let dir = temp_dir("import");
    let json = json!({"ok": true, "workflow": {
        "identifier": "notify", "title": "Notify",
        "nodes": [
            {"identifier": "trigger", "config": {"type": "SCHEDULE_TRIGGER", "cron": "0 9 * * 1-5"}},
            {"identifier": "send", "config": {"type": "KAFKA", "payload": {"at": "{{ .workflowRun.identifier }}"}}}
        ],
        "connections": [{"sourceIdentifier": "trigger", "targetIdentifier": "send"}]
    }});
    let src = write(&dir, "notify.json", &json.to_string());
    let out_dir = dir.join("workflows");
    let out = wflow(&[
        "import",
        src.to_str().expect("utf-8"),
        "-o",
        out_dir.to_str().expect("utf-8"),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let wf = out_dir.join("notify.wflow");
    let written = std::fs::read_to_string(&wf).expect("written");
    assert!(written.contains("schedule trigger {"), "{written}");
    let out = wflow(&["export", wf.to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let back: J = serde_json::from_slice(&out.stdout).expect("export prints JSON");
    assert_eq!(back, json["workflow"]);
}

/// What the fake Port API has seen and holds.
#[derive(Default)]
struct Port {
    workflows: HashMap<String, J>,
    requests: Vec<String>,
}

type Shared = Arc<Mutex<Port>>;

const TOKEN: &str = "token-123";

fn authorised(headers: &HeaderMap) -> bool {
    headers
        .get("authorization")
        .and_then(|h| h.to_str().ok())
        .is_some_and(|h| h == format!("Bearer {TOKEN}"))
}

async fn token(Json(body): Json<J>) -> (StatusCode, Json<J>) {
    if body == json!({"clientId": "id", "clientSecret": "secret"}) {
        let ok =
            json!({"ok": true, "accessToken": TOKEN, "expiresIn": 3600, "tokenType": "Bearer"});
        (StatusCode::OK, Json(ok))
    } else {
        let err = json!({"ok": false, "error": "unauthorized", "message": "bad credentials"});
        (StatusCode::UNAUTHORIZED, Json(err))
    }
}

/// Port's 422: a webhook URL must be https (a rule of this fake, to provoke a rejection).
fn validate(wf: &J) -> Option<J> {
    let nodes = wf["nodes"].as_array()?;
    let (i, _) = nodes.iter().enumerate().find(|(_, n)| {
        n["config"]["url"]
            .as_str()
            .is_some_and(|u| u.starts_with("http://"))
    })?;
    Some(json!({
        "ok": false,
        "error": "invalid_request",
        "message": format!("nodes[{i}].config.url must use https")
    }))
}

async fn create(
    State(port): State<Shared>,
    headers: HeaderMap,
    Json(wf): Json<J>,
) -> (StatusCode, Json<J>) {
    let mut port = port.lock().expect("lock");
    port.requests.push("POST /v1/workflows".into());
    if !authorised(&headers) {
        return (StatusCode::UNAUTHORIZED, Json(json!({"ok": false})));
    }
    if let Some(err) = validate(&wf) {
        return (StatusCode::UNPROCESSABLE_ENTITY, Json(err));
    }
    let id = wf["identifier"].as_str().unwrap_or_default().to_string();
    let mut stored = wf.clone();
    stored["id"] = json!(format!("wf_{id}"));
    port.workflows.insert(id, stored.clone());
    (
        StatusCode::CREATED,
        Json(json!({"ok": true, "workflow": stored})),
    )
}

async fn read(
    State(port): State<Shared>,
    headers: HeaderMap,
    UrlPath(id): UrlPath<String>,
) -> (StatusCode, Json<J>) {
    let mut port = port.lock().expect("lock");
    port.requests.push(format!("GET /v1/workflows/{id}"));
    if !authorised(&headers) {
        return (StatusCode::UNAUTHORIZED, Json(json!({"ok": false})));
    }
    match port.workflows.get(&id) {
        Some(wf) => (StatusCode::OK, Json(json!({"ok": true, "workflow": wf}))),
        None => (
            StatusCode::NOT_FOUND,
            Json(json!({"ok": false, "error": "not_found", "message": "workflow not found"})),
        ),
    }
}

async fn update(
    State(port): State<Shared>,
    headers: HeaderMap,
    UrlPath(id): UrlPath<String>,
    Json(wf): Json<J>,
) -> (StatusCode, Json<J>) {
    let mut port = port.lock().expect("lock");
    port.requests.push(format!("PUT /v1/workflows/{id}"));
    if !authorised(&headers) {
        return (StatusCode::UNAUTHORIZED, Json(json!({"ok": false})));
    }
    if let Some(err) = validate(&wf) {
        return (StatusCode::UNPROCESSABLE_ENTITY, Json(err));
    }
    port.workflows.insert(id, wf.clone());
    (StatusCode::OK, Json(json!({"ok": true, "workflow": wf})))
}

/// Starts the fake Port API on a loopback port; returns its base URL and state.
fn serve() -> (String, Shared) {
    let port: Shared = Arc::default();
    let app = axum::Router::new()
        .route("/v1/auth/access_token", post(token))
        .route("/v1/workflows", post(create))
        .route("/v1/workflows/{id}", get(read).put(update))
        .with_state(port.clone());
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let addr = listener.local_addr().expect("address");
    listener.set_nonblocking(true).expect("nonblocking");
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
            axum::serve(listener, app).await.expect("serve");
        });
    });
    (format!("http://{addr}"), port)
}

fn push(base: &str, file: &Path, extra: &[&str]) -> Output {
    let mut args = vec![
        "push",
        file.to_str().expect("utf-8"),
        "--base-url",
        base,
        "--client-id",
        "id",
        "--client-secret",
        "secret",
    ];
    args.extend_from_slice(extra);
    wflow(&args)
}

#[test]
fn push_creates_then_updates_and_dry_run_shows_the_difference() {
    let (base, port) = serve();
    let dir = temp_dir("push");
    let file = write(&dir, "deploy.wflow", DEPLOY);

    let out = push(&base, &file, &["--dry-run"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("deploy: would be created"));
    assert!(port.lock().expect("lock").workflows.is_empty());

    let out = push(&base, &file, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("deploy: created"));
    let stored = port.lock().expect("lock").workflows["deploy"].clone();
    assert_eq!(
        stored["nodes"][1]["config"]["url"],
        "https://example.com/{{ .outputs.trigger.service }}"
    );

    let out = push(&base, &file, &["--dry-run"]);
    assert!(
        text(&out.stdout).contains("deploy: unchanged"),
        "{}",
        text(&out.stdout)
    );

    let edited = write(
        &dir,
        "deploy.wflow",
        &DEPLOY.replace("example.com", "example.org"),
    );
    let out = push(&base, &edited, &["--dry-run"]);
    let stdout = text(&out.stdout);
    assert!(stdout.contains("deploy: would be updated"), "{stdout}");
    assert!(
        stdout.contains("~ nodes[1].config.url: \"https://example.com/"),
        "{stdout}"
    );

    let out = push(&base, &edited, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("deploy: updated"));
    let requests = port.lock().expect("lock").requests.clone();
    assert!(
        requests.contains(&"PUT /v1/workflows/deploy".to_string()),
        "{requests:?}"
    );
}

#[test]
fn push_reports_a_422_at_the_node_port_names() {
    let (base, port) = serve();
    let dir = temp_dir("push-422");
    let file = write(&dir, "deploy.wflow", &DEPLOY.replace("https://", "http://"));
    let out = push(&base, &file, &[]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("Port rejected workflow `deploy` (422)"),
        "{stderr}"
    );
    assert!(stderr.contains("must use https"), "{stderr}");
    // The node Port names (`nodes[1]`) is `call`, on line 7.
    assert!(stderr.contains("deploy.wflow:7:"), "{stderr}");
    assert!(port.lock().expect("lock").workflows.is_empty());
}

#[test]
fn push_fails_cleanly_on_bad_credentials() {
    let (base, _port) = serve();
    let dir = temp_dir("push-auth");
    let file = write(&dir, "deploy.wflow", DEPLOY);
    let out = wflow(&[
        "push",
        file.to_str().expect("utf-8"),
        "--base-url",
        &base,
        "--client-id",
        "id",
        "--client-secret",
        "wrong",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("authentication"),
        "{}",
        text(&out.stderr)
    );
    assert!(
        text(&out.stderr).contains("bad credentials"),
        "{}",
        text(&out.stderr)
    );
}

/// A Port workflow whose CONDITION node has `options: []`.
const NO_OUTLETS: &str = r#"{
  "identifier": "route",
  "nodes": [
    { "identifier": "trigger", "config": { "type": "SELF_SERVE_TRIGGER", "userInputs": { "properties": {} } } },
    { "identifier": "pick", "config": { "type": "CONDITION", "options": [] } },
    { "identifier": "call", "config": { "type": "WEBHOOK", "url": "https://example.com" } }
  ],
  "connections": [
    { "sourceIdentifier": "trigger", "targetIdentifier": "pick" },
    { "sourceIdentifier": "pick", "targetIdentifier": "call", "fallback": true }
  ]
}
"#;

#[test]
fn a_condition_without_outlets_is_refused_by_check_import_and_export_alike() {
    let dir = temp_dir("no-outlets");
    let path = write(&dir, "route.json", NO_OUTLETS);
    let path = path.to_str().expect("utf-8 path");
    for args in [
        vec!["check", path],
        vec!["import", path],
        vec!["export", path],
    ] {
        let out = wflow(&args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
        assert!(
            all.contains("a CONDITION node needs at least one outlet"),
            "{args:?}: {all}"
        );
    }
}

#[test]
fn import_fmt_and_export_go_on_after_a_non_utf8_file() {
    let dir = temp_dir("latin1");
    let bad_json = dir.join("a-bad.json");
    std::fs::write(&bad_json, b"{\"identifier\": \"caf\xe9\"}").expect("write");
    let good_json = write(
        &dir,
        "b-good.json",
        NO_OUTLETS
            .replace(
                "\"options\": []",
                "\"options\": [{\"identifier\": \"x\", \"expression\": \"true\"}]",
            )
            .as_str(),
    );
    let out = wflow(&[
        "import",
        bad_json.to_str().expect("path"),
        good_json.to_str().expect("path"),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("unreadable-file"),
        "{}",
        text(&out.stderr)
    );
    assert!(
        text(&out.stdout).contains("workflow route"),
        "{}",
        text(&out.stdout)
    );

    let wflow_dir = temp_dir("latin1-fmt");
    std::fs::write(wflow_dir.join("a-bad.wflow"), b"workflow caf\xe9 {}").expect("write");
    let messy = write(
        &wflow_dir,
        "b-messy.wflow",
        &DEPLOY.replace("  webhook call", "    webhook   call"),
    );
    let out = wflow(&["fmt", wflow_dir.to_str().expect("path")]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("not UTF-8"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(std::fs::read_to_string(&messy).expect("read"), DEPLOY);

    let out = wflow(&[
        "export",
        wflow_dir.join("a-bad.wflow").to_str().expect("path"),
        write(&wflow_dir, "c-broken.wflow", "workflow x { webhook }")
            .to_str()
            .expect("path"),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("not UTF-8") && err.contains("c-broken.wflow"),
        "{err}"
    );
}
