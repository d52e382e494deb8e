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

impl Engine {
    /// Publishes the node's rendered `payload` to the configured topic. The run id is the key;
    /// an `Idempotency-Key` header (`RUN:NODE`) lets consumers drop the copy a resumed run
    /// may send again. Output: `{topic, partition, offset}`.
    pub(crate) async fn kafka(&self, run: &RunRecord, rec: &NodeRunRecord, payload: Json) -> Done {
        let (Some(settings), Some(publisher)) = (&self.config.kafka, &self.publisher) else {
            return Done::failed(
                "no Kafka broker is configured; set [kafka] brokers and topic in wflow.toml \
                 (or WFLOW_KAFKA_BROKERS and WFLOW_KAFKA_TOPIC)"
                    .into(),
                json!({}),
            );
        };
        let body = envelope(run, rec, payload).to_string();
        let key = format!("{}:{}", run.id, rec.node);
        let headers = [
            ("Idempotency-Key", key.as_str()),
            ("X-Wflow-Run-Id", run.id.as_str()),
            ("X-Wflow-Node-Run-Id", rec.id.as_str()),
        ];
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
