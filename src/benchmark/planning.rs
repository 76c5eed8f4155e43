//! Planning a run (DESIGN "Benchmark protocols"): the selection's candidates resolved into members
//! with their scores (or models' outputs), groups and classes, what is left out and why, and which
//! distances to queue; and the groups of a stored run read back from its members.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use super::functional::ModelDifferences;
use super::monotonicity::{LayerMember, ModelStack, model_stacks};
use super::protocol::{
    FunctionalSource, Group, GroupKey, Protocol, ProtocolError, Representation, pairs_needed,
};
use super::results::ResultKey;
use super::separation::{ClassKey, Separation, SeparationGroup, separation_groups};
use crate::metrics::MetricId;
use crate::store::benchmarks::{Candidate, LeftOut, Member, PlannedRun};
use crate::store::jobs::stored_order;

/// Why a selection cannot be run.
#[derive(Debug, PartialEq, thiserror::Error)]
pub enum PlanError {
    #[error("the selection holds no representation of this dataset")]
    NothingSelected,
    /// Representations are selected, but none has the benchmark's score.
    #[error("no selected representation has the benchmark's score")]
    NoScore,
    /// Representations are selected, but no model of theirs has outputs on the dataset.
    #[error("no selected representation's model has outputs on the dataset")]
    NoOutputs,
    /// Representations are selected, but no model of theirs has the separation's class key.
    #[error("no selected representation's model has {0:?} in its metadata")]
    NoClass(String),
    #[error(transparent)]
    Protocol(#[from] ProtocolError),
}

/// What a run takes y from (PROTOCOLS "Functional differences").
#[derive(Clone, Copy, Debug)]
pub enum FunctionalInput<'a> {
    /// The score of this name (the candidates carry it, or not).
    Score(&'a str),
    /// The differences between the outputs of the candidates' models.
    Outputs(&'a ModelDifferences),
}

/// The run of a correlation `protocol` over `candidates` (by ascending id) taking y from
/// `functional`, for `metrics`: a mirrored pair is queued only when one of them takes it.
pub fn plan(
    protocol: &Protocol,
    functional: FunctionalInput,
    metrics: &[MetricId],
    candidates: Vec<Candidate>,
) -> Result<PlannedRun, PlanError> {
    if candidates.is_empty() {
        return Err(PlanError::NothingSelected);
    }
    let takes_part = |candidate: &Candidate| match functional {
        FunctionalInput::Score(_) => candidate.score.is_some(),
        FunctionalInput::Outputs(differences) => differences.has_outputs(candidate.model_id),
    };
    if !candidates.iter().any(takes_part) {
        return Err(match functional {
            FunctionalInput::Score(_) => PlanError::NoScore,
            FunctionalInput::Outputs(_) => PlanError::NoOutputs,
        });
    }
    let mut members = Vec::new();
    let mut left_out = Vec::new();
    for candidate in candidates {
        if !takes_part(&candidate) {
            let reason = match functional {
                FunctionalInput::Score(score_name) => {
                    format!("no score named {score_name:?}, on the representation or its model")
                }
                FunctionalInput::Outputs(_) => format!(
                    "its model ({}) has no outputs on the dataset",
                    candidate.model_id
                ),
            };
            left_out.push(LeftOut {
                representation: candidate.id,
                reason,
            });
            continue;
        }
        let Some(group_by) = protocol.group_by() else {
            return Err(ProtocolError::NoFunctional(protocol.kind()).into());
        };
        match group_by.group_of(i64::from(candidate.layer), &candidate.model_metadata) {
            Some(group) => members.push(Representation {
                id: candidate.id,
                group,
                derived: candidate.derived,
                score: candidate.score,
                model: candidate.model_id,
            }),
            None => left_out.push(LeftOut {
                representation: candidate.id,
                reason: format!(
                    "its model's metadata has no {:?} to group by",
                    String::from(group_by.clone())
                ),
            }),
        }
    }
    let source = match functional {
        FunctionalInput::Score(_) => FunctionalSource::Scores,
        FunctionalInput::Outputs(differences) => FunctionalSource::Models(differences),
    };
    let groups = pairs_needed(&members, protocol, source)?;
    let any_asymmetric = metrics.iter().any(|metric| !metric.is_symmetric());
    let pairs = queued(
        groups
            .iter()
            .flat_map(|group| group.pairs.iter())
            .filter(|pair| !pair.is_self_pair() && pair.taken_by(!any_asymmetric))
            .map(|pair| (pair.first, pair.second)),
        metrics,
    );
    let model_differences = match functional {
        FunctionalInput::Score(_) => None,
        FunctionalInput::Outputs(differences) => {
            let models: BTreeSet<i64> = members.iter().map(|member| member.model).collect();
            Some(differences.stored_among(&models))
        }
    };
    Ok(PlannedRun {
        members: members
            .iter()
            .map(|member| Member {
                id: member.id,
                model_id: member.model,
                score: member.score,
                group_key: group_to_json(&member.group),
                derived: member.derived,
            })
            .collect(),
        left_out,
        pairs,
        model_differences,
    })
}

/// The run of a separation benchmark: each candidate in its group and class, those without
/// either left out.
pub fn plan_separation(
    separation: &Separation,
    metrics: &[MetricId],
    candidates: Vec<Candidate>,
) -> Result<PlannedRun, PlanError> {
    if candidates.is_empty() {
        return Err(PlanError::NothingSelected);
    }
    let mut placed = Vec::new();
    let mut left_out = Vec::new();
    for candidate in candidates {
        match separation.place(i64::from(candidate.layer), &candidate.model_metadata) {
            Ok((group, class)) => placed.push((candidate, group, class)),
            Err(reason) => left_out.push(LeftOut {
                representation: candidate.id,
                reason: reason.to_string(),
            }),
        }
    }
    if placed.is_empty() {
        return Err(PlanError::NoClass(separation.by().to_owned()));
    }
    let members: Vec<Member> = placed
        .iter()
        .map(|(candidate, group, class)| {
            let mut group_key = group_to_json(group);
            group_key["class"] = class.0.clone();
            Member {
                id: candidate.id,
                model_id: candidate.model_id,
                score: None,
                group_key,
                derived: candidate.derived,
            }
        })
        .collect();
    let groups = separation_groups(
        placed
            .into_iter()
            .map(|(candidate, group, class)| (candidate.id, group, class)),
    );
    Ok(PlannedRun {
        members,
        left_out,
        pairs: queued(groups.iter().flat_map(SeparationGroup::pairs), metrics),
        model_differences: None,
    })
}

/// The run of a monotonicity benchmark: each model's layers in depth order; derived copies and
/// second representations of a layer left out.
pub fn plan_monotonicity(
    metrics: &[MetricId],
    candidates: Vec<Candidate>,
) -> Result<PlannedRun, PlanError> {
    if candidates.is_empty() {
        return Err(PlanError::NothingSelected);
    }
    let layer_members = candidates.iter().map(|candidate| LayerMember {
        id: candidate.id,
        model: candidate.model_id,
        model_name: candidate.model_name.clone(),
        layer: i64::from(candidate.layer),
        derived: candidate.derived,
    });
    let (stacks, left_out) = model_stacks(layer_members);
    let mut members: Vec<Member> = stacks
        .iter()
        .flat_map(|stack| {
            stack.layers.iter().map(|(layer, id)| Member {
                id: *id,
                model_id: stack.model,
                score: None,
                group_key: json!({"model_name": stack.name, "layer": layer}),
                derived: false,
            })
        })
        .collect();
    members.sort_by_key(|member| member.id);
    Ok(PlannedRun {
        members,
        left_out: left_out
            .into_iter()
            .map(|(representation, reason)| LeftOut {
                representation,
                reason: reason.to_string(),
            })
            .collect(),
        pairs: queued(stacks.iter().flat_map(ModelStack::pairs), metrics),
        model_differences: None,
    })
}

/// The distances to queue for `pairs` (first, second) under `metrics`, each once: when every
/// metric is symmetric, the two orders of a pair are one distance.
fn queued(pairs: impl Iterator<Item = (i64, i64)>, metrics: &[MetricId]) -> Vec<(i64, i64)> {
    let all_symmetric = metrics.iter().all(|metric| metric.is_symmetric());
    let mut pairs: Vec<(i64, i64)> = pairs
        .map(|(first, second)| stored_order(all_symmetric, first, second))
        .collect();
    pairs.sort_unstable();
    pairs.dedup();
    pairs
}

/// The groups of a stored run, as its protocol forms them.
#[derive(Clone, Debug, PartialEq)]
pub enum RunGroups {
    Correlation(Vec<Group>),
    Separation(Vec<SeparationGroup>),
    Monotonicity(Vec<ModelStack>),
}

impl RunGroups {
    /// The groups of a run of `protocol` from its stored `members`, y from `functional` for the
    /// correlation protocols; `Err` says why they no longer form the protocol's groups.
    pub fn of(
        protocol: &Protocol,
        members: &[Member],
        functional: FunctionalSource,
    ) -> Result<RunGroups, String> {
        let undecodable = || "a stored group key does not decode".to_owned();
        match protocol {
            Protocol::Reference { .. } | Protocol::AllPairs { .. } => {
                let representations = representations(members).ok_or_else(undecodable)?;
                pairs_needed(&representations, protocol, functional)
                    .map(RunGroups::Correlation)
                    .map_err(|error| error.to_string())
            }
            Protocol::Separation(_) => {
                let placed = members
                    .iter()
                    .map(|member| {
                        let group = group_from_json(&member.group_key)?;
                        let class = member.group_key.get("class")?.clone();
                        Some((member.id, group, ClassKey(class)))
                    })
                    .collect::<Option<Vec<_>>>()
                    .ok_or_else(undecodable)?;
                Ok(RunGroups::Separation(separation_groups(placed)))
            }
            Protocol::Monotonicity(_) => {
                let layer_members = members
                    .iter()
                    .map(|member| {
                        Some(LayerMember {
                            id: member.id,
                            model: member.model_id,
                            model_name: member.group_key.get("model_name")?.as_str()?.to_owned(),
                            layer: member.group_key.get("layer")?.as_i64()?,
                            derived: member.derived,
                        })
                    })
                    .collect::<Option<Vec<_>>>()
                    .ok_or_else(undecodable)?;
                Ok(RunGroups::Monotonicity(model_stacks(layer_members).0))
            }
        }
    }

    /// How the groups are named in query strings, in their order.
    pub fn labels(&self) -> Vec<String> {
        match self {
            RunGroups::Correlation(groups) => {
                groups.iter().map(|group| group.key.label()).collect()
            }
            RunGroups::Separation(groups) => groups.iter().map(|group| group.key.label()).collect(),
            RunGroups::Monotonicity(stacks) => {
                stacks.iter().map(|stack| stack.name.clone()).collect()
            }
        }
    }

    /// Every distance the run reads, as (first, second); self pairs left out, as they are 0.
    pub fn pairs(&self) -> Vec<(i64, i64)> {
        match self {
            RunGroups::Correlation(groups) => groups
                .iter()
                .flat_map(|group| group.pairs.iter())
                .filter(|pair| !pair.is_self_pair())
                .map(|pair| (pair.first, pair.second))
                .collect(),
            RunGroups::Separation(groups) => {
                groups.iter().flat_map(SeparationGroup::pairs).collect()
            }
            RunGroups::Monotonicity(stacks) => stacks.iter().flat_map(ModelStack::pairs).collect(),
        }
    }
}

/// The members of a stored run as the protocol sees them; `None` for a group key this module
/// did not write.
pub fn representations(members: &[Member]) -> Option<Vec<Representation>> {
    members
        .iter()
        .map(|member| {
            Some(Representation {
                id: member.id,
                group: group_from_json(&member.group_key)?,
                derived: member.derived,
                score: member.score,
                model: member.model_id,
            })
        })
        .collect()
}

/// Group keys are stored tagged, so that a metadata value "all" or "3" stays a metadata value.
fn group_to_json(group: &GroupKey) -> Value {
    match group {
        GroupKey::All => json!({"all": true}),
        GroupKey::Layer(layer) => json!({"layer": layer}),
        GroupKey::Metadata(value) => json!({"metadata": value}),
    }
}

fn group_from_json(value: &Value) -> Option<GroupKey> {
    if let Some(layer) = value.get("layer") {
        return layer.as_i64().map(GroupKey::Layer);
    }
    if let Some(text) = value.get("metadata") {
        return text
            .as_str()
            .map(|text| GroupKey::Metadata(text.to_owned()));
    }
    value.get("all").map(|_| GroupKey::All)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::benchmark::GroupBy;

    fn candidate(id: i64, layer: i32, score: Option<f64>, metadata: Value) -> Candidate {
        Candidate {
            id,
            model_id: id,
            model_name: format!("m{id}"),
            layer,
            derived: false,
            model_metadata: metadata,
            score,
        }
    }

    #[test]
    fn members_without_score_or_group_are_left_out_with_the_reason() {
        let protocol = Protocol::AllPairs {
            group_by: GroupBy::Metadata("seed".into()),
            ordered: false,
        };
        let candidates = vec![
            candidate(1, 0, Some(0.5), json!({"seed": 1})),
            candidate(2, 0, None, json!({"seed": 1})),
            candidate(3, 0, Some(0.7), json!({})),
            candidate(4, 1, Some(0.9), json!({"seed": 1})),
        ];
        let plan = plan(&protocol, FunctionalInput::Score("acc"), &[], candidates).unwrap();
        let ids: Vec<i64> = plan.members.iter().map(|member| member.id).collect();
        assert_eq!(ids, [1, 4]);
        assert_eq!(plan.members[0].group_key, json!({"metadata": "1"}));
        let left_out: Vec<i64> = plan
            .left_out
            .iter()
            .map(|left| left.representation)
            .collect();
        assert_eq!(left_out, [2, 3]);
        assert!(plan.left_out[0].reason.contains("\"acc\""));
        assert!(plan.left_out[1].reason.contains("\"seed\""));
        assert_eq!(plan.pairs, [(1, 4)]);
        let back = representations(&plan.members).unwrap();
        assert_eq!(back[1].group, GroupKey::Metadata("1".into()));
    }

    #[test]
    fn mirrored_pairs_are_queued_only_for_an_asymmetric_metric() {
        let protocol = Protocol::AllPairs {
            group_by: GroupBy::None,
            ordered: true,
        };
        let candidates = || {
            vec![
                candidate(1, 0, Some(0.5), json!({})),
                candidate(2, 0, Some(0.7), json!({})),
            ]
        };
        let cka: MetricId = "cka".parse().unwrap();
        let pwcca: MetricId = "pwcca".parse().unwrap();
        let symmetric = plan(
            &protocol,
            FunctionalInput::Score("acc"),
            &[cka],
            candidates(),
        )
        .unwrap();
        assert_eq!(symmetric.pairs, [(1, 2)]);
        let mixed = plan(
            &protocol,
            FunctionalInput::Score("acc"),
            &[cka, pwcca],
            candidates(),
        )
        .unwrap();
        assert_eq!(mixed.pairs, [(1, 2), (2, 1)]);
    }

    #[test]
    fn an_empty_or_scoreless_selection_is_refused() {
        let protocol = Protocol::AllPairs {
            group_by: GroupBy::None,
            ordered: false,
        };
        assert_eq!(
            plan(&protocol, FunctionalInput::Score("acc"), &[], Vec::new()).unwrap_err(),
            PlanError::NothingSelected
        );
        let scoreless = vec![candidate(1, 0, None, json!({}))];
        assert_eq!(
            plan(&protocol, FunctionalInput::Score("acc"), &[], scoreless).unwrap_err(),
            PlanError::NoScore
        );
    }

    #[test]
    fn outputs_give_y_between_models_and_models_without_them_are_left_out() {
        use std::collections::BTreeMap;

        use ndarray::array;

        use crate::benchmark::{OutputsDifference, model_differences};
        use crate::store::benchmarks::ModelDifference;

        let protocol = Protocol::AllPairs {
            group_by: GroupBy::Layer,
            ordered: false,
        };
        let outputs = BTreeMap::from([
            (10, Some(array![[1.0, 0.0], [0.0, 1.0]])),
            (20, Some(array![[1.0, 0.0], [1.0, 0.0]])),
            (30, None),
        ]);
        let differences = model_differences(OutputsDifference::Disagreement, &outputs).unwrap();
        let of_model = |id: i64, model_id: i64| Candidate {
            model_id,
            ..candidate(id, 0, None, json!({}))
        };
        let candidates = vec![
            of_model(1, 10),
            of_model(2, 10),
            of_model(3, 20),
            of_model(4, 30),
        ];
        let plan = plan(
            &protocol,
            FunctionalInput::Outputs(&differences),
            &[],
            candidates,
        )
        .unwrap();
        let ids: Vec<i64> = plan.members.iter().map(|member| member.id).collect();
        assert_eq!(ids, [1, 2, 3]);
        assert_eq!(plan.left_out[0].representation, 4);
        assert!(plan.left_out[0].reason.contains("no outputs"));
        assert_eq!(plan.pairs, [(1, 2), (1, 3), (2, 3)]);
        assert_eq!(
            plan.model_differences,
            Some(vec![ModelDifference {
                a: 10,
                b: 20,
                value: 0.5
            }])
        );
        let none = vec![of_model(5, 30)];
        assert_eq!(
            super::plan(&protocol, FunctionalInput::Outputs(&differences), &[], none).unwrap_err(),
            PlanError::NoOutputs
        );
    }

    #[test]
    fn group_keys_round_trip_through_their_stored_form() {
        for key in [
            GroupKey::All,
            GroupKey::Layer(3),
            GroupKey::Metadata("all".into()),
            GroupKey::Metadata("3".into()),
        ] {
            assert_eq!(group_from_json(&group_to_json(&key)), Some(key));
        }
    }
}
