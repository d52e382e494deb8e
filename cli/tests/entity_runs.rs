//! Runs started from a catalog entity (a form's `context ENTITY <input>`): `wflow exec
//! --entity BLUEPRINT/ID` and the API's `entity`, the input filled from the entity and checked
//! against the catalog, each refusal saying why.

mod support;

use serde_json::{Value as Json, json};
use support::{Reaper, Scratch, deliveries, recording_server, start, text, wflow};

fn workflow(base: &str) -> String {
    format!(
        r#"workflow restart "Restart" {{
  form trigger "Restart" {{
    context ENTITY service
    input service: entity(service) "Service"
    input reason?: string "Reason"
  }}
  webhook call "Call" {{ url "{base}/restart/{{{{ .outputs.trigger.service }}}}" }}
  flow {{ trigger -> call }}
}}
"#
    )
}

const CATALOG: &str = r#"[
  {"identifier": "service", "title": "Service", "schema": {"properties": {"tier": {"type": "string"}}}},
  {"identifier": "payments", "blueprint": "service", "title": "Payments", "properties": {"tier": "gold"}}
]"#;

#[tokio::test(flavor = "multi_thread")]
async fn exec_starts_a_run_from_an_entity_of_the_catalog() {
    let (base, seen) = recording_server().await;
    let d = Scratch::new("entity-exec");
    std::fs::write(d.0.join("restart.wflow"), workflow(&base)).expect("write");
    std::fs::write(d.0.join("catalog.json"), CATALOG).expect("write");
    let o = wflow(&d.0, &["catalog", "load", "catalog.json"]).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));

    let o = wflow(
        &d.0,
        &["exec", "restart.wflow", "--entity", "service/payments"],
    )
    .await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(deliveries(&seen, "/restart/payments").len(), 1);

    // An entity that is not in the catalog, another blueprint, a clash with an input.
    for (args, says) in [
        (
            vec!["--entity", "service/ghost"],
            "\"ghost\" is not an entity this input offers",
        ),
        (
            vec!["--entity", "team/payments"],
            "no ENTITY context of this trigger takes a `team` entity",
        ),
        (
            vec!["--entity", "payments", "-i", "service=other"],
            "input `service` is \"other\", but the run starts from entity `payments`",
        ),
    ] {
        let mut all = vec!["exec", "restart.wflow"];
        all.extend(args);
        let o = wflow(&d.0, &all).await;
        assert_eq!(o.status.code(), Some(2), "{all:?}: {}", text(&o));
        assert!(text(&o).contains(says), "{all:?}: {}", text(&o));
    }
    assert_eq!(deliveries(&seen, "/restart/ghost").len(), 0);
}

use support::post_json as post;

#[tokio::test(flavor = "multi_thread")]
async fn the_api_starts_a_run_from_an_entity() {
    let (base, seen) = recording_server().await;
    let dir = Scratch::new("entity-api");
    let flows = dir.0.join("flows");
    std::fs::create_dir_all(&flows).expect("dir");
    std::fs::write(flows.join("restart.wflow"), workflow(&base)).expect("write");
    std::fs::write(
        flows.join("plain.wflow"),
        format!(
            "workflow plain \"Plain\" {{\n  form trigger \"Go\" {{ input service: entity(service) \"S\" }}\n  webhook call \"Call\" {{ url \"{base}/plain\" }}\n  flow {{ trigger -> call }}\n}}\n"
        ),
    )
    .expect("write");
    let server = start(&dir.0, &flows);
    let _reaper = Reaper(vec![server.child.id()]);
    let http = reqwest::Client::new();
    let at = |p: &str| format!("{}{p}", server.addr);
    let docs: Json = serde_json::from_str(CATALOG).expect("catalog");
    let put = http
        .put(at("/v1/blueprints/service"))
        .json(&docs[0])
        .send()
        .await
        .expect("put");
    assert!(put.status().is_success());
    let (status, body) = post(
        &http,
        at("/v1/blueprints/service/entities"),
        docs[1].clone(),
    )
    .await;
    assert_eq!(status, 201, "{body}");

    let (status, body) = post(
        &http,
        at("/v1/workflows/restart/runs"),
        json!({"entity": "service/payments", "inputs": {"reason": "stuck"}}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let run = body["run"]["identifier"]
        .as_str()
        .expect("run id")
        .to_string();
    for _ in 0..100 {
        if !deliveries(&seen, "/restart/payments").is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(deliveries(&seen, "/restart/payments").len(), 1, "run {run}");

    // Each refusal names the part of the body it is about.
    for (workflow, body, pointer, says) in [
        (
            "restart",
            json!({"entity": "ghost"}),
            "/inputs/service",
            "is not an entity this input offers",
        ),
        (
            "restart",
            json!({"entity": "payments", "inputs": {"service": "other"}}),
            "/entity",
            "but the run starts from entity `payments`",
        ),
        (
            "restart",
            json!({"entity": 7}),
            "/entity",
            "must be the identifier of the entity",
        ),
        (
            "plain",
            json!({"entity": "payments"}),
            "/entity",
            "has no ENTITY context",
        ),
    ] {
        let (status, answer) = post(
            &http,
            at(&format!("/v1/workflows/{workflow}/runs")),
            body.clone(),
        )
        .await;
        assert_eq!(status, 422, "{body}: {answer}");
        let problems = answer["problems"].as_array().expect("problems");
        assert!(
            problems.iter().any(|p| p["pointer"] == pointer
                && p["message"].as_str().is_some_and(|m| m.contains(says))),
            "{body}: {answer}"
        );
    }
    assert!(deliveries(&seen, "/plain").is_empty());
}
