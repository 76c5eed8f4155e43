//! `/v1/metrics`: every metric the service computes, with its parameters and defaults, symmetry,
//! cost class and a one-line definition (README, Measures), and the metrics clients compute and
//! register (README, "Metrics computed by the client").

use axum::extract::State;
use axum::http::{Method, StatusCode};
use axum::response::IntoResponse;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::auth::Caller;
use super::extract::{Json, Path};
use super::{ApiContext, Routes};
use crate::http::error::ApiError;
use crate::metrics::{CostClass, ExternalName, Metric, MetricKind};
use crate::store::external_metrics::{self, ExternalMetric, NewExternalMetric};

const MAX_DESCRIPTION_CHARS: usize = 2000;
const MAX_PARAMETERS: usize = 16;
const MAX_RANGE_CHARS: usize = 200;
/// What an external metric's parameter admits when the client does not say.
const UNSTATED_RANGE: &str = "set by the client";

pub(super) fn router() -> Routes {
    Routes::default()
        .route(Method::GET, "/v1/metrics", list)
        .route(Method::POST, "/v1/metrics", register)
        .route(Method::DELETE, "/v1/metrics/{name}", delete)
}

#[derive(Debug, Serialize)]
struct MetricList {
    items: Vec<MetricDescription>,
}

#[derive(Debug, Serialize)]
struct MetricDescription {
    name: String,
    parameters: Vec<Parameter>,
    symmetric: bool,
    /// `null` for a metric clients compute.
    cost_class: Option<CostClass>,
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
    fn built_in(kind: MetricKind) -> MetricDescription {
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
            definition: metric.description,
            built_in: false,
            created_by: metric.created_by,
            created_at: Some(metric.created_at),
        })
    }
}

/// The built-in metrics in the order of README's Measures tables, then the external ones by name.
async fn list(State(ctx): State<ApiContext>) -> Result<Json<MetricList>, ApiError> {
    let mut items: Vec<MetricDescription> = MetricKind::ALL
        .into_iter()
        .map(MetricDescription::built_in)
        .collect();
    for metric in external_metrics::list(&ctx.db).await? {
        items.push(MetricDescription::external(metric)?);
    }
    Ok(Json(MetricList { items }))
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
