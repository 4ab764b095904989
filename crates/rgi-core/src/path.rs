//! How the gateway variables' paths are decoded (PATH-4 to PATH-6).
//!
//! A server hands the [`Environ`](crate::Environ) the *raw* path, exactly
//! as the client percent-encoded it (after dot-segment removal, PATH-2);
//! these functions derive the other forms from it, the same way in every
//! server:
//!
//! * the **decoded** form (SCRIPT_NAME, PATH_INFO) decodes every escape
//!   except `%2F`, so an encoded slash never silently becomes a separator
//!   (PATH-5), and keeps bytes that are not UTF-8 escaped (PATH-6);
//! * a **segment** decodes everything, `%2F` included: the unambiguous form
//!   for routers (PATH-8).
//!
//! ```
//! use rgi_core::path::{decode, decode_segment, split_prefix};
//!
//! assert_eq!(decode("/a%20b/c%2Fd"), "/a b/c%2Fd");
//! assert_eq!(decode_segment("c%2Fd"), "c/d");
//! assert_eq!(split_prefix("/%61pp/x", "/app"), Some(6));
//! assert_eq!(split_prefix("/apple", "/app"), None);
//! ```

use std::borrow::Cow;

/// Where `prefix` (decoded, `/`-separated) ends in the raw path `raw`,
/// matching whole segments, each raw segment decoded before comparison
/// (PATH-4): `/app` matches `/app`, `/app/`, `/app/x` and
/// `/%61pp/x`, but not `/apple` and not `/app%2Fx`; the empty prefix
/// matches everything at 0.
pub fn split_prefix(raw: &str, prefix: &str) -> Option<usize> {
    if prefix.is_empty() {
        return Some(0);
    }
    let mut at = 0;
    for want in prefix.split('/').skip(1) {
        // `at` points at a '/' in raw.
        if raw.as_bytes().get(at) != Some(&b'/') {
            return None;
        }
        let start = at + 1;
        let end = raw[start..].find('/').map_or(raw.len(), |i| start + i);
        if decode_segment(&raw[start..end]) != want {
            return None;
        }
        at = end;
    }
    Some(at)
}

/// Decodes a raw path into its SCRIPT_NAME / PATH_INFO form (PATH-5, PATH-6).
///
/// Every `%XX` is decoded except `%2F`/`%2f`, which stays (as `%2F`), and
/// bytes that would not form UTF-8, which stay escaped (upper-case hex).
/// A stray `%` (the server refuses such targets, PATH-3) is kept as it is.
pub fn decode(raw: &str) -> Cow<'_, str> {
    decode_with(raw, true)
}

/// Decodes every escape in one raw segment, `%2F` included (for
/// [`Environ::path_segments`](crate::Environ::path_segments)).
pub fn decode_segment(raw: &str) -> Cow<'_, str> {
    decode_with(raw, false)
}

fn decode_with(raw: &str, keep_slash: bool) -> Cow<'_, str> {
    if !raw.contains('%') {
        return Cow::Borrowed(raw);
    }
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match escape_at(bytes, i) {
            Some(b'/') if keep_slash => out.extend_from_slice(b"%2F"),
            Some(b) => out.push(b),
            None => {
                out.push(bytes[i]);
                i += 1;
                continue;
            }
        }
        i += 3;
    }
    // Bytes that are not part of valid UTF-8 stay escaped (PATH-6).
    let mut text = String::with_capacity(out.len());
    for chunk in out.utf8_chunks() {
        text.push_str(chunk.valid());
        for &b in chunk.invalid() {
            const HEX: &[u8; 16] = b"0123456789ABCDEF";
            text.extend(['%', char::from(HEX[usize::from(b >> 4)]), char::from(HEX[usize::from(b & 15)])]);
        }
    }
    Cow::Owned(text)
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
