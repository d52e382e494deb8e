//! Action nodes: WEBHOOK and UPSERT_ENTITY.

use std::time::Instant;

use serde_json::{Map, Value as Json, json};
use wflow_compiler::catalog::Blueprint;
use wflow_compiler::ir::{self, Node};

use crate::catalog;
use crate::engine::{Done, Engine, Error, log, now};
use crate::plan::Plan;
use crate::retry::Failure;
use crate::secrets::Secrets;
use crate::template::{self, Piece};
use wflow_effects::http;
use wflow_store::{NodeRunRecord, Write};

impl Engine {
    /// The webhook's request. `values` are the rendered url, header values and body, in order.
    pub(crate) fn webhook_request(
        &self,
        node: &Node,
        w: &ir::Webhook,
        rec: &NodeRunRecord,
        values: Vec<Json>,
    ) -> Result<http::Request, String> {
        let id = node.identifier.value.as_str();
        let mut values = values.into_iter();
        let url = match values.next() {
            Some(Json::String(u)) => u,
            other => {
                return Err(format!(
                    "the url must be a string, got {}",
                    other.unwrap_or(Json::Null)
                ));
            }
        };
        let method = w
            .method
            .as_ref()
            .map_or("POST".to_string(), |m| m.value.to_ascii_uppercase());
        if !http::is_method(&method) {
            return Err(format!("`{method}` is not an HTTP method"));
        }
        let timeout = node
            .timeout
            .map_or(self.config.webhook_timeout, |t| t.std());
        let mut req = http::Request::new(id, &method, url, timeout);
        let mut has_key = false;
        for ((name, _), value) in w.headers.iter().zip(values.by_ref()) {
            let mut text = String::new();
            template::interpolate(&mut text, &value);
            has_key |= name.value.eq_ignore_ascii_case("idempotency-key");
            req = req.header(name.value.as_str(), text);
        }
        if !has_key {
            req = req.header("Idempotency-Key", format!("{}:{}", rec.run_id, id));
        }
        req = req
            .header("X-Wflow-Run-Id", rec.run_id.as_str())
            .header("X-Wflow-Node-Run-Id", rec.id.as_str())
            .header("X-Wflow-Attempt", (rec.attempts.len() + 1).to_string());
        if method != "GET" && w.body.is_some() {
            req.body = values.next();
        }
        Ok(req)
    }

    /// Sends the webhook's request `req` (see [`Engine::webhook_request`]).
    pub(crate) async fn webhook(
        &self,
        node: &Node,
        w: &ir::Webhook,
        req: http::Request,
        secrets: &Secrets,
    ) -> Done {
        let id = node.identifier.value.as_str();
        let (method, url, timeout) = (req.method.clone(), req.url.clone(), req.timeout);
        let method = method.as_str();
        let verbose = node.verbose == Some(true);
        let mut logs = Vec::new();
        if let Some(b) = req.body.as_ref().filter(|_| verbose) {
            logs.push(log(
                id,
                "DEBUG",
                format!("request body: {}", secrets.redact(b)),
            ));
        }
        let shown_url = secrets.redact_str(&url);
        let t0 = Instant::now();
        let resp = match self.http.send(req).await {
            Ok(r) => r,
            Err(http::Failed::Timeout) => {
                let ms = timeout.as_millis();
                return Done::timed_out(format!("{method} {shown_url} timed out after {ms} ms"));
            }
            Err(e) => {
                let msg = format!("{method} {shown_url} failed: {e}");
                return Done {
                    failure: Failure::of_error(&e),
                    ..Done::failed(secrets.redact_str(&msg), json!({}))
                };
            }
        };
        let status = resp.status;
        let failure = Failure::of_status(&resp, self.clock.now());
        let text = resp.body;
        let data = if text.is_empty() {
            Json::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Json::String(text.clone()))
        };
        let ms = t0.elapsed().as_millis();
        logs.push(log(
            id,
            "INFO",
            format!("{method} {shown_url} -> {status} in {ms} ms"),
        ));
        if verbose {
            logs.push(log(
                id,
                "DEBUG",
                format!("response body: {}", secrets.redact(&data)),
            ));
        }
        let output = json!({ "response": { "status": status, "data": data } });
        if !(200..300).contains(&status) {
            let snippet: String = secrets.redact_str(&text).chars().take(200).collect();
            return Done {
                logs,
                failure,
                ..Done::failed(
                    format!(
                        "{method} {shown_url} returned {}{}",
                        http::status_text(status),
                        if snippet.is_empty() {
                            String::new()
                        } else {
                            format!(": {snippet}")
                        }
                    ),
                    output,
                )
            };
        }
        Done {
            logs,
            waiting: w.synchronized == Some(false),
            ..Done::ok(output)
        }
    }

    /// Renders the mapping, merges it into the catalog entity and validates it against the
    /// blueprint. The entity is written with the node's result.
    pub(crate) async fn upsert(
        &self,
        plan: &Plan,
        u: &ir::Upsert,
        ctx: Json,
        secrets: &Secrets,
    ) -> Result<Done, Error> {
        let m = &u.mapping;
        let mut pieces = vec![Piece::Template(&u.blueprint_identifier)];
        let fixed = [
            m.identifier.as_ref().map(Piece::Template),
            m.title.as_ref().map(Piece::Template),
            m.icon.as_ref().map(Piece::Template),
            m.team.as_ref().map(Piece::Value),
        ];
        pieces.extend(fixed.iter().flatten().copied());
        let props: Vec<&(ir::Name, ir::Value)> = m.properties.iter().flatten().collect();
        let rels: Vec<&(ir::Name, ir::Value)> = m.relations.iter().flatten().collect();
        pieces.extend(props.iter().map(|(_, v)| Piece::Value(v)));
        pieces.extend(rels.iter().map(|(_, v)| Piece::Value(v)));
        let values = match template::render(&self.ev, &plan.programs, &pieces, ctx, secrets).await {
            Ok(v) => v,
            Err(e) => return Ok(Done::failed(format!("templating failed: {e}"), json!({}))),
        };
        let mut it = values.into_iter();
        let blueprint = match it.next() {
            Some(Json::String(b)) if !b.is_empty() => b,
            other => {
                return Ok(Done::failed(
                    format!(
                        "the blueprint identifier must be a non-empty string, got {}",
                        other.unwrap_or(Json::Null)
                    ),
                    json!({}),
                ));
            }
        };
        let mut next_if = |present: bool| if present { it.next() } else { None };
        let identifier = next_if(m.identifier.is_some());
        let title = next_if(m.title.is_some());
        let icon = next_if(m.icon.is_some());
        let team = next_if(m.team.is_some());
        let mut upsert = catalog::Upsert {
            blueprint: blueprint.clone(),
            title,
            icon,
            team,
            ..catalog::Upsert::default()
        };
        for (k, _) in &props {
            upsert
                .properties
                .insert(k.value.clone(), it.next().unwrap_or(Json::Null));
        }
        for (k, _) in &rels {
            upsert
                .relations
                .insert(k.value.clone(), it.next().unwrap_or(Json::Null));
        }
        let identifier = match identifier {
            None | Some(Json::Null) => crate::engine::new_id("e_"),
            Some(Json::String(s)) if !s.is_empty() => s,
            Some(other) => {
                return Ok(Done::failed(
                    format!("the entity identifier must be a non-empty string, got {other}"),
                    json!({}),
                ));
            }
        };
        if secrets.is_tainted(&identifier) || secrets.is_tainted(&blueprint) {
            return Ok(Done::failed(
                "the entity identifier or blueprint is computed from a secret; they are stored \
                 and shown in clear as keys, so compute them from values that are not secret"
                    .into(),
                json!({}),
            ));
        }
        upsert.identifier = Some(identifier.clone());
        let read = self.store.blueprint_and_entity(&blueprint, &identifier);
        let Some((bp, existing)) = read.await? else {
            return Ok(Done::failed(
                format!(
                    "blueprint `{blueprint}` is not in the local catalog; load it with \
                     `wflow catalog load <blueprint.json>`"
                ),
                json!({}),
            ));
        };
        let bp = match Blueprint::from_port_value(&bp) {
            Ok(bp) => bp,
            Err(e) => {
                return Ok(Done::failed(
                    format!("blueprint `{blueprint}` in the store is unreadable: {e}"),
                    json!({}),
                ));
            }
        };
        let at = now();
        Ok(
            match catalog::upsert(&bp, existing.as_ref(), &upsert, &identifier, &at) {
                Ok(entity) => Done {
                    effects: vec![Write::PutEntity {
                        blueprint,
                        identifier,
                        body: entity.clone(),
                        at,
                    }],
                    ..Done::ok(entity)
                },
                Err(problems) => Done::failed(
                    format!(
                        "entity `{identifier}` does not fit blueprint `{blueprint}`: {}",
                        catalog::joined(&problems)
                    ),
                    Json::Object(Map::new()),
                ),
            },
        )
    }
}
