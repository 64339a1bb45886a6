//! Cursor pagination shared by every list: `?limit=&cursor=` in, `{items, next_cursor}` out.
//!
//! Cursors are opaque to clients: URL-safe base64 of a small JSON key chosen by each list
//! (usually the last row's sort key and id), so a list can change its key without breaking
//! the wire shape.

use crate::problem::ApiError;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

pub const DEFAULT_LIMIT: i64 = 50;
pub const MAX_LIMIT: i64 = 200;

/// The raw query of a paginated list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Items per page, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// A validated page request: a limit in range and the decoded position after which to start.
#[derive(Debug, Clone)]
pub struct PageRequest<K> {
    pub limit: i64,
    pub after: Option<K>,
}

impl PageQuery {
    pub fn parse<K: DeserializeOwned>(&self) -> Result<PageRequest<K>, ApiError> {
        let limit = self.limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(ApiError::field(
                "limit",
                format!("must be between 1 and {MAX_LIMIT}"),
            ));
        }
        let after = match self.cursor.as_deref() {
            None | Some("") => None,
            Some(raw) => Some(decode_cursor(raw).ok_or_else(|| {
                ApiError::field("cursor", "is not a cursor this list handed out")
            })?),
        };
        Ok(PageRequest { limit, after })
    }
}

fn decode_cursor<K: DeserializeOwned>(raw: &str) -> Option<K> {
    let bytes = URL_SAFE_NO_PAD.decode(raw).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Encode a cursor key.
pub fn encode_cursor<K: Serialize>(key: &K) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(key).unwrap_or_default())
}

/// One page of a list.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// Build a page from rows fetched with `limit + 1`: the extra row only says there is more.
    pub fn from_rows<K: Serialize>(mut rows: Vec<T>, limit: i64, key: impl Fn(&T) -> K) -> Self {
        let more = rows.len() as i64 > limit;
        rows.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        let next_cursor = if more {
            rows.last().map(|last| encode_cursor(&key(last)))
        } else {
            None
        };
        Page {
            items: rows,
            next_cursor,
        }
    }

    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            items: self.items.into_iter().map(f).collect(),
            next_cursor: self.next_cursor,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limit_out_of_range_is_a_field_error() {
        let q = PageQuery {
            limit: Some(0),
            cursor: None,
        };
        assert_eq!(q.parse::<i64>().unwrap_err().status().as_u16(), 422);
        let q = PageQuery {
            limit: Some(201),
            cursor: None,
        };
        assert!(q.parse::<i64>().is_err());
    }

    #[test]
    fn cursor_round_trips_and_garbage_is_rejected() {
        let rows: Vec<i64> = (1..=4).collect();
        let page = Page::from_rows(rows, 3, |r| *r);
        assert_eq!(page.items, vec![1, 2, 3]);
        let q = PageQuery {
            limit: None,
            cursor: page.next_cursor,
        };
        assert_eq!(q.parse::<i64>().unwrap().after, Some(3));
        let q = PageQuery {
            limit: None,
            cursor: Some("%%%".into()),
        };
        assert!(q.parse::<i64>().is_err());
    }

    #[test]
    fn last_page_has_no_cursor() {
        let page = Page::from_rows(vec![1, 2], 3, |r| *r);
        assert!(page.next_cursor.is_none());
    }
}
