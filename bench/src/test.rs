//! `wflow bench --test`: the time `wflow test` takes on a generated suite of 50 workflows with
//! 20 cases each (1,000 cases: conditions, approvals, retries with backoffs, timeouts, upserts),
//! measured as a user runs it: the whole process, `--runs` times.

use std::path::Path;
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

const WORKFLOWS: usize = 50;
const CASES: usize = 20;

/// A workflow: a form, a condition, an approval on one branch, a webhook that retries, an
/// upsert.
fn workflow(i: usize) -> String {
    format!(
        r#"workflow w{i} "Workflow {i}" {{
  form trigger "Start" {{
    input service: string "Service"
    input env: string "Environment" {{ enum ["dev", "prod"] }}
  }}
  condition where "Where" {{
    outlet prod "Production" when `.outputs.trigger.env == "prod"`
    outlet dev "Development" when `.outputs.trigger.env != "prod"`
  }}
  approval approve "Approve" {{
    button yes "Yes" PRIMARY
    button no "No" DANGER
    timeout 1h
    on_timeout no
  }}
  webhook deploy "Deploy" {{
    url "https://deploy.example.com/{i}/{{{{ .outputs.trigger.service }}}}"
    body {{ service: "{{{{ .outputs.trigger.service }}}}", env: "{{{{ .outputs.trigger.env }}}}" }}
    retry {{ attempts 3; backoff fixed 10m; on [5xx] }}
  }}
  upsert record "Record" {{
    blueprint deployment
    entity {{
      identifier "{{{{ .outputs.trigger.service }}}}-{i}"
      properties {{ env: "{{{{ .outputs.trigger.env }}}}" }}
    }}
  }}
  webhook tell "Tell" {{ url "https://chat.example.com/{i}" }}
  flow {{
    trigger -> where
    where.prod -> approve
    approve.yes -> deploy
    approve.no -> tell
    where.dev -> deploy -> record
  }}
}}
"#
    )
}

/// Case `c` of workflow `i`: the branches in turn.
fn case(i: usize, c: usize) -> String {
    let service = format!("svc{c}");
    match c % 4 {
        0 => format!(
            "test w{i} \"dev deploy {c}\" {{\n  inputs {{ service: \"{service}\", env: \"dev\" }}\n  \
             mock deploy 200 {{ body {{ ok: true }} }}\n  expect path [trigger, where, deploy, record]\n  \
             expect entity deployment \"{service}-{i}\" {{ properties: {{ env: \"dev\" }} }}\n}}\n"
        ),
        1 => format!(
            "test w{i} \"retried deploy {c}\" {{\n  inputs {{ service: \"{service}\", env: \"dev\" }}\n  \
             mock deploy 503\n  mock deploy 200\n  expect attempts deploy 2\n  expect result SUCCESS\n}}\n"
        ),
        2 => format!(
            "test w{i} \"approved prod deploy {c}\" {{\n  inputs {{ service: \"{service}\", env: \"prod\" }}\n  \
             respond approve yes by \"lead@example.com\" {{ after 5m }}\n  mock deploy 200\n  \
             expect path {{ trigger -> where.prod -> approve.yes -> deploy -> record }}\n  \
             expect request deploy {{ body `.env == \"prod\"` }}\n}}\n"
        ),
        _ => format!(
            "test w{i} \"unanswered prod deploy {c}\" {{\n  inputs {{ service: \"{service}\", env: \"prod\" }}\n  \
             wait 2h\n  mock tell 200\n  expect path {{ trigger -> where.prod -> approve.no -> tell }}\n  \
             expect result SUCCESS\n}}\n"
        ),
    }
}

/// Writes the suite under `dir`.
fn generate(dir: &Path) -> std::io::Result<()> {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir.join("blueprints"))?;
    std::fs::write(
        dir.join("blueprints/deployment.json"),
        r#"{"identifier": "deployment", "title": "Deployment", "schema": {"properties": {"env": {"type": "string"}}, "required": []}, "relations": {}}"#,
    )?;
    for i in 0..WORKFLOWS {
        std::fs::write(dir.join(format!("w{i}.wflow")), workflow(i))?;
        let cases: String = (0..CASES)
            .map(|c| case(i, c))
            .collect::<Vec<_>>()
            .join("\n");
        std::fs::write(dir.join(format!("w{i}.test.wflow")), cases)?;
    }
    Ok(())
}

pub fn run(dir: Option<&Path>, runs: usize) -> ExitCode {
    let dir = dir.map_or_else(
        || std::env::temp_dir().join("wflow-bench-test"),
        Path::to_path_buf,
    );
    if let Err(e) = generate(&dir) {
        eprintln!("error: cannot write the suite to {}: {e}", dir.display());
        return ExitCode::from(2);
    }
    let exe = match std::env::current_exe() {
        Ok(e) => e,
        Err(e) => {
            eprintln!("error: cannot find this program: {e}");
            return ExitCode::from(2);
        }
    };
    let total = WORKFLOWS * CASES;
    println!(
        "{total} test cases over {WORKFLOWS} workflows in {}: `wflow test` end to end, {runs} runs",
        dir.display()
    );
    let mut times = Vec::new();
    let mut engine_ms = 0.0;
    for _ in 0..runs.max(1) {
        let t0 = Instant::now();
        let out = Command::new(&exe)
            .args(["test", "--format", "json"])
            .arg(&dir)
            .output();
        let took = t0.elapsed();
        let out = match out {
            Ok(o) => o,
            Err(e) => {
                eprintln!("error: cannot run `wflow test`: {e}");
                return ExitCode::from(2);
            }
        };
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        if doc["passed"] != total || !out.status.success() {
            eprintln!(
                "error: the suite did not pass: {}{}",
                String::from_utf8_lossy(&out.stdout)
                    .chars()
                    .take(2_000)
                    .collect::<String>(),
                String::from_utf8_lossy(&out.stderr)
            );
            return ExitCode::from(1);
        }
        engine_ms = doc["cases"].as_array().map_or(0.0, |c| {
            c.iter().filter_map(|c| c["ms"].as_f64()).sum::<f64>()
        }) / total as f64;
        times.push(took);
    }
    times.sort();
    let median = times
        .get(times.len() / 2)
        .copied()
        .unwrap_or(Duration::ZERO);
    let max = times.last().copied().unwrap_or(Duration::ZERO);
    println!(
        "wall: median {:.2} s, max {:.2} s ({:.0} cases/s); per case {:.2} ms of wall time, \
         {engine_ms:.2} ms inside the case (store, engine, assertions; cases run concurrently)",
        median.as_secs_f64(),
        max.as_secs_f64(),
        total as f64 / median.as_secs_f64().max(1e-9),
        median.as_secs_f64() * 1e3 / total as f64
    );
    ExitCode::SUCCESS
}
