//! Benchmarks (DESIGN "Benchmark protocols"). The pure part: which pairs a benchmark needs
//! (`protocol`), what y is for a pair (`functional`), what a run takes and leaves out
//! (`planning`), its correlation table once distances are known (`results`), the tests that need
//! no functional (`separation`, `monotonicity`), results by kind (`by_kind`) and the ranking of
//! metrics across benchmarks (`leaderboard`).
//! The `service` ties them to the store: creating and re-running benchmarks, results of a run,
//! the pairs behind a group, the leaderboard. No SQL and no HTTP here.

mod by_kind;
mod figure;
mod functional;
pub mod leaderboard;
mod monotonicity;
mod planning;
mod protocol;
mod results;
mod separation;
pub mod service;

pub use by_kind::MetricResults;
pub use figure::{Counted, Totals};
pub use functional::{Functional, ModelDifferences, OutputsDifference, model_differences};
pub use monotonicity::{
    LayerMember, ModelResult, ModelStack, Monotonicity, MonotonicityFigures, MonotonicityLeftOut,
    MonotonicityResult, model_stacks, monotonicity_result,
};
pub use protocol::{
    CompareTo, EmptyGroupBy, FunctionalSource, Group, GroupBy, GroupKey, Pair, Protocol,
    ProtocolError, ProtocolKind, Representation, pairs_needed,
};
pub use results::{
    Comparison, Correlations, DistanceOutcome, GroupResult, Interval, MetricResult,
    ROUNDING_DECIMALS, ScatterRow, Statistics, Table, results, scatter_rows,
};
pub use separation::{
    ClassKey, ClassResult, Separation, SeparationError, SeparationGroup, SeparationGroupResult,
    SeparationLeftOut, SeparationResult, separation_groups, separation_result,
};
