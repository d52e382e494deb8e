//! The boundary between a run and the outside world. Everything a node sends out crosses one of
//! these traits, so `wflow test` can swap the real thing for a double:
//!
//! - [`http::Http`]: every outgoing request (webhooks, GitHub, AI); the default is
//!   [`http::Reqwest`];
//! - [`kafka::Publisher`]: KAFKA nodes' messages; the default is [`kafka::RdKafka`];
//! - [`clock::Clock`]: the time the engine reads and waits on (system, or virtual for tests).

pub mod clock;
pub mod http;
pub mod kafka;
