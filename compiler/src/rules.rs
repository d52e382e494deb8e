//! Port's `{"combinator": "and" | "or", "rules": [...]}` groups, checked: the permission
//! `policy` of a self-service trigger (by the checker, with spans) and entity search queries
//! (by `wflow serve`'s API, on plain JSON). One check serves both trees through [`Tree`].
//!
//! A policy rule is `{"property": {"context", "property"}, "operator", "value"}`, where `value`
//! may itself be `{"context", "property"}`; a query rule is `{"property": "<name>", "operator",
//! "value"}`. Either may be a nested group.

use serde_json::Value as Json;

use crate::ir::{Value, ValueKind};

/// Search query operators whose `value` is one value.
pub const QUERY_SCALAR_OPERATORS: &[&str] = &[
    "=",
    "!=",
    ">",
    "<",
    ">=",
    "<=",
    "contains",
    "notContains",
    "beginsWith",
    "endsWith",
];

/// Operators whose `value` is a list (queries and policies alike).
pub const LIST_OPERATORS: &[&str] = &["in", "notIn", "containsAny"];

/// Search query operators that take no `value`.
pub const QUERY_EMPTY_OPERATORS: &[&str] = &["isEmpty", "isNotEmpty"];

/// Policy operators whose `value` is one value: the queries' but `beginsWith`, `endsWith`.
const POLICY_SCALAR_OPERATORS: &[&str] = QUERY_SCALAR_OPERATORS.split_at(8).0;

/// Policy operators that take no `value`.
const POLICY_EMPTY_OPERATORS: &[&str] = &["empty", "notEmpty"];

/// The contexts a policy may read.
pub const CONTEXTS: &[&str] = &["user", "userTeams", "form", "workflowRun"];

/// Which kind of group is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Policy,
    Query,
}

/// A value tree a group can be read from: the IR's spanned [`Value`] or plain JSON.
pub trait Tree {
    fn field(&self, key: &str) -> Option<&Self>;
    fn text(&self) -> Option<&str>;
    fn items(&self) -> Option<Vec<&Self>>;
    fn is_object(&self) -> bool;
}

impl Tree for Json {
    fn field(&self, key: &str) -> Option<&Json> {
        self.get(key)
    }
    fn text(&self) -> Option<&str> {
        self.as_str()
    }
    fn items(&self) -> Option<Vec<&Json>> {
        self.as_array().map(|a| a.iter().collect())
    }
    fn is_object(&self) -> bool {
        self.is_object()
    }
}

impl Tree for Value {
    fn field(&self, key: &str) -> Option<&Value> {
        match &self.kind {
            ValueKind::Object(entries) => {
                entries.iter().find(|(k, _)| k.value == key).map(|e| &e.1)
            }
            _ => None,
        }
    }
    fn text(&self) -> Option<&str> {
        match &self.kind {
            ValueKind::String(t) if t.exprs().next().is_none() => Some(&t.text),
            _ => None,
        }
    }
    fn items(&self) -> Option<Vec<&Value>> {
        match &self.kind {
            ValueKind::Array(items) => Some(items.iter().collect()),
            _ => None,
        }
    }
    fn is_object(&self) -> bool {
        matches!(self.kind, ValueKind::Object(_))
    }
}

/// One problem: where (a path such as `rules[0].operator`), the closest node that exists
/// there, and what is wrong.
pub struct Problem<'a, T> {
    pub at: String,
    pub node: &'a T,
    pub message: String,
}

/// Every problem with the group `root` of `kind`; paths start at `at`.
pub fn check<'a, T: Tree>(kind: Kind, root: &'a T, at: &str) -> Vec<Problem<'a, T>> {
    let mut problems = Vec::new();
    rule(kind, root, at, &mut problems);
    problems
}

fn push<'a, T>(problems: &mut Vec<Problem<'a, T>>, node: &'a T, at: String, message: String) {
    problems.push(Problem { at, node, message });
}

fn rule<'a, T: Tree>(kind: Kind, r: &'a T, at: &str, problems: &mut Vec<Problem<'a, T>>) {
    if !r.is_object() {
        push(problems, r, at.into(), "expected an object".into());
        return;
    }
    let group = match kind {
        Kind::Policy => r.field("property").is_none(),
        Kind::Query => r.field("rules").is_some() || r.field("combinator").is_some(),
    };
    if group {
        match r.field("combinator") {
            Some(c) if matches!(c.text(), Some("and" | "or")) => {}
            c => push(
                problems,
                c.unwrap_or(r),
                format!("{at}.combinator"),
                "must be \"and\" or \"or\"".into(),
            ),
        }
        match r.field("rules").map(|x| (x, x.items())) {
            Some((_, Some(rules))) => {
                for (i, sub) in rules.into_iter().enumerate() {
                    rule(kind, sub, &format!("{at}.rules[{i}]"), problems);
                }
            }
            found => push(
                problems,
                found.map_or(r, |f| f.0),
                format!("{at}.rules"),
                "expected a list of rules".into(),
            ),
        }
        return;
    }
    match kind {
        Kind::Policy => reference(r.field("property"), r, &format!("{at}.property"), problems),
        Kind::Query if r.field("property").and_then(Tree::text).is_none() => push(
            problems,
            r.field("property").unwrap_or(r),
            format!("{at}.property"),
            "a string is required (a property identifier or $identifier, $title, $blueprint, \
             $team, $createdAt, $updatedAt)"
                .into(),
        ),
        Kind::Query => {}
    }
    let (scalar, empty) = match kind {
        Kind::Policy => (POLICY_SCALAR_OPERATORS, POLICY_EMPTY_OPERATORS),
        Kind::Query => (QUERY_SCALAR_OPERATORS, QUERY_EMPTY_OPERATORS),
    };
    let operators = [scalar, LIST_OPERATORS, empty].concat();
    let op_node = r.field("operator");
    let Some(op) = op_node.and_then(Tree::text) else {
        push(
            problems,
            op_node.unwrap_or(r),
            format!("{at}.operator"),
            "a string is required".into(),
        );
        return;
    };
    if !operators.contains(&op) {
        push(
            problems,
            op_node.unwrap_or(r),
            format!("{at}.operator"),
            format!(
                "unknown operator `{op}`; use one of {}",
                operators.join(", ")
            ),
        );
        return;
    }
    let value = r.field("value");
    let value_at = format!("{at}.value");
    if kind == Kind::Policy && value.is_some_and(|v| v.field("context").is_some()) {
        reference(value, r, &value_at, problems);
    } else if !empty.contains(&op) && value.is_none() {
        push(
            problems,
            r,
            value_at,
            format!("operator `{op}` needs a value"),
        );
    } else if LIST_OPERATORS.contains(&op) && value.is_none_or(|v| v.items().is_none()) {
        push(
            problems,
            value.unwrap_or(r),
            value_at,
            format!("operator `{op}` needs a list"),
        );
    }
}

/// A policy's `{"context", "property"}` reference.
fn reference<'a, T: Tree>(
    r: Option<&'a T>,
    parent: &'a T,
    at: &str,
    problems: &mut Vec<Problem<'a, T>>,
) {
    let node = r.unwrap_or(parent);
    let context = r.and_then(|r| r.field("context"));
    if !context
        .and_then(Tree::text)
        .is_some_and(|c| CONTEXTS.contains(&c))
    {
        push(
            problems,
            context.unwrap_or(node),
            format!("{at}.context"),
            format!("must be one of {}", CONTEXTS.join(", ")),
        );
    }
    let property = r.and_then(|r| r.field("property"));
    if property.and_then(Tree::text).is_none() {
        push(
            problems,
            property.unwrap_or(node),
            format!("{at}.property"),
            "a string is required".into(),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn messages(kind: Kind, v: &Json) -> Vec<String> {
        check(kind, v, "policy")
            .into_iter()
            .map(|p| format!("{}: {}", p.at, p.message))
            .collect()
    }

    #[test]
    fn a_valid_policy_and_query_have_no_problem() {
        let policy = json!({"combinator": "and", "rules": [
            {"property": {"context": "user", "property": "department"}, "operator": "=", "value": "eng"},
            {"property": {"context": "form", "property": "s.$team"}, "operator": "containsAny",
             "value": {"context": "userTeams", "property": "$identifier"}},
            {"combinator": "or", "rules": [{"property": {"context": "user", "property": "x"}, "operator": "empty"}]}
        ]});
        assert_eq!(messages(Kind::Policy, &policy), Vec::<String>::new());
        let query = json!({"combinator": "or", "rules": [{"property": "$title", "operator": "beginsWith", "value": "a"}]});
        assert_eq!(messages(Kind::Query, &query), Vec::<String>::new());
    }

    #[test]
    fn every_problem_is_named_with_its_path() {
        let policy = json!({"combinator": "xor", "rules": [
            {"property": {"context": "org", "property": 1}, "operator": "~"},
            {"property": {"context": "user", "property": "a"}, "operator": "in", "value": "x"},
            {"property": {"context": "user", "property": "a"}, "operator": "="}
        ]});
        assert_eq!(
            messages(Kind::Policy, &policy),
            [
                "policy.combinator: must be \"and\" or \"or\"",
                "policy.rules[0].property.context: must be one of user, userTeams, form, workflowRun",
                "policy.rules[0].property.property: a string is required",
                "policy.rules[0].operator: unknown operator `~`; use one of =, !=, >, <, >=, <=, \
                 contains, notContains, in, notIn, containsAny, empty, notEmpty",
                "policy.rules[1].value: operator `in` needs a list",
                "policy.rules[2].value: operator `=` needs a value",
            ]
        );
        assert_eq!(
            messages(Kind::Query, &json!({"rules": 3})),
            [
                "policy.combinator: must be \"and\" or \"or\"",
                "policy.rules: expected a list of rules"
            ]
        );
    }
}
