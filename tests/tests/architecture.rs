//! The crate boundaries of ARCHITECTURE.md, checked against `cargo metadata`: which crate may
//! have what in its (normal, transitive) dependency tree, and which crates may use a library
//! directly.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

/// Libraries that mean IO, async, a protocol or a front end.
const HEAVY: &[&str] = &[
    "tokio",
    "sqlx",
    "reqwest",
    "axum",
    "rdkafka",
    "miette",
    "clap",
    "tower-lsp-server",
];

/// What each crate's tree may not hold.
fn forbidden(krate: &str) -> &'static [&'static str] {
    match krate {
        "wflow-grammar" | "wflow-stdlib" | "wflow-compiler" | "wflow-project" | "wflow-graph" => {
            HEAVY
        }
        "wflow-lsp" => &["sqlx", "reqwest", "axum", "rdkafka", "miette", "clap"],
        "wflow-store" => &[
            "reqwest",
            "axum",
            "rdkafka",
            "miette",
            "clap",
            "tower-lsp-server",
        ],
        "wflow-effects" => &["sqlx", "axum", "miette", "clap", "tower-lsp-server"],
        "wflow-engine" | "wflow-tester" => &["axum", "rmcp", "tower-lsp-server", "miette", "clap"],
        "wflow-server" => &["tower-lsp-server", "miette", "clap"],
        _ => &[],
    }
}

/// Libraries only these crates may name in their own `[dependencies]`.
const DIRECT: &[(&str, &[&str])] = &[
    ("clap", &["wflow", "wflow-bench"]),
    ("miette", &["wflow"]),
    ("tower-lsp-server", &["wflow-lsp"]),
    ("axum", &["wflow-server", "wflow-bench", "wflow-testkit"]),
    ("rmcp", &["wflow-server"]),
    ("sqlx", &["wflow-store", "wflow-testkit"]),
    ("rdkafka", &["wflow-effects"]),
];

struct Graph {
    /// Package id → name.
    names: BTreeMap<String, String>,
    /// Package id → the ids of its normal dependencies.
    deps: BTreeMap<String, Vec<String>>,
    /// Workspace members: name → id.
    members: BTreeMap<String, String>,
}

/// The platform this test runs on (`rustc -vV`'s host): only its dependencies are resolved,
/// so nothing needs downloading.
fn host() -> String {
    let out = std::process::Command::new("rustc")
        .arg("-vV")
        .output()
        .expect("rustc -vV");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: "))
        .expect("host line")
        .to_string()
}

fn metadata() -> Graph {
    let out = std::process::Command::new(env!("CARGO"))
        .args([
            "metadata",
            "--format-version",
            "1",
            "--offline",
            "--filter-platform",
        ])
        .arg(host())
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo metadata");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let m: Value = serde_json::from_slice(&out.stdout).expect("metadata json");
    let names: BTreeMap<String, String> = m["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .map(|p| {
            (
                p["id"].as_str().expect("id").into(),
                p["name"].as_str().expect("name").into(),
            )
        })
        .collect();
    let members = m["workspace_members"]
        .as_array()
        .expect("members")
        .iter()
        .filter_map(Value::as_str)
        .map(|id| (names[id].clone(), id.to_string()))
        .collect();
    let deps = m["resolve"]["nodes"]
        .as_array()
        .expect("resolve")
        .iter()
        .map(|n| {
            let normal = n["deps"]
                .as_array()
                .expect("deps")
                .iter()
                .filter(|d| {
                    d["dep_kinds"]
                        .as_array()
                        .is_some_and(|ks| ks.iter().any(|k| k["kind"].is_null()))
                })
                .map(|d| d["pkg"].as_str().expect("pkg").to_string())
                .collect();
            (n["id"].as_str().expect("id").to_string(), normal)
        })
        .collect();
    Graph {
        names,
        deps,
        members,
    }
}

impl Graph {
    fn tree(&self, id: &str) -> BTreeSet<String> {
        let mut seen = BTreeSet::new();
        let mut todo = vec![id.to_string()];
        while let Some(id) = todo.pop() {
            for d in self.deps.get(&id).into_iter().flatten() {
                if seen.insert(d.clone()) {
                    todo.push(d.clone());
                }
            }
        }
        seen.iter().map(|d| self.names[d].clone()).collect()
    }

    fn direct(&self, id: &str) -> BTreeSet<String> {
        self.deps
            .get(id)
            .into_iter()
            .flatten()
            .map(|d| self.names[d].clone())
            .collect()
    }
}

#[test]
fn crates_keep_to_their_boundaries() {
    let g = metadata();
    for member in ["wflow-compiler", "wflow-graph"] {
        assert!(g.members.contains_key(member), "{:?}", g.members);
    }
    let mut problems = Vec::new();
    for (name, id) in &g.members {
        let tree = g.tree(id);
        for bad in forbidden(name) {
            if tree.contains(*bad) {
                problems.push(format!("{name} depends on {bad}"));
            }
        }
        // Test and benchmark support stays out of every library crate.
        if !["wflow", "wflow-bench", "wflow-tests"].contains(&name.as_str()) {
            for support in ["wflow-testkit", "wflow-bench"] {
                if tree.contains(support) {
                    problems.push(format!("{name} depends on {support}"));
                }
            }
        }
        let direct = g.direct(id);
        for (lib, allowed) in DIRECT {
            if direct.contains(*lib) && !allowed.contains(&name.as_str()) {
                problems.push(format!("{name} uses {lib} directly"));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_rules_are_not_vacuous() {
    let g = metadata();
    // The back half really has the libraries the compiler must not have.
    let server = g.tree(&g.members["wflow-server"]);
    for lib in ["tokio", "sqlx", "reqwest", "axum", "rdkafka", "rmcp"] {
        assert!(server.contains(lib), "the server no longer uses {lib}");
    }
    assert!(g.direct(&g.members["wflow"]).contains("clap"));
}
