//! The wflow engine: runs checked workflows with Port's semantics, durably, over a
//! [`wflow_store::Store`], reaching the outside world only through `wflow_effects`.
//!
//! - [`plan::Plan`]: a workflow prepared to run (its jq compiled once);
//! - [`engine::Engine`]: the durable interpreter;
//! - [`lease`]: which process drives a run, when several share a store;
//! - [`events`]: what triggers hand a run (catalog events, schedules), shared by exec and serve;
//! - [`inputs`]: form validation shared by `wflow exec` and `wflow serve`;
//! - [`preflight`]: what a run needs from its environment, checked before it starts;
//! - [`secrets`]: secret loading and redaction;
//! - [`catalog`]: blueprints and entities;
//! - [`report`]: runs in Port's run shape;
//! - `request`: what a node's side effect sent, recorded on its node run;
//! - `retry`: attempts, their durable backoff, and timeouts;
//! - [`settings`]: `wflow.toml` and the environment (Kafka, GitHub, GitLab, Azure DevOps, Jira,
//!   AI services);
//! - [`kafka`], [`ai`]: KAFKA nodes' messages, AI prompts;
//! - [`github`], [`gitlab`], [`azure_devops`], [`jira`]: integration actions, sharing
//!   `integration` (properties, requests, following a pipeline to its end).

pub mod ai;
pub mod azure_devops;
pub mod catalog;
pub mod control;
pub mod engine;
mod error;
pub mod events;
mod filter;
pub mod form;
pub mod github;
pub mod gitlab;
pub mod inputs;
mod integration;
pub mod jira;
pub mod jq;
pub mod kafka;
pub mod lease;
mod nodes;
pub mod plan;
pub mod preflight;
pub mod report;
mod request;
mod retry;
pub mod secret_inputs;
pub mod secrets;
pub mod template;

pub use wflow_project::settings;

pub use engine::{Config, Engine, Error, Event, Observer, Outcome, Quiet};
pub use plan::Plan;
pub use secrets::Secrets;
pub use wflow_store::Store;
