use bytes::BytesMut;
use proptest::prelude::*;

use super::*;

/// Writes codes one bit at a time, most significant first, then pads with ones: a
/// deliberately naive bit-writer to check the production coder against.
fn reference_encode(symbols: &[u16], padding_bits: Option<usize>) -> Vec<u8> {
    let mut bits: Vec<bool> = Vec::new();
    for &s in symbols {
        let (code, len) = CODES[usize::from(s)];
        for i in (0..len).rev() {
            bits.push(code >> i & 1 == 1);
        }
    }
    let pad = padding_bits.unwrap_or((8 - bits.len() % 8) % 8);
    bits.extend(std::iter::repeat_n(true, pad));
    assert_eq!(bits.len() % 8, 0, "padding must complete the last octet");
    bits.chunks(8)
        .map(|byte| byte.iter().fold(0u8, |acc, &b| acc << 1 | u8::from(b)))
        .collect()
}

fn decode_vec(src: &[u8]) -> Result<Vec<u8>, DecodeError> {
    let mut out = BytesMut::new();
    decode(src, &mut out)?;
    Ok(out.to_vec())
}

fn encode_vec(src: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    encode(src, &mut out);
    out
}

#[test]
fn every_symbol_decodes_alone() {
    for b in 0..=255u8 {
        let encoded = reference_encode(&[u16::from(b)], None);
        assert_eq!(decode_vec(&encoded), Ok(vec![b]), "symbol {b}");
        assert_eq!(encode_vec(&[b]), encoded, "symbol {b}");
        assert_eq!(encoded_len(&[b]), encoded.len());
    }
}

#[test]
fn every_symbol_pair_decodes() {
    for a in 0..=255u8 {
        for b in 0..=255u8 {
            let encoded = reference_encode(&[u16::from(a), u16::from(b)], None);
            assert_eq!(decode_vec(&encoded), Ok(vec![a, b]), "symbols {a} {b}");
        }
    }
}

#[test]
fn rfc_7541_appendix_c_strings() {
    let cases: [(&str, &[u8]); 6] = [
        (
            "www.example.com",
            &[
                0xf1, 0xe3, 0xc2, 0xe5, 0xf2, 0x3a, 0x6b, 0xa0, 0xab, 0x90, 0xf4, 0xff,
            ],
        ),
        ("no-cache", &[0xa8, 0xeb, 0x10, 0x64, 0x9c, 0xbf]),
        (
            "custom-key",
            &[0x25, 0xa8, 0x49, 0xe9, 0x5b, 0xa9, 0x7d, 0x7f],
        ),
        (
            "custom-value",
            &[0x25, 0xa8, 0x49, 0xe9, 0x5b, 0xb8, 0xe8, 0xb4, 0xbf],
        ),
        ("302", &[0x64, 0x02]),
        (
            "Mon, 21 Oct 2013 20:13:21 GMT",
            &[
                0xd0, 0x7a, 0xbe, 0x94, 0x10, 0x54, 0xd4, 0x44, 0xa8, 0x20, 0x05, 0x95, 0x04, 0x0b,
                0x81, 0x66, 0xe0, 0x82, 0xa6, 0x2d, 0x1b, 0xff,
            ],
        ),
    ];
    for (text, code) in cases {
        assert_eq!(decode_vec(code), Ok(text.as_bytes().to_vec()), "{text}");
        assert_eq!(encode_vec(text.as_bytes()), code, "{text}");
        assert_eq!(encoded_len(text.as_bytes()), code.len(), "{text}");
    }
}

#[test]
fn empty_string() {
    assert_eq!(decode_vec(&[]), Ok(vec![]));
    assert_eq!(encode_vec(&[]), Vec::<u8>::new());
}

#[test]
fn eos_in_the_data_is_an_error() {
    let alone = reference_encode(&[EOS], None);
    assert!(decode_vec(&alone).is_err());
    let after = reference_encode(&[u16::from(b'a'), EOS], None);
    assert!(decode_vec(&after).is_err());
    let before = reference_encode(&[EOS, u16::from(b'a')], None);
    assert!(decode_vec(&before).is_err());
    // Four octets of ones hold EOS and two bits of padding.
    assert_eq!(
        decode_vec(&[0xff; 4]),
        Err(DecodeError("Huffman EOS symbol in a string"))
    );
}

#[test]
fn padding_of_eight_bits_or_more_is_an_error() {
    // 'a' is 5 bits: 3 bits pad its octet, and a whole octet more is too much.
    let over = reference_encode(&[u16::from(b'a')], Some(11));
    assert_eq!(over, [0x1f, 0xff]);
    assert_eq!(
        decode_vec(&over),
        Err(DecodeError("Huffman padding longer than 7 bits"))
    );
    assert!(decode_vec(&[0xff]).is_err());
    assert!(decode_vec(&[0xff, 0xff]).is_err());
    assert!(decode_vec(&[0xff, 0xff, 0xff]).is_err());
    // Seven ones and a zero begin a code that never ends.
    assert!(decode_vec(&[0xfe]).is_err());
}

#[test]
fn padding_must_be_ones() {
    // 'a' (00011) then 000: zeros are not the EOS prefix.
    assert_eq!(
        decode_vec(&[0x18]),
        Err(DecodeError("Huffman padding is not the EOS prefix"))
    );
    // 'a' then 110.
    assert!(decode_vec(&[0x1e]).is_err());
    // 'a' then 111 is fine.
    assert_eq!(decode_vec(&[0x1f]), Ok(b"a".to_vec()));
}

#[test]
fn max_decoded_len_is_tight() {
    // '0' has a 5-bit code: 8 of them fill 5 octets exactly.
    let zeros = [b'0'; 8];
    let encoded = encode_vec(&zeros);
    assert_eq!(encoded.len(), 5);
    assert_eq!(max_decoded_len(encoded.len()), 8);
    assert_eq!(decode_vec(&encoded), Ok(zeros.to_vec()));
}

#[test]
fn a_failed_decode_leaves_the_buffer_as_it_was() {
    let mut out = BytesMut::from(&b"x"[..]);
    let mut bad = encode_vec(b"abcdef");
    bad.extend_from_slice(&[0xff, 0xff, 0xff, 0xff]);
    assert!(decode(&bad, &mut out).is_err());
    assert_eq!(&out[..], b"x");
}

#[test]
fn decode_appends_after_existing_content() {
    let mut out = BytesMut::from(&b"x"[..]);
    decode(&encode_vec(b"abc"), &mut out).unwrap();
    assert_eq!(&out[..], b"xabc");
}

proptest! {
    #[test]
    fn round_trip(data in proptest::collection::vec(any::<u8>(), 0..200)) {
        let encoded = encode_vec(&data);
        prop_assert_eq!(encoded.len(), encoded_len(&data));
        let symbols: Vec<u16> = data.iter().map(|&b| u16::from(b)).collect();
        prop_assert_eq!(&encoded, &reference_encode(&symbols, None));
        prop_assert_eq!(decode_vec(&encoded), Ok(data));
    }

    #[test]
    fn random_input_never_panics(data in proptest::collection::vec(any::<u8>(), 0..64)) {
        if let Ok(out) = decode_vec(&data) {
            prop_assert!(out.len() <= max_decoded_len(data.len()));
            // Whatever decodes re-encodes to the same octets: the code is prefix-free and the
            // padding rules leave one valid form.
            prop_assert_eq!(encode_vec(&out), data);
        }
    }
}
