//! A workflow prepared to run: its IR, every jq expression compiled once, the secrets it
//! reads, and its connections by source.

use std::collections::{BTreeSet, HashMap};

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
        let mut programs = Programs::default();
        let mut problems = Vec::new();
        for q in wflow_compiler::check::jq_sites(&workflow) {
            if let Err(e) = programs.add(&q.code) {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Every place a run evaluates jq is compiled with the plan, found in the IR: templates,
    /// form keywords (a dataset rule's value too), conditions, approvals' forms.
    #[test]
    fn every_expression_of_the_workflow_is_compiled() {
        let src = r#"workflow w "W" {
  form trigger "Go" {
    input service: entity(service) "Service" {
      dataset { combinator: "and", rules: [{ property: "owner", operator: "=", value: `.user.email` }] }
    }
    input region: string "Region" { default `"eu" + ""` }
  }
  webhook call "Call" {
    url "https://example.com/{{.outputs.trigger.region}}"
    body { who: `.outputs.trigger.service` }
  }
  condition route "Route" {
    outlet big "Big" when `.outputs.call != null`
  }
  approval ok "OK" {
    input why?: string "Why" { visible `.form.x != null` }
    button approve "Yes" PRIMARY
    button reject "No" DANGER
  }
  webhook call2 "Call again" { url "https://example.com/again" }
  flow {
    trigger -> call -> route
    route.big -> ok
    ok.approve -> call2
  }
}
"#;
        let checked = wflow_compiler::check_source(src, Syntax::Wflow);
        assert!(!checked.has_errors(), "{:#?}", checked.diagnostics);
        let wf = checked
            .module
            .workflows
            .into_iter()
            .next()
            .expect("workflow");
        let plan = Plan::new(wf, src.into(), Syntax::Wflow, "w.wflow".into()).expect("plan");
        for code in [
            ".user.email",
            "\"eu\" + \"\"",
            ".outputs.trigger.region",
            ".outputs.trigger.service",
            ".outputs.call != null",
            ".form.x != null",
        ] {
            assert!(plan.programs.contains(code), "`{code}` was not compiled");
        }
    }
}
