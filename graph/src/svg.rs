//! The SVG renderer: self-contained (inline stylesheet and icons, system fonts, no links), with
//! every colour keyed by a class so that a page can restyle a node by its status.

use std::fmt::Write;

use crate::Status;
use crate::layout::{self, Layout, Route};
use crate::model::{Chart, EDGE, Edge, Family, Kind, NOT_TAKEN, Node, TAKEN};

const MARGIN: f64 = 24.0;
/// Room for a workflow's title above its nodes (and for self-loops over the top row).
const HEADING: f64 = 52.0;
/// Room between two workflows.
const BETWEEN: f64 = 36.0;
const LEGEND: f64 = 40.0;
/// Characters that fit on a node's title and identifier lines, and on an edge label.
const TITLE_CHARS: usize = 24;
const IDENT_CHARS: usize = 26;
const LABEL_CHARS: usize = 18;
/// The height of an edge label's box.
const LABEL_H: f64 = 18.0;

const STYLE: &str = "
.wflow-graph { font-family: system-ui, -apple-system, 'Segoe UI', Roboto, Helvetica, Arial, sans-serif; }
.wflow-graph .bg { fill: #ffffff; }
.wflow-graph .wf-title { font-size: 15px; font-weight: 600; fill: #1f2937; }
.wflow-graph .wf-id, .wflow-graph .ident { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; fill: #6b7280; }
.wflow-graph .wf-id { font-size: 12px; }
.wflow-graph .box { fill: #ffffff; stroke: #b6bfcc; stroke-width: 1.5; }
.wflow-graph .title { font-size: 13px; font-weight: 600; fill: #111827; }
.wflow-graph .ident { font-size: 11px; }
.wflow-graph .icon { fill: none; stroke-width: 1.4; stroke-linecap: round; stroke-linejoin: round; }
.wflow-graph .family-trigger .icon { stroke: #6d28d9; } .wflow-graph .family-trigger .stripe { fill: #6d28d9; }
.wflow-graph .family-action .icon { stroke: #0369a1; } .wflow-graph .family-action .stripe { fill: #0369a1; }
.wflow-graph .family-ai .icon { stroke: #c026d3; } .wflow-graph .family-ai .stripe { fill: #c026d3; }
.wflow-graph .family-flow .icon { stroke: #b45309; } .wflow-graph .family-flow .stripe { fill: #b45309; }
.wflow-graph .edge > path { fill: none; stroke-width: 1.5; }
.wflow-graph .edge.fallback > path { stroke-dasharray: 6 4; }
.wflow-graph .edge.parallel > path { stroke-width: 2.5; }
.wflow-graph .edge.back > path { stroke: #b45309; }
.wflow-graph .label rect { fill: #ffffff; stroke: #d5dae1; }
.wflow-graph .label text { font-size: 11px; fill: #374151; text-anchor: middle; }
.wflow-graph .edge.fallback .label text { font-style: italic; }
.wflow-graph .status-skipped > .box { stroke-dasharray: 4 3; }
.wflow-graph .node.status-skipped { opacity: 0.65; }
.wflow-graph .legend text { font-size: 12px; fill: #374151; }
";

/// The stylesheet: [`STYLE`] and the colours of edges and statuses.
fn style() -> String {
    let mut css = String::from(STYLE);
    let _ = writeln!(
        css,
        ".wflow-graph .edge > path {{ stroke: {EDGE}; }}\n\
         .wflow-graph.run .edge > path {{ stroke: {NOT_TAKEN}; }}\n\
         .wflow-graph .taken > path, .wflow-graph.run .edge.taken > path {{ stroke: {TAKEN}; \
         stroke-width: 3; marker-end: url(#wflow-arrow-taken); }}"
    );
    for s in Status::ALL {
        let (fill, stroke) = s.colours();
        let _ = writeln!(
            css,
            ".wflow-graph .status-{} > .box {{ fill: {fill}; stroke: {stroke}; }}",
            s.name()
        );
    }
    css
}

/// The SVG of `charts`, one below the other; `with_run` adds the status legend.
pub fn render(charts: &[Chart], with_run: bool) -> String {
    let layouts: Vec<Layout> = charts
        .iter()
        .map(|c| {
            let pairs: Vec<(usize, usize)> = c.edges.iter().map(|e| (e.from, e.to)).collect();
            layout::layout(c.nodes.len(), &pairs)
        })
        .collect();
    let legend_width = 5.0 * 112.0 + 110.0;
    let width = layouts
        .iter()
        .map(|l| l.width)
        .fold(if with_run { legend_width } else { 360.0 }, f64::max)
        + 2.0 * MARGIN;
    let mut body = String::new();
    let mut y = MARGIN;
    for (chart, l) in charts.iter().zip(&layouts) {
        workflow(&mut body, chart, l, y);
        y += HEADING + l.height + BETWEEN;
    }
    if with_run {
        legend(&mut body, y);
        y += LEGEND;
    }
    let height = (y - BETWEEN).max(MARGIN) + MARGIN;
    let names: Vec<&str> = charts.iter().map(|c| c.title.unwrap_or(c.id)).collect();
    let mut out = String::new();
    let _ = write!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"wflow-graph{}\" width=\"{w}\" \
         height=\"{h}\" viewBox=\"0 0 {w} {h}\" role=\"img\">\n<title>{}</title>\n\
         <style>{}</style>\n<defs>\n{}{}\
         <clipPath id=\"wflow-clip\"><rect width=\"{clip}\" height=\"{h_node}\"/></clipPath>\n\
         </defs>\n\
         <rect class=\"bg\" width=\"100%\" height=\"100%\"/>\n{body}</svg>\n",
        if with_run { " run" } else { "" },
        esc(&format!("Workflow graph: {}", names.join(", "))),
        style(),
        marker("wflow-arrow", EDGE),
        marker("wflow-arrow-taken", TAKEN),
        w = num(width),
        h = num(height),
        clip = num(layout::NODE_W - 8.0),
        h_node = num(layout::NODE_H),
    );
    out
}

fn marker(id: &str, colour: &str) -> String {
    format!(
        "<marker id=\"{id}\" viewBox=\"0 0 10 10\" refX=\"9\" refY=\"5\" markerWidth=\"7\" \
         markerHeight=\"7\" markerUnits=\"userSpaceOnUse\" orient=\"auto\">\
         <path d=\"M0 0L10 5L0 10z\" fill=\"{colour}\"/></marker>\n"
    )
}

/// One workflow at height `top`: its heading, edges, then nodes (drawn over the edges).
fn workflow(out: &mut String, chart: &Chart, l: &Layout, top: f64) {
    let _ = writeln!(
        out,
        "<g class=\"workflow\" data-workflow=\"{}\" transform=\"translate({},{})\">",
        esc(chart.id),
        num(MARGIN),
        num(top)
    );
    let _ = writeln!(
        out,
        "<text class=\"wf-title\" x=\"0\" y=\"16\">{}</text>\
         <text class=\"wf-id\" x=\"0\" y=\"34\">{}</text>",
        esc(&fit(chart.title.unwrap_or(chart.id), 80)),
        esc(&fit(chart.id, 80))
    );
    let _ = writeln!(out, "<g transform=\"translate(0,{})\">", num(HEADING));
    let labels = label_positions(chart, l);
    for ((e, route), at) in chart.edges.iter().zip(&l.routes).zip(labels) {
        if let Some(route) = route {
            edge(out, chart, e, route, at);
        }
    }
    for (n, r) in chart.nodes.iter().zip(&l.nodes) {
        node(out, chart.id, n, r.x, r.y);
    }
    out.push_str("</g>\n</g>\n");
}

fn node(out: &mut String, workflow: &str, n: &Node, x: f64, y: f64) {
    let family = match n.kind.family() {
        Family::Trigger => "trigger",
        Family::Action => "action",
        Family::Ai => "ai",
        Family::Flow => "flow",
    };
    let status = n.status.map_or("none", Status::name);
    let mut tip = format!("{} ({}): {}", n.title, n.id, n.kind.name());
    let mut class = format!("kind-{} family-{family}", n.kind.name());
    if let Kind::Integration(s) = n.kind {
        let _ = write!(tip, " ({})", s.name());
        let _ = write!(class, " provider-{}", s.name());
    }
    if let Some(s) = n.status {
        let _ = write!(tip, ", {}", s.name());
    }
    if let Some(d) = n.description {
        let _ = write!(tip, "\n{d}");
    }
    let _ = writeln!(
        out,
        "<g class=\"node {class} status-{status}\" id=\"{wf}.{id}\" \
         data-workflow=\"{wf}\" data-node=\"{id}\" data-kind=\"{kind}\" \
         transform=\"translate({x},{y})\">\
         <title>{tip}</title>\
         <rect class=\"box\" width=\"{w}\" height=\"{h}\" rx=\"8\"/>\
         <rect class=\"stripe\" x=\"0.75\" y=\"8\" width=\"4\" height=\"{stripe}\" rx=\"2\"/>\
         <path class=\"icon\" transform=\"translate(14,{icon})\" d=\"{d}\"/>\
         <g clip-path=\"url(#wflow-clip)\"><text class=\"title\" x=\"40\" y=\"24\">{title}</text>\
         <text class=\"ident\" x=\"40\" y=\"42\">{ident}</text></g></g>",
        kind = n.kind.name(),
        wf = esc(workflow),
        id = esc(n.id),
        x = num(x),
        y = num(y),
        tip = esc(&tip),
        w = num(layout::NODE_W),
        h = num(layout::NODE_H),
        stripe = num(layout::NODE_H - 16.0),
        icon = num(layout::NODE_H / 2.0 - 8.0),
        d = n.kind.icon(),
        title = esc(&fit(n.title, TITLE_CHARS)),
        ident = esc(&fit(n.id, IDENT_CHARS)),
    );
}

/// Where each edge's label goes: halfway along its first segment, the labels of one node's
/// edges moved apart (in order) so that they do not overlap.
fn label_positions(chart: &Chart, l: &Layout) -> Vec<Option<(f64, f64)>> {
    let mut at: Vec<Option<(f64, f64)>> = chart
        .edges
        .iter()
        .zip(&l.routes)
        .map(
            |(e, route)| match (e.label, route.as_ref()?.points.as_slice()) {
                (Some(_), [a, b, ..]) if route.as_ref()?.self_loop => {
                    Some(((a.0 + b.0) / 2.0, a.1 - 30.0))
                }
                (Some(_), [a, b, ..]) => Some(((a.0 + b.0) / 2.0, (a.1 + b.1) / 2.0)),
                _ => None,
            },
        )
        .collect();
    for from in 0..chart.nodes.len() {
        let mut mine: Vec<usize> = (0..chart.edges.len())
            .filter(|&i| chart.edges[i].from == from && at[i].is_some())
            .collect();
        mine.sort_by(|&a, &b| {
            let y = |i: usize| at[i].map_or(0.0, |p| p.1);
            y(a).total_cmp(&y(b))
        });
        let wanted: Vec<f64> = mine.iter().map(|&i| at[i].map_or(0.0, |p| p.1)).collect();
        let placed = layout::closest_in_order(&wanted, |_| LABEL_H + 2.0);
        for (&i, y) in mine.iter().zip(placed) {
            if let Some(p) = &mut at[i] {
                p.1 = y;
            }
        }
    }
    at
}

fn edge(out: &mut String, chart: &Chart, e: &Edge, route: &Route, at: Option<(f64, f64)>) {
    let (from, to) = (chart.nodes[e.from].id, chart.nodes[e.to].id);
    let mut class = String::from("edge");
    for (on, name) in [
        (e.fallback, " fallback"),
        (e.parallel, " parallel"),
        (route.back, " back"),
        (e.taken, " taken"),
    ] {
        if on {
            class.push_str(name);
        }
    }
    let _ = write!(
        out,
        "<g class=\"{class}\" data-source=\"{}\" data-target=\"{}\"",
        esc(from),
        esc(to)
    );
    if let Some(o) = e.outlet {
        let _ = write!(out, " data-outlet=\"{}\"", esc(o));
    }
    let mut tip = format!("{from} → {to}");
    if let Some(l) = e.label {
        let _ = write!(tip, " ({l})");
    }
    if let Some(d) = e.description {
        let _ = write!(tip, ": {d}");
    }
    let _ = write!(
        out,
        "><title>{}</title><path d=\"{}\" marker-end=\"url(#wflow-arrow)\"/>",
        esc(&tip),
        path(route)
    );
    if let (Some(text), Some((x, y))) = (e.label, at) {
        let text = fit(text, LABEL_CHARS);
        let w = text.chars().count() as f64 * 6.4 + 12.0;
        let _ = write!(
            out,
            "<g class=\"label\" transform=\"translate({},{})\">\
             <rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" rx=\"4\"/>\
             <text y=\"4\">{}</text></g>",
            num(x),
            num(y),
            num(-w / 2.0),
            num(-LABEL_H / 2.0),
            num(w),
            num(LABEL_H),
            esc(&text)
        );
    }
    out.push_str("</g>\n");
}

/// Path data through a route's points, with horizontal tangents at each point.
fn path(route: &Route) -> String {
    let mut d = String::new();
    let Some(&(x0, y0)) = route.points.first() else {
        return d;
    };
    let _ = write!(d, "M{} {}", num(x0), num(y0));
    if route.self_loop {
        if let Some(&(x1, y1)) = route.points.get(1) {
            let _ = write!(
                d,
                "C{} {} {} {} {} {}",
                num(x0),
                num(y0 - 40.0),
                num(x1),
                num(y1 - 40.0),
                num(x1),
                num(y1)
            );
        }
        return d;
    }
    for w in route.points.windows(2) {
        let ((ax, ay), (bx, by)) = (w[0], w[1]);
        let mid = (ax + bx) / 2.0;
        let _ = write!(
            d,
            "C{} {} {} {} {} {}",
            num(mid),
            num(ay),
            num(mid),
            num(by),
            num(bx),
            num(by)
        );
    }
    d
}

/// The statuses' colours and the highlighted path, at height `top`.
fn legend(out: &mut String, top: f64) {
    let _ = write!(
        out,
        "<g class=\"legend\" transform=\"translate({},{})\">",
        num(MARGIN),
        num(top)
    );
    let mut x = 0.0;
    for s in Status::ALL {
        let _ = write!(
            out,
            "<g class=\"status-{name}\" transform=\"translate({x},0)\">\
             <rect class=\"box\" width=\"16\" height=\"16\" rx=\"4\"/>\
             <text x=\"22\" y=\"12.5\">{name}</text></g>",
            name = s.name(),
            x = num(x)
        );
        x += 112.0;
    }
    let _ = writeln!(
        out,
        "<g class=\"taken\" transform=\"translate({},0)\"><path d=\"M0 8H30\"/>\
         <text x=\"40\" y=\"12.5\">path taken</text></g></g>",
        num(x)
    );
}

/// `s` cut to `max` characters, with `…` when cut; line breaks become spaces.
fn fit(s: &str, max: usize) -> String {
    let s = s.replace(['\n', '\r', '\t'], " ");
    if s.chars().count() <= max {
        return s;
    }
    let mut cut: String = s.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// `s` as XML text or attribute value. Characters XML 1.0 cannot hold (control characters,
/// U+FFFE, U+FFFF) become U+FFFD.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if c < ' ' || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// A coordinate with at most one decimal.
fn num(v: f64) -> String {
    let r = (v * 10.0).round() / 10.0 + 0.0;
    if r.fract() == 0.0 {
        format!("{r:.0}")
    } else {
        format!("{r:.1}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_and_fitted() {
        assert_eq!(
            esc("a<b & \"c\"\u{1}"),
            "a&lt;b &amp; &quot;c&quot;\u{FFFD}"
        );
        assert_eq!(fit("abcdef", 4), "abc…");
        assert_eq!(fit("a\nb", 4), "a b");
        assert_eq!(num(1.25), "1.3");
        assert_eq!(num(-0.01), "0");
        assert_eq!(num(12.0), "12");
    }
}
