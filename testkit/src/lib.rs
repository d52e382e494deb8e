//! What tests and benchmarks share: loopback servers, a scratch directory, a throwaway
//! PostgreSQL database, plans of inline workflows, and a client for `wflow lsp`. Only the
//! tests and `wflow-bench` use it; no library crate depends on it (`tests/tests/architecture.rs`).

pub mod lsp_client;
pub mod lsp_storm;

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, StatusCode, Uri};
use wflow_compiler::{Syntax, check_source};
use wflow_engine::Plan;

/// The plan of the one workflow of `.wflow` source `src`; panics on a diagnostic error.
pub fn plan(src: &str) -> Plan {
    let checked = check_source(src, Syntax::Wflow);
    assert!(!checked.has_errors(), "{:#?}", checked.diagnostics);
    let wf = checked
        .module
        .workflows
        .into_iter()
        .next()
        .expect("workflow");
    Plan::new(wf, src.to_string(), Syntax::Wflow, "t.wflow".into()).expect("plan")
}

/// Serves `app` on a free loopback port in the background; its base URL.
pub async fn on_loopback(app: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

/// A throwaway database on the PostgreSQL server of `WFLOW_IT_PG`.
pub struct Database {
    /// Its URL, for `--store`.
    pub url: String,
    admin: String,
    name: String,
}

fn sql(s: String) -> sqlx::RawSql {
    sqlx::raw_sql(sqlx::AssertSqlSafe(s))
}

impl Database {
    /// A fresh, empty database named `prefix_<pid>_<n>`; `None` (the test is skipped) when
    /// `WFLOW_IT_PG` is not set.
    pub async fn fresh(prefix: &str) -> Option<Database> {
        static MADE: AtomicUsize = AtomicUsize::new(0);
        let Ok(admin) = std::env::var("WFLOW_IT_PG") else {
            eprintln!("skipped: set WFLOW_IT_PG to a PostgreSQL URL to run it");
            return None;
        };
        let n = MADE.fetch_add(1, Ordering::Relaxed);
        let name = format!("{prefix}_{}_{n}", std::process::id());
        let pool = sqlx::PgPool::connect(&admin)
            .await
            .expect("WFLOW_IT_PG connects");
        for statement in [
            format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
            format!("CREATE DATABASE {name}"),
        ] {
            sql(statement)
                .execute(&pool)
                .await
                .expect("create the database");
        }
        pool.close().await;
        Some(Database {
            url: database_url(&admin, &name),
            admin,
            name,
        })
    }

    /// Drops the database.
    pub async fn drop(self) {
        let pool = sqlx::PgPool::connect(&self.admin)
            .await
            .expect("WFLOW_IT_PG connects");
        sql(format!("DROP DATABASE {} WITH (FORCE)", self.name))
            .execute(&pool)
            .await
            .expect("drop the database");
        pool.close().await;
    }
}

/// `url` with its database replaced by `name` (its query, such as `?sslmode=`, kept).
fn database_url(url: &str, name: &str) -> String {
    let (base, query) = url.split_once('?').map_or((url, ""), |(b, q)| (b, q));
    let (server, _) = base.rsplit_once('/').expect("a URL with a database");
    let query = if query.is_empty() {
        String::new()
    } else {
        format!("?{query}")
    };
    format!("{server}/{name}{query}")
}

/// A fresh temporary directory, removed when dropped.
pub struct Scratch(pub PathBuf);

impl Scratch {
    /// A new empty directory named after `name`, this process and the moment.
    pub fn new(name: &str) -> Scratch {
        let d = std::env::temp_dir().join(format!(
            "wflow-{name}-{}-{:?}",
            std::process::id(),
            std::time::Instant::now()
        ));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).expect("dir");
        Scratch(d)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// One request the loopback server received.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub path: String,
    pub key: String,
    pub attempt: String,
    pub at: Instant,
}

pub type Seen = Arc<Mutex<Vec<Delivery>>>;

/// A loopback server recording every request: `/fail/N` answers 503 to its first N requests,
/// then 200; `/down` always 503; `/busy` answers 429 with `Retry-After: 1` once, then 200;
/// `/hang` never answers in time; `/sleep/MS/...` answers after MS milliseconds;
/// `/hang-once/...` never answers in time the first time, then at once; anything else 200.
pub async fn recording_server() -> (String, Seen) {
    let seen: Seen = Arc::default();
    let log = Arc::clone(&seen);
    let app = axum::Router::new().fallback(move |uri: Uri, headers: HeaderMap| {
        let log = Arc::clone(&log);
        async move {
            let header = |name: &str| {
                headers
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_string()
            };
            let path = uri.path().to_string();
            let before = {
                let mut l = log.lock().expect("lock");
                let before = l.iter().filter(|d| d.path == path).count();
                l.push(Delivery {
                    path: path.clone(),
                    key: header("idempotency-key"),
                    attempt: header("x-wflow-attempt"),
                    at: Instant::now(),
                });
                before
            };
            let ok = (StatusCode::OK, HeaderMap::new(), "{\"ok\": true}");
            let unavailable = (StatusCode::SERVICE_UNAVAILABLE, HeaderMap::new(), "down");
            match path.split('/').collect::<Vec<_>>().as_slice() {
                ["", "fail", n] if before < n.parse().unwrap_or(0) => unavailable,
                ["", "down"] => unavailable,
                ["", "busy"] if before == 0 => {
                    let mut h = HeaderMap::new();
                    h.insert("retry-after", "1".parse().expect("header"));
                    (StatusCode::TOO_MANY_REQUESTS, h, "slow down")
                }
                ["", "hang"] => {
                    tokio::time::sleep(Duration::from_secs(30)).await;
                    ok
                }
                ["", "hang-once", ..] if before == 0 => {
                    tokio::time::sleep(Duration::from_secs(30)).await;
                    ok
                }
                ["", "sleep", ms, ..] => {
                    tokio::time::sleep(Duration::from_millis(ms.parse().unwrap_or(0))).await;
                    ok
                }
                _ => ok,
            }
        }
    });
    (on_loopback(app).await, seen)
}
