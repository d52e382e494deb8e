//! The `.wflow` front end: turns the syntax tree into a Port-shaped value tree.
//!
//! The result has Port JSON's structure (`nodes`, `config.type`, `userInputs`, `connections`, ...)
//! but every span points into the `.wflow` text, so the one lowering in [`crate::port`] checks
//! both syntaxes and its diagnostics land on what the user wrote.

use std::borrow::Cow;

use wflow_grammar::Span;
use wflow_grammar::ast::{
    Block, EdgeChain, Entry, InputDecl, Key, Statement, Str, TypeExpr, Value, ValueKind,
};

use crate::diag::Diagnostic;
use crate::suggest::did_you_mean;

/// Desugars one top-level statement of a file: a `workflow` (or `fragment`) becomes a
/// Port-shaped workflow value; anything else but a `blueprint` is reported. One statement at a
/// time, so that a file's statements need not all be held in both forms at once.
/// Whether `st` is a `workflow` or a `fragment`: a top-level item that [`desugar`] turns into a
/// workflow.
pub(crate) fn is_workflow(st: &Statement) -> bool {
    matches!(st, Statement::Entry(e) if matches!(e.name.name.as_str(), "workflow" | "fragment"))
}

pub(crate) fn desugar(st: &Statement, diags: &mut Vec<Diagnostic>) -> Option<Value> {
    let mut d = Desugar {
        diags,
        fragment: false,
    };
    let (span, what) = match st {
        Statement::Entry(e) if is_workflow(st) => {
            d.fragment = e.name.name == "fragment";
            return d.workflow(e);
        }
        // Read by `blueprint_decl`.
        Statement::Entry(e) if e.name.name == "blueprint" => return None,
        Statement::Entry(e) => (e.name.span, format!("`{}`", e.name.name)),
        Statement::Input(i) => (i.span, "an input".to_string()),
        Statement::Edges(e) => (e.span, "a connection".to_string()),
    };
    let mut diag = Diagnostic::error(
        "unknown-item",
        span,
        format!("{what} cannot stand at the top level"),
    )
    .label("expected `workflow`");
    if let Statement::Entry(e) = st {
        if let Some(k) = wflow_stdlib::get().kind_by_keyword(&e.name.name) {
            diag = diag.help(format!(
                "a `{}` node goes inside a `workflow <id> {{ ... }}` block",
                k.keyword
            ));
        } else if let Some(s) = did_you_mean(&e.name.name, ["workflow"]) {
            diag = diag.help(s);
        }
    }
    d.diags.push(diag);
    None
}

struct Desugar<'d> {
    diags: &'d mut Vec<Diagnostic>,
    /// Inside `fragment { }`: a piece of a workflow, whose nodes may lack identifiers.
    fragment: bool,
}

/// An object under construction; reports duplicate keys.
#[derive(Default)]
struct Obj {
    members: Vec<(Key, Value)>,
}

impl Obj {
    fn value(self, span: Span) -> Value {
        Value {
            kind: ValueKind::Object(self.members),
            span,
        }
    }

    fn get_mut(&mut self, key: &str) -> Option<&mut Value> {
        self.members
            .iter_mut()
            .find(|(k, _)| k.name == key)
            .map(|(_, v)| v)
    }

    fn has(&self, key: &str) -> bool {
        self.members.iter().any(|(k, _)| k.name == key)
    }
}

fn key(name: &str, span: Span) -> Key {
    Key {
        name: name.to_string(),
        span,
    }
}

/// A synthesised string that points at `span` (e.g. the keyword it came from).
fn string(text: &str, span: Span) -> Value {
    let s = Str {
        value: text.to_string(),
        span,
        map: wflow_grammar::OffsetMap::identity(span.start),
    };
    Value {
        kind: ValueKind::Str(s),
        span,
    }
}

fn array(items: Vec<Value>, span: Span) -> Value {
    Value {
        kind: ValueKind::Array(items),
        span,
    }
}

/// `camelCase` to `snake_case`, the `.wflow` spelling of a Port field.
pub(crate) fn snake(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    for c in name.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// `snake_case` to `camelCase`.
pub(crate) fn camel(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut upper = false;
    for c in name.chars() {
        if c == '_' && !out.is_empty() {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// An entry argument as a value: bare words, also inside lists, become strings. (Inside an
/// object literal, which is JSON, they stay bare words and are reported.)
fn arg_value(v: &Value) -> Value {
    match &v.kind {
        ValueKind::Ident(id) => string(&id.name, id.span),
        ValueKind::Array(items) => array(items.iter().map(arg_value).collect(), v.span),
        _ => v.clone(),
    }
}

fn ident_or_string(v: &Value) -> Option<(String, Span)> {
    match &v.kind {
        ValueKind::Ident(id) => Some((id.name.clone(), id.span)),
        ValueKind::Str(s) => Some((s.value.clone(), s.span)),
        _ => None,
    }
}

fn empty_block(span: Span) -> Block {
    Block {
        statements: Vec::new(),
        closed: true,
        span,
    }
}

/// Whether an entry that is not a node keyword is still written like a node (`<kind> <id>
/// "Title" { ... }`) rather than like a workflow field (`<name> <value>`).
fn looks_like_node(e: &Entry) -> bool {
    const WORKFLOW_FIELDS: [&str; 5] = [
        "title",
        "icon",
        "description",
        "category",
        "allow_anyone_to_view_runs",
    ];
    if WORKFLOW_FIELDS.contains(&e.name.name.as_str()) {
        return false;
    }
    let (args, block) = entry_parts(e);
    let named = args.first().is_some_and(|v| ident_or_string(v).is_some());
    named && (block.is_some() || args.len() >= 2)
}

/// The block of an entry; a trailing `{}` parses as an empty object, which means an empty block.
fn entry_parts(e: &Entry) -> (Vec<&Value>, Option<Cow<'_, Block>>) {
    let mut args: Vec<&Value> = e.args.iter().collect();
    if e.block.is_none()
        && let Some(last) = args.last()
        && matches!(&last.kind, ValueKind::Object(m) if m.is_empty())
    {
        let span = last.span;
        args.pop();
        return (args, Some(Cow::Owned(empty_block(span))));
    }
    (args, e.block.as_ref().map(Cow::Borrowed))
}

impl Desugar<'_> {
    fn insert(&mut self, obj: &mut Obj, k: Key, v: Value) {
        if let Some((first, _)) = obj.members.iter().find(|(m, _)| m.name == k.name) {
            let diag = Diagnostic::error("duplicate-field", k.span, "this field is given twice")
                .label("given again here")
                .with(first.span, "first given here")
                .help("remove one of them");
            self.diags.push(diag);
            return;
        }
        obj.members.push((k, v));
    }

    /// The one value of `name value` or `name { block }`.
    fn entry_value(&mut self, e: &Entry) -> Option<Value> {
        let (args, block) = entry_parts(e);
        if e.name.name == "backoff" && block.is_none() && !args.is_empty() {
            return Some(self.backoff(e, &args));
        }
        if e.name.name == "concurrency" && block.is_none() && args.len() > 1 {
            return Some(self.concurrency(e, &args));
        }
        match (args.as_slice(), block) {
            ([v], None) => Some(arg_value(v)),
            ([], Some(b)) => Some(self.block_object(&b)),
            ([], None) => {
                let d = Diagnostic::error(
                    "missing-field",
                    e.name.span,
                    format!("`{}` needs a value", e.name.name),
                )
                .help(format!("write `{} <value>`", e.name.name));
                self.diags.push(d);
                None
            }
            (args, _) => {
                let extra = args.get(1).map_or(e.span, |a| a.span);
                let d = Diagnostic::error(
                    "wrong-type",
                    extra,
                    format!("`{}` takes one value", e.name.name),
                )
                .label("unexpected value")
                .help("write lists as `[a, b]` and objects as `{ key: value }`");
                self.diags.push(d);
                None
            }
        }
    }

    /// `concurrency 1 by `jq`` as `{limit, by}`.
    fn concurrency(&mut self, e: &Entry, args: &[&Value]) -> Value {
        let mut obj = Obj::default();
        if let Some(v) = args.first() {
            obj.members.push((key("limit", v.span), arg_value(v)));
        }
        match args.get(1..) {
            Some([by, jq]) if matches!(&by.kind, ValueKind::Ident(w) if w.name == "by") => {
                obj.members.push((key("by", by.span), (*jq).clone()));
            }
            _ => {
                let at = args.get(1).map_or(e.span, |a| a.span);
                self.diags.push(
                    Diagnostic::error("wrong-type", at, "unexpected value in `concurrency`")
                        .label("unexpected value")
                        .help("write `concurrency 1`, or `concurrency 1 by `.outputs.trigger.service`` for a limit per key"),
                );
            }
        }
        obj.value(e.span)
    }

    /// `backoff exponential 1s max 30s jitter` as `{type, delay, max, jitter}`.
    fn backoff(&mut self, e: &Entry, args: &[&Value]) -> Value {
        let mut obj = Obj::default();
        let mut rest = args.iter();
        for name in ["type", "delay"] {
            if let Some(v) = rest.next() {
                obj.members.push((key(name, v.span), arg_value(v)));
            }
        }
        while let Some(v) = rest.next() {
            match &v.kind {
                ValueKind::Ident(w) if w.name == "max" => match rest.next() {
                    Some(m) => self.insert(&mut obj, key("max", w.span), arg_value(m)),
                    None => self.diags.push(
                        Diagnostic::error("missing-field", w.span, "`max` needs a duration")
                            .help("write `max 30s`"),
                    ),
                },
                ValueKind::Ident(w) if w.name == "jitter" => {
                    let yes = Value {
                        kind: ValueKind::Bool(true),
                        span: w.span,
                    };
                    self.insert(&mut obj, key("jitter", w.span), yes);
                }
                _ => self.diags.push(
                    Diagnostic::error("wrong-type", v.span, "unexpected value in `backoff`")
                        .label("unexpected value")
                        .help(
                            "write `backoff fixed 2s` or `backoff exponential 1s max 30s jitter`",
                        ),
                ),
            }
        }
        obj.value(e.span)
    }

    /// A block of `name value` entries as an object with camelCase keys.
    fn block_object(&mut self, b: &Block) -> Value {
        let mut obj = Obj::default();
        for st in &b.statements {
            match st {
                Statement::Entry(e) => {
                    if let Some(v) = self.entry_value(e) {
                        self.insert(&mut obj, key(&camel(&e.name.name), e.name.span), v);
                    }
                }
                other => self.misplaced(other, "here"),
            }
        }
        obj.value(b.span)
    }

    fn misplaced(&mut self, st: &Statement, place: &str) {
        let (span, msg, help) = match st {
            Statement::Input(i) => (
                i.key.span,
                format!("an input cannot be declared {place}"),
                "inputs belong in a `form` trigger, an `approval` node, a `step` or an object input",
            ),
            Statement::Edges(e) => (
                e.span,
                format!("a connection cannot be written {place}"),
                "write connections in the workflow's `flow { }` block",
            ),
            Statement::Entry(e) => (
                e.name.span,
                format!("`{}` cannot be written {place}", e.name.name),
                "",
            ),
        };
        let d = Diagnostic::error("unknown-field", span, msg);
        self.diags
            .push(if help.is_empty() { d } else { d.help(help) });
    }

    fn workflow(&mut self, e: &Entry) -> Option<Value> {
        let (args, block) = entry_parts(e);
        let mut wf = Obj::default();
        let mut id_span = e.name.span;
        if self.fragment {
            // `fragment { ... }`: marked for the lowering, which then applies no
            // whole-workflow rules; a title goes in the block.
            wf.members.push((
                key("fragment", e.name.span),
                Value {
                    kind: ValueKind::Bool(true),
                    span: e.name.span,
                },
            ));
            if let Some(extra) = args.first() {
                self.diags.push(
                    Diagnostic::error("wrong-type", extra.span, "a fragment takes no arguments")
                        .help("write `fragment { <nodes> flow { ... } }`; a title goes inside as `title \"...\"`"),
                );
            }
        }
        match args
            .first()
            .and_then(|v| ident_or_string(v))
            .filter(|_| !self.fragment)
        {
            Some((id, span)) => {
                id_span = span;
                wf.members
                    .push((key("identifier", span), string(&id, span)));
            }
            None if self.fragment => {}
            None => self.diags.push(
                Diagnostic::error(
                    "missing-field",
                    e.name.span,
                    "a workflow needs an identifier",
                )
                .help("write `workflow my-workflow \"Title\" { ... }`"),
            ),
        }
        if let Some(t) = args.get(1).filter(|_| !self.fragment) {
            wf.members.push((key("title", t.span), arg_value(t)));
        }
        if let Some(extra) = args.get(2) {
            self.diags.push(
                Diagnostic::error(
                    "wrong-type",
                    extra.span,
                    "unexpected value after the workflow's title",
                )
                .help("write `workflow <id> \"Title\" { ... }`"),
            );
        }
        let Some(block) = block else {
            self.diags.push(
                Diagnostic::error(
                    "missing-field",
                    id_span,
                    "a workflow needs a `{ ... }` block",
                )
                .help("add `{ }` with its triggers, nodes and `flow`"),
            );
            return None;
        };
        let mut nodes = Vec::new();
        let mut connections = Vec::new();
        for st in &block.statements {
            match st {
                Statement::Entry(n)
                    if wflow_stdlib::get().kind_by_keyword(&n.name.name).is_some()
                        || n.name.name == "github" =>
                {
                    if let Some(node) = self.node(n) {
                        nodes.push(node);
                    }
                }
                Statement::Entry(f) if f.name.name == "flow" => {
                    for st in f.block.iter().flat_map(|b| &b.statements) {
                        match st {
                            Statement::Edges(chain) => self.edges(chain, &mut connections),
                            other => {
                                self.misplaced(other, "in `flow`; it holds connections `a -> b`")
                            }
                        }
                    }
                }
                Statement::Edges(chain) => self.edges(chain, &mut connections),
                // `webhok send "Send" { ... }`: shaped like a node, with an unknown keyword. It
                // becomes a node of that kind so the lowering reports `unknown-node-kind`.
                Statement::Entry(n) if looks_like_node(n) => {
                    if let Some(node) = self.node(n) {
                        nodes.push(node);
                    }
                }
                Statement::Entry(f) => {
                    if let Some(v) = self.entry_value(f) {
                        let k = key(&camel(&f.name.name), f.name.span);
                        self.insert(&mut wf, k, v);
                    }
                }
                other => self.misplaced(other, "directly in a workflow"),
            }
        }
        wf.members
            .push((key("nodes", block.span), array(nodes, block.span)));
        wf.members.push((
            key("connections", block.span),
            array(connections, block.span),
        ));
        Some(wf.value(e.span))
    }

    fn edges(&mut self, chain: &EdgeChain, out: &mut Vec<Value>) {
        let last = chain.endpoints.len().saturating_sub(2);
        for (i, pair) in chain.endpoints.windows(2).enumerate() {
            let [from, to] = pair else { continue };
            let mut c = Obj::default();
            c.members.push((
                key("sourceIdentifier", from.node.span),
                string(&from.node.name, from.node.span),
            ));
            c.members.push((
                key("targetIdentifier", to.node.span),
                string(&to.node.name, to.node.span),
            ));
            if let Some(outlet) = &from.outlet {
                if outlet.name == "fallback" {
                    c.members.push((
                        key("fallback", outlet.span),
                        Value {
                            kind: ValueKind::Bool(true),
                            span: outlet.span,
                        },
                    ));
                } else {
                    c.members.push((
                        key("sourceOutletIdentifier", outlet.span),
                        string(&outlet.name, outlet.span),
                    ));
                }
            }
            // In `a -> b.out -> c` the middle endpoint is also a source: only the last one
            // cannot name an outlet.
            if let (Some(o), true) = (&to.outlet, i == last) {
                self.diags.push(
                    Diagnostic::error(
                        "outlet-not-allowed",
                        o.span,
                        "an outlet can only be named on the source of a connection",
                    )
                    .help(match &from.outlet {
                        None => format!(
                            "name it on the source instead: `{}.{} -> {}`",
                            from.node.name, o.name, to.node.name
                        ),
                        Some(_) => format!("write `{}` as the target", to.node.name),
                    }),
                );
            }
            if let (Some(d), true) = (
                &chain.description,
                std::ptr::eq(
                    pair.as_ptr(),
                    chain
                        .endpoints
                        .windows(2)
                        .last()
                        .map_or(std::ptr::null(), |w| w.as_ptr()),
                ),
            ) {
                c.members.push((
                    key("description", d.span),
                    Value {
                        kind: ValueKind::Str(d.clone()),
                        span: d.span,
                    },
                ));
            }
            out.push(c.value(from.span.join(to.span)));
        }
    }

    fn node(&mut self, e: &Entry) -> Option<Value> {
        let lib = wflow_stdlib::get();
        let keyword = e.name.name.as_str();
        let (args, block) = entry_parts(e);
        let mut node = Obj::default();
        let mut config = Obj::default();
        let type_name = if keyword == "github" {
            "INTEGRATION_ACTION"
        } else {
            lib.kind_by_keyword(keyword)
                .map_or(keyword, |k| k.type_name.as_str())
        };
        match args.first().and_then(|v| ident_or_string(v)) {
            Some((id, span)) => node
                .members
                .push((key("identifier", span), string(&id, span))),
            // A node of a fragment may be written without an identifier (`form { ... }`).
            None if self.fragment && args.is_empty() => {}
            None => {
                self.diags.push(
                    Diagnostic::error(
                        "missing-field",
                        e.name.span,
                        format!("a `{keyword}` node needs an identifier"),
                    )
                    .help(format!("write `{keyword} my-node \"Title\" {{ ... }}`")),
                );
                return None;
            }
        }
        if let Some(t) = args.get(1) {
            node.members.push((key("title", t.span), arg_value(t)));
        }
        if let Some(extra) = args.get(2) {
            self.diags.push(
                Diagnostic::error(
                    "wrong-type",
                    extra.span,
                    "unexpected value after the node's title",
                )
                .help(format!("write `{keyword} <id> \"Title\" {{ ... }}`")),
            );
        }
        config
            .members
            .push((key("type", e.name.span), string(type_name, e.name.span)));
        let block = block.unwrap_or_else(|| Cow::Owned(empty_block(e.span)));
        let mut form = FormParts::default();
        for st in &block.statements {
            self.node_statement(type_name, keyword, st, &mut node, &mut config, &mut form);
        }
        if keyword == "github" {
            self.github_properties(&mut config, e.name.span);
        }
        form.finish(self, &mut config, type_name, block.span);
        node.members
            .push((key("config", e.name.span), config.value(block.span)));
        Some(node.value(e.span))
    }

    #[allow(clippy::too_many_arguments)]
    fn node_statement(
        &mut self,
        type_name: &str,
        keyword: &str,
        st: &Statement,
        node: &mut Obj,
        config: &mut Obj,
        form: &mut FormParts,
    ) {
        let e = match st {
            Statement::Input(i) if matches!(type_name, "SELF_SERVE_TRIGGER" | "INPUT") => {
                form.inputs.push(i.clone());
                return;
            }
            Statement::Entry(e) => e,
            other => return self.misplaced(other, &format!("in a `{keyword}` node")),
        };
        let name = e.name.name.as_str();
        let node_level = match (name, type_name) {
            ("description", "INPUT") => None,
            ("node_description", "INPUT") => Some("description"),
            ("title" | "icon" | "description" | "variables" | "links" | "verbose", _) => Some(name),
            _ => None,
        };
        if let Some(port) = node_level {
            if let Some(v) = self.entry_value(e) {
                self.insert(node, key(port, e.name.span), v);
            }
            return;
        }
        match (type_name, name) {
            (
                "SELF_SERVE_TRIGGER" | "INPUT",
                "required" | "order" | "step" | "heading" | "validate",
            ) => form.entries.push(e.clone()),
            ("SELF_SERVE_TRIGGER", "context") => self.context(e, config),
            ("INPUT", "button") => form.buttons.push(e.clone()),
            ("EVENT_TRIGGER", "on" | "property" | "when" | "combinator") => {
                self.event_part(e, config)
            }
            ("CONDITION", "outlet") => self.outlet(e, config),
            ("AI" | "AI_AGENT", "mcp_servers") => {
                if let Some(v) = self.entry_value(e) {
                    let items = match v.kind {
                        ValueKind::Array(items) => items
                            .into_iter()
                            .map(|i| {
                                let span = i.span;
                                let mut o = Obj::default();
                                o.members.push((key("identifier", span), arg_value(&i)));
                                o.value(span)
                            })
                            .collect(),
                        _ => vec![v.clone()],
                    };
                    self.insert(config, key("mcpServers", e.name.span), array(items, v.span));
                }
            }
            _ if keyword == "github" => {
                // Sugar for github-ocean's dispatch_workflow: the fields become execution properties.
                let port = match name {
                    "installation" => "installationId",
                    "on_failure" => "onFailure",
                    "defer_installation" => "deferIntegrationInstallation",
                    "inputs" => "github:workflowInputs",
                    "report_status" => "github:reportWorkflowStatus",
                    "org" | "repo" | "workflow" => &format!("github:{name}"),
                    _ => &camel(name),
                };
                if let Some(v) = self.entry_value(e) {
                    self.insert(config, key(port, e.name.span), v);
                }
            }
            _ => {
                let lib = wflow_stdlib::get();
                let port = lib
                    .kind(type_name)
                    .and_then(|k| k.fields.iter().find(|f| f.wflow == name))
                    .map_or_else(|| camel(name), |f| f.port.clone());
                if let Some(v) = self.entry_value(e) {
                    self.insert(config, key(&port, e.name.span), v);
                }
            }
        }
    }

    /// Moves the `github:` fields into `integrationActionExecutionProperties`.
    fn github_properties(&mut self, config: &mut Obj, span: Span) {
        let mut props = Obj::default();
        config
            .members
            .retain(|(k, v)| match k.name.strip_prefix("github:") {
                Some(name) => {
                    props.members.push((key(name, k.span), v.clone()));
                    false
                }
                None => true,
            });
        config.members.push((
            key("integrationProvider", span),
            string("github-ocean", span),
        ));
        config.members.push((
            key("integrationInvocationType", span),
            string("dispatch_workflow", span),
        ));
        config.members.push((
            key("integrationActionExecutionProperties", span),
            props.value(span),
        ));
    }

    fn context(&mut self, e: &Entry, config: &mut Obj) {
        let (args, block) = entry_parts(e);
        let mut ctx = match &block {
            Some(b) => match self.block_object(b).kind {
                ValueKind::Object(m) => Obj { members: m },
                _ => Obj::default(),
            },
            None => Obj::default(),
        };
        let on = args.first().and_then(|v| ident_or_string(v));
        match &on {
            Some((on, span)) => ctx.members.insert(0, (key("on", *span), string(on, *span))),
            None => self.diags.push(
                Diagnostic::error("missing-field", e.name.span, "a context needs its kind")
                    .help("write `context CREATE_ENTITY <blueprint>`, `context ENTITY <input>` or `context SELF_SERVICE_HUB { visible false }`"),
            ),
        }
        if let Some(arg) = args.get(1) {
            let field = match on.as_ref().map(|(o, _)| o.as_str()) {
                Some("ENTITY") => "userInput",
                _ => "blueprintIdentifier",
            };
            ctx.members.push((key(field, arg.span), arg_value(arg)));
        }
        push_to_array(config, "contexts", ctx.value(e.span), e.name.span);
    }

    fn event_part(&mut self, e: &Entry, config: &mut Obj) {
        let span = e.name.span;
        let (args, _) = entry_parts(e);
        if !config.has("event") {
            config
                .members
                .push((key("event", span), Obj::default().value(span)));
        }
        match e.name.name.as_str() {
            "on" => {
                let Some(Value {
                    kind: ValueKind::Object(ev),
                    ..
                }) = config.get_mut("event")
                else {
                    return;
                };
                // What is missing is reported by the lowering; extra values here.
                if let Some(ty) = args.first() {
                    ev.insert(0, (key("type", ty.span), arg_value(ty)));
                }
                if let Some(bp) = args.get(1) {
                    ev.insert(1, (key("blueprintIdentifier", bp.span), arg_value(bp)));
                }
                for extra in args.iter().skip(2) {
                    self.diags.push(
                        Diagnostic::error(
                            "wrong-type",
                            extra.span,
                            "`on` takes the event type and the blueprint",
                        )
                        .label("unexpected value")
                        .help("write `on ENTITY_UPDATED service`"),
                    );
                }
            }
            "property" => {
                if let Some(v) = self.entry_value(e)
                    && let Some(Value {
                        kind: ValueKind::Object(ev),
                        ..
                    }) = config.get_mut("event")
                {
                    ev.push((key("propertyIdentifier", span), v));
                }
            }
            name => {
                let Some(v) = self.entry_value(e) else { return };
                if !config.has("condition") {
                    let mut cond = Obj::default();
                    cond.members.push((key("type", span), string("JQ", span)));
                    config
                        .members
                        .push((key("condition", span), cond.value(span)));
                }
                let Some(Value {
                    kind: ValueKind::Object(cond),
                    ..
                }) = config.get_mut("condition")
                else {
                    return;
                };
                let mut cond_obj = Obj {
                    members: std::mem::take(cond),
                };
                if name == "when" {
                    push_to_array(&mut cond_obj, "expressions", v, span);
                } else {
                    self.insert(&mut cond_obj, key("combinator", span), v);
                }
                if let Some(Value {
                    kind: ValueKind::Object(cond),
                    ..
                }) = config.get_mut("condition")
                {
                    *cond = cond_obj.members;
                }
            }
        }
    }

    /// `outlet <id> "Title"? when `jq` { status_label ... }`
    fn outlet(&mut self, e: &Entry, config: &mut Obj) {
        let (args, block) = entry_parts(e);
        let mut outlet = match &block {
            Some(b) => match self.block_object(b).kind {
                ValueKind::Object(m) => Obj { members: m },
                _ => Obj::default(),
            },
            None => Obj::default(),
        };
        let mut rest = args.iter();
        match rest.next().and_then(|v| ident_or_string(v)) {
            Some((id, span)) => outlet
                .members
                .insert(0, (key("identifier", span), string(&id, span))),
            None => self.diags.push(
                Diagnostic::error(
                    "missing-field",
                    e.name.span,
                    "an outlet needs an identifier",
                )
                .help("write `outlet prod \"Production\" when `.outputs.trigger.env == \"prod\"``"),
            ),
        }
        let mut saw_when = false;
        for v in rest {
            match &v.kind {
                ValueKind::Str(_) if !saw_when => {
                    outlet.members.push((key("title", v.span), (*v).clone()))
                }
                ValueKind::Ident(w) if w.name == "when" && !saw_when => saw_when = true,
                // A string after `when` is reported by the lowering, which still reads it as jq.
                ValueKind::Jq { .. } | ValueKind::Str(_) if saw_when => outlet
                    .members
                    .push((key("expression", v.span), (*v).clone())),
                _ => self.diags.push(
                    Diagnostic::error("wrong-type", v.span, "unexpected value in an outlet")
                        .help("write `outlet <id> \"Title\" when `<jq>``"),
                ),
            }
        }
        // An outlet without `when` is reported by the lowering, once.
        push_to_array(config, "outlets", outlet.value(e.span), e.name.span);
    }

    /// An `input key?: type "Title" { ... }` declaration as (key, schema).
    fn input(&mut self, i: &InputDecl) -> (Key, Value) {
        let mut schema = Obj::default();
        self.input_type(&i.ty, &mut schema);
        let mut args = i.args.iter();
        if let Some(t) = args.next() {
            schema.members.push((key("title", t.span), arg_value(t)));
        }
        for extra in args {
            self.diags.push(
                Diagnostic::error(
                    "wrong-type",
                    extra.span,
                    "unexpected value after the input's title",
                )
                .help("put other settings in the input's `{ }` block"),
            );
        }
        if let Some(b) = &i.block {
            let mut nested = Vec::new();
            for st in &b.statements {
                match st {
                    Statement::Input(n) => nested.push(n.clone()),
                    Statement::Entry(e) => {
                        if let Some(v) = self.entry_value(e) {
                            self.insert(&mut schema, key(&camel(&e.name.name), e.name.span), v);
                        }
                    }
                    other => self.misplaced(other, "in an input"),
                }
            }
            if !nested.is_empty() {
                let (props, required) = self.input_list(&nested, b.span);
                // For `object[]`, nested inputs describe the items.
                let target = match schema.get_mut("items") {
                    Some(Value {
                        kind: ValueKind::Object(items),
                        ..
                    }) => items,
                    _ => &mut schema.members,
                };
                target.push((key("properties", b.span), props));
                if let Some(r) = required {
                    target.push((key("required", b.span), r));
                }
            }
        }
        (i.key.clone(), schema.value(i.span))
    }

    /// Inputs as a `properties` object and the `required` list (inputs not marked `?`).
    fn input_list(&mut self, inputs: &[InputDecl], span: Span) -> (Value, Option<Value>) {
        let mut props = Obj::default();
        let mut required = Vec::new();
        for i in inputs {
            let (k, v) = self.input(i);
            if !i.optional {
                required.push(string(&k.name, k.span));
            }
            if let Some((first, _)) = props.members.iter().find(|(m, _)| m.name == k.name) {
                self.diags.push(
                    Diagnostic::error(
                        "duplicate-identifier",
                        k.span,
                        format!("input `{}` is declared twice", k.name),
                    )
                    .with(first.span, "first declared here")
                    .help("rename or remove one of them"),
                );
                continue;
            }
            props.members.push((k, v));
        }
        let required = (!required.is_empty()).then(|| array(required, span));
        (props.value(span), required)
    }

    /// `string`, `entity(service)`, `user[]`, ... as `type`/`format`/`blueprint`/`items`.
    fn input_type(&mut self, ty: &TypeExpr, schema: &mut Obj) {
        let lib = wflow_stdlib::get();
        let mut target = std::mem::take(&mut schema.members);
        let mut holder = &mut target;
        let mut nested: Vec<Vec<(Key, Value)>> = Vec::new();
        for _ in 0..ty.array_depth {
            holder.push((key("type", ty.span), string("array", ty.span)));
            nested.push(std::mem::take(holder));
        }
        let name = ty.name.name.as_str();
        let span = ty.name.span;
        let mut item = Vec::new();
        if lib.input_types.iter().any(|t| t == name) {
            item.push((key("type", span), string(name, span)));
        } else if lib.string_formats.iter().any(|f| f == name) {
            item.push((key("type", span), string("string", span)));
            item.push((key("format", span), string(name, span)));
        } else if lib.object_formats.iter().any(|f| f == name) {
            item.push((key("type", span), string("object", span)));
            item.push((key("format", span), string(name, span)));
        } else {
            let known = lib
                .input_types
                .iter()
                .chain(&lib.string_formats)
                .chain(&lib.object_formats)
                .map(String::as_str);
            let alias = match name {
                "integer" | "int" | "float" | "double" => {
                    Some("Port has one number type: write `number`")
                }
                "bool" => Some("write `boolean`"),
                "str" | "text" => Some("write `string`"),
                "datetime" | "date" => Some("write `date-time`"),
                "list" => Some("write the item type followed by `[]`, e.g. `string[]`"),
                _ => None,
            };
            let help = alias.map(str::to_string).or_else(|| did_you_mean(name, known)).unwrap_or_else(|| {
                "types: string, number, boolean, object, array (`T[]`), and the string formats entity(<blueprint>), user, team, date-time, url, email, yaml, multi-line, markdown, proto; object format labeled-url".into()
            });
            self.diags.push(
                Diagnostic::error(
                    "unknown-input-type",
                    span,
                    format!("unknown input type `{name}`"),
                )
                .help(help),
            );
            item.push((key("type", span), string(name, span)));
        }
        match (&ty.arg, name) {
            (Some(bp), "entity") => {
                item.push((key("blueprint", bp.span), string(&bp.name, bp.span)))
            }
            (Some(arg), _) => self.diags.push(
                Diagnostic::error(
                    "wrong-type",
                    arg.span,
                    format!("`{name}` takes no argument"),
                )
                .help("only `entity(<blueprint>)` takes an argument"),
            ),
            (None, _) => {}
        }
        // Wrap the item schema in its arrays, innermost first.
        holder = &mut item;
        while let Some(mut outer) = nested.pop() {
            let inner = std::mem::take(holder);
            outer.push((
                key("items", ty.span),
                Value {
                    kind: ValueKind::Object(inner),
                    span: ty.span,
                },
            ));
            *holder = outer;
        }
        schema.members = std::mem::take(holder);
        schema.members.extend(target);
    }

    /// `button approve "Approve" PRIMARY { needs 2 }`: a button and its outlet.
    fn button(&mut self, e: &Entry, buttons: &mut Vec<Value>, outlets: &mut Vec<Value>) {
        let (args, block) = entry_parts(e);
        let Some((id, id_span)) = args.first().and_then(|v| ident_or_string(v)) else {
            self.diags.push(
                Diagnostic::error("missing-field", e.name.span, "a button needs an identifier")
                    .help("write `button approve \"Approve\" PRIMARY { needs 2 }`"),
            );
            return;
        };
        let mut button = Obj::default();
        let mut outlet = Obj::default();
        button
            .members
            .push((key("identifier", id_span), string(&id, id_span)));
        outlet.members.push((
            key("evaluationMethod", e.name.span),
            string("button", e.name.span),
        ));
        outlet
            .members
            .push((key("identifier", id_span), string(&id, id_span)));
        if let Some(label) = args.get(1) {
            button
                .members
                .push((key("label", label.span), arg_value(label)));
            outlet
                .members
                .push((key("title", label.span), arg_value(label)));
        }
        if let Some(variant) = args.get(2) {
            button
                .members
                .push((key("variant", variant.span), arg_value(variant)));
        }
        for extra in args.iter().skip(3) {
            self.diags.push(Diagnostic::error(
                "wrong-type",
                extra.span,
                "unexpected value after the button's variant",
            ));
        }
        for st in block.iter().flat_map(|b| &b.statements) {
            let Statement::Entry(f) = st else {
                self.misplaced(st, "in a button");
                continue;
            };
            let Some(v) = self.entry_value(f) else {
                continue;
            };
            let k = |n: &str| key(n, f.name.span);
            match f.name.name.as_str() {
                "icon" => self.insert(&mut button, k("icon"), v),
                "needs" => self.insert(&mut outlet, k("numOfResponders"), v),
                // `null` removes what a button implies for its outlet: the title, the method.
                "outlet_title" | "evaluation_method" => {
                    let port = if f.name.name == "outlet_title" {
                        "title"
                    } else {
                        "evaluationMethod"
                    };
                    outlet.members.retain(|(m, _)| m.name != port);
                    if !matches!(v.kind, ValueKind::Null) {
                        self.insert(&mut outlet, k(port), v);
                    }
                }
                other => self.insert(&mut outlet, key(&camel(other), f.name.span), v),
            }
        }
        buttons.push(button.value(e.span));
        outlets.push(outlet.value(e.span));
    }
}

fn push_to_array(obj: &mut Obj, name: &str, v: Value, span: Span) {
    match obj.get_mut(name) {
        Some(Value {
            kind: ValueKind::Array(items),
            span: s,
        }) => {
            *s = s.join(v.span);
            items.push(v);
        }
        _ => obj.members.push((key(name, span), array(vec![v], span))),
    }
}

/// The form-related statements of a `form` trigger or an `approval` node, gathered in order.
#[derive(Default)]
struct FormParts {
    inputs: Vec<InputDecl>,
    entries: Vec<Entry>,
    buttons: Vec<Entry>,
}

impl FormParts {
    /// Builds `userInputs` (and, for INPUT nodes, `outlets`) into `config`.
    fn finish(self, d: &mut Desugar, config: &mut Obj, type_name: &str, span: Span) {
        if !matches!(type_name, "SELF_SERVE_TRIGGER" | "INPUT") {
            return;
        }
        let mut inputs = self.inputs;
        let mut form = Obj::default();
        let mut steps = Vec::new();
        let mut titles = Obj::default();
        let mut validations = Vec::new();
        let mut explicit_required = None;
        for e in &self.entries {
            match e.name.name.as_str() {
                "required" => explicit_required = d.entry_value(e).map(|v| (e.name.span, v)),
                "order" => {
                    if let Some(v) = d.entry_value(e) {
                        d.insert(&mut form, key("order", e.name.span), v);
                    }
                }
                "validate" => validations.push(validation(d, e)),
                "heading" => {
                    let (args, block) = entry_parts(e);
                    let mut h = match &block {
                        Some(b) => match d.block_object(b).kind {
                            ValueKind::Object(m) => Obj { members: m },
                            _ => Obj::default(),
                        },
                        None => Obj::default(),
                    };
                    let (Some(k), Some(t)) =
                        (args.first().and_then(|v| ident_or_string(v)), args.get(1))
                    else {
                        d.diags.push(
                            Diagnostic::error(
                                "missing-field",
                                e.name.span,
                                "a heading needs a key and a title",
                            )
                            .help("write `heading details \"Details\"`"),
                        );
                        continue;
                    };
                    h.members.insert(0, (key("title", t.span), arg_value(t)));
                    d.insert(&mut titles, key(&k.0, k.1), h.value(e.span));
                }
                _ => {
                    // `step "Title" { input ...; visible ...; validate ... }`
                    let (args, block) = entry_parts(e);
                    let mut step = Obj::default();
                    match args.first() {
                        Some(t) => step.members.push((key("title", t.span), arg_value(t))),
                        None => d.diags.push(
                            Diagnostic::error("missing-field", e.name.span, "a step needs a title")
                                .help("write `step \"Details\" { input ... }`"),
                        ),
                    }
                    let mut order = Vec::new();
                    let mut step_validations = Vec::new();
                    for st in block.iter().flat_map(|b| &b.statements) {
                        match st {
                            Statement::Input(i) => {
                                order.push(string(&i.key.name, i.key.span));
                                inputs.push(i.clone());
                            }
                            Statement::Entry(v) if v.name.name == "validate" => {
                                step_validations.push(validation(d, v))
                            }
                            Statement::Entry(f) => {
                                if let Some(v) = d.entry_value(f) {
                                    d.insert(&mut step, key(&camel(&f.name.name), f.name.span), v);
                                }
                            }
                            other => d.misplaced(other, "in a step"),
                        }
                    }
                    if !step.has("order") {
                        step.members
                            .push((key("order", e.name.span), array(order, e.name.span)));
                    }
                    if !step_validations.is_empty() {
                        step.members.push((
                            key("validations", e.name.span),
                            array(step_validations, e.name.span),
                        ));
                    }
                    steps.push(step.value(e.span));
                }
            }
        }
        let (props, implied_required) = d.input_list(&inputs, span);
        form.members.insert(0, (key("properties", span), props));
        match (explicit_required, implied_required) {
            (Some((s, v)), _) => form.members.insert(1, (key("required", s), v)),
            (None, Some(r)) => form.members.insert(1, (key("required", span), r)),
            (None, None) => {}
        }
        if !steps.is_empty() {
            form.members.push((key("steps", span), array(steps, span)));
        }
        if !titles.members.is_empty() {
            form.members.push((key("titles", span), titles.value(span)));
        }
        if !validations.is_empty() {
            form.members
                .push((key("validations", span), array(validations, span)));
        }
        if type_name == "INPUT" {
            let mut buttons = Vec::new();
            let mut outlets = Vec::new();
            for b in &self.buttons {
                d.button(b, &mut buttons, &mut outlets);
            }
            form.members
                .push((key("buttons", span), array(buttons, span)));
            config
                .members
                .push((key("outlets", span), array(outlets, span)));
        }
        config
            .members
            .push((key("userInputs", span), form.value(span)));
    }
}

/// `validate `jq` "message"`.
fn validation(d: &mut Desugar, e: &Entry) -> Value {
    let (args, _) = entry_parts(e);
    let mut v = Obj::default();
    match args.as_slice() {
        [c, m] => {
            v.members.push((key("constraint", c.span), (*c).clone()));
            v.members.push((key("message", m.span), arg_value(m)));
        }
        _ => d.diags.push(
            Diagnostic::error(
                "missing-field",
                e.name.span,
                "a validation takes a jq constraint and a message",
            )
            .help("write `validate `.form.count > 0` \"Count must be positive\"`"),
        ),
    }
    v.value(e.span)
}
