//! GitLab, Azure DevOps and Jira integration actions through the shipped binary: `wflow exec`
//! with a `wflow.toml` pointing each service at a loopback server speaking its REST shape,
//! credentials as `WFLOW_SECRET_*` secrets; the preflight's refusal when a service is not
//! configured; a failed pipeline failing the run; `wflow serve` refusing what it cannot run
//! and running a pipeline started over its API.

mod support;

use std::path::Path;
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};

use axum::http::{HeaderMap, Method, StatusCode, Uri};
use serde_json::{Value as Json, json};
use support::{BIN, Scratch, on_loopback, run_to_end, start_with_env, text};

const GITLAB_TOKEN: &str = "glpat-cli-n3ver-stored";
const ADO_TOKEN: &str = "ado-cli-n3ver-stored";
const JIRA_TOKEN: &str = "atl-cli-n3ver-stored";

/// What the loopback server received: method, path, credentials header, body.
type Received = Arc<Mutex<Vec<(String, String, String, Json)>>>;

/// GitLab under `/gitlab`, Azure DevOps (organisation `acme`) under `/ado/acme` and Jira under
/// `/jira`: a pipeline on `main` is pending, running, then `success` (one on `broken` ends
/// `failed`); Azure DevOps run 300 is `inProgress`, then `completed` `succeeded`; Jira creates
/// `REL-1` and moves it to `Done`.
async fn services() -> (String, Received) {
    let received: Received = Arc::default();
    let seen = Arc::clone(&received);
    let app = axum::Router::new().fallback(
        move |method: Method, uri: Uri, headers: HeaderMap, body: axum::body::Bytes| {
            let seen = Arc::clone(&seen);
            async move {
                let path = uri.path_and_query().map_or("", |p| p.as_str()).to_string();
                let body: Json = serde_json::from_slice(&body).unwrap_or(Json::Null);
                let credentials = ["private-token", "authorization"]
                    .iter()
                    .find_map(|h| headers.get(*h).and_then(|v| v.to_str().ok()))
                    .unwrap_or_default()
                    .to_string();
                let mut log = seen.lock().expect("received");
                let before = log.iter().filter(|r| r.1 == path).count();
                log.push((method.to_string(), path.clone(), credentials, body.clone()));
                let pipeline = |id: u64, status: &str| {
                    json!({"id": id, "project_id": 5, "ref": "main", "status": status,
                           "web_url": format!("https://gitlab.test/acme/api/-/pipelines/{id}")})
                };
                let web = json!({"web": {"href": "https://dev.azure.test/acme/_build/results?buildId=300"}});
                let (status, reply) = match (method.as_str(), path.as_str()) {
                    ("POST", "/gitlab/projects/acme%2Fapi/pipeline") => {
                        let id = if body["ref"] == "broken" { 78 } else { 77 };
                        (StatusCode::CREATED, pipeline(id, "created"))
                    }
                    ("GET", "/gitlab/projects/acme%2Fapi/pipelines/77") => {
                        let s = ["pending", "running"].get(before).unwrap_or(&"success");
                        (StatusCode::OK, pipeline(77, s))
                    }
                    ("GET", "/gitlab/projects/acme%2Fapi/pipelines/78") => {
                        (StatusCode::OK, pipeline(78, "failed"))
                    }
                    ("POST", "/ado/acme/Web/_apis/pipelines/12/runs?api-version=7.1") => (
                        StatusCode::OK,
                        json!({"id": 300, "state": "inProgress", "_links": web}),
                    ),
                    ("GET", "/ado/acme/Web/_apis/pipelines/12/runs/300?api-version=7.1") => {
                        let done = before > 0;
                        let state = if done { "completed" } else { "inProgress" };
                        let result = if done { json!("succeeded") } else { Json::Null };
                        (
                            StatusCode::OK,
                            json!({"id": 300, "state": state, "result": result, "_links": web}),
                        )
                    }
                    ("POST", "/jira/rest/api/3/issue") => (
                        StatusCode::CREATED,
                        json!({"id": "10001", "key": "REL-1", "self": "x"}),
                    ),
                    ("GET", "/jira/rest/api/3/issue/REL-1?fields=status") => (
                        StatusCode::OK,
                        json!({"fields": {"status": {"name": "To Do"}}}),
                    ),
                    ("GET", "/jira/rest/api/3/issue/REL-1/transitions") => (
                        StatusCode::OK,
                        json!({"transitions": [{"id": "31", "name": "Finish", "to": {"name": "Done"}}]}),
                    ),
                    ("POST", "/jira/rest/api/3/issue/REL-1/transitions") => {
                        (StatusCode::NO_CONTENT, Json::Null)
                    }
                    _ => (StatusCode::NOT_FOUND, json!({"message": "Not Found"})),
                };
                let text = if reply.is_null() {
                    String::new()
                } else {
                    reply.to_string()
                };
                (status, text)
            }
        },
    );
    (on_loopback(app).await, received)
}

const RELEASE: &str = r#"workflow release "Release" {
  form trigger "Release" { input version: string "Version"; input ref: string "Ref" }
  integration pipeline "Pipeline" {
    installation "gitlab"; provider "gitlab-v2"; invocation trigger_pipeline
    properties {
      project: "acme/api", ref: "{{ .outputs.trigger.ref }}"
      pipelineVariables: { VERSION: "{{ .outputs.trigger.version }}" }
    }
  }
  integration deploy "Deploy" {
    installation "ado"; provider "azure-devops"; invocation trigger_pipeline
    properties { project: "Web", pipelineId: 12, variables: { PIPELINE: "{{ .outputs.pipeline.pipelineId }}" } }
  }
  integration ticket "Ticket" {
    installation "jira"; provider jira; invocation create_issue
    properties { project: "REL", issueType: "Task", summary: "Released {{ .outputs.trigger.version }} ({{ .outputs.deploy.webUrl }})" }
  }
  integration close "Close" {
    installation "jira"; provider jira; invocation change_issue_status
    properties { issueKey: "{{ .outputs.ticket.issueKey }}", status: "Done" }
  }
  flow { trigger -> pipeline -> deploy -> ticket -> close }
}
"#;

/// A project in `dir`: `release.wflow` and a `wflow.toml` pointing at `base` (without Jira
/// unless `jira`).
fn project(dir: &Path, base: &str, jira: bool) {
    std::fs::write(dir.join("release.wflow"), RELEASE).expect("workflow");
    let mut toml = format!(
        "[gitlab]\napi_url = \"{base}/gitlab\"\npoll_interval_ms = 5\n\
         [azure_devops]\napi_url = \"{base}/ado/acme\"\npoll_interval_ms = 5\n"
    );
    if jira {
        toml.push_str(&format!("[jira]\napi_url = \"{base}/jira\"\n"));
    }
    std::fs::write(dir.join("wflow.toml"), toml).expect("wflow.toml");
}

/// `wflow exec release.wflow` in `dir` with the services' credentials as secrets.
async fn exec(dir: &Path, git_ref: &str) -> Output {
    let dir = dir.to_path_buf();
    let git_ref = format!("ref={git_ref}");
    tokio::task::spawn_blocking(move || {
        Command::new(BIN)
            .args(["exec", "release.wflow", "--store", "runs.db"])
            .args(["--input", "version=v7", "--input", &git_ref])
            .current_dir(dir)
            .env_remove("WFLOW_STORE")
            .env("NO_COLOR", "1")
            .env("WFLOW_SECRET_GITLAB_TOKEN", GITLAB_TOKEN)
            .env("WFLOW_SECRET_AZURE_DEVOPS_TOKEN", ADO_TOKEN)
            .env("WFLOW_SECRET_JIRA_EMAIL", "bot@acme.test")
            .env("WFLOW_SECRET_JIRA_API_TOKEN", JIRA_TOKEN)
            .output()
            .expect("run wflow")
    })
    .await
    .expect("join")
}

/// Every file of `dir` (the store and its journal) and `out` are free of the credentials.
fn no_credential_in(dir: &Path, out: &str) {
    for secret in [GITLAB_TOKEN, ADO_TOKEN, JIRA_TOKEN] {
        assert!(!out.contains(secret), "{out}");
        for entry in std::fs::read_dir(dir).expect("dir").flatten() {
            let bytes = std::fs::read(entry.path()).unwrap_or_default();
            let found = bytes.windows(secret.len()).any(|w| w == secret.as_bytes());
            assert!(!found, "{secret} in {}", entry.path().display());
        }
    }
}

#[tokio::test]
async fn exec_runs_a_release_through_gitlab_azure_devops_and_jira() {
    let (base, received) = services().await;
    let dir = Scratch::new("backends-release");
    project(&dir.0, &base, true);
    let ran = exec(&dir.0, "main").await;
    assert!(ran.status.success(), "{}", text(&ran));
    let seen = received.lock().expect("received").clone();
    let calls: Vec<(&str, &str)> = seen
        .iter()
        .map(|(m, p, _, _)| (m.as_str(), p.as_str()))
        .collect();
    assert_eq!(
        calls,
        vec![
            ("POST", "/gitlab/projects/acme%2Fapi/pipeline"),
            ("GET", "/gitlab/projects/acme%2Fapi/pipelines/77"),
            ("GET", "/gitlab/projects/acme%2Fapi/pipelines/77"),
            ("GET", "/gitlab/projects/acme%2Fapi/pipelines/77"),
            (
                "POST",
                "/ado/acme/Web/_apis/pipelines/12/runs?api-version=7.1"
            ),
            (
                "GET",
                "/ado/acme/Web/_apis/pipelines/12/runs/300?api-version=7.1"
            ),
            (
                "GET",
                "/ado/acme/Web/_apis/pipelines/12/runs/300?api-version=7.1"
            ),
            ("POST", "/jira/rest/api/3/issue"),
            ("GET", "/jira/rest/api/3/issue/REL-1?fields=status"),
            ("GET", "/jira/rest/api/3/issue/REL-1/transitions"),
            ("POST", "/jira/rest/api/3/issue/REL-1/transitions"),
        ]
    );
    assert_eq!(seen[0].2, GITLAB_TOKEN, "GitLab's PRIVATE-TOKEN");
    assert_eq!(
        seen[0].3,
        json!({"ref": "main", "variables": [{"key": "VERSION", "value": "v7"}]})
    );
    assert!(seen[4].2.starts_with("Basic "), "{}", seen[4].2);
    assert_eq!(
        seen[4].3,
        json!({"variables": {"PIPELINE": {"value": "77"}}})
    );
    assert_eq!(
        seen[7].3["fields"]["summary"],
        "Released v7 (https://dev.azure.test/acme/_build/results?buildId=300)"
    );
    assert_eq!(seen[10].3, json!({"transition": {"id": "31"}}));
    no_credential_in(&dir.0, &text(&ran));
}

#[tokio::test]
async fn exec_refuses_an_unconfigured_jira_and_a_failed_pipeline_fails_the_run() {
    let (base, received) = services().await;
    let dir = Scratch::new("backends-refused");
    project(&dir.0, &base, false);
    let refused = exec(&dir.0, "main").await;
    assert_eq!(refused.status.code(), Some(2), "{}", text(&refused));
    let out = text(&refused);
    assert!(
        out.contains("`ticket` calls Jira, but it is not configured")
            && out.contains("set `[jira] api_url` in wflow.toml"),
        "{out}"
    );
    assert!(
        received.lock().expect("received").is_empty(),
        "nothing was called before the preflight passed"
    );
    project(&dir.0, &base, true);
    let failed = exec(&dir.0, "broken").await;
    assert_eq!(failed.status.code(), Some(1), "{}", text(&failed));
    assert!(
        text(&failed).contains("the GitLab pipeline 78 ended `failed`"),
        "{}",
        text(&failed)
    );
    let seen = received.lock().expect("received").clone();
    assert!(
        !seen.iter().any(|(_, p, _, _)| p.starts_with("/ado")),
        "the run stopped at the failed pipeline: {seen:#?}"
    );
    no_credential_in(&dir.0, &text(&failed));
}

/// `wflow serve` with GitLab and Azure DevOps configured but not Jira: the release (it files a
/// Jira ticket) is refused at load, naming the missing service; a GitLab-only workflow is
/// served and runs over the API, polling its pipeline to `success`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_refuses_what_it_cannot_run_and_runs_a_pipeline_over_its_api() {
    let (base, received) = services().await;
    let dir = Scratch::new("backends-serve");
    project(&dir.0, &base, false);
    let flows = dir.0.join("workflows");
    std::fs::create_dir_all(&flows).expect("dir");
    std::fs::rename(dir.0.join("release.wflow"), flows.join("release.wflow")).expect("move");
    std::fs::write(
        flows.join("pipeline.wflow"),
        r#"workflow pipeline "Pipeline" {
  form trigger "Go" { input version: string "Version" }
  integration pipeline "Pipeline" {
    installation "gitlab"; provider "gitlab-v2"; invocation trigger_pipeline
    properties { project: "acme/api", ref: "main", pipelineVariables: { VERSION: "{{ .outputs.trigger.version }}" } }
  }
  flow { trigger -> pipeline }
}
"#,
    )
    .expect("workflow");
    let serving = start_with_env(
        &dir.0.join("wflow.db"),
        &flows,
        &[],
        &[("WFLOW_SECRET_GITLAB_TOKEN", GITLAB_TOKEN)],
    );
    let log = serving.log();
    assert!(log.contains("refused: workflow `release`"), "{log}");
    assert!(
        log.contains("`ticket` calls Jira, but it is not configured"),
        "{log}"
    );
    let done = run_to_end(&serving.addr, "pipeline", json!({"version": "v8"})).await;
    assert_eq!(done["run"]["result"], "SUCCESS", "{done}");
    let seen = received.lock().expect("received").clone();
    let polls = seen
        .iter()
        .filter(|(m, p, _, _)| m == "GET" && p == "/gitlab/projects/acme%2Fapi/pipelines/77")
        .count();
    assert_eq!(polls, 3, "pending, running, success: {seen:#?}");
    assert_eq!(
        seen[0].3,
        json!({"ref": "main", "variables": [{"key": "VERSION", "value": "v8"}]})
    );
    let (ok, printed) = serving.stop();
    assert!(ok, "{printed}");
    no_credential_in(&dir.0, &printed);
}
