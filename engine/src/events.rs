//! What a trigger hands its run, the same for `wflow exec` and `wflow serve`: Port's catalog
//! event (`resourceType`, `action`, `diff`, `context`, `trigger`), a schedule's
//! `{"scheduledAt"}`, and whether an event is one a trigger listens to.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Value as Json, json};
use wflow_compiler::ir::EventTrigger;

/// Port's action for an entity change from `before` to `after` (`None`: no entity).
pub fn action(before: Option<&Json>, after: Option<&Json>) -> &'static str {
    match (before, after) {
        (None, _) => "CREATE",
        (Some(_), Some(_)) => "UPDATE",
        (Some(_), None) => "DELETE",
    }
}

/// The action an event type fires on, or `None` for any (`ANY_ENTITY_CHANGE`).
fn fired_by(event_type: &str) -> Option<&'static str> {
    match event_type {
        "ENTITY_CREATED" => Some("CREATE"),
        "ENTITY_UPDATED" => Some("UPDATE"),
        "ENTITY_DELETED" => Some("DELETE"),
        "TIMER_EXPIRED" => Some("TIMER_EXPIRED"),
        _ => None,
    }
}

/// Whether trigger `t` listens to `action` on entities of `blueprint` (published or not).
pub fn listens(t: &EventTrigger, blueprint: &str, action: &str) -> bool {
    t.blueprint_identifier.value == blueprint
        && match fired_by(&t.event_type.value) {
            Some(a) => a == action,
            None => t.event_type.value == "ANY_ENTITY_CHANGE" && action != "TIMER_EXPIRED",
        }
}

/// Port's event for a change of entity `identifier` of `blueprint`; `trigger` says where the
/// change came from (`origin`, `by`, `at`, ...).
pub fn entity_event(
    blueprint: &str,
    identifier: &str,
    before: Option<&Json>,
    after: Option<&Json>,
    trigger: Json,
) -> Json {
    json!({
        "resourceType": "entity",
        "action": action(before, after),
        "diff": { "before": before, "after": after },
        "context": { "blueprintIdentifier": blueprint, "entityIdentifier": identifier },
        "trigger": trigger,
    })
}

/// The output of a schedule trigger for its occurrence at `at`.
pub fn schedule_output(at: DateTime<Utc>) -> Json {
    json!({ "scheduledAt": at.to_rfc3339_opts(SecondsFormat::Secs, true) })
}

/// Checks an event given from outside (`wflow exec --event`) against trigger `t` (named
/// `trigger`): Port's shape, and an action and blueprint the trigger listens to. Returns the
/// event as a served run would get it (`resourceType` and `trigger` filled in when absent),
/// or every problem, each saying how to fix it.
pub fn accept_event(t: &EventTrigger, trigger: &str, event: Json) -> Result<Json, Vec<String>> {
    let Json::Object(mut e) = event else {
        return Err(vec![
            "the event must be a JSON object with `action`, `diff` and `context` (Port's \
             catalog event)"
                .into(),
        ]);
    };
    let mut problems = Vec::new();
    let text = |e: &Map<String, Json>, path: [&str; 2]| -> Option<String> {
        let v = e.get(path[0])?;
        let v = if path[1].is_empty() {
            v
        } else {
            v.get(path[1])?
        };
        v.as_str().map(str::to_string)
    };
    let action = text(&e, ["action", ""]);
    let blueprint = text(&e, ["context", "blueprintIdentifier"]);
    if text(&e, ["context", "entityIdentifier"]).is_none() {
        problems.push("`context.entityIdentifier` must be the entity's identifier".into());
    }
    let side = |key: &str| e.get("diff").and_then(|d| d.get(key));
    let (before, after) = (side("before"), side("after"));
    for (key, v) in [("before", before), ("after", after)] {
        if !matches!(v, Some(Json::Object(_) | Json::Null)) {
            problems.push(format!(
                "`diff.{key}` must be the entity {key} the change (an object), or null"
            ));
        }
    }
    let present = |v: Option<&Json>| v.is_some_and(Json::is_object);
    let expected = |a: &str| match a {
        "CREATE" => Some((false, true)),
        "UPDATE" => Some((true, true)),
        "DELETE" => Some((true, false)),
        "TIMER_EXPIRED" => Some((false, true)),
        _ => None,
    };
    match action.as_deref() {
        None => problems
            .push("`action` must be one of CREATE, UPDATE, DELETE, TIMER_EXPIRED".to_string()),
        Some(a) => match expected(a) {
            None => problems.push(format!(
                "`action` is `{a}`; it must be one of CREATE, UPDATE, DELETE, TIMER_EXPIRED"
            )),
            Some(shape) if problems.is_empty() => {
                let have = (present(before), present(after));
                if have != shape {
                    let say = |b: bool| if b { "an object" } else { "null" };
                    problems.push(format!(
                        "a {a} event has `diff.before` {} and `diff.after` {}",
                        say(shape.0),
                        say(shape.1)
                    ));
                }
            }
            Some(_) => {}
        },
    }
    match &blueprint {
        None => problems
            .push("`context.blueprintIdentifier` must be the changed entity's blueprint".into()),
        Some(b) if *b != t.blueprint_identifier.value => problems.push(format!(
            "the event is about a `{b}` entity; trigger `{trigger}` listens to `{}` entities",
            t.blueprint_identifier.value
        )),
        Some(_) => {}
    }
    if let Some(a) = action.as_deref().filter(|a| expected(a).is_some())
        && !listens(t, &t.blueprint_identifier.value, a)
    {
        problems.push(format!(
            "the event is a {a}; trigger `{trigger}` listens to {}",
            t.event_type.value
        ));
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    e.entry("resourceType")
        .or_insert_with(|| Json::String("entity".into()));
    e.entry("trigger")
        .or_insert_with(|| json!({ "origin": "CLI", "at": crate::engine::now() }));
    Ok(Json::Object(e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use wflow_compiler::ir::NodeConfig;

    fn trigger(event_type: &str) -> EventTrigger {
        let src = format!(
            "workflow w \"W\" {{\n  event trigger \"T\" {{\n    on {event_type} service\n    \
             property ttl\n  }}\n  webhook h \"H\" {{ url \"http://127.0.0.1/x\" }}\n  \
             flow {{ trigger -> h }}\n}}"
        );
        let checked = wflow_compiler::check_source(&src, wflow_compiler::Syntax::Wflow);
        assert!(!checked.has_errors(), "{:?}", checked.diagnostics);
        match &checked.module.workflows[0].nodes[0].config {
            NodeConfig::EventTrigger(t) => t.clone(),
            other => panic!("not an event trigger: {other:?}"),
        }
    }

    fn update(blueprint: &str) -> Json {
        entity_event(
            blueprint,
            "api",
            Some(&json!({"identifier": "api"})),
            Some(&json!({"identifier": "api"})),
            json!({"origin": "API"}),
        )
    }

    #[test]
    fn an_event_of_its_type_and_blueprint_is_accepted_as_served() {
        let t = trigger("ENTITY_UPDATED");
        let mut given = update("service");
        given.as_object_mut().map(|m| m.remove("trigger"));
        let got = accept_event(&t, "trigger", given).expect("accepted");
        assert_eq!(got["trigger"]["origin"], "CLI");
        assert_eq!(got["resourceType"], "entity");
        assert_eq!(got["action"], "UPDATE");
    }

    #[test]
    fn another_action_or_blueprint_is_refused_saying_why() {
        let t = trigger("ENTITY_UPDATED");
        let delete = entity_event(
            "team",
            "a",
            Some(&json!({"identifier": "a"})),
            None,
            json!({}),
        );
        let problems = accept_event(&t, "on-update", delete).expect_err("refused");
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].contains("`team` entity") && problems[0].contains("`service`"));
        assert!(problems[1].contains("DELETE") && problems[1].contains("ENTITY_UPDATED"));
    }

    #[test]
    fn an_event_of_the_wrong_shape_names_every_problem() {
        let t = trigger("ANY_ENTITY_CHANGE");
        let problems =
            accept_event(&t, "t", json!({"action": "MOVE", "diff": 3})).expect_err("refused");
        let all = problems.join("\n");
        for part in [
            "entityIdentifier",
            "diff.before",
            "diff.after",
            "MOVE",
            "blueprintIdentifier",
        ] {
            assert!(all.contains(part), "{part} missing from {all}");
        }
        let created_with_before = json!({
            "action": "CREATE", "diff": {"before": {}, "after": {}},
            "context": {"blueprintIdentifier": "service", "entityIdentifier": "x"},
        });
        let problems = accept_event(&t, "t", created_with_before).expect_err("refused");
        assert!(problems[0].contains("`diff.before` null"), "{problems:?}");
        assert!(accept_event(&t, "t", json!([])).is_err());
    }

    #[test]
    fn any_change_listens_to_every_change_but_timers() {
        let t = trigger("ANY_ENTITY_CHANGE");
        for a in ["CREATE", "UPDATE", "DELETE"] {
            assert!(listens(&t, "service", a));
        }
        assert!(!listens(&t, "service", "TIMER_EXPIRED"));
        assert!(!listens(&t, "team", "CREATE"));
    }
}
