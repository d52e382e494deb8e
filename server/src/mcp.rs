//! MCP (the Model Context Protocol, with the `rmcp` SDK): AI agents call self-service
//! workflows as tools, over the same [`Server`], permission checks and input validation as the
//! HTTP API. Both transports share [`Mcp`]: streamable HTTP at `/mcp` in `wflow serve` (each
//! request acting as the user its bearer token names), and standard input and output for
//! `wflow mcp` (acting as one user).
//!
//! Tools: one per published self-service trigger the caller may run (named after its
//! workflow, its `inputSchema` the form's), plus [`GET_RUN`] and [`WAITING`]. Approvals stay
//! with people: no tool answers one.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{FromRequestParts, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, Implementation, ListToolsResult,
    PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool, ToolAnnotations,
};
use rmcp::service::RequestContext;
use rmcp::transport::streamable_http_server::session::never::NeverSessionManager;
use rmcp::transport::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ErrorData, RoleServer, ServerHandler, ServiceExt};
use serde_json::{Map, Value as Json, json};
use wflow_compiler::export::form_schema;
use wflow_compiler::ir::FormTrigger;

use super::api::{approvals, forms, may_start, read_run, run_value, start_form};
use super::guard::BODY_LIMIT;
use super::{ApiError, FormAt, Problem, Server, User};
use wflow_engine::plan::Plan;

/// Where `wflow serve` answers MCP.
pub const PATH: &str = "/mcp";

/// The tool that reads a run.
pub const GET_RUN: &str = "get_run";

/// The tool that lists the runs waiting for the caller's approval.
pub const WAITING: &str = "list_runs_waiting_for_me";

/// The longest a tool name may be.
const MAX_NAME: usize = 128;

/// How long a tool call that starts a run waits for it to finish (or to wait for someone)
/// before answering with the run still in progress.
const QUICK: Duration = Duration::from_secs(5);

/// The arguments of a tool call that starts a run: the form's values.
const TOOL_ARGUMENTS: FormAt = FormAt {
    pointer: "",
    name: "the tool's arguments",
};

const INSTRUCTIONS: &str = "Each tool but get_run and list_runs_waiting_for_me starts a run of \
    a self-service workflow, its arguments the workflow's form. It answers with the run: its \
    identifier, status and, when it finished within a few seconds, its result and node \
    outputs; follow it with get_run. A run may pause for a person's approval: approvals are \
    answered by people (wflow's API), never by a tool.";

/// An MCP server over a [`Server`]: its tools, for one caller.
#[derive(Clone)]
pub struct Mcp {
    server: Server,
    /// The caller of every request; `None`: the user the HTTP layer found for the request.
    caller: Option<User>,
}

/// A tool that starts runs: the self-service trigger of a served workflow it starts.
struct WorkflowTool {
    name: String,
    plan: Arc<Plan>,
    trigger: String,
}

impl WorkflowTool {
    /// The trigger's form.
    fn form(&self) -> Option<&FormTrigger> {
        forms(&self.plan)
            .find(|(t, _)| *t == self.trigger)
            .map(|(_, f)| f)
    }

    /// Whether `user` may call it (as the API lets them see the workflow).
    fn callable_by(&self, user: &User) -> bool {
        self.form().is_some_and(|f| may_start(user, f))
    }

    /// The tool as MCP lists it.
    fn tool(&self) -> Option<Tool> {
        let form = self.form()?;
        let wf = &self.plan.workflow;
        let node = self.plan.node(&self.trigger);
        let id = &wf.identifier.value;
        let title = wf.title.as_ref().map_or(id.as_str(), |t| t.value.as_str());
        let mut description = String::new();
        for part in [
            wf.description.as_ref(),
            node.and_then(|n| n.description.as_ref()),
        ]
        .into_iter()
        .flatten()
        {
            description.push_str(&part.value);
            description.push_str("\n\n");
        }
        description.push_str(&format!(
            "Starts a run of the workflow `{id}` (its self-service trigger `{}`) with these \
             inputs, and answers with the run; follow it with get_run.",
            self.trigger
        ));
        let Json::Object(schema) = form_schema(&form.user_inputs) else {
            return None;
        };
        let title = match node.and_then(|n| n.title.as_ref()) {
            Some(t) if self.name != *id => format!("{title}: {}", t.value),
            _ => title.to_string(),
        };
        Some(Tool::new(self.name.clone(), description, Arc::new(schema)).with_title(title))
    }
}

/// The tools that start runs, over every served workflow (so that a name does not depend on
/// who asks): named after the workflow (`workflow.trigger` when it has several self-service
/// triggers), made to fit MCP's names, `_2`, `_3`... when two would be the same.
fn workflow_tools(server: &Server) -> Vec<WorkflowTool> {
    let mut taken: HashSet<String> = [GET_RUN, WAITING].map(String::from).into();
    let mut out = Vec::new();
    for (id, plan) in server.workflows().iter() {
        let triggers: Vec<&str> = forms(plan).map(|(t, _)| t).collect();
        for trigger in &triggers {
            let wanted = if triggers.len() == 1 {
                id.clone()
            } else {
                format!("{id}.{trigger}")
            };
            out.push(WorkflowTool {
                name: unique(tool_name(&wanted), &mut taken),
                plan: Arc::clone(plan),
                trigger: trigger.to_string(),
            });
        }
    }
    out
}

/// `wanted` in MCP's tool-name characters (`A-Z a-z 0-9 _ - .`, others become `_`) and length.
fn tool_name(wanted: &str) -> String {
    let name: String = wanted
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.') {
                c
            } else {
                '_'
            }
        })
        .take(MAX_NAME)
        .collect();
    if name.is_empty() { "_".into() } else { name }
}

/// `base`, or `base_2`, `base_3`... if it is taken; the name is taken then.
fn unique(base: String, taken: &mut HashSet<String>) -> String {
    let mut name = base.clone();
    let mut n = 2;
    while !taken.insert(name.clone()) {
        let suffix = format!("_{n}");
        name = format!(
            "{}{suffix}",
            &base[..base.len().min(MAX_NAME - suffix.len())]
        );
        n += 1;
    }
    name
}

/// The tools every caller has.
fn fixed_tools() -> Vec<Tool> {
    let object = |v: Json| match v {
        Json::Object(m) => Arc::new(m),
        _ => Arc::new(Map::new()),
    };
    let read_only = ToolAnnotations::new().read_only(true).destructive(false);
    vec![
        Tool::new(
            GET_RUN,
            "A run: its status, result and error, and each node run's status, output and logs \
             (secrets redacted). You may read the runs you started, those of workflows that let \
             anyone view runs, and those waiting for your approval.",
            object(json!({
                "type": "object",
                "properties": { "run": {
                    "type": "string",
                    "description": "The run's identifier (`run.identifier` of a tool's answer)",
                } },
                "required": ["run"],
                "additionalProperties": false,
            })),
        )
        .with_title("Read a run")
        .with_annotations(read_only.clone()),
        Tool::new(
            WAITING,
            "The runs paused at an approval that you may answer and have not, oldest first, \
             with the approval's buttons and form. Approvals are answered by people through \
             wflow's API, not by a tool.",
            object(json!({ "type": "object", "properties": {}, "additionalProperties": false })),
        )
        .with_title("Runs waiting for my approval")
        .with_annotations(read_only),
    ]
}

/// Problems for the arguments of `args` a fixed tool does not take.
fn unknown(args: &Map<String, Json>, takes: &[&str], tool: &str) -> Vec<Problem> {
    let what = if takes.is_empty() {
        "it takes none".to_string()
    } else {
        format!("it takes {}", takes.join(", "))
    };
    args.keys()
        .filter(|k| !takes.contains(&k.as_str()))
        .map(|k| {
            Problem::at(
                format!("/{k}"),
                format!("{tool} has no argument `{k}`; {what}"),
            )
        })
        .collect()
}

impl Mcp {
    /// Who calls: the fixed caller, or the user the HTTP layer put in the request.
    fn user(&self, ctx: &RequestContext<RoleServer>) -> Result<User, ErrorData> {
        if let Some(user) = &self.caller {
            return Ok(user.clone());
        }
        ctx.extensions
            .get::<axum::http::request::Parts>()
            .and_then(|p| p.extensions.get::<User>())
            .cloned()
            .ok_or_else(|| ErrorData::internal_error("the request names no caller", None))
    }

    /// `get_run`: `{"run": ...}` if `user` may see it.
    async fn get_run(&self, user: &User, args: &Map<String, Json>) -> Result<Json, ApiError> {
        let mut problems = unknown(args, &["run"], GET_RUN);
        let id = match args.get("run") {
            Some(Json::String(id)) => Some(id),
            other => {
                problems.push(Problem::at(
                    "/run",
                    format!(
                        "`run` must be a run's identifier (a string), not {}",
                        other.unwrap_or(&Json::Null)
                    ),
                ));
                None
            }
        };
        match id {
            Some(id) if problems.is_empty() => {
                Ok(json!({ "run": read_run(&self.server, user, id).await? }))
            }
            _ => Err(ApiError::invalid(problems)),
        }
    }

    /// `list_runs_waiting_for_me`: `{"approvals": [...]}`.
    async fn waiting(&self, user: &User, args: &Map<String, Json>) -> Result<Json, ApiError> {
        let problems = unknown(args, &[], WAITING);
        if !problems.is_empty() {
            return Err(ApiError::invalid(problems));
        }
        Ok(json!({ "approvals": approvals(&self.server, user).await? }))
    }

    /// A workflow tool: starts its run as the API does, waits up to [`QUICK`] for it to
    /// finish or wait, and answers `{"run": ...}`.
    async fn start(
        &self,
        user: &User,
        name: &str,
        args: &Map<String, Json>,
    ) -> Result<Json, ApiError> {
        let tool = workflow_tools(&self.server)
            .into_iter()
            .find(|t| t.name == name && t.callable_by(user))
            .ok_or_else(|| {
                ApiError::not_found(format!(
                    "no tool `{name}` that you may call; tools/list lists yours"
                ))
            })?;
        let begun = start_form(
            &self.server,
            user,
            &tool.plan,
            Some(&tool.trigger),
            args,
            &TOOL_ARGUMENTS,
            Vec::new(),
        )
        .await?;
        // Still going after QUICK: the answer says so, and the run goes on.
        if let Some(drive) = begun.drive {
            let _ = tokio::time::timeout(QUICK, drive).await;
        }
        Ok(json!({ "run": run_value(&self.server, &begun.id).await? }))
    }
}

impl ServerHandler for Mcp {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("wflow", env!("CARGO_PKG_VERSION")))
            .with_instructions(INSTRUCTIONS)
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let user = self.user(&ctx)?;
        let mut tools: Vec<Tool> = workflow_tools(&self.server)
            .iter()
            .filter(|t| t.callable_by(&user))
            .filter_map(WorkflowTool::tool)
            .collect();
        tools.extend(fixed_tools());
        Ok(ListToolsResult::with_all_items(tools))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let user = self.user(&ctx)?;
        let args = request.arguments.unwrap_or_default();
        let answer = match request.name.as_ref() {
            GET_RUN => self.get_run(&user, &args).await,
            WAITING => self.waiting(&user, &args).await,
            name => self.start(&user, name, &args).await,
        };
        Ok(match answer {
            Ok(v) => CallToolResult::structured(v),
            Err(e) => CallToolResult::structured_error(e.body()),
        }
        .into())
    }
}

/// The streamable HTTP endpoint ([`PATH`]) of `server`: stateless, answering JSON, each
/// request acting as the user of its bearer token (as the API's). The API's guard (`Host`,
/// `Origin`, body size) is in front of it.
pub(super) fn routes(server: Server) -> axum::Router<Server> {
    let config = StreamableHttpServerConfig::default()
        .with_legacy_session_mode(false)
        .with_json_response(true)
        .disable_allowed_hosts()
        .with_max_request_body_bytes(BODY_LIMIT)
        .with_cancellation_token(server.0.stop.child_token());
    let mcp = Mcp {
        server: server.clone(),
        caller: None,
    };
    let service = StreamableHttpService::new(
        move || Ok(mcp.clone()),
        Arc::new(NeverSessionManager::default()),
        config,
    );
    axum::Router::new()
        .route_service(PATH, service)
        .layer(axum::middleware::from_fn_with_state(server, authenticate))
}

/// Finds the caller as the API does (401 without a known bearer token) and puts them in the
/// request for [`Mcp::user`].
async fn authenticate(State(s): State<Server>, req: Request, next: Next) -> Response {
    let (mut parts, body) = req.into_parts();
    match User::from_request_parts(&mut parts, &s).await {
        Ok(user) => {
            parts.extensions.insert(user);
            next.run(Request::from_parts(parts, body)).await
        }
        Err(e) => e.into_response(),
    }
}

impl Server {
    /// Serves MCP on standard input and output as `user` until the client closes it; then
    /// waits (up to `grace`) for the runs being driven. Nothing else is written to stdout.
    pub async fn serve_mcp_stdio(self, user: User, grace: Duration) -> Result<(), String> {
        let mcp = Mcp {
            server: self.clone(),
            caller: Some(user),
        };
        let ended = match mcp.serve(rmcp::transport::stdio()).await {
            Ok(running) => running
                .waiting()
                .await
                .map(drop)
                .map_err(|e| format!("the MCP session failed: {e}")),
            Err(e) => Err(format!("the MCP session did not start: {e}")),
        };
        self.wind_down(grace).await;
        ended
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tool_names_fit_mcp_and_never_repeat() {
        assert_eq!(tool_name("deploy-service"), "deploy-service");
        assert_eq!(tool_name("team/deploy:prod"), "team_deploy_prod");
        assert_eq!(tool_name(&"x".repeat(300)).len(), MAX_NAME);
        let mut taken: HashSet<String> = [GET_RUN.to_string()].into();
        assert_eq!(unique("get_run".into(), &mut taken), "get_run_2");
        assert_eq!(unique("get_run".into(), &mut taken), "get_run_3");
        let long = "y".repeat(MAX_NAME);
        assert_eq!(unique(long.clone(), &mut taken), long);
        let second = unique(long, &mut taken);
        assert!(
            second.ends_with("_2") && second.len() == MAX_NAME,
            "{second}"
        );
    }
}
