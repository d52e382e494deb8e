//! Azure DevOps integration actions: `azure-devops` `trigger_pipeline` runs a pipeline
//! (`POST {org}/{project}/_apis/pipelines/{pipelineId}/runs`); with `reportPipelineStatus`
//! (the default) the node polls the run until its state is `completed`, and succeeds only when
//! its result is `succeeded`.
//!
//! The organisation is the configured `[azure_devops] api_url` (`https://dev.azure.com/ORG`);
//! the personal access token is the secret [`TOKEN_SECRET`], sent as Basic credentials.

use serde_json::{Map, Value as Json, json};

use crate::engine::{Done, Engine, Error};
use crate::integration::{Api, Job, Props, basic, configured, created, ended, secret};
use crate::request::Sent;
use crate::secrets::{Secrets, uri_encoded};
use wflow_store::NodeRunRecord;

/// The secret holding an Azure DevOps personal access token (scope Build: read & execute).
pub const TOKEN_SECRET: &str = "AZURE_DEVOPS_TOKEN";

/// The REST API version asked for.
const API_VERSION: &str = "api-version=7.1";

/// A pipeline run to start.
#[derive(Debug, PartialEq)]
struct RunPipeline {
    project: String,
    pipeline: String,
    /// The request body: branch, template parameters and variables.
    body: Json,
    report: bool,
}

fn run_pipeline(props: &Json) -> Result<RunPipeline, String> {
    let p = Props::of(props)?;
    let mut body = Map::new();
    if let Some(branch) = p.text("branch") {
        let ref_name = if branch.starts_with("refs/") {
            branch
        } else {
            format!("refs/heads/{branch}")
        };
        body.insert(
            "resources".into(),
            json!({ "repositories": { "self": { "refName": ref_name } } }),
        );
    }
    let parameters = p.object("templateParameters")?;
    if !parameters.is_empty() {
        body.insert("templateParameters".into(), Json::Object(parameters));
    }
    let variables: Map<String, Json> = p
        .strings("variables")?
        .into_iter()
        .map(|(k, v)| (k, json!({ "value": v })))
        .collect();
    if !variables.is_empty() {
        body.insert("variables".into(), Json::Object(variables));
    }
    Ok(RunPipeline {
        project: p.need("project")?,
        pipeline: p.need("pipelineId")?,
        body: Json::Object(body),
        report: p.flag("reportPipelineStatus", true)?,
    })
}

/// The node's output for a run as Azure DevOps describes it.
fn run_output(r: &Json) -> Json {
    json!({
        "pipelineRunId": r["id"],
        "state": r["state"],
        "result": r["result"],
        "webUrl": r["_links"]["web"]["href"],
    })
}

impl Engine {
    /// Runs an Azure DevOps `trigger_pipeline` node with its rendered execution properties.
    pub(crate) async fn azure_devops(
        &self,
        rec: &NodeRunRecord,
        sent: &Sent,
        props: Json,
        secrets: &Secrets,
    ) -> Result<Done, Error> {
        let found = configured(
            self.config.azure_devops.as_ref(),
            "Azure DevOps",
            "azure_devops",
        )
        .and_then(|service| Ok((service, run_pipeline(&props)?)))
        .and_then(|(service, r)| Ok((service, r, secret(secrets, TOKEN_SECRET, "Azure DevOps")?)));
        let (service, r, token) = match found {
            Ok(found) => found,
            Err(e) => return Ok(Done::failed(e, json!({}))),
        };
        let api = Api::new("Azure DevOps", rec, &service.api_url, sent)
            .header("Authorization", basic(secrets, "", token));
        let runs = format!(
            "/{}/_apis/pipelines/{}/runs",
            uri_encoded(&r.project),
            uri_encoded(&r.pipeline)
        );
        let job = Job {
            id_key: "pipelineRunId",
            noun: "Azure DevOps pipeline run",
            report: r.report,
            every: service.poll_interval,
        };
        let start = async {
            let path = format!("{runs}?{API_VERSION}");
            let (status, data) = self.api_call(&api, "POST", &path, Some(&r.body)).await?;
            created(&format!("POST {path}"), status, &data, "id").map_err(|f| {
                f.after(format!(
                    "running pipeline {} of `{}`",
                    r.pipeline, r.project
                ))
            })?;
            Ok(run_output(&data))
        };
        let poll = |out: &Json| format!("{runs}/{}?{API_VERSION}", out["pipelineRunId"]);
        self.run_job(&api, rec, job, start, poll, |run, _| {
            if run["state"] != "completed" {
                return None;
            }
            let result = run["result"].as_str().unwrap_or("unknown");
            let what = format!("Azure DevOps pipeline run {}", run["id"]);
            let ok = result == "succeeded";
            Some(ended(
                &rec.node,
                &what,
                "completed",
                result,
                ok,
                run_output(run),
            ))
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_body_has_azure_devops_shape() {
        let r = run_pipeline(&json!({"project": "Fabrikam Web", "pipelineId": 12,
            "branch": "release", "templateParameters": {"env": "prod"}, "variables": {"N": 3}}))
        .expect("run");
        assert_eq!(
            (r.project.as_str(), r.pipeline.as_str()),
            ("Fabrikam Web", "12")
        );
        assert_eq!(
            r.body,
            json!({"resources": {"repositories": {"self": {"refName": "refs/heads/release"}}},
                   "templateParameters": {"env": "prod"}, "variables": {"N": {"value": "3"}}})
        );
        let bare = run_pipeline(&json!({"project": "p", "pipelineId": "1"})).expect("bare");
        assert_eq!(bare.body, json!({}));
        let e = run_pipeline(&json!({"project": "p"})).expect_err("no pipeline");
        assert_eq!(
            e,
            "integrationActionExecutionProperties.pipelineId is required"
        );
    }
}
