//! Random edit storms against `wflow lsp`: seeded, so a failure can be replayed. Used by
//! `wflow bench --lsp --storm N` and by the language server's end-to-end tests.
//!
//! Two documents (a `.wflow` file and a Port JSON file) get incremental edits of random ranges
//! with random snippets (UTF-16 positions, multi-byte characters included) and now and then a
//! whole new text. Requests (hover, completion, symbols, semantic tokens) go out with an edit in
//! the same write or on their own; every answer is awaited, so the server is never more than a
//! few edits behind.

use std::io;

use serde_json::{Value, json};

use crate::lsp_client::{LspClient, frame};

/// A small seeded generator (SplitMix64).
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            return 0;
        }
        (self.next_u64() % n as u64) as usize
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items.get(self.below(items.len())).copied().unwrap_or("")
    }
}

/// The `.wflow` document a storm starts from.
pub const WFLOW_BASE: &str = include_str!("../../examples/deploy-service.wflow");
/// The Port JSON document a storm starts from.
pub const JSON_BASE: &str = include_str!("../../tests/corpus/json/jq-arity.json");

/// Text the storm types: syntax, jq, templates, multi-byte characters, broken input.
const SNIPPETS: &[&str] = &[
    "x",
    " ",
    "\n",
    "{",
    "}",
    "[",
    "]",
    "\"",
    "`",
    ":",
    ",",
    "->",
    "é",
    "😀",
    "\u{0}",
    "workflow w \"W\" {",
    "webhook call \"Call\" { url \"https://x\" }",
    "trigger -> call",
    "`.outputs.trigger.service | ascii_downcase`",
    "{{ .outputs.",
    "input a: string \"A\"\n",
    "\"nodes\": [",
    "{\"identifier\": \"n\"}",
    "flow {",
    "[[[[[[",
    "\\u12",
];

/// A document as the client (the storm) holds it.
pub struct StormDoc {
    pub uri: String,
    pub language_id: &'static str,
    pub text: String,
    pub version: i64,
    base: &'static str,
}

impl StormDoc {
    /// The LSP position (UTF-16 columns) of byte `offset`, a char boundary.
    fn position(&self, offset: usize) -> Value {
        let before = &self.text[..offset];
        let line = before.matches('\n').count();
        let column: usize = before
            .rsplit('\n')
            .next()
            .map_or(0, |l| l.encode_utf16().count());
        json!({"line": line, "character": column})
    }

    /// A random char boundary of the text.
    fn boundary(&self, rng: &mut Rng) -> usize {
        let mut at = rng.below(self.text.len() + 1);
        while !self.text.is_char_boundary(at) {
            at -= 1;
        }
        at
    }

    /// Makes a random change, applies it to the client's copy and returns it as LSP sends it.
    fn random_change(&mut self, rng: &mut Rng) -> Value {
        // Now and then (and when the text grows large) a whole new text: the base, or the
        // current text with a snippet in front.
        if rng.below(20) == 0 || self.text.len() > 16 << 10 {
            self.text = if rng.below(2) == 0 {
                self.base.to_string()
            } else {
                format!("{}{}", rng.pick(SNIPPETS), self.text)
            };
            return json!({"text": self.text});
        }
        let a = self.boundary(rng);
        let mut b = a;
        for _ in 0..rng.below(12) {
            match self.text[b..].chars().next() {
                Some(c) => b += c.len_utf8(),
                None => break,
            }
        }
        let inserted = if rng.below(4) == 0 {
            ""
        } else {
            rng.pick(SNIPPETS)
        };
        let change = json!({
            "range": {"start": self.position(a), "end": self.position(b)},
            "text": inserted,
        });
        self.text.replace_range(a..b, inserted);
        change
    }
}

/// A request about `doc` at a random position.
fn random_request(rng: &mut Rng, doc: &StormDoc) -> (&'static str, Value) {
    let at = doc.position(doc.boundary(rng));
    let text_document = json!({"uri": doc.uri});
    match rng.below(4) {
        0 => (
            "textDocument/hover",
            json!({"textDocument": text_document, "position": at}),
        ),
        1 => (
            "textDocument/completion",
            json!({"textDocument": text_document, "position": at}),
        ),
        2 => (
            "textDocument/documentSymbol",
            json!({"textDocument": text_document}),
        ),
        _ => (
            "textDocument/semanticTokens/full",
            json!({"textDocument": text_document}),
        ),
    }
}

/// Opens the storm's documents on an initialized client and waits for their diagnostics.
pub fn open_documents(c: &mut LspClient) -> io::Result<Vec<StormDoc>> {
    let docs = vec![
        StormDoc {
            uri: "file:///storm/storm.wflow".into(),
            language_id: "wflow",
            text: WFLOW_BASE.into(),
            version: 1,
            base: WFLOW_BASE,
        },
        StormDoc {
            uri: "file:///storm/storm.json".into(),
            language_id: "json",
            text: JSON_BASE.into(),
            version: 1,
            base: JSON_BASE,
        },
    ];
    for d in &docs {
        c.open(&d.uri, d.language_id, &d.text)?;
        c.diagnostics(&d.uri, 1)?;
    }
    Ok(docs)
}

/// Sends `edits` random edits to `docs` with interleaved requests, awaiting every answer (an
/// error answer fails the storm), then waits for the diagnostics of each document's last
/// version and returns them in the order of `docs`. `progress` is called after each edit
/// with the number of edits sent.
pub fn run(
    c: &mut LspClient,
    docs: &mut [StormDoc],
    rng: &mut Rng,
    edits: usize,
    mut progress: impl FnMut(&mut LspClient, usize),
) -> io::Result<Vec<Vec<Value>>> {
    for n in 1..=edits {
        let i = rng.below(docs.len());
        let Some(doc) = docs.get_mut(i) else {
            return Ok(Vec::new());
        };
        let change = doc.random_change(rng);
        doc.version += 1;
        let mut bytes = frame(&json!({
            "jsonrpc": "2.0",
            "method": "textDocument/didChange",
            "params": {"textDocument": {"uri": doc.uri, "version": doc.version}, "contentChanges": [change]},
        }));
        // A request in the same write as the edit, on its own after it, or none (at most
        // three edits in a row go unanswered).
        let request = match rng.below(4) {
            0 => None,
            _ if n % 4 == 0 => Some(true),
            k => Some(k == 1),
        };
        let mut waiting = None;
        if let Some(same_write) = request {
            let (method, params) = random_request(rng, doc);
            let (id, msg) = c.request_message(method, params);
            if same_write {
                bytes.extend(frame(&msg));
            } else {
                c.write_raw(&bytes)?;
                bytes = frame(&msg);
            }
            waiting = Some((id, method));
        }
        c.write_raw(&bytes)?;
        if let Some((id, method)) = waiting {
            let answer = c.response(id)?;
            if answer.get("error").is_some() {
                return Err(io::Error::other(format!(
                    "edit {n}: {method} failed: {answer}"
                )));
            }
            let current: Vec<(String, i64)> =
                docs.iter().map(|d| (d.uri.clone(), d.version)).collect();
            c.retain_pending(|m| {
                current.iter().any(|(uri, version)| {
                    m["params"]["uri"] == uri.as_str() && m["params"]["version"] == *version
                })
            });
        }
        progress(c, n);
    }
    docs.iter()
        .map(|d| c.diagnostics(&d.uri, d.version))
        .collect()
}
