//! Media types as uploads declare them: the `type/subtype` grammar (RFC 9110), and the
//! allow-list rule the runtime settings and uploads share.

use std::sync::LazyLock;

use regex::Regex;

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
