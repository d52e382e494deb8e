//! What the loopback service tests share: a recording HTTP server, an engine over a fresh
//! store, and readers of a run's result.

#![allow(dead_code)]

use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use serde_json::Value as Json;
use wflow_engine::{Config, Engine, Outcome, Plan, Quiet, Secrets, Store};
use wflow_store::NodeRunRecord;
#[allow(unused_imports)]
pub use wflow_testkit::{on_loopback, plan};

/// One request a loopback server received.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub auth: String,
    pub headers: HeaderMap,
    pub body: Json,
}

pub type Log = Arc<Mutex<Vec<Seen>>>;

/// Serves `answer(method, path-and-query, body, requests so far)` on a free loopback port.
pub async fn serve<F>(answer: F) -> (String, Log)
where
    F: Fn(&str, &str, &Json, &[Seen]) -> (StatusCode, Json) + Send + Sync + 'static,
{
    let log: Log = Arc::default();
    let seen = Arc::clone(&log);
    let answer = Arc::new(answer);
    let app = axum::Router::new().fallback(
        move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
            let seen = Arc::clone(&seen);
            let answer = Arc::clone(&answer);
            async move {
                let body: Json = serde_json::from_slice(&body).unwrap_or(Json::Null);
                let path = uri.path_and_query().map_or("", |p| p.as_str()).to_string();
                let mut log = seen.lock().expect("lock");
                let (status, reply) = answer(method.as_str(), &path, &body, &log);
                log.push(Seen {
                    method: method.to_string(),
                    path,
                    auth: headers
                        .get("authorization")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_string(),
                    headers: headers.clone(),
                    body,
                });
                let text = if reply.is_null() {
                    String::new()
                } else {
                    reply.to_string()
                };
                (status, text)
            }
        },
    );
    (on_loopback(app).await, log)
}

/// A temporary directory removed on drop.
pub struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub async fn new_engine(config: Config) -> (Engine, TempDir) {
    let dir = std::env::temp_dir().join(wflow_engine::engine::new_id("wflow-svc-"));
    std::fs::create_dir_all(&dir).expect("dir");
    let store = Store::open(&dir.join("wflow.db")).await.expect("store");
    (Engine::new(store, config).expect("engine"), TempDir(dir))
}

pub async fn run(engine: &Engine, p: &Plan, payload: Json, secrets: &Secrets) -> Outcome {
    engine
        .run(
            p,
            "trigger",
            payload,
            Some("dev@example.com"),
            secrets,
            &Quiet,
        )
        .await
        .expect("run")
}

/// The node run of `node` in run `run_id`, if it ran.
pub async fn node_run(engine: &Engine, run_id: &str, node: &str) -> Option<NodeRunRecord> {
    engine
        .store
        .node_runs(run_id)
        .await
        .expect("node runs")
        .into_iter()
        .find(|r| r.node == node)
}

pub async fn output(engine: &Engine, run_id: &str, node: &str) -> Json {
    let rec = node_run(engine, run_id, node).await;
    rec.and_then(|r| r.output).unwrap_or(Json::Null)
}

/// What `node`'s side effect sent, as recorded on its node run (`null` when nothing was).
pub async fn request(engine: &Engine, run_id: &str, node: &str) -> Json {
    let rec = node_run(engine, run_id, node).await;
    rec.and_then(|r| r.request).unwrap_or(Json::Null)
}

pub async fn error(engine: &Engine, run_id: &str) -> String {
    engine
        .store
        .run(run_id)
        .await
        .expect("run")
        .and_then(|r| r.error)
        .unwrap_or_default()
}
