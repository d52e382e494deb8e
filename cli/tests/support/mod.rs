//! What the tests of `wflow serve` and the journeys share: a `wflow serve` process on loopback,
//! loopback servers, and cleanup.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

/// A `wflow serve` process: its address and what it printed (read in the background).
pub struct Serving {
    pub child: Child,
    pub addr: String,
    log: Arc<Mutex<String>>,
    reader: JoinHandle<()>,
}

/// Starts `wflow serve` on `flows` with its SQLite store in `dir`.
pub fn start(dir: &Path, flows: &Path) -> Serving {
    start_on(&dir.join("wflow.db"), flows, &[])
}

/// Starts `wflow serve` on `flows` with `store` and `args`, and waits for its "serving" line.
pub fn start_on(store: &Path, flows: &Path, args: &[&str]) -> Serving {
    start_with_env(store, flows, args, &[])
}

/// As [`start_on`], with the environment variables `env` set.
pub fn start_with_env(store: &Path, flows: &Path, args: &[&str], env: &[(&str, &str)]) -> Serving {
    let mut child = Command::new(env!("CARGO_BIN_EXE_wflow"))
        .args(["serve", "--listen", "127.0.0.1:0", "--store"])
        .arg(store)
        .args(args)
        .arg(flows)
        .envs(env.iter().copied())
        .env_remove("WFLOW_CONFIG")
        .env("NO_COLOR", "1")
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut stderr = BufReader::new(child.stderr.take().expect("stderr"));
    let log = Arc::new(Mutex::new(String::new()));
    let addr = loop {
        let mut line = String::new();
        if stderr.read_line(&mut line).expect("read") == 0 {
            panic!("wflow serve exited early:\n{}", log.lock().expect("log"));
        }
        log.lock().expect("log").push_str(&line);
        if let Some((_, rest)) = line.trim().split_once(" on http://") {
            break format!("http://{rest}");
        }
    };
    let sink = Arc::clone(&log);
    let reader = std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = stderr.read(&mut buf) {
            if n == 0 {
                break;
            }
            sink.lock()
                .expect("log")
                .push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    });
    Serving {
        child,
        addr,
        log,
        reader,
    }
}

impl Serving {
    pub fn log(&self) -> String {
        self.log.lock().expect("log").clone()
    }

    /// Sends SIGTERM; returns whether it exited successfully, and everything it printed.
    pub fn stop(mut self) -> (bool, String) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
        let exit = self.child.wait().expect("wait");
        let log = Arc::clone(&self.log);
        self.reader.join().expect("reader");
        let printed = log.lock().expect("log").clone();
        (exit.success(), printed)
    }
}

/// Kills (-9) the processes left when a test fails.
pub struct Reaper(pub Vec<u32>);

impl Drop for Reaper {
    fn drop(&mut self) {
        for pid in &self.0 {
            let _ = Command::new("kill")
                .args(["-9", &pid.to_string()])
                .stderr(Stdio::null())
                .status();
        }
    }
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

/// Waits (up to 10 s) until the server at `addr` serves `workflow`; whether it does.
pub async fn wait_served(http: &reqwest::Client, addr: &str, workflow: &str) -> bool {
    for _ in 0..200 {
        let resp = http
            .get(format!("{addr}/v1/workflows/{workflow}"))
            .send()
            .await
            .expect("get");
        if resp.status().is_success() {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    false
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
    /// A fresh, empty database named `prefix_<pid>`; `None` (the test is skipped) when
    /// `WFLOW_IT_PG` is not set.
    pub async fn fresh(prefix: &str) -> Option<Database> {
        let Ok(admin) = std::env::var("WFLOW_IT_PG") else {
            eprintln!("skipped: set WFLOW_IT_PG to a PostgreSQL URL to run it");
            return None;
        };
        let name = format!("{prefix}_{}", std::process::id());
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
        let (server, _) = admin.rsplit_once('/').expect("a URL with a database");
        Some(Database {
            url: format!("{server}/{name}"),
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
