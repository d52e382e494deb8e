//! The local catalog: Port blueprints and entities, validation of an entity against its
//! blueprint, and the upsert merge (create when absent, otherwise update only the given fields).

use serde_json::{Map, Value as Json, json};
use wflow_compiler::catalog::Blueprint;

/// What an UPSERT_ENTITY node writes, after templating.
#[derive(Debug, Clone, Default)]
pub struct Upsert {
    pub blueprint: String,
    pub identifier: Option<String>,
    pub title: Option<Json>,
    pub icon: Option<Json>,
    pub team: Option<Json>,
    pub properties: Map<String, Json>,
    pub relations: Map<String, Json>,
}

/// What is wrong with an entity, at the JSON pointer (into the entity) of the part concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub pointer: String,
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// The problems' messages in one line.
pub fn joined(problems: &[Problem]) -> String {
    let messages: Vec<&str> = problems.iter().map(|p| p.message.as_str()).collect();
    messages.join("; ")
}

/// A problem at `pointer`.
fn at(pointer: String, message: String) -> Problem {
    Problem { pointer, message }
}

/// Merges `u` into `existing` (or creates the entity), then validates it against `blueprint`.
/// Returns the entity, or every problem.
pub fn upsert(
    blueprint: &Blueprint,
    existing: Option<&Json>,
    u: &Upsert,
    identifier: &str,
    now: &str,
) -> Result<Json, Vec<Problem>> {
    let mut e = match existing {
        Some(Json::Object(m)) => m.clone(),
        _ => {
            let mut m = Map::new();
            m.insert("identifier".into(), json!(identifier));
            m.insert("blueprint".into(), json!(u.blueprint));
            m.insert("properties".into(), json!({}));
            m.insert("relations".into(), json!({}));
            m.insert("createdAt".into(), json!(now));
            m
        }
    };
    for (k, v) in [("title", &u.title), ("icon", &u.icon), ("team", &u.team)] {
        if let Some(v) = v {
            e.insert(k.into(), v.clone());
        }
    }
    for (field, given) in [("properties", &u.properties), ("relations", &u.relations)] {
        let slot = e.entry(field).or_insert_with(|| json!({}));
        if !slot.is_object() {
            *slot = json!({});
        }
        if let Json::Object(m) = slot {
            for (k, v) in given {
                m.insert(k.clone(), v.clone());
            }
        }
    }
    e.insert("updatedAt".into(), json!(now));
    let entity = Json::Object(e);
    let problems = validate(blueprint, &entity);
    if problems.is_empty() {
        Ok(entity)
    } else {
        Err(problems)
    }
}

/// Problems with `entity` against `blueprint`: unknown properties and relations, property
/// types and enums, missing required properties and relations.
pub fn validate(blueprint: &Blueprint, entity: &Json) -> Vec<Problem> {
    let bp = &blueprint.identifier;
    let mut problems = Vec::new();
    let empty = Map::new();
    let props = entity["properties"].as_object().unwrap_or(&empty);
    for (k, v) in props {
        let Some(def) = blueprint.property(k) else {
            let known: Vec<&String> = blueprint.properties.iter().map(|p| &p.identifier).collect();
            problems.push(at(
                format!("/properties/{k}"),
                format!(
                    "property `{k}` is not defined on blueprint `{bp}` (its properties: {})",
                    list(&known)
                ),
            ));
            continue;
        };
        if v.is_null() {
            continue;
        }
        let ty = def.ty.as_str();
        let ok = match ty {
            "string" => v.is_string(),
            "number" => v.is_number(),
            "boolean" => v.is_boolean(),
            "array" => v.is_array(),
            "object" => v.is_object(),
            _ => true,
        };
        if !ok {
            problems.push(at(
                format!("/properties/{k}"),
                format!("property `{k}` of blueprint `{bp}` is a {ty}, but the value is {v}"),
            ));
        } else if !def.enum_values.is_empty() && !def.enum_values.contains(v) {
            let allowed: Vec<String> = def.enum_values.iter().map(Json::to_string).collect();
            problems.push(at(
                format!("/properties/{k}"),
                format!(
                    "property `{k}` of blueprint `{bp}` must be one of {}, not {v}",
                    allowed.join(", ")
                ),
            ));
        }
    }
    for p in blueprint.properties.iter().filter(|p| p.required) {
        let r = &p.identifier;
        if props.get(r).is_none_or(Json::is_null) {
            problems.push(at(
                format!("/properties/{r}"),
                format!(
                    "property `{r}` is required by blueprint `{bp}`; add it to the mapping's \
                     properties"
                ),
            ));
        }
    }
    let rels = entity["relations"].as_object().unwrap_or(&empty);
    for (k, v) in rels {
        match blueprint.relation(k) {
            None => {
                let known: Vec<&String> =
                    blueprint.relations.iter().map(|r| &r.identifier).collect();
                problems.push(at(
                    format!("/relations/{k}"),
                    format!(
                        "relation `{k}` is not defined on blueprint `{bp}` (its relations: {})",
                        list(&known)
                    ),
                ));
            }
            Some(def) => {
                let ok = if def.many {
                    v.is_null() || v.as_array().is_some_and(|a| a.iter().all(Json::is_string))
                } else {
                    v.is_null() || v.is_string()
                };
                if !ok {
                    let want = if def.many {
                        "a list of entity identifiers"
                    } else {
                        "an entity identifier"
                    };
                    problems.push(at(
                        format!("/relations/{k}"),
                        format!("relation `{k}` of blueprint `{bp}` takes {want}, not {v}"),
                    ));
                }
            }
        }
    }
    for def in blueprint.relations.iter().filter(|r| r.required) {
        let k = &def.identifier;
        if rels.get(k).is_none_or(Json::is_null) {
            problems.push(at(
                format!("/relations/{k}"),
                format!("relation `{k}` is required by blueprint `{bp}`"),
            ));
        }
    }
    problems
}

fn list(items: &[&String]) -> String {
    if items.is_empty() {
        "none".into()
    } else {
        items
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// What a catalog file holds.
#[derive(Debug, Clone, PartialEq)]
pub enum Document {
    Blueprint(Json),
    Entity(Json),
}

/// Splits a Port JSON catalog file (a blueprint, an entity, a list of them, or an API
/// envelope `{"blueprint": ...}` / `{"entity": ...}` / `{"entities": [...]}`) into documents.
pub fn documents(v: &Json) -> Result<Vec<Document>, String> {
    match v {
        Json::Array(items) => items
            .iter()
            .map(documents)
            .collect::<Result<Vec<_>, _>>()
            .map(|d| d.concat()),
        Json::Object(m) => {
            for key in ["blueprint", "entity"] {
                if let Some(inner @ Json::Object(_)) = m.get(key) {
                    return documents(inner);
                }
            }
            for key in ["blueprints", "entities"] {
                if let Some(inner @ Json::Array(_)) = m.get(key) {
                    return documents(inner);
                }
            }
            if !m.get("identifier").is_some_and(Json::is_string) {
                return Err("a blueprint or entity needs a string `identifier`".into());
            }
            if m.contains_key("schema") {
                Ok(vec![Document::Blueprint(v.clone())])
            } else if m.get("blueprint").is_some_and(Json::is_string) {
                Ok(vec![Document::Entity(v.clone())])
            } else {
                Err(format!(
                    "`{}` is neither a blueprint (it has no `schema`) nor an entity (it has no \
                     `blueprint`)",
                    m["identifier"].as_str().unwrap_or("?")
                ))
            }
        }
        _ => Err("expected a JSON object or array of blueprints and entities".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service() -> Blueprint {
        Blueprint::from_port_value(&service_json()).expect("blueprint")
    }

    fn service_json() -> Json {
        json!({
            "identifier": "service",
            "schema": {
                "properties": {
                    "version": {"type": "string"},
                    "tier": {"type": "string", "enum": ["1", "2"]},
                    "replicas": {"type": "number"}
                },
                "required": ["tier"]
            },
            "relations": {"env": {"target": "environment", "many": false}}
        })
    }

    #[test]
    fn creates_then_updates_only_given_fields() {
        let mut u = Upsert {
            blueprint: "service".into(),
            title: Some(json!("API")),
            ..Upsert::default()
        };
        u.properties.insert("tier".into(), json!("1"));
        u.properties.insert("version".into(), json!("v1"));
        let e = upsert(&service(), None, &u, "api", "t1").expect("valid");
        assert_eq!(e["properties"], json!({"tier": "1", "version": "v1"}));
        let mut u2 = Upsert {
            blueprint: "service".into(),
            ..Upsert::default()
        };
        u2.properties.insert("version".into(), json!("v2"));
        let e2 = upsert(&service(), Some(&e), &u2, "api", "t2").expect("valid");
        assert_eq!(e2["properties"], json!({"tier": "1", "version": "v2"}));
        assert_eq!(e2["title"], "API");
        assert_eq!(e2["createdAt"], "t1");
        assert_eq!(e2["updatedAt"], "t2");
    }

    #[test]
    fn reports_every_problem() {
        let mut u = Upsert {
            blueprint: "service".into(),
            ..Upsert::default()
        };
        u.properties.insert("replicas".into(), json!("two"));
        u.properties.insert("colour".into(), json!("red"));
        u.relations.insert("env".into(), json!(["a"]));
        let problems = upsert(&service(), None, &u, "api", "t").expect_err("invalid");
        assert_eq!(problems.len(), 4, "{problems:#?}");
    }

    #[test]
    fn splits_documents() {
        let docs =
            documents(&json!([service_json(), {"identifier": "api", "blueprint": "service"}]))
                .expect("documents");
        assert_eq!(docs.len(), 2);
        assert!(documents(&json!({"identifier": "x"})).is_err());
    }
}
