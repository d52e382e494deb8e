//! Test files (`*.test.wflow`): cases that run a workflow with its outside world mocked and
//! say what must happen. Read from the same syntax tree as workflows and checked against the
//! workflows they test, so a mock of a node that does not exist or an input the form does not
//! declare is a diagnostic with a span, in `wflow check`, `wflow test` and the editor alike.
//!
//! ```text
//! test deploy-service "production deploys go through the production webhook" {
//!   inputs { service: "payments", version: "v1.2.3", environment: "production" }
//!   mock deploy-prod 200 { body { ok: true } }
//!   expect path [trigger, check-env.production, deploy-prod, update-status]
//!   expect result SUCCESS
//! }
//! ```

use serde_json::{Map, Value as Json};
use wflow_grammar::Span;
use wflow_grammar::ast::{Entry, File, Statement, Value, ValueKind};

use crate::catalog::Catalog;
use crate::diag::Diagnostic;
use crate::ir::{self, NodeConfig, Workflow};
use crate::suggest::did_you_mean;
use crate::types::Type;

/// Whether `path` names a test file (`*.test.wflow`).
pub fn is_test_file(path: &std::path::Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.to_ascii_lowercase().ends_with(".test.wflow"))
}

/// The cases of one test file.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TestFile {
    pub cases: Vec<Case>,
}

/// One test case: how the run starts, what the world answers, what must happen.
#[derive(Debug, Clone, PartialEq)]
pub struct Case {
    /// The case's description, as written.
    pub name: String,
    /// The `test` line.
    pub span: Span,
    pub workflow: String,
    /// The trigger node (the workflow's only trigger when not given).
    pub trigger: String,
    /// Who starts the run (`as`): email, roles, teams.
    pub user: Option<Person>,
    /// Form inputs, for a self-service trigger.
    pub inputs: Map<String, Json>,
    /// The trigger's payload, for an event or schedule trigger.
    pub event: Option<Json>,
    /// When the run starts (RFC 3339), default the real now.
    pub at: Option<String>,
    /// Secret values; every secret the workflow reads and that is not given gets a placeholder.
    pub secrets: Vec<(String, String)>,
    /// Entities in the catalog before the run: (blueprint, entity as Port JSON).
    pub entities: Vec<(String, Json)>,
    pub mocks: Vec<Mock>,
    /// What happens while the run waits, in order.
    pub steps: Vec<Step>,
    pub expects: Vec<Expect>,
}

/// A person in a test: who starts a run or responds.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Person {
    pub email: String,
    pub roles: Vec<String>,
    pub teams: Vec<String>,
}

/// One answer of the outside world. Several mocks of one target answer in turn; the last
/// answers every later call.
#[derive(Debug, Clone, PartialEq)]
pub struct Mock {
    pub target: Target,
    pub answer: Answer,
    /// How long the answer takes (virtual time).
    pub delay_ms: u64,
    /// Answers only requests whose body this jq predicate holds for.
    pub when: Option<String>,
    pub span: Span,
}

/// What a mock answers for.
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    /// Every request (or message) of this node.
    Node(String),
    /// Requests whose URL matches the pattern (`*` any text), and the method when given.
    Url {
        pattern: String,
        method: Option<String>,
    },
}

/// What a mock answers.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// An HTTP answer.
    Http {
        status: u16,
        body: Json,
        headers: Vec<(String, String)>,
    },
    /// No answer within the request's timeout.
    Timeout,
    /// The connection is refused.
    Refused,
    /// An integration action's service answering in its own REST shape, what the action
    /// started ending so: a GitHub run's conclusion (`success`, `failure`), a GitLab
    /// pipeline's status (`success`, `failed`), an Azure DevOps run's result (`succeeded`,
    /// `failed`), the status a Jira issue can move to.
    Conclusion(String),
    /// An AI model's answer.
    Reply(String),
    /// Kafka: the broker acknowledges the message.
    Ack,
    /// Kafka: the broker refuses the message, saying why.
    Nack(String),
}

/// Something that happens while the run waits.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// A person presses a button of an approval (INPUT node), after some time.
    Respond {
        node: String,
        button: String,
        by: Person,
        inputs: Map<String, Json>,
        after_ms: u64,
        span: Span,
    },
    /// Time passes (waits time out).
    Wait { ms: u64, span: Span },
}

/// One assertion, with the span of its line.
#[derive(Debug, Clone, PartialEq)]
pub struct Expect {
    pub check: Check,
    pub span: Span,
}

/// What an assertion checks.
#[derive(Debug, Clone, PartialEq)]
pub enum Check {
    /// The run's result: SUCCESS, FAILED, CANCELLED, WAITING (still waiting), or NOT_RUN (the
    /// event did not match the trigger's condition).
    Result(String),
    /// The nodes that ran, in order, each with the outlet it took when it has outlets.
    Path(Vec<(String, Option<String>)>),
    /// These nodes ran (in any order).
    Ran(Vec<String>),
    /// These nodes did not run.
    NotRan(Vec<String>),
    /// A node's output.
    Output { node: String, matcher: Matcher },
    /// An entity in the catalog after the run.
    Entity {
        blueprint: String,
        id: String,
        matcher: Option<Matcher>,
    },
    /// A request a node (or any node, for a URL pattern) sent.
    Request {
        target: Target,
        method: Option<String>,
        url: Option<String>,
        headers: Vec<(String, String)>,
        body: Option<Matcher>,
    },
    /// How many attempts a node made.
    Attempts { node: String, count: u64 },
    /// A node's (or the run's) error contains this text.
    Error {
        node: Option<String>,
        contains: String,
    },
}

/// How a value is checked: a jq predicate on it, or a JSON value it must contain.
#[derive(Debug, Clone, PartialEq)]
pub enum Matcher {
    Jq(String),
    /// Objects match when every given member matches; other values are equal.
    Contains(Json),
}

impl Matcher {
    /// How the matcher is written, for messages.
    pub fn describe(&self) -> String {
        match self {
            Matcher::Jq(code) => format!("`{code}`"),
            Matcher::Contains(v) => v.to_string(),
        }
    }
}

/// Whether `actual` contains `expected`: objects by member, the rest by equality.
pub fn contains(actual: &Json, expected: &Json) -> bool {
    match (actual, expected) {
        (Json::Object(a), Json::Object(e)) => e
            .iter()
            .all(|(k, ev)| a.get(k).is_some_and(|av| contains(av, ev))),
        (Json::Number(a), Json::Number(e)) => a.as_f64() == e.as_f64(),
        _ => actual == expected,
    }
}

/// Whether `url` matches `pattern`, where `*` stands for any text.
pub fn url_matches(pattern: &str, url: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or_default();
    let Some(mut rest) = url.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else {
        return rest.is_empty();
    };
    for p in middle {
        match rest.find(p) {
            Some(i) => rest = &rest[i + p.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

/// Reads and checks the test file `file` against `workflows` (every workflow of the
/// project). Diagnostics go to `diags`.
pub fn read(
    file: &File,
    workflows: &[&Workflow],
    catalog: &Catalog,
    diags: &mut Vec<Diagnostic>,
) -> TestFile {
    let mut out = TestFile::default();
    for st in &file.statements {
        let Statement::Entry(e) = st else {
            diags.push(
                Diagnostic::error("unknown-item", st.span(), "a test file holds `test` blocks")
                    .help("write `test WORKFLOW \"what it checks\" { ... }`"),
            );
            continue;
        };
        if e.name.name != "test" {
            diags.push(
                Diagnostic::error(
                    "unknown-item",
                    e.name.span,
                    format!(
                        "`{}` cannot stand here: a test file holds `test` blocks",
                        e.name.name
                    ),
                )
                .help("write `test WORKFLOW \"what it checks\" { ... }`"),
            );
            continue;
        }
        if let Some(case) = (Reader { diags, catalog }).case(e, workflows) {
            out.cases.push(case);
        }
    }
    out
}

struct Reader<'d> {
    diags: &'d mut Vec<Diagnostic>,
    /// The blueprints, for the types of nodes' outputs.
    catalog: &'d Catalog,
}

/// A word or a string: its text and span.
fn word(v: &Value) -> Option<(&str, Span)> {
    match &v.kind {
        ValueKind::Ident(i) => Some((i.name.as_str(), i.span)),
        ValueKind::Str(s) => Some((s.value.as_str(), v.span)),
        _ => None,
    }
}

/// A plain JSON value (no jq).
fn json(v: &Value) -> Result<Json, Span> {
    Ok(match &v.kind {
        ValueKind::Null => Json::Null,
        ValueKind::Bool(b) => Json::Bool(*b),
        ValueKind::Number(n) => serde_json::from_str(n).map_err(|_| v.span)?,
        ValueKind::Str(s) => Json::String(s.value.clone()),
        ValueKind::Ident(i) => Json::String(i.name.clone()),
        ValueKind::Jq { .. } => return Err(v.span),
        ValueKind::Array(items) => Json::Array(items.iter().map(json).collect::<Result<_, _>>()?),
        ValueKind::Object(members) => Json::Object(
            members
                .iter()
                .map(|(k, v)| Ok((k.name.clone(), json(v)?)))
                .collect::<Result<_, Span>>()?,
        ),
    })
}

/// The nodes of `wf` that call the outside world, and what their mocks may answer.
fn effect_kind(config: &NodeConfig) -> Option<&'static str> {
    match config {
        NodeConfig::Webhook(_) => Some("webhook"),
        NodeConfig::IntegrationAction(_) => Some("integration"),
        NodeConfig::Ai(_) | NodeConfig::AiAgent(_) => Some("ai"),
        NodeConfig::Kafka(_) => Some("kafka"),
        _ => None,
    }
}

impl Reader<'_> {
    fn err(&mut self, code: &'static str, span: Span, msg: impl Into<String>) -> &mut Diagnostic {
        self.diags.push(Diagnostic::error(code, span, msg));
        let last = self.diags.len() - 1;
        &mut self.diags[last]
    }

    fn help(&mut self, help: impl Into<String>) {
        if let Some(d) = self.diags.pop() {
            self.diags.push(d.help(help));
        }
    }

    fn case(&mut self, e: &Entry, workflows: &[&Workflow]) -> Option<Case> {
        let (wf_name, name) = match e.args.as_slice() {
            [w, n] => (word(w), n),
            _ => {
                self.err(
                    "missing-field",
                    e.span,
                    "a test names the workflow it runs and what it checks",
                );
                self.help("write `test WORKFLOW \"what it checks\" { ... }`");
                return None;
            }
        };
        let ValueKind::Str(title) = &name.kind else {
            self.err(
                "wrong-type",
                name.span,
                format!(
                    "a test's description must be a string, found {}",
                    name.describe()
                ),
            );
            return None;
        };
        let Some((wf_id, wf_span)) = wf_name else {
            self.err(
                "wrong-type",
                e.args[0].span,
                "a test names a workflow by its identifier",
            );
            return None;
        };
        let Some(wf) = workflows.iter().find(|w| w.identifier.value == wf_id) else {
            self.err(
                "unknown-workflow",
                wf_span,
                format!("no workflow `{wf_id}` in the files beside this test file"),
            );
            let ids = workflows.iter().map(|w| w.identifier.value.as_str());
            let hint = did_you_mean(wf_id, ids).unwrap_or_else(|| {
                "test files run the workflows of the files beside them (and of the paths given)"
                    .into()
            });
            self.help(hint);
            return None;
        };
        let Some(block) = &e.block else {
            self.err(
                "missing-field",
                e.span,
                "a test needs a block: `{ inputs { ... } expect result SUCCESS }`",
            );
            return None;
        };
        let mut case = Case {
            name: title.value.clone(),
            span: e.span,
            workflow: wf_id.to_string(),
            trigger: String::new(),
            user: None,
            inputs: Map::new(),
            event: None,
            at: None,
            secrets: Vec::new(),
            entities: Vec::new(),
            mocks: Vec::new(),
            steps: Vec::new(),
            expects: Vec::new(),
        };
        let mut trigger: Option<(String, Span)> = None;
        let mut inputs_at: Option<&Value> = None;
        for st in &block.statements {
            let Statement::Entry(f) = st else {
                self.err("unknown-item", st.span(), "this cannot stand in a test");
                continue;
            };
            match f.name.name.as_str() {
                "trigger" => match f.args.first().and_then(word) {
                    Some((t, span)) => trigger = Some((t.to_string(), span)),
                    None => {
                        self.err("missing-field", f.span, "`trigger` names the trigger node");
                    }
                },
                "as" => case.user = self.person(f),
                "inputs" => {
                    if let Some(v) = f.args.first() {
                        inputs_at = Some(v);
                        if let Some(Json::Object(m)) = self.object(v, "`inputs`") {
                            case.inputs = m;
                        }
                    } else {
                        self.err(
                            "missing-field",
                            f.span,
                            "`inputs` takes an object: `inputs { env: \"prod\" }`",
                        );
                    }
                }
                "event" => match f.args.first() {
                    Some(v) => case.event = self.object(v, "`event`"),
                    None => {
                        self.err(
                            "missing-field",
                            f.span,
                            "`event` takes the trigger's payload as an object",
                        );
                    }
                },
                "at" => match f.args.first() {
                    Some(Value {
                        kind: ValueKind::Str(s),
                        span,
                    }) if chrono_like(&s.value) => {
                        let _ = span;
                        case.at = Some(s.value.clone());
                    }
                    Some(v) => {
                        self.err(
                            "invalid-value",
                            v.span,
                            "`at` is a time in RFC 3339: \"2026-12-01T09:00:00Z\"",
                        );
                    }
                    None => {
                        self.err(
                            "missing-field",
                            f.span,
                            "`at` takes a time: `at \"2026-12-01T09:00:00Z\"`",
                        );
                    }
                },
                "secret" => match f.args.as_slice() {
                    [
                        n,
                        Value {
                            kind: ValueKind::Str(s),
                            ..
                        },
                    ] if word(n).is_some() => {
                        let (n, _) = word(n).unwrap_or_default();
                        case.secrets.push((n.to_string(), s.value.clone()));
                    }
                    _ => {
                        self.err("invalid-value", f.span, "write `secret NAME \"value\"`");
                    }
                },
                "entity" => self.entity(f, &mut case),
                "mock" => {
                    if let Some(m) = self.mock(f, wf) {
                        case.mocks.push(m);
                    }
                }
                "respond" => {
                    if let Some(s) = self.respond(f, wf) {
                        case.steps.push(s);
                    }
                }
                "wait" => match f.args.first().and_then(|v| self.duration(v)) {
                    Some(ms) => case.steps.push(Step::Wait { ms, span: f.span }),
                    None if f.args.is_empty() => {
                        self.err(
                            "missing-field",
                            f.span,
                            "`wait` takes a duration: `wait 2h`",
                        );
                    }
                    None => {}
                },
                "expect" => {
                    if let Some(check) = self.expect(f, wf) {
                        case.expects.push(Expect {
                            check,
                            span: f.span,
                        });
                    }
                }
                other => {
                    let fields = [
                        "trigger", "as", "inputs", "event", "at", "secret", "entity", "mock",
                        "respond", "wait", "expect",
                    ];
                    self.err(
                        "unknown-field",
                        f.name.span,
                        format!("`{other}` is not part of a test"),
                    );
                    let hint = did_you_mean(other, fields)
                        .unwrap_or_else(|| format!("a test may hold: {}", fields.join(", ")));
                    self.help(hint);
                }
            }
        }
        case.trigger = self.trigger(wf, trigger, e.span)?;
        if let Some(v) = inputs_at {
            self.check_inputs(wf, &case.trigger, v);
        }
        Some(case)
    }

    fn trigger(
        &mut self,
        wf: &Workflow,
        given: Option<(String, Span)>,
        span: Span,
    ) -> Option<String> {
        let triggers: Vec<&str> = wf
            .nodes
            .iter()
            .filter(|n| n.config.is_trigger())
            .map(|n| n.identifier.value.as_str())
            .collect();
        match given {
            Some((t, at)) if triggers.contains(&t.as_str()) => {
                let _ = at;
                Some(t)
            }
            Some((t, at)) => {
                self.err(
                    "unknown-node",
                    at,
                    format!("workflow `{}` has no trigger `{t}`", wf.identifier.value),
                );
                let hint = did_you_mean(&t, triggers.iter().copied())
                    .unwrap_or_else(|| format!("its triggers: {}", triggers.join(", ")));
                self.help(hint);
                None
            }
            None if triggers.len() == 1 => Some(triggers[0].to_string()),
            None => {
                self.err(
                    "missing-field",
                    span,
                    format!(
                        "workflow `{}` has {} triggers; say which one starts the run",
                        wf.identifier.value,
                        triggers.len()
                    ),
                );
                self.help(format!(
                    "add `trigger {}`",
                    triggers.first().copied().unwrap_or("ID")
                ));
                None
            }
        }
    }

    /// Every input given is declared by the trigger's form.
    fn check_inputs(&mut self, wf: &Workflow, trigger: &str, v: &Value) {
        let Some(node) = wf.node(trigger) else { return };
        let NodeConfig::SelfServeTrigger(t) = &node.config else {
            self.err(
                "invalid-value",
                v.span,
                format!("`{trigger}` is not a form; give its payload with `event {{ ... }}`"),
            );
            return;
        };
        let ValueKind::Object(members) = &v.kind else {
            return;
        };
        let keys: Vec<&str> = t
            .user_inputs
            .properties
            .iter()
            .map(|p| p.key.value.as_str())
            .collect();
        for (k, _) in members {
            if !keys.contains(&k.name.as_str()) {
                self.err(
                    "unknown-input-key",
                    k.span,
                    format!("the form of `{trigger}` has no input `{}`", k.name),
                );
                let hint = did_you_mean(&k.name, keys.iter().copied())
                    .unwrap_or_else(|| format!("its inputs: {}", keys.join(", ")));
                self.help(hint);
            }
        }
    }

    fn object(&mut self, v: &Value, what: &str) -> Option<Json> {
        match json(v) {
            Ok(j @ Json::Object(_)) => Some(j),
            Ok(_) => {
                self.err(
                    "wrong-type",
                    v.span,
                    format!("{what} must be an object, found {}", v.describe()),
                );
                None
            }
            Err(span) => {
                self.err(
                    "wrong-type",
                    span,
                    format!("{what} holds plain values, not jq"),
                );
                None
            }
        }
    }

    fn duration(&mut self, v: &Value) -> Option<u64> {
        let parsed = word(v).and_then(|(t, span)| ir::Duration::parse(t, span));
        if parsed.is_none() {
            self.err(
                "invalid-duration",
                v.span,
                format!("expected a duration, found {}", v.describe()),
            );
            self.help("write whole numbers with units ms, s, m, h, d: `500ms`, `30s`, `1h30m`");
        }
        parsed.map(|d| d.ms)
    }

    /// `as "email" { roles [...] teams [...] }`
    fn person(&mut self, f: &Entry) -> Option<Person> {
        let Some(ValueKind::Str(email)) = f.args.first().map(|v| &v.kind) else {
            self.err(
                "missing-field",
                f.span,
                "`as` takes an email: `as \"alice@example.com\"`",
            );
            return None;
        };
        let mut p = Person {
            email: email.value.clone(),
            ..Person::default()
        };
        for st in f.block.iter().flat_map(|b| &b.statements) {
            let Statement::Entry(g) = st else { continue };
            if !self.roles_or_teams(g, &mut p) {
                self.err(
                    "unknown-field",
                    g.name.span,
                    format!(
                        "`{}` is not part of a person; write roles or teams",
                        g.name.name
                    ),
                );
            }
        }
        Some(p)
    }

    /// Reads `roles [...]` or `teams [...]` into `p`; false for any other entry.
    fn roles_or_teams(&mut self, g: &Entry, p: &mut Person) -> bool {
        let list = match g.name.name.as_str() {
            "roles" => &mut p.roles,
            "teams" => &mut p.teams,
            _ => return false,
        };
        match g.args.first().map(json) {
            Some(Ok(Json::Array(items))) => {
                list.extend(items.iter().filter_map(|i| i.as_str().map(str::to_string)))
            }
            _ => {
                self.err(
                    "wrong-type",
                    g.span,
                    format!("`{}` takes a list of names", g.name.name),
                );
            }
        }
        true
    }

    /// `entity BLUEPRINT { identifier: "x", properties: { ... } }`
    fn entity(&mut self, f: &Entry, case: &mut Case) {
        match f.args.as_slice() {
            [bp, v] if word(bp).is_some() => {
                let (bp, _) = word(bp).unwrap_or_default();
                if let Some(ent) = self.object(v, "an entity") {
                    if ent.get("identifier").and_then(Json::as_str).is_none() {
                        self.err(
                            "missing-field",
                            v.span,
                            "an entity needs a string `identifier`",
                        );
                        return;
                    }
                    case.entities.push((bp.to_string(), ent));
                }
            }
            _ => {
                self.err(
                    "invalid-value",
                    f.span,
                    "write `entity BLUEPRINT { identifier: \"id\", properties: { ... } }`",
                );
            }
        }
    }

    /// The node `id` of `wf`, or a diagnostic at `span`.
    fn node<'w>(&mut self, wf: &'w Workflow, id: &str, span: Span) -> Option<&'w ir::Node> {
        let found = wf.node(id);
        if found.is_none() {
            self.err(
                "unknown-node",
                span,
                format!("workflow `{}` has no node `{id}`", wf.identifier.value),
            );
            let ids = wf.nodes.iter().map(|n| n.identifier.value.as_str());
            let hint = did_you_mean(id, ids).unwrap_or_else(|| {
                let all: Vec<&str> = wf
                    .nodes
                    .iter()
                    .map(|n| n.identifier.value.as_str())
                    .collect();
                format!("its nodes: {}", all.join(", "))
            });
            self.help(hint);
        }
        found
    }

    /// `mock TARGET ANSWER { body ... headers ... delay 2s }`
    fn mock(&mut self, f: &Entry, wf: &Workflow) -> Option<Mock> {
        // `mock "URL" [METHOD] ANSWER`: a method is an upper-case word before the answer.
        let method = match (
            f.args.first().map(|v| &v.kind),
            f.args.get(1).map(|v| &v.kind),
        ) {
            (Some(ValueKind::Str(_)), Some(ValueKind::Ident(m)))
                if m.name.len() > 2 && m.name.chars().all(|c| c.is_ascii_uppercase()) =>
            {
                Some(m.name.clone())
            }
            _ => None,
        };
        let skip = usize::from(method.is_some());
        let (Some(target), Some(answer)) = (f.args.first(), f.args.get(1 + skip)) else {
            self.err(
                "missing-field",
                f.span,
                "a mock names what it answers for and the answer",
            );
            self.help("write `mock NODE 200 { body { ... } }`, `mock NODE timeout`, `mock \"https://host/*\" POST 503`");
            return None;
        };
        let (target, kind) = match &target.kind {
            ValueKind::Ident(i) => {
                let node = self.node(wf, &i.name, i.span)?;
                let Some(kind) = effect_kind(&node.config) else {
                    self.err("mock-not-allowed", i.span, format!(
                        "`{}` is a {} node: it calls nothing outside, so there is nothing to mock",
                        i.name,
                        node.config.type_name()
                    ));
                    self.help(
                        "mock webhook, integration, AI and Kafka nodes; seed the catalog with `entity`",
                    );
                    return None;
                };
                (Target::Node(i.name.clone()), kind)
            }
            ValueKind::Str(s) => (
                Target::Url {
                    pattern: s.value.clone(),
                    method: method.clone(),
                },
                "webhook",
            ),
            _ => {
                self.err(
                    "wrong-type",
                    target.span,
                    "a mock is for a node (its identifier) or a URL pattern (a string)",
                );
                return None;
            }
        };
        let mut delay_ms = 0;
        let mut when = None;
        let mut body = Json::Null;
        let mut headers = Vec::new();
        for st in f.block.iter().flat_map(|b| &b.statements) {
            let Statement::Entry(g) = st else { continue };
            match (g.name.name.as_str(), g.args.first()) {
                ("delay", Some(v)) => delay_ms = self.duration(v).unwrap_or(0),
                ("when", Some(v)) => match self.matcher(v, None) {
                    Some(Matcher::Jq(code)) => when = Some(code),
                    Some(Matcher::Contains(_)) => {
                        self.err(
                            "wrong-type",
                            v.span,
                            "`when` is a jq predicate on the request's body, in backticks",
                        );
                    }
                    None => {}
                },
                ("body", Some(v)) => match json(v) {
                    Ok(j) => body = j,
                    Err(span) => {
                        self.err("wrong-type", span, "a mocked body is plain JSON, not jq");
                    }
                },
                ("headers", Some(v)) => {
                    if let Some(Json::Object(m)) = self.object(v, "`headers`") {
                        headers = m
                            .into_iter()
                            .map(|(k, v)| {
                                (k, v.as_str().map_or_else(|| v.to_string(), str::to_string))
                            })
                            .collect();
                    }
                }
                (other, _) => {
                    self.err(
                        "unknown-field",
                        g.name.span,
                        format!(
                            "`{other}` is not part of a mock; write body, headers, delay or when"
                        ),
                    );
                }
            }
        }
        let answer = match (&answer.kind, kind) {
            (ValueKind::Number(n), "webhook" | "ai" | "integration") => match n.parse::<u16>() {
                Ok(status) if (100..600).contains(&status) => Answer::Http {
                    status,
                    body,
                    headers,
                },
                _ => {
                    self.err(
                        "invalid-value",
                        answer.span,
                        format!("`{n}` is not an HTTP status"),
                    );
                    return None;
                }
            },
            (ValueKind::Ident(i), _) if i.name == "timeout" => Answer::Timeout,
            (ValueKind::Ident(i), "webhook" | "ai" | "integration") if i.name == "refused" => {
                Answer::Refused
            }
            (ValueKind::Ident(i), "integration") => Answer::Conclusion(i.name.clone()),
            (ValueKind::Str(s), "integration") => Answer::Conclusion(s.value.clone()),
            (ValueKind::Str(s), "ai") => Answer::Reply(s.value.clone()),
            (ValueKind::Ident(i), "kafka") if i.name == "ack" => Answer::Ack,
            (ValueKind::Str(s), "kafka") => Answer::Nack(s.value.clone()),
            _ => {
                let forms = match kind {
                    "webhook" => "an HTTP status (`200 { body { ... } }`), `timeout` or `refused`",
                    "integration" => {
                        "how what it started ends (GitHub `success`/`failure`, GitLab `success`/`failed`, Azure DevOps `succeeded`/`failed`, a Jira status), an HTTP status, `timeout` or `refused`"
                    }
                    "ai" => "the model's reply (a string), an HTTP status, `timeout` or `refused`",
                    _ => "`ack`, `timeout`, or the broker's refusal (a string)",
                };
                self.err(
                    "invalid-value",
                    answer.span,
                    format!(
                        "{} {kind} node's mock answers {forms}",
                        if kind == "integration" { "an" } else { "a" }
                    ),
                );
                return None;
            }
        };
        Some(Mock {
            target,
            answer,
            delay_ms,
            when,
            span: f.span,
        })
    }

    /// `respond NODE BUTTON by "email" { after 30m  inputs { ... }  roles [...] }`
    fn respond(&mut self, f: &Entry, wf: &Workflow) -> Option<Step> {
        let usage = "write `respond NODE BUTTON by \"email\"` (with `{ after 30m }` for later)";
        let [node, button, by_kw, by] = f.args.as_slice() else {
            self.err(
                "missing-field",
                f.span,
                "a response names the approval, the button and who presses it",
            );
            self.help(usage);
            return None;
        };
        let (node_id, node_span) = word(node)?;
        let n = self.node(wf, node_id, node_span)?;
        let NodeConfig::Input(_) = &n.config else {
            self.err(
                "invalid-value",
                node_span,
                format!(
                    "`{node_id}` is a {} node, not an approval (INPUT)",
                    n.config.type_name()
                ),
            );
            return None;
        };
        let (button_id, button_span) = word(button)?;
        let buttons = n.config.outlet_ids();
        if !buttons.contains(&button_id) {
            self.err(
                "unknown-outlet",
                button_span,
                format!("approval `{node_id}` has no button `{button_id}`"),
            );
            let hint = did_you_mean(button_id, buttons.iter().copied())
                .unwrap_or_else(|| format!("its buttons: {}", buttons.join(", ")));
            self.help(hint);
            return None;
        }
        let (ValueKind::Ident(kw), ValueKind::Str(email)) = (&by_kw.kind, &by.kind) else {
            self.err(
                "invalid-value",
                f.span,
                "who responds is written `by \"email\"`",
            );
            self.help(usage);
            return None;
        };
        if kw.name != "by" {
            self.err(
                "invalid-value",
                kw.span,
                "who responds is written `by \"email\"`",
            );
            return None;
        }
        let mut person = Person {
            email: email.value.clone(),
            ..Person::default()
        };
        let mut after_ms = 0;
        let mut inputs = Map::new();
        for st in f.block.iter().flat_map(|b| &b.statements) {
            let Statement::Entry(g) = st else { continue };
            match (g.name.name.as_str(), g.args.first()) {
                ("after", Some(v)) => after_ms = self.duration(v).unwrap_or(0),
                ("inputs", Some(v)) => {
                    if let Some(Json::Object(m)) = self.object(v, "`inputs`") {
                        inputs = m;
                    }
                }
                _ if self.roles_or_teams(g, &mut person) => {}
                (other, _) => {
                    self.err("unknown-field", g.name.span, format!("`{other}` is not part of a response; write after, inputs, roles or teams"));
                }
            }
        }
        Some(Step::Respond {
            node: node_id.to_string(),
            button: button_id.to_string(),
            by: person,
            inputs,
            after_ms,
            span: f.span,
        })
    }

    fn matcher(&mut self, v: &Value, input: Option<(&Type, &str)>) -> Option<Matcher> {
        match &v.kind {
            ValueKind::Jq { code, code_start } => {
                let issues = crate::jq::check(code);
                for i in &issues {
                    let span = Span::new(code_start + i.range.start, code_start + i.range.end);
                    self.diags.push(
                        Diagnostic::error(i.code, span, i.message.clone()).help_opt(i.help.clone()),
                    );
                }
                if !issues.is_empty() {
                    return None;
                }
                if let Some((ty, root)) = input {
                    self.typed(code, *code_start, ty, root);
                }
                Some(Matcher::Jq(code.clone()))
            }
            _ => match json(v) {
                Ok(j) => Some(Matcher::Contains(j)),
                Err(span) => {
                    self.err(
                        "wrong-type",
                        span,
                        "write jq as the whole expectation, in backticks",
                    );
                    None
                }
            },
        }
    }

    /// Reports fields `code` reads that the value of type `ty` does not have.
    fn typed(&mut self, code: &str, start: usize, ty: &Type, root: &str) {
        struct NoOutputs;
        impl crate::jq_types::Resolve for NoOutputs {
            fn output(&mut self, _: &str, _: std::ops::Range<usize>, _: bool) -> Type {
                Type::Any
            }
            fn is_node(&self, _: &str) -> bool {
                false
            }
        }
        let Some(inferred) = crate::jq_types::infer(code, ty, root, &mut NoOutputs, false) else {
            return;
        };
        for i in inferred.issues.into_iter().filter(|i| !i.warning) {
            let span = Span::new(start + i.range.start, start + i.range.end);
            self.diags
                .push(Diagnostic::error(i.code, span, i.message).help_opt(i.help));
        }
    }

    fn names(&mut self, v: &Value, wf: &Workflow) -> Vec<String> {
        let items: Vec<&Value> = match &v.kind {
            ValueKind::Array(items) => items.iter().collect(),
            _ => vec![v],
        };
        let mut out = Vec::new();
        for item in items {
            if let Some((id, span)) = word(item)
                && self.node(wf, id, span).is_some()
            {
                out.push(id.to_string());
            }
        }
        out
    }

    fn expect(&mut self, f: &Entry, wf: &Workflow) -> Option<Check> {
        let Some((what, what_span)) = f.args.first().and_then(word) else {
            self.err("missing-field", f.span, "`expect` says what it checks: result, path, ran, not_ran, output, entity, request, attempts or error");
            return None;
        };
        let rest = &f.args[1..];
        let need = |r: &mut Self, n: usize, usage: &str| -> bool {
            if rest.len() < n {
                r.err("missing-field", f.span, format!("write `{usage}`"));
                false
            } else {
                true
            }
        };
        match what {
            "result" => {
                if !need(self, 1, "expect result SUCCESS") {
                    return None;
                }
                let (r, span) = word(&rest[0])?;
                const RESULTS: [&str; 5] = ["SUCCESS", "FAILED", "CANCELLED", "WAITING", "NOT_RUN"];
                if !RESULTS.contains(&r) {
                    self.err(
                        "invalid-value",
                        span,
                        format!(
                            "`{r}` is not a run result; write one of {}",
                            RESULTS.join(", ")
                        ),
                    );
                    return None;
                }
                Some(Check::Result(r.to_string()))
            }
            "path" => {
                // `expect path { trigger -> check.outlet -> next }`, or a list without outlets.
                let mut steps: Vec<(&str, Option<&str>, Span)> = Vec::new();
                match (rest.first(), &f.block) {
                    (
                        Some(Value {
                            kind: ValueKind::Array(items),
                            ..
                        }),
                        None,
                    ) => {
                        for item in items {
                            let (id, span) = word(item)?;
                            steps.push((id, None, span));
                        }
                    }
                    (None, Some(b)) => {
                        for st in &b.statements {
                            let Statement::Edges(chain) = st else {
                                self.err(
                                    "invalid-value",
                                    st.span(),
                                    "a path is a chain: `trigger -> check.outlet -> next`",
                                );
                                return None;
                            };
                            for end in &chain.endpoints {
                                steps.push((
                                    &end.node.name,
                                    end.outlet.as_ref().map(|o| o.name.as_str()),
                                    end.span,
                                ));
                            }
                        }
                    }
                    _ => {
                        self.err("invalid-value", f.span, "write `expect path { trigger -> check.outlet -> next }` or `expect path [trigger, next]`");
                        return None;
                    }
                }
                let mut path = Vec::new();
                for (id, outlet, span) in steps {
                    let node = self.node(wf, id, span)?;
                    if let Some(o) = outlet {
                        let outlets = node.config.outlet_ids();
                        if !outlets.contains(&o) && o != "fallback" {
                            self.err(
                                "unknown-outlet",
                                span,
                                format!("node `{id}` has no outlet `{o}`"),
                            );
                            let hint = did_you_mean(o, outlets.iter().copied())
                                .unwrap_or_else(|| format!("its outlets: {}", outlets.join(", ")));
                            self.help(hint);
                            return None;
                        }
                    }
                    path.push((id.to_string(), outlet.map(str::to_string)));
                }
                Some(Check::Path(path))
            }
            "ran" | "not_ran" => {
                if !need(self, 1, &format!("expect {what} [node, ...]")) {
                    return None;
                }
                let names = self.names(&rest[0], wf);
                Some(if what == "ran" {
                    Check::Ran(names)
                } else {
                    Check::NotRan(names)
                })
            }
            "output" => {
                if !need(self, 2, "expect output NODE `.response.status == 200`") {
                    return None;
                }
                let (id, span) = word(&rest[0])?;
                self.node(wf, id, span)?;
                let types = crate::dataflow::node_output_types(wf, self.catalog);
                let ty = types
                    .iter()
                    .find(|(n, _)| n == id)
                    .map(|(_, t)| t.clone())
                    .unwrap_or(Type::Any);
                let root = format!("the output of `{id}`");
                let matcher = self.matcher(&rest[1], Some((&ty, &root)))?;
                Some(Check::Output {
                    node: id.to_string(),
                    matcher,
                })
            }
            "entity" => {
                if !need(
                    self,
                    2,
                    "expect entity BLUEPRINT \"id\" `.properties.x == 1`",
                ) {
                    return None;
                }
                let (bp, _) = word(&rest[0])?;
                let (id, _) = word(&rest[1])?;
                let matcher = match rest.get(2) {
                    Some(v) => Some(self.matcher(v, None)?),
                    None => None,
                };
                Some(Check::Entity {
                    blueprint: bp.to_string(),
                    id: id.to_string(),
                    matcher,
                })
            }
            "request" => {
                if !need(
                    self,
                    1,
                    "expect request NODE { method POST  url \"...\"  body `.x == 1` }",
                ) {
                    return None;
                }
                let target = match &rest[0].kind {
                    ValueKind::Ident(i) => {
                        let node = self.node(wf, &i.name, i.span)?;
                        if !matches!(
                            effect_kind(&node.config),
                            Some("webhook" | "integration" | "ai")
                        ) {
                            self.err(
                                "mock-not-allowed",
                                i.span,
                                format!("`{}` sends no HTTP request", i.name),
                            );
                            return None;
                        }
                        Target::Node(i.name.clone())
                    }
                    ValueKind::Str(s) => Target::Url {
                        pattern: s.value.clone(),
                        method: None,
                    },
                    _ => {
                        self.err(
                            "wrong-type",
                            rest[0].span,
                            "a request is a node's (its identifier) or a URL pattern's (a string)",
                        );
                        return None;
                    }
                };
                let (mut method, mut url, mut headers, mut body) = (None, None, Vec::new(), None);
                for st in f.block.iter().flat_map(|b| &b.statements) {
                    let Statement::Entry(g) = st else { continue };
                    match (g.name.name.as_str(), g.args.first()) {
                        ("method", Some(v)) => {
                            method = word(v).map(|(m, _)| m.to_ascii_uppercase())
                        }
                        ("url", Some(v)) => url = word(v).map(|(u, _)| u.to_string()),
                        ("headers", Some(v)) => {
                            if let Some(Json::Object(m)) = self.object(v, "`headers`") {
                                headers = m
                                    .into_iter()
                                    .map(|(k, v)| {
                                        (
                                            k,
                                            v.as_str()
                                                .map_or_else(|| v.to_string(), str::to_string),
                                        )
                                    })
                                    .collect();
                            }
                        }
                        ("body", Some(v)) => body = self.matcher(v, None),
                        (other, _) => {
                            self.err("unknown-field", g.name.span, format!("`{other}` is not part of a request; write method, url, headers or body"));
                        }
                    }
                }
                Some(Check::Request {
                    target,
                    method,
                    url,
                    headers,
                    body,
                })
            }
            "attempts" => {
                if !need(self, 2, "expect attempts NODE 3") {
                    return None;
                }
                let (id, span) = word(&rest[0])?;
                self.node(wf, id, span)?;
                let count = match json(&rest[1]) {
                    Ok(Json::Number(n)) if n.as_u64().is_some() => n.as_u64().unwrap_or_default(),
                    _ => {
                        self.err(
                            "wrong-type",
                            rest[1].span,
                            "the number of attempts is a whole number",
                        );
                        return None;
                    }
                };
                Some(Check::Attempts {
                    node: id.to_string(),
                    count,
                })
            }
            "error" => {
                let (node, text) = match rest {
                    [
                        Value {
                            kind: ValueKind::Str(s),
                            ..
                        },
                    ] => (None, s.value.clone()),
                    [
                        n,
                        Value {
                            kind: ValueKind::Str(s),
                            ..
                        },
                    ] => {
                        let (id, span) = word(n)?;
                        self.node(wf, id, span)?;
                        (Some(id.to_string()), s.value.clone())
                    }
                    _ => {
                        self.err(
                            "missing-field",
                            f.span,
                            "write `expect error \"text\"` or `expect error NODE \"text\"`",
                        );
                        return None;
                    }
                };
                Some(Check::Error {
                    node,
                    contains: text,
                })
            }
            other => {
                let all = [
                    "result", "path", "ran", "not_ran", "output", "entity", "request", "attempts",
                    "error",
                ];
                self.err(
                    "unknown-field",
                    what_span,
                    format!("`expect {other}` is not an assertion"),
                );
                let hint = did_you_mean(other, all)
                    .unwrap_or_else(|| format!("expect one of: {}", all.join(", ")));
                self.help(hint);
                None
            }
        }
    }
}

/// Whether `s` looks like an RFC 3339 time (checked fully where it is used).
fn chrono_like(s: &str) -> bool {
    s.len() >= 20 && s.as_bytes().get(4) == Some(&b'-') && s.contains('T')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_patterns_match_with_stars() {
        assert!(url_matches(
            "https://a.example/*",
            "https://a.example/deploy"
        ));
        assert!(url_matches(
            "https://*.example/x*",
            "https://ci.example/xyz"
        ));
        assert!(!url_matches(
            "https://a.example/*",
            "https://b.example/deploy"
        ));
        assert!(url_matches("https://a.example/x", "https://a.example/x"));
        assert!(!url_matches("https://a.example/x", "https://a.example/xy"));
    }

    #[test]
    fn contains_is_a_subset_on_objects() {
        let actual = serde_json::json!({"a": 1, "b": {"c": 2, "d": 3}});
        assert!(contains(&actual, &serde_json::json!({"b": {"c": 2}})));
        assert!(contains(&actual, &serde_json::json!({"a": 1.0})));
        assert!(!contains(&actual, &serde_json::json!({"b": {"c": 3}})));
        assert!(!contains(&actual, &serde_json::json!({"z": null})));
    }
}
