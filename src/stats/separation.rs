//! Separation of design classes (README "Grounding tests"): do a metric's
//! distances put models trained the same way closer to each other than to models trained
//! differently? Per class, AUPRC of "in-class" predicted from −x, and the violation rate.

use std::collections::BTreeMap;

use super::{ROUNDING_DECIMALS, Undefined, compare_values, mean_over_groups, round_to_decimals};

/// One class's figures, defined when it has an in-class pair and a cross pair.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SeparationFigures {
    /// Average precision of predicting "in-class" from the score −x.
    pub auprc: f64,
    /// Fraction of (in-class, cross) pairs of pairs whose in-class x ≥ the cross x.
    pub violation_rate: f64,
    /// The AUPRC of an uninformative score: the fraction of in-class pairs.
    pub chance: f64,
}

/// One class of one group.
#[derive(Clone, Debug, PartialEq)]
pub struct ClassSeparation<C> {
    pub class: C,
    pub in_class_pairs: usize,
    pub cross_pairs: usize,
    pub figures: Result<SeparationFigures, Undefined>,
}

/// One group: its classes, and the means over those that are defined.
#[derive(Clone, Debug, PartialEq)]
pub struct GroupSeparation<C> {
    pub classes: Vec<ClassSeparation<C>>,
    pub auprc: Result<f64, Undefined>,
    pub violation_rate: Result<f64, Undefined>,
}

/// Separation of the `members` (representation id, design class) of one group, classes in their
/// order, from `distance(a, b)` = d(a, b) (`None` where it is missing).
///
/// For a class g: in-class pairs are the unordered pairs of g's members, x = d(lower id, higher
/// id); cross pairs are every (a in g, b not in g), x = d(a, b). All x are rounded to 10 decimals.
/// A class without an in-class or a cross pair, or with a missing distance, is reported with the
/// reason and left out of the group's means.
pub fn separation<Id, C>(
    members: &[(Id, C)],
    distance: impl Fn(Id, Id) -> Option<f64>,
) -> GroupSeparation<C>
where
    Id: Copy + Ord,
    C: Clone + Ord,
{
    let mut by_class: BTreeMap<&C, Vec<Id>> = BTreeMap::new();
    for (id, class) in members {
        by_class.entry(class).or_default().push(*id);
    }
    let rounded = |a: Id, b: Id| distance(a, b).map(|x| round_to_decimals(x, ROUNDING_DECIMALS));
    let classes: Vec<ClassSeparation<C>> = by_class
        .iter()
        .map(|(&class, ids)| {
            let mut inside = ids.clone();
            inside.sort();
            let outside: Vec<Id> = members
                .iter()
                .filter(|(_, other)| other != class)
                .map(|(id, _)| *id)
                .collect();
            let in_class: Option<Vec<f64>> = inside
                .iter()
                .enumerate()
                .flat_map(|(i, &a)| inside[i + 1..].iter().map(move |&b| (a, b)))
                .map(|(a, b)| rounded(a, b))
                .collect();
            let cross: Option<Vec<f64>> = inside
                .iter()
                .flat_map(|&a| outside.iter().map(move |&b| (a, b)))
                .map(|(a, b)| rounded(a, b))
                .collect();
            let in_class_pairs = inside.len() * inside.len().saturating_sub(1) / 2;
            let cross_pairs = inside.len() * outside.len();
            let figures = match (in_class, cross) {
                (Some(in_class), Some(cross)) => class_figures(&in_class, &cross),
                _ => Err(Undefined::MissingDistance),
            };
            ClassSeparation {
                class: class.clone(),
                in_class_pairs,
                cross_pairs,
                figures,
            }
        })
        .collect();
    let mean_of = |field: fn(&SeparationFigures) -> f64| {
        mean_over_groups(classes.iter().map(|class| class.figures.map(|f| field(&f))))
            .map_err(|_| Undefined::NoDefinedClass)
    };
    GroupSeparation {
        auprc: mean_of(|figures| figures.auprc),
        violation_rate: mean_of(|figures| figures.violation_rate),
        classes,
    }
}

/// The figures of one class from its in-class and cross distances.
pub fn class_figures(in_class: &[f64], cross: &[f64]) -> Result<SeparationFigures, Undefined> {
    if in_class.is_empty() {
        return Err(Undefined::NoInClassPair);
    }
    if cross.is_empty() {
        return Err(Undefined::NoCrossPair);
    }
    if !in_class.iter().chain(cross).all(|x| x.is_finite()) {
        return Err(Undefined::NonFinite);
    }
    Ok(SeparationFigures {
        auprc: average_precision(in_class, cross),
        violation_rate: violation_rate(in_class, cross),
        chance: in_class.len() as f64 / (in_class.len() + cross.len()) as f64,
    })
}

/// scikit-learn's `average_precision_score(labels, −x)` with in-class pairs as positives: pairs by
/// score descending (x ascending), tied scores one threshold, AP = Σ_k (R_k − R_{k−1})·P_k.
fn average_precision(in_class: &[f64], cross: &[f64]) -> f64 {
    let mut labelled: Vec<(f64, bool)> = in_class
        .iter()
        .map(|&x| (x, true))
        .chain(cross.iter().map(|&x| (x, false)))
        .collect();
    labelled.sort_by(|a, b| compare_values(a.0, b.0));
    let positives = in_class.len() as f64;
    let (mut true_positives, mut predicted, mut precision_sum) = (0usize, 0usize, 0.0);
    for threshold in labelled.chunk_by(|a, b| compare_values(a.0, b.0).is_eq()) {
        let new_positives = threshold.iter().filter(|(_, positive)| *positive).count();
        true_positives += new_positives;
        predicted += threshold.len();
        precision_sum += new_positives as f64 * (true_positives as f64 / predicted as f64);
    }
    precision_sum / positives
}

/// Fraction of (in-class, cross) combinations with in-class x ≥ cross x.
fn violation_rate(in_class: &[f64], cross: &[f64]) -> f64 {
    let mut sorted = cross.to_vec();
    sorted.sort_by(|a, b| compare_values(*a, *b));
    let violations: usize = in_class
        .iter()
        .map(|&x| sorted.partition_point(|&c| compare_values(c, x).is_le()))
        .sum();
    violations as f64 / (in_class.len() * cross.len()) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn average_precision_matches_scikit_learn() {
        // sklearn.metrics.average_precision_score([1, 0, 1, 0, 0, 1], -x) (scikit-learn 1.9.1):
        // x = [0.1, 0.2, 0.3, 0.3, 0.5, 0.6] in that label order.
        let got = average_precision(&[0.1, 0.3, 0.6], &[0.2, 0.3, 0.5]);
        assert!((got - 0.6666666666666667).abs() < 1e-15, "{got}");
    }

    #[test]
    fn ties_count_as_violations_and_form_one_threshold() {
        let figures = class_figures(&[1.0], &[1.0, 2.0]).unwrap();
        assert_eq!(figures.violation_rate, 0.5);
        // One threshold holds the in-class pair and a cross pair: precision ½ at recall 1.
        assert_eq!(figures.auprc, 0.5);
        assert_eq!(figures.chance, 1.0 / 3.0);
    }

    #[test]
    fn classes_without_pairs_are_reported_and_left_out() {
        let members = [(1, 'a'), (2, 'a'), (3, 'b'), (4, 'a')];
        let distance = |a: i32, b: i32| Some(f64::from((a - b).abs()) + f64::from(a) * 0.01);
        let group = separation(&members, distance);
        assert_eq!(group.classes.len(), 2);
        let b = &group.classes[1];
        assert_eq!((b.class, b.in_class_pairs, b.cross_pairs), ('b', 0, 3));
        assert_eq!(b.figures, Err(Undefined::NoInClassPair));
        let a = &group.classes[0];
        assert_eq!((a.in_class_pairs, a.cross_pairs), (3, 3));
        assert_eq!(group.auprc, a.figures.map(|f| f.auprc));
        let single = separation(&[(1, 'a'), (2, 'a')], distance);
        assert_eq!(single.classes[0].figures, Err(Undefined::NoCrossPair));
        assert_eq!(single.auprc, Err(Undefined::NoDefinedClass));
        let missing = separation(&members, |a, b| (a != 4 && b != 4).then_some(1.0));
        assert_eq!(missing.classes[0].figures, Err(Undefined::MissingDistance));
    }
}
