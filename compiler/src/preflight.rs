//! The preflight: what a checked workflow needs from the environment it is about to run in
//! (blueprints in the store, configured services, secrets), verified before its first node so
//! that a run whose setup is wrong has no side effect. Every problem is a [`Diagnostic`] with
//! the span of what needs it, reported all at once by `wflow exec` (exit 2), `wflow serve`
//! (the workflow refused at load) and the API (422).

use std::collections::BTreeSet;
use std::ops::Range;

use wflow_grammar::Span;

use crate::diag::Diagnostic;
use crate::ir::{Integration, NodeConfig, Workflow};

/// The secret a GitHub dispatch authenticates with.
pub const GITHUB_TOKEN: &str = "GITHUB_TOKEN";

/// The secret whose first 32 bytes are the AES-256-GCM key of secret (`encryption`) form
/// inputs: the client secret of the Port organisation that encrypts them.
pub const PORT_CLIENT_SECRET: &str = "PORT_CLIENT_SECRET";

/// The services integration actions call that have no default URL (an organisation, a site).
pub const NO_DEFAULT: [&str; 2] = ["azure_devops", "jira"];

/// What the run's environment provides.
pub struct Environment<'a> {
    /// The blueprints the store holds; `None` when not known (not checked).
    pub blueprints: Option<&'a BTreeSet<String>>,
    /// The names of the secrets provided.
    pub secrets: &'a BTreeSet<String>,
    /// A Kafka broker and topic are configured.
    pub kafka: bool,
    /// An AI endpoint is configured.
    pub ai: bool,
    /// The services without a default URL that are configured (`azure_devops`, `jira`).
    pub services: &'a BTreeSet<&'static str>,
    /// How this front end says where settings and secrets come from (CLI flags or the
    /// server's configuration), for the help texts.
    pub how: &'a How,
}

/// How a front end tells users to provide what is missing.
pub struct How {
    pub secret: fn(&str) -> String,
    pub kafka: &'static str,
    pub ai: &'static str,
    /// How to configure the service of a `wflow.toml` section.
    pub service: fn(&str) -> String,
    pub blueprint: fn(&str) -> String,
}

/// The secrets `wf` reads, each with where.
pub fn secrets_read(wf: &Workflow) -> Vec<(String, Span)> {
    let mut out = Vec::new();
    for q in crate::check::jq_sites(wf) {
        for (name, range) in secret_reads(&q.code) {
            out.push((name, q.source_span(range)));
        }
    }
    for node in &wf.nodes {
        if let NodeConfig::IntegrationAction(i) = &node.config
            && let Some(spec) = i.spec()
        {
            for name in &spec.secrets {
                out.push((name.clone(), node.identifier.span));
            }
        }
        // Secret inputs, of a form or an approval, are decrypted and kept encrypted with it.
        let form = match &node.config {
            NodeConfig::SelfServeTrigger(t) => Some(&t.user_inputs),
            NodeConfig::Input(i) => Some(&i.user_inputs),
            _ => None,
        };
        for input in form
            .into_iter()
            .flat_map(|f| &f.properties)
            .filter(|i| i.schema.is_secret())
        {
            out.push((PORT_CLIENT_SECRET.to_string(), input.key.span));
        }
    }
    out
}

/// The blueprints `wf` upserts by a literal identifier (system blueprints `_user`, `_team`
/// aside): the ones [`Environment::blueprints`] must say about.
pub fn blueprints_upserted(wf: &Workflow) -> BTreeSet<String> {
    wf.nodes
        .iter()
        .filter_map(|n| match &n.config {
            NodeConfig::UpsertEntity(u) => literal_blueprint(u),
            _ => None,
        })
        .map(str::to_string)
        .collect()
}

fn literal_blueprint(u: &crate::ir::Upsert) -> Option<&str> {
    let bp = &u.blueprint_identifier;
    (bp.exprs().next().is_none() && !bp.text.starts_with('_')).then_some(bp.text.as_str())
}

/// Every problem with running `wf` in `env`, at once.
pub fn check(wf: &Workflow, env: &Environment) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let mut reported = BTreeSet::new();
    for (name, span) in secrets_read(wf) {
        if !env.secrets.contains(&name) && reported.insert(name.clone()) {
            out.push(
                Diagnostic::error(
                    "missing-secret",
                    span,
                    if name == PORT_CLIENT_SECRET {
                        format!(
                            "the secret `{name}` is not provided: its first 32 bytes are the \
                             key of the workflow's encrypted inputs"
                        )
                    } else {
                        format!("the secret `{name}` is not provided")
                    },
                )
                .help((env.how.secret)(&name)),
            );
        }
    }
    for node in &wf.nodes {
        let span = node.identifier.span;
        let id = &node.identifier.value;
        match &node.config {
            NodeConfig::Kafka(_) if !env.kafka => out.push(
                Diagnostic::error(
                    "service-not-configured",
                    span,
                    format!("`{id}` publishes to Kafka, but no Kafka broker is configured"),
                )
                .help(env.how.kafka),
            ),
            NodeConfig::Ai(_) | NodeConfig::AiAgent(_) if !env.ai => out.push(
                Diagnostic::error(
                    "service-not-configured",
                    span,
                    format!("`{id}` asks an AI model, but no AI endpoint is configured"),
                )
                .help(env.how.ai),
            ),
            NodeConfig::IntegrationAction(i) => match i.spec() {
                None => out.push(unsupported(id, i, span)),
                Some(s)
                    if NO_DEFAULT.contains(&s.service.as_str())
                        && !env.services.contains(s.service.as_str()) =>
                {
                    out.push(
                        Diagnostic::error(
                            "service-not-configured",
                            span,
                            format!("`{id}` calls {}, but it is not configured", s.title),
                        )
                        .help((env.how.service)(&s.service)),
                    )
                }
                Some(_) => {}
            },
            NodeConfig::UpsertEntity(u) => {
                if let (Some(known), Some(bp)) = (env.blueprints, literal_blueprint(u))
                    && !known.contains(bp)
                {
                    out.push(
                        Diagnostic::error(
                            "missing-blueprint",
                            u.blueprint_identifier.span,
                            format!("the catalog has no blueprint `{bp}`, so `{id}` cannot upsert"),
                        )
                        .help((env.how.blueprint)(bp)),
                    );
                }
            }
            _ => {}
        }
    }
    out.sort_by_key(|d| (d.primary.span.start, d.primary.span.end));
    out
}

/// An integration action this runtime cannot run (Port may: its integration runs it).
fn unsupported(id: &str, i: &Integration, span: Span) -> Diagnostic {
    let name = |n: Option<&crate::ir::Name>| n.map_or("(none)".to_string(), |n| n.value.clone());
    let runs: Vec<String> = wflow_stdlib::get()
        .integrations
        .iter()
        .map(|s| {
            let provider = s.providers.first().map_or("", String::as_str);
            format!("{provider} {}", s.invocation)
        })
        .collect();
    Diagnostic::error(
        "unsupported-integration",
        span,
        format!(
            "`{id}` is a `{}` `{}` integration action, which wflow cannot run",
            name(i.integration_provider.as_ref()),
            name(i.integration_invocation_type.as_ref()),
        ),
    )
    .help(format!(
        "wflow runs {}; run this workflow in Port, or call the service with a webhook node",
        runs.join(", ")
    ))
}

/// The names of the secrets `code` reads (`.secrets.NAME`, `.secrets."NAME"`,
/// `.secrets["NAME"]`), each with the byte range of the name.
pub fn secret_reads(code: &str) -> Vec<(String, Range<usize>)> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(at) = code.get(from..).and_then(|r| r.find(".secrets")) {
        let after = from + at + ".secrets".len();
        from = after;
        let rest = &code[after..];
        let skip = rest.len() - rest.trim_start().len();
        let rest = rest.trim_start();
        let (quoted, offset) = if let Some(r) = rest.strip_prefix('.') {
            let trimmed = r.trim_start();
            let ws = r.len() - trimmed.len();
            match trimmed.strip_prefix('"') {
                Some(_) => (true, 1 + ws + 1),
                None => (false, 1 + ws),
            }
        } else if let Some(r) = rest.strip_prefix('[') {
            let trimmed = r.trim_start();
            if !trimmed.starts_with('"') {
                continue;
            }
            (true, 1 + (r.len() - trimmed.len()) + 1)
        } else {
            continue;
        };
        let start = after + skip + offset;
        let name: String = if quoted {
            code[start..].chars().take_while(|c| *c != '"').collect()
        } else {
            code[start..]
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect()
        };
        if !name.is_empty() {
            out.push((name.clone(), start..start + name.len()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_reads_in_every_spelling() {
        let code = r#".secrets.TOKEN + .secrets."a-b" + .secrets["c d"] + .secrets . e + .secrets"#;
        let found: Vec<(String, &str)> = secret_reads(code)
            .into_iter()
            .map(|(n, r)| (n, &code[r]))
            .collect();
        assert_eq!(
            found,
            [
                ("TOKEN".to_string(), "TOKEN"),
                ("a-b".to_string(), "a-b"),
                ("c d".to_string(), "c d"),
                ("e".to_string(), "e"),
            ]
        );
    }
}
