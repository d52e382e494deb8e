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

/// Whether `user`, submitting `form` (`None`: not submitted yet), satisfies `policy` (checked
/// by the compiler first): `None` when that depends on what is not known yet.
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
}
