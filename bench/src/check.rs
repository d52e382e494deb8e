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
    let exe = match std::env::current_exe() {
        Ok(e) => e,
        Err(e) => {
            eprintln!("error: cannot find the wflow binary: {e}");
            return ExitCode::from(2);
        }
    };
    let mut walls = Vec::new();
    for i in 1..=opts.runs {
        let start = Instant::now();
        let out = Command::new(&exe)
            .args(["check", "--format", "json", "--report-peak-memory"])
            .arg(&opts.dir)
            .output();
        let wall = start.elapsed();
        let out = match out {
            Ok(o) => o,
            Err(e) => {
                eprintln!("error: running wflow check: {e}");
                return ExitCode::from(2);
            }
        };
        let stderr = String::from_utf8_lossy(&out.stderr);
        let rss = stderr
            .lines()
            .find_map(|l| l.strip_prefix("peak memory: "))
            .unwrap_or("?")
            .to_string();
        let diags = serde_json::from_slice::<serde_json::Value>(&out.stdout)
            .ok()
            .and_then(|v| {
                v.get("diagnostics")
                    .and_then(|d| d.as_array())
                    .map(Vec::len)
            });
        println!(
            "run {i}: {:.3} s wall, peak RSS {rss}, {} diagnostics, {:.0} lines/s",
            wall.as_secs_f64(),
            diags.map_or("?".into(), |n| n.to_string()),
            lines as f64 / wall.as_secs_f64()
        );
        walls.push(wall);
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
