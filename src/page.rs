//! Keyset pages: a list query fetches one row more than the page holds; if that row
//! came back there is a next page, and the last row kept gives its cursor.

/// Page size when a list request gives none, and the most it may ask for.
pub const DEFAULT_PAGE: u64 = 100;
pub const MAX_PAGE: u64 = 1000;

/// A `limit` outside 1..=[`MAX_PAGE`].
#[derive(Debug, thiserror::Error)]
#[error("limit must be between 1 and {MAX_PAGE}.")]
pub struct BadLimit;

/// A list's page size: `limit`, or the default, within 1..=[`MAX_PAGE`].
pub fn page_limit(limit: Option<u64>) -> Result<u64, BadLimit> {
    let limit = limit.unwrap_or(DEFAULT_PAGE);
    if (1..=MAX_PAGE).contains(&limit) {
        Ok(limit)
    } else {
        Err(BadLimit)
    }
}

/// A page of `T`, with the cursor (of type `C`) of the next page when there is one.
#[derive(Debug, PartialEq, Eq)]
pub struct Page<T, C> {
    pub items: Vec<T>,
    pub next_cursor: Option<C>,
}

/// How many rows to fetch for a page of `limit`: one more, to see past its end.
pub fn rows_for(limit: u64) -> u64 {
    limit.saturating_add(1)
}

impl<T, C> Page<T, C> {
    /// The page of `limit` in `rows` (fetched with [`rows_for`]`(limit)`); `cursor_of`
    /// gives the cursor after a row.
    pub fn from_rows(mut rows: Vec<T>, limit: u64, cursor_of: impl FnOnce(&T) -> C) -> Self {
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        let next_cursor = if rows.len() > limit {
            rows.truncate(limit);
            rows.last().map(cursor_of)
        } else {
            None
        };
        Page {
            items: rows,
            next_cursor,
        }
    }

    /// The same page with its items converted (e.g. rows into response bodies).
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U, C> {
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
    fn the_extra_row_means_a_next_page_after_the_last_kept_one() {
        let page = Page::from_rows(vec![1, 2, 3], 2, |n| n * 10);
        assert_eq!(page.items, vec![1, 2]);
        assert_eq!(page.next_cursor, Some(20));
        let page = Page::from_rows(vec![1, 2], 2, |n| n * 10);
        assert_eq!((page.items.len(), page.next_cursor), (2, None));
        let page = Page::from_rows(Vec::<u8>::new(), 2, |n| *n);
        assert_eq!((page.items.len(), page.next_cursor), (0, None));
        assert_eq!(rows_for(100), 101);
        assert_eq!(
            Page::from_rows(vec![1, 2, 3], 2, |n| *n)
                .map(|n| n + 1)
                .items,
            vec![2, 3]
        );
    }
}
