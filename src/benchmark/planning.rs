//! Planning a run (DESIGN "Benchmark protocols"): the selection's candidates resolved into members
//! with their scores and groups, what is left out and why, and which distances to queue.

use serde_json::{Value, json};

use super::protocol::{GroupKey, Protocol, ProtocolError, Representation, pairs_needed};
use super::results::ResultKey;
use crate::metrics::MetricId;
use crate::store::benchmarks::{Candidate, LeftOut, Member, PlannedRun};

/// Why a selection cannot be run.
#[derive(Debug, PartialEq, thiserror::Error)]
pub enum PlanError {
    #[error("the selection holds no representation of this dataset")]
    NothingSelected,
    /// Representations are selected, but none has the benchmark's score.
    #[error("no selected representation has the benchmark's score")]
    NoScore,
    #[error(transparent)]
    Protocol(#[from] ProtocolError),
}

/// The run of `protocol` over `candidates` (by ascending id) taking score `score_name`, for
/// `metrics`: a mirrored pair is queued only when one of them takes it.
pub fn plan(
    protocol: &Protocol,
    score_name: &str,
    metrics: &[MetricId],
    candidates: Vec<Candidate>,
) -> Result<PlannedRun, PlanError> {
    if candidates.is_empty() {
        return Err(PlanError::NothingSelected);
    }
    if candidates.iter().all(|candidate| candidate.score.is_none()) {
        return Err(PlanError::NoScore);
    }
    let mut members = Vec::new();
    let mut left_out = Vec::new();
    for candidate in candidates {
        let Some(score) = candidate.score else {
            left_out.push(LeftOut {
                representation: candidate.id,
                reason: format!(
                    "no score named {score_name:?}, on the representation or its model"
                ),
            });
            continue;
        };
        let group_by = protocol.group_by();
        match group_by.group_of(i64::from(candidate.layer), &candidate.model_metadata) {
            Some(group) => members.push(Representation {
                id: candidate.id,
                group,
                derived: candidate.derived,
                score,
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
    let groups = pairs_needed(&members, protocol)?;
    let any_asymmetric = metrics.iter().any(|metric| !metric.is_symmetric());
    let mut pairs: Vec<(i64, i64)> = groups
        .iter()
        .flat_map(|group| group.pairs.iter())
        .filter(|pair| !pair.is_self_pair() && pair.taken_by(!any_asymmetric))
        .map(|pair| (pair.first, pair.second))
        .collect();
    pairs.sort_unstable();
    pairs.dedup();
    Ok(PlannedRun {
        members: members
            .iter()
            .map(|member| Member {
                id: member.id,
                score: member.score,
                group_key: group_to_json(&member.group),
                derived: member.derived,
            })
            .collect(),
        left_out,
        pairs,
    })
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
        let plan = plan(&protocol, "acc", &[], candidates).unwrap();
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
        let symmetric = plan(&protocol, "acc", &[cka], candidates()).unwrap();
        assert_eq!(symmetric.pairs, [(1, 2)]);
        let mixed = plan(&protocol, "acc", &[cka, pwcca], candidates()).unwrap();
        assert_eq!(mixed.pairs, [(1, 2), (2, 1)]);
    }

    #[test]
    fn an_empty_or_scoreless_selection_is_refused() {
        let protocol = Protocol::AllPairs {
            group_by: GroupBy::None,
            ordered: false,
        };
        assert_eq!(
            plan(&protocol, "acc", &[], Vec::new()).unwrap_err(),
            PlanError::NothingSelected
        );
        let scoreless = vec![candidate(1, 0, None, json!({}))];
        assert_eq!(
            plan(&protocol, "acc", &[], scoreless).unwrap_err(),
            PlanError::NoScore
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
