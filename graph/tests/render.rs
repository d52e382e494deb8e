//! `wflow-graph` on real workflows: snapshots of the three formats, the SVG read back as XML,
//! runs coloured, and layouts of large and cyclic workflows.

use std::path::Path;
use std::time::{Duration, Instant};

use wflow_compiler::ir::Workflow;
use wflow_compiler::{check_source, syntax_of};
use wflow_graph::{Format, NodeRun, Run, Status, render};

/// Workflows of the snapshot corpus: the shipped example, a condition with a fallback, an
/// approval with buttons, Port JSON, several triggers, two workflows in one file, parallel
/// branches with a join, integration actions of each service.
const CORPUS: &[&str] = &[
    "examples/deploy-service.wflow",
    "tests/corpus/valid/condition-fallback-status.wflow",
    "tests/corpus/valid/approval-buttons.wflow",
    "tests/corpus/valid/newest-schema-approval.json",
    "tests/corpus/valid/multiple-triggers.wflow",
    "tests/corpus/valid/two-workflows.wflow",
    "examples/parallel-release.wflow",
    "tests/corpus/valid/integration-gitlab-azure-jira.wflow",
    "tests/corpus/valid/github-sugar.wflow",
];

fn workflows(rel: &str) -> Vec<Workflow> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(rel);
    let src = std::fs::read_to_string(&path).expect("read");
    let checked = check_source(&src, syntax_of(&path));
    assert!(!checked.has_errors(), "{rel}: {:?}", checked.diagnostics);
    checked.module.workflows
}

fn name(rel: &str) -> String {
    Path::new(rel)
        .file_name()
        .and_then(|n| n.to_str())
        .expect("name")
        .replace('.', "_")
}

#[test]
fn snapshots() {
    for rel in CORPUS {
        let wfs = workflows(rel);
        for (format, ext) in [
            (Format::Svg, "svg"),
            (Format::Mermaid, "mmd"),
            (Format::Dot, "dot"),
        ] {
            insta::assert_snapshot!(format!("{}.{ext}", name(rel)), render(&wfs, None, format));
        }
    }
}

/// The run of `examples/deploy-service.wflow` that went to production and failed there.
fn failed_production_run() -> Run {
    let node = |status, outlet: Option<&str>| NodeRun {
        status,
        outlet: outlet.map(str::to_string),
        fallback: false,
    };
    Run {
        nodes: [
            ("trigger", node(Status::Succeeded, None)),
            ("check-env", node(Status::Succeeded, Some("production"))),
            ("deploy-prod", node(Status::Failed, None)),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect(),
        finished: true,
    }
}

#[test]
fn run_snapshots() {
    let wfs = workflows("examples/deploy-service.wflow");
    let run = failed_production_run();
    for (format, ext) in [
        (Format::Svg, "svg"),
        (Format::Mermaid, "mmd"),
        (Format::Dot, "dot"),
    ] {
        insta::assert_snapshot!(
            format!("deploy-service-failed-run.{ext}"),
            render(&wfs, Some(&run), format)
        );
    }
}

/// Every `<g>` with a `data-node`, as (workflow, node, class).
fn drawn_nodes(svg: &str) -> Vec<(String, String, String)> {
    let doc = roxmltree::Document::parse(svg).expect("the SVG is well-formed XML");
    assert_eq!(doc.root_element().tag_name().name(), "svg");
    assert_eq!(
        doc.root_element().tag_name().namespace(),
        Some("http://www.w3.org/2000/svg")
    );
    doc.descendants()
        .filter(|n| n.has_tag_name("g"))
        .filter_map(|g| {
            let node = g.attribute("data-node")?;
            let wf = g.attribute("data-workflow").expect("data-workflow");
            assert_eq!(g.attribute("id"), Some(format!("{wf}.{node}").as_str()));
            Some((
                wf.to_string(),
                node.to_string(),
                g.attribute("class").expect("class").to_string(),
            ))
        })
        .collect()
}

#[test]
fn the_svg_is_xml_and_names_every_node_of_the_ir() {
    for rel in CORPUS {
        let wfs = workflows(rel);
        let drawn = drawn_nodes(&render(&wfs, None, Format::Svg));
        let expected: Vec<(String, String)> = wfs
            .iter()
            .flat_map(|w| {
                w.nodes
                    .iter()
                    .map(|n| (w.identifier.value.clone(), n.identifier.value.clone()))
            })
            .collect();
        let mut got: Vec<(String, String)> = drawn
            .iter()
            .map(|(w, n, _)| (w.clone(), n.clone()))
            .collect();
        got.sort();
        let mut want = expected.clone();
        want.sort();
        assert_eq!(got, want, "{rel}");
        assert!(drawn.iter().all(|(_, _, c)| c.contains("status-none")));
    }
}

#[test]
fn a_run_colours_nodes_and_highlights_the_path() {
    let wfs = workflows("examples/deploy-service.wflow");
    let svg = render(&wfs, Some(&failed_production_run()), Format::Svg);
    let status = |node: &str| {
        drawn_nodes(&svg)
            .into_iter()
            .find(|(_, n, _)| n == node)
            .map(|(_, _, class)| class)
            .expect("drawn")
    };
    assert!(status("trigger").contains("status-succeeded"));
    assert!(status("deploy-prod").contains("status-failed"));
    assert!(status("deploy-nonprod").contains("status-skipped"));
    assert!(status("update-status").contains("status-skipped"));
    let doc = roxmltree::Document::parse(&svg).expect("xml");
    let mut taken: Vec<(&str, &str)> = doc
        .descendants()
        .filter(|n| {
            n.attribute("class")
                .is_some_and(|c| c.contains("edge taken"))
        })
        .map(|n| {
            (
                n.attribute("data-source").expect("source"),
                n.attribute("data-target").expect("target"),
            )
        })
        .collect();
    taken.sort();
    assert_eq!(
        taken,
        vec![("check-env", "deploy-prod"), ("trigger", "check-env")]
    );
    assert!(svg.contains("class=\"legend\""));
    for s in Status::ALL {
        assert!(
            svg.contains(&format!(">{}</text>", s.name())),
            "{}",
            s.name()
        );
    }
}

#[test]
fn hostile_names_are_escaped() {
    let src = r##"{"identifier": "w<x>", "title": "a & b \" ' ]]>", "nodes": [
        {"identifier": "t", "title": "<script>alert(1)</script>\u0001", "config": {"type": "SELF_SERVE_TRIGGER", "userInputs": {"properties": {}}}},
        {"identifier": "c", "title": "#quot;\"]", "config": {"type": "CONDITION", "outlets": [{"identifier": "o", "title": "x|y\"", "expression": "true"}]}},
        {"identifier": "h", "config": {"type": "WEBHOOK", "url": "https://example.com"}}
    ], "connections": [
        {"sourceIdentifier": "t", "targetIdentifier": "c"},
        {"sourceIdentifier": "c", "sourceOutletIdentifier": "o", "targetIdentifier": "h"}
    ]}"##;
    let module = check_source(src, wflow_compiler::Syntax::Json).module;
    let svg = render(&module.workflows, None, Format::Svg);
    assert_eq!(drawn_nodes(&svg).len(), 3);
    assert!(!svg.contains("<script"));
    let mermaid = render(&module.workflows, None, Format::Mermaid);
    assert!(mermaid.contains("|\"x|y#quot;\"|"), "{mermaid}");
    let dot = render(&module.workflows, None, Format::Dot);
    assert!(dot.contains("label=\"x|y\\\"\""), "{dot}");
}

fn assert_distinct(svg: &str, nodes: usize) {
    let doc = roxmltree::Document::parse(svg).expect("xml");
    let mut at: Vec<&str> = doc
        .descendants()
        .filter(|n| n.attribute("data-node").is_some())
        .map(|n| n.attribute("transform").expect("transform"))
        .collect();
    assert_eq!(at.len(), nodes);
    at.sort_unstable();
    at.dedup();
    assert_eq!(at.len(), nodes, "two nodes share a position");
}

/// Lays out `n` nodes: a chain, pseudo-random forward edges and, with `cycles`, edges back.
fn random_layout(n: usize, cycles: bool) -> (Vec<(usize, usize)>, wflow_graph::layout::Layout) {
    let mut seed = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = |m: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % m as u64) as usize
    };
    let mut edges: Vec<(usize, usize)> = (1..n).map(|i| (i - 1, i)).collect();
    for _ in 0..n / 2 {
        let a = next(n - 1);
        let b = a + 1 + next(n - a - 1);
        edges.push(if cycles && next(3) == 0 {
            (b, a)
        } else {
            (a, b)
        });
    }
    let start = Instant::now();
    let l = wflow_graph::layout::layout(n, &edges);
    // A generous bound for an unoptimised build on a loaded machine; the release figure of
    // a whole drawing is in graph/README.md.
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
    (edges, l)
}

#[test]
fn large_and_cyclic_graphs_lay_out_at_distinct_positions() {
    for (n, cycles) in [(100, false), (100, true), (300, true)] {
        let (edges, l) = random_layout(n, cycles);
        let mut at: Vec<(i64, i64)> = l
            .nodes
            .iter()
            .map(|r| (r.x.round() as i64, r.y.round() as i64))
            .collect();
        at.sort_unstable();
        at.dedup();
        assert_eq!(at.len(), n, "two nodes share a position");
        // Boxes in a column do not overlap.
        let mut by_column: Vec<&wflow_graph::layout::Rect> = l.nodes.iter().collect();
        by_column.sort_by(|a, b| (a.x, a.y).partial_cmp(&(b.x, b.y)).expect("numbers"));
        for w in by_column.windows(2) {
            assert!(w[0].x != w[1].x || w[0].y + w[0].h <= w[1].y, "{w:?}");
        }
        // Every edge has a route; back edges exactly when there are cycles.
        assert!(l.routes.iter().all(Option::is_some));
        let backs = l.routes.iter().flatten().filter(|r| r.back).count();
        assert_eq!(backs > 0, cycles, "{n} nodes");
        // Forward edges go right.
        for (&(a, b), r) in edges.iter().zip(&l.routes) {
            if r.as_ref().is_some_and(|r| !r.back) {
                assert!(l.layers[a] < l.layers[b]);
            }
        }
    }
}

#[test]
fn cycles_and_broken_files_still_draw() {
    // Cycles are errors, but the editor draws what it has.
    let src = r#"workflow loop "Loop" {
  form trigger "T" { input x: string "X" }
  webhook a "A" { url "https://example.com/a" }
  webhook b "B" { url "https://example.com/b" }
  webhook c "C" { url "https://example.com/c" }
  flow { trigger -> a -> b -> c -> a; c -> c; b -> nowhere }
}"#;
    let checked = check_source(src, wflow_compiler::Syntax::Wflow);
    assert!(checked.has_errors());
    let svg = render(&checked.module.workflows, None, Format::Svg);
    assert_distinct(&svg, 4);
    let back = svg.split("class=\"edge").skip(1).any(|s| {
        s.split('"')
            .next()
            .is_some_and(|c| c.split(' ').any(|w| w == "back"))
    });
    assert!(back, "{svg}");
    // Text that hardly parses.
    for src in [
        "workflow",
        "workflow w { flow { a -> } }",
        "{\"nodes\": [1, {}]}",
    ] {
        for syntax in [wflow_compiler::Syntax::Wflow, wflow_compiler::Syntax::Json] {
            let module = check_source(src, syntax).module;
            for format in [Format::Svg, Format::Mermaid, Format::Dot] {
                let out = render(&module.workflows, None, format);
                if format == Format::Svg {
                    drawn_nodes(&out);
                }
            }
        }
    }
}
