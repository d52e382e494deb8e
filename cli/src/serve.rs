//! `wflow serve`: loads and checks a workflows directory and serves it with
//! `wflow_server` (the HTTP API, catalog events, schedules, timers). Broken workflows
//! are refused with their diagnostics; the others serve. The directory is checked again every
//! second: changed files are reloaded (one that now has errors keeps its previous version).
//! `wflow mcp` serves the same workflows to one MCP client on stdin and stdout.

use std::collections::{BTreeMap, BTreeSet};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use wflow_compiler::catalog::Catalog;
use wflow_compiler::syntax_of;
use wflow_engine::{Config, Plan, Store};
use wflow_server::{self as server, Auth, Options, Refusal, Server, SystemClock, User};

/// What `wflow serve` and `wflow mcp` share: the project, its store, secrets and users.
#[derive(Args, Debug)]
pub struct ProjectArgs {
    /// The workflows directory (`.wflow` and Port workflow JSON files under it).
    dir: PathBuf,
    /// The store: a SQLite file (created if missing) or a `postgres://` URL.
    #[arg(long, env = "WFLOW_STORE", default_value = ".wflow/wflow.db")]
    store: PathBuf,
    /// A JSON file of users and their bearer tokens (docs/runtime.md); without it every caller
    /// acts as an admin.
    #[arg(long, value_name = "FILE")]
    auth: Option<PathBuf>,
    /// A file of `NAME=value` lines with secrets (the environment's `WFLOW_SECRET_NAME` wins).
    #[arg(long, env = "WFLOW_SECRETS_FILE")]
    secrets_file: Option<PathBuf>,
    /// How long this process's claim on a run lasts unless renewed, in seconds: the runs of a
    /// process that died are taken over after it.
    #[arg(long, value_name = "SECONDS", default_value_t = 30.0)]
    lease_seconds: f64,
    /// The configuration of Kafka, GitHub and AI services and the webhook timeout (default:
    /// the nearest `wflow.toml` above the directory, else the one in the current directory);
    /// the `WFLOW_*` environment variables override it.
    #[arg(long, env = "WFLOW_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    /// A directory of Port blueprint JSON files the workflows are checked against, as for
    /// `wflow check` (`blueprints/` in the directory and beside `wflow.toml` are read too).
    #[arg(long, value_name = "DIR")]
    blueprints: Option<PathBuf>,
}

/// `wflow serve`.
#[derive(Args, Debug)]
pub struct ServeArgs {
    #[command(flatten)]
    project: ProjectArgs,
    /// Where to listen.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: String,
    /// A host name the server answers to besides its listen address and localhost (repeatable);
    /// requests whose `Host` header names anything else are refused (DNS rebinding).
    #[arg(long = "allowed-host", value_name = "NAME")]
    allowed_hosts: Vec<String>,
    /// How long a request may take, in seconds (a run it drives goes on in the background).
    #[arg(long, value_name = "SECONDS", default_value_t = 60)]
    request_timeout: u64,
}

/// `wflow mcp`.
#[derive(Args, Debug)]
pub struct McpArgs {
    #[command(flatten)]
    project: ProjectArgs,
    /// The user (an `email` of the --auth file) this process acts as: it lists and runs what
    /// they may, as `wflow serve` does for their token. Required with --auth.
    #[arg(long = "as", value_name = "EMAIL", requires = "auth")]
    as_user: Option<String>,
}

/// Runs `wflow serve`. Operational logs go to stderr (see [`logs_to_stderr`]).
pub fn serve(args: ServeArgs) -> ExitCode {
    logs_to_stderr();
    match crate::block_on(run(args)) {
        Ok(r) => crate::report_error(r),
        Err(code) => code,
    }
}

/// Runs `wflow mcp`: MCP on stdin and stdout (only protocol frames on stdout), logs on
/// stderr as for `wflow serve`.
pub fn mcp(args: McpArgs) -> ExitCode {
    logs_to_stderr();
    match crate::block_on(run_mcp(args)) {
        Ok(r) => crate::report_error(r),
        Err(code) => code,
    }
}

/// Sends operational logs to stderr, filtered by `RUST_LOG` (default `info`, and `warn` for
/// the MCP SDK's).
fn logs_to_stderr() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,rmcp=warn"));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none())
        .try_init();
    if let Err(e) = logs {
        eprintln!("warning: no operational logs: {e}");
    }
}

fn read(path: &Option<PathBuf>, what: &str) -> Result<Option<String>, String> {
    path.as_ref()
        .map(|p| {
            std::fs::read_to_string(p)
                .map_err(|e| format!("cannot read the {what} {}: {e}", p.display()))
        })
        .transpose()
}

/// The workflows of a directory, checked; reloaded when its files change.
struct Loader {
    dir: PathBuf,
    /// The blueprints the workflows are checked against.
    catalog: Catalog,
    color: bool,
    /// Per file: its text as last read, and the workflows last accepted from it (a file that
    /// now has errors keeps its previous workflows).
    files: BTreeMap<PathBuf, (String, Vec<Arc<Plan>>)>,
}

impl Loader {
    fn new(dir: PathBuf, catalog: Catalog) -> Result<Loader, String> {
        if !dir.is_dir() {
            return Err(format!("{} is not a directory", dir.display()));
        }
        Ok(Loader {
            dir,
            catalog,
            color: std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
            files: BTreeMap::new(),
        })
    }

    /// Reads the directory again and checks the files that changed, printing why each refused
    /// one is refused. Returns the workflows to serve, or `None` when nothing changed.
    fn load(&mut self) -> Option<Vec<Arc<Plan>>> {
        let (found, errors) = crate::discover(std::slice::from_ref(&self.dir));
        for e in errors {
            eprintln!("error: {e}");
        }
        let mut changed = false;
        let mut seen = BTreeSet::new();
        for file in found {
            let (path, src) = (file.path, file.text);
            seen.insert(path.clone());
            let previous = self.files.get(&path);
            if previous.is_some_and(|(text, _)| *text == src) {
                continue;
            }
            changed = true;
            let kept = previous.map(|(_, plans)| plans.clone()).unwrap_or_default();
            let plans = match file.unreadable {
                Some(d) => {
                    let name = path.display().to_string();
                    eprint!("{}", crate::render_human(&name, &src, &[d], self.color));
                    eprintln!("refused: {name} cannot be read");
                    None
                }
                None => self.check(&path, &src, !kept.is_empty()),
            }
            .unwrap_or(kept);
            self.files.insert(path, (src, plans));
        }
        let before = self.files.len();
        self.files.retain(|p, _| seen.contains(p));
        changed |= self.files.len() != before;
        if !changed {
            return None;
        }
        let mut ids = BTreeSet::new();
        let mut plans = Vec::new();
        for (path, (_, accepted)) in &self.files {
            for plan in accepted {
                let id = &plan.workflow.identifier.value;
                if ids.insert(id.clone()) {
                    plans.push(Arc::clone(plan));
                } else {
                    eprintln!(
                        "refused: workflow `{id}` ({}): another file already defines it",
                        path.display()
                    );
                }
            }
        }
        Some(plans)
    }

    /// The workflows of one file, or `None` when it is refused as a whole.
    fn check(&self, path: &std::path::Path, src: &str, had: bool) -> Option<Vec<Arc<Plan>>> {
        let name = path.display().to_string();
        let keeps = if had {
            "; its previous version keeps serving"
        } else {
            ""
        };
        match server::prepare(src, syntax_of(path), &name, &self.catalog) {
            Err(Refusal::Errors(diags)) => {
                eprint!("{}", crate::render_human(&name, src, &diags, self.color));
                eprintln!("refused: {name} has errors; its workflows are not served{keeps}");
                None
            }
            Err(Refusal::Problems(problems)) => {
                eprintln!("refused: {name}{keeps}:\n  {}", problems.join("\n  "));
                None
            }
            Ok(found) => Some(found.into_iter().map(Arc::new).collect()),
        }
    }

    /// Checks the directory every second and serves what changed, until aborted. Workflows
    /// refused by the preflight are tried again each time, so that one whose blueprint is
    /// created later starts serving then.
    async fn watch(
        mut self,
        server: Server,
        mut admission: Admission,
        mut checked: Vec<Arc<Plan>>,
    ) {
        loop {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let Ok((loader, plans)) = tokio::task::spawn_blocking(move || {
                let plans = self.load();
                (self, plans)
            })
            .await
            else {
                eprintln!("wflow serve: reloading the workflows failed; reloads stop");
                return;
            };
            self = loader;
            let reloaded = plans.is_some();
            if let Some(plans) = plans {
                checked = plans;
            }
            if !reloaded && admission.refused.is_empty() {
                continue;
            }
            let served = admission.admit(&server, &checked).await;
            if reloaded || admission.changed {
                eprintln!("reloaded: serving {}", workflows(served.len()));
                server.set_workflows(served);
            }
        }
    }
}

/// The preflight of the checked workflows against the server's store, services and secrets.
struct Admission {
    secrets_file: Option<String>,
    color: bool,
    /// The workflows the preflight refused, with their diagnostics as last shown.
    refused: BTreeMap<String, String>,
    /// The last [`Admission::admit`] served another set of workflows than the one before.
    changed: bool,
}

impl Admission {
    /// The workflows of `checked` whose environment is ready; says why each other one is
    /// refused (once, until its reasons change).
    async fn admit(&mut self, server: &Server, checked: &[Arc<Plan>]) -> Vec<Arc<Plan>> {
        let how = server::preflight_help();
        let mut admitted = Vec::new();
        let mut refused = BTreeMap::new();
        for plan in checked {
            let id = plan.workflow.identifier.value.clone();
            let problems = match wflow_engine::preflight::check(
                plan,
                server.engine(),
                self.secrets_file.as_deref(),
                &how,
                None,
            )
            .await
            {
                Ok(p) => p,
                Err(e) => {
                    eprintln!(
                        "error: the preflight of workflow `{id}` could not read the store: {e}"
                    );
                    continue;
                }
            };
            if problems.is_empty() {
                if self.refused.contains_key(&id) {
                    eprintln!("admitted: workflow `{id}`: its environment is ready");
                }
                admitted.push(Arc::clone(plan));
                continue;
            }
            let text = crate::render_human(&plan.path, &plan.source, &problems, self.color);
            if self.refused.get(&id) != Some(&text) {
                eprint!("{text}");
                eprintln!(
                    "refused: workflow `{id}` ({}) cannot run with this server's store, \
                     services and secrets; it is served once they are ready",
                    plan.path
                );
            }
            refused.insert(id, text);
        }
        self.changed = refused.keys().ne(self.refused.keys());
        self.refused = refused;
        admitted
    }
}

impl ProjectArgs {
    /// The users of the --auth file, if given.
    fn auth(&self) -> Result<Option<Auth>, String> {
        read(&self.auth, "auth file")?
            .map(|t| Auth::parse(&t))
            .transpose()
            .map_err(|p| format!("the auth file is not valid:\n  {}", p.join("\n  ")))
    }

    /// A server over the project's store, serving its workflows that check and whose
    /// environment is ready (saying why each other one is refused), reloaded as its files
    /// change; the number served. `options` are completed with the project's.
    async fn open(
        &self,
        mut options: Options,
    ) -> Result<(Server, tokio::task::JoinHandle<()>, usize), String> {
        let secrets_file = read(&self.secrets_file, "secrets file")?;
        let lease = Duration::try_from_secs_f64(self.lease_seconds)
            .ok()
            .filter(|l| !l.is_zero())
            .ok_or_else(|| {
                format!(
                    "--lease-seconds must be a positive number of seconds, not {}",
                    self.lease_seconds
                )
            })?;
        let workspace = crate::workspace(
            std::slice::from_ref(&self.dir),
            self.config.clone(),
            self.blueprints.clone(),
        )?;
        for problem in &workspace.problems {
            eprintln!("error: {problem}");
        }
        if let Some(file) = &workspace.config_file {
            eprintln!("configuration: {}", file.display());
        }
        let mut loader = Loader::new(self.dir.clone(), workspace.catalog)?;
        let checked = loader.load().unwrap_or_default();
        let store = Store::open(&self.store).await.map_err(|e| e.0)?;
        options.secrets_file = secrets_file.clone();
        options.lease = Some(lease);
        options.config = Config::with_settings(&workspace.settings);
        let server = Server::new(store, Vec::new(), options).map_err(|e| e.to_string())?;
        let mut admission = Admission {
            secrets_file,
            color: loader.color,
            refused: BTreeMap::new(),
            changed: false,
        };
        let plans = admission.admit(&server, &checked).await;
        let n = plans.len();
        server.set_workflows(plans);
        let watcher = tokio::spawn(loader.watch(server.clone(), admission, checked));
        Ok((server, watcher, n))
    }
}

/// `N workflow(s)`.
fn workflows(n: usize) -> String {
    format!("{n} workflow{}", if n == 1 { "" } else { "s" })
}

async fn run(args: ServeArgs) -> Result<(), String> {
    let auth = args.project.auth()?;
    let warn = auth.is_none();
    let (server, watcher, n) = args
        .project
        .open(Options {
            auth,
            allowed_hosts: args.allowed_hosts,
            request_timeout: Some(Duration::from_secs(args.request_timeout)),
            ..Options::default()
        })
        .await?;
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    if warn {
        eprintln!(
            "warning: no --auth file; every request acts as an admin (cross-origin requests \
             are refused; a POST must be JSON)"
        );
    }
    eprintln!(
        "MCP (streamable HTTP) at http://{addr}{}",
        server::mcp::PATH
    );
    eprintln!("serving {} on http://{addr}", workflows(n));
    server
        .serve(
            listener,
            Arc::new(SystemClock),
            shutdown_signal(),
            Duration::from_secs(30),
        )
        .await
        .map_err(|e| format!("the server failed: {e}"))?;
    watcher.abort();
    eprintln!("stopped");
    Ok(())
}

/// How long `wflow mcp` waits for the runs it drives once its client has gone.
const MCP_GRACE: Duration = Duration::from_secs(30);

async fn run_mcp(args: McpArgs) -> Result<(), String> {
    let auth = args.project.auth()?;
    let user = match (&auth, &args.as_user) {
        (None, _) => User::local_admin(),
        (Some(auth), Some(email)) => auth.user(email).ok_or_else(|| {
            format!(
                "--as {email}: the auth file has no user with that email; give one of its \
                 `email`s"
            )
        })?,
        (Some(_), None) => {
            return Err(
                "--auth needs --as EMAIL: the user of the auth file this process acts \
                        as"
                .into(),
            );
        }
    };
    let who = user.email.clone().unwrap_or_else(|| "a local admin".into());
    let (server, watcher, n) = args
        .project
        .open(Options {
            auth,
            lease_owner: Some(server::MCP_OWNER),
            ..Options::default()
        })
        .await?;
    eprintln!("serving {} over MCP on stdio as {who}", workflows(n));
    let served = server.serve_mcp_stdio(user, MCP_GRACE).await;
    watcher.abort();
    served
}

/// Completes on SIGTERM or Ctrl-C.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
