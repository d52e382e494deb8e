//! `wflow bench`: generates a corpus of realistic workflow files and times `wflow check` on it.
//!
//! The corpus is three `.wflow` files for every Port JSON file, about 80 lines each, every one a
//! form → condition → approval → webhooks → upsert workflow with templates and jq conditions, so
//! the whole pipeline (parse, lower, graph checks, jq, cron) is exercised. With
//! `--actionlint`, actionlint is timed side by side on GitHub Actions workflows of the same
//! shape (dispatch inputs, a schedule, jobs with `needs`, conditions, a matrix, expressions).

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

/// Options of `wflow bench`.
pub struct BenchOptions {
    pub dir: PathBuf,
    pub files: usize,
    pub runs: usize,
    /// An actionlint binary to time side by side, on a GitHub Actions corpus of as many files
    /// of the same shape (written beside `dir`).
    pub actionlint: Option<PathBuf>,
}

/// A checker timed on a corpus: its command and how many lines it reads.
struct Timed {
    name: &'static str,
    command: Command,
    lines: usize,
    walls: Vec<Duration>,
}

/// Writes the corpus, runs `wflow check` on it `runs` times as a child process (alternating
/// with actionlint on its own corpus when asked) and prints the wall time and peak memory of
/// each run.
pub fn run(opts: &BenchOptions) -> ExitCode {
    match bench(opts) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

fn bench(opts: &BenchOptions) -> Result<(), String> {
    fn written<T>(dir: &Path, r: std::io::Result<T>) -> Result<T, String> {
        r.map_err(|e| format!("writing the corpus to {}: {e}", dir.display()))
    }
    let (lines, bytes) = written(&opts.dir, write_corpus(&opts.dir, opts.files))?;
    println!(
        "corpus: {} files, {lines} lines, {:.1} MB in {}",
        opts.files,
        bytes as f64 / 1e6,
        opts.dir.display()
    );
    let exe = std::env::current_exe().map_err(|e| format!("cannot find the wflow binary: {e}"))?;
    let mut wflow = Command::new(exe);
    wflow
        .args(["check", "--format", "json", "--report-peak-memory"])
        .arg(&opts.dir);
    let mut timed = vec![Timed {
        name: "wflow check",
        command: wflow,
        lines,
        walls: Vec::new(),
    }];
    if let Some(bin) = &opts.actionlint {
        let dir = opts.dir.with_extension("actions");
        let (lines, files) = written(&dir, write_actions_corpus(&dir, opts.files))?;
        println!(
            "actionlint corpus: {} GitHub Actions workflows, {lines} lines in {}",
            files.len(),
            dir.display()
        );
        // Its own checks only: no shellcheck or pyflakes on `run:` scripts.
        let mut command = Command::new(bin);
        command.args(["-shellcheck=", "-pyflakes="]).args(files);
        timed.push(Timed {
            name: "actionlint",
            command,
            lines,
            walls: Vec::new(),
        });
    }
    for i in 1..=opts.runs {
        for t in &mut timed {
            let start = Instant::now();
            let out = t
                .command
                .output()
                .map_err(|e| format!("running {}: {e}", t.name))?;
            let wall = start.elapsed();
            let stdout = String::from_utf8_lossy(&out.stdout);
            if !out.status.success() {
                let shown: String = stdout.lines().take(20).collect::<Vec<_>>().join("\n");
                return Err(format!(
                    "{} found problems in its corpus ({}); the comparison needs a clean pass:\n{shown}",
                    t.name, out.status
                ));
            }
            let stderr = String::from_utf8_lossy(&out.stderr);
            let rss = stderr
                .lines()
                .find_map(|l| l.strip_prefix("peak memory: "))
                .map(|m| format!(", peak RSS {m}"))
                .unwrap_or_default();
            println!(
                "run {i}: {:<11} {:.3} s wall{rss}, {:.0} lines/s",
                t.name,
                secs(wall),
                t.lines as f64 / secs(wall)
            );
            t.walls.push(wall);
        }
    }
    let mut speeds = Vec::new();
    for t in &mut timed {
        t.walls.sort();
        if let (Some(min), Some(median)) = (t.walls.first(), t.walls.get(t.walls.len() / 2)) {
            let speed = t.lines as f64 / secs(*median);
            println!(
                "{}: min {:.3} s, median {:.3} s over {} runs: {speed:.0} lines/s",
                t.name,
                secs(*min),
                secs(*median),
                t.walls.len()
            );
            speeds.push(speed);
        }
    }
    if let [ours, theirs] = speeds[..] {
        println!(
            "wflow check reads {:.2}x the lines per second actionlint does (medians)",
            ours / theirs
        );
    }
    Ok(())
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

/// The `i`th `.wflow` file of the corpus.
pub fn wflow_workflow(i: usize) -> String {
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

/// Writes `files` GitHub Actions workflows into `dir/.github/workflows`; returns the lines
/// written and the files.
fn write_actions_corpus(dir: &Path, files: usize) -> std::io::Result<(usize, Vec<PathBuf>)> {
    if dir.exists() {
        std::fs::remove_dir_all(dir)?;
    }
    let workflows = dir.join(".github").join("workflows");
    std::fs::create_dir_all(&workflows)?;
    let mut lines = 0;
    let mut paths = Vec::with_capacity(files);
    for i in 0..files {
        let text = actions_workflow(i);
        lines += text.lines().count();
        let path = workflows.join(format!("wf{i:05}.yml"));
        std::fs::write(&path, text)?;
        paths.push(path);
    }
    Ok((lines, paths))
}

/// The GitHub Actions counterpart of [`wflow_workflow`]: a dispatch form and a schedule, a
/// check, an approval (an environment), deploys and a notification.
fn actions_workflow(i: usize) -> String {
    format!(
        r#"# Generated benchmark workflow {i}: deploy with approval.
name: Deploy service {i}
on:
  workflow_dispatch:
    inputs:
      service:
        description: Service
        required: true
        type: string
      version:
        description: Git tag or commit SHA.
        required: true
        type: string
      environment:
        description: Environment
        type: choice
        options: [development, staging, production]
        default: staging
      replicas:
        description: Replicas
        type: number
        default: 2
      notify:
        description: Notify the team
        type: boolean
        default: true
  schedule:
    - cron: "{minute} 2 * * 1-5"
permissions:
  contents: read
  deployments: write
env:
  SERVICE: ${{{{ inputs.service || 'api' }}}}
jobs:
  check-env:
    runs-on: ubuntu-latest
    outputs:
      prod: ${{{{ steps.env.outputs.prod }}}}
    steps:
      - id: env
        run: echo "prod=${{{{ inputs.environment == 'production' }}}}" >> "$GITHUB_OUTPUT"
  approve:
    needs: check-env
    if: ${{{{ needs.check-env.outputs.prod == 'true' }}}}
    runs-on: ubuntu-latest
    environment: production
    steps:
      - run: echo "Approve deploying ${{{{ inputs.service }}}} to production."
  deploy-prod:
    needs: [check-env, approve]
    runs-on: ubuntu-latest
    timeout-minutes: 30
    strategy:
      matrix:
        region: [eu-west-1, us-east-1]
    steps:
      - uses: actions/checkout@v5
        with:
          ref: ${{{{ inputs.version }}}}
      - name: Deploy to production
        env:
          TOKEN: ${{{{ secrets.DEPLOY_TOKEN }}}}
          REPLICAS: ${{{{ inputs.replicas }}}}
        run: |
          curl -sf -X POST -H "Authorization: Bearer $TOKEN" \
            "https://deploy.example.com/v1/services/${{{{ inputs.service }}}}/deploy?region=${{{{ matrix.region }}}}"
  deploy-other:
    needs: check-env
    if: ${{{{ needs.check-env.outputs.prod != 'true' && inputs.replicas < 5 }}}}
    runs-on: ubuntu-latest
    continue-on-error: true
    steps:
      - run: echo "deploying ${{{{ inputs.version }}}} to ${{{{ inputs.environment }}}}"
  notify:
    needs: [deploy-prod, deploy-other]
    if: ${{{{ always() && inputs.notify }}}}
    runs-on: ubuntu-latest
    steps:
      - run: echo "done ${{{{ needs.deploy-prod.result }}}} ${{{{ github.run_id }}}} {i}"
"#,
        minute = (i * 7) % 60
    )
}
