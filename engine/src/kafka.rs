//! KAFKA nodes: the payload, wrapped with the run's metadata as Port does, is published
//! through the engine's [`Publisher`](wflow_effects::kafka::Publisher); the node completes when the broker acknowledges the
//! message.

use serde_json::{Value as Json, json};
use wflow_effects::kafka::Message;

use crate::engine::{Done, Engine};
use wflow_store::{NodeRunRecord, RunRecord};

/// The message Port's Kafka consumers receive: the payload with the run's metadata and the
/// node run's context.
pub fn envelope(run: &RunRecord, rec: &NodeRunRecord, payload: Json) -> Json {
    json!({
        "context": { "workflowRunId": run.id, "nodeRunId": rec.id },
        "workflow": { "identifier": run.workflow },
        "workflowRun": {
            "identifier": run.id,
            "createdAt": run.created_at,
            "trigger": {
                "identifier": run.trigger_node,
                "by": { "email": run.created_by },
            },
        },
        "workflowNodeRun": {
            "identifier": rec.id,
            "node": { "identifier": rec.node },
            "createdAt": rec.created_at,
        },
        "payload": payload,
    })
}

/// The headers of the message of node run `rec` of `run`: its `Idempotency-Key` (`RUN:NODE`)
/// and ids.
fn headers(run: &RunRecord, rec: &NodeRunRecord) -> [(&'static str, String); 3] {
    [
        ("Idempotency-Key", format!("{}:{}", run.id, rec.node)),
        ("X-Wflow-Run-Id", run.id.clone()),
        ("X-Wflow-Node-Run-Id", rec.id.clone()),
    ]
}

impl Engine {
    /// The message [`Engine::kafka`] publishes, as recorded: `{topic, key, headers, payload}`
    /// (`topic` is `null` when no broker is configured).
    pub(crate) fn kafka_request(
        &self,
        run: &RunRecord,
        rec: &NodeRunRecord,
        message: &Json,
    ) -> Json {
        let headers: serde_json::Map<String, Json> = headers(run, rec)
            .into_iter()
            .map(|(n, v)| (n.to_string(), Json::String(v)))
            .collect();
        json!({
            "topic": self.config.kafka.as_ref().map(|k| &k.topic),
            "key": run.id,
            "headers": headers,
            "payload": message,
        })
    }

    /// Publishes `message` (the node's rendered payload in its [`envelope`]) to the configured
    /// topic. The run id is the key; an `Idempotency-Key` header (`RUN:NODE`) lets consumers
    /// drop the copy a resumed run may send again. Output: `{topic, partition, offset}`.
    pub(crate) async fn kafka(&self, run: &RunRecord, rec: &NodeRunRecord, message: &Json) -> Done {
        let (Some(settings), Some(publisher)) = (&self.config.kafka, &self.publisher) else {
            return Done::failed(
                "no Kafka broker is configured; set [kafka] brokers and topic in wflow.toml \
                 (or WFLOW_KAFKA_BROKERS and WFLOW_KAFKA_TOPIC)"
                    .into(),
                json!({}),
            );
        };
        let body = message.to_string();
        let owned = headers(run, rec);
        let headers = owned.each_ref().map(|(n, v)| (*n, v.as_str()));
        let message = Message {
            topic: &settings.topic,
            key: &run.id,
            headers: &headers,
            payload: body.as_bytes(),
        };
        let topic = &settings.topic;
        match publisher.publish(message).await {
            Ok(d) => Done {
                logs: vec![crate::engine::log(
                    &rec.node,
                    "INFO",
                    format!(
                        "published to {topic} (partition {}, offset {})",
                        d.partition, d.offset
                    ),
                )],
                ..Done::ok(json!({ "topic": topic, "partition": d.partition, "offset": d.offset }))
            },
            Err(e) => Done::failed(
                format!("publishing to Kafka topic `{topic}` failed: {e}"),
                json!({}),
            ),
        }
    }
}
