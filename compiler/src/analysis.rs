//! Editor queries over a checked file, in byte offsets: symbols, definition, references,
//! rename, hover and completion. The LSP converts positions and calls these; it has no logic
//! of its own.

use wflow_grammar::Span;

use crate::catalog::Catalog;
use crate::ir::{self, JqQuery, Module, Node, NodeConfig, Workflow};

/// What a symbol is, for the outline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SymbolKind {
    Workflow,
    Trigger,
    Action,
    Flow,
}

/// An outline entry: a workflow with its nodes as children.
#[derive(Debug, Clone, PartialEq)]
pub struct Symbol {
    pub name: String,
    pub detail: String,
    pub kind: SymbolKind,
    /// The whole construct.
    pub span: Span,
    /// The identifier.
    pub selection: Span,
    pub children: Vec<Symbol>,
}

/// The outline of a file.
pub fn symbols(module: &Module) -> Vec<Symbol> {
    module
        .workflows
        .iter()
        .map(|wf| Symbol {
            name: wf.identifier.value.clone(),
            detail: wf
                .title
                .as_ref()
                .map(|t| t.value.clone())
                .unwrap_or_default(),
            kind: SymbolKind::Workflow,
            span: wf.span,
            selection: wf.identifier.span,
            children: wf
                .nodes
                .iter()
                .map(|n| Symbol {
                    name: n.identifier.value.clone(),
                    detail: match &n.title {
                        Some(t) => format!("{} · {}", keyword(n), t.value),
                        None => keyword(n).to_string(),
                    },
                    kind: match (n.config.is_trigger(), n.config.has_outlets()) {
                        (true, _) => SymbolKind::Trigger,
                        (_, true) => SymbolKind::Flow,
                        _ => SymbolKind::Action,
                    },
                    span: n.span,
                    selection: n.identifier.span,
                    children: Vec::new(),
                })
                .collect(),
        })
        .collect()
}

/// The `.wflow` keyword of a node's kind.
fn keyword(n: &Node) -> &'static str {
    wflow_stdlib::get()
        .kind(n.config.type_name())
        .map_or("node", |k| k.keyword.as_str())
}

/// A place where a node is named: its declaration, a connection end, or `.outputs.<id>` in jq.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Occurrence {
    /// The identifier's text only (no quotes or brackets).
    pub span: Span,
    pub is_declaration: bool,
}

/// Every `.outputs.<id>` and `.outputs["<id>"]` in a jq expression: (id, span of the id).
pub fn output_refs(q: &JqQuery) -> Vec<(String, Span)> {
    let code = q.code.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(at) = find(code, i, b".outputs") {
        i = at + ".outputs".len();
        let (start, end) = match code.get(i) {
            Some(b'.') => {
                let start = i + 1;
                let len = q.code[start..]
                    .find(|c: char| !(c.is_alphanumeric() || c == '_'))
                    .unwrap_or(q.code.len() - start);
                (start, start + len)
            }
            Some(b'[') if code.get(i + 1) == Some(&b'"') => {
                let start = i + 2;
                match q.code[start..].find('"') {
                    Some(len) => (start, start + len),
                    None => continue,
                }
            }
            _ => continue,
        };
        if end > start {
            out.push((q.code[start..end].to_string(), q.source_span(start..end)));
        }
        i = end;
    }
    out
}

fn find(hay: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    hay.get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p + from)
}

/// Every occurrence of node `id` in a workflow, declaration first.
pub fn occurrences(wf: &Workflow, id: &str) -> Vec<Occurrence> {
    let mut out = Vec::new();
    if let Some(n) = wf.node(id) {
        out.push(Occurrence {
            span: ident_span(&n.identifier),
            is_declaration: true,
        });
    }
    for c in &wf.connections {
        for end in [&c.source, &c.target] {
            // In a chain `a -> b -> c`, `b` ends one connection and starts the next at the
            // same place: name it once (rename edits must not overlap).
            let span = ident_span(end);
            if end.value == id && !out.iter().any(|o| o.span == span) {
                out.push(Occurrence {
                    span,
                    is_declaration: false,
                });
            }
        }
    }
    for q in crate::check::jq_sites(wf) {
        for (name, span) in output_refs(q) {
            if name == id {
                out.push(Occurrence {
                    span,
                    is_declaration: false,
                });
            }
        }
    }
    out
}

/// The span of a name without surrounding quotes (JSON strings, quoted identifiers).
fn ident_span(n: &ir::Name) -> Span {
    let s = n.span;
    if s.len() == n.value.len() + 2 {
        Span::new(s.start + 1, s.end - 1)
    } else {
        s
    }
}

/// The workflow and node identifier at `offset`, if the offset is on a node's name anywhere.
pub fn node_name_at(module: &Module, offset: usize) -> Option<(&Workflow, String)> {
    for wf in &module.workflows {
        let ids = wf.nodes.iter().map(|n| n.identifier.value.as_str());
        for id in ids {
            if occurrences(wf, id)
                .iter()
                .any(|o| o.span.start <= offset && offset <= o.span.end)
            {
                return Some((wf, id.to_string()));
            }
        }
    }
    None
}

/// Where the node named at `offset` is declared.
pub fn definition(module: &Module, offset: usize) -> Option<Span> {
    let (wf, id) = node_name_at(module, offset)?;
    wf.node(&id).map(|n| ident_span(&n.identifier))
}

/// Every place the node named at `offset` is named, its declaration included.
pub fn references(module: &Module, offset: usize) -> Vec<Span> {
    match node_name_at(module, offset) {
        Some((wf, id)) => occurrences(wf, &id).into_iter().map(|o| o.span).collect(),
        None => Vec::new(),
    }
}

/// The edits that rename the node at `offset` to `new_name`, or why it cannot be done.
pub fn rename(
    module: &Module,
    offset: usize,
    new_name: &str,
) -> Result<Vec<(Span, String)>, String> {
    let Some((wf, id)) = node_name_at(module, offset) else {
        return Err("put the cursor on a node's identifier".into());
    };
    if new_name.is_empty()
        || !new_name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "@_:-".contains(c))
    {
        return Err(format!(
            "`{new_name}` is not a valid node identifier: use letters, digits and `@ _ : -`"
        ));
    }
    if wf.node(new_name).is_some() {
        return Err(format!("a node called `{new_name}` already exists"));
    }
    Ok(occurrences(wf, &id)
        .into_iter()
        .map(|o| (o.span, new_name.to_string()))
        .collect())
}

/// Hover text (Markdown) and the span it describes.
#[derive(Debug, Clone, PartialEq)]
pub struct Hover {
    pub span: Span,
    pub markdown: String,
}

/// What to show when hovering `offset`: a node (kind, title, what it outputs) or a cron
/// schedule (in words, with its next three fire times after `now`).
pub fn hover(
    module: &Module,
    catalog: &Catalog,
    offset: usize,
    now: chrono::DateTime<chrono::Utc>,
) -> Option<Hover> {
    for wf in &module.workflows {
        for n in &wf.nodes {
            if let NodeConfig::ScheduleTrigger(s) = &n.config
                && s.cron.span.start <= offset
                && offset <= s.cron.span.end
            {
                return Some(Hover {
                    span: s.cron.span,
                    markdown: cron_hover(&s.cron.value, now),
                });
            }
        }
    }
    if let Some(h) = crate::concurrency::hover(module, offset) {
        return Some(h);
    }
    if let Some(h) = crate::retry::hover(module, offset) {
        return Some(h);
    }
    if let Some(h) = crate::parallel::hover(module, offset) {
        return Some(h);
    }
    let typed = crate::dataflow::type_at(module, catalog, offset);
    let node = node_hover(module, offset);
    match (typed, node) {
        (Some(t), node) => {
            let mut md = format!("`{}`", t.ty);
            if let Some(origin) = &t.origin {
                md.push_str(&format!("\n\nfrom {origin}"));
            }
            if let Some(n) = node {
                md.push_str(&format!("\n\n---\n\n{}", n.markdown));
            }
            Some(Hover {
                span: t.span,
                markdown: md,
            })
        }
        (None, node) => node,
    }
}

/// The hover of a node named at `offset`: its kind, title and what the kind does.
fn node_hover(module: &Module, offset: usize) -> Option<Hover> {
    let (wf, id) = node_name_at(module, offset)?;
    let node = wf.node(&id)?;
    let span = occurrences(wf, &id)
        .into_iter()
        .map(|o| o.span)
        .find(|s| s.start <= offset && offset <= s.end)?;
    let kind = wflow_stdlib::get().kind(node.config.type_name());
    let mut md = format!(
        "**{}** `{}`",
        kind.map_or("node", |k| k.keyword.as_str()),
        node.identifier.value
    );
    if let Some(t) = &node.title {
        md.push_str(&format!(" — {}", t.value));
    }
    md.push_str(&format!("\n\n`{}`", node.config.type_name()));
    if let Some(k) = kind {
        md.push_str(&format!(": {}", k.doc));
    }
    Some(Hover { span, markdown: md })
}

fn cron_hover(expr: &str, now: chrono::DateTime<chrono::Utc>) -> String {
    match crate::cron::Schedule::parse(expr) {
        Ok(s) => {
            let mut md = format!("`{expr}`: {} (UTC)\n\nNext runs:", s.describe());
            let mut t = now;
            for _ in 0..3 {
                match s.next_after(t) {
                    Some(next) => {
                        md.push_str(&format!("\n- {}", next.format("%Y-%m-%d %H:%M UTC")));
                        t = next;
                    }
                    None => break,
                }
            }
            md
        }
        Err(issues) => {
            let why: Vec<String> = issues.into_iter().map(|i| i.message).collect();
            format!("`{expr}`: not a valid schedule ({})", why.join("; "))
        }
    }
}

/// A completion item.
#[derive(Debug, Clone, PartialEq)]
pub struct Completion {
    pub label: String,
    pub detail: String,
    pub kind: CompletionKind,
}

/// What a completion inserts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompletionKind {
    Node,
    Keyword,
    Field,
}

/// Completions at `offset`: node identifiers after `.outputs.`, node kinds in a workflow body,
/// a node kind's fields in its body.
pub fn completions(
    module: &Module,
    catalog: &Catalog,
    src: &str,
    offset: usize,
) -> Vec<Completion> {
    let before = src.get(..offset).unwrap_or("");
    let line = before.rsplit('\n').next().unwrap_or("");
    let Some(wf) = module
        .workflows
        .iter()
        .find(|w| w.span.start <= offset && offset <= w.span.end)
    else {
        return vec![Completion {
            label: "workflow".into(),
            detail: "a workflow".into(),
            kind: CompletionKind::Keyword,
        }];
    };
    if let Some((node, path)) = output_path(line) {
        return field_completions(module, catalog, wf, offset, &node, &path);
    }
    if line.ends_with(".outputs.") || line.ends_with(".outputs[\"") {
        let mut items: Vec<Completion> = wf
            .nodes
            .iter()
            .filter(|n| !(n.span.start <= offset && offset <= n.span.end))
            .map(|n| Completion {
                label: n.identifier.value.clone(),
                detail: format!(
                    "{} {}",
                    keyword(n),
                    n.title.as_ref().map_or("", |t| t.value.as_str())
                ),
                kind: CompletionKind::Node,
            })
            .collect();
        items.push(Completion {
            label: "trigger".into(),
            detail: "the trigger that fired".into(),
            kind: CompletionKind::Node,
        });
        return items;
    }
    if !line.trim().chars().all(|c| c.is_alphanumeric() || c == '_') {
        return Vec::new();
    }
    let lib = wflow_stdlib::get();
    match wf
        .nodes
        .iter()
        .find(|n| n.span.start < offset && offset < n.span.end)
    {
        Some(n) => {
            let kind = lib.kind(n.config.type_name());
            let fields = kind
                .into_iter()
                .flat_map(|k| &k.fields)
                .chain(lib.node_fields.iter().skip(2));
            let mut seen = std::collections::HashSet::new();
            fields
                .filter(|f| f.wflow != "config" && seen.insert(f.wflow.as_str()))
                .map(|f| Completion {
                    label: f.wflow.clone(),
                    detail: f.doc.clone(),
                    kind: CompletionKind::Field,
                })
                .collect()
        }
        None => lib
            .kinds
            .iter()
            .filter(|k| !k.deprecated)
            .map(|k| Completion {
                label: k.keyword.clone(),
                detail: k.doc.clone(),
                kind: CompletionKind::Keyword,
            })
            .chain(
                [
                    "flow",
                    "icon",
                    "description",
                    "category",
                    "allow_anyone_to_view_runs",
                    "timeout",
                    "defaults",
                    "concurrency",
                ]
                .map(|w| Completion {
                    label: w.into(),
                    detail: "workflow field".into(),
                    kind: CompletionKind::Field,
                }),
            )
            .collect(),
    }
}

/// `… .outputs.deploy.response.` before the cursor: the node and the fields after it.
fn output_path(line: &str) -> Option<(String, Vec<String>)> {
    let at = line.rfind(".outputs")?;
    let rest = line.get(at + ".outputs".len()..)?.strip_suffix('.')?;
    let (node, mut tail) = if let Some(r) = rest.strip_prefix("[\"") {
        let end = r.find("\"]")?;
        (r[..end].to_string(), &r[end + 2..])
    } else {
        let r = rest.strip_prefix('.')?;
        let end = r.find('.').unwrap_or(r.len());
        (r[..end].to_string(), &r[end..])
    };
    let mut path = Vec::new();
    while let Some(r) = tail.strip_prefix('.') {
        let end = r.find('.').unwrap_or(r.len());
        path.push(r[..end].to_string());
        tail = &r[end..];
    }
    let plain =
        |s: &str| !s.is_empty() && s.chars().all(|c| c.is_alphanumeric() || "_-@:".contains(c));
    (plain(&node)
        && path
            .iter()
            .all(|p| p.chars().all(|c| c.is_alphanumeric() || c == '_')))
    .then_some((node, path))
}

/// The fields of `.outputs.<node>.<path…>` as completions.
fn field_completions(
    module: &Module,
    catalog: &Catalog,
    wf: &Workflow,
    offset: usize,
    node: &str,
    path: &[String],
) -> Vec<Completion> {
    use crate::types::Type;
    let outputs = crate::dataflow::output_types(module, catalog, offset);
    let mut ty = if node == "trigger" && wf.node("trigger").is_none() {
        let triggers = wf
            .nodes
            .iter()
            .filter(|n| n.config.is_trigger())
            .map(|n| n.identifier.value.as_str());
        let types: Vec<Type> = triggers
            .filter_map(|id| {
                outputs
                    .iter()
                    .find(|(n, _)| n == id)
                    .map(|(_, t)| t.clone())
            })
            .collect();
        types.into_iter().reduce(Type::join).unwrap_or_default()
    } else {
        outputs
            .into_iter()
            .find(|(n, _)| n == node)
            .map(|(_, t)| t)
            .unwrap_or_default()
    };
    for step in path {
        ty = ty
            .alternatives()
            .iter()
            .find_map(|t| match t {
                Type::Object(o) => o.field(step).cloned(),
                _ => None,
            })
            .unwrap_or_default();
    }
    ty.alternatives()
        .iter()
        .filter_map(|t| match t {
            Type::Object(o) => Some(o),
            _ => None,
        })
        .flat_map(|o| &o.fields)
        .map(|(name, t)| Completion {
            label: name.clone(),
            detail: t.to_string(),
            kind: CompletionKind::Field,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Syntax, check_source};

    const SRC: &str = include_str!("../../examples/deploy-service.wflow");

    fn at(needle: &str) -> usize {
        SRC.find(needle)
            .unwrap_or_else(|| panic!("{needle} not in example"))
    }

    #[test]
    fn outline_lists_nodes_under_the_workflow() {
        let m = check_source(SRC, Syntax::Wflow).module;
        let s = symbols(&m);
        assert_eq!(s.len(), 1);
        let names: Vec<&str> = s[0].children.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "trigger",
                "check-env",
                "deploy-prod",
                "deploy-nonprod",
                "update-status"
            ]
        );
        assert_eq!(s[0].children[1].kind, SymbolKind::Flow);
    }

    #[test]
    fn definition_and_references_follow_edges_and_jq() {
        let m = check_source(SRC, Syntax::Wflow).module;
        let use_in_flow = at("-> update-status") + 3;
        let decl = definition(&m, use_in_flow).expect("definition");
        assert_eq!(&SRC[decl.range()], "update-status");
        assert_eq!(decl.start, at("update-status \""));
        // `trigger`: declared, used in the flow, not in jq (jq says `.outputs.trigger`, the alias,
        // which is also the node's name here).
        let refs = references(&m, at("trigger ->"));
        assert!(refs.len() >= 3, "{refs:?}");
        assert!(refs.iter().all(|r| &SRC[r.range()] == "trigger"));
    }

    #[test]
    fn rename_edits_every_occurrence() {
        let m = check_source(SRC, Syntax::Wflow).module;
        let edits = rename(&m, at("check-env \""), "env-check").expect("rename");
        assert_eq!(
            edits.len(),
            4,
            "declaration, two outlets in flow, one edge into it"
        );
        assert!(
            rename(&m, at("check-env \""), "deploy-prod").is_err(),
            "name taken"
        );
        assert!(rename(&m, at("check-env \""), "bad name").is_err());
    }

    #[test]
    fn hover_explains_nodes_and_schedules() {
        let src = "workflow w {\n  schedule nightly \"Nightly\" { cron \"0 9 * * 1-5\" }\n  webhook call \"Call\" { url \"https://x\" }\n  flow { nightly -> call }\n}\n";
        let m = check_source(src, Syntax::Wflow).module;
        let now = chrono::DateTime::parse_from_rfc3339("2026-11-24T12:00:00Z")
            .map(|t| t.to_utc())
            .expect("time");
        let h =
            hover(&m, &Catalog::default(), src.find("0 9").unwrap_or(0), now).expect("cron hover");
        assert!(
            h.markdown.contains("2026-11-25 09:00 UTC"),
            "{}",
            h.markdown
        );
        assert!(
            h.markdown.contains("2026-11-27 09:00 UTC"),
            "{}",
            h.markdown
        );
        let h = hover(
            &m,
            &Catalog::default(),
            src.find("-> call").unwrap_or(0) + 4,
            now,
        )
        .expect("node hover");
        assert!(
            h.markdown.starts_with("**webhook** `call` — Call"),
            "{}",
            h.markdown
        );
    }

    #[test]
    fn hover_on_a_reference_shows_its_type_and_origin() {
        let src = "workflow w {\n  form trigger \"Go\" { input n: number \"N\" }\n  webhook call \"Call\" { url \"https://x/{{ .outputs.trigger.n }}\" }\n  flow { trigger -> call }\n}\n";
        let m = check_source(src, Syntax::Wflow).module;
        let now = chrono::DateTime::parse_from_rfc3339("2026-11-24T12:00:00Z")
            .map(|t| t.to_utc())
            .expect("time");
        let h = hover(
            &m,
            &Catalog::default(),
            src.find(".n }}").unwrap_or(0) + 1,
            now,
        )
        .expect("type hover");
        assert!(h.markdown.starts_with("`number`"), "{}", h.markdown);
        assert_eq!(&src[h.span.range()], "n");
    }

    #[test]
    fn completion_offers_output_fields_and_input_keys() {
        let src = "workflow w {\n  form trigger \"Go\" { input service: string \"S\"; input n?: number \"N\" }\n  webhook call \"Call\" { url \"https://x\" }\n  webhook next \"Next\" { url \"https://x/{{ .outputs.call.response.zz }}\"; body { a: \"{{ .outputs.trigger.service }}\" } }\n  flow { trigger -> call -> next }\n}\n";
        let m = check_source(src, Syntax::Wflow).module;
        let labels = |needle: &str| -> Vec<String> {
            let off = src.find(needle).map_or(0, |i| i + needle.len());
            completions(&m, &Catalog::default(), src, off)
                .into_iter()
                .map(|c| c.label)
                .collect()
        };
        assert_eq!(labels(".outputs.call."), ["response"]);
        assert_eq!(labels(".outputs.call.response."), ["status", "data"]);
        assert_eq!(labels(".outputs.trigger."), ["service", "n"]);
    }

    #[test]
    fn joins_have_a_hover_and_their_keywords_complete() {
        let src = include_str!("../../tests/corpus/valid/parallel-join-count.wflow");
        let m = check_source(src, Syntax::Wflow).module;
        let wait = src.find("wait 2").map_or(0, |i| i + "wait ".len());
        let h = hover(&m, &Catalog::default(), wait, chrono::Utc::now()).expect("hover");
        assert!(
            h.markdown.contains("once 2 incoming branches")
                && h.markdown.contains("`alice`, `bob`, `carol`"),
            "{}",
            h.markdown
        );
        let labels = |off| -> Vec<String> {
            completions(&m, &Catalog::default(), src, off)
                .into_iter()
                .map(|c| c.label)
                .collect()
        };
        assert!(labels(wait - "wait ".len()).contains(&"wait".to_string()));
        let top = src.find("\n\n  webhook notify").map_or(0, |i| i + 2);
        assert!(labels(top).contains(&"join".to_string()));
    }

    #[test]
    fn completion_offers_nodes_kinds_and_fields() {
        let m = check_source(SRC, Syntax::Wflow).module;
        let src = SRC.replace(
            "url \"https://api.example.com/deploy\"",
            "url \"{{ .outputs.",
        );
        let off = src
            .find("{{ .outputs.\n")
            .map_or(0, |i| i + "{{ .outputs.".len());
        let labels: Vec<String> = completions(&m, &Catalog::default(), &src, off)
            .into_iter()
            .map(|c| c.label)
            .collect();
        assert!(labels.contains(&"check-env".to_string()), "{labels:?}");
        let in_webhook = at("    method POST");
        let fields: Vec<String> = completions(&m, &Catalog::default(), SRC, in_webhook + 4)
            .into_iter()
            .map(|c| c.label)
            .collect();
        assert!(
            fields.contains(&"on_failure".to_string()) && fields.contains(&"headers".to_string()),
            "{fields:?}"
        );
    }

    /// Hover and completion read the workspace's blueprints: a catalog event's entity is typed
    /// and its properties offered from its blueprint.
    #[test]
    fn hover_and_completion_know_the_catalog() {
        let blueprint = r#"{"identifier": "service", "title": "Service", "schema": {"properties": {
            "tier": {"type": "string", "enum": ["gold", "silver"]}, "replicas": {"type": "number"}}}}"#;
        let catalog = Catalog::new(vec![
            crate::catalog::Blueprint::from_port_json(blueprint).expect("blueprint"),
        ]);
        let src = r#"workflow w "W" {
  event trigger "Changed" { on ENTITY_UPDATED service }
  webhook call "Call" {
    url "https://example.com/{{ .outputs.trigger.diff.after.properties.tier }}"
  }
  flow { trigger -> call }
}
"#;
        let m = crate::check_source_with(src, Syntax::Wflow, &catalog).module;
        let tier = src.find("tier }}").expect("tier");
        let typed = hover(&m, &catalog, tier, chrono::Utc::now()).expect("hover");
        assert!(typed.markdown.starts_with("`string"), "{}", typed.markdown);
        let without = hover(&m, &Catalog::default(), tier, chrono::Utc::now());
        assert_ne!(without.map(|h| h.markdown), Some(typed.markdown));
        let labels: Vec<String> = completions(&m, &catalog, src, tier)
            .into_iter()
            .map(|c| c.label)
            .collect();
        assert!(
            labels.contains(&"tier".to_string()) && labels.contains(&"replicas".to_string()),
            "{labels:?}"
        );
    }
}

/// What a jq token is, for semantic highlighting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    Keyword,
    Property,
    Variable,
    String,
    Number,
    Function,
    Operator,
}

const JQ_KEYWORDS: &[&str] = &[
    "def", "if", "then", "elif", "else", "end", "as", "reduce", "foreach", "try", "catch", "label",
    "import", "include", "and", "or", "not", "true", "false", "null",
];

/// The tokens of every jq expression in the file (inside `{{ }}` templates, backticks and
/// jqQuery values), in source order, for editors that highlight by semantic tokens.
pub fn jq_tokens(module: &Module) -> Vec<(Span, TokenKind)> {
    let mut out = Vec::new();
    for wf in &module.workflows {
        for q in crate::check::jq_sites(wf) {
            for (range, kind) in lex_jq(&q.code) {
                out.push((q.source_span(range), kind));
            }
        }
    }
    out.sort_by_key(|(s, _)| s.start);
    out.dedup_by_key(|(s, _)| s.start);
    out
}

/// A small jq lexer for highlighting (not for checking: that is jaq's parser in `jq`).
fn lex_jq(code: &str) -> Vec<(std::ops::Range<usize>, TokenKind)> {
    let bytes = code.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let word_end = |from: usize| {
        code[from..]
            .find(|c: char| !(c.is_alphanumeric() || c == '_'))
            .map_or(code.len(), |n| from + n)
    };
    while let Some(&b) = bytes.get(i) {
        match b {
            b'"' => {
                let start = i;
                i += 1;
                while let Some(&c) = bytes.get(i) {
                    i += 1;
                    match c {
                        b'\\' => i += 1,
                        b'"' => break,
                        _ => {}
                    }
                }
                out.push((start..i.min(code.len()), TokenKind::String));
            }
            b'.' if bytes
                .get(i + 1)
                .is_some_and(|c| c.is_ascii_alphabetic() || *c == b'_') =>
            {
                let end = word_end(i + 1);
                out.push((i..end, TokenKind::Property));
                i = end;
            }
            b'$' => {
                let end = word_end(i + 1);
                out.push((i..end, TokenKind::Variable));
                i = end.max(i + 1);
            }
            b'0'..=b'9' => {
                let end = code[i..]
                    .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == 'e' || c == 'E'))
                    .map_or(code.len(), |n| i + n);
                out.push((i..end, TokenKind::Number));
                i = end;
            }
            b'#' => {
                // A jq comment runs to the end of the line.
                i = code[i..].find('\n').map_or(code.len(), |n| i + n);
            }
            c if c.is_ascii_alphabetic() || c == b'_' || c == b'@' => {
                let end = word_end(i + 1);
                let word = &code[i..end];
                let kind = if JQ_KEYWORDS.contains(&word) {
                    TokenKind::Keyword
                } else {
                    TokenKind::Function
                };
                out.push((i..end, kind));
                i = end;
            }
            b'|' | b'=' | b'!' | b'<' | b'>' | b'+' | b'-' | b'*' | b'/' | b'%' | b'?' => {
                let end = code[i..]
                    .find(|c: char| !"|=!<>+-*/%?".contains(c))
                    .map_or(code.len(), |n| i + n);
                out.push((i..end, TokenKind::Operator));
                i = end;
            }
            _ => i += code[i..].chars().next().map_or(1, char::len_utf8),
        }
    }
    out
}

#[cfg(test)]
mod token_tests {
    use super::*;

    #[test]
    fn jq_is_tokenised_with_kinds() {
        let toks = lex_jq(r#".a.b | select(.x == "y") // $v + 10 and not"#);
        let kinds: Vec<TokenKind> = toks.iter().map(|(_, k)| *k).collect();
        use TokenKind::*;
        assert_eq!(
            kinds,
            [
                Property, Property, Operator, Function, Property, Operator, String, Operator,
                Variable, Operator, Number, Keyword, Keyword
            ]
        );
    }

    #[test]
    fn tokens_map_into_the_source() {
        let src = "workflow w {\n  schedule s \"S\" { cron \"0 9 * * 1\" }\n  webhook a \"A\" { url \"https://x/{{ .workflow.identifier }}\" }\n  flow { s -> a }\n}\n";
        let m = crate::check_source(src, crate::Syntax::Wflow).module;
        let toks = jq_tokens(&m);
        let texts: Vec<&str> = toks.iter().map(|(s, _)| &src[s.range()]).collect();
        assert_eq!(texts, [".workflow", ".identifier"]);
    }
}
