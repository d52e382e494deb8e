//! Secrets: `.secrets.NAME` values from the environment (`WFLOW_SECRET_NAME`) or a secrets
//! file, and their redaction from everything that is logged or stored.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value as Json;

/// What replaces a secret's value in logs, outputs, run records and messages.
pub const REDACTED: &str = "[REDACTED]";

/// The secrets available to a run.
#[derive(Debug, Clone, Default)]
pub struct Secrets {
    values: BTreeMap<String, String>,
    /// Values, longest first (so that a value containing another is redacted whole).
    redact: Vec<String>,
}

impl Secrets {
    /// Secrets from `(name, value)` pairs.
    pub fn from_pairs(pairs: impl IntoIterator<Item = (String, String)>) -> Secrets {
        let mut s = Secrets::default();
        for (k, v) in pairs {
            s.values.insert(k, v);
        }
        s.redact = s
            .values
            .values()
            .filter(|v| !v.is_empty())
            .cloned()
            .collect();
        s.redact.sort_by_key(|v| std::cmp::Reverse(v.len()));
        s.redact.dedup();
        s
    }

    /// Loads the secrets `names` from the environment (`WFLOW_SECRET_<name>` as written, or
    /// upper-cased with other characters as `_`: `deploy-token` is `WFLOW_SECRET_DEPLOY_TOKEN`)
    /// and from `file` (`NAME=value` lines, `#` comments). The environment wins. Returns the
    /// secrets, or the names nobody provided.
    pub fn load(names: &BTreeSet<String>, file: Option<&str>) -> Result<Secrets, Vec<String>> {
        Secrets::load_with(names, &BTreeSet::new(), file)
    }

    /// As [`Secrets::load`], with `optional` names loaded when provided and otherwise left out.
    pub fn load_with(
        names: &BTreeSet<String>,
        optional: &BTreeSet<String>,
        file: Option<&str>,
    ) -> Result<Secrets, Vec<String>> {
        let from_file: BTreeMap<String, String> = file
            .map(|text| {
                text.lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty() && !l.starts_with('#'))
                    .filter_map(|l| l.split_once('='))
                    .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
                    .collect()
            })
            .unwrap_or_default();
        let mut found = Vec::new();
        let mut missing = Vec::new();
        for (name, required) in names
            .iter()
            .map(|n| (n, true))
            .chain(optional.difference(names).map(|n| (n, false)))
        {
            let value = std::env::var(format!("WFLOW_SECRET_{name}"))
                .or_else(|_| std::env::var(env_name(name)))
                .ok()
                .or_else(|| from_file.get(name).cloned());
            match value {
                Some(v) => found.push((name.clone(), v)),
                None if required => missing.push(name.clone()),
                None => {}
            }
        }
        if missing.is_empty() {
            Ok(Secrets::from_pairs(found))
        } else {
            Err(missing)
        }
    }

    /// The value of secret `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    /// The secrets as the `.secrets` object of the run context.
    pub fn to_json(&self) -> Json {
        Json::Object(
            self.values
                .iter()
                .map(|(k, v)| (k.clone(), Json::String(v.clone())))
                .collect(),
        )
    }

    /// `text` with every secret value replaced by [`REDACTED`].
    pub fn redact_str(&self, text: &str) -> String {
        let mut out = text.to_string();
        for v in &self.redact {
            if out.contains(v.as_str()) {
                out = out.replace(v.as_str(), REDACTED);
            }
        }
        out
    }

    /// `value` with every secret value replaced in its strings and keys.
    pub fn redact(&self, value: &Json) -> Json {
        if self.redact.is_empty() {
            return value.clone();
        }
        match value {
            Json::String(s) => Json::String(self.redact_str(s)),
            Json::Array(items) => Json::Array(items.iter().map(|i| self.redact(i)).collect()),
            Json::Object(m) => Json::Object(
                m.iter()
                    .map(|(k, v)| (self.redact_str(k), self.redact(v)))
                    .collect(),
            ),
            other => other.clone(),
        }
    }
}

/// The normalised environment variable for a secret name.
pub fn env_name(name: &str) -> String {
    let norm: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    format!("WFLOW_SECRET_{norm}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn redacts_strings_and_keys() {
        let s = Secrets::from_pairs([("t".to_string(), "s3cr3t-value".to_string())]);
        assert_eq!(
            s.redact(&json!({"a": "Bearer s3cr3t-value", "s3cr3t-value": [1, "s3cr3t-value"]})),
            json!({"a": "Bearer [REDACTED]", "[REDACTED]": [1, "[REDACTED]"]})
        );
        assert_eq!(s.redact_str("x s3cr3t-value y"), "x [REDACTED] y");
    }

    #[test]
    fn missing_secrets_are_named() {
        let names: BTreeSet<String> = ["wflow-test-never-set".to_string()].into();
        assert_eq!(
            Secrets::load(&names, Some("# none\nother=1\n")).expect_err("missing"),
            ["wflow-test-never-set"]
        );
        let s = Secrets::load(&names, Some("wflow-test-never-set = v\n")).expect("from file");
        assert_eq!(s.to_json(), json!({"wflow-test-never-set": "v"}));
    }
}
