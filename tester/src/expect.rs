//! Evaluates a case's `expect` lines against what its run did.

use serde_json::{Value as Json, json};
use wflow_compiler::testfile::{Case, Check, Matcher, Target, contains, url_matches};
use wflow_engine::engine::Conclusion;
use wflow_engine::jq::{Evaluator, Programs};
use wflow_engine::secrets::Secrets;

use crate::{Failure, Outcome, result_of};

/// Checks every expectation of `case` against `out`, adding a [`Failure`] per one that does
/// not hold. Values shown are redacted of the case's secrets.
pub(crate) async fn check_all(
    ev: &Evaluator,
    programs: &Programs,
    case: &Case,
    out: &mut Outcome,
    secrets: &Secrets,
) {
    let jq = Jq { ev, programs };
    for e in &case.expects {
        let problem = check(&jq, &e.check, out).await;
        if let Some((message, expected, actual)) = problem {
            out.failures.push(Failure {
                span: e.span,
                message: secrets.redact_str(&message),
                expected: Some(secrets.redact_str(&expected)),
                actual: Some(secrets.redact_str(&actual)),
            });
        }
    }
}

/// The jq predicates of `cases`' expectations and mocks, compiled once for every case (one
/// that cannot be compiled fails the expectations that use it, and matches no request).
pub(crate) fn compile<'a>(cases: impl Iterator<Item = &'a Case>) -> Programs {
    let mut programs = Programs::default();
    for case in cases {
        for code in case.mocks.iter().filter_map(|m| m.when.as_ref()) {
            let _ = programs.add(code);
        }
        for e in &case.expects {
            let m = match &e.check {
                Check::Output { matcher, .. } => Some(matcher),
                Check::Entity { matcher, .. } => matcher.as_ref(),
                Check::Request { body, .. } => body.as_ref(),
                _ => None,
            };
            if let Some(Matcher::Jq(code)) = m {
                let _ = programs.add(code);
            }
        }
    }
    programs
}

/// jq evaluation with the compiled predicates.
struct Jq<'a> {
    ev: &'a Evaluator,
    programs: &'a Programs,
}

/// Whether `m` holds for `value`: a jq predicate yields `true`, or `value` contains the value.
async fn holds(jq: &Jq<'_>, m: &Matcher, value: &Json) -> Result<bool, String> {
    match m {
        Matcher::Contains(want) => Ok(contains(value, want)),
        Matcher::Jq(code) => {
            let outcome = jq
                .ev
                .eval(jq.programs, &[code.as_str()], value.clone())
                .await
                .pop()
                .unwrap_or_else(|| Err("no result".into()))?;
            Ok(outcome.iter().all(|v| *v == Json::Bool(true)) && !outcome.is_empty())
        }
    }
}

fn show(v: &Json) -> String {
    let text = v.to_string();
    if text.len() > 2_000 {
        format!("{}…", text.chars().take(2_000).collect::<String>())
    } else {
        text
    }
}

type Problem = Option<(String, String, String)>;

async fn check(jq: &Jq<'_>, c: &Check, out: &Outcome) -> Problem {
    let node = |id: &str| out.nodes.iter().find(|n| n.node == id);
    match c {
        Check::Result(want) => {
            let got = match &out.run {
                Some(run) => result_of(run),
                None if out.not_triggered => "NOT_RUN".into(),
                None => "not started".into(),
            };
            (got != *want).then(|| {
                let why = out
                    .run
                    .as_ref()
                    .and_then(|r| r.error.clone())
                    .map_or(String::new(), |e| format!(" ({e})"));
                (
                    "the run's result differs".into(),
                    want.clone(),
                    format!("{got}{why}"),
                )
            })
        }
        Check::Path(want) => {
            let got: Vec<String> = out
                .nodes
                .iter()
                .map(|n| match (&n.outlet, n.fallback) {
                    (Some(o), _) => format!("{}.{o}", n.node),
                    (None, true) => format!("{}.fallback", n.node),
                    _ => n.node.clone(),
                })
                .collect();
            let same = got.len() == want.len()
                && want.iter().zip(&out.nodes).all(|((id, outlet), n)| {
                    *id == n.node
                        && outlet.as_ref().is_none_or(|o| {
                            n.outlet.as_deref() == Some(o.as_str())
                                || (o == "fallback" && n.fallback)
                        })
                });
            let want: Vec<String> = want
                .iter()
                .map(|(id, o)| o.as_ref().map_or(id.clone(), |o| format!("{id}.{o}")))
                .collect();
            (!same).then(|| {
                (
                    "the run took another path".into(),
                    want.join(" -> "),
                    got.join(" -> "),
                )
            })
        }
        Check::Ran(ids) => {
            let missing: Vec<&String> = ids.iter().filter(|id| node(id).is_none()).collect();
            (!missing.is_empty()).then(|| {
                (
                    format!("{} did not run", list(&missing)),
                    format!("ran: {}", list(&ids.iter().collect::<Vec<_>>())),
                    format!("ran: {}", ran(out)),
                )
            })
        }
        Check::NotRan(ids) => {
            let present: Vec<&String> = ids.iter().filter(|id| node(id).is_some()).collect();
            (!present.is_empty()).then(|| {
                (
                    format!("{} ran", list(&present)),
                    format!("not ran: {}", list(&ids.iter().collect::<Vec<_>>())),
                    format!("ran: {}", ran(out)),
                )
            })
        }
        Check::Output { node: id, matcher } => {
            let Some(rec) = node(id) else {
                return Some((
                    format!("`{id}` did not run, so it has no output"),
                    matcher.describe(),
                    format!("ran: {}", ran(out)),
                ));
            };
            let output = rec.output.clone().unwrap_or(Json::Null);
            match holds(jq, matcher, &output).await {
                Ok(true) => None,
                Ok(false) => Some((
                    format!("the output of `{id}` does not match"),
                    matcher.describe(),
                    show(&output),
                )),
                Err(e) => Some((
                    format!("the expectation failed on the output of `{id}`: {e}"),
                    matcher.describe(),
                    show(&output),
                )),
            }
        }
        Check::Entity {
            blueprint,
            id,
            matcher,
        } => {
            let found = out
                .entities
                .iter()
                .find(|(bp, e)| bp == blueprint && e["identifier"] == json!(id));
            let Some((_, entity)) = found else {
                let ids: Vec<String> = out
                    .entities
                    .iter()
                    .filter(|(bp, _)| bp == blueprint)
                    .map(|(_, e)| e["identifier"].as_str().unwrap_or_default().to_string())
                    .collect();
                return Some((
                    format!("no entity `{id}` of blueprint `{blueprint}` in the catalog"),
                    format!("entity `{id}`"),
                    if ids.is_empty() {
                        format!("no `{blueprint}` entities")
                    } else {
                        format!("`{blueprint}` entities: {}", ids.join(", "))
                    },
                ));
            };
            let m = matcher.as_ref()?;
            match holds(jq, m, entity).await {
                Ok(true) => None,
                Ok(false) => Some((
                    format!("entity `{id}` does not match"),
                    m.describe(),
                    show(entity),
                )),
                Err(e) => Some((
                    format!("the expectation failed on entity `{id}`: {e}"),
                    m.describe(),
                    show(entity),
                )),
            }
        }
        Check::Request {
            target,
            method,
            url,
            headers,
            body,
        } => {
            let of: Vec<&crate::Sent> = out
                .sent
                .iter()
                .filter(|s| match target {
                    Target::Node(n) => s.node == *n,
                    Target::Url { pattern, .. } => url_matches(pattern, &s.url),
                })
                .collect();
            let mut want = Vec::new();
            if let Some(m) = method {
                want.push(format!("method {m}"));
            }
            if let Some(u) = url {
                want.push(format!("url {u}"));
            }
            for (k, v) in headers {
                want.push(format!("header {k}: {v}"));
            }
            if let Some(b) = body {
                want.push(format!("body {}", b.describe()));
            }
            let mut any = false;
            for s in &of {
                let mut ok = method.as_ref().is_none_or(|m| s.method == *m)
                    && url.as_ref().is_none_or(|u| url_matches(u, &s.url))
                    && headers.iter().all(|(k, v)| {
                        s.headers
                            .iter()
                            .any(|(hk, hv)| hk.eq_ignore_ascii_case(k) && hv == v)
                    });
                if ok && let Some(b) = body {
                    ok = holds(jq, b, s.body.as_ref().unwrap_or(&Json::Null))
                        .await
                        .unwrap_or(false);
                }
                if ok {
                    any = true;
                    break;
                }
            }
            let what = match target {
                Target::Node(n) => format!("`{n}`"),
                Target::Url { pattern, .. } => format!("`{pattern}`"),
            };
            if any {
                return None;
            }
            let actual = if of.is_empty() {
                "no request".to_string()
            } else {
                of.iter()
                    .map(|s| {
                        format!(
                            "{} {} {}",
                            s.method,
                            s.url,
                            s.body.as_ref().map(show).unwrap_or_default()
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            };
            Some((
                format!("no request of {what} matches"),
                if want.is_empty() {
                    "a request".into()
                } else {
                    want.join(", ")
                },
                actual,
            ))
        }
        Check::Attempts { node: id, count } => {
            let got = match node(id) {
                None => 0,
                Some(rec) if rec.result == Some(Conclusion::Success) => rec.attempts.len() + 1,
                Some(rec) => rec.attempts.len().max(1),
            } as u64;
            (got != *count).then(|| {
                (
                    format!("`{id}` made another number of attempts"),
                    count.to_string(),
                    got.to_string(),
                )
            })
        }
        Check::Error { node: id, contains } => {
            let got = match id {
                Some(id) => node(id).and_then(|n| {
                    n.output.as_ref()?["error"]["message"]
                        .as_str()
                        .map(str::to_string)
                }),
                None => out.run.as_ref().and_then(|r| r.error.clone()),
            };
            let whose = id
                .as_ref()
                .map_or("the run's".to_string(), |i| format!("`{i}`'s"));
            match got {
                Some(e) if e.contains(contains.as_str()) => None,
                Some(e) => Some((
                    format!("{whose} error says something else"),
                    format!("an error containing {contains:?}"),
                    e,
                )),
                None => Some((
                    format!("{whose} error is absent"),
                    format!("an error containing {contains:?}"),
                    "no error".into(),
                )),
            }
        }
    }
}

fn list(ids: &[&String]) -> String {
    ids.iter()
        .map(|i| format!("`{i}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn ran(out: &Outcome) -> String {
    if out.nodes.is_empty() {
        return "nothing".into();
    }
    out.nodes
        .iter()
        .map(|n| n.node.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}
