//! Event triggers' conditions: whether a catalog event starts a run.

use serde_json::Value as Json;
use wflow_compiler::ir::NodeConfig;

use crate::engine::{Engine, Error};
use crate::plan::Plan;

impl Engine {
    /// Whether `event` passes the condition of the event trigger `trigger`: its jq expressions
    /// are evaluated against the raw event and combined with `and` (the default) or `or`. A
    /// trigger without a condition takes every event; an expression counts as passing only
    /// when it yields `true`. An expression that fails is an error naming it.
    pub async fn event_matches(
        &self,
        plan: &Plan,
        trigger: &str,
        event: &Json,
    ) -> Result<bool, Error> {
        let Some(NodeConfig::EventTrigger(t)) = plan.node(trigger).map(|n| &n.config) else {
            return Err(Error::Invalid(format!(
                "`{trigger}` is not an event trigger"
            )));
        };
        let Some(cond) = &t.condition else {
            return Ok(true);
        };
        let any = cond
            .combinator
            .as_ref()
            .is_some_and(|c| c.value.eq_ignore_ascii_case("or"));
        let codes: Vec<&str> = cond.expressions.iter().map(|q| q.code.as_str()).collect();
        let outcomes = self.ev.eval(&plan.programs, &codes, event.clone()).await;
        let mut passed = Vec::with_capacity(codes.len());
        for (code, out) in codes.iter().zip(outcomes) {
            match out {
                Ok(values) => passed.push(values.first() == Some(&Json::Bool(true))),
                Err(e) => {
                    return Err(Error::Expression(format!(
                        "the trigger condition `{}` failed on the event: {e}",
                        code.trim()
                    )));
                }
            }
        }
        Ok(if any {
            passed.iter().any(|p| *p)
        } else {
            passed.iter().all(|p| *p)
        })
    }
}
