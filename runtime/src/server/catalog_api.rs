//! The catalog endpoints: blueprints and entities, and entity search. Everyone signed in reads;
//! admins write. Entity writes go through the store, which reports them to the event triggers.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json as AxJson, Router};
use serde_json::{Map, Value as Json};

use super::api::{Body, object, ok};
use super::auth::forbidden;
use super::{ApiError, Server, User, query};
use crate::catalog::{self, Upsert};
use crate::engine::now;
use crate::store::Write;

/// The catalog routes.
pub(super) fn routes() -> Router<Server> {
    Router::new()
        .route(
            "/v1/blueprints",
            get(list_blueprints).post(create_blueprint),
        )
        .route(
            "/v1/blueprints/{bp}",
            get(get_blueprint)
                .put(put_blueprint)
                .delete(delete_blueprint),
        )
        .route(
            "/v1/blueprints/{bp}/entities",
            get(list_entities).post(create_entity),
        )
        .route("/v1/blueprints/{bp}/entities/search", post(search))
        .route(
            "/v1/blueprints/{bp}/entities/{id}",
            get(get_entity)
                .put(put_entity)
                .patch(patch_entity)
                .delete(delete_entity),
        )
}

fn admin(user: &User, what: &str) -> Result<(), ApiError> {
    if user.is_admin() {
        Ok(())
    } else {
        Err(forbidden(format!("only admins may {what}")))
    }
}

async fn blueprint(s: &Server, bp: &str) -> Result<Json, ApiError> {
    s.engine()
        .store
        .blueprint(bp)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no blueprint `{bp}`")))
}

async fn list_blueprints(State(s): State<Server>, _user: User) -> Result<AxJson<Json>, ApiError> {
    Ok(ok(
        "blueprints",
        Json::Array(s.engine().store.blueprints().await?),
    ))
}

async fn get_blueprint(
    State(s): State<Server>,
    _user: User,
    Path(bp): Path<String>,
) -> Result<AxJson<Json>, ApiError> {
    Ok(ok("blueprint", blueprint(&s, &bp).await?))
}

/// Checks a blueprint body; `id` is the identifier from the path, if any.
fn read_blueprint(body: Json, id: Option<&str>) -> Result<(String, Json), ApiError> {
    let mut m = object(body, "a blueprint")?;
    let mut problems = Vec::new();
    let identifier = match (m.get("identifier"), id) {
        (Some(Json::String(given)), Some(path)) if given != path => {
            problems.push(format!(
                "`identifier` is `{given}` but the path names `{path}`"
            ));
            path.to_string()
        }
        (_, Some(path)) => path.to_string(),
        (Some(Json::String(given)), None) if !given.is_empty() => given.clone(),
        _ => {
            problems.push("`identifier`: a non-empty string is required".into());
            String::new()
        }
    };
    m.insert("identifier".into(), Json::String(identifier.clone()));
    match m.get("schema") {
        Some(Json::Object(schema)) => {
            if schema.get("properties").is_some_and(|p| !p.is_object()) {
                problems.push("`schema.properties` must be an object".into());
            }
        }
        _ => problems.push("`schema`: an object with `properties` is required".into()),
    }
    if m.get("relations").is_some_and(|r| !r.is_object()) {
        problems.push("`relations` must be an object".into());
    }
    if problems.is_empty() {
        Ok((identifier, Json::Object(m)))
    } else {
        Err(ApiError::invalid(problems))
    }
}

async fn create_blueprint(
    State(s): State<Server>,
    user: User,
    Body(body): Body,
) -> Result<(StatusCode, AxJson<Json>), ApiError> {
    admin(&user, "create blueprints")?;
    let (identifier, body) = read_blueprint(body, None)?;
    if s.engine().store.blueprint(&identifier).await?.is_some() {
        return Err(ApiError::conflict(format!(
            "blueprint `{identifier}` exists; PUT /v1/blueprints/{identifier} replaces it"
        )));
    }
    s.engine()
        .store
        .apply(vec![Write::PutBlueprint {
            identifier,
            body: body.clone(),
        }])
        .await?;
    Ok((StatusCode::CREATED, ok("blueprint", body)))
}

async fn put_blueprint(
    State(s): State<Server>,
    user: User,
    Path(bp): Path<String>,
    Body(body): Body,
) -> Result<AxJson<Json>, ApiError> {
    admin(&user, "change blueprints")?;
    let (identifier, body) = read_blueprint(body, Some(&bp))?;
    s.engine()
        .store
        .apply(vec![Write::PutBlueprint {
            identifier,
            body: body.clone(),
        }])
        .await?;
    Ok(ok("blueprint", body))
}

async fn delete_blueprint(
    State(s): State<Server>,
    user: User,
    Path(bp): Path<String>,
) -> Result<AxJson<Json>, ApiError> {
    admin(&user, "delete blueprints")?;
    blueprint(&s, &bp).await?;
    let n = s.engine().store.entities(Some(&bp)).await?.len();
    if n > 0 {
        return Err(ApiError::conflict(format!(
            "blueprint `{bp}` still has {n} entities; delete them first"
        )));
    }
    s.engine()
        .store
        .apply(vec![Write::DeleteBlueprint { identifier: bp }])
        .await?;
    Ok(ok("deleted", Json::Bool(true)))
}

async fn list_entities(
    State(s): State<Server>,
    _user: User,
    Path(bp): Path<String>,
) -> Result<AxJson<Json>, ApiError> {
    blueprint(&s, &bp).await?;
    Ok(ok(
        "entities",
        Json::Array(s.engine().store.entities(Some(&bp)).await?),
    ))
}

async fn get_entity(
    State(s): State<Server>,
    _user: User,
    Path((bp, id)): Path<(String, String)>,
) -> Result<AxJson<Json>, ApiError> {
    let e = s
        .engine()
        .store
        .entity(&bp, &id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no entity `{id}` of blueprint `{bp}`")))?;
    Ok(ok("entity", e))
}

/// Reads an entity body into an upsert; `id` is the identifier from the path, if any.
fn read_entity(bp: &str, body: Json, id: Option<&str>) -> Result<(String, Upsert), ApiError> {
    let m = object(body, "an entity")?;
    let mut problems = Vec::new();
    let identifier = match (m.get("identifier"), id) {
        (Some(Json::String(given)), Some(path)) if given != path => {
            problems.push(format!(
                "`identifier` is `{given}` but the path names `{path}`"
            ));
            path.to_string()
        }
        (_, Some(path)) => path.to_string(),
        (Some(Json::String(given)), None) if !given.is_empty() => given.clone(),
        _ => {
            problems.push("`identifier`: a non-empty string is required".into());
            String::new()
        }
    };
    let mut fields = |key: &str| -> Map<String, Json> {
        match m.get(key) {
            None | Some(Json::Null) => Map::new(),
            Some(Json::Object(o)) => o.clone(),
            Some(other) => {
                problems.push(format!("`{key}` must be an object, not {other}"));
                Map::new()
            }
        }
    };
    let properties = fields("properties");
    let relations = fields("relations");
    if let Some(given) = m
        .get("blueprint")
        .and_then(Json::as_str)
        .filter(|b| *b != bp)
    {
        problems.push(format!(
            "`blueprint` is `{given}` but the path names `{bp}`"
        ));
    }
    if !problems.is_empty() {
        return Err(ApiError::invalid(problems));
    }
    Ok((
        identifier,
        Upsert {
            blueprint: bp.to_string(),
            identifier: None,
            title: m.get("title").cloned(),
            icon: m.get("icon").cloned(),
            team: m.get("team").cloned(),
            properties,
            relations,
        },
    ))
}

/// Validates and writes an entity: merged into `existing` when given, else a new one.
async fn write_entity(
    s: &Server,
    bp: &str,
    identifier: &str,
    u: &Upsert,
    existing: Option<&Json>,
) -> Result<Json, ApiError> {
    let blueprint = blueprint(s, bp).await?;
    let at = now();
    let entity =
        catalog::upsert(&blueprint, existing, u, identifier, &at).map_err(ApiError::invalid)?;
    s.engine()
        .store
        .apply(vec![Write::PutEntity {
            blueprint: bp.to_string(),
            identifier: identifier.to_string(),
            body: entity.clone(),
            at,
        }])
        .await?;
    Ok(entity)
}

async fn create_entity(
    State(s): State<Server>,
    user: User,
    Path(bp): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    Body(body): Body,
) -> Result<(StatusCode, AxJson<Json>), ApiError> {
    admin(&user, "write entities")?;
    let (identifier, u) = read_entity(&bp, body, None)?;
    let upsert = q.get("upsert").is_some_and(|v| v == "true");
    if !upsert && s.engine().store.entity(&bp, &identifier).await?.is_some() {
        return Err(ApiError::conflict(format!(
            "entity `{identifier}` of `{bp}` exists; use ?upsert=true to replace it or PATCH \
             to update it"
        )));
    }
    let e = write_entity(&s, &bp, &identifier, &u, None).await?;
    Ok((StatusCode::CREATED, ok("entity", e)))
}

async fn put_entity(
    State(s): State<Server>,
    user: User,
    Path((bp, id)): Path<(String, String)>,
    Body(body): Body,
) -> Result<AxJson<Json>, ApiError> {
    admin(&user, "write entities")?;
    let (identifier, u) = read_entity(&bp, body, Some(&id))?;
    Ok(ok(
        "entity",
        write_entity(&s, &bp, &identifier, &u, None).await?,
    ))
}

async fn patch_entity(
    State(s): State<Server>,
    user: User,
    Path((bp, id)): Path<(String, String)>,
    Body(body): Body,
) -> Result<AxJson<Json>, ApiError> {
    admin(&user, "write entities")?;
    let (identifier, u) = read_entity(&bp, body, Some(&id))?;
    let existing = s
        .engine()
        .store
        .entity(&bp, &id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no entity `{id}` of blueprint `{bp}`")))?;
    Ok(ok(
        "entity",
        write_entity(&s, &bp, &identifier, &u, Some(&existing)).await?,
    ))
}

async fn delete_entity(
    State(s): State<Server>,
    user: User,
    Path((bp, id)): Path<(String, String)>,
) -> Result<AxJson<Json>, ApiError> {
    admin(&user, "delete entities")?;
    if s.engine().store.entity(&bp, &id).await?.is_none() {
        return Err(ApiError::not_found(format!(
            "no entity `{id}` of blueprint `{bp}`"
        )));
    }
    s.engine()
        .store
        .apply(vec![Write::DeleteEntity {
            blueprint: bp,
            identifier: id,
        }])
        .await?;
    Ok(ok("deleted", Json::Bool(true)))
}

async fn search(
    State(s): State<Server>,
    _user: User,
    Path(bp): Path<String>,
    Body(body): Body,
) -> Result<AxJson<Json>, ApiError> {
    let q = match body {
        Json::Object(mut m) if m.contains_key("query") => m.remove("query").unwrap_or_default(),
        other => other,
    };
    let problems = query::check(&q);
    if !problems.is_empty() {
        return Err(ApiError::invalid(problems));
    }
    blueprint(&s, &bp).await?;
    let found: Vec<Json> = s
        .engine()
        .store
        .entities(Some(&bp))
        .await?
        .into_iter()
        .filter(|e| query::matches(&q, e))
        .collect();
    Ok(ok("entities", Json::Array(found)))
}
