//! CSV bodies for the tabular routes (README, CSV downloads): asked for with `?format=csv` or
//! `Accept: text/csv`, one record per row in long form so that `pandas.read_csv` needs no
//! reshaping. Numbers are written at full precision; an empty field is a missing value.

use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::benchmark::ProtocolKind;
use crate::benchmark::leaderboard::Leaderboard;
use crate::benchmark::service::{PairRows, Results};
use crate::http::error::ApiError;

pub(crate) const CSV_CONTENT_TYPE: &str = "text/csv; charset=utf-8";

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Format {
    Json,
    Csv,
}

/// The `format` query parameter of a route that has no other.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FormatParam {
    pub format: Option<Format>,
}

impl FormatParam {
    /// The explicit parameter wins; otherwise an `Accept` header naming text/csv asks for CSV.
    fn wants_csv(&self, headers: &HeaderMap) -> bool {
        match self.format {
            Some(format) => format == Format::Csv,
            None => headers
                .get_all(header::ACCEPT)
                .iter()
                .filter_map(|value| value.to_str().ok())
                .any(|accept| accept.to_ascii_lowercase().contains("text/csv")),
        }
    }
}

/// `body` as JSON, or as CSV written by `to_csv` when the request asks for CSV.
pub(crate) fn respond<T: Serialize>(
    params: &FormatParam,
    headers: &HeaderMap,
    body: &T,
    to_csv: fn(&T) -> Result<String, ApiError>,
) -> Result<Response, ApiError> {
    if params.wants_csv(headers) {
        Ok(csv_response(to_csv(body)?))
    } else {
        Ok(axum::Json(body).into_response())
    }
}

/// A CSV body with its content type.
pub(crate) fn csv_response(body: String) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static(CSV_CONTENT_TYPE),
        )],
        body,
    )
        .into_response()
}

/// One record per metric and benchmark.
pub(crate) fn leaderboard(board: &Leaderboard) -> Result<String, ApiError> {
    let mut table = Table::new(&[
        "metric",
        "benchmark_id",
        "benchmark",
        "spearman",
        "rank",
        "mean_spearman",
        "mean_rank",
        "statistic",
        "value",
        "tied_with_leader",
    ])?;
    for row in &board.rows {
        for (cell, column) in row.cells.iter().zip(&board.benchmarks) {
            table.record(&[
                row.metric.name().to_owned(),
                column.id.to_string(),
                column.name.clone(),
                number(cell.spearman),
                number(cell.rank),
                number(row.mean_spearman),
                number(row.mean_rank),
                column.statistic.name().to_owned(),
                number(cell.value),
                cell.tied_with_leader.to_string(),
            ])?;
        }
    }
    table.finish()
}

/// The columns of each kind's records after `benchmark` and `metric`, as the results JSON names
/// them, and where the records are: in each group (`group_fields`), or in each class of each
/// group (`class_fields`, separation).
struct ResultColumns {
    group_fields: &'static [&'static str],
    class_fields: &'static [&'static str],
}

fn result_columns(kind: ProtocolKind) -> ResultColumns {
    match kind {
        ProtocolKind::Correlation => ResultColumns {
            group_fields: &[
                "group",
                "reference",
                "spearman",
                "spearman_p",
                "kendall",
                "kendall_p",
                "bad_frac",
                "n_pairs",
                "n_refused",
                "n_missing",
            ],
            class_fields: &[],
        },
        ProtocolKind::Separation => ResultColumns {
            group_fields: &["group"],
            class_fields: &[
                "class",
                "n_in",
                "n_cross",
                "auprc",
                "violation_rate",
                "chance",
            ],
        },
        ProtocolKind::Monotonicity => ResultColumns {
            group_fields: &[
                "group",
                "model",
                "correlation",
                "violation_rate",
                "n_layers",
                "n_refused",
                "n_missing",
            ],
            class_fields: &[],
        },
    }
}

/// One record per metric and group (per metric, group and class for separation).
pub(crate) fn results(results: &Results) -> Result<String, ApiError> {
    let columns = result_columns(results.metrics.kind());
    let mut header = vec!["benchmark", "metric"];
    header.extend(columns.group_fields);
    header.extend(columns.class_fields);
    let mut table = Table::new(&header)?;
    let document = serde_json::to_value(&results.metrics)
        .map_err(|error| ApiError::Internal(format!("results as JSON: {error}")))?;
    let fields = |object: &Value, names: &[&str]| -> Vec<String> {
        names.iter().map(|name| json_text(&object[*name])).collect()
    };
    for (metric, result) in document["metrics"].as_object().into_iter().flatten() {
        for group in result["groups"].as_array().into_iter().flatten() {
            let mut record = vec![results.benchmark.to_string(), metric.clone()];
            record.extend(fields(group, columns.group_fields));
            if columns.class_fields.is_empty() {
                table.record(&record)?;
                continue;
            }
            for class in group["classes"].as_array().into_iter().flatten() {
                let mut class_record = record.clone();
                class_record.extend(fields(class, columns.class_fields));
                table.record(&class_record)?;
            }
        }
    }
    table.finish()
}

/// One record per pair: x = distance, y = |Δf|.
pub(crate) fn pairs(pairs: &PairRows) -> Result<String, ApiError> {
    let mut table = Table::new(&["metric", "group", "first", "second", "x", "y"])?;
    let group = pairs.group.label();
    for row in &pairs.rows {
        table.record(&[
            pairs.metric.name().to_owned(),
            group.clone(),
            row.first.to_string(),
            row.second.to_string(),
            row.x.to_string(),
            row.y.to_string(),
        ])?;
    }
    table.finish()
}

/// A CSV document being written, header first.
pub(crate) struct Table {
    writer: ::csv::Writer<Vec<u8>>,
}

impl Table {
    pub(crate) fn new(header: &[&str]) -> Result<Table, ApiError> {
        let mut writer = ::csv::Writer::from_writer(Vec::new());
        writer.write_record(header).map_err(csv_failure)?;
        Ok(Table { writer })
    }

    pub(crate) fn record(&mut self, fields: &[String]) -> Result<(), ApiError> {
        self.writer.write_record(fields).map_err(csv_failure)
    }

    pub(crate) fn finish(self) -> Result<String, ApiError> {
        let bytes = self
            .writer
            .into_inner()
            .map_err(|error| ApiError::Internal(format!("writing CSV: {error}")))?;
        String::from_utf8(bytes).map_err(|error| ApiError::Internal(format!("CSV text: {error}")))
    }
}

fn csv_failure(error: ::csv::Error) -> ApiError {
    ApiError::Internal(format!("writing CSV: {error}"))
}

/// A number at full precision (the shortest text that reads back as the same f64); empty when
/// missing.
pub(crate) fn number(value: Option<f64>) -> String {
    value.map_or_else(String::new, |value| value.to_string())
}

/// A JSON scalar as a CSV field: strings unquoted, null empty.
fn json_text(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_keep_full_precision_and_missing_ones_are_empty() {
        let value = 0.123_456_789_012_345_67_f64;
        assert_eq!(number(Some(value)).parse::<f64>().unwrap(), value);
        assert_eq!(number(None), "");
    }

    #[test]
    fn the_format_parameter_wins_over_the_accept_header() {
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT, HeaderValue::from_static("text/csv"));
        assert!(FormatParam::default().wants_csv(&headers));
        let json = FormatParam {
            format: Some(Format::Json),
        };
        assert!(!json.wants_csv(&headers));
        let csv = FormatParam {
            format: Some(Format::Csv),
        };
        assert!(csv.wants_csv(&HeaderMap::new()));
        assert!(!FormatParam::default().wants_csv(&HeaderMap::new()));
    }
}
