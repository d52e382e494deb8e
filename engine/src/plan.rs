//! A workflow prepared to run: its IR, every jq expression compiled once, the secrets it
//! reads, and its connections by source.

use std::collections::{BTreeSet, HashMap};

use serde_json::Value as Json;
use wflow_compiler::ir::{Connection, Node, NodeConfig, Workflow};
use wflow_compiler::{Syntax, preflight};

use crate::jq::Programs;

/// A workflow ready to run.
pub struct Plan {
    pub workflow: Workflow,
    pub programs: Programs,
    /// The source file's text, syntax and path (stored with each run, so that a run can be
    /// resumed without the file).
    pub source: String,
    pub syntax: Syntax,
    pub path: String,
    /// Secret names the workflow reads (its expressions, and `GITHUB_TOKEN` when it dispatches
    /// GitHub workflows), as the preflight finds them.
    pub secrets: BTreeSet<String>,
    /// Secrets used when provided: [`crate::ai::KEY_SECRET`] when it has AI nodes.
    pub optional_secrets: BTreeSet<String>,
    outgoing: HashMap<String, Vec<usize>>,
}

impl Plan {
    /// Compiles the workflow's expressions. Fails with every expression that cannot run.
    pub fn new(
        workflow: Workflow,
        source: String,
        syntax: Syntax,
        path: String,
    ) -> Result<Plan, Vec<String>> {
        let mut codes = Vec::new();
        match serde_json::to_value(&workflow) {
            Ok(json) => collect(&json, &mut codes),
            Err(e) => return Err(vec![format!("cannot read the workflow: {e}")]),
        }
        let mut programs = Programs::default();
        let mut problems = Vec::new();
        for code in &codes {
            if let Err(e) = programs.add(code) {
                problems.push(e);
            }
        }
        problems.dedup();
        if !problems.is_empty() {
            return Err(problems);
        }
        let names: BTreeSet<String> = preflight::secrets_read(&workflow)
            .into_iter()
            .map(|(name, _)| name)
            .collect();
        let mut optional = BTreeSet::new();
        if workflow
            .nodes
            .iter()
            .any(|n| matches!(n.config, NodeConfig::Ai(_) | NodeConfig::AiAgent(_)))
        {
            optional.insert(crate::ai::KEY_SECRET.to_string());
        }
        let mut outgoing: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, c) in workflow.connections.iter().enumerate() {
            outgoing.entry(c.source.value.clone()).or_default().push(i);
        }
        Ok(Plan {
            workflow,
            programs,
            source,
            syntax,
            path,
            secrets: names,
            optional_secrets: optional,
            outgoing,
        })
    }

    /// The connections out of `node`, in declaration order.
    pub fn outgoing(&self, node: &str) -> impl Iterator<Item = &Connection> {
        self.outgoing
            .get(node)
            .into_iter()
            .flatten()
            .filter_map(|i| self.workflow.connections.get(*i))
    }

    /// The node `id`.
    pub fn node(&self, id: &str) -> Option<&Node> {
        self.workflow.node(id)
    }

    /// The trigger nodes.
    pub fn triggers(&self) -> impl Iterator<Item = &Node> {
        self.workflow.nodes.iter().filter(|n| n.config.is_trigger())
    }
}

/// Every jq expression in the serialised workflow: `{"jqQuery": ...}` objects and `{{ }}` in
/// strings.
fn collect(v: &Json, out: &mut Vec<String>) {
    match v {
        Json::String(s) if s.contains("{{") => {
            let t = wflow_compiler::ir::Template::parse(
                s,
                &wflow_grammar::OffsetMap::identity(0),
                wflow_grammar::Span::default(),
            );
            out.extend(t.exprs().map(|q| q.code.clone()));
        }
        Json::Array(items) => items.iter().for_each(|i| collect(i, out)),
        Json::Object(m) => match (m.len(), m.get("jqQuery")) {
            (1, Some(Json::String(code))) => out.push(code.clone()),
            _ => m.values().for_each(|i| collect(i, out)),
        },
        _ => {}
    }
}
