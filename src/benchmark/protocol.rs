//! Protocols → the pairs a benchmark needs (DESIGN "Benchmark protocols": `reference` and
//! `all_pairs`, `group_by`, `compare_to`; PROTOCOLS "Correlation": `ordered`). The kinds that
//! need no functional, `separation` and `monotonicity`, find their pairs in their own modules.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::functional::ModelDifferences;
use super::monotonicity::Monotonicity;
use super::separation::Separation;
use crate::stats::compare_values;

/// A benchmark protocol, as a client writes it:
/// `{"kind": "reference", "group_by": "layer", "compare_to": "same_group"}` or
/// `{"kind": "all_pairs", "group_by": "none"}`. `compare_to` exists only for `reference`
/// (`all_pairs` pairs within groups by definition) and defaults to `same_group`; `ordered` only
/// for `all_pairs`, false unless given (and then not written back, so stored protocols of
/// before read and print as they were). `separation` and `monotonicity` (PROTOCOLS
/// "Separation", "Monotonicity") ask no functional difference of the pairs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Protocol {
    /// The paper's protocol: in each group, the reference is the non-derived representation with
    /// the highest score (ties: lowest id), paired with every representation of its group or of
    /// the whole selection, itself included.
    Reference {
        group_by: GroupBy,
        #[serde(default)]
        compare_to: CompareTo,
    },
    /// Every unordered pair of representations within each group; with `ordered`, both orders
    /// of each pair for the metrics that are not symmetric (ReSi's test).
    AllPairs {
        group_by: GroupBy,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        ordered: bool,
    },
    /// Design classes by a metadata key within each group: are members of a class closer to
    /// each other than to the other classes?
    Separation(Separation),
    /// Within each model, does distance grow with the number of layers in between?
    Monotonicity(Monotonicity),
}

/// What a protocol's results are: correlations of distances with functional differences, or
/// one of the two tests that need no functional.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProtocolKind {
    Correlation,
    Separation,
    Monotonicity,
}

impl ProtocolKind {
    pub fn name(self) -> &'static str {
        match self {
            ProtocolKind::Correlation => "correlation",
            ProtocolKind::Separation => "separation",
            ProtocolKind::Monotonicity => "monotonicity",
        }
    }
}

impl Protocol {
    pub fn kind(&self) -> ProtocolKind {
        match self {
            Protocol::Reference { .. } | Protocol::AllPairs { .. } => ProtocolKind::Correlation,
            Protocol::Separation(_) => ProtocolKind::Separation,
            Protocol::Monotonicity(_) => ProtocolKind::Monotonicity,
        }
    }

    /// What representations are grouped by; monotonicity's groups are models.
    pub fn group_by(&self) -> Option<&GroupBy> {
        match self {
            Protocol::Reference { group_by, .. } | Protocol::AllPairs { group_by, .. } => {
                Some(group_by)
            }
            Protocol::Separation(separation) => Some(separation.group_by()),
            Protocol::Monotonicity(_) => None,
        }
    }
}

/// What representations are grouped by: `"layer"`, `"none"` (one group), or any other string,
/// which names a key of the models' metadata.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum GroupBy {
    Layer,
    None,
    Metadata(String),
}

impl GroupBy {
    /// The group of a representation at `layer` of a model with `model_metadata` (a JSON
    /// object), or `None` when grouping by a metadata key the model does not have (or has as
    /// `null`): such a representation cannot take part and is reported like one without a score.
    pub fn group_of(&self, layer: i64, model_metadata: &serde_json::Value) -> Option<GroupKey> {
        match self {
            GroupBy::Layer => Some(GroupKey::Layer(layer)),
            GroupBy::None => Some(GroupKey::All),
            GroupBy::Metadata(key) => match model_metadata.get(key)? {
                serde_json::Value::Null => None,
                serde_json::Value::String(text) => Some(GroupKey::Metadata(text.clone())),
                other => Some(GroupKey::Metadata(other.to_string())),
            },
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("group_by must be \"layer\", \"none\" or a metadata key, not an empty string")]
pub struct EmptyGroupBy;

impl TryFrom<String> for GroupBy {
    type Error = EmptyGroupBy;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        match value.as_str() {
            "" => Err(EmptyGroupBy),
            "layer" => Ok(GroupBy::Layer),
            "none" => Ok(GroupBy::None),
            _ => Ok(GroupBy::Metadata(value)),
        }
    }
}

impl From<GroupBy> for String {
    fn from(group_by: GroupBy) -> String {
        match group_by {
            GroupBy::Layer => "layer".to_owned(),
            GroupBy::None => "none".to_owned(),
            GroupBy::Metadata(key) => key,
        }
    }
}

/// Which representations a group's reference is paired with.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CompareTo {
    /// Every representation of its own group.
    #[default]
    SameGroup,
    /// Every representation of the whole selection.
    All,
}

/// The group a representation belongs to. Serialises as the layer number, the metadata value's
/// text, or `"all"` for the single group of `group_by: "none"`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum GroupKey {
    All,
    Layer(i64),
    /// A metadata value: a JSON string's content, or any other JSON value's compact text.
    Metadata(String),
}

impl Serialize for GroupKey {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            GroupKey::All => serializer.serialize_str("all"),
            GroupKey::Layer(layer) => serializer.serialize_i64(*layer),
            GroupKey::Metadata(value) => serializer.serialize_str(value),
        }
    }
}

impl GroupKey {
    /// How a group is named in query strings: its layer number, metadata value, or `all`.
    pub fn label(&self) -> String {
        match self {
            GroupKey::All => "all".to_owned(),
            GroupKey::Layer(layer) => layer.to_string(),
            GroupKey::Metadata(value) => value.clone(),
        }
    }
}

/// Reads the serialised form back (stored results): a number is a layer, `"all"` the single
/// group, any other text a metadata value.
impl<'de> Deserialize<'de> for GroupKey {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<GroupKey, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Stored {
            Layer(i64),
            Text(String),
        }
        Ok(match Stored::deserialize(deserializer)? {
            Stored::Layer(layer) => GroupKey::Layer(layer),
            Stored::Text(text) if text == "all" => GroupKey::All,
            Stored::Text(text) => GroupKey::Metadata(text),
        })
    }
}

impl fmt::Display for GroupKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GroupKey::All => f.write_str("all"),
            GroupKey::Layer(layer) => write!(f, "layer {layer}"),
            GroupKey::Metadata(value) => f.write_str(value),
        }
    }
}

/// A representation as a benchmark sees it: selected, with its functionality score (when y is a
/// score difference) and its model (whose outputs give y otherwise).
#[derive(Clone, Debug, PartialEq)]
pub struct Representation {
    pub id: i64,
    pub group: GroupKey,
    /// Made by the service from another representation; never a reference.
    pub derived: bool,
    pub score: Option<f64>,
    pub model: i64,
}

/// Where the y of a pair comes from (PROTOCOLS "Functional differences").
#[derive(Clone, Copy, Debug)]
pub enum FunctionalSource<'a> {
    /// y = |f(first) − f(second)|, the representations' scores.
    Scores,
    /// y between the two representations' models, from their outputs.
    Models(&'a ModelDifferences),
}

/// One ordered pair: x = d(first, second), y their functional difference.
#[derive(Clone, Debug, PartialEq)]
pub struct Pair {
    pub first: i64,
    pub second: i64,
    /// y: |f(first) − f(second)|, or the difference between their models' outputs; not yet
    /// rounded.
    pub functional_difference: f64,
    /// The other order of the pair before it (`all_pairs` with `ordered`): only metrics that are
    /// not symmetric take it, since for the others it repeats the same x.
    pub mirrored: bool,
}

impl Pair {
    /// Whether a metric of this symmetry takes the pair.
    pub fn taken_by(&self, symmetric_metric: bool) -> bool {
        !(self.mirrored && symmetric_metric)
    }

    /// A representation against itself (the `reference` protocol's "itself included"): its
    /// distance is 0 by definition, so it needs no comparison job.
    pub fn is_self_pair(&self) -> bool {
        self.first == self.second
    }
}

/// One group of a benchmark and the pairs its statistics are computed on.
#[derive(Clone, Debug, PartialEq)]
pub struct Group {
    pub key: GroupKey,
    /// The reference representation (`reference` protocol only).
    pub reference: Option<i64>,
    /// For `reference`: (reference, other) for each other representation by ascending id.
    /// For `all_pairs`: (i, j) with i < j, ascending by i then j; with `ordered`, each followed
    /// by its mirror (j, i).
    pub pairs: Vec<Pair>,
}

#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum ProtocolError {
    #[error("the selection holds no representation with the benchmark's score")]
    EmptySelection,
    #[error("representation {0} appears twice in the selection")]
    DuplicateRepresentation(i64),
    #[error("representation {id} has a non-finite score ({score})")]
    NonFiniteScore { id: i64, score: f64 },
    #[error("representation {0} has no score, and the benchmark's y is a score difference")]
    MissingScore(i64),
    #[error("model {0} has no outputs on the dataset, and the benchmark's y comes from them")]
    MissingOutputs(i64),
    #[error(
        "group {group} has no non-derived representation to serve as the reference; select the \
         representations the derived ones come from, or use the all_pairs protocol"
    )]
    NoReference { group: GroupKey },
    #[error("a {} benchmark has no functional differences to pair", .0.name())]
    NoFunctional(ProtocolKind),
}

/// The groups of a benchmark over `representations` under `protocol`, each with its reference
/// (for `reference`) and its ordered pairs, their y from `functional`; groups come in ascending
/// [`GroupKey`] order.
pub fn pairs_needed(
    representations: &[Representation],
    protocol: &Protocol,
    functional: FunctionalSource,
) -> Result<Vec<Group>, ProtocolError> {
    if protocol.kind() != ProtocolKind::Correlation {
        return Err(ProtocolError::NoFunctional(protocol.kind()));
    }
    let by_id = validate(representations)?;
    let mut groups: BTreeMap<&GroupKey, Vec<&Representation>> = BTreeMap::new();
    for representation in by_id.values() {
        groups
            .entry(&representation.group)
            .or_default()
            .push(representation);
    }
    groups
        .into_iter()
        .map(|(key, members)| match protocol {
            Protocol::Reference { compare_to, .. } => {
                let reference = choose_reference(&members)
                    .ok_or_else(|| ProtocolError::NoReference { group: key.clone() })?;
                let others: Vec<&Representation> = match compare_to {
                    CompareTo::SameGroup => members,
                    CompareTo::All => by_id.values().copied().collect(),
                };
                Ok(Group {
                    key: key.clone(),
                    reference: Some(reference.id),
                    pairs: others
                        .iter()
                        .map(|other| pair(reference, other, functional))
                        .collect::<Result<_, _>>()?,
                })
            }
            Protocol::AllPairs { ordered, .. } => {
                let mut pairs = Vec::new();
                for (i, first) in members.iter().enumerate() {
                    for second in &members[i + 1..] {
                        let forward = pair(first, second, functional)?;
                        let mirror = ordered.then(|| Pair {
                            first: second.id,
                            second: first.id,
                            mirrored: true,
                            ..forward.clone()
                        });
                        pairs.push(forward);
                        pairs.extend(mirror);
                    }
                }
                Ok(Group {
                    key: key.clone(),
                    reference: None,
                    pairs,
                })
            }
            Protocol::Separation(_) | Protocol::Monotonicity(_) => {
                Err(ProtocolError::NoFunctional(protocol.kind()))
            }
        })
        .collect()
}

/// The representations by ascending id, after checking they can be benchmarked.
fn validate(
    representations: &[Representation],
) -> Result<BTreeMap<i64, &Representation>, ProtocolError> {
    if representations.is_empty() {
        return Err(ProtocolError::EmptySelection);
    }
    let mut by_id = BTreeMap::new();
    for representation in representations {
        if let Some(score) = representation.score.filter(|score| !score.is_finite()) {
            return Err(ProtocolError::NonFiniteScore {
                id: representation.id,
                score,
            });
        }
        if by_id.insert(representation.id, representation).is_some() {
            return Err(ProtocolError::DuplicateRepresentation(representation.id));
        }
    }
    Ok(by_id)
}

/// The non-derived member with the highest score; among equal scores the lowest id.
fn choose_reference<'a>(members: &[&'a Representation]) -> Option<&'a Representation> {
    members
        .iter()
        .copied()
        .filter_map(|member| Some((member, member.score?)))
        .filter(|(member, _)| !member.derived)
        .max_by(|(a, a_score), (b, b_score)| {
            compare_values(*a_score, *b_score).then(b.id.cmp(&a.id))
        })
        .map(|(member, _)| member)
}

fn pair(
    first: &Representation,
    second: &Representation,
    functional: FunctionalSource,
) -> Result<Pair, ProtocolError> {
    let functional_difference = match functional {
        FunctionalSource::Scores => {
            let score = |representation: &Representation| {
                representation
                    .score
                    .ok_or(ProtocolError::MissingScore(representation.id))
            };
            (score(first)? - score(second)?).abs()
        }
        FunctionalSource::Models(differences) => differences
            .between(first.model, second.model)
            .ok_or_else(|| {
                let without = if differences.has_outputs(first.model) {
                    second.model
                } else {
                    first.model
                };
                ProtocolError::MissingOutputs(without)
            })?,
    };
    Ok(Pair {
        first: first.id,
        second: second.id,
        functional_difference,
        mirrored: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn representation(id: i64, layer: i64, derived: bool, score: f64) -> Representation {
        Representation {
            id,
            group: GroupKey::Layer(layer),
            derived,
            score: Some(score),
            model: id,
        }
    }

    fn ids(group: &Group) -> Vec<(i64, i64)> {
        group
            .pairs
            .iter()
            .map(|pair| (pair.first, pair.second))
            .collect()
    }

    fn by_layer_reference(compare_to: CompareTo) -> Protocol {
        Protocol::Reference {
            group_by: GroupBy::Layer,
            compare_to,
        }
    }

    #[test]
    fn protocols_parse_from_snake_case_json() {
        let parse = |json: &str| serde_json::from_str::<Protocol>(json);
        assert_eq!(
            parse(r#"{"kind": "reference", "group_by": "layer"}"#).unwrap(),
            by_layer_reference(CompareTo::SameGroup)
        );
        assert_eq!(
            parse(r#"{"kind": "reference", "group_by": "none", "compare_to": "all"}"#).unwrap(),
            Protocol::Reference {
                group_by: GroupBy::None,
                compare_to: CompareTo::All
            }
        );
        assert_eq!(
            parse(r#"{"kind": "all_pairs", "group_by": "pretrain_seed"}"#).unwrap(),
            Protocol::AllPairs {
                group_by: GroupBy::Metadata("pretrain_seed".into()),
                ordered: false,
            }
        );
        assert!(
            parse(r#"{"kind": "all_pairs", "group_by": "layer", "compare_to": "all"}"#).is_err()
        );
        assert!(parse(r#"{"kind": "reference", "group_by": ""}"#).is_err());
        assert!(parse(r#"{"kind": "nearest", "group_by": "layer"}"#).is_err());
        let protocol = Protocol::AllPairs {
            group_by: GroupBy::Metadata("seed".into()),
            ordered: false,
        };
        let json = serde_json::to_value(&protocol).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"kind": "all_pairs", "group_by": "seed"})
        );
        let ordered = parse(r#"{"kind": "all_pairs", "group_by": "seed", "ordered": true}"#);
        assert_eq!(
            serde_json::to_value(ordered.unwrap()).unwrap(),
            serde_json::json!({"kind": "all_pairs", "group_by": "seed", "ordered": true})
        );
        assert!(parse(r#"{"kind": "reference", "group_by": "layer", "ordered": true}"#).is_err());
    }

    #[test]
    fn group_keys_come_from_layer_or_metadata() {
        let metadata = serde_json::json!({"arch": "bert", "seed": 3, "note": null});
        assert_eq!(
            GroupBy::Layer.group_of(4, &metadata),
            Some(GroupKey::Layer(4))
        );
        assert_eq!(GroupBy::None.group_of(4, &metadata), Some(GroupKey::All));
        let by = |key: &str| GroupBy::Metadata(key.to_owned()).group_of(4, &metadata);
        assert_eq!(by("arch"), Some(GroupKey::Metadata("bert".into())));
        assert_eq!(by("seed"), Some(GroupKey::Metadata("3".into())));
        assert_eq!(by("note"), None);
        assert_eq!(by("absent"), None);
        let keys = [
            GroupKey::All,
            GroupKey::Layer(2),
            GroupKey::Metadata("bert".into()),
        ];
        assert_eq!(
            serde_json::to_value(keys).unwrap(),
            serde_json::json!(["all", 2, "bert"])
        );
    }

    #[test]
    fn reference_is_the_best_non_derived_representation_lowest_id_on_ties() {
        let selection = [
            representation(5, 0, false, 0.7),
            representation(2, 0, true, 0.9),
            representation(3, 0, false, 0.7),
            representation(4, 0, false, 0.6),
        ];
        let groups = pairs_needed(
            &selection,
            &by_layer_reference(CompareTo::SameGroup),
            FunctionalSource::Scores,
        )
        .unwrap();
        assert_eq!(groups.len(), 1);
        assert_eq!(groups[0].reference, Some(3));
        // Itself included, others by ascending id, the reference always first.
        assert_eq!(ids(&groups[0]), vec![(3, 2), (3, 3), (3, 4), (3, 5)]);
        let differences: Vec<f64> = groups[0]
            .pairs
            .iter()
            .map(|pair| pair.functional_difference)
            .collect();
        let expected = [(0.7f64 - 0.9).abs(), 0.0, (0.7f64 - 0.6).abs(), 0.0];
        assert_eq!(differences, expected);
        assert!(groups[0].pairs[1].is_self_pair());
    }

    #[test]
    fn compare_to_all_pairs_each_reference_with_the_whole_selection() {
        let selection = [
            representation(1, 0, false, 0.5),
            representation(2, 1, false, 0.8),
            representation(3, 1, false, 0.9),
            representation(4, 0, true, 0.4),
        ];
        let groups = pairs_needed(
            &selection,
            &by_layer_reference(CompareTo::All),
            FunctionalSource::Scores,
        )
        .unwrap();
        let keys: Vec<&GroupKey> = groups.iter().map(|group| &group.key).collect();
        assert_eq!(keys, [&GroupKey::Layer(0), &GroupKey::Layer(1)]);
        assert_eq!(ids(&groups[0]), vec![(1, 1), (1, 2), (1, 3), (1, 4)]);
        assert_eq!(ids(&groups[1]), vec![(3, 1), (3, 2), (3, 3), (3, 4)]);
    }

    #[test]
    fn all_pairs_takes_each_unordered_pair_once_lower_id_first() {
        let selection = [
            representation(9, 0, false, 0.5),
            representation(4, 0, true, 0.8),
            representation(6, 0, false, 0.9),
            representation(7, 1, false, 0.1),
        ];
        let protocol = Protocol::AllPairs {
            group_by: GroupBy::Layer,
            ordered: false,
        };
        let groups = pairs_needed(&selection, &protocol, FunctionalSource::Scores).unwrap();
        assert_eq!(groups[0].reference, None);
        assert_eq!(ids(&groups[0]), vec![(4, 6), (4, 9), (6, 9)]);
        assert!(groups[1].pairs.is_empty());
    }

    #[test]
    fn ordered_all_pairs_follows_each_pair_with_its_mirror_for_asymmetric_metrics() {
        let selection = [
            representation(3, 0, false, 0.5),
            representation(1, 0, false, 0.8),
            representation(2, 0, false, 0.9),
        ];
        let protocol = Protocol::AllPairs {
            group_by: GroupBy::Layer,
            ordered: true,
        };
        let groups = pairs_needed(&selection, &protocol, FunctionalSource::Scores).unwrap();
        let group = &groups[0];
        assert_eq!(
            ids(group),
            vec![(1, 2), (2, 1), (1, 3), (3, 1), (2, 3), (3, 2)]
        );
        let mirrored: Vec<bool> = group.pairs.iter().map(|pair| pair.mirrored).collect();
        assert_eq!(mirrored, [false, true, false, true, false, true]);
        assert_eq!(
            group.pairs[2].functional_difference,
            group.pairs[3].functional_difference
        );
        let symmetric = group
            .pairs
            .iter()
            .filter(|pair| pair.taken_by(true))
            .count();
        let asymmetric = group
            .pairs
            .iter()
            .filter(|pair| pair.taken_by(false))
            .count();
        assert_eq!((symmetric, asymmetric), (3, 6));
    }

    #[test]
    fn invalid_selections_are_refused() {
        let protocol = by_layer_reference(CompareTo::SameGroup);
        assert_eq!(
            pairs_needed(&[], &protocol, FunctionalSource::Scores),
            Err(ProtocolError::EmptySelection)
        );
        let only_derived = [
            representation(1, 0, false, 0.5),
            representation(2, 1, true, 0.5),
        ];
        assert_eq!(
            pairs_needed(&only_derived, &protocol, FunctionalSource::Scores),
            Err(ProtocolError::NoReference {
                group: GroupKey::Layer(1)
            })
        );
        let twice = [
            representation(1, 0, false, 0.5),
            representation(1, 0, false, 0.5),
        ];
        assert_eq!(
            pairs_needed(&twice, &protocol, FunctionalSource::Scores),
            Err(ProtocolError::DuplicateRepresentation(1))
        );
        let nan = [representation(1, 0, false, f64::NAN)];
        assert!(matches!(
            pairs_needed(&nan, &protocol, FunctionalSource::Scores),
            Err(ProtocolError::NonFiniteScore { id: 1, .. })
        ));
    }
}
