//! The response to a found file: conditional requests (`ETag`,
//! `Last-Modified`), one byte range, and the body from the file or from
//! bytes already read.

use http::header::{self, HeaderValue};
use http::StatusCode;
use rgi_core::{Body, Error, Request, Response};
use rgi_gateway::FileBody;

use crate::meta::Meta;

/// What a response's body comes from.
pub(crate) enum Content {
    /// The file, read as the body is sent.
    File(std::fs::File),
    /// The whole file, already read.
    Read(rgi_core::bytes::Bytes),
}

pub(crate) fn text(status: StatusCode, message: &str) -> Response {
    rgi_gateway::respond::plain(status, message)
}

/// The response to a GET or HEAD of a found file: `304`, `206`, `416` or
/// `200`, by the request's conditions and range.
pub(crate) fn serve(request: &Request, content: Content, meta: &Meta) -> Result<Response, Error> {
    let len = meta.len;
    // Both are visible ASCII, as they were made.
    let etag = meta.etag.to_str().unwrap_or_default();
    let last_modified = meta.last_modified.to_str().unwrap_or_default();
    let headers = request.headers();
    let not_modified = match headers.get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()) {
        Some(tags) => tags.split(',').map(str::trim).any(|t| t == "*" || weak_eq(t, etag)),
        None => headers
            .get(header::IF_MODIFIED_SINCE)
            .and_then(|v| httpdate::parse_http_date(v.to_str().ok()?).ok())
            .is_some_and(|since| meta.modified <= since),
    };
    let mut response = Response::new(Body::empty());
    let h = response.headers_mut();
    h.insert(header::ETAG, meta.etag.clone());
    h.insert(header::LAST_MODIFIED, meta.last_modified.clone());
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert(header::CONTENT_TYPE, meta.content_type.clone());
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    if not_modified {
        *response.status_mut() = StatusCode::NOT_MODIFIED;
        return Ok(response);
    }
    let range = headers
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .filter(|_| if_range_holds(headers.get(header::IF_RANGE), etag, last_modified));
    match range.map(|r| parse_range(r, len)) {
        Some(Some(Ok((start, end)))) => {
            *response.status_mut() = StatusCode::PARTIAL_CONTENT;
            let h = response.headers_mut();
            h.insert(
                header::CONTENT_RANGE,
                HeaderValue::try_from(format!("bytes {start}-{end}/{len}")).map_err(Error::new)?,
            );
            h.insert(header::CONTENT_LENGTH, HeaderValue::from(end - start + 1));
            *response.body_mut() = match content {
                Content::File(file) => Body::wrap(FileBody::new(file, start, end - start + 1)),
                Content::Read(bytes) => {
                    let (start, end) = (usize::try_from(start).unwrap_or(0), usize::try_from(end).unwrap_or(0));
                    Body::from(bytes.slice(start..=end.min(bytes.len().saturating_sub(1))))
                }
            };
        }
        Some(Some(Err(()))) => {
            *response.status_mut() = StatusCode::RANGE_NOT_SATISFIABLE;
            let h = response.headers_mut();
            h.insert(header::CONTENT_RANGE, HeaderValue::try_from(format!("bytes */{len}")).map_err(Error::new)?);
        }
        // No Range, or one we serve whole (several ranges, or malformed).
        _ => {
            response.headers_mut().insert(header::CONTENT_LENGTH, HeaderValue::from(len));
            *response.body_mut() = match content {
                Content::File(file) => Body::wrap(FileBody::new(file, 0, len)),
                Content::Read(bytes) => Body::from(bytes),
            };
        }
    }
    Ok(response)
}

fn weak_eq(a: &str, b: &str) -> bool {
    a.trim_start_matches("W/") == b.trim_start_matches("W/")
}

fn if_range_holds(if_range: Option<&HeaderValue>, etag: &str, last_modified: &str) -> bool {
    match if_range.and_then(|v| v.to_str().ok()) {
        None => true,
        // Weak tags never satisfy If-Range (RFC 9110 13.1.5): ranges are then ignored.
        Some(v) if v.starts_with('"') || v.starts_with("W/") => !etag.starts_with("W/") && v == etag,
        Some(date) => date == last_modified,
    }
}

/// One range of `bytes=` against a file of `len` bytes: `Some(Ok((first,
/// last)))` to serve, `Some(Err(()))` when unsatisfiable, `None` to serve
/// the whole file (several ranges, or a form not understood).
fn parse_range(header: &str, len: u64) -> Option<Result<(u64, u64), ()>> {
    let spec = header.trim().strip_prefix("bytes=")?;
    if spec.contains(',') {
        return None;
    }
    let (first, last) = spec.split_once('-')?;
    let (first, last) = (first.trim(), last.trim());
    let range = if first.is_empty() {
        let suffix: u64 = last.parse().ok()?;
        if suffix == 0 || len == 0 {
            return Some(Err(()));
        }
        (len.saturating_sub(suffix), len - 1)
    } else {
        let start: u64 = first.parse().ok()?;
        let end =
            if last.is_empty() { len.saturating_sub(1) } else { last.parse::<u64>().ok()?.min(len.saturating_sub(1)) };
        if !last.is_empty() && last.parse::<u64>().ok()? < start {
            return None;
        }
        if start >= len {
            return Some(Err(()));
        }
        (start, end)
    };
    Some(Ok(range))
}

#[cfg(test)]
mod tests {
    use super::parse_range;

    #[test]
    fn ranges() {
        assert_eq!(parse_range("bytes=0-9", 100), Some(Ok((0, 9))));
        assert_eq!(parse_range("bytes=90-", 100), Some(Ok((90, 99))));
        assert_eq!(parse_range("bytes=-10", 100), Some(Ok((90, 99))));
        assert_eq!(parse_range("bytes=95-200", 100), Some(Ok((95, 99))));
        assert_eq!(parse_range("bytes=100-", 100), Some(Err(())));
        assert_eq!(parse_range("bytes=-0", 100), Some(Err(())));
        assert_eq!(parse_range("bytes=5-1", 100), None);
        assert_eq!(parse_range("bytes=0-1,5-6", 100), None);
        assert_eq!(parse_range("items=0-1", 100), None);
        assert_eq!(parse_range("bytes=x-1", 100), None);
    }
}
