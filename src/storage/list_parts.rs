//! ListParts, which rust-s3 lacks: a short-lived presigned GET, and its XML answer
//! parsed with quick-xml's serde support.

use std::collections::HashMap;

use super::s3::{path, request_err, status_err, S3Store};
use super::{StorageError, StoredPart};

impl S3Store {
    /// One page of ListParts, through a short-lived presigned GET (rust-s3 has no ListParts).
    pub(super) async fn list_parts_page(
        &self,
        key: &str,
        upload_id: &str,
        marker: Option<u32>,
    ) -> Result<(Vec<StoredPart>, Option<u32>), StorageError> {
        let mut query = HashMap::from([("uploadId".to_owned(), upload_id.to_owned())]);
        if let Some(m) = marker {
            query.insert("part-number-marker".to_owned(), m.to_string());
        }
        let url = self
            .bucket
            .presign_get(path(key), 60, Some(query))
            .await
            .map_err(request_err)?;
        let res = self
            .bucket
            .http_client()
            .get(url)
            .send()
            .await
            .map_err(StorageError::request)?;
        let status = res.status().as_u16();
        let body = res.bytes().await.map_err(StorageError::request)?;
        if !(200..300).contains(&status) {
            return Err(status_err(status, &body));
        }
        parse_list_parts(&String::from_utf8_lossy(&body))
    }
}

/// A ListPartsResult page, as far as Coffer reads it.
#[derive(serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListPartsPage {
    #[serde(default)]
    is_truncated: bool,
    /// Text, not a number: some stores send it empty on the last page.
    #[serde(default)]
    next_part_number_marker: Option<String>,
    #[serde(default, rename = "Part")]
    parts: Vec<ListedPart>,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListedPart {
    part_number: u32,
    /// s3s-fs omits part ETags (and ignores them on completion).
    #[serde(default, rename = "ETag")]
    etag: String,
    size: u64,
}

/// Parses a ListPartsResult page: its parts and the marker of the next page.
fn parse_list_parts(xml: &str) -> Result<(Vec<StoredPart>, Option<u32>), StorageError> {
    let page: ListPartsPage = quick_xml::de::from_str(xml).map_err(|e| {
        StorageError::Malformed(format!("ListParts ({e}): {}", &xml[..xml.len().min(600)]))
    })?;
    let next = match page.is_truncated {
        true => page
            .next_part_number_marker
            .and_then(|m| m.trim().parse().ok()),
        false => None,
    };
    let parts = page
        .parts
        .into_iter()
        .map(|p| StoredPart {
            number: p.part_number,
            etag: p.etag,
            size: p.size,
        })
        .collect();
    Ok((parts, next))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_list_parts_pages() {
        let xml = r#"<?xml version="1.0"?><ListPartsResult><IsTruncated>true</IsTruncated>
            <NextPartNumberMarker>2</NextPartNumberMarker>
            <Part><PartNumber>1</PartNumber><ETag>&quot;a1&quot;</ETag><Size>5242880</Size></Part>
            <Part><ETag>"b2"</ETag><Size>7</Size><PartNumber>2</PartNumber></Part></ListPartsResult>"#;
        let (parts, next) = parse_list_parts(xml).expect("parse");
        assert_eq!(next, Some(2));
        assert_eq!(
            parts,
            vec![
                StoredPart {
                    number: 1,
                    etag: "\"a1\"".into(),
                    size: 5242880
                },
                StoredPart {
                    number: 2,
                    etag: "\"b2\"".into(),
                    size: 7
                },
            ]
        );
        let (parts, next) =
            parse_list_parts("<ListPartsResult><IsTruncated>false</IsTruncated></ListPartsResult>")
                .expect("parse");
        assert!(parts.is_empty() && next.is_none());
        let (parts, _) = parse_list_parts(
            "<ListPartsResult><Part><PartNumber>4</PartNumber><Size>9</Size></Part></ListPartsResult>",
        )
        .expect("parse");
        assert_eq!(parts[0].etag, "");
        assert!(
            parse_list_parts("<ListPartsResult><Part><Size>9</Size></Part></ListPartsResult>")
                .is_err()
        );
        assert!(parse_list_parts("<ListPartsResult><Part>").is_err());
        let (_, next) = parse_list_parts(
            "<ListPartsResult><IsTruncated>false</IsTruncated>\
             <NextPartNumberMarker></NextPartNumberMarker></ListPartsResult>",
        )
        .expect("an empty marker on the last page");
        assert!(next.is_none());
    }
}
