//! Which nodes have run when a node runs: the workflow graph's upstream sets and dominators.
//!
//! A run starts at one trigger and follows connections. Without parallel branches a node with
//! several incoming connections is a merge point of paths that exclude each other, and a node
//! `X` has surely run before `N` when every path from every trigger that reaches `N` goes
//! through `X` (it dominates `N`); when some path avoids it, [`Flow::path_avoiding`] names
//! that path. A `join` goes on once enough of its incoming branches have arrived, so what
//! surely ran before it is computed over its branches ([`Flow::must_run`]).

use crate::hash::{HashMap, HashSet};

use crate::ir::{Wait, Workflow};

/// The connection graph of one workflow, by node index.
pub struct Flow {
    names: Vec<String>,
    index: HashMap<String, usize>,
    succ: Vec<Vec<usize>>,
    pred: Vec<Vec<usize>>,
    triggers: Vec<usize>,
    /// Per node: how many incoming branches it waits for, when it is a join.
    joins: Vec<Option<Wait>>,
    /// Whether the graph is known well enough for reachability diagnostics.
    pub reliable: bool,
}

impl Flow {
    /// Builds the graph from `wf`'s nodes (and unlowered nodes) and valid connections.
    pub fn new(wf: &Workflow) -> Flow {
        let mut names: Vec<String> = wf
            .nodes
            .iter()
            .map(|n| n.identifier.value.clone())
            .collect();
        let mut triggers: Vec<usize> = wf
            .nodes
            .iter()
            .enumerate()
            .filter(|(_, n)| n.config.is_trigger())
            .map(|(i, _)| i)
            .collect();
        let mut reliable = !wf.fragment;
        for (n, is_trigger) in &wf.unlowered {
            if n.value.is_empty() {
                reliable = false;
                continue;
            }
            if *is_trigger {
                triggers.push(names.len());
            }
            names.push(n.value.clone());
        }
        let mut index = HashMap::default();
        for (i, n) in names.iter().enumerate() {
            if index.insert(n.clone(), i).is_some() {
                // Duplicate identifiers (reported elsewhere): which one is meant is unknown.
                reliable = false;
            }
        }
        let mut is_trigger = vec![false; names.len()];
        for &t in &triggers {
            is_trigger[t] = true;
        }
        let mut succ = vec![Vec::new(); names.len()];
        let mut pred = vec![Vec::new(); names.len()];
        for c in &wf.connections {
            match (index.get(&c.source.value), index.get(&c.target.value)) {
                (Some(&s), Some(&t)) if s != t && !is_trigger[t] => {
                    succ[s].push(t);
                    pred[t].push(s);
                }
                _ => reliable = false,
            }
        }
        let mut joins: Vec<Option<Wait>> = wf.nodes.iter().map(|n| n.config.join_wait()).collect();
        joins.resize(names.len(), None);
        let mut flow = Flow {
            names,
            index,
            succ,
            pred,
            triggers,
            joins,
            reliable,
        };
        if flow.has_cycle() {
            flow.reliable = false;
        }
        flow
    }

    fn has_cycle(&self) -> bool {
        self.topological().is_none()
    }

    /// The index of node `name`.
    pub fn id(&self, name: &str) -> Option<usize> {
        self.index.get(name).copied()
    }

    /// The identifier of node `i`.
    pub fn name(&self, i: usize) -> &str {
        self.names.get(i).map_or("", String::as_str)
    }

    /// Every node from which `to` can be reached (not `to` itself).
    pub fn upstream(&self, to: usize) -> HashSet<usize> {
        let mut seen = HashSet::default();
        let mut todo = self.pred.get(to).cloned().unwrap_or_default();
        while let Some(n) = todo.pop() {
            if seen.insert(n) {
                todo.extend(self.pred[n].iter().copied());
            }
        }
        seen
    }

    /// Whether `to` can be reached from `from` (a node does not reach itself). Searches back
    /// from `to` and stops as soon as `from` is found.
    pub fn reaches(&self, from: usize, to: usize) -> bool {
        let mut seen = vec![false; self.names.len()];
        let mut todo = self.pred.get(to).cloned().unwrap_or_default();
        while let Some(n) = todo.pop() {
            if n == from {
                return true;
            }
            if let Some(s) = seen.get_mut(n).filter(|s| !**s) {
                *s = true;
                todo.extend(self.pred[n].iter().copied());
            }
        }
        false
    }

    /// The triggers from which `to` can be reached (`to` itself if it is one).
    pub fn triggers_of(&self, to: usize, upstream: &HashSet<usize>) -> Vec<usize> {
        self.triggers
            .iter()
            .copied()
            .filter(|t| *t == to || upstream.contains(t))
            .collect()
    }

    /// For every node, the triggers from which it can be reached (itself if it is one), in
    /// trigger order: one forward search per trigger.
    pub fn reaching_triggers(&self) -> Vec<Vec<usize>> {
        let mut reach: Vec<Vec<usize>> = vec![Vec::new(); self.names.len()];
        for &t in &self.triggers {
            let mut todo = vec![t];
            while let Some(n) = todo.pop() {
                if reach[n].last() != Some(&t) {
                    reach[n].push(t);
                    todo.extend(self.succ[n].iter().copied());
                }
            }
        }
        reach
    }

    /// Nodes before the nodes they lead to (predecessors first), as far as the graph allows:
    /// a depth-first post-order over predecessors, with an explicit stack.
    pub fn order(&self) -> Vec<usize> {
        let n = self.names.len();
        let mut order = Vec::with_capacity(n);
        let mut placed = vec![false; n];
        // (node, how many of its predecessors were visited)
        let mut stack: Vec<(usize, usize)> = Vec::new();
        for root in 0..n {
            if placed[root] {
                continue;
            }
            placed[root] = true;
            stack.push((root, 0));
            while let Some((node, next)) = stack.last_mut() {
                let node = *node;
                match self.pred[node].get(*next) {
                    Some(&p) => {
                        *next += 1;
                        if !placed[p] {
                            placed[p] = true;
                            stack.push((p, 0));
                        }
                    }
                    None => {
                        order.push(node);
                        stack.pop();
                    }
                }
            }
        }
        order
    }

    /// The dominator tree over every trigger: `x` dominates `n` when every path from a trigger
    /// to `n` passes through `x`. None when the graph has a cycle.
    pub fn dominators(&self) -> Option<Dominators> {
        let n = self.names.len();
        let root = n;
        let topo = self.topological()?;
        // Immediate dominators; `root` (above every trigger) for nodes only a trigger precedes.
        let mut idom: Vec<Option<usize>> = vec![None; n + 1];
        let mut depth = vec![0usize; n + 1];
        idom[root] = Some(root);
        let is_trigger: HashSet<usize> = self.triggers.iter().copied().collect();
        for &v in &topo {
            let mut preds = self.pred[v].iter().copied().filter(|p| idom[*p].is_some());
            let first = if is_trigger.contains(&v) {
                Some(root)
            } else {
                preds.next()
            };
            let Some(mut d) = first else {
                continue;
            };
            for p in preds {
                d = common_dominator(&idom, &depth, d, p);
            }
            idom[v] = Some(d);
            depth[v] = depth[d] + 1;
        }
        Some(Dominators::new(&idom, root))
    }

    /// Whether the workflow has a join.
    pub fn has_joins(&self) -> bool {
        self.joins.iter().any(Option::is_some)
    }

    /// The incoming neighbours of node `i`, one per connection.
    pub fn preds(&self, i: usize) -> &[usize] {
        self.pred.get(i).map_or(&[], Vec::as_slice)
    }

    /// For every node, the nodes that have surely completed when it starts, through joins: a
    /// node surely ran before a plain node when it surely ran (or is) on every incoming
    /// branch, and before a join waiting for N of its K branches when fewer than N branches
    /// lack it. None when the graph has a cycle.
    pub fn must_run(&self) -> Option<Vec<NodeSet>> {
        let n = self.names.len();
        let topo = self.topological()?;
        let mut must: Vec<Option<NodeSet>> = vec![None; n];
        let is_trigger: HashSet<usize> = self.triggers.iter().copied().collect();
        for &v in &topo {
            if is_trigger.contains(&v) {
                must[v] = Some(NodeSet::new(n));
                continue;
            }
            // Each reached incoming branch brings what ran before its source, and the source.
            let branches: Vec<NodeSet> = self.pred[v]
                .iter()
                .filter_map(|&p| {
                    must[p].as_ref().map(|m| {
                        let mut m = m.clone();
                        m.insert(p);
                        m
                    })
                })
                .collect();
            if branches.is_empty() {
                continue;
            }
            let needed = match self.joins[v] {
                Some(w) => w.needed(self.pred[v].len()).clamp(1, branches.len()),
                None => 1,
            };
            must[v] = Some(NodeSet::at_least(&branches, branches.len() + 1 - needed));
        }
        Some(
            must.into_iter()
                .map(|m| m.unwrap_or_else(|| NodeSet::new(n)))
                .collect(),
        )
    }

    /// Kahn's order of the nodes, or None when there is a cycle.
    fn topological(&self) -> Option<Vec<usize>> {
        let mut indeg: Vec<usize> = self.pred.iter().map(Vec::len).collect();
        let mut todo: Vec<usize> = (0..self.names.len()).filter(|i| indeg[*i] == 0).collect();
        let mut order = Vec::with_capacity(self.names.len());
        while let Some(n) = todo.pop() {
            order.push(n);
            for &s in &self.succ[n] {
                indeg[s] -= 1;
                if indeg[s] == 0 {
                    todo.push(s);
                }
            }
        }
        (order.len() == self.names.len()).then_some(order)
    }

    /// A path from a trigger to `to` that does not pass through `avoid`, if there is one.
    pub fn path_avoiding(&self, to: usize, avoid: usize) -> Option<Vec<usize>> {
        let mut parent: HashMap<usize, Option<usize>> = HashMap::default();
        let mut queue = std::collections::VecDeque::new();
        for &t in &self.triggers {
            if t != avoid {
                parent.insert(t, None);
                queue.push_back(t);
            }
        }
        while let Some(n) = queue.pop_front() {
            if n == to {
                let mut path = vec![n];
                let mut cur = n;
                while let Some(Some(p)) = parent.get(&cur) {
                    path.push(*p);
                    cur = *p;
                }
                path.reverse();
                return Some(path);
            }
            for &s in &self.succ[n] {
                if s != avoid && !parent.contains_key(&s) {
                    parent.insert(s, Some(n));
                    queue.push_back(s);
                }
            }
        }
        None
    }
}

/// A set of nodes by index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeSet(Vec<u64>);

impl NodeSet {
    /// An empty set for `n` nodes.
    pub fn new(n: usize) -> NodeSet {
        NodeSet(vec![0; n.div_ceil(64)])
    }

    /// Adds node `i`.
    pub fn insert(&mut self, i: usize) {
        if let Some(w) = self.0.get_mut(i / 64) {
            *w |= 1 << (i % 64);
        }
    }

    /// Whether node `i` is in the set.
    pub fn contains(&self, i: usize) -> bool {
        self.0.get(i / 64).is_some_and(|w| w & (1 << (i % 64)) != 0)
    }

    /// The nodes in at least `k` of `sets` (all of the same size, at least one): their
    /// intersection when `k` is their number, their union when it is 1.
    fn at_least(sets: &[NodeSet], k: usize) -> NodeSet {
        let words = sets.first().map_or(0, |s| s.0.len());
        let word = |w: usize| -> u64 {
            let bits = sets.iter().map(|s| s.0[w]);
            if k >= sets.len() {
                bits.fold(u64::MAX, |a, b| a & b)
            } else if k <= 1 {
                bits.fold(0, |a, b| a | b)
            } else {
                (0..64)
                    .filter(|b| sets.iter().filter(|s| s.0[w] & (1 << b) != 0).count() >= k)
                    .fold(0, |a, b| a | (1 << b))
            }
        };
        NodeSet((0..words).map(word).collect())
    }
}

/// The nearest node dominating both `a` and `b`: walk the deeper one up until they meet.
fn common_dominator(idom: &[Option<usize>], depth: &[usize], mut a: usize, mut b: usize) -> usize {
    while a != b {
        if depth[a] >= depth[b] {
            match idom[a] {
                Some(up) if up != a => a = up,
                _ => return a,
            }
        } else {
            match idom[b] {
                Some(up) if up != b => b = up,
                _ => return b,
            }
        }
    }
    a
}

/// A dominator tree, numbered so that "x dominates n" is two comparisons.
pub struct Dominators {
    /// Per node: when the walk over the tree entered and left it; None for unreachable nodes.
    interval: Vec<Option<(usize, usize)>>,
}

impl Dominators {
    fn new(idom: &[Option<usize>], root: usize) -> Dominators {
        let mut children: Vec<Vec<usize>> = vec![Vec::new(); idom.len()];
        for (v, d) in idom.iter().enumerate() {
            if let Some(d) = d.filter(|d| *d != v) {
                children[d].push(v);
            }
        }
        let mut interval = vec![None; idom.len()];
        let mut clock = 0;
        let mut stack = vec![(root, 0usize, clock)];
        while let Some((v, next, entered)) = stack.last_mut() {
            match children[*v].get(*next) {
                Some(&c) => {
                    *next += 1;
                    clock += 1;
                    stack.push((c, 0, clock));
                }
                None => {
                    clock += 1;
                    interval[*v] = Some((*entered, clock));
                    stack.pop();
                }
            }
        }
        Dominators { interval }
    }

    /// Whether every path from a trigger to `n` passes through `x` (a node dominates itself).
    /// False when either is reached from no trigger.
    pub fn dominates(&self, x: usize, n: usize) -> bool {
        match (self.interval.get(x), self.interval.get(n)) {
            (Some(Some((xs, xe))), Some(Some((ns, ne)))) => xs <= ns && ne <= xe,
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flow(src: &str) -> Flow {
        let checked = crate::check_source(src, crate::Syntax::Wflow);
        Flow::new(&checked.module.workflows[0])
    }

    #[test]
    fn merge_point_has_a_path_avoiding_each_branch() {
        let f = flow(
            r#"workflow w {
  form trigger "T" { input env: string "Env" }
  condition c "C" { outlet prod "P" when `.outputs.trigger.env == "p"` }
  webhook a "A" { url "https://a" }
  webhook b "B" { url "https://b" }
  webhook m "M" { url "https://m" }
  flow {
    trigger -> c
    c.prod -> a -> m
    c.fallback -> b -> m
  }
}"#,
        );
        assert!(f.reliable);
        let (m, a, c) = (
            f.id("m").expect("test"),
            f.id("a").expect("test"),
            f.id("c").expect("test"),
        );
        let up = f.upstream(m);
        assert_eq!(up.len(), 4);
        let path: Vec<&str> = f
            .path_avoiding(m, a)
            .expect("test")
            .into_iter()
            .map(|i| f.name(i))
            .collect();
        assert_eq!(path, ["trigger", "c", "b", "m"]);
        assert!(f.path_avoiding(m, c).is_none());
        assert_eq!(f.triggers_of(m, &up), vec![f.id("trigger").expect("test")]);
    }
}
