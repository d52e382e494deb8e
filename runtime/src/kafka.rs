//! KAFKA nodes: the payload, wrapped with the run's metadata as Port does, is published
//! through a [`Publisher`]; the node completes when the broker acknowledges the message.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use serde_json::{Value as Json, json};

use crate::engine::{Done, Engine};
use crate::store::{NodeRunRecord, RunRecord};

/// One message to publish.
#[derive(Debug, Clone, Copy)]
pub struct Message<'a> {
    pub topic: &'a str,
    pub key: &'a str,
    pub headers: &'a [(&'a str, &'a str)],
    pub payload: &'a [u8],
}

/// Where the broker stored a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivery {
    pub partition: i32,
    pub offset: i64,
}

/// A future returned by [`Publisher::publish`].
pub type Publishing<'a> = Pin<Box<dyn Future<Output = Result<Delivery, String>> + Send + 'a>>;

/// Publishes messages and resolves when the broker acknowledges them.
pub trait Publisher: Send + Sync {
    /// Publishes `message`; the error says why the broker did not take it.
    fn publish<'a>(&'a self, message: Message<'a>) -> Publishing<'a>;
}

/// A [`Publisher`] on librdkafka (acks from all in-sync replicas).
pub struct RdKafka {
    producer: FutureProducer,
}

impl RdKafka {
    /// A producer for `brokers` (`host:port[,...]`) that gives up on a message after
    /// `timeout`. It connects lazily, on the first message.
    pub fn new(brokers: &str, timeout: Duration) -> Result<RdKafka, String> {
        let producer = ClientConfig::new()
            .set("bootstrap.servers", brokers)
            .set("acks", "all")
            .set("message.timeout.ms", timeout.as_millis().to_string())
            .set("client.id", "wflow")
            .create()
            .map_err(|e| format!("cannot create the Kafka producer for `{brokers}`: {e}"))?;
        Ok(RdKafka { producer })
    }
}

impl Publisher for RdKafka {
    fn publish<'a>(&'a self, m: Message<'a>) -> Publishing<'a> {
        Box::pin(async move {
            let mut headers = OwnedHeaders::new_with_capacity(m.headers.len());
            for (key, value) in m.headers {
                headers = headers.insert(Header {
                    key,
                    value: Some(*value),
                });
            }
            let record = FutureRecord::to(m.topic)
                .key(m.key)
                .payload(m.payload)
                .headers(headers);
            match self.producer.send(record, Duration::from_secs(0)).await {
                Ok(d) => Ok(Delivery {
                    partition: d.partition,
                    offset: d.offset,
                }),
                Err((e, _)) => Err(e.to_string()),
            }
        })
    }
}

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
