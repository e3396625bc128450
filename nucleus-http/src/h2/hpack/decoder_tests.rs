use std::time::{Duration, Instant};

use bytes::Bytes;
use proptest::prelude::*;

use super::*;
use crate::h2::hpack::Pseudo;

fn hex(s: &str) -> Bytes {
    let digits: Vec<u8> = s.bytes().filter(u8::is_ascii_hexdigit).collect();
    assert_eq!(digits.len() % 2, 0);
    digits
        .chunks(2)
        .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).unwrap(), 16).unwrap())
        .collect()
}

fn spell(name: &Name) -> String {
    name.as_str().unwrap_or("<invalid>").to_owned()
}

fn decode(d: &mut Decoder, block: Bytes) -> Result<Vec<(String, String)>, DecodeError> {
    let mut out = Vec::new();
    let r = d.decode(block, usize::MAX, |f| {
        out.push((spell(&f.name), String::from_utf8(f.value.to_vec()).unwrap()))
    })?;
    assert_eq!(r, Decoded::Complete);
    Ok(out)
}

fn fields(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
        .collect()
}

/// The dynamic table, newest first, with each entry's size.
fn table(d: &Decoder) -> Vec<(String, String, usize)> {
    d.table()
        .entries()
        .map(|e| {
            (
                spell(&e.name),
                String::from_utf8(e.value.to_vec()).unwrap(),
                e.size,
            )
        })
        .collect()
}

fn entries(list: &[(&str, &str, usize)]) -> Vec<(String, String, usize)> {
    list.iter()
        .map(|(n, v, s)| ((*n).to_owned(), (*v).to_owned(), *s))
        .collect()
}

fn error(d: &mut Decoder, block: &[u8]) -> DecodeError {
    d.decode(Bytes::copy_from_slice(block), usize::MAX, |_| {})
        .unwrap_err()
}

// RFC 7541 Appendix C.1: integers, through the cursor directly.
#[test]
fn c1_integers() {
    let read = |bytes: &[u8], mask: u8| {
        let block = Bytes::copy_from_slice(bytes);
        let mut huffman = bytes::BytesMut::new();
        let mut alloc = 0;
        let mut cur = Cursor {
            block: &block,
            pos: 0,
            huffman: &mut huffman,
            huffman_alloc: &mut alloc,
        };
        let first = cur.next_byte().unwrap();
        let v = cur.integer(first, mask);
        (v, cur.pos)
    };
    assert_eq!(read(&[0x0a], 0x1f), (Ok(10), 1));
    assert_eq!(read(&[0x1f, 0x9a, 0x0a], 0x1f), (Ok(1337), 3));
    assert_eq!(read(&[0x2a], 0xff), (Ok(42), 1));
    // The bound: 2^28 is the largest accepted value.
    assert_eq!(
        read(&[0x7f, 0x81, 0xff, 0xff, 0x7f], 0x7f),
        (Ok(1 << 28), 5)
    );
    assert!(read(&[0x7f, 0x82, 0xff, 0xff, 0x7f], 0x7f).0.is_err());
    // Leading zero continuation octets are legal up to five of them.
    assert_eq!(read(&[0x1f, 0x80, 0x80, 0x80, 0x80, 0x00], 0x1f).0, Ok(31));
    assert_eq!(
        read(&[0x1f, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00], 0x1f).0,
        Err(DecodeError("integer too long"))
    );
}

#[test]
fn c2_1_literal_with_indexing() {
    let mut d = Decoder::new(4096);
    let block = hex("400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572");
    assert_eq!(
        decode(&mut d, block).unwrap(),
        fields(&[("custom-key", "custom-header")])
    );
    assert_eq!(table(&d), entries(&[("custom-key", "custom-header", 55)]));
    assert_eq!(d.table().size(), 55);
}

#[test]
fn c2_2_literal_without_indexing() {
    let mut d = Decoder::new(4096);
    let block = hex("040c 2f73 616d 706c 652f 7061 7468");
    assert_eq!(
        decode(&mut d, block).unwrap(),
        fields(&[(":path", "/sample/path")])
    );
    assert_eq!(d.table().len(), 0);
}

#[test]
fn c2_3_literal_never_indexed() {
    let mut d = Decoder::new(4096);
    let block = hex("1008 7061 7373 776f 7264 0673 6563 7265 74");
    assert_eq!(
        decode(&mut d, block).unwrap(),
        fields(&[("password", "secret")])
    );
    assert_eq!(d.table().len(), 0);
}

#[test]
fn c2_4_indexed() {
    let mut d = Decoder::new(4096);
    assert_eq!(
        decode(&mut d, hex("82")).unwrap(),
        fields(&[(":method", "GET")])
    );
    assert_eq!(d.table().len(), 0);
}

/// C.3 and C.4 are the same requests, without and with Huffman coding.
fn requests(blocks: [&str; 3]) {
    let mut d = Decoder::new(4096);
    assert_eq!(
        decode(&mut d, hex(blocks[0])).unwrap(),
        fields(&[
            (":method", "GET"),
            (":scheme", "http"),
            (":path", "/"),
            (":authority", "www.example.com"),
        ])
    );
    assert_eq!(table(&d), entries(&[(":authority", "www.example.com", 57)]));
    assert_eq!(d.table().size(), 57);

    assert_eq!(
        decode(&mut d, hex(blocks[1])).unwrap(),
        fields(&[
            (":method", "GET"),
            (":scheme", "http"),
            (":path", "/"),
            (":authority", "www.example.com"),
            ("cache-control", "no-cache"),
        ])
    );
    assert_eq!(
        table(&d),
        entries(&[
            ("cache-control", "no-cache", 53),
            (":authority", "www.example.com", 57),
        ])
    );
    assert_eq!(d.table().size(), 110);

    assert_eq!(
        decode(&mut d, hex(blocks[2])).unwrap(),
        fields(&[
            (":method", "GET"),
            (":scheme", "https"),
            (":path", "/index.html"),
            (":authority", "www.example.com"),
            ("custom-key", "custom-value"),
        ])
    );
    assert_eq!(
        table(&d),
        entries(&[
            ("custom-key", "custom-value", 54),
            ("cache-control", "no-cache", 53),
            (":authority", "www.example.com", 57),
        ])
    );
    assert_eq!(d.table().size(), 164);
}

#[test]
fn c3_requests_without_huffman() {
    requests([
        "8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d",
        "8286 84be 5808 6e6f 2d63 6163 6865",
        "8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65",
    ]);
}

#[test]
fn c4_requests_with_huffman() {
    requests([
        "8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff",
        "8286 84be 5886 a8eb 1064 9cbf",
        "8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf",
    ]);
}

/// C.5 and C.6 are the same responses, without and with Huffman coding, through a table of
/// 256 octets that evicts.
fn responses(blocks: [&str; 3]) {
    let mut d = Decoder::new(256);
    let date1 = "Mon, 21 Oct 2013 20:13:21 GMT";
    let date2 = "Mon, 21 Oct 2013 20:13:22 GMT";
    let location = "https://www.example.com";
    assert_eq!(
        decode(&mut d, hex(blocks[0])).unwrap(),
        fields(&[
            (":status", "302"),
            ("cache-control", "private"),
            ("date", date1),
            ("location", location),
        ])
    );
    assert_eq!(
        table(&d),
        entries(&[
            ("location", location, 63),
            ("date", date1, 65),
            ("cache-control", "private", 52),
            (":status", "302", 42),
        ])
    );
    assert_eq!(d.table().size(), 222);

    assert_eq!(
        decode(&mut d, hex(blocks[1])).unwrap(),
        fields(&[
            (":status", "307"),
            ("cache-control", "private"),
            ("date", date1),
            ("location", location),
        ])
    );
    assert_eq!(
        table(&d),
        entries(&[
            (":status", "307", 42),
            ("location", location, 63),
            ("date", date1, 65),
            ("cache-control", "private", 52),
        ])
    );
    assert_eq!(d.table().size(), 222);

    let cookie = "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1";
    assert_eq!(
        decode(&mut d, hex(blocks[2])).unwrap(),
        fields(&[
            (":status", "200"),
            ("cache-control", "private"),
            ("date", date2),
            ("location", location),
            ("content-encoding", "gzip"),
            ("set-cookie", cookie),
        ])
    );
    assert_eq!(
        table(&d),
        entries(&[
            ("set-cookie", cookie, 98),
            ("content-encoding", "gzip", 52),
            ("date", date2, 65),
        ])
    );
    assert_eq!(d.table().size(), 215);
}

#[test]
fn c5_responses_without_huffman() {
    responses([
        "4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133
         2032 303a 3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70
         6c65 2e63 6f6d",
        "4803 3330 37c1 c0bf",
        "88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d
         54c0 5a04 677a 6970 7738 666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049
         5541 5851 5745 4f49 553b 206d 6178 2d61 6765 3d33 3630 303b 2076 6572 7369 6f6e
         3d31",
    ]);
}

#[test]
fn c6_responses_with_huffman() {
    responses([
        "4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6
         2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3",
        "4883 640e ffc1 c0bf",
        "88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab
         77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f
         9587 3160 65c0 03ed 4ee5 b106 3d50 07",
    ]);
}

#[test]
fn raw_values_are_slices_of_the_block_and_table_entries_copies() {
    let mut d = Decoder::new(4096);
    // A field without indexing, then one with incremental indexing.
    let block = hex("0001 6101 62 4001 6301 64");
    let range = block.as_ptr_range();
    let mut values = Vec::new();
    d.decode(block.clone(), usize::MAX, |f| values.push(f.value))
        .unwrap();
    assert_eq!(values, [Bytes::from_static(b"b"), Bytes::from_static(b"d")]);
    assert!(range.contains(&values[0].as_ptr()), "zero-copy literal");
    assert!(range.contains(&values[1].as_ptr()), "zero-copy literal");
    // The table must not pin the block, so it holds a copy.
    let stored = &d.table().get(0).unwrap().value;
    assert!(!range.contains(&stored.as_ptr()));
}

#[test]
fn static_hits_classify_names_without_parsing() {
    let mut d = Decoder::new(4096);
    let mut got = Vec::new();
    d.decode(hex("82 87 9f"), usize::MAX, |f| got.push(f.name))
        .unwrap();
    assert_eq!(
        got,
        [
            Name::Pseudo(Pseudo::Method),
            Name::Pseudo(Pseudo::Scheme),
            Name::Header(http::header::CONTENT_TYPE),
        ]
    );
}

#[test]
fn names_are_classified() {
    let mut d = Decoder::new(4096);
    // Literal without indexing, new name, value "v", for each name.
    let mut block = Vec::new();
    for name in [
        ":method",
        ":foo",
        "Content-Type",
        "x-a",
        "",
        ":status",
        "a b",
    ] {
        block.push(0x00);
        block.push(name.len() as u8);
        block.extend_from_slice(name.as_bytes());
        block.extend_from_slice(&[0x01, b'v']);
    }
    let mut got = Vec::new();
    let r = d.decode(Bytes::from(block), usize::MAX, |f| got.push(f.name));
    assert_eq!(r, Ok(Decoded::Complete));
    assert_eq!(
        got,
        [
            Name::Pseudo(Pseudo::Method),
            Name::Invalid,
            Name::Invalid,
            Name::Header(http::HeaderName::from_static("x-a")),
            Name::Invalid,
            Name::Pseudo(Pseudo::Status),
            Name::Invalid,
        ]
    );
}

#[test]
fn invalid_names_are_indexed_and_counted_by_their_length() {
    let mut d = Decoder::new(4096);
    // "X-A: v" with incremental indexing, then a reference to it.
    let mut got = Vec::new();
    let r = d.decode(hex("4003 582d 41 0176 be"), 2 * (3 + 1 + 32), |f| {
        got.push(f)
    });
    assert_eq!(r, Ok(Decoded::Complete));
    assert_eq!(got.len(), 2);
    assert!(got
        .iter()
        .all(|f| f.name == Name::Invalid && f.value == "v"));
    assert_eq!(d.table().size(), 36);
    let r = d.decode(hex("be be be"), 3 * 36 - 1, |_| {});
    assert_eq!(r, Ok(Decoded::TooLarge));
}

#[test]
fn huffman_names_are_classified_after_decoding() {
    let mut d = Decoder::new(4096);
    // custom-key: custom-value, both Huffman (from C.4.3), without indexing.
    let got = decode(
        &mut d,
        hex("0088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf"),
    )
    .unwrap();
    assert_eq!(got, fields(&[("custom-key", "custom-value")]));
}

#[test]
fn truncated_input_is_an_error() {
    let mut d = Decoder::new(4096);
    assert_eq!(error(&mut d, &[0xff]), DecodeError("truncated integer"));
    assert_eq!(
        error(&mut d, &[0xff, 0x80]),
        DecodeError("truncated integer")
    );
    assert_eq!(error(&mut d, &[0x40]), DecodeError("truncated string"));
    assert_eq!(
        error(&mut d, &[0x40, 0x01, b'a']),
        DecodeError("truncated string")
    );
    assert_eq!(error(&mut d, &[0x3f]), DecodeError("truncated integer"));
}

#[test]
fn huge_integers_are_errors() {
    let mut d = Decoder::new(4096);
    assert_eq!(
        error(&mut d, &[0xff, 0xff, 0xff, 0xff, 0xff, 0x0f]),
        DecodeError("integer too large")
    );
    assert_eq!(
        error(
            &mut d,
            &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]
        ),
        DecodeError("integer too large")
    );
    // A string length of 2^28 - 1.
    assert_eq!(
        error(&mut d, &[0x40, 0x7f, 0x80, 0xff, 0xff, 0x7f]),
        DecodeError("string longer than the block")
    );
}

#[test]
fn string_longer_than_the_block_is_an_error() {
    let mut d = Decoder::new(4096);
    assert_eq!(
        error(&mut d, &[0x40, 0x05, b'a', b'b']),
        DecodeError("string longer than the block")
    );
    assert_eq!(
        error(&mut d, &[0x0f, 0x2b, 0x85, 0xff]),
        DecodeError("string longer than the block")
    );
}

#[test]
fn index_zero_is_an_error() {
    let mut d = Decoder::new(4096);
    assert_eq!(error(&mut d, &[0x80]), DecodeError("index 0"));
}

#[test]
fn index_beyond_the_tables_is_an_error() {
    let mut d = Decoder::new(4096);
    assert_eq!(
        error(&mut d, &[0xbe]),
        DecodeError("index beyond the tables")
    );
    // As a literal's name.
    assert_eq!(
        error(&mut d, &[0x7e, 0x01, b'v']),
        DecodeError("index beyond the tables")
    );
    assert_eq!(
        error(&mut d, &[0x0f, 0x2f, 0x01, b'v']),
        DecodeError("index beyond the tables")
    );
    // One entry: 62 is fine, 63 is not.
    decode(&mut d, hex("4001 6101 62")).unwrap();
    assert_eq!(decode(&mut d, hex("be")).unwrap(), fields(&[("a", "b")]));
    assert_eq!(
        error(&mut d, &[0xbf]),
        DecodeError("index beyond the tables")
    );
}

#[test]
fn size_updates() {
    let mut d = Decoder::new(4096);
    decode(&mut d, hex("4001 6101 62")).unwrap();
    // Exactly the limit is fine, and keeps the entry.
    assert_eq!(decode(&mut d, hex("3fe1 1f")).unwrap(), fields(&[]));
    assert_eq!((d.table().max_size(), d.table().len()), (4096, 1));
    // Two, then a field: the first empties the table.
    assert_eq!(
        decode(&mut d, hex("20 3fe1 1f 82")).unwrap(),
        fields(&[(":method", "GET")])
    );
    assert_eq!((d.table().max_size(), d.table().len()), (4096, 0));
    assert_eq!(
        error(&mut d, &[0x3f, 0xe2, 0x1f]),
        DecodeError("table size update above the advertised limit")
    );
    assert_eq!(
        error(&mut d, &[0x82, 0x20]),
        DecodeError("table size update after a field")
    );
    assert_eq!(
        error(&mut d, &[0x20, 0x20, 0x20]),
        DecodeError("more than two table size updates")
    );
}

#[test]
fn a_smaller_table_evicts_and_stays_small() {
    let mut d = Decoder::new(4096);
    decode(&mut d, hex("4001 6101 62 4001 6301 64")).unwrap();
    assert_eq!(d.table().size(), 68);
    decode(&mut d, hex("3f03")).unwrap(); // 34
    assert_eq!(table(&d), entries(&[("c", "d", 34)]));
    // An entry larger than the table empties it, and the field still decodes.
    assert_eq!(
        decode(&mut d, hex("4002 6565 0166")).unwrap(),
        fields(&[("ee", "f")])
    );
    assert_eq!(d.table().len(), 0);
    assert_eq!(
        error(&mut d, &[0xbe]),
        DecodeError("index beyond the tables")
    );
}

#[test]
fn huffman_errors_in_strings() {
    let mut d = Decoder::new(4096);
    // Value: four octets of ones hold EOS.
    assert_eq!(
        error(&mut d, &[0x0f, 0x2b, 0x84, 0xff, 0xff, 0xff, 0xff]),
        DecodeError("Huffman EOS symbol in a string")
    );
    // Value 'a' padded with zeros.
    assert_eq!(
        error(&mut d, &[0x0f, 0x2b, 0x81, 0x18]),
        DecodeError("Huffman padding is not the EOS prefix")
    );
    // Value 'a' with 11 bits of padding.
    assert_eq!(
        error(&mut d, &[0x0f, 0x2b, 0x82, 0x1f, 0xff]),
        DecodeError("Huffman padding longer than 7 bits")
    );
    // Name: a lone octet of ones.
    assert_eq!(
        error(&mut d, &[0x00, 0x81, 0xff, 0x00]),
        DecodeError("Huffman padding longer than 7 bits")
    );
}

#[test]
fn too_large_still_updates_the_table() {
    let mut d = Decoder::new(4096);
    // :method GET (42), then "x-big: <100 octets>" with indexing (137), then :path / (38).
    let mut block = vec![0x82, 0x40, 0x05];
    block.extend_from_slice(b"x-big");
    block.push(100);
    block.extend_from_slice(&[b'z'; 100]);
    block.push(0x84);
    let mut got = Vec::new();
    let r = d.decode(Bytes::from(block), 100, |f| got.push(f.name));
    assert_eq!(r, Ok(Decoded::TooLarge));
    assert_eq!(got, [Name::Pseudo(Pseudo::Method)]);
    assert_eq!(d.table().size(), 137);
    // The next block refers to the entry that the rejected block added.
    let mut got = Vec::new();
    let r = d.decode(hex("be"), 137, |f| got.push(f));
    assert_eq!(r, Ok(Decoded::Complete));
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].name.as_str(), Some("x-big"));
    assert_eq!(got[0].value, [b'z'; 100][..]);
}

#[test]
fn list_size_counts_name_value_and_32() {
    let mut d = Decoder::new(4096);
    // :method GET is 7 + 3 + 32 = 42; :path / is 5 + 1 + 32 = 38.
    assert_eq!(d.decode(hex("82 84"), 80, |_| {}), Ok(Decoded::Complete));
    assert_eq!(d.decode(hex("82 84"), 79, |_| {}), Ok(Decoded::TooLarge));
    assert_eq!(d.decode(hex("82"), 0, |_| {}), Ok(Decoded::TooLarge));
    assert_eq!(d.decode(hex(""), 0, |_| {}), Ok(Decoded::Complete));
    // Names count as decoded: Huffman "custom-key" (8 octets coded) counts 10.
    let mut n = 0;
    let r = d.decode(hex("0088 25a8 49e9 5ba9 7d7f 0176"), 10 + 1 + 32, |_| {
        n += 1
    });
    assert_eq!((r, n), (Ok(Decoded::Complete), 1));
    let r = d.decode(hex("0088 25a8 49e9 5ba9 7d7f 0176"), 10 + 32, |_| {});
    assert_eq!(r, Ok(Decoded::TooLarge));
}

#[test]
fn an_error_after_too_large_is_still_an_error() {
    let mut d = Decoder::new(4096);
    assert_eq!(
        d.decode(hex("82 80"), 10, |_| {}),
        Err(DecodeError("index 0"))
    );
}

/// One piece of a header block, for generating blocks that get past the first octets.
#[derive(Debug, Clone)]
enum Piece {
    Indexed(usize),
    Literal {
        kind: u8,
        name_index: usize,
        name: Vec<u8>,
        value: Vec<u8>,
        huffman: bool,
    },
    SizeUpdate(usize),
    Raw(Vec<u8>),
}

fn put_int(out: &mut Vec<u8>, pattern: u8, mask: u8, value: usize) {
    if value < usize::from(mask) {
        out.push(pattern | value as u8);
        return;
    }
    out.push(pattern | mask);
    let mut rest = value - usize::from(mask);
    while rest >= 128 {
        out.push(0x80 | (rest % 128) as u8);
        rest /= 128;
    }
    out.push(rest as u8);
}

fn put_str(out: &mut Vec<u8>, s: &[u8], huffman: bool) {
    if huffman {
        let mut coded = Vec::new();
        super::huffman::encode(s, &mut coded);
        put_int(out, 0x80, 0x7f, coded.len());
        out.extend_from_slice(&coded);
    } else {
        put_int(out, 0x00, 0x7f, s.len());
        out.extend_from_slice(s);
    }
}

fn assemble(pieces: &[Piece]) -> Vec<u8> {
    let mut out = Vec::new();
    for p in pieces {
        match p {
            Piece::Indexed(i) => put_int(&mut out, 0x80, 0x7f, *i),
            Piece::Literal {
                kind,
                name_index,
                name,
                value,
                huffman,
            } => {
                let (pattern, mask) = match kind % 3 {
                    0 => (0x40, 0x3f),
                    1 => (0x00, 0x0f),
                    _ => (0x10, 0x0f),
                };
                put_int(&mut out, pattern, mask, *name_index);
                if *name_index == 0 {
                    put_str(&mut out, name, *huffman);
                }
                put_str(&mut out, value, *huffman);
            }
            Piece::SizeUpdate(s) => put_int(&mut out, 0x20, 0x1f, *s),
            Piece::Raw(bytes) => out.extend_from_slice(bytes),
        }
    }
    out
}

fn piece() -> impl Strategy<Value = Piece> {
    let text = proptest::collection::vec(prop_oneof![3 => b'a'..=b'z', 1 => any::<u8>()], 0..40);
    prop_oneof![
        4 => (0usize..80).prop_map(Piece::Indexed),
        6 => (any::<u8>(), prop_oneof![2 => Just(0usize), 1 => 0usize..80], text.clone(), text, any::<bool>())
            .prop_map(|(kind, name_index, name, value, huffman)| Piece::Literal {
                kind, name_index, name, value, huffman,
            }),
        1 => (0usize..5000).prop_map(Piece::SizeUpdate),
        1 => proptest::collection::vec(any::<u8>(), 0..8).prop_map(Piece::Raw),
    ]
}

/// Runs `blocks` through one decoder, checking the bounds that must hold whatever the input.
fn check_bounds(blocks: &[Vec<u8>], max_table: usize) -> Result<(), TestCaseError> {
    let mut d = Decoder::new(max_table);
    for block in blocks {
        let started = Instant::now();
        let mut count = 0usize;
        let r = d.decode(Bytes::copy_from_slice(block), 1 << 14, |_| count += 1);
        prop_assert!(started.elapsed() < Duration::from_secs(1));
        prop_assert!(count <= block.len());
        prop_assert!(d.table().size() <= d.table().max_size());
        prop_assert!(d.table().max_size() <= max_table);
        prop_assert!(d.table().len() <= max_table / 32);
        let listed: usize = d.table().entries().map(|e| e.size).sum();
        prop_assert_eq!(listed, d.table().size());
        if r.is_err() {
            break;
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn random_bytes_never_panic(
        blocks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 1..4),
        max_table in prop_oneof![Just(0usize), Just(64), Just(4096)],
    ) {
        check_bounds(&blocks, max_table)?;
    }

    #[test]
    fn random_structured_blocks_never_panic(
        blocks in proptest::collection::vec(proptest::collection::vec(piece(), 0..12), 1..5),
        corrupt in proptest::option::of((any::<prop::sample::Index>(), any::<u8>())),
        max_table in prop_oneof![Just(0usize), Just(100), Just(4096)],
    ) {
        let mut blocks: Vec<Vec<u8>> = blocks.iter().map(|b| assemble(b)).collect();
        if let Some((at, byte)) = corrupt {
            if let Some(first) = blocks.first_mut().filter(|b| !b.is_empty()) {
                let i = at.index(first.len());
                first[i] = byte;
            }
        }
        check_bounds(&blocks, max_table)?;
    }
}

/// The request block that h2load sends first (nghttp2 Huffman-codes the two literals and
/// indexes them), and the one it sends for every later request: five indexed fields.
fn h2load_blocks() -> (Bytes, Bytes) {
    let mut first = vec![0x82, 0x84, 0x86, 0x41];
    put_str(&mut first, b"127.0.0.1:8080", true);
    first.push(0x7a); // user-agent (58), incremental indexing
    put_str(&mut first, b"h2load nghttp2/1.52.0", true);
    (Bytes::from(first), hex("82 84 86 bf be"))
}

#[test]
fn h2load_blocks_decode() {
    let (first, steady) = h2load_blocks();
    let expected = fields(&[
        (":method", "GET"),
        (":path", "/"),
        (":scheme", "http"),
        (":authority", "127.0.0.1:8080"),
        ("user-agent", "h2load nghttp2/1.52.0"),
    ]);
    let mut d = Decoder::new(4096);
    assert_eq!(decode(&mut d, first).unwrap(), expected);
    assert_eq!(decode(&mut d, steady.clone()).unwrap(), expected);
    assert_eq!(decode(&mut d, steady).unwrap(), expected);
}

/// Runs `f` `n` times in each of `rounds` rounds; the best and the median round, in ns per
/// call. The best round is the figure to compare: the others measure the machine's load.
fn time_rounds(rounds: usize, n: u32, mut f: impl FnMut()) -> (f64, f64) {
    let mut per_call: Vec<f64> = (0..rounds)
        .map(|_| {
            let started = Instant::now();
            for _ in 0..n {
                f();
            }
            started.elapsed().as_nanos() as f64 / f64::from(n)
        })
        .collect();
    per_call.sort_by(f64::total_cmp);
    (per_call[0], per_call[rounds / 2])
}

#[test]
#[ignore = "benchmark: cargo test --release -- --ignored --nocapture bench"]
fn bench_h2load_request() {
    let n: u32 = std::env::var("BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let (first, steady) = h2load_blocks();
    let mut d = Decoder::new(4096);
    let mut bytes = 0usize;
    d.decode(first.clone(), 65536, |f| bytes += f.value.len())
        .unwrap();

    let (best, median) = time_rounds(5, n, || {
        d.decode(steady.clone(), 65536, |f| bytes += f.value.len())
            .unwrap();
    });
    println!(
        "h2load request block, indexed (every request after the first), {n} decodes: \
         best {best:.1} ns/iter, median {median:.1}"
    );
    let (best, median) = time_rounds(5, n, || {
        d.decode(first.clone(), 65536, |f| bytes += f.value.len())
            .unwrap();
    });
    println!(
        "h2load request block, first form (2 Huffman literals, 2 inserts), {n} decodes: \
         best {best:.1} ns/iter, median {median:.1}"
    );
    assert!(bytes > 0);
}
