//! Blueprints: the catalog's entity schemas, from `.wflow` `blueprint` declarations or Port's
//! blueprint JSON. The loader is pure: the caller reads the files and passes their text.

use serde_json::Value as J;
use wflow_grammar::Span;

use crate::types::{Object, Type};

/// One blueprint property.
#[derive(Debug, Clone, PartialEq)]
pub struct Property {
    pub identifier: String,
    /// `string`, `number`, `boolean`, `object` or `array`.
    pub ty: String,
    /// e.g. `timer`, `date-time`, `url`, `user`.
    pub format: Option<String>,
    /// Allowed values, when restricted.
    pub enum_values: Vec<J>,
    /// For arrays: the items' type.
    pub items: Option<String>,
    pub required: bool,
    pub span: Span,
}

impl Property {
    /// The type of the property's values.
    pub fn value_type(&self) -> Type {
        let base = |t: &str| match t {
            "string" => Type::String,
            "number" => Type::Number,
            "boolean" => Type::Bool,
            "object" => Type::Object(std::sync::Arc::new(Object {
                fields: Vec::new(),
                open: true,
            })),
            "array" => Type::Array(Box::new(Type::Any)),
            _ => Type::Any,
        };
        match (self.ty.as_str(), &self.items) {
            ("array", Some(i)) => Type::Array(Box::new(base(i))),
            (t, _) => base(t),
        }
    }
}

/// A relation to another blueprint.
#[derive(Debug, Clone, PartialEq)]
pub struct Relation {
    pub identifier: String,
    pub target: String,
    pub many: bool,
    pub required: bool,
    pub span: Span,
}

/// A blueprint: an entity schema.
#[derive(Debug, Clone, PartialEq)]
pub struct Blueprint {
    pub identifier: String,
    pub title: Option<String>,
    pub properties: Vec<Property>,
    pub relations: Vec<Relation>,
    pub span: Span,
}

impl Blueprint {
    /// The property called `id`.
    pub fn property(&self, id: &str) -> Option<&Property> {
        self.properties.iter().find(|p| p.identifier == id)
    }

    /// The relation called `id`.
    pub fn relation(&self, id: &str) -> Option<&Relation> {
        self.relations.iter().find(|r| r.identifier == id)
    }

    /// Reads Port's blueprint JSON: `{identifier, title, schema: {properties, required},
    /// relations: {id: {target, many, required}}}`.
    pub fn from_port_json(text: &str) -> Result<Blueprint, String> {
        let v: J = serde_json::from_str(text).map_err(|e| format!("not valid JSON: {e}"))?;
        Blueprint::from_port_value(&v)
    }

    /// [`Blueprint::from_port_json`] of parsed JSON (a stored blueprint, say).
    pub fn from_port_value(v: &J) -> Result<Blueprint, String> {
        // The API's `{"ok": true, "blueprint": {...}}` envelope is accepted too.
        let v = v.get("blueprint").unwrap_or(v);
        let identifier = v
            .get("identifier")
            .and_then(J::as_str)
            .ok_or("a blueprint needs an \"identifier\"")?
            .to_string();
        let schema = v.get("schema");
        let required: Vec<&str> = schema
            .and_then(|s| s.get("required"))
            .and_then(J::as_array)
            .map(|r| r.iter().filter_map(J::as_str).collect())
            .unwrap_or_default();
        let properties = schema
            .and_then(|s| s.get("properties"))
            .and_then(J::as_object)
            .map(|m| {
                m.iter()
                    .map(|(k, p)| Property {
                        identifier: k.clone(),
                        ty: p
                            .get("type")
                            .and_then(J::as_str)
                            .unwrap_or("string")
                            .to_string(),
                        format: p.get("format").and_then(J::as_str).map(str::to_string),
                        enum_values: p
                            .get("enum")
                            .and_then(J::as_array)
                            .cloned()
                            .unwrap_or_default(),
                        items: p
                            .get("items")
                            .and_then(|i| i.get("type"))
                            .and_then(J::as_str)
                            .map(str::to_string),
                        required: required.contains(&k.as_str()),
                        span: Span::default(),
                    })
                    .collect()
            })
            .unwrap_or_default();
        let relations = v
            .get("relations")
            .and_then(J::as_object)
            .map(|m| {
                m.iter()
                    .map(|(k, r)| Relation {
                        identifier: k.clone(),
                        target: r
                            .get("target")
                            .and_then(J::as_str)
                            .unwrap_or_default()
                            .to_string(),
                        many: r.get("many").and_then(J::as_bool).unwrap_or(false),
                        required: r.get("required").and_then(J::as_bool).unwrap_or(false),
                        span: Span::default(),
                    })
                    .collect()
            })
            .unwrap_or_default();
        Ok(Blueprint {
            identifier,
            title: v.get("title").and_then(J::as_str).map(str::to_string),
            properties,
            relations,
            span: Span::default(),
        })
    }
}

impl Blueprint {
    /// The blueprint as Port's blueprint JSON (what [`Blueprint::from_port_json`] reads).
    pub fn to_port_json(&self) -> J {
        let properties: serde_json::Map<String, J> = self
            .properties
            .iter()
            .map(|p| {
                let mut m = serde_json::Map::new();
                m.insert("type".into(), J::String(p.ty.clone()));
                if let Some(f) = &p.format {
                    m.insert("format".into(), J::String(f.clone()));
                }
                if !p.enum_values.is_empty() {
                    m.insert("enum".into(), J::Array(p.enum_values.clone()));
                }
                if let Some(i) = &p.items {
                    m.insert("items".into(), serde_json::json!({ "type": i }));
                }
                (p.identifier.clone(), J::Object(m))
            })
            .collect();
        let required: Vec<&str> = self
            .properties
            .iter()
            .filter(|p| p.required)
            .map(|p| p.identifier.as_str())
            .collect();
        let relations: serde_json::Map<String, J> = self
            .relations
            .iter()
            .map(|r| {
                let body = serde_json::json!({
                    "target": r.target, "many": r.many, "required": r.required,
                });
                (r.identifier.clone(), body)
            })
            .collect();
        let mut out = serde_json::json!({
            "identifier": self.identifier,
            "schema": { "properties": properties, "required": required },
            "relations": relations,
        });
        if let (Some(t), Some(m)) = (&self.title, out.as_object_mut()) {
            m.insert("title".into(), J::String(t.clone()));
        }
        out
    }
}

/// The blueprints a check knows about.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Catalog {
    pub blueprints: Vec<Blueprint>,
}

impl Catalog {
    /// A catalog holding `blueprints` plus Port's system blueprints (`_user`, `_team`).
    pub fn new(blueprints: Vec<Blueprint>) -> Catalog {
        let mut c = Catalog { blueprints };
        for sys in system() {
            if c.get(&sys.identifier).is_none() {
                c.blueprints.push(sys);
            }
        }
        c
    }

    /// Every blueprint, Port's system ones included.
    pub fn blueprints(&self) -> &[Blueprint] {
        &self.blueprints
    }

    /// The blueprint called `id`.
    pub fn get(&self, id: &str) -> Option<&Blueprint> {
        self.blueprints.iter().find(|b| b.identifier == id)
    }

    /// Whether any blueprint besides the system ones is known (only then is an unknown
    /// blueprint name a mistake rather than a gap in what we were told).
    pub fn has_user_blueprints(&self) -> bool {
        self.blueprints
            .iter()
            .any(|b| !b.identifier.starts_with('_'))
    }
}

fn system() -> Vec<Blueprint> {
    let prop = |id: &str, ty: &str, format: Option<&str>| Property {
        identifier: id.to_string(),
        ty: ty.to_string(),
        format: format.map(str::to_string),
        enum_values: Vec::new(),
        items: None,
        required: false,
        span: Span::default(),
    };
    vec![
        Blueprint {
            identifier: "_user".into(),
            title: Some("User".into()),
            properties: vec![
                prop("port_type", "string", None),
                prop("port_role", "string", None),
                prop("status", "string", None),
                prop("moderated_blueprints", "array", None),
            ],
            relations: Vec::new(),
            span: Span::default(),
        },
        Blueprint {
            identifier: "_team".into(),
            title: Some("Team".into()),
            properties: vec![
                prop("description", "string", None),
                prop("size", "number", None),
            ],
            relations: vec![Relation {
                identifier: "parent".into(),
                target: "_team".into(),
                many: false,
                required: false,
                span: Span::default(),
            }],
            span: Span::default(),
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_blueprint_json_loads() {
        let b = Blueprint::from_port_json(
            r#"{"identifier": "service", "title": "Service",
                "schema": {"properties": {"tier": {"type": "string", "enum": ["1", "2"]},
                                          "ttl": {"type": "string", "format": "timer"}},
                           "required": ["tier"]},
                "relations": {"owner": {"target": "_team", "many": false}}}"#,
        )
        .expect("loads");
        assert_eq!(b.identifier, "service");
        assert!(b.property("tier").is_some_and(|p| p.required));
        assert_eq!(
            b.property("ttl").and_then(|p| p.format.as_deref()),
            Some("timer")
        );
        assert_eq!(
            b.relation("owner").map(|r| r.target.as_str()),
            Some("_team")
        );
        assert!(Blueprint::from_port_json("{}").is_err());
        let c = Catalog::new(vec![b]);
        assert!(c.get("_user").is_some() && c.has_user_blueprints());
        assert!(!Catalog::new(Vec::new()).has_user_blueprints());
    }
}
