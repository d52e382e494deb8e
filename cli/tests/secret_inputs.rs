//! Secret form inputs (`encryption "aes256-gcm"`) through the binary: a value encrypted as
//! Port encrypts it (key: the first 32 bytes of the client secret `PORT_CLIENT_SECRET`; value:
//! base64 of IV(16) ‖ ciphertext ‖ tag(16)) and a clear value both reach the webhook in clear,
//! and the clear values appear in no store file, log, API answer or error; the same for an
//! approval's secret input.

mod support;

use std::path::Path;
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};

use aes_gcm::aead::consts::U16;
use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::aes::Aes256;
use aes_gcm::{AesGcm, Nonce};
use base64::Engine as _;
use serde_json::{Value as Json, json};
use support::{BIN, Reaper, Scratch, on_loopback, start_with_env, wait_served};

const CLIENT_SECRET: &str = "port-client-secret-0123456789abcdef-rest-is-ignored";
/// The clear values: none may appear anywhere but in the webhook's requests.
const FROM_PORT: &str = "clear-from-port-Qx7vK2-0123456789";
const FROM_API: &str = "clear-from-api-Lm4pR9-01234567890";
const FROM_EXEC: &str = "clear-from-exec-Zt8wN3-0123456789";
const WRONG_KEY: &str = "clear-wrong-key-Hc5yB1";

/// `clear` encrypted exactly as Port does, with `secret`'s first 32 bytes as the key.
fn port_encrypt(secret: &str, clear: &str) -> String {
    let cipher = AesGcm::<Aes256, U16>::new_from_slice(&secret.as_bytes()[..32]).expect("key");
    let iv = [42u8; 16];
    let sealed = cipher
        .encrypt(Nonce::<U16>::from_slice(&iv), clear.as_bytes())
        .expect("encrypt");
    let mut bytes = iv.to_vec();
    bytes.extend(sealed);
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn workflow(hook: &str) -> String {
    format!(
        r#"workflow vault "Vault" {{
  form trigger "Store a token" {{
    input name: string "Name"
    input token: string "Token" {{ encryption "aes256-gcm"; min_length 30 }}
  }}
  webhook call "Call" {{
    url "{hook}/hook"
    body {{ name: "{{{{ .outputs.trigger.name }}}}", token: "{{{{ .outputs.trigger.token }}}}" }}
  }}
  flow {{ trigger -> call }}
}}
"#
    )
}

/// A loopback server that records each request's body and answers with it (so that the
/// node's output holds the clear value, to be redacted).
async fn echo_server() -> (String, Arc<Mutex<Vec<String>>>) {
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let log = Arc::clone(&seen);
    let app = axum::Router::new().fallback(move |body: String| {
        let log = Arc::clone(&log);
        async move {
            log.lock().expect("lock").push(body.clone());
            (
                [(axum::http::header::CONTENT_TYPE, "application/json")],
                body,
            )
        }
    });
    (on_loopback(app).await, seen)
}

/// `wflow ARGS` in `dir` with `env`.
async fn wflow_env(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let dir = dir.to_path_buf();
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    tokio::task::spawn_blocking(move || {
        Command::new(BIN)
            .args(&args)
            .current_dir(dir)
            .env_remove("WFLOW_STORE")
            .env_remove("WFLOW_SECRET_PORT_CLIENT_SECRET")
            .env("NO_COLOR", "1")
            .envs(env)
            .output()
            .expect("run wflow")
    })
    .await
    .expect("join")
}

fn printed(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Fails if `text` (named `what`) holds any clear value.
fn assert_clean(what: &str, text: &str) {
    for clear in [FROM_PORT, FROM_API, FROM_EXEC, WRONG_KEY] {
        assert!(!text.contains(clear), "{what} holds `{clear}`:\n{text}");
    }
}

/// Every file under `dir`, as bytes (lossy text).
fn files_under(dir: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read dir").flatten() {
        let p = entry.path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else if let Ok(bytes) = std::fs::read(&p) {
            out.push((
                p.display().to_string(),
                String::from_utf8_lossy(&bytes).into_owned(),
            ));
        }
    }
    out
}

async fn get(http: &reqwest::Client, url: String) -> String {
    let resp = http.get(url).send().await.expect("get");
    assert!(resp.status().is_success(), "{}", resp.status());
    resp.text().await.expect("text")
}

#[tokio::test(flavor = "multi_thread")]
async fn secret_inputs_reach_the_webhook_and_nothing_else() {
    let dir = Scratch::new("secret-inputs");
    let flows = dir.0.join("flows");
    std::fs::create_dir_all(&flows).expect("dir");
    let (hook, seen) = echo_server().await;
    std::fs::write(flows.join("vault.wflow"), workflow(&hook)).expect("write");
    let store = dir.0.join("serve.db");
    let server = start_with_env(
        &store,
        &flows,
        &[],
        &[("WFLOW_SECRET_PORT_CLIENT_SECRET", CLIENT_SECRET)],
    );
    let _reaper = Reaper(vec![server.child.id()]);
    let http = reqwest::Client::new();
    let at = |p: &str| format!("{}{p}", server.addr);
    assert!(
        wait_served(&http, &server.addr, "vault").await,
        "{}",
        server.log()
    );

    let mut answers = Vec::new();
    let mut runs = Vec::new();
    for (token, clear) in [
        (port_encrypt(CLIENT_SECRET, FROM_PORT), FROM_PORT),
        (FROM_API.to_string(), FROM_API),
    ] {
        let resp = http
            .post(at("/v1/workflows/vault/runs"))
            .json(&json!({"inputs": {"name": "n", "token": token}}))
            .send()
            .await
            .expect("post");
        let status = resp.status().as_u16();
        let body = resp.text().await.expect("text");
        assert_eq!(status, 201, "{clear}: {body}");
        let started: Json = serde_json::from_str(&body).expect("json");
        runs.push(
            started["run"]["identifier"]
                .as_str()
                .expect("id")
                .to_string(),
        );
        answers.push(body);
    }
    // The runs end (the webhook answers at once).
    for run in &runs {
        let mut done = false;
        for _ in 0..200 {
            let r: Json =
                serde_json::from_str(&get(&http, at(&format!("/v1/workflows/runs/{run}"))).await)
                    .expect("json");
            if r["run"]["status"] == "COMPLETED" {
                assert_eq!(r["run"]["result"], "SUCCESS", "{r}");
                done = true;
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        assert!(done, "run {run} did not complete");
    }
    let bodies = seen.lock().expect("lock").clone();
    for clear in [FROM_PORT, FROM_API] {
        assert!(
            bodies
                .iter()
                .any(|b| serde_json::from_str::<Json>(b).is_ok_and(|j| j["token"] == clear)),
            "the webhook receives `{clear}` in clear: {bodies:?}"
        );
    }

    // Encrypted with another key: a problem at the input, quoting neither value.
    let wrong = port_encrypt("another-organisation-secret-0123456789", WRONG_KEY);
    let resp = http
        .post(at("/v1/workflows/vault/runs"))
        .json(&json!({"inputs": {"name": "n", "token": wrong}}))
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status().as_u16(), 422);
    let refused = resp.text().await.expect("text");
    let problem: Json = serde_json::from_str(&refused).expect("json");
    assert_eq!(
        problem["problems"][0]["pointer"], "/inputs/token",
        "{refused}"
    );
    assert!(refused.contains("cannot be decrypted"), "{refused}");
    assert!(
        !refused.contains(&wrong),
        "the value is not echoed: {refused}"
    );
    // A clear value that breaks a rule is not quoted either.
    let resp = http
        .post(at("/v1/workflows/vault/runs"))
        .json(&json!({"inputs": {"name": "n", "token": "short-clear-Jd3"}}))
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status().as_u16(), 422);
    let short = resp.text().await.expect("text");
    assert!(!short.contains("short-clear-Jd3"), "{short}");
    answers.extend([refused, short]);

    // The form's state, as the web UI asks for it while a person types.
    for token in [port_encrypt(CLIENT_SECRET, FROM_PORT), FROM_API.to_string()] {
        let resp = http
            .post(at("/v1/workflows/vault/form"))
            .json(&json!({"inputs": {"name": "n", "token": token}}))
            .send()
            .await
            .expect("post");
        assert_eq!(resp.status().as_u16(), 200);
        answers.push(resp.text().await.expect("text"));
    }

    // The MCP tool of the trigger, and `get_run`.
    let mcp = async |params: Json| {
        let resp = http
            .post(at("/mcp"))
            .header("accept", "application/json, text/event-stream")
            .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": params}))
            .send()
            .await
            .expect("post");
        assert!(resp.status().is_success(), "{}", resp.status());
        resp.text().await.expect("text")
    };
    let called = mcp(json!({"name": "vault", "arguments": {
        "name": "n", "token": port_encrypt(CLIENT_SECRET, FROM_PORT)}}))
    .await;
    let result: Json = serde_json::from_str(&called).expect("json");
    assert_eq!(result["result"]["isError"], false, "{called}");
    let run = result["result"]["structuredContent"]["run"]["identifier"].clone();
    answers.push(mcp(json!({"name": "get_run", "arguments": {"run": run}})).await);
    answers.push(called);

    // Every answer that shows a run.
    answers.push(get(&http, at("/v1/workflows/runs")).await);
    for run in &runs {
        let shown = get(&http, at(&format!("/v1/workflows/runs/{run}"))).await;
        let r: Json = serde_json::from_str(&shown).expect("json");
        assert_eq!(
            r["run"]["variables"]["outputs"]["trigger"],
            json!({"name": "n", "token": "[REDACTED]"}),
            "{shown}"
        );
        assert!(
            r["run"]["variables"]["outputs"]["call"]
                .to_string()
                .contains("[REDACTED]"),
            "the webhook's echoed answer is redacted: {shown}"
        );
        answers.push(shown);
    }
    for (i, a) in answers.iter().enumerate() {
        assert_clean(&format!("API answer {i}"), a);
    }

    // `wflow exec` with a clear value, the key from a secrets file.
    let secrets = dir.0.join("secrets.env");
    std::fs::write(&secrets, format!("PORT_CLIENT_SECRET={CLIENT_SECRET}\n")).expect("write");
    let wf = flows.join("vault.wflow");
    let exec_store = dir.0.join("exec.db");
    let (wf, exec_store, secrets) = (
        wf.to_str().expect("utf-8"),
        exec_store.to_str().expect("utf-8"),
        secrets.to_str().expect("utf-8"),
    );
    let input = format!("token={FROM_EXEC}");
    let run_args = [
        "exec",
        wf,
        "-i",
        "name=n",
        "-i",
        &input,
        "--store",
        exec_store,
        "--secrets-file",
        secrets,
    ];
    let o = wflow_env(&dir.0, &run_args, &[]).await;
    assert!(o.status.success(), "{}", printed(&o));
    assert_clean("wflow exec's output", &printed(&o));
    assert!(
        seen.lock()
            .expect("lock")
            .iter()
            .any(|b| b.contains(FROM_EXEC)),
        "exec's webhook receives the clear value"
    );
    let list = wflow_env(
        &dir.0,
        &["runs", "list", "--store", exec_store, "--format", "json"],
        &[],
    )
    .await;
    let listed: Json = serde_json::from_slice(&list.stdout).expect("json");
    let run = listed[0]["identifier"].as_str().expect("run");
    let show = wflow_env(
        &dir.0,
        &[
            "runs", "show", run, "--store", exec_store, "--format", "json",
        ],
        &[],
    )
    .await;
    assert!(show.status.success(), "{}", printed(&show));
    assert_clean("wflow runs show", &printed(&show));
    // A re-run starts from the stored (encrypted) payload: the webhook gets the clear value.
    let rerun = [
        "runs",
        "rerun",
        run,
        "--store",
        exec_store,
        "--secrets-file",
        secrets,
    ];
    let o = wflow_env(&dir.0, &rerun, &[]).await;
    assert!(o.status.success(), "{}", printed(&o));
    assert_clean("wflow runs rerun", &printed(&o));
    let got = seen
        .lock()
        .expect("lock")
        .iter()
        .filter(|b| b.contains(FROM_EXEC))
        .count();
    assert_eq!(got, 2, "the re-run sends the clear value again");

    // Without the key: the preflight refuses before anything runs (exit 2).
    let bare = [
        "exec", wf, "-i", "name=n", "-i", &input, "--store", exec_store,
    ];
    let before = seen.lock().expect("lock").len();
    let o = wflow_env(&dir.0, &bare, &[]).await;
    assert_eq!(o.status.code(), Some(2), "{}", printed(&o));
    let said = printed(&o);
    assert!(
        said.contains("missing-secret") && said.contains("PORT_CLIENT_SECRET"),
        "{said}"
    );
    assert_clean("the preflight's refusal", &said);
    assert_eq!(
        seen.lock().expect("lock").len(),
        before,
        "no request was sent"
    );

    // `wflow serve` without the key refuses the workflow at load.
    let keyless = start_with_env(&dir.0.join("keyless.db"), &flows, &[], &[]);
    let _reaper_too = Reaper(vec![keyless.child.id()]);
    let resp = http
        .get(format!("{}/v1/workflows/vault", keyless.addr))
        .send()
        .await
        .expect("get");
    assert!(!resp.status().is_success(), "{}", resp.status());
    let (_, refusal) = keyless.stop();
    assert!(
        refusal.contains("missing-secret") && refusal.contains("PORT_CLIENT_SECRET"),
        "{refusal}"
    );

    let (stopped, log) = server.stop();
    assert!(stopped, "{log}");
    assert_clean("the server's log", &log);
    let files = files_under(&dir.0);
    assert!(
        files.iter().any(|(p, _)| p.ends_with("serve.db")),
        "{files:?}"
    );
    for (path, bytes) in files.iter().filter(|(p, _)| !p.ends_with("secrets.env")) {
        assert_clean(path, bytes);
    }
}

/// The clear values answered to an approval: none may appear but in the webhook's requests.
const PIN_CLEAR: &str = "approval-pin-clear-Wq2sD7-0123456789";
const PIN_FROM_PORT: &str = "approval-pin-port-Rb6tF4-0123456789";

fn approval_workflow(hook: &str) -> String {
    format!(
        r#"workflow pin "PIN" {{
  form trigger "Start" {{
    input name: string "Name"
  }}
  approval confirm "Confirm" {{
    input pin: string "PIN" {{ encryption "aes256-gcm"; min_length 20 }}
    button ok "OK" PRIMARY
  }}
  webhook call "Call" {{
    url "{hook}/pin"
    body {{ pin: "{{{{ .outputs.confirm.responses[0].inputs.pin }}}}" }}
  }}
  flow {{
    trigger -> confirm
    confirm.ok -> call
  }}
}}
"#
    )
}

/// Polls run `run` until it is COMPLETED; returns the run as the API shows it.
async fn completed(http: &reqwest::Client, at: &str, run: &str) -> Json {
    for _ in 0..200 {
        let r: Json =
            serde_json::from_str(&get(http, format!("{at}/v1/workflows/runs/{run}")).await)
                .expect("json");
        if r["run"]["status"] == "COMPLETED" {
            return r;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("run {run} did not complete");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_approvals_secret_input_reaches_the_webhook_and_is_kept_encrypted() {
    let dir = Scratch::new("secret-approval");
    let flows = dir.0.join("flows");
    std::fs::create_dir_all(&flows).expect("dir");
    let (hook, seen) = echo_server().await;
    std::fs::write(flows.join("pin.wflow"), approval_workflow(&hook)).expect("write");
    let server = start_with_env(
        &dir.0.join("serve.db"),
        &flows,
        &[],
        &[("WFLOW_SECRET_PORT_CLIENT_SECRET", CLIENT_SECRET)],
    );
    let _reaper = Reaper(vec![server.child.id()]);
    let http = reqwest::Client::new();
    let at = server.addr.clone();
    assert!(wait_served(&http, &at, "pin").await, "{}", server.log());

    let mut answers = Vec::new();
    for (pin, clear) in [
        (PIN_CLEAR.to_string(), PIN_CLEAR),
        (port_encrypt(CLIENT_SECRET, PIN_FROM_PORT), PIN_FROM_PORT),
    ] {
        let resp = http
            .post(format!("{at}/v1/workflows/pin/runs"))
            .json(&json!({"inputs": {"name": "n"}}))
            .send()
            .await
            .expect("post");
        assert_eq!(resp.status().as_u16(), 201);
        let started: Json = resp.json().await.expect("json");
        let run = started["run"]["identifier"]
            .as_str()
            .expect("id")
            .to_string();
        let respond = format!("{at}/v1/workflows/runs/{run}/nodes/confirm/responses");
        // Too short: refused at its input, without quoting it.
        let mut refused = None;
        for _ in 0..100 {
            let resp = http
                .post(&respond)
                .json(&json!({"button": "ok", "inputs": {"pin": "short-pin-Gh5"}}))
                .send()
                .await
                .expect("post");
            if resp.status().as_u16() != 409 {
                refused = Some((resp.status().as_u16(), resp.text().await.expect("text")));
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        let (status, refused) = refused.expect("the approval waits");
        assert_eq!(status, 422, "{refused}");
        assert!(refused.contains("/inputs/pin"), "{refused}");
        assert!(!refused.contains("short-pin-Gh5"), "{refused}");
        let resp = http
            .post(&respond)
            .json(&json!({"button": "ok", "inputs": {"pin": pin}}))
            .send()
            .await
            .expect("post");
        let status = resp.status().as_u16();
        let answered = resp.text().await.expect("text");
        assert_eq!(status, 200, "{answered}");
        let done = completed(&http, &at, &run).await;
        assert_eq!(done["run"]["result"], "SUCCESS", "{done}");
        // The answer is shown encrypted, never in clear.
        let shown =
            &done["run"]["variables"]["outputs"]["confirm"]["responses"][0]["inputs"]["pin"];
        let shown = shown.as_str().expect("a string");
        assert!(shown != clear && shown != pin, "{done}");
        assert!(
            seen.lock()
                .expect("lock")
                .iter()
                .any(|b| serde_json::from_str::<Json>(b).is_ok_and(|j| j["pin"] == clear)),
            "the webhook receives `{clear}` in clear"
        );
        answers.extend([answered, done.to_string(), refused]);
    }
    answers.push(get(&http, format!("{at}/v1/workflows/runs")).await);
    for (i, a) in answers.iter().enumerate() {
        for clear in [PIN_CLEAR, PIN_FROM_PORT] {
            assert!(!a.contains(clear), "API answer {i} holds `{clear}`:\n{a}");
        }
    }

    // `wflow serve` without the key refuses the workflow at load: the answer could not be
    // kept encrypted.
    let keyless = start_with_env(&dir.0.join("keyless.db"), &flows, &[], &[]);
    let _reaper_too = Reaper(vec![keyless.child.id()]);
    let resp = http
        .get(format!("{}/v1/workflows/pin", keyless.addr))
        .send()
        .await
        .expect("get");
    assert!(!resp.status().is_success(), "{}", resp.status());
    let (_, refusal) = keyless.stop();
    assert!(refusal.contains("PORT_CLIENT_SECRET"), "{refusal}");

    let (stopped, log) = server.stop();
    assert!(stopped, "{log}");
    for (path, bytes) in files_under(&dir.0)
        .iter()
        .map(|(p, b)| (p.as_str(), b.as_str()))
        .chain([("the server's log", log.as_str())])
    {
        for clear in [PIN_CLEAR, PIN_FROM_PORT] {
            assert!(!bytes.contains(clear), "{path} holds `{clear}`");
        }
    }
}
