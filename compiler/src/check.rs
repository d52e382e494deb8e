//! Checks on the IR: the graph, identifiers, Port's limits, cron, input schemas and jq.

use crate::hash::{HashMap, HashSet};

use wflow_grammar::Span;

use crate::diag::Diagnostic;
use crate::ir::{self, Name, NodeConfig, Value, ValueKind, Workflow};
use crate::port::Syntax;
use crate::suggest::did_you_mean;

/// What the checks may assume.
pub(crate) struct Options {
    pub syntax: Syntax,
    /// With syntax errors in the file, whole-graph checks would report the fallout of the broken
    /// text (a node lost in a junk region looks "unknown"), so they are skipped.
    pub graph: bool,
}

/// Runs every check on one workflow.
pub(crate) fn workflow(wf: &Workflow, opts: &Options, out: &mut Vec<Diagnostic>) {
    let mut c = Checker { wf, out };
    c.identifiers();
    c.limits();
    for node in &wf.nodes {
        c.node(node, opts);
    }
    if opts.graph && !wf.fragment {
        c.graph(opts.syntax);
        crate::parallel::check(wf, c.out);
    }
    for site in jq_sites(wf) {
        c.jq(site);
    }
}

struct Checker<'a> {
    wf: &'a Workflow,
    out: &'a mut Vec<Diagnostic>,
}

/// A name's span without the quotes around it, when it has them.
fn inner(n: &Name) -> Span {
    let s = n.span;
    if s.len() >= 2 + n.value.len() {
        Span::new(s.start + 1, s.end - 1)
    } else {
        s
    }
}

/// `id` with every character Port does not allow in an identifier replaced by `_`.
pub(crate) fn with_allowed_chars(id: &str) -> String {
    id.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "@_:-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

impl Checker<'_> {
    fn push(&mut self, d: Diagnostic) {
        self.out.push(d);
    }

    fn identifier(&mut self, id: &Name, what: &str) {
        let limit = wflow_stdlib::get().limits.identifier;
        let n = id.value.chars().count();
        if id.value.is_empty() {
            self.push(
                Diagnostic::error(
                    "invalid-identifier",
                    id.span,
                    format!("{what} identifier is empty"),
                )
                .help("give it a name such as `deploy_service`"),
            );
        } else if n > limit {
            self.push(
                Diagnostic::error(
                    "invalid-identifier",
                    id.span,
                    format!(
                        "{what} identifier is {n} characters long; Port allows at most {limit}"
                    ),
                )
                .help("shorten it"),
            );
        } else if let Some(bad) = id
            .value
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || "@_:-".contains(*c)))
        {
            let fixed = with_allowed_chars(&id.value);
            self.push(
                Diagnostic::error(
                    "invalid-identifier",
                    id.span,
                    format!("{what} identifier `{}` contains `{bad}`", id.value),
                )
                .label("Port allows only letters, digits and `@ _ : -`")
                .help(format!("rename it, e.g. `{fixed}`")),
            );
        }
    }

    fn identifiers(&mut self) {
        if !self.wf.fragment {
            let id = self.wf.identifier.clone();
            self.identifier(&id, "the workflow");
        }
        let mut seen: HashMap<&str, &Name> = HashMap::default();
        for node in &self.wf.nodes {
            self.identifier(&node.identifier, "a node");
            if let Some(first) = seen.insert(&node.identifier.value, &node.identifier) {
                let d = Diagnostic::error(
                    "duplicate-identifier",
                    node.identifier.span,
                    format!("two nodes are called `{}`", node.identifier.value),
                )
                .label("second node")
                .with(first.span, "first node")
                .help("node identifiers must be unique within a workflow; rename one");
                self.push(d);
            }
        }
    }

    fn too_long(&mut self, n: Option<&Name>, limit: usize, what: &str) {
        let Some(n) = n else { return };
        let len = n.value.chars().count();
        if len > limit {
            self.push(
                Diagnostic::error(
                    "limit-exceeded",
                    n.span,
                    format!("{what} is {len} characters long; Port allows at most {limit}"),
                )
                .help("shorten it"),
            );
        }
    }

    fn limits(&mut self) {
        let l = &wflow_stdlib::get().limits;
        let wf = self.wf;
        if wf.nodes.len() > l.nodes {
            let span = wf.nodes.get(l.nodes).map_or(wf.span, |n| n.identifier.span);
            self.push(
                Diagnostic::error(
                    "limit-exceeded",
                    span,
                    format!(
                        "the workflow has {} nodes; Port allows at most {}",
                        wf.nodes.len(),
                        l.nodes
                    ),
                )
                .label("the first node over the limit")
                .help("split it into several workflows"),
            );
        }
        self.too_long(wf.title.as_ref(), l.title, "the title");
        self.too_long(wf.description.as_ref(), l.description, "the description");
        self.too_long(wf.category.as_ref(), l.category, "the category");
        for node in &wf.nodes {
            self.too_long(node.title.as_ref(), l.title, "the node's title");
            self.too_long(
                node.description.as_ref(),
                l.description,
                "the node's description",
            );
            if node.links.len() > l.links {
                let span = node.links.get(l.links).map_or(node.span, |t| t.span);
                self.push(
                    Diagnostic::error(
                        "limit-exceeded",
                        span,
                        format!(
                            "the node has {} links; Port allows at most {}",
                            node.links.len(),
                            l.links
                        ),
                    )
                    .help("keep the three most useful"),
                );
            }
        }
    }

    fn node(&mut self, node: &ir::Node, opts: &Options) {
        let l = &wflow_stdlib::get().limits;
        match &node.config {
            NodeConfig::ScheduleTrigger(s) => self.cron(&s.cron),
            NodeConfig::SelfServeTrigger(t) => {
                self.form(&t.user_inputs, opts);
                for (text, what) in [
                    (&t.action_card_button_text, "the card button text"),
                    (&t.execute_action_button_text, "the submit button text"),
                ] {
                    let Some(text) = text else { continue };
                    let n = text.value.chars().count();
                    if n < l.button_text_min || n > l.button_text_max {
                        self.push(
                            Diagnostic::error(
                                "limit-exceeded",
                                text.span,
                                format!(
                                    "{what} is {n} characters long; Port allows {} to {}",
                                    l.button_text_min, l.button_text_max
                                ),
                            )
                            .help("use a short verb such as \"Deploy\""),
                        );
                    }
                }
                self.contexts(t);
                if let Some(policy) = t.permissions.as_ref().and_then(|p| p.policy.as_ref()) {
                    self.policy(policy);
                }
            }
            NodeConfig::Input(i) => {
                self.form(&i.user_inputs, opts);
                self.input_outlets(i);
            }
            NodeConfig::Condition(c) => {
                let mut seen: HashMap<&str, &Name> = HashMap::default();
                for o in &c.outlets {
                    if let Some(first) = seen.insert(&o.identifier.value, &o.identifier) {
                        self.push(
                            Diagnostic::error(
                                "duplicate-identifier",
                                o.identifier.span,
                                format!("two outlets are called `{}`", o.identifier.value),
                            )
                            .with(first.span, "first outlet")
                            .help("outlet identifiers must be unique within the node"),
                        );
                    }
                }
            }
            NodeConfig::Ai(ai) => self.ai_model(&ai.model),
            NodeConfig::AiAgent(ai) => self.ai_model(&ai.model),
            _ => {}
        }
    }

    fn ai_model(&mut self, m: &ir::AiModel) {
        let l = &wflow_stdlib::get().limits;
        match (&m.provider, &m.model) {
            (Some(p), None) => self.push(
                Diagnostic::error(
                    "provider-without-model",
                    p.span,
                    "`provider` is set but `model` is not",
                )
                .help("set both, or neither to use Port's default"),
            ),
            (None, Some(mo)) => self.push(
                Diagnostic::error(
                    "provider-without-model",
                    mo.span,
                    "`model` is set but `provider` is not",
                )
                .help("set both, or neither to use Port's default"),
            ),
            _ => {}
        }
        if m.mcp_servers.len() > l.mcp_servers {
            let span = m
                .mcp_servers
                .get(l.mcp_servers)
                .map_or(Span::default(), |s| s.span);
            self.push(
                Diagnostic::error(
                    "limit-exceeded",
                    span,
                    format!(
                        "{} MCP servers; Port allows at most {}",
                        m.mcp_servers.len(),
                        l.mcp_servers
                    ),
                )
                .label("the first server over the limit")
                .help("keep the servers this node needs"),
            );
        }
    }

    fn cron(&mut self, cron: &Name) {
        let base = inner(cron).start;
        for issue in crate::cron::check(&cron.value) {
            let span = if inner(cron) == cron.span && cron.span.len() != cron.value.len() {
                cron.span
            } else {
                Span::new(base + issue.range.start, base + issue.range.end)
            };
            let code = match issue.code {
                "cron-too-frequent" => "cron-too-frequent",
                "cron-never-fires" => "cron-never-fires",
                _ => "cron-syntax",
            };
            self.push(Diagnostic::error(code, span, issue.message).help_opt(issue.help));
        }
    }

    /// A permission policy must have Port's shape, or nobody (or everybody) could run it.
    fn policy(&mut self, policy: &Value) {
        for p in crate::rules::check(crate::rules::Kind::Policy, policy, "policy") {
            self.push(
                Diagnostic::error(
                    "invalid-policy",
                    p.node.span,
                    format!("permission policy, `{}`: {}", p.at, p.message),
                )
                .help(
                    "a policy is { combinator: \"and\" | \"or\", rules: [...] }; a rule is \
                     { property: { context, property }, operator, value } or a nested policy",
                ),
            );
        }
    }

    fn contexts(&mut self, t: &ir::FormTrigger) {
        let mut entity_inputs: HashMap<&str, &Name> = HashMap::default();
        for c in &t.contexts {
            match c.on.value.as_str() {
                "CREATE_ENTITY" if c.blueprint_identifier.is_none() => {
                    self.push(
                        Diagnostic::error(
                            "missing-field",
                            c.on.span,
                            "a CREATE_ENTITY context needs a blueprint",
                        )
                        .help("name the blueprint whose create form it replaces"),
                    );
                }
                "ENTITY" => {
                    let Some(input) = &c.user_input else {
                        self.push(
                            Diagnostic::error(
                                "missing-field",
                                c.on.span,
                                "an ENTITY context needs the input it pre-fills",
                            )
                            .help("name an entity input of the form"),
                        );
                        continue;
                    };
                    match t.user_inputs.input(&input.value) {
                        None => {
                            let keys = t
                                .user_inputs
                                .properties
                                .iter()
                                .map(|p| p.key.value.as_str());
                            self.push(
                                Diagnostic::error(
                                    "unknown-input-key",
                                    input.span,
                                    format!("the form has no input `{}`", input.value),
                                )
                                .help_opt(
                                    did_you_mean(&input.value, keys.clone()).or_else(|| {
                                        let all: Vec<&str> = keys.collect();
                                        Some(format!("inputs: {}", all.join(", ")))
                                    }),
                                ),
                            );
                        }
                        Some(field)
                            if field.schema.format.as_ref().map(|f| f.value.as_str())
                                != Some("entity") =>
                        {
                            self.push(
                                Diagnostic::error(
                                    "invalid-value",
                                    input.span,
                                    format!("input `{}` is not an entity input", input.value),
                                )
                                .help("an ENTITY context pre-fills an input of format `entity`"),
                            )
                        }
                        Some(_) => {}
                    }
                    if let Some(first) = entity_inputs.insert(&input.value, input) {
                        self.push(
                            Diagnostic::error(
                                "duplicate-identifier",
                                input.span,
                                "two ENTITY contexts use the same input",
                            )
                            .with(first.span, "first use")
                            .help("each ENTITY context pre-fills a different entity input"),
                        );
                    }
                }
                _ => {}
            }
        }
    }

    fn input_outlets(&mut self, i: &ir::InputNode) {
        let buttons: HashSet<&str> = i
            .user_inputs
            .buttons
            .iter()
            .map(|b| b.identifier.value.as_str())
            .collect();
        let outlets: HashSet<&str> = i
            .outlets
            .iter()
            .map(|o| o.identifier.value.as_str())
            .collect();
        for o in &i.outlets {
            if !buttons.contains(o.identifier.value.as_str()) {
                self.push(
                    Diagnostic::error("outlet-button-mismatch", o.identifier.span, format!("outlet `{}` has no button of the same identifier", o.identifier.value))
                        .help_opt(did_you_mean(&o.identifier.value, buttons.iter().copied()).or_else(|| Some("an INPUT outlet is taken when its button is pressed: add a button with this identifier".into()))),
                );
            }
        }
        for b in &i.user_inputs.buttons {
            if !outlets.contains(b.identifier.value.as_str()) {
                self.push(
                    Diagnostic::error(
                        "outlet-button-mismatch",
                        b.identifier.span,
                        format!("button `{}` has no outlet", b.identifier.value),
                    )
                    .help(
                        "add an outlet with the button's identifier, or pressing it leads nowhere",
                    ),
                );
            }
        }
        let mut seen: HashMap<&str, &Name> = HashMap::default();
        for b in &i.user_inputs.buttons {
            if let Some(first) = seen.insert(&b.identifier.value, &b.identifier) {
                self.push(
                    Diagnostic::error(
                        "duplicate-identifier",
                        b.identifier.span,
                        format!("two buttons are called `{}`", b.identifier.value),
                    )
                    .with(first.span, "first button")
                    .help("button identifiers must be unique within the node"),
                );
            }
        }
        let l = &wflow_stdlib::get().limits;
        for b in &i.user_inputs.buttons {
            let n = b.label.value.chars().count();
            if n < l.button_text_min || n > l.button_text_max {
                self.push(Diagnostic::error(
                    "limit-exceeded",
                    b.label.span,
                    format!(
                        "the button label is {n} characters long; Port allows {} to {}",
                        l.button_text_min, l.button_text_max
                    ),
                ));
            }
        }
    }

    fn form(&mut self, form: &ir::Form, opts: &Options) {
        let l = &wflow_stdlib::get().limits;
        for field in &form.properties {
            self.input_schema(&field.key, &field.schema, opts);
        }
        let keys: Vec<&str> = form
            .properties
            .iter()
            .map(|p| p.key.value.as_str())
            .collect();
        let check_keys = |c: &mut Self, names: &[Name], what: &str| {
            for n in names {
                if !keys.contains(&n.value.as_str()) {
                    c.push(
                        Diagnostic::error(
                            "unknown-input-key",
                            n.span,
                            format!("{what} names `{}`, which is not an input", n.value),
                        )
                        .help_opt(
                            did_you_mean(&n.value, keys.iter().copied())
                                .or_else(|| Some(format!("inputs: {}", keys.join(", ")))),
                        ),
                    );
                }
            }
        };
        if let ir::Required::Keys(k) = &form.required {
            check_keys(self, k, "`required`");
        }
        if let Some(order) = &form.order {
            check_keys(self, order, "`order`");
            if let (Some(first_step), Some(o)) = (form.steps.first(), order.first()) {
                self.push(
                    Diagnostic::error(
                        "order-with-steps",
                        o.span,
                        "`order` cannot be combined with `steps`",
                    )
                    .with(first_step.title.span, "steps start here")
                    .help("give each step its own order instead"),
                );
            }
        }
        for step in &form.steps {
            check_keys(self, &step.order, "the step");
            let n = step.title.value.chars().count();
            if n > l.step_title {
                self.push(
                    Diagnostic::error(
                        "limit-exceeded",
                        step.title.span,
                        format!(
                            "the step title is {n} characters long; Port allows at most {}",
                            l.step_title
                        ),
                    )
                    .help("shorten it; put details in the inputs' descriptions"),
                );
            }
        }
        let all_validations = form
            .validations
            .iter()
            .chain(form.steps.iter().flat_map(|s| &s.validations));
        for v in all_validations {
            let n = v.message.value.chars().count();
            if n > l.validation_message {
                self.push(
                    Diagnostic::error(
                        "limit-exceeded",
                        v.message.span,
                        format!(
                            "the validation message is {n} characters long; Port allows at most {}",
                            l.validation_message
                        ),
                    )
                    .help("shorten it"),
                );
            }
        }
        if form.validations.len() > l.validations {
            let span = form
                .validations
                .get(l.validations)
                .map_or(Span::default(), |v| v.constraint.span);
            self.push(Diagnostic::error(
                "limit-exceeded",
                span,
                format!(
                    "{} validations; Port allows at most {}",
                    form.validations.len(),
                    l.validations
                ),
            ));
        }
        if let (Some(v), Some(s)) = (form.validations.first(), form.steps.first()) {
            self.push(
                Diagnostic::error(
                    "order-with-steps",
                    v.constraint.span,
                    "form-wide validations cannot be combined with `steps`",
                )
                .with(s.title.span, "steps start here")
                .help("put the validations on the steps instead"),
            );
        }
    }

    fn input_schema(&mut self, key: &Name, s: &ir::InputSchema, opts: &Options) {
        let lib = wflow_stdlib::get();
        let ty = s.ty.as_ref().map(|t| t.value.as_str());
        match &s.ty {
            None => self.push(
                Diagnostic::error(
                    "missing-field",
                    key.span,
                    format!("input `{}` has no type", key.value),
                )
                .help("add \"type\": \"string\" (or number, boolean, object, array)"),
            ),
            Some(t) if !lib.input_types.contains(&t.value) && opts.syntax == Syntax::Json => self
                .push(
                    Diagnostic::error(
                        "unknown-input-type",
                        t.span,
                        format!("unknown input type `{}`", t.value),
                    )
                    .help_opt(
                        did_you_mean(&t.value, lib.input_types.iter().map(String::as_str)).or_else(
                            || Some("types: string, number, boolean, object, array".into()),
                        ),
                    ),
                ),
            _ => {}
        }
        if let Some(f) = &s.format {
            let allowed = match ty {
                Some("string") => &lib.string_formats,
                Some("object") => &lib.object_formats,
                _ => &Vec::new(),
            };
            if !allowed.contains(&f.value)
                && ty.is_some_and(|t| lib.input_types.iter().any(|x| x == t))
            {
                let help = if allowed.is_empty() {
                    format!("a {} input takes no format", ty.unwrap_or("?"))
                } else {
                    did_you_mean(&f.value, allowed.iter().map(String::as_str))
                        .unwrap_or_else(|| format!("formats: {}", allowed.join(", ")))
                };
                self.push(
                    Diagnostic::error(
                        "unknown-input-type",
                        f.span,
                        format!(
                            "unknown format `{}` for a {} input",
                            f.value,
                            ty.unwrap_or("?")
                        ),
                    )
                    .help(help),
                );
            }
            if f.value == "entity" && s.blueprint.is_none() {
                self.push(
                    Diagnostic::error(
                        "entity-without-blueprint",
                        f.span,
                        format!("entity input `{}` does not say which blueprint", key.value),
                    )
                    .help(match opts.syntax {
                        Syntax::Wflow => "write the type as `entity(<blueprint>)`".to_string(),
                        Syntax::Json => "add \"blueprint\": \"<blueprint identifier>\"".to_string(),
                    }),
                );
            }
        }
        if ty == Some("array") && s.items.is_none() {
            self.push(
                Diagnostic::error(
                    "missing-field",
                    key.span,
                    format!("array input `{}` has no `items`", key.value),
                )
                .help("say what each item is, e.g. \"items\": {\"type\": \"string\"}"),
            );
        }
        if let Some(items) = &s.items {
            self.input_schema(key, items, opts);
        }
        for p in &s.properties {
            self.input_schema(&p.key, &p.schema, opts);
        }
        if let Some(d) = &s.default {
            self.value_matches(d, s, "the default");
            self.default_in_enum(d, s);
        }
        for (name, value) in &s.keywords {
            match name.value.as_str() {
                "pattern" => self.pattern(value),
                "patternProperties" => {
                    if let ValueKind::Object(entries) = &value.kind {
                        for (key, _) in entries {
                            self.regex(&key.value, key.span);
                        }
                    }
                }
                _ => {}
            }
        }
        if let Some(e) = &s.enum_values {
            match &e.kind {
                ValueKind::Array(items) => {
                    for item in items {
                        self.value_matches(item, s, "an enum value");
                    }
                }
                ValueKind::Jq(_) => {}
                _ => self.push(Diagnostic::error(
                    "wrong-type",
                    e.span,
                    "`enum` must be a list (or a jqQuery)",
                )),
            }
        }
        let l = &lib.limits;
        self.too_long(s.title.as_ref(), l.input_title, "the input's title");
        self.too_long(
            s.description.as_ref(),
            l.input_description,
            "the input's description",
        );
    }

    /// A `pattern` must be a regular expression the runtime can validate with.
    fn pattern(&mut self, value: &Value) {
        if let ValueKind::String(t) = &value.kind
            && t.exprs().next().is_none()
        {
            self.regex(&t.text, value.span);
        }
    }

    fn regex(&mut self, pattern: &str, span: Span) {
        if let Some(why) = regex_problem(pattern) {
            self.push(
                Diagnostic::error(
                    "invalid-pattern",
                    span,
                    format!("`{pattern}` is not a valid regular expression: {why}"),
                )
                .help(
                    "patterns use Rust's regex syntax (like JavaScript's, without look-around \
                     or back-references); escape a literal `\\`, `.`, `(` or `[` with `\\`",
                ),
            );
        }
    }

    /// A literal default must be one of the literal `enum` values (the run would send it).
    fn default_in_enum(&mut self, d: &Value, s: &ir::InputSchema) {
        let literal = |v: &Value| match &v.kind {
            ValueKind::Jq(_) => None,
            ValueKind::String(t) if t.exprs().next().is_some() => None,
            _ => Some(v.to_json()),
        };
        let allowed = |schema: &ir::InputSchema| -> Option<Vec<serde_json::Value>> {
            match schema.enum_values.as_ref().map(|e| &e.kind) {
                Some(ValueKind::Array(items)) => items.iter().map(literal).collect(),
                _ => None,
            }
        };
        // An array input's default holds items of the item schema's enum.
        let (values, schema): (Vec<&Value>, &ir::InputSchema) = match (&d.kind, &s.items) {
            (ValueKind::Array(items), Some(item)) if allowed(s).is_none() => {
                (items.iter().collect(), item)
            }
            _ => (vec![d], s),
        };
        let Some(allowed) = allowed(schema) else {
            return;
        };
        for v in values {
            let Some(json) = literal(v) else { continue };
            if !allowed.contains(&json) {
                let shown: Vec<String> = allowed.iter().map(|a| a.to_string()).collect();
                self.push(
                    Diagnostic::error(
                        "default-not-in-enum",
                        v.span,
                        format!("the default {json} is not one of the input's `enum` values"),
                    )
                    .help(format!(
                        "use one of {}, or add it to `enum`",
                        shown.join(", ")
                    )),
                );
            }
        }
    }

    /// A literal default or enum value must have the input's type.
    fn value_matches(&mut self, v: &Value, s: &ir::InputSchema, what: &str) {
        let Some(ty) = s.ty.as_ref().map(|t| t.value.as_str()) else {
            return;
        };
        let ok = match (&v.kind, ty) {
            (ValueKind::Jq(_), _) => true,
            (ValueKind::String(t), _) if t.exprs().next().is_some() => true,
            (ValueKind::String(_), "string") => true,
            (ValueKind::Number(_), "number") => true,
            (ValueKind::Bool(_), "boolean") => true,
            (ValueKind::Object(_), "object") => true,
            (ValueKind::Array(items), "array") => {
                if let Some(item_schema) = &s.items {
                    for i in items {
                        self.value_matches(i, item_schema, what);
                    }
                }
                true
            }
            (ValueKind::Null, _) => false,
            (_, t) => !lib_types().contains(&t),
        };
        if !ok {
            let found = match &v.kind {
                ValueKind::String(_) => "a string",
                ValueKind::Number(_) => "a number",
                ValueKind::Bool(_) => "a boolean",
                ValueKind::Object(_) => "an object",
                ValueKind::Array(_) => "a list",
                ValueKind::Null => "null",
                ValueKind::Jq(_) => "a jq expression",
            };
            let help = match (&v.kind, ty) {
                (ValueKind::String(t), "number") if t.text.parse::<f64>().is_ok() => {
                    format!("write {} without quotes", t.text)
                }
                (ValueKind::String(t), "boolean") if t.text == "true" || t.text == "false" => {
                    format!("write {} without quotes", t.text)
                }
                (ValueKind::Number(n), "string") => format!("quote it: \"{n}\""),
                _ => format!("give a {ty} value"),
            };
            self.push(
                Diagnostic::error(
                    "default-type-mismatch",
                    v.span,
                    format!("{what} is {found}, but the input is a {ty}"),
                )
                .help(help),
            );
        }
    }

    fn graph(&mut self, syntax: Syntax) {
        let wf = self.wf;
        let nodes: HashMap<&str, &ir::Node> = wf
            .nodes
            .iter()
            .map(|n| (n.identifier.value.as_str(), n))
            .collect();
        // Nodes declared but not lowered were reported already; they still exist for the graph.
        let unlowered: HashMap<&str, bool> = wf
            .unlowered
            .iter()
            .map(|(n, trigger)| (n.value.as_str(), *trigger))
            .collect();
        if !wf.nodes.iter().any(|n| n.config.is_trigger()) && !unlowered.values().any(|t| *t) {
            let span = Span::new(wf.span.start, wf.span.start + 1).join(wf.identifier.span);
            let span = if wf.identifier.span.is_empty() {
                Span::new(wf.span.start, wf.span.start + 1)
            } else {
                wf.identifier.span.join(span).join(wf.identifier.span)
            };
            self.push(
                Diagnostic::error(
                    "missing-trigger",
                    if wf.identifier.span.is_empty() {
                        span
                    } else {
                        wf.identifier.span
                    },
                    "the workflow has no trigger, so it can never run",
                )
                .help("add a trigger node: a self-service form, a catalog event or a schedule"),
            );
        }
        let mut out_edges: HashMap<&str, Vec<&ir::Connection>> = HashMap::default();
        let mut any_unknown = false;
        for c in &wf.connections {
            let mut ok = true;
            for end in [&c.source, &c.target] {
                if unlowered.contains_key(end.value.as_str()) {
                    ok = false;
                } else if !nodes.contains_key(end.value.as_str()) {
                    ok = false;
                    any_unknown = true;
                    self.push(
                        Diagnostic::error(
                            "unknown-node",
                            end.span,
                            format!("there is no node `{}`", end.value),
                        )
                        .help_opt(
                            did_you_mean(&end.value, nodes.keys().copied())
                                .or_else(|| Some("declare the node, or fix the connection".into())),
                        )
                        .closest_fix(
                            end.span,
                            &end.value,
                            nodes.keys().copied(),
                        ),
                    );
                }
            }
            if c.source.value == c.target.value {
                self.push(
                    Diagnostic::error(
                        "self-loop",
                        c.target.span,
                        format!("node `{}` is connected to itself", c.source.value),
                    )
                    .help("remove the connection; Port workflows cannot loop"),
                );
                continue;
            }
            if !ok {
                // An edge touching an unlowered node still counts for reachability and cycles.
                let known = |n: &Name| {
                    nodes.contains_key(n.value.as_str()) || unlowered.contains_key(n.value.as_str())
                };
                if known(&c.source) && known(&c.target) {
                    out_edges
                        .entry(c.source.value.as_str())
                        .or_default()
                        .push(c);
                }
                continue;
            }
            if let Some(t) = nodes.get(c.target.value.as_str())
                && t.config.is_trigger()
            {
                self.push(
                    Diagnostic::error(
                        "trigger-as-target",
                        c.target.span,
                        format!(
                            "`{}` is a trigger; connections cannot lead into a trigger",
                            c.target.value
                        ),
                    )
                    .help("triggers only start runs: connect from it, not to it"),
                );
                // Reported; left out of the graph so it is not also reported as a cycle.
                continue;
            }
            if let Some(s) = nodes.get(c.source.value.as_str()) {
                self.connection_outlet(c, s, syntax);
            }
            out_edges
                .entry(c.source.value.as_str())
                .or_default()
                .push(c);
        }
        // In `.wflow` several connections from one node (or outlet) are parallel branches.
        if syntax == Syntax::Json {
            self.fan_out(&out_edges, &nodes);
        }
        self.cycles(&out_edges);
        // With a connection to a node that does not exist, or one that was lost (an unlowered
        // entry without a name), what is reachable is a guess.
        let lost = wf.unlowered.iter().any(|(n, _)| n.value.is_empty());
        if !any_unknown && !lost {
            self.unreachable(&out_edges, &unlowered);
        }
    }

    fn connection_outlet(&mut self, c: &ir::Connection, source: &ir::Node, syntax: Syntax) {
        let outlets = source.config.outlet_ids();
        let kind = source.config.type_name();
        if c.fallback && c.outlet.is_some() {
            self.push(
                Diagnostic::error(
                    "outlet-not-allowed",
                    c.span,
                    "a connection cannot be both a fallback and an outlet's",
                )
                .help("drop one of them"),
            );
        }
        if c.fallback && !matches!(source.config, NodeConfig::Condition(_)) {
            self.push(
                Diagnostic::error(
                    "outlet-not-allowed",
                    c.span,
                    format!(
                        "only CONDITION nodes have a fallback; `{}` is {kind}",
                        c.source.value
                    ),
                )
                .help("remove the fallback"),
            );
            return;
        }
        match (&c.outlet, source.config.has_outlets()) {
            // An action's error path, a `.wflow` extension.
            (Some(o), false)
                if o.value == ir::ERROR_PATH
                    && source.config.is_action()
                    && syntax == Syntax::Wflow => {}
            (Some(o), false) => self.push(
                Diagnostic::error(
                    "outlet-not-allowed",
                    o.span,
                    format!("`{}` is {kind}, which has no outlets", c.source.value),
                )
                .help(if o.value == ir::ERROR_PATH {
                    "only action nodes have an error path (`deploy.error -> rollback`); remove the outlet"
                } else {
                    "only CONDITION and INPUT nodes branch; remove the outlet"
                }),
            ),
            (Some(o), true) if !outlets.contains(&o.value.as_str()) => self.push(
                Diagnostic::error(
                    "unknown-outlet",
                    o.span,
                    format!("`{}` has no outlet `{}`", c.source.value, o.value),
                )
                .closest_fix(o.span, &o.value, outlets.iter().copied())
                .help_opt(did_you_mean(&o.value, outlets.iter().copied()).or_else(|| {
                    Some(if outlets.is_empty() {
                        "it has no outlets".to_string()
                    } else {
                        format!("its outlets: {}", outlets.join(", "))
                    })
                })),
            ),
            (None, true) if !c.fallback => self.push(
                Diagnostic::error(
                    "outlet-required",
                    c.source.span,
                    format!(
                        "a connection from {kind} node `{}` must name one of its outlets",
                        c.source.value
                    ),
                )
                .help(format!(
                    "its outlets: {}",
                    if outlets.is_empty() {
                        "(none)".to_string()
                    } else {
                        outlets.join(", ")
                    }
                )),
            ),
            _ => {}
        }
    }

    fn fan_out(
        &mut self,
        out_edges: &HashMap<&str, Vec<&ir::Connection>>,
        nodes: &HashMap<&str, &ir::Node>,
    ) {
        let mut sources: Vec<_> = out_edges.iter().collect();
        sources.sort_by_key(|(_, cs)| cs.first().map(|c| c.span.start));
        for (src, cs) in sources {
            let Some(node) = nodes.get(src) else { continue };
            let mut by_branch: HashMap<String, Vec<&ir::Connection>> = HashMap::default();
            for c in cs {
                let branch = match (&c.outlet, c.fallback, node.config.has_outlets()) {
                    (_, _, false) => String::new(),
                    (_, true, true) => "fallback".to_string(),
                    (Some(o), false, true) => format!("outlet `{}`", o.value),
                    (None, false, true) => continue,
                };
                by_branch.entry(branch).or_default().push(c);
            }
            let mut branches: Vec<_> = by_branch.into_iter().collect();
            branches.sort_by_key(|(_, cs)| cs.first().map(|c| c.span.start));
            for (branch, cs) in branches {
                let (Some(first), Some(second)) = (cs.first(), cs.get(1)) else {
                    continue;
                };
                let what = if branch.is_empty() {
                    format!("`{src}`")
                } else {
                    format!("{branch} of `{src}`")
                };
                self.push(
                    Diagnostic::error(
                        "fan-out",
                        second.target.span,
                        format!(
                            "{what} already leads to `{}`; Port runs one branch at a time",
                            first.target.value
                        ),
                    )
                    .with(first.target.span, "first connection")
                    .help("chain the steps one after another, or branch with a CONDITION node"),
                );
            }
        }
    }

    fn cycles(&mut self, out_edges: &HashMap<&str, Vec<&ir::Connection>>) {
        // Iterative DFS with colours; each cycle is reported once, at its closing edge.
        let mut state: HashMap<&str, u8> = HashMap::default();
        for start in self.wf.nodes.iter().map(|n| n.identifier.value.as_str()) {
            if state.contains_key(start) {
                continue;
            }
            let mut stack: Vec<(&str, usize)> = vec![(start, 0)];
            let mut path: Vec<&str> = vec![start];
            state.insert(start, 1);
            while let Some((node, i)) = stack.last().copied() {
                let edges = out_edges.get(node).map_or(&[][..], Vec::as_slice);
                match edges.get(i) {
                    None => {
                        state.insert(node, 2);
                        stack.pop();
                        path.pop();
                    }
                    Some(c) => {
                        if let Some(top) = stack.last_mut() {
                            top.1 += 1;
                        }
                        let next = c.target.value.as_str();
                        if next == node {
                            continue;
                        }
                        match state.get(next) {
                            Some(1) => {
                                let at = path.iter().position(|n| *n == next).unwrap_or(0);
                                let mut cycle: Vec<&str> = path[at..].to_vec();
                                cycle.push(next);
                                self.push(
                                    Diagnostic::error(
                                        "cycle",
                                        c.span,
                                        format!(
                                            "these connections form a cycle: {}",
                                            cycle.join(" -> ")
                                        ),
                                    )
                                    .label("this connection closes the cycle")
                                    .help(
                                        "Port workflows are acyclic; remove one of the connections",
                                    ),
                                );
                            }
                            Some(_) => {}
                            None => {
                                state.insert(next, 1);
                                stack.push((next, 0));
                                path.push(next);
                            }
                        }
                    }
                }
            }
        }
    }

    fn unreachable(
        &mut self,
        out_edges: &HashMap<&str, Vec<&ir::Connection>>,
        unlowered: &HashMap<&str, bool>,
    ) {
        let mut seen: HashSet<&str> = HashSet::default();
        let mut todo: Vec<&str> = self
            .wf
            .nodes
            .iter()
            .filter(|n| n.config.is_trigger())
            .map(|n| n.identifier.value.as_str())
            .chain(unlowered.iter().filter(|(_, t)| **t).map(|(n, _)| *n))
            .collect();
        if todo.is_empty() {
            return;
        }
        while let Some(n) = todo.pop() {
            if seen.insert(n) {
                todo.extend(
                    out_edges
                        .get(n)
                        .into_iter()
                        .flatten()
                        .map(|c| c.target.value.as_str()),
                );
            }
        }
        for node in &self.wf.nodes {
            if !seen.contains(node.identifier.value.as_str()) {
                self.push(
                    Diagnostic::warning(
                        "unreachable-node",
                        node.identifier.span,
                        format!(
                            "no trigger leads to `{}`, so it never runs",
                            node.identifier.value
                        ),
                    )
                    .help("connect it, or remove it"),
                );
            }
        }
    }

    fn jq(&mut self, q: &ir::JqQuery) {
        for issue in crate::jq::check(&q.code) {
            let span = q.source_span(issue.range.clone());
            self.push(Diagnostic::error(issue.code, span, issue.message).help_opt(issue.help));
        }
    }
}

fn lib_types() -> Vec<&'static str> {
    wflow_stdlib::get()
        .input_types
        .iter()
        .map(String::as_str)
        .collect()
}

/// Every jq expression in a workflow: templates in config values, bare conditions, jqQuery
/// values in forms, variables and links.
pub fn jq_sites(wf: &Workflow) -> Vec<&ir::JqQuery> {
    let mut out: Vec<&ir::JqQuery> = wf.concurrency.iter().flat_map(|c| &c.key).collect();
    for node in &wf.nodes {
        for (_, v) in node.variables.iter().flatten() {
            collect_value_jq(v, &mut out);
        }
        for l in &node.links {
            out.extend(l.exprs());
        }
        match &node.config {
            NodeConfig::SelfServeTrigger(t) => form_jq(&t.user_inputs, &mut out),
            NodeConfig::EventTrigger(e) => {
                out.extend(e.condition.iter().flat_map(|c| &c.expressions))
            }
            NodeConfig::ScheduleTrigger(_) => {}
            NodeConfig::Webhook(w) => {
                out.extend(w.url.exprs());
                w.headers
                    .iter()
                    .for_each(|(_, v)| collect_value_jq(v, &mut out));
                w.body.iter().for_each(|v| collect_value_jq(v, &mut out));
            }
            NodeConfig::Kafka(k) => k.payload.iter().for_each(|v| collect_value_jq(v, &mut out)),
            NodeConfig::UpsertEntity(u) => {
                out.extend(u.blueprint_identifier.exprs());
                let m = &u.mapping;
                for t in [&m.identifier, &m.title, &m.icon].into_iter().flatten() {
                    out.extend(t.exprs());
                }
                m.team.iter().for_each(|v| collect_value_jq(v, &mut out));
                for (_, v) in m.properties.iter().chain(&m.relations).flatten() {
                    collect_value_jq(v, &mut out);
                }
            }
            NodeConfig::IntegrationAction(i) => i
                .integration_action_execution_properties
                .iter()
                .for_each(|v| collect_value_jq(v, &mut out)),
            NodeConfig::Ai(a) => {
                out.extend(a.user_prompt.exprs());
                out.extend(a.system_prompt.iter().flat_map(|t| t.exprs()));
            }
            NodeConfig::AiAgent(a) => out.extend(a.user_prompt.exprs()),
            NodeConfig::CursorAgent(o) => o
                .fields
                .iter()
                .for_each(|(_, v)| collect_value_jq(v, &mut out)),
            NodeConfig::Condition(c) => {
                for o in &c.outlets {
                    out.push(&o.expression);
                    for l in [&o.status_label, &o.workflow_status_label]
                        .into_iter()
                        .flatten()
                    {
                        collect_value_jq(l, &mut out);
                    }
                }
            }
            NodeConfig::Input(i) => {
                out.extend(i.description.iter().flat_map(|t| t.exprs()));
                form_jq(&i.user_inputs, &mut out);
                i.notifications
                    .iter()
                    .for_each(|v| collect_value_jq(v, &mut out));
            }
            NodeConfig::Join(_) => {}
        }
    }
    out
}

fn collect_value_jq<'a>(v: &'a Value, out: &mut Vec<&'a ir::JqQuery>) {
    match &v.kind {
        ValueKind::String(t) => out.extend(t.exprs()),
        ValueKind::Jq(q) => out.push(q),
        ValueKind::Array(items) => items.iter().for_each(|i| collect_value_jq(i, out)),
        ValueKind::Object(m) => m.iter().for_each(|(_, v)| collect_value_jq(v, out)),
        _ => {}
    }
}

fn form_jq<'a>(form: &'a ir::Form, out: &mut Vec<&'a ir::JqQuery>) {
    fn schema_jq<'a>(s: &'a ir::InputSchema, out: &mut Vec<&'a ir::JqQuery>) {
        // Only jqQuery values are jq here: a literal default like "{{x}}" is just text.
        let mut jq_only = |v: &'a Value| jq_queries(v, out);
        s.default.iter().for_each(&mut jq_only);
        s.enum_values.iter().for_each(&mut jq_only);
        s.keywords.iter().for_each(|(_, v)| jq_only(v));
        if let Some(items) = &s.items {
            schema_jq(items, out);
        }
        s.properties.iter().for_each(|p| schema_jq(&p.schema, out));
    }
    form.properties
        .iter()
        .for_each(|p| schema_jq(&p.schema, out));
    if let ir::Required::Jq(q) = &form.required {
        out.push(q);
    }
    for v in form
        .validations
        .iter()
        .chain(form.steps.iter().flat_map(|s| &s.validations))
    {
        out.push(&v.constraint);
    }
    for s in &form.steps {
        s.visible.iter().for_each(|v| jq_queries(v, out));
    }
    for h in &form.titles {
        h.visible.iter().for_each(|v| jq_queries(v, out));
    }
}

fn jq_queries<'a>(v: &'a Value, out: &mut Vec<&'a ir::JqQuery>) {
    match &v.kind {
        ValueKind::Jq(q) => out.push(q),
        ValueKind::Array(items) => items.iter().for_each(|i| jq_queries(i, out)),
        ValueKind::Object(m) => m.iter().for_each(|(_, v)| jq_queries(v, out)),
        _ => {}
    }
}

/// Why `pattern` is not a regular expression the runtime accepts, if it is not. Answers are
/// remembered per thread (compiling a pattern costs more than checking the rest of its form,
/// and the same patterns recur across workflows).
fn regex_problem(pattern: &str) -> Option<String> {
    thread_local! {
        static SEEN: std::cell::RefCell<std::collections::HashMap<String, Option<String>>> =
            std::cell::RefCell::default();
    }
    const REMEMBERED: usize = 1024;
    if let Some(known) = SEEN.with_borrow(|seen| seen.get(pattern).cloned()) {
        return known;
    }
    let problem = regex::Regex::new(pattern).err().map(|e| match e {
        regex::Error::Syntax(s) => s
            .lines()
            .rev()
            .find(|l| l.starts_with("error:"))
            .map_or(s.clone(), |l| {
                l.trim_start_matches("error:").trim().to_string()
            }),
        other => other.to_string(),
    });
    SEEN.with_borrow_mut(|seen| {
        if seen.len() >= REMEMBERED {
            seen.clear();
        }
        seen.insert(pattern.to_string(), problem.clone());
    });
    problem
}
