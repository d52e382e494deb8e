//! `wflow exec`, `wflow runs ...` and `wflow catalog ...`: running workflows on this machine
//! with the embedded store. All the work is done by `wflow-engine`.
//!
//! Exit codes of the commands that drive a run (`exec`, `runs resume|respond|complete|retry|
//! rerun`):
//! 0 SUCCESS, 1 FAILED or CANCELLED, 2 bad input or a workflow with errors (nothing run),
//! 3 waiting for an approval or an outside completion.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Subcommand, ValueEnum};
use serde_json::{Map, Value as Json, json};
use wflow_compiler::catalog::{Blueprint, Catalog};
use wflow_compiler::ir::NodeConfig;
use wflow_compiler::{Syntax, check_source_named, syntax_of};
use wflow_engine::engine::{Conclusion, NodeStatus, Outcome, RunStatus};
use wflow_engine::lease::{DEFAULT_LEASE, Leases};
use wflow_engine::settings::Settings;
use wflow_engine::{Config, Engine, Plan, Secrets, Store, catalog, events, inputs, report};

/// Where runs go unless `--store` says otherwise.
const DEFAULT_STORE: &str = ".wflow/wflow.db";

/// Output of the run commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RunFormat {
    Human,
    /// Port's run shape.
    Json,
}

/// Options shared by the commands that use the store.
#[derive(Args, Debug, Clone)]
pub struct StoreArgs {
    /// The store: a SQLite file (created if missing) or a `postgres://` URL.
    #[arg(long, env = "WFLOW_STORE", default_value = DEFAULT_STORE, global = true)]
    pub(crate) store: PathBuf,
}

/// Options of commands that drive a run.
#[derive(Args, Debug, Clone)]
pub struct DriveArgs {
    /// A file of `NAME=value` lines with secrets (the environment's `WFLOW_SECRET_NAME` wins).
    #[arg(long, env = "WFLOW_SECRETS_FILE")]
    secrets_file: Option<PathBuf>,
    /// How long a webhook may take, in seconds (default 30; or `[webhook] timeout_secs`,
    /// `WFLOW_WEBHOOK_TIMEOUT`).
    #[arg(long)]
    webhook_timeout: Option<f64>,
    /// The configuration of Kafka, GitHub and AI services (default: the nearest `wflow.toml`
    /// above the workflow file, else the one in the current directory).
    #[arg(long, env = "WFLOW_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = RunFormat::Human)]
    format: RunFormat,
}

/// `wflow exec`.
#[derive(Args, Debug)]
pub struct ExecArgs {
    /// A `.wflow` or Port workflow JSON file.
    file: PathBuf,
    /// A form input, `key=value` (repeat for each input).
    #[arg(long = "input", short = 'i', value_name = "KEY=VALUE")]
    inputs: Vec<String>,
    /// The event payload (JSON) for an event-triggered workflow.
    #[arg(long)]
    event: Option<PathBuf>,
    /// Which trigger fires, when the workflow has several.
    #[arg(long)]
    trigger: Option<String>,
    /// Start from this catalog entity (`BLUEPRINT/IDENTIFIER`, or `IDENTIFIER`): it fills the
    /// input of the form's ENTITY context; the entity must be in the store's catalog.
    #[arg(long, value_name = "BLUEPRINT/ID")]
    entity: Option<String>,
    /// Which workflow of the file, when it has several.
    #[arg(long)]
    workflow: Option<String>,
    /// Who runs it (`.workflowRun.trigger.by.email`).
    #[arg(long = "as", value_name = "EMAIL")]
    by: Option<String>,
    /// A directory of Port blueprint JSON files the workflow is checked against, as for
    /// `wflow check` (`blueprints/` beside the file and beside `wflow.toml` are read too).
    #[arg(long, value_name = "DIR")]
    blueprints: Option<PathBuf>,
    #[command(flatten)]
    drive: DriveArgs,
    #[command(flatten)]
    store: StoreArgs,
}

/// `wflow runs`.
#[derive(Args, Debug)]
pub struct RunsArgs {
    #[command(subcommand)]
    command: RunsCommand,
    #[command(flatten)]
    store: StoreArgs,
}

#[derive(Subcommand, Debug)]
enum RunsCommand {
    /// List the newest runs, with what each waiting run waits for.
    List {
        /// How many runs to show at most (the newest first).
        #[arg(long, default_value_t = 20, value_name = "N")]
        limit: i64,
        /// Only the runs of this workflow (its identifier).
        #[arg(long, value_name = "WORKFLOW")]
        workflow: Option<String>,
        /// Only the runs in this state.
        #[arg(long, value_enum)]
        status: Option<StatusFilter>,
        #[arg(long, value_enum, default_value_t = RunFormat::Human)]
        format: RunFormat,
    },
    /// Show a run: its node runs with their results, timings and outputs, and what it waits
    /// for.
    Show {
        /// The run's identifier (`wfr_...`; see `wflow runs list`).
        run: String,
        #[arg(long, value_enum, default_value_t = RunFormat::Human)]
        format: RunFormat,
    },
    /// Print a run's logs.
    Logs { run: String },
    /// Answer an approval (INPUT) node by pressing one of its buttons, then continue the run.
    Respond {
        /// The run's identifier (`wfr_...`; see `wflow runs list`).
        run: String,
        /// The node's identifier in the workflow (see `wflow runs show RUN`).
        node: String,
        /// The button pressed.
        #[arg(long)]
        button: String,
        /// A form input of the approval, `key=value`.
        #[arg(long = "input", short = 'i', value_name = "KEY=VALUE")]
        inputs: Vec<String>,
        /// Who responds (an email).
        #[arg(long = "as", value_name = "EMAIL")]
        by: String,
        /// The responder's roles, comma-separated (checked against the node's `roles`).
        #[arg(long, value_delimiter = ',', value_name = "ROLES")]
        roles: Vec<String>,
        /// The responder's teams, comma-separated (checked against the node's `teams`).
        #[arg(long, value_delimiter = ',', value_name = "TEAMS")]
        teams: Vec<String>,
        #[command(flatten)]
        drive: DriveArgs,
    },
    /// Continue a run that was interrupted (its completed nodes are not re-run).
    Resume {
        /// The run's identifier (`wfr_...`; see `wflow runs list`).
        run: String,
        /// Take the run over even though another process leases it (for a run whose
        /// `wflow exec` was killed: its lease would otherwise end after 30 s).
        #[arg(long)]
        take_over: bool,
        #[command(flatten)]
        drive: DriveArgs,
    },
    /// Complete a node that waits to be completed from outside, then continue the run.
    Complete {
        /// The run's identifier (`wfr_...`; see `wflow runs list`).
        run: String,
        /// The node's identifier in the workflow (see `wflow runs show RUN`).
        node: String,
        /// The node's result: SUCCESS, or FAILED (which fails the run unless the node has
        /// `on_failure continue`).
        #[arg(long, ignore_case = true)]
        result: Completed,
        /// The node's output, as JSON.
        #[arg(long)]
        output: Option<String>,
        #[command(flatten)]
        drive: DriveArgs,
    },
    /// Cancel a run.
    Cancel {
        /// The run's identifier (`wfr_...`; see `wflow runs list`).
        run: String,
        /// Cancel at once even if a node is running.
        #[arg(long)]
        force: bool,
    },
    /// Retry a FAILED run from the node that failed it, once its cause is fixed: that node
    /// runs again (a webhook keeps its Idempotency-Key); the nodes that completed do not.
    Retry {
        /// The run's identifier (`wfr_...`, see `wflow runs list`).
        run: String,
        /// Who asks for the retry (an email), recorded in the run's logs.
        #[arg(long = "as", value_name = "EMAIL")]
        by: Option<String>,
        #[command(flatten)]
        drive: DriveArgs,
    },
    /// Start a new run with the same workflow, trigger and inputs (every node runs again).
    Rerun {
        /// The run's identifier (`wfr_...`; see `wflow runs list`).
        run: String,
        #[command(flatten)]
        drive: DriveArgs,
    },
}

/// `wflow catalog`.
#[derive(Args, Debug)]
pub struct CatalogArgs {
    #[command(subcommand)]
    command: CatalogCommand,
    #[command(flatten)]
    store: StoreArgs,
}

#[derive(Subcommand, Debug)]
enum CatalogCommand {
    /// Load Port blueprint and entity JSON files, and `.wflow` files of `blueprint`
    /// declarations.
    Load { files: Vec<PathBuf> },
    /// List blueprints, or the entities of one.
    List { blueprint: Option<String> },
    /// Print an entity.
    Show {
        blueprint: String,
        identifier: String,
    },
}

/// A failure with its exit code.
struct Fail(u8, String);

impl From<wflow_engine::Error> for Fail {
    /// The store or the engine failing is exit 1; anything the command line asked that does
    /// not apply (no such run, button or node; a run not in that state; a refusal; an
    /// expression failing on the given data) is exit 2.
    fn from(e: wflow_engine::Error) -> Fail {
        use wflow_engine::Error as E;
        match e {
            E::Store(_) | E::Setup(_) | E::Inconsistent(_) => Fail(1, e.to_string()),
            E::NoRun(id) => bad(format!(
                "no run `{id}` in this store; see `wflow runs list`"
            )),
            E::Conflict(m) | E::Invalid(m) | E::Forbidden(m) | E::Expression(m) => bad(m),
        }
    }
}

impl From<wflow_store::StoreError> for Fail {
    fn from(e: wflow_store::StoreError) -> Fail {
        Fail(1, e.0)
    }
}

fn block_on<F: std::future::Future<Output = Result<u8, Fail>>>(f: F) -> ExitCode {
    match crate::block_on(f) {
        Ok(Ok(code)) => ExitCode::from(code),
        Ok(Err(Fail(code, msg))) => {
            eprintln!("error: {msg}");
            ExitCode::from(code)
        }
        Err(code) => code,
    }
}

/// Runs `wflow exec`.
pub fn exec(args: ExecArgs) -> ExitCode {
    block_on(exec_async(args))
}

/// Runs `wflow runs ...`.
pub fn runs(args: RunsArgs) -> ExitCode {
    block_on(runs_async(args))
}

/// Runs `wflow catalog ...`.
pub fn catalog(args: CatalogArgs) -> ExitCode {
    block_on(catalog_async(args))
}

fn bad(msg: impl Into<String>) -> Fail {
    Fail(2, msg.into())
}

fn split_pairs(raw: &[String]) -> Result<Vec<(String, String)>, Fail> {
    raw.iter()
        .map(|p| {
            p.split_once('=')
                .map(|(k, v)| (k.trim().to_string(), v.to_string()))
                .ok_or_else(|| bad(format!("`--input {p}` is not `key=value`")))
        })
        .collect()
}

/// Input problems as lines in the CLI's words: a missing input says which `--input` gives it.
fn input_problems(problems: &[inputs::InputProblem]) -> String {
    let lines: Vec<String> = problems
        .iter()
        .map(|p| match p.key.split(['.', '[']).next() {
            Some(top) if p.missing && top == p.key => {
                format!("  {p}; add `--input {top}=<value>`")
            }
            _ => format!("  {p}"),
        })
        .collect();
    lines.join("\n")
}

/// Refuses to start a run of `plan` whose environment is wrong (a blueprint missing from the
/// store, a service not configured, a secret not provided), with every problem at once.
async fn preflight(plan: &Plan, engine: &Engine, drive: &DriveArgs) -> Result<(), Fail> {
    let file = read_secrets_file(drive)?;
    let problems = wflow_engine::preflight::check(
        plan,
        engine,
        file.as_deref(),
        &crate::preflight_help(),
        None,
    )
    .await?;
    if problems.is_empty() {
        return Ok(());
    }
    let color = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    eprint!(
        "{}",
        crate::render_human(&plan.path, &plan.source, &problems, color)
    );
    Err(bad(format!(
        "{} cannot run here ({} problem{} with its environment); nothing was run",
        plan.path,
        problems.len(),
        if problems.len() == 1 { "" } else { "s" }
    )))
}

fn read_secrets_file(drive: &DriveArgs) -> Result<Option<String>, Fail> {
    drive
        .secrets_file
        .as_ref()
        .map(|p| {
            std::fs::read_to_string(p)
                .map_err(|e| bad(format!("cannot read the secrets file {}: {e}", p.display())))
        })
        .transpose()
}

/// Checks the source against `catalog` and prepares workflow `which` (or the only one).
fn prepare(
    src: &str,
    syntax: Syntax,
    path: &str,
    which: Option<&str>,
    catalog: &Catalog,
) -> Result<Plan, Fail> {
    let stem = Path::new(path).file_stem().and_then(|s| s.to_str());
    let checked = check_source_named(src, syntax, catalog, stem);
    if checked.has_errors() {
        let color = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
        eprint!(
            "{}",
            crate::render_human(path, src, &checked.diagnostics, color)
        );
        return Err(bad(format!("{path} has errors; nothing was run")));
    }
    let mut workflows = checked.module.workflows;
    let index = match which {
        Some(id) => workflows
            .iter()
            .position(|w| w.identifier.value == id)
            .ok_or_else(|| bad(format!("{path} has no workflow `{id}`")))?,
        None if workflows.len() == 1 => 0,
        None if workflows.is_empty() => return Err(bad(format!("{path} holds no workflow"))),
        None => {
            let ids: Vec<&str> = workflows
                .iter()
                .map(|w| w.identifier.value.as_str())
                .collect();
            return Err(bad(format!(
                "{path} holds several workflows; pick one with --workflow ({})",
                ids.join(", ")
            )));
        }
    };
    let wf = workflows.swap_remove(index);
    if wf.fragment {
        return Err(bad(format!(
            "{path} is a fragment (nodes without a workflow around them); it cannot run"
        )));
    }
    Plan::new(wf, src.to_string(), syntax, path.to_string()).map_err(|problems| {
        bad(format!(
            "the workflow cannot run:\n  {}",
            problems.join("\n  ")
        ))
    })
}

fn load_secrets(plan: &Plan, drive: &DriveArgs) -> Result<Secrets, Fail> {
    let file = read_secrets_file(drive)?;
    Secrets::load_with(&plan.secrets, &plan.optional_secrets, file.as_deref()).map_err(|missing| {
        let how: Vec<String> = missing
            .iter()
            .map(|m| format!("`{m}` ({})", wflow_engine::secrets::env_name(m)))
            .collect();
        bad(format!(
            "the workflow reads secrets nobody provided: {}; set the environment variables or \
             pass --secrets-file with NAME=value lines",
            how.join(", ")
        ))
    })
}

/// The engine of a command that answers or inspects runs: the services come from the
/// workspace of the current directory.
async fn engine(store: &StoreArgs, drive: Option<&DriveArgs>) -> Result<Engine, Fail> {
    match drive {
        Some(d) => {
            let workspace = crate::workspace(&[], d.config.clone(), None).map_err(bad)?;
            engine_for(store, Some((d, &workspace.settings))).await
        }
        None => engine_for(store, None).await,
    }
}

/// The engine on `store` with the services of `settings` and the command's overrides.
async fn engine_for(
    store: &StoreArgs,
    drive: Option<(&DriveArgs, &Settings)>,
) -> Result<Engine, Fail> {
    let s = Store::open(&store.store).await?;
    let mut config = Config::default();
    if let Some((d, settings)) = drive {
        config = Config::with_settings(settings);
        if let Some(t) = d.webhook_timeout {
            if !(t > 0.0 && t.is_finite()) {
                return Err(bad(
                    "--webhook-timeout must be a positive number of seconds",
                ));
            }
            config.webhook_timeout = Duration::from_secs_f64(t);
        }
    }
    Ok(Engine::new(s, config)?)
}

async fn exec_async(args: ExecArgs) -> Result<u8, Fail> {
    let path = args.file.display().to_string();
    let bytes = std::fs::read(&args.file).map_err(|e| bad(format!("{path}: {e}")))?;
    let (src, unreadable) = wflow_compiler::decode(bytes);
    if let Some(d) = unreadable {
        let color = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
        eprint!("{}", crate::render_human(&path, &src, &[d], color));
        return Err(bad(format!("{path} has errors; nothing was run")));
    }
    let workspace = crate::workspace(
        std::slice::from_ref(&args.file),
        args.drive.config.clone(),
        args.blueprints.clone(),
    )
    .map_err(bad)?;
    let plan = prepare(
        &src,
        syntax_of(&args.file),
        &path,
        args.workflow.as_deref(),
        &workspace.catalog,
    )?;
    let triggers: Vec<&wflow_compiler::ir::Node> = plan.triggers().collect();
    let trigger = match &args.trigger {
        Some(t) => triggers
            .iter()
            .find(|n| &n.identifier.value == t)
            .ok_or_else(|| bad(format!("the workflow has no trigger `{t}`")))?,
        None if triggers.len() == 1 => &triggers[0],
        None => {
            let ids: Vec<&str> = triggers
                .iter()
                .map(|n| n.identifier.value.as_str())
                .collect();
            return Err(bad(if ids.is_empty() {
                "the workflow has no trigger; nothing can start it".to_string()
            } else {
                format!(
                    "the workflow has several triggers; pick one with --trigger ({})",
                    ids.join(", ")
                )
            }));
        }
    };
    let pairs = split_pairs(&args.inputs)?;
    let engine = engine_for(&args.store, Some((&args.drive, &workspace.settings))).await?;
    let payload = match &trigger.config {
        NodeConfig::SelfServeTrigger(form) => {
            if args.event.is_some() {
                return Err(bad(
                    "--event is for event triggers; this trigger is a form (use --input)",
                ));
            }
            let mut given = inputs::from_pairs(&form.user_inputs, &pairs);
            if let Some(e) = &args.entity {
                let (blueprint, id) = match e.split_once('/') {
                    Some((bp, id)) => (Some(bp), id),
                    None => (None, e.as_str()),
                };
                inputs::from_entity(form, blueprint, id, &mut given)
                    .map_err(|why| bad(format!("--entity {e}: {why}")))?;
            }
            // The person at the terminal fills in the form as the local admin.
            let person = json!({ "email": null, "roles": ["Admin"], "teams": [] });
            // The key of secret inputs, when configured (the preflight reports its absence).
            let file = read_secrets_file(&args.drive)?;
            let known = Secrets::load_provided(&plan.secrets, file.as_deref());
            let checked = engine
                .check_form(&plan, &form.user_inputs, &given, &person, &known)
                .await?;
            let values = checked.map_err(|problems| {
                bad(format!(
                    "the inputs are not valid ({} problem{}); nothing was run:\n{}",
                    problems.len(),
                    if problems.len() == 1 { "" } else { "s" },
                    input_problems(&problems)
                ))
            })?;
            Json::Object(values)
        }
        _ if args.entity.is_some() => {
            return Err(bad(
                "--entity is for self-service triggers with an ENTITY context; this trigger \
                 starts on catalog events or schedules",
            ));
        }
        NodeConfig::EventTrigger(t) => {
            if !pairs.is_empty() {
                return Err(bad(
                    "--input is for form triggers; give the event with --event FILE",
                ));
            }
            let Some(file) = &args.event else {
                return Err(bad(
                    "this workflow starts on a catalog event; give the event payload with --event FILE",
                ));
            };
            let text = std::fs::read_to_string(file)
                .map_err(|e| bad(format!("{}: {e}", file.display())))?;
            let event = serde_json::from_str(&text)
                .map_err(|e| bad(format!("{} is not JSON: {e}", file.display())))?;
            events::accept_event(t, &trigger.identifier.value, event).map_err(|problems| {
                bad(format!(
                    "{} is not an event trigger `{}` takes; nothing was run:\n  {}",
                    file.display(),
                    trigger.identifier.value,
                    problems.join("\n  ")
                ))
            })?
        }
        _ => {
            if !pairs.is_empty() || args.event.is_some() {
                return Err(bad("a schedule trigger takes no inputs and no event"));
            }
            events::schedule_output(chrono::Utc::now())
        }
    };
    let trigger_id = trigger.identifier.value.clone();
    if matches!(trigger.config, NodeConfig::EventTrigger(_))
        && !engine
            .event_matches(&plan, &trigger_id, &payload)
            .await
            .map_err(Fail::from)?
    {
        eprintln!(
            "the event does not match the condition of trigger `{trigger_id}`; nothing was run"
        );
        return Ok(0);
    }
    preflight(&plan, &engine, &args.drive).await?;
    let secrets = load_secrets(&plan, &args.drive)?;
    if args.drive.format == RunFormat::Human {
        eprintln!(
            "running {} (trigger {trigger_id})",
            plan.workflow.identifier.value
        );
    }
    let outcome = run_leased(
        &engine,
        &plan,
        &trigger_id,
        payload,
        args.by.as_deref(),
        &secrets,
    )
    .await?;
    finish(&engine, &outcome, args.drive.format).await
}

/// The name of `wflow exec` and `wflow runs` commands in run leases.
const CLI_OWNER: &str = "cli-";

/// Starts a run of `plan` and drives it while holding its lease, so that a `wflow serve`
/// sharing the store leaves it alone (and takes it over if this command dies).
async fn run_leased(
    engine: &Engine,
    plan: &Plan,
    trigger: &str,
    payload: Json,
    by: Option<&str>,
    secrets: &Secrets,
) -> Result<Outcome, Fail> {
    let leases = cli_leases(engine);
    if plan.workflow.concurrency.is_some() {
        let id = engine.enqueue(plan, trigger, payload, by, secrets).await?;
        return drive_if_admitted(engine, &leases, plan, &id, secrets).await;
    }
    let fenced = leases.fence(engine);
    let lease = Some((leases.owner(), leases.duration()));
    let started = fenced
        .start(plan, trigger, payload, by, secrets, lease)
        .await?;
    let id = started.id().to_string();
    let observer = crate::progress::observer();
    let drive = fenced.drive_started(plan, started, secrets, &*observer);
    let outcome = interruptible(&leases, &id, leases.hold(&id, drive))
        .await?
        .ok_or_else(|| lost(&id))?
        .map_err(Fail::from);
    release_open(&leases, &id, &outcome).await?;
    outcome
}

/// Drives the queued run `run` of `plan` if its workflow's concurrency limit lets it start
/// now; otherwise it stays queued (`wflow serve`, or `wflow runs resume`, starts it later).
async fn drive_if_admitted(
    engine: &Engine,
    leases: &Leases,
    plan: &Plan,
    run: &str,
    secrets: &Secrets,
) -> Result<Outcome, Fail> {
    engine.store.admit(&plan.workflow.identifier.value).await?;
    if stored_run(engine, run).await?.status == RunStatus::Queued {
        return Ok(Outcome {
            run_id: run.to_string(),
            status: RunStatus::Queued,
            result: None,
            waiting: Vec::new(),
        });
    }
    drive_leased(engine, leases, plan, run, secrets, async |_| Ok(())).await
}

/// Does `act` on the stored run `run` (a response, a completion), then drives it, holding its
/// lease; refused while another process drives the run.
async fn drive_leased(
    engine: &Engine,
    leases: &Leases,
    plan: &Plan,
    run: &str,
    secrets: &Secrets,
    act: impl AsyncFnOnce(&Engine) -> Result<(), Fail>,
) -> Result<Outcome, Fail> {
    let fenced = leases.fence(engine);
    let held = leases.claim(run).await?;
    let completed =
        || async { Ok::<_, Fail>(stored(engine, run).await?.0.status == RunStatus::Completed) };
    if !held && !completed().await? {
        return Err(bad(format!(
            "run {run} is leased by another process (a `wflow serve` or `wflow exec` sharing \
             this store); try again once it waits or ends, or, if that process is gone, wait \
             for its lease to end ({} s at most) or pass --take-over to `wflow runs resume`",
            leases.duration().as_secs()
        )));
    }
    let work = async {
        act(&fenced).await?;
        Ok::<_, Fail>(
            fenced
                .drive(plan, run, secrets, &*crate::progress::observer())
                .await?,
        )
    };
    let outcome = interruptible(leases, run, leases.hold(run, work))
        .await?
        .ok_or_else(|| lost(run))?;
    if held {
        release_open(leases, run, &outcome).await?;
    }
    outcome
}

/// `work` on run `run`, unless Ctrl-C comes first: then the run's lease ends at once (so
/// `wflow runs resume` can continue it without waiting for the lease to expire) and the
/// command exits 130. A node cut short is run again by the resume, with the same
/// Idempotency-Key.
async fn interruptible<T>(
    leases: &Leases,
    run: &str,
    work: impl std::future::Future<Output = T>,
) -> Result<T, Fail> {
    tokio::select! {
        done = work => Ok(done),
        _ = tokio::signal::ctrl_c() => {
            leases.release(run).await?;
            Err(Fail(
                130,
                format!(
                    "interrupted: run {run} stays IN_PROGRESS; continue it with \
                     `wflow runs resume {run}`, or stop it with `wflow runs cancel {run}`"
                ),
            ))
        }
    }
}

/// Ends the lease on `run` unless `outcome` completed it (a completed run's lease ended with
/// it), also when the command failed.
async fn release_open(
    leases: &Leases,
    run: &str,
    outcome: &Result<Outcome, Fail>,
) -> Result<(), Fail> {
    if !matches!(outcome, Ok(o) if o.status == RunStatus::Completed) {
        leases.release(run).await?;
    }
    Ok(())
}

/// A command's leases on the store's runs.
fn cli_leases(engine: &Engine) -> Leases {
    Leases::new(&engine.store, CLI_OWNER, DEFAULT_LEASE)
}

/// The error of a command whose run another process took over.
fn lost(run: &str) -> Fail {
    bad(format!(
        "run {run} was taken over by another process sharing the store (this command's lease \
         on it expired); it goes on there"
    ))
}

/// Prints the run's end and returns the exit code. A run that completed gives its place under
/// its workflow's concurrency limit to the next queued run.
async fn finish(engine: &Engine, o: &Outcome, format: RunFormat) -> Result<u8, Fail> {
    let run = stored_run(engine, &o.run_id).await?;
    let next = match (o.status, run.concurrency) {
        (RunStatus::Completed, Some(_)) => engine.store.admit(&run.workflow).await?,
        _ => Vec::new(),
    };
    match format {
        RunFormat::Json => {
            let json = report::run_json(&engine.store, &o.run_id).await?;
            outln!(
                "{}",
                serde_json::to_string_pretty(&json).unwrap_or_default()
            );
        }
        RunFormat::Human => match o.result {
            Some(r) => {
                out!("run {} {r}", o.run_id);
                match &run.error {
                    Some(e) => outln!(": {e}"),
                    None => outln!(),
                }
            }
            None if o.status == RunStatus::Queued => {
                outln!(
                    "run {} queued: workflow {} lets {} run(s) go on at once; it starts when \
                     one ends (`wflow serve` starts it, or `wflow runs resume {}`)",
                    o.run_id,
                    run.workflow,
                    run.concurrency.unwrap_or_default(),
                    o.run_id
                );
            }
            None => {
                outln!("run {} waiting", o.run_id);
                for w in waiting_on(engine, &run).await? {
                    outln!("  node {} waits for {}", w.node, w.what);
                    outln!("    continue with {}", w.command);
                }
            }
        },
    }
    for id in next {
        eprintln!(
            "run {id} was queued and may start now (`wflow serve` drives it, or `wflow runs resume {id}`)"
        );
    }
    Ok(exit_code(o))
}

fn exit_code(o: &Outcome) -> u8 {
    match o.result {
        Some(Conclusion::Success) => 0,
        Some(_) => 1,
        None => 3,
    }
}

/// The plan of a stored run (from the source stored with it).
fn stored_plan(run: &wflow_store::RunRecord) -> Result<Plan, Fail> {
    let syntax = if run.syntax == "json" {
        Syntax::Json
    } else {
        Syntax::Wflow
    };
    // A stored run passed its checks when it started; blueprints are not asked again.
    prepare(
        &run.source,
        syntax,
        &run.source_path,
        Some(&run.workflow),
        &Catalog::default(),
    )
}

async fn stored(engine: &Engine, run_id: &str) -> Result<(wflow_store::RunRecord, Plan), Fail> {
    let run = stored_run(engine, run_id).await?;
    let plan = stored_plan(&run)?;
    Ok((run, plan))
}

/// The stored run `run_id`.
async fn stored_run(engine: &Engine, run_id: &str) -> Result<wflow_store::RunRecord, Fail> {
    engine.store.run(run_id).await?.ok_or_else(|| {
        bad(format!(
            "no run `{run_id}` in this store; see `wflow runs list`"
        ))
    })
}

/// How many of the newest runs `runs list` reads before filtering.
const LIST_READ: i64 = 10_000;

/// The result `runs complete --result` gives a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Completed {
    #[value(name = "SUCCESS")]
    Success,
    #[value(name = "FAILED")]
    Failed,
}

impl From<Completed> for Conclusion {
    fn from(c: Completed) -> Conclusion {
        match c {
            Completed::Success => Conclusion::Success,
            Completed::Failed => Conclusion::Failed,
        }
    }
}

/// Which runs `runs list --status` keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum StatusFilter {
    /// Not completed yet (running, waiting or queued).
    InProgress,
    /// Queued behind its workflow's concurrency limit.
    Queued,
    /// Waiting for an approval or an outside completion.
    Waiting,
    Success,
    Failed,
    Cancelled,
}

impl StatusFilter {
    fn holds(self, r: &wflow_store::RunRecord) -> bool {
        let result = r.result;
        match self {
            StatusFilter::InProgress | StatusFilter::Waiting => r.status != RunStatus::Completed,
            StatusFilter::Queued => r.status == RunStatus::Queued,
            StatusFilter::Success => result == Some(Conclusion::Success),
            StatusFilter::Failed => result == Some(Conclusion::Failed),
            StatusFilter::Cancelled => result == Some(Conclusion::Cancelled),
        }
    }
}

/// A waiting node of a run: its identifier, what it waits for and the command that
/// continues it.
struct Waiting {
    /// The node's identifier in the workflow (see `wflow runs show RUN`).
    node: String,
    what: String,
    command: String,
}

/// The waiting nodes of `run`.
async fn waiting_on(engine: &Engine, run: &wflow_store::RunRecord) -> Result<Vec<Waiting>, Fail> {
    if run.status == RunStatus::Completed {
        return Ok(Vec::new());
    }
    let waiting: Vec<String> = engine
        .store
        .node_runs(&run.id)
        .await?
        .into_iter()
        .filter(|n| n.waiting && n.status != NodeStatus::Completed)
        .map(|n| n.node)
        .collect();
    if waiting.is_empty() {
        return Ok(Vec::new());
    }
    let plan = stored_plan(run)?;
    let id = &run.id;
    Ok(waiting
        .into_iter()
        .map(|node| {
            let approval = matches!(
                plan.node(&node).map(|n| &n.config),
                Some(NodeConfig::Input(_))
            );
            let command = if approval {
                format!("`wflow runs respond {id} {node} --button <button> --as <email>`")
            } else {
                format!("`wflow runs complete {id} {node} --result SUCCESS [--output <json>]`")
            };
            Waiting {
                what: wflow_engine::control::awaited(&plan, &node),
                node,
                command,
            }
        })
        .collect())
}

/// How long a node run took, from its start and end times (`-` while it runs).
fn took(start: Option<&str>, end: Option<&str>) -> String {
    let parse = |t: Option<&str>| t.and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok());
    match (parse(start), parse(end)) {
        (Some(s), Some(e)) => {
            let ms = (e - s).num_milliseconds().max(0);
            if ms < 1000 {
                format!("{ms} ms")
            } else {
                format!("{:.1} s", ms as f64 / 1000.0)
            }
        }
        _ => "-".into(),
    }
}

async fn runs_async(args: RunsArgs) -> Result<u8, Fail> {
    match args.command {
        RunsCommand::List {
            limit,
            workflow,
            status,
            format,
        } => {
            let engine = engine(&args.store, None).await?;
            let mut runs = engine.store.runs(LIST_READ.max(limit)).await?;
            runs.retain(|r| {
                workflow.as_ref().is_none_or(|w| *w == r.workflow)
                    && status.is_none_or(|s| s.holds(r))
            });
            let mut rows = Vec::new();
            for r in &runs {
                if rows.len() >= usize::try_from(limit).unwrap_or(0) {
                    break;
                }
                let waiting = waiting_on(&engine, r).await?;
                if status != Some(StatusFilter::Waiting) || !waiting.is_empty() {
                    rows.push((r, waiting));
                }
            }
            if format == RunFormat::Json {
                let list: Vec<Json> = rows
                    .iter()
                    .map(|(r, waiting)| {
                        serde_json::json!({
                            "identifier": r.id, "workflow": {"identifier": r.workflow},
                            "status": r.status, "result": r.result, "createdBy": r.created_by,
                            "createdAt": r.created_at, "completedAt": r.completed_at,
                            "waitingFor": waiting.iter().map(|w| {
                                serde_json::json!({"node": w.node, "for": w.what})
                            }).collect::<Vec<_>>(),
                        })
                    })
                    .collect();
                outln!(
                    "{}",
                    serde_json::to_string_pretty(&list).unwrap_or_default()
                );
            } else if rows.is_empty() {
                outln!("no runs in {} match", engine.store.location());
            } else {
                outln!(
                    "{:<31} {:<24} {:<11} {:<9} {:<24} WAITING ON",
                    "RUN",
                    "WORKFLOW",
                    "STATUS",
                    "RESULT",
                    "STARTED"
                );
                for (r, waiting) in rows {
                    let on: Vec<String> = waiting
                        .iter()
                        .map(|w| format!("{}: {}", w.node, w.what))
                        .collect();
                    outln!(
                        "{:<31} {:<24} {:<11} {:<9} {:<24} {}",
                        r.id,
                        r.workflow,
                        r.status.as_str(),
                        r.result.map_or("-", Conclusion::as_str),
                        r.created_at,
                        if on.is_empty() {
                            "-".into()
                        } else {
                            on.join("; ")
                        }
                    );
                }
            }
            Ok(0)
        }
        RunsCommand::Show { run, format } => {
            let engine = engine(&args.store, None).await?;
            let json = report::run_json(&engine.store, &run)
                .await?
                .ok_or_else(|| {
                    bad(format!(
                        "no run `{run}` in this store; see `wflow runs list`"
                    ))
                })?;
            if format == RunFormat::Json {
                outln!(
                    "{}",
                    serde_json::to_string_pretty(&json).unwrap_or_default()
                );
            } else {
                outln!(
                    "run {} of {}: {} {}",
                    run,
                    json["workflow"]["identifier"].as_str().unwrap_or("?"),
                    json["status"].as_str().unwrap_or("?"),
                    json["result"].as_str().unwrap_or("")
                );
                if let Some(e) = json["error"].as_str() {
                    outln!("  error: {e}");
                }
                outln!(
                    "  {:<24} {:<11} {:<9} {:>10}  OUTPUT",
                    "NODE",
                    "STATUS",
                    "RESULT",
                    "TOOK"
                );
                for n in json["nodeRuns"].as_array().into_iter().flatten() {
                    let took = took(n["createdAt"].as_str(), n["completedAt"].as_str());
                    outln!(
                        "  {:<24} {:<11} {:<9} {:>10}  {}",
                        n["node"]["identifier"].as_str().unwrap_or("?"),
                        n["status"].as_str().unwrap_or("?"),
                        n["result"].as_str().unwrap_or("-"),
                        took,
                        n["output"]
                    );
                    if let Some(sent) = n.get("request") {
                        outln!("    request: {sent}");
                    }
                }
                if let Some(record) = engine.store.run(&run).await? {
                    for w in waiting_on(&engine, &record).await? {
                        outln!("  waiting: node {} for {}", w.node, w.what);
                        outln!("    continue with {}", w.command);
                    }
                }
            }
            Ok(0)
        }
        RunsCommand::Logs { run } => {
            let engine = engine(&args.store, None).await?;
            if engine.store.run(&run).await?.is_none() {
                return Err(bad(format!(
                    "no run `{run}` in this store; see `wflow runs list`"
                )));
            }
            for l in engine.store.logs(&run).await? {
                outln!("{} {:<5} {:<20} {}", l.at, l.level, l.node, l.message);
            }
            Ok(0)
        }
        RunsCommand::Respond {
            run,
            node,
            button,
            inputs,
            by,
            roles,
            teams,
            drive,
        } => {
            let engine = engine(&args.store, Some(&drive)).await?;
            let (_, plan) = stored(&engine, &run).await?;
            let form = match plan.node(&node).map(|n| &n.config) {
                Some(NodeConfig::Input(i)) => i.user_inputs.clone(),
                _ => {
                    return Err(bad(format!(
                        "node `{node}` is not an approval (INPUT) node"
                    )));
                }
            };
            let given = inputs::from_pairs(&form, &split_pairs(&inputs)?);
            let secrets = load_secrets(&plan, &drive)?;
            let responder = wflow_engine::control::Responder {
                email: by,
                roles,
                teams,
            };
            let answer = wflow_engine::control::Answer {
                button: &button,
                inputs: &given,
                secrets: &secrets,
            };
            let respond = async |fenced: &Engine| {
                let r = fenced
                    .respond_as(&plan, &run, &node, &responder, &answer)
                    .await
                    .map_err(Fail::from)?;
                if let wflow_engine::control::Responded::Recorded { button, have, need } = &r {
                    eprintln!("recorded: `{button}` has {have} of {need} responses");
                }
                Ok(())
            };
            let outcome = drive_leased(
                &engine,
                &cli_leases(&engine),
                &plan,
                &run,
                &secrets,
                respond,
            )
            .await?;
            finish(&engine, &outcome, drive.format).await
        }
        RunsCommand::Resume {
            run,
            take_over,
            drive,
        } => {
            let engine = engine(&args.store, Some(&drive)).await?;
            let (record, plan) = stored(&engine, &run).await?;
            let secrets = load_secrets(&plan, &drive)?;
            let leases = cli_leases(&engine);
            if record.status == RunStatus::Queued {
                let outcome = drive_if_admitted(&engine, &leases, &plan, &run, &secrets).await?;
                return finish(&engine, &outcome, drive.format).await;
            }
            if take_over {
                leases.take_over(&run).await?;
            }
            let outcome =
                drive_leased(&engine, &leases, &plan, &run, &secrets, async |_| Ok(())).await?;
            finish(&engine, &outcome, drive.format).await
        }
        RunsCommand::Complete {
            run,
            node,
            result,
            output,
            drive,
        } => {
            let engine = engine(&args.store, Some(&drive)).await?;
            let (_, plan) = stored(&engine, &run).await?;
            let output = output
                .map(|o| serde_json::from_str::<Json>(&o))
                .transpose()
                .map_err(|e| bad(format!("--output is not JSON: {e}")))?;
            let secrets = load_secrets(&plan, &drive)?;
            let complete = async |fenced: &Engine| {
                fenced
                    .complete(&plan, &run, &node, result.into(), output)
                    .await
                    .map_err(Fail::from)
            };
            let outcome = drive_leased(
                &engine,
                &cli_leases(&engine),
                &plan,
                &run,
                &secrets,
                complete,
            )
            .await?;
            finish(&engine, &outcome, drive.format).await
        }
        RunsCommand::Cancel { run, force } => {
            let engine = engine(&args.store, None).await?;
            if engine.cancel(&run, force).await.map_err(Fail::from)? {
                outln!("run {run} CANCELLED");
                let record = stored_run(&engine, &run).await?;
                if record.concurrency.is_some() {
                    engine.store.admit(&record.workflow).await?;
                }
            } else {
                outln!(
                    "run {run}: cancellation requested; it stops before its next node \
                     (use --force to cancel it now)"
                );
            }
            Ok(0)
        }
        RunsCommand::Retry { run, by, drive } => {
            let engine = engine(&args.store, Some(&drive)).await?;
            let (record, plan) = stored(&engine, &run).await?;
            preflight(&plan, &engine, &drive).await?;
            let secrets = load_secrets(&plan, &drive)?;
            let leases = cli_leases(&engine);
            let by = by.unwrap_or_else(|| "the command line".into());
            let node = leases
                .fence(&engine)
                .retry(&plan, &run, leases.lease(), &by)
                .await
                .map_err(Fail::from)?;
            if drive.format == RunFormat::Human {
                eprintln!("retrying {run} from node {node}");
            }
            let outcome = if record.concurrency.is_some() {
                drive_if_admitted(&engine, &leases, &plan, &run, &secrets).await?
            } else {
                drive_leased(&engine, &leases, &plan, &run, &secrets, async |_| Ok(())).await?
            };
            finish(&engine, &outcome, drive.format).await
        }
        RunsCommand::Rerun { run, drive } => {
            let engine = engine(&args.store, Some(&drive)).await?;
            let (old, plan) = stored(&engine, &run).await?;
            let secrets = load_secrets(&plan, &drive)?;
            if drive.format == RunFormat::Human {
                eprintln!("re-running {run}");
            }
            let outcome = run_leased(
                &engine,
                &plan,
                &old.trigger_node,
                old.trigger_payload.clone(),
                old.created_by.as_deref(),
                &secrets,
            )
            .await?;
            finish(&engine, &outcome, drive.format).await
        }
    }
}

async fn catalog_async(args: CatalogArgs) -> Result<u8, Fail> {
    let engine = engine(&args.store, None).await?;
    let store = &engine.store;
    match args.command {
        CatalogCommand::Load { files } => {
            if files.is_empty() {
                return Err(bad(
                    "give the files to load: Port blueprint and entity JSON, or .wflow files \
                     declaring blueprints",
                ));
            }
            let mut docs = Vec::new();
            let mut problems = Vec::new();
            for f in &files {
                if f.extension().is_some_and(|x| x == "wflow") {
                    match wflow_project::read_blueprints(f) {
                        Ok(found) if found.is_empty() => problems.push(format!(
                            "{}: declares no blueprint (`blueprint service \"Service\" {{ ... }}`)",
                            f.display()
                        )),
                        Ok(found) => docs.extend(
                            found
                                .iter()
                                .map(|b| catalog::Document::Blueprint(b.to_port_json())),
                        ),
                        Err(e) => problems.push(e),
                    }
                    continue;
                }
                let parsed = std::fs::read_to_string(f)
                    .map_err(|e| e.to_string())
                    .and_then(|t| serde_json::from_str::<Json>(&t).map_err(|e| e.to_string()))
                    .and_then(|v| catalog::documents(&v));
                match parsed {
                    Ok(d) => docs.extend(d),
                    Err(e) => problems.push(format!("{}: {e}", f.display())),
                }
            }
            if !problems.is_empty() {
                return Err(bad(format!(
                    "nothing was loaded:\n  {}",
                    problems.join("\n  ")
                )));
            }
            load_documents(store, docs).await
        }
        CatalogCommand::List { blueprint } => {
            match blueprint {
                None => {
                    for b in store.blueprints().await? {
                        let n = store.entities(b["identifier"].as_str()).await?.len();
                        outln!(
                            "{:<30} {n} entities",
                            b["identifier"].as_str().unwrap_or("?")
                        );
                    }
                }
                Some(bp) => {
                    if store.blueprint(&bp).await?.is_none() {
                        return Err(bad(format!("no blueprint `{bp}` in the catalog")));
                    }
                    for e in store.entities(Some(&bp)).await? {
                        outln!(
                            "{:<30} {}",
                            e["identifier"].as_str().unwrap_or("?"),
                            e["title"].as_str().unwrap_or("")
                        );
                    }
                }
            }
            Ok(0)
        }
        CatalogCommand::Show {
            blueprint,
            identifier,
        } => match store.entity(&blueprint, &identifier).await? {
            Some(e) => {
                outln!("{}", serde_json::to_string_pretty(&e).unwrap_or_default());
                Ok(0)
            }
            None => Err(bad(format!(
                "no entity `{identifier}` of blueprint `{blueprint}`; see `wflow catalog list {blueprint}`"
            ))),
        },
    }
}

/// Loads blueprints first, then entities validated against them; all or nothing.
async fn load_documents(store: &Store, docs: Vec<catalog::Document>) -> Result<u8, Fail> {
    use wflow_store::Write;
    let mut writes = Vec::new();
    let mut blueprints: Map<String, Json> = Map::new();
    for d in &docs {
        if let catalog::Document::Blueprint(b) = d {
            let id = b["identifier"].as_str().unwrap_or_default().to_string();
            blueprints.insert(id.clone(), b.clone());
            writes.push(Write::PutBlueprint {
                identifier: id,
                body: b.clone(),
            });
        }
    }
    let mut problems = Vec::new();
    let mut entities = 0;
    for d in &docs {
        if let catalog::Document::Entity(e) = d {
            let bp = e["blueprint"].as_str().unwrap_or_default();
            let id = e["identifier"].as_str().unwrap_or_default();
            let blueprint = match blueprints.get(bp) {
                Some(b) => Some(b.clone()),
                None => store.blueprint(bp).await?,
            };
            let Some(blueprint) = blueprint else {
                problems.push(format!("entity `{id}`: blueprint `{bp}` is not loaded; load it first or in the same command"));
                continue;
            };
            let mut e = e.clone();
            for k in ["properties", "relations"] {
                if e.get(k).is_none() {
                    e[k] = Json::Object(Map::new());
                }
            }
            let found: Vec<String> = match Blueprint::from_port_value(&blueprint) {
                Ok(b) => catalog::validate(&b, &e)
                    .into_iter()
                    .map(|p| p.message)
                    .collect(),
                Err(why) => vec![format!("blueprint `{bp}` is unreadable: {why}")],
            };
            if found.is_empty() {
                entities += 1;
                writes.push(Write::PutEntity {
                    blueprint: bp.to_string(),
                    identifier: id.to_string(),
                    body: e,
                    at: wflow_engine::engine::now(),
                });
            } else {
                problems.extend(found.into_iter().map(|p| format!("entity `{id}`: {p}")));
            }
        }
    }
    if !problems.is_empty() {
        return Err(bad(format!(
            "nothing was loaded:\n  {}",
            problems.join("\n  ")
        )));
    }
    store.apply(writes).await?;
    outln!(
        "loaded {} blueprint{} and {entities} entit{}",
        blueprints.len(),
        if blueprints.len() == 1 { "" } else { "s" },
        if entities == 1 { "y" } else { "ies" }
    );
    Ok(0)
}
