use super::*;

#[test]
fn lengths_switch_to_four_bytes_at_128() {
    let mut out = BytesMut::new();
    encode_pair(&mut out, &[b'n'; 127], &[b'v'; 128]);
    assert_eq!(out[0], 127);
    assert_eq!(&out[1..5], &[0x80, 0, 0, 128]);
    assert_eq!(out.len(), pair_len(127, 128));
}

#[test]
fn truncated_pairs_are_refused() {
    assert_eq!(parse_pairs(Bytes::from_static(&[5, 1, b'a'])), Err(ParamsError::Truncated));
    assert_eq!(parse_pairs(Bytes::from_static(&[0x80, 0])), Err(ParamsError::Truncated));
    // A 2 GiB length claim is refused without allocating it.
    assert_eq!(parse_pairs(Bytes::from_static(&[0xff, 0xff, 0xff, 0xff, 0])), Err(ParamsError::Truncated));
}

#[test]
fn the_limit_counts_every_byte() {
    let mut d = ParamsDecoder::new(10);
    d.push(Bytes::from_static(&[0; 6])).unwrap();
    assert_eq!(d.push(Bytes::from_static(&[0; 5])), Err(ParamsError::TooLarge(10)));
}

#[test]
fn a_stream_in_several_records_is_joined() {
    let mut wire = BytesMut::new();
    encode_pair(&mut wire, b"NAME", b"value");
    encode_pair(&mut wire, b"OTHER", &[7; 200]);
    let mut d = ParamsDecoder::new(1024);
    for piece in wire.chunks(3) {
        d.push(Bytes::copy_from_slice(piece)).unwrap();
    }
    let params = d.finish().unwrap();
    let pairs: Vec<_> = params.iter().collect();
    assert_eq!(pairs, [(&b"NAME"[..], &b"value"[..]), (&b"OTHER"[..], &[7u8; 200][..])]);
}

#[test]
fn params_refuse_a_truncated_stream() {
    assert_eq!(Params::new(Bytes::from_static(&[5, 1, b'a'])).unwrap_err(), ParamsError::Truncated);
    assert_eq!(Params::new(Bytes::from_static(&[0x80, 0, 0])).unwrap_err(), ParamsError::Truncated);
    assert!(Params::new(Bytes::new()).unwrap().iter().next().is_none());
}
