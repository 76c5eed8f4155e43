//! The statuses of jobs, comparisons and benchmarks: one list each, for the queries, the API,
//! the workers and the instruments. Rows hold them as text (`jobs_status_check`).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Defines a status enum with its text form, `ALL`, `Display`, `FromStr` and text decoding.
macro_rules! status_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$variant_meta:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "lowercase")]
        pub enum $name {
            $($(#[$variant_meta])* $variant),+
        }

        impl $name {
            pub const ALL: &[$name] = &[$($name::$variant),+];

            pub fn name(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.pad(self.name())
            }
        }

        impl FromStr for $name {
            type Err = UnknownStatus;

            fn from_str(text: &str) -> Result<$name, UnknownStatus> {
                $name::ALL
                    .iter()
                    .copied()
                    .find(|status| status.name() == text)
                    .ok_or_else(|| UnknownStatus {
                        text: text.to_owned(),
                        valid: $name::ALL.iter().map(|status| status.name()).collect(),
                    })
            }
        }

        /// Rows hold the status as text.
        impl TryFrom<String> for $name {
            type Error = UnknownStatus;

            fn try_from(text: String) -> Result<$name, UnknownStatus> {
                text.parse()
            }
        }
    };
}

status_enum! {
    /// Where a comparison job is; a comparison's status is the same summary of its jobs.
    JobStatus {
        Queued => "queued",
        Running => "running",
        Done => "done",
        /// Out of attempts; its error stays visible and it can be retried by hand.
        Failed => "failed",
        Cancelled => "cancelled",
    }
}

status_enum! {
    /// Where a benchmark's current run is.
    BenchmarkStatus {
        Queued => "queued",
        Running => "running",
        Done => "done",
        /// Some of its distances could not be computed (or were cancelled).
        Failed => "failed",
        /// Its data changed since the run: run it again for results that reflect it.
        Stale => "stale",
    }
}

impl JobStatus {
    /// Whether work of this status may still change.
    pub fn is_pending(self) -> bool {
        matches!(self, JobStatus::Queued | JobStatus::Running)
    }
}

impl BenchmarkStatus {
    /// Whether the run's distances are still being computed.
    pub fn is_pending(self) -> bool {
        matches!(self, BenchmarkStatus::Queued | BenchmarkStatus::Running)
    }
}

/// A status text that is not one of the list.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown status {text:?}; valid statuses are: {}", valid.join(", "))]
pub struct UnknownStatus {
    pub text: String,
    pub valid: Vec<&'static str>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_reads_back_from_its_text_and_json() {
        for &status in JobStatus::ALL {
            assert_eq!(status.name().parse::<JobStatus>(), Ok(status));
            assert_eq!(
                serde_json::to_value(status).expect("serialises"),
                serde_json::json!(status.name())
            );
        }
        for &status in BenchmarkStatus::ALL {
            assert_eq!(status.name().parse::<BenchmarkStatus>(), Ok(status));
        }
        let unknown = "paused".parse::<JobStatus>().expect_err("not a status");
        assert!(
            unknown
                .to_string()
                .contains("queued, running, done, failed, cancelled")
        );
    }
}
