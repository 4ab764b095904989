//! Records out: each function appends whole records to a buffer.

use std::io::IoSlice;

use bytes::{BufMut, BytesMut};

use crate::pairs::encode_pair;
use crate::record::{RecordType, Role, HEADER_LEN, MAX_CONTENT, VERSION_1};

fn header(out: &mut BytesMut, kind: u8, id: u16, len: usize, padding: u8) {
    out.put_slice(&header_bytes(kind, id, len, padding));
}

fn header_bytes(kind: u8, id: u16, len: usize, padding: u8) -> [u8; HEADER_LEN] {
    // `len` is at most MAX_CONTENT by construction in every caller.
    let [l0, l1] = u16::try_from(len).unwrap_or(u16::MAX).to_be_bytes();
    let [i0, i1] = id.to_be_bytes();
    [VERSION_1, kind, i0, i1, l0, l1, padding, 0]
}

/// Padding that aligns a record's content to 8 bytes, as the
/// specification recommends.
fn padding_for(len: usize) -> u8 {
    ((8 - len % 8) % 8) as u8
}

fn record(out: &mut BytesMut, kind: u8, id: u16, content: &[u8]) {
    let padding = padding_for(content.len());
    out.reserve(HEADER_LEN + content.len() + usize::from(padding));
    header(out, kind, id, content.len(), padding);
    out.put_slice(content);
    out.put_bytes(0, usize::from(padding));
}

/// BEGIN_REQUEST for request `id`.
pub fn encode_begin_request(out: &mut BytesMut, id: u16, role: Role, keep_conn: bool) {
    let role = role as u16;
    let [r0, r1] = role.to_be_bytes();
    record(out, RecordType::BeginRequest as u8, id, &[r0, r1, u8::from(keep_conn), 0, 0, 0, 0, 0]);
}

/// ABORT_REQUEST for request `id`.
pub fn encode_abort_request(out: &mut BytesMut, id: u16) {
    record(out, RecordType::AbortRequest as u8, id, &[]);
}

/// END_REQUEST for request `id`.
pub fn encode_end_request(out: &mut BytesMut, id: u16, app_status: u32, protocol_status: crate::ProtocolStatus) {
    let [a, b, c, d] = app_status.to_be_bytes();
    record(out, RecordType::EndRequest as u8, id, &[a, b, c, d, protocol_status as u8, 0, 0, 0]);
}

/// `data` as records of stream `kind` (PARAMS, STDIN, STDOUT, STDERR,
/// DATA), split at 65 535 bytes. Empty data writes nothing: the empty
/// record that ends a stream is [`encode_empty`]'s.
pub fn encode_stream(out: &mut BytesMut, kind: RecordType, id: u16, data: &[u8]) {
    for chunk in data.chunks(MAX_CONTENT) {
        record(out, kind as u8, id, chunk);
    }
}

/// One record of a stream whose content is written from where it lies
/// (a vectored write) rather than copied into the record: its header, the
/// range of the content it carries, and its padding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Framing {
    /// The record's header.
    pub header: [u8; HEADER_LEN],
    /// The part of the content it carries.
    pub content: std::ops::Range<usize>,
    /// The zero bytes that follow the content.
    pub padding: &'static [u8],
}

/// The records [`encode_stream`] makes of `len` bytes of stream `kind`,
/// as framing around content the caller writes itself: header, content,
/// padding, record after record, are the same bytes.
///
/// ```
/// use bytes::BytesMut;
/// use rgi_fastcgi::{encode_stream, stream_framing, RecordType};
///
/// let data = vec![7u8; 70_000];
/// let mut framed = Vec::new();
/// for record in stream_framing(RecordType::Stdin, 1, data.len()) {
///     framed.extend_from_slice(&record.header);
///     framed.extend_from_slice(&data[record.content]);
///     framed.extend_from_slice(record.padding);
/// }
/// let mut copied = BytesMut::new();
/// encode_stream(&mut copied, RecordType::Stdin, 1, &data);
/// assert_eq!(framed, copied);
/// ```
pub fn stream_framing(kind: RecordType, id: u16, len: usize) -> impl Iterator<Item = Framing> {
    const ZEROS: [u8; 8] = [0; 8];
    (0..len).step_by(MAX_CONTENT).map(move |start| {
        let content = start..len.min(start + MAX_CONTENT);
        let padding = padding_for(content.len());
        Framing {
            header: header_bytes(kind as u8, id, content.len(), padding),
            content,
            padding: &ZEROS[..usize::from(padding)],
        }
    })
}

/// Appends to `slices` what a vectored write of `data` sends, framed by
/// `framing` (from [`stream_framing`] for `data.len()` bytes): header,
/// content and padding of each record.
pub fn push_framed<'a>(slices: &mut Vec<IoSlice<'a>>, framing: &'a [Framing], data: &'a [u8]) {
    slices.reserve(framing.len() * 3);
    for record in framing {
        slices.push(IoSlice::new(&record.header));
        slices.push(IoSlice::new(&data[record.content.clone()]));
        if !record.padding.is_empty() {
            slices.push(IoSlice::new(record.padding));
        }
    }
}

/// What `fill` appends, as records of stream `kind`: written in place, so
/// content built piece by piece (PARAMS pairs) needs no buffer of its own.
/// Content over 65 535 bytes is split into several records, as
/// [`encode_stream`] does; none is written when `fill` appends nothing.
///
/// ```
/// use bytes::BytesMut;
/// use rgi_fastcgi::{encode_pair, encode_stream_with, Decoder, Record, RecordType};
///
/// let mut out = BytesMut::new();
/// encode_stream_with(&mut out, RecordType::Params, 1, |buf| encode_pair(buf, b"A", b"1"));
/// let record = Decoder::new().decode(&mut out).unwrap().unwrap();
/// assert!(matches!(record, Record::Params { id: 1, .. }));
/// ```
pub fn encode_stream_with(out: &mut BytesMut, kind: RecordType, id: u16, fill: impl FnOnce(&mut BytesMut)) {
    let start = out.len();
    out.put_bytes(0, HEADER_LEN);
    fill(out);
    let len = out.len() - start - HEADER_LEN;
    if len == 0 {
        out.truncate(start);
    } else if len <= MAX_CONTENT {
        let padding = padding_for(len);
        out[start..start + HEADER_LEN].copy_from_slice(&header_bytes(kind as u8, id, len, padding));
        out.put_bytes(0, usize::from(padding));
    } else {
        let content = out.split_off(start + HEADER_LEN);
        out.truncate(start);
        encode_stream(out, kind, id, &content);
    }
}

/// The empty record that ends stream `kind` of request `id`.
pub fn encode_empty(out: &mut BytesMut, kind: RecordType, id: u16) {
    header(out, kind as u8, id, 0, 0);
}

/// Name-value pairs as PARAMS records (pairs may span records), without
/// the ending empty record.
pub fn encode_params<'a, I>(out: &mut BytesMut, id: u16, pairs: I)
where
    I: IntoIterator<Item = (&'a [u8], &'a [u8])>,
{
    encode_stream_with(out, RecordType::Params, id, |buf| {
        for (name, value) in pairs {
            encode_pair(buf, name, value);
        }
    });
}

/// GET_VALUES asking for `names`.
pub fn encode_get_values(out: &mut BytesMut, names: &[&str]) {
    let mut body = BytesMut::new();
    for name in names {
        encode_pair(&mut body, name.as_bytes(), b"");
    }
    record(out, RecordType::GetValues as u8, 0, &body);
}

/// GET_VALUES_RESULT with `pairs`.
pub fn encode_get_values_result(out: &mut BytesMut, pairs: &[(&str, String)]) {
    let mut body = BytesMut::new();
    for (name, value) in pairs {
        encode_pair(&mut body, name.as_bytes(), value.as_bytes());
    }
    record(out, RecordType::GetValuesResult as u8, 0, &body);
}

/// UNKNOWN_TYPE for a management record of type `kind`.
pub fn encode_unknown_type(out: &mut BytesMut, kind: u8) {
    record(out, RecordType::UnknownType as u8, 0, &[kind, 0, 0, 0, 0, 0, 0, 0]);
}
