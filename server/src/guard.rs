//! Checks every request passes before it is routed: its `Host` names this server (against DNS
//! rebinding), its declared body fits the limit (refused before a byte is read), and, without
//! `--auth`, it cannot come from another site's page (CSRF): no foreign `Origin`, and a
//! state-changing request must be JSON, which a page can only send cross-site by asking first.

use std::net::SocketAddr;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::{ApiError, Server};

/// The largest request body, in bytes.
pub(super) const BODY_LIMIT: usize = 1 << 20;

/// Who may address the server: the `Host` values it answers to.
#[derive(Clone)]
pub(super) struct Hosts {
    listen: SocketAddr,
    /// Names given with `--allowed-host` (lower-case), with or without a port.
    names: Vec<String>,
}

impl Hosts {
    pub(super) fn new(listen: SocketAddr, names: &[String]) -> Hosts {
        Hosts {
            listen,
            names: names.iter().map(|n| n.to_ascii_lowercase()).collect(),
        }
    }

    /// Whether `host` (a `Host` header) names this server: its listen address, a loopback
    /// name with its port, any IP address with its port when it listens on all of them, or an
    /// allowed name (no DNS name but those, so a rebound name is refused).
    fn allows(&self, host: &str) -> bool {
        let host = host.to_ascii_lowercase();
        let (name, port) = split_host(&host);
        if self.names.iter().any(|n| *n == host || *n == name) {
            return true;
        }
        if port != self.listen.port() {
            return false;
        }
        let ip = name
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>();
        match ip {
            Ok(ip) => {
                ip == self.listen.ip() || ip.is_loopback() || self.listen.ip().is_unspecified()
            }
            Err(_) => name == "localhost",
        }
    }
}

/// `host` as name and port (80 when none is given).
fn split_host(host: &str) -> (&str, u16) {
    let port_at = if host.starts_with('[') {
        host.find("]:").map(|i| i + 1)
    } else {
        host.rfind(':')
    };
    match port_at {
        Some(i) => (&host[..i], host[i + 1..].parse().unwrap_or(0)),
        None => (host, 80),
    }
}

/// The state a request is checked against.
#[derive(Clone)]
pub(super) struct Guard {
    pub(super) server: Server,
    pub(super) hosts: Hosts,
}

/// Refuses a request that fails a check, in the API's error shape, before it is routed.
pub(super) async fn check(State(g): State<Guard>, req: Request, next: Next) -> Response {
    match refusal(&g, req.method(), req.headers(), req.uri()) {
        Some(e) => e.into_response(),
        None => next.run(req).await,
    }
}

fn refusal(
    g: &Guard,
    method: &Method,
    headers: &HeaderMap,
    uri: &axum::http::Uri,
) -> Option<ApiError> {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| uri.authority().map(|a| a.as_str()));
    let Some(host) = host.filter(|h| g.hosts.allows(h)) else {
        return Some(ApiError::new(
            StatusCode::MISDIRECTED_REQUEST,
            "forbidden_host",
            format!(
                "the Host header {} does not name this server; address it as http://{} (or \
                 localhost), or start `wflow serve` with `--allowed-host NAME`",
                host.map_or("(none)".into(), |h| format!("`{}`", h.escape_default())),
                g.hosts.listen
            ),
        ));
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > BODY_LIMIT as u64) {
        return Some(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("the body is larger than the limit of {BODY_LIMIT} bytes; send less"),
        ));
    }
    if g.server.0.auth.is_some() {
        // A bearer token is never sent by a browser on its own, and a signed-in browser's
        // writes must echo its CSRF cookie (`auth::signed_in`): no cross-site request can act.
        return None;
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        let own = origin
            .to_str()
            .ok()
            .and_then(|o| o.split_once("://"))
            .is_some_and(|(scheme, rest)| {
                matches!(scheme, "http" | "https") && rest.eq_ignore_ascii_case(host)
            });
        if !own {
            return Some(ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden_origin",
                format!(
                    "cross-origin requests are refused by a server without --auth (Origin `{}`); \
                     call the API from its own origin, or start `wflow serve --auth`",
                    origin.to_str().unwrap_or("?").escape_default()
                ),
            ));
        }
    }
    // A page on another site can send a POST without asking first (a form, or fetch with a
    // "simple" content type); PUT, PATCH and DELETE need a CORS preflight, which this server
    // never grants, so a browser does not send them cross-site.
    if *method == Method::POST && !same_origin_proof(headers) {
        return Some(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            format!(
                "{method} requests to a server without --auth must send `Content-Type: \
                 application/json` (a web page cannot send that to another site without asking)"
            ),
        ));
    }
    None
}

/// Whether a state-changing request proves it was not forged by another site's page: it is
/// JSON. The place to also accept the CSRF token header of a UI served by wflow.
fn same_origin_proof(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|media| media.trim().eq_ignore_ascii_case("application/json"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_name_the_listen_address_loopback_or_an_allowed_name() {
        let local = Hosts::new(
            "127.0.0.1:8080".parse().expect("addr"),
            &["Wflow.Internal".into()],
        );
        for ok in [
            "127.0.0.1:8080",
            "localhost:8080",
            "LOCALHOST:8080",
            "[::1]:8080",
            "wflow.internal",
            "wflow.internal:443",
        ] {
            assert!(local.allows(ok), "{ok}");
        }
        for refused in [
            "evil.example:8080",
            "127.0.0.1:8081",
            "localhost",
            "10.0.0.5:8080",
            "127.0.0.1.evil.example:8080",
            "",
        ] {
            assert!(!local.allows(refused), "{refused}");
        }
        let all = Hosts::new("0.0.0.0:80".parse().expect("addr"), &[]);
        assert!(all.allows("10.0.0.5"));
        assert!(all.allows("[fe80::1]:80"));
        assert!(!all.allows("rebound.example"));
    }
}
