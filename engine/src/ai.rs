//! AI and AI_AGENT nodes on an OpenAI-compatible chat completions API (`[ai]` in
//! `wflow.toml`). The key, when the API needs one, is the secret [`KEY_SECRET`]. Output:
//! `{response, invocationIdentifier}`; with an `outputSchema` the response is JSON text that
//! follows it (`response | fromjson`).

use serde_json::{Value as Json, json};

use crate::engine::{Done, Engine, log, new_id};
use crate::retry::Failure;
use crate::secrets::Secrets;
use wflow_effects::http;

/// The secret holding the API key (optional: local servers take none).
pub const KEY_SECRET: &str = "AI_API_KEY";

/// A completion to ask for.
pub(crate) struct Prompt<'a> {
    pub(crate) node: &'a str,
    pub(crate) system: Option<String>,
    pub(crate) user: String,
    pub(crate) model: Option<&'a str>,
    pub(crate) schema: Option<Json>,
}

impl Engine {
    /// The request asking the configured API for a completion of `p`.
    pub(crate) fn ai_request(
        &self,
        p: &Prompt<'_>,
        secrets: &Secrets,
    ) -> Result<http::Request, String> {
        let Some(ai) = &self.config.ai else {
            return Err(format!(
                "no AI service is configured for node `{}`; set [ai] base_url (and model) in \
                     wflow.toml or WFLOW_AI_BASE_URL to an OpenAI-compatible API",
                p.node
            ));
        };
        let Some(model) = p.model.or(ai.model.as_deref()) else {
            return Err(format!(
                "node `{}` names no model and no default is configured; set [ai] model in \
                     wflow.toml or WFLOW_AI_MODEL",
                p.node
            ));
        };
        let mut messages = Vec::new();
        if let Some(s) = &p.system {
            messages.push(json!({ "role": "system", "content": s }));
        }
        messages.push(json!({ "role": "user", "content": p.user }));
        let mut body = json!({ "model": model, "messages": messages });
        if let Some(schema) = &p.schema {
            body["response_format"] = json!({
                "type": "json_schema",
                "json_schema": { "name": "output", "schema": schema, "strict": false },
            });
        }
        let url = format!("{}/chat/completions", ai.base_url);
        let mut req = http::Request::new(p.node, "POST", url, ai.timeout);
        req.body = Some(body);
        if let Some(key) = secrets.get(KEY_SECRET) {
            req = req.header("Authorization", format!("Bearer {key}"));
        }
        Ok(req)
    }

    /// Sends `req` (see [`Engine::ai_request`]) for the completion of `p`.
    pub(crate) async fn ai(&self, p: &Prompt<'_>, req: http::Request, secrets: &Secrets) -> Done {
        let url = req.url.clone();
        let timeout = req.timeout;
        let model = req.body.as_ref().map_or(Json::Null, |b| b["model"].clone());
        let resp = match self.http.send(req).await {
            Ok(r) => r,
            Err(http::Failed::Timeout) => {
                return Done::timed_out(format!(
                    "POST {url} timed out after {} s (ai.timeout_secs)",
                    timeout.as_secs_f64()
                ));
            }
            Err(e) => {
                return Done {
                    failure: Failure::of_error(&e),
                    ..Done::failed(format!("POST {url} failed: {e}"), json!({}))
                };
            }
        };
        let failure = Failure::of_status(&resp, self.clock.now());
        let text = resp.body;
        if !(200..300).contains(&resp.status) {
            let snippet: String = secrets.redact_str(&text).chars().take(200).collect();
            return Done {
                failure,
                ..Done::failed(
                    format!(
                        "POST {url} returned {}: {snippet}",
                        http::status_text(resp.status)
                    ),
                    json!({}),
                )
            };
        }
        let data: Json = serde_json::from_str(&text).unwrap_or(Json::Null);
        let Some(content) = data["choices"][0]["message"]["content"].as_str() else {
            return Done::failed(
                format!(
                    "POST {url} answered without choices[0].message.content; is it an \
                     OpenAI-compatible chat completions API?"
                ),
                json!({}),
            );
        };
        let invocation = data["id"]
            .as_str()
            .map_or_else(|| new_id("inv_"), str::to_string);
        let output = json!({ "response": content, "invocationIdentifier": invocation });
        if p.schema.is_some()
            && let Err(e) = serde_json::from_str::<Json>(content)
        {
            return Done::failed(
                format!("the model's response is not the JSON its outputSchema asks for: {e}"),
                output,
            );
        }
        Done {
            logs: vec![log(
                p.node,
                "INFO",
                format!(
                    "{} answered ({} characters)",
                    model.as_str().unwrap_or_default(),
                    content.chars().count()
                ),
            )],
            ..Done::ok(output)
        }
    }
}
