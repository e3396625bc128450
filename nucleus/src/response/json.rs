//! JSON responses.

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
        match serde_json::to_vec(&self.0) {
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
