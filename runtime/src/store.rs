//! The embedded store: runs, node runs, logs, approval responses and the catalog, in one
//! SQLite file (WAL mode). Writes are grouped into transactions by the engine ([`Write`]).

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use serde_json::Value as Json;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqlitePool};

/// Schema migrations, applied in order; `PRAGMA user_version` records how many ran.
const MIGRATIONS: &[&str] = &[r#"
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
"#];

/// Records that every migration ran (PRAGMA takes no bound parameters); keep it equal to
/// `MIGRATIONS.len()`.
const SET_VERSION: &str = "PRAGMA user_version = 1";
const _: () = assert!(MIGRATIONS.len() == 1);

/// A store error, naming the file and what failed.
#[derive(Debug)]
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
    /// `IN_PROGRESS` or `COMPLETED`.
    pub status: String,
    /// `SUCCESS`, `FAILED`, `CANCELLED`; `None` while in progress.
    pub result: Option<String>,
    pub error: Option<String>,
    pub created_by: Option<String>,
    pub cancel_requested: bool,
    pub created_at: String,
    pub updated_at: String,
    pub completed_at: Option<String>,
}

/// A node run as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeRunRecord {
    pub id: String,
    pub run_id: String,
    pub node: String,
    /// Start order within the run.
    pub seq: i64,
    pub status: String,
    pub result: Option<String>,
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
        status: String,
        result: Option<String>,
        error: Option<String>,
        at: String,
    },
    RequestCancel {
        id: String,
        at: String,
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

/// The SQLite store.
#[derive(Clone)]
pub struct Store {
    pool: SqlitePool,
    changes: Option<tokio::sync::mpsc::UnboundedSender<EntityChange>>,
}

impl Store {
    /// Opens (creating if needed) the store at `path` and brings its schema up to date.
    pub async fn open(path: &Path) -> Result<Store, StoreError> {
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
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(opts)
            .await
            .map_err(|e| StoreError(format!("cannot open the store {}: {e}", path.display())))?;
        let store = Store {
            pool,
            changes: None,
        };
        store.migrate().await?;
        Ok(store)
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(err("begin"))?;
        let version: i64 = sqlx::query("PRAGMA user_version")
            .fetch_one(&mut *tx)
            .await
            .and_then(|r| r.try_get(0))
            .map_err(err("read the schema version"))?;
        let have = usize::try_from(version).unwrap_or(0);
        if have > MIGRATIONS.len() {
            return Err(StoreError(format!(
                "the store was written by a newer wflow (schema {have}, this one knows {}); \
                 upgrade wflow or use another --store",
                MIGRATIONS.len()
            )));
        }
        for m in &MIGRATIONS[have..] {
            sqlx::raw_sql(*m)
                .execute(&mut *tx)
                .await
                .map_err(err("migrate"))?;
        }
        if have < MIGRATIONS.len() {
            sqlx::query(SET_VERSION)
                .execute(&mut *tx)
                .await
                .map_err(err("record the schema version"))?;
        }
        tx.commit().await.map_err(err("commit"))
    }

    /// Reports every entity change [`Store::apply`] commits to `tx` from now on.
    pub fn with_entity_changes(
        mut self,
        tx: tokio::sync::mpsc::UnboundedSender<EntityChange>,
    ) -> Store {
        self.changes = Some(tx);
        self
    }

    /// Applies `writes` in one transaction.
    pub async fn apply(&self, writes: &[Write]) -> Result<(), StoreError> {
        if writes.is_empty() {
            return Ok(());
        }
        let mut tx = self.pool.begin().await.map_err(err("begin"))?;
        let mut changes = Vec::new();
        for w in writes {
            if self.changes.is_some()
                && let Some(change) = entity_change(&mut tx, w).await?
            {
                changes.push(change);
            }
            let q = match w {
                Write::InsertRun(r) => sqlx::query(
                    "INSERT INTO runs (id, workflow, source, syntax, source_path, trigger_node, \
                     trigger_payload, status, result, error, created_by, cancel_requested, \
                     created_at, updated_at, completed_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
                )
                .bind(&r.id)
                .bind(&r.workflow)
                .bind(&r.source)
                .bind(&r.syntax)
                .bind(&r.source_path)
                .bind(&r.trigger_node)
                .bind(r.trigger_payload.to_string())
                .bind(&r.status)
                .bind(&r.result)
                .bind(&r.error)
                .bind(&r.created_by)
                .bind(r.cancel_requested)
                .bind(&r.created_at)
                .bind(&r.updated_at)
                .bind(&r.completed_at),
                Write::FinishRun {
                    id,
                    status,
                    result,
                    error,
                    at,
                } => sqlx::query(
                    "UPDATE runs SET status = $2, result = $3, error = $4, updated_at = $5, \
                     completed_at = CASE WHEN $2 = 'COMPLETED' THEN $5 ELSE NULL END \
                     WHERE id = $1",
                )
                .bind(id)
                .bind(status)
                .bind(result)
                .bind(error)
                .bind(at),
                Write::RequestCancel { id, at } => {
                    sqlx::query("UPDATE runs SET cancel_requested = 1, updated_at = $2 WHERE id = $1")
                        .bind(id)
                        .bind(at)
                }
                Write::PutNodeRun(n) => sqlx::query(
                    "INSERT INTO node_runs (id, run_id, node, seq, status, result, output, outlet, \
                     fallback, waiting, created_at, updated_at, completed_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) \
                     ON CONFLICT (id) DO UPDATE SET status = excluded.status, \
                     result = excluded.result, output = excluded.output, outlet = excluded.outlet, \
                     fallback = excluded.fallback, waiting = excluded.waiting, \
                     updated_at = excluded.updated_at, completed_at = excluded.completed_at",
                )
                .bind(&n.id)
                .bind(&n.run_id)
                .bind(&n.node)
                .bind(n.seq)
                .bind(&n.status)
                .bind(&n.result)
                .bind(n.output.as_ref().map(Json::to_string))
                .bind(&n.outlet)
                .bind(n.fallback)
                .bind(n.waiting)
                .bind(&n.created_at)
                .bind(&n.updated_at)
                .bind(&n.completed_at),
                Write::Log { run_id, record } => sqlx::query(
                    "INSERT INTO logs (run_id, node, level, message, at) VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(run_id)
                .bind(&record.node)
                .bind(&record.level)
                .bind(&record.message)
                .bind(&record.at),
                Write::PutEntity {
                    blueprint,
                    identifier,
                    body,
                    at,
                } => sqlx::query(
                    "INSERT INTO entities (blueprint, identifier, body, updated_at) \
                     VALUES ($1, $2, $3, $4) ON CONFLICT (blueprint, identifier) \
                     DO UPDATE SET body = excluded.body, updated_at = excluded.updated_at",
                )
                .bind(blueprint)
                .bind(identifier)
                .bind(body.to_string())
                .bind(at),
                Write::PutBlueprint { identifier, body } => sqlx::query(
                    "INSERT INTO blueprints (identifier, body) VALUES ($1, $2) \
                     ON CONFLICT (identifier) DO UPDATE SET body = excluded.body",
                )
                .bind(identifier)
                .bind(body.to_string()),
                Write::Response {
                    run_id,
                    node,
                    record,
                } => sqlx::query(
                    "INSERT INTO responses (run_id, node, responder, button, inputs, at) \
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(run_id)
                .bind(node)
                .bind(&record.responder)
                .bind(&record.button)
                .bind(record.inputs.to_string())
                .bind(&record.at),
                Write::DeleteEntity {
                    blueprint,
                    identifier,
                } => sqlx::query("DELETE FROM entities WHERE blueprint = $1 AND identifier = $2")
                    .bind(blueprint)
                    .bind(identifier),
                Write::DeleteBlueprint { identifier } => {
                    sqlx::query("DELETE FROM blueprints WHERE identifier = $1").bind(identifier)
                }
            };
            q.execute(&mut *tx).await.map_err(err("write"))?;
        }
        tx.commit().await.map_err(err("commit"))?;
        if let Some(sender) = &self.changes {
            let run_id = writes.iter().find_map(|w| match w {
                Write::PutNodeRun(n) => Some(n.run_id.clone()),
                _ => None,
            });
            for mut c in changes {
                c.run_id.clone_from(&run_id);
                // A closed receiver means nobody listens any more (the server stopped).
                let _ = sender.send(c);
            }
        }
        Ok(())
    }

    /// The id of the run that node run `node_run_id` belongs to.
    pub async fn node_run_owner(&self, node_run_id: &str) -> Result<Option<String>, StoreError> {
        let row = sqlx::query("SELECT run_id FROM node_runs WHERE id = $1")
            .bind(node_run_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(err("read a node run"))?;
        row.map(|r| r.try_get::<String, _>(0))
            .transpose()
            .map_err(err("read a node run"))
    }

    /// The newest run of `workflow` fired by trigger `trigger`.
    pub async fn last_run(
        &self,
        workflow: &str,
        trigger: &str,
    ) -> Result<Option<RunRecord>, StoreError> {
        let row = sqlx::query(
            "SELECT * FROM runs WHERE workflow = $1 AND trigger_node = $2 \
             ORDER BY created_at DESC, id DESC LIMIT 1",
        )
        .bind(workflow)
        .bind(trigger)
        .fetch_optional(&self.pool)
        .await
        .map_err(err("read a run"))?;
        row.map(|r| run_record(&r)).transpose()
    }

    /// The runs still in progress, oldest first.
    pub async fn unfinished_runs(&self) -> Result<Vec<RunRecord>, StoreError> {
        let rows =
            sqlx::query("SELECT * FROM runs WHERE status = 'IN_PROGRESS' ORDER BY created_at")
                .fetch_all(&self.pool)
                .await
                .map_err(err("list runs"))?;
        rows.iter().map(run_record).collect()
    }

    /// The run `id`.
    pub async fn run(&self, id: &str) -> Result<Option<RunRecord>, StoreError> {
        let row = sqlx::query("SELECT * FROM runs WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(err("read a run"))?;
        row.map(|r| run_record(&r)).transpose()
    }

    /// The newest `limit` runs, newest first.
    pub async fn runs(&self, limit: i64) -> Result<Vec<RunRecord>, StoreError> {
        let rows = sqlx::query("SELECT * FROM runs ORDER BY created_at DESC, id DESC LIMIT $1")
            .bind(limit)
            .fetch_all(&self.pool)
            .await
            .map_err(err("list runs"))?;
        rows.iter().map(run_record).collect()
    }

    /// Whether cancelling run `id` was requested.
    pub async fn cancel_requested(&self, id: &str) -> Result<bool, StoreError> {
        let row = sqlx::query("SELECT cancel_requested FROM runs WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(err("read a run"))?;
        Ok(row
            .and_then(|r| r.try_get::<bool, _>(0).ok())
            .unwrap_or(false))
    }

    /// The node runs of run `id`, in start order.
    pub async fn node_runs(&self, run_id: &str) -> Result<Vec<NodeRunRecord>, StoreError> {
        let rows = sqlx::query("SELECT * FROM node_runs WHERE run_id = $1 ORDER BY seq")
            .bind(run_id)
            .fetch_all(&self.pool)
            .await
            .map_err(err("read node runs"))?;
        rows.iter()
            .map(|r| {
                let g = |c: &str| r.try_get::<String, _>(c).map_err(err("read a node run"));
                let o = |c: &str| {
                    r.try_get::<Option<String>, _>(c)
                        .map_err(err("read a node run"))
                };
                Ok(NodeRunRecord {
                    id: g("id")?,
                    run_id: g("run_id")?,
                    node: g("node")?,
                    seq: r.try_get("seq").map_err(err("read a node run"))?,
                    status: g("status")?,
                    result: o("result")?,
                    output: o("output")?.map(|s| parse_json(&s)),
                    outlet: o("outlet")?,
                    fallback: r.try_get("fallback").map_err(err("read a node run"))?,
                    waiting: r.try_get("waiting").map_err(err("read a node run"))?,
                    created_at: g("created_at")?,
                    updated_at: g("updated_at")?,
                    completed_at: o("completed_at")?,
                })
            })
            .collect()
    }

    /// The log lines of run `id`, oldest first.
    pub async fn logs(&self, run_id: &str) -> Result<Vec<LogRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT node, level, message, at FROM logs WHERE run_id = $1 ORDER BY rowid",
        )
        .bind(run_id)
        .fetch_all(&self.pool)
        .await
        .map_err(err("read logs"))?;
        rows.iter()
            .map(|r| {
                let g = |c: &str| r.try_get::<String, _>(c).map_err(err("read a log line"));
                Ok(LogRecord {
                    node: g("node")?,
                    level: g("level")?,
                    message: g("message")?,
                    at: g("at")?,
                })
            })
            .collect()
    }

    /// The responses to the INPUT node `node` of run `run_id`, oldest first.
    pub async fn responses(
        &self,
        run_id: &str,
        node: &str,
    ) -> Result<Vec<ResponseRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT responder, button, inputs, at FROM responses WHERE run_id = $1 AND node = $2 \
             ORDER BY at, rowid",
        )
        .bind(run_id)
        .bind(node)
        .fetch_all(&self.pool)
        .await
        .map_err(err("read responses"))?;
        rows.iter()
            .map(|r| {
                let g = |c: &str| r.try_get::<String, _>(c).map_err(err("read a response"));
                Ok(ResponseRecord {
                    responder: g("responder")?,
                    button: g("button")?,
                    inputs: parse_json(&g("inputs")?),
                    at: g("at")?,
                })
            })
            .collect()
    }

    /// The blueprint `id`.
    pub async fn blueprint(&self, id: &str) -> Result<Option<Json>, StoreError> {
        let row = sqlx::query("SELECT body FROM blueprints WHERE identifier = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(err("read a blueprint"))?;
        row.map(|r| r.try_get::<String, _>(0).map(|s| parse_json(&s)))
            .transpose()
            .map_err(err("read a blueprint"))
    }

    /// Every blueprint, by identifier.
    pub async fn blueprints(&self) -> Result<Vec<Json>, StoreError> {
        let rows = sqlx::query("SELECT body FROM blueprints ORDER BY identifier")
            .fetch_all(&self.pool)
            .await
            .map_err(err("list blueprints"))?;
        rows.iter()
            .map(|r| r.try_get::<String, _>(0).map(|s| parse_json(&s)))
            .collect::<Result<_, _>>()
            .map_err(err("list blueprints"))
    }

    /// The entity `identifier` of `blueprint`.
    pub async fn entity(
        &self,
        blueprint: &str,
        identifier: &str,
    ) -> Result<Option<Json>, StoreError> {
        let row = sqlx::query("SELECT body FROM entities WHERE blueprint = $1 AND identifier = $2")
            .bind(blueprint)
            .bind(identifier)
            .fetch_optional(&self.pool)
            .await
            .map_err(err("read an entity"))?;
        row.map(|r| r.try_get::<String, _>(0).map(|s| parse_json(&s)))
            .transpose()
            .map_err(err("read an entity"))
    }

    /// The entities of `blueprint` (all blueprints when `None`).
    pub async fn entities(&self, blueprint: Option<&str>) -> Result<Vec<Json>, StoreError> {
        let rows = sqlx::query(
            "SELECT body FROM entities WHERE $1 IS NULL OR blueprint = $1 \
             ORDER BY blueprint, identifier",
        )
        .bind(blueprint)
        .fetch_all(&self.pool)
        .await
        .map_err(err("list entities"))?;
        rows.iter()
            .map(|r| r.try_get::<String, _>(0).map(|s| parse_json(&s)))
            .collect::<Result<_, _>>()
            .map_err(err("list entities"))
    }

    /// Closes the store, checkpointing the WAL.
    pub async fn close(self) {
        self.pool.close().await;
    }
}

/// The change `w` makes to an entity, read inside the transaction before `w` is applied.
async fn entity_change(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    w: &Write,
) -> Result<Option<EntityChange>, StoreError> {
    let (blueprint, identifier, after) = match w {
        Write::PutEntity {
            blueprint,
            identifier,
            body,
            ..
        } => (blueprint, identifier, Some(body.clone())),
        Write::DeleteEntity {
            blueprint,
            identifier,
        } => (blueprint, identifier, None),
        _ => return Ok(None),
    };
    let before = sqlx::query("SELECT body FROM entities WHERE blueprint = $1 AND identifier = $2")
        .bind(blueprint)
        .bind(identifier)
        .fetch_optional(&mut **tx)
        .await
        .map_err(err("read an entity"))?
        .map(|r| r.try_get::<String, _>(0).map(|s| parse_json(&s)))
        .transpose()
        .map_err(err("read an entity"))?;
    if before.is_none() && after.is_none() {
        return Ok(None);
    }
    Ok(Some(EntityChange {
        blueprint: blueprint.clone(),
        identifier: identifier.clone(),
        before,
        after,
        run_id: None,
    }))
}

fn parse_json(s: &str) -> Json {
    serde_json::from_str(s).unwrap_or(Json::String(s.to_string()))
}

fn run_record(r: &sqlx::sqlite::SqliteRow) -> Result<RunRecord, StoreError> {
    let g = |c: &str| r.try_get::<String, _>(c).map_err(err("read a run"));
    let o = |c: &str| r.try_get::<Option<String>, _>(c).map_err(err("read a run"));
    Ok(RunRecord {
        id: g("id")?,
        workflow: g("workflow")?,
        source: g("source")?,
        syntax: g("syntax")?,
        source_path: g("source_path")?,
        trigger_node: g("trigger_node")?,
        trigger_payload: parse_json(&g("trigger_payload")?),
        status: g("status")?,
        result: o("result")?,
        error: o("error")?,
        created_by: o("created_by")?,
        cancel_requested: r.try_get("cancel_requested").map_err(err("read a run"))?,
        created_at: g("created_at")?,
        updated_at: g("updated_at")?,
        completed_at: o("completed_at")?,
    })
}
