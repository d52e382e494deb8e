//! Drawings of workflows: the compiler's IR (and, optionally, what a run did) as SVG, Mermaid or
//! DOT, laid out left to right with the triggers first.
//!
//! Pure: no IO, no clock, no async. [`render`] is the one entry point; the CLI (`wflow graph`),
//! the language server (`wflow.graph`) and the web UI all draw through it. In the SVG every node
//! is a `<g class="node status-…" id="WORKFLOW.NODE" data-workflow data-node data-kind>` and
//! every edge a `<g class="edge" data-source data-target>`, so a page can overlay live status by
//! swapping classes: the colours live in the SVG's stylesheet, keyed by those classes.

mod dot;
pub mod layout;
mod mermaid;
mod model;
mod svg;

use std::collections::HashMap;

use wflow_compiler::ir::Workflow;

/// An output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Self-contained SVG (no external fonts or hosts).
    Svg,
    /// A Mermaid `flowchart LR`.
    Mermaid,
    /// A Graphviz `digraph` with `rankdir=LR`.
    Dot,
}

/// A node's status in a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    Succeeded,
    Failed,
    Running,
    Waiting,
    /// The run ended without reaching the node.
    Skipped,
}

impl Status {
    /// Every status, in the legend's order.
    pub const ALL: [Status; 5] = [
        Status::Succeeded,
        Status::Failed,
        Status::Running,
        Status::Waiting,
        Status::Skipped,
    ];

    /// The status's name, as in CSS classes (`status-succeeded`) and the legend.
    pub fn name(self) -> &'static str {
        match self {
            Status::Succeeded => "succeeded",
            Status::Failed => "failed",
            Status::Running => "running",
            Status::Waiting => "waiting",
            Status::Skipped => "skipped",
        }
    }
}

/// What one node did in a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeRun {
    pub status: Status,
    /// CONDITION and INPUT nodes: the outlet taken.
    pub outlet: Option<String>,
    /// CONDITION nodes: the fallback was taken.
    pub fallback: bool,
}

/// What a run did, by node identifier.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Run {
    pub nodes: HashMap<String, NodeRun>,
    /// Whether the run has ended: nodes it did not reach are then [`Status::Skipped`].
    pub finished: bool,
}

impl Run {
    /// The status of node `id`; `None` for a node an unfinished run has not reached yet.
    pub fn status(&self, id: &str) -> Option<Status> {
        match self.nodes.get(id) {
            Some(n) => Some(n.status),
            None => self.finished.then_some(Status::Skipped),
        }
    }
}

/// Draws `workflows` (one below the other) in `format`. With `run`, each node is coloured by
/// its status in the run and the connections the run took are highlighted (SVG: with a legend).
pub fn render(workflows: &[Workflow], run: Option<&Run>, format: Format) -> String {
    let charts: Vec<model::Chart> = workflows
        .iter()
        .map(|wf| model::Chart::new(wf, run))
        .collect();
    match format {
        Format::Svg => svg::render(&charts, run.is_some()),
        Format::Mermaid => mermaid::render(&charts, run.is_some()),
        Format::Dot => dot::render(&charts, run.is_some()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodes_a_finished_run_did_not_reach_are_skipped() {
        let mut run = Run::default();
        assert_eq!(run.status("x"), None);
        run.finished = true;
        assert_eq!(run.status("x"), Some(Status::Skipped));
    }
}
