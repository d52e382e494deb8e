//! The preflight of a run: the compiler's [`wflow_compiler::preflight`] against what this
//! engine has (the store's blueprints, the configured services) and the secrets given.
//! `wflow exec`, `wflow serve` at load and the API all call [`check`] before a run starts.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use wflow_compiler::Diagnostic;
use wflow_compiler::preflight::{self, Environment, How};

use crate::engine::Engine;
use crate::plan::Plan;
use crate::secrets::Secrets;
use wflow_store::StoreError;

/// Blueprints found in the store lately: a server starting many runs asks the store about a
/// blueprint at most once per [`Recent::FOR`] instead of once per run.
#[derive(Default)]
pub struct Recent {
    seen: Mutex<HashMap<String, Instant>>,
}

impl Recent {
    /// How long a blueprint found in the store is taken to be there still.
    const FOR: Duration = Duration::from_secs(1);

    fn fresh(&self, id: &str) -> bool {
        let seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        seen.get(id).is_some_and(|at| at.elapsed() < Self::FOR)
    }

    fn saw(&self, id: &str) {
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        seen.insert(id.to_string(), Instant::now());
    }
}

/// Every problem with running `plan` on `engine` with the secrets of `secrets_file` (and the
/// environment's `WFLOW_SECRET_*`), at once; empty when the run may start. With `recent`,
/// a blueprint found in the store less than a second ago is not asked for again.
pub async fn check(
    plan: &Plan,
    engine: &Engine,
    secrets_file: Option<&str>,
    how: &How,
    recent: Option<&Recent>,
) -> Result<Vec<Diagnostic>, StoreError> {
    let mut blueprints = BTreeSet::new();
    for id in preflight::blueprints_upserted(&plan.workflow) {
        if recent.is_some_and(|r| r.fresh(&id)) {
            blueprints.insert(id);
        } else if engine.store.blueprint(&id).await?.is_some() {
            if let Some(r) = recent {
                r.saw(&id);
            }
            blueprints.insert(id);
        }
    }
    let given: BTreeSet<String> = match Secrets::load(&plan.secrets, secrets_file) {
        Ok(_) => plan.secrets.clone(),
        Err(missing) => plan
            .secrets
            .iter()
            .filter(|s| !missing.contains(s))
            .cloned()
            .collect(),
    };
    let env = Environment {
        blueprints: Some(&blueprints),
        secrets: &given,
        kafka: engine.config.kafka.is_some(),
        ai: engine.config.ai.is_some(),
        services: &engine.config.services_configured(),
        how,
    };
    Ok(preflight::check(&plan.workflow, &env))
}
