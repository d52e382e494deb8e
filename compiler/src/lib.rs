//! wflow compiler: lowers `.wflow` and Port JSON to the typed IR and checks it.
pub mod cron;
pub mod jq;
