//! The web UI served by `wflow serve`: `/` redirects to `/ui/`, any page path is the shell with
//! its Content-Security-Policy, the assets have their media types, gzip, an ETag (and a 304
//! for it), and the API beside them still answers JSON. The pages themselves are tested in a
//! real browser (tests/browser).

mod support;

use reqwest::header::{
    ACCEPT_ENCODING, CONTENT_ENCODING, CONTENT_SECURITY_POLICY, CONTENT_TYPE, ETAG, IF_NONE_MATCH,
    LOCATION,
};
use support::{Reaper, Scratch, start};

const WORKFLOW: &str = support::HELLO;

fn header(resp: &reqwest::Response, name: reqwest::header::HeaderName) -> String {
    resp.headers()
        .get(&name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_ui_is_served_beside_the_api() {
    let dir = Scratch::new("ui");
    let flows = dir.0.join("flows");
    std::fs::create_dir_all(&flows).expect("dir");
    std::fs::write(flows.join("hello.wflow"), WORKFLOW).expect("write");
    let server = start(&dir.0, &flows);
    let _reaper = Reaper(vec![server.child.id()]);
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let at = |p: &str| format!("{}{p}", server.addr);

    let root = http.get(at("/")).send().await.expect("get /");
    assert!(root.status().is_redirection(), "{}", root.status());
    assert_eq!(header(&root, LOCATION), "/ui/");

    for page in [
        "/ui/",
        "/ui/runs/wfr_123",
        "/ui/workflows/hello",
        "/ui/assets/index.html",
    ] {
        let shell = http.get(at(page)).send().await.expect("get shell");
        assert_eq!(shell.status(), 200, "{page}");
        assert_eq!(header(&shell, CONTENT_TYPE), "text/html; charset=utf-8");
        let csp = header(&shell, CONTENT_SECURITY_POLICY);
        assert_eq!(
            csp,
            "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; \
             frame-ancestors 'none'"
        );
        let html = shell.text().await.expect("text");
        assert!(
            html.contains(r#"<script type="module" src="/ui/assets/app.js">"#),
            "{html}"
        );
        assert!(
            !html.contains("http://") && !html.contains("https://"),
            "nothing from another host"
        );
    }

    let plain = http
        .get(at("/ui/assets/app.js"))
        .send()
        .await
        .expect("asset");
    assert_eq!(plain.status(), 200);
    assert_eq!(
        header(&plain, CONTENT_TYPE),
        "text/javascript; charset=utf-8"
    );
    assert_eq!(header(&plain, CONTENT_ENCODING), "");
    let etag = header(&plain, ETAG);
    assert!(etag.starts_with('"'), "{etag}");
    let text = plain.text().await.expect("text");
    assert!(text.contains("/v1/me"), "the shell's script");

    let zipped = http
        .get(at("/ui/assets/style.css"))
        .header(ACCEPT_ENCODING, "br, gzip;q=0.8")
        .send()
        .await
        .expect("asset");
    assert_eq!(header(&zipped, CONTENT_TYPE), "text/css; charset=utf-8");
    assert_eq!(header(&zipped, CONTENT_ENCODING), "gzip");
    let bytes = zipped.bytes().await.expect("bytes");
    assert_eq!(&bytes[..2], &[0x1f, 0x8b], "a gzip stream");

    let again = http
        .get(at("/ui/assets/app.js"))
        .header(IF_NONE_MATCH, &etag)
        .send()
        .await
        .expect("asset");
    assert_eq!(again.status(), 304);

    let missing = http
        .get(at("/ui/assets/nope.js"))
        .send()
        .await
        .expect("asset");
    assert_eq!(missing.status(), 404);

    let api = http.get(at("/v1/workflows")).send().await.expect("api");
    assert_eq!(api.status(), 200);
    assert!(header(&api, CONTENT_TYPE).starts_with("application/json"));
    let body: serde_json::Value = api.json().await.expect("json");
    assert_eq!(body["workflows"][0]["identifier"], "hello");
    let unknown = http.get(at("/v2/nothing")).send().await.expect("api");
    assert_eq!(unknown.status(), 404);
    assert!(header(&unknown, CONTENT_TYPE).starts_with("application/json"));
}
