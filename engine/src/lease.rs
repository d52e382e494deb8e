//! Leases: a process drives a run only while it holds the run's lease, so that two processes
//! on one store (several `wflow serve`, or `wflow exec` beside `wflow serve`) never drive the
//! same run. A lease lasts a fixed time unless renewed; the runs of a process that died are
//! taken over when their leases expire. Writes of a leased run go through a store
//! [fenced](wflow_store::Store::fenced) by the owner, refused once another process took over.

use std::future::Future;
use std::time::Duration;

use crate::engine::{Engine, new_id};
use wflow_store::{Store, StoreError};

/// How long a lease lasts unless renewed, by default.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(30);

/// One process's claims on runs.
#[derive(Clone)]
pub struct Leases {
    store: Store,
    owner: String,
    lease: Duration,
}

impl Leases {
    /// Leases on `store`'s runs lasting `lease`, held by a new owner named `prefix` + a
    /// unique id.
    pub fn new(store: &Store, prefix: &str, lease: Duration) -> Leases {
        Leases {
            store: store.clone(),
            owner: new_id(prefix),
            lease,
        }
    }

    /// The owner's name, as recorded in leases.
    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// How long a lease lasts unless renewed.
    pub fn duration(&self) -> Duration {
        self.lease
    }

    /// `engine` writing runs only while this owner leases them.
    pub fn fence(&self, engine: &Engine) -> Engine {
        Engine {
            store: engine.store.fenced(&self.owner),
            ..engine.clone()
        }
    }

    /// Leases run `id` unless another process holds an unexpired lease on it or it completed
    /// (renewing this owner's own lease).
    pub async fn claim(&self, id: &str) -> Result<bool, StoreError> {
        self.store.claim_run(id, &self.owner, self.lease).await
    }

    /// Leases run `id` whoever holds it now (for a run whose process is known to be gone);
    /// `false` when the run completed or does not exist.
    pub async fn take_over(&self, id: &str) -> Result<bool, StoreError> {
        self.store.take_over(id, &self.owner, self.lease).await
    }

    /// The lease a reopened run is given: this owner's, for this duration.
    pub fn lease(&self) -> (&str, Duration) {
        (self.owner(), self.duration())
    }

    /// Runs `work` while renewing the lease on run `id`; `None` when the lease was lost
    /// first (another process took the run over), and `work` was dropped.
    pub async fn hold<T>(&self, id: &str, work: impl Future<Output = T>) -> Option<T> {
        let keep = async {
            loop {
                tokio::time::sleep(self.lease / 3).await;
                match self.store.renew(id, &self.owner, self.lease).await {
                    Ok(true) => {}
                    Ok(false) => return,
                    Err(e) => {
                        return tracing::error!("cannot renew the lease of run {id}: {e}");
                    }
                }
            }
        };
        tokio::select! {
            done = work => Some(done),
            () = keep => None,
        }
    }

    /// Ends the lease on run `id` (a completed run's lease ended with it).
    pub async fn release(&self, id: &str) -> Result<(), StoreError> {
        self.store.release(id, &self.owner).await
    }
}
