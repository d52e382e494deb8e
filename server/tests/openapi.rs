//! `/openapi.json` against the server: every documented operation is routed and declares its
//! path parameters, and what the server answers (status and body) is what the document says,
//! checked with JSON Schema.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value as Json, json};
use wflow_compiler::Syntax;
use wflow_engine::Store;
use wflow_server::{self as server, Auth, Options, Server, SystemClock};

const ADMIN: &str = "admin-token-0123456789";

const WORKFLOWS: &str = r#"
workflow hello "Hello" {
  form trigger "Say hello" {
    input name: string "Name" { min_length 2 }
  }
  approval gate "Gate" {
    input reason?: string "Reason"
    button ok "OK" PRIMARY { needs 1 }
    button no "No" DANGER { needs 1 }
  }
  condition after "After" { outlet y "Y" when `true` }
  flow {
    trigger -> gate
    gate.ok -> after
  }
}
"#;

struct Api {
    base: String,
    http: reqwest::Client,
    doc: Json,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    done: tokio::task::JoinHandle<std::io::Result<()>>,
    dir: std::path::PathBuf,
}

async fn serve() -> Api {
    let dir = std::env::temp_dir().join(format!(
        "wflow-openapi-{}",
        wflow_engine::engine::new_id("")
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let store = Store::open(&dir.join("wflow.db")).await.expect("store");
    let plans = server::prepare(WORKFLOWS, Syntax::Wflow, "t.wflow", &Default::default())
        .expect("workflows");
    let users =
        json!({"users": [{"token": ADMIN, "email": "root@example.com", "roles": ["Admin"]}]});
    let options = Options {
        auth: Some(Auth::parse(&users.to_string()).expect("auth")),
        ..Options::default()
    };
    let server = Server::new(store, plans, options).expect("server");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let done = tokio::spawn(server.serve(
        listener,
        Arc::new(SystemClock),
        async move {
            let _ = rx.await;
        },
        Duration::from_secs(5),
    ));
    let http = reqwest::Client::new();
    let doc = http
        .get(format!("{base}/openapi.json"))
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("the document is JSON");
    Api {
        base,
        http,
        doc,
        stop: Some(tx),
        done,
        dir,
    }
}

impl Api {
    /// The operation object of `method template`.
    fn op(&self, method: &str, template: &str) -> &Json {
        let op = &self.doc["paths"][template][method.to_ascii_lowercase()];
        assert!(op.is_object(), "{method} {template} is not documented");
        op
    }

    /// Sends `method template` (its `{params}` from `params`, then `query`) and checks the
    /// answer against the document: a documented status, a body of its schema.
    async fn check(
        &self,
        method: &str,
        template: &str,
        params: &[(&str, &str)],
        query: &str,
        token: Option<&str>,
        body: Option<&str>,
    ) -> (u16, Json) {
        let mut path = template.to_string();
        for (name, value) in params {
            path = path.replace(&format!("{{{name}}}"), value);
        }
        let m = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut req = self.http.request(m, format!("{}{path}{query}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req
                .header("content-type", "application/json")
                .body(b.to_string());
        }
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        let text = resp.text().await.expect("body");
        let what = format!("{method} {path}{query} -> {status}: {text}");
        let response = &self.op(method, template)["responses"][status.to_string()];
        let response = self.resolve(response);
        assert!(response.is_object(), "undocumented status: {what}");
        let json: Json = serde_json::from_str(&text).unwrap_or(Json::Null);
        if let Some(schema) = response
            .pointer("/content/application~1json/schema")
            .cloned()
        {
            let errors = self.errors(schema, &json);
            assert!(errors.is_empty(), "{what}\nnot as documented: {errors:#?}");
        }
        (status, json)
    }

    /// `value`, or what its `$ref` points at.
    fn resolve<'a>(&'a self, value: &'a Json) -> &'a Json {
        match value["$ref"].as_str().and_then(|r| r.strip_prefix('#')) {
            Some(pointer) => self.doc.pointer(pointer).unwrap_or(&Json::Null),
            None => value,
        }
    }

    /// What of `value` does not match `schema` (refs to the document's components resolved).
    fn errors(&self, schema: Json, value: &Json) -> Vec<String> {
        let root = json!({"allOf": [schema], "components": self.doc["components"]});
        let validator = jsonschema::validator_for(&root).expect("a JSON Schema");
        validator
            .iter_errors(value)
            .map(|e| e.to_string())
            .collect()
    }

    async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        (&mut self.done).await.expect("join").expect("served");
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Every `"$ref"` in `value`.
fn refs(value: &Json, out: &mut Vec<String>) {
    match value {
        Json::Object(m) => {
            if let Some(Json::String(r)) = m.get("$ref") {
                out.push(r.clone());
            }
            m.values().for_each(|v| refs(v, out));
        }
        Json::Array(a) => a.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}

/// The `{params}` of a path template.
fn template_params(path: &str) -> Vec<&str> {
    path.split('/')
        .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
        .collect()
}

#[tokio::test]
async fn every_documented_operation_is_routed_with_its_parameters() {
    let api = serve().await;
    let doc = &api.doc;
    assert_eq!(doc["openapi"], "3.1.0");
    let mut all = Vec::new();
    refs(doc, &mut all);
    for r in &all {
        let target = r.strip_prefix('#').and_then(|p| doc.pointer(p));
        assert!(target.is_some(), "`{r}` points at nothing");
    }
    let paths = doc["paths"].as_object().expect("paths");
    let mut ids = std::collections::HashSet::new();
    let mut operations = Vec::new();
    for (path, item) in paths {
        for (method, op) in item.as_object().expect("path item") {
            let what = format!("{method} {path}");
            assert!(
                ids.insert(op["operationId"].to_string()),
                "{what}: id taken"
            );
            assert!(op["summary"].is_string(), "{what}: no summary");
            let params = op["parameters"].as_array().expect("parameters");
            let mut declared: Vec<&str> = params
                .iter()
                .filter(|p| p["in"] == "path")
                .inspect(|p| {
                    assert_eq!(p["required"], true, "{what}: {p}");
                    assert!(p["description"].as_str().is_some_and(|d| !d.is_empty()));
                })
                .filter_map(|p| p["name"].as_str())
                .collect();
            declared.sort_unstable();
            let mut named = template_params(path);
            named.sort_unstable();
            assert_eq!(declared, named, "{what}: path parameters");
            for p in params {
                assert!(p["schema"].is_object(), "{what}: {p} has no schema");
            }
            let responses = op["responses"].as_object().expect("responses");
            assert!(
                responses.keys().any(|s| s.starts_with('2')),
                "{what}: no success"
            );
            assert!(
                responses.contains_key("408"),
                "{what}: every request may time out"
            );
            if op["requestBody"].is_object() {
                assert!(responses.contains_key("400") && responses.contains_key("413"));
            }
            if !named.is_empty() {
                assert!(
                    responses.contains_key("400"),
                    "{what}: a path that is not UTF-8"
                );
            }
            operations.push((method.to_ascii_uppercase(), path.clone()));
        }
    }
    // Links name operations that exist, and parameters those operations take.
    for item in paths.values().filter_map(Json::as_object) {
        for op in item.values() {
            for resp in op["responses"].as_object().into_iter().flatten() {
                for link in resp.1["links"].as_object().into_iter().flatten() {
                    let target = link.1["operationId"].as_str().unwrap_or_default();
                    let (m, p) = target.split_once(' ').expect("`method path`");
                    assert!(paths[p][m].is_object(), "link to {target}");
                    for name in link.1["parameters"].as_object().into_iter().flatten() {
                        assert!(template_params(p).contains(&name.0.as_str()), "{target}");
                    }
                }
            }
        }
    }
    assert!(operations.len() >= 24, "{operations:?}");

    // Each one is routed (neither the fallback's 404 nor a 405) and answers as documented,
    // with and without a token; the workflow `{id}` lists the served workflows.
    assert_eq!(
        doc["paths"]["/v1/workflows/{id}"]["get"]["parameters"][0]["schema"]["enum"],
        json!(["hello"])
    );
    for (method, path) in &operations {
        let params = [
            ("id", "hello"),
            ("bp", "nope"),
            ("run", "nope"),
            ("node_run", "nope"),
            ("node", "nope"),
        ];
        let body = api.op(method, path)["requestBody"]
            .is_object()
            .then_some("{}");
        let (status, json) = api
            .check(method, path, &params, "", Some(ADMIN), body)
            .await;
        assert_ne!(status, 405, "{method} {path}");
        assert!(
            !json["message"]
                .as_str()
                .is_some_and(|m| m.contains("no such endpoint")),
            "{method} {path} is not routed"
        );
        let public = api.op(method, path)["security"] == json!([]);
        let (status, _) = api.check(method, path, &params, "", None, body).await;
        assert_eq!(status == 401, !public, "{method} {path} without a token");
    }
    // Each documented path takes the documented methods and no others (the 405's `Allow`).
    for (path, item) in paths {
        let mut documented: Vec<String> = item
            .as_object()
            .into_iter()
            .flatten()
            .map(|(m, _)| m.to_ascii_uppercase())
            .collect();
        if documented.iter().any(|m| m == "GET") {
            documented.push("HEAD".into());
        }
        documented.sort_unstable();
        let mut url = format!("{}{path}", api.base);
        for name in template_params(path) {
            url = url.replace(&format!("{{{name}}}"), "x");
        }
        let resp = api
            .http
            .request(reqwest::Method::OPTIONS, url)
            .send()
            .await
            .expect("request");
        assert_eq!(resp.status().as_u16(), 405, "OPTIONS {path}");
        let allow = resp.headers()["allow"].to_str().expect("ascii");
        let mut allowed: Vec<&str> = allow.split(',').map(str::trim).collect();
        allowed.sort_unstable();
        assert_eq!(allowed, documented, "{path}");
    }
    api.stop().await;
}

#[tokio::test]
async fn answers_match_the_document() {
    let api = serve().await;
    let a = Some(ADMIN);
    let bp = [("bp", "service")];
    let ent = [("bp", "service"), ("id", "api")];
    let blueprint = r#"{"identifier": "service", "schema": {"properties": {
        "tier": {"type": "number"}, "lang": {"type": "string", "enum": ["rust", "go"]}}}}"#;

    // The catalog.
    let c = |method, path, params: &'static [(&'static str, &'static str)], query, body| {
        api.check(method, path, params, query, a, body)
    };
    assert_eq!(
        c("POST", "/v1/blueprints", &[], "", Some(blueprint))
            .await
            .0,
        201
    );
    assert_eq!(
        c("POST", "/v1/blueprints", &[], "", Some(blueprint))
            .await
            .0,
        409
    );
    assert_eq!(c("POST", "/v1/blueprints", &[], "", Some("{")).await.0, 400);
    let (s, body) = c(
        "POST",
        "/v1/blueprints",
        &[],
        "",
        Some(r#"{"schema": {"required": "tier"}}"#),
    )
    .await;
    assert_eq!(s, 422);
    assert_eq!(body["problems"].as_array().map(Vec::len), Some(2), "{body}");
    let put = api.check("PUT", "/v1/blueprints/{bp}", &bp, "", a, Some(blueprint));
    assert_eq!(put.await.0, 200);
    assert_eq!(c("GET", "/v1/blueprints", &[], "", None).await.0, 200);
    let ents = "/v1/blueprints/{bp}/entities";
    let e = r#"{"identifier": "api", "properties": {"tier": 1, "lang": "rust"}}"#;
    assert_eq!(api.check("POST", ents, &bp, "", a, Some(e)).await.0, 201);
    assert_eq!(api.check("POST", ents, &bp, "", a, Some(e)).await.0, 409);
    let upsert = api
        .check("POST", ents, &bp, "?upsert=true", a, Some(e))
        .await;
    assert_eq!(upsert.0, 201);
    let (s, body) = api
        .check("POST", ents, &bp, "?upsert=yes", a, Some(e))
        .await;
    assert_eq!(s, 422, "{body}");
    let (s, body) = api
        .check(
            "PATCH",
            "/v1/blueprints/{bp}/entities/{id}",
            &ent,
            "",
            a,
            Some(r#"{"identifier": 7, "blueprint": 1, "properties": {"lang": "cobol"}}"#),
        )
        .await;
    assert_eq!(s, 422);
    assert_eq!(body["problems"].as_array().map(Vec::len), Some(2), "{body}");
    let patch = r#"{"properties": {"tier": 2}}"#;
    let (s, body) = api
        .check(
            "PATCH",
            "/v1/blueprints/{bp}/entities/{id}",
            &ent,
            "",
            a,
            Some(patch),
        )
        .await;
    assert_eq!(
        (s, &body["entity"]["properties"]["lang"]),
        (200, &json!("rust"))
    );
    let search = "/v1/blueprints/{bp}/entities/search";
    for q in [
        r#"{"combinator": "and", "rules": [{"property": "tier", "operator": ">", "value": 1}]}"#,
        r#"{"query": {"property": "lang", "operator": "in", "value": ["rust"]}}"#,
    ] {
        let (s, body) = api.check("POST", search, &bp, "", a, Some(q)).await;
        assert_eq!(
            (s, body["entities"].as_array().map(Vec::len)),
            (200, Some(1))
        );
    }
    let (s, _) = api.check("POST", search, &bp, "", a, Some("")).await;
    assert_eq!(s, 422);
    // An empty body is `{}`; a `null` one is not an object.
    let entity = "/v1/blueprints/{bp}/entities/{id}";
    let (s, body) = api.check("PUT", entity, &ent, "", a, Some("null")).await;
    assert_eq!(s, 422, "{body}");
    let gone = api.check("DELETE", "/v1/blueprints/{bp}", &bp, "", a, None);
    assert_eq!(gone.await.0, 409);
    let del = api.check(
        "DELETE",
        "/v1/blueprints/{bp}/entities/{id}",
        &ent,
        "",
        a,
        None,
    );
    assert_eq!(del.await.0, 200);
    // An entity may be called `search`, though the search's POST has its path.
    let named = r#"{"identifier": "search", "properties": {"tier": 3}}"#;
    assert_eq!(
        api.check("POST", ents, &bp, "", a, Some(named)).await.0,
        201
    );
    let it = [("bp", "service"), ("id", "search")];
    for method in ["GET", "PATCH", "PUT", "DELETE"] {
        let body = (method != "GET" && method != "DELETE").then_some("{}");
        let (s, body) = api
            .check(
                method,
                "/v1/blueprints/{bp}/entities/{id}",
                &it,
                "",
                a,
                body,
            )
            .await;
        assert_eq!((s, &body["ok"]), (200, &json!(true)), "{method}: {body}");
    }

    // Runs: start, answer the approval, list, cancel.
    let wf = [("id", "hello")];
    let runs = "/v1/workflows/{id}/runs";
    let (s, body) = api
        .check(
            "POST",
            runs,
            &wf,
            "",
            a,
            Some(r#"{"inputs": {"name": "x"}}"#),
        )
        .await;
    assert_eq!(s, 422, "{body}");
    let (s, body) = api
        .check(
            "POST",
            runs,
            &wf,
            "",
            a,
            Some(r#"{"inputs": {"name": "Ada"}}"#),
        )
        .await;
    assert_eq!(s, 201, "{body}");
    let id = body["run"]["identifier"]
        .as_str()
        .expect("run id")
        .to_string();
    let run = [("run", id.as_str()), ("node", "gate")];
    let respond = "/v1/workflows/runs/{run}/nodes/{node}/responses";
    let mut answered = (0, Json::Null);
    for _ in 0..100 {
        answered = api
            .check("POST", respond, &run, "", a, Some(r#"{"button": "ok"}"#))
            .await;
        if answered.0 != 409 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(answered.0, 200, "{}", answered.1);
    let (s, body) = api
        .check("POST", respond, &run, "", a, Some(r#"{"button": "maybe"}"#))
        .await;
    assert_eq!(s, 422, "{body}");
    let get = api.check("GET", "/v1/workflows/runs/{run}", &run, "", a, None);
    assert_eq!(get.await.0, 200);
    let list = api.check(
        "GET",
        "/v1/workflows/runs",
        &[],
        "?workflow=hello&limit=5",
        a,
        None,
    );
    assert_eq!(list.await.1["runs"].as_array().map(Vec::len), Some(1));
    let bad = api.check("GET", "/v1/workflows/runs", &[], "?limit=0", a, None);
    assert_eq!(bad.await.0, 422);
    let cancel = "/v1/workflows/runs/{run}/cancel";
    let (s, _) = api
        .check("POST", cancel, &run, "?force=maybe", a, None)
        .await;
    assert_eq!(s, 422);
    let report = "/v1/workflows/runs/{run}/nodes/{node_run}";
    let (s, body) = api
        .check(
            "PATCH",
            report,
            &[("run", id.as_str()), ("node_run", "x")],
            "",
            a,
            Some(
                r#"{"status": "COMPLETED", "result": null, "logs": [{"logLevel": 3, "log": "x"}]}"#,
            ),
        )
        .await;
    assert_eq!(s, 422);
    assert_eq!(body["problems"].as_array().map(Vec::len), Some(2), "{body}");

    // Errors in Port's shape: a path that is not UTF-8, a method an endpoint does not take.
    let (s, body) = api
        .check("GET", "/v1/workflows/{id}", &[("id", "%FF")], "", a, None)
        .await;
    assert_eq!(s, 400, "{body}");
    let resp = api
        .http
        .delete(format!("{}/v1/workflows", api.base))
        .bearer_auth(ADMIN)
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status().as_u16(), 405);
    assert_eq!(resp.headers()["allow"], "GET,HEAD");
    let body: Json = resp.json().await.expect("json");
    assert_eq!(body["error"], "method_not_allowed", "{body}");
    api.stop().await;
}
