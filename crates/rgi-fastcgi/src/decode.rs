//! Bytes in, records out.

use bytes::{Buf, BytesMut};

use crate::record::{Record, RecordType, HEADER_LEN, VERSION_1};

/// Why the bytes are not FastCGI. The connection that sent them cannot be
/// trusted any further and should be closed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The version byte is not 1.
    #[error("FastCGI version {0} is not supported (only 1)")]
    BadVersion(u8),
    /// A request record with request id 0.
    #[error("record type {0} needs a request id, got 0")]
    ZeroRequestId(u8),
    /// A management record with a request id.
    #[error("management record type {kind} must have request id 0, got {id}")]
    ManagementWithId {
        /// The record type.
        kind: u8,
        /// The id it had.
        id: u16,
    },
    /// A record whose body has the wrong length for its type.
    #[error("record type {kind} must carry {want} bytes, carries {got}")]
    BadLength {
        /// The record type.
        kind: u8,
        /// The length its type has.
        want: usize,
        /// The length it had.
        got: usize,
    },
}

/// Turns bytes into [`Record`]s as they arrive.
///
/// Feed it a buffer you append reads to; it takes whole records off the
/// front and leaves partial ones. It holds no state of its own, so the
/// buffer never needs more than [`Decoder::MAX_RECORD`] bytes to make
/// progress: read at most that much before decoding again.
#[derive(Debug, Clone, Copy, Default)]
pub struct Decoder {
    _private: (),
}

impl Decoder {
    /// The largest record on the wire: header, content, padding.
    pub const MAX_RECORD: usize = HEADER_LEN + 65_535 + 255;

    /// A decoder.
    pub fn new() -> Self {
        Self::default()
    }

    /// The next whole record at the front of `buf`, removed from it;
    /// `Ok(None)` when more bytes are needed.
    pub fn decode(&self, buf: &mut BytesMut) -> Result<Option<Record>, DecodeError> {
        if buf.len() < HEADER_LEN {
            return Ok(None);
        }
        let version = buf[0];
        if version != VERSION_1 {
            return Err(DecodeError::BadVersion(version));
        }
        let kind = buf[1];
        let id = u16::from_be_bytes([buf[2], buf[3]]);
        let content_len = usize::from(u16::from_be_bytes([buf[4], buf[5]]));
        let padding = usize::from(buf[6]);
        // Checked before the content arrives, so a bad record is refused
        // without waiting for (or buffering) its bytes.
        check_header(kind, id, content_len)?;
        if buf.len() < HEADER_LEN + content_len + padding {
            return Ok(None);
        }
        buf.advance(HEADER_LEN);
        let content = buf.split_to(content_len).freeze();
        buf.advance(padding);
        let c = &content[..];
        Ok(Some(match kind {
            1 => Record::BeginRequest { id, role: u16::from_be_bytes([c[0], c[1]]), keep_conn: c[2] & 1 == 1 },
            2 => Record::AbortRequest { id },
            3 => Record::EndRequest {
                id,
                app_status: u32::from_be_bytes([c[0], c[1], c[2], c[3]]),
                protocol_status: c[4],
            },
            4 => Record::Params { id, data: content },
            5 => Record::Stdin { id, data: content },
            6 => Record::Stdout { id, data: content },
            7 => Record::Stderr { id, data: content },
            8 => Record::Data { id, data: content },
            9 => Record::GetValues { data: content },
            10 => Record::GetValuesResult { data: content },
            11 => Record::UnknownType { kind: c[0] },
            other => Record::Other { kind: other, id },
        }))
    }
}

fn check_header(kind: u8, id: u16, len: usize) -> Result<(), DecodeError> {
    let fixed = |want: usize| if len == want { Ok(()) } else { Err(DecodeError::BadLength { kind, want, got: len }) };
    match kind {
        k if k == RecordType::BeginRequest as u8 || k == RecordType::EndRequest as u8 => {
            if id == 0 {
                return Err(DecodeError::ZeroRequestId(kind));
            }
            fixed(8)
        }
        2..=8 if id == 0 => Err(DecodeError::ZeroRequestId(kind)),
        9..=11 if id != 0 => Err(DecodeError::ManagementWithId { kind, id }),
        11 => fixed(8),
        _ => Ok(()),
    }
}
