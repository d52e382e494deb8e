//! Parallel branches, a wflow extension: several connections out of one node (or one outlet)
//! are taken together. Which connections may both be taken in one run decides the checks: a
//! join that can never go on, parallel branches meeting at a node that is not a join, and
//! parallel upserts of one entity.

use crate::hash::HashMap;

use crate::diag::Diagnostic;
use crate::flow::Flow;
use crate::ir::{Connection, Node, NodeConfig, Wait, Workflow};

/// The most incoming connections whose combinations are tried one by one.
const MAX_TRIED: usize = 12;

/// Checks the parallel branches of `wf`, whose graph is whole.
pub(crate) fn check(wf: &Workflow, out: &mut Vec<Diagnostic>) {
    let flow = Flow::new(wf);
    if !flow.reliable {
        return;
    }
    let p = Parallel {
        forks: forks(wf, &flow),
        flow,
    };
    let mut incoming: HashMap<usize, Vec<&Connection>> = HashMap::default();
    for c in &wf.connections {
        if let (Some(_), Some(t)) = (p.flow.id(&c.source.value), p.flow.id(&c.target.value)) {
            incoming.entry(t).or_default().push(c);
        }
    }
    for (i, node) in wf.nodes.iter().enumerate() {
        let edges = incoming.get(&i).map_or(&[][..], Vec::as_slice);
        match &node.config {
            NodeConfig::Join(j) => p.join(node, j.wait, j.span, edges, out),
            _ if !p.forks.is_empty() => p.merge(node, edges, out),
            _ => {}
        }
    }
    if !p.forks.is_empty() {
        p.upserts(wf, out);
    }
}

/// The targets of connections out of one node, or one outlet of it, when there are several.
fn forks(wf: &Workflow, flow: &Flow) -> Vec<(usize, Vec<usize>)> {
    let mut groups: HashMap<(usize, Option<&str>, bool), Vec<usize>> = HashMap::default();
    let mut order = Vec::new();
    for c in &wf.connections {
        let (Some(s), Some(t)) = (flow.id(&c.source.value), flow.id(&c.target.value)) else {
            continue;
        };
        let key = (s, c.outlet.as_ref().map(|o| o.value.as_str()), c.fallback);
        let targets = groups.entry(key).or_insert_with(|| {
            order.push(key);
            Vec::new()
        });
        if !targets.contains(&t) {
            targets.push(t);
        }
    }
    order
        .into_iter()
        .filter_map(|k| groups.remove(&k).map(|t| (k.0, t)))
        .filter(|(_, t)| t.len() > 1)
        .collect()
}

struct Parallel {
    flow: Flow,
    /// Each fork: its source and its targets.
    forks: Vec<(usize, Vec<usize>)>,
}

impl Parallel {
    /// Whether node `n` runs only after `t` (or is `t`).
    fn within(&self, t: usize, n: usize) -> bool {
        t == n || self.flow.reaches(t, n)
    }

    /// Whether some run takes both connections, which end at one node: they are on different
    /// branches of one fork (a branch may be the connection itself).
    fn together(&self, a: &Connection, b: &Connection) -> bool {
        let ends = |c: &Connection| (self.flow.id(&c.source.value), self.flow.id(&c.target.value));
        let ((Some(sa), Some(ta)), (Some(sb), Some(tb))) = (ends(a), ends(b)) else {
            return false;
        };
        // The fork's branch toward `t` leads to the connection from `s` to `end`.
        let leads = |fork: usize, t: usize, s: usize, end: usize| {
            (fork == s && t == end) || self.within(t, s)
        };
        self.forks.iter().any(|(f, targets)| {
            targets.iter().any(|&t1| {
                leads(*f, t1, sa, ta) && targets.iter().any(|&t2| t2 != t1 && leads(*f, t2, sb, tb))
            })
        })
    }

    /// The most of `edges` that one run may take together.
    fn most_together(&self, edges: &[&Connection]) -> usize {
        if edges.len() > MAX_TRIED {
            return edges.len();
        }
        let pair: Vec<Vec<bool>> = edges
            .iter()
            .map(|a| edges.iter().map(|b| self.together(a, b)).collect())
            .collect();
        (1u32..1 << edges.len())
            .filter(|set| {
                let members: Vec<usize> =
                    (0..edges.len()).filter(|i| set & (1 << i) != 0).collect();
                members
                    .iter()
                    .all(|&i| members.iter().all(|&j| i == j || pair[i][j]))
            })
            .map(|set| set.count_ones() as usize)
            .max()
            .unwrap_or(0)
    }

    /// A join must be able to go on: it waits for no more branches than lead to it, and that
    /// many of them can arrive in one run.
    fn join(
        &self,
        node: &Node,
        wait: Wait,
        span: wflow_grammar::Span,
        edges: &[&Connection],
        out: &mut Vec<Diagnostic>,
    ) {
        let id = &node.identifier.value;
        let needed = wait.needed(edges.len());
        if needed > edges.len() {
            out.push(
                Diagnostic::error(
                    "join-never-completes",
                    span,
                    format!(
                        "join `{id}` waits for {needed} branch{}, but {} lead to it",
                        if needed == 1 { "" } else { "es" },
                        match edges.len() {
                            0 => "none".to_string(),
                            1 => "only 1 connection".to_string(),
                            n => format!("only {n} connections"),
                        }
                    ),
                )
                .label("more than can arrive")
                .help(match edges.len() {
                    0 => format!("connect the branches it waits for to `{id}`"),
                    n => format!(
                        "wait for at most {n} (`wait all`), or connect more branches to `{id}`"
                    ),
                }),
            );
            return;
        }
        if needed < 2 || self.most_together(edges) >= needed {
            return;
        }
        let exclusive = edges.iter().enumerate().find_map(|(i, a)| {
            edges[i + 1..]
                .iter()
                .find(|b| !self.together(a, b))
                .map(|b| (*a, *b))
        });
        let mut d = Diagnostic::error(
            "join-never-completes",
            span,
            format!(
                "join `{id}` waits for {} of its branches, but no run takes {} of them",
                wait.text(),
                if wait == Wait::All {
                    "all".to_string()
                } else {
                    needed.to_string()
                }
            ),
        )
        .label("never reached")
        .help(
            "branches that follow different outlets (or triggers) never run together: use \
             `wait any`, or fork with several connections from one node so that they do",
        );
        if let Some((a, b)) = exclusive {
            d = d.with(
                b.span,
                format!(
                    "never taken in a run that takes the one from `{}`",
                    a.source.value
                ),
            );
        }
        out.push(d);
    }

    /// Parallel branches may only meet at a join: a plain node would run once for each.
    fn merge(&self, node: &Node, edges: &[&Connection], out: &mut Vec<Diagnostic>) {
        let found = edges.iter().enumerate().find_map(|(i, a)| {
            edges[i + 1..]
                .iter()
                .find(|b| self.together(a, b))
                .map(|b| (*a, *b))
        });
        let Some((a, b)) = found else { return };
        let id = &node.identifier.value;
        out.push(
            Diagnostic::error(
                "merge-without-join",
                b.span,
                format!(
                    "parallel branches through `{}` and `{}` both lead to `{id}`, which is not a join",
                    a.source.value, b.source.value
                ),
            )
            .label("a second branch arrives here")
            .with(a.span, "the first branch")
            .help(format!(
                "join them first: `join {id}-join {{ wait all }}`, `{} -> {id}-join`, `{} -> {id}-join`, `{id}-join -> {id}`",
                a.source.value, b.source.value
            )),
        );
    }

    /// Two upserts of one entity on parallel branches: the last to finish wins.
    fn upserts(&self, wf: &Workflow, out: &mut Vec<Diagnostic>) {
        let key = |n: &Node| match &n.config {
            NodeConfig::UpsertEntity(u) => u
                .mapping
                .identifier
                .as_ref()
                .map(|i| (u.blueprint_identifier.text.clone(), i.text.clone())),
            _ => None,
        };
        let upserts: Vec<(usize, &Node, (String, String))> = wf
            .nodes
            .iter()
            .filter_map(|n| Some((self.flow.id(&n.identifier.value)?, n, key(n)?)))
            .collect();
        for (i, (a, na, ka)) in upserts.iter().enumerate() {
            for (b, nb, kb) in &upserts[i + 1..] {
                let parallel = ka == kb
                    && !self.flow.reaches(*a, *b)
                    && !self.flow.reaches(*b, *a)
                    && self.forks.iter().any(|(_, targets)| {
                        targets.iter().any(|&t1| {
                            self.within(t1, *a)
                                && targets.iter().any(|&t2| t2 != t1 && self.within(t2, *b))
                        })
                    });
                if parallel {
                    out.push(
                        Diagnostic::warning(
                            "parallel-write",
                            nb.identifier.span,
                            format!(
                                "`{}` and `{}` upsert the same entity on parallel branches; whichever finishes last wins",
                                na.identifier.value, nb.identifier.value
                            ),
                        )
                        .with(na.identifier.span, "the other upsert")
                        .help("order them (one after the other), or join the branches before one of them"),
                    );
                }
            }
        }
    }
}

/// What a join's `wait` means, for the hover over it.
pub(crate) fn hover(module: &crate::ir::Module, offset: usize) -> Option<crate::analysis::Hover> {
    module.workflows.iter().find_map(|wf| {
        wf.nodes.iter().find_map(|n| {
            let NodeConfig::Join(j) = &n.config else {
                return None;
            };
            if j.span.is_empty() || offset < j.span.start || offset > j.span.end {
                return None;
            }
            let from: Vec<String> = wf
                .connections
                .iter()
                .filter(|c| c.target.value == n.identifier.value)
                .map(|c| format!("`{}`", c.source.value))
                .collect();
            let when = match j.wait {
                Wait::All => "once every incoming branch has arrived; after it, their outputs are all there".to_string(),
                Wait::Any => "at the first incoming branch to arrive; after it, each branch's output may be absent".to_string(),
                Wait::Count(c) => format!("once {c} incoming branches have arrived; after it, each branch's output may be absent"),
            };
            let markdown = format!(
                "`wait {}`: `{}` goes on {when}. Branches: {}.",
                j.wait.text(),
                n.identifier.value,
                if from.is_empty() { "none".to_string() } else { from.join(", ") }
            );
            Some(crate::analysis::Hover {
                span: j.span,
                markdown,
            })
        })
    })
}
