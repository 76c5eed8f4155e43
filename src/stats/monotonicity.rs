//! Layer monotonicity (README "Grounding tests"): within one model, a
//! metric's distance from a layer should grow with the number of layers in between.

use super::spearman::pearson_of_values;
use super::{ROUNDING_DECIMALS, Undefined, average_ranks, compare_values, round_to_decimals};

/// One model's figures over its L layers.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ModelMonotonicity {
    pub layers: usize,
    /// Mean of the defined Spearman ρ's between distance and layer distance, forward and backward
    /// from each layer.
    pub correlation: Result<f64, Undefined>,
    /// Violations over triples: S[i][j] > S[i][k] strictly, with j between i and k.
    pub violation_rate: Result<f64, Undefined>,
}

/// Monotonicity of one model from `distance(i, j)` = S[i][j] = d(layer i, layer j), layers at
/// positions 0..`layers` in layer-index order (`None` where a distance is missing). Distances are
/// rounded to 10 decimals.
///
/// For each source i, the forward list j = i+1..L−1 is correlated with j − i and the backward list
/// j = 0..i−1 with i − j; a list with fewer than 2 entries or constant distances has no ρ. The
/// triples are i < j < k (forward) and k < j < i (backward).
pub fn monotonicity(
    layers: usize,
    distance: impl Fn(usize, usize) -> Option<f64>,
) -> ModelMonotonicity {
    let mut matrix = vec![vec![0.0; layers]; layers];
    for (i, row) in matrix.iter_mut().enumerate() {
        for (j, entry) in row.iter_mut().enumerate() {
            if i == j {
                continue;
            }
            match distance(i, j) {
                Some(value) => *entry = round_to_decimals(value, ROUNDING_DECIMALS),
                None => {
                    return ModelMonotonicity {
                        layers,
                        correlation: Err(Undefined::MissingDistance),
                        violation_rate: Err(Undefined::MissingDistance),
                    };
                }
            }
        }
    }
    if matrix.iter().flatten().any(|value| !value.is_finite()) {
        return ModelMonotonicity {
            layers,
            correlation: Err(Undefined::NonFinite),
            violation_rate: Err(Undefined::NonFinite),
        };
    }
    ModelMonotonicity {
        layers,
        correlation: layer_correlation(&matrix),
        violation_rate: violation_rate(&matrix),
    }
}

fn layer_correlation(matrix: &[Vec<f64>]) -> Result<f64, Undefined> {
    let layers = matrix.len();
    let mut rhos = Vec::new();
    for (i, row) in matrix.iter().enumerate() {
        let forward: Vec<(f64, f64)> = (i + 1..layers).map(|j| (row[j], (j - i) as f64)).collect();
        let backward: Vec<(f64, f64)> = (0..i).map(|j| (row[j], (i - j) as f64)).collect();
        rhos.extend(
            [forward, backward]
                .iter()
                .filter_map(|list| rank_correlation(list)),
        );
    }
    if rhos.is_empty() {
        return Err(Undefined::NoDefinedCorrelation);
    }
    Ok(rhos.iter().sum::<f64>() / rhos.len() as f64)
}

/// Spearman ρ of a list of (distance, layer distance) with at least 2 entries and distances that
/// vary (layer distances always do); `None` otherwise.
fn rank_correlation(list: &[(f64, f64)]) -> Option<f64> {
    let first = list.first()?.0;
    if list.len() < 2
        || list
            .iter()
            .all(|(value, _)| compare_values(*value, first).is_eq())
    {
        return None;
    }
    let values = average_ranks(&list.iter().map(|pair| pair.0).collect::<Vec<_>>());
    let steps = average_ranks(&list.iter().map(|pair| pair.1).collect::<Vec<_>>());
    Some(pearson_of_values(&values, &steps))
}

fn violation_rate(matrix: &[Vec<f64>]) -> Result<f64, Undefined> {
    let layers = matrix.len();
    if layers < 3 {
        return Err(Undefined::NoTriple { layers });
    }
    let (mut violations, mut triples) = (0usize, 0usize);
    for (i, row) in matrix.iter().enumerate() {
        for j in 0..layers {
            for k in 0..layers {
                let forward = i < j && j < k;
                let backward = k < j && j < i;
                if forward || backward {
                    triples += 1;
                    violations += usize::from(row[j] > row[k]);
                }
            }
        }
    }
    Ok(violations as f64 / triples as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distance_growing_with_depth_is_perfectly_monotone() {
        let got = monotonicity(5, |i, j| Some((i as f64 - j as f64).abs().sqrt()));
        assert_eq!(got.correlation, Ok(1.0));
        assert_eq!(got.violation_rate, Ok(0.0));
        assert_eq!(got.layers, 5);
    }

    #[test]
    fn one_swapped_layer_gives_known_figures() {
        // Layers 0, 2, 1 in depth order: S[0][1] = 2 > S[0][2] = 1.
        let depth = [0.0, 2.0, 1.0];
        let got = monotonicity(3, |i, j| Some(f64::abs(depth[i] - depth[j])));
        // Lists: 0 → (2, 1) vs (1, 2): ρ = −1; 1 → forward (1) has one entry, backward (2) too;
        // 2 → backward j = 0, 1: (1, 1) is constant. So ρ = −1 alone.
        assert_eq!(got.correlation, Ok(-1.0));
        // Triples (0, 1, 2): 2 > 1 violates; (2, 1, 0): 1 > 1 does not.
        assert_eq!(got.violation_rate, Ok(0.5));
    }

    #[test]
    fn too_few_layers_or_missing_distances_say_why() {
        let two = monotonicity(2, |_, _| Some(1.0));
        assert_eq!(two.correlation, Err(Undefined::NoDefinedCorrelation));
        assert_eq!(two.violation_rate, Err(Undefined::NoTriple { layers: 2 }));
        let missing = monotonicity(4, |i, j| (i + j != 3).then_some(1.0));
        assert_eq!(missing.correlation, Err(Undefined::MissingDistance));
    }
}
