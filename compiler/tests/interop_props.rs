//! Property tests of the Port interop: for generated workflows, export then import gives back
//! the same IR, and so does printing to `.wflow` and reading that back.

use proptest::prelude::*;
use serde_json::{Value as J, json};
use wflow_compiler::export::{PortSchema, export};
use wflow_compiler::{Syntax, check_source, ir, print};

/// Identifiers: mostly plain names, sometimes ones `.wflow` must quote.
fn ident() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[a-z][a-z0-9_-]{0,8}",
        1 => "[a-z][a-z :.]{0,6}[a-z]",
    ]
}

/// Free text: quotes, backslashes, newlines, non-ASCII, braces and `{{ }}` templates.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[ -~]{0,20}",
        "[a-zé\"\\\\\n\t{}]{0,12}",
        ("[a-z ]{0,8}", "[a-z]{1,6}", "[a-z ]{0,8}")
            .prop_map(|(a, b, c)| format!("{a}{{{{ .outputs.trigger.{b} }}}}{c}")),
        Just("{{ .secrets[\"api-token\"] }}".to_string()),
    ]
}

/// Any JSON value (no `{"jqQuery"}` objects: Port reads those as plain objects there).
fn json_value() -> impl Strategy<Value = J> {
    let leaf = prop_oneof![
        Just(J::Null),
        any::<bool>().prop_map(J::from),
        (-1000i64..1000).prop_map(J::from),
        text().prop_map(J::from),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(J::Array),
            prop::collection::btree_map("[a-zA-Z][a-zA-Z0-9_-]{0,6}", inner, 0..4)
                .prop_map(|m| J::Object(m.into_iter().collect())),
        ]
    })
}

fn jq() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z]{1,6}".prop_map(|k| format!(".outputs.trigger.{k} == \"x\"")),
        Just(".outputs.trigger.n > 1 // false".to_string()),
        Just("(.outputs.trigger.a | length) > 0\n  and true".to_string()),
    ]
}

fn input() -> impl Strategy<Value = (String, J)> {
    let schema = prop_oneof![
        text().prop_map(|t| json!({"type": "string", "title": t})),
        (0i64..10).prop_map(|m| json!({"type": "number", "minimum": m, "default": m + 1})),
        Just(json!({"type": "boolean", "default": true})),
        ident().prop_map(|b| json!({"type": "string", "format": "entity", "blueprint": b})),
        Just(json!({"type": "array", "items": {"type": "string", "format": "user"}})),
        Just(
            json!({"type": "string", "enum": ["a", "b"], "visible": {"jqQuery": ".form.x != null"}})
        ),
    ];
    ("[a-z][a-zA-Z0-9]{0,6}", schema)
}

fn trigger() -> impl Strategy<Value = J> {
    prop_oneof![
        (
            prop::collection::btree_map("[a-z][a-zA-Z0-9]{0,6}", input().prop_map(|(_, s)| s), 0..4),
            any::<bool>(),
        )
            .prop_map(|(inputs, required_all)| {
                let keys: Vec<&String> = inputs.keys().collect();
                let required: Vec<&String> =
                    keys.iter().copied().filter(|_| required_all).rev().collect();
                let mut form = json!({"properties": inputs});
                if !required.is_empty() {
                    form["required"] = json!(required);
                }
                json!({"type": "SELF_SERVE_TRIGGER", "userInputs": form, "permissions": {"roles": ["Member"]}})
            }),
        Just(json!({"type": "SCHEDULE_TRIGGER", "cron": "0 9 * * 1-5"})),
        (ident(), jq()).prop_map(|(bp, q)| json!({
            "type": "EVENT_TRIGGER",
            "event": {"type": "ENTITY_UPDATED", "blueprintIdentifier": bp},
            "condition": {"type": "JQ", "expressions": [q], "combinator": "or"}
        })),
    ]
}

fn action() -> impl Strategy<Value = J> {
    prop_oneof![
        (text(), json_value(), prop::option::of(json_value()), any::<bool>()).prop_map(
            |(url, body, header, cont)| {
                let mut c = json!({"type": "WEBHOOK", "url": format!("https://x.example/{url}"), "method": "PUT", "body": body});
                if let Some(h) = header {
                    c["headers"] = json!({"X-Value": h});
                }
                if cont {
                    c["onFailure"] = json!("continue");
                }
                c
            }
        ),
        json_value().prop_map(|p| json!({"type": "KAFKA", "payload": p})),
        (ident(), text()).prop_map(|(bp, t)| json!({
            "type": "UPSERT_ENTITY",
            "blueprintIdentifier": bp,
            "mapping": {"identifier": t, "properties": {"x": t}}
        })),
        (text(), prop::option::of(text())).prop_map(|(p, s)| {
            let mut c = json!({"type": "AI", "userPrompt": p, "tools": ["get_.*"], "mcpServers": [{"identifier": "github"}]});
            if let Some(s) = s {
                c["systemPrompt"] = json!(s);
            }
            c
        }),
        (ident(), ident()).prop_map(|(org, repo)| json!({
            "type": "INTEGRATION_ACTION",
            "installationId": "gh",
            "integrationProvider": "github-ocean",
            "integrationInvocationType": "dispatch_workflow",
            "integrationActionExecutionProperties": {"org": org, "repo": repo, "workflow": "ci.yml"}
        })),
    ]
}

/// A branching node: a condition with outlets or an approval with buttons.
fn branch() -> impl Strategy<Value = (J, Vec<String>)> {
    let outlets = || prop::collection::btree_set(ident(), 1..3);
    prop_oneof![
        (outlets(), jq(), prop::option::of(text())).prop_map(|(ids, q, title)| {
            let list: Vec<J> = ids
                .iter()
                .map(|id| {
                    let mut o = json!({"identifier": id, "expression": q});
                    if let Some(t) = &title {
                        o["title"] = json!(t);
                    }
                    o
                })
                .collect();
            (json!({"type": "CONDITION", "outlets": list}), ids.into_iter().collect())
        }),
        (outlets(), 1u64..4).prop_map(|(ids, n)| {
            let buttons: Vec<J> = ids
                .iter()
                .map(|id| json!({"identifier": id, "label": format!("Do {id}"), "variant": "PRIMARY"}))
                .collect();
            let outlets: Vec<J> = ids
                .iter()
                .map(|id| json!({"evaluationMethod": "button", "identifier": id, "title": format!("Do {id}"), "numOfResponders": n}))
                .collect();
            let config = json!({
                "type": "INPUT",
                "description": "Approve?",
                "userInputs": {"properties": {"reason": {"type": "string"}}, "buttons": buttons},
                "outlets": outlets,
                "responders": {"users": ["a@example.com"], "roles": []}
            });
            (config, ids.into_iter().collect())
        }),
    ]
}

/// A whole workflow: a trigger, a branching node, and an action after each branch.
fn workflow() -> impl Strategy<Value = J> {
    (
        ident(),
        prop::option::of(text()),
        trigger(),
        branch(),
        prop::collection::vec(action(), 3),
        prop::option::of(text()),
    )
        .prop_map(|(id, title, trigger, (branch, outlets), actions, description)| {
            let mut nodes = vec![
                json!({"identifier": "trigger", "config": trigger}),
                json!({"identifier": "branch", "title": "Branch", "config": branch}),
            ];
            let mut connections = vec![json!({"sourceIdentifier": "trigger", "targetIdentifier": "branch"})];
            for (i, (outlet, action)) in outlets.iter().zip(actions).enumerate() {
                let target = format!("act{i}");
                nodes.push(json!({"identifier": target, "config": action, "variables": {"v": "{{ .result }}"}}));
                let mut c = json!({"sourceIdentifier": "branch", "targetIdentifier": target, "sourceOutletIdentifier": outlet});
                if let Some(d) = &description {
                    c["description"] = json!(d);
                }
                connections.push(c);
            }
            let mut wf = json!({"identifier": id, "nodes": nodes, "connections": connections});
            if let Some(t) = title {
                wf["title"] = json!(t);
            }
            wf
        })
}

fn ir_json(m: &ir::Module) -> J {
    serde_json::to_value(m).expect("the IR serialises")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn export_then_import_is_the_identity_on_the_ir(wf in workflow()) {
        let checked = check_source(&wf.to_string(), Syntax::Json);
        prop_assume!(!checked.has_errors() || print::unreadable(&checked.diagnostics).is_empty());
        let module = checked.module;
        let newest = |m: &ir::Module| -> Vec<J> {
            m.workflows.iter().map(|w| export(w, PortSchema::Newest).expect("exports")).collect()
        };
        let exported = newest(&module);
        let back = check_source(&J::Array(exported.clone()).to_string(), Syntax::Json).module;
        prop_assert_eq!(ir_json(&back), ir_json(&module));
        // The beta schema names things differently; through it, the newest export is unchanged.
        let legacy: Vec<J> = module
            .workflows
            .iter()
            .map(|w| export(w, PortSchema::Legacy).expect("exports"))
            .collect();
        let back = check_source(&J::Array(legacy).to_string(), Syntax::Json).module;
        prop_assert_eq!(newest(&back), exported);
    }

    #[test]
    fn printing_then_reading_is_the_identity_on_the_ir(wf in workflow()) {
        let src = wf.to_string();
        let checked = check_source(&src, Syntax::Json);
        prop_assume!(print::unreadable(&checked.diagnostics).is_empty());
        let text = print::import(&src).map_err(|e| TestCaseError::fail(format!("{e:?}")))?;
        let back = check_source(&text, Syntax::Wflow).module;
        prop_assert_eq!(ir_json(&back), ir_json(&checked.module), "{}", text);
        prop_assert_eq!(print::format(&text).map_err(|e| TestCaseError::fail(format!("{e:?}")))?, text);
    }
}
