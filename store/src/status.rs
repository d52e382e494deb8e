//! Run and node-run statuses and results: typed in Rust, spelled as Port spells them
//! (`IN_PROGRESS`, `SUCCESS`, …) in the store, the API and the CLI.

use std::fmt;
use std::str::FromStr;

/// A status or result text that is not one of its type's values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownStatus {
    /// What the type holds (`run status`, `node status`, `result`).
    pub what: &'static str,
    pub text: String,
}

impl fmt::Display for UnknownStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}` is not a {}", self.text, self.what)
    }
}

impl std::error::Error for UnknownStatus {}

/// An enum of unit variants, each spelled by one upper-case text: `as_str`, `ALL`,
/// `Display`, `FromStr` and serde all use that text.
macro_rules! spelled {
    ($(#[$doc:meta])* $name:ident, $what:literal { $($(#[$vdoc:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
        pub enum $name {
            $($(#[$vdoc])* #[serde(rename = $text)] $variant),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The value as Port spells it.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = UnknownStatus;
            fn from_str(text: &str) -> Result<$name, UnknownStatus> {
                match text {
                    $($text => Ok($name::$variant),)+
                    _ => Err(UnknownStatus { what: $what, text: text.to_string() }),
                }
            }
        }
    };
}

spelled! {
    /// Where a run is.
    RunStatus, "run status" {
        /// Accepted beyond its workflow's concurrency limit, waiting for its turn (a wflow
        /// extension; Port has no such status).
        Queued = "QUEUED",
        InProgress = "IN_PROGRESS",
        /// Over: its [`Conclusion`] says how.
        Completed = "COMPLETED",
    }
}

spelled! {
    /// Where a node run is.
    NodeStatus, "node status" {
        /// Running, retrying or waiting (for a response, an outside completion or a join).
        InProgress = "IN_PROGRESS",
        /// Over: its [`Conclusion`] says how.
        Completed = "COMPLETED",
    }
}

spelled! {
    /// How a run or a node run ended: Port's `result` (GitHub calls it `conclusion`).
    Conclusion, "result" {
        Success = "SUCCESS",
        Failed = "FAILED",
        Cancelled = "CANCELLED",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_value_reads_back_from_its_text() {
        for s in RunStatus::ALL {
            assert_eq!(s.as_str().parse::<RunStatus>(), Ok(*s));
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
        for s in NodeStatus::ALL {
            assert_eq!(s.as_str().parse::<NodeStatus>(), Ok(*s));
        }
        for o in Conclusion::ALL {
            assert_eq!(o.to_string().parse::<Conclusion>(), Ok(*o));
            assert_eq!(serde_json::to_value(o).unwrap(), o.as_str());
        }
    }

    #[test]
    fn an_unknown_text_is_refused_with_what_it_should_be() {
        let e = "QUEUED".parse::<NodeStatus>().unwrap_err();
        assert_eq!(e.to_string(), "`QUEUED` is not a node status");
        assert!("success".parse::<Conclusion>().is_err());
    }
}
