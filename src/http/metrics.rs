//! `GET /v1/metrics`: every metric the service computes, with its parameters and defaults,
//! symmetry, cost class and a one-line definition (README, Measures).

use axum::http::Method;
use serde::Serialize;

use super::Routes;
use super::extract::Json;
use crate::metrics::{CostClass, MetricKind};

pub(super) fn router() -> Routes {
    Routes::default().route(Method::GET, "/v1/metrics", list)
}

#[derive(Debug, Serialize)]
struct MetricList {
    items: Vec<MetricDescription>,
}

#[derive(Debug, Serialize)]
struct MetricDescription {
    name: &'static str,
    parameters: Vec<Parameter>,
    symmetric: bool,
    cost_class: CostClass,
    definition: &'static str,
    /// Computed by the service's workers.
    built_in: bool,
}

#[derive(Debug, Serialize)]
struct Parameter {
    name: &'static str,
    default: f64,
    range: &'static str,
}

async fn list() -> Json<MetricList> {
    let items = MetricKind::ALL
        .into_iter()
        .map(|kind| MetricDescription {
            name: kind.name(),
            parameters: kind
                .params()
                .iter()
                .map(|spec| Parameter {
                    name: spec.name,
                    default: spec.default,
                    range: spec.range.describe(),
                })
                .collect(),
            symmetric: kind.is_symmetric(),
            cost_class: kind.cost_class(),
            definition: kind.definition(),
            built_in: true,
        })
        .collect();
    Json(MetricList { items })
}
