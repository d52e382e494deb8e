//! GitLab integration actions: `gitlab-v2` `trigger_pipeline` creates a CI/CD pipeline on a
//! ref with variables (`POST /projects/:id/pipeline`); with `reportPipelineStatus` (the
//! default) the node polls `GET /projects/:id/pipelines/:pipeline_id` until the pipeline
//! ends, and succeeds only when it ends `success`.
//!
//! The token is the secret [`TOKEN_SECRET`], sent as `PRIVATE-TOKEN`.

use serde_json::{Value as Json, json};

use crate::engine::{Done, Engine, Error};
use crate::integration::{Api, Job, Props, created, ended, secret};
use crate::request::Sent;
use crate::secrets::{Secrets, uri_encoded};
use wflow_store::NodeRunRecord;

/// The secret holding a GitLab access token (scope `api`).
pub const TOKEN_SECRET: &str = "GITLAB_TOKEN";

/// A pipeline's statuses after which it changes no more.
const FINAL: [&str; 4] = ["success", "failed", "canceled", "skipped"];

/// A pipeline to create.
#[derive(Debug, PartialEq)]
struct Trigger {
    project: String,
    git_ref: String,
    /// GitLab's `variables`: `[{key, value}]`.
    variables: Vec<Json>,
    report: bool,
}

fn trigger(props: &Json) -> Result<Trigger, String> {
    let p = Props::of(props)?;
    Ok(Trigger {
        project: p.need("project")?,
        git_ref: p.need("ref")?,
        variables: p
            .strings("pipelineVariables")?
            .into_iter()
            .map(|(key, value)| json!({ "key": key, "value": value }))
            .collect(),
        report: p.flag("reportPipelineStatus", true)?,
    })
}

/// The node's output for a pipeline as GitLab describes it.
fn pipeline_output(p: &Json) -> Json {
    json!({
        "pipelineId": p["id"],
        "projectId": p["project_id"],
        "ref": p["ref"],
        "status": p["status"],
        "webUrl": p["web_url"],
    })
}

impl Engine {
    /// Runs a GitLab `trigger_pipeline` node with its rendered execution properties.
    pub(crate) async fn gitlab(
        &self,
        rec: &NodeRunRecord,
        sent: &Sent,
        props: Json,
        secrets: &Secrets,
    ) -> Result<Done, Error> {
        let (t, token) =
            match trigger(&props).and_then(|t| Ok((t, secret(secrets, TOKEN_SECRET, "GitLab")?))) {
                Ok(found) => found,
                Err(e) => return Ok(Done::failed(e, json!({}))),
            };
        let api = Api::new("GitLab", rec, &self.config.gitlab.api_url, sent)
            .header("PRIVATE-TOKEN", token.to_string());
        let project = format!("/projects/{}", uri_encoded(&t.project));
        let job = Job {
            id_key: "pipelineId",
            noun: "GitLab pipeline",
            report: t.report,
            every: self.config.gitlab.poll_interval,
        };
        let start = async {
            let path = format!("{project}/pipeline");
            let body = json!({ "ref": t.git_ref, "variables": t.variables });
            let (status, data) = self.api_call(&api, "POST", &path, Some(&body)).await?;
            created(&format!("POST {path}"), status, &data, "id").map_err(|f| {
                f.after(format!(
                    "creating a pipeline of `{}` on `{}`",
                    t.project, t.git_ref
                ))
            })?;
            Ok(pipeline_output(&data))
        };
        let poll = |out: &Json| format!("{project}/pipelines/{}", out["pipelineId"]);
        self.run_job(&api, rec, job, start, poll, |p, _| {
            let status = p["status"].as_str().unwrap_or_default();
            if !FINAL.contains(&status) {
                return None;
            }
            let what = format!("GitLab pipeline {}", p["id"]);
            let out = pipeline_output(p);
            Some(ended(
                &rec.node,
                &what,
                "ended",
                status,
                status == "success",
                out,
            ))
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variables_become_gitlab_key_value_pairs() {
        let t = trigger(&json!({"project": "acme/api", "ref": "main",
            "pipelineVariables": {"N": 3, "ENV": "prod"}, "reportPipelineStatus": false}))
        .expect("trigger");
        assert_eq!(
            t.variables,
            vec![
                json!({"key": "N", "value": "3"}),
                json!({"key": "ENV", "value": "prod"})
            ]
        );
        assert!(!t.report);
        let e = trigger(&json!({"project": "acme/api"})).expect_err("no ref");
        assert_eq!(e, "integrationActionExecutionProperties.ref is required");
    }
}
