//! Port's entity search query: `{"combinator": "and" | "or", "rules": [...]}` where a rule is
//! `{"property": "$identifier" | "<property>", "operator": "=", "value": ...}` or a nested
//! query. Meta properties: `$identifier`, `$title`, `$blueprint`, `$team`, `$icon`,
//! `$createdAt`, `$updatedAt`.

use std::cmp::Ordering;

use serde_json::Value as Json;
use wflow_compiler::rules;

/// Every problem with `query`, each with its path (`query.rules[1].operator: ...`).
pub fn check(query: &Json) -> Vec<String> {
    rules::check(rules::Kind::Query, query, "query")
        .into_iter()
        .map(|p| format!("{}: {}", p.at, p.message))
        .collect()
}

/// Whether `entity` matches `query` (checked with [`check`] first).
pub fn matches(query: &Json, entity: &Json) -> bool {
    if let Some(rules) = query.get("rules").and_then(Json::as_array) {
        return if query.get("combinator").and_then(Json::as_str) == Some("or") {
            rules.iter().any(|r| matches(r, entity))
        } else {
            rules.iter().all(|r| matches(r, entity))
        };
    }
    let property = query.get("property").and_then(Json::as_str).unwrap_or("");
    let actual = match property.strip_prefix('$') {
        Some(meta) => entity.get(meta),
        None => entity.get("properties").and_then(|p| p.get(property)),
    }
    .unwrap_or(&Json::Null);
    let value = query.get("value").unwrap_or(&Json::Null);
    let op = query.get("operator").and_then(Json::as_str).unwrap_or("");
    test(op, actual, value)
}

/// Whether `actual` stands in relation `op` (one of the search operators) to `value`.
pub(super) fn test(op: &str, actual: &Json, value: &Json) -> bool {
    let empty = match actual {
        Json::Null => true,
        Json::String(s) => s.is_empty(),
        Json::Array(a) => a.is_empty(),
        Json::Object(o) => o.is_empty(),
        _ => false,
    };
    let list = value.as_array().map(Vec::as_slice).unwrap_or_default();
    match op {
        "=" => actual == value,
        "!=" => actual != value,
        ">" => compare(actual, value) == Some(Ordering::Greater),
        "<" => compare(actual, value) == Some(Ordering::Less),
        ">=" => matches!(
            compare(actual, value),
            Some(Ordering::Greater | Ordering::Equal)
        ),
        "<=" => matches!(
            compare(actual, value),
            Some(Ordering::Less | Ordering::Equal)
        ),
        "in" => list.contains(actual),
        "notIn" => !list.contains(actual),
        "contains" => contains(actual, value),
        "notContains" => !contains(actual, value),
        "containsAny" => list.iter().any(|v| contains(actual, v)),
        "beginsWith" => str_pair(actual, value).is_some_and(|(a, v)| a.starts_with(v)),
        "endsWith" => str_pair(actual, value).is_some_and(|(a, v)| a.ends_with(v)),
        "isEmpty" => empty,
        "isNotEmpty" => !empty,
        _ => false,
    }
}

fn compare(a: &Json, b: &Json) -> Option<Ordering> {
    match (a, b) {
        (Json::Number(x), Json::Number(y)) => x.as_f64()?.partial_cmp(&y.as_f64()?),
        (Json::String(x), Json::String(y)) => Some(x.cmp(y)),
        _ => None,
    }
}

fn contains(actual: &Json, value: &Json) -> bool {
    match actual {
        Json::Array(items) => items.contains(value),
        Json::String(s) => value.as_str().is_some_and(|v| s.contains(v)),
        _ => false,
    }
}

fn str_pair<'a>(a: &'a Json, b: &'a Json) -> Option<(&'a str, &'a str)> {
    Some((a.as_str()?, b.as_str()?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn api() -> Json {
        json!({"identifier": "api", "title": "API", "blueprint": "service",
               "properties": {"tier": 1, "lang": "rust", "tags": ["web", "core"]}})
    }

    #[test]
    fn operators_and_nesting() {
        let q = json!({"combinator": "and", "rules": [
            {"property": "$identifier", "operator": "=", "value": "api"},
            {"combinator": "or", "rules": [
                {"property": "tier", "operator": ">", "value": 3},
                {"property": "tags", "operator": "contains", "value": "core"}
            ]},
            {"property": "lang", "operator": "in", "value": ["rust", "go"]},
            {"property": "owner", "operator": "isEmpty"}
        ]});
        assert!(check(&q).is_empty(), "{:?}", check(&q));
        assert!(matches(&q, &api()));
        let q2 = json!({"combinator": "and", "rules": [
            {"property": "tier", "operator": "<", "value": 1}]});
        assert!(!matches(&q2, &api()));
    }

    #[test]
    fn every_problem_has_a_path() {
        let q = json!({"combinator": "xor", "rules": [
            {"property": "a", "operator": "~", "value": 1},
            {"operator": "in", "value": 2}
        ]});
        let p = check(&q);
        assert_eq!(p.len(), 4, "{p:#?}");
        assert!(p[1].starts_with("query.rules[0].operator"), "{p:#?}");
    }
}
