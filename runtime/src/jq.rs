//! jq evaluation with jaq: every expression of a workflow is compiled once, then evaluated on
//! dedicated threads with a large stack, a cap on the outputs and a wall-clock budget.
//!
//! jaq has no way to interrupt an evaluation. A budget overrun fails the node with a clear
//! message and the evaluating thread is replaced; the runaway thread is left to finish (or
//! dies with the process). Recursive user-defined functions (`def f: ... f ...`) are rejected
//! when the workflow is prepared, so user code cannot recurse without bound; the big stack
//! covers built-ins that recurse over deep values.

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
    filters: HashMap<String, Arc<Filter>>,
}

impl Programs {
    /// Compiles `code` (once per distinct text). The error names the expression.
    pub fn add(&mut self, code: &str) -> Result<(), String> {
        if self.filters.contains_key(code) {
            return Ok(());
        }
        if let Some(name) = recursive_def(code) {
            return Err(format!(
                "the jq expression `{}` defines the recursive function `{name}`; recursion is \
                 not allowed in workflow expressions (use `recurse`, `reduce` or `until`)",
                code.trim()
            ));
        }
        let filter = compile(code)?;
        self.filters.insert(code.to_string(), Arc::new(filter));
        Ok(())
    }

    fn get(&self, code: &str) -> Option<Arc<Filter>> {
        self.filters.get(code).cloned()
    }
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

/// The name of a function defined in `code` whose body calls itself, if any. A textual check:
/// the body is taken to run from the `def` to its terminating `;` at the same nesting depth.
fn recursive_def(code: &str) -> Option<String> {
    let bytes = code.as_bytes();
    let mut i = 0;
    while let Some(pos) = code.get(i..).and_then(|s| s.find("def ")) {
        let start = i + pos + 4;
        let name: String = code[start..]
            .trim_start()
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        let colon = code[start..].find(':')?;
        let body_start = start + colon + 1;
        let mut depth = 0i32;
        let mut end = bytes.len();
        let mut in_str = false;
        let mut j = body_start;
        while j < bytes.len() {
            match (in_str, bytes[j]) {
                (true, b'\\') => j += 1,
                (_, b'"') => in_str = !in_str,
                (false, b'(' | b'[' | b'{') => depth += 1,
                (false, b')' | b']' | b'}') => depth -= 1,
                (false, b';') if depth <= 0 => {
                    end = j;
                    break;
                }
                _ => {}
            }
            j += 1;
        }
        let body = &code[body_start..end];
        if !name.is_empty() && calls(body, &name) {
            return Some(name);
        }
        i = body_start;
    }
    None
}

/// Whether `body` mentions `name` as a whole word (not as `$name` or `.name`).
fn calls(body: &str, name: &str) -> bool {
    let is_word = |c: char| c.is_alphanumeric() || c == '_';
    body.match_indices(name).any(|(at, _)| {
        let before = body[..at].chars().next_back();
        let after = body[at + name.len()..].chars().next();
        !before.is_some_and(|c| is_word(c) || c == '$' || c == '.' || c == '@')
            && !after.is_some_and(is_word)
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
    fn recursive_definitions_are_rejected() {
        let mut p = Programs::default();
        let err = p.add("def f: 1 + f; f").expect_err("recursive");
        assert!(err.contains("recursive function `f`"), "{err}");
        p.add("def inc(x): x + 1; inc(.a)").expect("not recursive");
        p.add("def f($f): $f; f(1)")
            .expect("a variable is not a call");
        assert!(p.add(".a |").is_err());
    }

    #[tokio::test]
    async fn deep_values_do_not_overflow() {
        let ev = Evaluator::new(1, Limits::default()).expect("pool");
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
