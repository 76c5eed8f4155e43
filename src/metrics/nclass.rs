//! The N-class measures of docs/MEASURES.md (`jaccard_knn`, `rank_similarity`,
//! `second_order_cosine`, `cknna` on kNN lists; `distance_correlation`, `rsm_norm_diff`,
//! `uniformity_diff`, `rbf_cka` on n x n distances) in the engine: the per-representation parts
//! they share, grown on first need, and their memory costs (README, Measures: "Memory").
//!
//! One representation keeps at most one set of kNN lists, at the largest k asked for so far: a
//! smaller k reads the first k entries of each list ([`super::neighbourhood`]). One distance
//! matrix serves all four distance measures; `uniformity_diff` adds one number per `t` and
//! `rbf_cka` one centred n x n kernel per `sigma_frac`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use super::kernel::{self, Distances, RbfKernel, Uniformity};
use super::neighbourhood::{self, Neighbourhoods};
use super::{Metric, MetricError, MetricKind, Prepared};

/// An N-class measure with its parameters, resolved from a [`Metric`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum Measure {
    /// Read from kNN lists of at least k neighbours.
    Lists {
        measure: ListMeasure,
        k: usize,
    },
    DistanceCorrelation,
    RsmNormDiff,
    Uniformity {
        t: f64,
    },
    RbfCka {
        sigma_frac: f64,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum ListMeasure {
    Jaccard,
    RankSimilarity,
    SecondOrderCosine,
    Cknna,
}

impl Measure {
    /// The measure `metric` names; `None` for the kinds outside this module.
    pub(super) fn of(metric: Metric) -> Option<Measure> {
        let parameter = |name: &str| {
            metric
                .param(name)
                .expect("the kind declares the parameter it is read by")
        };
        // ParamRange::Count admits integers from 1 to u32::MAX only.
        let lists = |measure| Measure::Lists {
            measure,
            k: parameter("k") as usize,
        };
        Some(match metric.kind() {
            MetricKind::JaccardKnn => lists(ListMeasure::Jaccard),
            MetricKind::RankSimilarity => lists(ListMeasure::RankSimilarity),
            MetricKind::SecondOrderCosine => lists(ListMeasure::SecondOrderCosine),
            MetricKind::Cknna => lists(ListMeasure::Cknna),
            MetricKind::DistanceCorrelation => Measure::DistanceCorrelation,
            MetricKind::RsmNormDiff => Measure::RsmNormDiff,
            MetricKind::UniformityDiff => Measure::Uniformity { t: parameter("t") },
            MetricKind::RbfCka => Measure::RbfCka {
                sigma_frac: parameter("sigma_frac"),
            },
            _ => return None,
        })
    }

    /// The neighbours the measure reads, `None` when it reads no kNN lists.
    pub(super) fn neighbours(self) -> Option<usize> {
        match self {
            Measure::Lists { k, .. } => Some(k),
            _ => None,
        }
    }

    /// Bytes the measure allocates for one pair of n x d1 and n x d2 representations, the
    /// parts of both sides included (each preparation also rebuilds its side's raw rows, 8·n·d
    /// bytes, while it runs). k is clamped to n: beyond n - 1 the measure refuses the pair
    /// before allocating.
    pub(super) fn memory_bytes(self, n: usize, d1: usize, d2: usize) -> u64 {
        let side = |d: usize| -> usize {
            let raw_rows = 8 * n * d;
            raw_rows
                + match self {
                    Measure::Lists { k, .. } => Neighbourhoods::memory_bytes(n, d, k.min(n)),
                    Measure::DistanceCorrelation | Measure::RsmNormDiff => {
                        Distances::memory_bytes(n, d)
                    }
                    Measure::Uniformity { .. } => {
                        Distances::memory_bytes(n, d) + Uniformity::memory_bytes()
                    }
                    Measure::RbfCka { .. } => {
                        Distances::memory_bytes(n, d) + RbfKernel::memory_bytes(n)
                    }
                }
        };
        let pair = match self {
            Measure::Lists { measure, k } => {
                let k = k.min(n);
                match measure {
                    ListMeasure::Jaccard => neighbourhood::jaccard_knn_memory_bytes(k),
                    ListMeasure::RankSimilarity => neighbourhood::rank_similarity_memory_bytes(k),
                    ListMeasure::SecondOrderCosine => {
                        neighbourhood::second_order_cosine_memory_bytes(k)
                    }
                    ListMeasure::Cknna => neighbourhood::cknna_memory_bytes(n, k),
                }
            }
            Measure::DistanceCorrelation => kernel::distance_correlation_memory_bytes(),
            Measure::RsmNormDiff => kernel::rsm_norm_diff_memory_bytes(n),
            Measure::Uniformity { .. } => 0,
            Measure::RbfCka { .. } => kernel::rbf_cka_memory_bytes(),
        };
        (side(d1) + side(d2) + pair) as u64
    }
}

/// RBF kernels by their `sigma_frac`, with the refusal of a bandwidth that does not apply.
type KernelsBySigma = Vec<(f64, Result<Arc<RbfKernel>, MetricError>)>;

/// The N-class parts of one prepared representation, each computed on first need and kept.
#[derive(Default)]
pub(super) struct Parts {
    /// Replaced by longer lists when a job asks for a larger k.
    lists: Mutex<Option<Arc<Neighbourhoods>>>,
    /// [`Distances::new`] refuses only what [`super::Prepared::new`] refused already.
    distances: OnceLock<Result<Distances, MetricError>>,
    uniformities: Mutex<Vec<(f64, Arc<Uniformity>)>>,
    kernels: Mutex<KernelsBySigma>,
    /// Bytes of the parts above, kept apart so that a byte-bounded cache can read them while a
    /// part is being computed under its lock.
    held: AtomicUsize,
}

impl Parts {
    pub(super) fn held_bytes(&self) -> usize {
        self.held.load(Ordering::Relaxed)
    }

    /// Lists of at least `k` neighbours of `rows` (the representation these parts belong to):
    /// the kept ones when they are long enough, else new ones at `k` that replace them. Refuses
    /// k > n - 1 and an all-zero row before allocating.
    fn lists(&self, k: usize, rows: &Prepared) -> Result<Arc<Neighbourhoods>, MetricError> {
        let n = rows.n_rows();
        if k > n.saturating_sub(1) {
            return Err(MetricError::TooFewRowsForNeighbours { n, k });
        }
        if let Some(row) = rows.raw_row_norms.iter().position(|&norm| norm == 0.0) {
            return Err(MetricError::ZeroRow { row });
        }
        let mut kept = self.lists.lock().expect("lists lock");
        if let Some(lists) = kept.as_ref().filter(|lists| lists.k() >= k) {
            return Ok(lists.clone());
        }
        let lists = Arc::new(Neighbourhoods::with_equal_rows(
            rows.raw_rows().view(),
            k,
            &rows.equal_unit_rows,
        )?);
        let replaced = kept.replace(lists.clone());
        self.held.fetch_add(lists.held_bytes(), Ordering::Relaxed);
        if let Some(replaced) = replaced {
            self.held
                .fetch_sub(replaced.held_bytes(), Ordering::Relaxed);
        }
        Ok(lists)
    }

    fn distances(&self, rows: &Prepared) -> Result<&Distances, MetricError> {
        self.distances
            .get_or_init(|| {
                let distances = Distances::new(rows.raw_rows().view());
                if let Ok(distances) = &distances {
                    self.held
                        .fetch_add(distances.held_bytes(), Ordering::Relaxed);
                }
                distances
            })
            .as_ref()
            .map_err(Clone::clone)
    }

    fn uniformity(&self, t: f64, rows: &Prepared) -> Result<Arc<Uniformity>, MetricError> {
        let mut kept = self.uniformities.lock().expect("uniformity lock");
        if let Some((_, uniformity)) = kept.iter().find(|(kept_t, _)| *kept_t == t) {
            return Ok(uniformity.clone());
        }
        let uniformity = Arc::new(Uniformity::new(self.distances(rows)?, t)?);
        kept.push((t, uniformity.clone()));
        self.held
            .fetch_add(Uniformity::memory_bytes(), Ordering::Relaxed);
        Ok(uniformity)
    }

    /// The centred kernel at `sigma_frac`; a refusal (a median distance of 0) is kept too, since
    /// finding it takes a pass over the n x n distances.
    fn rbf_kernel(&self, sigma_frac: f64, rows: &Prepared) -> Result<Arc<RbfKernel>, MetricError> {
        let mut kept = self.kernels.lock().expect("kernel lock");
        if let Some((_, kernel)) = kept
            .iter()
            .find(|(kept_sigma, _)| *kept_sigma == sigma_frac)
        {
            return kernel.clone();
        }
        let kernel = self
            .distances(rows)
            .and_then(|distances| RbfKernel::new(distances, sigma_frac))
            .map(Arc::new);
        if let Ok(kernel) = &kernel {
            self.held.fetch_add(kernel.held_bytes(), Ordering::Relaxed);
        }
        kept.push((sigma_frac, kernel.clone()));
        kernel
    }

    /// Computes now the part `measure` reads at `lists_k` neighbours, a refusal left for the
    /// pair to report.
    pub(super) fn prepare(&self, measure: Measure, lists_k: usize, rows: &Prepared) {
        let _ = match measure {
            Measure::Lists { .. } => self.lists(lists_k, rows).map(drop),
            Measure::DistanceCorrelation | Measure::RsmNormDiff => self.distances(rows).map(drop),
            Measure::Uniformity { t } => self.uniformity(t, rows).map(drop),
            Measure::RbfCka { sigma_frac } => self.rbf_kernel(sigma_frac, rows).map(drop),
        };
    }
}

/// The measure's value for the pair (X = `x`, Y = `y`), the kNN lists read at `lists_k` >= its
/// k (the largest k of the call, so that one set of lists serves every k).
pub(super) fn value(
    measure: Measure,
    x: &Prepared,
    y: &Prepared,
    lists_k: usize,
) -> Result<f64, MetricError> {
    let (parts_x, parts_y) = (&x.n_class, &y.n_class);
    match measure {
        Measure::Lists { measure, k } => {
            let (lists_x, lists_y) = (
                parts_x.lists(lists_k.max(k), x)?,
                parts_y.lists(lists_k.max(k), y)?,
            );
            let compute = match measure {
                ListMeasure::Jaccard => neighbourhood::jaccard_knn,
                ListMeasure::RankSimilarity => neighbourhood::rank_similarity,
                ListMeasure::SecondOrderCosine => neighbourhood::second_order_cosine,
                ListMeasure::Cknna => neighbourhood::cknna,
            };
            compute(&lists_x, &lists_y, k)
        }
        Measure::DistanceCorrelation => {
            kernel::distance_correlation(parts_x.distances(x)?, parts_y.distances(y)?)
        }
        Measure::RsmNormDiff => kernel::rsm_norm_diff(parts_x.distances(x)?, parts_y.distances(y)?),
        Measure::Uniformity { t } => {
            let (uniformity_x, uniformity_y) =
                (parts_x.uniformity(t, x)?, parts_y.uniformity(t, y)?);
            kernel::uniformity_diff(&uniformity_x, &uniformity_y)
        }
        Measure::RbfCka { sigma_frac } => {
            let kernel_x = parts_x.rbf_kernel(sigma_frac, x)?;
            let kernel_y = parts_y.rbf_kernel(sigma_frac, y)?;
            kernel::rbf_cka(&kernel_x, &kernel_y)
        }
    }
}
