//! What a node's side effect sends, as recorded on its node run (`request`): rendered, and
//! redacted of every secret and every value computed from one.

use std::sync::{Mutex, PoisonError};

use serde_json::{Map, Value as Json, json};
use wflow_effects::http;
use wflow_store::NodeRunRecord;

use crate::secrets::Secrets;

/// Records `request` on `rec`, redacted.
pub(crate) fn record(rec: &mut NodeRunRecord, request: &Json, secrets: &Secrets) {
    rec.request = Some(secrets.redact(request));
}

/// An HTTP request as recorded: `{method, url, headers, body}` (no body when none is sent).
pub(crate) fn http(req: &http::Request) -> Json {
    let headers: Map<String, Json> = req
        .headers
        .iter()
        .map(|(n, v)| (n.clone(), Json::String(v.clone())))
        .collect();
    let mut out = json!({ "method": req.method, "url": req.url, "headers": headers });
    if let Some(b) = req.body.as_ref().filter(|_| req.method != "GET") {
        out["body"] = b.clone();
    }
    out
}

/// The distinct requests a node run sent to a service's API, in order: a poll repeated until
/// a pipeline ends is kept once.
#[derive(Default)]
pub(crate) struct Sent(Mutex<Vec<Json>>);

impl Sent {
    /// Adds `req` unless a request with its method and URL is already there.
    pub(crate) fn add(&self, req: &http::Request) {
        let mut all = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if !all
            .iter()
            .any(|r| r["method"] == req.method.as_str() && r["url"] == req.url.as_str())
        {
            all.push(http(req));
        }
    }

    /// What was sent.
    pub(crate) fn take(&self) -> Vec<Json> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_poll_repeated_is_recorded_once_and_a_get_has_no_body() {
        let sent = Sent::default();
        let post = http::Request::new("n", "POST", "http://x/p".into(), Duration::ZERO)
            .header("Authorization", "Bearer t0k3n-abcdef");
        let mut get = http::Request::new("n", "GET", "http://x/p/1".into(), Duration::ZERO);
        get.body = Some(json!({"ignored": true}));
        for r in [&post, &get, &get] {
            sent.add(r);
        }
        let all = sent.take();
        assert_eq!(all.len(), 2);
        assert_eq!(all[0]["headers"]["Authorization"], "Bearer t0k3n-abcdef");
        assert_eq!(
            all[1],
            json!({"method": "GET", "url": "http://x/p/1", "headers": {}})
        );
        let secrets = Secrets::from_pairs([("T".to_string(), "t0k3n-abcdef".to_string())]);
        let mut rec = NodeRunRecord::started("id".into(), "r", "n", 1, "now");
        record(&mut rec, &all[0], &secrets);
        let shown = rec.request.map(|r| r.to_string()).unwrap_or_default();
        assert!(
            shown.contains("Bearer [REDACTED]") && !shown.contains("t0k3n"),
            "{shown}"
        );
    }
}
