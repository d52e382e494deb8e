//! The outside world of a test case: answers HTTP requests and Kafka messages from the case's
//! mocks, records everything sent, and refuses (recording it) whatever no mock covers.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value as Json, json};
use wflow_compiler::testfile::{Answer, Mock, Target, url_matches};
use wflow_effects::clock::Clock;
use wflow_effects::http::{Failed, Http, Request, Response, Sending};
use wflow_effects::kafka::{Delivery, Message, Publisher, Publishing};
use wflow_engine::jq::{Evaluator, Programs};

/// A request or message that was sent, as the case saw it.
#[derive(Debug, Clone, PartialEq)]
pub struct Sent {
    pub node: String,
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<Json>,
    /// No mock covered it: it was refused and fails the case.
    pub unmocked: bool,
}

/// The mocks of one case and what was sent.
pub struct World {
    mocks: Vec<Mock>,
    clock: Clock,
    /// Evaluates the mocks' `when` predicates (compiled in `programs`).
    ev: Evaluator,
    programs: Arc<Programs>,
    state: Mutex<State>,
}

/// The mocks answering in turn: one target, with one `when`.
type Group = (Target, Option<String>);

#[derive(Default)]
struct State {
    /// Calls answered per group of mocks so far.
    calls: Vec<(Group, usize)>,
    sent: Vec<Sent>,
    offset: i64,
}

/// The id of what an integration action starts in the double (a run, a pipeline).
const STARTED: u64 = 1;

impl World {
    pub fn new(mocks: Vec<Mock>, clock: Clock, ev: Evaluator, programs: Arc<Programs>) -> World {
        World {
            mocks,
            clock,
            ev,
            programs,
            state: Mutex::new(State::default()),
        }
    }

    /// Whether `mock` answers a request with `body`: it has no `when`, or its `when` holds.
    async fn applies(&self, mock: &Mock, body: &Json) -> bool {
        let Some(code) = &mock.when else {
            return true;
        };
        let out = self
            .ev
            .eval(&self.programs, &[code.as_str()], body.clone())
            .await
            .pop();
        matches!(out, Some(Ok(v)) if !v.is_empty() && v.iter().all(|x| *x == Json::Bool(true)))
    }

    /// Everything sent so far, in order.
    pub fn sent(&self) -> Vec<Sent> {
        self.state
            .lock()
            .map(|s| s.sent.clone())
            .unwrap_or_default()
    }

    /// The answer for the next call of `node` to `method url` with `body`: node mocks first,
    /// then URL patterns; of those, the first group whose `when` holds (or that has none);
    /// a group's mocks answer in turn, the last repeating.
    async fn answer(&self, node: &str, method: &str, url: &str, body: &Json) -> Option<Mock> {
        let by_node = Target::Node(node.to_string());
        let of_node = self.mocks.iter().any(|m| m.target == by_node);
        let mut group: Option<Group> = None;
        for m in &self.mocks {
            let fits = match &m.target {
                Target::Node(_) => m.target == by_node,
                Target::Url {
                    pattern,
                    method: want,
                } => {
                    !of_node
                        && url_matches(pattern, url)
                        && want
                            .as_deref()
                            .is_none_or(|w| w.eq_ignore_ascii_case(method))
                }
            };
            if fits && self.applies(m, body).await {
                group = Some((m.target.clone(), m.when.clone()));
                break;
            }
        }
        let group = group?;
        let answers: Vec<&Mock> = self
            .mocks
            .iter()
            .filter(|m| m.target == group.0 && m.when == group.1)
            .collect();
        let mut st = self.state.lock().ok()?;
        let n = match st.calls.iter_mut().find(|(g, _)| *g == group) {
            Some((_, n)) => {
                *n += 1;
                *n
            }
            None => {
                st.calls.push((group, 0));
                0
            }
        };
        answers.get(n.min(answers.len() - 1)).map(|m| (*m).clone())
    }

    fn record(&self, sent: Sent) {
        if let Ok(mut st) = self.state.lock() {
            st.sent.push(sent);
        }
    }
}

/// The HTTP answer of `answer` to `req` (an integration or AI node's mock speaks its API).
fn respond(answer: &Answer, req: &Request) -> Result<Response, Failed> {
    let ok = |body: Json| Response {
        status: 200,
        headers: vec![("content-type".into(), "application/json".into())],
        body: body.to_string(),
    };
    match answer {
        Answer::Http {
            status,
            body,
            headers,
        } => Ok(Response {
            status: *status,
            headers: headers.clone(),
            body: match body {
                Json::Null => String::new(),
                Json::String(s) => s.clone(),
                other => other.to_string(),
            },
        }),
        Answer::Timeout => Err(Failed::Timeout),
        Answer::Refused => Err(Failed::Connect(format!(
            "connection refused (mocked) by {}",
            req.url
        ))),
        Answer::Conclusion(c) => Ok(ok(concluded(c, req))),
        Answer::Reply(text) => Ok(ok(json!({
            "id": "chatcmpl-mocked",
            "choices": [{ "message": { "role": "assistant", "content": text } }],
        }))),
        Answer::Ack | Answer::Nack(_) => Ok(ok(Json::Null)),
    }
}

/// The body a service answers `req` with, when what its node starts ends with `word`: each
/// service's REST shape, told apart by its paths.
fn concluded(word: &str, req: &Request) -> Json {
    let url = req.url.as_str();
    let post = req.method == "POST";
    if url.contains("/_apis/pipelines/") {
        let web = json!({ "web": { "href": format!("https://dev.azure.com/mocked/_build/results?buildId={STARTED}") } });
        return if post {
            json!({ "id": STARTED, "state": "inProgress", "result": null, "_links": web })
        } else {
            json!({ "id": STARTED, "state": "completed", "result": word, "_links": web })
        };
    }
    if url.contains("/rest/api/3/issue") {
        return if url.ends_with("/transitions") && !post {
            json!({ "transitions": [{ "id": "1", "name": word, "to": { "name": word } }] })
        } else if url.ends_with("/rest/api/3/issue") {
            json!({ "id": "10001", "key": "MOCK-1", "self": format!("{url}/10001") })
        } else if post {
            Json::Null
        } else {
            json!({ "fields": { "status": { "name": "(mocked)" } } })
        };
    }
    if url.ends_with("/pipeline") || url.contains("/pipelines/") {
        let git_ref = req
            .body
            .as_ref()
            .map_or(json!("main"), |b| b["ref"].clone());
        let status = if post { "created" } else { word };
        return json!({ "id": STARTED, "project_id": STARTED, "ref": git_ref, "status": status,
                       "web_url": format!("https://gitlab.com/mocked/-/pipelines/{STARTED}") });
    }
    let page = format!("https://github.com/mocked/actions/runs/{STARTED}");
    if url.ends_with("/dispatches") {
        json!({ "workflow_run_id": STARTED, "html_url": page })
    } else if url.contains("/actions/runs/") {
        json!({ "id": STARTED, "status": "completed", "conclusion": word, "html_url": page })
    } else if url.contains("/runs?") {
        json!({ "workflow_runs": [{ "id": STARTED, "html_url": page }] })
    } else {
        json!({ "default_branch": "main" })
    }
}

impl Http for World {
    fn send(&self, req: Request) -> Sending<'_> {
        Box::pin(async move {
            let body = req.body.clone().unwrap_or(Json::Null);
            let mock = self.answer(&req.node, &req.method, &req.url, &body).await;
            self.record(Sent {
                node: req.node.clone(),
                method: req.method.clone(),
                url: req.url.clone(),
                headers: req.headers.clone(),
                body: req.body.clone(),
                unmocked: mock.is_none(),
            });
            let Some(mock) = mock else {
                return Err(Failed::Other(format!(
                    "no mock answers {} {}: `wflow test` calls nothing outside; add `mock {} 200 \
                     {{ body {{ ... }} }}`",
                    req.method, req.url, req.node
                )));
            };
            let delay = Duration::from_millis(mock.delay_ms);
            if delay >= req.timeout {
                self.clock.sleep(req.timeout).await;
                return Err(Failed::Timeout);
            }
            self.clock.sleep(delay).await;
            respond(&mock.answer, &req)
        })
    }
}

impl Publisher for World {
    fn publish<'a>(&'a self, m: Message<'a>) -> Publishing<'a> {
        Box::pin(async move {
            let key = m
                .headers
                .iter()
                .find(|(k, _)| *k == "Idempotency-Key")
                .map_or("", |(_, v)| *v);
            let node = key.split_once(':').map_or(key, |(_, n)| n).to_string();
            let url = format!("kafka://{}", m.topic);
            let body: Json = serde_json::from_slice(m.payload).unwrap_or(Json::Null);
            let mock = self.answer(&node, "PUBLISH", &url, &body).await;
            self.record(Sent {
                node: node.clone(),
                method: "PUBLISH".into(),
                url,
                headers: m
                    .headers
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
                body: Some(body),
                unmocked: mock.is_none(),
            });
            let Some(mock) = mock else {
                return Err(format!(
                    "no mock answers the message to `{}`: `wflow test` publishes nothing; add \
                     `mock {node} ack`",
                    m.topic
                ));
            };
            self.clock.sleep(Duration::from_millis(mock.delay_ms)).await;
            match mock.answer {
                Answer::Ack => {
                    let offset = self
                        .state
                        .lock()
                        .map(|mut s| {
                            s.offset += 1;
                            s.offset - 1
                        })
                        .unwrap_or_default();
                    Ok(Delivery {
                        partition: 0,
                        offset,
                    })
                }
                Answer::Nack(why) => Err(why),
                _ => Err("the message timed out (mocked)".into()),
            }
        })
    }
}
