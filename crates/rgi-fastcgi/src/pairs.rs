//! Name-value pairs (FastCGI specification, section 3.4): a length of 1
//! byte below 128, else 4 bytes with the high bit set.

use bytes::{BufMut, Bytes, BytesMut};

/// Why a PARAMS stream was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParamsError {
    /// The stream is larger than allowed.
    #[error("FastCGI parameters larger than the limit of {0} bytes")]
    TooLarge(usize),
    /// The stream ends inside a pair.
    #[error("FastCGI parameters end inside a name-value pair")]
    Truncated,
}

/// Bytes one pair takes on the wire.
pub fn pair_len(name_len: usize, value_len: usize) -> usize {
    let width = |n: usize| if n < 128 { 1 } else { 4 };
    width(name_len) + width(value_len) + name_len + value_len
}

fn put_len(out: &mut BytesMut, len: usize) {
    if len < 128 {
        out.put_u8(len as u8);
    } else {
        // Lengths past 2^31 cannot be sent; nothing rgi sends comes close.
        out.put_u32(u32::try_from(len).unwrap_or(u32::MAX >> 1) | 0x8000_0000);
    }
}

/// Appends one name-value pair.
pub fn encode_pair(out: &mut BytesMut, name: &[u8], value: &[u8]) {
    out.reserve(pair_len(name.len(), value.len()));
    put_len(out, name.len());
    put_len(out, value.len());
    out.put_slice(name);
    out.put_slice(value);
}

/// Assembles a PARAMS stream, refusing it past a size limit, then checks
/// it splits into whole pairs.
#[derive(Debug)]
pub struct ParamsDecoder {
    stream: Stream,
    len: usize,
    limit: usize,
}

/// The records so far: one record's content is kept as it came (the
/// usual case, no copy); more are joined.
#[derive(Debug)]
enum Stream {
    Empty,
    One(Bytes),
    Joined(BytesMut),
}

impl ParamsDecoder {
    /// A decoder that refuses streams over `limit` bytes.
    pub fn new(limit: usize) -> Self {
        Self { stream: Stream::Empty, len: 0, limit }
    }

    /// Adds the content of one PARAMS record.
    pub fn push(&mut self, data: Bytes) -> Result<(), ParamsError> {
        if self.len + data.len() > self.limit {
            return Err(ParamsError::TooLarge(self.limit));
        }
        self.len += data.len();
        self.stream = match std::mem::replace(&mut self.stream, Stream::Empty) {
            Stream::Empty => Stream::One(data),
            Stream::One(first) => {
                let mut joined = BytesMut::with_capacity(first.len() + data.len());
                joined.extend_from_slice(&first);
                joined.extend_from_slice(&data);
                Stream::Joined(joined)
            }
            Stream::Joined(mut joined) => {
                joined.extend_from_slice(&data);
                Stream::Joined(joined)
            }
        };
        Ok(())
    }

    /// The pairs, once the stream has ended.
    pub fn finish(self) -> Result<Params, ParamsError> {
        let bytes = match self.stream {
            Stream::Empty => Bytes::new(),
            Stream::One(bytes) => bytes,
            Stream::Joined(joined) => joined.freeze(),
        };
        Params::new(bytes)
    }
}

/// A whole PARAMS stream, checked to split into pairs; iterating borrows
/// the names and values from it.
///
/// ```
/// use bytes::{Bytes, BytesMut};
/// use rgi_fastcgi::{encode_pair, Params};
///
/// let mut wire = BytesMut::new();
/// encode_pair(&mut wire, b"REQUEST_METHOD", b"GET");
/// let params = Params::new(wire.freeze()).unwrap();
/// assert_eq!(params.iter().collect::<Vec<_>>(), [(&b"REQUEST_METHOD"[..], &b"GET"[..])]);
/// ```
#[derive(Debug, Clone)]
pub struct Params {
    bytes: Bytes,
}

impl Params {
    /// Checks that `bytes` is a sequence of whole pairs.
    pub fn new(bytes: Bytes) -> Result<Self, ParamsError> {
        let mut rest = &bytes[..];
        while !rest.is_empty() {
            next_pair(&mut rest)?;
        }
        Ok(Self { bytes })
    }

    /// The pairs, in order.
    pub fn iter(&self) -> Pairs<'_> {
        Pairs { rest: &self.bytes }
    }
}

/// The pairs of [`Params`].
#[derive(Debug, Clone)]
pub struct Pairs<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Pairs<'a> {
    type Item = (&'a [u8], &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        // Checked when the Params were made: an error cannot happen here.
        next_pair(&mut self.rest).ok()
    }
}

/// Takes one pair off the front of `rest`.
fn next_pair<'a>(rest: &mut &'a [u8]) -> Result<(&'a [u8], &'a [u8]), ParamsError> {
    let name_len = slice_len(rest)?;
    let value_len = slice_len(rest)?;
    if rest.len() < name_len || rest.len() - name_len < value_len {
        return Err(ParamsError::Truncated);
    }
    let (name, tail) = rest.split_at(name_len);
    let (value, tail) = tail.split_at(value_len);
    *rest = tail;
    Ok((name, value))
}

fn slice_len(rest: &mut &[u8]) -> Result<usize, ParamsError> {
    let (&first, tail) = rest.split_first().ok_or(ParamsError::Truncated)?;
    if first < 128 {
        *rest = tail;
        return Ok(usize::from(first));
    }
    let (four, tail) = rest.split_first_chunk::<4>().ok_or(ParamsError::Truncated)?;
    *rest = tail;
    usize::try_from(u32::from_be_bytes(*four) & 0x7fff_ffff).map_err(|_| ParamsError::Truncated)
}

/// Splits bytes into name-value pairs, each its own `Bytes`.
pub fn parse_pairs(bytes: Bytes) -> Result<Vec<(Bytes, Bytes)>, ParamsError> {
    let mut pairs = Vec::new();
    let mut rest = &bytes[..];
    while !rest.is_empty() {
        let (name, value) = next_pair(&mut rest)?;
        pairs.push((bytes.slice_ref(name), bytes.slice_ref(value)));
    }
    Ok(pairs)
}

#[cfg(test)]
mod tests;
