//! What is drawn, whatever the format: a workflow's nodes (triggers first) with their kind,
//! labels and status, and its connections with their labels and whether the run took them.

use std::collections::HashMap;

use wflow_compiler::ir::{Connection, NodeConfig, Workflow};

use crate::{Run, Status};

/// A node's kind, for its icon, glyph and colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Form,
    Event,
    Schedule,
    Webhook,
    Kafka,
    Upsert,
    /// An integration action, drawn with its service's icon.
    Integration(Service),
    Ai,
    AiAgent,
    Cursor,
    Condition,
    Approval,
    Join,
}

/// The service an integration action calls (`Other`: one wflow does not run, or a
/// provider it does not know).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    GitHub,
    GitLab,
    AzureDevOps,
    Jira,
    Other,
}

impl Service {
    fn of(i: &wflow_compiler::ir::Integration) -> Service {
        match i.spec().map(|s| s.service.as_str()) {
            Some("github") => Service::GitHub,
            Some("gitlab") => Service::GitLab,
            Some("azure_devops") => Service::AzureDevOps,
            Some("jira") => Service::Jira,
            _ => Service::Other,
        }
    }

    /// Its name in class names and tooltips (`provider-gitlab`).
    pub fn name(self) -> &'static str {
        match self {
            Service::GitHub => "github",
            Service::GitLab => "gitlab",
            Service::AzureDevOps => "azure-devops",
            Service::Jira => "jira",
            Service::Other => "other",
        }
    }
}

/// A kind's family, which sets its colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    Trigger,
    Action,
    Ai,
    Flow,
}

impl Kind {
    fn of(config: &NodeConfig) -> Kind {
        match config {
            NodeConfig::SelfServeTrigger(_) => Kind::Form,
            NodeConfig::EventTrigger(_) => Kind::Event,
            NodeConfig::ScheduleTrigger(_) => Kind::Schedule,
            NodeConfig::Webhook(_) => Kind::Webhook,
            NodeConfig::Kafka(_) => Kind::Kafka,
            NodeConfig::UpsertEntity(_) => Kind::Upsert,
            NodeConfig::IntegrationAction(i) => Kind::Integration(Service::of(i)),
            NodeConfig::Ai(_) => Kind::Ai,
            NodeConfig::AiAgent(_) => Kind::AiAgent,
            NodeConfig::CursorAgent(_) => Kind::Cursor,
            NodeConfig::Condition(_) => Kind::Condition,
            NodeConfig::Input(_) => Kind::Approval,
            NodeConfig::Join(_) => Kind::Join,
        }
    }

    /// The `.wflow` keyword, used as the kind's name (`kind-webhook`).
    pub fn name(self) -> &'static str {
        match self {
            Kind::Form => "form",
            Kind::Event => "event",
            Kind::Schedule => "schedule",
            Kind::Webhook => "webhook",
            Kind::Kafka => "kafka",
            Kind::Upsert => "upsert",
            Kind::Integration(_) => "integration",
            Kind::Ai => "ai",
            Kind::AiAgent => "ai_agent",
            Kind::Cursor => "cursor_agent",
            Kind::Condition => "condition",
            Kind::Approval => "approval",
            Kind::Join => "join",
        }
    }

    pub fn family(self) -> Family {
        match self {
            Kind::Form | Kind::Event | Kind::Schedule => Family::Trigger,
            Kind::Webhook | Kind::Kafka | Kind::Upsert | Kind::Integration(_) => Family::Action,
            Kind::Ai | Kind::AiAgent | Kind::Cursor => Family::Ai,
            Kind::Condition | Kind::Approval | Kind::Join => Family::Flow,
        }
    }

    /// A Unicode glyph for text formats (Mermaid, DOT).
    pub fn glyph(self) -> &'static str {
        match self {
            Kind::Form => "📝",
            Kind::Event => "⚡",
            Kind::Schedule => "⏰",
            Kind::Webhook => "🌐",
            Kind::Kafka => "📨",
            Kind::Upsert => "🗃",
            Kind::Integration(Service::GitHub) => "🐙",
            Kind::Integration(Service::GitLab) => "🦊",
            Kind::Integration(Service::AzureDevOps) => "🔷",
            Kind::Integration(Service::Jira) => "🎫",
            Kind::Integration(Service::Other) => "🔌",
            Kind::Ai => "✨",
            Kind::AiAgent => "🤖",
            Kind::Cursor => "🖱",
            Kind::Condition => "🔀",
            Kind::Approval => "✋",
            Kind::Join => "⋈",
        }
    }

    /// A 16×16 icon as SVG path data, drawn with a stroke.
    pub fn icon(self) -> &'static str {
        match self {
            Kind::Form => "M3 1.5h10v13H3z M5.5 5h5 M5.5 8h5 M5.5 11h3",
            Kind::Event => "M9 1 3 9h5l-1 6 6-8H8l1-6z",
            Kind::Schedule => "M8 1.5a6.5 6.5 0 1 0 0 13a6.5 6.5 0 1 0 0-13z M8 4v4l3 2",
            Kind::Webhook => {
                "M8 1.5a6.5 6.5 0 1 0 0 13a6.5 6.5 0 1 0 0-13z M1.5 8h13 \
                 M8 1.5c-2.5 2.5-2.5 10.5 0 13 M8 1.5c2.5 2.5 2.5 10.5 0 13"
            }
            Kind::Kafka => "M1.5 8 14.5 2 11 14 7.5 9.5z M7.5 9.5 14.5 2",
            Kind::Upsert => {
                "M2.5 3.5c0-2.7 11-2.7 11 0v9c0 2.7-11 2.7-11 0z M2.5 3.5c0 2.7 11 2.7 11 0 \
                 M2.5 8c0 2.7 11 2.7 11 0"
            }
            // A cat's head, whiskered.
            Kind::Integration(Service::GitHub) => {
                "M2.5 7 3 1.5l3 2.5h4l3-2.5.5 5.5c0 4-2.5 6.5-5.5 6.5S2.5 11 2.5 7z \
                 M6 8v.5 M10 8v.5 M1 10.5h3 M12 10.5h3"
            }
            // A fox's head: ears, cheeks and chin.
            Kind::Integration(Service::GitLab) => "M8 14.5 1.5 9 3 1.5l2.5 5h5l2.5-5L14.5 9z",
            // A pipeline run again: a loop with its arrow.
            Kind::Integration(Service::AzureDevOps) => {
                "M13.5 8a5.5 5.5 0 1 1-1.6-3.9 M12.5 1.5v3h-3 M6 6.5v3l3-1.5z"
            }
            // An issue: a ticket with its check mark.
            Kind::Integration(Service::Jira) => "M1.5 3.5h13v9h-13z M4.5 8 7 10.5 11.5 5.5",
            // A plug: any other service.
            Kind::Integration(Service::Other) => {
                "M5.5 1.5v4 M10.5 1.5v4 M3 5.5h10v2.5a5 5 0 0 1-10 0z M8 13v2.5"
            }
            Kind::Ai => "M8 1.5 9.6 6.4 14.5 8 9.6 9.6 8 14.5 6.4 9.6 1.5 8 6.4 6.4z",
            Kind::AiAgent => "M3 5.5h10v8H3z M8 2.5v3 M5.5 9.5h1 M9.5 9.5h1 M6 11.5h4",
            Kind::Cursor => "M3 2l9 5-4 1.5L6.5 13z",
            Kind::Condition => "M8 1.5 14.5 8 8 14.5 1.5 8z M8 5v3.5 M8 10.5v.5",
            Kind::Approval => {
                "M8 2a3 3 0 1 0 0 6a3 3 0 1 0 0-6z M2.5 14.5c0-3 2.5-5 5.5-5s5.5 2 5.5 5"
            }
            Kind::Join => "M1.5 3 8 8 1.5 13 M8 8h6.5 M11.5 5l3 3-3 3",
        }
    }
}

/// The colour of an edge, of a highlighted (taken) edge, and of an edge a run did not take.
pub const EDGE: &str = "#8a94a6";
pub const TAKEN: &str = "#1d4ed8";
pub const NOT_TAKEN: &str = "#c9ced6";

impl Status {
    /// The fill and stroke of a node with this status.
    pub fn colours(self) -> (&'static str, &'static str) {
        match self {
            Status::Succeeded => ("#e8f5e9", "#2e7d32"),
            Status::Failed => ("#ffebee", "#c62828"),
            Status::Running => ("#e3f2fd", "#1565c0"),
            Status::Waiting => ("#fff8e1", "#ef6c00"),
            Status::Skipped => ("#f3f4f6", "#9ca3af"),
        }
    }
}

/// A node as drawn.
#[derive(Debug)]
pub struct Node<'a> {
    pub id: &'a str,
    /// The title, or the identifier when there is none.
    pub title: &'a str,
    pub description: Option<&'a str>,
    pub kind: Kind,
    pub status: Option<Status>,
}

/// A connection as drawn, between node indices of its [`Chart`].
#[derive(Debug)]
pub struct Edge<'a> {
    pub from: usize,
    pub to: usize,
    pub outlet: Option<&'a str>,
    /// The outlet's title (a condition) or the button's label (an approval); `fallback`.
    pub label: Option<&'a str>,
    pub fallback: bool,
    /// One of several connections out of one node (or one outlet): a parallel branch.
    pub parallel: bool,
    pub description: Option<&'a str>,
    /// Whether the run took this connection.
    pub taken: bool,
}

/// One workflow as drawn.
#[derive(Debug)]
pub struct Chart<'a> {
    pub id: &'a str,
    pub title: Option<&'a str>,
    /// Triggers first, then the other nodes, each in source order.
    pub nodes: Vec<Node<'a>>,
    /// Connections between drawn nodes, in source order (others are left out).
    pub edges: Vec<Edge<'a>>,
}

impl<'a> Chart<'a> {
    /// The chart of `wf`, with the statuses of `run`.
    pub fn new(wf: &'a Workflow, run: Option<&Run>) -> Chart<'a> {
        let mut order: Vec<&wflow_compiler::ir::Node> = wf.nodes.iter().collect();
        order.sort_by_key(|n| !n.config.is_trigger());
        let mut index: HashMap<&str, usize> = HashMap::new();
        for (i, n) in order.iter().enumerate() {
            // The first of duplicate identifiers (an error, in the editor) gets the edges.
            index.entry(n.identifier.value.as_str()).or_insert(i);
        }
        let nodes: Vec<Node> = order
            .iter()
            .map(|n| Node {
                id: &n.identifier.value,
                title: n.title.as_ref().map_or(&n.identifier.value, |t| &t.value),
                description: n.description.as_ref().map(|d| d.value.as_str()),
                kind: Kind::of(&n.config),
                status: run.and_then(|r| r.status(&n.identifier.value)),
            })
            .collect();
        let edges = wf
            .connections
            .iter()
            .filter_map(|c| {
                let from = *index.get(c.source.value.as_str())?;
                let to = *index.get(c.target.value.as_str())?;
                Some(Edge {
                    from,
                    to,
                    outlet: c.outlet.as_ref().map(|o| o.value.as_str()),
                    label: label(&order[from].config, c),
                    fallback: c.fallback,
                    parallel: wf
                        .connections
                        .iter()
                        .filter(|o| {
                            o.source.value == c.source.value
                                && o.outlet.as_ref().map(|x| &x.value)
                                    == c.outlet.as_ref().map(|x| &x.value)
                                && o.fallback == c.fallback
                        })
                        .nth(1)
                        .is_some(),
                    description: c.description.as_ref().map(|d| d.value.as_str()),
                    taken: run.is_some_and(|r| taken(r, c)),
                })
            })
            .collect();
        Chart {
            id: &wf.identifier.value,
            title: wf.title.as_ref().map(|t| t.value.as_str()),
            nodes,
            edges,
        }
    }
}

/// The label of connection `c` out of a node configured by `source`.
fn label<'a>(source: &'a NodeConfig, c: &'a Connection) -> Option<&'a str> {
    if c.fallback {
        return Some("fallback");
    }
    let outlet = c.outlet.as_ref()?.value.as_str();
    let named = match source {
        NodeConfig::Condition(cond) => cond
            .outlets
            .iter()
            .find(|o| o.identifier.value == outlet)
            .and_then(|o| o.title.as_ref()),
        NodeConfig::Input(input) => input
            .user_inputs
            .buttons
            .iter()
            .find(|b| b.identifier.value == outlet)
            .map(|b| &b.label)
            .or_else(|| {
                input
                    .outlets
                    .iter()
                    .find(|o| o.identifier.value == outlet)
                    .and_then(|o| o.title.as_ref())
            }),
        _ => None,
    };
    Some(named.map_or(outlet, |n| n.value.as_str()))
}

/// Whether `run` took connection `c`: its source ended (through the connection's outlet, for
/// a condition or an approval) and its target was reached.
fn taken(run: &Run, c: &Connection) -> bool {
    let (Some(from), Some(to)) = (
        run.nodes.get(&c.source.value),
        run.nodes.get(&c.target.value),
    ) else {
        return false;
    };
    let ended = matches!(from.status, Status::Succeeded | Status::Failed);
    let through = if c.fallback {
        from.fallback
    } else {
        match &c.outlet {
            Some(o) => from.outlet.as_deref() == Some(o.value.as_str()),
            None => true,
        }
    };
    ended && through && to.status != Status::Skipped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_and_service_has_an_icon_of_its_own() {
        let services = [
            Service::GitHub,
            Service::GitLab,
            Service::AzureDevOps,
            Service::Jira,
            Service::Other,
        ];
        let mut kinds = vec![
            Kind::Form,
            Kind::Event,
            Kind::Schedule,
            Kind::Webhook,
            Kind::Kafka,
            Kind::Upsert,
            Kind::Ai,
            Kind::AiAgent,
            Kind::Cursor,
            Kind::Condition,
            Kind::Approval,
            Kind::Join,
        ];
        kinds.extend(services.map(Kind::Integration));
        let mut icons: Vec<&str> = kinds.iter().map(|k| k.icon()).collect();
        let mut glyphs: Vec<&str> = kinds.iter().map(|k| k.glyph()).collect();
        for d in &icons {
            assert!(d.starts_with('M'), "{d}");
            assert!(
                d.chars()
                    .all(|c| "MmLlHhVvCcSsAaZz0123456789.,- ".contains(c)),
                "{d}"
            );
        }
        icons.sort_unstable();
        icons.dedup();
        glyphs.sort_unstable();
        glyphs.dedup();
        assert_eq!((icons.len(), glyphs.len()), (kinds.len(), kinds.len()));
    }
}
