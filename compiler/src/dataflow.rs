//! Typed data flow: every `.outputs.<node>` reference and every value between steps checked
//! before a run.
//!
//! Nodes are visited in connection order; each node's output type comes from `stdlib` (the
//! `output` notation of its kind, filled from its config and the catalog), replaced by the
//! types of its `variables` when it has them. Each expression is walked once
//! ([`crate::jq_types`]) with the run context as input; `.outputs.X` resolves against the
//! graph ([`crate::flow`]): X must exist, run before the node, and run on every path to it
//! unless the expression handles its absence.

use crate::hash::HashSet;
use std::ops::Range;
use std::sync::OnceLock;

use wflow_grammar::Span;

use crate::catalog::{Blueprint, Catalog};
use crate::diag::Diagnostic;
use crate::flow::{Dominators, Flow, NodeSet};
use crate::ir::{self, JqQuery, Node, NodeConfig, Template, Value, ValueKind, Workflow};
use crate::jq_types::{self, Resolve};
use crate::suggest::did_you_mean;
use crate::types::{Object, Type};

/// A reference's type and where it comes from, for hover.
#[derive(Debug, Clone, PartialEq)]
pub struct TypeHover {
    /// The path step under the cursor.
    pub span: Span,
    /// The step's type, displayed.
    pub ty: String,
    /// Which node's output it reads, when it reads one.
    pub origin: Option<String>,
}

/// Checks the data flow of one workflow. `graph`: the graph is whole (no syntax errors).
pub(crate) fn workflow(wf: &Workflow, catalog: &Catalog, graph: bool, out: &mut Vec<Diagnostic>) {
    let mut c = Ctx::new(wf, catalog, graph, out, None);
    c.run();
}

/// The type of the jq path step at `offset` in `module`, with the node whose output it reads.
pub fn type_at(module: &ir::Module, catalog: &Catalog, offset: usize) -> Option<TypeHover> {
    let wf = module
        .workflows
        .iter()
        .find(|w| w.span.start <= offset && offset <= w.span.end)?;
    let mut sink = Vec::new();
    let mut c = Ctx::new(wf, catalog, true, &mut sink, Some(offset));
    c.run();
    c.hover
}

/// The output type of every node of the workflow that holds `offset`, by node identifier,
/// as the data-flow check computed it (`Any` where nothing is known). For completion.
pub fn output_types(module: &ir::Module, catalog: &Catalog, offset: usize) -> Vec<(String, Type)> {
    module
        .workflows
        .iter()
        .find(|w| w.span.start <= offset && offset <= w.span.end)
        .map(|wf| node_output_types(wf, catalog))
        .unwrap_or_default()
}

/// The output type of every node of `wf`, by node identifier (`Any` where nothing is known).
pub fn node_output_types(wf: &Workflow, catalog: &Catalog) -> Vec<(String, Type)> {
    let mut sink = Vec::new();
    let mut c = Ctx::new(wf, catalog, true, &mut sink, None);
    c.run();
    wf.nodes
        .iter()
        .zip(&c.outputs)
        .map(|(n, t)| (n.identifier.value.clone(), t.clone().unwrap_or(Type::Any)))
        .collect()
}

/// The exposure of an entity's identifier or blueprint: a secret there is an error.
const STORED_AS_KEY: &str = "an entity identifier";

/// Where an expression sits, which decides what it may read and what it may leak.
#[derive(Clone, Copy)]
struct Site<'t> {
    node: usize,
    input: &'t Type,
    /// Where run viewers see the value (`variables`, links, ...): secrets are flagged.
    exposed: Option<&'static str>,
    /// Where a secret form input is flagged: where it is exposed, and in a URL as well.
    reveals: Option<&'static str>,
    /// The input's name in messages.
    root: &'static str,
}

struct Ctx<'a> {
    wf: &'a Workflow,
    catalog: &'a Catalog,
    flow: Flow,
    /// Reference diagnostics are reported (the graph is whole and reliable).
    refs: bool,
    /// The workflow has no syntax errors.
    graph: bool,
    outputs: Vec<Option<Type>>,
    out: &'a mut Vec<Diagnostic>,
    hover_at: Option<usize>,
    hover: Option<TypeHover>,
    /// The dominator tree, when references are checked.
    doms: Option<Dominators>,
    /// What surely ran before each node through joins, when references are checked and the
    /// workflow has joins (else dominance says it all).
    must: Option<Vec<NodeSet>>,
    /// Per node: the triggers that reach it.
    reaching: Vec<Vec<usize>>,
    /// The triggers that reach the node being checked.
    triggers: Vec<usize>,
    /// The nodes with an error path, found once rather than per node.
    error_paths: HashSet<&'a str>,
}

fn context() -> &'static Type {
    static CONTEXT: OnceLock<Type> = OnceLock::new();
    CONTEXT.get_or_init(|| {
        Type::from_notation(&wflow_stdlib::get().run_context, &mut |p| match p {
            "$outputs" => Type::Outputs,
            "$secrets" => Type::Secrets,
            _ => Type::Any,
        })
    })
}

/// The run context with `.result` (and Port's beta `.response`) for `variables` and links.
fn result_context(raw: &Type) -> Type {
    let mut t = context().clone();
    if let Type::Object(o) = &mut t {
        let o = std::sync::Arc::make_mut(o);
        let response = match raw {
            Type::Object(r) => r.field("response").cloned().unwrap_or(Type::Any),
            _ => Type::Any,
        };
        o.fields.push(("result".into(), raw.clone()));
        o.fields.push(("response".into(), response));
    }
    t
}

impl<'a> Ctx<'a> {
    fn new(
        wf: &'a Workflow,
        catalog: &'a Catalog,
        graph: bool,
        out: &'a mut Vec<Diagnostic>,
        hover_at: Option<usize>,
    ) -> Ctx<'a> {
        let flow = Flow::new(wf);
        let refs = graph && flow.reliable;
        Ctx {
            wf,
            catalog,
            refs,
            graph,
            outputs: vec![None; wf.nodes.len()],
            out,
            hover_at,
            hover: None,
            doms: if refs { flow.dominators() } else { None },
            must: if refs && flow.has_joins() {
                flow.must_run()
            } else {
                None
            },
            reaching: flow.reaching_triggers(),
            triggers: Vec::new(),
            error_paths: wf
                .connections
                .iter()
                .filter(|c| wf.is_error_path(c))
                .map(|c| c.source.value.as_str())
                .collect(),
            flow,
        }
    }

    /// Visits nodes so that every node comes after the nodes that lead to it.
    fn run(&mut self) {
        let n = self.wf.nodes.len();
        for i in self.flow.order() {
            if i < n {
                self.node(i);
            }
        }
    }

    fn node(&mut self, i: usize) {
        let wf = self.wf;
        let node = &wf.nodes[i];
        let idx = self.flow.id(&node.identifier.value).unwrap_or(i);
        self.triggers = self.reaching.get(idx).cloned().unwrap_or_default();
        let raw = self.raw_output(node);
        let ctx = context();
        let site = |exposed| Site {
            node: idx,
            input: ctx,
            exposed,
            reveals: exposed,
            root: "the run context",
        };
        match &node.config {
            NodeConfig::SelfServeTrigger(t) => self.form_blueprints(&t.user_inputs),
            NodeConfig::EventTrigger(e) => {
                self.event(e);
                let ev = Site {
                    node: idx,
                    input: &raw,
                    exposed: None,
                    reveals: None,
                    root: "the event",
                };
                for q in e.condition.iter().flat_map(|c| &c.expressions) {
                    let t = self.expr(q, ev);
                    self.boolean(q, &t, "an event condition");
                }
            }
            NodeConfig::ScheduleTrigger(_) => {}
            NodeConfig::Webhook(w) => {
                let url = Site {
                    reveals: Some("a URL"),
                    ..site(None)
                };
                self.template(&w.url, url);
                for (_, v) in &w.headers {
                    self.value(v, site(None));
                }
                if let Some(b) = &w.body {
                    self.value(b, site(None));
                }
            }
            NodeConfig::Kafka(k) => {
                if let Some(p) = &k.payload {
                    self.value(p, site(None));
                }
            }
            NodeConfig::UpsertEntity(u) => self.upsert(u, site(Some("an upsert mapping"))),
            NodeConfig::IntegrationAction(a) => {
                self.integration_properties(node, a);
                if let Some(p) = &a.integration_action_execution_properties {
                    self.integration(a, p, site(None));
                }
            }
            NodeConfig::Ai(a) => {
                self.template(&a.user_prompt, site(Some("an AI prompt")));
                if let Some(s) = &a.system_prompt {
                    self.template(s, site(Some("an AI prompt")));
                }
            }
            NodeConfig::AiAgent(a) => {
                self.template(&a.user_prompt, site(Some("an AI prompt")));
            }
            NodeConfig::CursorAgent(o) => {
                for (_, v) in &o.fields {
                    self.value(v, site(None));
                }
            }
            NodeConfig::Condition(c) => {
                for o in &c.outlets {
                    let t = self.expr(&o.expression, site(None));
                    self.boolean(&o.expression, &t, "a condition");
                    for l in [&o.status_label, &o.workflow_status_label]
                        .into_iter()
                        .flatten()
                    {
                        self.value(l, site(Some("a status label")));
                    }
                }
            }
            NodeConfig::Input(inp) => {
                self.form_blueprints(&inp.user_inputs);
                if let Some(d) = &inp.description {
                    self.template(d, site(None));
                }
                for n in &inp.notifications {
                    self.value(n, site(None));
                }
                for o in &inp.outlets {
                    for l in [&o.status_label, &o.workflow_status_label]
                        .into_iter()
                        .flatten()
                    {
                        self.value(l, site(Some("a status label")));
                    }
                }
            }
            NodeConfig::Join(_) => {}
        }
        // Built only for nodes that have `variables` or links.
        let rctx = if node.links.is_empty() && node.variables.as_ref().is_none_or(Vec::is_empty) {
            Type::Any
        } else {
            result_context(&raw)
        };
        let rsite = |exposed| Site {
            node: idx,
            input: &rctx,
            exposed: Some(exposed),
            reveals: Some(exposed),
            root: "the node's context",
        };
        for l in &node.links {
            self.template(l, rsite("a link"));
        }
        let out = match &node.variables {
            // An empty map is taken as no variables, not as an empty output.
            Some(vars) if !vars.is_empty() => {
                let mut o = Object::default();
                for (k, v) in vars {
                    let t = self.value(v, rsite("`variables`"));
                    o.fields.push((k.value.clone(), t));
                }
                Type::Object(std::sync::Arc::new(o))
            }
            _ => raw,
        };
        if let Some(slot) = self.outputs.get_mut(i) {
            *slot = Some(out);
        }
    }

    // ---------------------------------------------------------------------------------
    // Output types
    // ---------------------------------------------------------------------------------

    fn raw_output(&self, node: &Node) -> Type {
        // With syntax errors, part of a node (a form input) may be lost: nothing is known.
        if !self.graph {
            return Type::Any;
        }
        let Some(kind) = wflow_stdlib::get().kind(node.config.type_name()) else {
            return Type::Any;
        };
        let cfg = &node.config;
        let mut fill = |p: &str| -> Type {
            match (p, cfg) {
                ("$inputs", NodeConfig::SelfServeTrigger(t)) => form_type(&t.user_inputs),
                ("$form", NodeConfig::Input(i)) => form_type(&i.user_inputs),
                ("$before" | "$after", NodeConfig::EventTrigger(e)) => {
                    let entity = self.entity_type(Some(&e.blueprint_identifier.value));
                    let (before, after) = match e.event_type.value.as_str() {
                        "ENTITY_CREATED" => (Type::Null, entity),
                        "ENTITY_UPDATED" => (entity.clone(), entity),
                        "ENTITY_DELETED" => (entity, Type::Null),
                        "TIMER_EXPIRED" => (entity.clone().nullable(), entity),
                        "ANY_ENTITY_CHANGE" => (entity.clone().nullable(), entity.nullable()),
                        _ => (Type::Any, Type::Any),
                    };
                    if p == "$before" { before } else { after }
                }
                ("$entity", NodeConfig::UpsertEntity(u)) => {
                    let bp = (u.blueprint_identifier.exprs().next().is_none())
                        .then_some(u.blueprint_identifier.text.as_str());
                    self.entity_type(bp)
                }
                ("$data", NodeConfig::Webhook(w)) => w
                    .response_schema
                    .as_ref()
                    .map_or(Type::Any, |s| Type::from_json_schema(&s.to_json())),
                ("$response", NodeConfig::Ai(ir::Ai { model, .. }))
                | ("$response", NodeConfig::AiAgent(ir::AiAgent { model, .. })) => {
                    match &model.output_schema {
                        Some(s) => Type::JsonText(Box::new(Type::from_json_schema(&s.to_json()))),
                        None => Type::String,
                    }
                }
                _ => Type::Any,
            }
        };
        let notation = match cfg {
            NodeConfig::IntegrationAction(a) => a.spec().map_or(&kind.output, |s| &s.output),
            _ => &kind.output,
        };
        let mut t = Type::from_notation(notation, &mut fill);
        let on_failure = match cfg {
            // An unsynchronised webhook is completed through the API with any output.
            NodeConfig::Webhook(w) if w.synchronized == Some(false) => return Type::Any,
            NodeConfig::Webhook(w) => w.on_failure,
            NodeConfig::Kafka(k) => k.on_failure,
            NodeConfig::UpsertEntity(u) => u.on_failure,
            NodeConfig::IntegrationAction(a) => a.on_failure,
            _ => None,
        };
        let on_timeout = node.on_timeout.as_ref();
        if let Type::Object(o) = &mut t {
            let o = std::sync::Arc::make_mut(o);
            if self.error_paths.contains(node.identifier.value.as_str()) {
                let err = Type::object(vec![
                    ("message".into(), Type::String),
                    ("kind".into(), Type::String),
                    ("attempts".into(), Type::Number),
                ]);
                o.fields.push(("error".into(), err.nullable()));
            } else if on_failure == Some(ir::OnFailure::Continue) {
                let err = Type::object(vec![("message".into(), Type::String)]);
                o.fields.push(("error".into(), err.nullable()));
            }
            if matches!(
                on_timeout,
                Some(ir::OnTimeout::Continue | ir::OnTimeout::Outlet(_))
            ) {
                o.fields.push(("timeout".into(), Type::Bool.nullable()));
            }
        }
        t
    }

    fn blueprint(&self, id: Option<&str>) -> Option<&'a Blueprint> {
        id.and_then(|id| self.catalog.get(id))
    }

    /// An entity of blueprint `id` as nodes see it; properties are `any` without the blueprint.
    fn entity_type(&self, id: Option<&str>) -> Type {
        let bp = self.blueprint(id);
        Type::from_notation(&wflow_stdlib::get().entity_output, &mut |p| match (p, bp) {
            ("$properties", Some(b)) => Type::object(
                b.properties
                    .iter()
                    .map(|p| {
                        let t = p.value_type();
                        (
                            p.identifier.clone(),
                            if p.required { t } else { t.nullable() },
                        )
                    })
                    .collect(),
            ),
            ("$relations", Some(b)) => Type::object(
                b.relations
                    .iter()
                    .map(|r| {
                        let t = if r.many {
                            Type::Array(Box::new(Type::String))
                        } else {
                            Type::String
                        };
                        (r.identifier.clone(), t.nullable())
                    })
                    .collect(),
            ),
            _ => Type::Object(std::sync::Arc::new(Object {
                fields: Vec::new(),
                open: true,
            })),
        })
    }

    // ---------------------------------------------------------------------------------
    // Expressions and values
    // ---------------------------------------------------------------------------------

    fn expr(&mut self, q: &JqQuery, site: Site) -> Type {
        let record = self
            .hover_at
            .is_some_and(|o| q.span.start <= o && o <= q.span.end);
        let mut r = Refs {
            ctx: self,
            node: site.node,
            q,
            diags: Vec::new(),
            origins: record.then(Vec::new),
        };
        let Some(inferred) = jq_types::infer(&q.code, site.input, site.root, &mut r, record) else {
            return Type::Any;
        };
        let Refs { diags, origins, .. } = r;
        self.out.extend(diags);
        for i in &inferred.issues {
            let span = q.source_span(i.range.clone());
            let d = if i.warning {
                Diagnostic::warning(i.code, span, i.message.clone())
            } else {
                Diagnostic::error(i.code, span, i.message.clone())
            };
            let d = match &i.fix {
                Some(text) => d.fix(span, text.clone()),
                None => d,
            };
            self.out.push(d.help_opt(i.help.clone()));
        }
        if let (Some(what), Some(r)) = (site.exposed, inferred.secrets.first()) {
            let span = q.source_span(r.clone());
            self.out.push(if what == STORED_AS_KEY {
                // A key cannot be redacted where it is stored: the runtime refuses it too.
                Diagnostic::error(
                    "secret-exposed",
                    span,
                    format!(
                        "a secret flows into {what}, which is stored and shown in clear as a key"
                    ),
                )
                .help("compute the identifier from values that are not secret")
            } else {
                Diagnostic::warning(
                    "secret-exposed",
                    span,
                    format!(
                        "a secret flows into {what}, which anyone who can see the run can read"
                    ),
                )
                .help("use secrets only in a webhook's url, headers and body or a Kafka payload")
            });
        }
        if let (Some(what), Some(r)) = (site.reveals, inferred.secret_inputs.first()) {
            self.out.push(
                Diagnostic::warning(
                    "secret-input-exposed",
                    q.source_span(r.clone()),
                    format!(
                        "a secret form input flows into {what}, which is logged or shown to \
                         anyone who can see the run"
                    ),
                )
                .help(
                    "use secret inputs only in a webhook's headers and body, a Kafka payload \
                     or an integration's inputs",
                ),
            );
        }
        if site.exposed == Some("`variables`")
            && let Some((_, r)) = inferred.roots.iter().find(|(k, _)| k == "response")
        {
            self.out.push(
                Diagnostic::warning(
                    jq_types::DEPRECATED,
                    q.source_span(r.clone()),
                    "`.response` is Port's beta name for the node's raw output",
                )
                .help("write `.result.response` (`.result` is the node's raw output)"),
            );
        }
        if let Some(at) = self.hover_at.filter(|_| record) {
            let best = inferred
                .steps
                .iter()
                .map(|(r, t)| (q.source_span(r.clone()), r, t))
                .filter(|(s, _, _)| s.start <= at && at <= s.end)
                .min_by_key(|(s, _, _)| s.len());
            if let Some((span, range, ty)) = best {
                let origin = origins
                    .iter()
                    .flatten()
                    .filter(|(r, _)| r.start <= range.start)
                    .max_by_key(|(r, _)| r.start)
                    .map(|(_, o)| o.clone());
                self.hover = Some(TypeHover {
                    span,
                    ty: ty.to_string(),
                    origin,
                });
            }
        }
        inferred.ty
    }

    fn boolean(&mut self, q: &JqQuery, t: &Type, what: &str) {
        if !t.may_be_bool() {
            let trimmed = q.code.trim_start();
            let start = q.code.len() - trimmed.len();
            let span = q.source_span(start..start + trimmed.trim_end().len());
            self.out.push(
                Diagnostic::error(
                    "not-boolean",
                    span,
                    format!("{what} must be true or false, but this is {}", t.noun()),
                )
                .help(
                    "compare it, e.g. `... == \"value\"`, or test for presence with `... != null`",
                ),
            );
        }
    }

    fn template(&mut self, t: &Template, site: Site) -> Type {
        if t.is_whole_value() {
            return t
                .exprs()
                .next()
                .map_or(Type::String, |q| self.expr(q, site));
        }
        for q in t.exprs() {
            let ty = self.expr(q, site);
            if !ty.is_any() && ty.is_structured() {
                let code = q.code.trim_start();
                let start = q.code.len() - code.len();
                self.out.push(
                    Diagnostic::error(
                        "interpolated-object",
                        q.source_span(start..start + code.trim_end().len()),
                        format!("this is {} (`{ty}`), written into text", ty.noun()),
                    )
                    .help("pick a field of it, or write `| tojson` to embed it as JSON text"),
                );
            }
        }
        Type::String
    }

    fn value(&mut self, v: &Value, site: Site) -> Type {
        match &v.kind {
            ValueKind::Null => Type::Null,
            ValueKind::Bool(_) => Type::Bool,
            ValueKind::Number(_) => Type::Number,
            ValueKind::String(t) => self.template(t, site),
            ValueKind::Jq(q) => self.expr(q, site),
            ValueKind::Array(items) => {
                let t = items
                    .iter()
                    .map(|i| self.value(i, site))
                    .reduce(Type::join)
                    .unwrap_or(Type::Any);
                Type::Array(Box::new(t))
            }
            ValueKind::Object(m) => Type::object(
                m.iter()
                    .map(|(k, v)| (k.value.clone(), self.value(v, site)))
                    .collect(),
            ),
        }
    }

    // ---------------------------------------------------------------------------------
    // Catalog checks
    // ---------------------------------------------------------------------------------

    fn unknown_blueprint(&mut self, id: &str, span: Span) -> Option<&'a Blueprint> {
        if let Some(b) = self.catalog.get(id) {
            return Some(b);
        }
        if self.catalog.has_user_blueprints() {
            let names = self
                .catalog
                .blueprints
                .iter()
                .map(|b| b.identifier.as_str());
            self.out.push(
                Diagnostic::error(
                    "unknown-blueprint",
                    span,
                    format!("there is no blueprint `{id}`"),
                )
                .help(did_you_mean(id, names.clone()).unwrap_or_else(|| {
                    format!("blueprints: {}", names.collect::<Vec<_>>().join(", "))
                })),
            );
        }
        None
    }

    fn form_blueprints(&mut self, form: &ir::Form) {
        fn walk<'f>(s: &'f ir::InputSchema, out: &mut Vec<&'f ir::Name>) {
            if let Some(b) = &s.blueprint {
                out.push(b);
            }
            if let Some(i) = &s.items {
                walk(i, out);
            }
            s.properties.iter().for_each(|p| walk(&p.schema, out));
        }
        let mut names = Vec::new();
        form.properties
            .iter()
            .for_each(|p| walk(&p.schema, &mut names));
        for n in names {
            self.unknown_blueprint(&n.value, n.span);
        }
    }

    fn event(&mut self, e: &ir::EventTrigger) {
        let bp = self.unknown_blueprint(&e.blueprint_identifier.value, e.blueprint_identifier.span);
        let (Some(bp), Some(p)) = (bp, &e.property_identifier) else {
            return;
        };
        match bp.property(&p.value) {
            None => self.unknown_property(bp, p),
            Some(prop)
                if e.event_type.value == "TIMER_EXPIRED"
                    && prop.format.as_deref() != Some("timer") =>
            {
                self.out.push(
                    Diagnostic::error(
                        "not-a-timer",
                        p.span,
                        format!("`{}` of `{}` is not a timer property", p.value, bp.identifier),
                    )
                    .help({
                        let timers: Vec<&str> = bp
                            .properties
                            .iter()
                            .filter(|p| p.format.as_deref() == Some("timer"))
                            .map(|p| p.identifier.as_str())
                            .collect();
                        if timers.is_empty() {
                            "TIMER_EXPIRED needs a property of format `timer`; the blueprint has none".to_string()
                        } else {
                            format!("its timer properties: {}", timers.join(", "))
                        }
                    }),
                );
            }
            Some(_) => {}
        }
    }

    fn unknown_property(&mut self, bp: &Blueprint, p: &ir::Name) {
        let names: Vec<&str> = bp
            .properties
            .iter()
            .map(|p| p.identifier.as_str())
            .collect();
        self.out.push(
            Diagnostic::error(
                "unknown-property",
                p.span,
                format!(
                    "blueprint `{}` has no property `{}`",
                    bp.identifier, p.value
                ),
            )
            .help(
                did_you_mean(&p.value, names.iter().copied()).unwrap_or_else(|| {
                    if names.is_empty() {
                        "it has no properties".into()
                    } else {
                        format!("its properties: {}", names.join(", "))
                    }
                }),
            ),
        );
    }

    fn upsert(&mut self, u: &ir::Upsert, site: Site) {
        let key = Site {
            exposed: Some(STORED_AS_KEY),
            reveals: Some(STORED_AS_KEY),
            ..site
        };
        self.template(&u.blueprint_identifier, key);
        let m = &u.mapping;
        if let Some(t) = &m.identifier {
            self.template(t, key);
        }
        for t in [&m.title, &m.icon].into_iter().flatten() {
            self.template(t, site);
        }
        if let Some(t) = &m.team {
            self.value(t, site);
        }
        let bp = if u.blueprint_identifier.exprs().next().is_none() {
            let b = &u.blueprint_identifier;
            let span = if b.span.len() >= b.text.len() + 2 {
                Span::new(b.span.start + 1, b.span.end - 1)
            } else {
                b.span
            };
            self.unknown_blueprint(&b.text, span)
        } else {
            None
        };
        for (k, v) in m.properties.iter().flatten() {
            let t = self.value(v, site);
            let Some(bp) = bp else { continue };
            let Some(prop) = bp.property(&k.value) else {
                self.unknown_property(bp, k);
                continue;
            };
            let want = prop.value_type();
            let fits = t.alternatives().iter().any(|a| compatible(a, &want));
            if !fits {
                self.out.push(
                    Diagnostic::error(
                        "property-type-mismatch",
                        v.span,
                        format!(
                            "property `{}` of `{}` is {}, but this is {}",
                            k.value,
                            bp.identifier,
                            want.noun(),
                            t.noun()
                        ),
                    )
                    .help(match want {
                        Type::String => {
                            "write `| tostring` inside the template, or quote it".to_string()
                        }
                        Type::Number => "write `| tonumber` inside the template".to_string(),
                        _ => format!("give {} value", want.noun()),
                    }),
                );
            } else if let (false, ValueKind::String(tpl)) = (prop.enum_values.is_empty(), &v.kind)
                && tpl.exprs().next().is_none()
                && !prop
                    .enum_values
                    .iter()
                    .any(|e| e.as_str() == Some(tpl.text.as_str()))
            {
                let allowed: Vec<String> = prop.enum_values.iter().map(|e| e.to_string()).collect();
                self.out.push(
                    Diagnostic::error(
                        "property-type-mismatch",
                        v.span,
                        format!(
                            "`{}` is not one of the values property `{}` allows",
                            tpl.text, k.value
                        ),
                    )
                    .help(format!("allowed: {}", allowed.join(", "))),
                );
            }
        }
        for (k, v) in m.relations.iter().flatten() {
            self.value(v, site);
            if let Some(bp) = bp
                && bp.relation(&k.value).is_none()
            {
                let names: Vec<&str> = bp.relations.iter().map(|r| r.identifier.as_str()).collect();
                self.out.push(
                    Diagnostic::error(
                        "unknown-relation",
                        k.span,
                        format!(
                            "blueprint `{}` has no relation `{}`",
                            bp.identifier, k.value
                        ),
                    )
                    .help(
                        did_you_mean(&k.value, names.iter().copied()).unwrap_or_else(|| {
                            if names.is_empty() {
                                "it has no relations".into()
                            } else {
                                format!("its relations: {}", names.join(", "))
                            }
                        }),
                    ),
                );
            }
        }
        // Without an identifier Port creates a new entity, which needs every required property.
        if let (Some(bp), None) = (bp, &m.identifier) {
            let given: Vec<&str> = m
                .properties
                .iter()
                .flatten()
                .map(|(k, _)| k.value.as_str())
                .collect();
            let missing: Vec<&str> = bp
                .properties
                .iter()
                .filter(|p| p.required && !given.contains(&p.identifier.as_str()))
                .map(|p| p.identifier.as_str())
                .collect();
            if !missing.is_empty() {
                let b = &u.blueprint_identifier;
                self.out.push(
                    Diagnostic::error(
                        "missing-required-property",
                        b.span,
                        format!(
                            "this creates a new `{}` without its required {}",
                            bp.identifier,
                            missing.iter().map(|m| format!("`{m}`")).collect::<Vec<_>>().join(", ")
                        ),
                    )
                    .help("map the required properties, or give an identifier to update an existing entity"),
                );
            }
        }
    }

    /// The properties an integration action wflow knows needs (errors) and takes (warnings).
    fn integration_properties(&mut self, node: &Node, a: &ir::Integration) {
        let Some(spec) = a.spec() else {
            return;
        };
        let props = a.integration_action_execution_properties.as_ref();
        let members: &[(ir::Name, Value)] = match props.map(|p| &p.kind) {
            Some(ValueKind::Object(m)) => m,
            None => &[],
            // Computed by an expression: what it holds is known only at run time.
            Some(_) => return,
        };
        let known = || spec.properties.iter().map(|p| p.name.as_str());
        for (k, _) in members {
            if !known().any(|n| n == k.value) {
                let mut d = Diagnostic::warning(
                    "unknown-field",
                    k.span,
                    format!(
                        "{} `{}` takes no property `{}`; wflow does not send it",
                        spec.title, spec.invocation, k.value
                    ),
                );
                d = match did_you_mean(&k.value, known()) {
                    Some(hint) => d.help(hint),
                    None => d.help(format!(
                        "its properties: {}",
                        known().collect::<Vec<_>>().join(", ")
                    )),
                };
                self.out.push(d);
            }
        }
        let missing: Vec<&str> = spec
            .properties
            .iter()
            .filter(|p| p.required && !members.iter().any(|(k, _)| k.value == p.name))
            .map(|p| p.name.as_str())
            .collect();
        if !missing.is_empty() {
            let list = missing.iter().map(|m| format!("`{m}`")).collect::<Vec<_>>();
            self.out.push(
                Diagnostic::error(
                    "missing-field",
                    props.map_or(node.identifier.span, |p| p.span),
                    format!(
                        "{} `{}` needs the {} {}",
                        spec.title,
                        spec.invocation,
                        if list.len() == 1 {
                            "property"
                        } else {
                            "properties"
                        },
                        list.join(", ")
                    ),
                )
                .help(format!(
                    "add {} to `properties {{ ... }}` (integrationActionExecutionProperties)",
                    missing
                        .iter()
                        .map(|m| format!("`{m}: ...`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
            );
        }
    }

    /// An integration's properties; GitHub workflow inputs must be strings (Port requires it).
    fn integration(&mut self, a: &ir::Integration, props: &Value, site: Site) {
        let github = a
            .integration_provider
            .as_ref()
            .is_some_and(|p| p.value.to_ascii_lowercase().starts_with("github"));
        let ValueKind::Object(members) = &props.kind else {
            self.value(props, site);
            return;
        };
        for (k, v) in members {
            let inputs = match &v.kind {
                ValueKind::Object(m)
                    if github && matches!(k.value.as_str(), "workflowInputs" | "inputs") =>
                {
                    m
                }
                _ => {
                    self.value(v, site);
                    continue;
                }
            };
            for (name, iv) in inputs {
                let t = self.value(iv, site);
                if !t.is_any() && !t.may_be_string() {
                    let literal = !matches!(iv.kind, ValueKind::String(_) | ValueKind::Jq(_));
                    self.out.push(
                        Diagnostic::error(
                            "github-input-not-string",
                            iv.span,
                            format!(
                                "GitHub workflow input `{}` is {}, but GitHub takes only strings",
                                name.value,
                                t.noun()
                            ),
                        )
                        .help(if literal {
                            "quote the value".to_string()
                        } else {
                            "end the expression with `| tostring`".to_string()
                        }),
                    );
                }
            }
        }
    }
}

/// Whether a value of type `a` may be stored in a property of type `want`.
fn compatible(a: &Type, want: &Type) -> bool {
    matches!(
        (a, want),
        (Type::Any, _)
            | (_, Type::Any)
            | (Type::Null, _)
            | (Type::String | Type::JsonText(_), Type::String)
            | (Type::Number, Type::Number)
            | (Type::Bool, Type::Bool)
            | (Type::Array(_), Type::Array(_))
            | (Type::Object(_), Type::Object(_))
    )
}

/// The type of a form's submitted values.
fn form_type(form: &ir::Form) -> Type {
    let required = |k: &str| match &form.required {
        ir::Required::Keys(keys) => keys.iter().any(|n| n.value == k),
        ir::Required::Jq(_) => false,
    };
    Type::object(
        form.properties
            .iter()
            .map(|p| {
                let t = input_type(&p.schema);
                (
                    p.key.value.clone(),
                    if required(&p.key.value) {
                        t
                    } else {
                        t.nullable()
                    },
                )
            })
            .collect(),
    )
}

/// The type of one input's value; an entity input's value is the entity's identifier.
fn input_type(s: &ir::InputSchema) -> Type {
    match s.ty.as_ref().map(|t| t.value.as_str()) {
        Some("string") => Type::String,
        Some("number") => Type::Number,
        Some("boolean") => Type::Bool,
        Some("array") => Type::Array(Box::new(s.items.as_deref().map_or(Type::Any, input_type))),
        Some("object") if s.format.as_ref().is_some_and(|f| f.value == "labeled-url") => {
            Type::object(vec![
                ("url".into(), Type::String),
                ("displayText".into(), Type::String.nullable()),
            ])
        }
        Some("object") if !s.properties.is_empty() => Type::object(
            s.properties
                .iter()
                .map(|p| {
                    let t = input_type(&p.schema);
                    let req = s.required.iter().any(|r| r.value == p.key.value);
                    (p.key.value.clone(), if req { t } else { t.nullable() })
                })
                .collect(),
        ),
        Some("object") => Type::Object(std::sync::Arc::new(Object {
            fields: Vec::new(),
            open: true,
        })),
        _ => Type::Any,
    }
}

/// Resolves `.outputs.X` inside one node's expression against the graph.
struct Refs<'c, 'a> {
    ctx: &'c Ctx<'a>,
    node: usize,
    q: &'c JqQuery,
    diags: Vec<Diagnostic>,
    /// Where each reference's output comes from, if a hover asks (`None` otherwise).
    origins: Option<Vec<(Range<usize>, String)>>,
}

impl Refs<'_, '_> {
    fn output_of(&self, i: usize) -> Type {
        self.ctx
            .outputs
            .get(i)
            .and_then(Clone::clone)
            .unwrap_or(Type::Any)
    }

    fn kind_of(&self, i: usize) -> &'static str {
        self.ctx
            .wf
            .nodes
            .get(i)
            .map_or("node", |n| n.config.type_name())
    }
}

impl Resolve for Refs<'_, '_> {
    fn is_node(&self, name: &str) -> bool {
        self.ctx.flow.id(name).is_some()
    }

    fn is_secret_input(&self, node: &str, key: &str) -> bool {
        // `.outputs.trigger` is whichever trigger started the run.
        self.ctx.wf.nodes.iter().any(|n| match &n.config {
            NodeConfig::SelfServeTrigger(t) if node == "trigger" || n.identifier.value == node => t
                .user_inputs
                .input(key)
                .is_some_and(|i| i.schema.is_secret()),
            _ => false,
        })
    }

    fn output(&mut self, name: &str, range: Range<usize>, guarded: bool) -> Type {
        let c = self.ctx;
        let flow = &c.flow;
        let span = self.q.source_span(range.clone());
        let me = flow.name(self.node);
        let target = flow.id(name);
        let alias = name == "trigger"
            && target.is_none_or(|t| c.wf.nodes.get(t).is_none_or(|n| n.config.is_trigger()));
        if alias {
            let t = c
                .triggers
                .iter()
                .map(|&t| self.output_of(t))
                .reduce(Type::join)
                .unwrap_or(Type::Any);
            if let Some(origins) = &mut self.origins {
                let names: Vec<String> = c
                    .triggers
                    .iter()
                    .map(|&t| format!("`{}`", flow.name(t)))
                    .collect();
                let origin = format!("the trigger that fired ({})", names.join(" or "));
                origins.push((range, origin));
            }
            return t;
        }
        let Some(x) = target else {
            if c.refs {
                let names: Vec<&str> =
                    c.wf.nodes
                        .iter()
                        .map(|n| n.identifier.value.as_str())
                        .collect();
                self.diags.push(
                    Diagnostic::error(
                        "unknown-reference",
                        span,
                        format!("there is no node `{name}`"),
                    )
                    .help(
                        did_you_mean(name, names.iter().copied())
                            .unwrap_or_else(|| format!("nodes: {}", names.join(", "))),
                    ),
                );
            }
            return Type::Any;
        };
        if self.origins.is_some() {
            let origin = format!("the output of `{name}` ({})", self.kind_of(x));
            if let Some(origins) = &mut self.origins {
                origins.push((range.clone(), origin));
            }
        }
        if !c.refs {
            return self.output_of(x);
        }
        if x == self.node {
            self.diags.push(
                Diagnostic::error(
                    "reference-downstream",
                    span,
                    format!("`{me}` reads its own output, which is stored only after it runs"),
                )
                .help("in `variables` and links, the node's own output is `.result`"),
            );
            return Type::Any;
        }
        // A node that dominates this one has surely run: no search needed (the common case).
        let dominated = c.doms.as_ref().is_some_and(|d| d.dominates(x, self.node))
            || c.must
                .as_ref()
                .and_then(|m| m.get(self.node))
                .is_some_and(|m| m.contains(x));
        if !dominated && !flow.reaches(x, self.node) {
            let downstream = flow.upstream(x).contains(&self.node);
            let d = if downstream {
                Diagnostic::error(
                    "reference-downstream",
                    span,
                    format!("`{name}` runs after `{me}`, so its output does not exist yet"),
                )
                .help(format!(
                    "read `{name}`'s output in a node that comes after it"
                ))
            } else {
                Diagnostic::error(
                    "reference-not-upstream",
                    span,
                    format!(
                        "`{name}` is not on any path to `{me}`, so its output never exists here"
                    ),
                )
                .help(format!(
                    "connect `{name}` before `{me}`, or read something that runs before it"
                ))
            };
            self.diags.push(d);
            return Type::Any;
        }
        let avoiding = || match flow.path_avoiding(self.node, x) {
            Some(path) => {
                let shown: Vec<&str> = path.iter().map(|&i| flow.name(i)).collect();
                Some(format!("not run on the path {}", shown.join(" -> ")))
            }
            // Every path passes through it, but a join may go on without its branch.
            None => c
                .must
                .is_some()
                .then(|| "a join before it may go on without this branch".to_string()),
        };
        if !guarded
            && !dominated
            && let Some(label) = avoiding()
        {
            self.diags.push(
                Diagnostic::error(
                    "reference-maybe-absent",
                    span,
                    format!("`{name}` may not have run when `{me}` runs"),
                )
                .label(label)
                .help(format!(
                    "handle its absence, e.g. `.outputs.{}.field // \"default\"`, or move the reference to a node only `{name}` leads to",
                    if name.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '_') {
                        name.to_string()
                    } else {
                        format!("[\"{name}\"]")
                    }
                )),
            );
        }
        self.output_of(x)
    }
}
