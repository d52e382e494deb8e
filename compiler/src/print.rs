//! The printer: the IR as canonical `.wflow` text.
//!
//! One layout: 2-space indents, `<kind> <id> "Title" {` blocks, one field per line in a fixed
//! order, `flow { }` last. A value, or a block holding a single line, stays on one line when it
//! fits in [`WIDTH`] columns; otherwise it gets one member per line. jq stays as written
//! (backticks, possibly over several lines) and `{{ }}` templates stay raw inside strings.
//!
//! Comments from the source are attached to the first following printed item that has a span
//! (a node, a field, an input, an outlet, a connection), or to the end of the previous item's
//! line when they sit on that line in the source; a comment after everything goes at the end.
//! None is ever dropped.

use wflow_grammar::Span;
use wflow_grammar::ast::Comment;

use crate::diag::{Diagnostic, Severity};
use crate::ir::{self, Name, NodeConfig, Value, ValueKind};
use crate::wflow::snake;

/// The column a one-line value or block may reach before it is broken over several lines.
pub const WIDTH: usize = 100;

/// Prints a module as canonical `.wflow`. `comments` are the source's comments and `src` its
/// text (used to tell whether a comment shares a line with an item); pass `&[]` and `""` when
/// printing IR that has no `.wflow` source (an import).
pub fn print(module: &ir::Module, comments: &[Comment], src: &str) -> String {
    let items: Vec<Item> = module.workflows.iter().map(Item::Workflow).collect();
    print_items(&items, comments, src)
}

/// A top-level item of the output.
enum Item<'a> {
    Workflow(&'a ir::Workflow),
    /// A top-level declaration the IR does not hold (a `blueprint`), copied from the source.
    Verbatim(Span),
}

fn print_items(items: &[Item], comments: &[Comment], src: &str) -> String {
    let mut p = Printer::default();
    let mut copied = Vec::new();
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            p.blank();
        }
        match item {
            Item::Workflow(wf) => p.workflow(wf),
            Item::Verbatim(span) => {
                copied.push(*span);
                p.lines.push(Line {
                    indent: 0,
                    text: src.get(span.range()).unwrap_or_default().to_string(),
                    anchor: Some(*span),
                    close: false,
                });
            }
        }
    }
    // Comments inside a copied declaration are copied with it.
    // Copied spans are in source order and apart: only the last one starting at or before a
    // comment can hold it.
    let outside: Vec<Comment> = comments
        .iter()
        .filter(|c| {
            let n = copied.partition_point(|s| s.start <= c.span.start);
            n.checked_sub(1)
                .and_then(|i| copied.get(i))
                .is_none_or(|s| c.span.end > s.end)
        })
        .cloned()
        .collect();
    place_comments(&p.lines, &outside, src)
}

/// One output line: its indent level, text, the source span of what it prints (for comment
/// placement) and whether it closes a block.
#[derive(Debug, Clone, Default)]
struct Line {
    indent: usize,
    text: String,
    anchor: Option<Span>,
    close: bool,
}

#[derive(Default)]
struct Printer {
    lines: Vec<Line>,
    indent: usize,
}

/// A span that points into real source text (IR from JSON or built by hand has none).
fn real(span: Span) -> Option<Span> {
    (!span.is_empty()).then_some(span)
}

impl Printer {
    fn line(&mut self, text: String, anchor: Span) {
        self.lines.push(Line {
            indent: self.indent,
            text,
            anchor: real(anchor),
            close: false,
        });
    }

    fn blank(&mut self) {
        self.lines.push(Line::default());
    }

    fn open(&mut self, header: String, anchor: Span) {
        self.line(format!("{header} {{"), anchor);
        self.indent += 1;
    }

    /// Closes a block; `end` is the source offset just after its `}`, when known.
    fn close(&mut self, end: Option<usize>) {
        self.indent = self.indent.saturating_sub(1);
        self.lines.push(Line {
            indent: self.indent,
            text: "}".into(),
            anchor: end
                .filter(|e| *e > 0)
                .map(|e| Span::new(e.saturating_sub(1), e)),
            close: true,
        });
    }

    /// `header { ... }` whose body `body` prints; a body of one short line stays on the
    /// header's line.
    fn block(
        &mut self,
        header: String,
        anchor: Span,
        end: Option<usize>,
        body: impl FnOnce(&mut Printer),
    ) {
        self.block_or_line(header, anchor, end, false, body);
    }

    /// [`Printer::block`], or the header alone when `bare` and the body prints nothing.
    fn block_or_line(
        &mut self,
        header: String,
        anchor: Span,
        end: Option<usize>,
        bare: bool,
        body: impl FnOnce(&mut Printer),
    ) {
        let mut inner = Printer::default();
        body(&mut inner);
        if bare && inner.lines.is_empty() {
            self.line(header, anchor);
            return;
        }
        if inner.lines.is_empty() {
            self.line(format!("{header} {{}}"), anchor);
            return;
        }
        // One line, or up to three short lines without blocks of their own, joined by `;`.
        let joinable = match inner.lines.as_slice() {
            [only] => !only.text.contains('\n'),
            lines => {
                lines.len() <= 3
                    && lines
                        .iter()
                        .all(|l| l.indent == 0 && !l.text.contains(['{', '\n']))
            }
        };
        if joinable {
            let texts: Vec<&str> = inner.lines.iter().map(|l| l.text.as_str()).collect();
            let text = format!("{header} {{ {} }}", texts.join("; "));
            if self.indent * 2 + text.len() <= WIDTH {
                self.line(text, anchor);
                return;
            }
        }
        self.expand(header, anchor, end, inner);
    }

    /// `header {`, the body's lines one level deeper, `}`.
    fn expand(&mut self, header: String, anchor: Span, end: Option<usize>, inner: Printer) {
        self.open(header, anchor);
        let base = self.indent;
        self.lines.extend(inner.lines.into_iter().map(|mut l| {
            l.indent += base;
            l
        }));
        self.close(end);
    }

    /// `name value`, breaking an object or list over lines when it does not fit.
    fn field(&mut self, name: &str, v: &Value) {
        self.value_lines(format!("{name} "), v, v.span);
    }

    fn opt_field(&mut self, name: &str, v: Option<&Value>) {
        if let Some(v) = v {
            self.field(name, v);
        }
    }

    fn text(&mut self, name: &str, n: Option<&Name>) {
        if let Some(n) = n {
            self.line(format!("{name} {}", string(&n.value)), n.span);
        }
    }

    fn template(&mut self, name: &str, t: Option<&ir::Template>) {
        if let Some(t) = t {
            self.line(format!("{name} {}", string(&t.text)), t.span);
        }
    }

    /// `name word`: bare when the word is a plain name, else quoted.
    fn word(&mut self, name: &str, n: Option<&Name>) {
        if let Some(n) = n {
            self.line(format!("{name} {}", word(&n.value)), n.span);
        }
    }

    /// `name CONSTANT` for an upper-case constant such as `GITHUB`, else `name "text"`.
    fn constant(&mut self, name: &str, n: Option<&Name>) {
        match n {
            Some(c) if is_bare(&c.value) && !c.value.chars().any(char::is_lowercase) => {
                self.word(name, Some(c))
            }
            other => self.text(name, other),
        }
    }

    fn flag(&mut self, name: &str, b: Option<bool>) {
        if let Some(b) = b {
            self.line(format!("{name} {b}"), Span::default());
        }
    }

    fn words(&mut self, name: &str, names: Option<&[Name]>) {
        if let Some(names) = names {
            let span = names.first().map_or(Span::default(), |f| {
                f.span.join(names.last().map_or(f.span, |l| l.span))
            });
            self.line(format!("{name} {}", word_list(names)), span);
        }
    }

    fn on_failure(&mut self, f: Option<ir::OnFailure>) {
        if let Some(f) = f {
            let w = match f {
                ir::OnFailure::Terminate => "terminate",
                ir::OnFailure::Continue => "continue",
            };
            self.line(format!("on_failure {w}"), Span::default());
        }
    }

    /// Prints `prefix` followed by `v`: on one line when it fits, else an object or list with
    /// one member per line.
    fn value_lines(&mut self, prefix: String, v: &Value, anchor: Span) {
        let one = format!("{prefix}{}", inline(v));
        let fits = self.indent * 2 + one.len() <= WIDTH || one.contains('\n');
        let (open, close, items): (&str, &str, Vec<(String, &Value, Span)>) = match &v.kind {
            ValueKind::Object(members) if !fits && !members.is_empty() => (
                "{",
                "}",
                members
                    .iter()
                    .map(|(k, m)| (format!("{}: ", key(&k.value)), m, k.span.join(m.span)))
                    .collect(),
            ),
            ValueKind::Array(items) if !fits && !items.is_empty() => (
                "[",
                "]",
                items.iter().map(|i| (String::new(), i, i.span)).collect(),
            ),
            _ => return self.line(one, anchor),
        };
        self.line(format!("{prefix}{open}"), anchor);
        self.indent += 1;
        for (prefix, item, span) in items {
            self.value_lines(prefix, item, span);
        }
        self.indent -= 1;
        self.lines.push(Line {
            indent: self.indent,
            text: close.into(),
            anchor: None,
            close: true,
        });
    }

    // Workflows ---------------------------------------------------------------------------

    fn workflow(&mut self, wf: &ir::Workflow) {
        let header = if wf.fragment {
            "fragment".to_string()
        } else {
            let mut h = format!("workflow {}", word(&wf.identifier.value));
            if let Some(t) = &wf.title {
                h.push(' ');
                h.push_str(&string(&t.value));
            }
            h
        };
        self.open(
            header,
            wf.identifier
                .span
                .join(wf.title.as_ref().map_or(wf.identifier.span, |t| t.span)),
        );
        let start = self.lines.len();
        if wf.fragment {
            self.text("title", wf.title.as_ref());
        }
        self.text("icon", wf.icon.as_ref());
        self.text("description", wf.description.as_ref());
        self.text("category", wf.category.as_ref());
        self.flag("allow_anyone_to_view_runs", wf.allow_anyone_to_view_runs);
        self.policy(wf.timeout, None, None);
        if let Some(c) = &wf.concurrency {
            let by = c
                .key
                .as_ref()
                .map(|k| format!(" by `{}`", k.code))
                .unwrap_or_default();
            self.line(format!("concurrency {}{by}", c.limit), c.span);
        }
        if let Some(r) = &wf.retry {
            self.block("defaults".into(), Span::default(), None, |p| p.retry(r));
        }
        let mut first = self.lines.len() == start;
        for n in &wf.nodes {
            if !first {
                self.blank();
            }
            first = false;
            self.node(wf, n);
        }
        if !wf.connections.is_empty() {
            if !first {
                self.blank();
            }
            // The graph always reads one edge (or chain) per line.
            let mut edges = Printer::default();
            edges.connections(&wf.connections);
            self.expand("flow".into(), Span::default(), None, edges);
        }
        self.close(Some(wf.span.end));
    }

    fn connections(&mut self, conns: &[ir::Connection]) {
        let mut i = 0;
        while let Some(c) = conns.get(i) {
            let mut parts = vec![endpoint(c), word(&c.target.value)];
            let mut span = c.span;
            let mut last = c;
            // Chain `a -> b` and `b -> c` into `a -> b -> c`; a description ends the chain, and
            // a branch (`b.outlet -> c`) starts its own line.
            while last.description.is_none()
                && let Some(next) = conns.get(i + 1)
                && next.source.value == last.target.value
                && next.outlet.is_none()
                && !next.fallback
            {
                parts.pop();
                parts.push(endpoint(next));
                parts.push(word(&next.target.value));
                span = span.join(next.span);
                last = next;
                i += 1;
            }
            let mut text = parts.join(" -> ");
            if let Some(d) = &last.description {
                text.push(' ');
                text.push_str(&string(&d.value));
            }
            self.line(text, span);
            i += 1;
        }
    }

    fn node(&mut self, wf: &ir::Workflow, n: &ir::Node) {
        let keyword = keyword(&n.config);
        let anonymous = is_anonymous(wf, n);
        let mut header = keyword.to_string();
        let mut anchor = n.identifier.span;
        if !anonymous {
            header.push(' ');
            header.push_str(&word(&n.identifier.value));
            if let Some(t) = &n.title {
                header.push(' ');
                header.push_str(&string(&t.value));
                anchor = anchor.join(t.span);
            }
        }
        self.open(header, anchor);
        let body = self.lines.len();
        if anonymous {
            self.text("title", n.title.as_ref());
        }
        self.text("icon", n.icon.as_ref());
        let input = matches!(n.config, NodeConfig::Input(_));
        self.text(
            if input {
                "node_description"
            } else {
                "description"
            },
            n.description.as_ref(),
        );
        self.config(&n.config);
        self.policy(n.timeout, n.on_timeout.as_ref(), n.retry.as_ref());
        if let Some(vars) = &n.variables {
            self.field("variables", &object(vars, Span::default()));
        }
        if !n.links.is_empty() {
            let items = n
                .links
                .iter()
                .map(|t| Value {
                    kind: ValueKind::String(t.clone()),
                    span: t.span,
                })
                .collect();
            self.field(
                "links",
                &Value {
                    kind: ValueKind::Array(items),
                    span: Span::default(),
                },
            );
        }
        self.flag("verbose", n.verbose);
        if self.lines.len() == body
            && let Some(header) = self.lines.last_mut()
        {
            // Nothing inside: `form trigger "Start" {}`.
            header.text.push('}');
            self.indent -= 1;
            return;
        }
        self.close(Some(n.span.end));
    }

    /// `timeout`, `on_timeout` and `retry` of a node (or a workflow's `timeout`).
    fn policy(
        &mut self,
        timeout: Option<ir::Duration>,
        on_timeout: Option<&ir::OnTimeout>,
        retry: Option<&ir::Retry>,
    ) {
        if let Some(t) = timeout {
            self.line(format!("timeout {}", t.text()), t.span);
        }
        if let Some(t) = on_timeout {
            self.line(format!("on_timeout {}", word(t.word())), Span::default());
        }
        if let Some(r) = retry {
            self.retry(r);
        }
    }

    /// `retry { attempts 3; backoff exponential 1s max 30s jitter; on [connect, 5xx] }`.
    fn retry(&mut self, r: &ir::Retry) {
        if r.is_default_but_attempts() {
            self.line(format!("retry {}", r.attempts), r.span);
            return;
        }
        self.block("retry".into(), r.span, None, |p| {
            p.line(format!("attempts {}", r.attempts), Span::default());
            let mut backoff = match r.backoff {
                ir::Backoff::Fixed => format!("backoff fixed {}", r.delay.text()),
                ir::Backoff::Exponential => format!("backoff exponential {}", r.delay.text()),
            };
            if let Some(m) = r.max {
                backoff.push_str(&format!(" max {}", m.text()));
            }
            if r.jitter {
                backoff.push_str(" jitter");
            }
            p.line(backoff, Span::default());
            if r.on.len() < ir::RetryOn::ALL.len() {
                let on: Vec<&str> = r.on.iter().map(|c| c.word()).collect();
                p.line(format!("on [{}]", on.join(", ")), Span::default());
            }
        });
    }

    fn config(&mut self, c: &NodeConfig) {
        match c {
            NodeConfig::SelfServeTrigger(t) => self.form_trigger(t),
            NodeConfig::EventTrigger(e) => self.event(e),
            NodeConfig::ScheduleTrigger(s) => {
                self.text("cron", Some(&s.cron));
                self.flag("published", s.published);
            }
            NodeConfig::Webhook(w) => {
                self.template("url", Some(&w.url));
                self.word("method", w.method.as_ref());
                if !w.headers.is_empty() {
                    self.field("headers", &object(&w.headers, Span::default()));
                }
                self.opt_field("body", w.body.as_ref());
                self.flag("synchronized", w.synchronized);
                self.flag("agent", w.agent);
                self.on_failure(w.on_failure);
                self.opt_field("response_schema", w.response_schema.as_ref());
            }
            NodeConfig::Kafka(k) => {
                self.opt_field("payload", k.payload.as_ref());
                self.on_failure(k.on_failure);
            }
            NodeConfig::UpsertEntity(u) => {
                let b = &u.blueprint_identifier;
                self.line(format!("blueprint {}", word(&b.text)), b.span);
                self.mapping(&u.mapping);
                self.on_failure(u.on_failure);
            }
            NodeConfig::IntegrationAction(i) => self.integration(i),
            NodeConfig::Ai(a) => {
                self.template("prompt", Some(&a.user_prompt));
                self.template("system_prompt", a.system_prompt.as_ref());
                self.string_list("tools", a.tools.as_deref());
                self.ai_model(&a.model);
            }
            NodeConfig::AiAgent(a) => {
                self.word("agent", Some(&a.agent_identifier));
                self.template("prompt", Some(&a.user_prompt));
                self.ai_model(&a.model);
            }
            NodeConfig::CursorAgent(o) => {
                for (k, v) in &o.fields {
                    self.field(&snake(&k.value), v);
                }
            }
            NodeConfig::Condition(c) => {
                for o in &c.outlets {
                    self.condition_outlet(o);
                }
            }
            NodeConfig::Input(i) => self.input_node(i),
            NodeConfig::Join(j) => self.line(format!("wait {}", j.wait.text()), j.span),
        }
    }

    fn form_trigger(&mut self, t: &ir::FormTrigger) {
        if let Some(p) = &t.permissions {
            self.block("permissions".into(), Span::default(), None, |p2| {
                p2.string_list("roles", p.roles.as_deref());
                p2.string_list("teams", p.teams.as_deref());
                p2.string_list("users", p.users.as_deref());
                p2.opt_field("policy", p.policy.as_ref());
            });
        }
        self.flag("published", t.published);
        self.word("variant", t.variant.as_ref());
        self.text("card_button", t.action_card_button_text.as_ref());
        self.text("submit_button", t.execute_action_button_text.as_ref());
        for c in &t.contexts {
            self.context(c);
        }
        self.form(&t.user_inputs, &[]);
    }

    /// `name ["a", "b"]`, one item per line when it does not fit.
    fn string_list(&mut self, name: &str, names: Option<&[Name]>) {
        if let Some(names) = names {
            let items = names
                .iter()
                .map(|n| {
                    let t = ir::Template::parse(
                        &n.value,
                        &wflow_grammar::OffsetMap::identity(0),
                        n.span,
                    );
                    Value {
                        kind: ValueKind::String(t),
                        span: n.span,
                    }
                })
                .collect();
            self.field(
                name,
                &Value {
                    kind: ValueKind::Array(items),
                    span: Span::default(),
                },
            );
        }
    }

    fn context(&mut self, c: &ir::Context) {
        let mut header = format!("context {}", word(&c.on.value));
        let mut rest_blueprint = c.blueprint_identifier.as_ref();
        let mut rest_input = c.user_input.as_ref();
        // The second argument is the input for ENTITY, the blueprint otherwise.
        if c.on.value == "ENTITY" {
            if let Some(i) = rest_input.take() {
                header = format!("{header} {}", word(&i.value));
            }
        } else if let Some(b) = rest_blueprint.take() {
            header = format!("{header} {}", word(&b.value));
        }
        if rest_blueprint.is_none() && rest_input.is_none() && c.visible.is_none() {
            self.line(header, c.on.span);
            return;
        }
        self.block(header, c.on.span, None, |p| {
            p.word("blueprint_identifier", rest_blueprint);
            p.word("user_input", rest_input);
            p.flag("visible", c.visible);
        });
    }

    fn event(&mut self, e: &ir::EventTrigger) {
        self.line(
            format!(
                "on {} {}",
                word(&e.event_type.value),
                word(&e.blueprint_identifier.value)
            ),
            e.event_type.span.join(e.blueprint_identifier.span),
        );
        self.word("property", e.property_identifier.as_ref());
        if let Some(c) = &e.condition {
            for q in &c.expressions {
                self.line(format!("when {}", jq(&q.code)), q.span);
            }
            self.word("combinator", c.combinator.as_ref());
        }
        self.flag("published", e.published);
    }

    fn mapping(&mut self, m: &ir::Mapping) {
        let empty = m.identifier.is_none()
            && m.title.is_none()
            && m.icon.is_none()
            && m.team.is_none()
            && m.properties.is_none()
            && m.relations.is_none();
        if empty {
            return;
        }
        self.block("entity".into(), Span::default(), None, |p| {
            p.template("identifier", m.identifier.as_ref());
            p.template("title", m.title.as_ref());
            p.template("icon", m.icon.as_ref());
            p.opt_field("team", m.team.as_ref());
            if let Some(props) = &m.properties {
                p.field("properties", &object(props, Span::default()));
            }
            if let Some(rels) = &m.relations {
                p.field("relations", &object(rels, Span::default()));
            }
        });
    }

    fn integration(&mut self, i: &ir::Integration) {
        self.text("installation", i.installation_id.as_ref());
        match github_sugar(i) {
            Some(props) => {
                for (k, v) in props {
                    let name = match k.value.as_str() {
                        "workflowInputs" => "inputs",
                        "reportWorkflowStatus" => "report_status",
                        other => other,
                    };
                    self.value_lines(format!("{name} "), v, k.span.join(v.span));
                }
            }
            None => {
                self.constant("provider", i.integration_provider.as_ref());
                self.constant("invocation", i.integration_invocation_type.as_ref());
                self.opt_field(
                    "properties",
                    i.integration_action_execution_properties.as_ref(),
                );
            }
        }
        self.flag("defer_installation", i.defer_integration_installation);
        self.on_failure(i.on_failure);
    }

    fn ai_model(&mut self, m: &ir::AiModel) {
        if !m.mcp_servers.is_empty() {
            self.words("mcp_servers", Some(&m.mcp_servers));
        }
        self.text("provider", m.provider.as_ref());
        self.text("model", m.model.as_ref());
        self.opt_field("output_schema", m.output_schema.as_ref());
    }

    fn condition_outlet(&mut self, o: &ir::ConditionOutlet) {
        let mut header = format!("outlet {}", word(&o.identifier.value));
        if let Some(t) = &o.title {
            header = format!("{header} {}", string(&t.value));
        }
        header = format!("{header} when {}", jq(&o.expression.code));
        let anchor = o.identifier.span;
        if o.status_label.is_none() && o.workflow_status_label.is_none() {
            self.line(header, anchor);
            return;
        }
        self.block(header, anchor, None, |p| {
            p.opt_field("status_label", o.status_label.as_ref());
            p.opt_field("workflow_status_label", o.workflow_status_label.as_ref());
        });
    }

    fn input_node(&mut self, i: &ir::InputNode) {
        self.template("description", i.description.as_ref());
        self.form(&i.user_inputs, &i.outlets);
        if let Some(r) = &i.responders {
            self.block("responders".into(), Span::default(), None, |p| {
                for (k, list) in [
                    ("users", &r.users),
                    ("roles", &r.roles),
                    ("teams", &r.teams),
                ] {
                    if !list.is_empty() || r.listed_empty.iter().any(|l| l == k) {
                        p.string_list(k, Some(list));
                    }
                }
                p.opt_field("users_query", r.users_query.as_ref());
            });
        }
        if !i.notifications.is_empty() {
            let list = Value {
                kind: ValueKind::Array(i.notifications.clone()),
                span: Span::default(),
            };
            self.field("notifications", &list);
        }
    }

    // Forms -------------------------------------------------------------------------------

    /// The inputs and form settings of a `form` trigger or an `approval` node (with its
    /// buttons, each printed with its outlet).
    fn form(&mut self, form: &ir::Form, outlets: &[ir::InputOutlet]) {
        let in_steps = steps_own_inputs(form);
        let optional = |key: &str| match &form.required {
            ir::Required::Keys(keys) => !keys.iter().any(|k| k.value == key),
            ir::Required::Jq(_) => false,
        };
        let stepped: Vec<&str> = if in_steps {
            form.steps
                .iter()
                .flat_map(|s| s.order.iter().map(|n| n.value.as_str()))
                .collect()
        } else {
            Vec::new()
        };
        for f in form
            .properties
            .iter()
            .filter(|f| !stepped.contains(&f.key.value.as_str()))
        {
            self.input(f, optional(&f.key.value));
        }
        match &form.required {
            ir::Required::Jq(q) => self.line(format!("required {}", jq(&q.code)), q.span),
            ir::Required::Keys(keys)
                if form.required_listed || !implied_required(keys, &form.properties) =>
            {
                self.words("required", Some(keys))
            }
            ir::Required::Keys(_) => {}
        }
        self.words("order", form.order.as_deref());
        for h in &form.titles {
            let header = format!("heading {} {}", word(&h.key.value), string(&h.title.value));
            if h.description.is_none() && h.visible.is_none() {
                self.line(header, h.key.span);
            } else {
                self.block(header, h.key.span, None, |p| {
                    p.text("description", h.description.as_ref());
                    p.opt_field("visible", h.visible.as_ref());
                });
            }
        }
        for v in &form.validations {
            self.validation(v);
        }
        for s in &form.steps {
            self.block(
                format!("step {}", string(&s.title.value)),
                s.title.span,
                Some(s.span.end),
                |p| {
                    if in_steps {
                        for key in &s.order {
                            if let Some(f) = form.input(&key.value) {
                                p.input(f, optional(&key.value));
                            }
                        }
                    } else {
                        p.words("order", Some(&s.order));
                    }
                    p.opt_field("visible", s.visible.as_ref());
                    for v in &s.validations {
                        p.validation(v);
                    }
                },
            );
        }
        for (b, o) in form.buttons.iter().zip(outlets) {
            self.button(b, o);
        }
    }

    fn validation(&mut self, v: &ir::Validation) {
        self.line(
            format!(
                "validate {} {}",
                jq(&v.constraint.code),
                string(&v.message.value)
            ),
            v.constraint.span,
        );
    }

    fn button(&mut self, b: &ir::Button, o: &ir::InputOutlet) {
        let mut header = format!(
            "button {} {}",
            word(&b.identifier.value),
            string(&b.label.value)
        );
        if let Some(v) = &b.variant {
            header = format!("{header} {}", word(&v.value));
        }
        let anchor = b.identifier.span;
        let body = |p: &mut Printer| {
            p.text("icon", b.icon.as_ref());
            if let Some(n) = o.num_of_responders {
                p.line(format!("needs {n}"), Span::default());
            }
            match &o.title {
                Some(t) if t.value == b.label.value => {}
                Some(t) => p.text("outlet_title", Some(t)),
                None => p.line("outlet_title null".into(), Span::default()),
            }
            if o.evaluation_method
                .as_ref()
                .is_none_or(|m| m.value != "button")
            {
                match &o.evaluation_method {
                    Some(m) => p.word("evaluation_method", Some(m)),
                    None => p.line("evaluation_method null".into(), Span::default()),
                }
            }
            p.opt_field("status_label", o.status_label.as_ref());
            p.opt_field("workflow_status_label", o.workflow_status_label.as_ref());
        };
        self.block_or_line(header, anchor, None, true, body);
    }

    /// `input key?: type "Title" { ... }`.
    fn input(&mut self, f: &ir::InputField, optional: bool) {
        let s = &f.schema;
        let (ty, rest) = type_expr(s);
        let mut header = format!(
            "input {}{}: {ty}",
            key(&f.key.value),
            if optional { "?" } else { "" }
        );
        if let Some(t) = &s.title {
            header = format!("{header} {}", string(&t.value));
        }
        let body = |p: &mut Printer| {
            p.word("format", rest.format);
            p.word("blueprint", rest.blueprint);
            if let Some(items) = rest.items {
                p.field("items", &schema_value(items));
            }
            p.text("description", s.description.as_ref());
            p.opt_field("enum", s.enum_values.as_ref());
            for (k, v) in &s.keywords {
                match input_names(k, v) {
                    Some(names) => p.words("depends_on", Some(&names)),
                    None => p.value_lines(format!("{} ", snake(&k.value)), v, k.span.join(v.span)),
                }
            }
            p.opt_field("default", s.default.as_ref());
            let nested = rest.nested;
            let nested_required = rest.nested_required;
            if !nested_required.is_empty() && !implied_required(nested_required, nested) {
                p.words("required", Some(nested_required));
            }
            for n in nested {
                let opt = !nested_required.iter().any(|r| r.value == n.key.value);
                p.input(n, opt);
            }
        };
        self.block_or_line(header, f.key.span, Some(s.span.end), true, body);
    }
}

/// `dependsOn` as the input names it lists, when they are plain strings.
fn input_names(k: &Name, v: &Value) -> Option<Vec<Name>> {
    let ValueKind::Array(items) = &v.kind else {
        return None;
    };
    if k.value != "dependsOn" {
        return None;
    }
    items
        .iter()
        .map(|i| match &i.kind {
            ValueKind::String(t) if !t.text.contains("{{") => {
                Some(Name::new(t.text.clone(), i.span))
            }
            _ => None,
        })
        .collect()
}

/// What of an input schema its type expression does not say, to be written in its block.
struct Rest<'a> {
    format: Option<&'a Name>,
    blueprint: Option<&'a Name>,
    items: Option<&'a ir::InputSchema>,
    nested: &'a [ir::InputField],
    nested_required: &'a [Name],
}

/// The type expression of an input (`string`, `entity(service)`, `user[]`) and what it leaves
/// for the block.
fn type_expr(s: &ir::InputSchema) -> (String, Rest<'_>) {
    let rest = Rest {
        format: s.format.as_ref(),
        blueprint: s.blueprint.as_ref(),
        items: s.items.as_deref(),
        nested: &s.properties,
        nested_required: &s.required,
    };
    if let Some(base) = simple_type(s) {
        return (
            base,
            Rest {
                format: None,
                blueprint: None,
                items: None,
                ..rest
            },
        );
    }
    // `T[]`: an array whose items are a bare type; nested inputs then describe the items.
    if let (Some("array"), Some(items)) =
        (s.ty.as_ref().map(|t| t.value.as_str()), s.items.as_deref())
        && s.format.is_none()
        && s.blueprint.is_none()
        && bare_item(items)
    {
        let (inner, inner_rest) = type_expr(items);
        if inner_rest.format.is_none()
            && inner_rest.blueprint.is_none()
            && inner_rest.items.is_none()
            && (s.properties.is_empty() || items.properties.is_empty())
            && s.required.is_empty()
        {
            let (nested, nested_required) = if items.properties.is_empty() {
                (s.properties.as_slice(), s.required.as_slice())
            } else {
                (items.properties.as_slice(), items.required.as_slice())
            };
            return (
                format!("{inner}[]"),
                Rest {
                    format: None,
                    blueprint: None,
                    items: None,
                    nested,
                    nested_required,
                },
            );
        }
    }
    let ty =
        s.ty.as_ref()
            .map_or_else(|| "string".to_string(), |t| word(&t.value));
    (ty, rest)
}

/// An item schema that a type expression can say entirely (apart from nested inputs).
fn bare_item(s: &ir::InputSchema) -> bool {
    s.title.is_none()
        && s.description.is_none()
        && s.default.is_none()
        && s.enum_values.is_none()
        && s.keywords.is_empty()
        && (s.items.is_none() || s.items.as_deref().is_some_and(bare_item))
}

/// `string`, `entity(service)`, `labeled-url`, ... when type, format and blueprint say exactly
/// that (and there are no items).
fn simple_type(s: &ir::InputSchema) -> Option<String> {
    let lib = wflow_stdlib::get();
    let ty = s.ty.as_ref()?.value.as_str();
    let format = s.format.as_ref().map(|f| f.value.as_str());
    let blueprint = s.blueprint.as_ref().map(|b| b.value.as_str());
    if s.items.is_some() {
        return None;
    }
    match (ty, format, blueprint) {
        (t, None, None) if lib.input_types.iter().any(|x| x == t) => Some(t.to_string()),
        ("string", Some("entity"), Some(b)) if is_bare(b) => Some(format!("entity({b})")),
        ("string", Some(f), None) if lib.string_formats.iter().any(|x| x == f) => {
            Some(f.to_string())
        }
        ("object", Some(f), None) if lib.object_formats.iter().any(|x| x == f) => {
            Some(f.to_string())
        }
        _ => None,
    }
}

/// An input schema as an object literal (for `items` that a type expression cannot say).
fn schema_value(s: &ir::InputSchema) -> Value {
    Value::from_json(&crate::export::input_schema(s))
}

/// Whether `required` is what the `?` marks imply: the listed keys, in input order.
fn implied_required(keys: &[Name], inputs: &[ir::InputField]) -> bool {
    let implied: Vec<&str> = inputs
        .iter()
        .map(|f| f.key.value.as_str())
        .filter(|k| keys.iter().any(|r| r.value == *k))
        .collect();
    implied.len() == keys.len() && implied.iter().zip(keys).all(|(a, b)| *a == b.value)
}

/// Whether a multi-step form can be written with each step declaring its inputs: every step's
/// order names inputs that exist, each once, and the inputs come in that order after the
/// inputs outside steps.
fn steps_own_inputs(form: &ir::Form) -> bool {
    if form.steps.is_empty() {
        return false;
    }
    let stepped: Vec<&str> = form
        .steps
        .iter()
        .flat_map(|s| s.order.iter().map(|n| n.value.as_str()))
        .collect();
    let unique = stepped
        .iter()
        .enumerate()
        .all(|(i, k)| !stepped[..i].contains(k));
    let all_exist = stepped.iter().all(|k| form.input(k).is_some());
    let keys: Vec<&str> = form
        .properties
        .iter()
        .map(|f| f.key.value.as_str())
        .collect();
    let free: Vec<&str> = keys
        .iter()
        .copied()
        .filter(|k| !stepped.contains(k))
        .collect();
    let expected: Vec<&str> = free.iter().chain(&stepped).copied().collect();
    unique && all_exist && expected == keys
}

/// The `github` sugar's properties, when an integration action is a github-ocean
/// `dispatch_workflow` whose properties the sugar can say.
fn github_sugar(i: &ir::Integration) -> Option<&[(Name, Value)]> {
    const KEYS: [&str; 5] = [
        "org",
        "repo",
        "workflow",
        "workflowInputs",
        "reportWorkflowStatus",
    ];
    let provider = i.integration_provider.as_ref()?;
    let invocation = i.integration_invocation_type.as_ref()?;
    let Some(Value {
        kind: ValueKind::Object(props),
        ..
    }) = &i.integration_action_execution_properties
    else {
        return None;
    };
    let unique = props
        .iter()
        .enumerate()
        .all(|(n, (k, _))| !props[..n].iter().any(|(m, _)| m.value == k.value));
    (provider.value == "github-ocean"
        && invocation.value == "dispatch_workflow"
        && unique
        && props.iter().all(|(k, _)| KEYS.contains(&k.value.as_str())))
    .then_some(props.as_slice())
}

/// The `.wflow` keyword of a node kind (`github` for the sugar).
fn keyword(c: &NodeConfig) -> &'static str {
    match c {
        NodeConfig::SelfServeTrigger(_) => "form",
        NodeConfig::EventTrigger(_) => "event",
        NodeConfig::ScheduleTrigger(_) => "schedule",
        NodeConfig::Webhook(_) => "webhook",
        NodeConfig::Kafka(_) => "kafka",
        NodeConfig::UpsertEntity(_) => "upsert",
        NodeConfig::IntegrationAction(i) if github_sugar(i).is_some() => "github",
        NodeConfig::IntegrationAction(_) => "integration",
        NodeConfig::Ai(_) => "ai",
        NodeConfig::AiAgent(_) => "ai_agent",
        NodeConfig::CursorAgent(_) => "cursor_agent",
        NodeConfig::Condition(_) => "condition",
        NodeConfig::Input(_) => "approval",
        NodeConfig::Join(_) => "join",
    }
}

/// Whether a node of a fragment was given without an identifier (the lowering names it
/// `fragment`, with an empty span).
pub fn is_anonymous(wf: &ir::Workflow, n: &ir::Node) -> bool {
    wf.fragment && n.identifier.value == "fragment" && n.identifier.span.is_empty()
}

/// The source end of a connection: `node`, `node.outlet` or `node.fallback`.
fn endpoint(c: &ir::Connection) -> String {
    let node = word(&c.source.value);
    match (&c.outlet, c.fallback) {
        (_, true) => format!("{node}.fallback"),
        (Some(o), false) => format!("{node}.{}", outlet_word(&o.value)),
        (None, false) => node,
    }
}

/// An outlet name after `.`: bare when it is plain, else quoted.
fn outlet_word(s: &str) -> String {
    if ident_chars(s) {
        s.to_string()
    } else {
        string(s)
    }
}

/// Whether `s` can be written as a bare word: a `.wflow` identifier that no other value
/// syntax claims (numbers, `true`, `false`, `null`). `_user` and `_team`, Port's system
/// blueprints, are bare.
pub fn is_bare(s: &str) -> bool {
    s.chars()
        .next()
        .is_some_and(|c| c.is_alphabetic() || c == '_')
        && !matches!(s, "true" | "false" | "null" | "when" | "input")
        && ident_chars(s)
}

/// Whether `s` is made of identifier characters as the grammar reads them: letters, digits,
/// `_`, `@`, a `-` not starting `->`, a `:` followed by another of these.
fn ident_chars(s: &str) -> bool {
    let chars: Vec<char> = s.chars().collect();
    !chars.is_empty()
        && chars.iter().enumerate().all(|(i, c)| match c {
            '-' => chars.get(i + 1) != Some(&'>'),
            ':' => chars
                .get(i + 1)
                .is_some_and(|n| n.is_alphanumeric() || matches!(n, '_' | '@')),
            c => c.is_alphanumeric() || matches!(c, '_' | '@'),
        })
}

/// A name: bare when it can be, else a string.
fn word(s: &str) -> String {
    if is_bare(s) { s.to_string() } else { string(s) }
}

fn word_list(names: &[Name]) -> String {
    let items: Vec<String> = names.iter().map(|n| word(&n.value)).collect();
    format!("[{}]", items.join(", "))
}

/// An object or input key: bare when the grammar allows it, else quoted.
fn key(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '$' | '@'))
    {
        s.to_string()
    } else {
        string(s)
    }
}

fn object(members: &[(Name, Value)], span: Span) -> Value {
    Value {
        kind: ValueKind::Object(members.to_vec()),
        span,
    }
}

/// Bare jq in backticks, as written.
fn jq(code: &str) -> String {
    format!("`{code}`")
}

/// A value on one line (jq may still span lines).
fn inline(v: &Value) -> String {
    match &v.kind {
        ValueKind::Null => "null".into(),
        ValueKind::Bool(b) => b.to_string(),
        ValueKind::Number(n) => n.to_string(),
        ValueKind::String(t) => string(&t.text),
        ValueKind::Jq(q) => jq(&q.code),
        ValueKind::Array(items) => {
            let items: Vec<String> = items.iter().map(inline).collect();
            format!("[{}]", items.join(", "))
        }
        ValueKind::Object(m) if m.is_empty() => "{}".into(),
        ValueKind::Object(m) => {
            let members: Vec<String> = m
                .iter()
                .map(|(k, v)| format!("{}: {}", key(&k.value), inline(v)))
                .collect();
            format!("{{ {} }}", members.join(", "))
        }
    }
}

/// A string literal. `{{ }}` templates are written raw (their jq needs no escaping) when the
/// grammar reads them back unchanged; otherwise the `{{` is escaped and the text is plain.
pub fn string(text: &str) -> String {
    if text.contains("{{") {
        let raw = raw_template_string(text);
        if reads_back(&raw, text) {
            return raw;
        }
        return escape(text, true);
    }
    escape(text, false)
}

fn raw_template_string(text: &str) -> String {
    let t = ir::Template::parse(
        text,
        &wflow_grammar::OffsetMap::identity(0),
        Span::default(),
    );
    let mut out = String::from("\"");
    for part in &t.parts {
        match part {
            ir::Part::Text(s) => {
                let lit = escape(s, true);
                out.push_str(lit.get(1..lit.len() - 1).unwrap_or_default());
            }
            ir::Part::Expr(q) => {
                out.push_str("{{");
                out.push_str(&q.code);
                out.push_str("}}");
            }
        }
    }
    out.push('"');
    out
}

/// Whether the literal `lit` parses back to `text`.
fn reads_back(lit: &str, text: &str) -> bool {
    let parsed = wflow_grammar::parse(&format!("x {lit}\n"));
    if !parsed.errors.is_empty() {
        return false;
    }
    matches!(
        parsed.file.statements.as_slice(),
        [wflow_grammar::ast::Statement::Entry(e)]
            if matches!(e.args.as_slice(), [wflow_grammar::ast::Value { kind: wflow_grammar::ast::ValueKind::Str(s), .. }] if s.value == text)
    )
}

/// A JSON-style string literal; `braces` escapes every `{` that starts `{{` so that no
/// template is read.
fn escape(text: &str, braces: bool) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '{' if braces && chars.peek() == Some(&'{') => out.push_str("\\u007b"),
            c if (c as u32) < 0x20 || c == '\u{2028}' || c == '\u{2029}' => {
                out.push_str(&format!("\\u{:04x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

// Comments ------------------------------------------------------------------------------------

/// Renders the lines with every comment placed (see the module docs).
fn place_comments(lines: &[Line], comments: &[Comment], src: &str) -> String {
    let mut leading: Vec<Vec<&Comment>> = vec![Vec::new(); lines.len()];
    let mut trailing: Vec<Option<&Comment>> = vec![None; lines.len()];
    let mut at_end = Vec::new();
    let mut anchors: Vec<(Span, usize)> = lines
        .iter()
        .enumerate()
        .filter_map(|(i, l)| l.anchor.map(|a| (a, i)))
        .collect();
    anchors.sort_by_key(|(a, i)| (a.start, *i));
    // The same anchors by end (ties in the order above), to find the one ending last before a
    // comment by binary search.
    let mut by_end: Vec<(Span, usize)> = anchors.clone();
    by_end.sort_by_key(|(a, i)| (a.end, a.start, *i));
    for c in comments {
        // The item just before the comment, when the comment ends its line.
        let n = by_end.partition_point(|(a, _)| a.end <= c.span.start);
        let before = n.checked_sub(1).and_then(|n| by_end.get(n));
        // Whether an anchor starts between `from` and the comment.
        let starts_between = |from: usize| {
            let first = anchors.partition_point(|(b, _)| b.start < from);
            anchors
                .get(first)
                .is_some_and(|(b, _)| b.start < c.span.start)
        };
        if let Some((a, i)) = before
            && src
                .get(a.end..c.span.start)
                .is_some_and(|gap| !gap.contains('\n'))
            && trailing.get(*i).is_some_and(Option::is_none)
            && !starts_between(a.end)
        {
            trailing[*i] = Some(c);
            continue;
        }
        let first_after = anchors.partition_point(|(a, _)| a.start < c.span.end);
        match anchors.get(first_after) {
            Some((_, i)) => leading[*i].push(c),
            None => at_end.push(c),
        }
    }
    let mut out = String::new();
    let comment = |c: &Comment| format!("//{}", c.text.trim_end());
    for (i, l) in lines.iter().enumerate() {
        let inner = l.indent + usize::from(l.close);
        for c in &leading[i] {
            out.push_str(&"  ".repeat(inner));
            out.push_str(&comment(c));
            out.push('\n');
        }
        if !l.text.is_empty() {
            out.push_str(&"  ".repeat(l.indent));
            out.push_str(&l.text);
        }
        if let Some(c) = trailing[i] {
            out.push_str("  ");
            out.push_str(&comment(c));
        }
        out.push('\n');
    }
    for c in at_end {
        out.push_str(&comment(c));
        out.push('\n');
    }
    out
}

// Formatting and importing -------------------------------------------------------------------

/// Diagnostic codes of the reading stages (parse, desugar, lowering): what they report is
/// missing from the IR, so a file with such an error is not printed. Errors found by the checks
/// on a complete IR (graph, jq, cron, types) lose nothing.
const LOSSY: [&str; 12] = [
    "syntax",
    "json-syntax",
    "unknown-item",
    "unknown-node-kind",
    "unknown-field",
    "duplicate-field",
    "missing-field",
    "wrong-type",
    "invalid-value",
    "duplicate-identifier",
    "outlet-not-allowed",
    "unknown-input-type",
];

/// The errors among `diags` that mean part of the file could not be read into the IR (so
/// printing or exporting it would lose that part).
pub fn unreadable(diags: &[Diagnostic]) -> Vec<Diagnostic> {
    diags
        .iter()
        .filter(|d| d.severity == Severity::Error && LOSSY.contains(&d.code))
        .cloned()
        .collect()
}

/// Formats `.wflow` source canonically, keeping its comments. Refuses (with the diagnostics)
/// a file whose errors mean part of it could not be read, and a file the printer cannot write
/// without changing its meaning.
///
/// The file is checked, printed and verified one piece at a time (see
/// [`crate::check_pieces`]): a piece's output is exactly its part of the whole file's, since
/// a comment belongs to the item of its piece and items are set apart by one blank line.
pub fn format(src: &str) -> Result<String, Vec<Diagnostic>> {
    let mut out = String::new();
    let mut seen = 0;
    let mut lossy = false;
    let mut mismatch = None;
    // Workflows printed so far: where the next piece's are in the whole file's list.
    let mut printed = 0;
    let catalog = crate::catalog::Catalog::new(Vec::new());
    let diagnostics =
        crate::check_pieces(src, crate::Syntax::Wflow, &catalog, None, &mut |piece| {
            lossy =
                lossy || !unreadable(piece.diagnostics.get(seen..).unwrap_or_default()).is_empty();
            seen = piece.diagnostics.len();
            if lossy || mismatch.is_some() {
                return;
            }
            let mut workflows = piece.workflows.iter();
            let items: Vec<Item> = piece
                .statements
                .iter()
                .filter_map(|&(span, workflow)| {
                    if workflow {
                        workflows.next().map(Item::Workflow)
                    } else {
                        Some(Item::Verbatim(span))
                    }
                })
                .collect();
            let text = print_items(&items, &piece.comments, src);
            if let Err(e) = verify_workflows(&piece.workflows, printed, &text, Span::new(0, 0)) {
                mismatch = Some(e);
            }
            printed += piece.workflows.len();
            // Items are set apart by a blank line; comments after the last one follow it.
            if !items.is_empty() && !out.is_empty() {
                out.push('\n');
            }
            out.push_str(&text);
        });
    let errors = unreadable(&diagnostics);
    if !errors.is_empty() {
        return Err(errors);
    }
    match mismatch {
        Some(e) => Err(e),
        None => Ok(out),
    }
}

/// Imports Port workflow JSON (one workflow, an array, the API's `{"ok": true, "workflow":
/// ...}` envelope, or a fragment) as `.wflow` text. Refuses JSON with errors, and anything the
/// `.wflow` text could not say exactly.
pub fn import(json: &str) -> Result<String, Vec<Diagnostic>> {
    let checked = crate::check_source(json, crate::Syntax::Json);
    // An unknown field is only a warning when checking, but importing would drop it.
    let errors: Vec<Diagnostic> = checked
        .diagnostics
        .iter()
        .filter(|d| {
            (d.severity == Severity::Error && LOSSY.contains(&d.code)) || d.code == "unknown-field"
        })
        .map(|d| Diagnostic {
            severity: Severity::Error,
            ..d.clone()
        })
        .collect();
    if !errors.is_empty() {
        return Err(errors);
    }
    let out = print(&checked.module, &[], "");
    let at = checked
        .module
        .workflows
        .first()
        .map_or(Span::new(0, 1), |w| {
            Span::new(w.span.start, w.span.start + 1)
        });
    verify(&checked.module, &out, at)?;
    Ok(out)
}

/// Checks that `printed` reads back to `module`; otherwise says where they differ.
fn verify(module: &ir::Module, printed: &str, at: Span) -> Result<(), Vec<Diagnostic>> {
    verify_workflows(&module.workflows, 0, printed, at)
}

/// Checks that `printed` reads back to `workflows`, which are a module's from index `first`
/// on; otherwise says where they differ (`workflows[i]...`, as for the whole module).
fn verify_workflows(
    workflows: &[ir::Workflow],
    first: usize,
    printed: &str,
    at: Span,
) -> Result<(), Vec<Diagnostic>> {
    let back = crate::check_source(printed, crate::Syntax::Wflow).module;
    let (a, b) = (
        serde_json::to_value(workflows),
        serde_json::to_value(&back.workflows),
    );
    let (Ok(a), Ok(b)) = (a, b) else {
        return Err(vec![Diagnostic::error(
            "invalid-value",
            at,
            "the workflow could not be compared with its `.wflow` form",
        )]);
    };
    match first_difference_from(&a, &b, first) {
        None => Ok(()),
        Some(path) => Err(vec![
            Diagnostic::error(
                "invalid-value",
                at,
                format!("`.wflow` cannot say this exactly: `{path}` would change"),
            )
            .help("this construct has no `.wflow` spelling yet; keep the file as Port JSON (`wflow check` reads it) and report the case"),
        ]),
    }
}

/// The path of the first place two lists of workflows differ, `a` and `b` being a module's
/// from index `first` on: `workflows[i]...`, or `workflows` when only their lengths differ.
fn first_difference_from(
    a: &serde_json::Value,
    b: &serde_json::Value,
    first: usize,
) -> Option<String> {
    use serde_json::Value as J;
    let (J::Array(x), J::Array(y)) = (a, b) else {
        return first_difference(a, b, "workflows".into());
    };
    for (i, (v, w)) in x.iter().zip(y).enumerate() {
        if let Some(d) = first_difference(v, w, format!("workflows[{}]", first + i)) {
            return Some(d);
        }
    }
    (x.len() != y.len()).then(|| "workflows".to_string())
}

/// The path of the first place `a` and `b` differ (`workflows[0].nodes[2].config.outlets`).
fn first_difference(a: &serde_json::Value, b: &serde_json::Value, path: String) -> Option<String> {
    use serde_json::Value as J;
    match (a, b) {
        (J::Object(x), J::Object(y)) => {
            for (k, v) in x {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                match y.get(k) {
                    Some(w) => {
                        if let Some(d) = first_difference(v, w, p) {
                            return Some(d);
                        }
                    }
                    None => return Some(p),
                }
            }
            y.keys().find(|k| !x.contains_key(*k)).map(|k| {
                if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                }
            })
        }
        (J::Array(x), J::Array(y)) => {
            for (i, (v, w)) in x.iter().zip(y).enumerate() {
                if let Some(d) = first_difference(v, w, format!("{path}[{i}]")) {
                    return Some(d);
                }
            }
            (x.len() != y.len()).then_some(path)
        }
        _ => (a != b).then_some(path),
    }
}
