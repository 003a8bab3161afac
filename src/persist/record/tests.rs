use super::*;

fn samples() -> Vec<Record<'static>> {
    vec![
        Record::Set {
            rev: 7,
            id: "app",
            key: "k",
            value: r#"{"a":[1,2]}"#,
            expires_at: None,
        },
        Record::Set {
            rev: 8,
            id: "é",
            key: "",
            value: "null",
            expires_at: Some(1_795_000_000_000),
        },
        Record::Delete {
            rev: 9,
            id: "app",
            key: "k",
        },
        Record::Skip { rev: 10 },
        Record::End { rev: 10, count: 2 },
    ]
}

#[test]
fn records_round_trip_and_their_length_is_known() {
    let mut buf = Vec::new();
    for r in samples() {
        let before = buf.len();
        r.encode(&mut buf);
        assert_eq!(buf.len() - before, r.encoded_len());
        // A complete record never ends in a zero byte.
        assert_eq!(buf.last(), Some(&TRAILER));
    }
    buf.extend_from_slice(&[0; FRAME_LEN]); // preallocated tail
    let mut at = 0;
    for want in samples() {
        match read(&buf[at..]) {
            Read::Record(got, n) => {
                assert_eq!(got, want);
                assert_eq!(Format::V2.claimed_len(&buf[at..]), n);
                at += n;
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(read(&buf[at..]), Read::End);
    // The data of a log is always followed by a frame of zeros: less is
    // a file cut short.
    assert_eq!(read(&buf[at + 1..]), Read::Bad(BadRecord::Truncated));
    assert_eq!(read(&[]), Read::Bad(BadRecord::Truncated));
}

#[test]
fn version_1_records_are_still_read() {
    let mut buf = Vec::new();
    for r in samples() {
        r.encode_v1(&mut buf);
    }
    let mut at = 0;
    for want in samples() {
        match read_v1(&buf[at..]) {
            Read::Record(got, n) => {
                assert_eq!(got, want);
                at += n;
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(read_v1(&buf[at..]), Read::End);
    assert!(matches!(read(&buf), Read::Bad(_)), "not a version 2 record");
}

#[test]
fn a_frame_of_zeros_is_the_end_and_never_a_record() {
    assert_eq!(read(&[0; 64]), Read::End);
    assert_eq!(framed_len(&[0; FRAME_LEN]), None);
    // Nor is a zero length with a valid check.
    assert!(matches!(
        read(&frame(0, 0)),
        Read::Bad(BadRecord::Truncated | BadRecord::Malformed)
    ));
}

#[test]
fn damage_is_detected() {
    let mut buf = Vec::new();
    samples()[0].encode(&mut buf);
    buf.extend_from_slice(&[0; 64]);
    let len = samples()[0].encoded_len();
    assert_eq!(read(&buf[..len - 1]), Read::Bad(BadRecord::Truncated));
    assert_eq!(read(&buf[..5]), Read::Bad(BadRecord::Truncated));
    let mut flipped = buf.clone();
    flipped[len - 3] ^= 0x10;
    assert_eq!(read(&flipped), Read::Bad(BadRecord::Checksum));
    // The frame knows the record's length despite the damaged body.
    assert_eq!(Format::V2.claimed_len(&flipped), len);
    // A damaged length is caught by the frame, whatever it became.
    for bit in 0..32 {
        let mut longer = buf.clone();
        longer[bit / 8] ^= 1 << (bit % 8);
        assert_eq!(read(&longer), Read::Bad(BadRecord::Frame), "bit {bit}");
        assert_eq!(Format::V2.claimed_len(&longer), FRAME_LEN);
    }
    let mut no_trailer = buf[..len].to_vec();
    no_trailer[len - 1] = 0;
    let body = &no_trailer[FRAME_LEN..];
    let f = frame(body.len() as u32, crc32c::crc32c(body));
    no_trailer[..FRAME_LEN].copy_from_slice(&f);
    assert_eq!(read(&no_trailer), Read::Bad(BadRecord::Malformed));
}

#[test]
fn headers_check_magic_version_and_themselves() {
    let h = Header {
        generation: 3,
        rev: 99,
    };
    let bytes = h.encode(LOG_MAGIC);
    assert_eq!(Header::decode(&bytes, LOG_MAGIC), Ok((h, Format::V2)));
    assert!(Header::decode(&bytes, SNAPSHOT_MAGIC).is_err());
    assert!(Header::decode(&bytes[..31], LOG_MAGIC).is_err());
    let mut newer = bytes;
    newer[8] = 3;
    assert_eq!(
        Header::decode(&newer, LOG_MAGIC),
        Err(BadHeader::Version(3))
    );
    assert!(BadHeader::Version(3).to_string().contains("version 3"));
    let mut flipped = bytes;
    flipped[20] ^= 1;
    assert!(matches!(
        Header::decode(&flipped, LOG_MAGIC),
        Err(BadHeader::Damaged(_))
    ));
    // Version 1 headers had no check.
    let mut v1 = [0u8; HEADER_LEN];
    v1[..8].copy_from_slice(LOG_MAGIC);
    v1[8] = 1;
    v1[16] = 3;
    v1[24] = 99;
    assert_eq!(Header::decode(&v1, LOG_MAGIC), Ok((h, Format::V1)));
}
