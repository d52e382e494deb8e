//! Coverage: which nodes, outlets (condition branches and approval buttons) and error paths
//! of each workflow no case reached.

use std::collections::BTreeSet;

use serde::Serialize;
use wflow_compiler::ir::{ERROR_PATH, NodeConfig, Workflow};
use wflow_engine::engine::Conclusion;

use crate::Outcome;

/// One workflow's coverage.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Coverage {
    pub workflow: String,
    /// Every item that can be reached: `node`, `node.outlet`, `node.error`.
    pub total: usize,
    pub reached: usize,
    /// What no case reached, in the workflow's order.
    pub missed: Vec<String>,
}

impl Coverage {
    /// Reached items per hundred (100 for a workflow with nothing to reach).
    pub fn percent(&self) -> f64 {
        if self.total == 0 {
            100.0
        } else {
            self.reached as f64 * 100.0 / self.total as f64
        }
    }
}

/// What can be reached in `wf`, in its order.
fn items(wf: &Workflow) -> Vec<String> {
    let mut out = Vec::new();
    for n in &wf.nodes {
        let id = &n.identifier.value;
        out.push(id.clone());
        match &n.config {
            NodeConfig::Condition(c) => {
                out.extend(
                    c.outlets
                        .iter()
                        .map(|o| format!("{id}.{}", o.identifier.value)),
                );
                if wf
                    .connections
                    .iter()
                    .any(|c| c.source.value == *id && c.fallback)
                {
                    out.push(format!("{id}.fallback"));
                }
            }
            NodeConfig::Input(i) => {
                out.extend(
                    i.outlets
                        .iter()
                        .map(|o| format!("{id}.{}", o.identifier.value)),
                );
            }
            _ => {}
        }
        if wf.has_error_path(id) {
            out.push(format!("{id}.{ERROR_PATH}"));
        }
    }
    out
}

/// What `o`'s run reached.
fn reached(o: &Outcome) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for n in &o.nodes {
        out.insert(n.node.clone());
        if let Some(outlet) = &n.outlet {
            out.insert(format!("{}.{outlet}", n.node));
        }
        if n.fallback {
            out.insert(format!("{}.fallback", n.node));
        }
        if n.result == Some(Conclusion::Failed) {
            out.insert(format!("{}.{ERROR_PATH}", n.node));
        }
    }
    out
}

/// The coverage of each of `workflows` by `outcomes`.
pub fn of(workflows: &[&Workflow], outcomes: &[Outcome]) -> Vec<Coverage> {
    workflows
        .iter()
        .map(|wf| {
            let id = &wf.identifier.value;
            let seen: BTreeSet<String> = outcomes
                .iter()
                .filter(|o| o.workflow == *id)
                .flat_map(reached)
                .collect();
            let all = items(wf);
            let missed: Vec<String> = all.iter().filter(|i| !seen.contains(*i)).cloned().collect();
            Coverage {
                workflow: id.clone(),
                total: all.len(),
                reached: all.len() - missed.len(),
                missed,
            }
        })
        .collect()
}
