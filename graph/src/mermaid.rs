//! The Mermaid renderer: a `flowchart LR`, one subgraph per workflow.

use std::fmt::Write;

use crate::Status;
use crate::model::{Chart, Kind, NOT_TAKEN, TAKEN};

/// The Mermaid text of `charts`; `with_run` styles nodes by status and the path taken.
pub fn render(charts: &[Chart], with_run: bool) -> String {
    let mut out = String::from("flowchart LR\n");
    let mut taken = Vec::new();
    let mut by_status: Vec<(Status, Vec<String>)> =
        Status::ALL.iter().map(|&s| (s, Vec::new())).collect();
    let mut base = 0;
    let mut links = 0;
    for (w, chart) in charts.iter().enumerate() {
        let _ = writeln!(
            out,
            "  subgraph w{w}[\"{}\"]",
            text(&match chart.title {
                Some(t) => format!("{t} ({})", chart.id),
                None => chart.id.to_string(),
            })
        );
        for (i, n) in chart.nodes.iter().enumerate() {
            let mut label = format!("{} {}", n.kind.glyph(), text(n.title));
            if n.title != n.id {
                let _ = write!(label, "<br/>{}", text(n.id));
            }
            let (open, close) = match n.kind {
                Kind::Form | Kind::Event | Kind::Schedule => ("([", "])"),
                Kind::Condition => ("{", "}"),
                Kind::Approval => ("{{", "}}"),
                Kind::Join => ("[/", "\\]"),
                _ => ("(", ")"),
            };
            let _ = writeln!(out, "    n{}{open}\"{label}\"{close}", base + i);
            if let Some(s) = n.status
                && let Some((_, ids)) = by_status.iter_mut().find(|(k, _)| *k == s)
            {
                ids.push(format!("n{}", base + i));
            }
        }
        for e in &chart.edges {
            let arrow = match (e.fallback, e.parallel) {
                (true, _) => "-.->",
                (false, true) => "==>",
                (false, false) => "-->",
            };
            let label = e
                .label
                .map(|l| format!("|\"{}\"|", text(l)))
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "    n{} {arrow}{label} n{}",
                base + e.from,
                base + e.to
            );
            if e.taken {
                taken.push(links.to_string());
            }
            links += 1;
        }
        out.push_str("  end\n");
        base += chart.nodes.len();
    }
    if with_run {
        for s in Status::ALL {
            let (fill, stroke) = s.colours();
            let dash = if s == Status::Skipped {
                ",stroke-dasharray:4 3"
            } else {
                ""
            };
            let _ = writeln!(
                out,
                "  classDef {} fill:{fill},stroke:{stroke},color:#111827{dash}",
                s.name()
            );
        }
        for (s, ids) in by_status.iter().filter(|(_, ids)| !ids.is_empty()) {
            let _ = writeln!(out, "  class {} {}", ids.join(","), s.name());
        }
        if links > 0 {
            let _ = writeln!(out, "  linkStyle default stroke:{NOT_TAKEN}");
        }
        if !taken.is_empty() {
            let _ = writeln!(
                out,
                "  linkStyle {} stroke:{TAKEN},stroke-width:3px",
                taken.join(",")
            );
        }
    }
    out
}

/// `s` inside a quoted Mermaid label: one line, with Mermaid's entity codes for the characters
/// that would end the label or be read as markup.
fn text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '#' => out.push_str("#35;"),
            '"' => out.push_str("#quot;"),
            '<' => out.push_str("#lt;"),
            '>' => out.push_str("#gt;"),
            '&' => out.push_str("#amp;"),
            '`' => out.push_str("#96;"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn labels_cannot_break_out() {
        assert_eq!(
            super::text("a\"]; b<br>#1\n`x`"),
            "a#quot;]; b#lt;br#gt;#35;1 #96;x#96;"
        );
    }
}
