//! What y is for a pair of representations (PROTOCOLS "Functional differences"): the difference
//! of a score, or a difference between the two models' outputs.

use std::collections::{BTreeMap, BTreeSet};

use ndarray::Array2;
use serde::{Deserialize, Serialize};

use crate::stats::functional::{OutputsError, disagreement, jensen_shannon};
use crate::store::benchmarks::ModelDifference;

/// A benchmark's `functional`, as a client writes it: `{"kind": "score_difference", "score":
/// NAME}`, `{"kind": "disagreement"}` or `{"kind": "jsd"}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Functional {
    /// y = |f(a) − f(b)| for the score f of that name.
    ScoreDifference { score: String },
    /// The fraction of inputs whose predicted class differs between the two models.
    // Braces rather than unit variants: serde ignores unknown fields beside a unit variant's tag.
    Disagreement {},
    /// The mean base-2 Jensen–Shannon divergence between the two models' softmax outputs.
    Jsd {},
}

/// The two functional differences computed from model outputs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputsDifference {
    Disagreement,
    Jsd,
}

impl Functional {
    /// The score whose differences are y, when y is a score difference.
    pub fn score(&self) -> Option<&str> {
        match self {
            Functional::ScoreDifference { score } => Some(score),
            Functional::Disagreement {} | Functional::Jsd {} => None,
        }
    }

    /// What y is, in a few words for a reader: `|Δ probe|`, `disagreement`, `JSD`.
    pub fn y_label(&self) -> String {
        match self {
            Functional::ScoreDifference { score } => format!("|Δ {score}|"),
            Functional::Disagreement {} => "disagreement of the outputs".to_owned(),
            Functional::Jsd {} => "JSD of the outputs".to_owned(),
        }
    }

    /// How y is computed from model outputs, when it is.
    pub fn outputs_difference(&self) -> Option<OutputsDifference> {
        match self {
            Functional::ScoreDifference { .. } => None,
            Functional::Disagreement {} => Some(OutputsDifference::Disagreement),
            Functional::Jsd {} => Some(OutputsDifference::Jsd),
        }
    }
}

/// y between models from their outputs: defined for every two models that have outputs, 0 for a
/// model against itself, and the same in both orders.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ModelDifferences {
    models: BTreeSet<i64>,
    /// Keyed (lower id, higher id).
    values: BTreeMap<(i64, i64), f64>,
}

impl ModelDifferences {
    /// Whether the model has outputs, and so takes part.
    pub fn has_outputs(&self, model: i64) -> bool {
        self.models.contains(&model)
    }

    /// y between the two models; `None` when either has no outputs.
    pub fn between(&self, first: i64, second: i64) -> Option<f64> {
        if first == second {
            return self.has_outputs(first).then_some(0.0);
        }
        self.values
            .get(&(first.min(second), first.max(second)))
            .copied()
    }

    /// The values among `models` only, as a run stores them.
    pub fn stored_among(&self, models: &BTreeSet<i64>) -> Vec<ModelDifference> {
        self.values
            .iter()
            .filter(|((a, b), _)| models.contains(a) && models.contains(b))
            .map(|(&(a, b), &value)| ModelDifference { a, b, value })
            .collect()
    }

    /// The differences a run stored, among `models` (its members' models).
    pub fn from_stored(models: BTreeSet<i64>, stored: &[ModelDifference]) -> ModelDifferences {
        let values = stored
            .iter()
            .map(|difference| {
                let (a, b) = (difference.a, difference.b);
                ((a.min(b), a.max(b)), difference.value)
            })
            .collect();
        ModelDifferences { models, values }
    }
}

/// y for every two of the models with outputs (`None`: the model has none), upcast to f64.
pub fn model_differences(
    kind: OutputsDifference,
    outputs: &BTreeMap<i64, Option<Array2<f64>>>,
) -> Result<ModelDifferences, OutputsError> {
    let present: Vec<(i64, &Array2<f64>)> = outputs
        .iter()
        .filter_map(|(&model, logits)| logits.as_ref().map(|logits| (model, logits)))
        .collect();
    let mut values = BTreeMap::new();
    for (i, (first, first_logits)) in present.iter().enumerate() {
        for (second, second_logits) in &present[i + 1..] {
            let value = match kind {
                OutputsDifference::Disagreement => {
                    disagreement(first_logits.view(), second_logits.view())?
                }
                OutputsDifference::Jsd => {
                    jensen_shannon(first_logits.view(), second_logits.view())?
                }
            };
            values.insert((*first, *second), value);
        }
    }
    Ok(ModelDifferences {
        models: present.iter().map(|(model, _)| *model).collect(),
        values,
    })
}

#[cfg(test)]
mod tests {
    use ndarray::array;

    use super::*;

    #[test]
    fn functionals_parse_from_their_tagged_form() {
        let parse = |json: &str| serde_json::from_str::<Functional>(json);
        assert_eq!(
            parse(r#"{"kind": "score_difference", "score": "acc"}"#).unwrap(),
            Functional::ScoreDifference {
                score: "acc".into()
            }
        );
        assert_eq!(
            parse(r#"{"kind": "jsd"}"#).unwrap().outputs_difference(),
            Some(OutputsDifference::Jsd)
        );
        assert!(parse(r#"{"kind": "disagreement", "score": "acc"}"#).is_err());
        assert!(parse(r#"{"kind": "score_difference"}"#).is_err());
        assert!(parse(r#"{"kind": "kl"}"#).is_err());
    }

    #[test]
    fn differences_cover_the_models_with_outputs_in_both_orders() {
        let outputs = BTreeMap::from([
            (3, Some(array![[1.0, 0.0], [0.0, 1.0]])),
            (1, Some(array![[1.0, 0.0], [1.0, 0.0]])),
            (2, None),
        ]);
        let differences = model_differences(OutputsDifference::Disagreement, &outputs).unwrap();
        assert_eq!(differences.between(1, 3), Some(0.5));
        assert_eq!(differences.between(3, 1), Some(0.5));
        assert_eq!(differences.between(3, 3), Some(0.0));
        assert_eq!(differences.between(1, 2), None);
        assert_eq!(differences.between(2, 2), None);
        assert!(!differences.has_outputs(2));
        let stored = differences.stored_among(&BTreeSet::from([1, 3]));
        assert_eq!(
            stored,
            [ModelDifference {
                a: 1,
                b: 3,
                value: 0.5
            }]
        );
        let back = ModelDifferences::from_stored(BTreeSet::from([1, 3]), &stored);
        assert_eq!(back, differences_without(differences.clone(), 2));
    }

    fn differences_without(mut differences: ModelDifferences, model: i64) -> ModelDifferences {
        differences.models.remove(&model);
        differences
    }

    #[test]
    fn outputs_of_different_shapes_are_refused() {
        let outputs = BTreeMap::from([
            (1, Some(array![[1.0, 0.0, 0.0]])),
            (2, Some(array![[1.0, 0.0]])),
        ]);
        assert!(matches!(
            model_differences(OutputsDifference::Jsd, &outputs),
            Err(OutputsError::ShapeMismatch { .. })
        ));
    }
}
