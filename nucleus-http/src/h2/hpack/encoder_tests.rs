use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::StatusCode;

use super::*;
use crate::h2::hpack::{Decoded, Decoder};

fn map(fields: &[(&str, &str)]) -> HeaderMap {
    let mut m = HeaderMap::new();
    for (n, v) in fields {
        m.append(
            HeaderName::from_bytes(n.as_bytes()).unwrap(),
            HeaderValue::from_str(v).unwrap(),
        );
    }
    m
}

fn response(e: &mut Encoder, status: u16, fields: &[(&str, &str)]) -> Vec<u8> {
    let mut dst = Vec::new();
    e.encode_response(
        StatusCode::from_u16(status).unwrap(),
        &map(fields),
        &mut dst,
    );
    dst
}

fn hex(s: &str) -> Vec<u8> {
    let digits: Vec<u8> = s.bytes().filter(u8::is_ascii_hexdigit).collect();
    digits
        .chunks(2)
        .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).unwrap(), 16).unwrap())
        .collect()
}

fn decode(d: &mut Decoder, block: &[u8]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let r = d.decode(Bytes::copy_from_slice(block), usize::MAX, |f| {
        out.push((
            f.name.as_str().unwrap().to_owned(),
            String::from_utf8(f.value.to_vec()).unwrap(),
        ))
    });
    assert_eq!(r, Ok(Decoded::Complete));
    out
}

#[test]
fn static_statuses_are_one_octet() {
    let mut e = Encoder::new();
    for (status, octet) in [
        (200, 0x88),
        (204, 0x89),
        (206, 0x8a),
        (304, 0x8b),
        (400, 0x8c),
        (404, 0x8d),
        (500, 0x8e),
    ] {
        assert_eq!(response(&mut e, status, &[]), [octet]);
    }
    assert_eq!(e.table_usage(), (0, 0));
}

#[test]
fn other_statuses_name_index_8_and_are_indexed() {
    let mut e = Encoder::new();
    // "302" is shorter Huffman-coded (RFC 7541 C.6.1).
    assert_eq!(response(&mut e, 302, &[]), hex("4882 6402"));
    assert_eq!(response(&mut e, 302, &[]), [0xbe]);
    // "307" codes to 3 octets too: no gain, so raw, which is cheaper for the peer to decode.
    assert_eq!(response(&mut e, 307, &[]), hex("4803 3330 37"));
    assert_eq!(response(&mut e, 302, &[]), [0xbf]);
    assert_eq!(e.table_usage(), (2, 84));
}

const DATE1: &str = "Mon, 21 Oct 2013 20:13:21 GMT";
const DATE2: &str = "Mon, 21 Oct 2013 20:13:22 GMT";
const LOCATION: &str = "https://www.example.com";
const COOKIE: &str = "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1";

/// The responses of RFC 7541 C.6 come out octet for octet, except for a raw "307" and the
/// cookie, which this encoder never indexes.
#[test]
fn rfc_7541_c6_responses() {
    let mut e = Encoder::new();
    let first = response(
        &mut e,
        302,
        &[
            ("cache-control", "private"),
            ("date", DATE1),
            ("location", LOCATION),
        ],
    );
    assert_eq!(
        first,
        hex(
            "4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6
             2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3"
        )
    );
    let second = response(
        &mut e,
        307,
        &[
            ("cache-control", "private"),
            ("date", DATE1),
            ("location", LOCATION),
        ],
    );
    // The RFC Huffman-codes "307" at no gain; this encoder sends it raw (as in C.5.2).
    assert_eq!(second, hex("4803 3330 37c1 c0bf"));
    let third = response(
        &mut e,
        200,
        &[
            ("cache-control", "private"),
            ("date", DATE2),
            ("location", LOCATION),
            ("content-encoding", "gzip"),
            ("set-cookie", COOKIE),
        ],
    );
    let rfc_prefix =
        hex("88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab");
    assert_eq!(&third[..rfc_prefix.len()], &rfc_prefix[..]);
    // set-cookie (55) never indexed: 0001 1111, 55 - 15 = 40.
    assert_eq!(&third[rfc_prefix.len()..rfc_prefix.len() + 2], [0x1f, 0x28]);

    let mut d = Decoder::new(4096);
    decode(&mut d, &first);
    decode(&mut d, &second);
    let fields = decode(&mut d, &third);
    assert_eq!(fields[5], ("set-cookie".to_owned(), COOKIE.to_owned()));
    assert_eq!(d.table().size(), e.table_usage().1);
}

#[test]
fn repeated_fields_cost_one_octet() {
    let mut e = Encoder::new();
    let fields = [
        ("content-type", "text/plain"),
        ("content-length", "12"),
        ("server", "nucleus"),
        ("date", DATE1),
        ("x-request-id", "abc"),
    ];
    let first = response(&mut e, 200, &fields);
    assert!(first.len() > 30);
    assert_eq!(
        response(&mut e, 200, &fields),
        [0x88, 0xc2, 0xc1, 0xc0, 0xbf, 0xbe]
    );
    // A new content-length is a literal naming static entry 28, and the others stay hits
    // (shifted by the new entry).
    let third = response(
        &mut e,
        200,
        &[("content-type", "text/plain"), ("content-length", "13")],
    );
    assert_eq!(third, [0x88, 0xc2, 0x5c, 0x02, b'1', b'3']);
}

#[test]
fn a_custom_name_in_the_table_is_reused() {
    let mut e = Encoder::new();
    response(&mut e, 200, &[("x-trace", "1")]);
    // 0x7e: incremental indexing, name index 62.
    assert_eq!(
        response(&mut e, 200, &[("x-trace", "2")]),
        [0x88, 0x7e, 0x01, b'2']
    );
}

#[test]
fn sensitive_fields_are_never_indexed() {
    let mut e = Encoder::new();
    let mut secret = HeaderValue::from_static("s3cr3t");
    secret.set_sensitive(true);
    let mut headers = HeaderMap::new();
    headers.append(header::AUTHORIZATION, HeaderValue::from_static("Basic x"));
    headers.append(header::PROXY_AUTHORIZATION, HeaderValue::from_static("y"));
    headers.append(header::COOKIE, HeaderValue::from_static("a=b"));
    headers.append(header::SET_COOKIE, HeaderValue::from_static("c=d"));
    headers.append(HeaderName::from_static("x-token"), secret.clone());
    for _ in 0..2 {
        let mut dst = Vec::new();
        e.encode_trailers(&headers, &mut dst);
        // The never-indexed pattern 0001 with each static name index (x-token: new name).
        assert_eq!(dst[0], 0x1f); // authorization, 23
        assert_eq!(dst[1], 23 - 15);
        assert_eq!(e.table_usage(), (0, 0));
        let mut d = Decoder::new(4096);
        let fields = decode(&mut d, &dst);
        assert_eq!(fields.len(), 5);
        assert_eq!(fields[4], ("x-token".to_owned(), "s3cr3t".to_owned()));
        // Never indexed with a new name, Huffman-coded in 6 octets.
        assert!(dst.windows(2).any(|w| w == [0x10, 0x86]), "x-token literal");
    }
    // An equal value that is not marked sensitive is indexed, and the sensitive one still
    // does not match it.
    let mut plain = HeaderMap::new();
    plain.append(
        HeaderName::from_static("x-token"),
        HeaderValue::from_static("s3cr3t"),
    );
    let mut dst = Vec::new();
    e.encode_trailers(&plain, &mut dst);
    assert_eq!(e.table_usage().0, 1);
    let mut only_secret = HeaderMap::new();
    only_secret.append(HeaderName::from_static("x-token"), secret);
    dst.clear();
    e.encode_trailers(&only_secret, &mut dst);
    // Never indexed, naming the dynamic entry's name (62 = 15 + 47).
    assert_eq!(dst[..2], [0x1f, 47]);
}

#[test]
fn long_values_go_without_indexing() {
    let mut e = Encoder::new();
    let long = "v".repeat(257);
    let dst = response(&mut e, 200, &[("content-type", &long), ("x-long", &long)]);
    assert_eq!(e.table_usage(), (0, 0));
    // content-type (31): 0000 1111, 31 - 15 = 16.
    assert_eq!(dst[1..3], [0x0f, 16]);
    let mut d = Decoder::new(4096);
    let fields = decode(&mut d, &dst);
    assert_eq!(fields[2], ("x-long".to_owned(), long.clone()));
    // At the limit it is indexed.
    response(&mut e, 200, &[("x-long", &long[..256])]);
    assert_eq!(e.table_usage().0, 1);
}

#[test]
fn huffman_only_when_shorter() {
    let mut e = Encoder::new();
    // '~' and '{' have 13- and 15-bit codes: raw is shorter.
    let dst = response(&mut e, 200, &[("x-a", "~{~{")]);
    assert!(dst.ends_with(&[0x04, b'~', b'{', b'~', b'{']));
}

#[test]
fn table_size_zero_disables_indexing() {
    let mut e = Encoder::new();
    response(&mut e, 200, &[("x-a", "1")]);
    assert_eq!(e.table_usage().0, 1);
    e.set_max_table_size(0);
    assert_eq!(e.table_usage(), (0, 0));
    let dst = response(&mut e, 302, &[("x-a", "1"), ("server", "n")]);
    // The size update first, then literals without indexing.
    assert_eq!(dst[0], 0x20);
    assert_eq!(dst[1], 0x08); // :status, name index 8
    assert_eq!(e.table_usage(), (0, 0));
    let again = response(&mut e, 302, &[("x-a", "1"), ("server", "n")]);
    assert_eq!(&again[..], &dst[1..], "the update is sent once");

    let mut d = Decoder::new(4096);
    d.decode(
        Bytes::from_static(&[0x40, 0x01, b'q', 0x00]),
        usize::MAX,
        |_| {},
    )
    .unwrap();
    let fields = decode(&mut d, &dst);
    assert_eq!(d.table().max_size(), 0);
    assert_eq!(d.table().len(), 0);
    assert_eq!(fields.len(), 3);
}

#[test]
fn size_updates_signal_the_smallest_then_the_latest() {
    let mut e = Encoder::new();
    e.set_max_table_size(100);
    e.set_max_table_size(50);
    e.set_max_table_size(200);
    let dst = response(&mut e, 200, &[]);
    // 50 = 31 + 19; 200 = 31 + 169 = 31 + 0x29 + 128.
    assert_eq!(dst, [0x3f, 19, 0x3f, 0xa9, 0x01, 0x88]);
    assert_eq!(response(&mut e, 200, &[]), [0x88]);

    // Only the final size when it is the smallest.
    e.set_max_table_size(300);
    e.set_max_table_size(150);
    assert_eq!(response(&mut e, 200, &[]), [0x3f, 0x77, 0x88]);
}

#[test]
fn sizes_above_the_cap_or_unchanged_need_no_update() {
    let mut e = Encoder::new();
    e.set_max_table_size(65536);
    assert_eq!(response(&mut e, 200, &[]), [0x88]);
    e.set_max_table_size(4096);
    assert_eq!(response(&mut e, 200, &[]), [0x88]);
    // Down and back up again still owes the peer both.
    e.set_max_table_size(0);
    e.set_max_table_size(4096);
    assert_eq!(response(&mut e, 200, &[]), [0x20, 0x3f, 0xe1, 0x1f, 0x88]);
}

#[test]
fn shrinking_evicts_like_the_peer() {
    let mut e = Encoder::new();
    let mut d = Decoder::new(4096);
    let fields = [("x-a", "1"), ("x-b", "2"), ("x-c", "3")]; // 36 each
    decode(&mut d, &response(&mut e, 200, &fields));
    e.set_max_table_size(80);
    assert_eq!(e.table_usage(), (2, 72));
    let dst = response(&mut e, 200, &[("x-b", "2"), ("x-c", "3")]);
    assert_eq!(dst, [0x3f, 0x31, 0x88, 0xbf, 0xbe]);
    decode(&mut d, &dst);
    assert_eq!(d.table().size(), 72);
}

#[test]
fn trailers_have_no_status_and_carry_updates() {
    let mut e = Encoder::new();
    e.set_max_table_size(1000);
    let mut dst = Vec::new();
    e.encode_trailers(&map(&[("grpc-status", "0")]), &mut dst);
    let mut d = Decoder::new(4096);
    assert_eq!(
        decode(&mut d, &dst),
        [("grpc-status".to_owned(), "0".to_owned())]
    );
    assert_eq!(d.table().max_size(), 1000);
}

#[test]
fn the_arena_stays_bounded() {
    let mut e = Encoder::new();
    let mut d = Decoder::new(4096);
    for i in 0..5000u32 {
        let value = format!("{i:0>200}");
        let dst = response(
            &mut e,
            200,
            &[("x-n", &value), ("x-m", &value[..i as usize % 50])],
        );
        decode(&mut d, &dst);
        let (entries, size) = e.table_usage();
        assert!(size <= 4096);
        assert_eq!((entries, size), (d.table().len(), d.table().size()));
        assert!(e.table.arena.len() <= 2 * 4096 + MAX_INDEXED_VALUE);
    }
    assert!(e.table.arena.capacity() <= 4 * 4096);
}

#[test]
#[ignore = "benchmark: cargo test --release -- --ignored --nocapture bench"]
fn bench_encode_response() {
    let n: u32 = 1_000_000;
    let headers = map(&[
        ("content-type", "text/plain"),
        ("content-length", "13"),
        ("date", DATE1),
        ("server", "nucleus"),
    ]);
    let mut e = Encoder::new();
    let mut dst = Vec::with_capacity(256);
    let mut best = f64::MAX;
    for _ in 0..5 {
        let started = std::time::Instant::now();
        for _ in 0..n {
            dst.clear();
            e.encode_response(StatusCode::OK, &headers, &mut dst);
        }
        best = best.min(started.elapsed().as_nanos() as f64 / f64::from(n));
    }
    println!(
        "encode typical response (status + 4 fields, all indexed after the first), {n} \
         encodes: best {best:.1} ns/iter, {} octets",
        dst.len()
    );
    assert_eq!(dst, [0x88, 0xc1, 0xc0, 0xbf, 0xbe]);
}
