//! The web UI: a page shell and its scripts and style (`server/ui/`), built into the binary and
//! served by `wflow serve` at `/ui/`. The pages call the API of this server and nothing else:
//! what a page shows or allows is exactly what the API answers for the signed-in user.
//!
//! `GET /` redirects to `/ui/`; `/ui/assets/NAME` are the files, gzip-compressed once (when
//! first asked for) for the browsers that accept it, with an ETag and a cache lifetime; any
//! other `/ui/...` path is the shell, which routes on the client. The shell carries a strict
//! Content-Security-Policy: scripts and styles from this server only, no framing.

use std::hash::{Hash, Hasher};
use std::io::Write;
use std::sync::OnceLock;

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use flate2::Compression;
use flate2::write::GzEncoder;

use super::Server;

/// The shell's Content-Security-Policy.
pub const CSP: &str = "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; \
                       frame-ancestors 'none'";

/// Every file of the UI: its name under `/ui/assets/`, its media type and its bytes.
const FILES: &[(&str, &str, &[u8])] = &[
    ("index.html", HTML, include_bytes!("ui/index.html")),
    ("style.css", CSS, include_bytes!("ui/style.css")),
    ("app.js", JS, include_bytes!("ui/app.js")),
    ("api.js", JS, include_bytes!("ui/api.js")),
    ("dom.js", JS, include_bytes!("ui/dom.js")),
    ("hub.js", JS, include_bytes!("ui/hub.js")),
    ("form.js", JS, include_bytes!("ui/form.js")),
    ("runs.js", JS, include_bytes!("ui/runs.js")),
    ("approvals.js", JS, include_bytes!("ui/approvals.js")),
    ("catalog.js", JS, include_bytes!("ui/catalog.js")),
    ("favicon.svg", SVG, include_bytes!("ui/favicon.svg")),
];

const HTML: &str = "text/html; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const SVG: &str = "image/svg+xml";

/// A file ready to serve.
struct Asset {
    name: &'static str,
    media: &'static str,
    plain: &'static [u8],
    gzip: Vec<u8>,
    etag: String,
}

/// The files, compressed once.
fn assets() -> &'static [Asset] {
    static ASSETS: OnceLock<Vec<Asset>> = OnceLock::new();
    ASSETS.get_or_init(|| {
        FILES
            .iter()
            .map(|&(name, media, plain)| {
                let mut h = std::collections::hash_map::DefaultHasher::new();
                plain.hash(&mut h);
                Asset {
                    name,
                    media,
                    plain,
                    gzip: gzip(plain),
                    etag: format!("\"{:016x}\"", h.finish()),
                }
            })
            .collect()
    })
}

/// `bytes` gzip-compressed (the encoder writes to memory, which cannot fail; an empty body
/// would only make the browser ask again without gzip).
fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = GzEncoder::new(Vec::new(), Compression::best());
    match enc.write_all(bytes).and_then(|()| enc.finish()) {
        Ok(out) => out,
        Err(e) => {
            tracing::error!("gzip of a UI asset: {e}");
            Vec::new()
        }
    }
}

/// The UI's routes.
pub(super) fn routes() -> Router<Server> {
    Router::new()
        .route("/", get(|| async { Redirect::temporary("/ui/") }))
        .route("/ui", get(|| async { Redirect::temporary("/ui/") }))
        .route("/ui/", get(shell))
        .route("/ui/{*path}", get(page))
}

/// `/ui/assets/NAME` is a file; any other path is a page of the UI, routed by the shell.
async fn page(Path(path): Path<String>, headers: HeaderMap) -> Response {
    match path.strip_prefix("assets/") {
        // The shell is only ever served with its headers.
        Some(name) if name != "index.html" => asset(name, &headers),
        _ => shell(headers).await,
    }
}

async fn shell(headers: HeaderMap) -> Response {
    let mut resp = asset("index.html", &headers);
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    // The shell names the assets; a page always asks whether it changed.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    resp
}

/// The file `name`, gzip-compressed when the browser accepts it, or 304 when its ETag matches.
fn asset(name: &str, headers: &HeaderMap) -> Response {
    let Some(a) = assets().iter().find(|a| a.name == name) else {
        return (StatusCode::NOT_FOUND, "no such file of the web UI").into_response();
    };
    let etag = HeaderValue::from_str(&a.etag).unwrap_or(HeaderValue::from_static("\"\""));
    let common = [
        (header::ETAG, etag),
        (
            header::CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=300, must-revalidate"),
        ),
        (header::VARY, HeaderValue::from_static("accept-encoding")),
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
    ];
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == a.etag));
    if fresh {
        return (StatusCode::NOT_MODIFIED, common).into_response();
    }
    let media = (header::CONTENT_TYPE, HeaderValue::from_static(a.media));
    let gzip_ok = !a.gzip.is_empty()
        && headers
            .get(header::ACCEPT_ENCODING)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| {
                v.split(',')
                    .any(|e| e.split(';').next().is_some_and(|e| e.trim() == "gzip"))
            });
    if gzip_ok {
        let enc = (header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        (common, [media, enc], a.gzip.clone()).into_response()
    } else {
        (common, [media], a.plain).into_response()
    }
}
