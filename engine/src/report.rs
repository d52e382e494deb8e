//! Runs in Port's run shape (`identifier`, `status`, `result`, `nodeRuns`, timestamps), for
//! `--format json` and the HTTP API; and as `wflow graph --run` colours them.

use serde_json::{Map, Value as Json, json};

use wflow_graph::{NodeRun, Status};

use crate::engine::{Conclusion, NodeStatus, RunStatus};
use wflow_store::{LogRecord, NodeRunRecord, RunRecord, Store, StoreError};

/// Run `run_id` as Port's run object, or `None` when the store has no such run.
pub async fn run_json(store: &Store, run_id: &str) -> Result<Option<Json>, StoreError> {
    let Some(run) = store.run(run_id).await? else {
        return Ok(None);
    };
    let nodes = store.node_runs(run_id).await?;
    let logs = store.logs(run_id).await?;
    let mut report = run_report(&run, &nodes, &logs);
    // A wflow extension: where a run queued behind its workflow's concurrency limit stands.
    if run.status == RunStatus::Queued
        && let Some(place) = store.queue_place(run_id).await?
        && let Json::Object(m) = &mut report
    {
        m.insert(
            "queue".into(),
            json!({
                "ahead": place.ahead,
                "inProgress": place.in_progress,
                "limit": run.concurrency,
            }),
        );
    }
    Ok(Some(report))
}

/// `run` with its node runs (in start order) and logs as Port's run object.
pub fn run_report(run: &RunRecord, nodes: &[NodeRunRecord], logs: &[LogRecord]) -> Json {
    let mut outputs = Map::new();
    let node_runs: Vec<Json> = nodes
        .iter()
        .map(|n| {
            if let Some(o) = &n.output {
                outputs.insert(n.node.clone(), o.clone());
            }
            let node_logs: Vec<Json> = logs
                .iter()
                .filter(|l| l.node == n.node)
                .map(|l| json!({ "logLevel": l.level, "log": l.message, "createdAt": l.at }))
                .collect();
            let mut node_run = json!({
                "identifier": n.id,
                "node": { "identifier": n.node },
                "status": n.status,
                "result": n.result,
                "output": n.output,
                "logs": node_logs,
                "createdAt": n.created_at,
                "updatedAt": n.updated_at,
                "completedAt": n.completed_at,
            });
            // wflow extensions: the retried attempts, when a wait or a backoff ends, and what
            // the node's side effect sent (redacted).
            if let Json::Object(m) = &mut node_run {
                if let Some(r) = &n.request {
                    m.insert("request".into(), r.clone());
                }
                if !n.attempts.is_empty() {
                    m.insert("attempts".into(), json!(n.attempts));
                }
                if let Some(d) = &n.deadline {
                    m.insert("deadline".into(), json!(d));
                }
            }
            node_run
        })
        .collect();
    json!({
        "identifier": run.id,
        "workflow": { "identifier": run.workflow },
        "status": run.status,
        "result": run.result,
        "error": run.error,
        "trigger": { "identifier": run.trigger_node },
        "createdBy": run.created_by,
        "variables": { "outputs": outputs },
        "nodeRuns": node_runs,
        "createdAt": run.created_at,
        "updatedAt": run.updated_at,
        "completedAt": run.completed_at,
    })
}

/// Run `run_id` for drawing: its workflow's identifier and what each node did; `None` when the
/// store has no such run.
pub async fn run_graph(
    store: &Store,
    run_id: &str,
) -> Result<Option<(String, wflow_graph::Run)>, StoreError> {
    let Some(run) = store.run(run_id).await? else {
        return Ok(None);
    };
    let nodes = store.node_runs(run_id).await?;
    Ok(Some((run.workflow.clone(), graph_run(&run, &nodes))))
}

/// The status of each node run of `run`: a completed node succeeded or failed (cancelled
/// counts as failed); one still in progress waits (for responses or an outside completion) or
/// runs, unless the run has ended, which cut it short: failed. Nodes an ended run never reached
/// are skipped ([`wflow_graph::Run::finished`]).
pub fn graph_run(run: &RunRecord, nodes: &[NodeRunRecord]) -> wflow_graph::Run {
    let finished = run.status == RunStatus::Completed;
    let nodes = nodes
        .iter()
        .map(|n| {
            let status = match (n.status, n.result) {
                (NodeStatus::Completed, Some(Conclusion::Success)) => Status::Succeeded,
                (NodeStatus::Completed, _) => Status::Failed,
                _ if finished => Status::Failed,
                _ if n.waiting => Status::Waiting,
                _ => Status::Running,
            };
            let drawn = NodeRun {
                status,
                outlet: n.outlet.clone(),
                fallback: n.fallback,
            };
            (n.node.clone(), drawn)
        })
        .collect();
    wflow_graph::Run { nodes, finished }
}
