//! The separation protocol (PROTOCOLS "Separation", ReSi tests 3–5): within each group, models
//! fall into design classes by the value of a metadata key, and a good metric puts members of a
//! class closer to each other than to members of other classes. What the protocol asks of a
//! client, the pairs it needs, and its results from the distances.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use super::figure::{Counted, Totals, figure, scatter_row, value_of};
use super::protocol::{GroupBy, GroupKey};
use super::results::{DistanceOutcome, ScatterRow};
use crate::stats::{ClassSeparation, GroupSeparation, SeparationFigures, mean_over_groups};

/// `{"kind": "separation", "by": KEY, "group_by": layer|none|KEY2}` without its `kind`: classes
/// by the metadata key `by`, within the groups of `group_by`. Always valid once built.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "SeparationRequest")]
pub struct Separation {
    by: String,
    group_by: GroupBy,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SeparationRequest {
    by: String,
    group_by: GroupBy,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SeparationError {
    #[error("separation needs \"by\": the metadata key whose values are the design classes")]
    EmptyBy,
    #[error(
        "separation cannot group by its class key {0:?}: every group would hold one class; \
         group by \"layer\", \"none\" or another metadata key"
    )]
    GroupByIsBy(String),
}

impl TryFrom<SeparationRequest> for Separation {
    type Error = SeparationError;

    fn try_from(request: SeparationRequest) -> Result<Self, Self::Error> {
        Separation::new(request.by, request.group_by)
    }
}

/// Why a representation takes no part in a separation benchmark.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SeparationLeftOut {
    #[error("its model's metadata has no {0:?} to sort it into a class")]
    NoClass(String),
    #[error("its model's metadata has no {0:?} to group by")]
    NoGroup(String),
}

impl Separation {
    pub fn new(by: String, group_by: GroupBy) -> Result<Separation, SeparationError> {
        if by.is_empty() {
            return Err(SeparationError::EmptyBy);
        }
        if group_by == GroupBy::Metadata(by.clone()) {
            return Err(SeparationError::GroupByIsBy(by));
        }
        Ok(Separation { by, group_by })
    }

    pub fn by(&self) -> &str {
        &self.by
    }

    pub fn group_by(&self) -> &GroupBy {
        &self.group_by
    }

    /// The group and class of a representation at `layer` of a model with `model_metadata`.
    pub fn place(
        &self,
        layer: i64,
        model_metadata: &Value,
    ) -> Result<(GroupKey, ClassKey), SeparationLeftOut> {
        let class = match model_metadata.get(&self.by) {
            None | Some(Value::Null) => return Err(SeparationLeftOut::NoClass(self.by.clone())),
            Some(value) => ClassKey(value.clone()),
        };
        let group = self
            .group_by
            .group_of(layer, model_metadata)
            .ok_or_else(|| SeparationLeftOut::NoGroup(String::from(self.group_by.clone())))?;
        Ok((group, class))
    }
}

/// A design class: the metadata value as the model carries it, serialised as that JSON value.
/// Numbers order and compare by value (0 and 0.0 are one class), before any other kind of value,
/// which orders by its compact JSON text.
#[derive(Clone, Debug)]
pub struct ClassKey(pub Value);

impl ClassKey {
    fn sort_key(&self) -> (Option<f64>, String) {
        match &self.0 {
            Value::Number(number) => (number.as_f64(), String::new()),
            other => (None, other.to_string()),
        }
    }
}

impl Ord for ClassKey {
    fn cmp(&self, other: &Self) -> Ordering {
        let (a_number, a_text) = self.sort_key();
        let (b_number, b_text) = other.sort_key();
        match (a_number, b_number) {
            (Some(a), Some(b)) => a.total_cmp(&b),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => a_text.cmp(&b_text),
        }
    }
}

impl PartialOrd for ClassKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for ClassKey {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other).is_eq()
    }
}

impl Eq for ClassKey {}

impl Serialize for ClassKey {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for ClassKey {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<ClassKey, D::Error> {
        Value::deserialize(deserializer).map(ClassKey)
    }
}

/// One group of a separation benchmark: its members by ascending id, with their classes.
#[derive(Clone, Debug, PartialEq)]
pub struct SeparationGroup {
    pub key: GroupKey,
    pub members: Vec<(i64, ClassKey)>,
}

impl SeparationGroup {
    /// The distances the group's figures read, each as (first argument, second argument):
    /// in-class pairs lower id first, cross pairs (a, b) from each member a to every member b of
    /// another class, so both orders of each cross pair.
    pub fn pairs(&self) -> Vec<(i64, i64)> {
        let mut pairs = Vec::new();
        for (i, (a, class_a)) in self.members.iter().enumerate() {
            for (b, class_b) in &self.members[i + 1..] {
                pairs.push((*a, *b));
                if class_a != class_b {
                    pairs.push((*b, *a));
                }
            }
        }
        pairs
    }

    /// The points behind the group's figures: x = d(first, second), y = 1 across classes and 0
    /// within one; each unordered pair once for a `symmetric` metric.
    pub fn scatter_rows(
        &self,
        symmetric: bool,
        distance: impl Fn(i64, i64) -> Option<DistanceOutcome>,
    ) -> Vec<ScatterRow> {
        let class_of = |id: i64| {
            self.members
                .iter()
                .find(|(member, _)| *member == id)
                .map(|(_, class)| class)
        };
        self.pairs()
            .into_iter()
            .filter(|(first, second)| !symmetric || first < second)
            .filter_map(|(first, second)| {
                let across = class_of(first) != class_of(second);
                scatter_row(first, second, f64::from(u8::from(across)), &distance)
            })
            .collect()
    }
}

/// The groups of a separation benchmark from its members (id, group, class), in ascending group
/// order.
pub fn separation_groups(
    members: impl IntoIterator<Item = (i64, GroupKey, ClassKey)>,
) -> Vec<SeparationGroup> {
    let mut groups: BTreeMap<GroupKey, Vec<(i64, ClassKey)>> = BTreeMap::new();
    for (id, group, class) in members {
        groups.entry(group).or_default().push((id, class));
    }
    groups
        .into_iter()
        .map(|(key, mut members)| {
            members.sort_by_key(|(id, _)| *id);
            SeparationGroup { key, members }
        })
        .collect()
}

/// One class of one group for one metric.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClassResult {
    pub class: ClassKey,
    /// In-class pairs: the class's unordered pairs of members.
    pub n_in: usize,
    /// Cross pairs: each member against each member of another class.
    pub n_cross: usize,
    pub auprc: Option<f64>,
    pub violation_rate: Option<f64>,
    /// The AUPRC of an uninformative score: the fraction of in-class pairs.
    pub chance: Option<f64>,
    /// Why the class's figures are null.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// One group for one metric: the means over its defined classes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SeparationGroupResult {
    pub group: GroupKey,
    pub auprc: Option<f64>,
    pub violation_rate: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Distances refused or not computed yet; the classes that need one have no figures.
    #[serde(flatten)]
    pub counted: Counted,
    pub classes: Vec<ClassResult>,
}

/// One metric's separation: the benchmark value is the mean AUPRC over groups, with the mean
/// violation rate beside it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SeparationResult {
    pub auprc: Option<f64>,
    pub violation_rate: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(flatten)]
    pub totals: Totals,
    pub groups: Vec<SeparationGroupResult>,
}

/// One metric's separation over `groups`, from a distance lookup `(first, second)` (`None`: not
/// computed yet). Per class, per group and overall, AUPRC and violation rate are defined
/// together, so one `reason` explains both.
pub fn separation_result(
    groups: &[SeparationGroup],
    distance: impl Fn(i64, i64) -> Option<DistanceOutcome>,
) -> SeparationResult {
    let group_results: Vec<SeparationGroupResult> = groups
        .iter()
        .map(|group| group_result(group, &distance))
        .collect();
    let (auprc, reason) = figure(mean_over_groups(
        group_results.iter().map(|group| defined(group.auprc)),
    ));
    let (violation_rate, _) = figure(mean_over_groups(
        group_results
            .iter()
            .map(|group| defined(group.violation_rate)),
    ));
    SeparationResult {
        auprc,
        violation_rate,
        reason,
        totals: Totals::of(group_results.iter().map(|group| group.counted)),
        groups: group_results,
    }
}

fn defined(value: Option<f64>) -> Result<f64, crate::stats::Undefined> {
    value.ok_or(crate::stats::Undefined::NoDefinedGroup)
}

fn group_result(
    group: &SeparationGroup,
    distance: &impl Fn(i64, i64) -> Option<DistanceOutcome>,
) -> SeparationGroupResult {
    let GroupSeparation {
        classes,
        auprc,
        violation_rate,
    } = crate::stats::separation(&group.members, |a, b| value_of(distance(a, b)));
    let (auprc, reason) = figure(auprc);
    let (violation_rate, _) = figure(violation_rate);
    SeparationGroupResult {
        group: group.key.clone(),
        auprc,
        violation_rate,
        reason,
        counted: Counted::of(group.pairs(), distance),
        classes: classes.into_iter().map(class_result).collect(),
    }
}

fn class_result(class: ClassSeparation<ClassKey>) -> ClassResult {
    let (figures, reason) = figure(class.figures);
    let field = |value: fn(&SeparationFigures) -> f64| figures.as_ref().map(value);
    ClassResult {
        n_in: class.in_class_pairs,
        n_cross: class.cross_pairs,
        auprc: field(|figures| figures.auprc),
        violation_rate: field(|figures| figures.violation_rate),
        chance: field(|figures| figures.chance),
        reason,
        class: class.class,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::stats::Undefined;

    fn parse(json: Value) -> Result<Separation, serde_json::Error> {
        serde_json::from_value(json)
    }

    #[test]
    fn the_request_is_validated_with_clear_errors() {
        let good = parse(json!({"by": "label_randomization", "group_by": "layer"})).unwrap();
        assert_eq!(good.by(), "label_randomization");
        assert_eq!(good.group_by(), &GroupBy::Layer);
        assert_eq!(
            serde_json::to_value(&good).unwrap(),
            json!({"by": "label_randomization", "group_by": "layer"})
        );
        let empty = parse(json!({"by": "", "group_by": "layer"})).unwrap_err();
        assert!(empty.to_string().contains("needs \"by\""), "{empty}");
        let same = parse(json!({"by": "cls", "group_by": "cls"})).unwrap_err();
        assert!(same.to_string().contains("one class"), "{same}");
        assert!(parse(json!({"by": "cls", "group_by": "layer", "ordered": true})).is_err());
        assert!(parse(json!({"group_by": "layer"})).is_err());
    }

    #[test]
    fn representations_without_a_class_or_group_are_left_out() {
        let protocol = Separation::new("cls".into(), GroupBy::Metadata("arch".into())).unwrap();
        assert_eq!(
            protocol.place(2, &json!({"cls": 1, "arch": "vit"})),
            Ok((GroupKey::Metadata("vit".into()), ClassKey(json!(1))))
        );
        assert_eq!(
            protocol.place(2, &json!({"cls": null, "arch": "vit"})),
            Err(SeparationLeftOut::NoClass("cls".into()))
        );
        assert_eq!(
            protocol.place(2, &json!({"cls": "a"})),
            Err(SeparationLeftOut::NoGroup("arch".into()))
        );
    }

    #[test]
    fn classes_compare_numbers_by_value_before_text() {
        let mut keys = [json!("b"), json!(10), json!(2.5), json!("a"), json!(true)].map(ClassKey);
        keys.sort();
        let sorted: Vec<Value> = keys.iter().map(|key| key.0.clone()).collect();
        assert_eq!(
            sorted,
            [json!(2.5), json!(10), json!("a"), json!("b"), json!(true)]
        );
        assert_eq!(ClassKey(json!(0)), ClassKey(json!(0.0)));
    }

    fn two_class_group() -> SeparationGroup {
        let members = [(3, 0), (1, 0), (2, 1), (4, 1), (5, 2)]
            .map(|(id, class)| (id, GroupKey::Layer(0), ClassKey(json!(class))));
        let groups = separation_groups(members);
        assert_eq!(groups.len(), 1);
        groups.into_iter().next().unwrap()
    }

    #[test]
    fn pairs_cover_in_class_pairs_once_and_cross_pairs_both_ways() {
        let group = two_class_group();
        let ids: Vec<i64> = group.members.iter().map(|(id, _)| *id).collect();
        assert_eq!(ids, [1, 2, 3, 4, 5]);
        let mut pairs = group.pairs();
        pairs.sort();
        let in_class = [(1, 3), (2, 4)];
        for pair in in_class {
            assert!(pairs.contains(&pair));
            assert!(!pairs.contains(&(pair.1, pair.0)));
        }
        // 10 unordered pairs, 8 of them across classes and so asked both ways.
        assert_eq!(pairs.len(), 2 + 2 * 8);
        assert!(pairs.contains(&(5, 1)) && pairs.contains(&(1, 5)));
    }

    #[test]
    fn results_follow_the_statistics_and_explain_undefined_figures() {
        let group = two_class_group();
        // Members of one class sit close together: 0.1 within, 1 across.
        let class_of = |id: i64| [0, 0, 1, 0, 1, 2][id as usize];
        let distance = |a: i64, b: i64| {
            Some(DistanceOutcome::Value(if class_of(a) == class_of(b) {
                0.1
            } else {
                1.0
            }))
        };
        let result = separation_result(std::slice::from_ref(&group), distance);
        assert_eq!(
            (result.auprc, result.violation_rate),
            (Some(1.0), Some(0.0))
        );
        assert_eq!((result.totals.n_groups, result.totals.partial), (1, false));
        assert_eq!(result.reason, None);
        let classes = &result.groups[0].classes;
        assert_eq!(classes.len(), 3);
        assert_eq!((classes[0].n_in, classes[0].n_cross), (1, 6));
        assert_eq!(classes[0].chance, Some(1.0 / 7.0));
        assert_eq!(classes[2].auprc, None);
        assert_eq!(
            classes[2].reason,
            Some(Undefined::NoInClassPair.to_string())
        );
        let json = serde_json::to_value(&classes[2]).unwrap();
        assert_eq!(
            json,
            json!({"class": 2, "n_in": 0, "n_cross": 4, "auprc": null, "violation_rate": null,
                   "chance": null, "reason": Undefined::NoInClassPair.to_string()})
        );
        let stored: SeparationResult =
            serde_json::from_value(serde_json::to_value(&result).unwrap()).unwrap();
        assert_eq!(stored, result);
    }

    #[test]
    fn missing_and_refused_distances_are_counted_and_leave_classes_undefined() {
        let group = two_class_group();
        let distance = |a: i64, b: i64| match (a, b) {
            (1, 3) => None,
            (2, 4) => Some(DistanceOutcome::Refused),
            _ => Some(DistanceOutcome::Value(0.5)),
        };
        let result = separation_result(std::slice::from_ref(&group), distance);
        assert_eq!(
            (
                result.totals.counted.missing,
                result.totals.counted.refused,
                result.totals.partial
            ),
            (1, 1, true)
        );
        assert_eq!(result.auprc, None);
        assert_eq!(result.reason, Some(Undefined::NoDefinedGroup.to_string()));
        assert_eq!(
            result.groups[0].reason,
            Some(Undefined::NoDefinedClass.to_string())
        );
    }
}
