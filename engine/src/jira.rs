//! Jira Cloud integration actions: `jira` `create_issue` (`POST /rest/api/3/issue`) and
//! `change_issue_status`, which moves an issue through the transition leading to the status
//! asked for (`GET` then `POST /rest/api/3/issue/{key}/transitions`); an issue already there
//! is left as it is.
//!
//! The site is the configured `[jira] api_url`; the credentials are the secrets
//! [`EMAIL_SECRET`] and [`TOKEN_SECRET`], sent as Basic credentials.

use serde_json::{Map, Value as Json, json};

use crate::engine::{Done, Engine, Error, log};
use crate::integration::{Api, Fault, Props, basic, configured, created, secret};
use crate::request::Sent;
use crate::secrets::{Secrets, uri_encoded};
use wflow_store::NodeRunRecord;

/// The secret holding the Atlassian account's email.
pub const EMAIL_SECRET: &str = "JIRA_EMAIL";
/// The secret holding its API token.
pub const TOKEN_SECRET: &str = "JIRA_API_TOKEN";

/// The `fields` of an issue to create.
fn issue_fields(p: &Props) -> Result<Json, String> {
    let mut fields = Map::new();
    fields.insert("project".into(), json!({ "key": p.need("project")? }));
    fields.insert("issuetype".into(), json!({ "name": p.need("issueType")? }));
    fields.insert("summary".into(), json!(p.need("summary")?));
    if let Some(text) = p.text("description") {
        // Jira Cloud's v3 API takes rich text as an Atlassian Document.
        fields.insert(
            "description".into(),
            json!({ "type": "doc", "version": 1, "content": [
                { "type": "paragraph", "content": [{ "type": "text", "text": text }] }
            ]}),
        );
    }
    if let Some(priority) = p.text("priority") {
        fields.insert("priority".into(), json!({ "name": priority }));
    }
    if let Some(id) = p.text("assigneeAccountId") {
        fields.insert("assignee".into(), json!({ "id": id }));
    }
    Ok(json!({ "fields": fields }))
}

/// Status names compare without case or surrounding blanks, as in Jira's own search.
fn same_status(a: &str, b: &str) -> bool {
    a.trim().to_lowercase() == b.trim().to_lowercase()
}

impl Engine {
    /// Runs a Jira node (`invocation`: `create_issue` or `change_issue_status`) with its
    /// rendered execution properties.
    pub(crate) async fn jira(
        &self,
        invocation: &str,
        rec: &NodeRunRecord,
        sent: &Sent,
        props: Json,
        secrets: &Secrets,
    ) -> Result<Done, Error> {
        let credentials = configured(self.config.jira.as_ref(), "Jira", "jira")
            .and_then(|service| Ok((service, secret(secrets, EMAIL_SECRET, "Jira")?)))
            .and_then(|(service, email)| {
                Ok((service, email, secret(secrets, TOKEN_SECRET, "Jira")?))
            });
        let (service, email, token) = match credentials {
            Ok(found) => found,
            Err(e) => return Ok(Done::failed(e, json!({}))),
        };
        let api = Api::new("Jira", rec, &service.api_url, sent)
            .header("Authorization", basic(secrets, email, token));
        let done = match Props::of(&props) {
            Err(e) => Err(Fault::from(e)),
            Ok(p) if invocation == "create_issue" => self.jira_create(&api, &p).await,
            Ok(p) => self.jira_transition(&api, &p).await,
        };
        Ok(done.unwrap_or_else(|f| f.done(Vec::new(), json!({}))))
    }

    async fn jira_create(&self, api: &Api<'_>, p: &Props<'_>) -> Result<Done, Fault> {
        let body = issue_fields(p)?;
        let path = "/rest/api/3/issue";
        let (status, data) = self.api_call(api, "POST", path, Some(&body)).await?;
        let key = created(&format!("POST {path}"), status, &data, "key")
            .map_err(|f| f.after("creating a Jira issue".into()))?;
        let key = key.as_str().unwrap_or_default();
        let url = format!("{}/browse/{key}", api.base);
        Ok(Done {
            logs: vec![log(
                api.node,
                "INFO",
                format!("created Jira issue {key}: {url}"),
            )],
            ..Done::ok(json!({ "issueId": data["id"], "issueKey": key, "issueUrl": url }))
        })
    }

    async fn jira_transition(&self, api: &Api<'_>, p: &Props<'_>) -> Result<Done, Fault> {
        let key = p.need("issueKey")?;
        let want = p.need("status")?;
        let issue = format!("/rest/api/3/issue/{}", uri_encoded(&key));
        let url = format!("{}/browse/{key}", api.base);
        let moved = |status: &str, message: String| Done {
            logs: vec![log(api.node, "INFO", message)],
            ..Done::ok(json!({ "issueKey": key, "status": status, "issueUrl": url }))
        };
        let read = format!("{issue}?fields=status");
        let (status, data) = self.api_call(api, "GET", &read, None).await?;
        if status != 200 {
            let f = Fault::status(&format!("GET {read}"), status, &data);
            return Err(f.after(format!("reading Jira issue {key}")));
        }
        if let Some(now) = data["fields"]["status"]["name"].as_str()
            && same_status(now, &want)
        {
            return Ok(moved(now, format!("Jira issue {key} is already `{now}`")));
        }
        let transitions = format!("{issue}/transitions");
        let (status, data) = self.api_call(api, "GET", &transitions, None).await?;
        if status != 200 {
            return Err(Fault::status(&format!("GET {transitions}"), status, &data));
        }
        let all = data["transitions"].as_array().cloned().unwrap_or_default();
        let Some(t) = all.iter().find(|t| {
            t["to"]["name"]
                .as_str()
                .is_some_and(|n| same_status(n, &want))
        }) else {
            let names: Vec<&str> = all
                .iter()
                .filter_map(|t| t["to"]["name"].as_str())
                .collect();
            return Err(Fault::from(format!(
                "Jira issue {key} cannot move to `{want}` from where it is: \
                 integrationActionExecutionProperties.status must be one of {}",
                if names.is_empty() {
                    "(no transition is available)".to_string()
                } else {
                    names.join(", ")
                }
            )));
        };
        let body = json!({ "transition": { "id": t["id"] } });
        let (status, data) = self
            .api_call(api, "POST", &transitions, Some(&body))
            .await?;
        if !(200..300).contains(&status) {
            return Err(Fault::status(&format!("POST {transitions}"), status, &data));
        }
        let to = t["to"]["name"].as_str().unwrap_or(&want);
        Ok(moved(to, format!("moved Jira issue {key} to `{to}`")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue_fields_have_jira_shape() {
        let raw = json!({"project": "OPS", "issueType": "Bug", "summary": "Disk full",
            "description": "on db-1", "priority": "High"});
        let fields = issue_fields(&Props::of(&raw).expect("props")).expect("fields");
        assert_eq!(fields["fields"]["project"], json!({"key": "OPS"}));
        assert_eq!(fields["fields"]["issuetype"], json!({"name": "Bug"}));
        assert_eq!(
            fields["fields"]["description"]["content"][0]["content"][0]["text"],
            "on db-1"
        );
        assert_eq!(fields["fields"]["priority"], json!({"name": "High"}));
        assert!(fields["fields"].get("assignee").is_none());
        let raw = json!({"project": "OPS", "issueType": "Bug"});
        let e = issue_fields(&Props::of(&raw).expect("props")).expect_err("summary");
        assert_eq!(
            e,
            "integrationActionExecutionProperties.summary is required"
        );
        assert!(same_status(" in progress", "In Progress"));
    }
}
