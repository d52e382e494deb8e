//! The catalog endpoints: blueprints and entities, and entity search. Everyone signed in reads;
//! admins write. Entity writes go through the store, which reports them to the event triggers.

use std::collections::HashMap;

use axum::Json as AxJson;
use axum::extract::{FromRequestParts, Query, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde_json::{Map, Value as Json, json};

use super::api::openapi::Method::{Delete, Get, Patch, Post, Put};
use super::api::openapi::{Op, array, schema};
use super::api::{Body, Path, flag, object, ok};
use super::auth::forbidden;
use super::{ApiError, Problem, Server, User, query};
use wflow_compiler::catalog::Blueprint;
use wflow_engine::catalog::{self, Upsert};
use wflow_engine::engine::now;
use wflow_store::Write;

/// The path of the search, which an entity identified `search` shares (see [`EntityPath`]).
const SEARCH: &str = "/v1/blueprints/{bp}/entities/search";

/// The catalog's operations (see `api::ops`).
pub(super) fn ops() -> Vec<Op> {
    let entities = "/v1/blueprints/{bp}/entities";
    let entity = "/v1/blueprints/{bp}/entities/{id}";
    let deleted = json!({ "const": true });
    let of_blueprint = [
        (Get, "/v1/blueprints/{bp}"),
        (Put, "/v1/blueprints/{bp}"),
        (Delete, "/v1/blueprints/{bp}"),
        (Get, entities),
        (Post, entities),
        (Post, SEARCH),
    ];
    let bp = &[("bp", "$response.body#/blueprint/identifier")];
    let of_entity = [
        (Get, entity),
        (Put, entity),
        (Patch, entity),
        (Delete, entity),
    ];
    let id = &[
        ("bp", "$response.body#/entity/blueprint"),
        ("id", "$response.body#/entity/identifier"),
    ];
    vec![
        Op::new(Get, "/v1/blueprints", "Blueprints", list_blueprints)
            .returns("blueprints", array(schema("Blueprint"))),
        Op::new(
            Post,
            "/v1/blueprints",
            "Create a blueprint (admins)",
            create_blueprint,
        )
        .body(blueprint_body(true), true)
        .creates("blueprint", schema("Blueprint"))
        .errors(&[403, 409, 422])
        .links(&of_blueprint, bp),
        Op::new(Get, "/v1/blueprints/{bp}", "A blueprint", get_blueprint)
            .returns("blueprint", schema("Blueprint"))
            .errors(&[404]),
        Op::new(
            Put,
            "/v1/blueprints/{bp}",
            "Create or replace a blueprint (admins)",
            put_blueprint,
        )
        .body(blueprint_body(false), true)
        .returns("blueprint", schema("Blueprint"))
        .errors(&[403, 422])
        .links(&of_blueprint, bp),
        Op::new(
            Delete,
            "/v1/blueprints/{bp}",
            "Delete a blueprint without entities (admins)",
            delete_blueprint,
        )
        .returns("deleted", deleted.clone())
        .errors(&[403, 404, 409]),
        Op::new(Get, entities, "The entities of a blueprint", list_entities)
            .returns("entities", array(schema("Entity")))
            .errors(&[404]),
        Op::new(Post, entities, "Create an entity (admins)", create_entity)
            .query(
                "upsert",
                json!({ "type": "boolean", "default": false }),
                "Replace the entity if it exists",
            )
            .body(entity_body(true), true)
            .creates("entity", schema("Entity"))
            .errors(&[403, 404, 409, 422]),
        Op::new(
            Post,
            SEARCH,
            "The entities matching Port's rules query",
            search,
        )
        .body(
            json!({ "anyOf": [
                { "allOf": [schema("Query")], "properties": { "query": false } },
                { "type": "object", "required": ["query"],
                  "properties": { "query": schema("Query") } },
            ] }),
            true,
        )
        .returns("entities", array(schema("Entity")))
        .errors(&[404, 422]),
        Op::new(Get, entity, "An entity", get_entity)
            .also_at(SEARCH)
            .returns("entity", schema("Entity"))
            .errors(&[404]),
        Op::new(
            Put,
            entity,
            "Create or replace an entity (admins)",
            put_entity,
        )
        .also_at(SEARCH)
        .body(entity_body(false), false)
        .returns("entity", schema("Entity"))
        .errors(&[403, 404, 422])
        .links(&of_entity, id),
        Op::new(
            Patch,
            entity,
            "Update the given fields of an entity (admins)",
            patch_entity,
        )
        .also_at(SEARCH)
        .body(entity_body(false), false)
        .returns("entity", schema("Entity"))
        .errors(&[403, 404, 422]),
        Op::new(Delete, entity, "Delete an entity (admins)", delete_entity)
            .also_at(SEARCH)
            .returns("deleted", deleted)
            .errors(&[403, 404]),
    ]
}

/// A blueprint body; `identifier` is required when the path does not name it.
fn blueprint_body(identifier: bool) -> Json {
    let required: &[&str] = if identifier {
        &["identifier", "schema"]
    } else {
        &["schema"]
    };
    json!({
        "type": "object", "required": required,
        "properties": {
            "identifier": { "type": "string", "minLength": 1,
                            "description": "On PUT, the path's identifier if given" },
            "schema": { "type": "object", "properties": {
                "properties": { "type": "object",
                                "description": "Property definitions ({type, enum, format})" },
                "required": array(json!({ "type": "string" })),
            } },
            "relations": { "type": "object" },
        },
    })
}

/// An entity body; `identifier` is required when the path does not name it. Properties and
/// relations are checked against the blueprint (422).
fn entity_body(identifier: bool) -> Json {
    let required: &[&str] = if identifier { &["identifier"] } else { &[] };
    json!({
        "type": "object", "required": required,
        "properties": {
            "identifier": { "type": "string", "minLength": 1,
                            "description": "On PUT and PATCH, the path's identifier if given" },
            "blueprint": { "type": "string", "description": "The path's blueprint if given" },
            "properties": { "type": ["object", "null"] },
            "relations": { "type": ["object", "null"] },
        },
    })
}

/// The blueprint and identifier in an entity's path. The entity `search` is also served at
/// [`SEARCH`] (for the methods other than the search's POST), where `id` is absent.
struct EntityPath {
    bp: String,
    id: String,
}

impl FromRequestParts<Server> for EntityPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, s: &Server) -> Result<EntityPath, ApiError> {
        let Path(mut p) = Path::<HashMap<String, String>>::from_request_parts(parts, s).await?;
        Ok(EntityPath {
            bp: p.remove("bp").unwrap_or_default(),
            id: p.remove("id").unwrap_or_else(|| "search".into()),
        })
    }
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

/// The identifier of a blueprint or entity body: the path's, `id`, if any (the body's, if
/// given, must be the same), else the body's.
fn identifier(m: &Map<String, Json>, id: Option<&str>, problems: &mut Vec<Problem>) -> String {
    match (m.get("identifier"), id) {
        (None, Some(path)) => path.to_string(),
        (Some(Json::String(given)), Some(path)) => {
            if given != path {
                problems.push(Problem::at(
                    "/identifier",
                    format!("`identifier` is `{given}` but the path names `{path}`"),
                ));
            }
            path.to_string()
        }
        (Some(Json::String(given)), None) if !given.is_empty() => given.clone(),
        _ => {
            problems.push(Problem::at(
                "/identifier",
                "`identifier`: a non-empty string is required",
            ));
            id.unwrap_or_default().to_string()
        }
    }
}

/// Checks a blueprint body; `id` is the identifier from the path, if any.
fn read_blueprint(body: Json, id: Option<&str>) -> Result<(String, Json), ApiError> {
    let mut m = object(body, "a blueprint")?;
    let mut problems = Vec::new();
    let identifier = identifier(&m, id, &mut problems);
    m.insert("identifier".into(), Json::String(identifier.clone()));
    match m.get("schema") {
        Some(Json::Object(schema)) => {
            if schema.get("properties").is_some_and(|p| !p.is_object()) {
                problems.push(Problem::at(
                    "/schema/properties",
                    "`schema.properties` must be an object",
                ));
            }
            if schema
                .get("required")
                .is_some_and(|r| !r.as_array().is_some_and(|a| a.iter().all(Json::is_string)))
            {
                problems.push(Problem::at(
                    "/schema/required",
                    "`schema.required` must be a list of property identifiers",
                ));
            }
        }
        _ => problems.push(Problem::at(
            "/schema",
            "`schema`: an object with `properties` is required",
        )),
    }
    if m.get("relations").is_some_and(|r| !r.is_object()) {
        problems.push(Problem::at("/relations", "`relations` must be an object"));
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
    EntityPath { bp, id }: EntityPath,
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
    let identifier = identifier(&m, id, &mut problems);
    let mut fields = |key: &str| -> Map<String, Json> {
        match m.get(key) {
            None | Some(Json::Null) => Map::new(),
            Some(Json::Object(o)) => o.clone(),
            Some(other) => {
                problems.push(Problem::at(
                    format!("/{key}"),
                    format!("`{key}` must be an object, not {other}"),
                ));
                Map::new()
            }
        }
    };
    let properties = fields("properties");
    let relations = fields("relations");
    match m.get("blueprint") {
        None => {}
        Some(Json::String(given)) if given == bp => {}
        Some(Json::String(given)) => problems.push(Problem::at(
            "/blueprint",
            format!("`blueprint` is `{given}` but the path names `{bp}`"),
        )),
        Some(other) => problems.push(Problem::at(
            "/blueprint",
            format!("`blueprint` must be the path's blueprint `{bp}`, not {other}"),
        )),
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
    let blueprint =
        Blueprint::from_port_value(&blueprint(s, bp).await?).map_err(ApiError::internal)?;
    let at = now();
    let entity = catalog::upsert(&blueprint, existing, u, identifier, &at).map_err(|problems| {
        ApiError::invalid(
            problems
                .into_iter()
                .map(|p| Problem::at(p.pointer, p.message))
                .collect::<Vec<_>>(),
        )
    })?;
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
    let upsert = flag(&q, "upsert")?;
    let (identifier, u) = read_entity(&bp, body, None)?;
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
    EntityPath { bp, id }: EntityPath,
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
    EntityPath { bp, id }: EntityPath,
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
    EntityPath { bp, id }: EntityPath,
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
