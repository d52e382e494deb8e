//! The store: runs, node runs, logs, approval responses and the catalog, in one SQLite file
//! (WAL mode, the default) or a PostgreSQL database (`postgres://` URL, for several `serve`
//! processes). Writes are grouped into transactions by the engine ([`Write`]).
//!
//! Both backends run the same SQL wherever the dialects agree; only the schemas differ (JSON is
//! `TEXT` in SQLite and `JSONB` in PostgreSQL, flags are `INTEGER` and `BOOLEAN`).

use std::collections::HashMap;
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use serde_json::Value as Json;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgRow};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};
use sqlx::types::Json as JsonArg;
use sqlx::{Connection, Row, SqlitePool};

pub mod status;
pub use status::{Conclusion, NodeStatus, RunStatus, UnknownStatus};

/// Now, as RFC 3339 with milliseconds: the store's timestamps, comparable as text.
pub fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// SQLite schema migrations, applied in order; `PRAGMA user_version` records how many ran.
const SQLITE_MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE runs (
    id TEXT PRIMARY KEY,
    workflow TEXT NOT NULL,
    source TEXT NOT NULL,
    syntax TEXT NOT NULL,
    source_path TEXT NOT NULL,
    trigger_node TEXT NOT NULL,
    trigger_payload TEXT NOT NULL,
    status TEXT NOT NULL,
    result TEXT,
    error TEXT,
    created_by TEXT,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    completed_at TEXT
);
CREATE INDEX runs_by_time ON runs (created_at);
CREATE TABLE node_runs (
    id TEXT PRIMARY KEY,
    run_id TEXT NOT NULL REFERENCES runs (id),
    node TEXT NOT NULL,
    seq INTEGER NOT NULL,
    status TEXT NOT NULL,
    result TEXT,
    output TEXT,
    outlet TEXT,
    fallback INTEGER NOT NULL DEFAULT 0,
    waiting INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    completed_at TEXT,
    UNIQUE (run_id, node)
);
CREATE TABLE logs (
    run_id TEXT NOT NULL,
    node TEXT NOT NULL,
    level TEXT NOT NULL,
    message TEXT NOT NULL,
    at TEXT NOT NULL
);
CREATE INDEX logs_by_run ON logs (run_id);
CREATE TABLE responses (
    run_id TEXT NOT NULL,
    node TEXT NOT NULL,
    responder TEXT NOT NULL,
    button TEXT NOT NULL,
    inputs TEXT NOT NULL,
    at TEXT NOT NULL,
    PRIMARY KEY (run_id, node, responder)
);
CREATE TABLE blueprints (
    identifier TEXT PRIMARY KEY,
    body TEXT NOT NULL
);
CREATE TABLE entities (
    blueprint TEXT NOT NULL,
    identifier TEXT NOT NULL,
    body TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (blueprint, identifier)
);
"#,
    // Earlier builds created this table on first use.
    "CREATE TABLE IF NOT EXISTS fired_timers (key TEXT PRIMARY KEY, at TEXT NOT NULL);",
    LEASES,
    "ALTER TABLE node_runs ADD COLUMN attempts TEXT; \
     ALTER TABLE node_runs ADD COLUMN deadline TEXT;",
    CONCURRENCY,
    "ALTER TABLE node_runs ADD COLUMN request TEXT;",
];

/// Records that every SQLite migration ran (PRAGMA takes no bound parameters); keep it equal
/// to `SQLITE_MIGRATIONS.len()`.
const SQLITE_SET_VERSION: &str = "PRAGMA user_version = 6";
const _: () = assert!(SQLITE_MIGRATIONS.len() == 6);

/// Where a queued run stands (see [`Store::queue_place`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueuePlace {
    /// Queued runs of the same workflow and concurrency key accepted before it.
    pub ahead: i64,
    /// Runs of that workflow and key in progress now.
    pub in_progress: i64,
}

/// Who drives a run and until when (see [`Store::claim_due`]); the same on both backends.
const LEASES: &str = "ALTER TABLE runs ADD COLUMN lease_owner TEXT; \
                      ALTER TABLE runs ADD COLUMN lease_until TEXT; \
                      CREATE INDEX runs_by_lease ON runs (status, lease_until);";

/// A run's concurrency limit and key (its workflow's when it was accepted), and the index that
/// counts a workflow's runs by status; the same on both backends.
const CONCURRENCY: &str = "ALTER TABLE runs ADD COLUMN concurrency BIGINT; \
                           ALTER TABLE runs ADD COLUMN concurrency_key TEXT; \
                           CREATE INDEX runs_by_workflow ON runs (workflow, status);";

/// PostgreSQL schema migrations, applied in order; `wflow_schema` records how many ran.
/// `logs` and `responses` get a `rowid` column so that the SQL ordering by insertion is shared
/// with SQLite.
const POSTGRES_MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE runs (
    id TEXT PRIMARY KEY,
    workflow TEXT NOT NULL,
    source TEXT NOT NULL,
    syntax TEXT NOT NULL,
    source_path TEXT NOT NULL,
    trigger_node TEXT NOT NULL,
    trigger_payload JSONB NOT NULL,
    status TEXT NOT NULL,
    result TEXT,
    error TEXT,
    created_by TEXT,
    cancel_requested BOOLEAN NOT NULL DEFAULT FALSE,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    completed_at TEXT
);
CREATE INDEX runs_by_time ON runs (created_at);
CREATE TABLE node_runs (
    id TEXT PRIMARY KEY,
    run_id TEXT NOT NULL REFERENCES runs (id),
    node TEXT NOT NULL,
    seq BIGINT NOT NULL,
    status TEXT NOT NULL,
    result TEXT,
    output JSONB,
    outlet TEXT,
    fallback BOOLEAN NOT NULL DEFAULT FALSE,
    waiting BOOLEAN NOT NULL DEFAULT FALSE,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    completed_at TEXT,
    UNIQUE (run_id, node)
);
CREATE TABLE logs (
    rowid BIGSERIAL PRIMARY KEY,
    run_id TEXT NOT NULL,
    node TEXT NOT NULL,
    level TEXT NOT NULL,
    message TEXT NOT NULL,
    at TEXT NOT NULL
);
CREATE INDEX logs_by_run ON logs (run_id);
CREATE TABLE responses (
    rowid BIGSERIAL UNIQUE,
    run_id TEXT NOT NULL,
    node TEXT NOT NULL,
    responder TEXT NOT NULL,
    button TEXT NOT NULL,
    inputs JSONB NOT NULL,
    at TEXT NOT NULL,
    PRIMARY KEY (run_id, node, responder)
);
CREATE TABLE blueprints (
    identifier TEXT PRIMARY KEY,
    body JSONB NOT NULL
);
CREATE TABLE entities (
    blueprint TEXT NOT NULL,
    identifier TEXT NOT NULL,
    body JSONB NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (blueprint, identifier)
);
CREATE TABLE fired_timers (
    key TEXT PRIMARY KEY,
    at TEXT NOT NULL
);
"#,
    LEASES,
    "ALTER TABLE node_runs ADD COLUMN attempts JSONB; \
     ALTER TABLE node_runs ADD COLUMN deadline TEXT;",
    CONCURRENCY,
    "ALTER TABLE node_runs ADD COLUMN request JSONB;",
];

/// Serialises PostgreSQL migrations across processes (`pg_advisory_xact_lock` key).
const MIGRATION_LOCK: i64 = 0x0077_666c_6f77; // "wflow"

/// The `pg_advisory_xact_lock` key serialising the admissions of `workflow`'s queued runs:
/// FNV-1a of its name, so that every process computes the same.
fn admission_lock(workflow: &str) -> i64 {
    let hash = workflow.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    i64::from_ne_bytes(hash.to_ne_bytes())
}

/// A store error, naming the store and what failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreError(pub String);

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for StoreError {}

fn err(what: &str) -> impl Fn(sqlx::Error) -> StoreError + '_ {
    move |e| StoreError(format!("store: {what}: {e}"))
}

/// A run as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct RunRecord {
    pub id: String,
    pub workflow: String,
    /// The workflow file's text when the run started (resume does not need the file).
    pub source: String,
    /// `wflow` or `json`.
    pub syntax: String,
    pub source_path: String,
    pub trigger_node: String,
    /// The trigger's output: the form inputs or the event (redacted).
    pub trigger_payload: Json,
    pub status: RunStatus,
    /// How it ended; `None` until it is [`RunStatus::Completed`].
    pub result: Option<Conclusion>,
    pub error: Option<String>,
    pub created_by: Option<String>,
    pub cancel_requested: bool,
    pub created_at: String,
    pub updated_at: String,
    pub completed_at: Option<String>,
    /// How many runs of the workflow may go on at once (`None`: no limit)...
    pub concurrency: Option<i64>,
    /// ...among those with this key (`None`: all of them).
    pub concurrency_key: Option<String>,
}

/// A node run as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeRunRecord {
    pub id: String,
    pub run_id: String,
    pub node: String,
    /// Start order within the run.
    pub seq: i64,
    pub status: NodeStatus,
    pub result: Option<Conclusion>,
    pub output: Option<Json>,
    /// CONDITION/INPUT: the outlet taken.
    pub outlet: Option<String>,
    /// CONDITION: the fallback was taken.
    pub fallback: bool,
    /// Waiting for a response or an outside completion (not for this process).
    pub waiting: bool,
    pub created_at: String,
    pub updated_at: String,
    pub completed_at: Option<String>,
    /// The failed attempts of a node with a retry policy, oldest first.
    pub attempts: Vec<Attempt>,
    /// Waiting: when the wait ends (an approval's or the run's timeout). Retrying: when the
    /// next attempt starts. RFC 3339, comparable as text with [`crate::now`]'s.
    pub deadline: Option<String>,
    /// What the node's side effect sent, rendered and redacted (a webhook's method, URL,
    /// headers and body; a Kafka message; the entity upserted; ...); `None` for nodes without
    /// one and for node runs recorded before the column existed.
    pub request: Option<Json>,
}

impl NodeRunRecord {
    /// The node run `id` of `node` in run `run_id`, started at `at` (RFC 3339) as the
    /// `seq`-th: in progress, nothing recorded yet.
    pub fn started(id: String, run_id: &str, node: &str, seq: i64, at: &str) -> NodeRunRecord {
        NodeRunRecord {
            id,
            run_id: run_id.into(),
            node: node.into(),
            seq,
            status: NodeStatus::InProgress,
            result: None,
            output: None,
            outlet: None,
            fallback: false,
            waiting: false,
            created_at: at.into(),
            updated_at: at.into(),
            completed_at: None,
            attempts: Vec::new(),
            deadline: None,
            request: None,
        }
    }
}

/// A failed attempt of a node run with a retry policy.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Attempt {
    /// 1 for the first attempt.
    pub attempt: u32,
    /// When it failed.
    pub at: String,
    /// Which kind of failure: `connect`, `timeout`, `5xx`, `429`.
    pub class: String,
    /// Why it failed (redacted).
    pub cause: String,
    /// The wait before the next attempt (0 for the last).
    pub delay_ms: u64,
    /// When the next attempt starts; `None` for the last attempt, whose failure is the node's.
    pub next_at: Option<String>,
}

/// A log line of a node run.
#[derive(Debug, Clone, PartialEq)]
pub struct LogRecord {
    pub node: String,
    pub level: String,
    pub message: String,
    pub at: String,
}

/// An approval response.
#[derive(Debug, Clone, PartialEq)]
pub struct ResponseRecord {
    pub responder: String,
    pub button: String,
    pub inputs: Json,
    pub at: String,
}

/// One write, applied with others in a transaction.
#[derive(Debug, Clone)]
pub enum Write {
    InsertRun(Box<RunRecord>),
    /// Sets a run's status, result, error and times.
    FinishRun {
        id: String,
        status: RunStatus,
        result: Option<Conclusion>,
        error: Option<String>,
        at: String,
    },
    RequestCancel {
        id: String,
        at: String,
    },
    /// Leases a run to `owner` until `until` (for a run the same batch inserts).
    Lease {
        run_id: String,
        owner: String,
        until: String,
    },
    /// Inserts or replaces a node run.
    PutNodeRun(Box<NodeRunRecord>),
    Log {
        run_id: String,
        record: LogRecord,
    },
    PutEntity {
        blueprint: String,
        identifier: String,
        body: Json,
        at: String,
    },
    PutBlueprint {
        identifier: String,
        body: Json,
    },
    DeleteEntity {
        blueprint: String,
        identifier: String,
    },
    /// Deletes a blueprint (its entities must be deleted first).
    DeleteBlueprint {
        identifier: String,
    },
    Response {
        run_id: String,
        node: String,
        record: ResponseRecord,
    },
}

/// An entity created, updated or deleted by [`Store::apply`], reported to the receiver given
/// to [`Store::with_entity_changes`].
#[derive(Debug, Clone, PartialEq)]
pub struct EntityChange {
    pub blueprint: String,
    pub identifier: String,
    /// `None` when the entity was created.
    pub before: Option<Json>,
    /// `None` when the entity was deleted.
    pub after: Option<Json>,
    /// The run whose node made the change (a node run written in the same transaction).
    pub run_id: Option<String>,
}

/// A connection pool of either backend.
#[derive(Clone)]
enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Runs `$body` with `$pool` bound to the pool `$which`, whichever the backend (the body is
/// compiled once per backend, so the same SQL serves both).
macro_rules! on_pool {
    ($which:expr, |$pool:ident| $body:expr) => {
        match &$which {
            Pool::Sqlite($pool) => $body,
            Pool::Postgres($pool) => $body,
        }
    };
}

mod commit;

pub use commit::Applied;

/// Which backend a pool is of, for the few statements whose SQL differs.
trait Dialect {
    const SQLITE: bool;
}

impl Dialect for SqlitePool {
    const SQLITE: bool = true;
}

impl Dialect for PgPool {
    const SQLITE: bool = false;
}

/// Whether `pool` is SQLite's.
fn is_sqlite<P: Dialect>(_: &P) -> bool {
    P::SQLITE
}

/// How a transaction that writes begins on `pool`: on SQLite, taking the write lock at once
/// rather than on the first write.
fn begin_write<P: Dialect>(_: &P) -> &'static str {
    if P::SQLITE {
        "BEGIN IMMEDIATE"
    } else {
        "BEGIN"
    }
}

/// The store: SQLite or PostgreSQL.
#[derive(Clone)]
pub struct Store {
    /// Writes and leases. On SQLite its one connection is the only writer.
    pool: Pool,
    /// Reads (on SQLite, read-only connections beside the writer; on PostgreSQL, `pool`).
    reads: Pool,
    /// The group committer's queue ([`Store::apply`]).
    committer: tokio::sync::mpsc::Sender<commit::Batch>,
    /// The file or URL, its password masked.
    location: String,
    changes: Option<tokio::sync::mpsc::UnboundedSender<EntityChange>>,
    /// The lease owner whose lease [`Store::apply`] requires for node-run and finish writes.
    fence: Option<String>,
}

/// The channel PostgreSQL stores notify when a run becomes due.
const DUE_CHANNEL: &str = "wflow_runs";

/// Runs that may be claimed: released and not merely waiting for a response or an outside
/// completion (until the wait's deadline passes), or leased by a process whose lease expired
/// ($1: now).
const DUE: &str = "status = 'IN_PROGRESS' AND (\
    (lease_owner IS NULL AND NOT EXISTS (SELECT 1 FROM node_runs n WHERE n.run_id = runs.id \
        AND n.waiting AND n.status = 'IN_PROGRESS' AND (n.deadline IS NULL OR n.deadline > $1))) \
    OR (lease_owner IS NOT NULL AND (lease_until IS NULL OR lease_until < $1)))";

/// When a lease of `lease` taken now ends: RFC 3339 with milliseconds, comparable as text
/// with [`crate::now`]'s.
pub fn lease_until(lease: Duration) -> String {
    let offset = chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::MAX);
    (chrono::Utc::now() + offset).to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Waits for notifications that runs became due (PostgreSQL's LISTEN).
pub struct DueListener(sqlx::postgres::PgListener);

impl DueListener {
    /// Waits for the next notification.
    pub async fn recv(&mut self) -> Result<(), StoreError> {
        self.0
            .recv()
            .await
            .map(drop)
            .map_err(err("listen for due runs"))
    }
}

/// Whether the store location `s` names a PostgreSQL database.
fn is_postgres_url(s: &str) -> bool {
    s.starts_with("postgres://") || s.starts_with("postgresql://")
}

/// `url` with the password of its user info replaced by `***`.
fn mask_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((user_info, host)) => match user_info.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:***@{host}{path}"),
            None => url.to_string(),
        },
        None => url.to_string(),
    }
}

impl Store {
    /// Opens the store at `location`, bringing its schema up to date: a `postgres://` URL opens
    /// that PostgreSQL database, anything else is a SQLite file (created if missing).
    pub async fn open(location: &Path) -> Result<Store, StoreError> {
        match location.to_str().filter(|s| is_postgres_url(s)) {
            Some(url) => Store::open_postgres(url).await,
            None => Store::open_sqlite(location).await,
        }
    }

    async fn open_sqlite(path: &Path) -> Result<Store, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| {
                StoreError(format!(
                    "cannot create the store directory {}: {e}",
                    dir.display()
                ))
            })?;
        }
        let opts = SqliteConnectOptions::from_str("sqlite:")
            .map_err(err("options"))?
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // Every commit is on disk (the WAL fsynced) before it returns: power-loss
            // durability. Group commit (`commit.rs`) shares one fsync among the batches waiting.
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true)
            // The committer's statements (a batch's shape, a group's reads by size) all stay
            // prepared.
            .statement_cache_capacity(STATEMENT_CACHE);
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .test_before_acquire(false)
            .connect_with(opts.clone())
            .await
            .map_err(|e| StoreError(format!("cannot open the store {}: {e}", path.display())))?;
        let location = path.display().to_string();
        let writer = Pool::Sqlite(pool);
        migrate(&writer, &location).await?;
        let reads = SqlitePoolOptions::new()
            .max_connections(SQLITE_READERS)
            .test_before_acquire(false)
            .connect_with(opts.read_only(true))
            .await
            .map_err(|e| StoreError(format!("cannot open the store {}: {e}", path.display())))?;
        Ok(Store::new(writer, Pool::Sqlite(reads), location))
    }

    /// A store in memory, gone when dropped: one SQLite connection for writes and reads
    /// (`wflow test` gives each case one).
    pub async fn open_memory() -> Result<Store, StoreError> {
        let opts = SqliteConnectOptions::from_str("sqlite::memory:")
            .map_err(err("options"))?
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .min_connections(1)
            .max_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .test_before_acquire(false)
            .connect_with(opts)
            .await
            .map_err(|e| StoreError(format!("cannot open a store in memory: {e}")))?;
        let pool = Pool::Sqlite(pool);
        migrate(&pool, ":memory:").await?;
        Ok(Store::new(pool.clone(), pool, ":memory:".into()))
    }

    async fn open_postgres(url: &str) -> Result<Store, StoreError> {
        let location = mask_password(url);
        let opts = PgConnectOptions::from_str(url).map_err(|e| {
            StoreError(format!(
                "the store URL {location} is not a valid PostgreSQL URL ({}); expected \
                 postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE",
                mask_password(&e.to_string())
            ))
        })?;
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .test_before_acquire(false)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(opts)
            .await
            .map_err(|e| {
                StoreError(format!(
                    "cannot connect to the PostgreSQL store {location}: {e}; check that the \
                     server is running and that the URL's host, port, user, password and \
                     database are right"
                ))
            })?;
        let pool = Pool::Postgres(pool);
        migrate(&pool, &location).await?;
        Ok(Store::new(pool.clone(), pool, location))
    }

    /// A store over `pool` (writes) and `reads`, its committer started.
    fn new(pool: Pool, reads: Pool, location: String) -> Store {
        let (committer, queue) = tokio::sync::mpsc::channel(COMMIT_QUEUE);
        tokio::spawn(commit::run(pool.clone(), queue));
        Store {
            pool,
            reads,
            committer,
            location,
            changes: None,
            fence: None,
        }
    }

    /// The store's file or URL (without its password), for messages.
    pub fn location(&self) -> &str {
        &self.location
    }

    /// Reports every entity change [`Store::apply`] commits to `tx` from now on.
    pub fn with_entity_changes(
        mut self,
        tx: tokio::sync::mpsc::UnboundedSender<EntityChange>,
    ) -> Store {
        self.changes = Some(tx);
        self
    }

    /// This store, refusing node-run and finish writes of a run that `owner` does not lease
    /// (so a process whose run was taken over cannot write it any more).
    pub fn fenced(&self, owner: &str) -> Store {
        Store {
            fence: Some(owner.to_string()),
            ..self.clone()
        }
    }

    /// Whether several processes may share this store (PostgreSQL).
    pub fn is_shared(&self) -> bool {
        matches!(self.pool, Pool::Postgres(_))
    }

    /// Applies `writes` in one transaction (shared with the batches of other tasks waiting at
    /// the same moment; see [`commit`]). A batch that writes node runs or finishes a run it
    /// did not insert is refused when the store is [fenced](Store::fenced) and the run is not
    /// leased to the fence's owner; what it found about that run is returned.
    pub async fn apply(&self, writes: Vec<Write>) -> Result<Applied, StoreError> {
        if writes.is_empty() {
            return Ok(Applied::default());
        }
        let run = commit::Batch::guarded_run(&writes);
        let node_run_of = writes.iter().find_map(|w| match w {
            Write::PutNodeRun(n) => Some(n.run_id.clone()),
            _ => None,
        });
        let (reply, answer) = tokio::sync::oneshot::channel();
        let batch = commit::Batch {
            writes,
            run,
            fence: self.fence.clone(),
            report: self.changes.is_some(),
            reply,
        };
        let stopped = || StoreError(format!("store {}: the committer stopped", self.location));
        self.committer.send(batch).await.map_err(|_| stopped())?;
        let written = answer.await.map_err(|_| stopped())??;
        if let Some(sender) = &self.changes {
            for mut c in written.changes {
                c.run_id.clone_from(&node_run_of);
                // A closed receiver means nobody listens any more (the server stopped).
                let _ = sender.send(c);
            }
        }
        Ok(written.applied)
    }

    /// Where run `id` stands in its queue while it is `QUEUED` behind its workflow's
    /// concurrency limit: the queued runs of the same workflow and key accepted before it, and
    /// the runs of that key in progress. `None` for a run that is not queued.
    pub async fn queue_place(&self, id: &str) -> Result<Option<QueuePlace>, StoreError> {
        on_pool!(self.reads, |pool| sqlx::query(
            "SELECT \
               (SELECT count(*) FROM runs q WHERE q.workflow = r.workflow AND q.status = 'QUEUED' \
                  AND coalesce(q.concurrency_key, '') = coalesce(r.concurrency_key, '') \
                  AND (q.created_at < r.created_at OR (q.created_at = r.created_at AND q.id < r.id))) \
                 AS ahead, \
               (SELECT count(*) FROM runs a WHERE a.workflow = r.workflow \
                  AND a.status = 'IN_PROGRESS' \
                  AND coalesce(a.concurrency_key, '') = coalesce(r.concurrency_key, '')) \
                 AS in_progress \
             FROM runs r WHERE r.id = $1 AND r.status = 'QUEUED'"
        )
        .bind(id)
        .fetch_optional(pool)
        .await
        .and_then(|r| {
            r.map(|r| {
                Ok(QueuePlace {
                    ahead: r.int("ahead")?,
                    in_progress: r.int("in_progress")?,
                })
            })
            .transpose()
        }))
        .map_err(err("read a run's place in its queue"))
    }

    /// The id of the run that node run `node_run_id` belongs to.
    pub async fn node_run_owner(&self, node_run_id: &str) -> Result<Option<String>, StoreError> {
        on_pool!(self.reads, |pool| sqlx::query(
            "SELECT run_id FROM node_runs WHERE id = $1"
        )
        .bind(node_run_id)
        .fetch_optional(pool)
        .await
        .and_then(|r| r.map(|r| r.text("run_id")).transpose()))
        .map_err(err("read a node run"))
    }

    /// The newest run of `workflow` fired by trigger `trigger`.
    pub async fn last_run(
        &self,
        workflow: &str,
        trigger: &str,
    ) -> Result<Option<RunRecord>, StoreError> {
        on_pool!(self.reads, |pool| sqlx::query(
            "SELECT * FROM runs WHERE workflow = $1 AND trigger_node = $2 \
             ORDER BY created_at DESC, id DESC LIMIT 1",
        )
        .bind(workflow)
        .bind(trigger)
        .fetch_optional(pool)
        .await
        .and_then(|r| r.map(|r| run_record(&r)).transpose()))
        .map_err(err("read a run"))
    }

    /// Leases up to `limit` due runs (see [`DUE`]) to `owner` for `lease`, oldest first, in
    /// one statement; returns them as leased, oldest first (so a restart reads the runs it
    /// resumes with their claim, not one by one). On PostgreSQL, concurrent claims skip each
    /// other's rows.
    pub async fn claim_due(
        &self,
        owner: &str,
        lease: Duration,
        limit: i64,
    ) -> Result<Vec<RunRecord>, StoreError> {
        let lock = if self.is_shared() {
            " FOR UPDATE SKIP LOCKED"
        } else {
            ""
        };
        let sql = format!(
            "UPDATE runs SET lease_owner = $2, lease_until = $3 WHERE id IN (SELECT id FROM runs \
             WHERE {DUE} ORDER BY created_at LIMIT $4{lock}) RETURNING *"
        );
        let mut runs = on_pool!(self.pool, |pool| sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(crate::now())
            .bind(owner)
            .bind(lease_until(lease))
            .bind(limit)
            .fetch_all(pool)
            .await
            .and_then(|rows| rows.iter().map(run_record).collect::<Result<Vec<_>, _>>()))
        .map_err(err("claim due runs"))?;
        // RETURNING's order is the database's.
        runs.sort_by(|a, b| (&a.created_at, &a.id).cmp(&(&b.created_at, &b.id)));
        Ok(runs)
    }

    /// Starts the queued runs of `workflow` that its concurrency limit lets go on now, in the
    /// order they were accepted: each is made `IN_PROGRESS` (unleased, so due) while fewer
    /// runs of the workflow with its key than its limit are in progress. One
    /// transaction, serialised per workflow across processes (SQLite's write lock; a
    /// PostgreSQL advisory lock), so two processes never both take the last place. Returns the
    /// runs started, for the caller to drive (else `serve`'s next claim round takes them).
    pub async fn admit(&self, workflow: &str) -> Result<Vec<String>, StoreError> {
        let now = crate::now();
        on_pool!(self.pool, |pool| {
            let mut conn = pool.acquire().await.map_err(err("connect"))?;
            let mut tx = conn
                .begin_with(begin_write(pool))
                .await
                .map_err(err("begin"))?;
            if !is_sqlite(pool) {
                sqlx::query("SELECT pg_advisory_xact_lock($1)")
                    .bind(admission_lock(workflow))
                    .execute(&mut *tx)
                    .await
                    .map_err(err("lock the queue"))?;
            }
            let mut active = HashMap::new();
            for row in sqlx::query(
                "SELECT coalesce(concurrency_key, '') AS k, count(*) AS n FROM runs \
                 WHERE workflow = $1 AND status = 'IN_PROGRESS' \
                 GROUP BY coalesce(concurrency_key, '')",
            )
            .bind(workflow)
            .fetch_all(&mut *tx)
            .await
            .map_err(err("count the runs in progress"))?
            {
                let n = row.int("n").map_err(err("count the runs in progress"))?;
                active.insert(row.text("k").map_err(err("count the runs in progress"))?, n);
            }
            let queued = sqlx::query(
                "SELECT id, concurrency, coalesce(concurrency_key, '') AS k FROM runs \
                 WHERE workflow = $1 AND status = 'QUEUED' ORDER BY created_at, id LIMIT $2",
            )
            .bind(workflow)
            .bind(QUEUE_READ)
            .fetch_all(&mut *tx)
            .await
            .map_err(err("read the queue"))?;
            let mut admitted = Vec::new();
            for row in &queued {
                let limit = row.opt_int("concurrency").map_err(err("read the queue"))?;
                let key = row.text("k").map_err(err("read the queue"))?;
                let active = active.entry(key).or_insert(0);
                // A key whose limit is reached starts none of its later runs either.
                if limit.is_some_and(|l| *active >= l) {
                    continue;
                }
                admitted.push(row.text("id").map_err(err("read the queue"))?);
                *active += 1;
            }
            for id in &admitted {
                sqlx::query(
                    "UPDATE runs SET status = 'IN_PROGRESS', updated_at = $2 WHERE id = $1",
                )
                .bind(id)
                .bind(&now)
                .execute(&mut *tx)
                .await
                .map_err(err("start a queued run"))?;
            }
            tx.commit().await.map_err(err("commit"))?;
            Ok(admitted)
        })
    }

    /// The workflows that have queued runs.
    pub async fn queued_workflows(&self) -> Result<Vec<String>, StoreError> {
        on_pool!(self.reads, |pool| sqlx::query(
            "SELECT DISTINCT workflow FROM runs WHERE status = 'QUEUED' ORDER BY workflow"
        )
        .fetch_all(pool)
        .await
        .and_then(|rows| rows.iter().map(|r| r.text("workflow")).collect()))
        .map_err(err("list queued runs"))
    }

    /// Cancels run `id` if it is still queued (it never started: nothing ran); `false` when
    /// it is not queued (any more).
    pub async fn cancel_queued(&self, id: &str, at: &str) -> Result<bool, StoreError> {
        on_pool!(self.pool, |pool| sqlx::query(
            "UPDATE runs SET status = 'COMPLETED', result = 'CANCELLED', \
             error = 'the run was cancelled while queued', updated_at = $2, completed_at = $2 \
             WHERE id = $1 AND status = 'QUEUED'"
        )
        .bind(id)
        .bind(at)
        .execute(pool)
        .await
        .map(|done| done.rows_affected() == 1))
        .map_err(err("cancel a queued run"))
    }

    /// Leases run `id` to `owner` for `lease` unless another process holds an unexpired
    /// lease on it or it completed; `owner` may renew its own lease this way.
    pub async fn claim_run(
        &self,
        id: &str,
        owner: &str,
        lease: Duration,
    ) -> Result<bool, StoreError> {
        on_pool!(self.pool, |pool| sqlx::query(
            "UPDATE runs SET lease_owner = $2, lease_until = $3 WHERE id = $1 \
             AND status = 'IN_PROGRESS' AND (lease_owner IS NULL OR lease_owner = $2 \
             OR lease_until IS NULL OR lease_until < $4)"
        )
        .bind(id)
        .bind(owner)
        .bind(lease_until(lease))
        .bind(crate::now())
        .execute(pool)
        .await
        .map(|done| done.rows_affected() == 1))
        .map_err(err("claim a run"))
    }

    /// Reopens run `id` if it completed FAILED, leased to `owner` for `lease`: in progress
    /// again, without a result; `false` when it is not (or no longer) a failed run.
    pub async fn reopen(&self, id: &str, owner: &str, lease: Duration) -> Result<bool, StoreError> {
        on_pool!(self.pool, |pool| sqlx::query(
            "UPDATE runs SET status = 'IN_PROGRESS', result = NULL, error = NULL, \
             completed_at = NULL, cancel_requested = FALSE, lease_owner = $2, lease_until = $3, \
             updated_at = $4 WHERE id = $1 AND status = 'COMPLETED' AND result = 'FAILED'"
        )
        .bind(id)
        .bind(owner)
        .bind(lease_until(lease))
        .bind(crate::now())
        .execute(pool)
        .await
        .map(|done| done.rows_affected() == 1))
        .map_err(err("reopen a run"))
    }

    /// Puts the reopened run `id` (in progress, not driven yet) back in its workflow's queue,
    /// unleased: a retried run of a workflow with a concurrency limit waits for its turn like
    /// a new one ([`Store::admit`]).
    pub async fn requeue(&self, id: &str) -> Result<(), StoreError> {
        on_pool!(self.pool, |pool| sqlx::query(
            "UPDATE runs SET status = 'QUEUED', lease_owner = NULL, lease_until = NULL, \
             updated_at = $2 WHERE id = $1 AND status = 'IN_PROGRESS'"
        )
        .bind(id)
        .bind(crate::now())
        .execute(pool)
        .await
        .map(drop))
        .map_err(err("queue a run again"))
    }

    /// Leases run `id` to `owner` for `lease` whoever holds it now, unless it completed.
    pub async fn take_over(
        &self,
        id: &str,
        owner: &str,
        lease: Duration,
    ) -> Result<bool, StoreError> {
        on_pool!(self.pool, |pool| sqlx::query(
            "UPDATE runs SET lease_owner = $2, lease_until = $3 \
             WHERE id = $1 AND status = 'IN_PROGRESS'"
        )
        .bind(id)
        .bind(owner)
        .bind(lease_until(lease))
        .execute(pool)
        .await
        .map(|done| done.rows_affected() == 1))
        .map_err(err("take a run over"))
    }

    /// Extends `owner`'s lease on run `id` by `lease`; `false` when it lost the lease.
    pub async fn renew(&self, id: &str, owner: &str, lease: Duration) -> Result<bool, StoreError> {
        on_pool!(self.pool, |pool| sqlx::query(
            "UPDATE runs SET lease_until = $3 WHERE id = $1 AND lease_owner = $2"
        )
        .bind(id)
        .bind(owner)
        .bind(lease_until(lease))
        .execute(pool)
        .await
        .map(|done| done.rows_affected() == 1))
        .map_err(err("renew a lease"))
    }

    /// Ends `owner`'s lease on run `id`.
    pub async fn release(&self, id: &str, owner: &str) -> Result<(), StoreError> {
        on_pool!(self.pool, |pool| sqlx::query(
            "UPDATE runs SET lease_owner = NULL, lease_until = NULL \
             WHERE id = $1 AND lease_owner = $2"
        )
        .bind(id)
        .bind(owner)
        .execute(pool)
        .await
        .map(drop))
        .map_err(err("release a lease"))
    }

    /// Expires the leases held by owners named `prefix`…, for a store only one `serve`
    /// process uses (such leases are a stopped process's); other processes' leases stay.
    pub async fn expire_leases(&self, prefix: &str) -> Result<(), StoreError> {
        on_pool!(self.pool, |pool| sqlx::query(
            "UPDATE runs SET lease_until = NULL WHERE lease_owner LIKE $1 || '%'"
        )
        .bind(prefix)
        .execute(pool)
        .await
        .map(drop))
        .map_err(err("expire leases"))
    }

    /// Deletes every row, keeping the schema (and the connection's prepared statements): how
    /// `wflow test` reuses a store in memory from one case to the next.
    pub async fn clear(&self) -> Result<(), StoreError> {
        const DELETES: [&str; 7] = [
            "DELETE FROM responses",
            "DELETE FROM logs",
            "DELETE FROM node_runs",
            "DELETE FROM runs",
            "DELETE FROM entities",
            "DELETE FROM blueprints",
            "DELETE FROM fired_timers",
        ];
        for delete in DELETES {
            on_pool!(self.pool, |pool| sqlx::query(delete)
                .execute(pool)
                .await
                .map(drop))
            .map_err(err("clear the store"))?;
        }
        Ok(())
    }

    /// A listener for runs becoming due; `None` on SQLite (one process, nobody to hear).
    pub async fn listen_due(&self) -> Result<Option<DueListener>, StoreError> {
        let Pool::Postgres(pool) = &self.pool else {
            return Ok(None);
        };
        let mut listener = sqlx::postgres::PgListener::connect_with(pool)
            .await
            .map_err(err("listen for due runs"))?;
        listener
            .listen(DUE_CHANNEL)
            .await
            .map_err(err("listen for due runs"))?;
        Ok(Some(DueListener(listener)))
    }

    /// The runs still in progress, oldest first.
    pub async fn unfinished_runs(&self) -> Result<Vec<RunRecord>, StoreError> {
        on_pool!(self.reads, |pool| sqlx::query(
            "SELECT * FROM runs WHERE status = 'IN_PROGRESS' ORDER BY created_at"
        )
        .fetch_all(pool)
        .await
        .and_then(|rows| rows.iter().map(run_record).collect()))
        .map_err(err("list runs"))
    }

    /// The run `id`.
    pub async fn run(&self, id: &str) -> Result<Option<RunRecord>, StoreError> {
        on_pool!(self.reads, |pool| sqlx::query(
            "SELECT * FROM runs WHERE id = $1"
        )
        .bind(id)
        .fetch_optional(pool)
        .await
        .and_then(|r| r.map(|r| run_record(&r)).transpose()))
        .map_err(err("read a run"))
    }

    /// The newest `limit` runs, newest first.
    pub async fn runs(&self, limit: i64) -> Result<Vec<RunRecord>, StoreError> {
        on_pool!(self.reads, |pool| sqlx::query(
            "SELECT * FROM runs ORDER BY created_at DESC, id DESC LIMIT $1"
        )
        .bind(limit)
        .fetch_all(pool)
        .await
        .and_then(|rows| rows.iter().map(run_record).collect()))
        .map_err(err("list runs"))
    }

    /// The newest `limit` runs of `workflow` (all when `None`) whose status or result is
    /// `status` and that `created_by` started (case ignored), newest first.
    pub async fn runs_matching(
        &self,
        workflow: Option<&str>,
        status: Option<&str>,
        created_by: Option<&str>,
        limit: i64,
    ) -> Result<Vec<RunRecord>, StoreError> {
        on_pool!(self.reads, |pool| sqlx::query(
            "SELECT * FROM runs WHERE ($1 IS NULL OR workflow = $1) \
             AND ($2 IS NULL OR upper(status) = upper($2) OR upper(result) = upper($2)) \
             AND ($3 IS NULL OR lower(created_by) = lower($3)) \
             ORDER BY created_at DESC, id DESC LIMIT $4"
        )
        .bind(workflow)
        .bind(status)
        .bind(created_by)
        .bind(limit)
        .fetch_all(pool)
        .await
        .and_then(|rows| rows.iter().map(run_record).collect()))
        .map_err(err("list runs"))
    }

    /// The node runs of run `id`, in start order.
    pub async fn node_runs(&self, run_id: &str) -> Result<Vec<NodeRunRecord>, StoreError> {
        on_pool!(self.reads, |pool| sqlx::query(
            "SELECT * FROM node_runs WHERE run_id = $1 ORDER BY seq"
        )
        .bind(run_id)
        .fetch_all(pool)
        .await
        .and_then(|rows| rows.iter().map(node_run_record).collect()))
        .map_err(err("read node runs"))
    }

    /// The node runs of unfinished runs that wait for a response or an outside completion,
    /// oldest first, at most `limit`.
    pub async fn waiting_node_runs(&self, limit: i64) -> Result<Vec<NodeRunRecord>, StoreError> {
        on_pool!(self.reads, |pool| sqlx::query(
            "SELECT n.* FROM node_runs n JOIN runs r ON r.id = n.run_id \
             WHERE r.status = 'IN_PROGRESS' AND n.waiting AND n.status = 'IN_PROGRESS' \
             ORDER BY n.created_at, n.id LIMIT $1"
        )
        .bind(limit)
        .fetch_all(pool)
        .await
        .and_then(|rows| rows.iter().map(node_run_record).collect()))
        .map_err(err("list waiting node runs"))
    }

    /// The log lines of run `id`, oldest first.
    pub async fn logs(&self, run_id: &str) -> Result<Vec<LogRecord>, StoreError> {
        on_pool!(self.reads, |pool| sqlx::query(
            "SELECT node, level, message, at FROM logs WHERE run_id = $1 ORDER BY rowid",
        )
        .bind(run_id)
        .fetch_all(pool)
        .await
        .and_then(|rows| {
            rows.iter()
                .map(|r| {
                    Ok(LogRecord {
                        node: r.text("node")?,
                        level: r.text("level")?,
                        message: r.text("message")?,
                        at: r.text("at")?,
                    })
                })
                .collect()
        }))
        .map_err(err("read logs"))
    }

    /// The responses to the INPUT node `node` of run `run_id`, oldest first.
    pub async fn responses(
        &self,
        run_id: &str,
        node: &str,
    ) -> Result<Vec<ResponseRecord>, StoreError> {
        on_pool!(self.reads, |pool| sqlx::query(
            "SELECT responder, button, inputs, at FROM responses WHERE run_id = $1 AND node = $2 \
             ORDER BY at, rowid",
        )
        .bind(run_id)
        .bind(node)
        .fetch_all(pool)
        .await
        .and_then(|rows| {
            rows.iter()
                .map(|r| {
                    Ok(ResponseRecord {
                        responder: r.text("responder")?,
                        button: r.text("button")?,
                        inputs: r.json("inputs")?,
                        at: r.text("at")?,
                    })
                })
                .collect()
        }))
        .map_err(err("read responses"))
    }

    /// The blueprint `id`.
    pub async fn blueprint(&self, id: &str) -> Result<Option<Json>, StoreError> {
        on_pool!(self.reads, |pool| sqlx::query(
            "SELECT body FROM blueprints WHERE identifier = $1"
        )
        .bind(id)
        .fetch_optional(pool)
        .await
        .and_then(|r| r.map(|r| r.json("body")).transpose()))
        .map_err(err("read a blueprint"))
    }

    /// Blueprint `blueprint` and its entity `identifier` (`None` when there is none), in one
    /// read: what an upsert needs; `None` when the blueprint is not in the store.
    pub async fn blueprint_and_entity(
        &self,
        blueprint: &str,
        identifier: &str,
    ) -> Result<Option<(Json, Option<Json>)>, StoreError> {
        on_pool!(self.reads, |pool| sqlx::query(
            "SELECT b.body AS blueprint, e.body AS entity FROM blueprints b \
             LEFT JOIN entities e ON e.blueprint = b.identifier AND e.identifier = $2 \
             WHERE b.identifier = $1"
        )
        .bind(blueprint)
        .bind(identifier)
        .fetch_optional(pool)
        .await
        .and_then(|r| {
            r.map(|r| Ok((r.json("blueprint")?, r.opt_json("entity")?)))
                .transpose()
        }))
        .map_err(err("read a blueprint and its entity"))
    }

    /// Every blueprint, by identifier.
    pub async fn blueprints(&self) -> Result<Vec<Json>, StoreError> {
        on_pool!(self.reads, |pool| sqlx::query(
            "SELECT body FROM blueprints ORDER BY identifier"
        )
        .fetch_all(pool)
        .await
        .and_then(|rows| rows.iter().map(|r| r.json("body")).collect()))
        .map_err(err("list blueprints"))
    }

    /// The entity `identifier` of `blueprint`.
    pub async fn entity(
        &self,
        blueprint: &str,
        identifier: &str,
    ) -> Result<Option<Json>, StoreError> {
        on_pool!(self.reads, |pool| sqlx::query(ENTITY_BODY)
            .bind(blueprint)
            .bind(identifier)
            .fetch_optional(pool)
            .await
            .and_then(|r| r.map(|r| r.json("body")).transpose()))
        .map_err(err("read an entity"))
    }

    /// The entities of `blueprint` (all blueprints when `None`).
    pub async fn entities(&self, blueprint: Option<&str>) -> Result<Vec<Json>, StoreError> {
        on_pool!(self.reads, |pool| sqlx::query(
            "SELECT body FROM entities WHERE $1 IS NULL OR blueprint = $1 \
             ORDER BY blueprint, identifier",
        )
        .bind(blueprint)
        .fetch_all(pool)
        .await
        .and_then(|rows| rows.iter().map(|r| r.json("body")).collect()))
        .map_err(err("list entities"))
    }

    /// Records that the timer `key` fired; `false` when it was recorded before (so a timer
    /// fires once, across restarts and processes).
    pub async fn claim_timer(&self, key: &str, at: &str) -> Result<bool, StoreError> {
        on_pool!(self.pool, |pool| sqlx::query(
            "INSERT INTO fired_timers (key, at) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING"
        )
        .bind(key)
        .bind(at)
        .execute(pool)
        .await
        .map(|done| done.rows_affected() == 1))
        .map_err(err("record a fired timer"))
    }

    /// Closes the store (checkpointing SQLite's WAL).
    pub async fn close(self) {
        on_pool!(self.reads, |pool| pool.close().await);
        on_pool!(self.pool, |pool| pool.close().await)
    }
}

/// Brings the schema of the store behind `pool` up to date.
async fn migrate(pool: &Pool, location: &str) -> Result<(), StoreError> {
    match pool {
        Pool::Sqlite(pool) => {
            let mut tx = pool.begin().await.map_err(err("begin"))?;
            let have: i64 = sqlx::query("PRAGMA user_version")
                .fetch_one(&mut *tx)
                .await
                .and_then(|r| r.try_get(0))
                .map_err(err("read the schema version"))?;
            let todo = pending(have, SQLITE_MIGRATIONS, location)?;
            for m in todo {
                sqlx::raw_sql(*m)
                    .execute(&mut *tx)
                    .await
                    .map_err(err("migrate"))?;
            }
            if !todo.is_empty() {
                sqlx::query(SQLITE_SET_VERSION)
                    .execute(&mut *tx)
                    .await
                    .map_err(err("record the schema version"))?;
            }
            tx.commit().await.map_err(err("commit"))
        }
        Pool::Postgres(pool) => {
            let mut tx = pool.begin().await.map_err(err("begin"))?;
            // Several `serve` processes may start together: one migrates, the others wait.
            sqlx::query("SELECT pg_advisory_xact_lock($1)")
                .bind(MIGRATION_LOCK)
                .execute(&mut *tx)
                .await
                .map_err(err("lock the schema"))?;
            sqlx::raw_sql("CREATE TABLE IF NOT EXISTS wflow_schema (version BIGINT NOT NULL)")
                .execute(&mut *tx)
                .await
                .map_err(err("create the schema version table"))?;
            let have: i64 =
                sqlx::query("SELECT COALESCE(MAX(version), 0) AS version FROM wflow_schema")
                    .fetch_one(&mut *tx)
                    .await
                    .and_then(|r| r.try_get("version"))
                    .map_err(err("read the schema version"))?;
            let todo = pending(have, POSTGRES_MIGRATIONS, location)?;
            for m in todo {
                sqlx::raw_sql(*m)
                    .execute(&mut *tx)
                    .await
                    .map_err(err("migrate"))?;
            }
            if !todo.is_empty() {
                sqlx::raw_sql("DELETE FROM wflow_schema")
                    .execute(&mut *tx)
                    .await
                    .map_err(err("record the schema version"))?;
                sqlx::query("INSERT INTO wflow_schema (version) VALUES ($1)")
                    .bind(i64::try_from(POSTGRES_MIGRATIONS.len()).unwrap_or(i64::MAX))
                    .execute(&mut *tx)
                    .await
                    .map_err(err("record the schema version"))?;
            }
            tx.commit().await.map_err(err("commit"))
        }
    }
}

/// The migrations after the first `have`, or an error when the store is newer than this
/// build.
fn pending<'m>(
    have: i64,
    migrations: &'m [&'m str],
    location: &str,
) -> Result<&'m [&'m str], StoreError> {
    let have = usize::try_from(have).unwrap_or(0);
    migrations.get(have..).ok_or_else(|| {
        StoreError(format!(
            "the store {} was written by a newer wflow (schema {have}, this one knows {}); \
             upgrade wflow or use another --store",
            location,
            migrations.len()
        ))
    })
}

/// Reads an entity's body.
const ENTITY_BODY: &str = "SELECT body FROM entities WHERE blueprint = $1 AND identifier = $2";

/// The columns the committer reads of the entities a group writes.
const ENTITY_BODY_COLUMNS: &str = "blueprint, identifier, body";

/// Most queued runs of a workflow one admission reads (oldest first).
const QUEUE_READ: i64 = 10_000;

/// Prepared statements a SQLite connection keeps (sqlx's default is 100): the committer's
/// batch shapes and its reads of 1 to 64 runs or entities.
const STATEMENT_CACHE: usize = 512;

/// Read-only SQLite connections beside the writer.
const SQLITE_READERS: u32 = 4;

/// Batches waiting for the committer before [`Store::apply`] waits to hand over its own.
const COMMIT_QUEUE: usize = 1024;

/// The entity `w` writes and its new body (`None` when deleted), if `w` writes an entity.
fn entity_write(w: &Write) -> Option<(&String, &String, Option<&Json>)> {
    match w {
        Write::PutEntity {
            blueprint,
            identifier,
            body,
            ..
        } => Some((blueprint, identifier, Some(body))),
        Write::DeleteEntity {
            blueprint,
            identifier,
        } => Some((blueprint, identifier, None)),
        _ => None,
    }
}

/// The column reads of both backends' rows.
trait StoreRow {
    fn text(&self, column: &str) -> Result<String, sqlx::Error>;
    fn opt_text(&self, column: &str) -> Result<Option<String>, sqlx::Error>;
    fn flag(&self, column: &str) -> Result<bool, sqlx::Error>;
    fn int(&self, column: &str) -> Result<i64, sqlx::Error>;
    fn opt_int(&self, column: &str) -> Result<Option<i64>, sqlx::Error>;
    fn json(&self, column: &str) -> Result<Json, sqlx::Error>;
    fn opt_json(&self, column: &str) -> Result<Option<Json>, sqlx::Error>;

    /// A status or result column, read as its type.
    fn spelled<T: FromStr<Err = UnknownStatus>>(&self, column: &str) -> Result<T, sqlx::Error> {
        self.text(column)?
            .parse()
            .map_err(|e| sqlx::Error::Decode(Box::new(e)))
    }

    fn opt_spelled<T: FromStr<Err = UnknownStatus>>(
        &self,
        column: &str,
    ) -> Result<Option<T>, sqlx::Error> {
        self.opt_text(column)?
            .map(|t| t.parse().map_err(|e| sqlx::Error::Decode(Box::new(e))))
            .transpose()
    }
}

macro_rules! store_row {
    ($($row:ty),*) => {$(
        impl StoreRow for $row {
            fn text(&self, column: &str) -> Result<String, sqlx::Error> {
                self.try_get(column)
            }
            fn opt_text(&self, column: &str) -> Result<Option<String>, sqlx::Error> {
                self.try_get(column)
            }
            fn flag(&self, column: &str) -> Result<bool, sqlx::Error> {
                self.try_get(column)
            }
            fn int(&self, column: &str) -> Result<i64, sqlx::Error> {
                self.try_get(column)
            }
            fn opt_int(&self, column: &str) -> Result<Option<i64>, sqlx::Error> {
                self.try_get(column)
            }
            fn json(&self, column: &str) -> Result<Json, sqlx::Error> {
                self.try_get::<JsonArg<Json>, _>(column).map(|j| j.0)
            }
            fn opt_json(&self, column: &str) -> Result<Option<Json>, sqlx::Error> {
                self.try_get::<Option<JsonArg<Json>>, _>(column).map(|j| j.map(|j| j.0))
            }
        }
    )*};
}

store_row!(SqliteRow, PgRow);

fn run_record(r: &impl StoreRow) -> Result<RunRecord, sqlx::Error> {
    Ok(RunRecord {
        id: r.text("id")?,
        workflow: r.text("workflow")?,
        source: r.text("source")?,
        syntax: r.text("syntax")?,
        source_path: r.text("source_path")?,
        trigger_node: r.text("trigger_node")?,
        trigger_payload: r.json("trigger_payload")?,
        status: r.spelled("status")?,
        result: r.opt_spelled("result")?,
        error: r.opt_text("error")?,
        created_by: r.opt_text("created_by")?,
        cancel_requested: r.flag("cancel_requested")?,
        created_at: r.text("created_at")?,
        updated_at: r.text("updated_at")?,
        completed_at: r.opt_text("completed_at")?,
        concurrency: r.opt_int("concurrency")?,
        concurrency_key: r.opt_text("concurrency_key")?,
    })
}

fn node_run_record(r: &impl StoreRow) -> Result<NodeRunRecord, sqlx::Error> {
    Ok(NodeRunRecord {
        id: r.text("id")?,
        run_id: r.text("run_id")?,
        node: r.text("node")?,
        seq: r.int("seq")?,
        status: r.spelled("status")?,
        result: r.opt_spelled("result")?,
        output: r.opt_json("output")?,
        outlet: r.opt_text("outlet")?,
        fallback: r.flag("fallback")?,
        waiting: r.flag("waiting")?,
        created_at: r.text("created_at")?,
        updated_at: r.text("updated_at")?,
        completed_at: r.opt_text("completed_at")?,
        attempts: r
            .opt_json("attempts")?
            .map(serde_json::from_value)
            .transpose()
            .map_err(|e| sqlx::Error::Decode(Box::new(e)))?
            .unwrap_or_default(),
        deadline: r.opt_text("deadline")?,
        request: r.opt_json("request")?,
    })
}

#[cfg(test)]
mod tests {
    use super::mask_password;

    #[test]
    fn masks_the_password_of_a_postgres_url() {
        assert_eq!(
            mask_password("postgres://wflow:s3cret@db:5432/wflow?sslmode=require"),
            "postgres://wflow:***@db:5432/wflow?sslmode=require"
        );
        assert_eq!(
            mask_password("postgres://wflow@db/wflow"),
            "postgres://wflow@db/wflow"
        );
        assert_eq!(mask_password("postgres://db/x"), "postgres://db/x");
    }
}
