//! Checks on names and free-form fields, with messages that say what is allowed.

use serde_json::{Map, Value};

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

/// No string of a JSON body (member name or value) may be longer: anything larger is data, and
/// belongs in an upload.
pub const MAX_STRING_BYTES: usize = MAX_METADATA_BYTES;
/// Query parameters and path segments carry names, filters and cursors, never text at length.
pub const MAX_PARAMETER_BYTES: usize = 4096;

/// Where a string of a request sits, for the problem document to name it.
#[derive(Clone, Copy, Debug)]
pub enum Field<'a> {
    /// A member of the JSON body, by its JSON pointer (RFC 6901); `""` is the whole body.
    Body(&'a str),
    /// A query parameter, by name.
    Query(&'a str),
    /// A path segment, by the name of its route parameter.
    Path(&'a str),
}

impl Field<'_> {
    fn describe(self) -> String {
        match self {
            Field::Body("") => "the JSON body".to_owned(),
            Field::Body(pointer) => format!("the JSON member {pointer:?}"),
            Field::Query(name) => format!("the query parameter {name:?}"),
            Field::Path(name) => format!("the path segment {name:?}"),
        }
    }

    fn max_bytes(self) -> usize {
        match self {
            Field::Body(_) => MAX_STRING_BYTES,
            Field::Query(_) | Field::Path(_) => MAX_PARAMETER_BYTES,
        }
    }

    /// The problem members that locate the field: `in`, and `pointer` or `parameter`.
    fn members(self) -> Map<String, Value> {
        let (location, key, name) = match self {
            Field::Body(pointer) => ("body", "pointer", pointer),
            Field::Query(name) => ("query", "parameter", name),
            Field::Path(name) => ("path", "parameter", name),
        };
        let mut members = Map::new();
        members.insert("in".into(), Value::from(location));
        members.insert(key.into(), Value::from(name));
        members
    }
}

/// A string that cannot be stored: 422 `invalid_string`, naming where it is.
pub fn invalid_string(field: Field<'_>, problem: &str) -> ApiError {
    ApiError::Unprocessable {
        code: "invalid_string",
        detail: format!("{} {problem}", field.describe()),
        extra: field.members(),
    }
}

/// PostgreSQL's `text` and `jsonb` cannot hold U+0000, so a NUL anywhere would otherwise fail
/// deep inside a statement.
pub fn string(field: Field<'_>, value: &str) -> Result<(), ApiError> {
    if value.contains('\0') {
        return Err(invalid_string(
            field,
            "holds a NUL character (\\u0000), which no stored text may hold",
        ));
    }
    let limit = field.max_bytes();
    if value.len() > limit {
        return Err(invalid_string(
            field,
            &format!(
                "is {} bytes long; the limit there is {limit} bytes",
                value.len()
            ),
        ));
    }
    Ok(())
}

/// Checks every string of a JSON document, member names included.
pub fn json_strings(document: &Value) -> Result<(), ApiError> {
    let mut pointer = String::new();
    json_strings_under(document, &mut pointer)
}

fn json_strings_under(value: &Value, pointer: &mut String) -> Result<(), ApiError> {
    let parent = pointer.len();
    match value {
        Value::String(text) => string(Field::Body(pointer), text),
        Value::Array(items) => {
            for (index, item) in items.iter().enumerate() {
                pointer.push('/');
                pointer.push_str(&index.to_string());
                json_strings_under(item, pointer)?;
                pointer.truncate(parent);
            }
            Ok(())
        }
        Value::Object(members) => {
            for (name, member) in members {
                pointer.push('/');
                push_pointer_token(pointer, name);
                string(Field::Body(pointer), name)?;
                json_strings_under(member, pointer)?;
                pointer.truncate(parent);
            }
            Ok(())
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => Ok(()),
    }
}

/// Appends a reference token to a JSON pointer, escaped as RFC 6901, section 3 says.
pub fn push_pointer_token(pointer: &mut String, token: &str) {
    for character in token.chars() {
        match character {
            '~' => pointer.push_str("~0"),
            '/' => pointer.push_str("~1"),
            other => pointer.push(other),
        }
    }
}
