//! Static types of the JSON values that flow between nodes.
//!
//! Types are conservative: [`Type::Any`] stands for everything nobody can know, and no check
//! ever reports a problem on `Any`. Node outputs are described in `stdlib` in a small JSON
//! notation ([`Type::from_notation`]); form inputs, JSON Schemas and blueprints convert too.

use std::fmt;

use serde_json::Value as J;

/// A JSON value's static type.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Type {
    /// Unknown: every operation is allowed.
    #[default]
    Any,
    Null,
    Bool,
    Number,
    String,
    /// A string holding JSON text of the given type (`| fromjson` yields it).
    JsonText(Box<Type>),
    Array(Box<Type>),
    /// Shared: a type is cloned for every expression that reads it.
    Object(std::sync::Arc<Object>),
    /// One of several types (never nested, never containing `Any`).
    Union(Vec<Type>),
    /// The run context's `.outputs` map; its fields are resolved against the workflow graph.
    Outputs,
    /// The run context's `.secrets` map: every field is a secret string.
    Secrets,
}

/// An object type: known fields, and whether other fields may exist.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Object {
    pub fields: Vec<(String, Type)>,
    /// Other fields may exist (their type is `Any`).
    pub open: bool,
}

impl Object {
    /// The type of field `name`, if known.
    pub fn field(&self, name: &str) -> Option<&Type> {
        self.fields.iter().find(|(k, _)| k == name).map(|(_, t)| t)
    }
}

/// More alternatives than this in a union make it `Any`.
const MAX_UNION: usize = 8;

impl Type {
    /// A closed object with the given fields.
    pub fn object(fields: Vec<(String, Type)>) -> Type {
        Type::Object(std::sync::Arc::new(Object {
            fields,
            open: false,
        }))
    }

    /// `self | null`.
    pub fn nullable(self) -> Type {
        Type::join(self, Type::Null)
    }

    /// The union of two types.
    pub fn join(a: Type, b: Type) -> Type {
        if a == b {
            return a;
        }
        let mut items: Vec<Type> = Vec::new();
        for t in [a, b] {
            match t {
                Type::Any => return Type::Any,
                Type::Union(ts) => items.extend(ts),
                t => items.push(t),
            }
        }
        let mut out: Vec<Type> = Vec::new();
        for t in items {
            if !out.contains(&t) {
                out.push(t);
            }
        }
        match out.len() {
            1 => out.pop().unwrap_or(Type::Any),
            n if n > MAX_UNION => Type::Any,
            _ => Type::Union(out),
        }
    }

    /// The alternatives of this type (itself unless it is a union).
    pub fn alternatives(&self) -> &[Type] {
        match self {
            Type::Union(ts) => ts,
            t => std::slice::from_ref(t),
        }
    }

    /// This type without `null` (what `x // y` keeps of `x`).
    pub fn non_null(&self) -> Type {
        match self {
            Type::Null => Type::Any,
            Type::Union(ts) => ts
                .iter()
                .filter(|t| **t != Type::Null)
                .cloned()
                .fold(None, |acc: Option<Type>, t| {
                    Some(acc.map_or(t.clone(), |a| Type::join(a, t)))
                })
                .unwrap_or(Type::Any),
            t => t.clone(),
        }
    }

    /// Whether a value of this type may be `true` or `false`.
    pub fn may_be_bool(&self) -> bool {
        self.alternatives()
            .iter()
            .any(|t| matches!(t, Type::Any | Type::Bool))
    }

    /// Whether every value of this type is an object or an array (never a scalar).
    pub fn is_structured(&self) -> bool {
        self.alternatives().iter().all(|t| {
            matches!(
                t,
                Type::Array(_) | Type::Object(_) | Type::Outputs | Type::Secrets
            )
        })
    }

    /// Whether every value of this type is a string.
    pub fn is_string(&self) -> bool {
        self.alternatives()
            .iter()
            .all(|t| matches!(t, Type::String | Type::JsonText(_)))
    }

    /// Whether a value of this type may be a string.
    pub fn may_be_string(&self) -> bool {
        self.alternatives()
            .iter()
            .any(|t| matches!(t, Type::Any | Type::String | Type::JsonText(_)))
    }

    /// Whether this type says nothing.
    pub fn is_any(&self) -> bool {
        matches!(self, Type::Any)
    }

    /// A short noun for messages: `a string`, `an object`, `null`.
    pub fn noun(&self) -> String {
        match self {
            Type::Any => "any value".into(),
            Type::Null => "null".into(),
            Type::Bool => "a boolean".into(),
            Type::Number => "a number".into(),
            Type::String | Type::JsonText(_) => "a string".into(),
            Type::Array(_) => "an array".into(),
            Type::Object(_) | Type::Outputs | Type::Secrets => "an object".into(),
            Type::Union(_) => format!("`{self}`"),
        }
    }

    /// Parses the `stdlib` notation: `"string"`, `"number"`, `"boolean"`, `"null"`, `"any"`,
    /// a trailing `?` for "or null", `[T]` for arrays, `{"k": T, "k?": T, "...": "any"}` for
    /// objects (`k?`: the field may be null; `...`: other fields may exist). Strings starting
    /// with `$` are placeholders filled by `fill` (e.g. `$entity`).
    pub fn from_notation(v: &J, fill: &mut dyn FnMut(&str) -> Type) -> Type {
        match v {
            J::String(s) => {
                let (name, nullable) = match s.strip_suffix('?') {
                    Some(n) => (n, true),
                    None => (s.as_str(), false),
                };
                let t = match name {
                    "string" => Type::String,
                    "number" => Type::Number,
                    "boolean" => Type::Bool,
                    "null" => Type::Null,
                    p if p.starts_with('$') => fill(p),
                    _ => Type::Any,
                };
                if nullable { t.nullable() } else { t }
            }
            J::Array(items) => Type::Array(Box::new(
                items
                    .first()
                    .map_or(Type::Any, |i| Type::from_notation(i, fill)),
            )),
            J::Object(m) => {
                let mut o = Object::default();
                for (k, v) in m {
                    if k == "..." {
                        o.open = true;
                        continue;
                    }
                    let (k, nullable) = match k.strip_suffix('?') {
                        Some(n) => (n, true),
                        None => (k.as_str(), false),
                    };
                    let t = Type::from_notation(v, fill);
                    o.fields
                        .push((k.to_string(), if nullable { t.nullable() } else { t }));
                }
                Type::Object(std::sync::Arc::new(o))
            }
            _ => Type::Any,
        }
    }

    /// The type of values a JSON Schema describes (`type`, `properties`, `items`, `enum`);
    /// objects are open unless `additionalProperties` is `false`.
    pub fn from_json_schema(s: &J) -> Type {
        let Some(m) = s.as_object() else {
            return Type::Any;
        };
        let one = |ty: &str| -> Type {
            match ty {
                "string" => Type::String,
                "number" | "integer" => Type::Number,
                "boolean" => Type::Bool,
                "null" => Type::Null,
                "array" => Type::Array(Box::new(
                    m.get("items").map_or(Type::Any, Type::from_json_schema),
                )),
                "object" => {
                    let required: Vec<&str> = m
                        .get("required")
                        .and_then(J::as_array)
                        .map(|r| r.iter().filter_map(J::as_str).collect())
                        .unwrap_or_default();
                    let fields = m
                        .get("properties")
                        .and_then(J::as_object)
                        .map(|p| {
                            p.iter()
                                .map(|(k, v)| {
                                    let t = Type::from_json_schema(v);
                                    let t = if required.contains(&k.as_str()) {
                                        t
                                    } else {
                                        t.nullable()
                                    };
                                    (k.clone(), t)
                                })
                                .collect()
                        })
                        .unwrap_or_default();
                    let closed = m.get("additionalProperties") == Some(&J::Bool(false))
                        || (m.contains_key("properties")
                            && !m.contains_key("additionalProperties"));
                    Type::Object(std::sync::Arc::new(Object {
                        fields,
                        open: !closed,
                    }))
                }
                _ => Type::Any,
            }
        };
        match m.get("type") {
            Some(J::String(t)) => one(t),
            Some(J::Array(ts)) => ts
                .iter()
                .filter_map(J::as_str)
                .map(one)
                .reduce(Type::join)
                .unwrap_or(Type::Any),
            _ => Type::Any,
        }
    }
}

impl fmt::Display for Type {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Type::Any => f.write_str("any"),
            Type::Null => f.write_str("null"),
            Type::Bool => f.write_str("boolean"),
            Type::Number => f.write_str("number"),
            Type::String => f.write_str("string"),
            Type::JsonText(_) => f.write_str("string (JSON)"),
            Type::Array(t) => match **t {
                Type::Union(_) => write!(f, "({t})[]"),
                _ => write!(f, "{t}[]"),
            },
            Type::Object(o) => {
                f.write_str("{")?;
                for (i, (k, t)) in o.fields.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    if k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') && !k.is_empty() {
                        write!(f, "{k}: {t}")?;
                    } else {
                        write!(f, "{k:?}: {t}")?;
                    }
                }
                if o.open {
                    f.write_str(if o.fields.is_empty() { "..." } else { ", ..." })?;
                }
                f.write_str("}")
            }
            Type::Union(ts) => {
                for (i, t) in ts.iter().enumerate() {
                    if i > 0 {
                        f.write_str(" | ")?;
                    }
                    write!(f, "{t}")?;
                }
                Ok(())
            }
            Type::Outputs => f.write_str("{<node>: output, ...}"),
            Type::Secrets => f.write_str("{<secret>: string, ...}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notation_parses_and_displays() {
        let v = serde_json::json!({"response": {"status": "number", "data": "$data"}, "error?": {"message": "string"}});
        let t = Type::from_notation(&v, &mut |p| {
            assert_eq!(p, "$data");
            Type::Any
        });
        assert_eq!(
            t.to_string(),
            "{response: {status: number, data: any}, error: {message: string} | null}"
        );
        let t = Type::from_notation(&serde_json::json!(["string?"]), &mut |_| Type::Any);
        assert_eq!(t.to_string(), "(string | null)[]");
        let t = Type::from_notation(&serde_json::json!({"...": "any"}), &mut |_| Type::Any);
        assert_eq!(t.to_string(), "{...}");
    }

    #[test]
    fn joins_flatten_and_absorb() {
        let t = Type::join(Type::String, Type::join(Type::Null, Type::String));
        assert_eq!(t, Type::Union(vec![Type::String, Type::Null]));
        assert_eq!(Type::join(t.clone(), Type::Any), Type::Any);
        assert_eq!(t.non_null(), Type::String);
        assert!(!t.may_be_bool());
        assert!(Type::join(Type::Bool, Type::Null).may_be_bool());
    }

    #[test]
    fn json_schema_converts() {
        let s = serde_json::json!({"type": "object", "properties": {"summary": {"type": "string"}, "score": {"type": "integer"}}, "required": ["summary"]});
        assert_eq!(
            Type::from_json_schema(&s).to_string(),
            "{summary: string, score: number | null}"
        );
        let open = serde_json::json!({"type": "object"});
        assert_eq!(Type::from_json_schema(&open).to_string(), "{...}");
    }
}
