//! Benchmark protocols, the pure part (DESIGN "Benchmark protocols"): which pairs a benchmark
//! needs, and its correlation table once distances are known. No SQL, no HTTP: the store supplies
//! the representations and a distance lookup, the HTTP layer serialises the results.

mod protocol;
mod results;

pub use protocol::{
    CompareTo, EmptyGroupBy, Group, GroupBy, GroupKey, Pair, Protocol, ProtocolError,
    Representation, pairs_needed,
};
pub use results::{
    Correlations, DistanceOutcome, GroupResult, Interval, MetricResult, ROUNDING_DECIMALS,
    ScatterRow, Statistics, results, scatter_rows,
};
