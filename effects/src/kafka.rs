//! Publishing to Kafka behind one trait: KAFKA nodes hand a [`Message`] to a [`Publisher`]; the
//! default is [`RdKafka`], `wflow test` swaps in a double.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};

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
