//! Templating: `{{ jq }}` inside strings and Port's `{"jqQuery": ...}`, evaluated against the
//! run context just before a node runs.
//!
//! Rules (see docs/runtime.md):
//! - a string that is exactly one `{{ x }}` takes the JSON value of `x` (any type);
//! - otherwise each `{{ x }}` is interpolated: strings as they are, `null` as nothing, numbers
//!   and booleans as jq's `tostring`, arrays and objects as compact JSON;
//! - an expression that yields no value is `null`; one that yields several is an error (wrap
//!   it in `[...]` to collect them);
//! - only expressions that name `secrets` see `.secrets`; what they yield is tainted (redacted
//!   wherever it is recorded or shown) and their error messages are withheld.

use serde_json::Value as Json;
use wflow_compiler::ir::{Part, Template, Value, ValueKind};

use crate::jq::{Evaluator, Outcome, Programs};
use crate::secrets::{Secrets, reads_secrets};

/// Something to render.
#[derive(Clone, Copy)]
pub enum Piece<'a> {
    Value(&'a Value),
    Template(&'a Template),
}

/// Every jq expression in `piece`, in rendering order.
pub fn exprs<'a>(piece: Piece<'a>, out: &mut Vec<&'a str>) {
    match piece {
        Piece::Template(t) => out.extend(t.exprs().map(|q| q.code.as_str())),
        Piece::Value(v) => match &v.kind {
            ValueKind::String(t) => exprs(Piece::Template(t), out),
            ValueKind::Array(items) => items.iter().for_each(|i| exprs(Piece::Value(i), out)),
            ValueKind::Object(members) => members
                .iter()
                .for_each(|(_, v)| exprs(Piece::Value(v), out)),
            ValueKind::Jq(q) => out.push(q.code.as_str()),
            ValueKind::Null | ValueKind::Bool(_) | ValueKind::Number(_) => {}
        },
    }
}

/// Evaluates `codes` against the run context `ctx`, in order. Only the expressions that name
/// `secrets` see `ctx.secrets`: their values are added to `secrets`' redaction set and their
/// errors (which may quote what they computed) are withheld.
pub async fn eval(
    ev: &Evaluator,
    programs: &Programs,
    codes: &[&str],
    ctx: Json,
    secrets: &Secrets,
) -> Vec<Outcome> {
    let (reading, plain): (Vec<&str>, Vec<&str>) = codes.iter().partition(|c| reads_secrets(c));
    let without_secrets = |mut ctx: Json| {
        if let Json::Object(m) = &mut ctx {
            m.remove("secrets");
        }
        ctx
    };
    let (reading_ctx, plain_ctx) = match (reading.is_empty(), plain.is_empty()) {
        (false, false) => (Some(ctx.clone()), Some(without_secrets(ctx))),
        (false, true) => (Some(ctx), None),
        (true, _) => (None, Some(without_secrets(ctx))),
    };
    let mut read_out = match reading_ctx {
        Some(ctx) => ev.eval(programs, &reading, ctx).await,
        None => Vec::new(),
    }
    .into_iter();
    let mut plain_out = match plain_ctx {
        Some(ctx) => ev.eval(programs, &plain, ctx).await,
        None => Vec::new(),
    }
    .into_iter();
    codes
        .iter()
        .map(|code| {
            if !reads_secrets(code) {
                return plain_out
                    .next()
                    .unwrap_or_else(|| Err("not evaluated".into()));
            }
            match read_out.next() {
                Some(Ok(values)) => {
                    values.iter().for_each(|v| secrets.taint(v, code));
                    Ok(values)
                }
                Some(Err(_)) => Err("the expression failed; its message is withheld because \
                                     the expression reads `.secrets`"
                    .into()),
                None => Err("not evaluated".into()),
            }
        })
        .collect()
}

/// Renders `pieces` against `ctx`, evaluating all their expressions in one batch (see [`eval`]).
pub async fn render(
    ev: &Evaluator,
    programs: &Programs,
    pieces: &[Piece<'_>],
    ctx: Json,
    secrets: &Secrets,
) -> Result<Vec<Json>, String> {
    let mut codes = Vec::new();
    for p in pieces {
        exprs(*p, &mut codes);
    }
    let outcomes = if codes.is_empty() {
        Vec::new()
    } else {
        eval(ev, programs, &codes, ctx, secrets).await
    };
    let mut it = outcomes.into_iter();
    pieces.iter().map(|p| substitute(*p, &mut it)).collect()
}

/// Renders a `variables` map: like [`render`], except that a member whose whole-value
/// template yields `null` is left out (Port's way to drop a key).
pub async fn render_variables(
    ev: &Evaluator,
    programs: &Programs,
    vars: &[(wflow_compiler::ir::Name, Value)],
    ctx: Json,
    secrets: &Secrets,
) -> Result<Json, String> {
    let mut codes = Vec::new();
    for (_, v) in vars {
        exprs(Piece::Value(v), &mut codes);
    }
    let outcomes = eval(ev, programs, &codes, ctx, secrets).await;
    let mut it = outcomes.into_iter();
    let mut out = serde_json::Map::new();
    for (k, v) in vars {
        let val = substitute(Piece::Value(v), &mut it)?;
        let drops = matches!(&v.kind, ValueKind::String(t) if t.is_whole_value())
            || matches!(v.kind, ValueKind::Jq(_));
        if !(drops && val.is_null()) {
            out.insert(k.value.clone(), val);
        }
    }
    Ok(Json::Object(out))
}

fn substitute(piece: Piece<'_>, it: &mut impl Iterator<Item = Outcome>) -> Result<Json, String> {
    match piece {
        Piece::Template(t) => template(t, it),
        Piece::Value(v) => Ok(match &v.kind {
            ValueKind::Null => Json::Null,
            ValueKind::Bool(b) => Json::Bool(*b),
            ValueKind::Number(n) => Json::Number(n.clone()),
            ValueKind::String(t) => template(t, it)?,
            ValueKind::Array(items) => Json::Array(
                items
                    .iter()
                    .map(|i| substitute(Piece::Value(i), it))
                    .collect::<Result<_, _>>()?,
            ),
            ValueKind::Object(members) => Json::Object(
                members
                    .iter()
                    .map(|(k, v)| Ok((k.value.clone(), substitute(Piece::Value(v), it)?)))
                    .collect::<Result<_, String>>()?,
            ),
            ValueKind::Jq(q) => single(&q.code, it.next())?,
        }),
    }
}

fn template(t: &Template, it: &mut impl Iterator<Item = Outcome>) -> Result<Json, String> {
    if let [Part::Expr(q)] = t.parts.as_slice() {
        return single(&q.code, it.next());
    }
    let mut s = String::new();
    for part in &t.parts {
        match part {
            Part::Text(text) => s.push_str(text),
            Part::Expr(q) => interpolate(&mut s, &single(&q.code, it.next())?),
        }
    }
    Ok(Json::String(s))
}

/// The one value of an expression.
fn single(code: &str, outcome: Option<Outcome>) -> Result<Json, String> {
    let values = match outcome {
        Some(Ok(v)) => v,
        Some(Err(e)) => return Err(format!("in `{{{{{code}}}}}`: {e}")),
        None => return Err(format!("in `{{{{{code}}}}}`: not evaluated")),
    };
    match values.len() {
        0 => Ok(Json::Null),
        1 => Ok(values.into_iter().next().unwrap_or(Json::Null)),
        n => Err(format!(
            "in `{{{{{code}}}}}`: the expression yielded {n} values where one was expected; \
             collect them with `[ ... ]` or pick one with `first(...)`"
        )),
    }
}

/// Appends `v` as text: see the module docs.
pub fn interpolate(s: &mut String, v: &Json) {
    match v {
        Json::Null => {}
        Json::String(x) => s.push_str(x),
        other => s.push_str(&other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jq::Limits;
    use serde_json::json;

    async fn render_json(v: Json, ctx: Json) -> Result<Json, String> {
        let value = Value::from_json(&v);
        let mut codes = Vec::new();
        exprs(Piece::Value(&value), &mut codes);
        let mut p = Programs::default();
        for c in &codes {
            p.add(c)?;
        }
        let ev = Evaluator::new(1, Limits::default())?;
        let mut out = render(&ev, &p, &[Piece::Value(&value)], ctx, &Secrets::default()).await?;
        Ok(out.remove(0))
    }

    #[tokio::test]
    async fn whole_values_keep_their_type_and_strings_interpolate() {
        let ctx =
            json!({"outputs": {"trigger": {"n": 3, "tags": ["a", "b"], "s": "x", "none": null}}});
        let out = render_json(
            json!({
                "n": "{{ .outputs.trigger.n }}",
                "tags": "{{ .outputs.trigger.tags }}",
                "text": "n={{ .outputs.trigger.n }} tags={{ .outputs.trigger.tags }} s={{ .outputs.trigger.s }} none=[{{ .outputs.trigger.none }}]",
                "missing": "{{ .outputs.nope.x }}",
                "jq": {"jqQuery": ".outputs.trigger.n * 2"},
                "lit": [true, 1.5, null]
            }),
            ctx,
        )
        .await
        .expect("renders");
        assert_eq!(
            out,
            json!({
                "n": 3, "tags": ["a", "b"],
                "text": "n=3 tags=[\"a\",\"b\"] s=x none=[]",
                "missing": null, "jq": 6, "lit": [true, 1.5, null]
            })
        );
    }

    #[tokio::test]
    async fn several_values_and_errors_are_reported() {
        let err = render_json(json!("{{ .a[] }}"), json!({"a": [1, 2]}))
            .await
            .expect_err("two values");
        assert!(err.contains("yielded 2 values"), "{err}");
        let err = render_json(json!("x {{ .a | error }}"), json!({"a": "bad"}))
            .await
            .expect_err("error");
        assert!(err.contains("bad"), "{err}");
    }
}
