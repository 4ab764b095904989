//! What a file's response heads say about it, worked out once per file
//! version: a cached file's hits reuse it.

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::header::{HeaderValue, InvalidHeaderValue};

/// A file's length, validators and type, the validators as the header
/// values they go out as.
#[derive(Debug, Clone)]
pub(crate) struct Meta {
    pub(crate) len: u64,
    /// Weak: length and modification time, to the nanosecond.
    pub(crate) etag: HeaderValue,
    pub(crate) last_modified: HeaderValue,
    /// `Last-Modified` as a time, to the second as the header has it.
    pub(crate) modified: SystemTime,
    pub(crate) content_type: HeaderValue,
}

impl Meta {
    pub(crate) fn new(path: &Path, len: u64, modified: SystemTime) -> Result<Self, InvalidHeaderValue> {
        let mtime = modified.duration_since(UNIX_EPOCH).unwrap_or_default();
        let modified = UNIX_EPOCH + Duration::from_secs(mtime.as_secs());
        Ok(Self {
            len,
            etag: HeaderValue::try_from(format!("W/\"{len:x}-{:x}\"", mtime.as_nanos()))?,
            last_modified: HeaderValue::try_from(httpdate::fmt_http_date(modified))?,
            modified,
            content_type: content_type(path),
        })
    }
}

fn content_type(path: &Path) -> HeaderValue {
    let mime = mime_guess::from_path(path).first_or_octet_stream();
    let text = mime.type_() == mime_guess::mime::TEXT
        || mime.essence_str() == "application/javascript"
        || mime.essence_str() == "application/json";
    let value =
        if text && mime.get_param("charset").is_none() { format!("{mime}; charset=utf-8") } else { mime.to_string() };
    HeaderValue::try_from(value).unwrap_or(HeaderValue::from_static("application/octet-stream"))
}
