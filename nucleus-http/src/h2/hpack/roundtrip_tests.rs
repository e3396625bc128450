//! Name classification, and encoder-to-decoder round trips.

use bytes::Bytes;
use http::header::{HeaderMap, HeaderName, HeaderValue};
use http::StatusCode;
use proptest::prelude::*;

use super::*;

#[test]
fn names_are_classified() {
    assert_eq!(Name::classify(b":method"), Name::Pseudo(Pseudo::Method));
    assert_eq!(Name::classify(b":scheme"), Name::Pseudo(Pseudo::Scheme));
    assert_eq!(
        Name::classify(b":authority"),
        Name::Pseudo(Pseudo::Authority)
    );
    assert_eq!(Name::classify(b":path"), Name::Pseudo(Pseudo::Path));
    assert_eq!(Name::classify(b":status"), Name::Pseudo(Pseudo::Status));
    assert_eq!(Name::classify(b":protocol"), Name::Pseudo(Pseudo::Protocol));
    assert_eq!(Name::classify(b":foo"), Name::Invalid);
    assert_eq!(Name::classify(b":"), Name::Invalid);
    assert_eq!(Name::classify(b":Method"), Name::Invalid);
    assert_eq!(Name::classify(b"Content-Type"), Name::Invalid);
    assert_eq!(Name::classify(b"x-A"), Name::Invalid);
    assert_eq!(
        Name::classify(b"content-type"),
        Name::Header(http::header::CONTENT_TYPE)
    );
    assert_eq!(
        Name::classify(b"x-a"),
        Name::Header(HeaderName::from_static("x-a"))
    );
    assert_eq!(Name::classify(b""), Name::Invalid);
    assert_eq!(Name::classify(b"a b"), Name::Invalid);
    assert_eq!(Name::classify(b"a:b"), Name::Invalid);
    assert_eq!(Name::classify(b"caf\xc3\xa9"), Name::Invalid);
    assert_eq!(Name::classify(b"x\0"), Name::Invalid);
    // Past the 64-octet fast path of `http`, uppercase must still be refused.
    let long_upper = format!("x-{}", "A".repeat(100));
    assert_eq!(Name::classify(long_upper.as_bytes()), Name::Invalid);
    let long_lower = format!("x-{}", "a".repeat(100));
    assert_eq!(
        Name::classify(long_lower.as_bytes()),
        Name::Header(HeaderName::from_bytes(long_lower.as_bytes()).unwrap())
    );
    for p in [
        Pseudo::Method,
        Pseudo::Scheme,
        Pseudo::Authority,
        Pseudo::Path,
        Pseudo::Status,
        Pseudo::Protocol,
    ] {
        assert_eq!(Name::classify(p.as_str().as_bytes()), Name::Pseudo(p));
    }
}

#[derive(Debug, Clone)]
enum Step {
    Response {
        status: u16,
        fields: Vec<(String, String, bool)>,
    },
    Trailers(Vec<(String, String, bool)>),
    /// The peer advertises a new SETTINGS_HEADER_TABLE_SIZE.
    TableSize(usize),
}

fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(vec![
            "content-type", "content-length", "date", "server", "cache-control", "etag",
            "location", "vary", "set-cookie", "cookie", "authorization",
            "proxy-authorization", "x-request-id", "x-a", "grpc-status",
        ])
        .prop_map(str::to_owned),
        1 => "[a-z][a-z0-9!#$%&'*+.^_`|~-]{0,20}",
    ]
}

fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(vec!["", "0", "1", "text/html", "nucleus", "gzip", "abc"])
            .prop_map(str::to_owned),
        3 => "[ -~]{0,40}",
        1 => "[ -~]{250,300}",
    ]
}

fn fields() -> impl Strategy<Value = Vec<(String, String, bool)>> {
    proptest::collection::vec((name(), value(), prop::bool::weighted(0.1)), 0..8)
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        6 => (prop_oneof![3 => Just(200u16), 1 => 100u16..1000], fields())
            .prop_map(|(status, fields)| Step::Response { status, fields }),
        1 => fields().prop_map(Step::Trailers),
        1 => prop_oneof![Just(0usize), Just(64), 0usize..5000, Just(4096), Just(65536)]
            .prop_map(Step::TableSize),
    ]
}

fn header_map(fields: &[(String, String, bool)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (n, v, sensitive) in fields {
        let mut value = HeaderValue::from_str(v).unwrap();
        value.set_sensitive(*sensitive);
        map.append(HeaderName::from_bytes(n.as_bytes()).unwrap(), value);
    }
    map
}

proptest! {
    #[test]
    fn encoder_to_decoder(steps in proptest::collection::vec(step(), 1..16)) {
        let mut encoder = Encoder::new();
        let mut decoder = Decoder::new(4096);
        for step in steps {
            let mut block = Vec::new();
            let mut expected: Vec<(Name, Bytes)> = Vec::new();
            let map;
            match step {
                Step::TableSize(size) => {
                    // The peer's decoder accepts the new limit once it is acknowledged, which is
                    // when the encoder learns of it.
                    decoder.set_max_table_size(size);
                    encoder.set_max_table_size(size);
                    continue;
                }
                Step::Response { status, fields } => {
                    let status = StatusCode::from_u16(status).unwrap();
                    map = header_map(&fields);
                    encoder.encode_response(status, &map, &mut block);
                    expected.push((
                        Name::Pseudo(Pseudo::Status),
                        Bytes::copy_from_slice(status.as_str().as_bytes()),
                    ));
                }
                Step::Trailers(fields) => {
                    map = header_map(&fields);
                    encoder.encode_trailers(&map, &mut block);
                }
            }
            for (n, v) in &map {
                expected.push((Name::Header(n.clone()), Bytes::copy_from_slice(v.as_bytes())));
            }
            let mut got = Vec::new();
            let r = decoder.decode(Bytes::from(block), usize::MAX, |f| got.push((f.name, f.value)));
            prop_assert_eq!(r, Ok(Decoded::Complete));
            prop_assert_eq!(got, expected);
            prop_assert_eq!(
                encoder.table_usage(),
                (decoder.table().len(), decoder.table().size())
            );
        }
    }
}
