//! Round trips, every split point, and hostile bytes.
#![allow(clippy::unwrap_used, reason = "a test fails by panicking")]

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;
use rgi_fastcgi::*;

/// Decodes everything in `wire`, feeding it in pieces cut at `cuts`.
fn decode_in_pieces(wire: &[u8], cuts: &[usize]) -> Vec<Record> {
    let decoder = Decoder::new();
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    let mut start = 0;
    for &cut in cuts.iter().chain(std::iter::once(&wire.len())) {
        let cut = cut.clamp(start, wire.len());
        buf.extend_from_slice(&wire[start..cut]);
        start = cut;
        while let Some(record) = decoder.decode(&mut buf).unwrap() {
            out.push(record);
        }
        assert!(buf.len() <= Decoder::MAX_RECORD, "decoder held on to {} bytes", buf.len());
    }
    assert!(buf.is_empty(), "{} bytes left over", buf.len());
    out
}

/// The data of a stream's records, and whether it ended with an empty one.
fn stream_data(records: &[Record]) -> (Vec<u8>, bool) {
    let mut data = Vec::new();
    let mut ended = false;
    for r in records {
        if let Record::Stdout { data: d, .. } | Record::Stdin { data: d, .. } = r {
            assert!(!ended, "data after the end of the stream");
            if d.is_empty() {
                ended = true;
            }
            assert!(d.len() <= MAX_CONTENT);
            data.extend_from_slice(d);
        }
    }
    (data, ended)
}

#[test]
fn streams_round_trip_at_the_boundary_lengths() {
    for len in [0usize, 1, 7, 8, 127, 128, 65_535, 65_536, 65_537, 200_000] {
        let payload: Vec<u8> = (0..len).map(|i| (i * 31 % 251) as u8).collect();
        let mut wire = BytesMut::new();
        encode_stream(&mut wire, RecordType::Stdout, 7, &payload);
        encode_empty(&mut wire, RecordType::Stdout, 7);
        let records = decode_in_pieces(&wire, &[]);
        let expected_records = len.div_ceil(MAX_CONTENT) + 1;
        assert_eq!(records.len(), expected_records, "len {len}");
        let (data, ended) = stream_data(&records);
        assert!(ended);
        assert_eq!(data, payload, "len {len}");
    }
}

#[test]
fn a_request_survives_being_split_at_every_byte() {
    let mut wire = BytesMut::new();
    encode_begin_request(&mut wire, 1, Role::Responder, true);
    encode_params(&mut wire, 1, [(&b"REQUEST_METHOD"[..], &b"POST"[..]), (&[b'n'; 130][..], &[b'v'; 300][..])]);
    encode_empty(&mut wire, RecordType::Params, 1);
    encode_stream(&mut wire, RecordType::Stdin, 1, b"body bytes");
    encode_empty(&mut wire, RecordType::Stdin, 1);
    encode_abort_request(&mut wire, 1);
    encode_get_values(&mut wire, &["FCGI_MAX_CONNS"]);
    let whole = decode_in_pieces(&wire, &[]);
    assert_eq!(whole.len(), 7);
    for cut in 0..=wire.len() {
        assert_eq!(decode_in_pieces(&wire, &[cut]), whole, "split at {cut}");
    }
    let every_byte: Vec<usize> = (0..wire.len()).collect();
    assert_eq!(decode_in_pieces(&wire, &every_byte), whole);
}

#[test]
fn pairs_round_trip_at_the_boundary_lengths() {
    for len in [0usize, 1, 127, 128, 65_535, 65_536, 100_000] {
        let name = vec![b'N'; len.min(1000)];
        let value: Vec<u8> = (0..len).map(|i| (i % 256) as u8).collect();
        let mut wire = BytesMut::new();
        encode_params(&mut wire, 3, [(&name[..], &value[..]), (&b"X"[..], &b""[..])]);
        encode_empty(&mut wire, RecordType::Params, 3);
        let mut params = ParamsDecoder::new(1 << 20);
        for record in decode_in_pieces(&wire, &[]) {
            if let Record::Params { data, .. } = record {
                params.push(data).unwrap();
            }
        }
        let params = params.finish().unwrap();
        let pairs: Vec<(&[u8], &[u8])> = params.iter().collect();
        assert_eq!(pairs, [(&name[..], &value[..]), (&b"X"[..], &b""[..])], "len {len}");
    }
}

#[test]
fn management_records_round_trip() {
    let mut wire = BytesMut::new();
    encode_get_values_result(&mut wire, &[("FCGI_MPXS_CONNS", "1".to_string())]);
    encode_unknown_type(&mut wire, 99);
    encode_end_request(&mut wire, 9, 3, ProtocolStatus::Overloaded);
    let records = decode_in_pieces(&wire, &[]);
    let Record::GetValuesResult { data } = &records[0] else { panic!("{records:?}") };
    assert_eq!(parse_pairs(data.clone()).unwrap(), vec![(Bytes::from("FCGI_MPXS_CONNS"), Bytes::from("1"))]);
    assert_eq!(records[1], Record::UnknownType { kind: 99 });
    assert_eq!(records[2], Record::EndRequest { id: 9, app_status: 3, protocol_status: 2 });
}

#[test]
fn malformed_records_are_refused_before_their_content() {
    let decoder = Decoder::new();
    let cases: [(&[u8], DecodeError); 5] = [
        (&[2, 1, 0, 1, 0, 8, 0, 0], DecodeError::BadVersion(2)),
        (&[1, 5, 0, 0, 0, 0, 0, 0], DecodeError::ZeroRequestId(5)),
        (&[1, 9, 0, 4, 0, 0, 0, 0], DecodeError::ManagementWithId { kind: 9, id: 4 }),
        // A BEGIN_REQUEST claiming 60 000 bytes is refused from its header.
        (&[1, 1, 0, 1, 0xea, 0x60, 0, 0], DecodeError::BadLength { kind: 1, want: 8, got: 60_000 }),
        (&[1, 11, 0, 0, 0, 1, 0, 0], DecodeError::BadLength { kind: 11, want: 8, got: 1 }),
    ];
    for (bytes, want) in cases {
        let mut buf = BytesMut::from(bytes);
        assert_eq!(decoder.decode(&mut buf).unwrap_err(), want);
    }
    // Unknown types come through for the caller to answer.
    let mut buf = BytesMut::from(&[1u8, 42, 0, 0, 0, 0, 0, 0][..]);
    assert_eq!(decoder.decode(&mut buf).unwrap().unwrap(), Record::Other { kind: 42, id: 0 });
}

fn record_strategy() -> impl Strategy<Value = (u8, u16, Vec<u8>)> {
    (
        prop_oneof![Just(4u8), Just(5), Just(6), Just(7)],
        1u16..4,
        prop_oneof![proptest::collection::vec(any::<u8>(), 0..300), Just(vec![7u8; 65_535]), Just(vec![9u8; 65_536]),],
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn any_bytes_never_panic_and_stay_bounded(bytes in proptest::collection::vec(any::<u8>(), 0..2048), cut in 0usize..2048) {
        let decoder = Decoder::new();
        let mut buf = BytesMut::new();
        let cut = cut.min(bytes.len());
        for piece in [&bytes[..cut], &bytes[cut..]] {
            buf.extend_from_slice(piece);
            loop {
                match decoder.decode(&mut buf) {
                    Ok(Some(Record::Params { data, .. })) => {
                        let mut params = ParamsDecoder::new(4096);
                        if params.push(data).is_ok() {
                            let _ = params.finish();
                        }
                    }
                    Ok(Some(_)) => {}
                    Ok(None) | Err(_) => break,
                }
            }
            prop_assert!(buf.len() <= Decoder::MAX_RECORD + 2048);
        }
        let _ = parse_pairs(Bytes::from(bytes));
    }

    #[test]
    fn records_round_trip_whatever_the_split(records in proptest::collection::vec(record_strategy(), 1..4), cuts in proptest::collection::vec(any::<usize>(), 0..6)) {
        let mut wire = BytesMut::new();
        let kinds = [RecordType::Params, RecordType::Stdin, RecordType::Stdout, RecordType::Stderr];
        for (kind, id, data) in &records {
            encode_stream(&mut wire, kinds[usize::from(*kind - 4)], *id, data);
            encode_empty(&mut wire, kinds[usize::from(*kind - 4)], *id);
        }
        let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c % (wire.len() + 1)).collect();
        cuts.sort_unstable();
        let decoded = decode_in_pieces(&wire, &cuts);
        let mut joined: Vec<(u16, Vec<u8>)> = Vec::new();
        let mut current: Vec<u8> = Vec::new();
        for r in decoded {
            let (id, data) = match r {
                Record::Params { id, data } | Record::Stdin { id, data } | Record::Stdout { id, data } | Record::Stderr { id, data } => (id, data),
                other => return Err(TestCaseError::fail(format!("unexpected {other:?}"))),
            };
            if data.is_empty() {
                joined.push((id, std::mem::take(&mut current)));
            } else {
                current.extend_from_slice(&data);
            }
        }
        let want: Vec<(u16, Vec<u8>)> = records.into_iter().map(|(_, id, data)| (id, data)).collect();
        prop_assert_eq!(joined, want);
    }

    #[test]
    fn framed_slices_send_what_encode_stream_copies(len in prop_oneof![0usize..300, 65_530usize..65_545, 130_000usize..200_000], id in any::<u16>()) {
        let data: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        let framing: Vec<Framing> = stream_framing(RecordType::Stdin, id, data.len()).collect();
        let mut slices = Vec::new();
        push_framed(&mut slices, &framing, &data);
        let framed: Vec<u8> = slices.iter().flat_map(|slice| slice.iter().copied()).collect();
        let mut copied = BytesMut::new();
        encode_stream(&mut copied, RecordType::Stdin, id, &data);
        prop_assert_eq!(&framed[..], &copied[..]);
    }

    #[test]
    fn pairs_round_trip(pairs in proptest::collection::vec((proptest::collection::vec(any::<u8>(), 0..200), proptest::collection::vec(any::<u8>(), 0..300)), 0..8)) {
        let mut wire = BytesMut::new();
        encode_params(&mut wire, 1, pairs.iter().map(|(n, v)| (&n[..], &v[..])));
        let mut params = ParamsDecoder::new(1 << 20);
        for r in decode_in_pieces(&wire, &[]) {
            if let Record::Params { data, .. } = r {
                params.push(data).unwrap();
            }
        }
        let got: Vec<(Vec<u8>, Vec<u8>)> = params.finish().unwrap().iter().map(|(n, v)| (n.to_vec(), v.to_vec())).collect();
        prop_assert_eq!(got, pairs);
    }
}
