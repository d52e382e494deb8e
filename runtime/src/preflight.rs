//! The preflight of a run: the compiler's [`wflow_compiler::preflight`] against what this
//! engine has (the store's blueprints, the configured services) and the secrets given.
//! `wflow exec`, `wflow serve` at load and the API all call [`check`] before a run starts.

use std::collections::BTreeSet;

use wflow_compiler::Diagnostic;
use wflow_compiler::preflight::{self, Environment, How};

use crate::engine::Engine;
use crate::plan::Plan;
use crate::secrets::Secrets;
use crate::store::StoreError;

/// Every problem with running `plan` on `engine` with the secrets of `secrets_file` (and the
/// environment's `WFLOW_SECRET_*`), at once; empty when the run may start.
pub async fn check(
    plan: &Plan,
    engine: &Engine,
    secrets_file: Option<&str>,
    how: &How,
) -> Result<Vec<Diagnostic>, StoreError> {
    let mut blueprints = BTreeSet::new();
    for id in preflight::blueprints_upserted(&plan.workflow) {
        if engine.store.blueprint(&id).await?.is_some() {
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
        how,
    };
    Ok(preflight::check(&plan.workflow, &env))
}
