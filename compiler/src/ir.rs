//! The typed IR: one meaning for `.wflow` and Port JSON alike.
//!
//! The checker, the runtime, the LSP and the exporter all read this. It serialises to JSON
//! (`wflow compile`); spans are not serialised. [`IR_VERSION`] changes whenever the shape does.

use serde::de::Deserializer;
use serde::ser::{SerializeMap, SerializeSeq, Serializer};
use serde::{Deserialize, Serialize};
use wflow_grammar::{OffsetMap, Span};

/// The outlet name of an action node's error path.
pub const ERROR_PATH: &str = "error";

/// The version of the IR's shape; stored with every compiled module.
pub const IR_VERSION: u32 = 3;

/// The workflows of one source file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Module {
    pub ir_version: u32,
    pub workflows: Vec<Workflow>,
}

/// A workflow: metadata, nodes and the connections between them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Workflow {
    pub identifier: Name,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<Name>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icon: Option<Name>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<Name>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<Name>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_anyone_to_view_runs: Option<bool>,
    /// wflow extension: how long a run may take (`timeout 2h`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Duration>,
    /// wflow extension: the retry policy of action nodes that declare none
    /// (`defaults { retry { ... } }`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<Retry>,
    /// wflow extension: how many runs of the workflow may go on at once (`concurrency 1`);
    /// the others wait in a queue, in the order they were accepted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<Concurrency>,
    pub nodes: Vec<Node>,
    pub connections: Vec<Connection>,
    /// A Port JSON fragment (nodes without a workflow around them): whole-workflow rules such
    /// as "at least one trigger" are not applied.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub fragment: bool,
    /// Nodes that were declared but could not be lowered (already reported), with whether
    /// they may be triggers: the graph checks treat them as present instead of reporting
    /// their connections as unknown. An entry with an empty name stands for something lost
    /// that has no name (a `nodes` value that is not a list, a connection without an end):
    /// reachability is then not checked.
    #[serde(skip)]
    pub unlowered: Vec<(Name, bool)>,
    #[serde(skip)]
    pub span: Span,
}

impl Workflow {
    /// The node with identifier `id`.
    pub fn node(&self, id: &str) -> Option<&Node> {
        self.nodes.iter().find(|n| n.identifier.value == id)
    }

    /// Whether `c` is an action node's error path (`deploy.error -> rollback`, a wflow
    /// extension): taken when the node fails, instead of its other connections.
    pub fn is_error_path(&self, c: &Connection) -> bool {
        c.outlet.as_ref().is_some_and(|o| o.value == ERROR_PATH)
            && self
                .node(&c.source.value)
                .is_some_and(|n| n.config.is_action())
    }

    /// Whether node `id` has an error path.
    pub fn has_error_path(&self, id: &str) -> bool {
        self.connections
            .iter()
            .any(|c| c.source.value == id && self.is_error_path(c))
    }

    /// The retry policy of `node`: its own, else the workflow's default for action nodes.
    pub fn retry_of<'a>(&'a self, node: &'a Node) -> Option<&'a Retry> {
        node.retry
            .as_ref()
            .or_else(|| self.retry.as_ref().filter(|_| node.config.is_action()))
    }
}

/// A string that came from the source, with where it came from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Name {
    pub value: String,
    pub span: Span,
}

impl Name {
    /// A name with its source span.
    pub fn new(value: impl Into<String>, span: Span) -> Name {
        Name {
            value: value.into(),
            span,
        }
    }
}

impl Serialize for Name {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.value)
    }
}

impl<'de> Deserialize<'de> for Name {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Name, D::Error> {
        String::deserialize(d).map(|value| Name {
            value,
            span: Span::default(),
        })
    }
}

/// A node: a trigger, an action or a flow node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Node {
    pub identifier: Name,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<Name>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icon: Option<Name>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<Name>,
    pub config: NodeConfig,
    /// Evaluated after the node runs, against `.result`; they replace the node's output.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "pairs::option"
    )]
    pub variables: Option<Vec<(Name, Value)>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<Template>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verbose: Option<bool>,
    /// wflow extension: how an action node retries its failures.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<Retry>,
    /// wflow extension: how long each attempt of an action, or an approval's wait, may take.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Duration>,
    /// What happens when the node times out (Port's `onTimeout` of webhooks, for every kind).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_timeout: Option<OnTimeout>,
    #[serde(skip)]
    pub span: Span,
}

/// What a node does, by kind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum NodeConfig {
    SelfServeTrigger(FormTrigger),
    EventTrigger(EventTrigger),
    ScheduleTrigger(ScheduleTrigger),
    Webhook(Webhook),
    Kafka(Kafka),
    UpsertEntity(Upsert),
    IntegrationAction(Integration),
    Ai(Ai),
    AiAgent(AiAgent),
    /// Deprecated by Port; kept as given.
    CursorAgent(Opaque),
    Condition(Condition),
    Input(InputNode),
    /// wflow extension: waits for parallel branches.
    Join(Join),
}

impl NodeConfig {
    /// Port's `config.type` string for this kind.
    pub fn type_name(&self) -> &'static str {
        match self {
            NodeConfig::SelfServeTrigger(_) => "SELF_SERVE_TRIGGER",
            NodeConfig::EventTrigger(_) => "EVENT_TRIGGER",
            NodeConfig::ScheduleTrigger(_) => "SCHEDULE_TRIGGER",
            NodeConfig::Webhook(_) => "WEBHOOK",
            NodeConfig::Kafka(_) => "KAFKA",
            NodeConfig::UpsertEntity(_) => "UPSERT_ENTITY",
            NodeConfig::IntegrationAction(_) => "INTEGRATION_ACTION",
            NodeConfig::Ai(_) => "AI",
            NodeConfig::AiAgent(_) => "AI_AGENT",
            NodeConfig::CursorAgent(_) => "CURSOR_AGENT",
            NodeConfig::Condition(_) => "CONDITION",
            NodeConfig::Input(_) => "INPUT",
            NodeConfig::Join(_) => "JOIN",
        }
    }

    /// Whether this node starts runs.
    pub fn is_trigger(&self) -> bool {
        matches!(
            self,
            NodeConfig::SelfServeTrigger(_)
                | NodeConfig::EventTrigger(_)
                | NodeConfig::ScheduleTrigger(_)
        )
    }

    /// Whether this node acts on the outside world or the catalog (and so may retry).
    pub fn is_action(&self) -> bool {
        !self.is_trigger() && !self.has_outlets() && !matches!(self, NodeConfig::Join(_))
    }

    /// How many incoming branches a join waits for, `None` for other nodes.
    pub fn join_wait(&self) -> Option<Wait> {
        match self {
            NodeConfig::Join(j) => Some(j.wait),
            _ => None,
        }
    }

    /// The identifiers of a condition's outlets or an approval's buttons (none for others).
    pub fn outlet_ids(&self) -> Vec<&str> {
        match self {
            NodeConfig::Condition(c) => c
                .outlets
                .iter()
                .map(|o| o.identifier.value.as_str())
                .collect(),
            NodeConfig::Input(i) => i
                .outlets
                .iter()
                .map(|o| o.identifier.value.as_str())
                .collect(),
            _ => Vec::new(),
        }
    }

    /// Whether connections out of this node name an outlet.
    pub fn has_outlets(&self) -> bool {
        matches!(self, NodeConfig::Condition(_) | NodeConfig::Input(_))
    }
}

/// What happens to the run when an action node fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnFailure {
    Terminate,
    Continue,
}

/// What a node does when it times out: an action fails or continues with `{"timeout": true}`;
/// an approval fails or takes one of its outlets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OnTimeout {
    Fail,
    Continue,
    Outlet(Name),
}

impl OnTimeout {
    /// `fail`, `continue` or the outlet's identifier.
    pub fn word(&self) -> &str {
        match self {
            OnTimeout::Fail => "fail",
            OnTimeout::Continue => "continue",
            OnTimeout::Outlet(o) => &o.value,
        }
    }
}

impl Serialize for OnTimeout {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.word())
    }
}

impl<'de> Deserialize<'de> for OnTimeout {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<OnTimeout, D::Error> {
        Ok(match String::deserialize(d)?.as_str() {
            "fail" => OnTimeout::Fail,
            "continue" => OnTimeout::Continue,
            other => OnTimeout::Outlet(Name::new(other, Span::default())),
        })
    }
}

/// A workflow's concurrency limit (`concurrency 1`, or per key: `concurrency 1 by
/// `.outputs.trigger.service``), serialised as the number, or `{limit, by}` with a key.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(from = "ConcurrencyJson", into = "ConcurrencyJson")]
pub struct Concurrency {
    pub limit: u32,
    /// The runs counted together: those whose key (jq over the run context when the run is
    /// accepted) is the same. `None`: all the workflow's runs.
    pub key: Option<JqQuery>,
    pub span: Span,
}

impl Concurrency {
    /// The highest limit accepted.
    pub const MAX: u32 = 1_000;
}

/// [`Concurrency`] as JSON.
#[derive(Clone, Serialize, Deserialize)]
#[serde(untagged)]
enum ConcurrencyJson {
    Limit(u32),
    Keyed { limit: u32, by: JqQuery },
}

impl From<ConcurrencyJson> for Concurrency {
    fn from(j: ConcurrencyJson) -> Concurrency {
        let (limit, key) = match j {
            ConcurrencyJson::Limit(limit) => (limit, None),
            ConcurrencyJson::Keyed { limit, by } => (limit, Some(by)),
        };
        Concurrency {
            limit,
            key,
            span: Span::default(),
        }
    }
}

impl From<Concurrency> for ConcurrencyJson {
    fn from(c: Concurrency) -> ConcurrencyJson {
        match c.key {
            None => ConcurrencyJson::Limit(c.limit),
            Some(by) => ConcurrencyJson::Keyed { limit: c.limit, by },
        }
    }
}

/// A length of time (`500ms`, `30s`, `5m`, `24h`, `1h30m`), serialised as milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Duration {
    pub ms: u64,
    pub span: Span,
}

impl Duration {
    /// The longest duration accepted: 30 days.
    pub const MAX_MS: u64 = 30 * 24 * 3_600_000;

    /// Parses `text`: one or more `<digits><unit>`, units `ms`, `s`, `m`, `h`, `d`. `None`
    /// when it is not one, is zero or is over [`Duration::MAX_MS`].
    pub fn parse(text: &str, span: Span) -> Option<Duration> {
        let mut ms: u64 = 0;
        let mut rest = text;
        while !rest.is_empty() {
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            let n: u64 = rest.get(..digits)?.parse().ok()?;
            rest = &rest[digits..];
            let (unit, len) = [
                ("ms", 1),
                ("s", 1_000),
                ("m", 60_000),
                ("h", 3_600_000),
                ("d", 86_400_000),
            ]
            .into_iter()
            .find(|(u, _)| rest.starts_with(u))
            .map(|(u, f)| (f, u.len()))?;
            rest = &rest[len..];
            ms = ms.checked_add(n.checked_mul(unit)?)?;
        }
        (ms > 0 && ms <= Duration::MAX_MS).then_some(Duration { ms, span })
    }

    /// The canonical text: `1h30m`, `48h`, `500ms`.
    pub fn text(&self) -> String {
        let mut out = String::new();
        let mut left = self.ms;
        for (unit, size) in [("h", 3_600_000), ("m", 60_000), ("s", 1_000), ("ms", 1)] {
            if left >= size {
                out.push_str(&format!("{}{unit}", left / size));
                left %= size;
            }
        }
        out
    }

    /// As a standard duration.
    pub fn std(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.ms)
    }
}

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(self.ms)
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(|ms| Duration {
            ms,
            span: Span::default(),
        })
    }
}

/// wflow extension: how an action node retries (`retry { attempts 5; backoff exponential 1s
/// max 30s jitter; on [connect, timeout, 5xx, 429] }`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Retry {
    /// Attempts in all, the first included.
    pub attempts: u32,
    pub backoff: Backoff,
    /// The wait after the first failed attempt.
    pub delay: Duration,
    /// The longest wait, `Retry-After` included.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<Duration>,
    /// Each wait is drawn between half of it and all of it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub jitter: bool,
    /// The failures that are retried.
    pub on: Vec<RetryOn>,
    #[serde(skip)]
    pub span: Span,
}

impl Retry {
    /// Attempts when the policy names none.
    pub const DEFAULT_ATTEMPTS: u32 = 3;
    /// The most attempts a policy may declare.
    pub const MAX_ATTEMPTS: u32 = 100;
    /// The wait after the first failure when the policy names none.
    pub const DEFAULT_DELAY_MS: u64 = 1_000;
    /// The longest wait when the policy names no `max`.
    pub const DEFAULT_MAX_MS: u64 = 300_000;

    /// Whether everything but `attempts` is the default (printed `retry N`).
    pub fn is_default_but_attempts(&self) -> bool {
        self.backoff == Backoff::Exponential
            && self.delay.ms == Retry::DEFAULT_DELAY_MS
            && self.max.is_none()
            && !self.jitter
            && self.on.len() == RetryOn::ALL.len()
    }

    /// The longest wait.
    pub fn cap_ms(&self) -> u64 {
        self.max
            .map_or(Retry::DEFAULT_MAX_MS.max(self.delay.ms), |m| m.ms)
    }

    /// The wait after failed attempt `attempt` (1-based), before jitter.
    pub fn delay_ms(&self, attempt: u32) -> u64 {
        let base = match self.backoff {
            Backoff::Fixed => self.delay.ms,
            Backoff::Exponential => self.delay.ms.saturating_mul(
                1u64.checked_shl(attempt.saturating_sub(1))
                    .unwrap_or(u64::MAX),
            ),
        };
        base.min(self.cap_ms())
    }
}

/// How waits grow between attempts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backoff {
    Fixed,
    Exponential,
}

/// A class of failures that may be retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RetryOn {
    /// The connection could not be made.
    #[serde(rename = "connect")]
    Connect,
    /// The attempt took longer than its timeout.
    #[serde(rename = "timeout")]
    Timeout,
    /// An HTTP 5xx answer.
    #[serde(rename = "5xx")]
    ServerError,
    /// HTTP 429 Too Many Requests.
    #[serde(rename = "429")]
    TooManyRequests,
}

impl RetryOn {
    /// Every class, as written.
    pub const ALL: [(&'static str, RetryOn); 4] = [
        ("connect", RetryOn::Connect),
        ("timeout", RetryOn::Timeout),
        ("5xx", RetryOn::ServerError),
        ("429", RetryOn::TooManyRequests),
    ];

    /// The class as written.
    pub fn word(self) -> &'static str {
        match self {
            RetryOn::Connect => "connect",
            RetryOn::Timeout => "timeout",
            RetryOn::ServerError => "5xx",
            RetryOn::TooManyRequests => "429",
        }
    }
}

/// `SELF_SERVE_TRIGGER`: a form a person (or an agent) fills in.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FormTrigger {
    pub user_inputs: Form,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permissions: Option<Permissions>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub published: Option<bool>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub contexts: Vec<Context>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<Name>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action_card_button_text: Option<Name>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execute_action_button_text: Option<Name>,
}

/// A form schema (`userInputs`), for self-service triggers and INPUT nodes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Form {
    #[serde(with = "inputs")]
    pub properties: Vec<InputField>,
    #[serde(default, skip_serializing_if = "Required::is_empty")]
    pub required: Required,
    /// `required` was written as an empty list (Port JSON `"required": []`, `.wflow`
    /// `required []`); kept so that an export writes it back.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub required_listed: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order: Option<Vec<Name>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<Step>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub titles: Vec<Heading>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub validations: Vec<Validation>,
    /// INPUT nodes only.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub buttons: Vec<Button>,
}

impl Form {
    /// The input with key `key`.
    pub fn input(&self, key: &str) -> Option<&InputField> {
        self.properties.iter().find(|p| p.key.value == key)
    }
}

/// Which inputs must be filled: a list, or a jq expression that yields the list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Required {
    Keys(Vec<Name>),
    Jq(JqQuery),
}

impl Default for Required {
    fn default() -> Required {
        Required::Keys(Vec::new())
    }
}

impl Required {
    fn is_empty(&self) -> bool {
        matches!(self, Required::Keys(k) if k.is_empty())
    }
}

/// One form input: its key and schema.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InputField {
    pub key: Name,
    pub schema: InputSchema,
}

/// The schema of one input (a JSON-Schema-like object with Port's extensions).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct InputSchema {
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub ty: Option<Name>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<Name>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blueprint: Option<Name>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<Name>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<Name>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<Value>,
    #[serde(rename = "enum", default, skip_serializing_if = "Option::is_none")]
    pub enum_values: Option<Value>,
    /// Array inputs: the schema of each item.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub items: Option<Box<InputSchema>>,
    /// Object inputs: nested properties.
    #[serde(default, skip_serializing_if = "Vec::is_empty", with = "inputs")]
    pub properties: Vec<InputField>,
    /// Object inputs: required nested keys.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub required: Vec<Name>,
    /// Every other keyword (`minLength`, `visible`, `dataset`, ...), by Port's name.
    #[serde(default, skip_serializing_if = "Vec::is_empty", with = "pairs")]
    pub keywords: Vec<(Name, Value)>,
    #[serde(skip)]
    pub span: Span,
}

impl InputSchema {
    /// A secret input (`encryption`): Port sends its value encrypted, and a run keeps it
    /// encrypted at rest and redacted everywhere.
    pub fn is_secret(&self) -> bool {
        self.keywords.iter().any(|(k, _)| k.value == "encryption")
    }
}

/// One page of a multi-step form.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    pub title: Name,
    pub order: Vec<Name>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub visible: Option<Value>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub validations: Vec<Validation>,
    #[serde(skip)]
    pub span: Span,
}

/// A static heading between inputs (`titles`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Heading {
    pub key: Name,
    pub title: Name,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<Name>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub visible: Option<Value>,
}

/// A whole-form rule checked on submit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Validation {
    pub constraint: JqQuery,
    pub message: Name,
}

/// A button of an INPUT node's form.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Button {
    pub identifier: Name,
    pub label: Name,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<Name>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icon: Option<Name>,
}

/// Who may run a self-service trigger. Omitted or empty: admins only.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Permissions {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub roles: Option<Vec<Name>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub users: Option<Vec<Name>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub teams: Option<Vec<Name>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<Value>,
}

/// Where a self-service trigger is surfaced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Context {
    pub on: Name,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blueprint_identifier: Option<Name>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_input: Option<Name>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub visible: Option<bool>,
}

/// `EVENT_TRIGGER`: a catalog change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventTrigger {
    pub event_type: Name,
    pub blueprint_identifier: Name,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub property_identifier: Option<Name>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<EventCondition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub published: Option<bool>,
}

/// Event filter: jq expressions over the raw event, combined with and/or.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventCondition {
    pub expressions: Vec<JqQuery>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub combinator: Option<Name>,
}

/// `SCHEDULE_TRIGGER`: a 5-field cron in UTC.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScheduleTrigger {
    pub cron: Name,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub published: Option<bool>,
}

/// `WEBHOOK`: an HTTP request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Webhook {
    pub url: Template,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<Name>,
    #[serde(default, skip_serializing_if = "Vec::is_empty", with = "pairs")]
    pub headers: Vec<(Name, Value)>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub synchronized: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_failure: Option<OnFailure>,
    /// A wflow extension: the JSON Schema of `response.data`, which types what later nodes read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_schema: Option<Value>,
}

/// `KAFKA`: publish a payload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Kafka {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_failure: Option<OnFailure>,
}

/// `UPSERT_ENTITY`: create or update a catalog entity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Upsert {
    pub blueprint_identifier: Template,
    pub mapping: Mapping,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_failure: Option<OnFailure>,
}

/// What an upsert writes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Mapping {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identifier: Option<Template>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<Template>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icon: Option<Template>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team: Option<Value>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "pairs::option"
    )]
    pub properties: Option<Vec<(Name, Value)>>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "pairs::option"
    )]
    pub relations: Option<Vec<(Name, Value)>>,
}

/// `INTEGRATION_ACTION`: an action run by an installed integration (GitHub, GitLab, ...).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Integration {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub installation_id: Option<Name>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub integration_provider: Option<Name>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub integration_invocation_type: Option<Name>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub integration_action_execution_properties: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub defer_integration_installation: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_failure: Option<OnFailure>,
}

impl Integration {
    /// What the standard library knows of this action (its properties, secrets and output),
    /// when wflow runs it.
    pub fn spec(&self) -> Option<&'static wflow_stdlib::Integration> {
        wflow_stdlib::get().integration(
            &self.integration_provider.as_ref()?.value,
            &self.integration_invocation_type.as_ref()?.value,
        )
    }
}

/// `AI`: a prompt to Port AI.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ai {
    pub user_prompt: Template,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_prompt: Option<Template>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tools: Option<Vec<Name>>,
    #[serde(flatten)]
    pub model: AiModel,
}

/// `AI_AGENT`: invoke a Port AI agent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AiAgent {
    pub agent_identifier: Name,
    pub user_prompt: Template,
    #[serde(flatten)]
    pub model: AiModel,
}

/// Settings shared by AI nodes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AiModel {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mcp_servers: Vec<Name>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<Name>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<Name>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_schema: Option<Value>,
}

/// A node config kept as given (deprecated kinds).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Opaque {
    #[serde(with = "pairs")]
    pub fields: Vec<(Name, Value)>,
}

/// `CONDITION`: the first outlet whose expression is true is taken.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Condition {
    pub outlets: Vec<ConditionOutlet>,
}

/// One branch of a condition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConditionOutlet {
    pub identifier: Name,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<Name>,
    pub expression: JqQuery,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_label: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workflow_status_label: Option<Value>,
}

/// `INPUT`: pause for people to respond.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct InputNode {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<Template>,
    pub user_inputs: Form,
    pub outlets: Vec<InputOutlet>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub responders: Option<Responders>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notifications: Vec<Value>,
}

/// One branch of an INPUT node, taken when enough people press its button.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InputOutlet {
    pub identifier: Name,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<Name>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evaluation_method: Option<Name>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub num_of_responders: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_label: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workflow_status_label: Option<Value>,
}

/// Who may respond to an INPUT node.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Responders {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub users: Vec<Name>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<Name>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub teams: Vec<Name>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub users_query: Option<Value>,
    /// Which of `users`, `roles` and `teams` were written as empty lists (Port's API writes
    /// `"roles": []`); kept so that an export writes them back.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub listed_empty: Vec<String>,
}

/// wflow extension: a node that waits for the parallel branches leading to it
/// (`join j "Both" { wait all }`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Join {
    #[serde(default)]
    pub wait: Wait,
    /// Where `wait` was written (the node's keyword when it was not).
    #[serde(skip)]
    pub span: Span,
}

/// How many of a join's incoming connections must arrive before it goes on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Wait {
    #[default]
    All,
    Any,
    Count(u32),
}

impl Wait {
    /// `all`, `any` or the number.
    pub fn text(self) -> String {
        match self {
            Wait::All => "all".into(),
            Wait::Any => "any".into(),
            Wait::Count(n) => n.to_string(),
        }
    }

    /// How many of `incoming` connections must arrive.
    pub fn needed(self, incoming: usize) -> usize {
        match self {
            Wait::All => incoming,
            Wait::Any => 1,
            Wait::Count(n) => n as usize,
        }
    }
}

impl Serialize for Wait {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Wait::Count(n) => s.serialize_u32(*n),
            other => s.serialize_str(&other.text()),
        }
    }
}

impl<'de> Deserialize<'de> for Wait {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Wait, D::Error> {
        match serde_json::Value::deserialize(d)? {
            serde_json::Value::String(s) if s == "all" => Ok(Wait::All),
            serde_json::Value::String(s) if s == "any" => Ok(Wait::Any),
            serde_json::Value::Number(n) => n
                .as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .map(Wait::Count)
                .ok_or_else(|| serde::de::Error::custom("a join waits for a whole number")),
            other => Err(serde::de::Error::custom(format!(
                "a join waits for all, any or a number, not {other}"
            ))),
        }
    }
}

/// An edge. From CONDITION/INPUT nodes it names an outlet, or is the fallback.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Connection {
    pub source: Name,
    pub target: Name,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outlet: Option<Name>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub fallback: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<Name>,
    #[serde(skip)]
    pub span: Span,
}

/// A bare jq expression (a condition, an event filter, a `jqQuery`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct JqQuery {
    pub code: String,
    /// Maps offsets in `code` to the source.
    pub map: OffsetMap,
    pub span: Span,
}

impl JqQuery {
    /// The source span of `range`, a byte range of `code`.
    pub fn source_span(&self, range: std::ops::Range<usize>) -> Span {
        Span::new(self.map.source(range.start), self.map.source(range.end))
    }
}

impl Serialize for JqQuery {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(1))?;
        m.serialize_entry("jqQuery", &self.code)?;
        m.end()
    }
}

impl<'de> Deserialize<'de> for JqQuery {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<JqQuery, D::Error> {
        #[derive(Deserialize)]
        struct Raw {
            #[serde(rename = "jqQuery")]
            jq_query: String,
        }
        let raw = Raw::deserialize(d)?;
        Ok(JqQuery {
            code: raw.jq_query,
            ..JqQuery::default()
        })
    }
}

/// A string that may hold `{{ jq }}` templates.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Template {
    /// The text as written (decoded), templates included.
    pub text: String,
    pub parts: Vec<Part>,
    pub span: Span,
}

/// A piece of a [`Template`].
#[derive(Debug, Clone, PartialEq)]
pub enum Part {
    Text(String),
    Expr(JqQuery),
}

impl Template {
    /// The jq expressions in the template.
    pub fn exprs(&self) -> impl Iterator<Item = &JqQuery> {
        self.parts.iter().filter_map(|p| match p {
            Part::Expr(q) => Some(q),
            Part::Text(_) => None,
        })
    }

    /// Whether the template is exactly one `{{ }}` (its result keeps its JSON type).
    pub fn is_whole_value(&self) -> bool {
        matches!(self.parts.as_slice(), [Part::Expr(_)])
    }

    /// Splits `text` into literal parts and `{{ }}` expressions. `map` maps offsets in `text`
    /// to the source.
    pub fn parse(text: &str, map: &OffsetMap, span: Span) -> Template {
        let mut parts = Vec::new();
        let mut rest_start = 0;
        let mut i = 0;
        let bytes = text.as_bytes();
        while let Some(open) = find(bytes, i, b"{{") {
            let code_start = open + 2;
            // A `{{` whose template does not close is text, as in the grammar's `open_braces`.
            let Some(close) = wflow_grammar::template_end(bytes, open, false).map(|end| end - 2)
            else {
                i = code_start;
                continue;
            };
            if open > rest_start {
                parts.push(Part::Text(text[rest_start..open].to_string()));
            }
            let code = text[code_start..close].to_string();
            let mut sub = OffsetMap::identity(map.source(code_start));
            for off in 0..=code.len() {
                // Record a breakpoint wherever the source jumps (an escape in the literal).
                let want = map.source(code_start + off);
                if sub.source(off) != want {
                    sub.push(off, want);
                }
            }
            let qspan = Span::new(map.source(code_start), map.source(close));
            parts.push(Part::Expr(JqQuery {
                code,
                map: sub,
                span: qspan,
            }));
            rest_start = close + 2;
            i = rest_start;
        }
        if rest_start < text.len() || parts.is_empty() {
            parts.push(Part::Text(text[rest_start..].to_string()));
        }
        Template {
            text: text.to_string(),
            parts,
            span,
        }
    }
}

fn find(hay: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    hay.get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p + from)
}

impl Serialize for Template {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for Template {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Template, D::Error> {
        let text = String::deserialize(d)?;
        Ok(Template::parse(
            &text,
            &OffsetMap::identity(0),
            Span::default(),
        ))
    }
}

/// A JSON value whose strings are templates, with spans. `Jq` is Port's `{"jqQuery": ...}`.
#[derive(Debug, Clone, PartialEq)]
pub struct Value {
    pub kind: ValueKind,
    pub span: Span,
}

/// What a [`Value`] is.
#[derive(Debug, Clone, PartialEq)]
pub enum ValueKind {
    Null,
    Bool(bool),
    Number(serde_json::Number),
    String(Template),
    Array(Vec<Value>),
    Object(Vec<(Name, Value)>),
    Jq(JqQuery),
}

impl Value {
    /// Every template in the value, depth first.
    pub fn templates(&self) -> Vec<&Template> {
        let mut out = Vec::new();
        self.collect_templates(&mut out);
        out
    }

    fn collect_templates<'a>(&'a self, out: &mut Vec<&'a Template>) {
        match &self.kind {
            ValueKind::String(t) => out.push(t),
            ValueKind::Array(items) => items.iter().for_each(|v| v.collect_templates(out)),
            ValueKind::Object(members) => {
                members.iter().for_each(|(_, v)| v.collect_templates(out))
            }
            _ => {}
        }
    }

    /// Converts to plain JSON (templates as their text, jq as `{"jqQuery": ...}`).
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match &self.kind {
            ValueKind::Null => J::Null,
            ValueKind::Bool(b) => J::Bool(*b),
            ValueKind::Number(n) => J::Number(n.clone()),
            ValueKind::String(t) => J::String(t.text.clone()),
            ValueKind::Array(items) => J::Array(items.iter().map(Value::to_json).collect()),
            ValueKind::Object(members) => J::Object(
                members
                    .iter()
                    .map(|(k, v)| (k.value.clone(), v.to_json()))
                    .collect(),
            ),
            ValueKind::Jq(q) => serde_json::json!({ "jqQuery": q.code }),
        }
    }

    /// Converts from plain JSON (no spans).
    pub fn from_json(v: &serde_json::Value) -> Value {
        use serde_json::Value as J;
        let kind = match v {
            J::Null => ValueKind::Null,
            J::Bool(b) => ValueKind::Bool(*b),
            J::Number(n) => ValueKind::Number(n.clone()),
            J::String(s) => {
                ValueKind::String(Template::parse(s, &OffsetMap::identity(0), Span::default()))
            }
            J::Array(items) => ValueKind::Array(items.iter().map(Value::from_json).collect()),
            J::Object(m) => match (m.len(), m.get("jqQuery")) {
                (1, Some(J::String(code))) => ValueKind::Jq(JqQuery {
                    code: code.clone(),
                    ..JqQuery::default()
                }),
                _ => ValueKind::Object(
                    m.iter()
                        .map(|(k, v)| (Name::new(k.clone(), Span::default()), Value::from_json(v)))
                        .collect(),
                ),
            },
        };
        Value {
            kind,
            span: Span::default(),
        }
    }
}

impl Serialize for Value {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match &self.kind {
            ValueKind::Null => s.serialize_unit(),
            ValueKind::Bool(b) => s.serialize_bool(*b),
            ValueKind::Number(n) => n.serialize(s),
            ValueKind::String(t) => s.serialize_str(&t.text),
            ValueKind::Array(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for i in items {
                    seq.serialize_element(i)?;
                }
                seq.end()
            }
            ValueKind::Object(members) => {
                let mut m = s.serialize_map(Some(members.len()))?;
                for (k, v) in members {
                    m.serialize_entry(&k.value, v)?;
                }
                m.end()
            }
            ValueKind::Jq(q) => q.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Value, D::Error> {
        serde_json::Value::deserialize(d).map(|v| Value::from_json(&v))
    }
}

/// Serialises an ordered list of `(name, value)` pairs as a JSON object, keeping the order.
mod pairs {
    use super::*;

    pub fn serialize<S: Serializer, T: Serialize>(
        v: &[(Name, T)],
        s: S,
    ) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(v.len()))?;
        for (k, v) in v {
            m.serialize_entry(&k.value, v)?;
        }
        m.end()
    }

    pub fn deserialize<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
        d: D,
    ) -> Result<Vec<(Name, T)>, D::Error> {
        let map = serde_json::Map::deserialize(d)?;
        map.into_iter()
            .map(|(k, v)| {
                T::deserialize(v)
                    .map(|v| (Name::new(k, Span::default()), v))
                    .map_err(serde::de::Error::custom)
            })
            .collect()
    }

    /// The same for `Option<Vec<...>>`.
    pub mod option {
        use super::*;

        pub fn serialize<S: Serializer, T: Serialize>(
            v: &Option<Vec<(Name, T)>>,
            s: S,
        ) -> Result<S::Ok, S::Error> {
            match v {
                Some(v) => super::serialize(v, s),
                None => s.serialize_none(),
            }
        }

        pub fn deserialize<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
            d: D,
        ) -> Result<Option<Vec<(Name, T)>>, D::Error> {
            super::deserialize(d).map(Some)
        }
    }
}

/// Serialises form inputs as a JSON object from key to schema, as Port does.
mod inputs {
    use super::*;

    pub fn serialize<S: Serializer>(v: &[InputField], s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(v.len()))?;
        for f in v {
            m.serialize_entry(&f.key.value, &f.schema)?;
        }
        m.end()
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<InputField>, D::Error> {
        let pairs: Vec<(Name, InputSchema)> = super::pairs::deserialize(d)?;
        Ok(pairs
            .into_iter()
            .map(|(key, schema)| InputField { key, schema })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ir_round_trips_through_json() {
        let src = include_str!("../../examples/deploy-service.wflow");
        let module = crate::check_source(src, crate::Syntax::Wflow).module;
        let json = serde_json::to_value(&module).expect("serialise");
        let back: Module = serde_json::from_value(json.clone()).expect("deserialise");
        assert_eq!(serde_json::to_value(&back).expect("serialise again"), json);
        let inputs = &json["workflows"][0]["nodes"][0]["config"]["user_inputs"]["properties"];
        assert_eq!(inputs["service"]["format"], "entity");
    }

    #[test]
    fn template_splits_and_maps_spans() {
        // Source: `"a {{ .x[\"k\"] }} b"` at offset 0; decoded text has the quotes unescaped.
        let src = r#""a {{ .x[\"k\"] }} b""#;
        let text = "a {{ .x[\"k\"] }} b";
        let mut map = OffsetMap::identity(1);
        map.push(8, 9); // the first `\"` decodes to `"` at 8 (source 9..11)
        map.push(9, 11);
        map.push(10, 12); // second escape
        map.push(11, 14);
        let t = Template::parse(text, &map, Span::new(0, src.len()));
        assert_eq!(t.parts.len(), 3);
        let q = t.exprs().next().expect("expr");
        assert_eq!(q.code, " .x[\"k\"] ");
        // `k` is offset 5 in the code; in the source it is at 12.
        assert_eq!(&src[q.source_span(5..6).range()], "k");
        assert!(!t.is_whole_value());
    }

    #[test]
    fn template_skips_braces_in_jq_strings() {
        let t = Template::parse(
            r#"{{ "}}" + .a }}"#,
            &OffsetMap::identity(0),
            Span::default(),
        );
        assert!(t.is_whole_value());
        assert_eq!(
            t.exprs().next().map(|q| q.code.as_str()),
            Some(r#" "}}" + .a "#)
        );
    }

    #[test]
    fn template_is_read_as_the_grammar_reads_it() {
        let parse = |text: &str| Template::parse(text, &OffsetMap::identity(0), Span::default());
        // An interpolation's jq string may hold `}}`.
        let t = parse(r#"{{ "\("}}") x" }}"#);
        assert!(t.is_whole_value());
        // A `{{` ends the template before it, which is text; a Port JSON template may span lines.
        let t = parse("{{ .a } {{ .b\n| .c }}");
        assert!(
            matches!(t.parts.as_slice(), [Part::Text(a), Part::Expr(q)] if a == "{{ .a } " && q.code == " .b\n| .c ")
        );
        assert!(parse(r#"{{ "{{" }}"#).exprs().next().is_none());
    }
}
