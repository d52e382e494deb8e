//! A minimal JSON-RPC client that drives a `wflow lsp` process over stdio: used by
//! `wflow bench --lsp` and by the language server's end-to-end tests.

use std::io::{self, BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// A running language server and the messages it sent that nobody has asked for yet.
pub struct LspClient {
    child: Child,
    stdin: ChildStdin,
    inbox: Receiver<Value>,
    pending: Vec<Value>,
    next_id: i64,
    timeout: Duration,
}

fn err(msg: String) -> io::Error {
    io::Error::other(msg)
}

impl LspClient {
    /// Starts `<exe> lsp`; waits at most `timeout` for any one answer.
    pub fn start(exe: &Path, timeout: Duration) -> io::Result<LspClient> {
        let mut child = Command::new(exe)
            .arg("lsp")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        let stdin = child.stdin.take().ok_or_else(|| err("no stdin".into()))?;
        let stdout = child.stdout.take().ok_or_else(|| err("no stdout".into()))?;
        let (tx, inbox) = channel();
        std::thread::spawn(move || {
            let mut r = BufReader::new(stdout);
            while let Some(msg) = read_message(&mut r) {
                if tx.send(msg).is_err() {
                    return;
                }
            }
        });
        Ok(LspClient {
            child,
            stdin,
            inbox,
            pending: Vec::new(),
            next_id: 1,
            timeout,
        })
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    fn send(&mut self, msg: &Value) -> io::Result<()> {
        self.write_raw(&frame(msg))
    }

    /// Writes bytes to the server as they are, in one write (several frames, broken frames).
    pub fn write_raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stdin.write_all(bytes)?;
        self.stdin.flush()
    }

    /// A request message with a fresh id, to send with [`LspClient::write_raw`]; wait for its
    /// answer with [`LspClient::response`].
    pub fn request_message(&mut self, method: &str, params: Value) -> (i64, Value) {
        let id = self.next_id;
        self.next_id += 1;
        (
            id,
            json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}),
        )
    }

    /// The response to request `id`.
    pub fn response(&mut self, id: i64) -> io::Result<Value> {
        self.wait(|m| m.get("id") == Some(&json!(id)) && m.get("method").is_none())
    }

    /// Keeps only the messages received but not asked for yet that match `keep` (to drop the
    /// diagnostics of old versions).
    pub fn retain_pending(&mut self, keep: impl Fn(&Value) -> bool) {
        self.pending.retain(keep);
    }

    /// Sends a notification.
    pub fn notify(&mut self, method: &str, params: Value) -> io::Result<()> {
        self.send(&json!({"jsonrpc": "2.0", "method": method, "params": params}))
    }

    /// Sends a request and returns the whole response message (`result` or `error`).
    pub fn request(&mut self, method: &str, params: Value) -> io::Result<Value> {
        let (id, msg) = self.request_message(method, params);
        self.send(&msg)?;
        self.response(id)
    }

    /// The next message matching `pred`; others are kept for later calls.
    pub fn wait(&mut self, pred: impl Fn(&Value) -> bool) -> io::Result<Value> {
        if let Some(i) = self.pending.iter().position(&pred) {
            return Ok(self.pending.remove(i));
        }
        let deadline = Instant::now() + self.timeout;
        loop {
            match self
                .inbox
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            {
                Ok(m) if pred(&m) => return Ok(m),
                Ok(m) => self.pending.push(m),
                Err(RecvTimeoutError::Timeout) => {
                    return Err(err(format!(
                        "no answer in time; unmatched messages: {:?}",
                        self.pending
                    )));
                }
                Err(RecvTimeoutError::Disconnected) => return Err(err("the server exited".into())),
            }
        }
    }

    /// The diagnostics published for `uri` at `version`.
    pub fn diagnostics(&mut self, uri: &str, version: i64) -> io::Result<Vec<Value>> {
        let m = self.wait(|m| {
            m["method"] == "textDocument/publishDiagnostics"
                && m["params"]["uri"] == uri
                && m["params"]["version"] == version
        })?;
        Ok(m["params"]["diagnostics"]
            .as_array()
            .cloned()
            .unwrap_or_default())
    }

    /// `initialize` with the given client capabilities, then `initialized`.
    pub fn initialize(&mut self, capabilities: Value) -> io::Result<Value> {
        let r = self.request(
            "initialize",
            json!({"processId": null, "rootUri": null, "capabilities": capabilities}),
        )?;
        self.notify("initialized", json!({}))?;
        Ok(r)
    }

    /// Opens a document at version 1.
    pub fn open(&mut self, uri: &str, language_id: &str, text: &str) -> io::Result<()> {
        self.notify(
            "textDocument/didOpen",
            json!({"textDocument": {"uri": uri, "languageId": language_id, "version": 1, "text": text}}),
        )
    }

    /// `shutdown` then `exit`; returns whether the process exited successfully in time.
    pub fn shutdown(self) -> io::Result<bool> {
        Ok(self.exit(true)? == Some(0))
    }

    /// `exit`, after `shutdown` when `shutdown_first`; returns the exit code (None: the server
    /// did not exit in time and was killed, or died of a signal).
    pub fn exit(mut self, shutdown_first: bool) -> io::Result<Option<i32>> {
        if shutdown_first {
            let r = self.request("shutdown", Value::Null)?;
            if r.get("error").is_some() {
                return Err(err(format!("shutdown failed: {r}")));
            }
        }
        self.notify("exit", Value::Null)?;
        let deadline = Instant::now() + self.timeout;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait()? {
                return Ok(status.code());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        Ok(None)
    }
}

/// `msg` framed with its `Content-Length` header.
pub fn frame(msg: &Value) -> Vec<u8> {
    let body = msg.to_string();
    format!("Content-Length: {}\r\n\r\n{body}", body.len()).into_bytes()
}

/// A `kB` field of `/proc/<pid>/status` (Linux), or None.
pub fn proc_status_kb(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Reads one `Content-Length`-framed message; None at the end of the stream or on garbage.
fn read_message(r: &mut impl BufRead) -> Option<Value> {
    let mut len = None;
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some(v) = line.strip_prefix("Content-Length: ") {
            len = v.parse().ok();
        }
    }
    let mut body = vec![0; len?];
    r.read_exact(&mut body).ok()?;
    serde_json::from_slice(&body).ok()
}
