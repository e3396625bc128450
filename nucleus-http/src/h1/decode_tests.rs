#![allow(clippy::unwrap_used, clippy::expect_used)]

use bytes::BytesMut;

use super::*;

fn decode(input: &[u8]) -> Result<(Vec<u8>, Option<HeaderMap>, bool), ()> {
    decode_all(input, &[input.len()])
}

#[test]
fn decodes_chunks_and_stops_at_the_end() {
    let (body, trailers, done) = decode(b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n").unwrap();
    assert_eq!(body, b"hello world");
    assert!(trailers.is_none());
    assert!(done);
}

#[test]
fn leaves_the_next_request_in_the_buffer() {
    let mut buf = BytesMut::from(&b"1\r\na\r\n0\r\n\r\nGET / HTTP/1.1"[..]);
    let mut d = ChunkedDecoder::new(1024, 1024);
    assert_eq!(
        d.decode(&mut buf).unwrap(),
        Decoded::Data(bytes::Bytes::from_static(b"a"))
    );
    assert_eq!(d.decode(&mut buf).unwrap(), Decoded::Done);
    assert_eq!(&buf[..], b"GET / HTTP/1.1");
}

#[test]
fn hex_sizes_in_either_case() {
    let input = format!(
        "A\r\n{}\r\nf\r\n{}\r\n0\r\n\r\n",
        "x".repeat(10),
        "y".repeat(15)
    );
    assert_eq!(decode(input.as_bytes()).unwrap().0.len(), 25);
}

#[test]
fn extensions_are_accepted_and_bounded() {
    assert_eq!(
        decode(b"3;name=value;x\r\nabc\r\n0;last\r\n\r\n")
            .unwrap()
            .0,
        b"abc"
    );
    assert_eq!(decode(b"3 ;a=b\r\nabc\r\n0\r\n\r\n").unwrap().0, b"abc");
    let long = format!("3;{}\r\nabc\r\n0\r\n\r\n", "e".repeat(2000));
    assert!(decode(long.as_bytes()).is_err());
}

#[test]
fn trailers_are_returned_and_bounded() {
    let (body, trailers, done) = decode(b"3\r\nabc\r\n0\r\nX-Sum: 1\r\nX-B: 2\r\n\r\n").unwrap();
    assert_eq!(body, b"abc");
    assert!(done);
    let trailers = trailers.unwrap();
    assert_eq!(trailers["x-sum"], "1");
    assert_eq!(trailers["x-b"], "2");
    let huge = format!("0\r\nX: {}\r\n\r\n", "v".repeat(2000));
    assert!(decode(huge.as_bytes()).is_err());
}

#[test]
fn framing_violations_are_errors() {
    let cases: &[&[u8]] = &[
        b"\r\n",                         // no size
        b"g\r\nabc\r\n",                 // not hex
        b"-1\r\n",                       // sign
        b"0x3\r\nabc\r\n0\r\n\r\n",      // prefix
        b"3\nabc\r\n0\r\n\r\n",          // bare LF after size
        b"3\r\nabcX\r\n0\r\n\r\n",       // data longer than size
        b"3\r\nabc\n0\r\n\r\n",          // bare LF after data
        b"3\r\nab\r\n",                  // CR where data was due is data: then missing CRLF
        b"3 3\r\nabc\r\n",               // space inside size
        b"11111111111111111\r\n",        // 17 digits: would overflow
        b"3;a\x00b\r\nabc\r\n0\r\n\r\n", // control byte in extension
        b"3;a\nb\r\nabc\r\n0\r\n\r\n",   // bare LF in extension
        b"0\r\nbad header\r\n\r\n",      // malformed trailer
    ];
    for case in cases {
        assert!(
            decode(case).is_err(),
            "{:?} should fail",
            String::from_utf8_lossy(case)
        );
    }
}

#[test]
fn sixteen_digit_sizes_do_not_overflow() {
    let (body, _, done) = decode(b"ffffffffffffffff\r\nabc").unwrap();
    assert_eq!(body, b"abc");
    assert!(!done);
}

#[test]
fn incomplete_input_needs_more() {
    for input in [
        &b"5"[..],
        b"5\r",
        b"5\r\nhel",
        b"5\r\nhello\r",
        b"0\r\n",
        b"0\r\nX: y\r\n",
    ] {
        let (_, _, done) = decode(input).unwrap();
        assert!(!done, "{:?}", String::from_utf8_lossy(input));
    }
}

#[test]
fn every_split_gives_the_same_result() {
    let input = b"5;ext=1\r\nhello\r\n1\r\n \r\n5\r\nworld\r\n0\r\nX-T: v\r\n\r\n";
    let whole = decode(input).unwrap();
    for at in 0..=input.len() {
        assert_eq!(
            decode_all(input, &[at, input.len()]).unwrap(),
            whole,
            "split at {at}"
        );
    }
}

#[test]
fn length_decoder_stops_at_its_length() {
    let mut buf = BytesMut::from(&b"abcdeNEXT"[..]);
    let mut d = BodyDecoder::Length(5);
    assert_eq!(
        d.decode(&mut buf).unwrap(),
        Decoded::Data(bytes::Bytes::from_static(b"abcde"))
    );
    assert!(d.is_done());
    assert_eq!(d.decode(&mut buf).unwrap(), Decoded::Done);
    assert_eq!(&buf[..], b"NEXT");
}

mod properties {
    use proptest::prelude::*;

    use super::*;

    fn encode(chunks: &[Vec<u8>]) -> Vec<u8> {
        let mut out = Vec::new();
        for c in chunks.iter().filter(|c| !c.is_empty()) {
            out.extend_from_slice(format!("{:x}\r\n", c.len()).as_bytes());
            out.extend_from_slice(c);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"0\r\n\r\n");
        out
    }

    proptest! {
        #[test]
        fn any_chunking_split_anywhere_roundtrips(
            chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..64), 0..8),
            cut in any::<prop::sample::Index>(),
        ) {
            let input = encode(&chunks);
            let expected: Vec<u8> = chunks.concat();
            let at = cut.index(input.len() + 1);
            let (body, _, done) = decode_all(&input, &[at, input.len()]).unwrap();
            prop_assert!(done);
            prop_assert_eq!(body, expected);
        }

        #[test]
        fn arbitrary_bytes_never_panic(input in proptest::collection::vec(any::<u8>(), 0..256)) {
            fuzz_chunked(&input);
        }
    }
}
