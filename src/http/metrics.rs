//! `/v1/metrics`: every metric the service computes, with its parameters and defaults, symmetry,
//! cost class, memory and a one-line definition (README, Measures), and the metrics clients
//! compute and register (README, "Metrics computed by the client").

use axum::extract::State;
use axum::http::{Method, StatusCode};
use axum::response::IntoResponse;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::auth::Caller;
use super::extract::{Json, Path, Query};
use super::{ApiContext, Routes};
use crate::http::error::ApiError;
use crate::metrics::{CostClass, ExternalName, MemoryOrder, Metric, MetricKind, Prepared};
use crate::store::external_metrics::{self, ExternalMetric, NewExternalMetric};

const MAX_DESCRIPTION_CHARS: usize = 2000;
const MAX_PARAMETERS: usize = 16;
const MAX_RANGE_CHARS: usize = 200;
/// What an external metric's parameter admits when the client does not say.
const UNSTATED_RANGE: &str = "set by the client";
/// The largest n, d1 and d2 the listing prices: far beyond any matrix an upload can hold, and
/// small enough that no byte count overflows.
const MAX_ROWS: u64 = 100_000_000;
const MAX_FEATURES: u64 = 1_000_000;

pub(super) fn router() -> Routes {
    Routes::default()
        .route(Method::GET, "/v1/metrics", list)
        .route(Method::POST, "/v1/metrics", register)
        .route(Method::DELETE, "/v1/metrics/{name}", delete)
}

#[derive(Debug, Serialize)]
struct MetricList {
    items: Vec<MetricDescription>,
    /// With `n` and `d1` asked for: the pair the byte figures are for.
    #[serde(skip_serializing_if = "Option::is_none")]
    memory: Option<PairMemory>,
}

/// The sizes of a pair, n x d1 (X) and n x d2 (Y), and what preparing each side takes before any
/// metric runs: the figures the workers' budget (SIMBENCH_MEASURE_MEMORY_BYTES) refuses on.
#[derive(Clone, Copy, Debug, Serialize)]
struct PairMemory {
    n: usize,
    d1: usize,
    d2: usize,
    preparation_bytes: SideBytes,
}

#[derive(Clone, Copy, Debug, Serialize)]
struct SideBytes {
    x: u64,
    y: u64,
}

/// A built-in metric's memory: what it grows with, and with a pair's sizes its bytes for the pair.
#[derive(Debug, Serialize)]
struct MetricMemory {
    order: MemoryOrder,
    #[serde(skip_serializing_if = "Option::is_none")]
    pair_bytes: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListParams {
    n: Option<String>,
    d1: Option<String>,
    d2: Option<String>,
}

impl ListParams {
    /// The pair's sizes, `None` when none is given; d2 defaults to d1.
    fn pair(&self) -> Result<Option<PairMemory>, ApiError> {
        let (n, d1) = match (&self.n, &self.d1, &self.d2) {
            (None, None, None) => return Ok(None),
            (Some(n), Some(d1), _) => (n, d1),
            _ => {
                return Err(ApiError::unprocessable(
                    "invalid_dimensions",
                    "give n and d1 together (and d2 when Y is not as wide as X), e.g. ?n=4000&d1=768",
                ));
            }
        };
        let n = dimension("n", n, MAX_ROWS)?;
        let d1 = dimension("d1", d1, MAX_FEATURES)?;
        let d2 = self
            .d2
            .as_deref()
            .map_or(Ok(d1), |d2| dimension("d2", d2, MAX_FEATURES))?;
        Ok(Some(PairMemory {
            n,
            d1,
            d2,
            preparation_bytes: SideBytes {
                x: Prepared::eager_bytes(n, d1),
                y: Prepared::eager_bytes(n, d2),
            },
        }))
    }
}

fn dimension(name: &str, text: &str, max: u64) -> Result<usize, ApiError> {
    text.parse::<u64>()
        .ok()
        .filter(|value| (1..=max).contains(value))
        .and_then(|value| usize::try_from(value).ok())
        .ok_or_else(|| {
            ApiError::unprocessable(
                "invalid_dimensions",
                format!("{name} must be an integer from 1 to {max}, got {text:?}"),
            )
        })
}

#[derive(Debug, Serialize)]
struct MetricDescription {
    name: String,
    parameters: Vec<Parameter>,
    symmetric: bool,
    /// `null` for a metric clients compute.
    cost_class: Option<CostClass>,
    /// `null` for a metric clients compute.
    memory: Option<MetricMemory>,
    definition: String,
    /// Computed by the service's workers; `false` for metrics clients compute and send.
    built_in: bool,
    /// For external metrics: the token that registered it, and when.
    #[serde(skip_serializing_if = "Option::is_none")]
    created_by: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    created_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Parameter {
    name: String,
    default: f64,
    #[serde(default = "unstated_range")]
    range: String,
}

fn unstated_range() -> String {
    UNSTATED_RANGE.to_owned()
}

impl MetricDescription {
    fn built_in(kind: MetricKind, pair: Option<PairMemory>) -> MetricDescription {
        MetricDescription {
            name: kind.name().to_owned(),
            parameters: kind
                .params()
                .iter()
                .map(|spec| Parameter {
                    name: spec.name.to_owned(),
                    default: spec.default,
                    range: spec.range.describe().to_owned(),
                })
                .collect(),
            symmetric: kind.is_symmetric(),
            cost_class: Some(kind.cost_class()),
            memory: Some(MetricMemory {
                order: kind.memory_order(),
                pair_bytes: pair.map(|pair| kind.memory_bytes(pair.n, pair.d1, pair.d2)),
            }),
            definition: kind.definition().to_owned(),
            built_in: true,
            created_by: None,
            created_at: None,
        }
    }

    fn external(metric: ExternalMetric) -> Result<MetricDescription, ApiError> {
        let parameters = serde_json::from_value(metric.parameters).map_err(|error| {
            ApiError::Internal(format!("stored parameters of {}: {error}", metric.name))
        })?;
        Ok(MetricDescription {
            name: metric.name,
            parameters,
            symmetric: metric.is_symmetric,
            cost_class: None,
            memory: None,
            definition: metric.description,
            built_in: false,
            created_by: metric.created_by,
            created_at: Some(metric.created_at),
        })
    }
}

/// The built-in metrics in the order of README's Measures tables, then the external ones by name.
/// With `n`, `d1` (and `d2`), each built-in's bytes for such a pair at its default parameters.
async fn list(
    State(ctx): State<ApiContext>,
    Query(params): Query<ListParams>,
) -> Result<Json<MetricList>, ApiError> {
    let pair = params.pair()?;
    let mut items: Vec<MetricDescription> = MetricKind::ALL
        .into_iter()
        .map(|kind| MetricDescription::built_in(kind, pair))
        .collect();
    for metric in external_metrics::list(&ctx.db).await? {
        items.push(MetricDescription::external(metric)?);
    }
    Ok(Json(MetricList {
        items,
        memory: pair,
    }))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewMetric {
    /// `NAME` or `ext:NAME`; stored and named everywhere else as `ext:NAME`.
    name: String,
    description: String,
    symmetric: bool,
    #[serde(default)]
    parameters: Vec<Parameter>,
}

/// `POST /v1/metrics`: registers a metric clients compute.
async fn register(
    State(ctx): State<ApiContext>,
    caller: Caller,
    Json(request): Json<NewMetric>,
) -> Result<impl IntoResponse, ApiError> {
    let name = external_name(&request.name)?;
    let description = request.description.trim();
    if description.is_empty() || description.chars().count() > MAX_DESCRIPTION_CHARS {
        return Err(ApiError::unprocessable(
            "invalid_description",
            format!(
                "describe the metric in 1 to {MAX_DESCRIPTION_CHARS} characters (what d(A, B) computes)"
            ),
        ));
    }
    validate_parameters(&request.parameters)?;
    let metric = NewExternalMetric {
        name,
        description: description.to_owned(),
        symmetric: request.symmetric,
        parameters: json!(request.parameters),
    };
    let registered = external_metrics::register(&ctx.db, &metric, caller.token_name()).await?;
    Ok((
        StatusCode::CREATED,
        Json(MetricDescription::external(registered)?),
    ))
}

/// The external name a client wrote, refused when it is a built-in's or malformed.
fn external_name(text: &str) -> Result<ExternalName, ApiError> {
    let bare = text
        .strip_prefix(crate::metrics::EXTERNAL_PREFIX)
        .unwrap_or(text);
    if bare.parse::<Metric>().is_ok() {
        return Err(ApiError::unprocessable(
            "built_in_metric",
            format!(
                "{bare} is a built-in metric, computed by the service; external metrics are named ext:NAME"
            ),
        ));
    }
    ExternalName::parse(text)
        .map_err(|error| ApiError::unprocessable("invalid_metric_name", error.to_string()))
}

fn validate_parameters(parameters: &[Parameter]) -> Result<(), ApiError> {
    let refuse = |detail: String| Err(ApiError::unprocessable("invalid_parameters", detail));
    if parameters.len() > MAX_PARAMETERS {
        return refuse(format!("at most {MAX_PARAMETERS} parameters"));
    }
    for (index, parameter) in parameters.iter().enumerate() {
        let valid_name = ExternalName::parse(&parameter.name).is_ok()
            && !parameter.name.starts_with(crate::metrics::EXTERNAL_PREFIX);
        if !valid_name {
            return refuse(format!(
                "parameter {index}: name {:?} must be a lowercase letter then up to {} lowercase letters, digits, '_', '-' or '.'",
                parameter.name,
                crate::metrics::MAX_EXTERNAL_NAME_LEN - 1
            ));
        }
        if parameters[..index]
            .iter()
            .any(|earlier| earlier.name == parameter.name)
        {
            return refuse(format!("parameter {:?} is given twice", parameter.name));
        }
        if !parameter.default.is_finite() {
            return refuse(format!(
                "parameter {:?}: default must be a finite number",
                parameter.name
            ));
        }
        let range_chars = parameter.range.chars().count();
        if range_chars == 0
            || range_chars > MAX_RANGE_CHARS
            || parameter.range.chars().any(char::is_control)
        {
            return refuse(format!(
                "parameter {:?}: range must be 1 to {MAX_RANGE_CHARS} printable characters, e.g. \"an integer >= 1\"",
                parameter.name
            ));
        }
    }
    Ok(())
}

/// `DELETE /v1/metrics/{name}`: removes an external metric and its distances; refused while a
/// benchmark names it.
async fn delete(
    State(ctx): State<ApiContext>,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    let name = external_name(&name)?;
    external_metrics::delete(&ctx.db, name).await?;
    Ok(StatusCode::NO_CONTENT)
}
