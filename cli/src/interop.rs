//! `wflow fmt`, `wflow import`, `wflow export` and `wflow push`: the IO around the compiler's
//! printer and exporter, and the Port API client.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use serde_json::{Value as J, json};
use wflow_compiler::export::{PortSchema, export};
use wflow_compiler::{Diagnostic, check_source, ir, print, syntax_of};

use crate::render_human;

/// Prints diagnostics for `path` to stderr.
fn report(path: &Path, src: &str, diags: &[Diagnostic]) {
    let color = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    eprint!(
        "{}",
        render_human(&path.display().to_string(), src, diags, color)
    );
}

/// Reads `path` as text. A missing file is printed as an error and is `Err(2)`; an unreadable
/// or non-UTF-8 one is reported as its diagnostic and is `Err(1)`.
fn read(path: &Path) -> Result<String, u8> {
    match crate::SourceFile::read(path) {
        Ok(crate::SourceFile {
            text,
            unreadable: None,
            ..
        }) => Ok(text),
        Ok(crate::SourceFile {
            text,
            unreadable: Some(d),
            ..
        }) => {
            report(path, &text, &[d]);
            Err(1)
        }
        Err(e) => {
            eprintln!("error: {e}");
            Err(2)
        }
    }
}

/// `wflow fmt [--check] PATHS`: rewrites `.wflow` files canonically (or, with `check`, lists
/// those that are not). Exit 1 when a file cannot be formatted or, with `check`, would change.
pub fn fmt(paths: Vec<PathBuf>, check: bool, stdout: bool) -> ExitCode {
    let paths = if paths.is_empty() {
        vec![PathBuf::from(".")]
    } else {
        paths
    };
    let (files, io_errors) = crate::discover(&paths);
    let mut worst = 0;
    for crate::SourceFile {
        path,
        text: src,
        unreadable,
    } in files
    {
        if let Some(d) = unreadable {
            report(&path, &src, &[d]);
            worst = worst.max(1);
            continue;
        }
        if syntax_of(&path) != wflow_compiler::Syntax::Wflow {
            if !paths.iter().any(|p| p.is_dir()) {
                eprintln!(
                    "error: {}: `wflow fmt` formats .wflow files; convert Port JSON with `wflow import {}`",
                    path.display(),
                    path.display()
                );
                worst = worst.max(1);
            }
            continue;
        }
        match print::format(&src) {
            Err(diags) => {
                report(&path, &src, &diags);
                eprintln!(
                    "error: {}: not formatted; fix the errors above first",
                    path.display()
                );
                worst = worst.max(1);
            }
            Ok(out) if stdout => out!("{out}"),
            Ok(out) if out == src => {}
            Ok(_) if check => {
                outln!("would reformat {}", path.display());
                worst = worst.max(1);
            }
            Ok(out) => match std::fs::write(&path, out) {
                Ok(()) => outln!("formatted {}", path.display()),
                Err(e) => {
                    eprintln!("error: {}: {e}", path.display());
                    worst = 2;
                }
            },
        }
    }
    for e in &io_errors {
        eprintln!("error: {e}");
        worst = 2;
    }
    ExitCode::from(worst)
}

/// `wflow import FILES [-o DIR]`: Port JSON to `.wflow`, printed or written as
/// `DIR/<name>.wflow`.
pub fn import(files: Vec<PathBuf>, out: Option<PathBuf>) -> ExitCode {
    if let Some(dir) = &out
        && let Err(e) = std::fs::create_dir_all(dir)
    {
        eprintln!("error: {}: {e}", dir.display());
        return ExitCode::from(2);
    }
    let mut worst = 0;
    for path in &files {
        let src = match read(path) {
            Ok(s) => s,
            Err(code) => {
                worst = worst.max(code);
                continue;
            }
        };
        let text = match print::import(&src) {
            Ok(t) => t,
            Err(diags) => {
                report(path, &src, &diags);
                eprintln!("error: {}: not imported", path.display());
                worst = worst.max(1);
                continue;
            }
        };
        match &out {
            None => out!("{text}"),
            Some(dir) => {
                let stem = path
                    .file_stem()
                    .map_or_else(|| "workflow".into(), |s| s.to_string_lossy().into_owned());
                let target = dir.join(format!("{stem}.wflow"));
                match std::fs::write(&target, text) {
                    Ok(()) => outln!("{} -> {}", path.display(), target.display()),
                    Err(e) => {
                        eprintln!("error: {}: {e}", target.display());
                        worst = 2;
                    }
                }
            }
        }
    }
    ExitCode::from(worst)
}

/// One file's workflows as Port JSON, or its diagnostics already reported.
struct Exported {
    path: PathBuf,
    src: String,
    module: ir::Module,
    json: Vec<J>,
}

/// Reads, checks and exports each file, reporting every problem. `strict` refuses any error;
/// otherwise only errors that mean part of a file could not be read (the rest are shown).
fn export_files(
    files: &[PathBuf],
    schema: PortSchema,
    strict: bool,
) -> Result<Vec<Exported>, ExitCode> {
    let mut out = Vec::new();
    let mut worst = 0;
    let (found, io_errors) = crate::discover(files);
    for e in &io_errors {
        eprintln!("error: {e}");
        worst = 2;
    }
    for crate::SourceFile {
        path,
        text: src,
        unreadable,
    } in found
    {
        if let Some(d) = unreadable {
            report(&path, &src, &[d]);
            worst = worst.max(1);
            continue;
        }
        let path = &path;
        let checked = check_source(&src, syntax_of(path));
        if !checked.diagnostics.is_empty() {
            report(path, &src, &checked.diagnostics);
        }
        let refused = if strict {
            checked.has_errors()
        } else {
            !print::unreadable(&checked.diagnostics).is_empty()
        };
        if refused {
            worst = worst.max(1);
            continue;
        }
        let mut json = Vec::new();
        for wf in &checked.module.workflows {
            match export(wf, schema) {
                Ok(j) => json.push(j),
                Err(diags) => {
                    report(path, &src, &diags);
                    worst = worst.max(1);
                }
            }
        }
        out.push(Exported {
            path: path.clone(),
            src,
            module: checked.module,
            json,
        });
    }
    if worst > 0 {
        eprintln!("error: not exported; fix the errors above first");
        return Err(ExitCode::from(worst));
    }
    Ok(out)
}

/// `wflow export PATHS [--legacy] [-o DIR]`: prints the workflows as Port JSON, one object
/// for one workflow, else an array; with `-o`, writes `<DIR>/<identifier>.json` for each.
pub fn export_cmd(files: Vec<PathBuf>, legacy: bool, out: Option<PathBuf>) -> ExitCode {
    let schema = if legacy {
        PortSchema::Legacy
    } else {
        PortSchema::Newest
    };
    let exported = match export_files(&files, schema, false) {
        Ok(e) => e,
        Err(code) => return code,
    };
    let mut all: Vec<J> = exported.into_iter().flat_map(|e| e.json).collect();
    if let Some(dir) = out {
        return write_each(&dir, &all);
    }
    let value = if all.len() == 1 {
        all.remove(0)
    } else {
        J::Array(all)
    };
    match serde_json::to_string_pretty(&value) {
        Ok(text) => {
            outln!("{text}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

/// Writes each exported workflow to `<dir>/<identifier>.json`.
fn write_each(dir: &Path, workflows: &[J]) -> ExitCode {
    if let Err(e) = std::fs::create_dir_all(dir) {
        eprintln!("error: {}: {e}", dir.display());
        return ExitCode::from(2);
    }
    let mut worst = 0;
    for wf in workflows {
        let id = wf["identifier"].as_str().unwrap_or("workflow");
        let target = dir.join(format!("{id}.json"));
        let written = serde_json::to_string_pretty(wf)
            .map_err(|e| e.to_string())
            .and_then(|t| std::fs::write(&target, t + "\n").map_err(|e| e.to_string()));
        match written {
            Ok(()) => outln!("{id} -> {}", target.display()),
            Err(e) => {
                eprintln!("error: {}: {e}", target.display());
                worst = 2;
            }
        }
    }
    ExitCode::from(worst)
}

/// Options of `wflow push`.
pub struct PushOptions {
    pub files: Vec<PathBuf>,
    pub base_url: String,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    pub dry_run: bool,
}

/// `wflow push`: creates or updates each workflow in a Port organisation.
pub fn push(opts: PushOptions) -> ExitCode {
    let client_id = opts
        .client_id
        .clone()
        .or_else(|| std::env::var("PORT_CLIENT_ID").ok());
    let client_secret = opts
        .client_secret
        .clone()
        .or_else(|| std::env::var("PORT_CLIENT_SECRET").ok());
    let (Some(client_id), Some(client_secret)) = (client_id, client_secret) else {
        eprintln!(
            "error: `wflow push` needs Port credentials: pass --client-id and --client-secret, or set PORT_CLIENT_ID and PORT_CLIENT_SECRET"
        );
        return ExitCode::from(2);
    };
    let exported = match export_files(&opts.files, PortSchema::Newest, true) {
        Ok(e) => e,
        Err(code) => return code,
    };
    for e in &exported {
        if let Some(wf) = e.module.workflows.iter().find(|w| w.fragment) {
            let at = wflow_grammar::Span::new(wf.span.start, wf.span.start + 1);
            let d = Diagnostic::error("invalid-value", at, "a fragment cannot be pushed to Port")
                .help("push whole workflows (with an identifier, nodes and connections)");
            report(&e.path, &e.src, &[d]);
            return ExitCode::from(1);
        }
    }
    let api = Api {
        http: reqwest::Client::new(),
        base: opts.base_url.trim_end_matches('/').to_string(),
        token: String::new(),
    };
    crate::block_on(push_all(
        api,
        &client_id,
        &client_secret,
        &exported,
        opts.dry_run,
    ))
    .unwrap_or_else(|code| code)
}

/// A Port API client with its access token.
struct Api {
    http: reqwest::Client,
    base: String,
    token: String,
}

/// A failed request: the HTTP status (None when there was no response) and what Port said.
struct ApiError {
    status: Option<u16>,
    message: String,
    body: J,
}

impl Api {
    async fn send(&self, req: reqwest::RequestBuilder) -> Result<(u16, J), ApiError> {
        let resp = req.send().await.map_err(|e| ApiError {
            status: None,
            message: e.to_string(),
            body: J::Null,
        })?;
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        let body: J = serde_json::from_str(&text).unwrap_or(J::String(text));
        if (200..300).contains(&status) || status == 404 {
            return Ok((status, body));
        }
        Err(ApiError {
            status: Some(status),
            message: port_message(&body),
            body,
        })
    }

    async fn authenticate(&mut self, id: &str, secret: &str) -> Result<(), ApiError> {
        let url = format!("{}/v1/auth/access_token", self.base);
        let req = self
            .http
            .post(url)
            .json(&json!({ "clientId": id, "clientSecret": secret }));
        let (status, body) = self.send(req).await?;
        match body.get("accessToken").and_then(J::as_str) {
            Some(t) if status != 404 => {
                self.token = t.to_string();
                Ok(())
            }
            _ => Err(ApiError {
                status: Some(status),
                message: "the response holds no `accessToken`".into(),
                body,
            }),
        }
    }

    fn url(&self, id: Option<&str>) -> String {
        match id {
            Some(id) => format!("{}/v1/workflows/{}", self.base, encode(id)),
            None => format!("{}/v1/workflows", self.base),
        }
    }

    /// The workflow as Port has it, or None when it does not exist.
    async fn get(&self, id: &str) -> Result<Option<J>, ApiError> {
        let req = self.http.get(self.url(Some(id))).bearer_auth(&self.token);
        let (status, body) = self.send(req).await?;
        Ok((status != 404).then(|| body.get("workflow").cloned().unwrap_or(body)))
    }

    async fn upsert(&self, id: &str, exists: bool, wf: &J) -> Result<(), ApiError> {
        let req = if exists {
            self.http.put(self.url(Some(id)))
        } else {
            self.http.post(self.url(None))
        };
        let (status, body) = self.send(req.bearer_auth(&self.token).json(wf)).await?;
        if status == 404 {
            return Err(ApiError {
                status: Some(404),
                message: port_message(&body),
                body,
            });
        }
        Ok(())
    }
}

/// Percent-encodes a workflow identifier for a URL path (Port identifiers may hold `@` and `:`).
fn encode(id: &str) -> String {
    id.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The message of a Port error body (`{"ok": false, "error": ..., "message": ...}`).
fn port_message(body: &J) -> String {
    let field = |k: &str| body.get(k).and_then(J::as_str).map(str::to_string);
    match (field("error"), field("message")) {
        (Some(e), Some(m)) => format!("{e}: {m}"),
        (e, m) => e.or(m).unwrap_or_else(|| match body {
            J::String(s) if !s.is_empty() => s.clone(),
            J::Null => "no response body".into(),
            other => other.to_string(),
        }),
    }
}

async fn push_all(
    mut api: Api,
    client_id: &str,
    client_secret: &str,
    files: &[Exported],
    dry_run: bool,
) -> ExitCode {
    if let Err(e) = api.authenticate(client_id, client_secret).await {
        eprintln!(
            "error: authentication with {} failed ({}): {}",
            api.base,
            e.status
                .map_or_else(|| "no response".into(), |s| s.to_string()),
            e.message
        );
        eprintln!("help: check the client id and secret (Port: Settings > Credentials)");
        return ExitCode::from(2);
    }
    let mut rejected = false;
    for file in files {
        for (wf, json) in file.module.workflows.iter().zip(&file.json) {
            let id = wf.identifier.value.as_str();
            let existing = match api.get(id).await {
                Ok(e) => e,
                Err(e) if e.status.is_none() => {
                    eprintln!("error: {}: {}", api.base, e.message);
                    return ExitCode::from(2);
                }
                Err(e) => {
                    report(&file.path, &file.src, &[port_diagnostic(wf, &e)]);
                    rejected = true;
                    continue;
                }
            };
            if dry_run {
                match &existing {
                    None => outln!("{id}: would be created"),
                    Some(current) => {
                        let changes = diff(&comparable(current), json);
                        if changes.is_empty() {
                            outln!("{id}: unchanged");
                        } else {
                            outln!("{id}: would be updated");
                            for c in changes {
                                outln!("  {c}");
                            }
                        }
                    }
                }
                continue;
            }
            match api.upsert(id, existing.is_some(), json).await {
                Ok(()) if existing.is_some() => outln!("{id}: updated"),
                Ok(()) => outln!("{id}: created"),
                Err(e) if e.status.is_none() => {
                    eprintln!("error: {}: {}", api.base, e.message);
                    return ExitCode::from(2);
                }
                Err(e) => {
                    report(&file.path, &file.src, &[port_diagnostic(wf, &e)]);
                    rejected = true;
                }
            }
        }
    }
    if rejected {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// Port's answer without the fields it adds (`id`, timestamps, authors): what a push sets.
fn comparable(current: &J) -> J {
    const READ_ONLY: [&str; 6] = [
        "id",
        "createdAt",
        "updatedAt",
        "createdBy",
        "updatedBy",
        "version",
    ];
    match current {
        J::Object(m) => J::Object(
            m.iter()
                .filter(|(k, _)| !READ_ONLY.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// The differences from `old` to `new`, one line each: `+ path: value`, `- path`,
/// `~ path: old -> new`. Object key order is ignored.
pub fn diff(old: &J, new: &J) -> Vec<String> {
    let mut out = Vec::new();
    diff_at(old, new, "", &mut out);
    out
}

fn diff_at(old: &J, new: &J, path: &str, out: &mut Vec<String>) {
    let at = |k: &str| {
        if path.is_empty() {
            k.to_string()
        } else {
            format!("{path}.{k}")
        }
    };
    match (old, new) {
        (J::Object(a), J::Object(b)) => {
            for (k, v) in a {
                match b.get(k) {
                    Some(w) => diff_at(v, w, &at(k), out),
                    None => out.push(format!("- {}", at(k))),
                }
            }
            for (k, w) in b.iter().filter(|(k, _)| !a.contains_key(*k)) {
                out.push(format!("+ {}: {w}", at(k)));
            }
        }
        (J::Array(a), J::Array(b)) => {
            for (i, (v, w)) in a.iter().zip(b).enumerate() {
                diff_at(v, w, &format!("{path}[{i}]"), out);
            }
            for i in b.len()..a.len() {
                out.push(format!("- {path}[{i}]"));
            }
            for (i, w) in b.iter().enumerate().skip(a.len()) {
                out.push(format!("+ {path}[{i}]: {w}"));
            }
        }
        _ if old != new => out.push(format!("~ {path}: {old} -> {new}")),
        _ => {}
    }
}

/// Port's rejection as a diagnostic on the file: at the node Port names (by index in a path
/// such as `nodes[2]` or `/nodes/2`, or by identifier), else at the workflow's identifier.
fn port_diagnostic(wf: &ir::Workflow, e: &ApiError) -> Diagnostic {
    let text = format!("{} {}", e.message, e.body);
    let by_index = ["nodes[", "nodes/", "nodes."].iter().find_map(|p| {
        let start = text.find(p)? + p.len();
        let digits: String = text[start..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        wf.nodes.get(digits.parse::<usize>().ok()?)
    });
    let by_name = || {
        wf.nodes.iter().find(|n| {
            let id = &n.identifier.value;
            ["\"", "'", "`"]
                .iter()
                .any(|q| text.contains(&format!("{q}{id}{q}")))
        })
    };
    let span = by_index
        .or_else(by_name)
        .map_or(wf.identifier.span, |n| n.identifier.span);
    let status = e.status.map_or_else(String::new, |s| format!(" ({s})"));
    Diagnostic::error(
        "invalid-value",
        span,
        format!("Port rejected workflow `{}`{status}: {}", wf.identifier.value, e.message),
    )
    .help("fix what Port names here, then push again; `wflow push --dry-run` shows the difference first")
}
