//! The workflow and run endpoints, in Port's shape (`{"ok": true, ...}`), plus `/healthz` and
//! `/openapi.json`.

/// The OpenAPI document and the table of operations (`server/openapi.rs`).
#[path = "openapi.rs"]
pub(super) mod openapi;

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequest, FromRequestParts, Query, Request, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use axum::{Json as AxJson, Router};
use serde_json::{Map, Value as Json, json};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{DefaultMakeSpan, DefaultOnResponse, TraceLayer};
use tracing::Level;
use wflow_compiler::export::{describe, form};
use wflow_compiler::ir::NodeConfig;

use super::auth::forbidden;
use super::guard::{self, BODY_LIMIT, Guard, Hosts};
use super::{ApiError, BODY_INPUTS, Begun, FormAt, Problem, Server, User, catalog_api};
use openapi::Method::{Get, Patch, Post};
use openapi::{Op, array, schema};
use wflow_engine::control::Answer;
use wflow_engine::engine::{Conclusion, NodeStatus, RunStatus, log};
use wflow_engine::inputs;
use wflow_engine::plan::Plan;
use wflow_engine::report::run_json;
use wflow_engine::secret_inputs;
use wflow_engine::secrets::Secrets;
use wflow_store::{RunRecord, Write};

/// Every operation of the API, the catalog's included: the router and `/openapi.json` are both
/// built from this table, so they cannot drift.
fn ops() -> Vec<Op> {
    let run = || schema("Run");
    let (run_errors, report) = (&[403, 404, 409, 422], report_schema());
    let mut ops = vec![
        Op::new(Get, "/healthz", "Liveness", healthz)
            .public()
            .responds(json!({
                "description": "`{\"ok\": true}`",
                "content": { "application/json": { "schema": {
                    "type": "object", "required": ["ok"], "properties": { "ok": { "const": true } },
                } } },
            })),
        Op::new(Get, "/openapi.json", "This document", openapi)
            .public()
            .responds(json!({
                "description": "The OpenAPI 3.1 document",
                "content": { "application/json": { "schema": { "type": "object" } } },
            })),
        Op::new(Get, "/metrics", "Prometheus metrics", metrics)
            .public()
            .responds(json!({
                "description": "Prometheus text format",
                "content": { "text/plain": { "schema": { "type": "string" } } },
            })),
        Op::new(
            Get,
            "/v1/workflows",
            "The workflows the caller can see",
            list_workflows,
        )
        .returns("workflows", array(schema("Workflow"))),
        Op::new(
            Get,
            "/v1/workflows/{id}",
            "A workflow, as Port JSON",
            get_workflow,
        )
        .returns("workflow", schema("Workflow"))
        .errors(&[404]),
        Op::new(
            Post,
            "/v1/workflows/{id}/form",
            "The trigger's form as the caller sees it for the values typed so far: what its jq \
             computes (shown, disabled, required, choices, defaults, entity choices)",
            form_state,
        )
        .body(
            json!({
                "type": "object", "additionalProperties": false,
                "properties": {
                    "inputs": { "type": ["object", "null"],
                                "description": "The values typed so far, by input identifier" },
                    "nodeIdentifier": { "type": "string", "description": "The self-service \
                        trigger; required when the workflow has several" },
                },
            }),
            false,
        )
        .returns("form", json!({ "type": "object" }))
        .errors(&[403, 404, 422]),
        Op::new(
            Post,
            "/v1/workflows/{id}/runs",
            "Start a self-service run; `inputs` are validated against the trigger's form",
            start_run,
        )
        .body(
            json!({
                "type": "object", "additionalProperties": false,
                "properties": {
                    "inputs": { "type": ["object", "null"],
                                "description": "The form's values, by input identifier" },
                    "nodeIdentifier": { "type": "string", "description": "The self-service \
                        trigger to start; required when the workflow has several" },
                    "entity": { "type": ["string", "null"], "description": "Start from this \
                        entity (`IDENTIFIER` or `BLUEPRINT/IDENTIFIER`): it fills the input of \
                        the trigger's ENTITY context" },
                },
            }),
            false,
        )
        .creates("run", run())
        .errors(&[403, 404, 422])
        .links(
            &[
                (Get, "/v1/workflows/runs/{run}"),
                (Post, "/v1/workflows/runs/{run}/cancel"),
                (Patch, "/v1/workflows/runs/{run}/nodes/{node_run}"),
                (Patch, "/v1/workflows/nodes/runs/{node_run}"),
                (Post, "/v1/workflows/runs/{run}/nodes/{node}/responses"),
            ],
            &[
                ("run", "$response.body#/run/identifier"),
                ("node_run", "$response.body#/run/nodeRuns/0/identifier"),
                ("node", "$response.body#/run/nodeRuns/0/node/identifier"),
            ],
        ),
        Op::new(
            Get,
            "/v1/workflows/runs",
            "The runs the caller can see, newest first",
            list_runs,
        )
        .query(
            "workflow",
            json!({ "type": "string" }),
            "Only the runs of this workflow",
        )
        .query(
            "status",
            json!({ "type": "string" }),
            "Only the runs with this status (QUEUED, IN_PROGRESS, COMPLETED) or result \
             (SUCCESS, FAILED, CANCELLED)",
        )
        .query(
            "createdBy",
            json!({ "type": "string" }),
            "Only the runs started by this email",
        )
        .query(
            "limit",
            json!({ "type": "integer", "minimum": 1, "maximum": 1000, "default": 100 }),
            "How many runs to read (before filtering)",
        )
        .returns("runs", array(schema("RunSummary")))
        .errors(&[422]),
        Op::new(
            Get,
            "/v1/approvals",
            "The approvals waiting for the caller (that they may answer and have not), \
             oldest first",
            list_approvals,
        )
        .returns("approvals", array(schema("Approval"))),
        Op::new(
            Get,
            "/v1/workflows/runs/{run}",
            "A run with its node runs",
            get_run,
        )
        .returns("run", run())
        .errors(&[403, 404]),
        Op::new(
            Post,
            "/v1/workflows/runs/{run}/cancel",
            "Cancel a run (admins, machine tokens and its creator)",
            cancel_run,
        )
        .query(
            "force",
            json!({ "type": "boolean", "default": false }),
            "Also stop the nodes still running",
        )
        .returns("run", run())
        .errors(run_errors),
        Op::new(
            Post,
            "/v1/workflows/runs/{run}/retry",
            "Retry a FAILED run from the node that failed it (admins, machine tokens and its \
             creator): that node runs again with the same Idempotency-Key; completed nodes \
             are not repeated",
            retry_run,
        )
        .returns("run", run())
        .errors(run_errors),
        Op::new(
            Patch,
            "/v1/workflows/runs/{run}/nodes/{node_run}",
            "Report on a waiting node run: logs, and its result to continue the run",
            patch_node_run_of,
        )
        .body(report.clone(), false)
        .returns("run", run())
        .errors(run_errors),
        Op::new(
            Patch,
            "/v1/workflows/nodes/runs/{node_run}",
            "Report on a waiting node run: logs, and its result to continue the run",
            patch_node_run,
        )
        .body(report, false)
        .returns("run", run())
        .errors(run_errors),
        Op::new(
            Post,
            "/v1/workflows/runs/{run}/nodes/{node}/responses",
            "Answer an approval (its responders only)",
            respond,
        )
        .body(
            json!({
                "type": "object", "additionalProperties": false, "required": ["button"],
                "properties": {
                    "button": { "type": "string", "description": "A button's identifier" },
                    "inputs": { "type": ["object", "null"],
                                "description": "The approval form's values" },
                },
            }),
            true,
        )
        .returns("run", run())
        .errors(run_errors),
    ];
    ops.extend(catalog_api::ops());
    ops.extend(super::session::ops());
    ops.extend(super::graph_api::ops());
    ops
}

/// The body of a node-run report.
fn report_schema() -> Json {
    let result = json!({ "enum": [Conclusion::Success, Conclusion::Failed] });
    json!({
        "type": "object", "additionalProperties": false,
        "properties": {
            "status": { "enum": [NodeStatus::InProgress, NodeStatus::Completed] },
            "result": { "enum": [Conclusion::Success, Conclusion::Failed, null],
                        "description": "Completes the node; FAILED fails the run under \
                                        `onFailure: terminate`" },
            "output": { "type": "object" },
            "logs": array(json!({
                "type": "object", "required": ["log"],
                "properties": {
                    "logLevel": { "enum": ["DEBUG", "INFO", "WARN", "ERROR"], "default": "INFO" },
                    "log": { "type": "string" },
                },
            })),
        },
        "allOf": [
            { "if": { "required": ["status"], "properties": { "status": { "const": NodeStatus::Completed } } },
              "then": { "required": ["result"], "properties": { "result": result } } },
            { "if": { "required": ["status"], "properties": { "status": { "const": NodeStatus::InProgress } } },
              "then": { "properties": { "result": { "type": "null" } } } },
        ],
    })
}

/// The API router: the routes of [`ops`], and no others, behind the [`guard`] checks for a
/// server listening on `listen`.
pub(super) fn router(server: Server, listen: std::net::SocketAddr) -> Router {
    let guard = Guard {
        hosts: Hosts::new(listen, &server.0.allowed_hosts),
        server: server.clone(),
    };
    let mut router = Router::new();
    for op in ops() {
        if let Some(path) = op.also_at {
            router = router.route(path, op.handler.clone());
        }
        router = router.route(op.path, op.handler);
    }
    router
        .merge(super::mcp::routes(server.clone()))
        .merge(super::ui::routes())
        .fallback(|| async { ApiError::not_found("no such endpoint; see /openapi.json".into()) })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "this endpoint does not take that method; see /openapi.json".into(),
            )
        })
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            server.0.request_timeout,
        ))
        .layer(axum::middleware::map_response_with_state(
            server.clone(),
            explain_timeout,
        ))
        .layer(axum::middleware::from_fn_with_state(guard, guard::check))
        // Method, path, status and latency; never headers (tokens) nor bodies (secrets).
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(DefaultMakeSpan::new().level(Level::INFO))
                .on_response(DefaultOnResponse::new().level(Level::INFO)),
        )
        .with_state(server)
}

/// Gives the timeout layer's empty 408 Port's error body.
async fn explain_timeout(State(s): State<Server>, resp: Response) -> Response {
    if resp.status() != StatusCode::REQUEST_TIMEOUT {
        return resp;
    }
    ApiError::new(
        StatusCode::REQUEST_TIMEOUT,
        "timeout",
        format!(
            "the request took longer than {:?}; a run it was driving goes on (follow it with \
             GET /v1/workflows/runs/{{run}})",
            s.0.request_timeout
        ),
    )
    .into_response()
}

async fn metrics(State(s): State<Server>) -> impl IntoResponse {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        s.0.metrics.render(s.workflows().len()),
    )
}

/// Path parameters; one that is not UTF-8 (`%FF`) is a 400 in Port's error shape.
pub(super) struct Path<T>(pub T);

impl<T, S> FromRequestParts<S> for Path<T>
where
    T: serde::de::DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Path<T>, ApiError> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(v)| Path(v))
            .map_err(|e| ApiError::new(e.status(), "invalid_request", e.body_text()))
    }
}

/// A JSON request body; an empty body is `{}`. Bad JSON is a 400 saying where.
pub(super) struct Body(pub Json);

impl<S: Send + Sync> FromRequest<S> for Body {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Body, ApiError> {
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|e| ApiError::new(e.status(), "invalid_request", e.body_text()))?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Body(Json::Object(Map::new())));
        }
        serde_json::from_slice(&bytes).map(Body).map_err(|e| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_json",
                format!("the body is not JSON: {e}"),
            )
        })
    }
}

/// The boolean query parameter `name` (absent: false), or a 422.
pub(super) fn flag(q: &HashMap<String, String>, name: &str) -> Result<bool, ApiError> {
    match q.get(name).map(String::as_str) {
        None | Some("false") => Ok(false),
        Some("true") => Ok(true),
        Some(other) => Err(ApiError::invalid(vec![format!(
            "`{name}` must be true or false, not `{other}`"
        )])),
    }
}

/// `{"ok": true, key: value}`.
pub(super) fn ok(key: &str, value: Json) -> AxJson<Json> {
    let mut m = Map::new();
    m.insert("ok".into(), Json::Bool(true));
    m.insert(key.into(), value);
    AxJson(Json::Object(m))
}

/// The body as an object, or a 422.
pub(super) fn object(body: Json, what: &str) -> Result<Map<String, Json>, ApiError> {
    match body {
        Json::Object(m) => Ok(m),
        other => Err(ApiError::invalid(vec![format!(
            "{what} must be a JSON object, not {other}"
        )])),
    }
}

async fn openapi(State(s): State<Server>) -> AxJson<Json> {
    let workflows = s.workflows().keys().cloned().collect();
    AxJson(openapi::document(&ops(), s.0.auth.is_some(), workflows))
}

async fn healthz() -> AxJson<Json> {
    AxJson(json!({ "ok": true }))
}

/// The published self-service triggers of `plan`.
pub(super) fn forms(plan: &Plan) -> impl Iterator<Item = (&str, &wflow_compiler::ir::FormTrigger)> {
    plan.triggers().filter_map(|n| match &n.config {
        NodeConfig::SelfServeTrigger(f) if f.published != Some(false) => {
            Some((n.identifier.value.as_str(), f))
        }
        _ => None,
    })
}

/// Whether `user` sees `plan` (admins see all; others the workflows they may run, or may run
/// depending on what they submit).
fn sees(user: &User, plan: &Plan) -> bool {
    user.is_admin() || forms(plan).any(|(_, f)| may_start(user, f))
}

/// Whether `user` may start `form` (or may, depending on what they submit).
pub(super) fn may_start(user: &User, form: &wflow_compiler::ir::FormTrigger) -> bool {
    user.may_execute(form.permissions.as_ref(), None) != Some(false)
}

/// A workflow as the API shows it: Port JSON with wflow's extensions kept.
fn workflow_json(plan: &Plan) -> Json {
    describe(&plan.workflow)
}

async fn list_workflows(State(s): State<Server>, user: User) -> AxJson<Json> {
    let list: Vec<Json> = s
        .workflows()
        .values()
        .filter(|p| sees(&user, p))
        .map(|p| workflow_json(p))
        .collect();
    ok("workflows", Json::Array(list))
}

pub(super) fn visible_plan(s: &Server, user: &User, id: &str) -> Result<Arc<Plan>, ApiError> {
    s.workflows()
        .get(id)
        .filter(|p| sees(user, p))
        .cloned()
        .ok_or_else(|| ApiError::not_found(format!("no workflow `{id}` that you can see")))
}

async fn get_workflow(
    State(s): State<Server>,
    user: User,
    Path(id): Path<String>,
) -> Result<AxJson<Json>, ApiError> {
    let plan = visible_plan(&s, &user, &id)?;
    Ok(ok("workflow", workflow_json(&plan)))
}

async fn start_run(
    State(s): State<Server>,
    user: User,
    Path(id): Path<String>,
    Body(body): Body,
) -> Result<(StatusCode, AxJson<Json>), ApiError> {
    let plan = visible_plan(&s, &user, &id)?;
    let mut body = object(body, "the body")?;
    let mut problems = Vec::new();
    for key in body.keys() {
        if !matches!(key.as_str(), "inputs" | "nodeIdentifier" | "entity") {
            problems.push(Problem::at(
                format!("/{key}"),
                format!(
                    "unknown field `{key}`; the body takes `inputs`, `nodeIdentifier` and `entity`"
                ),
            ));
        }
    }
    let trigger = take_trigger(&mut body, &mut problems);
    let mut given = take_inputs(&mut body, &mut problems);
    let entity = match body.remove("entity") {
        None | Some(Json::Null) => None,
        Some(Json::String(e)) if !e.trim().is_empty() => Some(e),
        Some(_) => {
            problems.push(Problem::at(
                "/entity",
                "`entity` must be the identifier of the entity the run starts from \
                 (`IDENTIFIER` or `BLUEPRINT/IDENTIFIER`)",
            ));
            None
        }
    };
    if let Some(e) = &entity {
        // A trigger that cannot be picked is reported by `start_form`, with the rest.
        if let Ok((_, form, _)) = pick_form(&plan, trigger.as_deref(), Vec::new()) {
            let (blueprint, id) = match e.split_once('/') {
                Some((bp, id)) => (Some(bp), id),
                None => (None, e.as_str()),
            };
            if let Err(why) = wflow_engine::inputs::from_entity(form, blueprint, id, &mut given) {
                problems.push(Problem::at("/entity", why));
            }
        }
    }
    let begun = start_form(
        &s,
        &user,
        &plan,
        trigger.as_deref(),
        &given,
        &BODY_INPUTS,
        problems,
    )
    .await?;
    Ok((StatusCode::CREATED, ok("run", begun.run)))
}

/// Takes the body's `nodeIdentifier`; one that is not a string is a problem (and `None`).
fn take_trigger(body: &mut Map<String, Json>, problems: &mut Vec<Problem>) -> Option<String> {
    match body.remove("nodeIdentifier") {
        None => None,
        Some(Json::String(t)) => Some(t),
        Some(_) => {
            problems.push(Problem::at(
                "/nodeIdentifier",
                "`nodeIdentifier` must be a string",
            ));
            None
        }
    }
}

/// Takes the body's `inputs` (none: `{}`); one that is not an object is a problem.
fn take_inputs(body: &mut Map<String, Json>, problems: &mut Vec<Problem>) -> Map<String, Json> {
    match body.remove("inputs") {
        None | Some(Json::Null) => Map::new(),
        Some(Json::Object(m)) => m,
        Some(other) => {
            problems.push(Problem::at(
                "/inputs",
                format!("`inputs` must be an object, not {other}"),
            ));
            Map::new()
        }
    }
}

/// Starts a run of `plan`'s published self-service trigger `trigger` (`None`: its only one)
/// with the form values `given` (found in the request `at`), as `user`: the checks and the
/// start of `POST /v1/workflows/{id}/runs`, and of an MCP tool call. `problems` found in the
/// rest of the request are reported with the form's.
pub(super) async fn start_form(
    s: &Server,
    user: &User,
    plan: &Arc<Plan>,
    trigger: Option<&str>,
    given: &Map<String, Json>,
    at: &FormAt,
    problems: Vec<Problem>,
) -> Result<Begun, ApiError> {
    let (trigger, form, mut problems) = pick_form(plan, trigger, problems)?;
    let refuse = || may_not_run(&plan.workflow.identifier.value, trigger, form);
    if user.may_execute(form.permissions.as_ref(), None) == Some(false) {
        return Err(refuse());
    }
    // The key of secret inputs, when configured (its absence is the preflight's to report).
    let secrets = Secrets::load_provided(&plan.secrets, s.0.secrets_file.as_deref());
    let checked = s
        .engine()
        .check_form(plan, &form.user_inputs, given, &user.person(), &secrets)
        .await?;
    let values = match checked {
        Ok(v) => Some(v),
        Err(found) => {
            problems.extend(found.iter().map(|p| Problem::input(p, at)));
            None
        }
    };
    let (Some(values), true) = (values, problems.is_empty()) else {
        return Err(ApiError::invalid(problems));
    };
    // A policy may read the form.
    if user.may_execute(form.permissions.as_ref(), Some(&values)) != Some(true) {
        return Err(refuse());
    }
    s.start(plan, trigger, Json::Object(values), user.email.as_deref())
        .await
}

/// The published self-service trigger `trigger` of `plan` (`None`: its only one) and its
/// form, with `problems` found so far; or a 422 with them and why no trigger was found.
fn pick_form<'p>(
    plan: &'p Plan,
    trigger: Option<&str>,
    mut problems: Vec<Problem>,
) -> Result<(&'p str, &'p wflow_compiler::ir::FormTrigger, Vec<Problem>), ApiError> {
    let triggers: Vec<_> = forms(plan).collect();
    let found = match trigger {
        Some(t) => triggers.iter().find(|(n, _)| *n == t).or_else(|| {
            problems.push(Problem::at(
                "/nodeIdentifier",
                format!("the workflow has no published self-service trigger `{t}`"),
            ));
            None
        }),
        None if triggers.len() == 1 => triggers.first(),
        None => {
            let ids: Vec<&str> = triggers.iter().map(|(n, _)| *n).collect();
            problems.push(Problem::from(if ids.is_empty() {
                "the workflow has no published self-service trigger; it starts on catalog \
                 events or schedules"
                    .to_string()
            } else {
                format!(
                    "the workflow has several self-service triggers; pick one with \
                     `nodeIdentifier` ({})",
                    ids.join(", ")
                )
            }));
            None
        }
    };
    match found {
        Some((trigger, form)) => Ok((trigger, form, problems)),
        None => Err(ApiError::invalid(problems)),
    }
}

/// `POST /v1/workflows/{id}/form`: the form of a self-service trigger as the caller sees it
/// for the values typed so far (what jq computes: shown, disabled, required, choices,
/// defaults, entity choices). The web UI asks as the user types; the start checks the same.
async fn form_state(
    State(s): State<Server>,
    user: User,
    Path(id): Path<String>,
    Body(body): Body,
) -> Result<AxJson<Json>, ApiError> {
    let plan = visible_plan(&s, &user, &id)?;
    let mut body = object(body, "the body")?;
    let mut problems = Vec::new();
    let trigger = take_trigger(&mut body, &mut problems);
    let given = take_inputs(&mut body, &mut problems);
    let (trigger, form, problems) = pick_form(&plan, trigger.as_deref(), problems)?;
    if !problems.is_empty() {
        return Err(ApiError::invalid(problems));
    }
    if user.may_execute(form.permissions.as_ref(), None) == Some(false) {
        return Err(may_not_run(&id, trigger, form));
    }
    // Secret inputs are read in clear (decrypted when sent encrypted), and never answered.
    let secrets = Secrets::load_provided(&plan.secrets, s.0.secrets_file.as_deref());
    let mut given = given;
    wflow_engine::secret_inputs::accept(&form.user_inputs, &mut given, &secrets);
    let state = s
        .engine()
        .form_state(&plan, &form.user_inputs, &given, &user.person())
        .await?;
    let state = serde_json::to_value(state).map_err(ApiError::internal)?;
    Ok(ok("form", secrets.redact(&state)))
}

/// The 403 of a user who may not run `workflow`'s trigger `trigger`.
fn may_not_run(workflow: &str, trigger: &str, form: &wflow_compiler::ir::FormTrigger) -> ApiError {
    forbidden(format!(
        "you may not run workflow `{workflow}`: its trigger `{trigger}` allows admins{}",
        allowed(form.permissions.as_ref())
    ))
}

/// ` and ...` naming who else a trigger's permissions allow.
fn allowed(p: Option<&wflow_compiler::ir::Permissions>) -> String {
    let Some(p) = p else {
        return " only (it lists no permissions)".into();
    };
    let mut parts = Vec::new();
    for (what, list) in [
        ("roles", &p.roles),
        ("users", &p.users),
        ("teams", &p.teams),
    ] {
        let names: Vec<&str> = list.iter().flatten().map(|n| n.value.as_str()).collect();
        if !names.is_empty() {
            parts.push(format!("{what} {}", names.join(", ")));
        }
    }
    if p.policy.is_some() {
        parts.push("whoever its policy allows".into());
    }
    if parts.is_empty() {
        " only".into()
    } else {
        format!(" and {}", parts.join("; "))
    }
}

/// Run `id`, if `user` may see it: who may view it, and whoever may answer one of its
/// waiting approvals.
pub(super) async fn visible_run(s: &Server, user: &User, id: &str) -> Result<RunRecord, ApiError> {
    let run = s
        .engine()
        .store
        .run(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no run `{id}`")))?;
    let workflows = s.workflows();
    let wf = workflows.get(&run.workflow).map(|p| &p.workflow);
    if user.may_view(&run, wf) || awaits(s, user, &run).await? {
        Ok(run)
    } else {
        Err(forbidden(format!(
            "you may not view run `{id}`: only admins, the person who started it and the \
             responders of its waiting approvals can (the workflow does not set \
             allowAnyoneToViewRuns)"
        )))
    }
}

/// Whether `run` has a waiting approval that `user` may answer.
async fn awaits(s: &Server, user: &User, run: &RunRecord) -> Result<bool, ApiError> {
    if run.status != RunStatus::InProgress {
        return Ok(false);
    }
    let plan = s.pinned_plan(run)?;
    let waiting = s.engine().store.node_runs(&run.id).await?;
    Ok(waiting
        .iter()
        .filter(|n| n.waiting && n.status == NodeStatus::InProgress)
        .any(|n| {
            approval(&plan, &n.node).is_some_and(|i| user.may_respond(i.responders.as_ref(), run))
        }))
}

/// The approval (INPUT) node `node` of `plan`.
fn approval<'p>(plan: &'p Plan, node: &str) -> Option<&'p wflow_compiler::ir::InputNode> {
    match plan.node(node).map(|n| &n.config) {
        Some(NodeConfig::Input(input)) => Some(input),
        _ => None,
    }
}

/// `GET /v1/approvals`.
async fn list_approvals(State(s): State<Server>, user: User) -> Result<AxJson<Json>, ApiError> {
    Ok(ok("approvals", Json::Array(approvals(&s, &user).await?)))
}

/// The approvals waiting for `user` across runs: those they may answer and have not answered
/// yet, oldest first.
pub(super) async fn approvals(s: &Server, user: &User) -> Result<Vec<Json>, ApiError> {
    let store = &s.engine().store;
    let mut list = Vec::new();
    for n in store.waiting_node_runs(APPROVALS_READ).await? {
        let Some(run) = store.run(&n.run_id).await? else {
            continue;
        };
        let plan = s.pinned_plan(&run)?;
        let Some(input) = approval(&plan, &n.node) else {
            continue;
        };
        if !user.may_respond(input.responders.as_ref(), &run) {
            continue;
        }
        let me = user.responder().email;
        let answered = store.responses(&run.id, &n.node).await?;
        if answered
            .iter()
            .any(|r| r.responder.eq_ignore_ascii_case(&me))
        {
            continue;
        }
        let node = plan.node(&n.node);
        let buttons: Vec<Json> = input
            .outlets
            .iter()
            .map(|o| {
                json!({
                    "identifier": o.identifier.value,
                    "title": o.title.as_ref().map(|t| t.value.as_str()),
                })
            })
            .collect();
        list.push(json!({
            "run": {
                "identifier": run.id, "workflow": {"identifier": run.workflow},
                "createdBy": run.created_by, "createdAt": run.created_at,
            },
            "node": {
                "identifier": n.node,
                "title": node.and_then(|n| n.title.as_ref()).map(|t| t.value.as_str()),
            },
            "nodeRun": { "identifier": n.id, "createdAt": n.created_at },
            "buttons": buttons,
            "userInputs": form(&input.user_inputs),
            "responses": answered.len(),
            "respond": format!(
                "POST /v1/workflows/runs/{}/nodes/{}/responses with {{\"button\": ...}}",
                run.id, n.node
            ),
        }));
    }
    Ok(list)
}

/// How many waiting node runs the approvals list reads.
const APPROVALS_READ: i64 = 1000;

async fn list_runs(
    State(s): State<Server>,
    user: User,
    Query(q): Query<HashMap<String, String>>,
) -> Result<AxJson<Json>, ApiError> {
    let limit = match q.get("limit").map(|l| l.parse::<i64>()) {
        None => 100,
        Some(Ok(n)) if (1..=1000).contains(&n) => n,
        Some(_) => {
            return Err(ApiError::invalid(vec![Problem::at(
                "/limit",
                "`limit` must be a number from 1 to 1000",
            )]));
        }
    };
    let workflows = s.workflows();
    let runs: Vec<Json> = s
        .engine()
        .store
        .runs_matching(
            q.get("workflow").map(String::as_str),
            q.get("status").map(String::as_str),
            q.get("createdBy").map(String::as_str),
            limit,
        )
        .await?
        .into_iter()
        .filter(|r| user.may_view(r, workflows.get(&r.workflow).map(|p| &p.workflow)))
        .map(|r| {
            json!({
                "identifier": r.id, "workflow": {"identifier": r.workflow},
                "status": r.status, "result": r.result, "createdBy": r.created_by,
                "createdAt": r.created_at, "completedAt": r.completed_at,
            })
        })
        .collect();
    Ok(ok("runs", Json::Array(runs)))
}

/// Run `id` as Port's run object.
pub(super) async fn run_value(s: &Server, id: &str) -> Result<Json, ApiError> {
    Ok(run_json(&s.engine().store, id).await?.unwrap_or(Json::Null))
}

async fn run_reply(s: &Server, id: &str) -> Result<AxJson<Json>, ApiError> {
    Ok(ok("run", run_value(s, id).await?))
}

/// Run `id` with its node runs, if `user` may see it.
pub(super) async fn read_run(s: &Server, user: &User, id: &str) -> Result<Json, ApiError> {
    visible_run(s, user, id).await?;
    run_value(s, id).await
}

async fn get_run(
    State(s): State<Server>,
    user: User,
    Path(id): Path<String>,
) -> Result<AxJson<Json>, ApiError> {
    Ok(ok("run", read_run(&s, &user, &id).await?))
}

async fn cancel_run(
    State(s): State<Server>,
    user: User,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<AxJson<Json>, ApiError> {
    let run = visible_run(&s, &user, &id).await?;
    if !user.may_act_on(&run) {
        return Err(forbidden(format!(
            "you may not cancel run `{id}`: only admins and the person who started it can"
        )));
    }
    let force = flag(&q, "force")?;
    let cancelled = s.engine().cancel(&id, force).await?;
    if cancelled {
        s.finished(&run.workflow, &id, Some(Conclusion::Cancelled));
        if run.concurrency.is_some() {
            s.admit(&run.workflow).await;
        }
    }
    run_reply(&s, &id).await
}

/// Retries a FAILED run from the node that failed it, once its environment is ready.
async fn retry_run(
    State(s): State<Server>,
    user: User,
    Path(id): Path<String>,
) -> Result<AxJson<Json>, ApiError> {
    let run = visible_run(&s, &user, &id).await?;
    if !user.may_act_on(&run) {
        return Err(forbidden(format!(
            "you may not retry run `{id}`: only admins and the person who started it can"
        )));
    }
    let plan = s.pinned_plan(&run)?;
    s.ready(&plan).await?;
    let by = user.responder().email;
    {
        let lock = s.run_lock(&id);
        let _held = lock.lock().await;
        s.engine()
            .retry(&plan, &id, s.0.leases.lease(), &by)
            .await?;
    }
    if run.concurrency.is_some() {
        // Queued again: it starts when its turn comes.
        s.admit(&run.workflow).await;
    } else {
        s.drive_detached(plan, &id).await?;
    }
    run_reply(&s, &id).await
}

async fn patch_node_run_of(
    State(s): State<Server>,
    user: User,
    Path((run, node_run)): Path<(String, String)>,
    Body(body): Body,
) -> Result<AxJson<Json>, ApiError> {
    report_node_run(&s, &user, &run, &node_run, body).await
}

async fn patch_node_run(
    State(s): State<Server>,
    user: User,
    Path(node_run): Path<String>,
    Body(body): Body,
) -> Result<AxJson<Json>, ApiError> {
    let run = s
        .engine()
        .store
        .node_run_owner(&node_run)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no node run `{node_run}`")))?;
    report_node_run(&s, &user, &run, &node_run, body).await
}

/// What a node-run PATCH asks for, checked.
struct Report {
    result: Option<Conclusion>,
    output: Option<Json>,
    logs: Vec<(String, String)>,
}

/// A status or result given as its text.
fn spelled<T: std::str::FromStr>(v: &Json) -> Option<T> {
    v.as_str().and_then(|s| s.parse().ok())
}

fn read_report(body: Json) -> Result<Report, ApiError> {
    let body = object(body, "the body")?;
    let mut problems: Vec<Problem> = Vec::new();
    for key in body.keys() {
        if !matches!(key.as_str(), "status" | "result" | "output" | "logs") {
            problems.push(Problem::at(
                format!("/{key}"),
                format!("unknown field `{key}`; the body takes status, result, output and logs"),
            ));
        }
    }
    let status = match body.get("status") {
        None => None,
        Some(v) if spelled::<NodeStatus>(v).is_some() => spelled(v),
        Some(other) => {
            problems.push(Problem::at(
                "/status",
                format!("`status` must be IN_PROGRESS or COMPLETED, not {other}"),
            ));
            None
        }
    };
    let result = match body.get("result") {
        None | Some(Json::Null) => None,
        Some(v) if matches!(spelled(v), Some(Conclusion::Success | Conclusion::Failed)) => {
            spelled(v)
        }
        Some(other) => {
            problems.push(Problem::at(
                "/result",
                format!(
                    "`result` must be SUCCESS or FAILED, not {other} (to stop the run, POST \
                     .../runs/{{run}}/cancel)"
                ),
            ));
            None
        }
    };
    if status == Some(NodeStatus::Completed) && result.is_none() {
        problems.push(Problem::at(
            "/result",
            "`result` (SUCCESS or FAILED) is required when `status` is COMPLETED",
        ));
    }
    if status == Some(NodeStatus::InProgress) && result.is_some() {
        problems.push(Problem::at(
            "/result",
            "`result` goes with `status: COMPLETED`, not IN_PROGRESS",
        ));
    }
    let output = match body.get("output") {
        None => None,
        Some(o @ Json::Object(_)) => Some(o.clone()),
        Some(other) => {
            problems.push(Problem::at(
                "/output",
                format!("`output` must be an object, not {other}"),
            ));
            None
        }
    };
    let mut logs = Vec::new();
    match body.get("logs") {
        None => {}
        Some(Json::Array(items)) => {
            for (i, l) in items.iter().enumerate() {
                let level = match l.get("logLevel") {
                    None => "INFO",
                    Some(Json::String(level))
                        if matches!(level.as_str(), "DEBUG" | "INFO" | "WARN" | "ERROR") =>
                    {
                        level
                    }
                    Some(other) => {
                        problems.push(Problem::at(
                            format!("/logs/{i}/logLevel"),
                            format!("`logLevel` must be DEBUG, INFO, WARN or ERROR, not {other}"),
                        ));
                        "INFO"
                    }
                };
                match l.get("log").and_then(Json::as_str) {
                    Some(text) => logs.push((level.to_string(), text.to_string())),
                    None => problems.push(Problem::at(
                        format!("/logs/{i}/log"),
                        "`log` (a string) is required",
                    )),
                }
            }
        }
        Some(_) => problems.push(Problem::at(
            "/logs",
            "`logs` must be a list of {logLevel, log}",
        )),
    }
    if problems.is_empty() {
        Ok(Report {
            result,
            output,
            logs,
        })
    } else {
        Err(ApiError::invalid(problems))
    }
}

async fn report_node_run(
    s: &Server,
    user: &User,
    run_id: &str,
    node_run: &str,
    body: Json,
) -> Result<AxJson<Json>, ApiError> {
    let report = read_report(body)?;
    let run = visible_run(s, user, run_id).await?;
    if !user.may_act_on(&run) {
        return Err(forbidden(format!(
            "you may not report on the nodes of run `{run_id}`: only admins and the person \
             who started it can"
        )));
    }
    let rec = s
        .engine()
        .store
        .node_runs(run_id)
        .await?
        .into_iter()
        .find(|n| n.id == node_run)
        .ok_or_else(|| {
            ApiError::not_found(format!("run `{run_id}` has no node run `{node_run}`"))
        })?;
    let plan = s.pinned_plan(&run)?;
    {
        let lock = s.run_lock(run_id);
        let _held = lock.lock().await;
        let writes: Vec<Write> = report
            .logs
            .into_iter()
            .map(|(level, text)| Write::Log {
                run_id: run_id.to_string(),
                record: log(&rec.node, &level, text),
            })
            .collect();
        s.engine().store.apply(writes).await?;
        if let Some(result) = &report.result {
            s.leased(run_id, async {
                s.engine()
                    .complete(&plan, run_id, &rec.node, *result, report.output)
                    .await
                    .map_err(ApiError::from)
            })
            .await?;
        }
    }
    if report.result.is_some() {
        // A node failed from outside may have finished the run already.
        if let Some(done) = s.engine().store.run(run_id).await?
            && done.status == RunStatus::Completed
        {
            s.finished(&done.workflow, run_id, done.result);
        }
        s.drive_detached(plan, run_id).await?;
    }
    run_reply(s, run_id).await
}

async fn respond(
    State(s): State<Server>,
    user: User,
    Path((run_id, node)): Path<(String, String)>,
    Body(body): Body,
) -> Result<AxJson<Json>, ApiError> {
    let mut body = object(body, "the body")?;
    let run = visible_run(&s, &user, &run_id).await?;
    let plan = s.pinned_plan(&run)?;
    // The node may be named by its identifier or by its node run's id.
    let node = match s
        .engine()
        .store
        .node_runs(&run_id)
        .await?
        .into_iter()
        .find(|n| n.id == node)
    {
        Some(rec) => rec.node,
        None => node,
    };
    let Some(input) = approval(&plan, &node) else {
        return Err(ApiError::not_found(format!(
            "run `{run_id}` has no approval (INPUT) node `{node}`"
        )));
    };
    let mut problems = Vec::new();
    let button = match body.remove("button") {
        Some(Json::String(b)) if input.outlets.iter().any(|o| o.identifier.value == b) => b,
        other => {
            let ids: Vec<&str> = input
                .outlets
                .iter()
                .map(|o| o.identifier.value.as_str())
                .collect();
            problems.push(Problem::at(
                "/button",
                format!(
                    "`button` must be one of {}, not {}",
                    ids.join(", "),
                    other.unwrap_or(Json::Null)
                ),
            ));
            String::new()
        }
    };
    let mut given = take_inputs(&mut body, &mut problems);
    problems.extend(body.keys().map(|k| {
        Problem::at(
            format!("/{k}"),
            format!("unknown field `{k}`; the body takes `button` and `inputs`"),
        )
    }));
    // Secret inputs sent encrypted are validated as what they hold.
    let secrets = s.secrets(&plan)?;
    let found = secret_inputs::accept(&input.user_inputs, &mut given, &secrets);
    problems.extend(found.iter().map(|p| Problem::input(p, &BODY_INPUTS)));
    if let Err(found) = inputs::validate(&input.user_inputs, &given) {
        problems.extend(found.iter().map(|p| Problem::input(p, &BODY_INPUTS)));
    }
    if !problems.is_empty() {
        return Err(ApiError::invalid(problems));
    }
    if !user.may_respond(input.responders.as_ref(), &run) {
        return Err(forbidden(format!(
            "you may not respond to node `{node}` of run `{run_id}`: you are not one of its \
             responders"
        )));
    }
    let responder = user.responder().email;
    let answer = Answer {
        button: &button,
        inputs: &given,
        secrets: &secrets,
    };
    {
        let lock = s.run_lock(&run_id);
        let _held = lock.lock().await;
        s.leased(&run_id, async {
            s.engine()
                .respond_authorized(&plan, &run_id, &node, &responder, &answer)
                .await
                .map_err(ApiError::from)
        })
        .await?;
    }
    s.drive_detached(plan, &run_id).await?;
    run_reply(&s, &run_id).await
}
