//! jq evaluation with jaq: every expression of a workflow is compiled once, then evaluated on
//! dedicated threads with a large stack, a cap on the outputs and a wall-clock budget.
//!
//! jaq has no way to interrupt an evaluation. A budget overrun fails the node with a clear
//! message and the evaluating thread is replaced; the runaway thread is left to finish (or
//! dies with the process). Recursive user-defined functions (`def f: ... f ...`) are refused
//! by the checker (`jq-recursion`), so user code cannot recurse without bound; the big stack
//! covers built-ins that recurse over deep values.
//!
//! Most workflow expressions are plain paths such as `.outputs.trigger.service`. Those are
//! recognised when compiled and evaluated inline on the calling task, without the threads or
//! the conversion to jaq values, whenever the result is certain to equal jaq's.

use std::collections::HashMap;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use jaq_core::load::{Arena, File, Loader};
use jaq_core::{Ctx, Vars, data};
use jaq_json::Val;
use serde_json::Value as Json;

type D = data::JustLut<Val>;
type Filter = jaq_core::Filter<D>;

/// Bounds on one evaluation.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Wall-clock budget for all the expressions of one node.
    pub time: Duration,
    /// Most values one expression may yield.
    pub outputs: usize,
    /// Most bytes (as compact JSON) one expression may yield in total.
    pub bytes: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            time: Duration::from_secs(2),
            outputs: 10_000,
            bytes: 16 * 1024 * 1024,
        }
    }
}

/// The compiled expressions of one workflow, by source text.
#[derive(Clone, Default)]
pub struct Programs {
    filters: HashMap<String, Compiled>,
}

/// One compiled expression.
#[derive(Clone)]
struct Compiled {
    filter: Arc<Filter>,
    /// The steps of the expression if it is a simple path (see [`simple_path`]).
    path: Option<Arc<[Step]>>,
}

/// One step of a simple path.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    /// `.name`, `."name"` or `["name"]`: a key of an object.
    Key(String),
    /// `[N]`: an element of an array.
    Index(usize),
}

impl Programs {
    /// Compiles `code` (once per distinct text). The error names the expression.
    pub fn add(&mut self, code: &str) -> Result<(), String> {
        if self.filters.contains_key(code) {
            return Ok(());
        }
        let filter = compile(code)?;
        let compiled = Compiled {
            filter: Arc::new(filter),
            path: simple_path(code).map(Arc::from),
        };
        self.filters.insert(code.to_string(), compiled);
        Ok(())
    }

    /// Whether `code` was compiled.
    pub fn contains(&self, code: &str) -> bool {
        self.filters.contains_key(code)
    }

    fn get(&self, code: &str) -> Option<Arc<Filter>> {
        self.filters.get(code).map(|c| Arc::clone(&c.filter))
    }

    fn path(&self, code: &str) -> Option<&[Step]> {
        self.filters.get(code)?.path.as_deref()
    }
}

/// The steps of `code` if it is a simple path: `.` alone, or a chain of `.name`, `."key"`,
/// `.["key"]` and `.[N]` (the first step starts with `.`, later ones may also be a bare
/// `["key"]` or `[N]`), with whitespace only around the whole. Keys with a backslash, negative
/// or non-integer indexes, `?`, slices, pipes and everything else are not simple. Only called
/// on code that jaq compiled, so the syntax is known to be valid.
fn simple_path(code: &str) -> Option<Vec<Step>> {
    let code = code.trim();
    if code == "." {
        return Some(Vec::new());
    }
    let mut rest = code;
    let mut steps = Vec::new();
    while !rest.is_empty() {
        let (step, after) = match rest.strip_prefix('.') {
            Some(r) if r.starts_with('[') => bracket(&r[1..])?,
            Some(r) if r.starts_with('"') => {
                let (key, after) = string(r)?;
                (Step::Key(key), after)
            }
            Some(r) if r.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') => {
                let end = r
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .unwrap_or(r.len());
                (Step::Key(r[..end].to_string()), &r[end..])
            }
            // A leading `[` would build an array, not index the input.
            None if !steps.is_empty() && rest.starts_with('[') => bracket(&rest[1..])?,
            _ => return None,
        };
        steps.push(step);
        rest = after;
    }
    (!steps.is_empty()).then_some(steps)
}

/// The inside of `[...]` (after the `[`): a string key or a non-negative integer, then `]`.
fn bracket(r: &str) -> Option<(Step, &str)> {
    let (step, after) = if r.starts_with('"') {
        let (key, after) = string(r)?;
        (Step::Key(key), after)
    } else {
        let end = r.find(|c: char| !c.is_ascii_digit()).unwrap_or(r.len());
        (Step::Index(r[..end].parse().ok()?), &r[end..])
    };
    Some((step, after.strip_prefix(']')?))
}

/// A string literal at the start of `r` without escapes (so without interpolation either).
fn string(r: &str) -> Option<(String, &str)> {
    let body = r.strip_prefix('"')?;
    let end = body.find('"')?;
    let key = &body[..end];
    if key.contains('\\') {
        return None;
    }
    Some((key.to_string(), &body[end + 1..]))
}

static NULL: Json = Json::Null;

/// The value of the simple path `steps` in `input`, as jaq computes it: null, a missing key
/// and an index past the end all give null. `None` where jaq may fail or differ: a key of a
/// non-object, an index into a non-array (jaq gives null for an object, an error otherwise).
fn select<'a>(input: &'a Json, steps: &[Step]) -> Option<&'a Json> {
    let mut v = input;
    for step in steps {
        v = match (v, step) {
            (Json::Null, _) => &NULL,
            (Json::Object(m), Step::Key(k)) => m.get(k.as_str()).unwrap_or(&NULL),
            (Json::Array(a), Step::Index(i)) => a.get(*i).unwrap_or(&NULL),
            _ => return None,
        };
    }
    Some(v)
}

/// Counts the bytes jaq prints for a value that serde_json writes compactly. The two writers
/// agree (same escapes, same number format) except that jaq escapes DEL as `\u007f`.
struct JaqLen(usize);

impl std::io::Write for JaqLen {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len() + 5 * buf.iter().filter(|b| **b == 0x7f).count();
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The length of `value` as printed by jaq (what [`Limits::bytes`] counts).
fn jaq_len(value: &Json) -> Option<usize> {
    let mut len = JaqLen(0);
    serde_json::to_writer(&mut len, value).ok()?;
    Some(len.0)
}

fn compile(code: &str) -> Result<Filter, String> {
    let defs = jaq_core::defs()
        .chain(jaq_std::defs())
        .chain(jaq_json::defs());
    let funs = jaq_core::funs::<D>()
        .chain(jaq_std::funs::<D>())
        .chain(jaq_json::funs::<D>());
    let loader = Loader::new(defs);
    let arena = Arena::default();
    let modules = loader
        .load(&arena, File { code, path: () })
        .map_err(|_| format!("the jq expression `{}` does not parse", code.trim()))?;
    jaq_core::Compiler::default()
        .with_funs(funs)
        .compile(modules)
        .map_err(|errs| {
            let names: Vec<&str> = errs
                .iter()
                .flat_map(|(_, es)| es.iter().map(|(name, _)| *name))
                .collect();
            format!(
                "the jq expression `{}` uses undefined names: {}",
                code.trim(),
                names.join(", ")
            )
        })
}

/// The result of one expression: its values, or why it failed.
pub type Outcome = Result<Vec<Json>, String>;

struct Job {
    filters: Vec<Arc<Filter>>,
    input: Json,
    limits: Limits,
    deadline: Instant,
    reply: tokio::sync::oneshot::Sender<Vec<Outcome>>,
}

/// Evaluates compiled expressions on a pool of big-stack threads.
#[derive(Clone)]
pub struct Evaluator {
    tx: mpsc::Sender<Job>,
    rx: Arc<Mutex<mpsc::Receiver<Job>>>,
    limits: Limits,
}

/// The stack of an evaluating thread: only touched pages are committed.
const STACK: usize = 512 * 1024 * 1024;

impl Evaluator {
    /// Starts `threads` evaluating threads.
    pub fn new(threads: usize, limits: Limits) -> Result<Evaluator, String> {
        let (tx, rx) = mpsc::channel();
        let ev = Evaluator {
            tx,
            rx: Arc::new(Mutex::new(rx)),
            limits,
        };
        for _ in 0..threads.max(1) {
            ev.spawn_worker()?;
        }
        Ok(ev)
    }

    fn spawn_worker(&self) -> Result<(), String> {
        let rx = Arc::clone(&self.rx);
        std::thread::Builder::new()
            .name("wflow-jq".into())
            .stack_size(STACK)
            .spawn(move || {
                loop {
                    let job = match rx.lock() {
                        Ok(guard) => match guard.recv() {
                            Ok(job) => job,
                            Err(_) => return,
                        },
                        Err(_) => return,
                    };
                    let out = job
                        .filters
                        .iter()
                        .map(|f| run(f, &job.input, &job.limits, job.deadline))
                        .collect();
                    let _ = job.reply.send(out);
                }
            })
            .map(|_| ())
            .map_err(|e| format!("cannot start a jq evaluation thread: {e}"))
    }

    /// Evaluates the expressions `codes` (compiled in `programs`) against `input`, in order.
    /// Expressions that were not compiled yield an error outcome.
    pub async fn eval(&self, programs: &Programs, codes: &[&str], input: Json) -> Vec<Outcome> {
        match self.eval_paths(programs, codes, &input) {
            Some(out) => out,
            None => self.eval_jaq(programs, codes, input).await,
        }
    }

    /// Evaluates `codes` inline if every one is a simple path whose value jaq would yield
    /// without error within the limits; `None` leaves the whole call to jaq, so errors and
    /// limit messages stay jaq's. A path walk is bounded by its length, so the time budget
    /// cannot be hit here; the output limit is one value and the byte limit is checked.
    fn eval_paths(
        &self,
        programs: &Programs,
        codes: &[&str],
        input: &Json,
    ) -> Option<Vec<Outcome>> {
        if self.limits.outputs == 0 {
            return None;
        }
        let values = codes
            .iter()
            .map(|code| {
                let value = select(input, programs.path(code)?)?;
                (jaq_len(value)? <= self.limits.bytes).then_some(value)
            })
            .collect::<Option<Vec<&Json>>>()?;
        Some(values.into_iter().map(|v| Ok(vec![v.clone()])).collect())
    }

    /// Evaluates `codes` with jaq on the pool of threads.
    async fn eval_jaq(&self, programs: &Programs, codes: &[&str], input: Json) -> Vec<Outcome> {
        let mut filters = Vec::with_capacity(codes.len());
        for code in codes {
            match programs.get(code) {
                Some(f) => filters.push(f),
                None => {
                    return codes
                        .iter()
                        .map(|c| Err(format!("the jq expression `{}` was not compiled", c.trim())))
                        .collect();
                }
            }
        }
        let (reply, rx) = tokio::sync::oneshot::channel();
        let job = Job {
            filters,
            input,
            limits: self.limits,
            deadline: Instant::now() + self.limits.time,
            reply,
        };
        let timeout_msg = || {
            format!(
                "the jq expressions did not finish within {} ms; simplify them (an endless \
                 `repeat`, `range` or `until`?)",
                self.limits.time.as_millis()
            )
        };
        if self.tx.send(job).is_err() {
            return codes
                .iter()
                .map(|_| Err("the jq evaluation threads have stopped".to_string()))
                .collect();
        }
        match tokio::time::timeout(self.limits.time + Duration::from_millis(50), rx).await {
            Ok(Ok(out)) => out,
            Ok(Err(_)) => codes
                .iter()
                .map(|_| Err("a jq evaluation thread stopped unexpectedly".to_string()))
                .collect(),
            Err(_) => {
                // The worker is stuck in jaq; replace it so the pool keeps its size.
                let _ = self.spawn_worker();
                codes.iter().map(|_| Err(timeout_msg())).collect()
            }
        }
    }
}

fn run(filter: &Filter, input: &Json, limits: &Limits, deadline: Instant) -> Outcome {
    let input: Val = serde_json::from_value(input.clone())
        .map_err(|e| format!("cannot pass the run context to jq: {e}"))?;
    let ctx = Ctx::<D>::new(&filter.lut, Vars::new([]));
    let mut out = Vec::new();
    let mut bytes = 0usize;
    for v in filter.id.run((ctx, input)).map(jaq_core::unwrap_valr) {
        if Instant::now() > deadline {
            return Err(format!(
                "the jq expression did not finish within {} ms",
                limits.time.as_millis()
            ));
        }
        let v = v.map_err(|e| format!("jq error: {e}"))?;
        let text = v.to_string();
        bytes += text.len();
        if out.len() >= limits.outputs {
            return Err(format!(
                "the jq expression yielded more than {} values",
                limits.outputs
            ));
        }
        if bytes > limits.bytes {
            return Err(format!(
                "the jq expression yielded more than {} bytes",
                limits.bytes
            ));
        }
        let json: Json = serde_json::from_str(&text).map_err(|e| {
            format!("the jq expression yielded a value that is not JSON ({e}): {text:.80}")
        })?;
        out.push(json);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn programs(codes: &[&str]) -> Programs {
        let mut p = Programs::default();
        for c in codes {
            p.add(c).expect("compiles");
        }
        p
    }

    #[tokio::test]
    async fn evaluates_and_keeps_json_types() {
        let ev = Evaluator::new(1, Limits::default()).expect("pool");
        let p = programs(&[".a + 1", ".b[]", "empty", "error(\"boom\")"]);
        let out = ev
            .eval(
                &p,
                &[".a + 1", ".b[]", "empty", "error(\"boom\")"],
                json!({"a": 1, "b": ["x", {"y": null}]}),
            )
            .await;
        assert_eq!(out[0], Ok(vec![json!(2)]));
        assert_eq!(out[1], Ok(vec![json!("x"), json!({"y": null})]));
        assert_eq!(out[2], Ok(vec![]));
        assert!(out[3].as_ref().is_err_and(|e| e.contains("boom")));
    }

    #[tokio::test]
    async fn endless_expressions_hit_the_budget() {
        let limits = Limits {
            time: Duration::from_millis(200),
            ..Limits::default()
        };
        let ev = Evaluator::new(1, limits).expect("pool");
        let p = programs(&["last(repeat(1))", "repeat(1)", "1"]);
        let out = ev.eval(&p, &["last(repeat(1))"], json!(null)).await;
        assert!(
            out[0].as_ref().is_err_and(|e| e.contains("200 ms")),
            "{out:?}"
        );
        let out = ev.eval(&p, &["repeat(1)"], json!(null)).await;
        assert!(
            out[0].as_ref().is_err_and(|e| e.contains("more than")),
            "{out:?}"
        );
        // The pool still works after a stuck evaluation.
        assert_eq!(
            ev.eval(&p, &["1"], json!(null)).await[0],
            Ok(vec![json!(1)])
        );
    }

    #[test]
    fn invalid_code_is_refused() {
        let mut p = Programs::default();
        assert!(p.add(".a |").is_err());
        p.add("def inc(x): x + 1; inc(.a)").expect("valid");
    }

    #[test]
    fn simple_paths_are_recognised() {
        let key = |k: &str| Step::Key(k.to_string());
        let cases: &[(&str, Option<Vec<Step>>)] = &[
            (".", Some(vec![])),
            (" .\n", Some(vec![])),
            (
                ".outputs.trigger.service",
                Some(vec![key("outputs"), key("trigger"), key("service")]),
            ),
            (
                r#".outputs["a-b"].response"#,
                Some(vec![key("outputs"), key("a-b"), key("response")]),
            ),
            (
                ".outputs.x.items[0]",
                Some(vec![key("outputs"), key("x"), key("items"), Step::Index(0)]),
            ),
            (".a.[12]", Some(vec![key("a"), Step::Index(12)])),
            (".[3][01]", Some(vec![Step::Index(3), Step::Index(1)])),
            (r#"."a b"."""#, Some(vec![key("a b"), key("")])),
            (r#".["x"]"#, Some(vec![key("x")])),
            ("  ._A1.and  ", Some(vec![key("_A1"), key("and")])),
            (".a?", None),
            (".a | .b", None),
            (".[-1]", None),
            (".a[1:2]", None),
            (".a[]", None),
            (".[1.0]", None),
            ("$x", None),
            ("$__loc__", None),
            (".a.b // 1", None),
            ("[0]", None),
            ("..", None),
            (".a.", None),
            (". a", None),
            (".a .b", None),
            (".[ 0 ]", None),
            (".a # comment", None),
            (r#"."a\"b""#, None),
            (r#"."\(.a)""#, None),
            (r#".["a\u0041"]"#, None),
            (r#".a"b""#, None),
            (".1", None),
            ("length", None),
            ("", None),
        ];
        for (code, want) in cases {
            assert_eq!(simple_path(code), *want, "{code:?}");
        }
    }

    /// Evaluates `code` with the fast path allowed and with jaq only.
    async fn both(ev: &Evaluator, code: &str, input: &Json) -> (Vec<Outcome>, Vec<Outcome>) {
        let p = programs(&[code]);
        let fast = ev.eval(&p, &[code], input.clone()).await;
        let slow = ev.eval_jaq(&p, &[code], input.clone()).await;
        (fast, slow)
    }

    fn context() -> Json {
        json!({
            "outputs": {
                "trigger": {"service": "api"},
                "a-b": {"response": {"data": {"id": 7}}},
                "x": {"items": [1, {"k": null}, "s", [true]]},
            },
            "workflowRun": {"identifier": "r1"},
            "n": null, "s": "str", "num": 3, "t": true, "obj": {"0": "zero"},
            "": "empty", "sp ace": 2, "and": 1,
            "big": u64::MAX, "neg": i64::MIN, "f": 1.0, "e": 1e15, "tiny": -0.0,
            "del": "a\u{7f}b\n\u{1}é",
        })
    }

    #[tokio::test]
    async fn simple_paths_agree_with_jaq() {
        let ev = Evaluator::new(1, Limits::default()).expect("pool");
        let input = context();
        // (expression, what jaq yields): all served inline.
        let cases: &[(&str, Json)] = &[
            (".", input.clone()),
            (".outputs.trigger.service", json!("api")),
            (r#".outputs["a-b"].response.data.id"#, json!(7)),
            (r#".outputs."a-b".response"#, json!({"data": {"id": 7}})),
            (".outputs.x.items[0]", json!(1)),
            (".outputs.x.items[1].k", json!(null)),
            (".outputs.x.items.[3][0]", json!(true)),
            (".outputs.x.items[4]", json!(null)),
            (".outputs.x.items[02]", json!("s")),
            (".outputs.x.items[18446744073709551615]", json!(null)),
            (".workflowRun.identifier", json!("r1")),
            (".missing", json!(null)),
            (".missing.deeper[3].x", json!(null)),
            (".n.a", json!(null)),
            (".n[0]", json!(null)),
            (r#".[""]"#, json!("empty")),
            (r#"."sp ace""#, json!(2)),
            (".and", json!(1)),
            (r#".["outputs"]["trigger"]"#, json!({"service": "api"})),
            ("  .num\n", json!(3)),
            (".big", json!(u64::MAX)),
            (".neg", json!(i64::MIN)),
            (".f", json!(1.0)),
            (".e", json!(1e15)),
            (".tiny", json!(-0.0)),
            (".del", json!("a\u{7f}b\n\u{1}é")),
        ];
        for (code, want) in cases {
            let p = programs(&[code]);
            assert!(
                ev.eval_paths(&p, &[code], &input).is_some(),
                "{code} is not served inline"
            );
            let (fast, slow) = both(&ev, code, &input).await;
            assert_eq!(fast, vec![Ok(vec![want.clone()])], "{code}");
            assert_eq!(fast, slow, "{code}");
            // Same JSON text too (integer vs float, -0.0).
            assert_eq!(format!("{fast:?}"), format!("{slow:?}"), "{code}");
        }
    }

    #[tokio::test]
    async fn type_mismatches_get_jaqs_answer() {
        let ev = Evaluator::new(1, Limits::default()).expect("pool");
        let input = context();
        for code in [
            ".s.a",
            ".s[0]",
            ".num[0]",
            ".t.x",
            ".outputs.x.items.a",
            r#".outputs.x.items["0"]"#,
            ".obj[0]",
        ] {
            let p = programs(&[code]);
            assert!(p.path(code).is_some(), "{code} is a simple path");
            assert!(
                ev.eval_paths(&p, &[code], &input).is_none(),
                "{code} is left to jaq"
            );
            let (fast, slow) = both(&ev, code, &input).await;
            assert_eq!(fast, slow, "{code}");
            if code == ".obj[0]" {
                // jq fails here; jaq looks the number up as a key and finds nothing.
                assert_eq!(fast, vec![Ok(vec![json!(null)])]);
            } else {
                assert!(
                    fast[0]
                        .as_ref()
                        .is_err_and(|e| e.starts_with("jq error: cannot index")),
                    "{code}: {fast:?}"
                );
            }
        }
        // One expression that is not simple sends the whole call to jaq.
        let codes = [".num", ".num + 1"];
        let p = programs(&codes);
        assert!(ev.eval_paths(&p, &codes, &input).is_none());
        assert_eq!(
            ev.eval(&p, &codes, input.clone()).await,
            vec![Ok(vec![json!(3)]), Ok(vec![json!(4)])]
        );
    }

    #[tokio::test]
    async fn simple_paths_keep_the_limits() {
        let input = json!({"d": "\u{7f}\u{7f}", "a": [1, 2]});
        // jaq prints "\u007f\u007f" (14 bytes) where serde_json writes 4.
        for (bytes, fits) in [(13, false), (14, true)] {
            let limits = Limits {
                bytes,
                ..Limits::default()
            };
            let ev = Evaluator::new(1, limits).expect("pool");
            let (fast, slow) = both(&ev, ".d", &input).await;
            assert_eq!(fast, slow);
            assert_eq!(fast[0].is_ok(), fits, "{fast:?}");
        }
        let limits = Limits {
            outputs: 0,
            ..Limits::default()
        };
        let ev = Evaluator::new(1, limits).expect("pool");
        let (fast, slow) = both(&ev, ".a", &input).await;
        assert_eq!(fast, slow);
        assert!(
            fast[0]
                .as_ref()
                .is_err_and(|e| e.contains("more than 0 values")),
            "{fast:?}"
        );
    }

    #[tokio::test]
    async fn simple_paths_do_not_use_the_threads() {
        // A pool without threads: only inline evaluation can answer.
        let (tx, rx) = mpsc::channel();
        let ev = Evaluator {
            tx,
            rx: Arc::new(Mutex::new(rx)),
            limits: Limits {
                time: Duration::from_millis(50),
                ..Limits::default()
            },
        };
        let codes = [".outputs.trigger.service", ".", ".missing[2]"];
        let p = programs(&codes);
        let out = ev.eval(&p, &codes, context()).await;
        assert_eq!(
            out,
            vec![
                Ok(vec![json!("api")]),
                Ok(vec![context()]),
                Ok(vec![json!(null)])
            ]
        );
        let p = programs(&[".a?"]);
        let out = ev.eval(&p, &[".a?"], context()).await;
        assert!(
            out[0].as_ref().is_err_and(|e| e.contains("did not finish")),
            "{out:?}"
        );
    }

    #[tokio::test]
    async fn deep_values_do_not_overflow() {
        // The stack is under test, not the time: a loaded machine may take seconds.
        let limits = Limits {
            time: Duration::from_secs(120),
            ..Limits::default()
        };
        let ev = Evaluator::new(1, limits).expect("pool");
        let p = programs(&["reduce range(100000) as $i (null; [.]) | tojson | length"]);
        let out = ev
            .eval(
                &p,
                &["reduce range(100000) as $i (null; [.]) | tojson | length"],
                json!(null),
            )
            .await;
        assert_eq!(out[0], Ok(vec![json!(200004)]));
    }
}
