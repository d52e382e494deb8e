//! A layered left-to-right layout (Sugiyama style), in time near-linear in the drawing's size.
//!
//! 1. Cycles are broken by a depth-first search from the sources (triggers first): an edge back
//!    to a node on the search's path is laid out reversed and drawn as a back edge.
//! 2. Layers: the longest path from a source.
//! 3. An edge spanning several layers gets a dummy vertex in each layer between (the route it
//!    takes), so that nothing is drawn through a node.
//! 4. Crossing reduction: barycenter sweeps, down and up, keeping the order with the fewest
//!    crossings (counted in `O(e log e)` per layer pair).
//! 5. Coordinates: each layer is a column; within a column, each vertex is pulled towards the
//!    mean of its neighbours' positions (a long edge's points pulling harder, to keep it
//!    straight), in order and without overlap (an isotonic regression, linear per layer), in a
//!    few passes down and up; then the links of chains are straightened where that fits.

/// The width of a node's box.
pub const NODE_W: f64 = 230.0;
/// The height of a node's box.
pub const NODE_H: f64 = 56.0;
/// The room between two columns, where edge labels go.
pub const GAP_X: f64 = 120.0;
/// The room between two nodes of a column.
const GAP_Y: f64 = 28.0;
/// The room beside an edge passing through a column.
const GAP_DUMMY: f64 = 14.0;
/// Crossing-reduction sweeps at most, and how many without improvement end them.
const SWEEPS: usize = 24;
const PATIENCE: usize = 4;
/// Coordinate passes (each one down, then up).
const PASSES: usize = 4;

/// A position and size.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rect {
    pub x: f64,
    pub y: f64,
    pub w: f64,
    pub h: f64,
}

/// How an edge is drawn: the points it passes through, from its source to its target.
#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    pub points: Vec<(f64, f64)>,
    /// The edge closes a cycle: it runs right to left.
    pub back: bool,
    /// The edge goes from a node to itself: drawn as a loop over the node's top, from the
    /// first point to the second.
    pub self_loop: bool,
}

/// Where everything goes.
#[derive(Debug, Clone, PartialEq)]
pub struct Layout {
    /// By node index.
    pub nodes: Vec<Rect>,
    /// By edge index; `None` for an edge naming a node that does not exist.
    pub routes: Vec<Option<Route>>,
    /// The column of each node.
    pub layers: Vec<usize>,
    pub width: f64,
    pub height: f64,
}

/// A vertex of the layered graph: a node, or a point an edge passes through.
struct Vertex {
    layer: usize,
    real: bool,
    /// Neighbours in the layer before and after.
    up: Vec<usize>,
    down: Vec<usize>,
}

/// Lays out `n` nodes (sources are taken in index order, so put triggers first) and `edges`
/// between them.
pub fn layout(n: usize, edges: &[(usize, usize)]) -> Layout {
    let valid = |&(a, b): &(usize, usize)| a < n && b < n;
    let back = back_edges(n, edges);
    let dag: Vec<(usize, usize)> = edges
        .iter()
        .zip(&back)
        .filter(|(e, _)| valid(e) && e.0 != e.1)
        .map(|(&(a, b), &rev)| if rev { (b, a) } else { (a, b) })
        .collect();
    let layer = longest_path(n, &dag);
    let mut vs: Vec<Vertex> = layer
        .iter()
        .map(|&l| Vertex {
            layer: l,
            real: true,
            up: Vec::new(),
            down: Vec::new(),
        })
        .collect();
    // Each edge's vertices in layout (left to right) order.
    let chains: Vec<Option<Vec<usize>>> = edges
        .iter()
        .zip(&back)
        .map(|(e, &rev)| {
            if !valid(e) || e.0 == e.1 {
                return None;
            }
            let (a, b) = if rev { (e.1, e.0) } else { *e };
            let mut chain = vec![a];
            for l in layer[a] + 1..layer[b] {
                vs.push(Vertex {
                    layer: l,
                    real: false,
                    up: Vec::new(),
                    down: Vec::new(),
                });
                chain.push(vs.len() - 1);
            }
            chain.push(b);
            for w in chain.windows(2) {
                vs[w[0]].down.push(w[1]);
                vs[w[1]].up.push(w[0]);
            }
            Some(chain)
        })
        .collect();
    let layers = order(&vs);
    let ys = coordinates(&vs, &layers);
    let x = |l: usize| l as f64 * (NODE_W + GAP_X);
    let nodes: Vec<Rect> = (0..n)
        .map(|v| Rect {
            x: x(vs[v].layer),
            y: ys[v] - NODE_H / 2.0,
            w: NODE_W,
            h: NODE_H,
        })
        .collect();
    let routes = routes(&vs, &nodes, &ys, edges, &back, &chains, x);
    Layout {
        width: layers.len().saturating_sub(1) as f64 * (NODE_W + GAP_X)
            + if n > 0 { NODE_W } else { 0.0 },
        height: (0..vs.len())
            .map(|v| ys[v] + if vs[v].real { NODE_H / 2.0 } else { GAP_DUMMY })
            .fold(0.0, f64::max),
        nodes,
        routes,
        layers: layer,
    }
}

/// Which edges close a cycle, by a depth-first search from the sources in index order (then
/// from any node not yet reached). Self-loops are not back edges.
fn back_edges(n: usize, edges: &[(usize, usize)]) -> Vec<bool> {
    let mut out: Vec<Vec<usize>> = vec![Vec::new(); n];
    let mut indegree = vec![0usize; n];
    for (i, &(a, b)) in edges.iter().enumerate() {
        if a < n && b < n && a != b {
            out[a].push(i);
            indegree[b] += 1;
        }
    }
    let mut back = vec![false; edges.len()];
    // 0: not reached, 1: on the search's path, 2: done.
    let mut state = vec![0u8; n];
    let roots = (0..n)
        .filter(|&v| indegree[v] == 0)
        .chain(0..n)
        .collect::<Vec<_>>();
    for root in roots {
        if state[root] != 0 {
            continue;
        }
        state[root] = 1;
        let mut stack = vec![(root, 0usize)];
        while let Some(top) = stack.last_mut() {
            let (v, next) = *top;
            let Some(&e) = out[v].get(next) else {
                state[v] = 2;
                stack.pop();
                continue;
            };
            top.1 += 1;
            let w = edges[e].1;
            match state[w] {
                0 => {
                    state[w] = 1;
                    stack.push((w, 0));
                }
                1 => back[e] = true,
                _ => {}
            }
        }
    }
    back
}

/// Each node's layer: the length of the longest path to it from a source of the acyclic `dag`.
fn longest_path(n: usize, dag: &[(usize, usize)]) -> Vec<usize> {
    let mut out: Vec<Vec<usize>> = vec![Vec::new(); n];
    let mut indegree = vec![0usize; n];
    for &(a, b) in dag {
        out[a].push(b);
        indegree[b] += 1;
    }
    let mut layer = vec![0usize; n];
    let mut ready: Vec<usize> = (0..n).filter(|&v| indegree[v] == 0).collect();
    while let Some(v) = ready.pop() {
        for &w in &out[v] {
            layer[w] = layer[w].max(layer[v] + 1);
            indegree[w] -= 1;
            if indegree[w] == 0 {
                ready.push(w);
            }
        }
    }
    layer
}

/// The vertices of each layer, in the order with the fewest crossings found.
fn order(vs: &[Vertex]) -> Vec<Vec<usize>> {
    let depth = vs.iter().map(|v| v.layer + 1).max().unwrap_or(0);
    let mut layers: Vec<Vec<usize>> = vec![Vec::new(); depth];
    // Start from a depth-first order from the sources: a branch's vertices stay together.
    let mut seen = vec![false; vs.len()];
    for root in 0..vs.len() {
        if seen[root] || !vs[root].up.is_empty() {
            continue;
        }
        let mut stack = vec![root];
        while let Some(v) = stack.pop() {
            if std::mem::replace(&mut seen[v], true) {
                continue;
            }
            layers[vs[v].layer].push(v);
            stack.extend(vs[v].down.iter().rev().filter(|&&w| !seen[w]));
        }
    }
    // Vertices only reachable through a cycle's reversed edge (none, for an acyclic input).
    for v in 0..vs.len() {
        if !seen[v] {
            layers[vs[v].layer].push(v);
        }
    }
    let mut pos = vec![0usize; vs.len()];
    let place = |layers: &Vec<Vec<usize>>, pos: &mut Vec<usize>| {
        for layer in layers {
            for (i, &v) in layer.iter().enumerate() {
                pos[v] = i;
            }
        }
    };
    place(&layers, &mut pos);
    let mut best = layers.clone();
    let mut fewest = crossings(vs, &layers, &pos);
    let mut stale = 0;
    for sweep in 0..SWEEPS {
        if fewest == 0 || stale == PATIENCE {
            break;
        }
        let down = sweep % 2 == 0;
        let ls: Vec<usize> = if down {
            (1..depth).collect()
        } else {
            (0..depth.saturating_sub(1)).rev().collect()
        };
        for l in ls {
            let mut keyed: Vec<(f64, usize)> = layers[l]
                .iter()
                .map(|&v| {
                    let nb = if down { &vs[v].up } else { &vs[v].down };
                    let bary = if nb.is_empty() {
                        pos[v] as f64
                    } else {
                        nb.iter().map(|&w| pos[w] as f64).sum::<f64>() / nb.len() as f64
                    };
                    (bary, v)
                })
                .collect();
            keyed.sort_by(|a, b| a.0.total_cmp(&b.0));
            layers[l] = keyed.into_iter().map(|(_, v)| v).collect();
            for (i, &v) in layers[l].iter().enumerate() {
                pos[v] = i;
            }
        }
        let c = crossings(vs, &layers, &pos);
        if c < fewest {
            fewest = c;
            best = layers.clone();
            stale = 0;
        } else {
            stale += 1;
        }
    }
    best
}

/// The number of edge crossings between consecutive layers: for each pair, the inversions of
/// the edges' lower ends once sorted by their upper ends, counted with a Fenwick tree.
fn crossings(vs: &[Vertex], layers: &[Vec<usize>], pos: &[usize]) -> usize {
    let mut total = 0;
    for pair in layers.windows(2) {
        let mut ends: Vec<(usize, usize)> = pair[0]
            .iter()
            .flat_map(|&v| vs[v].down.iter().map(move |&w| (pos[v], pos[w])))
            .collect();
        ends.sort_unstable();
        let mut tree = vec![0usize; pair[1].len() + 1];
        for (seen, &(_, p)) in ends.iter().enumerate() {
            // How many earlier edges end at or before `p`.
            let mut at_most = 0;
            let mut i = p + 1;
            while i > 0 {
                at_most += tree[i];
                i &= i - 1;
            }
            total += seen - at_most;
            let mut i = p + 1;
            while i < tree.len() {
                tree[i] += 1;
                i += i & i.wrapping_neg();
            }
        }
    }
    total
}

/// The vertical centre of each vertex.
fn coordinates(vs: &[Vertex], layers: &[Vec<usize>]) -> Vec<f64> {
    let height = |v: usize| if vs[v].real { NODE_H } else { 0.0 };
    // The least distance between the centres of neighbours in a layer.
    let need = |a: usize, b: usize| {
        let gap = if vs[a].real && vs[b].real {
            GAP_Y
        } else {
            GAP_DUMMY
        };
        (height(a) + height(b)) / 2.0 + gap
    };
    let mut y = vec![0.0; vs.len()];
    for layer in layers {
        let mut at = 0.0;
        for (i, &v) in layer.iter().enumerate() {
            if i > 0 {
                at += need(layer[i - 1], v);
            }
            y[v] = at;
        }
    }
    for _ in 0..PASSES {
        for down in [true, false] {
            let ls: Vec<usize> = if down {
                (1..layers.len()).collect()
            } else {
                (0..layers.len().saturating_sub(1)).rev().collect()
            };
            for l in ls {
                let layer = &layers[l];
                let wanted: Vec<f64> = layer
                    .iter()
                    .map(|&v| {
                        let (mut sum, mut weight) = (0.0, 0.0);
                        for &w in vs[v].up.iter().chain(&vs[v].down) {
                            // A long edge's points pull hardest: long edges stay straight.
                            let k = if vs[v].real || vs[w].real { 1.0 } else { 4.0 };
                            sum += k * y[w];
                            weight += k;
                        }
                        if weight == 0.0 { y[v] } else { sum / weight }
                    })
                    .collect();
                let placed = closest_in_order(&wanted, |i| need(layer[i - 1], layer[i]));
                for (&v, p) in layer.iter().zip(placed) {
                    y[v] = p;
                }
            }
        }
    }
    // Links of a chain (one edge out of one vertex into the next) are straightened where that
    // fits.
    for layer in layers.iter().skip(1) {
        let wanted: Vec<f64> = layer
            .iter()
            .map(|&v| match vs[v].up.as_slice() {
                [u] if vs[*u].down.len() == 1 => y[*u],
                _ => y[v],
            })
            .collect();
        let placed = closest_in_order(&wanted, |i| need(layer[i - 1], layer[i]));
        for (&v, p) in layer.iter().zip(placed) {
            y[v] = p;
        }
    }
    let top = (0..vs.len())
        .map(|v| y[v] - height(v) / 2.0)
        .fold(f64::INFINITY, f64::min);
    if top.is_finite() {
        for c in &mut y {
            *c -= top;
        }
    }
    y
}

/// The positions closest (least squares) to `wanted` that keep their order with at least
/// `need(i)` between positions `i - 1` and `i`: pool-adjacent-violators on the positions less
/// the least offsets, so linear.
pub(crate) fn closest_in_order(wanted: &[f64], need: impl Fn(usize) -> f64) -> Vec<f64> {
    let mut offset = Vec::with_capacity(wanted.len());
    let mut at = 0.0;
    for i in 0..wanted.len() {
        if i > 0 {
            at += need(i);
        }
        offset.push(at);
    }
    // Blocks of (sum, count), each holding its mean for a run of positions.
    let mut blocks: Vec<(f64, usize)> = Vec::new();
    for (w, o) in wanted.iter().zip(&offset) {
        blocks.push((w - o, 1));
        while blocks.len() > 1 {
            let (s2, n2) = blocks[blocks.len() - 1];
            let (s1, n1) = blocks[blocks.len() - 2];
            if s1 / n1 as f64 <= s2 / n2 as f64 {
                break;
            }
            blocks.pop();
            if let Some(last) = blocks.last_mut() {
                *last = (s1 + s2, n1 + n2);
            }
        }
    }
    blocks
        .iter()
        .flat_map(|&(s, n)| std::iter::repeat_n(s / n as f64, n))
        .zip(&offset)
        .map(|(z, o)| z + o)
        .collect()
}

/// Each edge's route: out of its source's right side (ports spread by where the edges go),
/// across each column it passes at its dummy's height, into its target's left side; a back
/// edge the other way round.
fn routes(
    vs: &[Vertex],
    nodes: &[Rect],
    ys: &[f64],
    edges: &[(usize, usize)],
    back: &[bool],
    chains: &[Option<Vec<usize>>],
    x: impl Fn(usize) -> f64,
) -> Vec<Option<Route>> {
    // Forward edges leaving and entering each node, by the height of the next vertex.
    let mut outs: Vec<Vec<(f64, usize)>> = vec![Vec::new(); nodes.len()];
    let mut ins: Vec<Vec<(f64, usize)>> = vec![Vec::new(); nodes.len()];
    for (i, chain) in chains.iter().enumerate() {
        if let (Some(c), false) = (chain, back[i])
            && let (Some(&first), Some(&second), Some(&last)) = (c.first(), c.get(1), c.last())
        {
            outs[first].push((ys[second], i));
            ins[last].push((ys[c[c.len() - 2]], i));
        }
    }
    let mut start = vec![None; edges.len()];
    let mut end = vec![None; edges.len()];
    for (ports, side) in [(&mut outs, &mut start), (&mut ins, &mut end)] {
        for (v, list) in ports.iter_mut().enumerate() {
            list.sort_by(|a, b| a.0.total_cmp(&b.0));
            let m = list.len() as f64;
            for (k, &(_, e)) in list.iter().enumerate() {
                side[e] = Some(nodes[v].y + NODE_H * (k as f64 + 1.0) / (m + 1.0));
            }
        }
    }
    let centre = |v: usize| nodes[v].y + NODE_H / 2.0;
    edges
        .iter()
        .enumerate()
        .map(|(i, &(a, b))| {
            if a >= nodes.len() || b >= nodes.len() {
                return None;
            }
            if a == b {
                let r = nodes[a];
                return Some(Route {
                    points: vec![(r.x + r.w - 24.0, r.y), (r.x + r.w - 64.0, r.y)],
                    back: false,
                    self_loop: true,
                });
            }
            let chain = chains[i].as_ref()?;
            let middle = &chain[1..chain.len() - 1];
            let mut points = Vec::with_capacity(2 * middle.len() + 2);
            if back[i] {
                points.push((nodes[a].x, centre(a)));
                for &d in middle.iter().rev() {
                    points.push((x(vs[d].layer) + NODE_W, ys[d]));
                    points.push((x(vs[d].layer), ys[d]));
                }
                points.push((nodes[b].x + NODE_W, centre(b)));
            } else {
                points.push((nodes[a].x + NODE_W, start[i].unwrap_or(centre(a))));
                for &d in middle {
                    points.push((x(vs[d].layer), ys[d]));
                    points.push((x(vs[d].layer) + NODE_W, ys[d]));
                }
                points.push((nodes[b].x, end[i].unwrap_or(centre(b))));
            }
            Some(Route {
                points,
                back: back[i],
                self_loop: false,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn distinct(l: &Layout) -> bool {
        let mut seen: Vec<(i64, i64)> = l
            .nodes
            .iter()
            .map(|r| (r.x.round() as i64, r.y.round() as i64))
            .collect();
        seen.sort_unstable();
        seen.windows(2).all(|w| w[0] != w[1])
    }

    #[test]
    fn a_chain_is_one_row() {
        let l = layout(3, &[(0, 1), (1, 2)]);
        assert_eq!(l.layers, vec![0, 1, 2]);
        assert!(l.nodes.iter().all(|r| r.y == 0.0), "{:?}", l.nodes);
        assert_eq!(l.width, 3.0 * NODE_W + 2.0 * GAP_X);
        assert_eq!(l.height, NODE_H);
    }

    #[test]
    fn layers_are_longest_paths_and_long_edges_pass_between_nodes() {
        // 0 -> 1 -> 2 -> 3 and a shortcut 0 -> 3.
        let l = layout(4, &[(0, 1), (1, 2), (2, 3), (0, 3)]);
        assert_eq!(l.layers, vec![0, 1, 2, 3]);
        let shortcut = l.routes[3].as_ref().expect("route");
        // Source, two points across each of the two columns between, target.
        assert_eq!(shortcut.points.len(), 6);
        for (k, &(_, y)) in shortcut.points[1..5].iter().enumerate() {
            let node = l.nodes[1 + k / 2];
            let centre = node.y + NODE_H / 2.0;
            assert!(
                (y - centre).abs() >= NODE_H / 2.0 + GAP_DUMMY - 1e-9,
                "the shortcut passes through node {} at y {y}: {:?}",
                1 + k / 2,
                l.nodes
            );
        }
        assert!(distinct(&l));
    }

    #[test]
    fn cycles_terminate_and_back_edges_are_marked() {
        // 0 -> 1 -> 2 -> 1, 2 -> 0, and a self-loop on 2.
        let l = layout(3, &[(0, 1), (1, 2), (2, 1), (2, 0), (2, 2)]);
        let back: Vec<bool> = l
            .routes
            .iter()
            .map(|r| r.as_ref().is_some_and(|r| r.back))
            .collect();
        assert_eq!(back, vec![false, false, true, true, false]);
        assert!(l.routes[4].as_ref().is_some_and(|r| r.self_loop));
        assert!(distinct(&l));
        // A graph that is only a cycle (no source at all).
        let ring = layout(50, &(0..50).map(|i| (i, (i + 1) % 50)).collect::<Vec<_>>());
        assert!(distinct(&ring));
        assert_eq!(ring.layers.iter().max(), Some(&49));
    }

    #[test]
    fn edges_leave_and_enter_at_ports_spread_by_where_they_go() {
        // 0 fans out to 1, 2, 3, which all go to 4.
        let l = layout(5, &[(0, 1), (0, 2), (0, 3), (1, 4), (2, 4), (3, 4)]);
        let start = |e: usize| l.routes[e].as_ref().expect("route").points[0].1;
        let end = |e: usize| {
            *l.routes[e]
                .as_ref()
                .expect("route")
                .points
                .last()
                .expect("end")
        };
        let mut starts = [start(0), start(1), start(2)];
        starts.sort_by(f64::total_cmp);
        let top = l.nodes[0].y;
        assert_eq!(
            starts,
            [
                top + NODE_H / 4.0,
                top + NODE_H / 2.0,
                top + 3.0 * NODE_H / 4.0
            ]
        );
        let mut ends = [end(3).1, end(4).1, end(5).1];
        ends.sort_by(f64::total_cmp);
        assert!(ends[0] < ends[1] && ends[1] < ends[2], "{ends:?}");
    }

    #[test]
    fn edges_naming_missing_nodes_are_left_out() {
        let l = layout(2, &[(0, 1), (0, 7)]);
        assert!(l.routes[0].is_some());
        assert!(l.routes[1].is_none());
    }

    #[test]
    fn barycenter_sweeps_untangle_a_crossing() {
        // The first search order puts 2 above 3: 0 -> 3 then crosses 1 -> 2.
        let l = layout(4, &[(0, 2), (0, 3), (1, 2)]);
        assert!(l.nodes[0].y < l.nodes[1].y, "{:?}", l.nodes);
        assert!(l.nodes[3].y < l.nodes[2].y, "{:?}", l.nodes);
    }

    #[test]
    fn closest_in_order_keeps_order_and_distance() {
        let p = closest_in_order(&[10.0, 10.0, 10.0], |_| 4.0);
        assert_eq!(p, vec![6.0, 10.0, 14.0]);
        let p = closest_in_order(&[0.0, 100.0], |_| 4.0);
        assert_eq!(p, vec![0.0, 100.0]);
    }
}
