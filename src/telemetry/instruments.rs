//! Prometheus instruments shared by the HTTP layer and the workers of one process.

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
    TextEncoder,
};

use crate::store::status::JobStatus;

/// The process's instruments. Counters and histograms are per process (Prometheus sums them
/// across instances); the queue depth is read from the database when scraped.
pub struct Instruments {
    registry: Registry,
    pub http_request_seconds: HistogramVec,
    pub jobs_finished: IntCounterVec,
    pub compute_seconds: HistogramVec,
    pub prepare_seconds: HistogramVec,
    pub prepared_cache_bytes: IntGauge,
    queue_depth: IntGaugeVec,
}

impl Instruments {
    pub fn new() -> Instruments {
        let registry = Registry::new();
        let http_request_seconds = HistogramVec::new(
            HistogramOpts::new(
                "simbench_http_request_duration_seconds",
                "HTTP request latency",
            )
            .buckets(vec![
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
            ]),
            &["method", "route", "status"],
        )
        .expect("valid histogram");
        let jobs_finished = IntCounterVec::new(
            Opts::new(
                "simbench_jobs_finished_total",
                "Comparison job attempts by outcome: done, retried, failed, cancelled",
            ),
            &["outcome"],
        )
        .expect("valid counter");
        let compute_seconds = HistogramVec::new(
            HistogramOpts::new(
                "simbench_compute_seconds",
                "Seconds spent on one metric for one pair, the lazily prepared parts of its representations included (M = XᵀY split between the G-class metrics of a job; other shared work counted where first needed)",
            )
            .buckets(prometheus::exponential_buckets(0.001, 2.0, 16).expect("valid buckets")),
            &["metric"],
        )
        .expect("valid histogram");
        let prepare_seconds = HistogramVec::new(
            HistogramOpts::new(
                "simbench_prepare_seconds",
                "Seconds to load a representation from the database and prepare it",
            )
            .buckets(prometheus::exponential_buckets(0.01, 2.0, 12).expect("valid buckets")),
            &["stage"],
        )
        .expect("valid histogram");
        let prepared_cache_bytes = IntGauge::new(
            "simbench_prepared_cache_bytes",
            "Bytes held by the cache of prepared representations",
        )
        .expect("valid gauge");
        let queue_depth = IntGaugeVec::new(
            Opts::new(
                "simbench_jobs",
                "Comparison jobs by status (the whole queue)",
            ),
            &["status"],
        )
        .expect("valid gauge");
        for collector in [
            Box::new(http_request_seconds.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(jobs_finished.clone()),
            Box::new(compute_seconds.clone()),
            Box::new(prepare_seconds.clone()),
            Box::new(prepared_cache_bytes.clone()),
            Box::new(queue_depth.clone()),
        ] {
            registry.register(collector).expect("distinct metric names");
        }
        Instruments {
            registry,
            http_request_seconds,
            jobs_finished,
            compute_seconds,
            prepare_seconds,
            prepared_cache_bytes,
            queue_depth,
        }
    }

    /// The text exposition, with the queue depth as just counted.
    pub fn render(&self, jobs_by_status: &[(JobStatus, i64)]) -> String {
        for &status in JobStatus::ALL {
            let count = jobs_by_status
                .iter()
                .find(|(counted, _)| *counted == status)
                .map_or(0, |(_, count)| *count);
            self.queue_depth
                .with_label_values(&[status.name()])
                .set(count);
        }
        let mut text = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut text)
            .expect("text encoding cannot fail");
        String::from_utf8(text).expect("the exposition format is UTF-8")
    }
}

impl Default for Instruments {
    fn default() -> Instruments {
        Instruments::new()
    }
}
