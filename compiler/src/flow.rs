//! Which nodes have run when a node runs: the workflow graph's upstream sets and dominators.
//!
//! A run starts at one trigger and follows connections; there is no fan-out, so a node with
//! several incoming connections is a merge point of paths that exclude each other. A node `X`
//! has surely run before `N` when every path from every trigger that reaches `N` goes through
//! `X`; when some path avoids it, [`Flow::path_avoiding`] names that path.

use std::collections::{HashMap, HashSet};

use crate::ir::Workflow;

/// The connection graph of one workflow, by node index.
pub struct Flow {
    names: Vec<String>,
    index: HashMap<String, usize>,
    succ: Vec<Vec<usize>>,
    pred: Vec<Vec<usize>>,
    triggers: Vec<usize>,
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
        let mut index = HashMap::new();
        for (i, n) in names.iter().enumerate() {
            if index.insert(n.clone(), i).is_some() {
                // Duplicate identifiers (reported elsewhere): which one is meant is unknown.
                reliable = false;
            }
        }
        let mut succ = vec![Vec::new(); names.len()];
        let mut pred = vec![Vec::new(); names.len()];
        for c in &wf.connections {
            match (index.get(&c.source.value), index.get(&c.target.value)) {
                (Some(&s), Some(&t)) if s != t && !triggers.contains(&t) => {
                    succ[s].push(t);
                    pred[t].push(s);
                }
                _ => reliable = false,
            }
        }
        let mut flow = Flow {
            names,
            index,
            succ,
            pred,
            triggers,
            reliable,
        };
        if flow.has_cycle() {
            flow.reliable = false;
        }
        flow
    }

    fn has_cycle(&self) -> bool {
        // Kahn's algorithm: a cycle leaves nodes with incoming edges.
        let mut indeg: Vec<usize> = self.pred.iter().map(Vec::len).collect();
        let mut todo: Vec<usize> = (0..self.names.len()).filter(|i| indeg[*i] == 0).collect();
        let mut seen = 0;
        while let Some(n) = todo.pop() {
            seen += 1;
            for &s in &self.succ[n] {
                indeg[s] -= 1;
                if indeg[s] == 0 {
                    todo.push(s);
                }
            }
        }
        seen != self.names.len()
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
        let mut seen = HashSet::new();
        let mut todo = self.pred.get(to).cloned().unwrap_or_default();
        while let Some(n) = todo.pop() {
            if seen.insert(n) {
                todo.extend(self.pred[n].iter().copied());
            }
        }
        seen
    }

    /// The triggers from which `to` can be reached (`to` itself if it is one).
    pub fn triggers_of(&self, to: usize, upstream: &HashSet<usize>) -> Vec<usize> {
        self.triggers
            .iter()
            .copied()
            .filter(|t| *t == to || upstream.contains(t))
            .collect()
    }

    /// A path from a trigger to `to` that does not pass through `avoid`, if there is one.
    pub fn path_avoiding(&self, to: usize, avoid: usize) -> Option<Vec<usize>> {
        let mut parent: HashMap<usize, Option<usize>> = HashMap::new();
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
