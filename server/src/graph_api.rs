//! Pictures of workflows and runs for pages: the SVG of `wflow graph`, drawn by the one
//! renderer (`wflow-graph`), for a workflow the caller sees, and for a run they may view with
//! each node coloured by its status. A page restyles the nodes live by their `id`.

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use serde_json::json;
use wflow_graph::Format;

use super::api::openapi::Method::Get;
use super::api::openapi::Op;
use super::api::{Path, visible_plan, visible_run};
use super::{ApiError, Server, User};
use wflow_engine::report::graph_run;

/// The pictures' operations (see `api::ops`).
pub(super) fn ops() -> Vec<Op> {
    let svg = || {
        json!({
            "description": "A self-contained SVG: every node a `<g id=\"WORKFLOW.NODE\">`",
            "content": { "image/svg+xml": { "schema": { "type": "string" } } },
        })
    };
    vec![
        Op::new(
            Get,
            "/v1/workflows/{id}/graph.svg",
            "The workflow drawn left to right, as `wflow graph` draws it",
            workflow_svg,
        )
        .responds(svg())
        .errors(&[404]),
        Op::new(
            Get,
            "/v1/workflows/runs/{run}/graph.svg",
            "The run's workflow with each node coloured by its status and the path taken",
            run_svg,
        )
        .responds(svg())
        .errors(&[403, 404]),
    ]
}

fn svg(text: String) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "image/svg+xml; charset=utf-8")],
        text,
    )
}

async fn workflow_svg(
    State(s): State<Server>,
    user: User,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let plan = visible_plan(&s, &user, &id)?;
    Ok(svg(wflow_graph::render(
        std::slice::from_ref(&plan.workflow),
        None,
        Format::Svg,
    )))
}

async fn run_svg(
    State(s): State<Server>,
    user: User,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let run = visible_run(&s, &user, &id).await?;
    let plan = s.pinned_plan(&run)?;
    let nodes = s.engine().store.node_runs(&id).await?;
    let drawn = graph_run(&run, &nodes);
    Ok(svg(wflow_graph::render(
        std::slice::from_ref(&plan.workflow),
        Some(&drawn),
        Format::Svg,
    )))
}
