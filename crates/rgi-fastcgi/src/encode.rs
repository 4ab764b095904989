//! Records out: each function appends whole records to a buffer.

use bytes::{BufMut, BytesMut};

use crate::pairs::encode_pair;
use crate::record::{RecordType, Role, HEADER_LEN, MAX_CONTENT, VERSION_1};

fn header(out: &mut BytesMut, kind: u8, id: u16, len: usize, padding: u8) {
    // `len` is at most MAX_CONTENT by construction in every caller.
    let len = u16::try_from(len).unwrap_or(u16::MAX);
    out.put_u8(VERSION_1);
    out.put_u8(kind);
    out.put_u16(id);
    out.put_u16(len);
    out.put_u8(padding);
    out.put_u8(0);
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
    let mut body = BytesMut::new();
    for (name, value) in pairs {
        encode_pair(&mut body, name, value);
    }
    encode_stream(out, RecordType::Params, id, &body);
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
