//! Name-value pairs (FastCGI specification, section 3.4): a length of 1
//! byte below 128, else 4 bytes with the high bit set.

use bytes::{Buf, BufMut, Bytes, BytesMut};

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

/// Assembles a PARAMS stream, refusing it past a size limit, then splits
/// it into pairs.
#[derive(Debug)]
pub struct ParamsDecoder {
    buf: BytesMut,
    limit: usize,
}

impl ParamsDecoder {
    /// A decoder that refuses streams over `limit` bytes.
    pub fn new(limit: usize) -> Self {
        Self { buf: BytesMut::new(), limit }
    }

    /// Adds the content of one PARAMS record.
    pub fn push(&mut self, data: &[u8]) -> Result<(), ParamsError> {
        if self.buf.len() + data.len() > self.limit {
            return Err(ParamsError::TooLarge(self.limit));
        }
        self.buf.extend_from_slice(data);
        Ok(())
    }

    /// The pairs, once the stream has ended.
    pub fn finish(self) -> Result<Vec<(Bytes, Bytes)>, ParamsError> {
        parse_pairs(self.buf.freeze())
    }
}

/// Splits bytes into name-value pairs.
pub fn parse_pairs(mut bytes: Bytes) -> Result<Vec<(Bytes, Bytes)>, ParamsError> {
    let mut pairs = Vec::new();
    while bytes.has_remaining() {
        let name_len = take_len(&mut bytes)?;
        let value_len = take_len(&mut bytes)?;
        if bytes.len() < name_len || bytes.len() - name_len < value_len {
            return Err(ParamsError::Truncated);
        }
        let name = bytes.split_to(name_len);
        let value = bytes.split_to(value_len);
        pairs.push((name, value));
    }
    Ok(pairs)
}

fn take_len(bytes: &mut Bytes) -> Result<usize, ParamsError> {
    let first = *bytes.first().ok_or(ParamsError::Truncated)?;
    if first < 128 {
        bytes.advance(1);
        return Ok(usize::from(first));
    }
    if bytes.len() < 4 {
        return Err(ParamsError::Truncated);
    }
    let len = bytes.get_u32() & 0x7fff_ffff;
    usize::try_from(len).map_err(|_| ParamsError::Truncated)
}

#[cfg(test)]
mod tests;
