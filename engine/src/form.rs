//! A form as the person filling it in sees it, and its whole check on submit. Port's forms
//! compute parts of themselves with jq from what has been typed so far: `visible`, `disabled`,
//! `readOnly`, `required`, `enum` and `default` of inputs, `visible` of steps and titles, the
//! `dataset` rules that filter an entity picker's choices, and the `validations` checked on
//! submit. They are evaluated here, on the server, with the workflow's compiled jq: the web
//! UI asks for a form's state as the user types, and the API checks a submitted form with the
//! same code, so the page and the API cannot disagree.
//!
//! The jq input is `{"form": values, "user": person, "trigger": {"by": {"user": person}}}`
//! (`.form.<key>`, `.user.email`, `.trigger.by.user.email`, as in Port).

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Map, Value as Json, json};
use wflow_compiler::ir::{Form, InputSchema, Required, Value, ValueKind};

use crate::engine::Engine;
use crate::inputs::{self, InputProblem};
use crate::plan::Plan;
use crate::secret_inputs;
use crate::secrets::{REDACTED, Secrets};
use wflow_store::StoreError;

/// How many entities an entity picker offers at most.
const ENTITY_CHOICES: usize = 1000;

/// What one input looks like now.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InputState {
    pub visible: bool,
    /// A disabled input is left out of the submitted values and of `required`.
    pub disabled: bool,
    pub read_only: bool,
    pub required: bool,
    /// The choices, when the input has an `enum` (computed when it is jq).
    #[serde(rename = "enum", skip_serializing_if = "Option::is_none")]
    pub choices: Option<Vec<Json>>,
    /// The default (computed when it is jq).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default: Option<Json>,
    /// Entity inputs: the entities to choose from, after the `dataset` rules.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entities: Option<Vec<EntityChoice>>,
    /// Why a computed part could not be computed (a jq error), for the page to show.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<String>,
}

/// An entity a picker offers.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EntityChoice {
    pub identifier: String,
    pub title: Option<String>,
}

/// What a form looks like for the values typed so far.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct FormState {
    /// By input key.
    pub inputs: BTreeMap<String, InputState>,
    /// Whether each step (in order) is shown.
    pub steps: Vec<bool>,
    /// Whether each title (by key) is shown.
    pub titles: BTreeMap<String, bool>,
}

/// One jq question about a form, and where its answer goes.
enum Ask<'a> {
    Input(&'a str, Part),
    Required,
    Step(usize),
    Title(&'a str),
}

#[derive(Clone, Copy)]
enum Part {
    Visible,
    Disabled,
    ReadOnly,
    Enum,
    Default,
}

impl Part {
    const ALL: [(Part, &'static str); 5] = [
        (Part::Visible, "visible"),
        (Part::Disabled, "disabled"),
        (Part::ReadOnly, "readOnly"),
        (Part::Enum, "enum"),
        (Part::Default, "default"),
    ];
}

/// The keyword `name` of an input (`enum` and `default` have fields of their own).
fn keyword<'a>(schema: &'a InputSchema, name: &str) -> Option<&'a Value> {
    match name {
        "enum" => schema.enum_values.as_ref(),
        "default" => schema.default.as_ref(),
        _ => schema
            .keywords
            .iter()
            .find(|(k, _)| k.value == name)
            .map(|(_, v)| v),
    }
}

/// The jq context of a form: its values and who fills it in.
pub fn context(values: &Map<String, Json>, person: &Json) -> Json {
    json!({ "form": values, "user": person, "trigger": { "by": { "user": person } } })
}

fn truthy(v: Option<&Json>) -> bool {
    !matches!(v, None | Some(Json::Null | Json::Bool(false)))
}

impl Engine {
    /// The state of `form` (of a trigger or INPUT node of `plan`) for `values`, filled in by
    /// `person` (`{"email", "roles", "teams"}`).
    pub async fn form_state(
        &self,
        plan: &Plan,
        form: &Form,
        values: &Map<String, Json>,
        person: &Json,
    ) -> Result<FormState, StoreError> {
        let mut state = FormState::default();
        let mut asks = Vec::new();
        let mut codes = Vec::new();
        let static_required: Vec<&str> = match &form.required {
            Required::Keys(keys) => keys.iter().map(|k| k.value.as_str()).collect(),
            Required::Jq(q) => {
                asks.push(Ask::Required);
                codes.push(q.code.as_str());
                Vec::new()
            }
        };
        for field in &form.properties {
            let key = field.key.value.as_str();
            let s = &field.schema;
            let mut input = InputState {
                visible: true,
                required: static_required.contains(&key),
                ..InputState::default()
            };
            for (part, name) in Part::ALL {
                let Some(v) = keyword(s, name) else { continue };
                if let ValueKind::Jq(q) = &v.kind {
                    asks.push(Ask::Input(key, part));
                    codes.push(q.code.as_str());
                } else {
                    set(&mut input, part, v.to_json());
                }
            }
            state.inputs.insert(key.to_string(), input);
        }
        for (i, step) in form.steps.iter().enumerate() {
            state.steps.push(true);
            match step.visible.as_ref().map(|v| &v.kind) {
                Some(ValueKind::Jq(q)) => {
                    asks.push(Ask::Step(i));
                    codes.push(q.code.as_str());
                }
                Some(other) => state.steps[i] = !matches!(other, ValueKind::Bool(false)),
                None => {}
            }
        }
        for title in &form.titles {
            let key = title.key.value.as_str();
            state.titles.insert(key.to_string(), true);
            match title.visible.as_ref().map(|v| &v.kind) {
                Some(ValueKind::Jq(q)) => {
                    asks.push(Ask::Title(key));
                    codes.push(q.code.as_str());
                }
                Some(other) => {
                    state
                        .titles
                        .insert(key.to_string(), !matches!(other, ValueKind::Bool(false)));
                }
                None => {}
            }
        }
        let ctx = context(&self.expand_entities(form, values).await?, person);
        let answers = self.ev.eval(&plan.programs, &codes, ctx.clone()).await;
        for (ask, answer) in asks.into_iter().zip(answers) {
            let value = answer.map(|mut out| {
                if out.len() == 1 {
                    out.pop().unwrap_or(Json::Null)
                } else {
                    Json::Array(out)
                }
            });
            match (ask, value) {
                (Ask::Input(key, part), Ok(v)) => {
                    if let Some(input) = state.inputs.get_mut(key) {
                        set(input, part, v);
                    }
                }
                (Ask::Input(key, _), Err(e)) => {
                    if let Some(input) = state.inputs.get_mut(key) {
                        input.errors.push(e);
                    }
                }
                (Ask::Required, Ok(Json::Array(keys))) => {
                    for k in keys.iter().filter_map(Json::as_str) {
                        if let Some(input) = state.inputs.get_mut(k) {
                            input.required = true;
                        }
                    }
                }
                (Ask::Required, _) => {}
                (Ask::Step(i), v) => state.steps[i] = truthy(v.as_ref().ok()),
                (Ask::Title(key), v) => {
                    state
                        .titles
                        .insert(key.to_string(), truthy(v.as_ref().ok()));
                }
            }
        }
        for field in &form.properties {
            let s = &field.schema;
            if s.format.as_ref().map(|f| f.value.as_str()) != Some("entity") {
                continue;
            }
            let Some(blueprint) = &s.blueprint else {
                continue;
            };
            let dataset = keyword(s, "dataset").map(Value::to_json);
            let entities = self.store.entities(Some(&blueprint.value)).await?;
            let mut choices = Vec::new();
            for e in &entities {
                if choices.len() == ENTITY_CHOICES {
                    break;
                }
                let keep = match &dataset {
                    Some(d) => self.matches(plan, d, e, &ctx).await,
                    None => true,
                };
                if keep {
                    choices.push(EntityChoice {
                        identifier: e["identifier"].as_str().unwrap_or_default().to_string(),
                        title: e["title"].as_str().map(str::to_string),
                    });
                }
            }
            if let Some(input) = state.inputs.get_mut(&field.key.value) {
                input.entities = Some(choices);
            }
        }
        Ok(state)
    }

    /// `values` as form expressions read them: an entity input's identifier becomes the
    /// entity (`.form.service.properties.tier`), as in Port.
    async fn expand_entities(
        &self,
        form: &Form,
        values: &Map<String, Json>,
    ) -> Result<Map<String, Json>, StoreError> {
        let mut out = values.clone();
        for field in &form.properties {
            let s = &field.schema;
            let (Some("entity"), Some(bp), Some(Json::String(id))) = (
                s.format.as_ref().map(|f| f.value.as_str()),
                &s.blueprint,
                values.get(&field.key.value),
            ) else {
                continue;
            };
            if let Some(entity) = self.store.entity(&bp.value, id).await? {
                out.insert(field.key.value.clone(), entity);
            }
        }
        Ok(out)
    }

    /// Checks a submitted form as a whole: the static checks of [`inputs::validate`], then
    /// what jq decides for these values (disabled inputs are dropped, computed `required`,
    /// `enum` and `default`, entities outside the `dataset`) and the form's and its shown
    /// steps' `validations`. Secret inputs sent encrypted are decrypted with `secrets` first
    /// ([`secret_inputs::accept`]), and no problem quotes a secret input's value. Returns the
    /// values to run with, or every problem.
    pub async fn check_form(
        &self,
        plan: &Plan,
        form: &Form,
        given: &Map<String, Json>,
        person: &Json,
        secrets: &Secrets,
    ) -> Result<Result<Map<String, Json>, Vec<InputProblem>>, StoreError> {
        let mut given = given.clone();
        let undecrypted = secret_inputs::accept(form, &mut given, secrets);
        let state = self.form_state(plan, form, &given, person).await?;
        given.retain(|k, _| !state.inputs.get(k).is_some_and(|i| i.disabled));
        for (key, input) in &state.inputs {
            if let (false, false, Some(d)) =
                (given.contains_key(key), input.disabled, &input.default)
            {
                given.insert(key.clone(), d.clone());
            }
        }
        let required: Vec<&str> = state
            .inputs
            .iter()
            .filter(|(_, i)| i.required && !i.disabled)
            .map(|(k, _)| k.as_str())
            .collect();
        let (values, mut problems) = match inputs::validate_with(form, &given, &required) {
            Ok(v) => (v, Vec::new()),
            Err(p) => (given.clone(), p),
        };
        for (key, input) in &state.inputs {
            let Some(v) = values.get(key) else { continue };
            let shown = inputs::shown(v);
            if let Some(choices) = input.choices.as_ref().filter(|_| jq_enum(form, key)) {
                let each: Vec<&Json> = match v {
                    Json::Array(items) => items.iter().collect(),
                    one => vec![one],
                };
                if let Some(bad) = each.iter().find(|x| !choices.contains(x)) {
                    problems.push(inputs::problem_at(
                        key,
                        format!(
                            "{} is not one of the choices the form offers now: {}",
                            inputs::shown(bad),
                            choices
                                .iter()
                                .map(inputs::shown)
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    ));
                }
            }
            if let Some(entities) = &input.entities {
                let ids: Vec<&str> = match v {
                    Json::Array(items) => items.iter().filter_map(Json::as_str).collect(),
                    other => other.as_str().into_iter().collect(),
                };
                if ids
                    .iter()
                    .any(|id| !entities.iter().any(|e| e.identifier == *id))
                {
                    problems.push(inputs::problem_at(
                        key,
                        format!(
                            "{shown} is not an entity this input offers (its blueprint and dataset)"
                        ),
                    ));
                }
            }
        }
        let mut rules: Vec<&wflow_compiler::ir::Validation> = form.validations.iter().collect();
        for (step, shown) in form.steps.iter().zip(&state.steps) {
            if *shown {
                rules.extend(&step.validations);
            }
        }
        if !rules.is_empty() {
            let codes: Vec<&str> = rules.iter().map(|r| r.constraint.code.as_str()).collect();
            let answers = self
                .ev
                .eval(
                    &plan.programs,
                    &codes,
                    context(&self.expand_entities(form, &values).await?, person),
                )
                .await;
            for (rule, answer) in rules.iter().zip(answers) {
                let passed = matches!(answer.as_deref(), Ok([Json::Bool(true)]));
                if !passed {
                    problems.push(inputs::problem_at("", rule.message.value.clone()));
                }
            }
        }
        // A value that does not decrypt has no other problem worth telling.
        problems.retain(|p| !undecrypted.iter().any(|u| u.key == p.key));
        problems.extend(undecrypted);
        for p in &mut problems {
            p.message = secrets.redact_str(&p.message);
            if let Some(v) = given
                .get(p.key.as_str())
                .filter(|_| form.input(&p.key).is_some_and(|i| i.schema.is_secret()))
            {
                // A long value is quoted cut short, which redaction does not recognise.
                p.message = p
                    .message
                    .replace(&inputs::shown(v), &format!("\"{REDACTED}\""));
            }
        }
        Ok(if problems.is_empty() {
            Ok(values)
        } else {
            Err(problems)
        })
    }

    /// Whether `entity` passes a `dataset` (`{combinator, rules}`), rule values given as jq
    /// evaluated against `ctx`.
    async fn matches(&self, plan: &Plan, dataset: &Json, entity: &Json, ctx: &Json) -> bool {
        let all = !dataset["combinator"]
            .as_str()
            .is_some_and(|c| c.eq_ignore_ascii_case("or"));
        let rules = dataset["rules"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default();
        let mut any = false;
        for rule in rules {
            let ok = if rule.get("rules").is_some() {
                Box::pin(self.matches(plan, rule, entity, ctx)).await
            } else {
                let value = match rule.get("value") {
                    Some(Json::Object(m)) if m.len() == 1 && m.contains_key("jqQuery") => {
                        let code = m["jqQuery"].as_str().unwrap_or_default();
                        match self
                            .ev
                            .eval(&plan.programs, &[code], ctx.clone())
                            .await
                            .pop()
                        {
                            Some(Ok(mut out)) if out.len() == 1 => out.pop().unwrap_or(Json::Null),
                            Some(Ok(out)) => Json::Array(out),
                            _ => return false,
                        }
                    }
                    Some(v) => v.clone(),
                    None => Json::Null,
                };
                rule_holds(rule, entity, &value)
            };
            if all && !ok {
                return false;
            }
            any |= ok;
        }
        all || any
    }
}

/// Whether the input `key`'s `enum` is jq (a computed list, checked here rather than by
/// [`inputs::validate`]).
fn jq_enum(form: &Form, key: &str) -> bool {
    form.input(key)
        .and_then(|f| f.schema.enum_values.as_ref())
        .is_some_and(|e| matches!(e.kind, ValueKind::Jq(_)))
}

fn set(input: &mut InputState, part: Part, v: Json) {
    match part {
        Part::Visible => input.visible = truthy(Some(&v)),
        Part::Disabled => input.disabled = truthy(Some(&v)),
        Part::ReadOnly => input.read_only = truthy(Some(&v)),
        Part::Enum => input.choices = v.as_array().cloned(),
        Part::Default => input.default = Some(v).filter(|v| !v.is_null()),
    }
}

/// One rule of a `dataset` (Port's search operators) against an entity.
fn rule_holds(rule: &Json, entity: &Json, value: &Json) -> bool {
    let property = rule["property"].as_str().unwrap_or_default();
    let actual = match property.strip_prefix('$') {
        Some(meta) => entity.get(meta).cloned().unwrap_or(Json::Null),
        None => entity["properties"]
            .get(property)
            .or_else(|| entity["relations"].get(property))
            .cloned()
            .unwrap_or(Json::Null),
    };
    let text = |v: &Json| match v {
        Json::String(s) => s.clone(),
        other => other.to_string(),
    };
    let (a, b) = (text(&actual), text(value));
    let cmp = || match (actual.as_f64(), value.as_f64()) {
        (Some(x), Some(y)) => x.partial_cmp(&y),
        _ => Some(a.cmp(&b)),
    };
    let list = || {
        value
            .as_array()
            .cloned()
            .unwrap_or_else(|| vec![value.clone()])
    };
    let empty = matches!(&actual, Json::Null)
        || actual.as_str() == Some("")
        || actual.as_array().is_some_and(Vec::is_empty);
    use std::cmp::Ordering::{Greater, Less};
    match rule["operator"].as_str().unwrap_or_default() {
        "=" => actual == *value || a == b,
        "!=" => !(actual == *value || a == b),
        ">" => cmp() == Some(Greater),
        ">=" => matches!(cmp(), Some(o) if o != Less),
        "<" => cmp() == Some(Less),
        "<=" => matches!(cmp(), Some(o) if o != Greater),
        "contains" => a.contains(&b),
        "doesNotContains" => !a.contains(&b),
        "beginsWith" => a.starts_with(&b),
        "doesNotBeginsWith" => !a.starts_with(&b),
        "endsWith" => a.ends_with(&b),
        "doesNotEndsWith" => !a.ends_with(&b),
        "in" => list().iter().any(|v| *v == actual || text(v) == a),
        "notIn" => !list().iter().any(|v| *v == actual || text(v) == a),
        "containsAny" => {
            let have = actual
                .as_array()
                .cloned()
                .unwrap_or_else(|| vec![actual.clone()]);
            list().iter().any(|v| have.contains(v))
        }
        "isEmpty" => empty,
        "isNotEmpty" => !empty,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entity() -> Json {
        json!({"identifier": "api", "title": "API", "team": ["platform"],
               "properties": {"env": "prod", "tier": 2, "tags": ["a", "b"]}})
    }

    #[test]
    fn dataset_rules_use_port_operators_on_properties_and_meta_fields() {
        let e = entity();
        let holds = |property: &str, operator: &str, value: Json| {
            rule_holds(
                &json!({"property": property, "operator": operator}),
                &e,
                &value,
            )
        };
        assert!(holds("env", "=", json!("prod")));
        assert!(!holds("env", "=", json!("dev")));
        assert!(holds("env", "!=", json!("dev")));
        assert!(holds("tier", ">", json!(1)));
        assert!(!holds("tier", "<", json!(2)));
        assert!(holds("tier", "<=", json!(2)));
        assert!(holds("$identifier", "beginsWith", json!("ap")));
        assert!(holds("$title", "in", json!(["API", "Web"])));
        assert!(holds("$team", "containsAny", json!(["platform"])));
        assert!(holds("tags", "containsAny", json!(["b", "z"])));
        assert!(!holds("tags", "containsAny", json!(["z"])));
        assert!(holds("missing", "isEmpty", Json::Null));
        assert!(!holds("env", "isEmpty", Json::Null));
        assert!(!holds("env", "no-such-operator", json!("prod")));
    }
}
