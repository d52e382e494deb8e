//! Timers: a published EVENT_TRIGGER on `TIMER_EXPIRED` fires when the timer property (a
//! date-time) of an entity of its blueprint passes, by the server's [`Clock`].
//!
//! Each trigger fires once per (entity, property, timestamp): the fire is recorded in the store
//! before the run starts, so a restart does not fire it again (a crash between the two loses
//! that fire rather than repeating it). Setting the timer to a new time arms it again. Timers
//! that passed while no server ran fire at the next start. The trigger's output is Port's
//! event with the entity in `diff.after`.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, SecondsFormat};
use serde_json::{Value as Json, json};
use tokio_util::sync::CancellationToken;
use wflow_compiler::ir::NodeConfig;

use super::events::condition;
use super::{ApiError, Clock, Server, log_error};

/// How often the timers are checked.
const EVERY: Duration = Duration::from_secs(1);

/// Fires the timer triggers of a server's workflows.
pub struct Timers {
    server: Server,
    clock: Arc<dyn Clock>,
    /// Timers known to have fired (a cache of what the store recorded).
    fired: Mutex<HashSet<String>>,
}

impl Timers {
    /// Timers of `server`, timed by `clock`.
    pub fn new(server: Server, clock: Arc<dyn Clock>) -> Timers {
        Timers {
            server,
            clock,
            fired: Mutex::new(HashSet::new()),
        }
    }

    /// Fires every timer that has passed and has not fired yet; returns the runs started.
    pub async fn tick(&self) -> Result<Vec<String>, ApiError> {
        let now = self.clock.now();
        let at = now.to_rfc3339_opts(SecondsFormat::Millis, true);
        let store = &self.server.engine().store;
        let mut entities: HashMap<String, Vec<Json>> = HashMap::new();
        let mut started = Vec::new();
        for plan in self.server.workflows().values() {
            for node in plan.triggers() {
                let NodeConfig::EventTrigger(t) = &node.config else {
                    continue;
                };
                let Some(property) = &t.property_identifier else {
                    continue;
                };
                if t.published == Some(false) || t.event_type.value != "TIMER_EXPIRED" {
                    continue;
                }
                let blueprint = &t.blueprint_identifier.value;
                if !entities.contains_key(blueprint) {
                    let found = store.entities(Some(blueprint)).await?;
                    entities.insert(blueprint.clone(), found);
                }
                let workflow = &plan.workflow.identifier.value;
                let trigger = &node.identifier.value;
                for entity in entities.get(blueprint).into_iter().flatten() {
                    let Some(expires) = entity["properties"][&property.value].as_str() else {
                        continue;
                    };
                    if !DateTime::parse_from_rfc3339(expires).is_ok_and(|e| e <= now) {
                        continue;
                    }
                    let id = entity["identifier"].as_str().unwrap_or_default();
                    let key = json!([workflow, trigger, blueprint, id, property.value, expires])
                        .to_string();
                    if self.known(&key) || !store.claim_timer(&key, &at).await? {
                        self.remember(key);
                        continue;
                    }
                    self.remember(key);
                    let event = json!({
                        "resourceType": "entity",
                        "action": "TIMER_EXPIRED",
                        "diff": { "before": null, "after": entity },
                        "context": {
                            "blueprintIdentifier": blueprint,
                            "entityIdentifier": id,
                            "propertyIdentifier": property.value,
                        },
                        "trigger": { "origin": "TIMER", "at": at, "expiredAt": expires },
                    });
                    if condition(&self.server, plan, t, &event).await {
                        started.push(self.server.start(plan, trigger, event, None).await?.id);
                    }
                }
            }
        }
        Ok(started)
    }

    fn known(&self, key: &str) -> bool {
        self.fired
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(key)
    }

    fn remember(&self, key: String) {
        self.fired
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key);
    }

    /// Ticks every second until `stop` is cancelled.
    pub async fn run(self, stop: CancellationToken) {
        loop {
            if let Err(e) = self.tick().await {
                log_error("timers", &e.message());
            }
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(EVERY) => {}
            }
        }
    }
}
