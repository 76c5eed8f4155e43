//! `simbench bench-stats`: seconds for the permutation p-values of Spearman, Kendall and Pearson
//! on many groups (README "Grounding tests"), random and exact, on all cores.

use std::time::Instant;

use anyhow::ensure;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use crate::stats::{PermutationOptions, permutation_p_values_by_group};

#[derive(Debug, clap::Args)]
pub struct BenchStatsArgs {
    /// Groups per benchmark.
    #[arg(long, default_value_t = 1000)]
    pub groups: usize,

    /// Pairs per group in the random-permutation figure (45: all pairs of 10 models).
    #[arg(long, default_value_t = 45)]
    pub pairs: usize,

    /// Pairs per group in the exact-enumeration figure (7! = 5040 ≤ the resamples).
    #[arg(long, default_value_t = 7)]
    pub exact_pairs: usize,

    /// Permutations per group.
    #[arg(long, default_value_t = PermutationOptions::DEFAULT_RESAMPLES)]
    pub resamples: usize,

    /// Timed runs of each figure; the median is reported.
    #[arg(long, default_value_t = 3)]
    pub repeats: usize,

    /// Seed of the generated pairs and of the permutations.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,

    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Serialize)]
struct Report {
    groups: usize,
    resamples: usize,
    threads: usize,
    figures: Vec<Figure>,
}

#[derive(Debug, Serialize)]
struct Figure {
    name: String,
    pairs: usize,
    exact: bool,
    /// Median wall-clock seconds for every group.
    seconds: f64,
    /// Core-seconds per permutation of one group (all three statistics).
    nanoseconds_per_permutation: f64,
}

pub fn run(args: BenchStatsArgs) -> anyhow::Result<()> {
    ensure!(args.groups > 0, "--groups must be positive");
    ensure!(args.repeats > 0, "--repeats must be positive");
    ensure!(
        args.pairs >= 3 && args.exact_pairs >= 3,
        "a correlation needs at least 3 pairs a group"
    );
    let options = PermutationOptions::new(args.resamples, args.seed)?;
    ensure!(
        options.is_exact_for(args.exact_pairs),
        "--exact-pairs {} has more permutations than --resamples {}",
        args.exact_pairs,
        args.resamples
    );
    let threads = std::thread::available_parallelism()
        .map_or(1, |count| count.get())
        .min(args.groups);
    let mut figures = Vec::new();
    for (name, pairs) in [
        ("random permutations", args.pairs),
        ("exact enumeration", args.exact_pairs),
    ] {
        let groups = generated_groups(args.groups, pairs, args.seed);
        let exact = options.is_exact_for(pairs);
        let permutations = if exact {
            (1..=pairs).product::<usize>()
        } else {
            args.resamples
        };
        let mut seconds: Vec<f64> = (0..args.repeats)
            .map(|_| {
                let started = Instant::now();
                let p_values = permutation_p_values_by_group(&groups, &options);
                let elapsed = started.elapsed().as_secs_f64();
                assert_eq!(p_values.len(), groups.len());
                elapsed
            })
            .collect();
        seconds.sort_by(f64::total_cmp);
        let median = seconds[seconds.len() / 2];
        figures.push(Figure {
            name: name.to_owned(),
            pairs,
            exact,
            seconds: median,
            nanoseconds_per_permutation: median * threads as f64 * 1e9
                / (args.groups * permutations) as f64,
        });
    }
    let report = Report {
        groups: args.groups,
        resamples: args.resamples,
        threads,
        figures,
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "{} groups, {} resamples, {} threads (Spearman, Kendall and Pearson together)",
            report.groups, report.resamples, report.threads
        );
        println!(
            "{:<22} {:>6} {:>10} {:>16}",
            "figure", "pairs", "seconds", "ns/permutation"
        );
        for figure in &report.figures {
            println!(
                "{:<22} {:>6} {:>10.3} {:>16.1}",
                figure.name, figure.pairs, figure.seconds, figure.nanoseconds_per_permutation
            );
        }
    }
    Ok(())
}

/// Groups of (distance, functional difference) pairs: distances loosely follow the differences,
/// and the differences are multiples of 0.01 like a disagreement on 100 inputs, so they tie.
fn generated_groups(groups: usize, pairs: usize, seed: u64) -> Vec<Vec<(f64, f64)>> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..groups)
        .map(|_| {
            (0..pairs)
                .map(|_| {
                    let difference = f64::from(rng.random_range(0..100u32)) / 100.0;
                    (0.5 * difference + rng.random::<f64>(), difference)
                })
                .collect()
        })
        .collect()
}
