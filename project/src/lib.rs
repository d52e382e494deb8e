//! What every front end of wflow shares about a project (taplo's `taplo-common` is the
//! pattern): where its configuration is, which blueprints its workflows are checked against
//! and which services and secrets its runs may use. `wflow check`, `wflow lsp`, `wflow exec`
//! and `wflow serve` all build a [`Workspace`] the same way, so a file gets one verdict.
//!
//! - configuration: `--config FILE`, else `$WFLOW_CONFIG`, else the nearest `wflow.toml` in
//!   the directory of the first path or any directory above it, else `wflow.toml` in the
//!   current directory; then the `WFLOW_*` environment overrides ([`settings`]);
//! - blueprints: Port blueprint JSON files in `--blueprints DIR`, in a `blueprints/` directory
//!   beside each checked path and in one beside the configuration file.

pub mod settings;

use std::path::{Path, PathBuf};

use wflow_compiler::catalog::{Blueprint, Catalog};

pub use settings::{FILE_NAME, Settings};

/// How a workspace is found: the command line's choices and the environment.
pub struct Options<'a> {
    /// `--config FILE`.
    pub config: Option<PathBuf>,
    /// `--blueprints DIR`.
    pub blueprints: Option<PathBuf>,
    /// The environment (`std::env::var` in the binary; a map in tests).
    pub env: &'a dyn Fn(&str) -> Option<String>,
}

/// A project as the front ends see it.
#[derive(Debug)]
pub struct Workspace {
    /// The configuration file in force, if any.
    pub config_file: Option<PathBuf>,
    /// The services, from the configuration file and the environment.
    pub settings: Settings,
    /// The blueprints found (plus Port's system blueprints).
    pub catalog: Catalog,
    /// Blueprint files that could not be read, each with its path and why.
    pub problems: Vec<String>,
}

impl Workspace {
    /// The workspace of `paths` (files or directories). Fails when the configuration cannot
    /// be used (unreadable, invalid, a bad environment override): a run must not start with
    /// services other than the ones the user set.
    pub fn discover(paths: &[PathBuf], options: &Options) -> Result<Workspace, String> {
        let config_file = match (&options.config, (options.env)("WFLOW_CONFIG")) {
            (Some(p), _) => Some(p.clone()),
            (None, Some(p)) if !p.trim().is_empty() => Some(PathBuf::from(p)),
            _ => paths
                .first()
                .and_then(|p| find_config(&directory_of(p)))
                .or_else(|| Some(PathBuf::from(FILE_NAME)).filter(|p| p.is_file())),
        };
        let settings = Settings::load(config_file.as_deref(), Path::new("."), options.env)?;
        let mut dirs: Vec<PathBuf> = options.blueprints.iter().cloned().collect();
        let beside_config = config_file
            .as_deref()
            .map(|c| c.parent().map(Path::to_path_buf).unwrap_or_default());
        for base in paths.iter().map(|p| directory_of(p)).chain(beside_config) {
            let beside = base.join("blueprints");
            if beside.is_dir() && !dirs.contains(&beside) {
                dirs.push(beside);
            }
        }
        let mut problems = Vec::new();
        let blueprints = load_blueprints(&dirs, &mut problems);
        Ok(Workspace {
            config_file,
            settings,
            catalog: Catalog::new(blueprints),
            problems,
        })
    }
}

/// `path` itself when it is a directory, else the directory it is in.
fn directory_of(path: &Path) -> PathBuf {
    if path.is_dir() {
        path.to_path_buf()
    } else {
        path.parent().map(Path::to_path_buf).unwrap_or_default()
    }
}

/// The nearest `wflow.toml` in `dir` or a directory above it.
pub fn find_config(dir: &Path) -> Option<PathBuf> {
    let start = std::path::absolute(dir).ok()?;
    start
        .ancestors()
        .map(|d| d.join(FILE_NAME))
        .find(|p| p.is_file())
}

/// The blueprints of `dirs`: Port blueprint JSON files and `.wflow` files of `blueprint`
/// declarations, the first definition of an identifier winning.
fn load_blueprints(dirs: &[PathBuf], problems: &mut Vec<String>) -> Vec<Blueprint> {
    let mut blueprints: Vec<Blueprint> = Vec::new();
    for d in dirs {
        let mut files: Vec<PathBuf> = match std::fs::read_dir(d) {
            Ok(es) => es
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "json" || x == "wflow"))
                .collect(),
            Err(e) => {
                problems.push(format!("{}: {e}", d.display()));
                continue;
            }
        };
        files.sort();
        for f in files {
            match read_blueprints(&f) {
                Ok(found) => {
                    for b in found {
                        if !blueprints.iter().any(|x| x.identifier == b.identifier) {
                            blueprints.push(b);
                        }
                    }
                }
                Err(e) => problems.push(e),
            }
        }
    }
    blueprints
}

/// Whether a file found in a directory is a workflow file: `.wflow` (test files aside), or
/// JSON that looks like a Port workflow (or a piece of one); other JSON (package.json,
/// blueprints) is left alone.
pub fn is_workflow_source(path: &Path, text: &str) -> bool {
    if wflow_compiler::testfile::is_test_file(path) {
        return false;
    }
    if wflow_compiler::syntax_of(path) == wflow_compiler::Syntax::Wflow {
        return true;
    }
    ["\"nodes\"", "\"connections\"", "\"config\""]
        .iter()
        .any(|k| text.contains(k))
}

/// The workflow files in `dir` (not below), sorted, with their text: the workflows the test
/// files of `dir` may run. Unreadable files are left out.
pub fn workflow_files_in(dir: &Path) -> Vec<(PathBuf, String)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut paths: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .filter(|p| {
            p.extension()
                .is_some_and(|x| x == "wflow" || x.eq_ignore_ascii_case("json"))
        })
        .collect();
    paths.sort();
    paths
        .into_iter()
        .filter_map(|p| {
            let text = std::fs::read_to_string(&p).ok()?;
            is_workflow_source(&p, &text).then_some((p, text))
        })
        .collect()
}

/// The directory of a test file: the one whose workflows it tests.
pub fn test_dir(test: &Path) -> PathBuf {
    match test.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// A workflow file beside a test file, checked.
pub struct Beside {
    pub path: PathBuf,
    pub text: String,
    pub workflows: Vec<wflow_compiler::ir::Workflow>,
    /// The file has errors: its workflows cannot run.
    pub has_errors: bool,
}

/// The workflow files of `dir`, checked against `catalog`.
pub fn checked_workflows_in(dir: &Path, catalog: &Catalog) -> Vec<Beside> {
    workflow_files_in(dir)
        .into_iter()
        .map(|(p, text)| {
            let checked = wflow_compiler::check_file(&p, &text, catalog);
            Beside {
                has_errors: checked.has_errors(),
                workflows: checked.module.workflows,
                path: p,
                text,
            }
        })
        .collect()
}

/// Checks the text of a test file against the workflow files `beside` it and `catalog`: its
/// cases and its diagnostics. `wflow check`, `wflow test` and the language server all call
/// this (with [`checked_workflows_in`] of [`test_dir`]).
pub fn check_test_file(
    text: &str,
    beside: &[Beside],
    catalog: &Catalog,
) -> (
    wflow_compiler::testfile::TestFile,
    Vec<wflow_compiler::Diagnostic>,
) {
    let all: Vec<&wflow_compiler::ir::Workflow> =
        beside.iter().flat_map(|b| &b.workflows).collect();
    wflow_compiler::check_test_source(text, &all, catalog)
}

/// The blueprints of one file: Port blueprint JSON, or a `.wflow` file's `blueprint`
/// declarations. A problem names the file (and the line and column of a declaration's error).
pub fn read_blueprints(file: &Path) -> Result<Vec<Blueprint>, String> {
    let text = std::fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?;
    if file.extension().is_some_and(|x| x == "wflow") {
        let (declared, diagnostics) = wflow_compiler::declared_blueprints(&text);
        let errors: Vec<String> = diagnostics
            .iter()
            .filter(|d| d.severity == wflow_compiler::Severity::Error)
            .map(|d| {
                let (line, column) = wflow_grammar::span::line_col(&text, d.primary.span.start);
                let help = d
                    .help
                    .as_ref()
                    .map(|h| format!("; {h}"))
                    .unwrap_or_default();
                format!("{}:{line}:{column}: {}{help}", file.display(), d.message)
            })
            .collect();
        if errors.is_empty() {
            Ok(declared)
        } else {
            Err(errors.join("\n"))
        }
    } else {
        Blueprint::from_port_json(&text)
            .map(|b| vec![b])
            .map_err(|e| format!("{}: {e}", file.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch() -> PathBuf {
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let d = std::env::temp_dir().join(format!("wflow-project-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(d.join("team/workflows/deep")).expect("dirs");
        d
    }

    const SERVICE: &str = r#"{"identifier": "service", "schema": {"properties": {}}}"#;

    #[test]
    fn the_nearest_config_and_its_blueprints_apply_to_files_below_it() {
        let d = scratch();
        std::fs::write(
            d.join("team").join(FILE_NAME),
            "[github]\napi_url = \"http://127.0.0.1:9/api/v3\"\n",
        )
        .expect("config");
        std::fs::create_dir_all(d.join("team/blueprints")).expect("dir");
        std::fs::write(d.join("team/blueprints/service.json"), SERVICE).expect("bp");
        let file = d.join("team/workflows/deep/x.wflow");
        std::fs::write(&file, "").expect("file");
        let none = |_: &str| None;
        let options = Options {
            config: None,
            blueprints: None,
            env: &none,
        };
        let w = Workspace::discover(&[file], &options).expect("workspace");
        assert_eq!(
            w.config_file.as_deref().and_then(Path::file_name),
            Some(std::ffi::OsStr::new(FILE_NAME))
        );
        assert_eq!(w.settings.github.api_url, "http://127.0.0.1:9/api/v3");
        assert!(w.catalog.get("service").is_some(), "{:?}", w.catalog);
        assert!(w.problems.is_empty(), "{:?}", w.problems);
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn the_command_line_and_the_environment_win() {
        let d = scratch();
        std::fs::write(
            d.join(FILE_NAME),
            "[kafka]\nbrokers = \"a:1\"\ntopic = \"t\"\n",
        )
        .expect("config");
        let other = d.join("other.toml");
        std::fs::write(&other, "[webhook]\ntimeout_secs = 3\n").expect("other");
        let env_path = other.display().to_string();
        let env = |k: &str| (k == "WFLOW_CONFIG").then(|| env_path.clone());
        let options = Options {
            config: None,
            blueprints: None,
            env: &env,
        };
        let w = Workspace::discover(std::slice::from_ref(&d), &options).expect("workspace");
        assert_eq!(w.config_file.as_deref(), Some(other.as_path()));
        assert_eq!(
            w.settings.kafka, None,
            "the environment's file replaces the nearest"
        );
        let bad = d.join("bad.toml");
        std::fs::write(&bad, "[webhook]\ntimeout_secs = \"x\"\n").expect("bad");
        let options = Options {
            config: Some(bad),
            blueprints: None,
            env: &env,
        };
        let e = Workspace::discover(std::slice::from_ref(&d), &options).expect_err("invalid");
        assert!(e.contains("bad.toml"), "{e}");
        let _ = std::fs::remove_dir_all(&d);
    }
}
