//! The stdio framing layer in front of tower-lsp-server.
//!
//! tower-lsp-server stops reading its input for good after the first frame it cannot decode, so
//! the server reads stdin itself: it splits `Content-Length` frames, answers a frame it cannot
//! use with a JSON-RPC error (`-32700` parse error or `-32600` invalid request) and forwards only
//! frames tower-lsp-server accepts. Lone UTF-16 surrogates in JSON strings (`"\ud800"`) become
//! U+FFFD, one UTF-16 unit like the surrogate, so positions stay aligned with the editor's.
//! A text-sync notification that has to be dropped is replaced by a [`LOST_EDIT`] notification,
//! in the same place in the message order, and the document is marked out of sync instead of
//! letting its text drift silently.

use std::borrow::Cow;
use std::io::{self, BufRead, Read, Write};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tower_lsp_server::jsonrpc::{Request, Response};
use tower_lsp_server::ls_types::{DidChangeTextDocumentParams, DidOpenTextDocumentParams, Uri};

/// The notification that stands in for an edit that could not be read; params: [`LostEdit`].
pub const LOST_EDIT: &str = "wflow/lostEdit";

/// An edit that could not be read: of the document `uri` (None: of an unknown document).
#[derive(Debug, PartialEq, Serialize, Deserialize)]
pub struct LostEdit {
    pub uri: Option<Uri>,
    pub why: String,
}

impl LostEdit {
    /// The framed [`LOST_EDIT`] notification.
    pub fn notification(&self) -> String {
        framed(&json!({"jsonrpc": "2.0", "method": LOST_EDIT, "params": self}).to_string())
    }
}

/// The largest body accepted (a document of 64 MiB is far beyond what the checker is for).
const MAX_BODY: usize = 64 << 20;
/// Header lines longer than this are garbage, not headers.
const MAX_HEADER_LINE: u64 = 16 << 10;

/// What to do with one frame read from the client.
#[derive(Debug, PartialEq)]
pub enum Verdict {
    /// Pass this body (repaired if needed) on to tower-lsp-server.
    Forward(String),
    /// Answer with this JSON-RPC error message instead.
    Refuse(Value),
    /// Drop a text-sync notification that cannot be applied; the document is out of sync.
    Lost(LostEdit),
}

/// Reads `Content-Length` frames, resynchronising on the next `Content-Length` header after
/// garbage.
pub struct FrameReader<R> {
    input: R,
    /// Frames read so far (for error messages).
    frames: usize,
    /// A header line found at the end of garbage, to be read as the next frame's first line.
    carry: Option<String>,
    /// Whether the last frame's header was refused: the garbage that follows is its body,
    /// already reported.
    body_refused: bool,
}

/// One frame: its body, or what is wrong with its header.
pub type Frame = Result<Vec<u8>, BadFrame>;

/// A frame that could not be split off the input.
#[derive(Debug, PartialEq)]
pub struct BadFrame {
    pub why: String,
    /// Whether the bytes skipped held a text-sync notification (so an edit was lost).
    pub lost_edit: bool,
}

impl<R: BufRead> FrameReader<R> {
    pub fn new(input: R) -> FrameReader<R> {
        FrameReader {
            input,
            frames: 0,
            carry: None,
            body_refused: false,
        }
    }

    /// How many frames were read so far, the current one included.
    pub fn count(&self) -> usize {
        self.frames
    }

    /// The next frame, or None at the end of the input.
    pub fn next_frame(&mut self) -> io::Result<Option<Frame>> {
        self.frames += 1;
        let n = self.frames;
        let mut length: Option<Result<usize, String>> = None;
        loop {
            let line = match self.carry.take() {
                Some(line) => line,
                None => match self.read_line()? {
                    Some(line) => line,
                    None => return Ok(None),
                },
            };
            let line = line.trim_end_matches(['\r', '\n']);
            if line.is_empty() {
                match length {
                    // Blank lines between frames are harmless.
                    None => continue,
                    Some(Err(why)) => {
                        self.body_refused = true;
                        return Ok(Some(Err(BadFrame {
                            why,
                            lost_edit: false,
                        })));
                    }
                    Some(Ok(len)) => return self.body(len).map(|b| b.map(Ok)),
                }
            }
            let header_at = find_ci(line, "content-length:");
            if header_at == Some(0) {
                self.body_refused = false;
            }
            if header_at.is_some_and(|at| at > 0) || (header_at.is_none() && !is_header(line)) {
                // Garbage (the tail of a mis-sized body, or noise): report it once and pick up
                // the header that follows it, if any.
                self.carry = header_at.map(|at| line[at..].to_string());
                let lost_edit = mentions_text_sync(line);
                if std::mem::take(&mut self.body_refused) && !lost_edit {
                    continue;
                }
                return Ok(Some(Err(BadFrame {
                    why: format!(
                        "message {n}: {} bytes that are not a `Content-Length` header; every \
                         message must start with `Content-Length: <body bytes>\\r\\n\\r\\n`",
                        header_at.unwrap_or(line.len())
                    ),
                    lost_edit,
                })));
            }
            if header_at == Some(0) {
                let value = line["content-length:".len()..].trim();
                length = Some(match value.parse::<usize>() {
                    Ok(len) if len <= MAX_BODY => Ok(len),
                    Ok(len) => Err(format!(
                        "message {n}: Content-Length {len} is larger than the {MAX_BODY} bytes \
                         accepted; send smaller documents"
                    )),
                    Err(_) => Err(format!(
                        "message {n}: Content-Length `{value}` is not a byte count; send \
                         `Content-Length: <number of bytes of the body>`"
                    )),
                });
            }
            // Other headers (Content-Type) need nothing.
        }
    }

    /// One header line, at most [`MAX_HEADER_LINE`] bytes (the rest of a longer line is left
    /// for the next call); None at the end of the input.
    fn read_line(&mut self) -> io::Result<Option<String>> {
        let mut line = Vec::new();
        let read = Read::take(&mut self.input, MAX_HEADER_LINE).read_until(b'\n', &mut line)?;
        Ok((read > 0).then(|| String::from_utf8_lossy(&line).into_owned()))
    }

    fn body(&mut self, len: usize) -> io::Result<Option<Vec<u8>>> {
        let mut body = vec![0; len];
        match self.input.read_exact(&mut body) {
            Ok(()) => Ok(Some(body)),
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// Whether `line` looks like `Name: value`.
fn is_header(line: &str) -> bool {
    line.split_once(':').is_some_and(|(name, _)| {
        !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    })
}

/// The byte offset of `needle` (ASCII, lower case) in `hay`, ignoring ASCII case.
fn find_ci(hay: &str, needle: &str) -> Option<usize> {
    hay.as_bytes()
        .windows(needle.len())
        .position(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
}

fn mentions_text_sync(text: &str) -> bool {
    text.contains("textDocument/didChange") || text.contains("textDocument/didOpen")
}

/// A JSON-RPC error response.
pub fn error_response(id: Value, code: i64, message: String) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}})
}

/// Decides what to do with a frame's body.
pub fn vet(body: &[u8], n: usize) -> Verdict {
    let text = match std::str::from_utf8(body) {
        Ok(text) => text,
        Err(e) => {
            let why = format!(
                "message {n}: byte {} of the body is not UTF-8; LSP messages must be UTF-8",
                e.valid_up_to()
            );
            return lost_or_refused(&String::from_utf8_lossy(body), why, -32700);
        }
    };
    let text = replace_lone_surrogates(text);
    let value: Value = match serde_json::from_str(&text) {
        Ok(v) => v,
        Err(e) => {
            let why = format!(
                "message {n}: the body is not JSON (line {}, column {}: {e})",
                e.line(),
                e.column()
            );
            return lost_or_refused(&text, why, -32700);
        }
    };
    if Request::deserialize(&value).is_err() && Response::deserialize(&value).is_err() {
        let id = match &value["id"] {
            id @ (Value::Number(_) | Value::String(_)) => id.clone(),
            _ => Value::Null,
        };
        let why = format!(
            "message {n}: not a JSON-RPC 2.0 request, notification or response (it needs \
             \"jsonrpc\": \"2.0\" and a \"method\" or a \"result\"/\"error\")"
        );
        return Verdict::Refuse(error_response(id, -32600, why));
    }
    let params = &value["params"];
    let bad_params = match value["method"].as_str() {
        Some("textDocument/didChange") => DidChangeTextDocumentParams::deserialize(params).err(),
        Some("textDocument/didOpen") => DidOpenTextDocumentParams::deserialize(params).err(),
        _ => None,
    };
    if let Some(e) = bad_params {
        return Verdict::Lost(LostEdit {
            uri: uri_of(&value),
            why: format!(
                "message {n} ({}): {e}",
                value["method"].as_str().unwrap_or_default()
            ),
        });
    }
    Verdict::Forward(text.into_owned())
}

/// A frame that cannot be read: lost text sync if it was an edit, else a refusal.
fn lost_or_refused(text: &str, why: String, code: i64) -> Verdict {
    if mentions_text_sync(text) {
        let value = serde_json::from_str::<Value>(text).unwrap_or_default();
        return Verdict::Lost(LostEdit {
            uri: uri_of(&value),
            why,
        });
    }
    Verdict::Refuse(error_response(Value::Null, code, why))
}

fn uri_of(message: &Value) -> Option<Uri> {
    message["params"]["textDocument"]["uri"]
        .as_str()?
        .parse()
        .ok()
}

/// `json` with every `\uXXXX` escape of an unpaired UTF-16 surrogate replaced by `\ufffd`.
pub fn replace_lone_surrogates(json: &str) -> Cow<'_, str> {
    let surrogate = |at: usize| -> Option<u16> {
        let hex = json.get(at + 2..at + 6)?;
        if !json.get(at..)?.starts_with("\\u") {
            return None;
        }
        u16::from_str_radix(hex, 16)
            .ok()
            .filter(|u| (0xD800..0xE000).contains(u))
    };
    let bytes = json.as_bytes();
    let mut lone = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'\\' {
            i += 1;
            continue;
        }
        match surrogate(i) {
            Some(0xD800..0xDC00) if surrogate(i + 6).is_some_and(|low| low >= 0xDC00) => {
                i += 12;
            }
            Some(_) => {
                lone.push(i);
                i += 6;
            }
            // Any other escape (`\\`, `\"`, `\n`, a BMP `\u`) is skipped whole.
            None => i += 2,
        }
    }
    if lone.is_empty() {
        return Cow::Borrowed(json);
    }
    let mut out = String::with_capacity(json.len());
    let mut from = 0;
    for at in lone {
        out.push_str(&json[from..at]);
        out.push_str("\\ufffd");
        from = at + 6;
    }
    out.push_str(&json[from..]);
    Cow::Owned(out)
}

/// `body` with its `Content-Length` header.
pub fn framed(body: &str) -> String {
    format!("Content-Length: {}\r\n\r\n{body}", body.len())
}

/// Writes one framed message to stdout as a single write.
pub fn write_message(message: &Value) -> io::Result<()> {
    let mut out = io::stdout().lock();
    out.write_all(framed(&message.to_string()).as_bytes())?;
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(input: &str) -> Vec<Frame> {
        let mut r = FrameReader::new(input.as_bytes());
        let mut out = Vec::new();
        while let Ok(Some(f)) = r.next_frame() {
            out.push(f);
        }
        out
    }

    #[test]
    fn a_bad_content_length_costs_one_frame() {
        let got = frames(
            "Content-Length: abc\r\n\r\n{\"x\":1}Content-Length: 2\r\n\r\n{}content-length: 1\r\n\r\n1Content-Length: 2\r\n\r\n{}noise\r\n",
        );
        assert!(matches!(&got[0], Err(e) if e.why.contains("`abc` is not a byte count")));
        assert_eq!(
            got[1],
            Ok(b"{}".to_vec()),
            "the refused body is skipped, not reported"
        );
        assert_eq!(got[2], Ok(b"1".to_vec()), "header names ignore case");
        assert_eq!(got[3], Ok(b"{}".to_vec()));
        assert!(
            matches!(&got[4], Err(e) if e.why.contains("5 bytes") && !e.lost_edit),
            "{got:?}"
        );
        assert_eq!(got.len(), 5, "{got:?}");
    }

    #[test]
    fn lone_surrogates_become_replacement_characters() {
        assert_eq!(replace_lone_surrogates(r#""a\ud800b""#), r#""a\ufffdb""#);
        assert_eq!(
            replace_lone_surrogates(r#""\udc00\ud83d""#),
            r#""\ufffd\ufffd""#
        );
        let pair = r#""\ud83d\ude00 \\ud800""#;
        assert_eq!(
            replace_lone_surrogates(pair),
            pair,
            "a pair and an escaped backslash"
        );
    }

    #[test]
    fn vetting() {
        let ok = r#"{"jsonrpc":"2.0","id":1,"method":"x","params":{"t":"\ud800"}}"#;
        assert_eq!(
            vet(ok.as_bytes(), 1),
            Verdict::Forward(ok.replace("\\ud800", "\\ufffd"))
        );
        let Verdict::Refuse(r) = vet(b"{\"jsonrpc\":\"2.0\",\xff}", 2) else {
            panic!("invalid UTF-8 is refused")
        };
        assert_eq!(r["error"]["code"], -32700);
        let Verdict::Refuse(r) = vet(br#"{"id":4}"#, 3) else {
            panic!("not a message")
        };
        assert_eq!(
            (r["id"].clone(), r["error"]["code"].clone()),
            (json!(4), json!(-32600))
        );
        let edit = r#"{"jsonrpc":"2.0","method":"textDocument/didChange","params":{"textDocument":{"uri":"file:///a.wflow","version":2},"contentChanges":[{"range":{"start":{"line":4294967296,"character":0},"end":{"line":0,"character":0}},"text":""}]}}"#;
        let Verdict::Lost(LostEdit { uri, why }) = vet(edit.as_bytes(), 4) else {
            panic!("an edit that cannot be read is lost")
        };
        assert_eq!(
            uri.map(|u| u.as_str().to_string()),
            Some("file:///a.wflow".into())
        );
        assert!(why.contains("4294967296"), "{why}");
    }
}
