//! Signing a browser in to `wflow serve --auth`: the token traded for an HttpOnly,
//! SameSite=Strict session cookie and a CSRF cookie; reads with the cookie alone; writes only
//! with the CSRF value echoed in `X-CSRF-Token`; sign-out; `/v1/me` with and without `--auth`.

mod support;

use reqwest::header::{COOKIE, SET_COOKIE};
use serde_json::{Value as Json, json};
use support::{Reaper, Scratch, start, start_on};

const TOKEN: &str = "token-dev-0123456789;=x";

const WORKFLOW: &str = support::HELLO;

/// The `name=value` part of the `Set-Cookie` header naming `name`, and its attributes.
fn set_cookie(resp: &reqwest::Response, name: &str) -> (String, String) {
    let header = resp
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .unwrap_or_else(|| panic!("no {name} cookie"))
        .to_string();
    let (pair, attributes) = header.split_once(';').expect("attributes");
    (pair.to_string(), attributes.to_string())
}

/// The opening `<g ...` of the node `id` in an SVG drawing.
fn node_tag(svg: &str, id: &str) -> String {
    let at = svg.find(&format!(r#"id="{id}""#)).expect("node");
    let start = svg[..at].rfind("<g").expect("g");
    svg[start..at].to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_browser_signs_in_reads_with_its_cookie_and_writes_only_with_the_csrf_value() {
    let dir = Scratch::new("session");
    let flows = dir.0.join("flows");
    std::fs::create_dir_all(&flows).expect("dir");
    std::fs::write(flows.join("hello.wflow"), WORKFLOW).expect("write");
    let users = json!({"users": [{"token": TOKEN, "email": "dev@acme.io", "roles": ["Member"], "teams": ["web"]}]});
    let auth = dir.0.join("users.json");
    std::fs::write(&auth, users.to_string()).expect("write");
    let server = start_on(
        &dir.0.join("wflow.db"),
        &flows,
        &["--auth", auth.to_str().expect("path")],
    );
    let _reaper = Reaper(vec![server.child.id()]);
    let http = reqwest::Client::new();
    let at = |p: &str| format!("{}{p}", server.addr);

    let wrong = http
        .post(at("/v1/session"))
        .json(&json!({"token": "not-a-token-of-this-server"}))
        .send()
        .await
        .expect("post");
    assert_eq!(wrong.status(), 401);
    assert!(wrong.headers().get(SET_COOKIE).is_none());

    let signed = http
        .post(at("/v1/session"))
        .json(&json!({"token": TOKEN}))
        .send()
        .await
        .expect("post");
    assert_eq!(signed.status(), 200);
    let (session, attributes) = set_cookie(&signed, "wflow_session");
    assert!(attributes.contains("HttpOnly"), "{attributes}");
    assert!(attributes.contains("SameSite=Strict"), "{attributes}");
    assert!(
        !session.contains(TOKEN),
        "the token is encoded: `;` and `=` cannot break the cookie"
    );
    let (csrf, csrf_attributes) = set_cookie(&signed, "wflow_csrf");
    assert!(!csrf_attributes.contains("HttpOnly"), "the page reads it");
    let csrf_value = csrf.split_once('=').expect("value").1.to_string();
    assert_eq!(csrf_value.len(), 32);
    let cookies = format!("{session}; {csrf}");

    let me: Json = http
        .get(at("/v1/me"))
        .header(COOKIE, &cookies)
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(me["user"]["email"], "dev@acme.io", "{me}");
    assert_eq!(me["user"]["admin"], false);
    assert_eq!(me["auth"], true);

    let run = at("/v1/workflows/hello/runs");
    let forged = http
        .post(&run)
        .header(COOKIE, &cookies)
        .json(&json!({}))
        .send()
        .await
        .expect("post");
    assert_eq!(
        forged.status(),
        403,
        "a write without X-CSRF-Token is refused"
    );
    let wrong_csrf = http
        .post(&run)
        .header(COOKIE, &cookies)
        .header("x-csrf-token", "0".repeat(32))
        .json(&json!({}))
        .send()
        .await
        .expect("post");
    assert_eq!(wrong_csrf.status(), 403);
    let started = http
        .post(&run)
        .header(COOKIE, &cookies)
        .header("x-csrf-token", &csrf_value)
        .json(&json!({}))
        .send()
        .await
        .expect("post");
    assert_eq!(started.status(), 201);
    let body: Json = started.json().await.expect("json");
    assert_eq!(body["run"]["createdBy"], "dev@acme.io");
    let listed = |query: &'static str| {
        let (http, cookies, url) = (http.clone(), cookies.clone(), at("/v1/workflows/runs"));
        async move {
            let body: Json = http
                .get(format!("{url}?{query}"))
                .header(COOKIE, &cookies)
                .send()
                .await
                .expect("get")
                .json()
                .await
                .expect("json");
            body["runs"].as_array().expect("runs").len()
        }
    };
    assert_eq!(listed("createdBy=DEV@acme.io").await, 1);
    assert_eq!(listed("createdBy=ops@acme.io").await, 0);
    // The webhook's port is closed: the run fails soon.
    let mut failed = 0;
    for _ in 0..100 {
        failed = listed("workflow=hello&status=FAILED").await;
        if failed == 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(failed, 1);
    assert_eq!(listed("status=COMPLETED").await, 1);
    assert_eq!(listed("status=IN_PROGRESS").await, 0);
    assert_eq!(listed("status=SUCCESS").await, 0);

    let out = http
        .delete(at("/v1/session"))
        .header(COOKIE, &cookies)
        .send()
        .await
        .expect("delete");
    let (cleared, attributes) = set_cookie(&out, "wflow_session");
    assert_eq!(cleared, "wflow_session=");
    assert!(attributes.contains("Max-Age=0"), "{attributes}");
    let anonymous = http.get(at("/v1/me")).send().await.expect("get");
    assert_eq!(anonymous.status(), 401);
}

#[tokio::test(flavor = "multi_thread")]
async fn without_auth_me_says_everyone_is_an_admin_and_pictures_show_run_statuses() {
    let dir = Scratch::new("session-open");
    let flows = dir.0.join("flows");
    std::fs::create_dir_all(&flows).expect("dir");
    std::fs::write(flows.join("hello.wflow"), WORKFLOW).expect("write");
    let server = start(&dir.0, &flows);
    let _reaper = Reaper(vec![server.child.id()]);
    let me: Json = reqwest::get(format!("{}/v1/me", server.addr))
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(me["auth"], false, "{me}");
    assert_eq!(me["user"]["admin"], true);

    let http = reqwest::Client::new();
    let drawing = http
        .get(format!("{}/v1/workflows/hello/graph.svg", server.addr))
        .send()
        .await
        .expect("get");
    assert_eq!(
        drawing.headers()["content-type"],
        "image/svg+xml; charset=utf-8"
    );
    let svg = drawing.text().await.expect("text");
    assert!(svg.contains(r#"id="hello.call""#), "{svg}");
    assert!(
        node_tag(&svg, "hello.call").contains("status-none"),
        "no run, no statuses: {svg}"
    );
    let started: Json = http
        .post(format!("{}/v1/workflows/hello/runs", server.addr))
        .json(&json!({}))
        .send()
        .await
        .expect("post")
        .json()
        .await
        .expect("json");
    let run = started["run"]["identifier"].as_str().expect("run");
    let mut svg = String::new();
    // Up to 30 s: each write is fsynced, which a busy disk can make slow.
    for _ in 0..300 {
        svg = http
            .get(format!("{}/v1/workflows/runs/{run}/graph.svg", server.addr))
            .send()
            .await
            .expect("get")
            .text()
            .await
            .expect("text");
        // The legend always has a `status-failed`: the node's own class is what tells.
        if node_tag(&svg, "hello.call").contains("status-failed") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(
        node_tag(&svg, "hello.trigger").contains("status-succeeded"),
        "{svg}"
    );
    assert!(
        node_tag(&svg, "hello.call").contains("status-failed"),
        "the webhook to a closed port failed: {svg}"
    );
    let missing = http
        .get(format!(
            "{}/v1/workflows/runs/wfr_none/graph.svg",
            server.addr
        ))
        .send()
        .await
        .expect("get");
    assert_eq!(missing.status(), 404);
}
