//! How the separation and monotonicity results carry undefined figures and the distances they
//! could not read, and the points behind them.

use std::fmt::Display;

use serde::{Deserialize, Serialize};

use super::results::{DistanceOutcome, ROUNDING_DECIMALS, ScatterRow};
use crate::stats::round_to_decimals;

/// A figure as the results show it: the value, or `null` with the reason beside it.
pub(super) fn figure<T, E: Display>(value: Result<T, E>) -> (Option<T>, Option<String>) {
    match value {
        Ok(value) => (Some(value), None),
        Err(reason) => (None, Some(reason.to_string())),
    }
}

/// Distances a group needed but could not read; serialised as `n_refused` and `n_missing`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counted {
    /// The metric refuses the pair.
    #[serde(rename = "n_refused")]
    pub refused: usize,
    /// Not computed yet.
    #[serde(rename = "n_missing")]
    pub missing: usize,
}

impl Counted {
    /// The distances of `pairs` that `distance` cannot give.
    pub(super) fn of(
        pairs: impl IntoIterator<Item = (i64, i64)>,
        distance: impl Fn(i64, i64) -> Option<DistanceOutcome>,
    ) -> Counted {
        let mut counted = Counted::default();
        for (first, second) in pairs {
            match distance(first, second) {
                Some(DistanceOutcome::Value(_)) => {}
                Some(DistanceOutcome::Refused) => counted.refused += 1,
                None => counted.missing += 1,
            }
        }
        counted
    }
}

/// A metric's totals over its groups.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    pub n_groups: usize,
    #[serde(flatten)]
    pub counted: Counted,
    /// Some distances are not computed yet, so the figures may still move.
    pub partial: bool,
}

impl Totals {
    pub(super) fn of(groups: impl IntoIterator<Item = Counted>) -> Totals {
        let (n_groups, counted) =
            groups
                .into_iter()
                .fold((0, Counted::default()), |(n_groups, total), group| {
                    let refused = total.refused + group.refused;
                    let missing = total.missing + group.missing;
                    (n_groups + 1, Counted { refused, missing })
                });
        Totals {
            n_groups,
            counted,
            partial: counted.missing > 0,
        }
    }
}

/// The value that a distance lookup gives a statistic: refused and missing distances alike are
/// absent (and counted apart by [`Counted`]).
pub(super) fn value_of(outcome: Option<DistanceOutcome>) -> Option<f64> {
    match outcome {
        Some(DistanceOutcome::Value(x)) => Some(x),
        Some(DistanceOutcome::Refused) | None => None,
    }
}

/// The point of pair (first, second) at height `y`, when its distance is known; x rounded as the
/// statistics see it.
pub(super) fn scatter_row(
    first: i64,
    second: i64,
    y: f64,
    distance: impl Fn(i64, i64) -> Option<DistanceOutcome>,
) -> Option<ScatterRow> {
    value_of(distance(first, second)).map(|x| ScatterRow {
        x: round_to_decimals(x, ROUNDING_DECIMALS),
        y,
        first,
        second,
    })
}
