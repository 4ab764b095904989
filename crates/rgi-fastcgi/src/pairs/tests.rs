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
    d.push(&[0; 6]).unwrap();
    assert_eq!(d.push(&[0; 5]), Err(ParamsError::TooLarge(10)));
}
