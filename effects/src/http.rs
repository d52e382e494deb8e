//! The engine's outgoing HTTP, behind one trait: webhooks, GitHub and AI nodes send every
//! request through an [`Http`]. The engine's default is [`Reqwest`]; `wflow test` swaps in a
//! double that answers from a test's mocks and records what was sent.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use serde_json::Value as Json;

/// A request as the engine means it, before any client sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// The node sending it.
    pub node: String,
    /// Upper case: `GET`, `POST`, ...
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    /// Sent as JSON (not for `GET`).
    pub body: Option<Json>,
    /// How long the answer may take.
    pub timeout: Duration,
}

/// Whether `method` is a valid HTTP method token (`GET`, `PURGE`, ...).
pub fn is_method(method: &str) -> bool {
    reqwest::Method::from_bytes(method.as_bytes()).is_ok()
}

impl Request {
    /// A request of `node` without headers or body.
    pub fn new(node: &str, method: &str, url: String, timeout: Duration) -> Request {
        Request {
            node: node.to_string(),
            method: method.to_string(),
            url,
            headers: Vec::new(),
            body: None,
            timeout,
        }
    }

    /// This request with the header `name: value` added.
    pub fn header(mut self, name: &str, value: impl Into<String>) -> Request {
        self.headers.push((name.to_string(), value.into()));
        self
    }

    /// The value of header `name` (case ignored), if set.
    pub fn header_value(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// An answer: its status, headers and body text.
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Response {
    /// The value of header `name` (case ignored), if set.
    pub fn header_value(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// `status` with its reason phrase, as `500 Internal Server Error`.
pub fn status_text(status: u16) -> String {
    reqwest::StatusCode::from_u16(status).map_or_else(|_| status.to_string(), |s| s.to_string())
}

/// A request that got no answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Failed {
    /// No answer within the request's timeout.
    Timeout,
    /// The connection could not be made; the message says why.
    Connect(String),
    /// Anything else (a bad URL, a broken connection); the message says what.
    Other(String),
}

impl std::fmt::Display for Failed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failed::Timeout => f.write_str("timed out"),
            Failed::Connect(m) | Failed::Other(m) => f.write_str(m),
        }
    }
}

/// A future returned by [`Http::send`].
pub type Sending<'a> = Pin<Box<dyn Future<Output = Result<Response, Failed>> + Send + 'a>>;

/// Sends requests.
pub trait Http: Send + Sync {
    fn send(&self, request: Request) -> Sending<'_>;
}

/// [`Http`] on a `reqwest` client.
pub struct Reqwest(reqwest::Client);

impl Reqwest {
    /// A client that gives up connecting after 10 seconds.
    pub fn new() -> Result<Reqwest, String> {
        reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map(Reqwest)
            .map_err(|e| format!("cannot build the HTTP client: {e}"))
    }
}

impl Http for Reqwest {
    fn send(&self, r: Request) -> Sending<'_> {
        Box::pin(async move {
            let method = reqwest::Method::from_bytes(r.method.as_bytes())
                .map_err(|_| Failed::Other(format!("`{}` is not an HTTP method", r.method)))?;
            let get = method == reqwest::Method::GET;
            let mut req = self.0.request(method, &r.url).timeout(r.timeout);
            for (name, value) in &r.headers {
                req = req.header(name.as_str(), value.as_str());
            }
            if let Some(body) = r.body.as_ref().filter(|_| !get) {
                req = req.json(body);
            }
            let resp = req.send().await.map_err(|e| {
                if e.is_timeout() {
                    return Failed::Timeout;
                }
                let mut msg = e.to_string();
                let mut src = std::error::Error::source(&e);
                while let Some(s) = src {
                    msg.push_str(&format!(": {s}"));
                    src = s.source();
                }
                if e.is_connect() {
                    Failed::Connect(msg)
                } else {
                    Failed::Other(msg)
                }
            })?;
            let status = resp.status().as_u16();
            let headers = resp
                .headers()
                .iter()
                .filter_map(|(n, v)| Some((n.to_string(), v.to_str().ok()?.to_string())))
                .collect();
            let body = match resp.text().await {
                Ok(t) => t,
                Err(e) if e.is_timeout() => return Err(Failed::Timeout),
                Err(e) => return Err(Failed::Other(format!("reading the answer failed: {e}"))),
            };
            Ok(Response {
                status,
                headers,
                body,
            })
        })
    }
}
