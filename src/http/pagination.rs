//! Keyset pagination: `limit` and an opaque `cursor` in, `next_cursor` out.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

use crate::http::error::ApiError;
use crate::store::{Page, PageRequest};

pub const DEFAULT_LIMIT: i64 = 100;
pub const MAX_LIMIT: i64 = 1000;
const CURSOR_PREFIX: &str = "after:";

/// One page of a list response.
#[derive(Debug, Serialize, Deserialize)]
pub struct ListResponse<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

impl<T> From<Page<T>> for ListResponse<T> {
    fn from(page: Page<T>) -> ListResponse<T> {
        ListResponse {
            items: page.items,
            next_cursor: page
                .next_after
                .map(|after| URL_SAFE_NO_PAD.encode(format!("{CURSOR_PREFIX}{after}"))),
        }
    }
}

/// Validates `limit` and decodes `cursor`.
pub fn page_request(limit: Option<i64>, cursor: Option<&str>) -> Result<PageRequest, ApiError> {
    let limit = limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::bad_request(
            "invalid_limit",
            format!("limit must be between 1 and {MAX_LIMIT}, got {limit}"),
        ));
    }
    let after = match cursor {
        None | Some("") => 0,
        Some(cursor) => decode_cursor(cursor).ok_or_else(|| {
            ApiError::bad_request(
                "invalid_cursor",
                "the cursor is not one this service issued; pass next_cursor from the previous page unchanged",
            )
        })?,
    };
    Ok(PageRequest { after, limit })
}

fn decode_cursor(cursor: &str) -> Option<i64> {
    let bytes = URL_SAFE_NO_PAD.decode(cursor).ok()?;
    let text = String::from_utf8(bytes).ok()?;
    text.strip_prefix(CURSOR_PREFIX)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trips_and_rejects_garbage() {
        let response: ListResponse<i64> = Page {
            items: vec![1, 2],
            next_after: Some(2),
        }
        .into();
        let cursor = response.next_cursor.unwrap();
        assert_eq!(page_request(Some(5), Some(&cursor)).unwrap().after, 2);
        assert_eq!(
            page_request(None, Some("bm9wZQ")).unwrap_err().code(),
            "invalid_cursor"
        );
        assert_eq!(
            page_request(Some(0), None).unwrap_err().code(),
            "invalid_limit"
        );
        assert_eq!(page_request(None, None).unwrap().limit, DEFAULT_LIMIT);
    }
}
