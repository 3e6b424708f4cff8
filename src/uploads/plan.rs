//! How an upload is cut into parts, and which content types are accepted.

use std::sync::LazyLock;

use regex::Regex;

use crate::config::{MAX_PARTS, MIN_PART_SIZE};

const MIB: u64 = 1024 * 1024;

/// Part size and count for a multipart upload of `size` bytes: parts of at least 5 MiB,
/// at most 10,000 of them, all equal but the last; the size is a whole number of MiB.
pub fn part_plan(size: u64) -> (u64, u64) {
    let needed = size.div_ceil(MAX_PARTS).max(MIN_PART_SIZE);
    let part_size = needed.div_ceil(MIB) * MIB;
    (part_size, size.div_ceil(part_size).max(1))
}

/// The size of part `number` (1-based).
pub fn part_len(size: u64, part_size: u64, count: u64, number: u64) -> u64 {
    if number < count {
        part_size
    } else {
        size - part_size * (count - 1)
    }
}

static MEDIA_TYPE: LazyLock<Regex> = LazyLock::new(|| {
    #[allow(clippy::expect_used)]
    Regex::new(r"^[a-z0-9][a-z0-9!#$&^_.+-]{0,126}/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}$")
        .expect("static regex")
});

/// Normalises a declared content type (lower-cased `type/subtype`, parameters dropped).
pub fn content_type(raw: Option<&str>) -> Option<String> {
    let raw = raw
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .unwrap_or("application/octet-stream");
    let essence = raw
        .split(';')
        .next()
        .unwrap_or(raw)
        .trim()
        .to_ascii_lowercase();
    MEDIA_TYPE.is_match(&essence).then_some(essence)
}

/// Whether `allowed` (empty: all; entries `type/subtype` or `type/*`) admits `ct`.
pub fn content_type_allowed(allowed: &[String], ct: &str) -> bool {
    allowed.is_empty()
        || allowed.iter().any(|a| match a.strip_suffix("/*") {
            Some(major) => ct.split('/').next() == Some(major),
            None => a == ct,
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn part_plans_respect_s3_limits(size in 1u64..=5 * 1024 * 1024 * MIB) {
            let (part, count) = part_plan(size);
            prop_assert!(part >= MIN_PART_SIZE);
            prop_assert!(count <= MAX_PARTS);
            prop_assert!(part * count >= size);
            prop_assert!(part * (count - 1) < size);
            let last = part_len(size, part, count, count);
            prop_assert!(last >= 1 && last <= part);
        }
    }

    #[test]
    fn content_types_are_normalised_and_filtered() {
        assert_eq!(
            content_type(None).as_deref(),
            Some("application/octet-stream")
        );
        assert_eq!(
            content_type(Some("Text/Plain; charset=utf-8")).as_deref(),
            Some("text/plain")
        );
        assert_eq!(content_type(Some("not a type")), None);
        assert_eq!(content_type(Some("text/plain\r\nX-Evil: 1")), None);
        let allowed = vec!["image/*".to_owned(), "application/pdf".to_owned()];
        assert!(content_type_allowed(&allowed, "image/png"));
        assert!(content_type_allowed(&allowed, "application/pdf"));
        assert!(!content_type_allowed(&allowed, "text/html"));
        assert!(content_type_allowed(&[], "text/html"));
    }
}
