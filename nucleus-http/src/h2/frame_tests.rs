// Tests build frames by hand and index them freely; a panic here is a failed assertion.
#![allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]

use super::*;
use proptest::prelude::*;

const MAX: u32 = DEFAULT_MAX_FRAME_SIZE;

/// A raw frame, written independently of `put_head` so the decoder is not checked against
/// its own encoder, and so the reserved stream bit can be set.
fn raw(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = u32::try_from(payload.len()).unwrap();
    assert!(len < 1 << 24);
    let mut v = Vec::new();
    v.extend_from_slice(&len.to_be_bytes()[1..]);
    v.push(kind);
    v.push(flags);
    v.extend_from_slice(&stream.to_be_bytes());
    v.extend_from_slice(payload);
    v
}

/// Decodes one whole frame that is all of the buffer and checks it was all consumed, on
/// success and on error alike.
fn one(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Result<Frame, FrameError> {
    decode_exact(&raw(kind, flags, stream, payload))
}

fn decode_exact(bytes: &[u8]) -> Result<Frame, FrameError> {
    let mut buf = BytesMut::from(bytes);
    let out = decode(&mut buf, MAX);
    assert!(
        buf.is_empty(),
        "frame not fully consumed: {} left",
        buf.len()
    );
    out.map(|f| f.expect("a whole frame must decode"))
}

fn conn_err(out: Result<Frame, FrameError>) -> Reason {
    match out {
        Err(FrameError::Connection(reason, _)) => reason,
        other => panic!("expected a connection error, got {other:?}"),
    }
}

fn settings_of(params: &[(u16, u32)]) -> Result<Frame, FrameError> {
    let mut payload = Vec::new();
    for &(id, v) in params {
        payload.extend_from_slice(&id.to_be_bytes());
        payload.extend_from_slice(&v.to_be_bytes());
    }
    one(KIND_SETTINGS, 0, 0, &payload)
}

// ----- round trips through the serializers -------------------------------------------------

#[test]
fn settings_round_trip() {
    let mut v = Vec::new();
    put_settings(
        &mut v,
        &[
            (SETTINGS_HEADER_TABLE_SIZE, 4096),
            (SETTINGS_ENABLE_PUSH, 0),
            (SETTINGS_MAX_CONCURRENT_STREAMS, 100),
            (SETTINGS_INITIAL_WINDOW_SIZE, MAX_WINDOW),
            (SETTINGS_MAX_FRAME_SIZE, MAX_MAX_FRAME_SIZE),
            (SETTINGS_MAX_HEADER_LIST_SIZE, 65_536),
            (SETTINGS_ENABLE_CONNECT_PROTOCOL, 1),
        ],
    );
    assert_eq!(v.len(), HEAD_LEN + 7 * 6);
    let expect = Settings {
        header_table_size: Some(4096),
        enable_push: Some(false),
        max_concurrent_streams: Some(100),
        initial_window_size: Some(MAX_WINDOW),
        max_frame_size: Some(MAX_MAX_FRAME_SIZE),
        max_header_list_size: Some(65_536),
        enable_connect_protocol: Some(true),
    };
    assert_eq!(
        decode_exact(&v),
        Ok(Frame::Settings {
            ack: false,
            settings: expect
        })
    );
}

#[test]
fn empty_settings_round_trip() {
    let mut v = Vec::new();
    put_settings(&mut v, &[]);
    assert_eq!(v, raw(KIND_SETTINGS, 0, 0, &[]));
    assert_eq!(
        decode_exact(&v),
        Ok(Frame::Settings {
            ack: false,
            settings: Settings::default()
        })
    );
}

#[test]
fn settings_ack_round_trip() {
    let mut v = Vec::new();
    put_settings_ack(&mut v);
    assert_eq!(
        decode_exact(&v),
        Ok(Frame::Settings {
            ack: true,
            settings: Settings::default()
        })
    );
}

#[test]
fn ping_round_trip() {
    for ack in [false, true] {
        let mut v = Vec::new();
        put_ping(&mut v, ack, *b"12345678");
        assert_eq!(
            decode_exact(&v),
            Ok(Frame::Ping {
                ack,
                payload: *b"12345678"
            })
        );
    }
}

#[test]
fn goaway_round_trip() {
    let mut v = Vec::new();
    put_goaway(&mut v, 41, Reason::ENHANCE_YOUR_CALM, b"too many resets");
    assert_eq!(
        decode_exact(&v),
        Ok(Frame::GoAway {
            last_stream: 41,
            reason: Reason::ENHANCE_YOUR_CALM,
            debug: Bytes::from_static(b"too many resets"),
        })
    );
}

#[test]
fn goaway_debug_is_cut_to_fit_any_peer() {
    let mut v = Vec::new();
    put_goaway(&mut v, 1, Reason::NO_ERROR, &[b'x'; 20_000]);
    assert_eq!(v.len(), HEAD_LEN + DEFAULT_MAX_FRAME_SIZE as usize);
    match decode_exact(&v) {
        Ok(Frame::GoAway { debug, .. }) => assert_eq!(debug.len(), 16_384 - 8),
        other => panic!("{other:?}"),
    }
}

#[test]
fn rst_stream_round_trip() {
    let mut v = Vec::new();
    put_rst_stream(&mut v, 7, Reason(0xdead));
    assert_eq!(
        decode_exact(&v),
        Ok(Frame::RstStream {
            stream: 7,
            reason: Reason(0xdead)
        })
    );
}

#[test]
fn window_update_round_trip() {
    for (stream, increment) in [(0, 1), (3, MAX_WINDOW)] {
        let mut v = Vec::new();
        put_window_update(&mut v, stream, increment);
        assert_eq!(
            decode_exact(&v),
            Ok(Frame::WindowUpdate { stream, increment })
        );
    }
}

#[test]
fn headers_round_trip_single_frame() {
    for end_stream in [false, true] {
        let mut v = Vec::new();
        put_headers(&mut v, 5, b"\x82\x86\x84", end_stream, MAX);
        assert_eq!(
            decode_exact(&v),
            Ok(Frame::Headers {
                stream: 5,
                fragment: Bytes::from_static(b"\x82\x86\x84"),
                end_stream,
                end_headers: true,
                priority: None,
            })
        );
    }
}

#[test]
fn headers_empty_block_is_one_frame() {
    let mut v = Vec::new();
    put_headers(&mut v, 1, b"", false, MAX);
    assert_eq!(v, raw(KIND_HEADERS, FLAG_END_HEADERS, 1, &[]));
}

#[test]
fn headers_split_into_continuations() {
    let block: Vec<u8> = (0..40_000u32).map(|i| (i % 251) as u8).collect();
    let mut v = Vec::new();
    put_headers(&mut v, 9, &block, true, MAX);
    assert_eq!(v.len(), 40_000 + 3 * HEAD_LEN);

    let mut buf = BytesMut::from(&v[..]);
    let mut got = Vec::new();
    let first = decode(&mut buf, MAX).unwrap().unwrap();
    match first {
        Frame::Headers {
            stream: 9,
            fragment,
            end_stream: true,
            end_headers: false,
            priority: None,
        } => {
            assert_eq!(fragment.len(), 16_384);
            got.extend_from_slice(&fragment);
        }
        other => panic!("{other:?}"),
    }
    for (len, last) in [(16_384, false), (40_000 - 2 * 16_384, true)] {
        match decode(&mut buf, MAX).unwrap().unwrap() {
            Frame::Continuation {
                stream: 9,
                fragment,
                end_headers,
            } => {
                assert_eq!(fragment.len(), len);
                assert_eq!(end_headers, last);
                got.extend_from_slice(&fragment);
            }
            other => panic!("{other:?}"),
        }
    }
    assert!(buf.is_empty());
    assert_eq!(got, block);
    // END_STREAM must not be set on the CONTINUATION heads (flags byte at offset 4).
    let second_head = HEAD_LEN + 16_384;
    assert_eq!(v[second_head + 4], 0);
    assert_eq!(v[2 * second_head + 4], FLAG_END_HEADERS);
}

#[test]
fn headers_exactly_max_is_one_frame() {
    let block = vec![7u8; 16_384];
    let mut v = Vec::new();
    put_headers(&mut v, 1, &block, false, MAX);
    assert_eq!(v.len(), HEAD_LEN + 16_384);
    assert_eq!(v[4], FLAG_END_HEADERS);
}

#[test]
fn headers_bogus_max_frame_size_is_clamped() {
    let mut v = Vec::new();
    put_headers(&mut v, 1, &[1u8; 20_000], false, 0);
    assert_eq!(frame_len(&v), Some(HEAD_LEN + 16_384));
}

#[test]
fn data_head_round_trip() {
    let mut v = Vec::new();
    put_data_head(&mut v, 3, 5, true);
    assert_eq!(v.len(), HEAD_LEN);
    v.extend_from_slice(b"hello");
    assert_eq!(
        decode_exact(&v),
        Ok(Frame::Data {
            stream: 3,
            data: Bytes::from_static(b"hello"),
            end_stream: true,
            flow_len: 5,
        })
    );
}

#[test]
fn put_head_clears_reserved_bit_and_unknown_kind_decodes() {
    let mut v = Vec::new();
    put_head(&mut v, 3, 0xfa, 0xff, 11);
    v.extend_from_slice(b"abc");
    assert_eq!(
        decode_exact(&v),
        Ok(Frame::Unknown {
            kind: 0xfa,
            stream: 11
        })
    );
}

// ----- decoding details ---------------------------------------------------------------------

#[test]
fn reserved_stream_bit_is_ignored() {
    assert_eq!(
        one(KIND_WINDOW_UPDATE, 0, 0x8000_0003, &[0x80, 0, 0, 9]),
        Ok(Frame::WindowUpdate {
            stream: 3,
            increment: 9
        })
    );
    // The bit alone does not make a stream: it is still stream 0.
    assert_eq!(
        conn_err(one(KIND_DATA, 0, 0x8000_0000, b"x")),
        Reason::PROTOCOL_ERROR
    );
}

#[test]
fn unknown_flags_are_ignored() {
    // 0xf6: every bit except the two DATA defines (END_STREAM 0x1, PADDED 0x8).
    assert_eq!(
        one(KIND_DATA, 0xf6, 1, b"ab"),
        Ok(Frame::Data {
            stream: 1,
            data: Bytes::from_static(b"ab"),
            end_stream: false,
            flow_len: 2
        })
    );
    assert_eq!(
        one(KIND_PING, 0xfe, 0, &[0; 8]),
        Ok(Frame::Ping {
            ack: false,
            payload: [0; 8]
        })
    );
    assert_eq!(
        one(KIND_RST_STREAM, 0xff, 1, &[0, 0, 0, 8]),
        Ok(Frame::RstStream {
            stream: 1,
            reason: Reason::CANCEL
        })
    );
}

#[test]
fn data_padding_is_stripped_and_counted() {
    let mut payload = vec![3u8];
    payload.extend_from_slice(b"body");
    payload.extend_from_slice(&[0, 0, 0]);
    assert_eq!(
        one(KIND_DATA, FLAG_PADDED | FLAG_END_STREAM, 1, &payload),
        Ok(Frame::Data {
            stream: 1,
            data: Bytes::from_static(b"body"),
            end_stream: true,
            flow_len: 8
        })
    );
}

#[test]
fn data_all_padding_is_legal() {
    // Pad length = payload length - 1: no data, every byte padding.
    assert_eq!(
        one(KIND_DATA, FLAG_PADDED, 1, &[2, 0, 0]),
        Ok(Frame::Data {
            stream: 1,
            data: Bytes::new(),
            end_stream: false,
            flow_len: 3
        })
    );
}

#[test]
fn headers_padding_and_priority_are_removed() {
    let mut payload = vec![2u8]; // pad length
    payload.extend_from_slice(&(0x8000_0003u32).to_be_bytes()); // exclusive, depends on 3
    payload.push(15); // weight 16
    payload.extend_from_slice(b"frag");
    payload.extend_from_slice(&[0, 0]);
    assert_eq!(
        one(
            KIND_HEADERS,
            FLAG_PADDED | FLAG_PRIORITY | FLAG_END_HEADERS,
            5,
            &payload
        ),
        Ok(Frame::Headers {
            stream: 5,
            fragment: Bytes::from_static(b"frag"),
            end_stream: false,
            end_headers: true,
            priority: Some(Priority {
                dependency: 3,
                exclusive: true,
                weight: 15
            }),
        })
    );
}

#[test]
fn priority_frame_decodes() {
    assert_eq!(
        one(KIND_PRIORITY, 0, 3, &[0, 0, 0, 1, 200]),
        Ok(Frame::Priority {
            stream: 3,
            priority: Priority {
                dependency: 1,
                exclusive: false,
                weight: 200
            }
        })
    );
}

#[test]
fn push_promise_decodes_minimally() {
    assert_eq!(
        one(KIND_PUSH_PROMISE, FLAG_END_HEADERS, 1, &[0, 0, 0, 2]),
        Ok(Frame::PushPromise { stream: 1 })
    );
}

#[test]
fn settings_unknown_ids_ignored_and_last_wins() {
    assert_eq!(
        settings_of(&[
            (SETTINGS_MAX_CONCURRENT_STREAMS, 1),
            (0x9, 1),
            (0xffff, 0xffff_ffff),
            (SETTINGS_MAX_CONCURRENT_STREAMS, 2),
        ]),
        Ok(Frame::Settings {
            ack: false,
            settings: Settings {
                max_concurrent_streams: Some(2),
                ..Settings::default()
            }
        })
    );
}

#[test]
fn settings_boundary_values_accepted() {
    assert!(settings_of(&[(SETTINGS_INITIAL_WINDOW_SIZE, MAX_WINDOW)]).is_ok());
    assert!(settings_of(&[(SETTINGS_MAX_FRAME_SIZE, 16_384)]).is_ok());
    assert!(settings_of(&[(SETTINGS_MAX_FRAME_SIZE, 16_777_215)]).is_ok());
}

#[test]
fn goaway_reserved_bit_masked_and_empty_debug() {
    assert_eq!(
        one(KIND_GOAWAY, 0, 0, &[0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0]),
        Ok(Frame::GoAway {
            last_stream: MAX_WINDOW,
            reason: Reason::NO_ERROR,
            debug: Bytes::new()
        })
    );
}

#[test]
fn unknown_type_is_consumed() {
    let mut v = raw(0x42, 0xff, 0, b"whatever");
    v.extend(raw(0x0b, 0, 7, b""));
    let mut buf = BytesMut::from(&v[..]);
    assert_eq!(
        decode(&mut buf, MAX),
        Ok(Some(Frame::Unknown {
            kind: 0x42,
            stream: 0
        }))
    );
    assert_eq!(
        decode(&mut buf, MAX),
        Ok(Some(Frame::Unknown {
            kind: 0x0b,
            stream: 7
        }))
    );
    assert!(buf.is_empty());
}

#[test]
fn every_strict_prefix_is_incomplete() {
    let mut payload = vec![1u8];
    payload.extend_from_slice(b"data");
    payload.push(0);
    let frame = raw(KIND_DATA, FLAG_PADDED, 1, &payload);
    for n in 0..frame.len() {
        let mut buf = BytesMut::from(&frame[..n]);
        assert_eq!(decode(&mut buf, MAX), Ok(None), "prefix {n}");
        assert_eq!(&buf[..], &frame[..n], "prefix {n} was consumed");
    }
    assert!(decode_exact(&frame).is_ok());
}

#[test]
fn back_to_back_frames() {
    let mut v = Vec::new();
    put_settings(&mut v, &[(SETTINGS_INITIAL_WINDOW_SIZE, 1 << 20)]);
    put_headers(&mut v, 1, b"abc", false, MAX);
    put_data_head(&mut v, 1, 2, true);
    v.extend_from_slice(b"hi");
    put_ping(&mut v, false, [9; 8]);
    v.extend_from_slice(&raw(KIND_DATA, 0, 3, b"partial")[..12]); // incomplete tail

    let mut buf = BytesMut::from(&v[..]);
    let mut kinds = Vec::new();
    while let Some(frame) = decode(&mut buf, MAX).unwrap() {
        kinds.push(frame);
    }
    assert_eq!(kinds.len(), 4);
    assert!(matches!(kinds[0], Frame::Settings { ack: false, .. }));
    assert!(matches!(kinds[1], Frame::Headers { ref fragment, .. } if fragment == "abc"));
    assert!(matches!(kinds[2], Frame::Data { ref data, .. } if data == "hi"));
    assert_eq!(
        kinds[3],
        Frame::Ping {
            ack: false,
            payload: [9; 8]
        }
    );
    assert_eq!(buf.len(), 12);
}

#[test]
fn oversize_is_decided_from_the_head_alone() {
    let head = &raw(KIND_DATA, 0, 1, &[0; 16_385])[..HEAD_LEN];
    let mut buf = BytesMut::from(head);
    assert!(matches!(
        decode(&mut buf, 16_384),
        Err(FrameError::Connection(Reason::FRAME_SIZE_ERROR, _))
    ));
    // The same head is fine against a larger advertised limit: it just waits for the payload.
    let mut buf = BytesMut::from(head);
    assert_eq!(decode(&mut buf, 16_385), Ok(None));
}

#[test]
fn frame_exactly_max_is_accepted() {
    assert!(decode_exact(&raw(KIND_DATA, 0, 1, &[0; 16_384])).is_ok());
}

#[test]
fn frame_len_reports_total() {
    let v = raw(KIND_PING, 0, 0, &[0; 8]);
    assert_eq!(frame_len(&v[..8]), None);
    assert_eq!(frame_len(&v[..9]), Some(17));
    assert_eq!(
        frame_len(&[0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0]),
        Some(9 + 16_777_215)
    );
}

#[test]
fn stream_error_consumes_frame_and_next_decodes() {
    let mut v = raw(KIND_WINDOW_UPDATE, 0, 5, &[0, 0, 0, 0]);
    v.extend(raw(KIND_PING, 0, 0, &[1; 8]));
    let mut buf = BytesMut::from(&v[..]);
    assert_eq!(
        decode(&mut buf, MAX),
        Err(FrameError::Stream(5, Reason::PROTOCOL_ERROR))
    );
    assert_eq!(buf.len(), HEAD_LEN + 8);
    assert!(matches!(
        decode(&mut buf, MAX),
        Ok(Some(Frame::Ping { .. }))
    ));
}

#[test]
fn reason_names() {
    assert_eq!(Reason::NO_ERROR.name(), Some("NO_ERROR"));
    assert_eq!(Reason(0xd).name(), Some("HTTP_1_1_REQUIRED"));
    assert_eq!(Reason(0xe).name(), None);
}

// ----- validation rules, one test each ------------------------------------------------------

#[test]
fn data_on_stream_zero() {
    assert_eq!(conn_err(one(KIND_DATA, 0, 0, b"x")), Reason::PROTOCOL_ERROR);
}

#[test]
fn data_pad_too_long() {
    // Pad length equal to the payload length.
    assert_eq!(
        conn_err(one(KIND_DATA, FLAG_PADDED, 1, &[3, 0, 0])),
        Reason::PROTOCOL_ERROR
    );
}

#[test]
fn data_padded_without_pad_length() {
    assert_eq!(
        conn_err(one(KIND_DATA, FLAG_PADDED, 1, &[])),
        Reason::FRAME_SIZE_ERROR
    );
}

#[test]
fn headers_on_stream_zero() {
    assert_eq!(
        conn_err(one(KIND_HEADERS, FLAG_END_HEADERS, 0, b"x")),
        Reason::PROTOCOL_ERROR
    );
}

#[test]
fn headers_pad_too_long() {
    // 1 pad-length byte + 2 fragment bytes, padding claims 3.
    assert_eq!(
        conn_err(one(KIND_HEADERS, FLAG_PADDED, 1, &[3, b'a', b'b'])),
        Reason::PROTOCOL_ERROR
    );
}

#[test]
fn headers_pad_overlapping_priority() {
    // Padding that would eat into the priority fields.
    assert_eq!(
        conn_err(one(
            KIND_HEADERS,
            FLAG_PADDED | FLAG_PRIORITY,
            1,
            &[1, 0, 0, 0, 0, 16]
        )),
        Reason::PROTOCOL_ERROR
    );
}

#[test]
fn headers_too_short_for_priority() {
    assert_eq!(
        conn_err(one(KIND_HEADERS, FLAG_PRIORITY, 1, &[0, 0, 0, 0])),
        Reason::FRAME_SIZE_ERROR
    );
}

#[test]
fn headers_self_dependency() {
    // §5.3.1 says stream error; a connection error is used instead (see `parse`), since a
    // skipped header block would desynchronize HPACK.
    assert_eq!(
        conn_err(one(KIND_HEADERS, FLAG_PRIORITY, 3, &[0, 0, 0, 3, 16])),
        Reason::PROTOCOL_ERROR
    );
}

#[test]
fn priority_on_stream_zero() {
    assert_eq!(
        conn_err(one(KIND_PRIORITY, 0, 0, &[0, 0, 0, 1, 16])),
        Reason::PROTOCOL_ERROR
    );
}

#[test]
fn priority_wrong_length() {
    for len in [4, 6] {
        assert_eq!(
            one(KIND_PRIORITY, 0, 7, &vec![0; len]),
            Err(FrameError::Stream(7, Reason::FRAME_SIZE_ERROR))
        );
    }
}

#[test]
fn priority_self_dependency() {
    assert_eq!(
        one(KIND_PRIORITY, 0, 7, &[0x80, 0, 0, 7, 16]),
        Err(FrameError::Stream(7, Reason::PROTOCOL_ERROR))
    );
}

#[test]
fn rst_stream_on_stream_zero() {
    assert_eq!(
        conn_err(one(KIND_RST_STREAM, 0, 0, &[0, 0, 0, 8])),
        Reason::PROTOCOL_ERROR
    );
}

#[test]
fn rst_stream_wrong_length() {
    assert_eq!(
        conn_err(one(KIND_RST_STREAM, 0, 1, &[0, 0, 8])),
        Reason::FRAME_SIZE_ERROR
    );
}

#[test]
fn settings_on_a_stream() {
    assert_eq!(
        conn_err(one(KIND_SETTINGS, 0, 1, &[])),
        Reason::PROTOCOL_ERROR
    );
}

#[test]
fn settings_ack_with_payload() {
    assert_eq!(
        conn_err(one(KIND_SETTINGS, FLAG_ACK, 0, &[0, 4, 0, 0, 0, 1])),
        Reason::FRAME_SIZE_ERROR
    );
}

#[test]
fn settings_length_not_multiple_of_six() {
    assert_eq!(
        conn_err(one(KIND_SETTINGS, 0, 0, &[0, 4, 0, 0, 0, 1, 0])),
        Reason::FRAME_SIZE_ERROR
    );
}

#[test]
fn settings_enable_push_not_boolean() {
    assert_eq!(
        conn_err(settings_of(&[(SETTINGS_ENABLE_PUSH, 2)])),
        Reason::PROTOCOL_ERROR
    );
}

#[test]
fn settings_initial_window_too_large() {
    assert_eq!(
        conn_err(settings_of(&[(SETTINGS_INITIAL_WINDOW_SIZE, 1 << 31)])),
        Reason::FLOW_CONTROL_ERROR
    );
}

#[test]
fn settings_max_frame_size_too_small() {
    assert_eq!(
        conn_err(settings_of(&[(SETTINGS_MAX_FRAME_SIZE, 16_383)])),
        Reason::PROTOCOL_ERROR
    );
}

#[test]
fn settings_max_frame_size_too_large() {
    assert_eq!(
        conn_err(settings_of(&[(SETTINGS_MAX_FRAME_SIZE, 16_777_216)])),
        Reason::PROTOCOL_ERROR
    );
}

#[test]
fn settings_enable_connect_protocol_not_boolean() {
    assert_eq!(
        conn_err(settings_of(&[(SETTINGS_ENABLE_CONNECT_PROTOCOL, 7)])),
        Reason::PROTOCOL_ERROR
    );
}

#[test]
fn push_promise_on_stream_zero() {
    assert_eq!(
        conn_err(one(KIND_PUSH_PROMISE, 0, 0, &[0, 0, 0, 2])),
        Reason::PROTOCOL_ERROR
    );
}

#[test]
fn ping_on_a_stream() {
    assert_eq!(
        conn_err(one(KIND_PING, 0, 1, &[0; 8])),
        Reason::PROTOCOL_ERROR
    );
}

#[test]
fn ping_wrong_length() {
    assert_eq!(
        conn_err(one(KIND_PING, 0, 0, &[0; 7])),
        Reason::FRAME_SIZE_ERROR
    );
    assert_eq!(
        conn_err(one(KIND_PING, 0, 0, &[0; 9])),
        Reason::FRAME_SIZE_ERROR
    );
}

#[test]
fn goaway_on_a_stream() {
    assert_eq!(
        conn_err(one(KIND_GOAWAY, 0, 1, &[0; 8])),
        Reason::PROTOCOL_ERROR
    );
}

#[test]
fn goaway_too_short() {
    assert_eq!(
        conn_err(one(KIND_GOAWAY, 0, 0, &[0; 7])),
        Reason::FRAME_SIZE_ERROR
    );
}

#[test]
fn window_update_wrong_length() {
    assert_eq!(
        conn_err(one(KIND_WINDOW_UPDATE, 0, 1, &[0, 0, 0, 0, 1])),
        Reason::FRAME_SIZE_ERROR
    );
}

#[test]
fn window_update_zero_on_stream() {
    assert_eq!(
        one(KIND_WINDOW_UPDATE, 0, 9, &[0, 0, 0, 0]),
        Err(FrameError::Stream(9, Reason::PROTOCOL_ERROR))
    );
}

#[test]
fn window_update_zero_on_connection() {
    // The reserved bit set does not make the increment non-zero.
    assert_eq!(
        conn_err(one(KIND_WINDOW_UPDATE, 0, 0, &[0x80, 0, 0, 0])),
        Reason::PROTOCOL_ERROR
    );
}

#[test]
fn continuation_on_stream_zero() {
    assert_eq!(
        conn_err(one(KIND_CONTINUATION, FLAG_END_HEADERS, 0, b"x")),
        Reason::PROTOCOL_ERROR
    );
}

// ----- property tests -----------------------------------------------------------------------

/// Decodes until the buffer runs dry or the connection would close, checking what each
/// outcome consumed.
fn drain(bytes: &[u8], max: u32) {
    let mut buf = BytesMut::from(bytes);
    loop {
        let before = buf.len();
        let expect = frame_len(&buf);
        let out = decode(&mut buf, max);
        let used = before - buf.len();
        match out {
            Ok(Some(_)) | Err(FrameError::Stream(..)) => {
                assert!(used >= HEAD_LEN, "consumed only {used}");
                assert_eq!(Some(used), expect, "consumed other than the frame");
            }
            Ok(None) => {
                assert_eq!(used, 0, "Ok(None) consumed bytes");
                break;
            }
            Err(FrameError::Connection(..)) => break,
        }
    }
}

fn any_frame() -> impl Strategy<Value = Vec<u8>> {
    (
        0u8..12,
        any::<u8>(),
        prop_oneof![0u32..10, any::<u32>()],
        prop::collection::vec(any::<u8>(), 0..48),
    )
        .prop_map(|(kind, flags, stream, payload)| raw(kind, flags, stream, &payload))
}

proptest! {
    #[test]
    fn random_bytes_never_panic(
        bytes in prop::collection::vec(any::<u8>(), 0..4096),
        max in prop_oneof![Just(MAX), MAX..=MAX_MAX_FRAME_SIZE],
    ) {
        drain(&bytes, max);
    }

    // Random bytes rarely form a complete frame; well-framed random frames reach the payload
    // checks of every type.
    #[test]
    fn random_frames_never_panic(
        frames in prop::collection::vec(any_frame(), 0..16),
        tail in prop::collection::vec(any::<u8>(), 0..12),
    ) {
        let mut bytes = frames.concat();
        bytes.extend_from_slice(&tail);
        drain(&bytes, MAX);
    }

    #[test]
    fn put_headers_reassembles(
        len in 0usize..60_000,
        max in MAX..20_000,
        end_stream in any::<bool>(),
    ) {
        let block: Vec<u8> = (0..len).map(|i| i as u8).collect();
        let mut v = Vec::new();
        put_headers(&mut v, 1, &block, end_stream, max);
        let mut buf = BytesMut::from(&v[..]);
        let mut got = Vec::new();
        let mut first = true;
        while let Some(frame) = decode(&mut buf, max).unwrap() {
            let (fragment, end_headers) = match frame {
                Frame::Headers { fragment, end_stream: es, end_headers, .. } => {
                    prop_assert!(first);
                    prop_assert_eq!(es, end_stream);
                    (fragment, end_headers)
                }
                Frame::Continuation { fragment, end_headers, .. } => {
                    prop_assert!(!first);
                    (fragment, end_headers)
                }
                other => panic!("{other:?}"),
            };
            first = false;
            got.extend_from_slice(&fragment);
            prop_assert_eq!(end_headers, buf.is_empty());
        }
        prop_assert!(buf.is_empty());
        prop_assert_eq!(got, block);
    }
}

// ----- micro-benchmark ----------------------------------------------------------------------

/// `cargo test --release -- --ignored --nocapture decode_bench`
#[test]
#[ignore]
fn decode_bench() {
    const FRAMES: usize = 10_000;
    let mut v = Vec::new();
    for i in 0..FRAMES as u32 {
        // A typical small request block: a few indexed fields and a short literal path.
        put_headers(
            &mut v,
            2 * i + 1,
            b"\x82\x86\x84\x41\x8a\xa0\xe4\x1d\x13\x9d\x09\xb8\xf0\x1e\x07",
            true,
            MAX,
        );
    }
    let source = BytesMut::from(&v[..]);
    let mut best = u128::MAX;
    for _ in 0..50 {
        let mut buf = source.clone();
        let start = std::time::Instant::now();
        let mut n = 0;
        while let Ok(Some(frame)) = decode(&mut buf, MAX) {
            std::hint::black_box(&frame);
            n += 1;
        }
        let took = start.elapsed().as_nanos();
        assert_eq!(n, FRAMES);
        best = best.min(took);
    }
    println!(
        "decode: {:.1} ns/frame ({FRAMES} HEADERS frames, best of 50)",
        best as f64 / FRAMES as f64
    );
}
