//! `wflow bench --lsp`: how fast the language server answers an edit, and how much memory it
//! holds, with 50 files open (49 benchmark workflows and one of 1,000 lines).
//! `wflow bench --lsp --storm N`: whether it survives N random edits with bounded memory.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use serde_json::json;

use wflow_testkit::lsp_client::{LspClient, proc_status_kb};
use wflow_testkit::lsp_storm;

const EDITS: usize = 200;

/// Runs the benchmark (the edit storm when `storm` is given) and prints its figures.
pub fn run(storm: Option<usize>) -> ExitCode {
    let result = match storm {
        Some(edits) => measure_storm(edits),
        None => measure(),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

/// A workflow of about 1,000 lines: a chain of 90 webhooks with templates and jq.
fn big_workflow() -> String {
    let mut s = String::from(
        "// 1,000-line benchmark workflow.\nworkflow big \"Big\" {\n  form trigger \"Go\" {\n    input service: string \"Service\"\n  }\n",
    );
    for i in 0..90 {
        s.push_str(&format!(
            "\n  webhook step-{i} \"Step {i}\" {{\n    url \"https://example.com/{{{{ .outputs.trigger.service }}}}/{i}\"\n    method POST\n    headers {{ \"Content-Type\": \"application/json\" }}\n    body {{\n      service: \"{{{{ .outputs.trigger.service | ascii_downcase }}}}\"\n      step: {i}\n    }}\n    on_failure continue\n  }}\n"
        ));
    }
    s.push_str("\n  flow {\n    trigger -> step-0\n");
    for i in 1..90 {
        s.push_str(&format!("    step-{} -> step-{i}\n", i - 1));
    }
    s.push_str("  }\n}\n");
    s
}

fn memory(pid: u32) -> String {
    let field = |name: &str| {
        proc_status_kb(pid, name).map_or("?".to_string(), |kb| {
            format!("{:.1} MB", kb as f64 / 1024.0)
        })
    };
    format!("RSS {} (peak {})", field("VmRSS:"), field("VmHWM:"))
}

/// The seed of the benchmark's storm (any failure replays exactly).
const STORM_SEED: u64 = 13;

fn measure_storm(edits: usize) -> std::io::Result<()> {
    let exe = std::env::current_exe()?;
    let mut c = LspClient::start(&exe, Duration::from_secs(60))?;
    c.initialize(json!({"general": {"positionEncodings": ["utf-16"]}}))?;
    let mut docs = lsp_storm::open_documents(&mut c)?;
    println!("at the start: server {}", memory(c.pid()));
    let started = Instant::now();
    let stormed = lsp_storm::run(
        &mut c,
        &mut docs,
        &mut lsp_storm::Rng::new(STORM_SEED),
        edits,
        |c, n| {
            if n % 10_000 == 0 {
                println!("after {n} edits: server {}", memory(c.pid()));
            }
        },
    );
    if let Err(e) = stormed {
        // Keep the texts the server failed on, to reproduce with `wflow check`.
        let dir = std::env::temp_dir().join("wflow-storm");
        std::fs::create_dir_all(&dir)?;
        for d in &docs {
            let name = d.uri.rsplit('/').next().unwrap_or("doc");
            std::fs::write(dir.join(name), &d.text)?;
        }
        return Err(std::io::Error::other(format!(
            "{e}\nthe documents at that point are in {}",
            dir.display()
        )));
    }
    let uri = docs.first().map(|d| d.uri.clone()).unwrap_or_default();
    let symbols = c.request(
        "textDocument/documentSymbol",
        json!({"textDocument": {"uri": uri}}),
    )?;
    if symbols.get("result").is_none() {
        return Err(std::io::Error::other(format!(
            "the server answered the request after the storm with {symbols}"
        )));
    }
    println!(
        "{edits} random edits (seed {STORM_SEED}) in {:.1} s; the server answers after the storm; final: {}",
        started.elapsed().as_secs_f64(),
        memory(c.pid())
    );
    if !c.shutdown()? {
        return Err(std::io::Error::other("the server did not exit cleanly"));
    }
    Ok(())
}

fn measure() -> std::io::Result<()> {
    let exe = std::env::current_exe()?;
    let mut c = LspClient::start(&exe, Duration::from_secs(30))?;
    c.initialize(json!({"general": {"positionEncodings": ["utf-16"]}}))?;
    let big = big_workflow();
    println!(
        "opening 50 files: 49 of {} lines, one of {} lines",
        crate::check::wflow_workflow(0).lines().count(),
        big.lines().count()
    );
    for i in 0..49 {
        let uri = format!("file:///bench/wf{i}.wflow");
        c.open(&uri, "wflow", &crate::check::wflow_workflow(i))?;
        c.diagnostics(&uri, 1)?;
    }
    let uri = "file:///bench/big.wflow";
    c.open(uri, "wflow", &big)?;
    c.diagnostics(uri, 1)?;
    // Type a character into a string on line 8 and delete it again, EDITS times.
    let mut latencies = Vec::with_capacity(EDITS);
    for n in 0..EDITS {
        let version = n as i64 + 2;
        let at = json!({"line": 7, "character": 27});
        let change = if n % 2 == 0 {
            json!({"range": {"start": at, "end": at}, "text": "x"})
        } else {
            json!({"range": {"start": at, "end": {"line": 7, "character": 28}}, "text": ""})
        };
        let start = Instant::now();
        c.notify(
            "textDocument/didChange",
            json!({"textDocument": {"uri": uri, "version": version}, "contentChanges": [change]}),
        )?;
        c.diagnostics(uri, version)?;
        latencies.push(start.elapsed());
    }
    latencies.sort();
    let pct = |p: usize| {
        latencies
            .get((latencies.len() * p / 100).min(latencies.len() - 1))
            .copied()
            .unwrap_or_default()
    };
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "didChange -> publishDiagnostics over {EDITS} edits: p50 {:.2} ms, p95 {:.2} ms, max {:.2} ms",
        ms(pct(50)),
        ms(pct(95)),
        ms(latencies.last().copied().unwrap_or_default())
    );
    println!("server memory with 50 open files: {}", memory(c.pid()));
    c.shutdown()?;
    Ok(())
}
