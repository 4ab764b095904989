//! The request target: parsing, dot-segment removal, checks, the mount
//! split and encoding (PATH-1 to PATH-4, PATH-7). The decoded forms the
//! application reads are derived by [`rgi_core::path`].
//!
//! ```
//! use rgi_gateway::path::RequestTarget;
//!
//! let target = RequestTarget::parse("/app/a%20b/../c%2Fd?x=1").unwrap();
//! assert_eq!(target.raw_path(), "/app/c%2Fd");
//! let split = target.mount_split("/app").unwrap();
//! let (script, path) = target.raw_path().split_at(split);
//! assert_eq!((script, path), ("/app", "/c%2Fd"));
//! assert_eq!(target.query(), "x=1");
//! ```

use std::borrow::Cow;
use std::fmt;

use http::uri::PathAndQuery;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC};

/// Why a request target cannot be turned into gateway variables.
///
/// Servers answer these with `400 Bad Request` (PATH-3).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PathError {
    /// The path does not start with `/` and is not the asterisk form.
    #[error("request path must start with '/' (got {0:?})")]
    NotAbsolute(String),
    /// A `%` is not followed by two hexadecimal digits.
    #[error("invalid percent-encoding at byte {0} of the request path")]
    BadEscape(usize),
    /// The path contains a byte that may not appear in a URI path.
    #[error("byte 0x{0:02x} is not allowed in a request path")]
    BadByte(u8),
}

/// A mount prefix that cannot be used (see [`validate_prefix`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid mount prefix {prefix:?}: {reason}")]
pub struct PrefixError {
    prefix: String,
    reason: &'static str,
}

/// The path and query of a request, normalised and ready to be split at a
/// mount prefix.
///
/// Made from a request's URI it shares the URI's bytes (no copy) unless
/// dot segments had to be removed.
#[derive(Clone, PartialEq, Eq)]
pub struct RequestTarget {
    text: PathAndQuery,
    asterisk: bool,
}

impl RequestTarget {
    /// Parses an origin-form target (`/path?query`) or the asterisk form
    /// (`*`, for `OPTIONS *`).
    ///
    /// Dot segments (`.`, `..`, and their escaped spellings such as `%2e%2E`)
    /// are removed as RFC 3986 section 5.2.4 says (PATH-2); `..` never climbs
    /// above the root. Empty segments (`//`) are kept.
    pub fn parse(target: &str) -> Result<Self, PathError> {
        let (path, query) = match target.find('?') {
            Some(i) => (&target[..i], &target[i + 1..]),
            None => (target, ""),
        };
        Self::from_parts(path, query)
    }

    /// The target of a request as an HTTP server parsed it: its path and
    /// query, whatever the form (origin, absolute, HTTP/2).
    pub fn from_uri(uri: &http::Uri) -> Result<Self, PathError> {
        let Some(pq) = uri.path_and_query() else { return Self::from_parts(uri.path(), "") };
        let path = pq.path();
        let query = pq.query().unwrap_or("");
        if path == "*" || !path.starts_with('/') || scan_path(path)? {
            return Self::from_parts(path, query);
        }
        check_query(query)?;
        Ok(Self { text: pq.clone(), asterisk: false })
    }

    /// Like [`parse`](Self::parse), with path and query already apart (the
    /// query without its `?`).
    pub fn from_parts(path: &str, query: &str) -> Result<Self, PathError> {
        check_query(query)?;
        if path == "*" {
            return Self::owned("*".to_string(), query, true);
        }
        if !path.starts_with('/') {
            return Err(PathError::NotAbsolute(path.chars().take(64).collect()));
        }
        check_escapes(path)?;
        Self::owned(remove_dot_segments(path), query, false)
    }

    fn owned(mut text: String, query: &str, asterisk: bool) -> Result<Self, PathError> {
        if !query.is_empty() {
            text.push('?');
            text.push_str(query);
        }
        // The bytes were checked above; `http` is stricter about a few
        // (such as `<`) that some clients send unescaped.
        let refused = |b: &u8| PathAndQuery::try_from([b'/', *b].as_slice()).is_err();
        let pq = PathAndQuery::try_from(text.as_str())
            .map_err(|_| PathError::BadByte(text.bytes().find(refused).unwrap_or(b'?')))?;
        Ok(Self { text: pq, asterisk })
    }

    /// The normalised raw path (still percent-encoded).
    pub fn raw_path(&self) -> &str {
        self.text.path()
    }

    /// The query string, without the `?`; empty when there was none (ENV-3).
    pub fn query(&self) -> &str {
        self.text.query().unwrap_or("")
    }

    /// Whether this is the asterisk form (`OPTIONS * HTTP/1.1`).
    pub fn is_asterisk(&self) -> bool {
        self.asterisk
    }

    /// Where SCRIPT_NAME ends in [`raw_path`](Self::raw_path) if `prefix` is
    /// mounted, or `None` when the prefix does not match (PATH-4).
    ///
    /// The prefix matches whole segments, each raw segment decoded before it
    /// is compared: `/app` matches `/app`, `/app/`, `/app/x` and `/%61pp/x`,
    /// but not `/apple` and not `/app%2Fx`. The empty prefix (root mount)
    /// matches everything at 0.
    pub fn mount_split(&self, prefix: &str) -> Option<usize> {
        if self.asterisk && !prefix.is_empty() {
            return None;
        }
        rgi_core::path::split_prefix(self.raw_path(), prefix)
    }

    /// The normalised path and query, as the [`Environ`](rgi_core::Environ)
    /// keeps them.
    pub fn into_path_and_query(self) -> PathAndQuery {
        self.text
    }
}

fn check_query(query: &str) -> Result<(), PathError> {
    match query.as_bytes().iter().copied().find(|&b| !is_uri_byte(b)) {
        Some(b) => Err(PathError::BadByte(b)),
        None => Ok(()),
    }
}

/// Whether a path may hold a dot segment, escaped or not.
fn needs_dot_removal(path: &str) -> bool {
    path.as_bytes().windows(2).any(|w| w[0] == b'/' && (w[1] == b'.' || w[1] == b'%'))
}

/// Checks the path's bytes and escapes (PATH-3) and says whether it may
/// hold a dot segment, in one pass: this runs for every request.
fn scan_path(path: &str) -> Result<bool, PathError> {
    let bytes = path.as_bytes();
    let mut dots = false;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'%' {
            if !is_escape_at(bytes, i) {
                return Err(PathError::BadEscape(i));
            }
        } else if !is_uri_byte(b) {
            return Err(PathError::BadByte(b));
        } else if b == b'/' {
            dots |= matches!(bytes.get(i + 1), Some(b'.' | b'%'));
        }
        i += 1;
    }
    Ok(dots)
}

impl fmt::Debug for RequestTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestTarget").field("raw_path", &self.raw_path()).field("query", &self.query()).finish()
    }
}

/// Checks a mount prefix: empty (the root), or `/`-separated segments with
/// no trailing `/`, no `%`, no empty, `.` or `..` segment (PATH-4).
///
/// A lone `/` is accepted and means the root (it becomes the empty prefix).
pub fn validate_prefix(prefix: &str) -> Result<String, PrefixError> {
    let fail = |reason| Err(PrefixError { prefix: prefix.to_string(), reason });
    if prefix.is_empty() || prefix == "/" {
        return Ok(String::new());
    }
    if !prefix.starts_with('/') {
        return fail("must start with '/'");
    }
    if prefix.ends_with('/') {
        return fail("must not end with '/'");
    }
    for seg in prefix.split('/').skip(1) {
        if seg.is_empty() || seg == "." || seg == ".." {
            return fail("segments must not be empty, '.' or '..'");
        }
        if seg.bytes().any(|b| b == b'%' || b == b'?' || b == b'#' || !is_uri_byte(b)) {
            return fail("write the prefix decoded, without '%', '?', '#' or control bytes");
        }
    }
    Ok(prefix.to_string())
}

/// Percent-encodes a decoded path for a raw context, such that
/// `decode(&encode(p)) == p` for every string `p`.
///
/// Every `%` is escaped: a decoded path that still shows `%2F` meant the
/// three characters, which is how a front that sends only a decoded
/// PATH_INFO (and no REQUEST_URI) must be read.
pub fn encode(decoded: &str) -> Cow<'_, str> {
    percent_encoding::utf8_percent_encode(decoded, NOT_PATH).into()
}

/// Every byte but RFC 3986 `pchar` and `/`: what [`encode`] escapes.
const NOT_PATH: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'!')
    .remove(b'$')
    .remove(b'&')
    .remove(b'\'')
    .remove(b'(')
    .remove(b')')
    .remove(b'*')
    .remove(b'+')
    .remove(b',')
    .remove(b';')
    .remove(b'=')
    .remove(b':')
    .remove(b'@')
    .remove(b'/');

fn check_escapes(path: &str) -> Result<(), PathError> {
    let bytes = path.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'%' {
            if !is_escape_at(bytes, i) {
                return Err(PathError::BadEscape(i));
            }
        } else if !is_uri_byte(b) {
            return Err(PathError::BadByte(b));
        }
    }
    Ok(())
}

/// RFC 3986 5.2.4, treating escaped dots as dots (they are equivalent by
/// RFC 3986 6.2.2.2, and a front that decodes first would see them so).
fn remove_dot_segments(path: &str) -> String {
    if !needs_dot_removal(path) {
        return path.to_string();
    }
    let segments: Vec<&str> = path[1..].split('/').collect();
    let mut out: Vec<&str> = Vec::with_capacity(segments.len());
    let last = segments.len() - 1;
    let mut trailing_slash = false;
    for (i, seg) in segments.iter().enumerate() {
        match dot_kind(seg) {
            Some(1) => trailing_slash = i == last,
            Some(_) => {
                out.pop();
                trailing_slash = i == last;
            }
            None => {
                out.push(seg);
                trailing_slash = false;
            }
        }
    }
    let mut result = String::with_capacity(path.len());
    for seg in &out {
        result.push('/');
        result.push_str(seg);
    }
    if trailing_slash || result.is_empty() {
        result.push('/');
    }
    result
}

/// `Some(1)` for a `.` segment, `Some(2)` for `..`, in any escaped spelling.
fn dot_kind(seg: &str) -> Option<u8> {
    let b = seg.as_bytes();
    let mut i = 0;
    let mut dots = 0u8;
    while i < b.len() {
        if b[i] == b'.' {
            i += 1;
        } else if b[i] == b'%' && b.len() >= i + 3 && b[i + 1] == b'2' && (b[i + 2] | 0x20) == b'e' {
            i += 3;
        } else {
            return None;
        }
        dots += 1;
        if dots > 2 {
            return None;
        }
    }
    (dots > 0).then_some(dots)
}

/// Whether a `%` at `i` starts a valid escape (two hexadecimal digits).
fn is_escape_at(bytes: &[u8], i: usize) -> bool {
    bytes.get(i + 1).is_some_and(u8::is_ascii_hexdigit) && bytes.get(i + 2).is_some_and(u8::is_ascii_hexdigit)
}

/// Bytes a request target may carry on the wire: visible ASCII but `#`.
///
/// Stricter than this (RFC 3986 also forbids `"`, `<`, `{`...) would refuse
/// what browsers send unescaped in practice; the HTTP parser in front of us
/// applies its own rules first.
fn is_uri_byte(b: u8) -> bool {
    b.is_ascii_graphic() && b != b'#'
}

/// RFC 3986 `unreserved` and `sub-delims`: the bytes that paths and host
/// names (`reg-name`) both take as they are.
pub(crate) fn is_unreserved_or_sub_delim(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'-' | b'.' | b'_' | b'~' | b'!' | b'$' | b'&' | b'\'' | b'(' | b')' | b'*' | b'+' | b',' | b';' | b'='
        )
}

#[cfg(test)]
mod tests;
