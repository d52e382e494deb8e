//! Form input validation: the values a person submits, checked against a form's schema. Pure:
//! `wflow exec` and `wflow serve` share it. Every problem is reported, not just the first.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex, PoisonError};

use serde_json::{Map, Value as Json};
use wflow_compiler::ir::{Form, FormTrigger, InputSchema, Required, ValueKind};

/// One problem with the submitted inputs.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct InputProblem {
    /// The input's key (`config.region`, `tags[1]` for nested ones); empty for the form.
    pub key: String,
    /// The same place as a JSON pointer into the inputs object (`/config/region`, `/tags/1`).
    pub pointer: String,
    /// What is wrong and how to fix it, in words every surface can show.
    pub message: String,
    /// The input is required and was not given: each surface says how to give it.
    pub missing: bool,
}

/// Where in the inputs a value sits, as a key to show and a JSON pointer.
#[derive(Debug, Clone, Default)]
struct At {
    key: String,
    pointer: String,
}

impl At {
    fn input(name: &str) -> At {
        At::default().child(name)
    }

    fn child(&self, name: &str) -> At {
        let escaped = name.replace('~', "~0").replace('/', "~1");
        At {
            key: if self.key.is_empty() {
                name.to_string()
            } else {
                format!("{}.{name}", self.key)
            },
            pointer: format!("{}/{escaped}", self.pointer),
        }
    }

    fn item(&self, i: usize) -> At {
        At {
            key: format!("{}[{i}]", self.key),
            pointer: format!("{}/{i}", self.pointer),
        }
    }
}

impl std::fmt::Display for InputProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.key.is_empty() {
            write!(f, "{}", self.message)
        } else {
            write!(f, "input `{}`: {}", self.key, self.message)
        }
    }
}

/// Turns `key=value` strings (as given on a command line) into JSON by each input's declared
/// type: numbers, booleans, arrays and objects are parsed as JSON, everything else is a string.
/// A value that does not parse stays a string, so that [`validate`] reports its type.
pub fn from_pairs(form: &Form, pairs: &[(String, String)]) -> Map<String, Json> {
    let mut out = Map::new();
    for (k, v) in pairs {
        let ty = form
            .input(k)
            .and_then(|f| f.schema.ty.as_ref())
            .map(|t| t.value.as_str());
        let parsed = match ty {
            Some("number" | "integer" | "boolean" | "array" | "object") => {
                serde_json::from_str(v).unwrap_or_else(|_| Json::String(v.clone()))
            }
            _ => Json::String(v.clone()),
        };
        out.insert(k.clone(), parsed);
    }
    out
}

/// Checks `given` against `form`: unknown keys, missing required inputs, types, formats,
/// `enum`, `pattern`, lengths and bounds. Returns the inputs with defaults filled in, or every
/// problem found. A `required` given as jq, and an `enum` given as jq, depend on the form's
/// state and are not checked here.
pub fn validate(
    form: &Form,
    given: &Map<String, Json>,
) -> Result<Map<String, Json>, Vec<InputProblem>> {
    let required: Vec<&str> = match &form.required {
        Required::Keys(keys) => keys.iter().map(|k| k.value.as_str()).collect(),
        Required::Jq(_) => Vec::new(),
    };
    validate_with(form, given, &required)
}

/// [`validate`] with the `required` keys given (computed by [`crate::form`] when they are jq).
pub fn validate_with(
    form: &Form,
    given: &Map<String, Json>,
    required: &[&str],
) -> Result<Map<String, Json>, Vec<InputProblem>> {
    let mut problems = Vec::new();
    let known: Vec<&str> = form
        .properties
        .iter()
        .map(|p| p.key.value.as_str())
        .collect();
    for key in given.keys() {
        if !known.contains(&key.as_str()) {
            let hint = if known.is_empty() {
                "this form takes no inputs".to_string()
            } else {
                format!("the form's inputs are: {}", known.join(", "))
            };
            problems.push(problem(&At::input(key), format!("unknown input; {hint}")));
        }
    }
    let mut out = Map::new();
    for field in &form.properties {
        let key = field.key.value.as_str();
        match given.get(key) {
            Some(v) => {
                check_value(&At::input(key), &field.schema, v, &mut problems);
                out.insert(key.to_string(), v.clone());
            }
            None => {
                if let Some(d) = field
                    .schema
                    .default
                    .as_ref()
                    .filter(|d| !matches!(d.kind, ValueKind::Jq(_)))
                {
                    out.insert(key.to_string(), d.to_json());
                } else if required.contains(&key) {
                    problems.push(missing(&At::input(key)));
                }
            }
        }
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(problems)
    }
}

/// Pre-fills the input of `form`'s ENTITY context with `entity`: a run started from that
/// entity (a day-2 operation). `blueprint`, when given, picks the context whose input is an
/// entity of that blueprint. The entity's existence (and `dataset`) is checked with the rest
/// of the form. Errors say why the run cannot start from this entity and how to fix it.
pub fn from_entity(
    form: &FormTrigger,
    blueprint: Option<&str>,
    entity: &str,
    given: &mut Map<String, Json>,
) -> Result<(), String> {
    let blueprint_of = |key: &str| {
        form.user_inputs.input(key).and_then(|f| {
            f.schema
                .blueprint
                .as_ref()
                .or(f.schema.items.as_ref().and_then(|i| i.blueprint.as_ref()))
                .map(|b| b.value.as_str())
        })
    };
    let contexts: Vec<(&str, Option<&str>)> = form
        .contexts
        .iter()
        .filter(|c| c.on.value == "ENTITY")
        .filter_map(|c| c.user_input.as_ref())
        .map(|i| (i.value.as_str(), blueprint_of(&i.value)))
        .collect();
    if contexts.is_empty() {
        return Err("this trigger cannot start from an entity: its form has no ENTITY context;                     add `context ENTITY <input>` naming the entity input it pre-fills"
            .into());
    }
    let fits: Vec<&(&str, Option<&str>)> = contexts
        .iter()
        .filter(|(_, bp)| blueprint.is_none_or(|want| *bp == Some(want)))
        .collect();
    let (key, _) = match fits.as_slice() {
        [one] => **one,
        [] => {
            let offered: Vec<String> = contexts
                .iter()
                .map(|(k, bp)| format!("`{k}` ({})", bp.unwrap_or("any blueprint")))
                .collect();
            return Err(format!(
                "no ENTITY context of this trigger takes a `{}` entity; its contexts: {}",
                blueprint.unwrap_or_default(),
                offered.join(", ")
            ));
        }
        several => {
            let keys: Vec<String> = several.iter().map(|(k, _)| format!("`{k}`")).collect();
            return Err(format!(
                "several ENTITY contexts could take this entity ({}); name its blueprint \
                 (blueprint/identifier) to pick one",
                keys.join(", ")
            ));
        }
    };
    let array = form
        .user_inputs
        .input(key)
        .and_then(|f| f.schema.ty.as_ref())
        .is_some_and(|t| t.value == "array");
    let value = if array {
        Json::Array(vec![Json::String(entity.to_string())])
    } else {
        Json::String(entity.to_string())
    };
    match given.get(key) {
        Some(v) if *v != value => Err(format!(
            "input `{key}` is {}, but the run starts from entity `{entity}`; leave the input \
             out (the entity fills it)",
            shown(v)
        )),
        _ => {
            given.insert(key.to_string(), value);
            Ok(())
        }
    }
}

/// A problem with the input `key` (a top-level key; empty for the whole form).
pub fn problem_at(key: &str, message: String) -> InputProblem {
    let at = if key.is_empty() {
        At::default()
    } else {
        At::input(key)
    };
    problem(&at, message)
}

fn problem(at: &At, message: String) -> InputProblem {
    InputProblem {
        key: at.key.clone(),
        pointer: at.pointer.clone(),
        message,
        missing: false,
    }
}

fn missing(at: &At) -> InputProblem {
    InputProblem {
        missing: true,
        ..problem(at, "required but not given".into())
    }
}

fn keyword<'a>(schema: &'a InputSchema, name: &str) -> Option<&'a wflow_compiler::ir::Value> {
    schema
        .keywords
        .iter()
        .find(|(k, _)| k.value == name)
        .map(|(_, v)| v)
}

fn number_keyword(schema: &InputSchema, name: &str) -> Option<f64> {
    match &keyword(schema, name)?.kind {
        ValueKind::Number(n) => n.as_f64(),
        _ => None,
    }
}

fn check_value(key: &At, schema: &InputSchema, v: &Json, problems: &mut Vec<InputProblem>) {
    let ty = schema.ty.as_ref().map(|t| t.value.as_str());
    let type_ok = match ty {
        Some("string") => v.is_string(),
        Some("number") => v.is_number(),
        Some("integer") => v.is_i64() || v.is_u64(),
        Some("boolean") => v.is_boolean(),
        Some("array") => v.is_array(),
        Some("object") => v.is_object(),
        _ => true,
    };
    if !type_ok {
        let hint = match ty {
            Some("number" | "integer") => " (e.g. `42`)",
            Some("boolean") => " (`true` or `false`)",
            Some("array") => " (a JSON array, e.g. `[\"a\",\"b\"]`)",
            Some("object") => " (a JSON object, e.g. `{\"k\":\"v\"}`)",
            _ => "",
        };
        problems.push(problem(
            key,
            format!(
                "expected {}{hint}, got {}",
                ty.unwrap_or("a value"),
                shown(v)
            ),
        ));
        return;
    }
    if let Some(ValueKind::Array(allowed)) = schema.enum_values.as_ref().map(|e| &e.kind) {
        let allowed: Vec<Json> = allowed.iter().map(|a| a.to_json()).collect();
        if !allowed.contains(v) {
            let list: Vec<String> = allowed.iter().map(|a| a.to_string()).collect();
            problems.push(problem(
                key,
                format!(
                    "{} is not one of the allowed values: {}",
                    shown(v),
                    list.join(", ")
                ),
            ));
        }
    }
    match v {
        Json::String(s) => check_string(key, schema, s, problems),
        Json::Number(n) => check_number(key, schema, n.as_f64().unwrap_or(f64::NAN), problems),
        Json::Array(items) => {
            let len = items.len() as f64;
            if let Some(min) = number_keyword(schema, "minItems").filter(|m| len < *m) {
                problems.push(problem(
                    key,
                    format!("has {len} items; at least {min} are required"),
                ));
            }
            if let Some(max) = number_keyword(schema, "maxItems").filter(|m| len > *m) {
                problems.push(problem(
                    key,
                    format!("has {len} items; at most {max} are allowed"),
                ));
            }
            if let Some(item_schema) = &schema.items {
                for (i, item) in items.iter().enumerate() {
                    check_value(&key.item(i), item_schema, item, problems);
                }
            }
            let unique = keyword(schema, "uniqueItems").is_some_and(|u| u.to_json() == true);
            if unique
                && let Some((i, dup)) = items
                    .iter()
                    .enumerate()
                    .find(|(i, item)| items[..*i].contains(item))
            {
                problems.push(problem(
                    key,
                    format!(
                        "item {i} ({}) repeats an earlier one; the items must be unique",
                        shown(dup)
                    ),
                ));
            }
        }
        Json::Object(members) => {
            for field in &schema.properties {
                let sub = key.child(&field.key.value);
                match members.get(&field.key.value) {
                    Some(x) => check_value(&sub, &field.schema, x, problems),
                    None if schema.required.iter().any(|r| r.value == field.key.value) => {
                        problems.push(missing(&sub))
                    }
                    None => {}
                }
            }
            check_other_members(key, schema, members, problems);
        }
        Json::Null | Json::Bool(_) => {}
    }
}

/// Checks the members of an object input that its `properties` do not name, against
/// `patternProperties` and `additionalProperties` (JSON Schema semantics: a member matching a
/// pattern is checked against that pattern's schema, and only the others are "additional").
fn check_other_members(
    key: &At,
    schema: &InputSchema,
    members: &Map<String, Json>,
    problems: &mut Vec<InputProblem>,
) {
    let patterns: Vec<(String, Json)> =
        match keyword(schema, "patternProperties").map(|p| p.to_json()) {
            Some(Json::Object(m)) => m.into_iter().collect(),
            _ => Vec::new(),
        };
    let additional = keyword(schema, "additionalProperties").map(|a| a.to_json());
    let named: Vec<&str> = schema
        .properties
        .iter()
        .map(|f| f.key.value.as_str())
        .collect();
    for (name, value) in members.iter().filter(|(k, _)| !named.contains(&k.as_str())) {
        let sub = key.child(name);
        let mut matched = false;
        for (pattern, sub_schema) in &patterns {
            match compiled(pattern) {
                Ok(re) if re.is_match(name) => {
                    matched = true;
                    check_json_schema(&sub, sub_schema, value, problems);
                }
                Ok(_) => {}
                Err(_) => problems.push(problem(
                    key,
                    format!(
                        "the form's pattern property `{pattern}` is not a valid regular expression"
                    ),
                )),
            }
        }
        match &additional {
            _ if matched => {}
            Some(Json::Bool(false)) => {
                let allowed = if named.is_empty() {
                    "none".to_string()
                } else {
                    named.join(", ")
                };
                problems.push(problem(
                    &sub,
                    format!("is not a field of this object (its fields: {allowed})"),
                ));
            }
            Some(sub_schema @ Json::Object(_)) => {
                check_json_schema(&sub, sub_schema, value, problems);
            }
            _ => {}
        }
    }
}

/// Checks `value` against a JSON Schema written in the form (the schema of a pattern or of
/// additional properties), reporting each violation with its path.
fn check_json_schema(key: &At, schema: &Json, value: &Json, problems: &mut Vec<InputProblem>) {
    match jsonschema::validator_for(schema) {
        Ok(validator) => {
            for e in validator.iter_errors(value) {
                let path = e.instance_path().to_string();
                let at = path
                    .split('/')
                    .filter(|s| !s.is_empty())
                    .fold(key.clone(), |at, s| {
                        at.child(&s.replace("~1", "/").replace("~0", "~"))
                    });
                problems.push(problem(&at, e.to_string()));
            }
        }
        Err(e) => problems.push(problem(
            key,
            format!("the form's schema for this value is not valid JSON Schema: {e}"),
        )),
    }
}

/// Most patterns [`compiled`] keeps; past that it starts again (forms have a few).
const PATTERNS_KEPT: usize = 256;

/// The form's regular expression `pattern`, compiled once per process rather than once per
/// submitted value (compiling costs more than the rest of a form's validation).
fn compiled(pattern: &str) -> Result<regex::Regex, regex::Error> {
    static KEPT: LazyLock<Mutex<HashMap<String, regex::Regex>>> = LazyLock::new(Mutex::default);
    let kept = || KEPT.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(re) = kept().get(pattern) {
        return Ok(re.clone());
    }
    let re = regex::Regex::new(pattern)?;
    let mut kept = kept();
    if kept.len() >= PATTERNS_KEPT {
        kept.clear();
    }
    kept.insert(pattern.to_string(), re.clone());
    Ok(re)
}

fn check_string(key: &At, schema: &InputSchema, s: &str, problems: &mut Vec<InputProblem>) {
    let len = s.chars().count() as f64;
    if let Some(min) = number_keyword(schema, "minLength").filter(|m| len < *m) {
        problems.push(problem(
            key,
            format!("is {len} characters long; the minimum is {min}"),
        ));
    }
    if let Some(max) = number_keyword(schema, "maxLength").filter(|m| len > *m) {
        problems.push(problem(
            key,
            format!("is {len} characters long; the maximum is {max}"),
        ));
    }
    if let Some(ValueKind::String(t)) = keyword(schema, "pattern").map(|p| &p.kind) {
        match compiled(&t.text) {
            Ok(re) if !re.is_match(s) => problems.push(problem(
                key,
                format!(
                    "{} does not match the pattern `{}`",
                    shown(&Json::String(s.into())),
                    t.text
                ),
            )),
            Ok(_) => {}
            Err(_) => problems.push(problem(
                key,
                format!(
                    "the form's pattern `{}` is not a valid regular expression",
                    t.text
                ),
            )),
        }
    }
    let format = schema.format.as_ref().map(|f| f.value.as_str());
    let bad_format = match format {
        Some("email") => !s.contains('@') || s.starts_with('@') || s.ends_with('@'),
        Some("url") => !(s.starts_with("http://") || s.starts_with("https://")) || s.len() < 9,
        Some("date-time") => chrono::DateTime::parse_from_rfc3339(s).is_err(),
        Some("entity" | "user" | "team") => s.is_empty(),
        _ => false,
    };
    if bad_format {
        let expect = match format {
            Some("email") => "an email address",
            Some("url") => "an http(s) URL",
            Some("date-time") => "an RFC 3339 date-time such as 2026-01-31T09:00:00Z",
            _ => "an identifier",
        };
        problems.push(problem(
            key,
            format!("{} is not {expect}", shown(&Json::String(s.into()))),
        ));
    }
}

fn check_number(key: &At, schema: &InputSchema, n: f64, problems: &mut Vec<InputProblem>) {
    type Rule = (&'static str, fn(f64, f64) -> bool, &'static str);
    let rules: [Rule; 4] = [
        ("minimum", |n, m| n < m, "at least"),
        ("maximum", |n, m| n > m, "at most"),
        ("exclusiveMinimum", |n, m| n <= m, "greater than"),
        ("exclusiveMaximum", |n, m| n >= m, "less than"),
    ];
    for (name, violates, words) in rules {
        if let Some(m) = number_keyword(schema, name).filter(|m| violates(n, *m)) {
            problems.push(problem(
                key,
                format!("{n} is out of range: it must be {words} {m}"),
            ));
        }
    }
}

/// A value as shown in a message (long values cut).
/// A value as a problem message quotes it.
pub fn shown(v: &Json) -> String {
    let s = v.to_string();
    if s.chars().count() > 60 {
        format!("{}...", s.chars().take(57).collect::<String>())
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn form(src: &str) -> Form {
        let checked = wflow_compiler::check_source(src, wflow_compiler::Syntax::Wflow);
        assert!(!checked.has_errors(), "{:?}", checked.diagnostics);
        match &checked.module.workflows[0].nodes[0].config {
            wflow_compiler::ir::NodeConfig::SelfServeTrigger(t) => t.user_inputs.clone(),
            _ => panic!("not a form"),
        }
    }

    const SRC: &str = r#"workflow w "W" {
  form trigger "T" {
    input service: string "Service" { pattern "^[a-z]+$"; min_length 2 }
    input env: string "Env" { enum ["dev", "prod"] }
    input replicas?: number "Replicas" { minimum 1; maximum 10; default 2 }
    input email?: email "Email"
    input tags?: string[] "Tags"
  }
  webhook w "W" { url "http://127.0.0.1/x" }
  flow { trigger -> w }
}"#;

    #[test]
    fn reports_every_problem_at_once() {
        let f = form(SRC);
        let given = from_pairs(
            &f,
            &[
                ("service".into(), "API_1".into()),
                ("env".into(), "staging".into()),
                ("replicas".into(), "many".into()),
                ("bogus".into(), "1".into()),
                ("email".into(), "nobody".into()),
            ],
        );
        let problems = validate(&f, &given).expect_err("invalid");
        let text: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
        assert_eq!(problems.len(), 5, "{text:#?}");
        assert!(
            text.iter().any(|t| t.contains("`bogus`: unknown input")),
            "{text:#?}"
        );
        assert!(
            text.iter()
                .any(|t| t.contains("`service`") && t.contains("pattern"))
        );
        assert!(
            text.iter()
                .any(|t| t.contains("`env`") && t.contains("not one of"))
        );
        assert!(
            text.iter()
                .any(|t| t.contains("`replicas`: expected number"))
        );
        assert!(
            text.iter()
                .any(|t| t.contains("`email`") && t.contains("email address"))
        );

        let problems = validate(&f, &Map::new()).expect_err("missing");
        let keys: Vec<&str> = problems.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(keys, ["service", "env"]);
    }

    #[test]
    fn unique_items_and_the_members_an_object_does_not_name() {
        let f = form(
            r#"workflow w "W" {
  form trigger "T" {
    input tags?: string[] "Tags" { unique_items true }
    input closed?: object "Closed" {
      additional_properties false
      input region: string "Region"
    }
    input labels?: object "Labels" {
      pattern_properties { "^x-": { type: "string" } }
      additional_properties { type: "number", minimum: 0 }
    }
  }
  webhook w "W" { url "http://127.0.0.1/x" }
  flow { trigger -> w }
}"#,
        );
        let given = json!({
            "tags": ["a", "b", "a"],
            "closed": {"region": "eu", "zone": "b"},
            "labels": {"x-team": 1, "x-env": "prod", "weight": -2, "size": 3},
        });
        let Json::Object(given) = given else {
            unreachable!()
        };
        let problems = validate(&f, &given).expect_err("invalid");
        let text: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
        assert_eq!(problems.len(), 4, "{text:#?}");
        assert!(
            text[0].starts_with("input `tags`: item 2 (\"a\") repeats"),
            "{text:#?}"
        );
        assert_eq!(
            text[1],
            "input `closed.zone`: is not a field of this object (its fields: region)"
        );
        let labels: Vec<&str> = problems[2..].iter().map(|p| p.key.as_str()).collect();
        assert_eq!(labels, ["labels.x-team", "labels.weight"], "{text:#?}");
        assert!(text[2].contains("is not of type \"string\""), "{text:#?}");
        assert!(text[3].contains("minimum of 0"), "{text:#?}");

        let given = json!({
            "tags": ["a", "b"],
            "closed": {"region": "eu"},
            "labels": {"x-team": "web", "size": 3},
        });
        let Json::Object(given) = given else {
            unreachable!()
        };
        validate(&f, &given).expect("valid");
    }

    #[test]
    fn valid_inputs_get_defaults_and_types() {
        let f = form(SRC);
        let given = from_pairs(
            &f,
            &[
                ("service".into(), "api".into()),
                ("env".into(), "prod".into()),
                ("tags".into(), "[\"a\"]".into()),
            ],
        );
        let ok = validate(&f, &given).expect("valid");
        assert_eq!(
            Json::Object(ok),
            json!({"service": "api", "env": "prod", "replicas": 2, "tags": ["a"]})
        );
        let given = from_pairs(
            &f,
            &[
                ("service".into(), "api".into()),
                ("env".into(), "dev".into()),
                ("replicas".into(), "11".into()),
            ],
        );
        let problems = validate(&f, &given).expect_err("out of range");
        assert!(problems[0].message.contains("at most 10"), "{problems:?}");
    }
}
