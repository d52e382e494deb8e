//! The Graphviz renderer: a `digraph` with `rankdir=LR`, one cluster per workflow, triggers
//! in the first rank.

use std::fmt::Write;

use crate::Status;
use crate::model::{Chart, EDGE, Kind, NOT_TAKEN, TAKEN};

/// The DOT text of `charts`; `with_run` colours nodes by status and the path taken.
pub fn render(charts: &[Chart], with_run: bool) -> String {
    let name = match charts {
        [one] => one.id,
        _ => "workflows",
    };
    let mut out = format!(
        "digraph {} {{\n  rankdir=LR;\n  graph [fontname=\"Helvetica\", fontsize=12];\n  \
         node [shape=box, style=\"rounded,filled\", fillcolor=\"#ffffff\", color=\"#b6bfcc\", \
         fontname=\"Helvetica\", fontsize=11];\n  \
         edge [color=\"{}\", fontname=\"Helvetica\", fontsize=10];\n",
        quote(name),
        if with_run { NOT_TAKEN } else { EDGE }
    );
    let mut base = 0;
    for (w, chart) in charts.iter().enumerate() {
        let title = match chart.title {
            Some(t) => format!("{t} ({})", chart.id),
            None => chart.id.to_string(),
        };
        let _ = writeln!(
            out,
            "  subgraph cluster_{w} {{\n    label={};\n    color=\"#d5dae1\";",
            quote(&title)
        );
        let triggers: Vec<String> = chart
            .nodes
            .iter()
            .enumerate()
            .filter(|(_, n)| matches!(n.kind, Kind::Form | Kind::Event | Kind::Schedule))
            .map(|(i, _)| format!("n{}", base + i))
            .collect();
        if !triggers.is_empty() {
            let _ = writeln!(out, "    {{ rank=min; {}; }}", triggers.join("; "));
        }
        for (i, n) in chart.nodes.iter().enumerate() {
            let mut label = format!("{} {}", n.kind.glyph(), n.title);
            if n.title != n.id {
                let _ = write!(label, "\n{}", n.id);
            }
            let _ = write!(
                out,
                "    n{} [id={}, label={}",
                base + i,
                quote(&format!("{}.{}", chart.id, n.id)),
                quote(&label)
            );
            if matches!(n.kind, Kind::Condition | Kind::Approval) {
                out.push_str(", shape=hexagon");
            }
            if n.kind == Kind::Join {
                out.push_str(", shape=trapezium");
            }
            if let Some(s) = n.status {
                let (fill, stroke) = s.colours();
                let _ = write!(out, ", fillcolor=\"{fill}\", color=\"{stroke}\"");
                if s == Status::Skipped {
                    out.push_str(", style=\"rounded,filled,dashed\"");
                }
            }
            out.push_str("];\n");
        }
        for e in &chart.edges {
            let mut attrs = Vec::new();
            if let Some(l) = e.label {
                attrs.push(format!("label={}", quote(l)));
            }
            if e.fallback {
                attrs.push("style=dashed".into());
            } else if e.parallel {
                attrs.push("style=bold".into());
            }
            if let Some(d) = e.description {
                attrs.push(format!("tooltip={}", quote(d)));
            }
            if e.taken {
                attrs.push(format!("color=\"{TAKEN}\", penwidth=3"));
            }
            let _ = write!(out, "    n{} -> n{}", base + e.from, base + e.to);
            if !attrs.is_empty() {
                let _ = write!(out, " [{}]", attrs.join(", "));
            }
            out.push_str(";\n");
        }
        out.push_str("  }\n");
        base += chart.nodes.len();
    }
    out.push_str("}\n");
    out
}

/// `s` as a DOT string: quotes and backslashes escaped, line breaks as `\n`, other control
/// characters as spaces.
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn strings_cannot_break_out() {
        assert_eq!(super::quote("a\"b\\n\nc\u{7}"), "\"a\\\"b\\\\n\\nc \"");
    }
}
