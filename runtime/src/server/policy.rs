//! Port's permission `policy` of a self-service trigger: `{"combinator": "and" | "or",
//! "rules": [...]}` where a rule is `{"property": {"context", "property"}, "operator",
//! "value"}` or a nested policy, and `value` may itself be `{"context", "property"}`.
//!
//! Contexts: `user` (`$identifier` and `$email`: the email; `$title`; `port_role`: the first
//! role; `$team`: the teams; other names: the user's `properties` in the auth file),
//! `userTeams` (the user's team names, for `$identifier`, `$title` and `name`), `form` (the
//! submitted inputs; `input.$identifier`, `.$title`, `.$team` and `.<property>` of an entity
//! input) and `workflowRun` (nothing exists before the run starts, so rules on it never hold).
//!
//! A policy is decided in three values: a rule on what is not known yet (the form, before it
//! is submitted) is undecided, so a workflow is listed to a user whom its policy may allow.

use serde_json::{Map, Value as Json};

use super::User;
use super::query::test;

const OPERATORS: &[&str] = &[
    "=",
    "!=",
    ">",
    "<",
    ">=",
    "<=",
    "in",
    "notIn",
    "contains",
    "notContains",
    "containsAny",
    "empty",
    "notEmpty",
];

const CONTEXTS: &[&str] = &["user", "userTeams", "form", "workflowRun"];

/// Every problem with `policy`, each with its path (`policy.rules[0].operator: ...`).
pub fn check(policy: &Json) -> Vec<String> {
    let mut problems = Vec::new();
    check_at(policy, "policy", &mut problems);
    problems
}

fn check_at(p: &Json, at: &str, problems: &mut Vec<String>) {
    let Some(m) = p.as_object() else {
        problems.push(format!("{at}: expected an object"));
        return;
    };
    if !m.contains_key("property") {
        super::query::check_group(m, at, problems, check_at);
        return;
    }
    check_reference(m.get("property"), &format!("{at}.property"), problems);
    let op = m.get("operator").and_then(Json::as_str);
    match op {
        Some(op) if OPERATORS.contains(&op) => {
            let value = m.get("value");
            if let Some(Json::Object(r)) = value
                && r.contains_key("context")
            {
                check_reference(value, &format!("{at}.value"), problems);
            } else if !matches!(op, "empty" | "notEmpty") && value.is_none() {
                problems.push(format!("{at}.value: operator `{op}` needs a value"));
            } else if matches!(op, "in" | "notIn" | "containsAny")
                && !value.is_some_and(Json::is_array)
            {
                problems.push(format!("{at}.value: operator `{op}` needs a list"));
            }
        }
        Some(op) => problems.push(format!(
            "{at}.operator: unknown operator `{op}`; use one of {}",
            OPERATORS.join(", ")
        )),
        None => problems.push(format!("{at}.operator: a string is required")),
    }
}

fn check_reference(r: Option<&Json>, at: &str, problems: &mut Vec<String>) {
    match r.and_then(|r| r.get("context")).and_then(Json::as_str) {
        Some(c) if CONTEXTS.contains(&c) => {}
        _ => problems.push(format!(
            "{at}.context: must be one of {}",
            CONTEXTS.join(", ")
        )),
    }
    if !r
        .and_then(|r| r.get("property"))
        .is_some_and(Json::is_string)
    {
        problems.push(format!("{at}.property: a string is required"));
    }
}

/// Whether `user`, submitting `form` (`None`: not submitted yet), satisfies `policy` (checked
/// with [`check`] first): `None` when that depends on what is not known yet.
pub fn allows(policy: &Json, user: &User, form: Option<&Map<String, Json>>) -> Option<bool> {
    if let Some(rules) = policy.get("rules").and_then(Json::as_array) {
        let verdicts: Vec<Option<bool>> = rules.iter().map(|r| allows(r, user, form)).collect();
        // One `true` decides an `or`, one `false` an `and`; else all must be decided.
        let decisive = policy.get("combinator").and_then(Json::as_str) == Some("or");
        return if verdicts.contains(&Some(decisive)) {
            Some(decisive)
        } else if verdicts.iter().all(|v| *v == Some(!decisive)) {
            Some(!decisive)
        } else {
            None
        };
    }
    let actual = resolve(policy.get("property")?, user, form)?;
    let value = match policy.get("value") {
        Some(r @ Json::Object(m)) if m.contains_key("context") => resolve(r, user, form)?,
        Some(v) => v.clone(),
        None => Json::Null,
    };
    let op = match policy.get("operator").and_then(Json::as_str)? {
        "empty" => "isEmpty",
        "notEmpty" => "isNotEmpty",
        // Port rejects `in` and `notIn` on array properties.
        "in" | "notIn" if actual.is_array() => return Some(false),
        op => op,
    };
    Some(test(op, &actual, &value))
}

/// The value a `{context, property}` reference names; `None` when it is not known yet.
fn resolve(r: &Json, user: &User, form: Option<&Map<String, Json>>) -> Option<Json> {
    let property = r.get("property").and_then(Json::as_str).unwrap_or("");
    let teams = || Json::from(user.teams.clone());
    match r.get("context").and_then(Json::as_str)? {
        "user" => Some(match property {
            "$identifier" | "$email" => Json::from(user.email.clone()),
            "$title" => user.properties.get("$title").cloned().unwrap_or(Json::Null),
            "$team" => teams(),
            "port_role" => Json::from(user.roles.first().cloned()),
            other => user.properties.get(other).cloned().unwrap_or(Json::Null),
        }),
        "userTeams" => Some(match property {
            "$identifier" | "$title" | "name" => teams(),
            _ => Json::Null,
        }),
        "form" => {
            let (input, field) = match property.split_once('.') {
                Some((i, f)) => (i, Some(f)),
                None => (property, None),
            };
            let given = form?.get(input).cloned().unwrap_or(Json::Null);
            Some(match (field, &given) {
                (None, _) => given,
                // An entity input given by its identifier.
                (Some("$identifier"), Json::String(_)) => given,
                (Some(f), Json::Object(e)) => match f.strip_prefix('$') {
                    Some(meta) => e.get(meta).cloned().unwrap_or(Json::Null),
                    None => e
                        .get("properties")
                        .and_then(|p| p.get(f))
                        .cloned()
                        .unwrap_or(Json::Null),
                },
                _ => Json::Null,
            })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn eng() -> User {
        User {
            email: Some("ada@example.com".into()),
            roles: vec!["Member".into()],
            teams: vec!["platform".into()],
            machine: false,
            properties: json!({"department": "engineering", "level": 3})
                .as_object()
                .cloned()
                .unwrap_or_default(),
        }
    }

    fn rule(context: &str, property: &str, op: &str, value: Json) -> Json {
        json!({"property": {"context": context, "property": property},
               "operator": op, "value": value})
    }

    #[test]
    fn three_valued_rules_over_every_context() {
        let u = eng();
        let p = json!({"combinator": "and", "rules": [
            rule("user", "department", "=", json!("engineering")),
            rule("user", "level", ">=", json!(3)),
            rule("userTeams", "$identifier", "containsAny", json!(["platform", "sre"])),
            rule("user", "$identifier", "notIn", json!(["eve@example.com"])),
            {"combinator": "or", "rules": [
                rule("form", "env", "=", json!("staging")),
                rule("user", "port_role", "=", json!("Admin"))
            ]}
        ]});
        assert!(check(&p).is_empty(), "{:?}", check(&p));
        assert_eq!(allows(&p, &u, None), None, "depends on the form");
        let staging = json!({"env": "staging"}).as_object().cloned();
        assert_eq!(allows(&p, &u, staging.as_ref()), Some(true));
        let prod = json!({"env": "prod"}).as_object().cloned();
        assert_eq!(allows(&p, &u, prod.as_ref()), Some(false));
        let sales = User {
            properties: Map::new(),
            ..eng()
        };
        assert_eq!(
            allows(&p, &sales, None),
            Some(false),
            "decided without the form"
        );
        let empty = rule("user", "manager", "empty", Json::Null);
        assert_eq!(allows(&empty, &u, None), Some(true));
        let same = json!({"property": {"context": "form", "property": "owner"}, "operator": "=",
                          "value": {"context": "user", "property": "$identifier"}});
        let mine = json!({"owner": "ada@example.com"}).as_object().cloned();
        assert_eq!(allows(&same, &u, mine.as_ref()), Some(true));
        let run = rule("workflowRun", "$identifier", "notEmpty", Json::Null);
        assert_eq!(allows(&run, &u, mine.as_ref()), None);
    }

    #[test]
    fn every_problem_has_a_path() {
        let p = json!({"combinator": "xor", "rules": [
            {"property": {"context": "org", "property": 1}, "operator": "~"},
            {"property": {"context": "user", "property": "x"}, "operator": "in", "value": 2}
        ]});
        let problems = check(&p);
        assert_eq!(problems.len(), 5, "{problems:#?}");
        assert!(
            problems[1].starts_with("policy.rules[0].property.context"),
            "{problems:#?}"
        );
    }
}
