//! Lowering of wflow's retries and timeouts (`retry`, `timeout`, `on_timeout` on nodes;
//! `timeout` and `defaults { retry }` on workflows), with their checks.
//!
//! Port has none of this but a webhook's `onTimeout`: in Port JSON the others are reported as
//! fields Port cannot hold and ignored, so an import never makes them.

use wflow_grammar::ast::{Key, Value, ValueKind};

use crate::diag::Diagnostic;
use crate::ir::{self, Backoff, Name, OnTimeout, Retry, RetryOn};
use crate::port::{Fields, Lower, Syntax};
use crate::suggest::did_you_mean;

/// A node's retry and timeout settings.
#[derive(Default)]
pub(crate) struct Policy {
    pub retry: Option<Retry>,
    pub timeout: Option<ir::Duration>,
    pub on_timeout: Option<OnTimeout>,
}

/// What the retry and timeout fields give, for [`Lower::json_extension`].
const RETRIES: &str = "retries and timeouts";

impl Lower<'_> {
    /// Reports a wflow extension found in Port JSON, which is then ignored; `feature` names
    /// what `.wflow` would give.
    pub(crate) fn json_extension(&mut self, k: &Key, feature: &str) {
        self.diags.push(
            Diagnostic::warning(
                "unknown-field",
                k.span,
                format!(
                    "`{}` is a wflow extension that Port JSON cannot hold; it is ignored",
                    k.name
                ),
            )
            .help(format!("write the workflow in `.wflow` to use {feature}")),
        );
    }

    /// A duration: `500ms`, `30s`, `5m`, `24h`, `1h30m`.
    pub(crate) fn duration(&mut self, v: &Value, what: &str) -> Option<ir::Duration> {
        let (text, span) = match &v.kind {
            ValueKind::Str(s) => (s.value.as_str(), s.span),
            ValueKind::Ident(i) => (i.name.as_str(), i.span),
            _ => ("", v.span),
        };
        let parsed = ir::Duration::parse(text, span);
        if parsed.is_none() {
            let found = match text {
                "" => v.describe().to_string(),
                t => format!("`{t}`"),
            };
            self.diags.push(
                Diagnostic::error(
                    "invalid-duration",
                    v.span,
                    format!("{what} must be a duration, found {found}"),
                )
                .label("not a duration")
                .help(match &v.kind {
                    ValueKind::Number(n) => format!("add a unit: `{n}s`, `{n}m` or `{n}ms`"),
                    _ => "write whole numbers with units ms, s, m, h, d: `500ms`, `30s`, `1h30m` (more than 0, at most 30d)".into(),
                }),
            );
        }
        parsed
    }

    /// A whole number of attempts, 1 to [`Retry::MAX_ATTEMPTS`].
    fn attempts(&mut self, v: &Value) -> Option<u32> {
        let ValueKind::Number(n) = &v.kind else {
            self.wrong_type(v, "a number", "`attempts`");
            return None;
        };
        match n.parse::<u32>() {
            Ok(a) if (1..=Retry::MAX_ATTEMPTS).contains(&a) => Some(a),
            _ => {
                self.diags.push(
                    Diagnostic::error(
                        "retry-out-of-range",
                        v.span,
                        format!(
                            "`attempts` must be a whole number from 1 to {}, found {n}",
                            Retry::MAX_ATTEMPTS
                        ),
                    )
                    .label("out of range")
                    .help("attempts count the first one: `attempts 3` retries twice"),
                );
                None
            }
        }
    }

    /// `retry 3` or `retry { attempts ...; backoff ...; on [...] }`.
    pub(crate) fn retry(&mut self, v: &Value) -> Option<Retry> {
        let mut retry = Retry {
            attempts: Retry::DEFAULT_ATTEMPTS,
            backoff: Backoff::Exponential,
            delay: ir::Duration {
                ms: Retry::DEFAULT_DELAY_MS,
                span: v.span,
            },
            max: None,
            jitter: false,
            on: RetryOn::ALL.iter().map(|(_, c)| *c).collect(),
            span: v.span,
        };
        if let ValueKind::Number(_) = &v.kind {
            retry.attempts = self.attempts(v)?;
            return Some(retry);
        }
        let mark = self.diags.len();
        let mut f = self.fields(v, "`retry`")?;
        if let Some(a) = f.take("attempts").and_then(|a| self.attempts(a)) {
            retry.attempts = a;
        }
        if let Some(b) = f.take("backoff") {
            self.backoff(b, &mut retry);
        }
        if let Some(on) = f.take("on").and_then(|on| self.retry_on(on)) {
            retry.on = on;
        }
        self.finish(f, "`retry`", &["attempts", "backoff", "on"], &[]);
        if let Some(max) = retry.max
            && max.ms < retry.delay.ms
        {
            self.diags.push(
                Diagnostic::error(
                    "retry-out-of-range",
                    max.span,
                    format!(
                        "the longest wait ({}) is shorter than the first ({})",
                        max.text(),
                        retry.delay.text()
                    ),
                )
                .with(retry.delay.span, "the first wait")
                .help("make `max` at least the first wait"),
            );
            return None;
        }
        (self.diags.len() == mark).then_some(retry)
    }

    /// `backoff exponential 1s max 30s jitter`, desugared to `{type, delay, max, jitter}`.
    fn backoff(&mut self, v: &Value, retry: &mut Retry) {
        let Some(mut f) = self.fields(v, "`backoff`") else {
            return;
        };
        match self
            .one_of(f.take("type"), &["fixed", "exponential"], "the backoff")
            .as_ref()
            .map(|n| n.value.as_str())
        {
            Some("fixed") => retry.backoff = Backoff::Fixed,
            Some(_) => retry.backoff = Backoff::Exponential,
            None => {}
        }
        if let Some(d) = f
            .take("delay")
            .and_then(|d| self.duration(d, "the first wait"))
        {
            retry.delay = d;
        }
        retry.max = f.take("max").and_then(|m| self.duration(m, "`max`"));
        retry.jitter = self.bool(f.take("jitter"), "`jitter`").unwrap_or(false);
        self.finish(f, "`backoff`", &["type", "delay", "max", "jitter"], &[]);
    }

    /// The failure classes of `on [...]`.
    fn retry_on(&mut self, v: &Value) -> Option<Vec<RetryOn>> {
        let ValueKind::Array(items) = &v.kind else {
            self.wrong_type(v, "a list", "`on`");
            return None;
        };
        let words = RetryOn::ALL.map(|(w, _)| w);
        let mut out = Vec::new();
        for item in items {
            let word = match &item.kind {
                ValueKind::Str(s) => s.value.clone(),
                ValueKind::Ident(i) => i.name.clone(),
                ValueKind::Number(n) => n.clone(),
                _ => String::new(),
            };
            match RetryOn::ALL.iter().find(|(w, _)| *w == word) {
                Some((_, class)) if !out.contains(class) => out.push(*class),
                Some(_) => {}
                None => {
                    let status = word.len() == 3 && word.bytes().all(|b| b.is_ascii_digit());
                    let help = match did_you_mean(&word, words) {
                        Some(h) => h,
                        None if status && word.starts_with('5') => {
                            format!("`5xx` covers {word} and every other 5xx answer")
                        }
                        None => format!("failures that can be retried: {}", words.join(", ")),
                    };
                    self.diags.push(
                        Diagnostic::error(
                            "unknown-retry-class",
                            item.span,
                            format!("`{word}` is not a kind of failure that can be retried"),
                        )
                        .label("unknown")
                        .help(help)
                        .closest_fix(item.span, &word, words),
                    );
                }
            }
        }
        Some(out)
    }

    /// A node's `retry`, `timeout` and `onTimeout`, checked against its kind.
    pub(crate) fn policy(
        &mut self,
        f: &mut Fields,
        kind: &wflow_stdlib::Kind,
        config: Option<&ir::NodeConfig>,
        what: &str,
    ) -> Policy {
        let retry = f.take_entry("retry");
        let timeout = f.take_entry("timeout");
        let on_timeout = f.take_entry("onTimeout");
        let webhook = kind.type_name == "WEBHOOK";
        if self.syntax == Syntax::Json {
            let port_has = |k: &Key| webhook && k.name == "onTimeout";
            for (k, _) in [retry, timeout, on_timeout].into_iter().flatten() {
                if !port_has(k) {
                    self.json_extension(k, RETRIES);
                }
            }
            let on_timeout = on_timeout.filter(|_| webhook);
            return Policy {
                on_timeout: on_timeout.and_then(|(_, v)| self.on_timeout(v, None, what)),
                ..Policy::default()
            };
        }
        let action = kind.category == "action";
        let input = match config {
            Some(ir::NodeConfig::Input(i)) => Some(i),
            _ => None,
        };
        let mut policy = Policy::default();
        if let Some((k, v)) = retry {
            if action {
                policy.retry = self.retry(v);
            } else {
                self.not_allowed(k, what, "only action nodes retry");
            }
        }
        if let Some((k, v)) = timeout {
            if action || kind.type_name == "INPUT" {
                policy.timeout = self.duration(v, "`timeout`");
            } else {
                self.not_allowed(k, what, "actions and approvals time out");
            }
        }
        if let Some((k, v)) = on_timeout {
            if action || kind.type_name == "INPUT" {
                policy.on_timeout = self.on_timeout(v, input.map(|i| &i.outlets[..]), what);
                if kind.type_name == "INPUT" && timeout.is_none() {
                    self.diags.push(
                        Diagnostic::error(
                            "missing-field",
                            k.span,
                            "an approval's `on_timeout` needs a `timeout`",
                        )
                        .help("say how long the approval waits: `timeout 24h`"),
                    );
                }
            } else {
                self.not_allowed(k, what, "actions and approvals time out");
            }
        }
        policy
    }

    /// `fail` or `continue` (actions); `fail` or one of `outlets` (approvals).
    fn on_timeout(
        &mut self,
        v: &Value,
        outlets: Option<&[ir::InputOutlet]>,
        what: &str,
    ) -> Option<OnTimeout> {
        let field = format!("`{}`", self.spell("onTimeout"));
        let Some(outlets) = outlets else {
            return match self
                .one_of(Some(v), &["fail", "continue"], &field)?
                .value
                .as_str()
            {
                "continue" => Some(OnTimeout::Continue),
                _ => Some(OnTimeout::Fail),
            };
        };
        let n = self.name(v, &field)?;
        if let Some(o) = outlets.iter().find(|o| o.identifier.value == n.value) {
            return Some(OnTimeout::Outlet(Name::new(
                o.identifier.value.clone(),
                n.span,
            )));
        }
        if n.value == "fail" {
            return Some(OnTimeout::Fail);
        }
        let ids: Vec<&str> = outlets
            .iter()
            .map(|o| o.identifier.value.as_str())
            .collect();
        let help = did_you_mean(&n.value, ids.iter().copied()).unwrap_or_else(|| {
            format!(
                "an approval that times out fails (`fail`) or takes one of its outlets: {}",
                ids.join(", ")
            )
        });
        self.diags.push(
            Diagnostic::error(
                "unknown-outlet",
                n.span,
                format!(
                    "{what} has no outlet `{}` to take when it times out",
                    n.value
                ),
            )
            .label("not an outlet of this node")
            .help(help),
        );
        None
    }

    fn not_allowed(&mut self, k: &Key, what: &str, why: &str) {
        let name = self.display(k);
        self.diags.push(
            Diagnostic::error(
                "retry-not-allowed",
                k.span,
                format!("{what} cannot have `{name}`"),
            )
            .label("not on this kind of node")
            .help(format!("{why}; remove it")),
        );
    }

    /// A workflow's `timeout` and `defaults { retry }`.
    pub(crate) fn workflow_policy(&mut self, f: &mut Fields, wf: &mut ir::Workflow) {
        let timeout = f.take_entry("timeout");
        let defaults = f.take_entry("defaults");
        if self.syntax == Syntax::Json {
            for (k, _) in [timeout, defaults].into_iter().flatten() {
                self.json_extension(k, RETRIES);
            }
            return;
        }
        wf.timeout = timeout.and_then(|(_, v)| self.duration(v, "the run's `timeout`"));
        if let Some((_, v)) = defaults
            && let Some(mut df) = self.fields(v, "`defaults`")
        {
            wf.retry = df.take("retry").and_then(|r| self.retry(r));
            self.finish(df, "`defaults`", &["retry"], &[]);
        }
    }
}

/// The hover of a retry policy or a timeout at `offset`: what it does, in words.
pub(crate) fn hover(module: &ir::Module, offset: usize) -> Option<crate::analysis::Hover> {
    let at =
        |span: wflow_grammar::Span| span.start <= offset && offset <= span.end && !span.is_empty();
    for wf in &module.workflows {
        if let Some(t) = wf.timeout.filter(|t| at(t.span)) {
            let markdown = format!(
                "`timeout {}`: the run fails if it has not finished {} after it started",
                t.text(),
                t.text()
            );
            return Some(crate::analysis::Hover {
                span: t.span,
                markdown,
            });
        }
        let policies = wf
            .retry
            .iter()
            .chain(wf.nodes.iter().filter_map(|n| n.retry.as_ref()));
        if let Some(r) = policies.into_iter().find(|r| at(r.span)) {
            return Some(crate::analysis::Hover {
                span: r.span,
                markdown: retry_words(r),
            });
        }
        for n in &wf.nodes {
            if let Some(t) = n.timeout.filter(|t| at(t.span)) {
                let then = match &n.on_timeout {
                    Some(OnTimeout::Continue) => {
                        "then the node succeeds with `{\"timeout\": true}`".to_string()
                    }
                    Some(OnTimeout::Outlet(o)) => format!("then it takes outlet `{}`", o.value),
                    _ => "then the node fails".to_string(),
                };
                let what = match n.config {
                    ir::NodeConfig::Input(_) => "the approval waits for responses",
                    _ => "each attempt may take",
                };
                let markdown = format!("`timeout {}`: {what} {}; {then}", t.text(), t.text());
                return Some(crate::analysis::Hover {
                    span: t.span,
                    markdown,
                });
            }
        }
    }
    None
}

/// A retry policy in words, with its first waits.
fn retry_words(r: &Retry) -> String {
    let waits: Vec<String> = (1..r.attempts.min(6))
        .map(|a| {
            ir::Duration {
                ms: r.delay_ms(a),
                span: r.span,
            }
            .text()
        })
        .collect();
    let on: Vec<&str> = r.on.iter().map(|c| c.word()).collect();
    format!(
        "**retry**: {} attempts in all, on {}\n\nwaits: {}{}{}; a `Retry-After` answer sets the wait, up to {}. Every attempt keeps the node run's Idempotency-Key.",
        r.attempts,
        on.join(", "),
        if waits.is_empty() {
            "none".to_string()
        } else {
            waits.join(", ")
        },
        if r.attempts > 6 { ", ..." } else { "" },
        if r.jitter {
            " (each drawn between half and all of it)"
        } else {
            ""
        },
        ir::Duration {
            ms: r.cap_ms(),
            span: r.span
        }
        .text(),
    )
}

#[cfg(test)]
mod tests {
    use crate::export::{PortSchema, export};
    use crate::ir::{Backoff, OnTimeout, RetryOn};
    use crate::{Severity, Syntax, check_source};

    const SRC: &str = r#"workflow w "W" {
  timeout 1h30m
  defaults { retry 4 }
  form trigger "Go" { permissions { roles ["Member"] } }
  webhook a "A" {
    url "https://a.example.com"
    timeout 500ms
    on_timeout continue
    retry { attempts 5; backoff fixed 2s max 1m jitter; on [connect, 429] }
  }
  kafka k "K" { payload { x: 1 } }
  approval ok "OK" { button yes "Yes" PRIMARY; button no "No"; timeout 24h; on_timeout no }
  flow { trigger -> a -> k -> ok }
}
"#;

    #[test]
    fn lowers_retries_timeouts_and_the_workflow_defaults() {
        let checked = check_source(SRC, Syntax::Wflow);
        assert!(checked.diagnostics.is_empty(), "{:?}", checked.diagnostics);
        let wf = &checked.module.workflows[0];
        assert_eq!(wf.timeout.map(|t| t.ms), Some(5_400_000));
        let a = wf.node("a").expect("a");
        let r = a.retry.as_ref().expect("retry");
        assert_eq!(
            (r.attempts, r.backoff, r.delay.ms),
            (5, Backoff::Fixed, 2_000)
        );
        assert_eq!((r.max.map(|m| m.ms), r.jitter), (Some(60_000), true));
        assert_eq!(r.on, [RetryOn::Connect, RetryOn::TooManyRequests]);
        assert_eq!(a.timeout.map(|t| t.ms), Some(500));
        assert_eq!(a.on_timeout, Some(OnTimeout::Continue));
        // The workflow's default applies to action nodes without their own policy only.
        let k = wf.node("k").expect("k");
        assert_eq!(wf.retry_of(k).map(|r| r.attempts), Some(4));
        let ok = wf.node("ok").expect("ok");
        assert!(wf.retry_of(ok).is_none());
        assert!(matches!(&ok.on_timeout, Some(OnTimeout::Outlet(o)) if o.value == "no"));
    }

    #[test]
    fn fmt_keeps_them_and_reads_back_the_same() {
        let checked = check_source(SRC, Syntax::Wflow);
        let printed = crate::print::print(&checked.module, &[], SRC);
        let again = check_source(&printed, Syntax::Wflow);
        assert!(
            again.diagnostics.is_empty(),
            "{printed}\n{:?}",
            again.diagnostics
        );
        let json = |m: &crate::ir::Module| serde_json::to_value(m).expect("json");
        assert_eq!(json(&again.module), json(&checked.module), "{printed}");
        assert!(printed.contains("timeout 1h30m"), "{printed}");
        assert!(printed.contains("defaults { retry 4 }"), "{printed}");
    }

    #[test]
    fn export_refuses_each_by_name_but_a_webhooks_on_timeout() {
        let checked = check_source(SRC, Syntax::Wflow);
        let errors = export(&checked.module.workflows[0], PortSchema::Newest).expect_err("refused");
        let messages: Vec<&str> = errors.iter().map(|d| d.message.as_str()).collect();
        for what in [
            "the run's `timeout` of workflow `w`",
            "`defaults { retry }` of workflow `w`",
            "`retry` of node `a`",
            "`timeout` of node `a`",
            "`timeout` of node `ok`",
            "`on_timeout` of node `ok`",
        ] {
            assert!(
                messages.iter().any(|m| m.starts_with(what)),
                "{what}: {messages:?}"
            );
        }
        assert!(
            !messages
                .iter()
                .any(|m| m.starts_with("`on_timeout` of node `a`"))
        );
        let hover = |needle: &str| {
            let at = SRC.find(needle).expect("in the source") + 1;
            crate::analysis::hover(&checked.module, &Default::default(), at, chrono::Utc::now())
                .map(|h| h.markdown)
        };
        let retry = hover("{ attempts 5").expect("hover on retry");
        assert!(
            retry.contains("5 attempts in all, on connect, 429"),
            "{retry}"
        );
        assert!(retry.contains("waits: 2s, 2s, 2s, 2s"), "{retry}");
        let timeout = hover("24h").expect("hover on timeout");
        assert!(timeout.contains("then it takes outlet `no`"), "{timeout}");
        assert!(errors.iter().all(|d| !d.primary.span.is_empty()));
        let plain = "workflow w \"W\" {\n  form trigger \"Go\" {}\n  webhook a \"A\" { url \"https://a.example.com\"; on_timeout continue }\n  flow { trigger -> a }\n}\n";
        let checked = check_source(plain, Syntax::Wflow);
        let out = export(&checked.module.workflows[0], PortSchema::Newest).expect("exported");
        assert_eq!(out["nodes"][1]["config"]["onTimeout"], "continue");
    }

    #[test]
    fn port_json_cannot_carry_them() {
        let src = r#"{"identifier": "w", "timeout": "1h", "nodes": [
  {"identifier": "trigger", "config": {"type": "SELF_SERVE_TRIGGER", "userInputs": {"properties": {}}}},
  {"identifier": "a", "config": {"type": "WEBHOOK", "url": "https://a", "onTimeout": "continue", "retry": 3}},
  {"identifier": "k", "config": {"type": "KAFKA", "payload": {}, "onTimeout": "continue"}}],
  "connections": [{"sourceIdentifier": "trigger", "targetIdentifier": "a"}, {"sourceIdentifier": "a", "targetIdentifier": "k"}]}"#;
        let checked = check_source(src, Syntax::Json);
        let extensions: Vec<&str> = checked
            .diagnostics
            .iter()
            .filter(|d| d.severity == Severity::Warning && d.message.contains("wflow extension"))
            .map(|d| d.message.as_str())
            .collect();
        assert_eq!(extensions.len(), 3, "{:?}", checked.diagnostics);
        let wf = &checked.module.workflows[0];
        assert!(wf.timeout.is_none());
        let a = wf.node("a").expect("a");
        assert!(a.retry.is_none());
        assert_eq!(a.on_timeout, Some(OnTimeout::Continue));
        assert!(wf.node("k").expect("k").on_timeout.is_none());
    }
}
