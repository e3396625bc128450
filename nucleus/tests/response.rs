//! `IntoResponse`: status, content type and exact body size for each returned type.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::borrow::Cow;
use std::collections::HashMap;

use bytes::Bytes;
use nucleus::header::{HeaderMap, HeaderValue, CONTENT_TYPE};
use nucleus::response::{Html, IntoResponse, Json, Response};
use nucleus::{Body, Request, Router, StatusCode};
use serde::Serialize;
use support::{body_text, get, header, send};

/// Status, content type, exact body length (as the engine will see it) and body text.
async fn parts(value: impl IntoResponse) -> (u16, Option<String>, Option<u64>, String) {
    let res = value.into_response();
    let content_type = header(&res, "content-type").map(str::to_owned);
    let len = http_body::Body::size_hint(res.body()).exact();
    (
        res.status().as_u16(),
        content_type,
        len,
        body_text(res).await,
    )
}

const TEXT: &str = "text/plain; charset=utf-8";
const OCTETS: &str = "application/octet-stream";

#[tokio::test]
async fn text_is_plain_utf8_with_exact_length() {
    let expected = (200, Some(TEXT.to_owned()), Some(2), "hi".to_owned());
    assert_eq!(parts("hi").await, expected);
    assert_eq!(parts(String::from("hi")).await, expected);
    assert_eq!(
        parts(Cow::<'static, str>::Owned("hi".into())).await,
        expected
    );
}

#[tokio::test]
async fn bytes_are_octet_stream() {
    let expected = (200, Some(OCTETS.to_owned()), Some(3), "abc".to_owned());
    assert_eq!(parts(Bytes::from_static(b"abc")).await, expected);
    assert_eq!(parts(b"abc".to_vec()).await, expected);
    assert_eq!(parts(&b"abc"[..]).await, expected);
}

#[tokio::test]
async fn unit_is_an_empty_200() {
    assert_eq!(parts(()).await, (200, None, Some(0), String::new()));
}

#[tokio::test]
async fn status_code_is_an_empty_response_with_that_status() {
    assert_eq!(
        parts(StatusCode::CREATED).await,
        (201, None, Some(0), String::new())
    );
}

#[tokio::test]
async fn status_tuple_overrides_the_status() {
    assert_eq!(
        parts((StatusCode::ACCEPTED, "queued")).await,
        (202, Some(TEXT.to_owned()), Some(6), "queued".to_owned())
    );
}

#[tokio::test]
async fn header_map_tuple_adds_and_replaces_headers() {
    let mut headers = HeaderMap::new();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/csv"));
    headers.insert("x-extra", HeaderValue::from_static("1"));
    let res = (StatusCode::CREATED, headers.clone(), "a,b").into_response();
    assert_eq!(res.status(), StatusCode::CREATED);
    assert_eq!(header(&res, "content-type"), Some("text/csv"));
    assert_eq!(header(&res, "x-extra"), Some("1"));
    assert_eq!(res.headers().get_all("content-type").iter().count(), 1);

    let res = (headers, "a,b").into_response();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(header(&res, "content-type"), Some("text/csv"));
}

#[tokio::test]
async fn json_serializes_with_its_content_type() {
    #[derive(Serialize)]
    struct User {
        id: u32,
    }
    assert_eq!(
        parts(Json(User { id: 7 })).await,
        (
            200,
            Some("application/json".to_owned()),
            Some(8),
            r#"{"id":7}"#.to_owned()
        )
    );
}

#[tokio::test]
async fn json_that_fails_to_serialize_is_a_500() {
    // JSON object keys must be strings.
    let map: HashMap<(u8, u8), u8> = [((1, 2), 3)].into_iter().collect();
    let (status, _, _, body) = parts(Json(map)).await;
    assert_eq!((status, body.as_str()), (500, "internal server error"));
}

#[tokio::test]
async fn html_is_text_html() {
    let (_, content_type, _, _) = parts(Html("<p>x</p>")).await;
    assert_eq!(content_type.as_deref(), Some("text/html; charset=utf-8"));
}

#[tokio::test]
async fn result_uses_either_side() {
    let ok: Result<&'static str, StatusCode> = Ok("fine");
    let err: Result<&'static str, StatusCode> = Err(StatusCode::CONFLICT);
    assert_eq!(parts(ok).await.0, 200);
    assert_eq!(parts(err).await.0, 409);
}

#[tokio::test]
async fn a_built_response_passes_through() {
    let res = http::Response::builder()
        .status(StatusCode::PERMANENT_REDIRECT)
        .header("location", "/new")
        .body(Body::empty())
        .unwrap();
    let res = res.into_response();
    assert_eq!(res.status(), StatusCode::PERMANENT_REDIRECT);
    assert_eq!(header(&res, "location"), Some("/new"));
}

#[tokio::test]
async fn streaming_body_has_no_exact_length() {
    let (_, _, len, body) = parts(support::chunked(&["a", "b"])).await;
    assert_eq!((len, body.as_str()), (None, "ab"));
}

#[tokio::test]
async fn handlers_return_any_into_response() {
    #[derive(Debug)]
    enum AppError {
        Missing,
    }
    impl IntoResponse for AppError {
        fn into_response(self) -> Response {
            (StatusCode::NOT_FOUND, format!("{self:?}")).into_response()
        }
    }
    async fn find(req: Request) -> Result<Json<u32>, AppError> {
        match req.param("id") {
            Some("1") => Ok(Json(1)),
            _ => Err(AppError::Missing),
        }
    }
    let app = Router::new().get("/items/{id}", find);
    let res = send(&app, get("/items/1")).await;
    assert_eq!(header(&res, "content-type"), Some("application/json"));
    let res = send(&app, get("/items/2")).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert_eq!(body_text(res).await, "Missing");
}
