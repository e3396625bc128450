//! The connection state machine driven by arbitrary bytes, for the fuzz target and a property
//! test: everything a client can send, applied frame by frame, while a pretend server answers
//! every stream it is handed (head, body, trailers, resets) and reads every request body.

use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use bytes::{Bytes, BytesMut};
use http::{HeaderMap, HeaderValue, Response, StatusCode};

use super::handles::{handles, lock};
use super::state::{Limits, State};
use crate::h2::backend::{Extra, RecvData, Reset, Respond, SendBody};
use crate::h2::frame;

/// Feeds `bytes` (what follows the preface) to a connection's state. Panics only on a bug.
pub fn fuzz_connection(bytes: &[u8]) {
    let limits = Limits {
        max_concurrent_streams: 8,
        stream_window: 1024,
        connection_window: 4096,
        max_frame_size: frame::DEFAULT_MAX_FRAME_SIZE,
        max_header_list_size: 4096,
        max_send_buffer: 64 * 1024,
        max_local_error_resets: 16,
        max_early_resets: 4,
    };
    let shared = Arc::new(Mutex::new(State::new(limits)));
    let mut input = BytesMut::from(bytes);
    let waker = Waker::noop();
    let mut cx = Context::from_waker(waker);
    let mut answered = 0u32;
    let mut live = Vec::new();
    loop {
        let frame = frame::decode(&mut input, frame::DEFAULT_MAX_FRAME_SIZE);
        let mut state = lock(&shared);
        let applied = match frame {
            Ok(Some(frame)) => state.recv_frame(frame),
            Ok(None) => break,
            Err(err) => state.frame_error(err),
        };
        if applied.is_err() {
            state.fail_all();
            break;
        }
        // What a client that never reads makes us queue is bounded by `max_send_buffer`
        // plus one frame's worth of answers (the engine stops reading above it).
        if state.out.len() > 1024 * 1024 {
            state.out = crate::h1::io::WriteBuf::default();
            state.unblock();
        }
        let accepted: Vec<_> = state.accepted.drain(..).collect();
        drop(state);
        for new in accepted {
            let (mut respond, mut body) = handles(&shared, new.key, new.id);
            answered += 1;
            // Vary what the pretend server does with each stream.
            match answered % 4 {
                0 => drop((respond, body)),
                1 => {
                    let _ = body.poll_data(&mut cx);
                    body.release_capacity(100);
                    let extra = Extra {
                        date: true,
                        ..Extra::default()
                    };
                    let _ = respond.send_response(Response::new(()), extra, true);
                }
                2 => {
                    let mut head = Response::new(());
                    *head.status_mut() = StatusCode::NOT_FOUND;
                    let extra = Extra {
                        content_length: Some(3000),
                        ..Extra::default()
                    };
                    if let Ok(mut send) = respond.send_response(head, extra, false) {
                        let _ = send.send_data(Bytes::from(vec![b'x'; 3000]), false);
                        let mut trailers = HeaderMap::new();
                        trailers.insert("x-t", HeaderValue::from_static("1"));
                        let _ = send.send_trailers(trailers);
                    }
                    live.push(body);
                }
                _ => {
                    if let Ok(mut send) =
                        respond.send_response(Response::new(()), Extra::default(), false)
                    {
                        if let Poll::Ready(Some(Ok(n))) = send.poll_capacity(&mut cx) {
                            let _ = send.send_data(Bytes::from(vec![b'y'; n.min(5000)]), false);
                        }
                        send.send_reset(Reset::Cancel);
                    }
                    live.push(body);
                }
            }
        }
        // Request bodies kept alive read what came.
        for body in &mut live {
            while let Poll::Ready(Some(Ok(data))) = body.poll_data(&mut cx) {
                body.release_capacity(data.len());
            }
            let _ = body.poll_trailers(&mut cx);
            let _ = body.is_end_stream();
        }
    }
    drop(live);
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        frame::put_head(&mut out, payload.len(), kind, flags, stream);
        out.extend_from_slice(payload);
        out
    }

    /// Frames that mostly parse: a SETTINGS first, then requests, bodies, resets, updates.
    fn plausible() -> impl Strategy<Value = Vec<u8>> {
        let one = (
            0u8..10,
            0u8..0x30,
            0u32..12,
            proptest::collection::vec(any::<u8>(), 0..40),
        );
        proptest::collection::vec(one, 0..40).prop_map(|frames| {
            let mut out = frame(frame::KIND_SETTINGS, 0, 0, &[]);
            for (kind, flags, stream, mut payload) in frames {
                if kind == frame::KIND_HEADERS {
                    // A GET with a valid head most of the time.
                    payload = vec![0x82, 0x86, 0x84, 0x41, 0x01, b'a'];
                }
                out.extend(frame(kind, flags, stream, &payload));
            }
            out
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn arbitrary_frames_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            fuzz_connection(&bytes);
        }

        #[test]
        fn plausible_frames_never_panic(bytes in plausible()) {
            fuzz_connection(&bytes);
        }
    }
}
