//! What the integration actions (GitHub, GitLab, Azure DevOps, Jira) share: reading their
//! execution properties, requests to a service's REST API (credentials, the node run's
//! Idempotency-Key, the service's error message), and following what they started until it
//! ends (polled on the engine's clock, resumable, stopped by a cancel).

use std::future::Future;
use std::time::Duration;

use base64::Engine as _;
use serde_json::{Map, Value as Json};

use crate::engine::{Done, Engine, Error, log};
use crate::request::Sent;
use crate::retry::Failure;
use crate::secrets::Secrets;
use crate::settings::Service;
use crate::template;
use wflow_effects::http;
use wflow_store::{LogRecord, NodeRunRecord, Write};

/// How many polls in a row may fail (network errors, 5xx, rate limits) before the node fails.
pub(crate) const POLL_RETRIES: u32 = 5;

/// The rendered `integrationActionExecutionProperties` of a node.
pub(crate) struct Props<'a>(&'a Map<String, Json>);

impl<'a> Props<'a> {
    /// The properties, when they are an object.
    pub(crate) fn of(props: &'a Json) -> Result<Props<'a>, String> {
        match props {
            Json::Object(m) => Ok(Props(m)),
            other => Err(format!(
                "integrationActionExecutionProperties must be an object, got {other}"
            )),
        }
    }

    /// The text of `key` (a number as its digits), when it is given and not blank.
    pub(crate) fn text(&self, key: &str) -> Option<String> {
        match self.0.get(key) {
            Some(Json::String(s)) if !s.trim().is_empty() => Some(s.trim().to_string()),
            Some(Json::Number(n)) => Some(n.to_string()),
            _ => None,
        }
    }

    /// The text of `key`, which must be given.
    pub(crate) fn need(&self, key: &str) -> Result<String, String> {
        self.text(key)
            .ok_or_else(|| format!("integrationActionExecutionProperties.{key} is required"))
    }

    /// The boolean `key`, `default` when absent.
    pub(crate) fn flag(&self, key: &str, default: bool) -> Result<bool, String> {
        match self.0.get(key) {
            None | Some(Json::Null) => Ok(default),
            Some(Json::Bool(b)) => Ok(*b),
            Some(other) => Err(format!(
                "integrationActionExecutionProperties.{key} must be true or false, got {other}"
            )),
        }
    }

    /// The object `key` (empty when absent).
    pub(crate) fn object(&self, key: &str) -> Result<Map<String, Json>, String> {
        match self.0.get(key) {
            None | Some(Json::Null) => Ok(Map::new()),
            Some(Json::Object(m)) => Ok(m.clone()),
            Some(other) => Err(format!(
                "integrationActionExecutionProperties.{key} must be an object, got {other}"
            )),
        }
    }

    /// The object `key` with every value as text (JSON text for what is not a string).
    pub(crate) fn strings(&self, key: &str) -> Result<Map<String, Json>, String> {
        Ok(self
            .object(key)?
            .into_iter()
            .map(|(k, v)| {
                let mut s = String::new();
                template::interpolate(&mut s, &v);
                (k, Json::String(s))
            })
            .collect())
    }
}

/// Why a request to a service got no usable answer, and the class a retry policy sees.
pub(crate) struct Fault {
    pub(crate) message: String,
    pub(crate) failure: Option<Failure>,
}

impl Fault {
    /// `what` was answered with `status` (not a success).
    pub(crate) fn status(what: &str, status: u16, data: &Json) -> Fault {
        let failure = (status == 429 || status >= 500).then_some(Failure {
            class: if status == 429 {
                wflow_compiler::ir::RetryOn::TooManyRequests
            } else {
                wflow_compiler::ir::RetryOn::ServerError
            },
            retry_after: None,
        });
        Fault {
            message: format!("{what} returned {status}: {}", message(data)),
            failure,
        }
    }

    /// This fault, its message after `what` failed (`creating a pipeline ... failed: ...`).
    pub(crate) fn after(self, what: String) -> Fault {
        Fault {
            message: format!("{what} failed: {}", self.message),
            ..self
        }
    }

    /// The node failing with this fault, its output `output`, after `logs`.
    pub(crate) fn done(self, logs: Vec<LogRecord>, output: Json) -> Done {
        Done {
            logs,
            failure: self.failure,
            ..Done::failed(self.message, output)
        }
    }
}

impl From<String> for Fault {
    fn from(message: String) -> Fault {
        Fault {
            message,
            failure: None,
        }
    }
}

/// A service's REST API as one node run calls it.
pub(crate) struct Api<'a> {
    /// The service's name, for messages (`GitLab`).
    pub(crate) title: &'static str,
    pub(crate) node: &'a str,
    pub(crate) base: &'a str,
    /// Sent with every request: the credentials, the node run's Idempotency-Key, ...
    pub(crate) headers: Vec<(&'static str, String)>,
    /// What was sent, for the node run's record.
    pub(crate) sent: &'a Sent,
}

impl<'a> Api<'a> {
    /// The API at `base` for the node run `rec`, with its Idempotency-Key; what it sends is
    /// added to `sent`.
    pub(crate) fn new(
        title: &'static str,
        rec: &'a NodeRunRecord,
        base: &'a str,
        sent: &'a Sent,
    ) -> Api<'a> {
        Api {
            sent,
            title,
            node: rec.node.as_str(),
            base,
            headers: vec![
                ("Accept", "application/json".into()),
                ("User-Agent", "wflow".into()),
                ("Idempotency-Key", format!("{}:{}", rec.run_id, rec.node)),
            ],
        }
    }

    /// This API with the header `name: value` (replacing one of that name).
    pub(crate) fn header(mut self, name: &'static str, value: String) -> Api<'a> {
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        self.headers.push((name, value));
        self
    }
}

/// The answer of `method path` (`status`, `data`) when it created what has `data[key]`.
pub(crate) fn created<'d>(
    method_path: &str,
    status: u16,
    data: &'d Json,
    key: &str,
) -> Result<&'d Json, Fault> {
    match data.get(key) {
        Some(v) if (200..300).contains(&status) && !v.is_null() => Ok(v),
        _ => Err(Fault::status(method_path, status, data)),
    }
}

/// The configured `service` (`[section] api_url` in wflow.toml), or how to configure it.
pub(crate) fn configured<'s>(
    service: Option<&'s Service>,
    title: &str,
    section: &str,
) -> Result<&'s Service, String> {
    service.ok_or_else(|| {
        format!(
            "{title} is not configured: set `[{section}] api_url` in wflow.toml or WFLOW_{}_API_URL",
            section.to_ascii_uppercase()
        )
    })
}

/// The secret `name`, or the message saying how to provide it.
pub(crate) fn secret<'s>(secrets: &'s Secrets, name: &str, title: &str) -> Result<&'s str, String> {
    secrets.get(name).ok_or_else(|| {
        format!(
            "no {title} credentials; set the secret {name} ({} or a --secrets-file line)",
            crate::secrets::env_name(name)
        )
    })
}

/// An `Authorization: Basic` value for `user` and `password`, redacted from then on.
pub(crate) fn basic(secrets: &Secrets, user: &str, password: &str) -> String {
    let encoded =
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}").as_bytes());
    secrets.conceal(&encoded);
    format!("Basic {encoded}")
}

/// The service's error message in a response body (GitLab's `message`/`error`, Jira's
/// `errorMessages`/`errors`, GitHub's and Azure DevOps' `message`), or the body.
pub(crate) fn message(data: &Json) -> String {
    if let Some(m) = data.get("message").or_else(|| data.get("error")) {
        return match m {
            Json::String(s) => s.clone(),
            other => other.to_string(),
        };
    }
    let mut parts: Vec<String> = data["errorMessages"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| m.as_str().map(str::to_string))
        .collect();
    if let Some(errors) = data["errors"].as_object() {
        parts.extend(errors.iter().map(|(field, m)| match m {
            Json::String(s) => format!("{field}: {s}"),
            other => format!("{field}: {other}"),
        }));
    }
    match data {
        _ if !parts.is_empty() => parts.join("; "),
        Json::Null => "no body".into(),
        Json::String(s) if s.is_empty() => "no body".into(),
        other => other.to_string().chars().take(200).collect(),
    }
}

/// The node's end once `what` (`GitLab pipeline 7`) `verb` (`ended`) with `word`
/// (`failed`): a success when `ok`; its output `out`.
pub(crate) fn ended(node: &str, what: &str, verb: &str, word: &str, ok: bool, out: Json) -> Done {
    let mut done = if ok {
        Done::ok(out)
    } else {
        Done::failed(format!("the {what} {verb} `{word}`"), out)
    };
    done.logs
        .push(log(node, "INFO", format!("{what} {verb} `{word}`")));
    done
}

/// The value at `key` of the node run's output, when a previous attempt recorded it.
pub(crate) fn recorded(rec: &NodeRunRecord, key: &str) -> Option<Json> {
    rec.output
        .as_ref()
        .and_then(|o| o.get(key))
        .filter(|v| !v.is_null())
        .cloned()
}

/// A pipeline (or run) an action starts and may wait for.
pub(crate) struct Job<'a> {
    /// The output key of its id, recorded as soon as it is started.
    pub(crate) id_key: &'a str,
    /// What it is, before its id: `GitLab pipeline`.
    pub(crate) noun: &'a str,
    /// Wait for its end (else the node succeeds once it is started).
    pub(crate) report: bool,
    pub(crate) every: Duration,
}

impl Engine {
    /// Starts a job with `start` (its output), or resumes the one an earlier attempt of `rec`
    /// recorded; then, when reporting, polls `path(output)` until `settle(answer, output)` ends
    /// the node.
    pub(crate) async fn run_job(
        &self,
        api: &Api<'_>,
        rec: &NodeRunRecord,
        job: Job<'_>,
        start: impl Future<Output = Result<Json, Fault>>,
        path: impl Fn(&Json) -> String,
        settle: impl Fn(&Json, &Json) -> Option<Done>,
    ) -> Result<Done, Error> {
        let mut logs = Vec::new();
        let started = match (recorded(rec, job.id_key), &rec.output) {
            (Some(id), Some(out)) => {
                logs.push(log(
                    api.node,
                    "INFO",
                    format!("resuming: polling {} {id}", job.noun),
                ));
                out.clone()
            }
            _ => match start.await {
                Ok(out) => {
                    let id = out.get(job.id_key).cloned().unwrap_or(Json::Null);
                    logs.push(log(api.node, "INFO", format!("started {} {id}", job.noun)));
                    out
                }
                Err(f) => return Ok(f.done(logs, Json::Object(Map::new()))),
            },
        };
        if !job.report {
            return Ok(Done {
                logs,
                ..Done::ok(started)
            });
        }
        let id = started.get(job.id_key).cloned().unwrap_or(Json::Null);
        let what = format!("{} {id}", job.noun);
        let at = path(&started);
        self.follow(
            api,
            rec,
            &at,
            job.every,
            &what,
            started.clone(),
            logs,
            |answer| settle(answer, &started),
        )
        .await
    }

    /// Sends `method path` with `body` to `api`; the status and JSON body of the answer.
    pub(crate) async fn api_call(
        &self,
        api: &Api<'_>,
        method: &str,
        path: &str,
        body: Option<&Json>,
    ) -> Result<(u16, Json), Fault> {
        let url = format!("{}{path}", api.base);
        let mut req = http::Request::new(api.node, method, url, self.config.webhook_timeout);
        for (name, value) in &api.headers {
            req = req.header(name, value.clone());
        }
        req.body = body.cloned();
        api.sent.add(&req);
        let resp = self.http.send(req).await.map_err(|e| Fault {
            failure: Failure::of_error(&e),
            message: format!("{method} {path} failed: {e}"),
        })?;
        let data = serde_json::from_str(&resp.body).unwrap_or(Json::Null);
        Ok((resp.status, data))
    }

    /// Follows what node run `rec` started (`what`, e.g. `GitLab pipeline 7`) by polling
    /// `GET path` every `every`, until `settle` makes the node's end of an answer. `tracked`
    /// is written to the node run first, so that a resumed run polls again instead of starting
    /// another; it is the node's output when polling fails.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn follow(
        &self,
        api: &Api<'_>,
        rec: &NodeRunRecord,
        path: &str,
        every: Duration,
        what: &str,
        tracked: Json,
        mut logs: Vec<LogRecord>,
        settle: impl Fn(&Json) -> Option<Done>,
    ) -> Result<Done, Error> {
        let mut record = rec.clone();
        record.output = Some(tracked.clone());
        let mut cancel = self
            .store
            .apply(vec![Write::PutNodeRun(Box::new(record))])
            .await?
            .cancel_requested;
        let mut failures = 0;
        loop {
            if cancel {
                logs.push(log(
                    api.node,
                    "INFO",
                    format!(
                        "the run was cancelled: stopped following {what} (it goes on on {}; \
                         cancel it there if needed)",
                        api.title
                    ),
                ));
                return Ok(Done {
                    logs,
                    ..Done::cancelled()
                });
            }
            let fault = match self.api_call(api, "GET", path, None).await {
                Ok((200, data)) => match settle(&data) {
                    Some(mut done) => {
                        logs.append(&mut done.logs);
                        return Ok(Done { logs, ..done });
                    }
                    None => {
                        failures = 0;
                        None
                    }
                },
                Ok((status, data)) => {
                    let f = Fault::status(&format!("GET {path}"), status, &data);
                    if f.failure.is_none() {
                        return Ok(f.done(logs, tracked));
                    }
                    Some(f)
                }
                Err(f) => Some(f),
            };
            if let Some(f) = fault {
                failures += 1;
                if failures >= POLL_RETRIES {
                    let f = Fault {
                        message: format!("{what} could not be followed: {}", f.message),
                        ..f
                    };
                    return Ok(f.done(logs, tracked));
                }
            }
            self.clock.sleep(every).await;
            cancel = (self.store.run(&rec.run_id).await?).is_some_and(|r| r.cancel_requested);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn properties_are_read_with_their_names_in_errors() {
        let raw = json!({"project": "acme/api", "id": 7, "vars": {"n": 3, "s": "x"}, "blank": " "});
        let p = Props::of(&raw).expect("object");
        assert_eq!(p.need("id").as_deref(), Ok("7"));
        let e = p.need("blank").expect_err("blank");
        assert_eq!(e, "integrationActionExecutionProperties.blank is required");
        assert_eq!(
            Json::Object(p.strings("vars").expect("vars")),
            json!({"n": "3", "s": "x"})
        );
        assert!(p.flag("report", true).expect("default"));
        let e = p.flag("project", true).expect_err("not a flag");
        assert!(e.contains(".project must be true or false"), "{e}");
        let e = p.object("project").expect_err("not an object");
        assert!(e.contains(".project must be an object"), "{e}");
        assert!(Props::of(&json!([])).is_err());
    }

    #[test]
    fn each_service_error_shape_gives_its_message() {
        assert_eq!(
            message(&json!({"message": "404 Project Not Found"})),
            "404 Project Not Found"
        );
        assert_eq!(
            message(&json!({"message": {"ref": ["is invalid"]}})),
            r#"{"ref":["is invalid"]}"#
        );
        assert_eq!(
            message(&json!({"error": "insufficient_scope"})),
            "insufficient_scope"
        );
        assert_eq!(
            message(&json!({"errorMessages": ["Nope"], "errors": {"summary": "required"}})),
            "Nope; summary: required"
        );
        assert_eq!(message(&Json::Null), "no body");
    }

    #[test]
    fn basic_credentials_are_redacted() {
        let secrets = Secrets::default();
        let value = basic(&secrets, "", "pat-123");
        assert_eq!(value, "Basic OnBhdC0xMjM=");
        assert_eq!(secrets.redact_str(&value), "Basic [REDACTED]");
    }
}
