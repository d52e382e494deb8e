//! Why an engine command failed, by whose move it is: the store's, the caller's, or the run's
//! state. Front ends choose their answer from the kind (the API's status code, the CLI's exit
//! code) and show the message as it is.

use std::fmt;

use wflow_store::StoreError;

/// An engine error.
#[derive(Debug, Clone, PartialEq)]
pub enum Error {
    /// The store failed; nothing this call meant to write is known to be written.
    Store(StoreError),
    /// No run with this id in the store.
    NoRun(String),
    /// The command does not apply to the run as it is now: it already completed, the node is
    /// not waiting, another process changed it meanwhile.
    Conflict(String),
    /// The command's own arguments are wrong: no such button, a response's inputs that do not
    /// validate, a result other than SUCCESS or FAILED.
    Invalid(String),
    /// The person may not do this (not among an approval's responders).
    Forbidden(String),
    /// One of the workflow's expressions failed on this run's data (a concurrency key, an
    /// event trigger's condition): whoever supplied the data can fix it.
    Expression(String),
    /// The engine could not be set up (its jq threads, HTTP client or Kafka producer).
    Setup(String),
    /// The run's records disagree with its workflow (a node run of a node it does not have):
    /// a defect or a store edited by hand.
    Inconsistent(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Store(e) => e.fmt(f),
            Error::NoRun(id) => write!(f, "no run `{id}` in this store"),
            Error::Conflict(m)
            | Error::Invalid(m)
            | Error::Forbidden(m)
            | Error::Expression(m)
            | Error::Setup(m)
            | Error::Inconsistent(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for Error {}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Error {
        Error::Store(e)
    }
}
