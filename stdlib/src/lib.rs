//! Node-kind schemas and Port's limits, kept as data (`data/kinds.json`) and loaded once.
//!
//! The compiler uses these to know each kind's fields (in Port JSON and in `.wflow` spelling),
//! the input types and formats, and the limits; the LSP uses the docs for hover and completion.

use serde::Deserialize;
use std::sync::OnceLock;

/// A field of a node or of a node kind's config.
#[derive(Debug, Deserialize)]
pub struct Field {
    /// The name in Port JSON.
    pub port: String,
    /// The name in `.wflow`.
    pub wflow: String,
    pub doc: String,
}

/// One node kind.
#[derive(Debug, Deserialize)]
pub struct Kind {
    /// Port's `config.type`.
    #[serde(rename = "type")]
    pub type_name: String,
    /// The `.wflow` keyword that declares it.
    pub keyword: String,
    /// `trigger`, `action` or `flow`.
    pub category: String,
    #[serde(default)]
    pub deprecated: bool,
    /// The node's output type, in the notation of `wflow_compiler::types` (`$name`:
    /// filled from the node's config).
    pub output: serde_json::Value,
    pub doc: String,
    pub fields: Vec<Field>,
}

/// A property of an integration action's `integrationActionExecutionProperties`.
#[derive(Debug, Deserialize)]
pub struct Property {
    pub name: String,
    #[serde(default)]
    pub required: bool,
    pub doc: String,
}

/// An integration action wflow runs: a provider's invocation, its properties, the secrets it
/// authenticates with and its output on success.
#[derive(Debug, Deserialize)]
pub struct Integration {
    /// The `integrationProvider` spellings (the first is the one written).
    pub providers: Vec<String>,
    /// `integrationInvocationType`.
    pub invocation: String,
    /// The `wflow.toml` section of the service it calls.
    pub service: String,
    /// The service's name, for messages.
    pub title: String,
    pub secrets: Vec<String>,
    pub doc: String,
    pub properties: Vec<Property>,
    /// In the notation of `wflow_compiler::types`.
    pub output: serde_json::Value,
}

/// Port's limits.
#[derive(Debug, Deserialize)]
pub struct Limits {
    pub nodes: usize,
    pub identifier: usize,
    pub title: usize,
    pub description: usize,
    pub category: usize,
    pub links: usize,
    pub button_text_min: usize,
    pub button_text_max: usize,
    pub validations: usize,
    pub step_title: usize,
    pub mcp_servers: usize,
    pub validation_message: usize,
    pub input_title: usize,
    pub input_description: usize,
    pub cron_min_interval_minutes: u32,
}

/// Everything in `data/kinds.json`.
#[derive(Debug, Deserialize)]
pub struct Stdlib {
    pub node_fields: Vec<Field>,
    pub kinds: Vec<Kind>,
    pub integrations: Vec<Integration>,
    pub input_keywords: Vec<String>,
    pub input_types: Vec<String>,
    pub string_formats: Vec<String>,
    pub object_formats: Vec<String>,
    pub item_formats: Vec<String>,
    pub event_types: Vec<String>,
    pub http_methods: Vec<String>,
    /// A catalog entity as nodes see it (event diffs, upsert outputs), in type notation.
    pub entity_output: serde_json::Value,
    /// What every expression in a run can read (`.outputs`, `.secrets`, `.workflow`, ...).
    pub run_context: serde_json::Value,
    pub limits: Limits,
}

impl Stdlib {
    /// The kind whose `config.type` is `type_name`.
    pub fn kind(&self, type_name: &str) -> Option<&Kind> {
        self.kinds.iter().find(|k| k.type_name == type_name)
    }

    /// The integration action `provider` runs as `invocation`, when wflow runs it.
    pub fn integration(&self, provider: &str, invocation: &str) -> Option<&Integration> {
        self.integrations
            .iter()
            .find(|i| i.invocation == invocation && i.providers.iter().any(|p| p == provider))
    }

    /// The kind declared by `.wflow` keyword `keyword`.
    pub fn kind_by_keyword(&self, keyword: &str) -> Option<&Kind> {
        self.kinds.iter().find(|k| k.keyword == keyword)
    }
}

/// The standard library, parsed on first use.
pub fn get() -> &'static Stdlib {
    static STDLIB: OnceLock<Stdlib> = OnceLock::new();
    STDLIB.get_or_init(|| {
        // The data is compiled in and covered by the test below, so this cannot fail at run time.
        #[allow(clippy::expect_used)]
        serde_json::from_str(include_str!("../data/kinds.json"))
            .expect("stdlib/data/kinds.json is valid")
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn data_loads_and_keywords_are_unique() {
        let lib = super::get();
        let mut kw: Vec<_> = lib.kinds.iter().map(|k| k.keyword.as_str()).collect();
        kw.sort_unstable();
        let n = kw.len();
        kw.dedup();
        assert_eq!(kw.len(), n);
        assert_eq!(
            lib.kind("WEBHOOK").map(|k| k.keyword.as_str()),
            Some("webhook")
        );
        assert_eq!(lib.limits.nodes, 100);
        let gitlab = lib.integration("gitlab-v2", "trigger_pipeline");
        assert_eq!(gitlab.map(|i| i.service.as_str()), Some("gitlab"));
        assert!(lib.integration("jira", "trigger_pipeline").is_none());
    }
}
