//! Secrets: `.secrets.NAME` values from the environment (`WFLOW_SECRET_NAME`) or a secrets
//! file, and their redaction from everything that is logged or stored.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, PoisonError, RwLock};

use base64::Engine as _;
use serde_json::Value as Json;

/// What replaces a secret's value in logs, outputs, run records and messages.
pub const REDACTED: &str = "[REDACTED]";

/// The shortest value computed from a secret that is redacted: shorter ones (a flag, a
/// length, one character) would mask ordinary text.
const MIN_TAINTED: usize = 4;

/// The secrets available to a run, and what is redacted from everything it records.
#[derive(Debug, Clone, Default)]
pub struct Secrets {
    values: BTreeMap<String, String>,
    /// The strings to redact, longest first (a value containing another is redacted whole):
    /// the secrets, the values expressions computed from them, and their JSON-escaped,
    /// URI-encoded and base64 forms. Clones share it, so a run's taint reaches every copy.
    redact: Arc<RwLock<Vec<String>>>,
}

impl Secrets {
    /// Secrets from `(name, value)` pairs.
    pub fn from_pairs(pairs: impl IntoIterator<Item = (String, String)>) -> Secrets {
        let s = Secrets {
            values: pairs.into_iter().collect(),
            redact: Arc::default(),
        };
        s.add_redacted(s.values.values().filter(|v| !v.is_empty()).cloned());
        s
    }

    /// Adds `strings`, with their escaped and encoded forms, to the redaction set.
    fn add_redacted(&self, strings: impl Iterator<Item = String>) {
        let mut forms = Vec::new();
        for s in strings {
            let escaped = json_escaped(&s);
            let uri = uri_encoded(&s);
            forms.push(base64::engine::general_purpose::STANDARD.encode(s.as_bytes()));
            forms.extend([escaped, uri].into_iter().filter(|f| *f != s));
            forms.push(s);
        }
        if forms.is_empty() {
            return;
        }
        let mut set = self.redact.write().unwrap_or_else(PoisonError::into_inner);
        set.extend(forms);
        set.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        set.dedup();
    }

    /// Marks `value` (a secret form input's clear value) as secret: it is redacted from then on.
    pub fn conceal(&self, value: &str) {
        if !value.is_empty() {
            self.add_redacted(std::iter::once(value.to_string()));
        }
    }

    /// The secrets among `names` that are provided (see [`Secrets::load`]); the others are
    /// left out, for the preflight to report.
    pub fn load_provided(names: &BTreeSet<String>, file: Option<&str>) -> Secrets {
        Secrets::load_with(&BTreeSet::new(), names, file).unwrap_or_default()
    }

    /// Marks `value`, computed by the expression `code` from the secrets, as secret: each of
    /// its strings (keys included) of at least [`MIN_TAINTED`] characters that is not a
    /// literal of `code` is redacted from then on.
    pub fn taint(&self, value: &Json, code: &str) {
        let mut found = Vec::new();
        tainted_strings(value, code, &mut found);
        self.add_redacted(found.into_iter());
    }

    /// Whether `text` holds a secret or a value computed from one.
    pub fn is_tainted(&self, text: &str) -> bool {
        let set = self.redact.read().unwrap_or_else(PoisonError::into_inner);
        set.iter().any(|v| text.contains(v.as_str()))
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
        let set = self.redact.read().unwrap_or_else(PoisonError::into_inner);
        redact_with(&set, text)
    }

    /// `value` with every secret value replaced in its strings and keys.
    pub fn redact(&self, value: &Json) -> Json {
        let set = self.redact.read().unwrap_or_else(PoisonError::into_inner);
        if set.is_empty() {
            return value.clone();
        }
        redact_json(&set, value)
    }
}

fn redact_with(set: &[String], text: &str) -> String {
    let mut out = text.to_string();
    for v in set {
        if out.contains(v.as_str()) {
            out = out.replace(v.as_str(), REDACTED);
        }
    }
    out
}

fn redact_json(set: &[String], value: &Json) -> Json {
    match value {
        Json::String(s) => Json::String(redact_with(set, s)),
        Json::Array(items) => Json::Array(items.iter().map(|i| redact_json(set, i)).collect()),
        Json::Object(m) => Json::Object(
            m.iter()
                .map(|(k, v)| (redact_with(set, k), redact_json(set, v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// The strings of `value` worth redacting: see [`Secrets::taint`].
fn tainted_strings(value: &Json, code: &str, out: &mut Vec<String>) {
    let keep = |s: &str, out: &mut Vec<String>| {
        if s.chars().count() >= MIN_TAINTED && !code.contains(s) {
            out.push(s.to_string());
        }
    };
    match value {
        Json::String(s) => keep(s, out),
        Json::Array(items) => items.iter().for_each(|i| tainted_strings(i, code, out)),
        Json::Object(m) => {
            for (k, v) in m {
                keep(k, out);
                tainted_strings(v, code, out);
            }
        }
        Json::Null | Json::Bool(_) | Json::Number(_) => {}
    }
}

/// `s` as it appears inside a JSON string (`"` and `\` escaped).
fn json_escaped(s: &str) -> String {
    let quoted = Json::String(s.to_string()).to_string();
    quoted[1..quoted.len() - 1].to_string()
}

/// `s` as jq's `@uri` writes it: unreserved characters kept, every other byte `%XX`.
pub(crate) fn uri_encoded(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Whether the jq expression `code` may read the secrets (it names `secrets`): only such
/// expressions are given `.secrets`, and their values are tainted.
pub fn reads_secrets(code: &str) -> bool {
    code.contains("secrets")
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
    fn escaped_encoded_and_derived_forms_are_redacted() {
        let secret = r#"a"b\c/d+Tail"#;
        let s = Secrets::from_pairs([("t".to_string(), secret.to_string())]);
        let escaped = Json::String(secret.into()).to_string();
        assert_eq!(
            s.redact_str(&format!("error: {escaped}")),
            "error: \"[REDACTED]\""
        );
        assert_eq!(
            s.redact_str("k=a%22b%5Cc%2Fd%2BTail&x=1"),
            "k=[REDACTED]&x=1",
            "@uri form"
        );
        // A value computed from it is redacted once tainted, but not its expression's literals
        // nor strings too short to tell.
        let code = r#"{ "up": (.secrets.t | ascii_upcase), "kind": "basic", "n": "ab" }"#;
        let derived = json!({"up": "A\"B\\C/D+TAIL", "kind": "basic", "n": "ab"});
        assert!(!s.is_tainted("A\"B\\C/D+TAIL"));
        s.taint(&derived, code);
        assert!(s.is_tainted("x A\"B\\C/D+TAIL"));
        assert_eq!(
            s.redact(&json!({"h": "Basic A\"B\\C/D+TAIL", "kind": "basic", "n": "ab"})),
            json!({"h": "Basic [REDACTED]", "kind": "basic", "n": "ab"})
        );
        let b64 = base64::engine::general_purpose::STANDARD.encode("A\"B\\C/D+TAIL");
        assert_eq!(s.redact_str(&b64), REDACTED, "base64 form");
        // Clones share the taint.
        assert!(s.clone().is_tainted("A\"B\\C/D+TAIL"));
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
