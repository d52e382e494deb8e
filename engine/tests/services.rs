//! Nodes that talk to outside services: GitHub dispatches and AI completions against loopback
//! servers speaking those APIs (GitLab, Azure DevOps and Jira are in `backends.rs`), KAFKA through a recording publisher and, when
//! `WFLOW_IT_KAFKA=host:port` names a running broker (CI starts tansu), through rdkafka to the
//! broker and back. Also event-trigger conditions and approval responders by role and team.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::StatusCode;
use serde_json::{Value as Json, json};
use support::{Log, Seen, TempDir, error, new_engine, output, plan, request, run, serve};
use wflow_effects::kafka::{Delivery, Message, Publisher, Publishing};
use wflow_engine::Error;
use wflow_engine::control::{Answer, Responder};
use wflow_engine::engine::Conclusion;
use wflow_engine::settings::{Ai, Kafka, Service};
use wflow_engine::{Config, Engine, Plan, Quiet, Secrets};

const TOKEN: &str = "ghp_t0k3n-never-logged";

// --- GitHub -------------------------------------------------------------------------------

/// GitHub's dispatch and workflow-runs API. `ghes` rejects `return_run_details` with 422 as
/// GitHub Enterprise Server does; a workflow named `fail.yml` concludes `failure`, one named
/// `slow.yml` never ends; runs are `in_progress` for the first two polls.
async fn github(ghes: bool) -> (String, Log) {
    serve(move |method, path, body, seen| {
        let run = |id: u64| {
            json!({"id": id, "html_url": format!("https://github.test/acme/api/actions/runs/{id}")})
        };
        if method == "GET" && path == "/repos/acme/api" {
            return (StatusCode::OK, json!({"default_branch": "main"}));
        }
        if method == "POST" && path.ends_with("/dispatches") {
            if ghes && body.get("return_run_details").is_some() {
                return (
                    StatusCode::UNPROCESSABLE_ENTITY,
                    json!({"message": "Invalid request. \"return_run_details\" is not a permitted key."}),
                );
            }
            if ghes {
                return (StatusCode::NO_CONTENT, Json::Null);
            }
            let id = if path.contains("/fail.yml/") {
                901
            } else if path.contains("/slow.yml/") {
                902
            } else {
                900
            };
            let mut r = run(id);
            r["workflow_run_id"] = json!(id);
            r["run_url"] = json!(format!("/repos/acme/api/actions/runs/{id}"));
            return (StatusCode::OK, r);
        }
        if method == "GET" && path.contains("/actions/workflows/") && path.contains("/runs?") {
            return (StatusCode::OK, json!({"total_count": 1, "workflow_runs": [run(901)]}));
        }
        if let Some(id) = path.strip_prefix("/repos/acme/api/actions/runs/") {
            let polls = seen.iter().filter(|s| s.path == path).count();
            let mut r = run(id.parse().unwrap_or(0));
            if polls < 2 || id == "902" {
                r["status"] = json!("in_progress");
                r["conclusion"] = Json::Null;
            } else {
                r["status"] = json!("completed");
                r["conclusion"] = json!(if id == "901" { "failure" } else { "success" });
            }
            return (StatusCode::OK, r);
        }
        (StatusCode::NOT_FOUND, json!({"message": "Not Found"}))
    })
    .await
}

fn github_config(base: &str) -> Config {
    Config {
        github: Service {
            api_url: base.to_string(),
            poll_interval: Duration::from_millis(5),
        },
        ..Config::default()
    }
}

fn token() -> Secrets {
    Secrets::from_pairs([("GITHUB_TOKEN".to_string(), TOKEN.to_string())])
}

#[tokio::test]
async fn github_dispatch_polls_the_run_to_its_conclusion() {
    let (base, log) = github(false).await;
    let (engine, _dir) = new_engine(github_config(&base)).await;
    let p = plan(
        r#"workflow gh "GH" {
  form trigger "T" { input service: string "Service"; input replicas: number "Replicas" }
  github dispatch "Dispatch" {
    installation "gh"
    org "acme"; repo "api"; workflow "deploy.yml"
    inputs { service: "{{ .outputs.trigger.service }}", replicas: "{{ .outputs.trigger.replicas | tostring }}", dry: "true" }
  }
  flow { trigger -> dispatch }
}"#,
    );
    assert!(
        p.secrets.contains("GITHUB_TOKEN"),
        "the token is required: {:?}",
        p.secrets
    );
    let o = run(
        &engine,
        &p,
        json!({"service": "api", "replicas": 3}),
        &token(),
    )
    .await;
    assert_eq!(
        o.result,
        Some(Conclusion::Success),
        "{}",
        error(&engine, &o.run_id).await
    );
    assert_eq!(
        output(&engine, &o.run_id, "dispatch").await,
        json!({"runId": 900, "runUrl": "https://github.test/acme/api/actions/runs/900",
               "status": "completed", "conclusion": "success"})
    );
    let seen = log.lock().expect("lock").clone();
    let dispatch = seen
        .iter()
        .find(|s| s.method == "POST")
        .expect("a dispatch");
    assert_eq!(
        dispatch.path,
        "/repos/acme/api/actions/workflows/deploy.yml/dispatches"
    );
    assert_eq!(dispatch.auth, format!("Bearer {TOKEN}"));
    assert_eq!(
        dispatch.body,
        json!({"ref": "main", "inputs": {"service": "api", "replicas": "3", "dry": "true"},
               "return_run_details": true})
    );
    let polls = seen
        .iter()
        .filter(|s| s.path == "/repos/acme/api/actions/runs/900")
        .count();
    assert_eq!(polls, 3, "polled until completed: {seen:#?}");
    let logs = engine.store.logs(&o.run_id).await.expect("logs");
    assert!(logs.iter().all(|l| !l.message.contains(TOKEN)));
    // The node run records the properties and each distinct request, the token redacted.
    let sent = request(&engine, &o.run_id, "dispatch").await;
    assert_eq!(sent["service"], "github");
    assert!(
        sent["properties"].to_string().contains("deploy.yml"),
        "{sent}"
    );
    let requests = sent["requests"].as_array().expect("requests");
    let lines: Vec<String> = requests
        .iter()
        .map(|r| {
            format!(
                "{} {}",
                r["method"].as_str().unwrap_or("?"),
                r["url"].as_str().unwrap_or("?")
            )
        })
        .collect();
    assert!(
        lines.contains(&format!(
            "POST {base}/repos/acme/api/actions/workflows/deploy.yml/dispatches"
        )),
        "{lines:?}"
    );
    assert!(
        lines.contains(&format!("GET {base}/repos/acme/api/actions/runs/900")),
        "{lines:?}"
    );
    let post = requests
        .iter()
        .find(|r| r["method"] == "POST")
        .expect("the dispatch");
    assert_eq!(post["body"], dispatch.body);
    assert_eq!(post["headers"]["Authorization"], "Bearer [REDACTED]");
    assert!(!sent.to_string().contains(TOKEN));
}

/// Cancelling a run while its GitHub workflow run is followed stops the following.
#[tokio::test]
async fn a_cancel_stops_following_a_github_run() {
    let (base, _log) = github(false).await;
    let (engine, _dir) = new_engine(github_config(&base)).await;
    let p = std::sync::Arc::new(plan(
        r#"workflow gh "GH" {
  form trigger "T" { }
  github dispatch "Dispatch" { installation "gh"; org "acme"; repo "api"; workflow "slow.yml" }
  flow { trigger -> dispatch }
}"#,
    ));
    let driving = {
        let (engine, p) = (engine.clone(), std::sync::Arc::clone(&p));
        tokio::spawn(async move { run(&engine, &p, json!({}), &token()).await })
    };
    // Once the GitHub run is known (written to the node run), ask to cancel.
    let t0 = std::time::Instant::now();
    let run_id = loop {
        let runs = engine.store.runs(1).await.expect("runs");
        if let Some(r) = runs.first()
            && output(&engine, &r.id, "dispatch").await["runId"] == 902
        {
            break r.id.clone();
        }
        assert!(t0.elapsed() < Duration::from_secs(10), "never dispatched");
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    assert!(!engine.cancel(&run_id, false).await.expect("cancel"));
    let o = tokio::time::timeout(Duration::from_secs(10), driving)
        .await
        .expect("the node stops following the run")
        .expect("join");
    assert_eq!(o.result, Some(Conclusion::Cancelled));
    let nodes = engine.store.node_runs(&run_id).await.expect("nodes");
    let dispatch = nodes.iter().find(|n| n.node == "dispatch").expect("node");
    assert_eq!(dispatch.result, Some(Conclusion::Cancelled));
    let logs = engine.store.logs(&run_id).await.expect("logs");
    assert!(
        logs.iter().any(|l| l
            .message
            .contains("stopped following GitHub workflow run 902")),
        "{logs:?}"
    );
}

#[tokio::test]
async fn beta_github_on_ghes_retries_without_run_details_and_fails_on_a_failed_run() {
    let (base, log) = github(true).await;
    let (engine, _dir) = new_engine(github_config(&base)).await;
    let p = plan(
        r#"workflow gh "GH" {
  form trigger "T" { }
  integration dispatch "Dispatch" {
    installation "gh"
    provider GITHUB
    invocation CREATE
    properties { repo: "acme/api", workflowId: "fail.yml", inputs: { n: "1" }, ref: "release" }
  }
  flow { trigger -> dispatch }
}"#,
    );
    let o = run(&engine, &p, json!({}), &token()).await;
    assert_eq!(o.result, Some(Conclusion::Failed));
    let e = error(&engine, &o.run_id).await;
    assert!(
        e.contains("node `dispatch` failed: the GitHub workflow run 901 concluded `failure`"),
        "{e}"
    );
    let out = output(&engine, &o.run_id, "dispatch").await;
    assert_eq!(out["conclusion"], "failure");
    assert_eq!(
        out["error"]["message"],
        "the GitHub workflow run 901 concluded `failure`"
    );
    let seen = log.lock().expect("lock").clone();
    let posts: Vec<&Seen> = seen.iter().filter(|s| s.method == "POST").collect();
    assert_eq!(posts.len(), 2, "dispatched again without run details");
    assert_eq!(posts[0].body["return_run_details"], true);
    assert_eq!(
        posts[1].body,
        json!({"ref": "release", "inputs": {"n": "1"}})
    );
    assert!(
        seen.iter().any(|s| s.path.starts_with(
            "/repos/acme/api/actions/workflows/fail.yml/runs?event=workflow_dispatch"
        )),
        "found the run by listing: {seen:#?}"
    );
    assert!(
        !seen.iter().any(|s| s.path == "/repos/acme/api"),
        "ref given: no lookup"
    );
}

#[tokio::test]
async fn github_without_status_reporting_completes_on_dispatch_and_errors_are_named() {
    let (base, log) = github(false).await;
    let (engine, _dir) = new_engine(github_config(&base)).await;
    let p = plan(
        r#"workflow gh "GH" {
  form trigger "T" { }
  github dispatch "Dispatch" { installation "gh"; org "acme"; repo "api"; workflow "deploy.yml"; report_status false }
  github missing "Missing repo" { installation "gh"; org "acme"; repo "gone"; workflow "x.yml"; on_failure continue }
  flow { trigger -> dispatch -> missing }
}"#,
    );
    let o = run(&engine, &p, json!({}), &token()).await;
    assert_eq!(o.result, Some(Conclusion::Success));
    assert_eq!(output(&engine, &o.run_id, "dispatch").await["runId"], 900);
    let missing = output(&engine, &o.run_id, "missing").await;
    assert_eq!(
        missing["error"]["message"],
        "cannot read the default branch of acme/gone: GET /repos/acme/gone returned 404: Not Found"
    );
    let seen = log.lock().expect("lock").clone();
    assert!(
        !seen.iter().any(|s| s.path.contains("/actions/runs/")),
        "no polling"
    );
}

// --- AI -----------------------------------------------------------------------------------

/// An OpenAI-compatible chat completions API: JSON when asked for a schema (broken JSON when
/// the prompt says `broken`), text otherwise.
async fn ai_server() -> (String, Log) {
    serve(|_, path, body, seen| {
        if path != "/v1/chat/completions" {
            return (StatusCode::NOT_FOUND, json!({"error": "no such route"}));
        }
        let prompt = body["messages"]
            .as_array()
            .and_then(|m| m.last())
            .and_then(|m| m["content"].as_str())
            .unwrap_or_default();
        let content = if body.get("response_format").is_some() {
            if prompt.contains("broken") {
                "{\"summary\": ".to_string()
            } else {
                json!({"summary": format!("summary of: {prompt}")}).to_string()
            }
        } else {
            format!("answer to: {prompt}")
        };
        (
            StatusCode::OK,
            json!({"id": format!("chatcmpl-{}", seen.len()), "object": "chat.completion",
                   "choices": [{"index": 0, "message": {"role": "assistant", "content": content}}]}),
        )
    })
    .await
}

#[tokio::test]
async fn ai_nodes_call_the_configured_api() {
    let (base, log) = ai_server().await;
    let (engine, _dir) = new_engine(Config {
        ai: Some(Ai {
            base_url: format!("{base}/v1"),
            model: Some("local-model".into()),
            timeout: Duration::from_secs(10),
        }),
        ..Config::default()
    })
    .await;
    let p = plan(
        r#"workflow ai "AI" {
  form trigger "T" { input service: string "Service" }
  ai summarize "Summarize" {
    prompt "Summarize {{ .outputs.trigger.service }}"
    system_prompt "You are terse."
    output_schema { type: "object", properties: { summary: { type: "string" } } }
    variables { summary: "{{ .result.response | fromjson | .summary }}", id: "{{ .result.invocationIdentifier }}" }
  }
  ai_agent analyze "Analyze" { agent incident-agent; prompt "Why is {{ .outputs.summarize.summary }} slow?"; provider "openai"; model "gpt-x" }
  flow { trigger -> summarize -> analyze }
}"#,
    );
    assert!(p.optional_secrets.contains("AI_API_KEY"));
    let key = Secrets::from_pairs([("AI_API_KEY".to_string(), "sk-local".to_string())]);
    let o = run(&engine, &p, json!({"service": "api"}), &key).await;
    assert_eq!(
        o.result,
        Some(Conclusion::Success),
        "{}",
        error(&engine, &o.run_id).await
    );
    assert_eq!(
        output(&engine, &o.run_id, "summarize").await,
        json!({"summary": "summary of: Summarize api", "id": "chatcmpl-0"})
    );
    assert_eq!(
        output(&engine, &o.run_id, "analyze").await,
        json!({"response": "answer to: Why is summary of: Summarize api slow?",
               "invocationIdentifier": "chatcmpl-1"})
    );
    let seen = log.lock().expect("lock").clone();
    assert_eq!(seen[0].auth, "Bearer sk-local");
    assert_eq!(seen[0].body["model"], "local-model");
    assert_eq!(
        seen[0].body["messages"],
        json!([{"role": "system", "content": "You are terse."},
               {"role": "user", "content": "Summarize api"}])
    );
    assert_eq!(
        seen[0].body["response_format"]["json_schema"]["schema"],
        json!({"type": "object", "properties": {"summary": {"type": "string"}}})
    );
    assert_eq!(seen[1].body["model"], "gpt-x", "the node's model wins");
    assert!(seen[1].body.get("response_format").is_none());
    // Each node run records its request: the prompt rendered, the key redacted.
    let sent = request(&engine, &o.run_id, "analyze").await;
    assert_eq!(sent["url"], format!("{base}/v1/chat/completions"));
    assert_eq!(sent["body"], seen[1].body);
    assert_eq!(sent["headers"]["Authorization"], "Bearer [REDACTED]");
}

#[tokio::test]
async fn ai_without_a_service_or_with_bad_json_fails_clearly() {
    let p = plan(
        r#"workflow ai "AI" {
  form trigger "T" { }
  ai broken "Broken" { prompt "broken"; output_schema { type: "object" } }
  flow { trigger -> broken }
}"#,
    );
    let (engine, _dir) = new_engine(Config::default()).await;
    let o = run(&engine, &p, json!({}), &Secrets::default()).await;
    assert_eq!(o.result, Some(Conclusion::Failed));
    let e = error(&engine, &o.run_id).await;
    assert!(
        e.contains("no AI service is configured for node `broken`; set [ai] base_url"),
        "{e}"
    );
    let (base, _log) = ai_server().await;
    let (engine, _dir2) = engine_with_ai(&base, None).await;
    let o = run(&engine, &p, json!({}), &Secrets::default()).await;
    let e = error(&engine, &o.run_id).await;
    assert!(
        e.contains("names no model and no default is configured"),
        "{e}"
    );
    let (engine, _dir3) = engine_with_ai(&base, Some("m")).await;
    let o = run(&engine, &p, json!({}), &Secrets::default()).await;
    let e = error(&engine, &o.run_id).await;
    assert!(
        e.contains("the model's response is not the JSON its outputSchema asks for"),
        "{e}"
    );
}

async fn engine_with_ai(base: &str, model: Option<&str>) -> (Engine, TempDir) {
    new_engine(Config {
        ai: Some(Ai {
            base_url: format!("{base}/v1"),
            model: model.map(str::to_string),
            timeout: Duration::from_secs(10),
        }),
        ..Config::default()
    })
    .await
}

// --- Kafka --------------------------------------------------------------------------------

/// A published message: topic, key, headers and the JSON payload.
type Sent = (String, String, Vec<(String, String)>, Json);

/// Keeps what it is given; fails messages to topic `down`.
#[derive(Default)]
struct Recorder(Mutex<Vec<Sent>>);

impl Publisher for Recorder {
    fn publish<'a>(&'a self, m: Message<'a>) -> Publishing<'a> {
        Box::pin(async move {
            if m.topic == "down" {
                return Err("Message production error: MessageTimedOut".into());
            }
            let mut all = self.0.lock().map_err(|e| e.to_string())?;
            all.push((
                m.topic.to_string(),
                m.key.to_string(),
                m.headers
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
                serde_json::from_slice(m.payload).map_err(|e| e.to_string())?,
            ));
            Ok(Delivery {
                partition: 0,
                offset: all.len() as i64 - 1,
            })
        })
    }
}

fn kafka_plan() -> Plan {
    plan(
        r#"workflow pub "Publish" {
  form trigger "T" { input service: string "Service" }
  kafka publish "Publish" { payload { event: "deployed", service: "{{ .outputs.trigger.service }}", token: "{{ .secrets.token }}" } }
  flow { trigger -> publish }
}"#,
    )
}

fn kafka_config(brokers: &str, topic: &str) -> Config {
    Config {
        kafka: Some(Kafka {
            brokers: brokers.into(),
            topic: topic.into(),
        }),
        ..Config::default()
    }
}

#[tokio::test]
async fn kafka_publishes_the_payload_wrapped_with_the_run() {
    let secret = Secrets::from_pairs([("token".to_string(), "kafka-s3cret".to_string())]);
    let p = kafka_plan();
    let recorder = Arc::new(Recorder::default());
    let (engine, _dir) = new_engine(kafka_config("127.0.0.1:1", "wf.runs")).await;
    let engine = engine.with_publisher(Arc::clone(&recorder) as Arc<dyn Publisher>);
    let o = run(&engine, &p, json!({"service": "api"}), &secret).await;
    assert_eq!(
        o.result,
        Some(Conclusion::Success),
        "{}",
        error(&engine, &o.run_id).await
    );
    assert_eq!(
        output(&engine, &o.run_id, "publish").await,
        json!({"topic": "wf.runs", "partition": 0, "offset": 0})
    );
    let sent = recorder.0.lock().expect("lock").clone();
    let (topic, key, headers, body) = &sent[0];
    assert_eq!(
        (topic.as_str(), key.as_str()),
        ("wf.runs", o.run_id.as_str())
    );
    assert!(headers.contains(&("Idempotency-Key".into(), format!("{}:publish", o.run_id))));
    let node_run = body["workflowNodeRun"]["identifier"]
        .as_str()
        .expect("node run id");
    assert_eq!(
        body["payload"],
        json!({"event": "deployed", "service": "api", "token": "kafka-s3cret"}),
        "the consumer gets the real payload"
    );
    assert_eq!(
        body["context"],
        json!({"workflowRunId": o.run_id, "nodeRunId": node_run})
    );
    assert_eq!(body["workflow"]["identifier"], "pub");
    assert_eq!(
        body["workflowRun"]["trigger"]["by"]["email"],
        "dev@example.com"
    );
    assert_eq!(body["workflowNodeRun"]["node"]["identifier"], "publish");
    // The node run records the message, the secret in its payload redacted.
    let recorded = request(&engine, &o.run_id, "publish").await;
    assert_eq!(
        (&recorded["topic"], &recorded["key"]),
        (&json!("wf.runs"), &json!(o.run_id))
    );
    assert_eq!(
        recorded["payload"]["payload"],
        json!({"event": "deployed", "service": "api", "token": "[REDACTED]"})
    );
    assert_eq!(recorded["payload"]["context"], body["context"]);
    assert_eq!(
        recorded["headers"]["Idempotency-Key"],
        format!("{}:publish", o.run_id)
    );

    let (down, _dir2) = new_engine(kafka_config("127.0.0.1:1", "down")).await;
    let down = down.with_publisher(recorder as Arc<dyn Publisher>);
    let o = run(&down, &p, json!({"service": "api"}), &secret).await;
    let e = error(&down, &o.run_id).await;
    assert!(
        e.contains("publishing to Kafka topic `down` failed: Message production error"),
        "{e}"
    );
    let (none, _dir3) = new_engine(Config::default()).await;
    let o = run(&none, &p, json!({"service": "api"}), &secret).await;
    let e = error(&none, &o.run_id).await;
    assert!(e.contains("no Kafka broker is configured"), "{e}");
}

/// Publishes through rdkafka to the broker named by `WFLOW_IT_KAFKA` and reads the message
/// back by explicit partition assignment (CI starts tansu and creates topic `wflow-it`).
#[tokio::test]
async fn kafka_reaches_a_real_broker() {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::{ClientConfig, Message as _, Offset, TopicPartitionList};

    let Some(brokers) = std::env::var("WFLOW_IT_KAFKA")
        .ok()
        .filter(|b| !b.is_empty())
    else {
        eprintln!("skipping: set WFLOW_IT_KAFKA=host:port to test against a real broker");
        return;
    };
    let topic = std::env::var("WFLOW_IT_KAFKA_TOPIC").unwrap_or_else(|_| "wflow-it".into());
    let (engine, _dir) = new_engine(kafka_config(&brokers, &topic)).await;
    let secret = Secrets::from_pairs([("token".to_string(), "x".to_string())]);
    let o = run(&engine, &kafka_plan(), json!({"service": "it"}), &secret).await;
    assert_eq!(
        o.result,
        Some(Conclusion::Success),
        "{}",
        error(&engine, &o.run_id).await
    );
    let out = output(&engine, &o.run_id, "publish").await;
    let offset = out["offset"].as_i64().expect("offset");

    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &brokers)
        .set("group.id", "wflow-it-reader")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(
        &topic,
        out["partition"].as_i64().unwrap_or(0) as i32,
        Offset::Offset(offset),
    )
    .expect("partition");
    consumer.assign(&tpl).expect("assign");
    let run_id = o.run_id.clone();
    let found = tokio::task::spawn_blocking(move || {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while std::time::Instant::now() < deadline {
            if let Some(Ok(m)) = consumer.poll(Duration::from_millis(500))
                && m.key() == Some(run_id.as_bytes())
            {
                return m.payload().map(<[u8]>::to_vec);
            }
        }
        None
    })
    .await
    .expect("join")
    .expect("the message came back from the broker");
    let body: Json = serde_json::from_slice(&found).expect("JSON");
    assert_eq!(body["payload"]["service"], "it");
    assert_eq!(body["context"]["workflowRunId"], o.run_id);
}

// --- Event conditions and responders ------------------------------------------------------

#[tokio::test]
async fn event_conditions_combine_with_and_or_or() {
    let (engine, _dir) = new_engine(Config::default()).await;
    let src = |combinator: &str| {
        format!(
            r#"workflow ev "Ev" {{
  event trigger "Updated" {{
    on ENTITY_UPDATED service
    when `.diff.after.properties.tier == "critical"`
    when `.diff.before.properties.status != .diff.after.properties.status`
    combinator {combinator}
  }}
  webhook w "W" {{ url "http://127.0.0.1:1/x" }}
  flow {{ trigger -> w }}
}}"#
        )
    };
    let event = |tier: &str, before: &str, after: &str| {
        json!({"diff": {"before": {"properties": {"tier": tier, "status": before}},
                        "after": {"properties": {"tier": tier, "status": after}}}})
    };
    let and = plan(&src("and"));
    let or = plan(&src("or"));
    let both = event("critical", "up", "down");
    let one = event("low", "up", "down");
    let none = event("low", "up", "up");
    for (p, e, want) in [
        (&and, &both, true),
        (&and, &one, false),
        (&or, &one, true),
        (&or, &none, false),
    ] {
        assert_eq!(
            engine
                .event_matches(p, "trigger", e)
                .await
                .expect("evaluates"),
            want,
            "{e}"
        );
    }
    let bad = plan(
        r#"workflow ev "Ev" {
  event trigger "Updated" { on ENTITY_UPDATED service; when `.diff.after.properties.n + 1 > 2` }
  webhook w "W" { url "http://127.0.0.1:1/x" }
  flow { trigger -> w }
}"#,
    );
    let e = engine
        .event_matches(
            &bad,
            "trigger",
            &json!({"diff": {"after": {"properties": {"n": "x"}}}}),
        )
        .await
        .expect_err("a failing condition");
    assert!(
        matches!(&e, Error::Expression(m)
            if m.contains("the trigger condition `.diff.after.properties.n + 1 > 2` failed")),
        "{e}"
    );
}

#[tokio::test]
async fn approvals_accept_responders_by_role_or_team() {
    let (engine, _dir) = new_engine(Config::default()).await;
    let p = plan(
        r#"workflow ap "Approve" {
  form trigger "T" { }
  approval approve "Approve" {
    button yes "Yes" PRIMARY { needs 2 }
    responders { users ["lead@example.com"]; roles ["Admin"]; teams ["platform"] }
  }
  flow { trigger -> approve }
}"#,
    );
    let o = run(&engine, &p, json!({}), &Secrets::default()).await;
    assert_eq!(o.waiting, ["approve"]);
    let who = |email: &str, roles: &[&str], teams: &[&str]| Responder {
        email: email.into(),
        roles: roles.iter().map(|s| s.to_string()).collect(),
        teams: teams.iter().map(|s| s.to_string()).collect(),
    };
    let none = serde_json::Map::new();
    let e = engine
        .respond_as(
            &p,
            &o.run_id,
            "approve",
            &who("dev@example.com", &["Member"], &["web"]),
            &Answer {
                button: "yes",
                inputs: &none,
                secrets: &Secrets::default(),
            },
        )
        .await
        .expect_err("not a responder");
    assert_eq!(
        e,
        Error::Forbidden(
            "`dev@example.com` (roles: Member; teams: web) may not respond to node `approve`; its \
         responders are users lead@example.com; roles Admin; teams platform"
                .into()
        )
    );
    engine
        .respond_as(
            &p,
            &o.run_id,
            "approve",
            &who("ops@example.com", &[], &["Platform"]),
            &Answer {
                button: "yes",
                inputs: &none,
                secrets: &Secrets::default(),
            },
        )
        .await
        .expect("by team");
    engine
        .respond_as(
            &p,
            &o.run_id,
            "approve",
            &who("boss@example.com", &["admin"], &[]),
            &Answer {
                button: "yes",
                inputs: &none,
                secrets: &Secrets::default(),
            },
        )
        .await
        .expect("by role");
    let o = engine
        .drive(&p, &o.run_id, &Secrets::default(), &Quiet)
        .await
        .expect("drive");
    assert_eq!(o.result, Some(Conclusion::Success));
}
