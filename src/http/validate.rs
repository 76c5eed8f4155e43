//! Checks on names and free-form fields, with messages that say what is allowed.

use serde_json::Value;

use crate::http::error::ApiError;

const MAX_NAME_CHARS: usize = 200;
const MAX_SCORE_NAME_CHARS: usize = 100;
const MAX_TAGS: usize = 64;
const MAX_TAG_CHARS: usize = 100;
/// Metadata describes a model (architecture, seeds, hyper-parameters), not its data.
pub const MAX_METADATA_BYTES: usize = 64 * 1024;

/// Dataset and model names: 1 to 200 printable characters, no surrounding white space.
pub fn name(kind: &str, name: &str) -> Result<(), ApiError> {
    let chars = name.chars().count();
    if chars == 0
        || chars > MAX_NAME_CHARS
        || name.trim() != name
        || name.chars().any(char::is_control)
    {
        return Err(ApiError::unprocessable(
            "invalid_name",
            format!(
                "{kind} name {name:?} is not valid: use 1 to {MAX_NAME_CHARS} printable characters without leading or trailing spaces"
            ),
        ));
    }
    Ok(())
}

/// Score names appear in URL paths: letters, digits and `_ . : -`, starting with a letter or digit.
pub fn score_name(name: &str) -> Result<(), ApiError> {
    let valid = !name.is_empty()
        && name.len() <= MAX_SCORE_NAME_CHARS
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | ':' | '-'));
    if valid {
        Ok(())
    } else {
        Err(ApiError::unprocessable(
            "invalid_score_name",
            format!(
                "score name {name:?} is not valid: use up to {MAX_SCORE_NAME_CHARS} letters, digits, '_', '.', ':' or '-', starting with a letter or digit (e.g. probe_acc or hans:accuracy)"
            ),
        ))
    }
}

pub fn metadata(metadata: &Value) -> Result<(), ApiError> {
    if !metadata.is_object() {
        return Err(ApiError::unprocessable(
            "invalid_metadata",
            "metadata must be a JSON object, e.g. {\"architecture\": \"bert-base\", \"seed\": 3}",
        ));
    }
    let size = metadata.to_string().len();
    if size > MAX_METADATA_BYTES {
        return Err(ApiError::unprocessable(
            "metadata_too_large",
            format!(
                "metadata takes {size} bytes as JSON; the limit is {MAX_METADATA_BYTES}. Keep metadata to a description of the model and store data elsewhere"
            ),
        ));
    }
    Ok(())
}

pub fn tags(tags: &[String]) -> Result<(), ApiError> {
    if tags.len() > MAX_TAGS {
        return Err(ApiError::unprocessable(
            "invalid_tags",
            format!("a model has at most {MAX_TAGS} tags, got {}", tags.len()),
        ));
    }
    if let Some(bad) = tags.iter().find(|tag| {
        tag.is_empty()
            || tag.chars().count() > MAX_TAG_CHARS
            || tag.trim() != tag.as_str()
            || tag.chars().any(char::is_control)
    }) {
        return Err(ApiError::unprocessable(
            "invalid_tags",
            format!(
                "tag {bad:?} is not valid: use 1 to {MAX_TAG_CHARS} printable characters without surrounding spaces"
            ),
        ));
    }
    Ok(())
}
