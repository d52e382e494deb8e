//! A workflow's concurrency limit (`concurrency 1`): how many of its runs may go on at once;
//! the runtime queues the others in the order they were accepted.
//!
//! Port has no such field: in Port JSON it is reported as a wflow extension and ignored, so an
//! import never makes one, and an export refuses it.

use wflow_grammar::ast::{Value, ValueKind};

use crate::diag::Diagnostic;
use crate::ir::{self, Concurrency};
use crate::port::{Fields, Lower, Syntax};

impl Lower<'_> {
    /// The workflow's `concurrency`, checked: a whole number from 1 to [`Concurrency::MAX`],
    /// alone or as `{limit, by}` (a key in jq).
    pub(crate) fn concurrency(&mut self, f: &mut Fields) -> Option<Concurrency> {
        let (k, v) = f.take_entry("concurrency")?;
        if self.syntax == Syntax::Json {
            self.json_extension(k, "a concurrency limit");
            return None;
        }
        let (limit, key) = match &v.kind {
            ValueKind::Object(_) => {
                let mut c = self.fields(v, "`concurrency`")?;
                let limit = c.take("limit").and_then(|l| self.limit(l));
                let key = c
                    .take("by")
                    .and_then(|b| self.jq(b, "`concurrency ... by`"));
                self.finish(c, "`concurrency`", &["limit", "by"], &[]);
                (limit?, key)
            }
            _ => (self.limit(v)?, None),
        };
        Some(Concurrency {
            limit,
            key,
            span: k.span.join(v.span),
        })
    }

    /// A limit: a whole number from 1 to [`Concurrency::MAX`].
    fn limit(&mut self, v: &Value) -> Option<u32> {
        let ValueKind::Number(n) = &v.kind else {
            self.wrong_type(v, "a number", "`concurrency`");
            return None;
        };
        match n.parse::<u32>() {
            Ok(limit) if (1..=Concurrency::MAX).contains(&limit) => Some(limit),
            _ => {
                let help = if n.starts_with('-') || n.parse::<f64>().is_ok_and(|x| x < 1.0) {
                    "`concurrency 1` lets one run go on at a time (the others wait their turn); \
                     leave it out for no limit"
                } else {
                    "leave `concurrency` out to let every run start at once"
                };
                self.diags.push(
                    Diagnostic::error(
                        "concurrency-out-of-range",
                        v.span,
                        format!(
                            "`concurrency` must be a whole number from 1 to {}, found {n}",
                            Concurrency::MAX
                        ),
                    )
                    .label("out of range")
                    .help(help),
                );
                None
            }
        }
    }
}

/// The hover of a workflow's `concurrency` at `offset`: what it does, in words.
pub(crate) fn hover(module: &ir::Module, offset: usize) -> Option<crate::analysis::Hover> {
    let c = module
        .workflows
        .iter()
        .filter_map(|wf| wf.concurrency.as_ref())
        .find(|c| c.span.start <= offset && offset <= c.span.end)?;
    let runs = match c.limit {
        1 => "one run".to_string(),
        n => format!("{n} runs"),
    };
    let of = match &c.key {
        Some(k) => format!(
            "of this workflow with the same `{}` (evaluated when a run is accepted)",
            k.code
        ),
        None => "of this workflow".to_string(),
    };
    Some(crate::analysis::Hover {
        span: c.span,
        markdown: format!(
            "`concurrency {}`: at most {runs} {of} at once; a run started beyond that is \
             accepted as `QUEUED` and starts, in the order runs were accepted, when one ends \
             (success, failure, cancel or timeout)",
            c.limit
        ),
    })
}

#[cfg(test)]
mod tests {
    use crate::export::{PortSchema, export};
    use crate::{Severity, Syntax, check_source};

    const SRC: &str = "workflow deploy \"Deploy\" {\n  concurrency 1\n  form trigger \"Go\" { permissions { roles [\"Member\"] } }\n  webhook a \"A\" { url \"https://a.example.com\" }\n  flow { trigger -> a }\n}\n";

    #[test]
    fn lowers_prints_and_hovers_the_limit() {
        let checked = check_source(SRC, Syntax::Wflow);
        assert!(checked.diagnostics.is_empty(), "{:?}", checked.diagnostics);
        let wf = &checked.module.workflows[0];
        assert_eq!(wf.concurrency.as_ref().map(|c| c.limit), Some(1));
        let printed = crate::print::print(&checked.module, &[], SRC);
        assert!(printed.contains("\n  concurrency 1\n"), "{printed}");
        let again = check_source(&printed, Syntax::Wflow);
        assert_eq!(
            again.module.workflows[0]
                .concurrency
                .as_ref()
                .map(|c| c.limit),
            Some(1)
        );
        let at = SRC.find("concurrency").expect("in the source") + 2;
        let hover =
            crate::analysis::hover(&checked.module, &Default::default(), at, chrono::Utc::now())
                .expect("a hover on the keyword");
        assert!(
            hover.markdown.contains("at most one run"),
            "{}",
            hover.markdown
        );
        let top = SRC.find("\n  form").expect("a node") + 1;
        let labels: Vec<String> =
            crate::analysis::completions(&checked.module, &Default::default(), SRC, top)
                .into_iter()
                .map(|c| c.label)
                .collect();
        assert!(labels.contains(&"concurrency".to_string()), "{labels:?}");
    }

    #[test]
    fn a_limit_per_key_is_lowered_checked_printed_and_hovered() {
        let src = SRC.replace(
            "concurrency 1",
            "concurrency 2 by `.outputs.trigger.service`",
        );
        let checked = check_source(&src, Syntax::Wflow);
        assert!(checked.diagnostics.is_empty(), "{:?}", checked.diagnostics);
        let c = checked.module.workflows[0]
            .concurrency
            .clone()
            .expect("a limit");
        assert_eq!(c.limit, 2);
        assert_eq!(
            c.key.map(|k| k.code),
            Some(".outputs.trigger.service".into())
        );
        let printed = crate::print::print(&checked.module, &[], &src);
        assert!(
            printed.contains("\n  concurrency 2 by `.outputs.trigger.service`\n"),
            "{printed}"
        );
        let json = |m: &crate::ir::Module| serde_json::to_value(m).expect("json");
        let again = check_source(&printed, Syntax::Wflow);
        assert_eq!(json(&again.module), json(&checked.module));
        let at = src.find("by `").expect("in the source");
        let hover =
            crate::analysis::hover(&checked.module, &Default::default(), at, chrono::Utc::now())
                .expect("hover");
        assert!(
            hover
                .markdown
                .contains("with the same `.outputs.trigger.service`"),
            "{}",
            hover.markdown
        );

        // The key is jq, checked as any; anything but `by` after the limit is refused.
        let bad = SRC.replace(
            "concurrency 1",
            "concurrency 1 by `.outputs.trigger.service | nosuch`",
        );
        let codes: Vec<&str> = check_source(&bad, Syntax::Wflow)
            .diagnostics
            .iter()
            .map(|d| d.code)
            .collect();
        assert!(codes.contains(&"jq-unknown-function"), "{codes:?}");
        let bad = SRC.replace("concurrency 1", "concurrency 1 per `.x`");
        let d = check_source(&bad, Syntax::Wflow).diagnostics;
        assert!(
            d.iter()
                .any(|d| d.code == "wrong-type" && &bad[d.primary.span.range()] == "per"),
            "{d:?}"
        );
    }

    #[test]
    fn refuses_zero_and_absurd_limits_at_the_value() {
        for (bad, help) in [
            ("0", "concurrency 1"),
            ("100000", "leave `concurrency` out"),
        ] {
            let src = SRC.replace("concurrency 1", &format!("concurrency {bad}"));
            let checked = check_source(&src, Syntax::Wflow);
            let d = checked
                .diagnostics
                .iter()
                .find(|d| d.code == "concurrency-out-of-range")
                .unwrap_or_else(|| panic!("{bad}: {:?}", checked.diagnostics));
            assert_eq!(&src[d.primary.span.start..d.primary.span.end], bad);
            assert!(d.help.as_deref().is_some_and(|h| h.contains(help)), "{d:?}");
            assert!(checked.module.workflows[0].concurrency.is_none());
        }
        let src = SRC.replace("concurrency 1", "concurrency \"one\"");
        let checked = check_source(&src, Syntax::Wflow);
        assert!(checked.diagnostics.iter().any(|d| d.code == "wrong-type"));
    }

    #[test]
    fn export_refuses_it_by_name_and_port_json_cannot_carry_it() {
        let checked = check_source(SRC, Syntax::Wflow);
        let errors = export(&checked.module.workflows[0], PortSchema::Newest).expect_err("refused");
        assert!(
            errors
                .iter()
                .any(|d| d.message.starts_with("`concurrency` of workflow `deploy`")),
            "{errors:?}"
        );
        let json = r#"{"identifier": "w", "concurrency": 1, "nodes": [
  {"identifier": "trigger", "config": {"type": "SELF_SERVE_TRIGGER", "userInputs": {"properties": {}}}}],
  "connections": []}"#;
        let checked = check_source(json, Syntax::Json);
        let warned = checked.diagnostics.iter().any(|d| {
            d.severity == Severity::Warning
                && d.message.contains("`concurrency` is a wflow extension")
                && d.help
                    .as_deref()
                    .is_some_and(|h| h.contains("a concurrency limit"))
        });
        assert!(warned, "{:?}", checked.diagnostics);
        assert!(checked.module.workflows[0].concurrency.is_none());
    }
}
