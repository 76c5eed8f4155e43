//! Metrics computed by clients (README, "Metrics computed by the client"): names in their own
//! namespace, `ext:NAME`, so that they never collide with a built-in metric, and the identifier
//! benchmarks and distances use for either kind.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::id::{Metric, UnknownMetric};

/// The prefix of every external metric's name.
pub const EXTERNAL_PREFIX: &str = "ext:";

/// The longest name after the prefix.
pub const MAX_EXTERNAL_NAME_LEN: usize = 48;

/// The name of a metric a client computes, without its `ext:` prefix: a lowercase letter, then
/// up to 47 lowercase letters, digits, `_`, `-` or `.`. Held inline so that identifiers stay
/// `Copy` like built-in ones; the zero padding keeps the derived order the order of the text.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ExternalName {
    bytes: [u8; MAX_EXTERNAL_NAME_LEN],
    len: u8,
}

/// Why an external metric's name was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "external metric name {text:?} is invalid: after the optional prefix ext:, a lowercase letter then up to {} lowercase letters, digits, '_', '-' or '.'",
    MAX_EXTERNAL_NAME_LEN - 1
)]
pub struct InvalidExternalName {
    pub text: String,
}

impl ExternalName {
    /// Parses `NAME` or `ext:NAME`.
    pub fn parse(text: &str) -> Result<ExternalName, InvalidExternalName> {
        let bare = text.strip_prefix(EXTERNAL_PREFIX).unwrap_or(text);
        let valid_first = bare.bytes().next().is_some_and(|b| b.is_ascii_lowercase());
        let valid_rest = bare.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'-' | b'.')
        });
        if !valid_first || !valid_rest || bare.len() > MAX_EXTERNAL_NAME_LEN {
            return Err(InvalidExternalName {
                text: text.to_owned(),
            });
        }
        let mut bytes = [0; MAX_EXTERNAL_NAME_LEN];
        bytes[..bare.len()].copy_from_slice(bare.as_bytes());
        Ok(ExternalName {
            bytes,
            len: bare.len() as u8,
        })
    }

    /// The name without its prefix.
    pub fn bare(&self) -> &str {
        std::str::from_utf8(&self.bytes[..usize::from(self.len)])
            .expect("parsing admits ASCII only")
    }
}

impl fmt::Display for ExternalName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{EXTERNAL_PREFIX}{}", self.bare())
    }
}

impl fmt::Debug for ExternalName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")
    }
}

/// A metric a benchmark or a distance names: one the workers compute, or one a client computes.
/// Built-ins order first, then external metrics by name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MetricId {
    BuiltIn(Metric),
    External(ExternalName),
}

/// Why a metric identifier was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum UnknownMetricId {
    #[error("{0}; metrics computed by clients are named ext:NAME")]
    BuiltIn(#[from] UnknownMetric),

    #[error(transparent)]
    External(#[from] InvalidExternalName),
}

impl MetricId {
    pub fn built_in(self) -> Option<Metric> {
        match self {
            MetricId::BuiltIn(metric) => Some(metric),
            MetricId::External(_) => None,
        }
    }

    pub fn external(self) -> Option<ExternalName> {
        match self {
            MetricId::BuiltIn(_) => None,
            MetricId::External(name) => Some(name),
        }
    }

    /// The canonical text: a built-in's `name(p=v)`, or `ext:NAME`.
    pub fn name(self) -> String {
        self.to_string()
    }
}

impl From<Metric> for MetricId {
    fn from(metric: Metric) -> MetricId {
        MetricId::BuiltIn(metric)
    }
}

impl fmt::Display for MetricId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MetricId::BuiltIn(metric) => write!(f, "{metric}"),
            MetricId::External(name) => write!(f, "{name}"),
        }
    }
}

impl FromStr for MetricId {
    type Err = UnknownMetricId;

    fn from_str(text: &str) -> Result<MetricId, UnknownMetricId> {
        let trimmed = text.trim();
        if trimmed.starts_with(EXTERNAL_PREFIX) {
            return Ok(MetricId::External(ExternalName::parse(trimmed)?));
        }
        Ok(MetricId::BuiltIn(trimmed.parse()?))
    }
}

impl Serialize for MetricId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for MetricId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<MetricId, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::MetricKind;

    #[test]
    fn names_take_an_optional_prefix_and_a_restricted_charset() {
        let name = ExternalName::parse("my_metric-2.b").unwrap();
        assert_eq!(name, ExternalName::parse("ext:my_metric-2.b").unwrap());
        assert_eq!(name.to_string(), "ext:my_metric-2.b");
        assert_eq!(name.bare(), "my_metric-2.b");
        for refused in [
            "",
            "ext:",
            "2x",
            "Upper",
            "a b",
            "cka(k=1)",
            "a,b",
            "ext:ext:a",
        ] {
            assert!(ExternalName::parse(refused).is_err(), "{refused:?}");
        }
        assert!(ExternalName::parse(&"a".repeat(MAX_EXTERNAL_NAME_LEN)).is_ok());
        assert!(ExternalName::parse(&"a".repeat(MAX_EXTERNAL_NAME_LEN + 1)).is_err());
    }

    #[test]
    fn identifiers_round_trip_and_order_built_ins_first() {
        let cka: MetricId = "cka".parse().unwrap();
        assert_eq!(cka, MetricId::BuiltIn(Metric::of(MetricKind::Cka)));
        let external: MetricId = "ext:zeta".parse().unwrap();
        let other: MetricId = "ext:alpha".parse().unwrap();
        assert_eq!(external.to_string(), "ext:zeta");
        assert!(cka < other && other < external);
        assert!("zeta".parse::<MetricId>().is_err());
        assert!("ext:Bad".parse::<MetricId>().is_err());
    }
}
