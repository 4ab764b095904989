//! The request path: normalisation, the SCRIPT_NAME / PATH_INFO split, and
//! decoding (spec section "Paths", `PATH-*`).
//!
//! Three forms of a path exist and each has one job:
//!
//! * the **raw** form is the path exactly as the client percent-encoded it,
//!   after dot segments are removed (PATH-2). It is lossless:
//!   `raw_script_name + raw_path_info` is the normalised request path.
//! * the **decoded** form (`script_name`, `path_info`) is what CGI and WSGI
//!   call SCRIPT_NAME and PATH_INFO: every escape is decoded except `%2F`,
//!   which stays `%2F` so that an encoded slash never silently becomes a
//!   path separator (PATH-5), and bytes that are not UTF-8, which stay
//!   escaped (PATH-6).
//! * the **segments** (`Environ::path_segments`) decode each raw segment
//!   on its own, `%2F` included: the unambiguous form for routers.
//!
//! ```
//! use rgi_core::path::RequestTarget;
//!
//! let target = RequestTarget::parse("/app/a%20b/../c%2Fd?x=1").unwrap();
//! assert_eq!(target.raw_path(), "/app/c%2Fd");
//! let split = target.mount_split("/app").unwrap();
//! let (script, path) = target.raw_path().split_at(split);
//! assert_eq!((script, path), ("/app", "/c%2Fd"));
//! assert_eq!(rgi_core::path::decode(path), "/c%2Fd");
//! assert_eq!(target.query(), "x=1");
//! ```

use std::borrow::Cow;
use std::fmt;

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
    text: Text,
    path_end: usize,
    query_start: usize,
    asterisk: bool,
}

/// Where the target's text lives.
#[derive(Clone, PartialEq, Eq)]
enum Text {
    Uri(http::uri::PathAndQuery),
    Owned(String),
}

impl Text {
    fn as_str(&self) -> &str {
        match self {
            Text::Uri(pq) => pq.as_str(),
            Text::Owned(s) => s,
        }
    }
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
        let path_end = path.len();
        let query_start = if pq.query().is_some() { path_end + 1 } else { pq.as_str().len() };
        Ok(Self { text: Text::Uri(pq.clone()), path_end, query_start, asterisk: false })
    }

    /// Like [`parse`](Self::parse), with path and query already apart (the
    /// query without its `?`).
    pub fn from_parts(path: &str, query: &str) -> Result<Self, PathError> {
        check_query(query)?;
        if path == "*" {
            return Ok(Self::owned("*".to_string(), query, true));
        }
        if !path.starts_with('/') {
            return Err(PathError::NotAbsolute(path.chars().take(64).collect()));
        }
        check_escapes(path)?;
        Ok(Self::owned(remove_dot_segments(path), query, false))
    }

    fn owned(mut path: String, query: &str, asterisk: bool) -> Self {
        let path_end = path.len();
        if !query.is_empty() {
            path.push('?');
            path.push_str(query);
        }
        let query_start = if query.is_empty() { path.len() } else { path_end + 1 };
        Self { text: Text::Owned(path), path_end, query_start, asterisk }
    }

    /// The normalised raw path (still percent-encoded).
    pub fn raw_path(&self) -> &str {
        &self.text.as_str()[..self.path_end]
    }

    /// The query string, without the `?`; empty when there was none (ENV-3).
    pub fn query(&self) -> &str {
        &self.text.as_str()[self.query_start..]
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
        prefix_split(self.raw_path(), prefix)
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
            if escape_at(bytes, i).is_none() {
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

/// Where `prefix` (decoded, `/`-separated) ends in the raw path `raw`,
/// matching whole segments, each raw segment decoded before comparison
/// (see [`RequestTarget::mount_split`]).
pub fn prefix_split(raw: &str, prefix: &str) -> Option<usize> {
    if prefix.is_empty() {
        return Some(0);
    }
    let raw = raw.as_bytes();
    let mut at = 0;
    for want in prefix.split('/').skip(1) {
        // `at` points at a '/' in raw.
        if raw.get(at) != Some(&b'/') {
            return None;
        }
        let start = at + 1;
        let end = raw[start..].iter().position(|&b| b == b'/').map_or(raw.len(), |i| start + i);
        if decode_bytes(&raw[start..end]).as_ref() != want.as_bytes() {
            return None;
        }
        at = end;
    }
    Some(at)
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

/// Decodes a raw path into its SCRIPT_NAME / PATH_INFO form (PATH-5, PATH-6).
///
/// Every `%XX` is decoded except `%2F`/`%2f`, which stays (as `%2F`), and
/// bytes that would not form UTF-8, which stay escaped (upper-case hex).
/// The input must have passed [`RequestTarget::parse`]; stray `%` signs are
/// kept as they are.
pub fn decode(raw: &str) -> Cow<'_, str> {
    if !raw.contains('%') {
        return Cow::Borrowed(raw);
    }
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match escape_at(bytes, i) {
            Some(b'/') => {
                out.extend_from_slice(b"%2F");
                i += 3;
            }
            Some(b) => {
                out.push(b);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    Cow::Owned(escape_invalid_utf8(out))
}

/// Decodes every escape in one raw segment, `%2F` included (for
/// [`Environ::path_segments`](crate::Environ::path_segments)).
pub fn decode_segment(raw: &str) -> Cow<'_, str> {
    match decode_bytes(raw.as_bytes()) {
        Cow::Borrowed(_) => Cow::Borrowed(raw),
        Cow::Owned(bytes) => Cow::Owned(escape_invalid_utf8(bytes)),
    }
}

/// Percent-encodes a decoded path for a raw context, such that
/// `decode(&encode(p)) == p` for every string `p`.
///
/// Every `%` is escaped: a decoded path that still shows `%2F` meant the
/// three characters, which is how a front that sends only a decoded
/// PATH_INFO (and no REQUEST_URI) must be read.
pub fn encode(decoded: &str) -> Cow<'_, str> {
    let bytes = decoded.as_bytes();
    if bytes.iter().all(|&b| is_path_byte(b)) {
        return Cow::Borrowed(decoded);
    }
    let mut out = String::with_capacity(bytes.len() + 8);
    for &b in bytes {
        if is_path_byte(b) {
            out.push(char::from(b));
        } else {
            push_escape(&mut out, b);
        }
    }
    Cow::Owned(out)
}

fn check_escapes(path: &str) -> Result<(), PathError> {
    let bytes = path.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'%' {
            if escape_at(bytes, i).is_none() {
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

fn decode_bytes(raw: &[u8]) -> Cow<'_, [u8]> {
    if !raw.contains(&b'%') {
        return Cow::Borrowed(raw);
    }
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        match escape_at(raw, i) {
            Some(b) => {
                out.push(b);
                i += 3;
            }
            None => {
                out.push(raw[i]);
                i += 1;
            }
        }
    }
    Cow::Owned(out)
}

/// Turns bytes into a string, writing each byte that is not part of valid
/// UTF-8 as `%XX`.
fn escape_invalid_utf8(bytes: Vec<u8>) -> String {
    match String::from_utf8(bytes) {
        Ok(s) => s,
        Err(err) => {
            let bytes = err.into_bytes();
            let mut out = String::with_capacity(bytes.len() + 8);
            let mut rest = &bytes[..];
            loop {
                match std::str::from_utf8(rest) {
                    Ok(valid) => {
                        out.push_str(valid);
                        return out;
                    }
                    Err(e) => {
                        let (valid, after) = rest.split_at(e.valid_up_to());
                        // `valid_up_to` promises this prefix is UTF-8.
                        out.push_str(std::str::from_utf8(valid).unwrap_or_default());
                        let bad = e.error_len().unwrap_or(after.len());
                        for &b in &after[..bad] {
                            push_escape(&mut out, b);
                        }
                        rest = &after[bad..];
                    }
                }
            }
        }
    }
}

fn escape_at(bytes: &[u8], i: usize) -> Option<u8> {
    if bytes.get(i) != Some(&b'%') {
        return None;
    }
    let hi = hex(*bytes.get(i + 1)?)?;
    let lo = hex(*bytes.get(i + 2)?)?;
    Some(hi << 4 | lo)
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

fn push_escape(out: &mut String, b: u8) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    out.push('%');
    out.push(char::from(HEX[usize::from(b >> 4)]));
    out.push(char::from(HEX[usize::from(b & 15)]));
}

/// Bytes a request target may carry on the wire: visible ASCII but `#`.
///
/// Stricter than this (RFC 3986 also forbids `"`, `<`, `{`...) would refuse
/// what browsers send unescaped in practice; the HTTP parser in front of us
/// applies its own rules first.
fn is_uri_byte(b: u8) -> bool {
    b.is_ascii_graphic() && b != b'#'
}

/// Bytes [`encode`] leaves as they are: RFC 3986 `pchar` and `/`.
fn is_path_byte(b: u8) -> bool {
    is_unreserved_or_sub_delim(b) || matches!(b, b':' | b'@' | b'/')
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
