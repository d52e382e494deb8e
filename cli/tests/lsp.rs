//! `wflow lsp` driven by a real JSON-RPC client over stdio.

use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};
use wflow_testkit::lsp_client::{LspClient, frame};
use wflow_testkit::lsp_storm;

/// The test's view of the client: every failure to talk to the server fails the test.
struct Client(Option<LspClient>);

impl Client {
    fn start() -> Client {
        Client(Some(
            LspClient::start(wflow_exe(), Duration::from_secs(60)).expect("start wflow lsp"),
        ))
    }

    fn inner(&mut self) -> &mut LspClient {
        self.0.as_mut().expect("running")
    }

    fn notify(&mut self, method: &str, params: Value) {
        self.inner().notify(method, params).expect("notify");
    }

    fn request(&mut self, method: &str, params: Value) -> Value {
        self.inner().request(method, params).expect("request")
    }

    fn diagnostics(&mut self, uri: &str, version: i64) -> Vec<Value> {
        self.inner().diagnostics(uri, version).expect("diagnostics")
    }

    fn initialize(&mut self, capabilities: Value) -> Value {
        self.inner().initialize(capabilities).expect("initialize")
    }

    fn open(&mut self, uri: &str, text: &str) {
        self.inner().open(uri, "wflow", text).expect("open");
    }

    /// A server initialized as VS Code, with DOC open at `uri` and checked.
    fn with_doc(uri: &str) -> Client {
        let mut c = Client::start();
        c.initialize(vscode_capabilities());
        c.open(uri, DOC);
        c.diagnostics(uri, 1);
        c
    }

    /// Replaces the whole text of `uri` (as version `version`).
    fn set_text(&mut self, uri: &str, version: i64, text: &str) {
        self.notify(
            "textDocument/didChange",
            json!({"textDocument": {"uri": uri, "version": version}, "contentChanges": [{"text": text}]}),
        );
    }

    /// The labels of the completions at `position` of `uri`.
    fn completion_labels(&mut self, uri: &str, position: Value) -> Vec<String> {
        let items = self.request(
            "textDocument/completion",
            json!({"textDocument": {"uri": uri}, "position": position}),
        );
        items["result"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|i| i["label"].as_str().map(str::to_string))
            .collect()
    }

    fn shutdown(mut self) {
        let client = self.0.take().expect("running");
        assert!(
            client.shutdown().expect("shutdown"),
            "the server should exit with success"
        );
    }
}

/// Client capabilities abridged from what VS Code 1.9x sends: UTF-16 positions only.
fn vscode_capabilities() -> Value {
    json!({
        "general": {"positionEncodings": ["utf-16"]},
        "textDocument": {
            "synchronization": {"dynamicRegistration": true, "didSave": true},
            "hover": {"contentFormat": ["markdown", "plaintext"]},
            "completion": {"completionItem": {"snippetSupport": true}},
            "publishDiagnostics": {"relatedInformation": true, "versionSupport": true},
            "rename": {"prepareSupport": true}
        }
    })
}

/// Client capabilities abridged from what Neovim 0.11 sends: it offers UTF-8 first.
fn neovim_capabilities() -> Value {
    json!({
        "general": {"positionEncodings": ["utf-8", "utf-16", "utf-32"]},
        "textDocument": {
            "hover": {"contentFormat": ["markdown", "plaintext"]},
            "publishDiagnostics": {"relatedInformation": true, "tagSupport": {"valueSet": [1, 2]}}
        }
    })
}

const DOC: &str = r#"workflow w "W" {
  form trigger "Go" {
    input service: string "Service"
  }
  webhook call "Call" {
    url "https://example.com/{{ .outputs.trigger.service }}"
  }
  schedule nightly "Nightly" { cron "0 9 * * 1-5" }
  flow {
    trigger -> call
  }
}
"#;

fn pos_of(text: &str, needle: &str) -> Value {
    let at = text.find(needle).expect("needle");
    let line = text[..at].matches('\n').count();
    let col = text[..at]
        .rsplit('\n')
        .next()
        .map_or(0, |l| l.encode_utf16().count());
    json!({"line": line, "character": col})
}

#[test]
fn a_session_with_vscode_capabilities() {
    let mut c = Client::start();
    let init = c.initialize(vscode_capabilities());
    assert_eq!(init["result"]["capabilities"]["positionEncoding"], "utf-16");
    let uri = "file:///tmp/w.wflow";
    c.open(uri, DOC);
    assert_eq!(
        c.diagnostics(uri, 1),
        Vec::<Value>::new(),
        "a clean file has no diagnostics"
    );

    // An incremental edit that breaks a reference: `call` becomes `cal` in the flow.
    let at = pos_of(DOC, "call\n  }\n}");
    let end = json!({"line": at["line"], "character": at["character"].as_u64().unwrap_or(0) + 4});
    c.notify(
        "textDocument/didChange",
        json!({"textDocument": {"uri": uri, "version": 2}, "contentChanges": [{"range": {"start": at, "end": end}, "text": "cal"}]}),
    );
    let diags = c.diagnostics(uri, 2);
    assert_eq!(diags.len(), 1, "{diags:#?}");
    assert_eq!(diags[0]["code"], "unknown-node");
    assert_eq!(diags[0]["range"]["start"], at);
    assert!(
        diags[0]["message"]
            .as_str()
            .unwrap_or("")
            .contains("did you mean `call`?")
    );

    // Undo it with a full-text change.
    c.set_text(uri, 3, DOC);
    assert_eq!(c.diagnostics(uri, 3), Vec::<Value>::new());

    let hover = c.request(
        "textDocument/hover",
        json!({"textDocument": {"uri": uri}, "position": pos_of(DOC, "call\n  }\n}")}),
    );
    let md = hover["result"]["contents"]["value"].as_str().unwrap_or("");
    assert!(md.starts_with("**webhook** `call` — Call"), "{hover}");
    let hover = c.request(
        "textDocument/hover",
        json!({"textDocument": {"uri": uri}, "position": pos_of(DOC, "9 * * 1-5")}),
    );
    assert!(
        hover["result"]["contents"]["value"]
            .as_str()
            .unwrap_or("")
            .contains("Next runs:"),
        "{hover}"
    );

    let def = c.request(
        "textDocument/definition",
        json!({"textDocument": {"uri": uri}, "position": pos_of(DOC, "call\n  }\n}")}),
    );
    assert_eq!(
        def["result"]["range"]["start"],
        pos_of(DOC, "call \"Call\"")
    );

    let mut src = DOC.to_string();
    src.insert_str(
        DOC.find("  }\n  schedule").unwrap_or(0),
        "    body { x: \"{{ .outputs. }}\" }\n",
    );
    c.notify(
        "textDocument/didChange",
        json!({"textDocument": {"uri": uri, "version": 4}, "contentChanges": [{"text": src}]}),
    );
    let _ = c.diagnostics(uri, 4);
    let mut p = pos_of(&src, ".outputs. }}");
    p["character"] = json!(p["character"].as_u64().unwrap_or(0) + ".outputs.".len() as u64);
    let labels = c.completion_labels(uri, p);
    assert!(
        labels.iter().any(|l| l == "nightly") && labels.iter().any(|l| l == "trigger"),
        "{labels:?}"
    );

    let rename = c.request(
        "textDocument/rename",
        json!({"textDocument": {"uri": uri}, "position": pos_of(&src, "call \"Call\""), "newName": "invoke"}),
    );
    let edits = rename["result"]["changes"][uri]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(edits.len(), 2, "declaration and the edge: {rename}");
    assert!(edits.iter().all(|e| e["newText"] == "invoke"));

    // Semantic tokens for the jq in templates: `.outputs`, `.trigger`, `.service`, ...
    let tokens = c.request(
        "textDocument/semanticTokens/full",
        json!({"textDocument": {"uri": uri}}),
    );
    let data: Vec<u64> = tokens["result"]["data"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_u64)
        .collect();
    assert!(data.len() >= 15 && data.len().is_multiple_of(5), "{tokens}");
    let first = pos_of(&src, ".outputs.trigger");
    let at = |k: &str| first[k].as_u64().unwrap_or(0);
    assert_eq!(
        data[..3],
        [at("line"), at("character"), ".outputs".len() as u64]
    );
    assert_eq!(data[3], 1, "a property");

    let symbols = c.request(
        "textDocument/documentSymbol",
        json!({"textDocument": {"uri": uri}}),
    );
    let children: Vec<&str> = symbols["result"][0]["children"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s["name"].as_str())
        .collect();
    assert_eq!(children, ["trigger", "call", "nightly"]);
    c.shutdown();
}

#[test]
fn columns_follow_the_negotiated_encoding() {
    // `é` is 2 bytes / 1 UTF-16 unit, `😀` is 4 bytes / 2 units: the column of `bogus` differs.
    let text = "workflow w {\n  webhook a { description \"é😀\"; bogus 1 }\n}\n";
    let prefix = "  webhook a { description \"é😀\"; ";
    for (caps, expected) in [
        (vscode_capabilities(), prefix.encode_utf16().count()),
        (neovim_capabilities(), prefix.len()),
    ] {
        let mut c = Client::start();
        c.initialize(caps);
        let uri = "file:///tmp/enc.wflow";
        c.open(uri, text);
        let diags = c.diagnostics(uri, 1);
        let bogus = diags
            .iter()
            .find(|d| d["code"] == "unknown-field")
            .expect("unknown field reported");
        assert_eq!(
            bogus["range"]["start"],
            json!({"line": 1, "character": expected}),
            "{diags:#?}"
        );
        c.shutdown();
    }
}

#[test]
fn broken_input_never_takes_the_server_down() {
    let mut c = Client::start();
    c.initialize(vscode_capabilities());
    let uri = "file:///tmp/broken.wflow";
    c.open(
        uri,
        "workflow {{{{ \"\\u12 `unclosed\n  -> -> }}}} \u{0} input : :",
    );
    let diags = c.diagnostics(uri, 1);
    assert!(!diags.is_empty());
    assert!(diags.iter().all(|d| d["code"].is_string()), "{diags:#?}");
    // Port JSON documents are checked too.
    c.notify(
        "textDocument/didOpen",
        json!({"textDocument": {"uri": "file:///tmp/x.json", "languageId": "json", "version": 7, "text": "{\"nodes\": [,]}"}}),
    );
    let diags = c.diagnostics("file:///tmp/x.json", 7);
    assert_eq!(diags[0]["code"], "json-syntax");
    // Queries at absurd positions still answer.
    let r = c.request(
        "textDocument/hover",
        json!({"textDocument": {"uri": uri}, "position": {"line": 999, "character": 999}}),
    );
    assert!(r.get("error").is_none(), "{r}");
    c.shutdown();
}

#[test]
fn formatting_and_quick_fixes() {
    let mut c = Client::start();
    c.initialize(vscode_capabilities());
    let uri = "file:///tmp/fmt.wflow";
    let messy = "workflow w \"W\" {\n form trigger \"Go\" {\n input service: string \"Service\" }\n  webhook check-env \"Check\" { url \"https://x/{{ .outputs.trigger.service }}\" }\n  webhook call \"Call\" { url \"https://x/{{ .outputs.check-env.response.status }}\"; methd POST }\n  flow { trigger -> check-env -> call }\n}\n";
    c.open(uri, messy);
    let diags = c.diagnostics(uri, 1);
    let codes: Vec<&str> = diags.iter().filter_map(|d| d["code"].as_str()).collect();
    assert!(
        codes.contains(&"hyphen-in-reference") && codes.contains(&"unknown-field"),
        "{codes:?}"
    );

    // Quick fixes for the whole document.
    let whole = json!({"start": {"line": 0, "character": 0}, "end": {"line": 8, "character": 0}});
    let actions = c.request(
        "textDocument/codeAction",
        json!({"textDocument": {"uri": uri}, "range": whole, "context": {"diagnostics": []}}),
    );
    let edits: Vec<String> = actions["result"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|a| {
            a["edit"]["changes"][uri]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .filter_map(|e| e["newText"].as_str().map(str::to_string))
        .collect();
    assert!(edits.contains(&"[\"check-env\"]".to_string()), "{actions}");
    assert!(edits.contains(&"method".to_string()), "{actions}");

    // A file with an unknown field is not formatted (printing would drop the field).
    let r = c.request(
        "textDocument/formatting",
        json!({"textDocument": {"uri": uri}, "options": {"tabSize": 2, "insertSpaces": true}}),
    );
    assert_eq!(r["result"], Value::Null, "{r}");
    c.notify(
        "textDocument/didChange",
        json!({"textDocument": {"uri": uri, "version": 5}, "contentChanges": [{"text": messy.replace("methd", "method")}]}),
    );
    let _ = c.diagnostics(uri, 5);

    // Formatting returns one edit with the canonical layout, which formats to itself.
    let r = c.request(
        "textDocument/formatting",
        json!({"textDocument": {"uri": uri}, "options": {"tabSize": 2, "insertSpaces": true}}),
    );
    let formatted = r["result"][0]["newText"].as_str().unwrap_or("").to_string();
    assert!(
        formatted
            .contains("\n  form trigger \"Go\" {\n    input service: string \"Service\"\n  }\n"),
        "{formatted}"
    );
    c.notify(
        "textDocument/didChange",
        json!({"textDocument": {"uri": uri, "version": 2}, "contentChanges": [{"text": formatted}]}),
    );
    let _ = c.diagnostics(uri, 2);
    let again = c.request(
        "textDocument/formatting",
        json!({"textDocument": {"uri": uri}, "options": {"tabSize": 2, "insertSpaces": true}}),
    );
    assert_eq!(again["result"], json!([]), "formatting is idempotent");

    // A file with syntax errors is not formatted.
    c.notify(
        "textDocument/didChange",
        json!({"textDocument": {"uri": uri, "version": 3}, "contentChanges": [{"text": "workflow w { webhook = }"}]}),
    );
    let _ = c.diagnostics(uri, 3);
    let broken = c.request(
        "textDocument/formatting",
        json!({"textDocument": {"uri": uri}, "options": {"tabSize": 2, "insertSpaces": true}}),
    );
    assert_eq!(broken["result"], Value::Null);
    c.shutdown();
}

#[test]
fn optional_fields_only_for_clients_that_declare_them() {
    // Related information ("first given here") and `isPreferred` on quick fixes go only to
    // clients that declare them: Emacs 29.1's eglot sends `relatedInformation: false`, Neovim
    // 0.6 and 0.7 send no `isPreferredSupport` (their recorded capabilities, in pytest-lsp).
    let text = "workflow w {\n  description \"a\"\n  description \"b\"\n  webhook a { url \"https://x\"; methd POST }\n}\n";
    let declining = json!({
        "general": {"positionEncodings": ["utf-32", "utf-8", "utf-16"]},
        "textDocument": {
            "publishDiagnostics": {"relatedInformation": false, "tagSupport": {"valueSet": [1, 2]}},
            "codeAction": {"codeActionLiteralSupport": {"codeActionKind": {"valueSet": ["quickfix"]}}}
        }
    });
    let declaring = json!({
        "textDocument": {
            "publishDiagnostics": {"relatedInformation": true},
            "codeAction": {
                "codeActionLiteralSupport": {"codeActionKind": {"valueSet": ["quickfix"]}},
                "isPreferredSupport": true
            }
        }
    });
    for (caps, declared) in [(declining, false), (declaring, true)] {
        let mut c = Client::start();
        c.initialize(caps);
        let uri = "file:///tmp/optional.wflow";
        c.open(uri, text);
        let diags = c.diagnostics(uri, 1);
        let dup = diags
            .iter()
            .find(|d| d["code"] == "duplicate-field")
            .expect("duplicate field reported");
        assert_eq!(
            dup.get("relatedInformation").is_some(),
            declared,
            "{diags:#?}"
        );
        let whole =
            json!({"start": {"line": 0, "character": 0}, "end": {"line": 5, "character": 0}});
        let actions = c.request(
            "textDocument/codeAction",
            json!({"textDocument": {"uri": uri}, "range": whole, "context": {"diagnostics": []}}),
        );
        let actions = actions["result"].as_array().cloned().unwrap_or_default();
        assert_eq!(actions.len(), 1, "{actions:#?}");
        assert_eq!(
            actions[0].get("isPreferred").is_some(),
            declared,
            "{actions:#?}"
        );
        c.shutdown();
    }
}

#[test]
fn a_node_in_a_chain_is_renamed_once() {
    // In `trigger -> call -> notify`, `call` ends one connection and starts the next at the same
    // place: rename and references name it once there (overlapping edits are invalid LSP).
    let text = "workflow w \"W\" {\n  form trigger \"Go\" {\n    input service: string \"Service\"\n  }\n  webhook call \"Call\" { url \"https://x/{{ .outputs.trigger.service }}\" }\n  webhook notify \"Notify\" { url \"https://x/{{ .outputs.call.response.status }}\" }\n  flow {\n    trigger -> call -> notify\n  }\n}\n";
    let mut c = Client::start();
    c.initialize(vscode_capabilities());
    let uri = "file:///tmp/chain.wflow";
    c.open(uri, text);
    assert_eq!(c.diagnostics(uri, 1), Vec::<Value>::new());
    let at = pos_of(text, "call -> notify");
    let refs = c.request(
        "textDocument/references",
        json!({"textDocument": {"uri": uri}, "position": at, "context": {"includeDeclaration": true}}),
    );
    let refs = refs["result"].as_array().cloned().unwrap_or_default();
    assert_eq!(refs.len(), 3, "declaration, flow, jq: {refs:#?}");
    let rename = c.request(
        "textDocument/rename",
        json!({"textDocument": {"uri": uri}, "position": at, "newName": "invoke"}),
    );
    let edits = rename["result"]["changes"][uri]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let mut starts: Vec<String> = edits
        .iter()
        .map(|e| e["range"]["start"].to_string())
        .collect();
    starts.sort();
    starts.dedup();
    assert_eq!(
        (edits.len(), starts.len()),
        (3, 3),
        "declaration, flow, jq, no two at one place: {rename}"
    );
    c.shutdown();
}

/// The `wflow` binary under test.
fn wflow_exe() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_wflow"))
}

/// A DOC with `call` misspelled in the flow when `broken` (one `unknown-node` error).
fn doc_variant(broken: bool) -> String {
    if broken {
        DOC.replace("trigger -> call", "trigger -> cal")
    } else {
        DOC.to_string()
    }
}

/// Hover params on the webhook `call` of DOC.
fn hover_on_call(uri: &str) -> Value {
    json!({"textDocument": {"uri": uri}, "position": pos_of(DOC, "call \"Call\"")})
}

fn did_change(uri: &str, version: i64, changes: Value) -> Value {
    json!({"jsonrpc": "2.0", "method": "textDocument/didChange", "params": {"textDocument": {"uri": uri, "version": version}, "contentChanges": changes}})
}

#[test]
fn an_edit_and_a_request_in_one_write_still_publish_that_versions_diagnostics() {
    let uri = "file:///tmp/burst.wflow";
    let mut c = Client::with_doc(uri);
    for version in 2..22 {
        let broken = version % 2 == 0;
        let edit = did_change(uri, version, json!([{"text": doc_variant(broken)}]));
        let (id, hover) = c
            .inner()
            .request_message("textDocument/hover", hover_on_call(uri));
        let mut bytes = frame(&edit);
        bytes.extend(frame(&hover));
        c.inner().write_raw(&bytes).expect("write");
        let answer = c.inner().response(id).expect("hover answer");
        assert!(
            answer["result"]["contents"]["value"]
                .as_str()
                .is_some_and(|md| md.contains("`call`")),
            "the hover is answered on the new text: {answer}"
        );
        let diags = c.diagnostics(uri, version);
        let codes: Vec<&Value> = diags.iter().map(|d| &d["code"]).collect();
        let want = if broken { vec!["unknown-node"] } else { vec![] };
        assert_eq!(codes, want, "version {version}");
    }
    c.shutdown();
}

/// Waits for a JSON-RPC error answer with id null and `code`; returns its message.
fn parse_error(c: &mut Client, code: i64) -> String {
    let m = c
        .inner()
        .wait(|m| m["id"].is_null() && m["error"]["code"] == code)
        .expect("an error answer");
    m["error"]["message"].as_str().unwrap_or("").to_string()
}

#[test]
fn unreadable_frames_are_answered_and_the_server_keeps_serving() {
    let uri = "file:///tmp/frames.wflow";
    let mut c = Client::with_doc(uri);
    let hover = hover_on_call(uri);
    let answered = |c: &mut Client| {
        let r = c.request("textDocument/hover", hover.clone());
        assert!(r["result"]["contents"]["value"].is_string(), "{r}");
    };

    // A lone surrogate in an edit's text becomes U+FFFD (one UTF-16 unit, like the surrogate):
    // the edit is applied and checked.
    let edit = did_change(uri, 2, json!([{"text": format!("{DOC}// SURROGATE\n")}]))
        .to_string()
        .replace("SURROGATE", "\\ud800");
    c.inner()
        .write_raw(format!("Content-Length: {}\r\n\r\n{edit}", edit.len()).as_bytes())
        .expect("write");
    assert_eq!(c.diagnostics(uri, 2), Vec::<Value>::new());
    let r = c.request(
        "textDocument/documentSymbol",
        json!({"textDocument": {"uri": uri}}),
    );
    assert!(r["result"].as_array().is_some_and(|s| !s.is_empty()), "{r}");
    answered(&mut c);

    // Invalid UTF-8 in a request: a parse error, then the next request is answered.
    let mut bad =
        br#"{"jsonrpc":"2.0","id":900,"method":"textDocument/hover","params":{"x":""#.to_vec();
    bad.extend([0xff, 0xfe]);
    bad.extend(br#""}}"#);
    let mut bytes = format!("Content-Length: {}\r\n\r\n", bad.len()).into_bytes();
    bytes.extend(&bad);
    c.inner().write_raw(&bytes).expect("write");
    assert!(parse_error(&mut c, -32700).contains("not UTF-8"));
    answered(&mut c);

    // A Content-Length that is not a number: the frame is refused, the next one is read.
    let body = r#"{"jsonrpc":"2.0","id":901,"method":"shutdown"}"#;
    c.inner()
        .write_raw(format!("Content-Length: 4x\r\n\r\n{body}").as_bytes())
        .expect("write");
    assert!(parse_error(&mut c, -32700).contains("`4x` is not a byte count"));
    answered(&mut c);

    // JSON that is not a JSON-RPC message.
    c.inner()
        .write_raw(b"Content-Length: 5\r\n\r\n[1,2]")
        .expect("write");
    assert!(parse_error(&mut c, -32600).contains("not a JSON-RPC 2.0"));
    answered(&mut c);
    c.shutdown();
}

#[test]
fn an_edit_that_cannot_be_applied_is_reported_until_the_full_text_comes_back() {
    let uri = "file:///tmp/sync.wflow";
    let mut c = Client::with_doc(uri);
    let hover = hover_on_call(uri);
    let at = |line: u64, character: u64| json!({"line": line, "character": character});
    let bad_edits = [
        (at(4_294_967_296, 0), at(4_294_967_296, 0), "4294967296"),
        (
            at(999, 0),
            at(999, 1),
            "line 1000, column 1, past the end of the document (13 lines)",
        ),
        (
            at(2, 4),
            at(1, 0),
            "ends (line 2, column 1) before it starts (line 3, column 5)",
        ),
    ];
    let mut version = 1;
    for (start, end, why) in bad_edits {
        version += 1;
        let edit = |start: &Value, end: &Value| json!([{"range": {"start": start, "end": end}, "text": "x"}]);
        c.notify(
            "textDocument/didChange",
            did_change(uri, version, edit(&start, &end))["params"].clone(),
        );
        let shown = c
            .inner()
            .wait(|m| m["method"] == "window/showMessage")
            .expect("showMessage");
        let message = shown["params"]["message"].as_str().unwrap_or("");
        assert!(message.contains(why), "{message}");
        assert!(message.contains("close and reopen the file"), "{message}");
        let out_of_sync = |c: &mut Client, version: i64| {
            let diags = c.diagnostics(uri, version);
            assert_eq!(diags.len(), 1, "{diags:#?}");
            assert_eq!(diags[0]["code"], "out-of-sync");
        };
        if !why.contains("4294967296") {
            out_of_sync(&mut c, version);
        }
        // A good incremental edit cannot repair it, and nothing is answered from a text that
        // may have drifted.
        version += 1;
        c.notify(
            "textDocument/didChange",
            did_change(uri, version, edit(&at(0, 0), &at(0, 0)))["params"].clone(),
        );
        out_of_sync(&mut c, version);
        let r = c.request("textDocument/hover", hover.clone());
        assert!(r["result"].is_null(), "{r}");
        // The full text brings it back.
        version += 1;
        c.notify(
            "textDocument/didChange",
            did_change(uri, version, json!([{"text": doc_variant(true)}]))["params"].clone(),
        );
        let diags = c.diagnostics(uri, version);
        assert_eq!(diags.len(), 1, "{diags:#?}");
        assert_eq!(diags[0]["code"], "unknown-node", "back in sync");
        let r = c.request("textDocument/hover", hover.clone());
        assert!(r["result"]["contents"]["value"].is_string(), "{r}");
        c.inner().retain_pending(|_| false);
    }
    // An edit that cannot be read keeps its place after a full text sent just before it: the
    // full text does not undo the loss.
    let full = did_change(uri, version + 1, json!([{"text": DOC}]));
    let bad = did_change(
        uri,
        version + 2,
        json!([{"range": {"start": at(1 << 40, 0), "end": at(0, 0)}, "text": ""}]),
    );
    let mut bytes = frame(&full);
    bytes.extend(frame(&bad));
    c.inner().write_raw(&bytes).expect("write");
    c.inner()
        .wait(|m| m["method"] == "window/showMessage")
        .expect("showMessage");
    let r = c.request("textDocument/hover", hover);
    assert!(r["result"].is_null(), "still out of sync: {r}");
    c.shutdown();
}

#[test]
fn exit_status_is_zero_only_after_shutdown() {
    let mut c = Client::start();
    c.initialize(vscode_capabilities());
    let client = c.0.take().expect("running");
    assert_eq!(client.exit(false).expect("exit"), Some(1));
    let mut c = Client::start();
    c.initialize(vscode_capabilities());
    let client = c.0.take().expect("running");
    assert_eq!(client.exit(true).expect("exit"), Some(0));
}

#[test]
fn deep_nesting_does_not_kill_the_server() {
    let mut c = Client::start();
    c.initialize(vscode_capabilities());
    let deep_jq = format!(
        "workflow w \"W\" {{\n  form trigger \"Go\" {{}}\n  condition c \"C\" {{ outlet a \"A\" when `{}` }}\n}}\n",
        "[".repeat(100_000)
    );
    c.open("file:///tmp/deep.wflow", &deep_jq);
    assert!(!c.diagnostics("file:///tmp/deep.wflow", 1).is_empty());
    c.notify(
        "textDocument/didOpen",
        json!({"textDocument": {"uri": "file:///tmp/deep.json", "languageId": "json", "version": 1, "text": "[".repeat(100_000)}}),
    );
    assert!(!c.diagnostics("file:///tmp/deep.json", 1).is_empty());
    let uri = "file:///tmp/after.wflow";
    c.open(uri, DOC);
    let r = c.request("textDocument/hover", hover_on_call(uri));
    assert!(r["result"]["contents"]["value"].is_string(), "{r}");
    c.shutdown();
}

/// `(code, line, message with help)` of each diagnostic `wflow check` reports for `text`.
fn cli_diagnostics(dir: &Path, name: &str, text: &str) -> Vec<(String, u64, String)> {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write");
    let out = std::process::Command::new(wflow_exe())
        .args(["check", "--format", "json"])
        .arg(&path)
        .output()
        .expect("wflow check");
    let report: Value = serde_json::from_slice(&out.stdout).expect("json report");
    let mut diags: Vec<(String, u64, String)> = report["diagnostics"]
        .as_array()
        .expect("diagnostics")
        .iter()
        .map(|d| {
            let mut message = d["message"].as_str().unwrap_or("").to_string();
            if let Some(help) = d["help"].as_str() {
                message.push_str("\nhelp: ");
                message.push_str(help);
            }
            let line = d["line"].as_u64().unwrap_or(0).saturating_sub(1);
            (d["code"].as_str().unwrap_or("").to_string(), line, message)
        })
        .collect();
    diags.sort();
    diags
}

fn lsp_diagnostics(diags: &[Value]) -> Vec<(String, u64, String)> {
    let mut out: Vec<(String, u64, String)> = diags
        .iter()
        .map(|d| {
            (
                d["code"].as_str().unwrap_or("").to_string(),
                d["range"]["start"]["line"].as_u64().unwrap_or(0),
                d["message"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    out.sort();
    out
}

#[test]
fn after_a_random_edit_storm_the_diagnostics_match_wflow_check() {
    let mut c = Client::start();
    c.initialize(vscode_capabilities());
    let mut docs = lsp_storm::open_documents(c.inner()).expect("open");
    let mut rng = lsp_storm::Rng::new(2026);
    let last = lsp_storm::run(c.inner(), &mut docs, &mut rng, 300, |_, _| ())
        .expect("the storm is answered");
    let dir = std::env::temp_dir().join(format!("wflow-lsp-storm-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    for (doc, published) in docs.iter().zip(&last) {
        let name = doc.uri.rsplit('/').next().unwrap_or("doc");
        assert_eq!(
            lsp_diagnostics(published),
            cli_diagnostics(&dir, name, &doc.text),
            "{} at version {}:\n{}",
            doc.uri,
            doc.version,
            doc.text
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
    c.shutdown();
}

#[test]
fn the_graph_command_draws_the_document_as_it_is_edited() {
    let mut c = Client::start();
    let init = c.initialize(vscode_capabilities());
    assert_eq!(
        init["result"]["capabilities"]["executeCommandProvider"]["commands"],
        json!(["wflow.graph"])
    );
    let uri = "file:///tmp/graph.wflow";
    c.open(uri, DOC);
    c.diagnostics(uri, 1);
    let graph = |c: &mut Client| {
        c.request(
            "workspace/executeCommand",
            json!({"command": "wflow.graph", "arguments": [uri]}),
        )
    };
    let svg = graph(&mut c)["result"]
        .as_str()
        .expect("an SVG string")
        .to_string();
    assert!(svg.starts_with("<svg "), "{svg}");
    for node in ["trigger", "call", "nightly"] {
        assert!(
            svg.contains(&format!("data-node=\"{node}\"")),
            "{node}: {svg}"
        );
    }
    // An edit with errors (an unknown node): the drawing follows, with what can be read.
    c.notify(
        "textDocument/didChange",
        json!({"textDocument": {"uri": uri, "version": 2},
               "contentChanges": [{"text": DOC.replace("trigger -> call", "trigger -> call -> gone")
                   .replace("webhook call", "webhook called")}]}),
    );
    let svg = graph(&mut c)["result"].as_str().expect("svg").to_string();
    assert!(svg.contains("data-node=\"called\""), "{svg}");
    assert!(!svg.contains("data-node=\"call\""), "{svg}");
    // Unknown documents and commands are invalid parameters.
    let r = c.request(
        "workspace/executeCommand",
        json!({"command": "wflow.graph", "arguments": ["file:///tmp/not-open.wflow"]}),
    );
    assert_eq!(r["error"]["code"], -32602, "{r}");
    let r = c.request(
        "workspace/executeCommand",
        json!({"command": "wflow.nope", "arguments": [uri]}),
    );
    assert_eq!(r["error"]["code"], -32602, "{r}");
    let r = c.request(
        "workspace/executeCommand",
        json!({"command": "wflow.graph", "arguments": [1, 2]}),
    );
    assert_eq!(r["error"]["code"], -32602, "{r}");
    c.shutdown();
}

#[test]
fn a_test_file_is_checked_against_the_workflows_beside_it() {
    let dir = std::env::temp_dir().join(format!("wflow-lsp-tests-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    std::fs::write(
        dir.join("deploy.wflow"),
        "workflow deploy \"Deploy\" {\n  form trigger \"Go\" { input service: string \"Service\" }\n  webhook call \"Call\" { url \"https://x/{{ .outputs.trigger.service }}\" }\n  flow { trigger -> call }\n}\n",
    )
    .expect("write");
    let uri = format!("file://{}/deploy.test.wflow", dir.display());
    let broken = "test deploy \"calls\" {\n  inputs { servce: \"api\" }\n  mock cal 200\n}\n";
    let mut c = Client::start();
    c.initialize(vscode_capabilities());
    c.open(&uri, broken);
    let diags = c.diagnostics(&uri, 1);
    let found: Vec<(&str, u64)> = diags
        .iter()
        .filter_map(|d| Some((d["code"].as_str()?, d["range"]["start"]["line"].as_u64()?)))
        .collect();
    assert_eq!(
        found,
        [("unknown-input-key", 1), ("unknown-node", 2)],
        "{diags:?}"
    );
    // Fixed: the same verdict as `wflow check` and `wflow test`, nothing to report.
    c.notify(
        "textDocument/didChange",
        json!({"textDocument": {"uri": uri, "version": 2}, "contentChanges": [
            {"text": "test deploy \"calls\" {\n  inputs { service: \"api\" }\n  mock call 200\n}\n"}]}),
    );
    assert!(c.diagnostics(&uri, 2).is_empty());
    c.shutdown();
    let _ = std::fs::remove_dir_all(&dir);
}

/// The editor knows `concurrency`: a diagnostic at a bad limit, a hover saying what the limit
/// does, and the keyword among a workflow's fields.
#[test]
fn the_concurrency_limit_is_checked_hovered_and_completed() {
    let doc = "workflow deploy \"Deploy\" {\n  concurrency 0\n  form trigger \"Go\" {}\n  webhook call \"Call\" { url \"https://x.example.com\" }\n  flow { trigger -> call }\n}\n";
    let uri = "file:///tmp/concurrency.wflow";
    let mut c = Client::start();
    c.initialize(vscode_capabilities());
    c.open(uri, doc);
    let diags = c.diagnostics(uri, 1);
    assert_eq!(diags.len(), 1, "{diags:#?}");
    assert_eq!(diags[0]["code"], "concurrency-out-of-range");
    assert_eq!(diags[0]["range"]["start"], pos_of(doc, "0\n"));

    let fixed = doc.replace("concurrency 0", "concurrency 2");
    c.set_text(uri, 2, &fixed);
    assert_eq!(c.diagnostics(uri, 2), Vec::<Value>::new());
    let hover = c.request(
        "textDocument/hover",
        json!({"textDocument": {"uri": uri}, "position": pos_of(&fixed, "currency 2")}),
    );
    let md = hover["result"]["contents"]["value"].as_str().unwrap_or("");
    assert!(
        md.contains("at most 2 runs of this workflow at once"),
        "{hover}"
    );
    let labels = c.completion_labels(uri, pos_of(&fixed, "  form"));
    assert!(labels.iter().any(|l| l == "concurrency"), "{labels:?}");
    c.shutdown();
}
