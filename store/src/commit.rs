//! Group commit. Every [`Store::apply`](super::Store::apply) of a process hands its batch to
//! one committer task, which writes all the batches waiting at that moment in one
//! transaction: under load, many runs share one commit and one round trip to the database
//! instead of a dozen each. A batch that cannot be written (its run's lease is gone, or a
//! statement fails) fails alone: the group is retried batch by batch.
//!
//! A group is: begin; one read of the runs whose node runs the batches write (their leases,
//! and whether cancelling them was asked); one read of the entities they write, when entity
//! changes are reported; the writes; commit. On SQLite the writes are one multi-statement
//! query per batch, prepared once per shape of batch (a run's batches have a few shapes): a
//! round trip to SQLite's thread costs less than parsing the statements again. On PostgreSQL
//! they are its prepared statements, one by one.

use std::collections::{HashMap, HashSet};

use serde_json::Value as Json;
use sqlx::Connection;
use sqlx::types::Json as JsonArg;
use tokio::sync::{mpsc, oneshot};

use super::{
    Conclusion, DUE_CHANNEL, ENTITY_BODY_COLUMNS, EntityChange, Pool, RunRecord, StoreError,
    StoreRow, Write, begin_write, err, is_sqlite,
};

/// Binds `$p` to `$q`, whichever the backend.
macro_rules! bind {
    ($q:expr, $p:expr) => {
        match $p {
            Param::Text(t) => $q.bind(*t),
            Param::Int(i) => $q.bind(*i),
            Param::OptInt(i) => $q.bind(*i),
            Param::Flag(b) => $q.bind(*b),
            Param::Json(j) => $q.bind(j.map(JsonArg)),
            Param::OwnedJson(j) => $q.bind(j.clone().map(JsonArg)),
        }
    };
}

/// Most batches in one group.
const MAX_GROUP: usize = 64;

/// Most bound parameters in one SQLite multi-statement query (SQLite allows 32,766).
const MAX_PARAMS: usize = 4_000;

/// Most statements in a SQLite batch query kept prepared: the few shapes of a run's batches
/// are; a rare long batch (a failed run cancelling many node runs) would only crowd them out.
const MAX_PREPARED: usize = 8;

/// What [`Store::apply`](super::Store::apply) found while writing a batch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Applied {
    /// Cancelling the run whose node runs the batch wrote had been requested.
    pub cancel_requested: bool,
}

/// A batch waiting for the committer.
pub(super) struct Batch {
    pub writes: Vec<Write>,
    /// The run whose node runs or finish the batch writes (and did not insert), checked first.
    pub run: Option<String>,
    /// The lease owner the run must have, for a fenced store.
    pub fence: Option<String>,
    /// Report the entity changes.
    pub report: bool,
    pub reply: oneshot::Sender<Result<Written, StoreError>>,
}

/// A batch written.
pub(super) struct Written {
    pub applied: Applied,
    pub changes: Vec<EntityChange>,
}

impl Batch {
    /// The run whose node-run and finish writes must be checked: the first such write's,
    /// unless the batch inserts that run itself.
    pub fn guarded_run(writes: &[Write]) -> Option<String> {
        let run = writes.iter().find_map(|w| match w {
            Write::PutNodeRun(n) => Some(&n.run_id),
            Write::FinishRun { id, .. } => Some(id),
            _ => None,
        })?;
        let inserted = writes
            .iter()
            .any(|w| matches!(w, Write::InsertRun(r) if &r.id == run));
        (!inserted).then(|| run.clone())
    }
}

/// Commits the batches sent to `rx` until every sender is gone.
pub(super) async fn run(pool: Pool, mut rx: mpsc::Receiver<Batch>) {
    let mut group = Vec::with_capacity(MAX_GROUP);
    while rx.recv_many(&mut group, MAX_GROUP).await > 0 {
        commit(&pool, std::mem::take(&mut group)).await;
    }
}

/// Writes `group` in one transaction, or batch by batch when that fails, and answers each.
async fn commit(pool: &Pool, group: Vec<Batch>) {
    match write_group(pool, &group).await {
        Ok(results) => {
            for (batch, result) in group.into_iter().zip(results) {
                let _ = batch.reply.send(result);
            }
        }
        Err(e) if group.len() == 1 => {
            for batch in group {
                let _ = batch.reply.send(Err(e.clone()));
            }
        }
        Err(_) => {
            for batch in group {
                let result = match write_group(pool, std::slice::from_ref(&batch)).await {
                    Ok(mut results) => results
                        .pop()
                        .unwrap_or_else(|| Err(StoreError("store: nothing written".into()))),
                    Err(e) => Err(e),
                };
                let _ = batch.reply.send(result);
            }
        }
    }
}

/// A run's row as the guard reads it.
struct RunGuard {
    lease_owner: Option<String>,
    cancel_requested: bool,
}

/// Writes the batches of `group` that pass their guard, in one transaction. The outer error
/// fails the whole group (nothing was written); an inner one, its batch.
async fn write_group(
    pool: &Pool,
    group: &[Batch],
) -> Result<Vec<Result<Written, StoreError>>, StoreError> {
    let runs: Vec<&str> = distinct(group.iter().filter_map(|b| b.run.as_deref()));
    on_pool!(pool, |pool| {
        let mut conn = pool.acquire().await.map_err(err("connect"))?;
        let mut tx = conn
            .begin_with(begin_write(pool))
            .await
            .map_err(err("begin"))?;

        // The runs: their leases (locked until the commit on PostgreSQL, so that no claim
        // takes them meanwhile) and their cancel requests.
        let mut guards = HashMap::new();
        if !runs.is_empty() {
            let lock = if is_sqlite(pool) { "" } else { " FOR UPDATE" };
            let sql = format!(
                "SELECT id, lease_owner, cancel_requested FROM runs WHERE id IN ({}){lock}",
                placeholders(1, runs.len())
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for r in &runs {
                q = q.bind(*r);
            }
            for row in q.fetch_all(&mut *tx).await.map_err(err("read runs"))? {
                let guard = RunGuard {
                    lease_owner: row.opt_text("lease_owner").map_err(err("read runs"))?,
                    cancel_requested: row.flag("cancel_requested").map_err(err("read runs"))?,
                };
                guards.insert(row.text("id").map_err(err("read runs"))?, guard);
            }
        }
        let verdicts: Vec<Result<Applied, StoreError>> =
            group.iter().map(|b| verdict(b, &guards)).collect();
        let accepted = || {
            group
                .iter()
                .zip(&verdicts)
                .filter(|(_, v)| v.is_ok())
                .map(|(b, _)| b)
        };

        // The entities written, as they were, when someone listens for changes.
        let mut entities: HashMap<(String, String), Option<Json>> = HashMap::new();
        if accepted().any(|b| b.report) {
            let keys: Vec<(&String, &String)> = accepted()
                .flat_map(|b| b.writes.iter().filter_map(entity_key))
                .collect::<HashSet<_>>()
                .into_iter()
                .collect();
            if !keys.is_empty() {
                let sql = format!(
                    "SELECT {ENTITY_BODY_COLUMNS} FROM entities WHERE {}",
                    (0..keys.len())
                        .map(|i| format!(
                            "(blueprint = ${} AND identifier = ${})",
                            2 * i + 1,
                            2 * i + 2
                        ))
                        .collect::<Vec<_>>()
                        .join(" OR ")
                );
                let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
                for (bp, id) in &keys {
                    q = q.bind(*bp).bind(*id);
                }
                for (bp, id) in &keys {
                    entities.insert(((*bp).clone(), (*id).clone()), None);
                }
                for row in q.fetch_all(&mut *tx).await.map_err(err("read entities"))? {
                    let key = (
                        row.text("blueprint").map_err(err("read entities"))?,
                        row.text("identifier").map_err(err("read entities"))?,
                    );
                    entities.insert(key, Some(row.json("body").map_err(err("read entities"))?));
                }
            }
        }

        // The writes.
        if is_sqlite(pool) {
            // One multi-statement query a batch: batches of the same writes have the same SQL,
            // kept prepared, so that SQLite does not parse their statements again each time.
            for b in accepted() {
                let statements: Vec<Statement> = statements(&b.writes).collect();
                for chunk in chunks(&statements) {
                    let mut sql = String::new();
                    let mut offset = 0;
                    for s in chunk {
                        renumber(s.sql, offset, &mut sql);
                        sql.push_str(";\n");
                        offset += s.params.len();
                    }
                    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql))
                        .persistent(chunk.len() <= MAX_PREPARED);
                    for s in chunk {
                        for p in &s.params {
                            q = bind!(q, p);
                        }
                    }
                    q.execute(&mut *tx).await.map_err(err("write"))?;
                }
            }
        } else {
            let statements = accepted().flat_map(|b| statements(&b.writes));
            for s in statements {
                let mut q = sqlx::query(s.sql);
                for p in &s.params {
                    q = bind!(q, p);
                }
                q.execute(&mut *tx).await.map_err(err("write"))?;
            }
            if let Some(run) = accepted().flat_map(|b| &b.writes).find_map(|w| match w {
                Write::InsertRun(r) => Some(&r.id),
                _ => None,
            }) {
                sqlx::query("SELECT pg_notify($1, $2)")
                    .bind(DUE_CHANNEL)
                    .bind(run)
                    .execute(&mut *tx)
                    .await
                    .map_err(err("notify"))?;
            }
        }
        tx.commit().await.map_err(err("commit"))?;

        Ok(group
            .iter()
            .zip(verdicts)
            .map(|(b, v)| {
                v.map(|applied| Written {
                    applied,
                    changes: changes(b, &mut entities),
                })
            })
            .collect())
    })
}

/// Whether `batch` may be written given the runs read.
fn verdict(batch: &Batch, guards: &HashMap<String, RunGuard>) -> Result<Applied, StoreError> {
    let Some(run) = &batch.run else {
        return Ok(Applied::default());
    };
    let guard = guards.get(run);
    if let Some(owner) = &batch.fence
        && guard.and_then(|g| g.lease_owner.as_ref()) != Some(owner)
    {
        return Err(StoreError(format!(
            "store: run {run} is no longer leased by this process (another one took it over); \
             not writing"
        )));
    }
    Ok(Applied {
        cancel_requested: guard.is_some_and(|g| g.cancel_requested),
    })
}

/// The entity changes `batch` made, `entities` holding each entity as it was before the
/// batch (and updated to after it).
fn changes(
    batch: &Batch,
    entities: &mut HashMap<(String, String), Option<Json>>,
) -> Vec<EntityChange> {
    let mut changes = Vec::new();
    for w in &batch.writes {
        let Some((blueprint, identifier, after)) = super::entity_write(w) else {
            continue;
        };
        let key = (blueprint.clone(), identifier.clone());
        let before = entities.insert(key, after.cloned()).flatten();
        if batch.report && (before.is_some() || after.is_some()) {
            changes.push(EntityChange {
                blueprint: blueprint.clone(),
                identifier: identifier.clone(),
                before,
                after: after.cloned(),
                run_id: None,
            });
        }
    }
    changes
}

fn entity_key(w: &Write) -> Option<(&String, &String)> {
    super::entity_write(w).map(|(bp, id, _)| (bp, id))
}

/// The distinct items of `items`, in first-seen order.
fn distinct<'a>(items: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
    let mut seen = HashSet::new();
    items.filter(|i| seen.insert(*i)).collect()
}

/// `$from, $from+1, …` (`n` of them).
fn placeholders(from: usize, n: usize) -> String {
    (from..from + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Appends `sql` to `out` with every `$N` parameter shifted by `offset` (the statements'
/// SQL is ours: `$` appears only in parameters).
fn renumber(sql: &str, offset: usize, out: &mut String) {
    let mut rest = sql;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let digits = rest[at + 1..]
            .find(|c: char| !c.is_ascii_digit())
            .map_or(rest.len() - at - 1, |n| n);
        let n: usize = rest[at + 1..at + 1 + digits].parse().unwrap_or(0);
        out.push('$');
        out.push_str(&(n + offset).to_string());
        rest = &rest[at + 1 + digits..];
    }
    out.push_str(rest);
}

/// `statements` cut into runs of at most [`MAX_PARAMS`] parameters.
fn chunks<'s, 'w>(statements: &'s [Statement<'w>]) -> Vec<&'s [Statement<'w>]> {
    let mut out = Vec::new();
    let (mut start, mut params) = (0, 0);
    for (i, s) in statements.iter().enumerate() {
        if params + s.params.len() > MAX_PARAMS && i > start {
            out.push(&statements[start..i]);
            (start, params) = (i, 0);
        }
        params += s.params.len();
    }
    if start < statements.len() {
        out.push(&statements[start..]);
    }
    out
}

/// One statement of a write: its SQL (the same on both backends) and parameters.
struct Statement<'w> {
    sql: &'static str,
    params: Vec<Param<'w>>,
}

/// A statement parameter.
enum Param<'w> {
    Text(Option<&'w str>),
    Int(i64),
    OptInt(Option<i64>),
    Flag(bool),
    Json(Option<&'w Json>),
    /// JSON made for the statement (a node run's attempts).
    OwnedJson(Option<Json>),
}

fn text(s: &str) -> Param<'_> {
    Param::Text(Some(s))
}

fn opt(s: &Option<String>) -> Param<'_> {
    Param::Text(s.as_deref())
}

/// The statements that make `writes`, in order. A run's lease taken in the batch that inserts
/// the run is written with its row: one statement, not an insert and an update.
fn statements(writes: &[Write]) -> impl Iterator<Item = Statement<'_>> {
    let inserted = |id: &str| {
        writes
            .iter()
            .any(|w| matches!(w, Write::InsertRun(r) if r.id == id))
    };
    writes.iter().filter_map(move |w| match w {
        Write::Lease { run_id, .. } if inserted(run_id) => None,
        w => Some(statement(w, writes)),
    })
}

/// The lease (owner, until) that `writes` give run `id`, the last one when several do.
fn lease_in<'w>(writes: &'w [Write], id: &str) -> Option<(&'w str, &'w str)> {
    writes.iter().rev().find_map(|w| match w {
        Write::Lease {
            run_id,
            owner,
            until,
        } if run_id == id => Some((owner.as_str(), until.as_str())),
        _ => None,
    })
}

/// The statement that inserts run `r`, leased to `lease` (owner, until) when given.
fn insert_run<'w>(r: &'w RunRecord, lease: Option<(&'w str, &'w str)>) -> Statement<'w> {
    Statement {
        sql: "INSERT INTO runs (id, workflow, source, syntax, source_path, trigger_node, \
              trigger_payload, status, result, error, created_by, cancel_requested, created_at, \
              updated_at, completed_at, concurrency, concurrency_key, lease_owner, lease_until) \
              VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, \
              $17, $18, $19)",
        params: vec![
            text(&r.id),
            text(&r.workflow),
            text(&r.source),
            text(&r.syntax),
            text(&r.source_path),
            text(&r.trigger_node),
            Param::Json(Some(&r.trigger_payload)),
            text(r.status.as_str()),
            Param::Text(r.result.map(Conclusion::as_str)),
            opt(&r.error),
            opt(&r.created_by),
            Param::Flag(r.cancel_requested),
            text(&r.created_at),
            text(&r.updated_at),
            opt(&r.completed_at),
            Param::OptInt(r.concurrency),
            opt(&r.concurrency_key),
            Param::Text(lease.map(|(owner, _)| owner)),
            Param::Text(lease.map(|(_, until)| until)),
        ],
    }
}

/// The statement that makes `w`, one of the batch `writes` (a run inserted with the lease they
/// give it: see [`insert_run`]).
fn statement<'w>(w: &'w Write, writes: &'w [Write]) -> Statement<'w> {
    let (sql, params) = match w {
        Write::InsertRun(r) => return insert_run(r, lease_in(writes, &r.id)),
        Write::Lease {
            run_id,
            owner,
            until,
        } => (
            "UPDATE runs SET lease_owner = $2, lease_until = $3 WHERE id = $1",
            vec![text(run_id), text(owner), text(until)],
        ),
        // A completed run needs no lease any more.
        Write::FinishRun {
            id,
            status,
            result,
            error,
            at,
        } => (
            "UPDATE runs SET status = $2, result = $3, error = $4, updated_at = $5, \
             completed_at = CASE WHEN $2 = 'COMPLETED' THEN $5 ELSE NULL END, \
             lease_owner = CASE WHEN $2 = 'COMPLETED' THEN NULL ELSE lease_owner END, \
             lease_until = CASE WHEN $2 = 'COMPLETED' THEN NULL ELSE lease_until END \
             WHERE id = $1",
            vec![
                text(id),
                text(status.as_str()),
                Param::Text(result.map(Conclusion::as_str)),
                opt(error),
                text(at),
            ],
        ),
        Write::RequestCancel { id, at } => (
            "UPDATE runs SET cancel_requested = TRUE, updated_at = $2 WHERE id = $1",
            vec![text(id), text(at)],
        ),
        Write::PutNodeRun(n) => (
            "INSERT INTO node_runs (id, run_id, node, seq, status, result, output, outlet, \
             fallback, waiting, created_at, updated_at, completed_at, attempts, deadline, \
             request) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16) \
             ON CONFLICT (id) DO UPDATE SET status = excluded.status, \
             result = excluded.result, output = excluded.output, outlet = excluded.outlet, \
             fallback = excluded.fallback, waiting = excluded.waiting, \
             updated_at = excluded.updated_at, completed_at = excluded.completed_at, \
             attempts = excluded.attempts, deadline = excluded.deadline, \
             request = excluded.request",
            vec![
                text(&n.id),
                text(&n.run_id),
                text(&n.node),
                Param::Int(n.seq),
                text(n.status.as_str()),
                Param::Text(n.result.map(Conclusion::as_str)),
                Param::Json(n.output.as_ref()),
                opt(&n.outlet),
                Param::Flag(n.fallback),
                Param::Flag(n.waiting),
                text(&n.created_at),
                text(&n.updated_at),
                opt(&n.completed_at),
                Param::OwnedJson(
                    (!n.attempts.is_empty())
                        .then(|| serde_json::to_value(&n.attempts).unwrap_or_default()),
                ),
                opt(&n.deadline),
                Param::Json(n.request.as_ref()),
            ],
        ),
        Write::Log { run_id, record } => (
            "INSERT INTO logs (run_id, node, level, message, at) VALUES ($1, $2, $3, $4, $5)",
            vec![
                text(run_id),
                text(&record.node),
                text(&record.level),
                text(&record.message),
                text(&record.at),
            ],
        ),
        Write::PutEntity {
            blueprint,
            identifier,
            body,
            at,
        } => (
            "INSERT INTO entities (blueprint, identifier, body, updated_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (blueprint, identifier) \
             DO UPDATE SET body = excluded.body, updated_at = excluded.updated_at",
            vec![
                text(blueprint),
                text(identifier),
                Param::Json(Some(body)),
                text(at),
            ],
        ),
        Write::PutBlueprint { identifier, body } => (
            "INSERT INTO blueprints (identifier, body) VALUES ($1, $2) \
             ON CONFLICT (identifier) DO UPDATE SET body = excluded.body",
            vec![text(identifier), Param::Json(Some(body))],
        ),
        Write::Response {
            run_id,
            node,
            record,
        } => (
            "INSERT INTO responses (run_id, node, responder, button, inputs, at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
            vec![
                text(run_id),
                text(node),
                text(&record.responder),
                text(&record.button),
                Param::Json(Some(&record.inputs)),
                text(&record.at),
            ],
        ),
        Write::DeleteEntity {
            blueprint,
            identifier,
        } => (
            "DELETE FROM entities WHERE blueprint = $1 AND identifier = $2",
            vec![text(blueprint), text(identifier)],
        ),
        Write::DeleteBlueprint { identifier } => (
            "DELETE FROM blueprints WHERE identifier = $1",
            vec![text(identifier)],
        ),
    };
    Statement { sql, params }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renumbers_parameters() {
        let mut out = String::new();
        renumber("UPDATE t SET a = $2, b = $10 WHERE id = $1", 3, &mut out);
        assert_eq!(out, "UPDATE t SET a = $5, b = $13 WHERE id = $4");
        out.clear();
        renumber("SELECT $1", 0, &mut out);
        assert_eq!(out, "SELECT $1");
    }

    #[test]
    fn chunks_respect_the_parameter_cap() {
        let s = |n| Statement {
            sql: "",
            params: (0..n).map(|_| Param::Flag(true)).collect(),
        };
        let statements = vec![s(3_000), s(900), s(200), s(5_000), s(1)];
        let sizes: Vec<usize> = chunks(&statements).iter().map(|c| c.len()).collect();
        assert_eq!(sizes, vec![2, 1, 1, 1]);
    }
}
