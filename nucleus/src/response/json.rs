//! JSON responses.

use std::cell::RefCell;

use bytes::{Bytes, BytesMut};
use http::StatusCode;
use serde::Serialize;

use super::{text, with_content_type, IntoResponse, Response, APPLICATION_JSON};

/// A JSON response: serializes `T` with `serde_json` and sets `content-type: application/json`.
///
/// To read a JSON request body, use [`Request::json`](crate::Request::json).
///
/// If `T` fails to serialize (a map with non-string keys, a failing `Serialize` impl), the
/// response is `500 Internal Server Error` and the error is logged; the client never sees a
/// half-written document.
///
/// The document is written into a buffer the worker thread reuses (16 KiB at a time), so a
/// response costs no allocation of its own; the body shares that buffer until it is dropped,
/// which the server does once the response is written.
///
/// # Examples
///
/// ```
/// use nucleus::response::Json;
/// use nucleus::{Request, Router};
/// use serde::Serialize;
///
/// #[derive(Serialize)]
/// struct User {
///     id: u64,
///     name: String,
/// }
///
/// async fn user(_req: Request) -> Json<User> {
///     Json(User { id: 1, name: "alice".into() })
/// }
///
/// let app = Router::new().get("/user", user);
/// # let _: Router = app;
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Json<T>(pub T);

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        match serialize(&self.0) {
            Ok(body) => with_content_type(body, &APPLICATION_JSON),
            Err(err) => {
                tracing::error!(error = %err, "failed to serialize a JSON response");
                text(StatusCode::INTERNAL_SERVER_ERROR, "internal server error")
            }
        }
    }
}

impl<T> std::ops::Deref for Json<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T> std::ops::DerefMut for Json<T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.0
    }
}

impl<T> From<T> for Json<T> {
    fn from(value: T) -> Json<T> {
        Json(value)
    }
}

/// Room a thread's JSON buffer gets when it runs low: documents are cut from it one after the
/// other until it is used up.
const ARENA_CHUNK: usize = 16 * 1024;

/// A buffer found with more room than this (a large document grew it, and `reserve` took the
/// memory back) is let go rather than kept.
const ARENA_KEEP: usize = 256 * 1024;

thread_local! {
    /// Where this thread serializes JSON bodies. Each document is split off as a `Bytes` that
    /// shares the buffer: no allocation per response, where `serde_json::to_vec` made two
    /// (its `Vec`, and the reference count `Bytes` adds when the `Vec` is not full) and two
    /// frees. Once every document cut from it is dropped (they are copied to the connection
    /// as soon as the response is written), `reserve` reuses the memory in place.
    static ARENA: RefCell<BytesMut> = RefCell::new(BytesMut::new());
}

/// Appends to the arena: `serde_json` writes a document in many small pieces, and
/// `BytesMut::extend_from_slice` costs less per piece than the generic `BufMut` writer.
struct ArenaWriter<'a>(&'a mut BytesMut);

impl std::io::Write for ArenaWriter<'_> {
    #[inline]
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    #[inline]
    fn write_all(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.0.extend_from_slice(bytes);
        Ok(())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// `value` as a JSON document.
fn serialize<T: Serialize>(value: &T) -> Result<Bytes, serde_json::Error> {
    ARENA
        .try_with(|arena| match arena.try_borrow_mut() {
            Ok(mut arena) => into_arena(&mut arena, value),
            // A `Serialize` impl that builds a `Json` response of its own, inside this one.
            Err(_) => serde_json::to_vec(value).map(Bytes::from),
        })
        // The thread is exiting.
        .unwrap_or_else(|_| serde_json::to_vec(value).map(Bytes::from))
}

/// `value` written at the end of `arena` and cut off it.
fn into_arena<T: Serialize>(arena: &mut BytesMut, value: &T) -> Result<Bytes, serde_json::Error> {
    // Whatever a `Serialize` impl that panicked left here (the error arm below never ran)
    // must not lead the next document, which may be another client's response.
    arena.clear();
    if arena.capacity() > ARENA_KEEP {
        *arena = BytesMut::new();
    }
    if arena.capacity() < ARENA_CHUNK / 4 {
        arena.reserve(ARENA_CHUNK);
    }
    // A failed document stays in the arena until the next call clears it (above).
    serde_json::to_writer(ArenaWriter(arena), value).map(|()| arena.split().freeze())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn documents_cut_from_one_buffer_stay_whole_and_separate() {
        let first = serialize(&serde_json::json!({"a": 1})).unwrap();
        let big = "x".repeat(3 * ARENA_CHUNK);
        let second = serialize(&big).unwrap();
        let third = serialize(&[1, 2, 3]).unwrap();
        assert_eq!(&first[..], br#"{"a":1}"#);
        assert_eq!(second.len(), big.len() + 2);
        assert_eq!(&third[..], b"[1,2,3]");
    }

    #[test]
    fn a_document_serialized_while_another_is_does_not_panic() {
        // Its `Serialize` builds a JSON body of its own: the arena is taken by then.
        struct Nested;
        impl Serialize for Nested {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let inner = serialize(&[1, 2]).map_err(serde::ser::Error::custom)?;
                s.serialize_str(std::str::from_utf8(&inner).map_err(serde::ser::Error::custom)?)
            }
        }
        assert_eq!(&serialize(&Nested).unwrap()[..], br#""[1,2]""#);
    }

    #[test]
    fn a_document_whose_serialize_panicked_leaves_nothing_for_the_next() {
        // It writes a secret, then panics: the next document on this thread must not carry
        // it (the worker catches the panic and goes on serving).
        struct Halfway;
        impl Serialize for Halfway {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                use serde::ser::SerializeMap;
                let mut map = s.serialize_map(None)?;
                map.serialize_entry("secret", "TOKEN")?;
                panic!("a Serialize impl that panics");
            }
        }
        let panicked = std::panic::catch_unwind(|| serialize(&Halfway));
        assert!(panicked.is_err());
        assert_eq!(&serialize(&[1]).unwrap()[..], b"[1]");
    }

    #[test]
    fn a_failed_document_leaves_nothing_behind() {
        // Maps with non-string keys cannot be JSON.
        let bad: HashMap<(u8, u8), u8> = [((1, 2), 3)].into();
        assert!(serialize(&bad).is_err());
        assert_eq!(&serialize(&true).unwrap()[..], b"true");
    }
}
