//! GitHub integration actions: `github-ocean` `dispatch_workflow` and the beta `GITHUB`
//! `CREATE` shape dispatch a GitHub Actions workflow through the REST API; with status
//! reporting the node waits for the workflow run to complete and takes its conclusion.
//!
//! The token is the secret [`TOKEN_SECRET`] (`WFLOW_SECRET_GITHUB_TOKEN` or the secrets file).

use serde_json::{Map, Value as Json, json};
use wflow_compiler::ir;

use crate::engine::{Done, Engine, Error, log};
use crate::secrets::Secrets;
use crate::template;
use wflow_effects::http;
use wflow_store::{NodeRunRecord, Write};

/// The secret holding the GitHub token.
pub const TOKEN_SECRET: &str = wflow_compiler::preflight::GITHUB_TOKEN;

/// How many polls in a row may fail (network errors, 5xx, rate limits) before the node fails.
const POLL_RETRIES: u32 = 5;

/// A dispatch, read from either schema generation.
#[derive(Debug, Clone, PartialEq)]
struct Dispatch {
    owner: String,
    repo: String,
    workflow: String,
    git_ref: Option<String>,
    inputs: Map<String, Json>,
    report: bool,
}

pub use wflow_compiler::preflight::is_github_dispatch as is_dispatch;

fn text(props: &Map<String, Json>, key: &str) -> Option<String> {
    match props.get(key) {
        Some(Json::String(s)) if !s.trim().is_empty() => Some(s.trim().to_string()),
        Some(Json::Number(n)) => Some(n.to_string()),
        _ => None,
    }
}

/// The dispatch described by the rendered execution properties.
fn dispatch(beta: bool, props: &Json) -> Result<Dispatch, String> {
    let Json::Object(p) = props else {
        return Err(format!(
            "integrationActionExecutionProperties must be an object, got {props}"
        ));
    };
    let need = |key: &str| {
        text(p, key)
            .ok_or_else(|| format!("integrationActionExecutionProperties.{key} is required"))
    };
    let (owner, repo, workflow, inputs_key, report_key) = if beta {
        let full = need("repo")?;
        let Some((owner, repo)) = full.split_once('/') else {
            return Err(format!(
                "integrationActionExecutionProperties.repo must be `owner/repo`, got `{full}`"
            ));
        };
        (
            owner.to_string(),
            repo.to_string(),
            need("workflowId")?,
            "inputs",
            "reportStatus",
        )
    } else {
        (
            need("org")?,
            need("repo")?,
            need("workflow")?,
            "workflowInputs",
            "reportWorkflowStatus",
        )
    };
    let inputs = match p.get(inputs_key) {
        None | Some(Json::Null) => Map::new(),
        Some(Json::Object(m)) => m
            .iter()
            .map(|(k, v)| {
                let mut s = String::new();
                template::interpolate(&mut s, v);
                (k.clone(), Json::String(s))
            })
            .collect(),
        Some(other) => {
            return Err(format!(
                "integrationActionExecutionProperties.{inputs_key} must be an object, got {other}"
            ));
        }
    };
    let report = match p.get(report_key) {
        None | Some(Json::Null) => true,
        Some(Json::Bool(b)) => *b,
        Some(other) => {
            return Err(format!(
                "integrationActionExecutionProperties.{report_key} must be true or false, got {other}"
            ));
        }
    };
    Ok(Dispatch {
        owner,
        repo,
        workflow,
        git_ref: text(p, "ref"),
        inputs,
        report,
    })
}

/// A run being tracked: its id and page.
fn run_output(id: &Json, url: &Json) -> Json {
    json!({ "runId": id, "runUrl": url })
}

impl Engine {
    /// Sends a GitHub request of `node`; the status and JSON body of the answer, or what went
    /// wrong.
    async fn github_call(
        &self,
        node: &str,
        method: &str,
        path: &str,
        token: &str,
        body: Option<&Json>,
    ) -> Result<(u16, Json), String> {
        let url = format!("{}{path}", self.config.github.api_url);
        let mut req = http::Request::new(node, method, url, self.config.webhook_timeout)
            .header("Accept", "application/vnd.github+json")
            .header("X-GitHub-Api-Version", "2022-11-28")
            .header("User-Agent", "wflow")
            .header("Authorization", format!("Bearer {token}"));
        req.body = body.cloned();
        let resp = self
            .http
            .send(req)
            .await
            .map_err(|e| format!("{method} {path} failed: {e}"))?;
        let data = serde_json::from_str(&resp.body).unwrap_or(Json::Null);
        Ok((resp.status, data))
    }

    /// Runs a GitHub dispatch node. `props` are the rendered execution properties. The
    /// dispatched run's id is written to the node run as soon as it is known, so that a
    /// resumed run polls it instead of dispatching again.
    pub(crate) async fn github(
        &self,
        i: &ir::Integration,
        rec: &NodeRunRecord,
        props: Json,
        secrets: &Secrets,
    ) -> Result<Done, Error> {
        let beta = i
            .integration_provider
            .as_ref()
            .is_some_and(|p| p.value == "GITHUB");
        let d = match dispatch(beta, &props) {
            Ok(d) => d,
            Err(e) => return Ok(Done::failed(e, json!({}))),
        };
        let Some(token) = secrets.get(TOKEN_SECRET) else {
            return Ok(Done::failed(
                format!(
                    "no GitHub token; set the secret {TOKEN_SECRET} (WFLOW_SECRET_{TOKEN_SECRET} \
                     or a --secrets-file line)"
                ),
                json!({}),
            ));
        };
        let node = rec.node.as_str();
        let mut logs = Vec::new();
        let known = rec
            .output
            .as_ref()
            .and_then(|o| o.get("runId"))
            .filter(|id| !id.is_null())
            .cloned();
        let (run_id, run_url) = match known {
            Some(id) => {
                logs.push(log(
                    node,
                    "INFO",
                    format!("resuming: polling GitHub workflow run {id}"),
                ));
                let url = rec
                    .output
                    .as_ref()
                    .and_then(|o| o.get("runUrl"))
                    .cloned()
                    .unwrap_or(Json::Null);
                (id, url)
            }
            None => match self.github_dispatch(&d, token, &mut logs, node).await {
                Ok(found) => found,
                Err(e) => {
                    return Ok(Done {
                        logs,
                        ..Done::failed(e, json!({}))
                    });
                }
            },
        };
        if !d.report {
            return Ok(Done {
                logs,
                ..Done::ok(run_output(&run_id, &run_url))
            });
        }
        if run_id.is_null() {
            return Ok(Done {
                logs,
                ..Done::failed(
                    "GitHub accepted the dispatch but the run it started could not be found, so \
                     its status cannot be reported"
                        .into(),
                    json!({}),
                )
            });
        }
        let mut tracked = rec.clone();
        tracked.output = Some(run_output(&run_id, &run_url));
        let mut applied = self
            .store
            .apply(vec![Write::PutNodeRun(Box::new(tracked))])
            .await?;
        let path = format!("/repos/{}/{}/actions/runs/{run_id}", d.owner, d.repo);
        let mut failures = 0;
        loop {
            if applied.cancel_requested {
                logs.push(log(
                    node,
                    "INFO",
                    format!(
                        "the run was cancelled: stopped following GitHub workflow run {run_id} \
                         (it goes on on GitHub; cancel it there if needed)"
                    ),
                ));
                return Ok(Done {
                    logs,
                    ..Done::cancelled()
                });
            }
            match self.github_call(node, "GET", &path, token, None).await {
                Ok((200, run)) if run["status"] == "completed" => {
                    let conclusion = run["conclusion"].as_str().unwrap_or("unknown").to_string();
                    let url = run.get("html_url").cloned().unwrap_or(run_url);
                    let mut out = run_output(&run_id, &url);
                    out["status"] = json!("completed");
                    out["conclusion"] = json!(conclusion);
                    logs.push(log(
                        node,
                        "INFO",
                        format!("GitHub workflow run {run_id} completed: {conclusion}"),
                    ));
                    return Ok(Done {
                        logs,
                        ..if conclusion == "success" {
                            Done::ok(out)
                        } else {
                            Done::failed(
                                format!(
                                    "the GitHub workflow run {run_id} concluded `{conclusion}`"
                                ),
                                out,
                            )
                        }
                    });
                }
                Ok((200, _)) => failures = 0,
                Ok((status, data)) if status == 429 || status >= 500 => {
                    failures += 1;
                    if failures >= POLL_RETRIES {
                        return Ok(Done {
                            logs,
                            ..Done::failed(
                                format!("GET {path} kept failing: {status} {}", message(&data)),
                                run_output(&run_id, &run_url),
                            )
                        });
                    }
                }
                Ok((status, data)) => {
                    return Ok(Done {
                        logs,
                        ..Done::failed(
                            format!("GET {path} returned {status}: {}", message(&data)),
                            run_output(&run_id, &run_url),
                        )
                    });
                }
                Err(e) => {
                    failures += 1;
                    if failures >= POLL_RETRIES {
                        return Ok(Done {
                            logs,
                            ..Done::failed(e, run_output(&run_id, &run_url))
                        });
                    }
                }
            }
            self.clock.sleep(self.config.github.poll_interval).await;
            applied.cancel_requested =
                (self.store.run(&rec.run_id).await?).is_some_and(|r| r.cancel_requested);
        }
    }

    /// Dispatches the workflow; returns the run's id and page (`null` when GitHub does not say
    /// and status is not reported).
    async fn github_dispatch(
        &self,
        d: &Dispatch,
        token: &str,
        logs: &mut Vec<wflow_store::LogRecord>,
        node: &str,
    ) -> Result<(Json, Json), String> {
        let repo_path = format!("/repos/{}/{}", d.owner, d.repo);
        let git_ref = match &d.git_ref {
            Some(r) => r.clone(),
            None => {
                let (status, repo) = self
                    .github_call(node, "GET", &repo_path, token, None)
                    .await?;
                match repo["default_branch"].as_str() {
                    Some(b) if status == 200 => b.to_string(),
                    _ => {
                        return Err(format!(
                            "cannot read the default branch of {}/{}: GET {repo_path} returned \
                             {status}: {}",
                            d.owner,
                            d.repo,
                            message(&repo)
                        ));
                    }
                }
            }
        };
        let path = format!("{repo_path}/actions/workflows/{}/dispatches", d.workflow);
        let mut body = json!({ "ref": git_ref, "inputs": d.inputs, "return_run_details": true });
        let since = self.clock.now() - chrono::Duration::seconds(10);
        let (mut status, mut data) = self
            .github_call(node, "POST", &path, token, Some(&body))
            .await?;
        if status == 422 {
            // GitHub Enterprise Server rejects `return_run_details`: dispatch without it.
            if let Json::Object(m) = &mut body {
                m.remove("return_run_details");
            }
            (status, data) = self
                .github_call(node, "POST", &path, token, Some(&body))
                .await?;
        }
        if !(200..300).contains(&status) {
            return Err(format!(
                "dispatching workflow `{}` of {}/{} failed: POST {path} returned {status}: {}",
                d.workflow,
                d.owner,
                d.repo,
                message(&data)
            ));
        }
        logs.push(log(
            node,
            "INFO",
            format!(
                "dispatched workflow `{}` of {}/{} on `{git_ref}`",
                d.workflow, d.owner, d.repo
            ),
        ));
        if let Some(id) = data.get("workflow_run_id").filter(|v| !v.is_null()) {
            let url = data.get("html_url").cloned().unwrap_or(Json::Null);
            return Ok((id.clone(), url));
        }
        if !d.report {
            return Ok((Json::Null, Json::Null));
        }
        // Without run details, the run is the newest dispatch of the workflow since now.
        let list = format!(
            "{repo_path}/actions/workflows/{}/runs?event=workflow_dispatch&per_page=5&created=%3E%3D{}",
            d.workflow,
            since.format("%Y-%m-%dT%H:%M:%SZ")
        );
        for _ in 0..POLL_RETRIES {
            let (status, runs) = self.github_call(node, "GET", &list, token, None).await?;
            if status == 200
                && let Some(run) = runs["workflow_runs"].as_array().and_then(|r| r.first())
            {
                return Ok((
                    run.get("id").cloned().unwrap_or(Json::Null),
                    run.get("html_url").cloned().unwrap_or(Json::Null),
                ));
            }
            self.clock.sleep(self.config.github.poll_interval).await;
        }
        Ok((Json::Null, Json::Null))
    }
}

/// GitHub's error message in a response body, or the body.
fn message(data: &Json) -> String {
    match data.get("message").and_then(Json::as_str) {
        Some(m) => m.to_string(),
        None if data.is_null() => "no body".into(),
        None => data.to_string().chars().take(200).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_shapes_are_read_and_inputs_become_strings() {
        let newest = dispatch(
            false,
            &json!({"org": "acme", "repo": "api", "workflow": "deploy.yml",
                    "workflowInputs": {"n": 3, "ok": true, "s": "x", "none": null}}),
        )
        .expect("newest");
        assert_eq!(
            (
                newest.owner.as_str(),
                newest.repo.as_str(),
                newest.workflow.as_str()
            ),
            ("acme", "api", "deploy.yml")
        );
        assert_eq!(
            Json::Object(newest.inputs),
            json!({"n": "3", "ok": "true", "s": "x", "none": ""})
        );
        assert!(newest.report);
        let beta = dispatch(
            true,
            &json!({"repo": "acme/api", "workflowId": 42, "inputs": {}, "reportStatus": false}),
        )
        .expect("beta");
        assert_eq!(beta.workflow, "42");
        assert!(!beta.report);
        let e = dispatch(true, &json!({"repo": "api", "workflowId": "x"})).expect_err("repo");
        assert!(e.contains("must be `owner/repo`"), "{e}");
        let e = dispatch(false, &json!({"org": "a", "repo": "b"})).expect_err("workflow");
        assert!(e.contains(".workflow is required"), "{e}");
    }
}
