//! Prometheus metrics of a server, served at `/metrics` in the text exposition format: runs
//! started and finished (by workflow and result), node latency (a histogram by node type) and
//! the workflows loaded. Counters count since the process started.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use wflow_engine::engine::{Event, Observer};

/// Upper bounds of the node latency buckets, in seconds.
const BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0, 30.0, 120.0,
];

#[derive(Default)]
struct Histogram {
    /// Observations at most each bound (not cumulative; summed when rendered).
    buckets: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

#[derive(Default)]
struct Counts {
    started: BTreeMap<String, u64>,
    finished: BTreeMap<(String, String), u64>,
    nodes: BTreeMap<String, Histogram>,
}

/// The counters of a server.
#[derive(Default)]
pub struct Metrics(Mutex<Counts>);

impl Metrics {
    fn with<T>(&self, f: impl FnOnce(&mut Counts) -> T) -> T {
        f(&mut self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// A run of `workflow` started.
    pub fn started(&self, workflow: &str) {
        self.with(|c| *c.started.entry(workflow.to_string()).or_default() += 1);
    }

    /// A run of `workflow` finished with `result`.
    pub fn finished(&self, workflow: &str, result: &str) {
        self.with(|c| {
            *c.finished
                .entry((workflow.to_string(), result.to_string()))
                .or_default() += 1;
        });
    }

    /// A node of type `kind` took `elapsed`.
    pub fn node(&self, kind: &str, elapsed: Duration) {
        let secs = elapsed.as_secs_f64();
        self.with(|c| {
            let h = c.nodes.entry(kind.to_string()).or_default();
            if let Some(i) = BUCKETS.iter().position(|b| secs <= *b) {
                h.buckets[i] += 1;
            }
            h.count += 1;
            h.sum += secs;
        });
    }

    /// The metrics in Prometheus' text format, with `workflows` loaded.
    pub fn render(&self, workflows: usize) -> String {
        self.with(|c| {
            let mut out = String::new();
            let _ = writeln!(
                out,
                "# HELP wflow_workflows_loaded Workflows being served.\n\
                 # TYPE wflow_workflows_loaded gauge\nwflow_workflows_loaded {workflows}"
            );
            let _ = writeln!(
                out,
                "# HELP wflow_runs_started_total Runs started.\n\
                 # TYPE wflow_runs_started_total counter"
            );
            for (w, n) in &c.started {
                let _ = writeln!(
                    out,
                    "wflow_runs_started_total{{workflow=\"{}\"}} {n}",
                    escape(w)
                );
            }
            let _ = writeln!(
                out,
                "# HELP wflow_runs_finished_total Runs finished, by result.\n\
                 # TYPE wflow_runs_finished_total counter"
            );
            for ((w, r), n) in &c.finished {
                let _ = writeln!(
                    out,
                    "wflow_runs_finished_total{{workflow=\"{}\",result=\"{}\"}} {n}",
                    escape(w),
                    escape(r)
                );
            }
            let _ = writeln!(
                out,
                "# HELP wflow_node_duration_seconds How long nodes took, by node type.\n\
                 # TYPE wflow_node_duration_seconds histogram"
            );
            for (kind, h) in &c.nodes {
                let kind = escape(kind);
                let mut below = 0;
                for (bound, n) in BUCKETS.iter().zip(h.buckets) {
                    below += n;
                    let _ = writeln!(
                        out,
                        "wflow_node_duration_seconds_bucket{{type=\"{kind}\",le=\"{bound}\"}} \
                         {below}"
                    );
                }
                let _ = writeln!(
                    out,
                    "wflow_node_duration_seconds_bucket{{type=\"{kind}\",le=\"+Inf\"}} {}\n\
                     wflow_node_duration_seconds_sum{{type=\"{kind}\"}} {}\n\
                     wflow_node_duration_seconds_count{{type=\"{kind}\"}} {}",
                    h.count, h.sum, h.count
                );
            }
            out
        })
    }
}

/// A label value, escaped.
fn escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Observes a run being driven: logs its nodes and times them.
pub(super) struct Watch<'a> {
    pub(super) metrics: &'a Metrics,
    pub(super) run_id: &'a str,
}

impl Observer for Watch<'_> {
    fn event(&self, e: &Event<'_>) {
        match e {
            Event::Started { node } => {
                tracing::debug!(run = self.run_id, node = %node.identifier.value, "node started");
            }
            Event::Finished {
                node,
                result,
                elapsed,
                message,
            } => {
                self.metrics.node(node.config.type_name(), *elapsed);
                tracing::info!(
                    run = self.run_id,
                    node = %node.identifier.value,
                    result = result.as_str(),
                    elapsed_ms = elapsed.as_millis(),
                    message = message.unwrap_or_default(),
                    "node finished"
                );
            }
            Event::Waiting { node, reason } => {
                tracing::info!(run = self.run_id, node = %node.identifier.value, reason, "node waits");
            }
        }
    }
}
