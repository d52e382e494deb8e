//! Forms computed by jq, through `wflow serve`: the form state the web UI asks for as a person
//! types (`POST /v1/workflows/{id}/form`), and the same rules enforced on the start of a run
//! (one verdict): entity choices filtered by `dataset`, an `enum` and `required` computed from
//! other inputs, `visible`, `disabled` inputs left out, and the form's `validations`.

mod support;

use serde_json::json;
use support::{Reaper, Scratch, start};

const WORKFLOW: &str = r#"workflow rollout "Rollout" {
  form trigger "Roll out" {
    input service: entity(service) "Service" {
      dataset { combinator: "and", rules: [{ property: "lifecycle", operator: "=", value: "Production" }] }
    }
    input region: string "Region" {
      enum `if .form.service.properties.multiRegion then ["eu", "us", "all"] else ["eu"] end`
    }
    input notify?: boolean "Notify on-call" { visible `.form.region == "all"` }
    input reason?: string "Reason" { disabled `.form.region == "eu"` }
    input replicas?: number "Replicas" { default 2 }
    required `if .form.region == "all" then ["service", "region", "notify"] else ["service", "region"] end`
    validate `.form.replicas < 5 or .form.region != "all"` "All regions take at most 4 replicas"
  }
  webhook call "Call" { url "http://127.0.0.1:9/rollout" }
  flow { trigger -> call }
}
"#;

use support::post_json as post;

#[tokio::test(flavor = "multi_thread")]
async fn the_form_state_and_the_start_of_a_run_apply_the_same_jq_rules() {
    let dir = Scratch::new("forms");
    let flows = dir.0.join("flows");
    std::fs::create_dir_all(&flows).expect("dir");
    std::fs::write(flows.join("rollout.wflow"), WORKFLOW).expect("write");
    let server = start(&dir.0, &flows);
    let _reaper = Reaper(vec![server.child.id()]);
    let http = reqwest::Client::new();
    let at = |p: &str| format!("{}{p}", server.addr);
    let bp = json!({"identifier": "service", "title": "Service", "schema": {"properties": {
        "lifecycle": {"type": "string"}, "multiRegion": {"type": "boolean"}}}});
    let put = http
        .put(at("/v1/blueprints/service"))
        .json(&bp)
        .send()
        .await
        .expect("put");
    assert!(put.status().is_success());
    for (id, lifecycle, multi) in [("api", "Production", true), ("old", "Retired", false)] {
        let e =
            json!({"identifier": id, "properties": {"lifecycle": lifecycle, "multiRegion": multi}});
        let (status, body) = post(&http, at("/v1/blueprints/service/entities"), e).await;
        assert_eq!(status, 201, "{body}");
    }

    let form = at("/v1/workflows/rollout/form");
    let (status, empty) = post(&http, form.clone(), json!({})).await;
    assert_eq!(status, 200, "{empty}");
    let inputs = &empty["form"]["inputs"];
    assert_eq!(
        inputs["service"]["entities"],
        json!([{"identifier": "api", "title": null}]),
        "the retired service is outside the dataset"
    );
    assert_eq!(inputs["region"]["enum"], json!(["eu"]));
    assert_eq!(inputs["notify"]["visible"], false);
    assert_eq!(inputs["replicas"]["default"], 2);
    assert_eq!(inputs["service"]["required"], true);
    assert_eq!(inputs["notify"]["required"], false);

    let typed = json!({"inputs": {"service": "api", "region": "all"}});
    let (_, all) = post(&http, form.clone(), typed).await;
    let inputs = &all["form"]["inputs"];
    assert_eq!(
        inputs["region"]["enum"],
        json!(["eu", "us", "all"]),
        "the enum reads the chosen entity's properties"
    );
    assert_eq!(inputs["notify"]["visible"], true);
    assert_eq!(inputs["notify"]["required"], true);
    let (_, eu) = post(&http, form, json!({"inputs": {"region": "eu"}})).await;
    assert_eq!(eu["form"]["inputs"]["reason"]["disabled"], true);

    let runs = at("/v1/workflows/rollout/runs");
    let bad = json!({"inputs": {"service": "old", "region": "all", "replicas": 9}});
    let (status, refused) = post(&http, runs.clone(), bad).await;
    assert_eq!(status, 422, "{refused}");
    let pointers: Vec<&str> = refused["problems"]
        .as_array()
        .expect("problems")
        .iter()
        .filter_map(|p| p["pointer"].as_str())
        .collect();
    assert_eq!(
        pointers,
        [
            "/inputs/notify",
            "/inputs/region",
            "/inputs/service",
            "/inputs"
        ],
        "{refused}"
    );
    assert!(
        refused["message"]
            .as_str()
            .is_some_and(|m| m.contains("All regions take at most 4 replicas")),
        "{refused}"
    );

    let odd = json!({"nodeIdentifier": 5, "inputs": {"region": "eu"}});
    let (status, refused) = post(&http, runs.clone(), odd).await;
    assert_eq!(status, 422, "{refused}");
    let pointers: Vec<&str> = refused["problems"]
        .as_array()
        .expect("problems")
        .iter()
        .filter_map(|p| p["pointer"].as_str())
        .collect();
    assert_eq!(
        pointers,
        ["/nodeIdentifier", "/inputs/service"],
        "every problem at once: {refused}"
    );

    let good = json!({"inputs": {"service": "api", "region": "eu", "reason": "dropped"}});
    let (status, started) = post(&http, runs, good).await;
    assert_eq!(status, 201, "{started}");
    assert_eq!(
        started["run"]["variables"]["outputs"]["trigger"],
        json!({"service": "api", "region": "eu", "replicas": 2}),
        "a disabled input is left out of the run; defaults are filled in"
    );
}
