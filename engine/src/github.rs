//! GitHub integration actions: `github-ocean` `dispatch_workflow` and the beta `GITHUB`
//! `CREATE` shape dispatch a GitHub Actions workflow through the REST API; with status
//! reporting the node waits for the workflow run to complete and takes its conclusion.
//!
//! The token is the secret [`TOKEN_SECRET`] (`WFLOW_SECRET_GITHUB_TOKEN` or the secrets file).

use serde_json::{Map, Value as Json, json};
use wflow_compiler::ir;

use crate::engine::{Done, Engine, Error, log};
use crate::integration::{Api, Fault, POLL_RETRIES, Props, ended, recorded, secret};
use crate::request::Sent;
use crate::secrets::Secrets;
use wflow_store::{LogRecord, NodeRunRecord};

/// The secret holding the GitHub token.
pub const TOKEN_SECRET: &str = wflow_compiler::preflight::GITHUB_TOKEN;

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

/// The dispatch described by the rendered execution properties.
fn dispatch(beta: bool, props: &Json) -> Result<Dispatch, String> {
    let p = Props::of(props)?;
    let (owner, repo, workflow, inputs_key, report_key) = if beta {
        let full = p.need("repo")?;
        let Some((owner, repo)) = full.split_once('/') else {
            return Err(format!(
                "integrationActionExecutionProperties.repo must be `owner/repo`, got `{full}`"
            ));
        };
        (
            owner.to_string(),
            repo.to_string(),
            p.need("workflowId")?,
            "inputs",
            "reportStatus",
        )
    } else {
        (
            p.need("org")?,
            p.need("repo")?,
            p.need("workflow")?,
            "workflowInputs",
            "reportWorkflowStatus",
        )
    };
    Ok(Dispatch {
        owner,
        repo,
        workflow,
        git_ref: p.text("ref"),
        inputs: p.strings(inputs_key)?,
        report: p.flag(report_key, true)?,
    })
}

/// A run being tracked: its id and page.
fn run_output(id: &Json, url: &Json) -> Json {
    json!({ "runId": id, "runUrl": url })
}

impl Engine {
    /// Runs a GitHub dispatch node. `props` are the rendered execution properties. The
    /// dispatched run's id is written to the node run as soon as it is known, so that a
    /// resumed run polls it instead of dispatching again.
    pub(crate) async fn github(
        &self,
        i: &ir::Integration,
        rec: &NodeRunRecord,
        sent: &Sent,
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
        let token = match secret(secrets, TOKEN_SECRET, "GitHub") {
            Ok(t) => t,
            Err(e) => return Ok(Done::failed(e, json!({}))),
        };
        let api = Api::new("GitHub", rec, &self.config.github.api_url, sent)
            .header("Accept", "application/vnd.github+json".into())
            .header("X-GitHub-Api-Version", "2022-11-28".into())
            .header("Authorization", format!("Bearer {token}"));
        let node = rec.node.as_str();
        let mut logs = Vec::new();
        let (run_id, run_url) = match recorded(rec, "runId") {
            Some(id) => {
                logs.push(log(
                    node,
                    "INFO",
                    format!("resuming: polling GitHub workflow run {id}"),
                ));
                (id, recorded(rec, "runUrl").unwrap_or(Json::Null))
            }
            None => match self.github_dispatch(&api, &d, &mut logs).await {
                Ok(found) => found,
                Err(f) => return Ok(f.done(logs, json!({}))),
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
        let path = format!("/repos/{}/{}/actions/runs/{run_id}", d.owner, d.repo);
        let what = format!("GitHub workflow run {run_id}");
        let tracked = run_output(&run_id, &run_url);
        self.follow(
            &api,
            rec,
            &path,
            self.config.github.poll_interval,
            &what,
            tracked,
            logs,
            |run| {
                if run["status"] != "completed" {
                    return None;
                }
                let conclusion = run["conclusion"].as_str().unwrap_or("unknown");
                let url = run.get("html_url").unwrap_or(&run_url);
                let mut out = run_output(&run_id, url);
                out["status"] = json!("completed");
                out["conclusion"] = json!(conclusion);
                let ok = conclusion == "success";
                Some(ended(node, &what, "concluded", conclusion, ok, out))
            },
        )
        .await
    }

    /// Dispatches the workflow; returns the run's id and page (`null` when GitHub does not say
    /// and status is not reported).
    async fn github_dispatch(
        &self,
        api: &Api<'_>,
        d: &Dispatch,
        logs: &mut Vec<LogRecord>,
    ) -> Result<(Json, Json), Fault> {
        let repo_path = format!("/repos/{}/{}", d.owner, d.repo);
        let git_ref = match &d.git_ref {
            Some(r) => r.clone(),
            None => {
                let (status, repo) = self.api_call(api, "GET", &repo_path, None).await?;
                match repo["default_branch"].as_str() {
                    Some(b) if status == 200 => b.to_string(),
                    _ => {
                        let f = Fault::status(&format!("GET {repo_path}"), status, &repo);
                        return Err(Fault {
                            message: format!(
                                "cannot read the default branch of {}/{}: {}",
                                d.owner, d.repo, f.message
                            ),
                            ..f
                        });
                    }
                }
            }
        };
        let path = format!("{repo_path}/actions/workflows/{}/dispatches", d.workflow);
        let mut body = json!({ "ref": git_ref, "inputs": d.inputs, "return_run_details": true });
        let since = self.clock.now() - chrono::Duration::seconds(10);
        let (mut status, mut data) = self.api_call(api, "POST", &path, Some(&body)).await?;
        if status == 422 {
            // GitHub Enterprise Server rejects `return_run_details`: dispatch without it.
            if let Json::Object(m) = &mut body {
                m.remove("return_run_details");
            }
            (status, data) = self.api_call(api, "POST", &path, Some(&body)).await?;
        }
        if !(200..300).contains(&status) {
            let f = Fault::status(&format!("POST {path}"), status, &data);
            let what = format!(
                "dispatching workflow `{}` of {}/{}",
                d.workflow, d.owner, d.repo
            );
            return Err(f.after(what));
        }
        logs.push(log(
            api.node,
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
            let (status, runs) = self.api_call(api, "GET", &list, None).await?;
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
