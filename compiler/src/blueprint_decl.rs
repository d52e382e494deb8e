//! `.wflow` `blueprint` declarations, read into [`Blueprint`]s:
//!
//! ```wflow
//! blueprint service "Service" {
//!   property tier string "Tier" { enum ["tier_1", "tier_2"] }
//!   property ttl timer "Time to live"
//!   property tags array { items string }
//!   required [tier]
//!   relation owner _team "Owner" { required true }
//!   relation dependencies service { many true }
//! }
//! ```

use wflow_grammar::Span;
use wflow_grammar::ast::{Entry, File, Statement, Value, ValueKind};

use crate::catalog::{Blueprint, Property, Relation};
use crate::diag::Diagnostic;
use crate::suggest::did_you_mean;

/// Property types; the others name a string format.
const TYPES: [&str; 5] = ["string", "number", "boolean", "object", "array"];
/// String formats usable as a property type.
const FORMATS: [&str; 10] = [
    "timer",
    "date-time",
    "url",
    "email",
    "user",
    "team",
    "yaml",
    "markdown",
    "ipv4",
    "ipv6",
];

/// The `blueprint` items of a parsed file.
pub(crate) fn blueprints(file: &File, diags: &mut Vec<Diagnostic>) -> Vec<Blueprint> {
    file.statements
        .iter()
        .filter_map(|st| match st {
            Statement::Entry(e) if e.name.name == "blueprint" => blueprint(e, diags),
            _ => None,
        })
        .collect()
}

fn word(v: &Value) -> Option<(String, Span)> {
    match &v.kind {
        ValueKind::Ident(id) => Some((id.name.clone(), id.span)),
        ValueKind::Str(s) => Some((s.value.clone(), s.span)),
        _ => None,
    }
}

fn blueprint(e: &Entry, diags: &mut Vec<Diagnostic>) -> Option<Blueprint> {
    let Some((identifier, span)) = e.args.first().and_then(word) else {
        diags.push(
            Diagnostic::error(
                "missing-field",
                e.name.span,
                "a blueprint needs an identifier",
            )
            .help("write `blueprint service \"Service\" { ... }`"),
        );
        return None;
    };
    let mut b = Blueprint {
        identifier,
        title: e.args.get(1).and_then(word).map(|(t, _)| t),
        properties: Vec::new(),
        relations: Vec::new(),
        span,
    };
    let mut required: Vec<(String, Span)> = Vec::new();
    for st in e.block.iter().flat_map(|b| &b.statements) {
        let Statement::Entry(f) = st else {
            diags.push(
                Diagnostic::error(
                    "unknown-field",
                    st.span(),
                    "a blueprint holds `property`, `relation` and `required`",
                )
                .help("write `property <id> <type>` or `relation <id> <blueprint>`"),
            );
            continue;
        };
        match f.name.name.as_str() {
            "property" => {
                if let Some(p) = property(f, diags) {
                    b.properties.push(p);
                }
            }
            "relation" => {
                let (Some((id, span)), Some((target, _))) =
                    (f.args.first().and_then(word), f.args.get(1).and_then(word))
                else {
                    diags.push(
                        Diagnostic::error(
                            "missing-field",
                            f.name.span,
                            "a relation needs an identifier and a target blueprint",
                        )
                        .help("write `relation owner _team`"),
                    );
                    continue;
                };
                b.relations.push(Relation {
                    identifier: id,
                    target,
                    many: flag(f, "many"),
                    required: flag(f, "required"),
                    span,
                });
            }
            "required" => {
                if let Some(ValueKind::Array(items)) = f.args.first().map(|v| &v.kind) {
                    required.extend(items.iter().filter_map(word));
                }
            }
            "title" | "icon" | "description" => {}
            other => diags.push(
                Diagnostic::error(
                    "unknown-field",
                    f.name.span,
                    format!("a blueprint has no field `{other}`"),
                )
                .help(
                    did_you_mean(
                        other,
                        [
                            "property",
                            "relation",
                            "required",
                            "title",
                            "icon",
                            "description",
                        ],
                    )
                    .unwrap_or_else(|| {
                        "fields: property, relation, required, title, icon, description".into()
                    }),
                ),
            ),
        }
    }
    for (r, span) in required {
        match b.properties.iter_mut().find(|p| p.identifier == r) {
            Some(p) => p.required = true,
            None => diags.push(
                Diagnostic::error(
                    "unknown-property",
                    span,
                    format!("blueprint `{}` has no property `{r}`", b.identifier),
                )
                .help("declare it with `property`, or remove it from `required`"),
            ),
        }
    }
    Some(b)
}

/// Whether the entry's block sets `name true`.
fn flag(e: &Entry, name: &str) -> bool {
    e.block.iter().flat_map(|b| &b.statements).any(|st| {
        matches!(st, Statement::Entry(f) if f.name.name == name
            && matches!(f.args.first().map(|v| &v.kind), Some(ValueKind::Bool(true))))
    })
}

fn property(f: &Entry, diags: &mut Vec<Diagnostic>) -> Option<Property> {
    let (Some((id, span)), Some((ty, ty_span))) =
        (f.args.first().and_then(word), f.args.get(1).and_then(word))
    else {
        diags.push(
            Diagnostic::error(
                "missing-field",
                f.name.span,
                "a property needs an identifier and a type",
            )
            .help("write `property tier string`"),
        );
        return None;
    };
    let (ty, format) = if TYPES.contains(&ty.as_str()) {
        (ty, None)
    } else if FORMATS.contains(&ty.as_str()) {
        ("string".to_string(), Some(ty))
    } else {
        diags.push(
            Diagnostic::error("unknown-input-type", ty_span, format!("unknown property type `{ty}`"))
                .help(did_you_mean(&ty, TYPES.iter().chain(&FORMATS).copied()).unwrap_or_else(|| {
                    "types: string, number, boolean, object, array, or a string format such as timer".into()
                })),
        );
        ("string".to_string(), None)
    };
    let mut p = Property {
        identifier: id,
        ty,
        format,
        enum_values: Vec::new(),
        items: None,
        required: false,
        span,
    };
    for st in f.block.iter().flat_map(|b| &b.statements) {
        let Statement::Entry(k) = st else { continue };
        match (k.name.name.as_str(), k.args.first().map(|v| &v.kind)) {
            ("enum", Some(ValueKind::Array(items))) => {
                p.enum_values = items
                    .iter()
                    .filter_map(|v| match &v.kind {
                        ValueKind::Str(s) => Some(serde_json::Value::String(s.value.clone())),
                        ValueKind::Ident(i) => Some(serde_json::Value::String(i.name.clone())),
                        ValueKind::Number(n) => n
                            .parse::<serde_json::Number>()
                            .ok()
                            .map(serde_json::Value::Number),
                        ValueKind::Bool(b) => Some(serde_json::Value::Bool(*b)),
                        _ => None,
                    })
                    .collect();
            }
            ("items", Some(_)) => p.items = k.args.first().and_then(word).map(|(t, _)| t),
            ("format", Some(_)) => p.format = k.args.first().and_then(word).map(|(t, _)| t),
            _ => {}
        }
    }
    Some(p)
}
