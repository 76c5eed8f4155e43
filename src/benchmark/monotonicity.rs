//! The monotonicity protocol (PROTOCOLS "Monotonicity", ReSi test 6): within one model, a
//! metric's distance from a layer should grow with the number of layers in between. Groups are
//! models; what the protocol asks of a client, the pairs it needs, and its results.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::figure::{Counted, Totals, figure, scatter_row, value_of};
use super::results::{DistanceOutcome, ScatterRow};
use crate::stats::{ModelMonotonicity, Undefined, mean_over_groups};

/// `{"kind": "monotonicity"}` without its `kind`: it takes no options.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Monotonicity {}

/// A selected representation as the monotonicity protocol sees it.
#[derive(Clone, Debug, PartialEq)]
pub struct LayerMember {
    pub id: i64,
    pub model: i64,
    pub model_name: String,
    pub layer: i64,
    /// Made by the service from another representation (a principal-component copy).
    pub derived: bool,
}

/// Why a representation takes no part in a monotonicity benchmark.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MonotonicityLeftOut {
    #[error("a derived copy shares its source's layer, so it has no place in the layer order")]
    Derived,
    #[error("representation {kept} already stands for its model's layer {layer}")]
    LayerTaken { layer: i64, kept: i64 },
}

/// One model's selected layers in depth order: the group of a monotonicity benchmark.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelStack {
    pub model: i64,
    pub name: String,
    /// (layer index, representation id) by ascending layer; positions 0..L−1 are what "layer
    /// distance" counts.
    pub layers: Vec<(i64, i64)>,
}

impl ModelStack {
    /// S[i][j] = d(layer i, layer j) for every ordered pair i ≠ j: the metrics that are not
    /// symmetric need both orders.
    pub fn pairs(&self) -> Vec<(i64, i64)> {
        let ids = self.layers.iter().map(|(_, id)| *id);
        ids.clone()
            .flat_map(|first| {
                ids.clone()
                    .filter(move |second| *second != first)
                    .map(move |second| (first, second))
            })
            .collect()
    }

    /// The points behind the model's figures: x = d(first, second), y = the number of layers
    /// between them in the stack; each unordered pair once for a `symmetric` metric.
    pub fn scatter_rows(
        &self,
        symmetric: bool,
        distance: impl Fn(i64, i64) -> Option<DistanceOutcome>,
    ) -> Vec<ScatterRow> {
        let position = |id: i64| self.layers.iter().position(|(_, member)| *member == id);
        self.pairs()
            .into_iter()
            .filter(|(first, second)| !symmetric || first < second)
            .filter_map(|(first, second)| {
                let apart = position(first)?.abs_diff(position(second)?);
                scatter_row(first, second, apart as f64, &distance)
            })
            .collect()
    }
}

/// The models of a monotonicity benchmark by ascending id, and the representations left out
/// with why (by ascending id).
pub fn model_stacks(
    members: impl IntoIterator<Item = LayerMember>,
) -> (Vec<ModelStack>, Vec<(i64, MonotonicityLeftOut)>) {
    let mut members: Vec<LayerMember> = members.into_iter().collect();
    members.sort_by_key(|member| member.id);
    let mut stacks: BTreeMap<i64, (String, BTreeMap<i64, i64>)> = BTreeMap::new();
    let mut left_out = Vec::new();
    for member in members {
        if member.derived {
            left_out.push((member.id, MonotonicityLeftOut::Derived));
            continue;
        }
        let (_, layers) = stacks
            .entry(member.model)
            .or_insert_with(|| (member.model_name.clone(), BTreeMap::new()));
        if let Some(&kept) = layers.get(&member.layer) {
            let layer = member.layer;
            left_out.push((member.id, MonotonicityLeftOut::LayerTaken { layer, kept }));
        } else {
            layers.insert(member.layer, member.id);
        }
    }
    let stacks = stacks
        .into_iter()
        .map(|(model, (name, layers))| ModelStack {
            model,
            name,
            layers: layers.into_iter().collect(),
        })
        .collect();
    (stacks, left_out)
}

/// A model's or a metric's two figures, each `null` with its reason when undefined.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MonotonicityFigures {
    pub correlation: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_reason: Option<String>,
    pub violation_rate: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub violation_rate_reason: Option<String>,
}

impl MonotonicityFigures {
    fn of(correlation: Result<f64, Undefined>, violation_rate: Result<f64, Undefined>) -> Self {
        let (correlation, correlation_reason) = figure(correlation);
        let (violation_rate, violation_rate_reason) = figure(violation_rate);
        MonotonicityFigures {
            correlation,
            correlation_reason,
            violation_rate,
            violation_rate_reason,
        }
    }
}

/// One model for one metric.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelResult {
    /// The model's name.
    pub group: String,
    pub model: i64,
    #[serde(flatten)]
    pub figures: MonotonicityFigures,
    pub n_layers: usize,
    #[serde(flatten)]
    pub counted: Counted,
}

/// One metric's monotonicity: the benchmark value is the mean correlation over models, with the
/// mean violation rate beside it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MonotonicityResult {
    #[serde(flatten)]
    pub figures: MonotonicityFigures,
    #[serde(flatten)]
    pub totals: Totals,
    pub groups: Vec<ModelResult>,
}

/// One metric's monotonicity over `stacks`, from a distance lookup `(first, second)` (`None`: not
/// computed yet). A model that needs a refused or missing distance has no figures.
pub fn monotonicity_result(
    stacks: &[ModelStack],
    distance: impl Fn(i64, i64) -> Option<DistanceOutcome>,
) -> MonotonicityResult {
    let groups: Vec<ModelResult> = stacks
        .iter()
        .map(|stack| model_result(stack, &distance))
        .collect();
    let mean = |field: fn(&MonotonicityFigures) -> Option<f64>| {
        mean_over_groups(
            groups
                .iter()
                .map(|group| field(&group.figures).ok_or(Undefined::NoDefinedGroup)),
        )
    };
    MonotonicityResult {
        figures: MonotonicityFigures::of(
            mean(|figures| figures.correlation),
            mean(|figures| figures.violation_rate),
        ),
        totals: Totals::of(groups.iter().map(|group| group.counted)),
        groups,
    }
}

fn model_result(
    stack: &ModelStack,
    distance: &impl Fn(i64, i64) -> Option<DistanceOutcome>,
) -> ModelResult {
    let ModelMonotonicity {
        layers,
        correlation,
        violation_rate,
    } = crate::stats::monotonicity(stack.layers.len(), |i, j| {
        value_of(distance(stack.layers[i].1, stack.layers[j].1))
    });
    ModelResult {
        group: stack.name.clone(),
        model: stack.model,
        figures: MonotonicityFigures::of(correlation, violation_rate),
        n_layers: layers,
        counted: Counted::of(stack.pairs(), distance),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    fn member(id: i64, model: i64, layer: i64, derived: bool) -> LayerMember {
        LayerMember {
            id,
            model,
            model_name: format!("m{model}"),
            layer,
            derived,
        }
    }

    #[test]
    fn the_request_takes_no_options() {
        let parse = |json: Value| serde_json::from_value::<Monotonicity>(json);
        assert_eq!(parse(json!({})).unwrap(), Monotonicity {});
        assert!(parse(json!({"group_by": "layer"})).is_err());
        assert_eq!(serde_json::to_value(Monotonicity {}).unwrap(), json!({}));
    }

    #[test]
    fn models_stack_their_layers_in_depth_order_and_leave_copies_out() {
        let members = [
            member(7, 2, 0, false),
            member(3, 1, 2, false),
            member(1, 1, 5, false),
            member(2, 1, 0, false),
            member(9, 1, 2, true),
        ];
        let (stacks, left_out) = model_stacks(members);
        assert_eq!(stacks.len(), 2);
        assert_eq!(stacks[0].name, "m1");
        assert_eq!(stacks[0].layers, [(0, 2), (2, 3), (5, 1)]);
        assert_eq!(stacks[1].layers, [(0, 7)]);
        assert_eq!(left_out, [(9, MonotonicityLeftOut::Derived)]);
        let mut pairs = stacks[0].pairs();
        pairs.sort();
        assert_eq!(pairs, [(1, 2), (1, 3), (2, 1), (2, 3), (3, 1), (3, 2)]);
        assert!(stacks[1].pairs().is_empty());

        let (_, twice) = model_stacks([member(4, 1, 0, false), member(5, 1, 0, false)]);
        assert_eq!(
            twice,
            [(5, MonotonicityLeftOut::LayerTaken { layer: 0, kept: 4 })]
        );
    }

    #[test]
    fn results_per_model_and_means_with_reasons() {
        let (stacks, _) = model_stacks([
            member(1, 1, 0, false),
            member(2, 1, 1, false),
            member(3, 1, 2, false),
            member(4, 1, 3, false),
            member(5, 2, 0, false),
            member(6, 2, 1, false),
        ]);
        let layer_of = |id: i64| [0, 0, 1, 2, 3, 0, 1][id as usize] as f64;
        let distance =
            |a: i64, b: i64| Some(DistanceOutcome::Value((layer_of(a) - layer_of(b)).abs()));
        let result = monotonicity_result(&stacks, distance);
        let deep = &result.groups[0];
        assert_eq!(
            (deep.group.as_str(), deep.model, deep.n_layers),
            ("m1", 1, 4)
        );
        assert_eq!(
            (deep.figures.correlation, deep.figures.violation_rate),
            (Some(1.0), Some(0.0))
        );
        let shallow = &result.groups[1].figures;
        assert_eq!(shallow.correlation, None);
        assert_eq!(
            shallow.correlation_reason,
            Some(Undefined::NoDefinedCorrelation.to_string())
        );
        assert_eq!(
            shallow.violation_rate_reason,
            Some(Undefined::NoTriple { layers: 2 }.to_string())
        );
        // The mean leaves the undefined model out.
        assert_eq!(
            (result.figures.correlation, result.figures.violation_rate),
            (Some(1.0), Some(0.0))
        );
        assert_eq!((result.totals.n_groups, result.totals.partial), (2, false));
        let json = serde_json::to_value(&result).unwrap();
        assert!(json.get("correlation_reason").is_none());
        assert_eq!(json["groups"][1]["correlation"], Value::Null);
        let stored: MonotonicityResult = serde_json::from_value(json).unwrap();
        assert_eq!(stored, result);
    }

    #[test]
    fn a_missing_distance_leaves_its_model_without_figures() {
        let (stacks, _) = model_stacks((1..=3).map(|id| member(id, 1, id, false)));
        let distance = |a: i64, b: i64| match (a, b) {
            (3, 1) => None,
            (1, 2) => Some(DistanceOutcome::Refused),
            _ => Some(DistanceOutcome::Value(1.0)),
        };
        let result = monotonicity_result(&stacks, distance);
        assert_eq!(
            (
                result.totals.counted.missing,
                result.totals.counted.refused,
                result.totals.partial
            ),
            (1, 1, true)
        );
        assert_eq!(
            result.groups[0].figures.correlation_reason,
            Some(Undefined::MissingDistance.to_string())
        );
        assert_eq!(
            result.figures.correlation_reason,
            Some(Undefined::NoDefinedGroup.to_string())
        );
    }
}
