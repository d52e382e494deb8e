//! Catalog events: an entity created, updated or deleted (through the API or by an upsert
//! node) fires the matching published EVENT_TRIGGERs, filtered by their jq conditions.
//!
//! The event is Port's: `diff.before`, `diff.after`, `action`, `context`, plus `trigger` with
//! where the change came from. A change made by a run carries the chain of workflows that led
//! to it (`trigger.chain`); a workflow already in the chain is not fired again, so workflows
//! that update what they listen to do not loop forever.

use std::sync::Arc;

use serde_json::{Value as Json, json};
use tokio::sync::mpsc;
use wflow_compiler::ir::{EventTrigger, NodeConfig};

use super::{ApiError, Server, log_error};
use wflow_engine::engine::now;
use wflow_engine::events;
use wflow_engine::plan::Plan;
use wflow_store::EntityChange;

/// Fires the event triggers of each change until the server stops.
pub(super) async fn listen(server: Server, mut rx: mpsc::UnboundedReceiver<EntityChange>) {
    let stop = server.0.stop.clone();
    loop {
        let change = tokio::select! {
            () = stop.cancelled() => return,
            c = rx.recv() => c,
        };
        let Some(change) = change else { return };
        if let Err(e) = fire(&server, &change).await {
            log_error(
                &format!(
                    "event on entity `{}` of `{}`",
                    change.identifier, change.blueprint
                ),
                &e.message(),
            );
        }
    }
}

async fn fire(server: &Server, change: &EntityChange) -> Result<(), ApiError> {
    let action = events::action(change.before.as_ref(), change.after.as_ref());
    let workflows = server.workflows();
    let listening: Vec<(&Arc<Plan>, &str, &EventTrigger)> = workflows
        .values()
        .flat_map(|plan| plan.triggers().map(move |node| (plan, node)))
        .filter_map(|(plan, node)| match &node.config {
            NodeConfig::EventTrigger(t)
                if t.published != Some(false) && events::listens(t, &change.blueprint, action) =>
            {
                Some((plan, node.identifier.value.as_str(), t))
            }
            _ => None,
        })
        .collect();
    // Most changes have no listener: the run is not read, the event not made.
    if listening.is_empty() {
        return Ok(());
    }
    let mut chain: Vec<String> = Vec::new();
    if let Some(run_id) = &change.run_id
        && let Some(run) = server.engine().store.run(run_id).await?
    {
        chain.extend(
            run.trigger_payload["trigger"]["chain"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|w| w.as_str().map(str::to_string)),
        );
        chain.push(run.workflow);
    }
    let event = events::entity_event(
        &change.blueprint,
        &change.identifier,
        change.before.as_ref(),
        change.after.as_ref(),
        json!({
            "origin": if change.run_id.is_some() { "WORKFLOW" } else { "API" },
            "by": { "workflowRun": change.run_id },
            "at": now(),
            "chain": chain,
        }),
    );
    for (plan, trigger, t) in listening {
        let workflow = &plan.workflow.identifier.value;
        if chain.contains(workflow) {
            tracing::info!(
                "not firing `{workflow}` on entity `{}`: the change comes from a run that \
                 `{workflow}` started (chain {}), which would loop",
                change.identifier,
                chain.join(" -> ")
            );
            continue;
        }
        if condition(server, plan, t, &event).await {
            server.start(plan, trigger, event.clone(), None).await?;
        }
    }
    Ok(())
}

/// Whether the trigger's condition holds for `event` (no condition: it does). Each expression
/// must yield `true`; `combinator: "or"` needs one of them. An expression error is logged and
/// counts as false.
pub(super) async fn condition(
    server: &Server,
    plan: &Plan,
    t: &EventTrigger,
    event: &Json,
) -> bool {
    let Some(c) = &t.condition else {
        return true;
    };
    let codes: Vec<&str> = c.expressions.iter().map(|e| e.code.as_str()).collect();
    let outcomes = server
        .engine()
        .evaluator()
        .eval(&plan.programs, &codes, event.clone())
        .await;
    let results = outcomes.into_iter().zip(&codes).map(|(o, code)| match o {
        Ok(values) => values.first() == Some(&Json::Bool(true)),
        Err(e) => {
            log_error(
                &format!(
                    "the condition `{code}` of workflow `{}`",
                    plan.workflow.identifier.value
                ),
                &e,
            );
            false
        }
    });
    let results: Vec<bool> = results.collect();
    if c.combinator.as_ref().map(|n| n.value.as_str()) == Some("or") {
        results.contains(&true)
    } else {
        results.iter().all(|r| *r)
    }
}
