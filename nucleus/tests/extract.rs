//! Reading requests: headers, params, query, state, and the body collectors with their limits
//! and rejections.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::net::SocketAddr;

use bytes::Bytes;
use nucleus::rejection::{BytesRejection, JsonRejection, Rejection, TextRejection};
use nucleus::response::Json;
use nucleus::{Body, Method, Request, Router, DEFAULT_BODY_LIMIT};
use nucleus_http::PeerAddr;
use serde::{Deserialize, Serialize};
use support::{body_text, call, chunked, get, request, send};

#[derive(Debug, Deserialize, Serialize, PartialEq)]
struct Item {
    name: String,
    qty: u32,
}

fn post(uri: &str, body: impl Into<Body>) -> http::Request<Body> {
    request(Method::POST, uri, body)
}

fn post_json(uri: &str, body: &'static str) -> http::Request<Body> {
    let mut req = post(uri, body);
    req.headers_mut()
        .insert("content-type", "application/json".parse().unwrap());
    req
}

async fn bytes_len(mut req: Request) -> Result<String, BytesRejection> {
    Ok(req.bytes().await?.len().to_string())
}

async fn text(mut req: Request) -> Result<String, TextRejection> {
    req.text().await
}

async fn item(mut req: Request) -> Result<Json<Item>, JsonRejection> {
    Ok(Json(req.json::<Item>().await?))
}

#[tokio::test]
async fn accessors_expose_the_request() {
    let app = Router::new().get("/p/{id}", |req: Request| async move {
        format!(
            "{} {} {} {:?} {:?} {:?}",
            req.method(),
            req.uri(),
            req.path(),
            req.version(),
            req.header("x-test"),
            req.headers().get("x-test").is_some(),
        )
    });
    let mut req = get("/p/1?q=2");
    req.headers_mut().insert("x-test", "yes".parse().unwrap());
    assert_eq!(
        call(&app, req).await.1,
        "GET /p/1?q=2 /p/1 HTTP/1.1 Some(\"yes\") true"
    );
}

#[tokio::test]
async fn peer_addr_comes_from_the_engine_extension() {
    let app = Router::new().get("/", |req: Request| async move {
        format!("{:?}", req.peer_addr())
    });
    let addr: SocketAddr = "10.0.0.1:5000".parse().unwrap();
    let mut req = get("/");
    req.extensions_mut().insert(PeerAddr(addr));
    assert_eq!(call(&app, req).await.1, "Some(10.0.0.1:5000)");
    assert_eq!(call(&app, get("/")).await.1, "None");
}

#[tokio::test]
async fn extensions_pass_through() {
    #[derive(Clone)]
    struct Tag(&'static str);
    let app = Router::new().get("/", |req: Request| async move {
        req.extensions().get::<Tag>().map(|t| t.0).unwrap_or("none")
    });
    let mut req = get("/");
    req.extensions_mut().insert(Tag("tagged"));
    assert_eq!(call(&app, req).await.1, "tagged");
}

#[tokio::test]
async fn query_deserializes_into_a_struct() {
    #[derive(Deserialize)]
    struct Page {
        q: String,
        #[serde(default)]
        n: u32,
    }
    let app = Router::new().get("/", |req: Request| async move {
        req.query::<Page>().map(|p| format!("{} {}", p.q, p.n))
    });
    assert_eq!(
        call(&app, get("/?q=a%20b&n=3")).await,
        (200, "a b 3".into())
    );
    assert_eq!(call(&app, get("/?q=x")).await, (200, "x 0".into()));
    let (status, body) = call(&app, get("/?n=3")).await;
    assert_eq!(status, 400);
    assert!(body.starts_with("invalid query string: "), "{body}");
    assert_eq!(call(&app, get("/?q=x&n=notanumber")).await.0, 400);
}

#[tokio::test]
async fn bytes_collects_a_chunked_body() {
    let app = Router::new().post("/", |mut req: Request| async move { req.bytes().await });
    let (status, body) = call(&app, post("/", chunked(&["ab", "cd", "ef"]))).await;
    assert_eq!((status, body.as_str()), (200, "abcdef"));
}

#[tokio::test]
async fn empty_body_collects_to_empty() {
    let app = Router::new().post("/", bytes_len);
    assert_eq!(call(&app, post("/", Body::empty())).await.1, "0");
}

#[tokio::test]
async fn declared_length_over_the_limit_gets_413_naming_the_limit() {
    let app = Router::new().post("/", bytes_len).body_limit(8);
    let (status, body) = call(&app, post("/", "123456789")).await;
    assert_eq!(status, 413);
    assert_eq!(body, "request body exceeds the limit of 8 bytes");
    assert_eq!(call(&app, post("/", "12345678")).await, (200, "8".into()));
}

#[tokio::test]
async fn streamed_body_over_the_limit_gets_413() {
    let app = Router::new().post("/", bytes_len).body_limit(5);
    assert_eq!(call(&app, post("/", chunked(&["abc", "def"]))).await.0, 413);
    assert_eq!(
        call(&app, post("/", chunked(&["ab", "cde"]))).await,
        (200, "5".into())
    );
}

#[tokio::test]
async fn default_limit_is_two_mebibytes() {
    assert_eq!(DEFAULT_BODY_LIMIT, 2 * 1024 * 1024);
    let app = Router::new().post("/", bytes_len);
    let big = vec![b'x'; DEFAULT_BODY_LIMIT + 1];
    let (status, body) = call(&app, post("/", big)).await;
    assert_eq!(status, 413);
    assert!(body.contains(&DEFAULT_BODY_LIMIT.to_string()), "{body}");
}

#[tokio::test]
async fn handler_can_raise_its_own_limit() {
    let app = Router::new()
        .post("/upload", |mut req: Request| async move {
            req.set_body_limit(16);
            bytes_len(req).await
        })
        .body_limit(4);
    assert_eq!(
        call(&app, post("/upload", "0123456789")).await,
        (200, "10".into())
    );
}

#[tokio::test]
async fn nested_router_keeps_its_own_body_limit() {
    let uploads = Router::new().post("/", bytes_len).body_limit(100);
    let app = Router::new()
        .post("/small", bytes_len)
        .nest("/uploads", uploads)
        .body_limit(4);
    assert_eq!(call(&app, post("/uploads", "0123456789")).await.0, 200);
    assert_eq!(call(&app, post("/small", "0123456789")).await.0, 413);
}

#[tokio::test]
async fn broken_body_gets_400() {
    let stream = futures_util::stream::iter([
        Ok(Bytes::from_static(b"ab")),
        Err(std::io::Error::other("connection reset")),
    ]);
    let app = Router::new().post("/", bytes_len);
    assert_eq!(
        call(&app, post("/", Body::from_stream(stream))).await,
        (400, "failed to read the request body".into())
    );
}

#[tokio::test]
async fn body_is_taken_once() {
    let app = Router::new().post("/", |mut req: Request| async move {
        let first = req.bytes().await.unwrap();
        let second = req.bytes().await.unwrap();
        format!("{} {}", first.len(), second.len())
    });
    assert_eq!(call(&app, post("/", "abc")).await.1, "3 0");
}

#[tokio::test]
async fn body_stream_yields_chunks_as_they_arrive() {
    use http_body_util::BodyExt;
    let app = Router::new().post("/", |mut req: Request| async move {
        let mut body = req.body_stream();
        let mut chunks = Vec::new();
        while let Some(frame) = body.frame().await {
            chunks.push(frame.unwrap().into_data().unwrap().len().to_string());
        }
        chunks.join(",")
    });
    assert_eq!(
        call(&app, post("/", chunked(&["a", "bb", "ccc"]))).await.1,
        "1,2,3"
    );
}

#[tokio::test]
async fn text_collects_utf8() {
    let app = Router::new().post("/", text);
    assert_eq!(call(&app, post("/", "héllo")).await, (200, "héllo".into()));
}

#[tokio::test]
async fn invalid_utf8_text_gets_400() {
    let app = Router::new().post("/", text);
    let (status, body) = call(&app, post("/", vec![0xff, 0xfe])).await;
    assert_eq!(
        (status, body.as_str()),
        (400, "request body is not valid UTF-8")
    );
}

#[tokio::test]
async fn json_deserializes_the_body() {
    let app = Router::new().post("/", item);
    let (status, body) = call(&app, post_json("/", r#"{"name":"a","qty":2}"#)).await;
    assert_eq!((status, body.as_str()), (200, r#"{"name":"a","qty":2}"#));
}

#[tokio::test]
async fn json_without_content_type_is_accepted() {
    let app = Router::new().post("/", item);
    assert_eq!(
        call(&app, post("/", r#"{"name":"a","qty":2}"#)).await.0,
        200
    );
}

#[tokio::test]
async fn json_suffix_content_type_is_accepted() {
    let app = Router::new().post("/", item);
    let mut req = post("/", r#"{"name":"a","qty":2}"#);
    req.headers_mut().insert(
        "content-type",
        "application/merge-patch+json; charset=utf-8"
            .parse()
            .unwrap(),
    );
    assert_eq!(call(&app, req).await.0, 200);
}

#[tokio::test]
async fn json_with_another_content_type_gets_415() {
    let app = Router::new().post("/", item);
    let mut req = post("/", r#"{"name":"a","qty":2}"#);
    req.headers_mut()
        .insert("content-type", "text/plain".parse().unwrap());
    assert_eq!(call(&app, req).await.0, 415);
    // Compressed JSON is not JSON as it stands (RFC 9110 §8.4.1).
    let mut req = post_json("/", r#"{"name":"a","qty":1}"#);
    req.headers_mut()
        .insert("content-encoding", "gzip".parse().unwrap());
    assert_eq!(call(&app, req).await.0, 415);
    let mut req = post_json("/", r#"{"name":"a","qty":1}"#);
    req.headers_mut()
        .insert("content-encoding", "identity".parse().unwrap());
    assert_eq!(call(&app, req).await.0, 200);
}

#[tokio::test]
async fn malformed_json_gets_400() {
    let app = Router::new().post("/", item);
    let (status, body) = call(&app, post_json("/", r#"{"name":"#)).await;
    assert_eq!(status, 400);
    assert!(body.starts_with("request body is not valid JSON"), "{body}");
    assert_eq!(call(&app, post_json("/", "")).await.0, 400);
}

#[tokio::test]
async fn json_of_the_wrong_shape_gets_422() {
    let app = Router::new().post("/", item);
    let (status, body) = call(&app, post_json("/", r#"{"name":"a"}"#)).await;
    assert_eq!(status, 422);
    assert!(body.contains("missing field `qty`"), "{body}");
}

#[tokio::test]
async fn rejection_bodies_are_short_and_name_no_rust_types() {
    let app = Router::new()
        .post("/", item)
        .get("/q", |req: Request| async move {
            #[derive(Deserialize)]
            #[allow(dead_code)]
            struct Page {
                n: u8,
            }
            req.query::<Page>().map(|_| "ok")
        });
    // A megabyte of client input where a number belongs: not echoed back.
    let big = format!(r#"{{"name":"a","qty":"{}"}}"#, "x".repeat(1 << 20));
    let (status, body) = call(&app, post_json("/", Box::leak(big.into_boxed_str()))).await;
    assert_eq!(status, 422);
    assert!(body.len() < 200, "{} bytes", body.len());
    assert!(!body.contains("u32") && !body.contains("xxx"), "{body}");
    assert!(body.contains("line 1 column"), "{body}");
    let (status, body) = call(&app, post_json("/", r#"[1, 2]"#)).await;
    assert_eq!(status, 422);
    assert!(!body.contains("struct"), "{body}");
    let (status, body) = call(&app, get("/q?n=300")).await;
    assert_eq!(status, 400);
    assert!(!body.contains("u8"), "{body}");
}

#[tokio::test]
async fn json_over_the_limit_gets_413() {
    let app = Router::new().post("/", item).body_limit(4);
    assert_eq!(
        call(&app, post_json("/", r#"{"name":"a","qty":2}"#))
            .await
            .0,
        413
    );
}

#[tokio::test]
async fn one_rejection_type_covers_every_collector() {
    async fn handler(mut req: Request) -> Result<String, Rejection> {
        #[derive(Deserialize)]
        struct Q {
            n: u32,
        }
        let q: Q = req.query()?;
        let body = req.text().await?;
        Ok(format!("{} {body}", q.n))
    }
    let app = Router::new().post("/", handler);
    assert_eq!(call(&app, post("/?n=1", "x")).await, (200, "1 x".into()));
    assert_eq!(call(&app, post("/?n=x", "x")).await.0, 400);
    assert_eq!(call(&app, post("/?n=1", vec![0xff])).await.0, 400);
}

#[tokio::test]
async fn rejections_are_std_errors_with_status() {
    let app = Router::new().post("/", |mut req: Request| async move {
        let err = req.json::<Item>().await.unwrap_err();
        let as_error: &dyn std::error::Error = &err;
        format!("{} | {}", err.status(), as_error)
    });
    let (_, body) = call(&app, post_json("/", "nope")).await;
    assert!(
        body.starts_with("400 Bad Request | request body is not valid JSON"),
        "{body}"
    );
}

#[tokio::test]
async fn into_http_returns_the_inner_request() {
    let app = Router::new().post("/x", |req: Request| async move {
        let http = req.into_http();
        format!("{} {}", http.method(), http.uri())
    });
    assert_eq!(call(&app, post("/x?y", Body::empty())).await.1, "POST /x?y");
}

#[tokio::test]
async fn handlers_can_be_called_without_a_router() {
    let req = Request::from(post("/", "abc"));
    assert_eq!(req.body_limit(), DEFAULT_BODY_LIMIT);
    assert!(req.state::<String>().is_err());
    let res = nucleus::IntoResponse::into_response(bytes_len(req).await);
    assert_eq!(body_text(res).await, "3");
}

#[tokio::test]
async fn request_debug_shows_method_and_params() {
    let app = Router::new().get("/u/{id}", |req: Request| async move { format!("{req:?}") });
    let body = support::body_text(send(&app, get("/u/5")).await).await;
    assert!(
        body.contains("GET") && body.contains("(\"id\", \"5\")"),
        "{body}"
    );
}
