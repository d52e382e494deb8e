//! GitLab, Azure DevOps and Jira integration actions against loopback servers speaking each
//! service's REST API as its reference describes it (paths, methods, credentials, bodies,
//! answers): a success with its status polled from pending to the end, a failed pipeline or
//! run taking an error path, and the service's refusals (4xx) named in the node's error.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::http::StatusCode;
use serde_json::{Value as Json, json};
use support::{Log, Seen, error, new_engine, output, plan, run, serve};
use wflow_engine::engine::Conclusion;
use wflow_engine::settings::Service;
use wflow_engine::{Config, Secrets};
use wflow_engine::{Engine, Plan, Quiet};

const GITLAB_TOKEN: &str = "glpat-n3ver-logged";
const ADO_TOKEN: &str = "ado-pat-n3ver-logged";
const JIRA_EMAIL: &str = "bot@acme.test";
const JIRA_TOKEN: &str = "atl-t0ken-n3ver-logged";

/// A service at `base`, polled every 5 ms.
fn at(base: &str) -> Service {
    Service {
        api_url: base.to_string(),
        poll_interval: Duration::from_millis(5),
    }
}

/// Every service at `base`, polled every 5 ms.
fn config(base: &str) -> Config {
    Config {
        gitlab: at(base),
        azure_devops: Some(at(base)),
        jira: Some(at(base)),
        ..Config::default()
    }
}

/// Runs `p` with `payload` and the services' credentials; the run's id, once it ended `result`.
async fn ended(engine: &Engine, p: &Plan, payload: Json, result: Conclusion) -> String {
    let o = run(engine, p, payload, &secrets()).await;
    assert_eq!(o.result, Some(result), "{}", error(engine, &o.run_id).await);
    o.run_id
}

fn secrets() -> Secrets {
    Secrets::from_pairs(
        [
            ("GITLAB_TOKEN", GITLAB_TOKEN),
            ("AZURE_DEVOPS_TOKEN", ADO_TOKEN),
            ("JIRA_EMAIL", JIRA_EMAIL),
            ("JIRA_API_TOKEN", JIRA_TOKEN),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string())),
    )
}

/// The requests of `seen` to `method path`.
fn to<'a>(seen: &'a [Seen], method: &str, path: &str) -> Vec<&'a Seen> {
    seen.iter()
        .filter(|s| s.method == method && s.path == path)
        .collect()
}

fn header<'a>(s: &'a Seen, name: &str) -> &'a str {
    s.headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

/// No log line of the run holds a credential.
async fn no_credential_logged(engine: &wflow_engine::Engine, run_id: &str) {
    let logs = engine.store.logs(run_id).await.expect("logs");
    assert!(!logs.is_empty());
    for l in logs {
        for secret in [GITLAB_TOKEN, ADO_TOKEN, JIRA_TOKEN] {
            assert!(!l.message.contains(secret), "{}", l.message);
        }
    }
}

// --- GitLab -------------------------------------------------------------------------------

/// GitLab's pipelines API (`POST /projects/:id/pipeline`, `GET /projects/:id/pipelines/:id`)
/// for the project `acme/api`: a pipeline on `main` is `pending`, then `running`, then
/// `success`; one on `broken` ends `failed`; an unknown ref is refused with 400 and an unknown
/// project with 404, as GitLab answers them; `acme/flaky` answers its first request 503.
async fn gitlab() -> (String, Log) {
    serve(|method, path, body, seen| {
        let pipeline = |id: u64, git_ref: &str, status: &str| {
            json!({"id": id, "iid": id - 70, "project_id": 5, "ref": git_ref, "status": status,
                   "sha": "a91957a8", "source": "api",
                   "web_url": format!("https://gitlab.test/acme/api/-/pipelines/{id}")})
        };
        let project = "/projects/acme%2Fapi";
        match (method, path) {
            ("POST", p) if p == format!("{project}/pipeline") => match body["ref"].as_str() {
                Some("main") => (StatusCode::CREATED, pipeline(77, "main", "created")),
                Some("broken") => (StatusCode::CREATED, pipeline(78, "broken", "created")),
                _ => (
                    StatusCode::BAD_REQUEST,
                    json!({"message": {"base": ["Reference not found"]}}),
                ),
            },
            ("POST", "/projects/acme%2Fflaky/pipeline") if seen.is_empty() => (
                StatusCode::SERVICE_UNAVAILABLE,
                json!({"message": "502 Bad Gateway"}),
            ),
            ("POST", "/projects/acme%2Fflaky/pipeline") => {
                (StatusCode::CREATED, pipeline(79, "main", "created"))
            }
            ("POST", p) if p.ends_with("/pipeline") => (
                StatusCode::NOT_FOUND,
                json!({"message": "404 Project Not Found"}),
            ),
            ("GET", p) if p == format!("{project}/pipelines/77") => {
                let polls = seen.iter().filter(|s| s.path == p).count();
                let status = ["pending", "running"].get(polls).unwrap_or(&"success");
                (StatusCode::OK, pipeline(77, "main", status))
            }
            ("GET", p) if p == format!("{project}/pipelines/78") => {
                (StatusCode::OK, pipeline(78, "broken", "failed"))
            }
            _ => (StatusCode::NOT_FOUND, json!({"message": "404 Not found"})),
        }
    })
    .await
}

#[tokio::test]
async fn gitlab_pipeline_is_polled_from_pending_to_success() {
    let (base, log) = gitlab().await;
    let (engine, _dir) = new_engine(config(&base)).await;
    let p = plan(
        r#"workflow gl "GL" {
  form trigger "T" { input version: string "Version"; input replicas: number "Replicas" }
  integration pipeline "Pipeline" {
    installation "gitlab"
    provider "gitlab-v2"
    invocation trigger_pipeline
    properties {
      project: "acme/api"
      ref: "main"
      pipelineVariables: { VERSION: "{{ .outputs.trigger.version }}", REPLICAS: "{{ .outputs.trigger.replicas }}" }
    }
  }
  flow { trigger -> pipeline }
}"#,
    );
    assert!(p.secrets.contains("GITLAB_TOKEN"), "{:?}", p.secrets);
    let run_id = ended(
        &engine,
        &p,
        json!({"version": "v2", "replicas": 3}),
        Conclusion::Success,
    )
    .await;
    assert_eq!(
        output(&engine, &run_id, "pipeline").await,
        json!({"pipelineId": 77, "projectId": 5, "ref": "main", "status": "success",
               "webUrl": "https://gitlab.test/acme/api/-/pipelines/77"})
    );
    let seen = log.lock().expect("lock").clone();
    let posts = to(&seen, "POST", "/projects/acme%2Fapi/pipeline");
    assert_eq!(posts.len(), 1, "{seen:#?}");
    assert_eq!(header(posts[0], "private-token"), GITLAB_TOKEN);
    assert_eq!(
        header(posts[0], "idempotency-key"),
        format!("{}:pipeline", run_id)
    );
    assert_eq!(
        posts[0].body,
        json!({"ref": "main", "variables": [{"key": "VERSION", "value": "v2"},
                                            {"key": "REPLICAS", "value": "3"}]})
    );
    let polls = to(&seen, "GET", "/projects/acme%2Fapi/pipelines/77");
    assert_eq!(polls.len(), 3, "pending, running, success: {seen:#?}");
    assert!(
        polls
            .iter()
            .all(|s| header(s, "private-token") == GITLAB_TOKEN)
    );
    no_credential_logged(&engine, &run_id).await;
}

#[tokio::test]
async fn a_failed_gitlab_pipeline_takes_the_error_path_and_refusals_are_named() {
    let (base, log) = gitlab().await;
    let (engine, _dir) = new_engine(config(&base)).await;
    let p = plan(
        r#"workflow gl "GL" {
  form trigger "T" { }
  integration pipeline "Pipeline" {
    installation "gitlab"; provider "gitlab-v2"; invocation trigger_pipeline
    properties { project: "acme/api", ref: "broken" }
  }
  integration badref "Bad ref" {
    installation "gitlab"; provider "gitlab-v2"; invocation trigger_pipeline
    properties { project: "acme/api", ref: "nope", reportPipelineStatus: false }
    on_failure continue
  }
  integration missing "Missing project" {
    installation "gitlab"; provider "gitlab-v2"; invocation trigger_pipeline
    properties { project: "acme/gone", ref: "main" }
  }
  flow {
    trigger -> pipeline
    pipeline.error -> badref -> missing
  }
}"#,
    );
    let run_id = ended(&engine, &p, json!({}), Conclusion::Failed).await;
    let failed = output(&engine, &run_id, "pipeline").await;
    assert_eq!(failed["status"], "failed");
    assert_eq!(
        failed["error"]["message"],
        "the GitLab pipeline 78 ended `failed`"
    );
    assert_eq!(
        output(&engine, &run_id, "badref").await["error"]["message"],
        r#"creating a pipeline of `acme/api` on `nope` failed: POST /projects/acme%2Fapi/pipeline returned 400: {"base":["Reference not found"]}"#
    );
    let e = error(&engine, &run_id).await;
    assert!(
        e.contains(
            "node `missing` failed: creating a pipeline of `acme/gone` on `main` failed: POST \
             /projects/acme%2Fgone/pipeline returned 404: 404 Project Not Found"
        ),
        "{e}"
    );
    let seen = log.lock().expect("lock").clone();
    assert!(
        to(&seen, "GET", "/projects/acme%2Fapi/pipelines/77").is_empty(),
        "only pipeline 78 was started and polled: {seen:#?}"
    );
    no_credential_logged(&engine, &run_id).await;
}

#[tokio::test]
async fn a_gitlab_refusal_of_5xx_is_retried_with_the_same_idempotency_key() {
    let (base, log) = gitlab().await;
    let (engine, _dir) = new_engine(config(&base)).await;
    let p = plan(
        r#"workflow gl "GL" {
  form trigger "T" { }
  integration pipeline "Pipeline" {
    installation "gitlab"; provider "gitlab-v2"; invocation trigger_pipeline
    properties { project: "acme/flaky", ref: "main", reportPipelineStatus: false }
    retry { attempts 3; backoff fixed 10ms; on [5xx] }
  }
  flow { trigger -> pipeline }
}"#,
    );
    let run_id = ended(&engine, &p, json!({}), Conclusion::Success).await;
    assert_eq!(output(&engine, &run_id, "pipeline").await["pipelineId"], 79);
    let seen = log.lock().expect("lock").clone();
    let posts = to(&seen, "POST", "/projects/acme%2Fflaky/pipeline");
    assert_eq!(posts.len(), 2, "{seen:#?}");
    assert_eq!(
        header(posts[0], "idempotency-key"),
        header(posts[1], "idempotency-key")
    );
    let runs = engine.store.node_runs(&run_id).await.expect("node runs");
    let attempts = &runs
        .iter()
        .find(|r| r.node == "pipeline")
        .expect("pipeline")
        .attempts;
    assert_eq!(attempts.len(), 1, "{attempts:#?}");
    assert_eq!(attempts[0].class, "5xx");
    assert!(
        attempts[0].cause.contains("returned 503: 502 Bad Gateway"),
        "{attempts:#?}"
    );
}

/// A run whose process stops while it follows a GitLab pipeline is resumed by polling that
/// pipeline (recorded on the node run as soon as it was created), never by creating another.
#[tokio::test]
async fn a_resumed_run_polls_the_pipeline_it_created() {
    let finished = Arc::new(AtomicBool::new(false));
    let (base, log) = {
        let finished = Arc::clone(&finished);
        serve(move |method, path, _, _| {
            let status = if finished.load(Ordering::SeqCst) {
                "success"
            } else {
                "running"
            };
            let pipeline = json!({"id": 80, "project_id": 5, "ref": "main", "status": status,
                                  "web_url": "https://gitlab.test/acme/api/-/pipelines/80"});
            match (method, path) {
                ("POST", "/projects/acme%2Fapi/pipeline") => (StatusCode::CREATED, pipeline),
                ("GET", "/projects/acme%2Fapi/pipelines/80") => (StatusCode::OK, pipeline),
                _ => (StatusCode::NOT_FOUND, json!({"message": "404 Not found"})),
            }
        })
        .await
    };
    let (engine, _dir) = new_engine(config(&base)).await;
    let p = Arc::new(plan(
        r#"workflow gl "GL" {
  form trigger "T" { }
  integration pipeline "Pipeline" {
    installation "gitlab"; provider "gitlab-v2"; invocation trigger_pipeline
    properties { project: "acme/api", ref: "main" }
  }
  flow { trigger -> pipeline }
}"#,
    ));
    let driving = {
        let (engine, p) = (engine.clone(), Arc::clone(&p));
        tokio::spawn(async move { run(&engine, &p, json!({}), &secrets()).await })
    };
    let t0 = std::time::Instant::now();
    let run_id = loop {
        let runs = engine.store.runs(1).await.expect("runs");
        if let Some(r) = runs.first()
            && output(&engine, &r.id, "pipeline").await["pipelineId"] == 80
        {
            break r.id.clone();
        }
        assert!(t0.elapsed() < Duration::from_secs(10), "never created");
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    // The process driving the run stops while the pipeline runs; it ends meanwhile.
    driving.abort();
    let _ = driving.await;
    finished.store(true, Ordering::SeqCst);
    let o = engine
        .drive(&p, &run_id, &secrets(), &Quiet)
        .await
        .expect("drive");
    assert_eq!(
        o.result,
        Some(Conclusion::Success),
        "{}",
        error(&engine, &run_id).await
    );
    assert_eq!(
        output(&engine, &run_id, "pipeline").await["status"],
        "success"
    );
    let seen = log.lock().expect("lock").clone();
    assert_eq!(
        to(&seen, "POST", "/projects/acme%2Fapi/pipeline").len(),
        1,
        "created once: {seen:#?}"
    );
    let logs = engine.store.logs(&run_id).await.expect("logs");
    assert!(
        logs.iter()
            .any(|l| l.message == "resuming: polling GitLab pipeline 80"),
        "{logs:#?}"
    );
}

// --- Azure DevOps -------------------------------------------------------------------------

/// Azure Pipelines' runs API (`POST {project}/_apis/pipelines/{id}/runs`, `GET .../runs/{run}`,
/// api-version 7.1) for the project `Fabrikam Web`: pipeline 12's run 300 is `inProgress`
/// (after one 503 while polling) and then `completed` `succeeded`; pipeline 13's run 301
/// completes `failed`; an unknown pipeline is refused with 404.
async fn azure_devops() -> (String, Log) {
    serve(|method, path, body, seen| {
        let runs = "/Fabrikam%20Web/_apis/pipelines";
        let run = |id: u64, state: &str, result: Json| {
            json!({"id": id, "name": format!("20261203.{id}"), "state": state, "result": result,
                   "pipeline": {"id": 12, "name": "deploy"},
                   "_links": {"web": {"href": format!("https://dev.azure.test/acme/Fabrikam%20Web/_build/results?buildId={id}")}}})
        };
        match (method, path) {
            ("POST", p) if p == format!("{runs}/12/runs?api-version=7.1") => {
                let ok = body["resources"]["repositories"]["self"]["refName"]
                    == "refs/heads/release";
                if ok {
                    (StatusCode::OK, run(300, "inProgress", Json::Null))
                } else {
                    (
                        StatusCode::BAD_REQUEST,
                        json!({"message": "Unexpected parameter 'refName'."}),
                    )
                }
            }
            ("POST", p) if p == format!("{runs}/13/runs?api-version=7.1") => {
                (StatusCode::OK, run(301, "inProgress", Json::Null))
            }
            ("GET", p) if p == format!("{runs}/12/runs/300?api-version=7.1") => {
                match seen.iter().filter(|s| s.path == p).count() {
                    0 => (
                        StatusCode::SERVICE_UNAVAILABLE,
                        json!({"message": "try again"}),
                    ),
                    1 => (StatusCode::OK, run(300, "inProgress", Json::Null)),
                    _ => (StatusCode::OK, run(300, "completed", json!("succeeded"))),
                }
            }
            ("GET", p) if p == format!("{runs}/13/runs/301?api-version=7.1") => {
                (StatusCode::OK, run(301, "completed", json!("failed")))
            }
            _ => (
                StatusCode::NOT_FOUND,
                json!({"$id": "1", "message": "Pipeline not found.",
                       "typeKey": "PipelineNotFoundException"}),
            ),
        }
    })
    .await
}

#[tokio::test]
async fn azure_devops_run_is_polled_to_its_result() {
    let (base, log) = azure_devops().await;
    let (engine, _dir) = new_engine(config(&base)).await;
    let p = plan(
        r#"workflow ado "ADO" {
  form trigger "T" { input env: string "Env" }
  integration deploy "Deploy" {
    installation "ado"
    provider "azure-devops"
    invocation trigger_pipeline
    properties {
      project: "Fabrikam Web"
      pipelineId: 12
      branch: "release"
      templateParameters: { environment: "{{ .outputs.trigger.env }}" }
      variables: { DRY_RUN: false }
    }
  }
  flow { trigger -> deploy }
}"#,
    );
    let run_id = ended(&engine, &p, json!({"env": "prod"}), Conclusion::Success).await;
    assert_eq!(
        output(&engine, &run_id, "deploy").await,
        json!({"pipelineRunId": 300, "state": "completed", "result": "succeeded",
               "webUrl": "https://dev.azure.test/acme/Fabrikam%20Web/_build/results?buildId=300"})
    );
    let seen = log.lock().expect("lock").clone();
    let posts = to(
        &seen,
        "POST",
        "/Fabrikam%20Web/_apis/pipelines/12/runs?api-version=7.1",
    );
    assert_eq!(posts.len(), 1, "{seen:#?}");
    // Basic credentials: an empty user name and the personal access token.
    assert_eq!(posts[0].auth, "Basic OmFkby1wYXQtbjN2ZXItbG9nZ2Vk");
    assert_eq!(
        posts[0].body,
        json!({"resources": {"repositories": {"self": {"refName": "refs/heads/release"}}},
               "templateParameters": {"environment": "prod"},
               "variables": {"DRY_RUN": {"value": "false"}}})
    );
    let polls = to(
        &seen,
        "GET",
        "/Fabrikam%20Web/_apis/pipelines/12/runs/300?api-version=7.1",
    );
    assert_eq!(polls.len(), 3, "503, inProgress, completed: {seen:#?}");
    let logs = engine.store.logs(&run_id).await.expect("logs");
    assert!(
        logs.iter()
            .any(|l| l.message == "Azure DevOps pipeline run 300 completed `succeeded`"),
        "{logs:#?}"
    );
    no_credential_logged(&engine, &run_id).await;
}

#[tokio::test]
async fn a_failed_azure_devops_run_takes_the_error_path_and_a_missing_pipeline_is_named() {
    let (base, _log) = azure_devops().await;
    let (engine, _dir) = new_engine(config(&base)).await;
    let p = plan(
        r#"workflow ado "ADO" {
  form trigger "T" { }
  integration deploy "Deploy" {
    installation "ado"; provider "azure-devops"; invocation trigger_pipeline
    properties { project: "Fabrikam Web", pipelineId: 13 }
  }
  integration rollback "Rollback" {
    installation "ado"; provider "azure-devops"; invocation trigger_pipeline
    properties { project: "Fabrikam Web", pipelineId: 99, reportPipelineStatus: false }
  }
  flow {
    trigger -> deploy
    deploy.error -> rollback
  }
}"#,
    );
    let run_id = ended(&engine, &p, json!({}), Conclusion::Failed).await;
    let deploy = output(&engine, &run_id, "deploy").await;
    assert_eq!(deploy["result"], "failed");
    assert_eq!(
        deploy["error"]["message"],
        "the Azure DevOps pipeline run 301 completed `failed`"
    );
    let e = error(&engine, &run_id).await;
    assert!(
        e.contains(
            "node `rollback` failed: running pipeline 99 of `Fabrikam Web` failed: POST \
             /Fabrikam%20Web/_apis/pipelines/99/runs?api-version=7.1 returned 404: Pipeline \
             not found."
        ),
        "{e}"
    );
    no_credential_logged(&engine, &run_id).await;
}

// --- Jira ---------------------------------------------------------------------------------

/// Jira Cloud's REST API v3: `POST /rest/api/3/issue` creates `OPS-7` (400 with Jira's
/// `errors` for the project `NOPE`); `OPS-7` is `To Do`, with transitions to `In Progress` and
/// `Done`; `POST .../transitions` answers 204.
async fn jira() -> (String, Log) {
    serve(|method, path, body, _| match (method, path) {
        ("POST", "/rest/api/3/issue") if body["fields"]["project"]["key"] == "OPS" => (
            StatusCode::CREATED,
            json!({"id": "10042", "key": "OPS-7", "self": "https://jira.test/rest/api/3/issue/10042"}),
        ),
        ("POST", "/rest/api/3/issue") => (
            StatusCode::BAD_REQUEST,
            json!({"errorMessages": [], "errors": {"project": "valid project is required"}}),
        ),
        ("GET", "/rest/api/3/issue/OPS-7?fields=status") => (
            StatusCode::OK,
            json!({"id": "10042", "key": "OPS-7", "fields": {"status": {"id": "1", "name": "To Do"}}}),
        ),
        ("GET", "/rest/api/3/issue/OPS-7/transitions") => (
            StatusCode::OK,
            json!({"expand": "transitions", "transitions": [
                {"id": "21", "name": "Start work", "to": {"id": "3", "name": "In Progress"}},
                {"id": "31", "name": "Finish", "to": {"id": "10001", "name": "Done"}}]}),
        ),
        ("POST", "/rest/api/3/issue/OPS-7/transitions") if body["transition"]["id"] == "31" => {
            (StatusCode::NO_CONTENT, Json::Null)
        }
        _ => (
            StatusCode::NOT_FOUND,
            json!({"errorMessages": ["Issue does not exist or you do not have permission to see it."], "errors": {}}),
        ),
    })
    .await
}

#[tokio::test]
async fn jira_issue_is_created_and_moved_to_done() {
    let (base, log) = jira().await;
    let (engine, _dir) = new_engine(config(&base)).await;
    let p = plan(
        r#"workflow j "J" {
  form trigger "T" { input summary: string "Summary" }
  integration ticket "Ticket" {
    installation "jira"; provider jira; invocation create_issue
    properties {
      project: "OPS", issueType: "Bug", summary: "{{ .outputs.trigger.summary }}"
      description: "Reported by {{ .workflowRun.trigger.by.email }}", priority: "High"
    }
  }
  integration close "Close" {
    installation "jira"; provider jira; invocation change_issue_status
    properties { issueKey: "{{ .outputs.ticket.issueKey }}", status: "done" }
  }
  flow { trigger -> ticket -> close }
}"#,
    );
    assert!(
        p.secrets.contains("JIRA_EMAIL") && p.secrets.contains("JIRA_API_TOKEN"),
        "{:?}",
        p.secrets
    );
    let run_id = ended(
        &engine,
        &p,
        json!({"summary": "Disk full"}),
        Conclusion::Success,
    )
    .await;
    assert_eq!(
        output(&engine, &run_id, "ticket").await,
        json!({"issueId": "10042", "issueKey": "OPS-7", "issueUrl": format!("{base}/browse/OPS-7")})
    );
    assert_eq!(
        output(&engine, &run_id, "close").await,
        json!({"issueKey": "OPS-7", "status": "Done", "issueUrl": format!("{base}/browse/OPS-7")})
    );
    let seen = log.lock().expect("lock").clone();
    let create = to(&seen, "POST", "/rest/api/3/issue");
    assert_eq!(create.len(), 1, "{seen:#?}");
    // Basic credentials: the account's email and its API token.
    assert_eq!(
        create[0].auth,
        "Basic Ym90QGFjbWUudGVzdDphdGwtdDBrZW4tbjN2ZXItbG9nZ2Vk"
    );
    assert_eq!(
        create[0].body,
        json!({"fields": {
            "project": {"key": "OPS"}, "issuetype": {"name": "Bug"}, "summary": "Disk full",
            "description": {"type": "doc", "version": 1, "content": [{"type": "paragraph",
                "content": [{"type": "text", "text": "Reported by dev@example.com"}]}]},
            "priority": {"name": "High"}}})
    );
    let moved = to(&seen, "POST", "/rest/api/3/issue/OPS-7/transitions");
    assert_eq!(moved.len(), 1, "{seen:#?}");
    assert_eq!(moved[0].body, json!({"transition": {"id": "31"}}));
    no_credential_logged(&engine, &run_id).await;
}

#[tokio::test]
async fn jira_refusals_and_a_status_out_of_reach_are_named() {
    let (base, log) = jira().await;
    let (engine, _dir) = new_engine(config(&base)).await;
    let p = plan(
        r#"workflow j "J" {
  form trigger "T" { }
  integration bad "Bad project" {
    installation "jira"; provider jira; invocation create_issue
    properties { project: "NOPE", issueType: "Bug", summary: "x" }
    on_failure continue
  }
  integration block "Block" {
    installation "jira"; provider jira; invocation change_issue_status
    properties { issueKey: "OPS-7", status: "Blocked" }
  }
  flow { trigger -> bad -> block }
}"#,
    );
    let run_id = ended(&engine, &p, json!({}), Conclusion::Failed).await;
    assert_eq!(
        output(&engine, &run_id, "bad").await["error"]["message"],
        "creating a Jira issue failed: POST /rest/api/3/issue returned 400: project: valid \
         project is required"
    );
    let e = error(&engine, &run_id).await;
    assert!(
        e.contains(
            "node `block` failed: Jira issue OPS-7 cannot move to `Blocked` from where it is: \
             integrationActionExecutionProperties.status must be one of In Progress, Done"
        ),
        "{e}"
    );
    let seen = log.lock().expect("lock").clone();
    assert!(
        to(&seen, "POST", "/rest/api/3/issue/OPS-7/transitions").is_empty(),
        "no transition was made: {seen:#?}"
    );
}
