//! Every workflow of Port's documentation (`../shared/docs/port-examples/`) that has a trigger
//! and checks without errors runs to SUCCESS: its `https://` hosts point at a loopback server,
//! its form gets valid inputs, its event trigger a catalog event that passes its condition,
//! its approvals enough responses, and its upserts a blueprint in the local catalog.

mod support;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::http::Uri;
use serde_json::{Map, Value as Json, json};
use support::on_loopback;
use wflow_compiler::ir::{Form, InputSchema, NodeConfig};
use wflow_compiler::{Syntax, check_source};
use wflow_engine::control::{Answer, Responded};
use wflow_engine::engine::Conclusion;
use wflow_engine::{Config, Engine, Plan, Quiet, Secrets, Store, inputs};
use wflow_store::Write;

/// The examples, or None (with a notice) when this checkout does not have them.
fn examples() -> Option<Vec<PathBuf>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/docs/port-examples");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        eprintln!("skipping: {} is not there", dir.display());
        return None;
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    Some(files)
}

/// A loopback server answering 200 `{"ok": true, "entities": []}` to everything; returns its
/// base URL and the paths it was sent.
async fn server() -> (String, Arc<Mutex<Vec<String>>>) {
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let log = Arc::clone(&seen);
    let app = axum::Router::new().fallback(move |uri: Uri, _body: Bytes| {
        let log = Arc::clone(&log);
        async move {
            log.lock().expect("lock").push(uri.path().to_string());
            json!({"ok": true, "entities": []}).to_string()
        }
    });
    (on_loopback(app).await, seen)
}

/// `src` with every `https://host` replaced by `base`.
fn to_loopback(src: &str, base: &str) -> String {
    let re = regex::Regex::new(r#"https://[^/"\s]+"#).expect("regex");
    re.replace_all(src, base).into_owned()
}

/// A valid value for an input.
fn sample(s: &InputSchema) -> Json {
    if let Some(Json::Array(values)) = s.enum_values.as_ref().map(|v| v.to_json()) {
        return values.first().cloned().unwrap_or(Json::Null);
    }
    let format = s.format.as_ref().map(|f| f.value.as_str());
    match s.ty.as_ref().map(|t| t.value.as_str()) {
        Some("number") => json!(1),
        Some("boolean") => json!(true),
        Some("array") => json!([]),
        Some("object") => json!({}),
        _ => match format {
            Some("email" | "user") => json!("dev@example.com"),
            Some("url") => json!("https://example.com"),
            Some("date-time") => json!("2026-01-01T00:00:00Z"),
            Some("entity") => json!("api"),
            _ => json!("v1.2.3"),
        },
    }
}

fn form_inputs(form: &Form) -> Map<String, Json> {
    form.properties
        .iter()
        .map(|f| (f.key.value.clone(), sample(&f.schema)))
        .collect()
}

/// A catalog event that passes the documented conditions: a critical service whose status
/// changed and that has no team yet.
fn event() -> Json {
    let entity = |status: &str| {
        json!({"identifier": "api", "title": "API", "blueprint": "service",
               "properties": {"tier": "critical", "status": status, "ttl": "2026-01-01T00:00:00Z"},
               "relations": {}})
    };
    json!({"action": "UPDATE",
           "diff": {"before": entity("healthy"), "after": entity("degraded")},
           "context": {"blueprintIdentifier": "service", "entityIdentifier": "api"}})
}

/// A blueprint for each upsert: its mapped properties as strings.
fn blueprints(plan: &Plan) -> Vec<Write> {
    plan.workflow
        .nodes
        .iter()
        .filter_map(|n| match &n.config {
            NodeConfig::UpsertEntity(u) => {
                let props: Map<String, Json> = u
                    .mapping
                    .properties
                    .iter()
                    .flatten()
                    .map(|(k, _)| (k.value.clone(), json!({"type": "string"})))
                    .collect();
                let id = u.blueprint_identifier.text.clone();
                Some(Write::PutBlueprint {
                    identifier: id.clone(),
                    body: json!({"identifier": id, "schema": {"properties": props}, "relations": {}}),
                })
            }
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn documented_workflows_run_to_success() {
    let Some(files) = examples() else { return };
    let (base, seen) = server().await;
    let dir = std::env::temp_dir().join(wflow_engine::engine::new_id("wflow-examples-"));
    std::fs::create_dir_all(&dir).expect("dir");
    let store = Store::open(&dir.join("wflow.db")).await.expect("store");
    let engine = Engine::new(store, Config::default()).expect("engine");
    let mut ran = Vec::new();
    for path in &files {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let src = to_loopback(&std::fs::read_to_string(path).expect("read"), &base);
        let checked = check_source(&src, Syntax::Json);
        if checked.has_errors() {
            continue;
        }
        for wf in checked.module.workflows {
            if wf.fragment || !wf.nodes.iter().any(|n| n.config.is_trigger()) {
                continue;
            }
            let plan = Plan::new(wf, src.clone(), Syntax::Json, name.clone()).expect("plan");
            engine
                .store
                .apply(blueprints(&plan))
                .await
                .expect("blueprints");
            let secrets = Secrets::from_pairs(
                plan.secrets
                    .iter()
                    .map(|s| (s.clone(), format!("{base}/secret/{s}"))),
            );
            let trigger = plan.triggers().next().expect("a trigger");
            let trigger_id = trigger.identifier.value.clone();
            let payload = match &trigger.config {
                NodeConfig::SelfServeTrigger(f) => {
                    let values = inputs::validate(&f.user_inputs, &form_inputs(&f.user_inputs))
                        .unwrap_or_else(|p| panic!("{name}: generated inputs invalid: {p:?}"));
                    Json::Object(values)
                }
                NodeConfig::EventTrigger(_) => {
                    let e = event();
                    assert!(
                        engine
                            .event_matches(&plan, &trigger_id, &e)
                            .await
                            .expect("condition"),
                        "{name}: the sample event does not pass the trigger's condition"
                    );
                    e
                }
                _ => json!({}),
            };
            let mut o = engine
                .run(
                    &plan,
                    &trigger_id,
                    payload,
                    Some("dev@example.com"),
                    &secrets,
                    &Quiet,
                )
                .await
                .expect("run");
            // Approvals: the first button, pressed by as many listed responders as it needs.
            while let Some(node) = o.waiting.first().cloned() {
                let Some(NodeConfig::Input(input)) = plan.node(&node).map(|n| &n.config) else {
                    panic!("{name}: `{node}` waits but is not an approval");
                };
                let button = input.outlets[0].identifier.value.clone();
                let users: Vec<String> = input
                    .responders
                    .iter()
                    .flat_map(|r| r.users.iter().map(|u| u.value.clone()))
                    .chain((0..5).map(|i| format!("responder{i}@example.com")))
                    .collect();
                for user in users {
                    let given = form_inputs(&input.user_inputs);
                    let r = engine
                        .respond(
                            &plan,
                            &o.run_id,
                            &node,
                            &user,
                            &Answer {
                                button: &button,
                                inputs: &given,
                                secrets: &secrets,
                            },
                        )
                        .await
                        .unwrap_or_else(|e| panic!("{name}: {user} responding: {e}"));
                    if matches!(r, Responded::Decided { .. }) {
                        break;
                    }
                }
                o = engine
                    .drive(&plan, &o.run_id, &secrets, &Quiet)
                    .await
                    .expect("drive");
            }
            let run = engine
                .store
                .run(&o.run_id)
                .await
                .expect("run")
                .expect("stored");
            assert_eq!(
                o.result,
                Some(Conclusion::Success),
                "{name}: {}",
                run.error.unwrap_or_default()
            );
            let nodes = engine.store.node_runs(&o.run_id).await.expect("node runs");
            assert!(
                nodes.iter().all(|n| n.result == Some(Conclusion::Success)),
                "{name}: {nodes:#?}"
            );
            ran.push((name.clone(), nodes.len()));
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        ran.len() >= 13,
        "fewer documented workflows ran than expected: {ran:?}"
    );
    let webhooks = seen.lock().expect("lock").len();
    assert!(
        webhooks >= 12,
        "the webhooks reached the loopback server: {webhooks}"
    );
}
