//! Diagnostics as plain data: the compiler produces them, the CLI renders them with miette and
//! the LSP converts them to ranges.

use wflow_grammar::Span;

/// How bad a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    Error,
    Warning,
}

impl Severity {
    /// `error` or `warning`.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }
}

/// A span with a short text shown under it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Label {
    pub span: Span,
    pub message: String,
}

/// One problem found in a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    /// A stable kebab-case code from [`CODES`].
    pub code: &'static str,
    pub message: String,
    pub primary: Label,
    pub secondary: Vec<Label>,
    pub help: Option<String>,
    /// A mechanical fix, when there is exactly one: editors offer it as a quick fix.
    pub fix: Option<Fix>,
}

/// Replace `span` with `replacement`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fix {
    pub span: Span,
    pub replacement: String,
}

impl Diagnostic {
    /// An error with `code` at `span`.
    pub fn error(code: &'static str, span: Span, message: impl Into<String>) -> Diagnostic {
        Diagnostic::new(Severity::Error, code, span, message)
    }

    /// A warning with `code` at `span`.
    pub fn warning(code: &'static str, span: Span, message: impl Into<String>) -> Diagnostic {
        Diagnostic::new(Severity::Warning, code, span, message)
    }

    fn new(
        severity: Severity,
        code: &'static str,
        span: Span,
        message: impl Into<String>,
    ) -> Diagnostic {
        debug_assert!(
            CODES.iter().any(|(c, _)| *c == code),
            "unregistered code {code}"
        );
        Diagnostic {
            severity,
            code,
            message: message.into(),
            primary: Label {
                span,
                message: String::new(),
            },
            secondary: Vec::new(),
            help: None,
            fix: None,
        }
    }

    /// Sets the mechanical fix: replace `span` with `replacement`.
    pub fn fix(mut self, span: Span, replacement: impl Into<String>) -> Diagnostic {
        self.fix = Some(Fix {
            span,
            replacement: replacement.into(),
        });
        self
    }

    /// The did-you-mean fix for a name written at `span`, when one candidate is close.
    pub fn closest_fix<'a>(
        self,
        span: Span,
        written: &str,
        candidates: impl IntoIterator<Item = &'a str>,
    ) -> Diagnostic {
        match crate::suggest::closest(written, candidates) {
            Some(c) => self.rename_fix(span, written, c),
            None => self,
        }
    }

    /// A did-you-mean fix for a name written at `span`: keeps the quotes when the source had
    /// them (`"POTS"` becomes `"POST"`, `POTS` becomes `POST`). `written` is the decoded name.
    pub fn rename_fix(self, span: Span, written: &str, candidate: &str) -> Diagnostic {
        if span.len() == written.len() + 2 {
            self.fix(Span::new(span.start + 1, span.end - 1), candidate)
        } else {
            self.fix(span, candidate)
        }
    }

    /// Sets the text under the primary span.
    pub fn label(mut self, message: impl Into<String>) -> Diagnostic {
        self.primary.message = message.into();
        self
    }

    /// Adds a secondary span with its text.
    pub fn with(mut self, span: Span, message: impl Into<String>) -> Diagnostic {
        self.secondary.push(Label {
            span,
            message: message.into(),
        });
        self
    }

    /// Sets how to fix it.
    pub fn help(mut self, help: impl Into<String>) -> Diagnostic {
        self.help = Some(help.into());
        self
    }

    /// Sets how to fix it, if there is a hint.
    pub fn help_opt(mut self, help: Option<String>) -> Diagnostic {
        self.help = help;
        self
    }
}

/// Every diagnostic code with a one-line summary. Each has a case in `tests/corpus`.
pub const CODES: &[(&str, &str)] = &[
    (
        "unreadable-file",
        "a file that cannot be read, or is not UTF-8",
    ),
    ("syntax", "the text cannot be parsed"),
    ("json-syntax", "the file is not valid JSON"),
    (
        "too-deep",
        "brackets, JSON or a jq expression nested deeper than the readers allow",
    ),
    ("too-large", "a file larger than the readers accept"),
    ("unknown-item", "a top-level item other than `workflow`"),
    (
        "unknown-node-kind",
        "a node keyword or `config.type` that does not exist",
    ),
    ("unknown-field", "a field this construct does not have"),
    ("duplicate-field", "a field given twice"),
    ("missing-field", "a required field is missing"),
    ("wrong-type", "a field's value has the wrong type"),
    ("invalid-value", "a value outside the allowed set"),
    ("missing-trigger", "a workflow without a trigger node"),
    (
        "invalid-identifier",
        "an identifier that is empty, too long or has characters Port rejects",
    ),
    (
        "duplicate-identifier",
        "two nodes, outlets, inputs or buttons with one identifier",
    ),
    ("unknown-node", "a connection endpoint that is not a node"),
    (
        "unknown-workflow",
        "a test of a workflow that is not in the project",
    ),
    (
        "mock-not-allowed",
        "a mock or request assertion for a node that calls nothing outside",
    ),
    ("trigger-as-target", "a connection into a trigger"),
    ("self-loop", "a node connected to itself"),
    ("cycle", "connections that form a cycle"),
    (
        "fan-out",
        "in Port JSON, more than one outgoing connection where Port allows one (`.wflow` runs them in parallel)",
    ),
    (
        "join-never-completes",
        "a join waiting for more branches than lead to it, or than can arrive in one run",
    ),
    (
        "merge-without-join",
        "parallel branches meeting at a node that is not a join",
    ),
    (
        "parallel-write",
        "two upserts of one entity on parallel branches",
    ),
    (
        "outlet-required",
        "a connection from a CONDITION or INPUT node without an outlet",
    ),
    (
        "unknown-outlet",
        "a connection naming an outlet its source does not have",
    ),
    (
        "outlet-not-allowed",
        "an outlet or fallback on a connection whose source cannot branch that way",
    ),
    (
        "outlet-button-mismatch",
        "an INPUT outlet without a button of the same identifier, or a button without an outlet",
    ),
    ("unreachable-node", "a node no trigger leads to"),
    ("limit-exceeded", "a count or length over Port's limits"),
    (
        "cron-syntax",
        "a cron expression that is not standard 5-field cron",
    ),
    (
        "cron-too-frequent",
        "a schedule that fires more often than once per 5 minutes",
    ),
    ("cron-never-fires", "a schedule that never fires"),
    (
        "unknown-input-type",
        "an input type or format that does not exist",
    ),
    (
        "entity-without-blueprint",
        "an entity input without a blueprint",
    ),
    (
        "default-type-mismatch",
        "an input default or enum value that does not match its type",
    ),
    (
        "unknown-input-key",
        "`required`, `order`, a step or a context naming an input that does not exist",
    ),
    ("order-with-steps", "`order` together with `steps`"),
    (
        "invalid-pattern",
        "a `pattern` that is not a valid regular expression",
    ),
    (
        "default-not-in-enum",
        "a default that is not one of the input's `enum` values",
    ),
    ("invalid-policy", "a permission policy not in Port's shape"),
    (
        "missing-secret",
        "preflight: a secret the run reads is not provided",
    ),
    (
        "service-not-configured",
        "preflight: a node's service (Kafka, AI, Jira) is not configured",
    ),
    (
        "unsupported-integration",
        "preflight: an integration action wflow cannot run (a provider or invocation it lacks)",
    ),
    (
        "missing-blueprint",
        "preflight: an upserted blueprint is not in the catalog",
    ),
    (
        "provider-without-model",
        "an AI node with `provider` but no `model`, or the reverse",
    ),
    ("jq-syntax", "a jq expression that does not parse"),
    (
        "jq-unknown-function",
        "a call to a jq function that does not exist",
    ),
    (
        "jq-arity",
        "a jq function called with the wrong number of arguments",
    ),
    ("jq-unknown-variable", "a jq `$variable` that is not bound"),
    ("jq-recursion", "a jq function that calls itself"),
    ("go-template", "a Go-template helper where jq is expected"),
    (
        "fragment",
        "a Port JSON file that is a fragment, checked on its own",
    ),
    ("deprecated", "a construct Port has deprecated"),
    (
        "unknown-reference",
        "`.outputs.X` where no node is called X",
    ),
    (
        "reference-downstream",
        "`.outputs.X` read by X itself or by a node before X",
    ),
    (
        "reference-not-upstream",
        "`.outputs.X` read where no path leads from X",
    ),
    (
        "reference-maybe-absent",
        "`.outputs.X` read where X may not have run, without handling its absence",
    ),
    (
        "hyphen-in-reference",
        "`.outputs.a-b`, which jq reads as `.outputs.a - b`",
    ),
    ("no-such-field", "a field a known object does not have"),
    (
        "bad-index",
        "indexing or iterating a value that is not an array or an object",
    ),
    (
        "not-boolean",
        "a condition or event filter that cannot be true or false",
    ),
    (
        "interpolated-object",
        "an object or array written into the text of a template",
    ),
    (
        "secret-exposed",
        "a secret in variables, links, upsert mappings, status labels or AI prompts (an error in an entity identifier)",
    ),
    (
        "secret-input-exposed",
        "a secret (`encryption`) form input in a URL, variables, links, upsert mappings, status labels or AI prompts, or in an approval (kept in clear)",
    ),
    (
        "github-input-not-string",
        "a GitHub workflow input that is not a string",
    ),
    ("unknown-blueprint", "a blueprint the catalog does not have"),
    ("unknown-property", "a property the blueprint does not have"),
    (
        "property-type-mismatch",
        "an upsert value of the wrong type for its property",
    ),
    (
        "missing-required-property",
        "a new entity without a property its blueprint requires",
    ),
    ("unknown-relation", "a relation the blueprint does not have"),
    (
        "invalid-duration",
        "a duration that is not whole numbers with units (`30s`, `1h30m`), is 0 or is over 30 days",
    ),
    (
        "retry-out-of-range",
        "retry `attempts` outside 1 to 100, or a backoff `max` shorter than its first wait",
    ),
    (
        "unknown-retry-class",
        "a retry `on` class other than connect, timeout, 5xx and 429",
    ),
    (
        "concurrency-out-of-range",
        "a workflow's `concurrency` that is not a whole number from 1 to 1000",
    ),
    (
        "retry-not-allowed",
        "`retry`, `timeout` or `on_timeout` on a node that cannot retry or time out",
    ),
    (
        "not-a-timer",
        "a TIMER_EXPIRED trigger on a property that is not a timer",
    ),
];
