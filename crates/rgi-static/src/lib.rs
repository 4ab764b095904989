//! Static files as an rgi [`Application`]: mount a directory at a prefix
//! of the production server or the development server.
//!
//! * `GET` and `HEAD` only (others get `405` with `Allow`).
//! * `ETag` and `Last-Modified`, answered with `304` to `If-None-Match` and
//!   `If-Modified-Since`.
//! * One byte range per request (`Range`, `If-Range`); `416` when none of
//!   the file is in it. Several ranges get the whole file, as RFC 9110 allows.
//! * `Content-Type` from the extension, `charset=utf-8` for text.
//! * No way out of the root (DMN-12): a request is resolved from the
//!   decoded segments of PATH_INFO, and a segment that is `.`, `..`, holds a
//!   `/` (from `%2F`), a backslash or a NUL is refused; the resolved path
//!   must lie under the root after symbolic links are followed.
//!
//! ```no_run
//! let files = rgi_static::StaticFiles::new("public").unwrap();
//! ```

use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use http::header::{self, HeaderValue};
use http::{Method, StatusCode};
use rgi_core::{async_trait, Application, Body, Error, Request, Response};
use rgi_gateway::FileBody;

/// A directory served as files.
#[derive(Debug, Clone)]
pub struct StaticFiles {
    root: Arc<Path>,
    index: Option<Arc<str>>,
}

impl StaticFiles {
    /// Serves `root`, which must be a directory.
    pub fn new(root: impl AsRef<Path>) -> std::io::Result<Self> {
        let root = root.as_ref().canonicalize()?;
        if !root.is_dir() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("{} is not a directory", root.display()),
            ));
        }
        Ok(Self { root: root.into(), index: Some("index.html".into()) })
    }

    /// The file served for a directory (default `index.html`); `None`
    /// serves nothing for directories.
    pub fn index(mut self, index: Option<&str>) -> Self {
        self.index = index.map(Into::into);
        self
    }

    /// The served directory.
    pub fn root(&self) -> &Path {
        &self.root
    }
}

/// The path a request names under `root`, from the decoded segments of
/// PATH_INFO; `None` when a segment tries to leave the root.
fn join_segments(root: &Path, request: &Request) -> Option<PathBuf> {
    let mut path = root.to_path_buf();
    for segment in request.environ().path_segments() {
        if segment.is_empty() {
            continue;
        }
        let safe = segment != "."
            && segment != ".."
            && !segment.contains(['/', '\\', '\0'])
            && Path::new(segment.as_ref()).components().all(|c| matches!(c, Component::Normal(_)));
        if !safe {
            return None;
        }
        path.push(segment.as_ref());
    }
    Some(path)
}

/// What a request's path leads to, found and opened on the blocking pool:
/// `canonicalize`, `is_dir` and `open` wait for the disk.
enum Found {
    File(std::fs::File, PathBuf),
    SlashRedirect,
    Outside,
    Missing,
    Forbidden,
}

fn find(root: &Path, index: Option<&str>, path: &Path, has_slash: bool) -> Found {
    let Ok(real) = path.canonicalize() else { return Found::Missing };
    if !real.starts_with(root) {
        return Found::Outside;
    }
    let file = if real.is_dir() {
        if !has_slash {
            return Found::SlashRedirect;
        }
        let Some(index) = index else { return Found::Missing };
        match real.join(index).canonicalize() {
            Ok(file) if file.starts_with(root) => file,
            _ => return Found::Missing,
        }
    } else {
        real
    };
    if !file.is_file() {
        return Found::Missing;
    }
    match std::fs::File::open(&file) {
        Ok(opened) => Found::File(opened, file),
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => Found::Forbidden,
        Err(_) => Found::Missing,
    }
}

#[async_trait]
impl Application for StaticFiles {
    async fn call(&self, request: Request) -> Result<Response, Error> {
        if request.method() != Method::GET && request.method() != Method::HEAD {
            let mut r = text(StatusCode::METHOD_NOT_ALLOWED, "only GET and HEAD are served here");
            r.headers_mut().insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
            return Ok(r);
        }
        let Some(path) = join_segments(&self.root, &request) else {
            tracing::warn!(path = %request.environ().raw_path_info(), "static file request trying to leave its root");
            return Ok(text(StatusCode::NOT_FOUND, "no such file"));
        };
        let (root, index) = (Arc::clone(&self.root), self.index.clone());
        let has_slash = request.environ().path_info().ends_with('/');
        // A small file a plain GET wants whole is read in the same trip to
        // the blocking pool that found it: each trip is two thread
        // switches, which cost more than reading a few KiB.
        let whole = request.method() == Method::GET && !request.headers().contains_key(header::RANGE);
        let found = tokio::task::spawn_blocking(move || {
            let mut found = find(&root, index.as_deref(), &path, has_slash);
            let (meta, small) = match &mut found {
                Found::File(file, _) => {
                    let meta = file.metadata();
                    let small = match &meta {
                        Ok(m) if whole && m.len() <= READ_AT_ONCE => read_small(file, m.len()),
                        _ => None,
                    };
                    (Some(meta), small)
                }
                _ => (None, None),
            };
            (found, meta, small)
        })
        .await
        .map_err(Error::new)?;
        let (file, path, meta, small) = match found {
            (Found::File(file, path), Some(meta), small) => (file, path, meta?, small),
            (Found::SlashRedirect, ..) => {
                let env = request.environ();
                let mut location = format!("{}{}/", env.raw_script_name(), env.raw_path_info());
                if !env.query_string().is_empty() {
                    location = format!("{location}?{}", env.query_string());
                }
                let mut r = text(StatusCode::MOVED_PERMANENTLY, "a directory: its address ends with /");
                r.headers_mut().insert(header::LOCATION, HeaderValue::try_from(location).map_err(Error::new)?);
                return Ok(r);
            }
            (Found::Outside, ..) => {
                tracing::warn!(path = %request.environ().raw_path_info(), "static file request leads outside its root");
                return Ok(text(StatusCode::NOT_FOUND, "no such file"));
            }
            (Found::Forbidden, ..) => return Ok(text(StatusCode::FORBIDDEN, "not readable")),
            _ => return Ok(text(StatusCode::NOT_FOUND, "no such file")),
        };
        let content = match small {
            Some(bytes) => Content::Read(bytes),
            None => Content::File(file),
        };
        serve(&request, content, &path, meta.len(), meta.modified().unwrap_or(UNIX_EPOCH))
    }
}

/// Files up to this size are read whole with their lookup.
const READ_AT_ONCE: u64 = 64 * 1024;

/// All of a small file, or `None` if it is not `len` bytes any more (it
/// changed under us: the file body then reads what is there).
fn read_small(file: &mut std::fs::File, len: u64) -> Option<rgi_core::bytes::Bytes> {
    use std::io::Read;
    let mut buf = Vec::with_capacity(usize::try_from(len).ok()?);
    file.read_to_end(&mut buf).ok()?;
    (buf.len() as u64 == len).then(|| rgi_core::bytes::Bytes::from(buf))
}

/// What a response's body comes from.
enum Content {
    /// The file, read as the body is sent.
    File(std::fs::File),
    /// The whole file, already read.
    Read(rgi_core::bytes::Bytes),
}

fn text(status: StatusCode, message: &str) -> Response {
    rgi_gateway::respond::plain(status, message)
}

fn serve(request: &Request, content: Content, path: &Path, len: u64, modified: SystemTime) -> Result<Response, Error> {
    let mtime = modified.duration_since(UNIX_EPOCH).unwrap_or_default();
    let etag = format!("W/\"{len:x}-{:x}\"", mtime.as_nanos());
    let last_modified = httpdate::fmt_http_date(UNIX_EPOCH + std::time::Duration::from_secs(mtime.as_secs()));
    let headers = request.headers();
    let not_modified = match headers.get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()) {
        Some(tags) => tags.split(',').map(str::trim).any(|t| t == "*" || weak_eq(t, &etag)),
        None => headers
            .get(header::IF_MODIFIED_SINCE)
            .and_then(|v| httpdate::parse_http_date(v.to_str().ok()?).ok())
            .is_some_and(|since| UNIX_EPOCH + std::time::Duration::from_secs(mtime.as_secs()) <= since),
    };
    let mut response = Response::new(Body::empty());
    let h = response.headers_mut();
    h.insert(header::ETAG, HeaderValue::try_from(&etag).map_err(Error::new)?);
    h.insert(header::LAST_MODIFIED, HeaderValue::try_from(&last_modified).map_err(Error::new)?);
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert(header::CONTENT_TYPE, content_type(path));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    if not_modified {
        *response.status_mut() = StatusCode::NOT_MODIFIED;
        return Ok(response);
    }
    let range = headers
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .filter(|_| if_range_holds(headers.get(header::IF_RANGE), &etag, &last_modified));
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

fn content_type(path: &Path) -> HeaderValue {
    let mime = mime_guess::from_path(path).first_or_octet_stream();
    let text = mime.type_() == mime_guess::mime::TEXT
        || mime.essence_str() == "application/javascript"
        || mime.essence_str() == "application/json";
    let value =
        if text && mime.get_param("charset").is_none() { format!("{mime}; charset=utf-8") } else { mime.to_string() };
    HeaderValue::try_from(value).unwrap_or(HeaderValue::from_static("application/octet-stream"))
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
