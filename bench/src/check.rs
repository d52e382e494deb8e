//! `wflow bench`: generates a corpus of realistic workflow files and times `wflow check` on it.
//!
//! The corpus is three `.wflow` files for every Port JSON file, about 80 lines each, every one a
//! form → condition → approval → webhooks → upsert workflow with templates and jq conditions, so
//! the whole pipeline (parse, lower, graph checks, jq, cron) is exercised.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

/// Options of `wflow bench`.
pub struct BenchOptions {
    pub dir: PathBuf,
    pub files: usize,
    pub runs: usize,
}

/// Writes the corpus, runs `wflow check` on it `runs` times as a child process and prints the
/// wall time and peak memory of each run.
pub fn run(opts: &BenchOptions) -> ExitCode {
    let (lines, bytes) = match write_corpus(&opts.dir, opts.files) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("error: writing the corpus to {}: {e}", opts.dir.display());
            return ExitCode::from(2);
        }
    };
    println!(
        "corpus: {} files, {lines} lines, {:.1} MB in {}",
        opts.files,
        bytes as f64 / 1e6,
        opts.dir.display()
    );
    let mut walls = Vec::new();
    for i in 1..=opts.runs {
        let run = match check_once(&opts.dir) {
            Ok(r) => r,
            Err(code) => return code,
        };
        println!(
            "run {i}: {:.3} s wall, peak RSS {}, {} diagnostics, {:.0} lines/s",
            run.wall.as_secs_f64(),
            run.rss_text(),
            run.diagnostics.map_or("?".into(), |n| n.to_string()),
            lines as f64 / run.wall.as_secs_f64()
        );
        walls.push(run.wall);
    }
    walls.sort();
    if let (Some(min), Some(median)) = (walls.first(), walls.get(walls.len() / 2)) {
        println!(
            "min {:.3} s, median {:.3} s over {} runs",
            secs(*min),
            secs(*median),
            walls.len()
        );
    }
    ExitCode::SUCCESS
}

/// What one `wflow check` child reported.
struct CheckRun {
    wall: Duration,
    /// Peak resident memory in bytes, when the child could tell.
    rss: Option<u64>,
    diagnostics: Option<usize>,
}

impl CheckRun {
    fn rss_text(&self) -> String {
        self.rss
            .map_or("?".into(), |b| format!("{:.1} MB", b as f64 / 1e6))
    }
}

/// Runs `wflow check --format json` on `target` as a child process of this very binary and
/// reads back its wall time, peak memory and diagnostic count; on failure, says why and gives
/// the exit code for it.
fn check_once(target: &Path) -> Result<CheckRun, ExitCode> {
    let exe = std::env::current_exe().map_err(|e| {
        eprintln!("error: cannot find the wflow binary: {e}");
        ExitCode::from(2)
    })?;
    let start = Instant::now();
    let out = Command::new(&exe)
        .args(["check", "--format", "json", "--report-peak-memory"])
        .arg(target)
        .output()
        .map_err(|e| {
            eprintln!("error: running wflow check: {e}");
            ExitCode::from(2)
        })?;
    let wall = start.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr);
    // `peak memory: 123.4 MB` (MiB, as /proc counts them).
    let rss = stderr
        .lines()
        .find_map(|l| l.strip_prefix("peak memory: "))
        .and_then(|m| m.trim_end_matches(" MB").parse::<f64>().ok())
        .map(|mib| (mib * 1024.0 * 1024.0) as u64);
    let diagnostics = serde_json::from_slice::<serde_json::Value>(&out.stdout)
        .ok()
        .and_then(|v| {
            v.get("diagnostics")
                .and_then(|d| d.as_array())
                .map(Vec::len)
        });
    Ok(CheckRun {
        wall,
        rss,
        diagnostics,
    })
}

/// The figure of issue 13: `wflow check` on one file of this many megabytes.
pub struct BigOptions {
    /// Where to write the file.
    pub path: PathBuf,
    pub megabytes: usize,
    pub runs: usize,
}

/// Most time `check` may take on the big file.
const BIG_MAX_WALL: Duration = Duration::from_secs(10);
/// Most peak memory `check` may use, as a multiple of the file's size.
const BIG_MAX_RSS_RATIO: f64 = 10.0;

/// Writes one `.wflow` file of `megabytes` MB (small workflows, one after another, as
/// `tests/perf/gen.py big` does), runs `wflow check` on it `runs` times as a child, and prints
/// each run's wall time and peak memory against the figure: at most 10 s and 10 times the
/// file's size. Exits 1 when the best run misses either.
pub fn big(opts: &BigOptions) -> ExitCode {
    let bytes = match write_big(&opts.path, opts.megabytes * 1_000_000) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("error: writing {}: {e}", opts.path.display());
            return ExitCode::from(2);
        }
    };
    let limit = bytes as f64 * BIG_MAX_RSS_RATIO;
    println!(
        "file: {:.1} MB in {}; figure: at most {} s and {:.0} MB ({BIG_MAX_RSS_RATIO}x)",
        bytes as f64 / 1e6,
        opts.path.display(),
        BIG_MAX_WALL.as_secs(),
        limit / 1e6
    );
    let mut best: Option<CheckRun> = None;
    for i in 1..=opts.runs.max(1) {
        let run = match check_once(&opts.path) {
            Ok(r) => r,
            Err(code) => return code,
        };
        let ratio = run.rss.map_or(f64::NAN, |r| r as f64 / bytes as f64);
        println!(
            "run {i}: {:.2} s wall, peak RSS {} ({ratio:.1}x the file), {} diagnostics",
            run.wall.as_secs_f64(),
            run.rss_text(),
            run.diagnostics.map_or("?".into(), |n| n.to_string()),
        );
        if best.as_ref().is_none_or(|b| run.wall < b.wall) {
            best = Some(run);
        }
    }
    let Some(best) = best else {
        return ExitCode::SUCCESS;
    };
    let fast = best.wall <= BIG_MAX_WALL;
    let small = best.rss.is_some_and(|r| r as f64 <= limit);
    let verdict = |ok: bool| if ok { "ok" } else { "MISSED" };
    println!(
        "best: {:.2} s ({}), {} ({})",
        best.wall.as_secs_f64(),
        verdict(fast),
        best.rss_text(),
        verdict(small)
    );
    if fast && small {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// Writes workflows to `path` until it holds at least `size` bytes; returns the bytes written.
fn write_big(path: &Path, size: usize) -> std::io::Result<usize> {
    use std::io::Write;
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    let mut written = 0;
    let mut i = 0;
    while written < size {
        let text = small_workflow(i);
        out.write_all(text.as_bytes())?;
        written += text.len();
        i += 1;
    }
    out.flush()?;
    Ok(written)
}

/// The workflow `tests/perf/gen.py big` repeats (a form, a condition and a webhook), with
/// `{i}` for its number.
const BIG_WORKFLOW: &str = include_str!("../../tests/perf/workflow.tmpl");

/// The `i`th workflow of the big file.
fn small_workflow(i: usize) -> String {
    BIG_WORKFLOW.replace("{i}", &i.to_string())
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

/// Writes `files` generated workflow files into `dir`; returns (lines, bytes) written.
fn write_corpus(dir: &Path, files: usize) -> std::io::Result<(usize, usize)> {
    if dir.exists() {
        std::fs::remove_dir_all(dir)?;
    }
    std::fs::create_dir_all(dir)?;
    let mut lines = 0;
    let mut bytes = 0;
    for i in 0..files {
        let (name, text) = if i % 4 == 3 {
            (format!("wf{i:05}.json"), json_workflow(i))
        } else {
            (format!("wf{i:05}.wflow"), wflow_workflow(i))
        };
        lines += text.lines().count();
        bytes += text.len();
        std::fs::write(dir.join(name), text)?;
    }
    Ok((lines, bytes))
}

pub(crate) fn wflow_workflow(i: usize) -> String {
    format!(
        r#"// Generated benchmark workflow {i}: deploy with approval.
workflow deploy-{i} "Deploy service {i}" {{
  icon "Deployment"
  category "Deployments"
  description "Deploys a service after an approval; generated for the benchmark."

  form trigger "Deploy" {{
    permissions {{ roles ["Member"]; teams ["platform-{i}"] }}
    input service: entity(service) "Service"
    input version: string "Version" {{
      description "Git tag or commit SHA."
      pattern "^v[0-9]+"
    }}
    input environment: string "Environment" {{
      enum ["development", "staging", "production"]
      default "staging"
    }}
    input replicas?: number "Replicas" {{ minimum 1; maximum 10; default 2 }}
    input notify?: boolean "Notify the team" {{ default true }}
  }}

  schedule nightly "Nightly redeploy" {{
    cron "{minute} 2 * * 1-5"
  }}

  condition check-env "Check environment" {{
    outlet prod "Production" when `.outputs.trigger.environment == "production"`
    outlet other "Other" when `.outputs.trigger.environment != "production" and (.outputs.trigger.replicas // 1) < 5`
  }}

  approval approve "Approve production deploy" {{
    description "Approve deploying {{{{ .outputs.trigger.service }}}} to production."
    input reason?: string "Reason"
    button approve "Approve" PRIMARY {{ needs 2 }}
    button decline "Decline" DANGER {{ needs 1 }}
    responders {{ teams ["platform-{i}"] }}
  }}

  webhook deploy-prod "Deploy to production" {{
    url "https://deploy.example.com/v1/services/{{{{ .outputs.trigger.service }}}}/deploy"
    method POST
    headers {{
      Authorization: "Bearer {{{{ .secrets["deploy-token"] }}}}"
      "Content-Type": "application/json"
    }}
    body {{
      version: "{{{{ .outputs.trigger.version }}}}"
      replicas: "{{{{ .outputs.trigger.replicas // 2 }}}}"
      approvedBy: "{{{{ [.outputs.approve.responses[].submitterInfo.submittedBy] | join(", ") }}}}"
    }}
    variables {{ deployment_id: "{{{{ .result.response.data.id }}}}" }}
  }}

  webhook deploy-other "Deploy" {{
    url "https://deploy.example.com/v1/services/{{{{ .outputs.trigger.service }}}}/deploy"
    body {{ version: "{{{{ .outputs.trigger.version }}}}", env: "{{{{ .outputs.trigger.environment | ascii_downcase }}}}" }}
    on_failure continue
  }}

  webhook notify "Notify" {{
    url "https://hooks.slack.com/services/T000/B000/{i}"
    body {{ text: "Declined: {{{{ .outputs.approve.responses[0].inputs.reason // "no reason" }}}}" }}
    on_failure continue
  }}

  upsert record "Record deployment" {{
    blueprint service
    entity {{
      identifier "{{{{ .outputs.trigger.service }}}}"
      properties {{
        lastDeployedVersion: "{{{{ .outputs.trigger.version }}}}"
        lastDeployedAt: "{{{{ now | todateiso8601 }}}}"
      }}
    }}
  }}

  flow {{
    trigger -> check-env
    check-env.prod -> approve
    approve.approve -> deploy-prod -> record
    approve.decline -> notify
    check-env.other -> deploy-other -> record
  }}
}}
"#,
        minute = (i * 7) % 60
    )
}

fn json_workflow(i: usize) -> String {
    let wf = serde_json::json!({
        "identifier": format!("notify-{i}"),
        "title": format!("Notify on service change {i}"),
        "nodes": [
            {"identifier": "trigger", "title": "On change", "config": {
                "type": "EVENT_TRIGGER",
                "event": {"type": "ENTITY_UPDATED", "blueprintIdentifier": "service"},
                "condition": {"type": "JQ", "combinator": "and", "expressions": [
                    ".diff.after.properties.tier == \"tier_1\"",
                    ".diff.before.properties.status != .diff.after.properties.status"
                ]}
            }},
            {"identifier": "check", "title": "Critical?", "config": {"type": "CONDITION", "outlets": [
                {"identifier": "critical", "title": "Critical", "expression": ".outputs.trigger.diff.after.properties.status == \"critical\""}
            ]}},
            {"identifier": "page", "title": "Page on-call", "config": {
                "type": "WEBHOOK", "url": "https://pager.example.com/v2/enqueue", "method": "POST",
                "body": {"summary": "{{ .outputs.trigger.diff.after.title }} is critical", "severity": "critical"}
            }},
            {"identifier": "log", "title": "Log", "config": {
                "type": "KAFKA", "payload": {"entity": "{{ .outputs.trigger.diff.after.identifier }}"}
            }}
        ],
        "connections": [
            {"sourceIdentifier": "trigger", "targetIdentifier": "check"},
            {"sourceIdentifier": "check", "targetIdentifier": "page", "sourceOutletIdentifier": "critical"},
            {"sourceIdentifier": "check", "targetIdentifier": "log", "fallback": true}
        ]
    });
    serde_json::to_string_pretty(&wf)
        .map(|s| s + "\n")
        .unwrap_or_default()
}
