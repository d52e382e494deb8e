//! A fuzzer on stable Rust (cargo-fuzz needs nightly). [`Generator`] makes random `.wflow` and
//! Port JSON inputs: workflows spliced from the nodes of the valid corpus, random Port JSON,
//! and corpus files put through byte and structure mutations. [`exercise`] feeds one input
//! through everything that reads user files: check, the human, JSON and GitHub renderers, the
//! graph's three formats, `fmt`, `import` and `export`. [`Runner`] runs inputs on a worker thread with a large stack
//! ([`STACK`]), catches panics and gives up on an input after the hang threshold.
//!
//! A stack overflow cannot be caught: it aborts the process, which is itself the failure. Each
//! input is made from its own seed (`seed + i`), so the last seed the runner printed finds it.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

use serde_json::{Value as J, json};
use wflow_compiler::export::{PortSchema, export};
use wflow_compiler::{Severity, Syntax, catalog::Catalog, check_bytes_with, print};

/// The worker thread's stack: deep but bounded nesting must fit.
pub const STACK: usize = 256 << 20;

/// A small, fast, seedable random number generator (xorshift64*).
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next_u64() % n as u64) as usize
        }
    }

    /// True one time in `n`.
    pub fn one_in(&mut self, n: usize) -> bool {
        self.below(n) == 0
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    /// One of `items`, copied.
    pub fn choose<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }
}

/// One fuzzed input.
#[derive(Debug, Clone)]
pub struct Input {
    pub syntax: Syntax,
    pub bytes: Vec<u8>,
}

impl Input {
    /// The extension of a file holding this input.
    pub fn extension(&self) -> &'static str {
        match self.syntax {
            Syntax::Json => "json",
            Syntax::Wflow => "wflow",
        }
    }
}

/// Makes inputs from a corpus of valid files.
pub struct Generator {
    seeds: Vec<Input>,
    /// Top-level items of the `.wflow` seeds (nodes, triggers), with the node's name.
    items: Vec<(String, String)>,
    /// The deepest nesting a mutation inserts.
    pub max_depth: usize,
    /// The longest run (of one character, of `}`, of copies of a span) a mutation inserts.
    pub max_run: usize,
}

/// Values that have broken parsers and checkers before.
const ODD_VALUES: &[&str] = &[
    "1e999999",
    "-1e-999999",
    "99999999999999999999999999999999",
    "-0",
    "0.0000000000000000000000000001",
    "NaN",
    "\"\"",
    "\"\\u0000\"",
    "\"\\ud800\"",
    "\"é🚀\"",
    "null",
    "true",
    "[]",
    "{}",
    "`.outputs.x | .[] | .a?`",
    "`{{ .x }}`",
    "\"{{ .outputs.trigger.x }}\"",
    "\"{{\"",
    "`def f: f; f`",
];

const NODE_TYPES: &[&str] = &[
    "SELF_SERVE_TRIGGER",
    "EVENT_TRIGGER",
    "SCHEDULE_TRIGGER",
    "WEBHOOK",
    "CONDITION",
    "INPUT",
    "UPSERT_ENTITY",
    "KAFKA",
    "GITHUB",
    "AI",
    "AI_AGENT",
    "CURSOR_AGENT",
    "INTEGRATION_ACTION",
    "NOPE",
];

const FIELDS: &[&str] = &[
    "type",
    "url",
    "method",
    "body",
    "headers",
    "outlets",
    "options",
    "expression",
    "identifier",
    "title",
    "userInputs",
    "properties",
    "required",
    "cron",
    "blueprintIdentifier",
    "event",
    "condition",
    "mapping",
    "payload",
    "buttons",
    "steps",
    "order",
    "userPrompt",
    "model",
    "provider",
];

impl Generator {
    /// A generator over the `.wflow` and `.json` files of `dir`.
    pub fn from_dir(dir: &Path) -> std::io::Result<Generator> {
        let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "wflow" || x == "json"))
            .collect();
        paths.sort();
        let mut seeds = Vec::new();
        for p in paths {
            seeds.push(Input {
                syntax: wflow_compiler::syntax_of(&p),
                bytes: std::fs::read(&p)?,
            });
        }
        Ok(Generator::new(seeds))
    }

    pub fn new(seeds: Vec<Input>) -> Generator {
        let mut items = Vec::new();
        for s in seeds.iter().filter(|s| s.syntax == Syntax::Wflow) {
            items.extend(top_level_items(&String::from_utf8_lossy(&s.bytes)));
        }
        Generator {
            seeds,
            items,
            max_depth: 200,
            max_run: 80_000,
        }
    }

    /// The next input: a spliced `.wflow` workflow, random Port JSON, or a mutated corpus
    /// file, each possibly mutated further.
    pub fn input(&self, rng: &mut Rng) -> Input {
        let mut input = match rng.below(4) {
            0 if !self.items.is_empty() => Input {
                syntax: Syntax::Wflow,
                bytes: self.spliced_wflow(rng).into_bytes(),
            },
            1 => Input {
                syntax: Syntax::Json,
                bytes: random_port_json(rng).into_bytes(),
            },
            _ if !self.seeds.is_empty() => {
                let seed = rng.pick(&self.seeds).clone();
                if seed.syntax == Syntax::Json && rng.one_in(2) {
                    Input {
                        syntax: Syntax::Json,
                        bytes: mutate_json(rng, &seed.bytes).into_bytes(),
                    }
                } else {
                    seed
                }
            }
            _ => Input {
                syntax: Syntax::Json,
                bytes: random_port_json(rng).into_bytes(),
            },
        };
        let rounds = rng.below(5);
        for _ in 0..rounds {
            self.mutate(rng, &mut input.bytes);
        }
        input
    }

    /// A workflow of random nodes of the corpus, connected at random.
    fn spliced_wflow(&self, rng: &mut Rng) -> String {
        let mut out = format!("workflow w{} \"Fuzz\" {{\n", rng.below(1000));
        let mut names = Vec::new();
        for _ in 0..1 + rng.below(8) {
            let (name, text) = rng.pick(&self.items);
            names.push(name.clone());
            out.push_str(text);
            out.push('\n');
        }
        out.push_str("  flow {\n");
        for _ in 0..rng.below(10) {
            let from = rng.pick(&names).clone();
            let to = rng.pick(&names).clone();
            let outlet = match rng.below(4) {
                0 => ".fallback",
                1 => ".yes",
                _ => "",
            };
            out.push_str(&format!("    {from}{outlet} -> {to}\n"));
        }
        out.push_str("  }\n}\n");
        out
    }

    /// Applies one mutation operator to `bytes`.
    pub fn mutate(&self, rng: &mut Rng, bytes: &mut Vec<u8>) {
        let at = rng.below(bytes.len() + 1);
        match rng.below(13) {
            0 => {
                if let Some(b) = bytes.get_mut(at) {
                    *b ^= 1 << rng.below(8);
                }
            }
            1 => {
                let end = (at + 1 + rng.below(64)).min(bytes.len());
                bytes.drain(at.min(end)..end);
            }
            2 => {
                let start = rng.below(bytes.len() + 1);
                let end = (start + 1 + rng.below(256)).min(bytes.len());
                let span = bytes[start.min(end)..end].to_vec();
                let most = if rng.one_in(8) { self.max_run / 100 } else { 3 };
                let times = 1 + rng.below(most);
                insert(bytes, at, &span.repeat(times));
            }
            3 => {
                let depth = 1 + rng.below(self.max_depth.max(1));
                let (open, close) =
                    *rng.pick(&[("{", "}"), ("[", "]"), ("(", ")"), ("{ a: ", "}")]);
                let mut text = open.repeat(depth);
                if rng.one_in(2) {
                    text.push_str(&close.repeat(depth));
                }
                insert(bytes, at, text.as_bytes());
            }
            4 => {
                let c = rng.choose(b"xa \"9");
                let len = 1 + rng.below(self.max_run);
                insert(bytes, at, &vec![c; len]);
            }
            5 => {
                let end = (at + rng.below(400)).min(bytes.len());
                for b in &mut bytes[at..end] {
                    if *b == b' ' && rng.one_in(2) {
                        *b = b'\t';
                    }
                }
                insert(bytes, at, b"\t");
            }
            6 => {
                let bad: &[u8] = rng.choose(&[
                    &b"\xff"[..],
                    &b"\xc3"[..],
                    &b"\xe2\x82"[..],
                    &b"\x80"[..],
                    &b"\xed\xa0\x80"[..],
                ]);
                insert(bytes, at, bad);
            }
            7 => insert(bytes, at, rng.pick(ODD_VALUES).as_bytes()),
            8 => {
                let s = *rng.pick(&["{", "[", "\"", "`", "{{", "/*", "\"\\", "'"]);
                insert(bytes, at, s.as_bytes());
            }
            9 => {
                let most = if rng.one_in(4) { self.max_run / 10 } else { 20 };
                let n = 1 + rng.below(most);
                insert(bytes, at, "}".repeat(n).as_bytes());
            }
            10 => {
                let s = *rng.pick(&[
                    "\r\n",
                    "\r",
                    "\0",
                    "\u{7f}",
                    "\u{1b}[31m",
                    "\u{feff}",
                    "\u{202e}",
                ]);
                insert(bytes, at, s.as_bytes());
            }
            11 if !self.seeds.is_empty() => {
                let other = &rng.pick(&self.seeds).bytes;
                let start = rng.below(other.len() + 1);
                let end = (start + rng.below(400)).min(other.len());
                insert(bytes, at, &other[start..end]);
            }
            _ => {
                // Minify: all on one line.
                bytes.retain(|b| *b != b'\n');
            }
        }
    }
}

fn insert(bytes: &mut Vec<u8>, at: usize, what: &[u8]) {
    let at = at.min(bytes.len());
    bytes.splice(at..at, what.iter().copied());
}

/// The top-level items of the workflows in `src` (two-space indented blocks other than
/// `flow`), with the name a connection would use.
fn top_level_items(src: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut lines = src.lines();
    while let Some(line) = lines.next() {
        let Some(rest) = line.strip_prefix("  ") else {
            continue;
        };
        let words: Vec<&str> = rest.split_whitespace().collect();
        if rest.starts_with(' ') || words.first().is_none_or(|w| *w == "flow") {
            continue;
        }
        let name = match words.get(1) {
            Some(&"trigger") | None => "trigger",
            Some(n) => n,
        };
        let mut text = line.to_string();
        if line.trim_end().ends_with('{') {
            for more in lines.by_ref() {
                text.push('\n');
                text.push_str(more);
                if more == "  }" {
                    break;
                }
            }
        }
        out.push((name.to_string(), text));
    }
    out
}

/// A random JSON value, `depth` levels deep at most.
fn random_value(rng: &mut Rng, depth: usize) -> J {
    match rng.below(if depth == 0 { 5 } else { 8 }) {
        0 => J::Null,
        1 => J::Bool(rng.one_in(2)),
        2 => json!(rng.next_u64() as i64 >> rng.below(64)),
        3 => serde_json::from_str(rng.choose(ODD_VALUES)).unwrap_or(J::Null),
        4 => J::String(rng.pick(FIELDS).to_string()),
        5 | 6 => J::Object(
            (0..rng.below(5))
                .map(|_| (rng.pick(FIELDS).to_string(), random_value(rng, depth - 1)))
                .collect(),
        ),
        _ => J::Array(
            (0..rng.below(4))
                .map(|_| random_value(rng, depth - 1))
                .collect(),
        ),
    }
}

/// A random Port workflow: nodes of random types with random fields, random connections.
fn random_port_json(rng: &mut Rng) -> String {
    let count = 1 + rng.below(8);
    let ids: Vec<String> = (0..count).map(|i| format!("n{i}")).collect();
    let nodes: Vec<J> = ids
        .iter()
        .map(|id| {
            let mut config = serde_json::Map::new();
            config.insert("type".into(), J::String(rng.pick(NODE_TYPES).to_string()));
            for _ in 0..rng.below(5) {
                config.insert(rng.pick(FIELDS).to_string(), random_value(rng, 3));
            }
            json!({ "identifier": id, "title": "T", "config": config })
        })
        .collect();
    let connections: Vec<J> = (0..rng.below(count + 2))
        .map(|_| {
            let mut c = json!({
                "sourceIdentifier": rng.pick(&ids),
                "targetIdentifier": rng.pick(&ids),
            });
            match rng.below(4) {
                0 => c["fallback"] = J::Bool(true),
                1 => c["sourceOutletIdentifier"] = J::String("yes".into()),
                2 => c["sourceOptionIdentifier"] = random_value(rng, 1),
                _ => {}
            }
            c
        })
        .collect();
    let doc = json!({ "identifier": "fuzz", "title": "Fuzz", "nodes": nodes, "connections": connections });
    if rng.one_in(2) {
        doc.to_string()
    } else {
        serde_json::to_string_pretty(&doc).unwrap_or_default()
    }
}

/// A JSON corpus file with one value somewhere inside replaced by a random one.
fn mutate_json(rng: &mut Rng, bytes: &[u8]) -> String {
    let Ok(mut doc) = serde_json::from_slice::<J>(bytes) else {
        return String::from_utf8_lossy(bytes).into_owned();
    };
    let depth = 1 + rng.below(6);
    replace_somewhere(rng, &mut doc, depth);
    serde_json::to_string_pretty(&doc).unwrap_or_default()
}

/// Replaces `v` or a value at most `depth` levels inside it with a random value.
fn replace_somewhere(rng: &mut Rng, v: &mut J, depth: usize) {
    let k = rng.below(8);
    let inner = match v {
        J::Object(m) if depth > 0 && !m.is_empty() => {
            let n = m.len();
            m.values_mut().nth(k % n)
        }
        J::Array(a) if depth > 0 && !a.is_empty() => {
            let n = a.len();
            a.get_mut(k % n)
        }
        _ => None,
    };
    match inner {
        Some(inner) => replace_somewhere(rng, inner, depth - 1),
        None => *v = random_value(rng, 3),
    }
}

/// Runs `input` through check, the three renderers, the graph, `fmt`, `import` and `export`, and checks
/// that they agree: Port JSON that checks without any diagnostic imports, and its import checks
/// without errors. Panics on any failure.
pub fn exercise(input: &Input) {
    let name = format!("fuzz.{}", input.extension());
    let (text, checked) =
        check_bytes_with(input.bytes.clone(), input.syntax, &Catalog::new(Vec::new()));
    let diags = &checked.diagnostics;
    let _ = wflow::render_human(&name, &text, diags, false);
    let _ = wflow::render_json_entries(&name, &text, diags);
    let _ = wflow::render_github(&name, &text, diags);
    // The editor draws whatever was read, errors or not.
    for format in [
        wflow_graph::Format::Svg,
        wflow_graph::Format::Mermaid,
        wflow_graph::Format::Dot,
    ] {
        let _ = wflow_graph::render(&checked.module.workflows, None, format);
    }
    if diags.iter().any(|d| d.code == "unreadable-file") {
        return;
    }
    match input.syntax {
        Syntax::Wflow => {
            let _ = print::format(&text);
        }
        Syntax::Json => match print::import(&text) {
            Ok(imported) => {
                let back = wflow_compiler::check_source(&imported, Syntax::Wflow);
                let errors: Vec<_> = back
                    .diagnostics
                    .iter()
                    .filter(|d| d.severity == Severity::Error)
                    .map(|d| format!("{}: {}", d.code, d.message))
                    .collect();
                assert!(
                    errors.is_empty() || !diags.is_empty(),
                    "clean Port JSON imports as .wflow with errors: {errors:?}\n{imported}"
                );
            }
            Err(refused) => assert!(
                !diags.is_empty(),
                "clean Port JSON is refused by import: {:?}",
                refused.iter().map(|d| &d.message).collect::<Vec<_>>()
            ),
        },
    }
    for wf in &checked.module.workflows {
        for schema in [PortSchema::Newest, PortSchema::Legacy] {
            if let Ok(json) = export(wf, schema) {
                let _ = print::import(&json.to_string());
            }
        }
    }
}

/// What became of one input.
#[derive(Debug)]
pub enum Outcome {
    /// It ran in this time.
    Done(Duration),
    /// It panicked with this message.
    Panic(String),
    /// It was still running at the hang threshold (its thread is abandoned).
    Hang,
}

/// A worker thread that runs inputs.
struct Worker {
    inputs: Sender<Input>,
    results: Receiver<Result<Duration, String>>,
}

impl Worker {
    fn spawn(run: fn(&Input)) -> std::io::Result<Worker> {
        let (inputs, input_rx) = mpsc::channel::<Input>();
        let (result_tx, results) = mpsc::channel();
        std::thread::Builder::new()
            .name("fuzz-worker".into())
            .stack_size(STACK)
            .spawn(move || {
                IN_WORKER.with(|w| w.set(true));
                for input in input_rx {
                    let start = Instant::now();
                    let result = std::panic::catch_unwind(|| run(&input))
                        .map(|()| start.elapsed())
                        .map_err(|payload| {
                            LAST_PANIC.with(|p| p.take()).unwrap_or_else(|| {
                                payload
                                    .downcast_ref::<&str>()
                                    .map(|s| s.to_string())
                                    .or_else(|| payload.downcast_ref::<String>().cloned())
                                    .unwrap_or_else(|| "a panic".into())
                            })
                        });
                    if result_tx.send(result).is_err() {
                        break;
                    }
                }
            })?;
        Ok(Worker { inputs, results })
    }
}

thread_local! {
    static IN_WORKER: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    static LAST_PANIC: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
}

/// Runs inputs one at a time with a hang threshold.
pub struct Runner {
    worker: Worker,
    hang: Duration,
    run: fn(&Input),
}

impl Runner {
    /// A runner of [`exercise`] that abandons an input after `hang`.
    pub fn new(hang: Duration) -> std::io::Result<Runner> {
        Runner::of(exercise, hang)
    }

    /// A runner of `run`. Panics in its worker are recorded with their location instead of
    /// printed; panics elsewhere are printed as before.
    pub fn of(run: fn(&Input), hang: Duration) -> std::io::Result<Runner> {
        static HOOK: std::sync::Once = std::sync::Once::new();
        HOOK.call_once(|| {
            let previous = std::panic::take_hook();
            std::panic::set_hook(Box::new(move |info| {
                if IN_WORKER.with(|w| w.get()) {
                    LAST_PANIC.with(|p| *p.borrow_mut() = Some(info.to_string()));
                } else {
                    previous(info);
                }
            }));
        });
        Ok(Runner {
            worker: Worker::spawn(run)?,
            hang,
            run,
        })
    }

    pub fn run(&mut self, input: Input) -> std::io::Result<Outcome> {
        if self.worker.inputs.send(input).is_err() {
            self.worker = Worker::spawn(self.run)?;
            return Ok(Outcome::Panic("the worker thread died".into()));
        }
        match self.worker.results.recv_timeout(self.hang) {
            Ok(Ok(took)) => Ok(Outcome::Done(took)),
            Ok(Err(message)) => Ok(Outcome::Panic(message)),
            Err(RecvTimeoutError::Timeout) => {
                // The stuck thread cannot be stopped; a fresh worker takes over.
                self.worker = Worker::spawn(self.run)?;
                Ok(Outcome::Hang)
            }
            Err(RecvTimeoutError::Disconnected) => {
                self.worker = Worker::spawn(self.run)?;
                Ok(Outcome::Panic("the worker thread died".into()))
            }
        }
    }
}

/// Writes a failing input to `dir` as `<kind>-<hash>.<ext>` and returns the path.
pub fn save(dir: &Path, kind: &str, input: &Input) -> std::io::Result<PathBuf> {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    input.bytes.hash(&mut h);
    std::fs::create_dir_all(dir)?;
    let path = dir.join(format!("{kind}-{:016x}.{}", h.finish(), input.extension()));
    std::fs::write(&path, &input.bytes)?;
    Ok(path)
}

/// The totals of a fuzzing session.
#[derive(Debug, Default)]
pub struct Report {
    pub cases: usize,
    /// Each failure: what happened and where the input was saved.
    pub failures: Vec<(String, PathBuf)>,
    pub crashes: usize,
    pub hangs: usize,
    /// The slowest input that finished: its time and seed.
    pub slowest: (Duration, u64),
}

/// Runs `cases` inputs made from seeds `seed..seed + cases`, saving failures to `out`.
/// `progress` is called after each input with the report so far.
pub fn fuzz(
    generator: &Generator,
    seed: u64,
    cases: usize,
    hang: Duration,
    out: &Path,
    mut progress: impl FnMut(&Report),
) -> std::io::Result<Report> {
    let mut runner = Runner::new(hang)?;
    let mut report = Report::default();
    for i in 0..cases as u64 {
        let case_seed = seed.wrapping_add(i);
        let input = generator.input(&mut Rng::new(case_seed));
        match runner.run(input.clone())? {
            Outcome::Done(took) => {
                if took > report.slowest.0 {
                    report.slowest = (took, case_seed);
                }
            }
            Outcome::Panic(message) => {
                report.crashes += 1;
                let path = save(out, "crash", &input)?;
                report
                    .failures
                    .push((format!("seed {case_seed}: {message}"), path));
            }
            Outcome::Hang => {
                report.hangs += 1;
                let path = save(out, "hang", &input)?;
                report
                    .failures
                    .push((format!("seed {case_seed}: over {hang:?}"), path));
            }
        }
        report.cases += 1;
        progress(&report);
    }
    Ok(report)
}
