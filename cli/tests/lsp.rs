//! `wflow lsp` driven by a real JSON-RPC client over stdio.

use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};
use wflow::lsp_client::LspClient;

/// The test's view of the client: every failure to talk to the server fails the test.
struct Client(Option<LspClient>);

impl Client {
    fn start() -> Client {
        let exe = Path::new(env!("CARGO_BIN_EXE_wflow"));
        Client(Some(
            LspClient::start(exe, Duration::from_secs(20)).expect("start wflow lsp"),
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
    c.notify(
        "textDocument/didChange",
        json!({"textDocument": {"uri": uri, "version": 3}, "contentChanges": [{"text": DOC}]}),
    );
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
    let items = c.request(
        "textDocument/completion",
        json!({"textDocument": {"uri": uri}, "position": p}),
    );
    let labels: Vec<&str> = items["result"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|i| i["label"].as_str())
        .collect();
    assert!(
        labels.contains(&"nightly") && labels.contains(&"trigger"),
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
