//! How a download presents a file: always as an attachment with an RFC 6266 filename,
//! and with a content type that can never run script in a browser.

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// RFC 5987 `attr-char`: everything else in `filename*` is percent-encoded.
const ATTR_CHAR: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'!')
    .remove(b'#')
    .remove(b'$')
    .remove(b'&')
    .remove(b'+')
    .remove(b'-')
    .remove(b'.')
    .remove(b'^')
    .remove(b'_')
    .remove(b'`')
    .remove(b'|')
    .remove(b'~');

/// `attachment` with an ASCII fallback and the exact name in `filename*` (RFC 6266).
pub fn content_disposition(name: &str) -> String {
    let fallback: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!(
        "attachment; filename=\"{fallback}\"; filename*=UTF-8''{}",
        utf8_percent_encode(name, ATTR_CHAR)
    )
}

/// Types a browser renders without running anything; all others are served as
/// `application/octet-stream`.
const PASSIVE_TYPES: &[&str] = &[
    "application/gzip",
    "application/json",
    "application/octet-stream",
    "application/pdf",
    "application/x-tar",
    "application/zip",
    "text/csv",
    "text/plain",
    "image/avif",
    "image/gif",
    "image/jpeg",
    "image/png",
    "image/webp",
];

pub fn served_content_type(stored: Option<&str>) -> String {
    match stored {
        Some(t)
            if PASSIVE_TYPES.contains(&t) || t.starts_with("audio/") || t.starts_with("video/") =>
        {
            t.to_owned()
        }
        _ => "application/octet-stream".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disposition_has_ascii_fallback_and_exact_utf8_name() {
        assert_eq!(
            content_disposition("résumé \"final\".pdf"),
            "attachment; filename=\"r_sum_ _final_.pdf\"; filename*=UTF-8''r%C3%A9sum%C3%A9%20%22final%22.pdf"
        );
        assert_eq!(
            content_disposition("a.txt"),
            "attachment; filename=\"a.txt\"; filename*=UTF-8''a.txt"
        );
    }

    #[test]
    fn active_content_is_served_as_octet_stream() {
        for t in [
            "text/html",
            "image/svg+xml",
            "application/xml",
            "text/xml",
            "text/javascript",
            "application/javascript",
        ] {
            assert_eq!(
                served_content_type(Some(t)),
                "application/octet-stream",
                "{t}"
            );
        }
        assert_eq!(served_content_type(None), "application/octet-stream");
        assert_eq!(
            served_content_type(Some("made/up")),
            "application/octet-stream"
        );
        assert_eq!(served_content_type(Some("image/png")), "image/png");
        assert_eq!(served_content_type(Some("video/mp4")), "video/mp4");
    }
}
