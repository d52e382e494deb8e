//! Lowers a Port-shaped value tree (read from Port JSON, or desugared from `.wflow`) to the IR.
//!
//! This is where the shape of every field is checked: missing and unknown fields, wrong types,
//! values outside their set. Both front ends go through it, so they agree by construction.

use wflow_grammar::Span;
use wflow_grammar::ast::{Key, Value, ValueKind};

use crate::diag::{Diagnostic, Severity};
use crate::ir::{self, Name, Template};
use crate::retry::Policy;
use crate::suggest::did_you_mean;
use crate::wflow::snake;

/// Which syntax the tree came from: decides field spellings in messages and whether an unknown
/// field is an error (`.wflow`) or a warning (Port JSON, which may have fields we do not know).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Syntax {
    Wflow,
    Json,
}

pub(crate) struct Lower<'a> {
    pub src: &'a str,
    pub syntax: Syntax,
    pub diags: &'a mut Vec<Diagnostic>,
    /// The spans of the file's syntax errors, sorted by start.
    pub syntax_errors: &'a [Span],
    /// The file's name without its extension, when known: the identifier of a whole workflow
    /// that has neither an identifier nor a title.
    pub file_stem: Option<&'a str>,
}

/// An object being read field by field; what is never taken is reported as unknown.
pub(crate) struct Fields<'v> {
    members: &'v [(Key, Value)],
    used: Vec<bool>,
}

impl<'v> Fields<'v> {
    pub(crate) fn take(&mut self, name: &str) -> Option<&'v Value> {
        self.take_entry(name).map(|(_, v)| v)
    }

    /// The field `name` with its key.
    pub(crate) fn take_entry(&mut self, name: &str) -> Option<(&'v Key, &'v Value)> {
        let i = self.members.iter().position(|(k, _)| k.name == name)?;
        if let Some(u) = self.used.get_mut(i) {
            *u = true;
        }
        self.members.get(i).map(|(k, v)| (k, v))
    }

    fn take_any(&mut self, names: &[&str]) -> Option<&'v Value> {
        names.iter().find_map(|n| self.take(n))
    }
}

/// "a" or "an", by the first letter of `word`.
fn article(word: &str) -> &'static str {
    if word.starts_with(['a', 'e', 'i', 'o', 'u', 'A', 'E', 'I', 'O', 'U']) {
        "an"
    } else {
        "a"
    }
}

/// The identifier of a node that could not be lowered, and whether it may be a trigger (its
/// kind is a trigger kind, or unknown).
fn unlowered(node: &Value) -> Option<(Name, bool)> {
    let ValueKind::Str(id) = &node.get("identifier")?.kind else {
        return None;
    };
    let kind = match node
        .get("config")
        .and_then(|c| c.get("type"))
        .map(|t| &t.kind)
    {
        Some(ValueKind::Str(t)) => wflow_stdlib::get().kind(&t.value),
        _ => None,
    };
    let maybe_trigger = kind.is_none_or(|k| k.category == "trigger");
    Some((Name::new(id.value.clone(), id.span), maybe_trigger))
}

impl Lower<'_> {
    fn push(&mut self, d: Diagnostic) {
        self.diags.push(d);
    }

    /// The field's name as the user wrote it.
    pub(crate) fn display(&self, k: &Key) -> String {
        match self.syntax {
            Syntax::Json => k.name.clone(),
            Syntax::Wflow => self
                .src
                .get(k.span.range())
                .map_or_else(|| snake(&k.name), str::to_string),
        }
    }

    /// A Port field name in the current syntax.
    pub(crate) fn spell(&self, port: &str) -> String {
        match self.syntax {
            Syntax::Json => port.to_string(),
            Syntax::Wflow => wflow_stdlib::get()
                .kinds
                .iter()
                .flat_map(|k| &k.fields)
                .find(|f| f.port == port)
                .map_or_else(|| snake(port), |f| f.wflow.clone()),
        }
    }

    pub(crate) fn fields<'v>(&mut self, v: &'v Value, what: &str) -> Option<Fields<'v>> {
        match &v.kind {
            ValueKind::Object(members) => Some(Fields {
                members,
                used: vec![false; members.len()],
            }),
            _ => {
                self.wrong_type(v, "an object", what);
                None
            }
        }
    }

    /// Reports the fields nobody took. `known` are Port names; `wflow_names` their `.wflow`
    /// spellings where they differ from `snake(port)`.
    pub(crate) fn finish(&mut self, f: Fields, what: &str, known: &[&str], wflow_names: &[&str]) {
        if f.used.iter().all(|used| *used) {
            return;
        }
        let severity = match self.syntax {
            Syntax::Json => Severity::Warning,
            Syntax::Wflow => Severity::Error,
        };
        let candidates: Vec<String> = match self.syntax {
            Syntax::Json => known.iter().map(|s| s.to_string()).collect(),
            Syntax::Wflow if !wflow_names.is_empty() => {
                wflow_names.iter().map(|s| s.to_string()).collect()
            }
            Syntax::Wflow => known.iter().map(|s| snake(s)).collect(),
        };
        let mut seen = std::collections::HashSet::new();
        for ((k, _), used) in f.members.iter().zip(&f.used) {
            // A key given twice is reported by the reader, not again as unknown here.
            let repeated = !seen.insert(k.name.as_str());
            if *used || repeated {
                continue;
            }
            let name = self.display(k);
            let message = format!("unknown field `{name}` in {what}");
            let mut d = match severity {
                Severity::Error => Diagnostic::error("unknown-field", k.span, message),
                Severity::Warning => Diagnostic::warning("unknown-field", k.span, message),
            };
            d = d.closest_fix(k.span, &name, candidates.iter().map(String::as_str));
            d = match did_you_mean(&name, candidates.iter().map(String::as_str)) {
                Some(s) => d.help(s),
                None if candidates.is_empty() => d,
                None => d.help(format!("known fields: {}", candidates.join(", "))),
            };
            self.push(d);
        }
    }

    /// A node kind as the user spells it: `CURSOR_AGENT` in JSON, `cursor_agent` in `.wflow`.
    fn kind_name<'k>(&self, type_name: &'k str, keyword: &'k str) -> &'k str {
        match self.syntax {
            Syntax::Json => type_name,
            Syntax::Wflow => keyword,
        }
    }

    pub(crate) fn wrong_type(&mut self, v: &Value, expected: &str, what: &str) {
        let d = Diagnostic::error(
            "wrong-type",
            v.span,
            format!("{what} must be {expected}, found {}", v.describe()),
        )
        .label(format!("expected {expected}"));
        let d = match (&v.kind, expected) {
            (ValueKind::Ident(i), _) => d.help(format!("quote it: \"{}\"", i.name)),
            (ValueKind::Str(s), "a boolean") if s.value == "true" || s.value == "false" => {
                d.help(format!("write {} without quotes", s.value))
            }
            (ValueKind::Str(_), "a jq expression") if self.syntax == Syntax::Wflow => {
                d.help("write jq in backticks: `.outputs.trigger.x == \"y\"`")
            }
            _ => d,
        };
        self.push(d);
    }

    fn missing(&mut self, span: Span, field: &str, what: &str, example: &str) {
        let name = self.spell(field);
        let d = Diagnostic::error("missing-field", span, format!("{what} needs `{name}`"));
        self.push(if example.is_empty() {
            d
        } else {
            d.help(example.to_string())
        });
    }

    pub(crate) fn name(&mut self, v: &Value, what: &str) -> Option<Name> {
        match &v.kind {
            ValueKind::Str(s) => Some(Name::new(s.value.clone(), s.span)),
            _ => {
                self.wrong_type(v, "a string", what);
                None
            }
        }
    }

    fn opt_name(&mut self, v: Option<&Value>, what: &str) -> Option<Name> {
        v.and_then(|v| self.name(v, what))
    }

    fn names(&mut self, v: &Value, what: &str) -> Option<Vec<Name>> {
        match &v.kind {
            ValueKind::Array(items) => {
                Some(items.iter().filter_map(|i| self.name(i, what)).collect())
            }
            _ => {
                self.wrong_type(v, "a list of strings", what);
                None
            }
        }
    }

    fn template(&mut self, v: &Value, what: &str) -> Option<Template> {
        match &v.kind {
            ValueKind::Str(s) => Some(Template::parse(&s.value, &s.map, s.span)),
            _ => {
                self.wrong_type(v, "a string", what);
                None
            }
        }
    }

    fn opt_template(&mut self, v: Option<&Value>, what: &str) -> Option<Template> {
        v.and_then(|v| self.template(v, what))
    }

    pub(crate) fn bool(&mut self, v: Option<&Value>, what: &str) -> Option<bool> {
        match v.map(|v| (&v.kind, v)) {
            Some((ValueKind::Bool(b), _)) => Some(*b),
            Some((_, v)) => {
                self.wrong_type(v, "a boolean", what);
                None
            }
            None => None,
        }
    }

    /// A bare jq expression: backticks in `.wflow`, a string in Port JSON.
    pub(crate) fn jq(&mut self, v: &Value, what: &str) -> Option<ir::JqQuery> {
        match &v.kind {
            ValueKind::Jq { code, code_start } => Some(ir::JqQuery {
                code: code.clone(),
                map: wflow_grammar::OffsetMap::identity(*code_start),
                span: v.span,
            }),
            ValueKind::Str(s) if self.syntax == Syntax::Json => Some(ir::JqQuery {
                code: s.value.clone(),
                map: s.map.clone(),
                span: s.span,
            }),
            ValueKind::Str(s) => {
                // Reported, then read as jq anyway so that what depends on it (an outlet, a
                // filter) still exists and the expression is still checked.
                self.wrong_type(v, "a jq expression", what);
                Some(ir::JqQuery {
                    code: s.value.clone(),
                    map: s.map.clone(),
                    span: s.span,
                })
            }
            _ => {
                self.wrong_type(v, "a jq expression", what);
                None
            }
        }
    }

    /// A `{"jqQuery": "..."}` (or backticks) or nothing.
    fn jq_query(&mut self, v: &Value) -> Option<ir::JqQuery> {
        match &v.kind {
            ValueKind::Jq { .. } => self.jq(v, "a jqQuery"),
            ValueKind::Object(m)
                if m.len() == 1 && m.first().is_some_and(|(k, _)| k.name == "jqQuery") =>
            {
                let inner = m.first().map(|(_, v)| v)?;
                match &inner.kind {
                    ValueKind::Str(s) => Some(ir::JqQuery {
                        code: s.value.clone(),
                        map: s.map.clone(),
                        span: s.span,
                    }),
                    _ => {
                        self.wrong_type(inner, "a jq expression in a string", "`jqQuery`");
                        None
                    }
                }
            }
            _ => None,
        }
    }

    /// Any JSON value; `jq_objects` turns `{"jqQuery": ...}` into jq (input schemas).
    fn value(&mut self, v: &Value, jq_objects: bool) -> ir::Value {
        let kind = match &v.kind {
            ValueKind::Null => ir::ValueKind::Null,
            ValueKind::Bool(b) => ir::ValueKind::Bool(*b),
            ValueKind::Number(n) => match n.parse::<serde_json::Number>() {
                Ok(n) => ir::ValueKind::Number(n),
                Err(_) => {
                    self.push(Diagnostic::error(
                        "wrong-type",
                        v.span,
                        format!("`{n}` is not a number JSON can hold"),
                    ));
                    ir::ValueKind::Null
                }
            },
            ValueKind::Str(s) => ir::ValueKind::String(Template::parse(&s.value, &s.map, s.span)),
            ValueKind::Jq { .. } => match self.jq(v, "a value") {
                Some(q) => ir::ValueKind::Jq(q),
                None => ir::ValueKind::Null,
            },
            ValueKind::Ident(i) => {
                self.push(
                    Diagnostic::error(
                        "wrong-type",
                        i.span,
                        format!("bare word `{}` in an object", i.name),
                    )
                    .help(format!("quote strings inside `{{ }}`: \"{}\"", i.name)),
                );
                ir::ValueKind::String(Template::parse(
                    &i.name,
                    &wflow_grammar::OffsetMap::identity(i.span.start),
                    i.span,
                ))
            }
            ValueKind::Array(items) => {
                ir::ValueKind::Array(items.iter().map(|i| self.value(i, jq_objects)).collect())
            }
            ValueKind::Object(members) => {
                if jq_objects && let Some(q) = self.jq_query(v) {
                    return ir::Value {
                        kind: ir::ValueKind::Jq(q),
                        span: v.span,
                    };
                }
                ir::ValueKind::Object(
                    members
                        .iter()
                        .map(|(k, v)| {
                            (Name::new(k.name.clone(), k.span), self.value(v, jq_objects))
                        })
                        .collect(),
                )
            }
        };
        ir::Value { kind, span: v.span }
    }

    fn object_members(&mut self, v: &Value, what: &str) -> Option<Vec<(Name, ir::Value)>> {
        match &v.kind {
            ValueKind::Object(members) => Some(
                members
                    .iter()
                    .map(|(k, v)| (Name::new(k.name.clone(), k.span), self.value(v, false)))
                    .collect(),
            ),
            _ => {
                self.wrong_type(v, "an object", what);
                None
            }
        }
    }

    pub(crate) fn one_of(
        &mut self,
        v: Option<&Value>,
        allowed: &[&str],
        what: &str,
    ) -> Option<Name> {
        let n = self.opt_name(v, what)?;
        if !allowed.contains(&n.value.as_str()) {
            let help = did_you_mean(&n.value, allowed.iter().copied())
                .unwrap_or_else(|| format!("use one of: {}", allowed.join(", ")));
            self.push(
                Diagnostic::error(
                    "invalid-value",
                    n.span,
                    format!("{what} cannot be `{}`", n.value),
                )
                .label("not allowed here")
                .help(help)
                .closest_fix(n.span, &n.value, allowed.iter().copied()),
            );
            return None;
        }
        Some(n)
    }

    fn on_failure(&mut self, v: Option<&Value>) -> Option<ir::OnFailure> {
        let what = format!("`{}`", self.spell("onFailure"));
        match self
            .one_of(v, &["terminate", "continue"], &what)?
            .value
            .as_str()
        {
            "continue" => Some(ir::OnFailure::Continue),
            _ => Some(ir::OnFailure::Terminate),
        }
    }

    // Documents ------------------------------------------------------------------------------

    /// Lowers a Port JSON document: a workflow, an array of them, the API's `{ok, workflow}`
    /// envelope, or a fragment (one node, or a list of connections).
    pub fn document(&mut self, doc: &Value) -> Vec<ir::Workflow> {
        match &doc.kind {
            ValueKind::Array(items) => {
                // Several workflows cannot all be named after the one file.
                self.file_stem = None;
                items.iter().filter_map(|w| self.workflow(w)).collect()
            }
            ValueKind::Object(_) if doc.get("workflow").is_some() && doc.get("nodes").is_none() => {
                doc.get("workflow")
                    .and_then(|w| self.workflow(w))
                    .into_iter()
                    .collect()
            }
            ValueKind::Object(_) if doc.get("nodes").is_some() => {
                self.workflow(doc).into_iter().collect()
            }
            ValueKind::Object(_) if doc.get("config").is_some() => {
                self.fragment_note(doc.span, "a single node");
                let node = self.node(doc, true);
                vec![ir::Workflow {
                    fragment: true,
                    nodes: node.into_iter().collect(),
                    span: doc.span,
                    ..Default::default()
                }]
            }
            ValueKind::Object(_) if doc.get("connections").is_some() => {
                self.fragment_note(doc.span, "a list of connections");
                let mut f = self
                    .fields(doc, "a connections fragment")
                    .into_iter()
                    .next();
                let connections = match f.as_mut().and_then(|f| f.take("connections")) {
                    Some(c) => self.connections(c),
                    None => Vec::new(),
                };
                if let Some(f) = f {
                    self.finish(f, "a connections fragment", &["connections"], &[]);
                }
                vec![ir::Workflow {
                    fragment: true,
                    connections,
                    span: doc.span,
                    ..Default::default()
                }]
            }
            _ => {
                self.push(
                    Diagnostic::error(
                        "missing-field",
                        Span::new(doc.span.start, doc.span.start + 1),
                        "this JSON is not a Port workflow",
                    )
                    .help("a workflow is an object with `identifier`, `nodes` and `connections`"),
                );
                Vec::new()
            }
        }
    }

    fn fragment_note(&mut self, span: Span, what: &str) {
        let start = Span::new(span.start, span.start + 1);
        self.push(
            Diagnostic::warning("fragment", start, format!("this file is {what}, not a whole workflow"))
                .help("it is checked on its own; whole-workflow rules (triggers, connections) are not applied"),
        );
    }

    /// Lowers one workflow object.
    pub fn workflow(&mut self, v: &Value) -> Option<ir::Workflow> {
        let mut f = self.fields(v, "a workflow")?;
        let identifier = self.opt_name(f.take("identifier"), "`identifier`");
        // A `.wflow` `fragment { }` block arrives marked; its nodes may lack identifiers.
        let marked = self.syntax == Syntax::Wflow && f.take("fragment").is_some();
        // Port's docs print whole workflows without an identifier: nodes with a trigger among
        // them, and connections; it is named after its title, as Port's editor does, or else
        // after its file. Anything less is an excerpt, a fragment.
        let stem = self
            .file_stem
            .map(identifier_of_file)
            .filter(|s| !s.is_empty());
        let whole = !marked
            && (v.get("title").is_some() || stem.is_some())
            && v.get("connections").is_some()
            && has_trigger(v.get("nodes"));
        let fragment = identifier.is_none() && (self.syntax == Syntax::Json || marked) && !whole;
        if fragment {
            let what = if marked {
                "a `fragment`"
            } else {
                "a workflow without an identifier (an excerpt; to check and run it whole, give it \
                 an `identifier`, or a trigger and `connections`)"
            };
            self.fragment_note(v.span, what);
        }
        let title = self.opt_name(f.take("title"), "`title`");
        // As Port's editor does, a whole workflow without an identifier is named after its
        // title (else after its file).
        let identifier = identifier.or_else(|| {
            if !whole || fragment {
                return None;
            }
            let id = title
                .as_ref()
                .map(|t| identifier_from(&t.value))
                .filter(|id| !id.is_empty())
                .or(stem)?;
            Some(Name::new(&id, Span::new(v.span.start, v.span.start + 1)))
        });
        let mut wf = ir::Workflow {
            identifier: identifier.unwrap_or_default(),
            title,
            icon: self.opt_name(f.take("icon"), "`icon`"),
            description: self.opt_name(f.take("description"), "`description`"),
            category: self.opt_name(f.take("category"), "`category`"),
            allow_anyone_to_view_runs: self
                .bool(f.take("allowAnyoneToViewRuns"), "`allowAnyoneToViewRuns`"),
            fragment,
            span: v.span,
            ..Default::default()
        };
        let _read_only_id = f.take("id");
        self.workflow_policy(&mut f, &mut wf);
        wf.concurrency = self.concurrency(&mut f);
        match f.take("nodes") {
            Some(Value {
                kind: ValueKind::Array(nodes),
                ..
            }) => {
                for n in nodes {
                    match self.node(n, marked) {
                        Some(node) => wf.nodes.push(node),
                        None => wf.unlowered.extend(unlowered(n)),
                    }
                }
            }
            Some(other) => {
                self.wrong_type(other, "a list of nodes", "`nodes`");
                // Whatever nodes were meant are unknown: do not also report a missing trigger.
                wf.unlowered.push((Name::default(), true));
            }
            None => self.missing(v.span, "nodes", "a workflow", ""),
        }
        if let Some(c) = f.take("connections") {
            wf.connections = self.connections(c);
            let given = match &c.kind {
                ValueKind::Array(items) => items.len(),
                _ => 1,
            };
            if wf.connections.len() < given {
                // A connection was lost (reported): the graph is incomplete.
                wf.unlowered.push((Name::default(), false));
            }
        }
        let known = [
            "identifier",
            "title",
            "icon",
            "description",
            "category",
            "allowAnyoneToViewRuns",
            "nodes",
            "connections",
            "id",
            "timeout",
            "defaults",
            "concurrency",
        ];
        self.finish(
            f,
            "a workflow",
            &known,
            &[
                "title",
                "icon",
                "description",
                "category",
                "allow_anyone_to_view_runs",
                "timeout",
                "defaults",
                "concurrency",
            ],
        );
        Some(wf)
    }

    fn connections(&mut self, v: &Value) -> Vec<ir::Connection> {
        let ValueKind::Array(items) = &v.kind else {
            self.wrong_type(v, "a list of connections", "`connections`");
            return Vec::new();
        };
        let mut out = Vec::new();
        for c in items {
            let Some(mut f) = self.fields(c, "a connection") else {
                continue;
            };
            let source = self.opt_name(f.take("sourceIdentifier"), "`sourceIdentifier`");
            let target = self.opt_name(f.take("targetIdentifier"), "`targetIdentifier`");
            let outlet = self.opt_name(
                f.take_any(&["sourceOutletIdentifier", "sourceOptionIdentifier"]),
                "the outlet",
            );
            let fallback = self.bool(f.take("fallback"), "`fallback`").unwrap_or(false);
            let description = self.opt_name(f.take("description"), "`description`");
            let known = [
                "sourceIdentifier",
                "targetIdentifier",
                "sourceOutletIdentifier",
                "sourceOptionIdentifier",
                "fallback",
                "description",
            ];
            self.finish(f, "a connection", &known, &[]);
            match (source, target) {
                (Some(source), Some(target)) => out.push(ir::Connection {
                    source,
                    target,
                    outlet,
                    fallback,
                    description,
                    span: c.span,
                }),
                (s, _) => {
                    let field = if s.is_none() {
                        "sourceIdentifier"
                    } else {
                        "targetIdentifier"
                    };
                    self.missing(c.span, field, "a connection", "");
                }
            }
        }
        out
    }

    /// A node; a node fragment copied out of docs may lack its identifier.
    fn node(&mut self, v: &Value, fragment: bool) -> Option<ir::Node> {
        let mut f = self.fields(v, "a node")?;
        let identifier = self.opt_name(f.take("identifier"), "`identifier`");
        let identifier = match identifier {
            None if fragment => Some(Name::new("fragment", Span::new(v.span.start, v.span.start))),
            other => other,
        };
        let title = self.opt_name(f.take("title"), "`title`");
        let icon = self.opt_name(f.take("icon"), "`icon`");
        let description = self.opt_name(f.take("description"), "`description`");
        let variables = match f.take("variables") {
            Some(vars) => self.object_members(vars, "`variables`"),
            None => None,
        };
        let links = match f.take("links") {
            Some(Value {
                kind: ValueKind::Array(items),
                ..
            }) => items
                .iter()
                .filter_map(|l| self.template(l, "a link"))
                .collect(),
            Some(other) => {
                self.wrong_type(other, "a list of URL templates", "`links`");
                Vec::new()
            }
            None => Vec::new(),
        };
        let verbose = self.bool(f.take("verbose"), "`verbose`");
        let mut policy = Policy::default();
        let config = match f.take("config") {
            Some(c) => self.config(c).map(|(c, p)| {
                policy = p;
                c
            }),
            None => {
                let span = identifier.as_ref().map_or(v.span, |i| i.span);
                let help = if v.get("type").is_some() {
                    "the node's `type` and settings go inside `config`: \"config\": {\"type\": ...}"
                } else {
                    "e.g. \"config\": {\"type\": \"WEBHOOK\", \"url\": \"https://...\"}"
                };
                self.missing(span, "config", "a node", help);
                None
            }
        };
        let lib = wflow_stdlib::get();
        let known: Vec<&str> = lib.node_fields.iter().map(|f| f.port.as_str()).collect();
        self.finish(
            f,
            "a node",
            &known,
            &[
                "title",
                "icon",
                "description",
                "variables",
                "links",
                "verbose",
            ],
        );
        let Some(identifier) = identifier else {
            self.missing(v.span, "identifier", "a node", "");
            return None;
        };
        Some(ir::Node {
            identifier,
            title,
            icon,
            description,
            config: config?,
            variables,
            links,
            verbose,
            retry: policy.retry,
            timeout: policy.timeout,
            on_timeout: policy.on_timeout,
            span: v.span,
        })
    }

    fn config(&mut self, v: &Value) -> Option<(ir::NodeConfig, Policy)> {
        let lib = wflow_stdlib::get();
        let mut f = self.fields(v, "a node's config")?;
        let ty = f.take("type");
        let Some(ty) = self.opt_name(ty, "`config.type`") else {
            self.missing(
                v.span,
                "type",
                "a node's config",
                "e.g. \"type\": \"WEBHOOK\"",
            );
            return None;
        };
        let Some(kind) = lib.kind(&ty.value) else {
            if self.syntax == Syntax::Wflow {
                let keywords = lib
                    .kinds
                    .iter()
                    .map(|k| k.keyword.as_str())
                    .chain(["github"]);
                let help = did_you_mean(&ty.value, keywords.clone()).unwrap_or_else(|| {
                    format!("node kinds: {}", keywords.collect::<Vec<_>>().join(", "))
                });
                self.push(
                    Diagnostic::error(
                        "unknown-node-kind",
                        ty.span,
                        format!("unknown node kind `{}`", ty.value),
                    )
                    .help(help),
                );
                return None;
            }
            let help = did_you_mean(&ty.value, lib.kinds.iter().map(|k| k.type_name.as_str()))
                .unwrap_or_else(|| {
                    format!(
                        "node types: {}",
                        lib.kinds
                            .iter()
                            .map(|k| k.type_name.as_str())
                            .filter(|t| *t != "JOIN")
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                });
            self.push(
                Diagnostic::error(
                    "unknown-node-kind",
                    ty.span,
                    format!("unknown node type `{}`", ty.value),
                )
                .help(help),
            );
            return None;
        };
        if kind.type_name == "JOIN" && self.syntax == Syntax::Json {
            self.push(
                Diagnostic::error(
                    "unknown-node-kind",
                    ty.span,
                    "JOIN nodes are a wflow extension that Port JSON cannot hold",
                )
                .help("write the workflow in `.wflow` to use parallel branches and joins"),
            );
            return None;
        }
        let what = match self.syntax {
            Syntax::Json => format!("{} {} node", article(&kind.type_name), kind.type_name),
            Syntax::Wflow => format!("{} `{}` node", article(&kind.keyword), kind.keyword),
        };
        if kind.deprecated {
            self.push(
                Diagnostic::warning(
                    "deprecated",
                    ty.span,
                    format!(
                        "{} nodes are deprecated by Port",
                        self.kind_name(&kind.type_name, &kind.keyword)
                    ),
                )
                .help(match self.syntax {
                    Syntax::Json => "use an AI_AGENT node or an integration action instead",
                    Syntax::Wflow => "use an `ai_agent` node or an `integration` action instead",
                }),
            );
        }
        // Missing fields are reported at the node's type. When the config holds a syntax error,
        // what it lacks is most likely in the unreadable text: those reports are dropped.
        let mark = self.diags.len();
        let config = self.kind_config(&kind.type_name, &mut f, ty.span, &what);
        let policy = self.policy(&mut f, kind, config.as_ref(), &what);
        let first = self
            .syntax_errors
            .partition_point(|e| e.start < v.span.start);
        let broken = self.syntax_errors[first..]
            .iter()
            .take_while(|e| e.start <= v.span.end)
            .any(|e| e.end <= v.span.end);
        if broken {
            let tail = self.diags.split_off(mark);
            self.diags
                .extend(tail.into_iter().filter(|d| d.code != "missing-field"));
        }
        // Unknown fields are reported even when a required one is missing.
        let mut known: Vec<&str> = kind.fields.iter().map(|f| f.port.as_str()).collect();
        known.push("type");
        let wflow: Vec<&str> = kind.fields.iter().map(|f| f.wflow.as_str()).collect();
        self.finish(f, &what, &known, &wflow);
        config.map(|c| (c, policy))
    }

    fn kind_config(
        &mut self,
        ty: &str,
        f: &mut Fields,
        span: Span,
        what: &str,
    ) -> Option<ir::NodeConfig> {
        use ir::NodeConfig as C;
        Some(match ty {
            "SELF_SERVE_TRIGGER" => C::SelfServeTrigger(self.form_trigger(f, span)),
            "EVENT_TRIGGER" => C::EventTrigger(self.event_trigger(f, span)?),
            "SCHEDULE_TRIGGER" => {
                let Some(cron) = self.opt_name(f.take("cron"), "`cron`") else {
                    self.missing(
                        span,
                        "cron",
                        what,
                        "e.g. \"0 9 * * 1-5\" (weekdays at 09:00 UTC)",
                    );
                    return None;
                };
                let published = self.bool(f.take("published"), "`published`");
                C::ScheduleTrigger(ir::ScheduleTrigger { cron, published })
            }
            "WEBHOOK" => {
                let url = self.opt_template(f.take("url"), "`url`");
                let method = self.one_of(
                    f.take("method"),
                    &["GET", "POST", "PUT", "PATCH", "DELETE"],
                    "`method`",
                );
                let headers = match f.take("headers") {
                    Some(h) => self.object_members(h, "`headers`").unwrap_or_default(),
                    None => Vec::new(),
                };
                let body = f.take("body").map(|b| self.value(b, false));
                let synchronized = self.bool(f.take("synchronized"), "`synchronized`");
                let agent = self.bool(f.take("agent"), "`agent`");
                let on_failure = self.on_failure(f.take("onFailure"));
                let response_schema = f.take("responseSchema").map(|s| self.value(s, false));
                let Some(url) = url else {
                    self.missing(
                        span,
                        "url",
                        what,
                        "the endpoint to call, e.g. \"https://api.example.com/deploy\"",
                    );
                    return None;
                };
                C::Webhook(ir::Webhook {
                    url,
                    method,
                    headers,
                    body,
                    synchronized,
                    agent,
                    on_failure,
                    response_schema,
                })
            }
            "KAFKA" => {
                let payload = f.take("payload").map(|p| self.value(p, false));
                if payload.is_none() {
                    self.missing(span, "payload", what, "the message to publish, any JSON");
                }
                C::Kafka(ir::Kafka {
                    payload,
                    on_failure: self.on_failure(f.take("onFailure")),
                })
            }
            "UPSERT_ENTITY" => {
                let blueprint = self.opt_template(f.take("blueprintIdentifier"), "the blueprint");
                let mapping = match f.take("mapping") {
                    Some(m) => self.mapping(m)?,
                    None => ir::Mapping::default(),
                };
                let on_failure = self.on_failure(f.take("onFailure"));
                let Some(blueprint_identifier) = blueprint else {
                    self.missing(
                        span,
                        "blueprintIdentifier",
                        what,
                        "the blueprint of the entity to create or update",
                    );
                    return None;
                };
                C::UpsertEntity(ir::Upsert {
                    blueprint_identifier,
                    mapping,
                    on_failure,
                })
            }
            "INTEGRATION_ACTION" => {
                let i = ir::Integration {
                    installation_id: self.opt_name(f.take("installationId"), "the installation"),
                    integration_provider: self
                        .opt_name(f.take("integrationProvider"), "the provider"),
                    integration_invocation_type: self
                        .opt_name(f.take("integrationInvocationType"), "the invocation type"),
                    integration_action_execution_properties: f
                        .take("integrationActionExecutionProperties")
                        .map(|p| self.value(p, false)),
                    defer_integration_installation: self
                        .bool(f.take("deferIntegrationInstallation"), "the defer flag"),
                    on_failure: self.on_failure(f.take("onFailure")),
                };
                if i.installation_id.is_none() && i.defer_integration_installation != Some(true) {
                    self.missing(
                        span,
                        "installationId",
                        what,
                        "or set deferIntegrationInstallation to true",
                    );
                }
                C::IntegrationAction(i)
            }
            "AI" => {
                let user_prompt = self.opt_template(f.take("userPrompt"), "the prompt");
                let system_prompt = self.opt_template(f.take("systemPrompt"), "the system prompt");
                let tools = match f.take("tools") {
                    Some(t) => self.names(t, "a tool"),
                    None => None,
                };
                let model = self.ai_model(f);
                let Some(user_prompt) = user_prompt else {
                    self.missing(span, "userPrompt", what, "the instructions for the model");
                    return None;
                };
                C::Ai(ir::Ai {
                    user_prompt,
                    system_prompt,
                    tools,
                    model,
                })
            }
            "AI_AGENT" => {
                let agent = self.opt_name(f.take("agentIdentifier"), "the agent");
                let user_prompt = self.opt_template(f.take("userPrompt"), "the prompt");
                let model = self.ai_model(f);
                let (Some(agent_identifier), Some(user_prompt)) = (agent, user_prompt) else {
                    let missing = if f.members.iter().any(|(k, _)| k.name == "agentIdentifier") {
                        "userPrompt"
                    } else {
                        "agentIdentifier"
                    };
                    self.missing(span, missing, what, "");
                    return None;
                };
                C::AiAgent(ir::AiAgent {
                    agent_identifier,
                    user_prompt,
                    model,
                })
            }
            "CURSOR_AGENT" => {
                let fields = f
                    .members
                    .iter()
                    .filter(|(k, _)| k.name != "type")
                    .map(|(k, v)| (Name::new(k.name.clone(), k.span), self.value(v, false)))
                    .collect();
                f.used.iter_mut().for_each(|u| *u = true);
                C::CursorAgent(ir::Opaque { fields })
            }
            "CONDITION" => {
                let outlets = f.take_any(&["outlets", "options"]);
                let mut out = Vec::new();
                match outlets {
                    // `.wflow` cannot write a condition without outlets, and Port would only
                    // ever take its fallback: the same error in both syntaxes.
                    Some(
                        v @ Value {
                            kind: ValueKind::Array(items),
                            ..
                        },
                    ) if items.is_empty() => self.push(
                        Diagnostic::error(
                            "missing-field",
                            v.span,
                            format!("{what} needs at least one outlet"),
                        )
                        .label("no outlets")
                        .help(
                            "add an outlet ({\"identifier\": ..., \"expression\": ...}); a condition without outlets always takes its fallback, so connect the fallback's target directly instead",
                        ),
                    ),
                    Some(Value {
                        kind: ValueKind::Array(items),
                        ..
                    }) => {
                        for o in items {
                            if let Some(o) = self.condition_outlet(o) {
                                out.push(o);
                            }
                        }
                    }
                    Some(other) => self.wrong_type(other, "a list of outlets", "`outlets`"),
                    None => self.missing(span, "outlets", what, ""),
                }
                C::Condition(ir::Condition { outlets: out })
            }
            "INPUT" => C::Input(self.input_node(f, span, what)),
            "JOIN" => C::Join(self.join(f.take("wait"), span)),
            _ => return None,
        })
    }

    /// A join's `wait`: `all` (the default), `any` or a number of branches, at least 1.
    fn join(&mut self, v: Option<&Value>, span: Span) -> ir::Join {
        let mut join = ir::Join {
            wait: ir::Wait::All,
            span: v.map_or(span, |v| v.span),
        };
        let Some(v) = v else { return join };
        match &v.kind {
            ValueKind::Number(n) => match n.parse::<u32>() {
                Ok(c) if c >= 1 => join.wait = ir::Wait::Count(c),
                _ => self.push(
                    Diagnostic::error(
                        "invalid-value",
                        v.span,
                        format!("a join waits for a whole number of branches, at least 1, not {n}"),
                    )
                    .label("not a count of branches")
                    .help("write `wait all`, `wait any` or `wait 2`"),
                ),
            },
            _ => {
                if let Some(w) = self.one_of(Some(v), &["all", "any"], "`wait`") {
                    join.wait = if w.value == "any" {
                        ir::Wait::Any
                    } else {
                        ir::Wait::All
                    };
                }
            }
        }
        join
    }

    fn ai_model(&mut self, f: &mut Fields) -> ir::AiModel {
        let mcp_servers = match f.take("mcpServers") {
            Some(Value {
                kind: ValueKind::Array(items),
                ..
            }) => items
                .iter()
                .filter_map(|s| {
                    let mut sf = self.fields(s, "an MCP server")?;
                    let id = self.opt_name(sf.take("identifier"), "an MCP server's identifier");
                    self.finish(sf, "an MCP server", &["identifier"], &[]);
                    id
                })
                .collect(),
            Some(other) => {
                self.wrong_type(other, "a list", "`mcpServers`");
                Vec::new()
            }
            None => Vec::new(),
        };
        ir::AiModel {
            mcp_servers,
            provider: self.opt_name(f.take("provider"), "`provider`"),
            model: self.opt_name(f.take("model"), "`model`"),
            output_schema: f.take("outputSchema").map(|s| self.value(s, false)),
        }
    }

    fn mapping(&mut self, v: &Value) -> Option<ir::Mapping> {
        let mut f = self.fields(v, "the entity mapping")?;
        let m = ir::Mapping {
            identifier: self.opt_template(f.take("identifier"), "the entity identifier"),
            title: self.opt_template(f.take("title"), "the entity title"),
            icon: self.opt_template(f.take("icon"), "the entity icon"),
            team: f.take("team").map(|t| self.value(t, false)),
            properties: f
                .take("properties")
                .and_then(|p| self.object_members(p, "`properties`")),
            relations: f
                .take("relations")
                .and_then(|r| self.object_members(r, "`relations`")),
        };
        self.finish(
            f,
            "the entity mapping",
            &[
                "identifier",
                "title",
                "icon",
                "team",
                "properties",
                "relations",
            ],
            &[],
        );
        Some(m)
    }

    fn condition_outlet(&mut self, v: &Value) -> Option<ir::ConditionOutlet> {
        let mut f = self.fields(v, "an outlet")?;
        let identifier = self.opt_name(f.take("identifier"), "the outlet's identifier");
        let title = self.opt_name(f.take("title"), "the outlet's title");
        let expression = f
            .take("expression")
            .and_then(|e| self.jq(e, "the outlet's expression"));
        let status_label = f.take("statusLabel").map(|s| self.value(s, false));
        let workflow_status_label = f.take("workflowStatusLabel").map(|s| self.value(s, false));
        self.finish(
            f,
            "an outlet",
            &[
                "identifier",
                "title",
                "expression",
                "statusLabel",
                "workflowStatusLabel",
            ],
            &[],
        );
        let Some(identifier) = identifier else {
            self.missing(v.span, "identifier", "an outlet", "");
            return None;
        };
        let Some(expression) = expression else {
            if !v
                .get("expression")
                .is_some_and(|e| matches!(e.kind, ValueKind::Str(_) | ValueKind::Jq { .. }))
            {
                match self.syntax {
                    Syntax::Json => self.missing(
                        identifier.span,
                        "expression",
                        "an outlet",
                        "a jq expression that yields true or false",
                    ),
                    Syntax::Wflow => self.push(
                        Diagnostic::error(
                            "missing-field",
                            identifier.span,
                            "an outlet needs a condition",
                        )
                        .help("add `when `<jq expression>`` after the outlet's title"),
                    ),
                }
            }
            return None;
        };
        Some(ir::ConditionOutlet {
            identifier,
            title,
            expression,
            status_label,
            workflow_status_label,
        })
    }

    fn input_node(&mut self, f: &mut Fields, span: Span, what: &str) -> ir::InputNode {
        let description = self.opt_template(f.take("description"), "the description");
        let user_inputs = match f.take("userInputs") {
            Some(u) => self.form(u, true),
            None => {
                self.missing(
                    span,
                    "userInputs",
                    what,
                    "it may be `{\"properties\": {}, \"buttons\": [...]}`",
                );
                ir::Form::default()
            }
        };
        let mut outlets = Vec::new();
        match f.take_any(&["outlets", "options"]) {
            Some(Value {
                kind: ValueKind::Array(items),
                ..
            }) => {
                for o in items {
                    let Some(mut of) = self.fields(o, "an outlet") else {
                        continue;
                    };
                    let identifier =
                        self.opt_name(of.take("identifier"), "the outlet's identifier");
                    let outlet = ir::InputOutlet {
                        identifier: identifier.clone().unwrap_or_default(),
                        title: self.opt_name(of.take("title"), "the outlet's title"),
                        evaluation_method: self.one_of(
                            of.take("evaluationMethod"),
                            &["button"],
                            "`evaluationMethod`",
                        ),
                        num_of_responders: self
                            .count(of.take("numOfResponders"), "`numOfResponders`"),
                        status_label: of.take("statusLabel").map(|s| self.value(s, false)),
                        workflow_status_label: of
                            .take("workflowStatusLabel")
                            .map(|s| self.value(s, false)),
                    };
                    let known = [
                        "identifier",
                        "title",
                        "evaluationMethod",
                        "numOfResponders",
                        "statusLabel",
                        "workflowStatusLabel",
                    ];
                    self.finish(
                        of,
                        "an outlet",
                        &known,
                        &["identifier", "title", "evaluation_method", "needs"],
                    );
                    match identifier {
                        Some(_) => outlets.push(outlet),
                        None => self.missing(o.span, "identifier", "an outlet", ""),
                    }
                }
            }
            Some(other) => self.wrong_type(other, "a list of outlets", "`outlets`"),
            None if self.syntax == Syntax::Json => self.missing(span, "outlets", what, ""),
            None => {}
        }
        let responders = f.take("responders").and_then(|r| {
            let mut rf = self.fields(r, "`responders`")?;
            let names = |l: &mut Self, rf: &mut Fields, n: &str| {
                rf.take(n)
                    .and_then(|v| l.names(v, "a responder"))
                    .unwrap_or_default()
            };
            let listed_empty = ["users", "roles", "teams"]
                .into_iter()
                .filter(|k| {
                    matches!(r.get(k), Some(Value { kind: ValueKind::Array(items), .. }) if items.is_empty())
                })
                .map(str::to_string)
                .collect();
            let out = ir::Responders {
                users: names(self, &mut rf, "users"),
                roles: names(self, &mut rf, "roles"),
                teams: names(self, &mut rf, "teams"),
                users_query: rf.take("usersQuery").map(|q| self.value(q, false)),
                listed_empty,
            };
            self.finish(
                rf,
                "`responders`",
                &["users", "roles", "teams", "usersQuery"],
                &[],
            );
            Some(out)
        });
        let notifications = match f.take("notifications") {
            Some(Value {
                kind: ValueKind::Array(items),
                ..
            }) => items.iter().map(|n| self.value(n, false)).collect(),
            Some(other) => {
                self.wrong_type(other, "a list", "`notifications`");
                Vec::new()
            }
            None => Vec::new(),
        };
        ir::InputNode {
            description,
            user_inputs,
            outlets,
            responders,
            notifications,
        }
    }

    fn count(&mut self, v: Option<&Value>, what: &str) -> Option<u64> {
        let v = v?;
        match &v.kind {
            ValueKind::Number(n) => match n.parse::<u64>() {
                Ok(c) if c >= 1 => Some(c),
                _ => {
                    self.push(
                        Diagnostic::error(
                            "invalid-value",
                            v.span,
                            format!("{what} must be a whole number of at least 1"),
                        )
                        .help("the number of responses needed, e.g. 1"),
                    );
                    None
                }
            },
            _ => {
                self.wrong_type(v, "a number", what);
                None
            }
        }
    }

    fn form_trigger(&mut self, f: &mut Fields, span: Span) -> ir::FormTrigger {
        let user_inputs = match f.take("userInputs") {
            Some(u) => self.form(u, false),
            None => ir::Form::default(),
        };
        let permissions = f.take("permissions").and_then(|p| {
            let mut pf = self.fields(p, "`permissions`")?;
            let mut list =
                |l: &mut Self, n: &str| pf.take(n).and_then(|v| l.names(v, "a permission entry"));
            let out = ir::Permissions {
                roles: list(self, "roles"),
                users: list(self, "users"),
                teams: list(self, "teams"),
                policy: pf.take("policy").map(|v| self.value(v, false)),
            };
            self.finish(
                pf,
                "`permissions`",
                &["roles", "users", "teams", "policy"],
                &[],
            );
            Some(out)
        });
        let contexts = match f.take("contexts") {
            Some(Value {
                kind: ValueKind::Array(items),
                ..
            }) => items.iter().filter_map(|c| self.context(c)).collect(),
            Some(other) => {
                self.wrong_type(other, "a list", "`contexts`");
                Vec::new()
            }
            None => Vec::new(),
        };
        let _ = span;
        ir::FormTrigger {
            user_inputs,
            permissions,
            published: self.bool(f.take("published"), "`published`"),
            contexts,
            variant: self.one_of(f.take("variant"), &["DEFAULT", "ALERT"], "`variant`"),
            action_card_button_text: self
                .opt_name(f.take("actionCardButtonText"), "the card button text"),
            execute_action_button_text: self
                .opt_name(f.take("executeActionButtonText"), "the submit button text"),
        }
    }

    fn context(&mut self, v: &Value) -> Option<ir::Context> {
        let mut f = self.fields(v, "a context")?;
        let on = self.one_of(
            f.take("on"),
            &["CREATE_ENTITY", "ENTITY", "SELF_SERVICE_HUB"],
            "a context's `on`",
        );
        let c = ir::Context {
            on: on.clone().unwrap_or_default(),
            blueprint_identifier: self
                .opt_name(f.take("blueprintIdentifier"), "the context's blueprint"),
            user_input: self.opt_name(f.take("userInput"), "the context's input"),
            visible: self.bool(f.take("visible"), "`visible`"),
        };
        self.finish(
            f,
            "a context",
            &["on", "blueprintIdentifier", "userInput", "visible"],
            &[],
        );
        on.map(|_| c)
    }

    fn event_trigger(&mut self, f: &mut Fields, span: Span) -> Option<ir::EventTrigger> {
        let lib = wflow_stdlib::get();
        let event = f.take("event");
        let condition = f.take("condition");
        let published = self.bool(f.take("published"), "`published`");
        let Some(event) = event else {
            let example = match self.syntax {
                Syntax::Wflow => "write `on ENTITY_UPDATED <blueprint>`",
                Syntax::Json => {
                    "e.g. \"event\": {\"type\": \"ENTITY_UPDATED\", \"blueprintIdentifier\": \"service\"}"
                }
            };
            self.missing(span, "event", "an event trigger", example);
            return None;
        };
        let mut ef = self.fields(event, "the event")?;
        let types: Vec<&str> = lib.event_types.iter().map(String::as_str).collect();
        let event_type = self.one_of(ef.take("type"), &types, "the event type");
        let blueprint = self.opt_name(ef.take("blueprintIdentifier"), "the event's blueprint");
        let property_identifier =
            self.opt_name(ef.take("propertyIdentifier"), "the timer property");
        self.finish(
            ef,
            "the event",
            &["type", "blueprintIdentifier", "propertyIdentifier"],
            &["on", "on", "property"],
        );
        match (
            event.get("type"),
            event.get("blueprintIdentifier"),
            self.syntax,
        ) {
            (Some(_), Some(_), _) => {}
            (None, _, Syntax::Wflow) => self.push(
                Diagnostic::error(
                    "missing-field",
                    event.span,
                    "an `event` trigger needs `on <EVENT_TYPE> <blueprint>`",
                )
                .help("e.g. `on ENTITY_UPDATED service`"),
            ),
            (Some(t), None, Syntax::Wflow) => self.push(
                Diagnostic::error(
                    "missing-field",
                    t.span,
                    "`on` needs the blueprint after the event type",
                )
                .help("e.g. `on ENTITY_UPDATED service`"),
            ),
            (t, _, Syntax::Json) => {
                let field = if t.is_none() {
                    "type"
                } else {
                    "blueprintIdentifier"
                };
                let span = t.map_or(event.span, |t| t.span);
                self.missing(span, field, "the event", "");
            }
        }
        if let (Some(t), None) = (&event_type, &property_identifier)
            && t.value == "TIMER_EXPIRED"
        {
            let (field, help) = match self.syntax {
                Syntax::Json => ("propertyIdentifier", "name the blueprint's timer property"),
                Syntax::Wflow => ("property", "add `property <timer property>`"),
            };
            self.push(
                Diagnostic::error(
                    "missing-field",
                    t.span,
                    format!("a TIMER_EXPIRED event needs `{field}`"),
                )
                .help(help),
            );
        }
        let condition = condition.and_then(|c| {
            let mut cf = self.fields(c, "the event condition")?;
            if let Some(t) = cf.take("type") {
                self.one_of(Some(t), &["JQ"], "the condition type");
            }
            let expressions = match cf.take("expressions") {
                Some(Value {
                    kind: ValueKind::Array(items),
                    ..
                }) => items
                    .iter()
                    .filter_map(|e| self.jq(e, "a condition expression"))
                    .collect(),
                Some(other) => {
                    self.wrong_type(other, "a list of jq expressions", "`expressions`");
                    Vec::new()
                }
                None => {
                    self.missing(c.span, "expressions", "the event condition", "");
                    Vec::new()
                }
            };
            let combinator = self.one_of(cf.take("combinator"), &["and", "or"], "the combinator");
            self.finish(
                cf,
                "the event condition",
                &["type", "expressions", "combinator"],
                &["when", "when", "combinator"],
            );
            Some(ir::EventCondition {
                expressions,
                combinator,
            })
        });
        Some(ir::EventTrigger {
            event_type: event_type?,
            blueprint_identifier: blueprint?,
            property_identifier,
            condition,
            published,
        })
    }

    /// A form (`userInputs`). `buttons` is allowed only on INPUT nodes.
    fn form(&mut self, v: &Value, input_node: bool) -> ir::Form {
        let Some(mut f) = self.fields(v, "`userInputs`") else {
            return ir::Form::default();
        };
        let mut form = ir::Form::default();
        match f.take("properties") {
            Some(p) => form.properties = self.input_fields(p),
            None => self.missing(
                v.span,
                "properties",
                "`userInputs`",
                "it may be empty: \"properties\": {}",
            ),
        }
        if let Some(r) = f.take("required") {
            form.required = match self.jq_query(r) {
                Some(q) => ir::Required::Jq(q),
                None => ir::Required::Keys(self.names(r, "`required`").unwrap_or_default()),
            };
            form.required_listed = matches!(&r.kind, ValueKind::Array(items) if items.is_empty());
        }
        form.order = f.take("order").and_then(|o| self.names(o, "`order`"));
        if let Some(Value {
            kind: ValueKind::Array(items),
            ..
        }) = f.take("steps")
        {
            for s in items {
                let Some(mut sf) = self.fields(s, "a step") else {
                    continue;
                };
                let title = self.opt_name(sf.take("title"), "the step's title");
                let order = sf
                    .take("order")
                    .and_then(|o| self.names(o, "the step's order"))
                    .unwrap_or_default();
                let visible = sf.take("visible").map(|v| self.value(v, true));
                let validations = sf
                    .take("validations")
                    .map(|v| self.validations(v))
                    .unwrap_or_default();
                self.finish(
                    sf,
                    "a step",
                    &["title", "order", "visible", "validations"],
                    &[],
                );
                match title {
                    Some(title) => form.steps.push(ir::Step {
                        title,
                        order,
                        visible,
                        validations,
                        span: s.span,
                    }),
                    None => self.missing(s.span, "title", "a step", ""),
                }
            }
        }
        if let Some(t) = f.take("titles") {
            if let ValueKind::Object(members) = &t.kind {
                for (k, h) in members {
                    let Some(mut hf) = self.fields(h, "a heading") else {
                        continue;
                    };
                    let title = self.opt_name(hf.take("title"), "the heading's title");
                    let description =
                        self.opt_name(hf.take("description"), "the heading's description");
                    let visible = hf.take("visible").map(|v| self.value(v, true));
                    self.finish(hf, "a heading", &["title", "description", "visible"], &[]);
                    match title {
                        Some(title) => form.titles.push(ir::Heading {
                            key: Name::new(k.name.clone(), k.span),
                            title,
                            description,
                            visible,
                        }),
                        None => self.missing(h.span, "title", "a heading", ""),
                    }
                }
            } else {
                self.wrong_type(t, "an object", "`titles`");
            }
        }
        if let Some(vs) = f.take("validations") {
            form.validations = self.validations(vs);
        }
        if input_node
            && let Some(Value {
                kind: ValueKind::Array(items),
                ..
            }) = f.take("buttons")
        {
            for b in items {
                let Some(mut bf) = self.fields(b, "a button") else {
                    continue;
                };
                let identifier = self.opt_name(bf.take("identifier"), "the button's identifier");
                let label = self.opt_name(bf.take("label"), "the button's label");
                let variant = self.one_of(
                    bf.take("variant"),
                    &["PRIMARY", "SECONDARY", "DANGER"],
                    "the button's variant",
                );
                let icon = self.opt_name(bf.take("icon"), "the button's icon");
                self.finish(
                    bf,
                    "a button",
                    &["identifier", "label", "variant", "icon"],
                    &[],
                );
                match (identifier, label) {
                    (Some(identifier), Some(label)) => form.buttons.push(ir::Button {
                        identifier,
                        label,
                        variant,
                        icon,
                    }),
                    (None, _) => self.missing(b.span, "identifier", "a button", ""),
                    (_, None) => {
                        self.missing(b.span, "label", "a button", "the text on the button")
                    }
                }
            }
        }
        let mut known = vec![
            "properties",
            "required",
            "order",
            "steps",
            "titles",
            "validations",
        ];
        if input_node {
            known.push("buttons");
        }
        self.finish(
            f,
            "`userInputs`",
            &known,
            &[
                "input", "required", "order", "step", "heading", "validate", "button",
            ],
        );
        form
    }

    fn validations(&mut self, v: &Value) -> Vec<ir::Validation> {
        let ValueKind::Array(items) = &v.kind else {
            self.wrong_type(v, "a list", "`validations`");
            return Vec::new();
        };
        let mut out = Vec::new();
        for item in items {
            let Some(mut f) = self.fields(item, "a validation") else {
                continue;
            };
            let constraint = f
                .take("constraint")
                .and_then(|c| self.jq_query(c).or_else(|| self.jq(c, "the constraint")));
            let message = self.opt_name(f.take("message"), "the validation message");
            self.finish(f, "a validation", &["constraint", "message"], &[]);
            if let (Some(constraint), Some(message)) = (constraint, message) {
                out.push(ir::Validation {
                    constraint,
                    message,
                });
            }
        }
        out
    }

    fn input_fields(&mut self, v: &Value) -> Vec<ir::InputField> {
        let ValueKind::Object(members) = &v.kind else {
            self.wrong_type(v, "an object of inputs", "`properties`");
            return Vec::new();
        };
        members
            .iter()
            .filter_map(|(k, s)| {
                let schema = self.input_schema(s)?;
                Some(ir::InputField {
                    key: Name::new(k.name.clone(), k.span),
                    schema,
                })
            })
            .collect()
    }

    fn input_schema(&mut self, v: &Value) -> Option<ir::InputSchema> {
        let lib = wflow_stdlib::get();
        let mut f = self.fields(v, "an input")?;
        let mut s = ir::InputSchema {
            ty: self.opt_name(f.take("type"), "the input's type"),
            format: self.opt_name(f.take("format"), "the input's format"),
            blueprint: self.opt_name(f.take("blueprint"), "the input's blueprint"),
            title: self.opt_name(f.take("title"), "the input's title"),
            description: self.opt_name(f.take("description"), "the input's description"),
            default: f.take("default").map(|d| self.value(d, true)),
            enum_values: f.take("enum").map(|e| self.value(e, true)),
            span: v.span,
            ..Default::default()
        };
        if let Some(items) = f.take("items") {
            s.items = self.input_schema(items).map(Box::new);
        }
        if let Some(p) = f.take("properties") {
            s.properties = self.input_fields(p);
        }
        if let Some(r) = f.take("required") {
            s.required = self.names(r, "`required`").unwrap_or_default();
        }
        const TYPED: [&str; 10] = [
            "type",
            "format",
            "blueprint",
            "title",
            "description",
            "default",
            "enum",
            "items",
            "properties",
            "required",
        ];
        for kw in lib
            .input_keywords
            .iter()
            .filter(|k| !TYPED.contains(&k.as_str()))
        {
            if let Some(val) = f.take(kw) {
                let key = f
                    .members
                    .iter()
                    .find(|(k, _)| &k.name == kw)
                    .map_or(v.span, |(k, _)| k.span);
                s.keywords
                    .push((Name::new(kw.clone(), key), self.value(val, true)));
            }
        }
        let known: Vec<&str> = lib.input_keywords.iter().map(String::as_str).collect();
        self.finish(f, "an input", &known, &[]);
        Some(s)
    }
}

/// An identifier made of a title: lowercase ASCII letters and digits, other runs of
/// characters as one `_` (`Deploy a Service!` is `deploy_a_service`).
fn identifier_from(title: &str) -> String {
    let mut id = String::new();
    for c in title.chars() {
        if c.is_ascii_alphanumeric() {
            id.push(c.to_ascii_lowercase());
        } else if !id.is_empty() && !id.ends_with('_') {
            id.push('_');
        }
    }
    id.trim_end_matches('_').to_string()
}

/// A workflow identifier from a file name: the characters Port allows kept, others `_`.
fn identifier_of_file(stem: &str) -> String {
    crate::check::with_allowed_chars(stem)
        .trim_matches('_')
        .to_string()
}

/// Whether `nodes` (a JSON list of nodes) holds a trigger.
fn has_trigger(nodes: Option<&Value>) -> bool {
    let Some(Value {
        kind: ValueKind::Array(nodes),
        ..
    }) = nodes
    else {
        return false;
    };
    nodes.iter().any(|n| {
        matches!(
            n.get("config").and_then(|c| c.get("type")).map(|t| &t.kind),
            Some(ValueKind::Str(s)) if s.value.ends_with("_TRIGGER")
        )
    })
}
