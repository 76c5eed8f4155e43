//! Average ranks (DESIGN "Benchmark protocols": Spearman ρ is the Pearson correlation of average
//! ranks), and the value ordering every statistic in this module shares.

use std::cmp::Ordering;

/// Orders f64 values so that equal values compare `Equal` and the order is total.
///
/// `total_cmp` alone would order −0.0 before 0.0 and split a tie that rounding can create (a
/// distance of −1e-17 rounds to −0.0), so zeros are made positive first; adding +0.0 does exactly
/// that and changes nothing else. The result is a total order even with NaN, so sorting never
/// panics; the statistics reject non-finite input before they rank anything.
pub(crate) fn compare_values(a: f64, b: f64) -> Ordering {
    (a + 0.0).total_cmp(&(b + 0.0))
}

/// Ranks 1..=n of `values`, where tied values all get the mean of the ranks they span (scipy's
/// `rankdata(method="average")`).
pub fn average_ranks(values: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&i, &j| compare_values(values[i], values[j]));
    let mut ranks = vec![0.0; values.len()];
    let mut start = 0;
    while start < order.len() {
        let tied = order[start..]
            .iter()
            .take_while(|&&i| compare_values(values[i], values[order[start]]) == Ordering::Equal)
            .count();
        // Positions start..start+tied hold 1-based ranks start+1 ..= start+tied; their mean:
        let rank = start as f64 + (tied as f64 + 1.0) / 2.0;
        for &i in &order[start..start + tied] {
            ranks[i] = rank;
        }
        start += tied;
    }
    ranks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distinct_values_get_their_positions() {
        assert_eq!(average_ranks(&[3.0, 1.0, 2.0]), vec![3.0, 1.0, 2.0]);
    }

    #[test]
    fn ties_share_the_mean_rank() {
        // scipy.stats.rankdata([2, 1, 2, 3, 2, 1]) → [4, 1.5, 4, 6, 4, 1.5]
        assert_eq!(
            average_ranks(&[2.0, 1.0, 2.0, 3.0, 2.0, 1.0]),
            vec![4.0, 1.5, 4.0, 6.0, 4.0, 1.5]
        );
    }

    #[test]
    fn negative_zero_ties_with_zero() {
        assert_eq!(average_ranks(&[0.0, -0.0, 1.0]), vec![1.5, 1.5, 3.0]);
    }

    #[test]
    fn empty_and_single() {
        assert!(average_ranks(&[]).is_empty());
        assert_eq!(average_ranks(&[7.0]), vec![1.0]);
    }
}
