//! Metric identifiers: a kind and its parameters, named `name(p=v,...)` (README, Measures:
//! "Identifiers").
//!
//! The canonical text sorts parameters by name, writes each value in its shortest decimal form and
//! leaves out those at their default, so that one metric has exactly one name in the database, in
//! URLs and on the command line: `gulp(lambda=0)` is stored and shown as `gulp`.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// What the work of a metric grows with (README, Measures: "Cost classes").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum CostClass {
    /// From XᵀX, YᵀY and M = XᵀY plus O(d³) work on them.
    #[serde(rename = "G")]
    Gram,
    /// One pass over the rows.
    #[serde(rename = "R")]
    Rows,
    /// n x n matrices or neighbour lists.
    #[serde(rename = "N")]
    Neighbourhood,
}

/// What dominates a metric's memory for a pair of n x d representations with n > d (README,
/// Measures: "Memory"); [`super::Metric::memory_bytes`] gives the bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum MemoryOrder {
    /// d x d matrices: the same for any n.
    #[serde(rename = "d^2")]
    Features,
    /// Linear in n: n x d copies, kNN lists, strips of n values.
    #[serde(rename = "n*d")]
    Rows,
    /// n x n matrices.
    #[serde(rename = "n^2")]
    RowsSquared,
}

/// The values a parameter accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParamRange {
    /// A real number ≥ 0.
    NonNegative,
    /// A real number > 0.
    Positive,
    /// An integer ≥ 1.
    Count,
}

impl ParamRange {
    fn admits(self, value: f64) -> bool {
        match self {
            ParamRange::NonNegative => value >= 0.0,
            ParamRange::Positive => value > 0.0,
            ParamRange::Count => value >= 1.0 && value.fract() == 0.0 && value <= u32::MAX as f64,
        }
    }

    /// The accepted values in words, as refusals and `GET /v1/metrics` state them.
    pub fn describe(self) -> &'static str {
        match self {
            ParamRange::NonNegative => "a number >= 0",
            ParamRange::Positive => "a number > 0",
            ParamRange::Count => "an integer >= 1",
        }
    }
}

/// One parameter of a metric kind.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ParamSpec {
    pub name: &'static str,
    pub default: f64,
    pub range: ParamRange,
}

/// The most parameters any kind takes.
pub const MAX_PARAMS: usize = 2;

/// A parameter value: finite, with -0 stored as 0, so that equality of bits is equality of values
/// and the ordering of non-negative bit patterns is the numeric one.
#[derive(Clone, Copy, Debug)]
struct ParamValue(f64);

impl PartialEq for ParamValue {
    fn eq(&self, other: &ParamValue) -> bool {
        self.0.to_bits() == other.0.to_bits()
    }
}

impl Eq for ParamValue {}

impl PartialOrd for ParamValue {
    fn partial_cmp(&self, other: &ParamValue) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for ParamValue {
    fn cmp(&self, other: &ParamValue) -> Ordering {
        self.0.total_cmp(&other.0)
    }
}

impl Hash for ParamValue {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.to_bits().hash(state);
    }
}

/// A metric with its parameters: what a comparison, a distance and a benchmark name. Serialises as
/// its canonical text.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Metric {
    kind: super::MetricKind,
    /// The kind's parameters in the order of [`super::MetricKind::params`], defaults filled in.
    values: [ParamValue; MAX_PARAMS],
}

impl From<super::MetricKind> for Metric {
    fn from(kind: super::MetricKind) -> Metric {
        Metric::of(kind)
    }
}

impl Metric {
    /// The kind at its default parameters.
    pub const fn of(kind: super::MetricKind) -> Metric {
        let specs = kind.params();
        let mut values = [ParamValue(0.0); MAX_PARAMS];
        let mut index = 0;
        while index < specs.len() {
            values[index] = ParamValue(specs[index].default);
            index += 1;
        }
        Metric { kind, values }
    }

    pub fn kind(self) -> super::MetricKind {
        self.kind
    }

    /// The value of parameter `name`; `None` when the kind has no such parameter.
    pub fn param(self, name: &str) -> Option<f64> {
        self.kind
            .params()
            .iter()
            .position(|spec| spec.name == name)
            .map(|index| self.values[index].0)
    }

    /// The canonical text (README, Measures: "Identifiers").
    pub fn name(self) -> String {
        self.to_string()
    }

    /// Whether d(X, Y) = d(Y, X).
    pub fn is_symmetric(self) -> bool {
        self.kind.is_symmetric()
    }

    /// The kind with `name` set to `value`, checked against the kind's parameters.
    pub fn with_param(self, name: &str, value: f64) -> Result<Metric, UnknownMetric> {
        let specs = self.kind.params();
        let Some(index) = specs.iter().position(|spec| spec.name == name) else {
            return Err(UnknownMetric::UnknownParameter {
                metric: self.kind.name(),
                parameter: name.to_owned(),
                valid: valid_parameters(specs),
            });
        };
        let spec = specs[index];
        if !value.is_finite() || !spec.range.admits(value) {
            return Err(UnknownMetric::OutOfRange {
                metric: self.kind.name(),
                parameter: spec.name,
                value: value.to_string(),
                range: spec.range.describe(),
            });
        }
        let mut metric = self;
        metric.values[index] = ParamValue(value + 0.0);
        Ok(metric)
    }
}

fn valid_parameters(specs: &[ParamSpec]) -> String {
    if specs.is_empty() {
        return "it takes none".to_owned();
    }
    let names: Vec<String> = specs
        .iter()
        .map(|spec| {
            format!(
                "{} ({}, default {})",
                spec.name,
                spec.range.describe(),
                spec.default
            )
        })
        .collect();
    format!("valid: {}", names.join(", "))
}

impl fmt::Display for Metric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.kind.name())?;
        let mut set: Vec<(&str, f64)> = self
            .kind
            .params()
            .iter()
            .zip(&self.values)
            .filter(|(spec, value)| value.0.to_bits() != (spec.default + 0.0).to_bits())
            .map(|(spec, value)| (spec.name, value.0))
            .collect();
        if set.is_empty() {
            return Ok(());
        }
        set.sort_by(|a, b| a.0.cmp(b.0));
        let parts: Vec<String> = set
            .iter()
            .map(|(name, value)| format!("{name}={value}"))
            .collect();
        write!(f, "({})", parts.join(","))
    }
}

/// Why a metric name was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum UnknownMetric {
    #[error("unknown metric {name:?}; valid metrics are: {valid}")]
    UnknownName { name: String, valid: String },

    #[error("metric {text:?} is malformed: write name or name(parameter=value,...)")]
    Malformed { text: String },

    #[error("{metric} has no parameter {parameter:?}; {valid}")]
    UnknownParameter {
        metric: &'static str,
        parameter: String,
        valid: String,
    },

    #[error("{metric}: parameter {parameter} is given twice")]
    RepeatedParameter {
        metric: &'static str,
        parameter: String,
    },

    #[error("{metric}: parameter {parameter} must be {range}, got {value:?}")]
    OutOfRange {
        metric: &'static str,
        parameter: &'static str,
        value: String,
        range: &'static str,
    },
}

impl FromStr for Metric {
    type Err = UnknownMetric;

    fn from_str(text: &str) -> Result<Metric, UnknownMetric> {
        let trimmed = text.trim();
        let (name, arguments) = match trimmed.split_once('(') {
            None => (trimmed, None),
            Some((name, rest)) => match rest.strip_suffix(')') {
                Some(arguments) => (name.trim(), Some(arguments)),
                None => {
                    return Err(UnknownMetric::Malformed {
                        text: text.to_owned(),
                    });
                }
            },
        };
        let kind = super::MetricKind::ALL
            .into_iter()
            .find(|kind| kind.name() == name)
            .ok_or_else(|| UnknownMetric::UnknownName {
                name: name.to_owned(),
                valid: super::MetricKind::ALL
                    .map(super::MetricKind::name)
                    .join(", "),
            })?;
        let mut metric = Metric::from(kind);
        let Some(arguments) = arguments else {
            return Ok(metric);
        };
        let mut seen: Vec<&str> = Vec::new();
        for argument in arguments.split(',') {
            let Some((parameter, value)) = argument.split_once('=') else {
                return Err(UnknownMetric::Malformed {
                    text: text.to_owned(),
                });
            };
            let (parameter, value) = (parameter.trim(), value.trim());
            if seen.contains(&parameter) {
                return Err(UnknownMetric::RepeatedParameter {
                    metric: kind.name(),
                    parameter: parameter.to_owned(),
                });
            }
            seen.push(parameter);
            let number: f64 = value.parse().map_err(|_| {
                match kind.params().iter().find(|spec| spec.name == parameter) {
                    Some(spec) => UnknownMetric::OutOfRange {
                        metric: kind.name(),
                        parameter: spec.name,
                        value: value.to_owned(),
                        range: spec.range.describe(),
                    },
                    None => UnknownMetric::UnknownParameter {
                        metric: kind.name(),
                        parameter: parameter.to_owned(),
                        valid: valid_parameters(kind.params()),
                    },
                }
            })?;
            metric = metric.with_param(parameter, number)?;
        }
        Ok(metric)
    }
}

impl Serialize for Metric {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Metric {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Metric, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// Splits a comma-separated list of metrics at the commas outside parentheses, so that
/// `cka, gulp(lambda=0.1)` is two names.
pub(super) fn split_list(list: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0usize, 0);
    for (index, character) in list.char_indices() {
        match character {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                parts.push(&list[start..index]);
                start = index + 1;
            }
            _ => {}
        }
    }
    parts.push(&list[start..]);
    parts
}
