//! Benchmarks (DESIGN "Benchmark protocols"). The pure part: which pairs a benchmark needs
//! (`protocol`), what a run takes and leaves out (`planning`), its correlation table once
//! distances are known (`results`) and the ranking of metrics across benchmarks (`leaderboard`).
//! The `service` ties them to the store: creating and re-running benchmarks, results of a run,
//! the pairs behind a group, the leaderboard. No SQL and no HTTP here.

pub mod leaderboard;
mod planning;
mod protocol;
mod results;
pub mod service;

pub use protocol::{
    CompareTo, EmptyGroupBy, Group, GroupBy, GroupKey, Pair, Protocol, ProtocolError,
    Representation, pairs_needed,
};
pub use results::{
    Correlations, DistanceOutcome, GroupResult, Interval, MetricResult, ROUNDING_DECIMALS,
    ScatterRow, Statistics, results, scatter_rows,
};
