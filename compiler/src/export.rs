//! The exporter: the IR as Port workflow JSON, in the newest schema or the beta one.
//!
//! The newest schema writes condition `outlets`, `sourceOutletIdentifier` and GitHub actions
//! as `github-ocean` `dispatch_workflow`; the beta (`--legacy`) schema writes `options`,
//! `sourceOptionIdentifier` and `GITHUB` `CREATE`. Whatever one schema cannot say is an error
//! naming the construct, never dropped. No IO here.

use serde_json::{Map, Value as J, json};

use crate::diag::Diagnostic;
use crate::ir::{self, Name, NodeConfig, Value};
use wflow_grammar::Span;

/// Which generation of Port's workflow schema to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortSchema {
    /// `outlets`, `sourceOutletIdentifier`, `github-ocean` (2026 and later).
    Newest,
    /// The closed beta's `options`, `sourceOptionIdentifier`, `GITHUB` (January 2026).
    Legacy,
}

/// Exports one workflow as Port JSON. A fragment (nodes or connections without a workflow)
/// comes out in the shape it was read in: one node, `{"connections": [...]}`, or a workflow
/// without an identifier.
pub fn export(wf: &ir::Workflow, schema: PortSchema) -> Result<J, Vec<Diagnostic>> {
    let mut e = Exporter {
        schema,
        keep_extensions: false,
        errors: Vec::new(),
    };
    let out = e.workflow(wf);
    if e.errors.is_empty() {
        Ok(out)
    } else {
        Err(e.errors)
    }
}

/// The workflow as Port JSON in the newest schema, with wflow's extensions written under the
/// keys the Port JSON reader takes them from (`responseSchema`, ...): for readers such as the
/// HTTP API, which must show everything a workflow holds, not for Port.
pub fn describe(wf: &ir::Workflow) -> J {
    let mut e = Exporter {
        schema: PortSchema::Newest,
        keep_extensions: true,
        errors: Vec::new(),
    };
    e.workflow(wf)
}

/// An input schema as Port JSON (one entry of `userInputs.properties`).
pub fn input_schema(s: &ir::InputSchema) -> J {
    schema_of(s, true)
}

/// A form as the JSON Schema of the values it takes (an MCP tool's `inputSchema`): each
/// input's schema, the required keys and no other key. What only jq can tell (a jq `enum`,
/// `default`, `required` or other keyword) is left out; the form is still checked when it is
/// submitted.
pub fn form_schema(f: &ir::Form) -> J {
    let mut m = Map::new();
    m.insert("type".into(), J::String("object".into()));
    m.insert("properties".into(), inputs_of(&f.properties, false));
    if let ir::Required::Keys(keys) = &f.required
        && !keys.is_empty()
    {
        m.insert("required".into(), names(keys));
    }
    m.insert("additionalProperties".into(), J::Bool(false));
    J::Object(m)
}

/// An input schema as Port JSON; without the values written as jq unless `jq`.
fn schema_of(s: &ir::InputSchema, jq: bool) -> J {
    let kept = |v: &&Value| jq || !matches!(v.kind, ir::ValueKind::Jq(_));
    let mut m = Map::new();
    put_name(&mut m, "type", s.ty.as_ref());
    put_name(&mut m, "format", s.format.as_ref());
    put_name(&mut m, "blueprint", s.blueprint.as_ref());
    put_name(&mut m, "title", s.title.as_ref());
    put_name(&mut m, "description", s.description.as_ref());
    put(
        &mut m,
        "default",
        s.default.as_ref().filter(kept).map(Value::to_json),
    );
    put(
        &mut m,
        "enum",
        s.enum_values.as_ref().filter(kept).map(Value::to_json),
    );
    put(
        &mut m,
        "items",
        s.items.as_deref().map(|i| schema_of(i, jq)),
    );
    if !s.properties.is_empty() {
        m.insert("properties".into(), inputs_of(&s.properties, jq));
    }
    if !s.required.is_empty() {
        m.insert("required".into(), names(&s.required));
    }
    for (k, v) in s.keywords.iter().filter(|(_, v)| kept(&v)) {
        m.insert(k.value.clone(), v.to_json());
    }
    J::Object(m)
}

struct Exporter {
    schema: PortSchema,
    /// Write wflow's extensions (see [`describe`]) instead of refusing them.
    keep_extensions: bool,
    errors: Vec<Diagnostic>,
}

/// An outlet's `statusLabel` and `workflowStatusLabel`, when set.
fn put_labels(m: &mut Map<String, J>, status: Option<&Value>, workflow_status: Option<&Value>) {
    put(m, "statusLabel", status.map(Value::to_json));
    put(
        m,
        "workflowStatusLabel",
        workflow_status.map(Value::to_json),
    );
}

fn put(m: &mut Map<String, J>, key: &str, v: Option<J>) {
    if let Some(v) = v {
        m.insert(key.into(), v);
    }
}

fn put_name(m: &mut Map<String, J>, key: &str, v: Option<&Name>) {
    put(m, key, v.map(|n| J::String(n.value.clone())));
}

fn put_text(m: &mut Map<String, J>, key: &str, v: Option<&ir::Template>) {
    put(m, key, v.map(|t| J::String(t.text.clone())));
}

fn put_bool(m: &mut Map<String, J>, key: &str, v: Option<bool>) {
    put(m, key, v.map(J::Bool));
}

fn names(list: &[Name]) -> J {
    J::Array(list.iter().map(|n| J::String(n.value.clone())).collect())
}

fn pairs(list: &[(Name, Value)]) -> J {
    J::Object(
        list.iter()
            .map(|(k, v)| (k.value.clone(), v.to_json()))
            .collect(),
    )
}

fn inputs(list: &[ir::InputField]) -> J {
    inputs_of(list, true)
}

fn inputs_of(list: &[ir::InputField], jq: bool) -> J {
    J::Object(
        list.iter()
            .map(|f| (f.key.value.clone(), schema_of(&f.schema, jq)))
            .collect(),
    )
}

fn on_failure(m: &mut Map<String, J>, f: Option<ir::OnFailure>) {
    let v = f.map(|f| match f {
        ir::OnFailure::Terminate => "terminate",
        ir::OnFailure::Continue => "continue",
    });
    put(m, "onFailure", v.map(|s| J::String(s.into())));
}

fn validations(list: &[ir::Validation]) -> J {
    J::Array(
        list.iter()
            .map(|v| json!({ "constraint": v.constraint.code, "message": v.message.value }))
            .collect(),
    )
}

impl Exporter {
    fn workflow(&mut self, wf: &ir::Workflow) -> J {
        let owner = format!("workflow `{}`", wf.identifier.value);
        if let Some(t) = &wf.timeout {
            self.beyond_port_at(t.span, "the run's `timeout`", &owner);
        }
        if let Some(r) = &wf.retry {
            self.beyond_port_at(r.span, "`defaults { retry }`", &owner);
        }
        if let Some(c) = &wf.concurrency {
            self.beyond_port_at(c.span, "`concurrency`", &owner);
        }
        let nodes: Vec<J> = wf.nodes.iter().map(|n| self.node(wf, n)).collect();
        self.parallel(wf, &owner);
        let connections: Vec<J> = wf.connections.iter().map(|c| self.connection(c)).collect();
        let metadata = wf.title.is_some()
            || wf.icon.is_some()
            || wf.description.is_some()
            || wf.category.is_some()
            || wf.allow_anyone_to_view_runs.is_some();
        if wf.fragment && !metadata {
            match (nodes.as_slice(), connections.is_empty()) {
                ([node], true) => return node.clone(),
                ([], _) => return json!({ "connections": connections }),
                _ => {}
            }
        }
        let mut m = Map::new();
        if !wf.fragment {
            m.insert("identifier".into(), J::String(wf.identifier.value.clone()));
        }
        put_name(&mut m, "title", wf.title.as_ref());
        put_name(&mut m, "icon", wf.icon.as_ref());
        put_name(&mut m, "description", wf.description.as_ref());
        put_name(&mut m, "category", wf.category.as_ref());
        put_bool(
            &mut m,
            "allowAnyoneToViewRuns",
            wf.allow_anyone_to_view_runs,
        );
        m.insert("nodes".into(), J::Array(nodes));
        m.insert("connections".into(), J::Array(connections));
        J::Object(m)
    }

    fn outlet_key(&self) -> &'static str {
        match self.schema {
            PortSchema::Newest => "sourceOutletIdentifier",
            PortSchema::Legacy => "sourceOptionIdentifier",
        }
    }

    fn connection(&mut self, c: &ir::Connection) -> J {
        let mut m = Map::new();
        m.insert("sourceIdentifier".into(), J::String(c.source.value.clone()));
        m.insert("targetIdentifier".into(), J::String(c.target.value.clone()));
        put_name(&mut m, self.outlet_key(), c.outlet.as_ref());
        if c.fallback {
            m.insert("fallback".into(), J::Bool(true));
        }
        put_name(&mut m, "description", c.description.as_ref());
        J::Object(m)
    }

    fn node(&mut self, wf: &ir::Workflow, n: &ir::Node) -> J {
        let mut m = Map::new();
        if !crate::print::is_anonymous(wf, n) {
            m.insert("identifier".into(), J::String(n.identifier.value.clone()));
        }
        put_name(&mut m, "title", n.title.as_ref());
        put_name(&mut m, "icon", n.icon.as_ref());
        put_name(&mut m, "description", n.description.as_ref());
        m.insert("config".into(), self.config(n));
        self.node_policy(n);
        put(&mut m, "variables", n.variables.as_deref().map(pairs));
        if !n.links.is_empty() {
            let links = n.links.iter().map(|l| J::String(l.text.clone())).collect();
            m.insert("links".into(), J::Array(links));
        }
        put_bool(&mut m, "verbose", n.verbose);
        J::Object(m)
    }

    fn config(&mut self, n: &ir::Node) -> J {
        let mut m = Map::new();
        m.insert("type".into(), J::String(n.config.type_name().into()));
        match &n.config {
            NodeConfig::SelfServeTrigger(t) => {
                m.insert("userInputs".into(), form(&t.user_inputs));
                if let Some(p) = &t.permissions {
                    let mut pm = Map::new();
                    put(&mut pm, "roles", p.roles.as_deref().map(names));
                    put(&mut pm, "users", p.users.as_deref().map(names));
                    put(&mut pm, "teams", p.teams.as_deref().map(names));
                    put(&mut pm, "policy", p.policy.as_ref().map(Value::to_json));
                    m.insert("permissions".into(), J::Object(pm));
                }
                put_bool(&mut m, "published", t.published);
                if !t.contexts.is_empty() {
                    let contexts = t.contexts.iter().map(context).collect();
                    m.insert("contexts".into(), J::Array(contexts));
                }
                put_name(&mut m, "variant", t.variant.as_ref());
                put_name(
                    &mut m,
                    "actionCardButtonText",
                    t.action_card_button_text.as_ref(),
                );
                put_name(
                    &mut m,
                    "executeActionButtonText",
                    t.execute_action_button_text.as_ref(),
                );
            }
            NodeConfig::EventTrigger(e) => {
                let mut ev = Map::new();
                ev.insert("type".into(), J::String(e.event_type.value.clone()));
                ev.insert(
                    "blueprintIdentifier".into(),
                    J::String(e.blueprint_identifier.value.clone()),
                );
                put_name(
                    &mut ev,
                    "propertyIdentifier",
                    e.property_identifier.as_ref(),
                );
                m.insert("event".into(), J::Object(ev));
                if let Some(c) = &e.condition {
                    let mut cm = Map::new();
                    cm.insert("type".into(), J::String("JQ".into()));
                    let exprs = c.expressions.iter().map(|q| J::String(q.code.clone()));
                    cm.insert("expressions".into(), J::Array(exprs.collect()));
                    put_name(&mut cm, "combinator", c.combinator.as_ref());
                    m.insert("condition".into(), J::Object(cm));
                }
                put_bool(&mut m, "published", e.published);
            }
            NodeConfig::ScheduleTrigger(s) => {
                m.insert("cron".into(), J::String(s.cron.value.clone()));
                put_bool(&mut m, "published", s.published);
            }
            NodeConfig::Webhook(w) => {
                m.insert("url".into(), J::String(w.url.text.clone()));
                put_name(&mut m, "method", w.method.as_ref());
                if !w.headers.is_empty() {
                    m.insert("headers".into(), pairs(&w.headers));
                }
                put(&mut m, "body", w.body.as_ref().map(Value::to_json));
                put_bool(&mut m, "synchronized", w.synchronized);
                put_bool(&mut m, "agent", w.agent);
                if let Some(t @ (ir::OnTimeout::Fail | ir::OnTimeout::Continue)) = &n.on_timeout {
                    m.insert("onTimeout".into(), J::String(t.word().into()));
                }
                on_failure(&mut m, w.on_failure);
                if let Some(schema) = &w.response_schema {
                    self.extension(
                        n,
                        "`response_schema`",
                        &mut m,
                        "responseSchema",
                        schema.to_json(),
                    );
                }
            }
            NodeConfig::Kafka(k) => {
                put(&mut m, "payload", k.payload.as_ref().map(Value::to_json));
                on_failure(&mut m, k.on_failure);
            }
            NodeConfig::UpsertEntity(u) => {
                m.insert(
                    "blueprintIdentifier".into(),
                    J::String(u.blueprint_identifier.text.clone()),
                );
                let mp = &u.mapping;
                let mut mm = Map::new();
                put_text(&mut mm, "identifier", mp.identifier.as_ref());
                put_text(&mut mm, "title", mp.title.as_ref());
                put_text(&mut mm, "icon", mp.icon.as_ref());
                put(&mut mm, "team", mp.team.as_ref().map(Value::to_json));
                put(&mut mm, "properties", mp.properties.as_deref().map(pairs));
                put(&mut mm, "relations", mp.relations.as_deref().map(pairs));
                m.insert("mapping".into(), J::Object(mm));
                on_failure(&mut m, u.on_failure);
            }
            NodeConfig::IntegrationAction(i) => self.integration(n, i, &mut m),
            NodeConfig::Ai(a) => {
                m.insert("userPrompt".into(), J::String(a.user_prompt.text.clone()));
                put_text(&mut m, "systemPrompt", a.system_prompt.as_ref());
                put(&mut m, "tools", a.tools.as_deref().map(names));
                ai_model(&mut m, &a.model);
            }
            NodeConfig::AiAgent(a) => {
                m.insert(
                    "agentIdentifier".into(),
                    J::String(a.agent_identifier.value.clone()),
                );
                m.insert("userPrompt".into(), J::String(a.user_prompt.text.clone()));
                ai_model(&mut m, &a.model);
            }
            NodeConfig::CursorAgent(o) => {
                for (k, v) in &o.fields {
                    m.insert(k.value.clone(), v.to_json());
                }
            }
            NodeConfig::Condition(c) => {
                let outlets = c
                    .outlets
                    .iter()
                    .map(|o| {
                        let mut om = Map::new();
                        om.insert("identifier".into(), J::String(o.identifier.value.clone()));
                        put_name(&mut om, "title", o.title.as_ref());
                        om.insert("expression".into(), J::String(o.expression.code.clone()));
                        put_labels(
                            &mut om,
                            o.status_label.as_ref(),
                            o.workflow_status_label.as_ref(),
                        );
                        J::Object(om)
                    })
                    .collect();
                let key = match self.schema {
                    PortSchema::Newest => "outlets",
                    PortSchema::Legacy => "options",
                };
                m.insert(key.into(), J::Array(outlets));
            }
            NodeConfig::Input(i) => {
                put_text(&mut m, "description", i.description.as_ref());
                let mut f = form(&i.user_inputs);
                if let J::Object(fm) = &mut f
                    && !i.user_inputs.buttons.is_empty()
                {
                    let buttons = i.user_inputs.buttons.iter().map(|b| {
                        let mut bm = Map::new();
                        bm.insert("identifier".into(), J::String(b.identifier.value.clone()));
                        bm.insert("label".into(), J::String(b.label.value.clone()));
                        put_name(&mut bm, "variant", b.variant.as_ref());
                        put_name(&mut bm, "icon", b.icon.as_ref());
                        J::Object(bm)
                    });
                    fm.insert("buttons".into(), J::Array(buttons.collect()));
                }
                m.insert("userInputs".into(), f);
                let outlets = i.outlets.iter().map(|o| {
                    let mut om = Map::new();
                    put_name(&mut om, "evaluationMethod", o.evaluation_method.as_ref());
                    om.insert("identifier".into(), J::String(o.identifier.value.clone()));
                    put_name(&mut om, "title", o.title.as_ref());
                    put(&mut om, "numOfResponders", o.num_of_responders.map(J::from));
                    put_labels(
                        &mut om,
                        o.status_label.as_ref(),
                        o.workflow_status_label.as_ref(),
                    );
                    J::Object(om)
                });
                m.insert("outlets".into(), J::Array(outlets.collect()));
                if let Some(r) = &i.responders {
                    let mut rm = Map::new();
                    for (k, list) in [
                        ("users", &r.users),
                        ("roles", &r.roles),
                        ("teams", &r.teams),
                    ] {
                        if !list.is_empty() || r.listed_empty.iter().any(|l| l == k) {
                            rm.insert(k.into(), names(list));
                        }
                    }
                    put(
                        &mut rm,
                        "usersQuery",
                        r.users_query.as_ref().map(Value::to_json),
                    );
                    m.insert("responders".into(), J::Object(rm));
                }
                if !i.notifications.is_empty() {
                    let list = i.notifications.iter().map(Value::to_json).collect();
                    m.insert("notifications".into(), J::Array(list));
                }
            }
            NodeConfig::Join(j) => {
                self.beyond_port(n, "the kind `join`");
                m.insert(
                    "wait".into(),
                    serde_json::to_value(j.wait).unwrap_or(J::Null),
                );
            }
        }
        J::Object(m)
    }

    /// A wflow extension on node `n` that Port's JSON reader takes as `key`: written when
    /// extensions are kept, else reported.
    fn extension(&mut self, n: &ir::Node, what: &str, m: &mut Map<String, J>, key: &str, value: J) {
        if self.keep_extensions {
            m.insert(key.into(), value);
        } else {
            self.beyond_port(n, what);
        }
    }

    /// Reports a wflow extension on node `n` that Port's JSON has no field for.
    fn beyond_port(&mut self, n: &ir::Node, what: &str) {
        let owner = format!("node `{}`", n.identifier.value);
        self.beyond_port_at(n.identifier.span, what, &owner);
    }

    /// Reports a wflow extension of `owner`, written at `span` (left out when extensions are
    /// kept: Port's JSON reader has no field for it).
    fn beyond_port_at(&mut self, span: Span, what: &str, owner: &str) {
        if self.keep_extensions {
            return;
        }
        self.errors.push(
            Diagnostic::error(
                "invalid-value",
                span,
                format!("{what} of {owner} is a wflow extension that Port's JSON cannot hold"),
            )
            .help("remove it before exporting; Port would reject or drop it"),
        );
    }

    /// Refuses parallel branches (a second connection out of one node, or one outlet of it)
    /// and error paths.
    fn parallel(&mut self, wf: &ir::Workflow, owner: &str) {
        let mut seen: Vec<(&str, Option<&str>, bool)> = Vec::new();
        for c in &wf.connections {
            let key = (
                c.source.value.as_str(),
                c.outlet.as_ref().map(|o| o.value.as_str()),
                c.fallback,
            );
            if wf.is_error_path(c) {
                let what = format!("the error path of `{}`", c.source.value);
                self.beyond_port_at(c.span, &what, owner);
            } else if seen.contains(&key) {
                let what = format!("parallel branches from `{}`", c.source.value);
                self.beyond_port_at(c.span, &what, owner);
            } else {
                seen.push(key);
            }
        }
    }

    /// Refuses a node's retries and timeouts, but a webhook's `onTimeout` (Port has it).
    fn node_policy(&mut self, n: &ir::Node) {
        let owner = format!("node `{}`", n.identifier.value);
        if let Some(r) = &n.retry {
            self.beyond_port_at(r.span, "`retry`", &owner);
        }
        if let Some(t) = &n.timeout {
            self.beyond_port_at(t.span, "`timeout`", &owner);
        }
        let port_has = matches!(n.config, NodeConfig::Webhook(_))
            && matches!(
                n.on_timeout,
                Some(ir::OnTimeout::Fail | ir::OnTimeout::Continue)
            );
        match &n.on_timeout {
            Some(ir::OnTimeout::Outlet(o)) => self.beyond_port_at(o.span, "`on_timeout`", &owner),
            Some(_) if !port_has => self.beyond_port(n, "`on_timeout`"),
            _ => {}
        }
    }

    /// An integration action; GitHub dispatches are converted to the target schema's shape.
    fn integration(&mut self, n: &ir::Node, i: &ir::Integration, m: &mut Map<String, J>) {
        put_name(m, "installationId", i.installation_id.as_ref());
        let provider = i.integration_provider.as_ref().map(|p| p.value.as_str());
        let invocation = i
            .integration_invocation_type
            .as_ref()
            .map(|p| p.value.as_str());
        let props = i
            .integration_action_execution_properties
            .as_ref()
            .map(Value::to_json);
        let converted = match (self.schema, provider, invocation, &props) {
            (PortSchema::Newest, Some("GITHUB"), Some("CREATE"), Some(J::Object(p))) => {
                to_newest(p).map(|p| ("github-ocean", "dispatch_workflow", p))
            }
            (
                PortSchema::Legacy,
                Some("github-ocean"),
                Some("dispatch_workflow"),
                Some(J::Object(p)),
            ) => match to_legacy(p) {
                Ok(p) => Some(("GITHUB", "CREATE", p)),
                Err(why) => {
                    self.errors.push(
                            Diagnostic::error(
                                "invalid-value",
                                n.identifier.span,
                                format!(
                                    "GitHub action `{}` cannot be written in Port's beta schema: {why}",
                                    n.identifier.value
                                ),
                            )
                            .help("export without --legacy, or give `org`, `repo` and `workflow` as strings"),
                        );
                    None
                }
            },
            _ => None,
        };
        match converted {
            Some((provider, invocation, p)) => {
                m.insert("integrationProvider".into(), J::String(provider.into()));
                m.insert(
                    "integrationInvocationType".into(),
                    J::String(invocation.into()),
                );
                m.insert("integrationActionExecutionProperties".into(), J::Object(p));
            }
            None => {
                put_name(m, "integrationProvider", i.integration_provider.as_ref());
                put_name(
                    m,
                    "integrationInvocationType",
                    i.integration_invocation_type.as_ref(),
                );
                put(m, "integrationActionExecutionProperties", props);
            }
        }
        put_bool(
            m,
            "deferIntegrationInstallation",
            i.defer_integration_installation,
        );
        on_failure(m, i.on_failure);
    }
}

/// The beta GitHub properties (`repo: "owner/name"`, `workflowId`, `inputs`, `reportStatus`)
/// in the newest shape, or None when they do not convert exactly (left as they are).
pub fn to_newest(p: &Map<String, J>) -> Option<Map<String, J>> {
    let mut out = Map::new();
    for (k, v) in p {
        match (k.as_str(), v) {
            ("repo", J::String(full)) => {
                let (org, repo) = full.split_once('/')?;
                if org.is_empty() || repo.is_empty() || repo.contains('/') || full.contains("{{") {
                    return None;
                }
                out.insert("org".into(), J::String(org.into()));
                out.insert("repo".into(), J::String(repo.into()));
            }
            ("workflowId", v) => {
                out.insert("workflow".into(), v.clone());
            }
            ("inputs", v) => {
                out.insert("workflowInputs".into(), v.clone());
            }
            ("reportStatus", v) => {
                out.insert("reportWorkflowStatus".into(), v.clone());
            }
            _ => return None,
        }
    }
    out.contains_key("org").then_some(out)
}

/// The newest GitHub properties in the beta shape, or why they cannot be.
pub fn to_legacy(p: &Map<String, J>) -> Result<Map<String, J>, String> {
    let mut out = Map::new();
    let text = |k: &str| match p.get(k) {
        Some(J::String(s)) => Ok(s.clone()),
        Some(_) => Err(format!("`{k}` is not a string")),
        None => Err(format!("`{k}` is missing")),
    };
    let (org, repo) = (text("org")?, text("repo")?);
    out.insert("repo".into(), J::String(format!("{org}/{repo}")));
    for (k, v) in p {
        let key = match k.as_str() {
            "org" | "repo" => continue,
            "workflow" => "workflowId",
            "workflowInputs" => "inputs",
            "reportWorkflowStatus" => "reportStatus",
            other => return Err(format!("the beta schema has no property `{other}`")),
        };
        out.insert(key.into(), v.clone());
    }
    Ok(out)
}

fn context(c: &ir::Context) -> J {
    let mut m = Map::new();
    m.insert("on".into(), J::String(c.on.value.clone()));
    put_name(
        &mut m,
        "blueprintIdentifier",
        c.blueprint_identifier.as_ref(),
    );
    put_name(&mut m, "userInput", c.user_input.as_ref());
    put_bool(&mut m, "visible", c.visible);
    J::Object(m)
}

fn ai_model(m: &mut Map<String, J>, a: &ir::AiModel) {
    if !a.mcp_servers.is_empty() {
        let servers = a
            .mcp_servers
            .iter()
            .map(|s| json!({ "identifier": s.value }))
            .collect();
        m.insert("mcpServers".into(), J::Array(servers));
    }
    put_name(m, "provider", a.provider.as_ref());
    put_name(m, "model", a.model.as_ref());
    put(
        m,
        "outputSchema",
        a.output_schema.as_ref().map(Value::to_json),
    );
}

/// A form (`userInputs`) as Port JSON, without its buttons.
pub fn form(f: &ir::Form) -> J {
    let mut m = Map::new();
    m.insert("properties".into(), inputs(&f.properties));
    match &f.required {
        ir::Required::Keys(k) if k.is_empty() && !f.required_listed => {}
        ir::Required::Keys(k) => {
            m.insert("required".into(), names(k));
        }
        ir::Required::Jq(q) => {
            m.insert("required".into(), json!({ "jqQuery": q.code }));
        }
    }
    put(&mut m, "order", f.order.as_deref().map(names));
    if !f.steps.is_empty() {
        let steps = f.steps.iter().map(|s| {
            let mut sm = Map::new();
            sm.insert("title".into(), J::String(s.title.value.clone()));
            sm.insert("order".into(), names(&s.order));
            put(&mut sm, "visible", s.visible.as_ref().map(Value::to_json));
            if !s.validations.is_empty() {
                sm.insert("validations".into(), validations(&s.validations));
            }
            J::Object(sm)
        });
        m.insert("steps".into(), J::Array(steps.collect()));
    }
    if !f.titles.is_empty() {
        let titles = f.titles.iter().map(|h| {
            let mut hm = Map::new();
            hm.insert("title".into(), J::String(h.title.value.clone()));
            put_name(&mut hm, "description", h.description.as_ref());
            put(&mut hm, "visible", h.visible.as_ref().map(Value::to_json));
            (h.key.value.clone(), J::Object(hm))
        });
        m.insert("titles".into(), J::Object(titles.collect()));
    }
    if !f.validations.is_empty() {
        m.insert("validations".into(), validations(&f.validations));
    }
    J::Object(m)
}
