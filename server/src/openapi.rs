//! `GET /openapi.json`: the API as an OpenAPI 3.1 document. The router and the document are
//! built from one table of [`Op`]s (`api::ops`), so every route is documented, with its path
//! and query parameters, request body, success response and error statuses.

use axum::handler::Handler;
use axum::routing::{MethodFilter, MethodRouter, on};
use serde_json::{Map, Value as Json, json};
use wflow_compiler::rules::{
    LIST_OPERATORS, QUERY_EMPTY_OPERATORS as EMPTY_OPERATORS,
    QUERY_SCALAR_OPERATORS as SCALAR_OPERATORS,
};

use crate::Server;

/// An HTTP method of the API.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Method {
    Get,
    Post,
    Put,
    Patch,
    Delete,
}

impl Method {
    /// The name of its operation in an OpenAPI path item.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Method::Get => "get",
            Method::Post => "post",
            Method::Put => "put",
            Method::Patch => "patch",
            Method::Delete => "delete",
        }
    }

    fn filter(self) -> MethodFilter {
        match self {
            Method::Get => MethodFilter::GET,
            Method::Post => MethodFilter::POST,
            Method::Put => MethodFilter::PUT,
            Method::Patch => MethodFilter::PATCH,
            Method::Delete => MethodFilter::DELETE,
        }
    }
}

/// One operation: the handler the router serves and what the document says of it.
pub(crate) struct Op {
    pub(crate) method: Method,
    pub(crate) path: &'static str,
    /// The handler, for `method` only.
    pub(crate) handler: MethodRouter<Server>,
    /// A value of its path template that another route has taken (the entity `search`):
    /// routed and documented there too.
    pub(crate) also_at: Option<&'static str>,
    summary: &'static str,
    /// Whether it takes the bearer token (under `--auth`), so may answer 401.
    auth: bool,
    query: Vec<Json>,
    /// The request body's schema and whether a body is required (an empty one reads as `{}`).
    body: Option<(Json, bool)>,
    /// The success status and its response object.
    success: (u16, Json),
    /// Error statuses besides the implied ones: 401 (auth), 400 (a body or path parameters),
    /// 413 (a body) and 408 (any request).
    errors: Vec<u16>,
    /// Operations its success response leads to, and where their path parameters are in it.
    links: Vec<(Method, &'static str)>,
    link_params: &'static [(&'static str, &'static str)],
}

impl Op {
    /// `method path`, served by `handler`; by default it needs the token and answers 200
    /// with any JSON object.
    pub(crate) fn new<H, T>(
        method: Method,
        path: &'static str,
        summary: &'static str,
        handler: H,
    ) -> Op
    where
        H: Handler<T, Server>,
        T: 'static,
    {
        Op {
            method,
            path,
            handler: on(method.filter(), handler),
            also_at: None,
            summary,
            auth: true,
            query: Vec::new(),
            body: None,
            success: (200, json!({ "description": "ok" })),
            errors: Vec::new(),
            links: Vec::new(),
            link_params: &[],
        }
    }

    /// Also routed at `path`, a value of its template that another route has taken.
    pub(crate) fn also_at(mut self, path: &'static str) -> Op {
        self.also_at = Some(path);
        self
    }

    /// Open without a token, also under `--auth`.
    pub(crate) fn public(mut self) -> Op {
        self.auth = false;
        self
    }

    /// A query parameter (never required).
    pub(crate) fn query(mut self, name: &str, schema: Json, description: &str) -> Op {
        self.query.push(json!({
            "name": name, "in": "query", "required": false,
            "description": description, "schema": schema,
        }));
        self
    }

    /// A JSON body of `schema`; `required`: an empty body (read as `{}`) is refused.
    pub(crate) fn body(mut self, schema: Json, required: bool) -> Op {
        self.body = Some((schema, required));
        self
    }

    /// 200 with `{"ok": true, key: <schema>}`.
    pub(crate) fn returns(mut self, key: &str, schema: Json) -> Op {
        self.success = (200, json_response(key, envelope(key, schema)));
        self
    }

    /// 201 with `{"ok": true, key: <schema>}`.
    pub(crate) fn creates(mut self, key: &str, schema: Json) -> Op {
        self.success = (201, json_response(key, envelope(key, schema)));
        self
    }

    /// 200 with `response`, an OpenAPI response object.
    pub(crate) fn responds(mut self, response: Json) -> Op {
        self.success = (200, response);
        self
    }

    /// The error statuses it answers besides 408 and those its token, body and path
    /// parameters imply.
    pub(crate) fn errors(mut self, statuses: &[u16]) -> Op {
        self.errors.extend_from_slice(statuses);
        self
    }

    /// OpenAPI links from its success response to `targets`, whose path parameters are found
    /// at `params` (`("run", "$response.body#/run/identifier")`): for stateful testing.
    pub(crate) fn links(
        mut self,
        targets: &[(Method, &'static str)],
        params: &'static [(&'static str, &'static str)],
    ) -> Op {
        self.links.extend_from_slice(targets);
        self.link_params = params;
        self
    }

    /// Its operation object at `path` (its own or [`Op::also_at`]'s); `values` lists the
    /// values of a path parameter, if known.
    fn operation(&self, path: &str, values: &dyn Fn(&str, &str) -> Option<Vec<String>>) -> Json {
        let mut parameters: Vec<Json> = path_params(path)
            .map(|name| {
                let mut schema = json!({ "type": "string", "minLength": 1 });
                if let (Some(v), Some(m)) = (values(path, name), schema.as_object_mut()) {
                    m.insert("enum".into(), json!(v));
                }
                json!({
                    "name": name, "in": "path", "required": true,
                    "description": describe(path, name), "schema": schema,
                })
            })
            .collect();
        parameters.extend(self.query.iter().cloned());
        let mut statuses = self.errors.clone();
        statuses.push(408);
        if self.auth {
            statuses.push(401);
        }
        if self.body.is_some() {
            statuses.extend([400, 413]);
        }
        if path_params(path).next().is_some() {
            statuses.push(400);
        }
        statuses.sort_unstable();
        statuses.dedup();
        let mut success = self.success.1.clone();
        if let (false, Some(m)) = (self.links.is_empty(), success.as_object_mut()) {
            m.insert("links".into(), self.link_objects());
        }
        let mut responses = Map::new();
        responses.insert(self.success.0.to_string(), success);
        for s in statuses {
            responses.insert(s.to_string(), reference("responses", &s.to_string()));
        }
        let mut op = Map::new();
        // At `also_at`: "An entity, where `id` is `search`".
        let fixed = self
            .path
            .split('/')
            .zip(path.split('/'))
            .find_map(|(t, p)| {
                let name = t.strip_prefix('{')?.strip_suffix('}')?;
                (!p.starts_with('{')).then(|| format!(", where `{name}` is `{p}`"))
            });
        let summary = format!("{}{}", self.summary, fixed.unwrap_or_default());
        op.insert("operationId".into(), json!(operation_id(self.method, path)));
        op.insert("summary".into(), json!(summary));
        op.insert("parameters".into(), Json::Array(parameters));
        if let Some((schema, required)) = &self.body {
            op.insert(
                "requestBody".into(),
                json!({
                    "required": required,
                    "content": { "application/json": { "schema": schema } },
                }),
            );
        }
        op.insert("responses".into(), Json::Object(responses));
        if !self.auth {
            op.insert("security".into(), json!([]));
        }
        Json::Object(op)
    }

    /// Its links, by name.
    fn link_objects(&self) -> Json {
        let mut links = Map::new();
        for &(method, path) in &self.links {
            let id = operation_id(method, path);
            let names: Vec<&str> = path_params(path).collect();
            let mut parameters = Map::new();
            for (name, at) in self.link_params {
                if names.contains(name) {
                    parameters.insert((*name).into(), json!(at));
                }
            }
            let name: String = id
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
                .collect();
            links.insert(name, json!({ "operationId": id, "parameters": parameters }));
        }
        Json::Object(links)
    }
}

/// The `operationId` of `method path`: `"get /v1/workflows/{id}"`.
fn operation_id(method: Method, path: &str) -> String {
    format!("{} {path}", method.name())
}

/// The names of the `{params}` of a path template, in order.
fn path_params(path: &str) -> impl Iterator<Item = &str> {
    path.split('/')
        .filter_map(|seg| seg.strip_prefix('{')?.strip_suffix('}'))
}

/// What a path parameter names.
fn describe(path: &str, name: &str) -> &'static str {
    match name {
        "id" if path.starts_with("/v1/blueprints") => "The entity's identifier",
        "id" => "The workflow's identifier",
        "bp" => "The blueprint's identifier",
        "run" => "The run's identifier",
        "node_run" => "The node run's identifier",
        "node" => "The approval (INPUT) node's identifier, or its node run's identifier",
        _ => "",
    }
}

/// `{"$ref": "#/components/<kind>/<name>"}`.
pub(crate) fn reference(kind: &str, name: &str) -> Json {
    json!({ "$ref": format!("#/components/{kind}/{name}") })
}

/// A shared schema, by name (see [`document`]'s `components.schemas`).
pub(crate) fn schema(name: &str) -> Json {
    reference("schemas", name)
}

/// A JSON Schema array of `items`.
pub(crate) fn array(items: Json) -> Json {
    json!({ "type": "array", "items": items })
}

/// `{"ok": true, key: <schema>}`.
fn envelope(key: &str, schema: Json) -> Json {
    let mut properties = Map::new();
    properties.insert("ok".into(), json!({ "const": true }));
    properties.insert(key.into(), schema);
    json!({ "type": "object", "required": ["ok", key], "properties": properties })
}

/// A JSON response of `schema`, which is `{"ok": true, key: ...}`.
fn json_response(key: &str, schema: Json) -> Json {
    json!({
        "description": format!("`ok: true` and `{key}`"),
        "content": { "application/json": { "schema": schema } },
    })
}

/// What each error status means.
const ERRORS: &[(u16, &str)] = &[
    (
        400,
        "The body is not JSON (the message says where), or a path parameter is not UTF-8",
    ),
    (
        401,
        "No bearer token, or one the server does not know (only under `--auth`)",
    ),
    (403, "The caller may not do this"),
    (
        404,
        "No such workflow, run, node, blueprint or entity, or none the caller may see",
    ),
    (408, "The request took longer than `--request-timeout`"),
    (
        409,
        "Conflicts with what is stored: it exists, has entities, or is not waiting",
    ),
    (413, "The body is larger than 1 MiB"),
    (
        422,
        "The request is invalid; `problems` lists every problem",
    ),
];

/// The schemas shared by several operations.
fn schemas() -> Json {
    let string = json!({ "type": "string" });
    let named = json!({
        "type": "object", "required": ["identifier"],
        "properties": { "identifier": string },
    });
    // A rule's `value` by operator; a rule has no `rules` or `combinator` (that is a group).
    let rule = |operators: &[&str], value: Option<Json>| {
        let mut properties = json!({
            "property": { "type": "string", "description": "A property identifier, or \
                          $identifier, $title, $blueprint, $team, $icon, $createdAt, $updatedAt" },
            "operator": { "enum": operators },
            "rules": false,
            "combinator": false,
        });
        let mut required = vec!["property", "operator"];
        if let (Some(v), Some(m)) = (value, properties.as_object_mut()) {
            m.insert("value".into(), v);
            required.push("value");
        }
        json!({ "type": "object", "required": required, "properties": properties })
    };
    json!({
        "Error": {
            "type": "object",
            "required": ["ok", "error", "message", "problems"],
            "properties": {
                "ok": { "const": false },
                "error": { "type": "string", "description": "A code: invalid_json, \
                           invalid_request, unauthorized, forbidden, not_found, \
                           method_not_allowed, conflict, timeout, internal_error, missing_secrets, \
                           payload_too_large, forbidden_host (421), and without --auth \
                           forbidden_origin (403) and unsupported_media_type (415)" },
                "message": { "type": "string", "description": "Every problem, on one line" },
                "problems": { "type": "array", "items": {
                    "type": "object", "required": ["message"],
                    "properties": {
                        "message": string,
                        "pointer": { "type": "string", "description": "The JSON pointer of \
                                     the part of the request body the problem is with" },
                    },
                } },
            },
        },
        "Workflow": {
            "description": "A workflow as Port JSON (the newest schema)",
            "type": "object", "required": ["identifier"],
            "properties": { "identifier": string, "nodes": { "type": "array" },
                            "connections": { "type": "array" } },
        },
        "Run": {
            "description": "Port's run object, with its node runs in start order",
            "type": "object",
            "required": ["identifier", "workflow", "status", "nodeRuns"],
            "properties": {
                "identifier": string,
                "workflow": named,
                "status": { "enum": ["QUEUED", "IN_PROGRESS", "COMPLETED"] },
                "result": { "enum": ["SUCCESS", "FAILED", "CANCELLED", null] },
                "createdBy": { "type": ["string", "null"] },
                "queue": {
                    "type": "object",
                    "description": "Only while the run is QUEUED behind its workflow's \
                                    concurrency limit: the queued runs of the same workflow \
                                    (and concurrency key) accepted before it, the runs of that \
                                    key in progress, and the limit",
                    "properties": { "ahead": { "type": "integer" },
                                    "inProgress": { "type": "integer" },
                                    "limit": { "type": ["integer", "null"] } },
                },
                "nodeRuns": { "type": "array", "items": {
                    "type": "object",
                    "required": ["identifier", "node", "status"],
                    "properties": {
                        "identifier": string, "node": named, "status": string,
                        "request": {
                            "type": "object",
                            "description": "What the node's side effect sent, rendered, with \
                                            every secret and value computed from one shown as \
                                            [REDACTED]: a webhook's or AI node's {method, url, \
                                            headers, body}; a Kafka node's {topic, key, \
                                            headers, payload}; an upsert's {blueprint, \
                                            identifier, entity}; an integration action's \
                                            {service, action, properties, requests}. Absent \
                                            for nodes without one and for node runs recorded \
                                            before wflow recorded it",
                        },
                    },
                } },
            },
        },
        "RunSummary": {
            "type": "object",
            "required": ["identifier", "workflow", "status"],
            "properties": {
                "identifier": string, "workflow": named, "status": string,
                "result": { "type": ["string", "null"] },
                "createdBy": { "type": ["string", "null"] },
            },
        },
        "Approval": {
            "description": "An approval (INPUT) node waiting for the caller",
            "type": "object",
            "required": ["run", "node", "nodeRun", "buttons", "userInputs", "respond"],
            "properties": {
                "run": { "type": "object", "required": ["identifier", "workflow"],
                         "properties": { "identifier": string, "workflow": named,
                                         "createdBy": { "type": ["string", "null"] } } },
                "node": { "type": "object", "required": ["identifier"],
                          "properties": { "identifier": string,
                                          "title": { "type": ["string", "null"] } } },
                "nodeRun": { "type": "object", "required": ["identifier"],
                             "properties": { "identifier": string } },
                "buttons": { "type": "array", "items": { "type": "object",
                    "required": ["identifier"],
                    "properties": { "identifier": string,
                                    "title": { "type": ["string", "null"] } } } },
                "userInputs": { "type": "object", "description": "The approval's form" },
                "responses": { "type": "integer", "description": "Answers so far" },
                "respond": { "type": "string", "description": "How to answer it" },
            },
        },
        "Blueprint": {
            "type": "object", "required": ["identifier"],
            "properties": { "identifier": string, "schema": { "type": "object" } },
        },
        "Entity": {
            "type": "object", "required": ["identifier", "blueprint"],
            "properties": {
                "identifier": string, "blueprint": string,
                "properties": { "type": "object" }, "relations": { "type": "object" },
            },
        },
        "Query": {
            "description": "Port's rules query: a {combinator, rules} group or a single rule",
            "anyOf": [schema("Group"), schema("Rule")],
        },
        "Group": {
            "type": "object", "required": ["combinator", "rules"],
            "properties": {
                "combinator": { "enum": ["and", "or"] },
                "rules": { "type": "array", "items": schema("Query") },
            },
        },
        "Rule": {
            "oneOf": [
                rule(SCALAR_OPERATORS, Some(json!({}))),
                rule(LIST_OPERATORS, Some(json!({ "type": "array" }))),
                rule(EMPTY_OPERATORS, None),
            ],
        },
    })
}

/// The OpenAPI document of `ops`. `secured`: the server has `--auth`, so every operation but
/// the public ones needs a bearer token. `workflows`: the served workflows, the values of a
/// workflow's `{id}`.
pub(crate) fn document(ops: &[Op], secured: bool, workflows: Vec<String>) -> Json {
    let values = |path: &str, name: &str| {
        (name == "id" && path.starts_with("/v1/workflows/") && !workflows.is_empty())
            .then(|| workflows.clone())
    };
    let mut paths = Map::new();
    for op in ops {
        for path in std::iter::once(op.path).chain(op.also_at) {
            let item = paths
                .entry(path)
                .or_insert_with(|| Json::Object(Map::new()));
            if let Some(item) = item.as_object_mut() {
                item.insert(op.method.name().into(), op.operation(path, &values));
            }
        }
    }
    let mut responses = Map::new();
    for (status, description) in ERRORS {
        responses.insert(
            status.to_string(),
            json!({
                "description": description,
                "content": { "application/json": { "schema": schema("Error") } },
            }),
        );
    }
    let security = if secured {
        json!([{ "bearer": [] }])
    } else {
        json!([])
    };
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "wflow serve",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Port's workflow and catalog API for a directory of workflows. \
                            Errors are `{ok: false, error, message, problems}`.",
        },
        "components": {
            "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer" } },
            "schemas": schemas(),
            "responses": responses,
        },
        "security": security,
        "paths": paths,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_params_are_named() {
        let names: Vec<&str> = path_params("/v1/blueprints/{bp}/entities/{id}").collect();
        assert_eq!(names, ["bp", "id"]);
        assert_eq!(path_params("/healthz").count(), 0);
    }

    #[test]
    fn search_operators_match_the_search() {
        use crate::query::check;
        let unknown = check(&json!({"property": "a", "operator": "~", "value": 1})).join("");
        let mut known: Vec<&str> = unknown
            .split_once("use one of ")
            .map(|(_, list)| list.split(", ").collect())
            .unwrap_or_default();
        let mut documented = [SCALAR_OPERATORS, LIST_OPERATORS, EMPTY_OPERATORS].concat();
        known.sort_unstable();
        documented.sort_unstable();
        assert_eq!(known, documented);
        let rule = |op: &str, value: Option<Json>| {
            let mut r = json!({"property": "a", "operator": op});
            if let (Some(v), Some(m)) = (value, r.as_object_mut()) {
                m.insert("value".into(), v);
            }
            check(&r).is_empty()
        };
        for op in SCALAR_OPERATORS {
            assert!(rule(op, Some(json!(1))) && !rule(op, None), "{op}");
        }
        for op in LIST_OPERATORS {
            assert!(
                rule(op, Some(json!([1]))) && !rule(op, Some(json!(1))),
                "{op}"
            );
        }
        for op in EMPTY_OPERATORS {
            assert!(rule(op, None), "{op}");
        }
    }

    #[test]
    fn shared_schemas_are_json_schemas() {
        let doc = json!({ "components": { "schemas": schemas() } });
        for (name, s) in schemas().as_object().into_iter().flatten() {
            let mut root = doc.clone();
            if let (Some(root), Some(s)) = (root.as_object_mut(), s.as_object()) {
                root.extend(s.clone());
            }
            assert!(jsonschema::validator_for(&root).is_ok(), "{name}: {root:#}");
        }
    }
}
