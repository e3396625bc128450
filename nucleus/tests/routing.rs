//! The router: matching, methods, nesting, fallbacks, mounted services, layers, panics.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::convert::Infallible;

use nucleus::response::Response;
use nucleus::{blocking, Body, Method, Request, Router, StatusCode};
use support::{body_text, call, get, header, request, send};
use tower::util::MapResponseLayer;

async fn ok(_req: Request) -> &'static str {
    "ok"
}

async fn echo_method(req: Request) -> String {
    req.method().to_string()
}

async fn echo_params(req: Request) -> String {
    let params: Vec<String> = req.params().map(|(k, v)| format!("{k}={v}")).collect();
    params.join(",")
}

fn purge() -> Method {
    Method::from_bytes(b"PURGE").unwrap()
}

fn assert_servable<S: nucleus_http::HttpService>(_: &S) {}

#[tokio::test]
async fn static_route_answers() {
    let app = Router::new()
        .get("/", ok)
        .get("/about", |_req: Request| async { "about" });
    assert_eq!(call(&app, get("/")).await, (200, "ok".into()));
    assert_eq!(call(&app, get("/about")).await, (200, "about".into()));
}

#[tokio::test]
async fn each_method_helper_routes_its_method() {
    let app = Router::new()
        .get("/", echo_method)
        .post("/", echo_method)
        .put("/", echo_method)
        .delete("/", echo_method)
        .patch("/", echo_method)
        .head("/", echo_method)
        .options("/", echo_method)
        .route(Method::TRACE, "/", echo_method);
    for method in [
        "GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "TRACE",
    ] {
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        let req = request(method.clone(), "/", Body::empty());
        assert_eq!(call(&app, req).await, (200, method.to_string()));
    }
}

#[tokio::test]
async fn unknown_path_gets_404_text() {
    let app = Router::new().get("/", ok);
    let res = send(&app, get("/missing")).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        header(&res, "content-type"),
        Some("text/plain; charset=utf-8")
    );
    assert_eq!(body_text(res).await, "not found");
}

#[tokio::test]
async fn trailing_slash_is_a_different_path() {
    let app = Router::new().get("/users", ok);
    assert_eq!(call(&app, get("/users/")).await.0, 404);
}

#[tokio::test]
async fn wrong_method_gets_405_with_allow() {
    let app = Router::new()
        .get("/users", ok)
        .post("/users", ok)
        .route(purge(), "/users", ok);
    let res = send(&app, request(Method::DELETE, "/users", Body::empty())).await;
    assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(
        header(&res, "allow"),
        Some("GET, HEAD, POST, OPTIONS, PURGE")
    );
    assert_eq!(body_text(res).await, "method not allowed");
}

#[tokio::test]
async fn head_runs_the_get_handler() {
    let app = Router::new().get("/", echo_method);
    let res = send(&app, request(Method::HEAD, "/", Body::empty())).await;
    assert_eq!(res.status(), StatusCode::OK);
    // The engine drops the body of a HEAD response; the router leaves it (and its exact
    // size, hence Content-Length) alone.
    assert_eq!(http_body::Body::size_hint(res.body()).exact(), Some(4));
    assert_eq!(body_text(res).await, "HEAD");
}

#[tokio::test]
async fn explicit_head_handler_wins_over_get() {
    let app = Router::new()
        .get("/", ok)
        .head("/", |_req: Request| async { StatusCode::ACCEPTED });
    assert_eq!(
        call(&app, request(Method::HEAD, "/", Body::empty()))
            .await
            .0,
        202
    );
}

#[tokio::test]
async fn options_is_answered_with_204_and_allow() {
    let app = Router::new().get("/", ok).delete("/", ok);
    let res = send(&app, request(Method::OPTIONS, "/", Body::empty())).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(header(&res, "allow"), Some("GET, HEAD, DELETE, OPTIONS"));
    assert_eq!(body_text(res).await, "");
}

#[tokio::test]
async fn explicit_options_handler_wins() {
    let app = Router::new()
        .get("/", ok)
        .options("/", |_req: Request| async { "custom" });
    assert_eq!(
        call(&app, request(Method::OPTIONS, "/", Body::empty())).await,
        (200, "custom".into())
    );
}

#[tokio::test]
async fn extension_methods_route() {
    let app = Router::new().route(purge(), "/cache", echo_method);
    assert_eq!(
        call(&app, request(purge(), "/cache", Body::empty())).await,
        (200, "PURGE".into())
    );
    assert_eq!(call(&app, get("/cache")).await.0, 405);
}

#[tokio::test]
async fn path_params_are_captured() {
    let app = Router::new().get("/users/{id}/posts/{post}", echo_params);
    assert_eq!(
        call(&app, get("/users/7/posts/abc")).await.1,
        "id=7,post=abc"
    );
}

#[tokio::test]
async fn wildcard_captures_the_rest_of_the_path() {
    let app = Router::new().get("/static/{*path}", echo_params);
    assert_eq!(
        call(&app, get("/static/css/site.css")).await.1,
        "path=css/site.css"
    );
    assert_eq!(call(&app, get("/static/")).await.0, 404);
}

#[tokio::test]
async fn params_are_percent_decoded() {
    let app = Router::new().get("/files/{name}", |req: Request| async move {
        req.param("name").unwrap_or_default().to_owned()
    });
    assert_eq!(
        call(&app, get("/files/hello%20world")).await.1,
        "hello world"
    );
}

#[tokio::test]
async fn missing_param_is_none() {
    let app = Router::new().get("/", |req: Request| async move {
        format!("{:?}", req.param("id"))
    });
    assert_eq!(call(&app, get("/")).await.1, "None");
}

#[tokio::test]
async fn static_segments_beat_params_beat_wildcards() {
    let app = Router::new()
        .get("/users/me", |_req: Request| async { "me" })
        .get("/users/{id}", |_req: Request| async { "id" })
        .get("/{*rest}", |_req: Request| async { "rest" });
    assert_eq!(call(&app, get("/users/me")).await.1, "me");
    assert_eq!(call(&app, get("/users/9")).await.1, "id");
    assert_eq!(call(&app, get("/other/x")).await.1, "rest");
}

#[tokio::test]
async fn fallback_replaces_404_but_not_405() {
    let app = Router::new()
        .get("/", ok)
        .fallback(
            |req: Request| async move { (StatusCode::NOT_FOUND, format!("no {}", req.path())) },
        );
    assert_eq!(call(&app, get("/nope")).await, (404, "no /nope".into()));
    assert_eq!(
        call(&app, request(Method::POST, "/", Body::empty()))
            .await
            .0,
        405
    );
}

#[tokio::test]
async fn nest_prefixes_routes() {
    let api = Router::new()
        .get("/", |_req: Request| async { "api root" })
        .get("/users/{id}", echo_params);
    let app = Router::new().nest("/api", api);
    assert_eq!(call(&app, get("/api")).await.1, "api root");
    assert_eq!(call(&app, get("/api/users/3")).await.1, "id=3");
    assert_eq!(call(&app, get("/users/3")).await.0, 404);
}

#[tokio::test]
async fn nest_prefix_may_hold_params() {
    let posts = Router::new().get("/posts/{post}", echo_params);
    let app = Router::new().nest("/users/{user}", posts);
    assert_eq!(
        call(&app, get("/users/ann/posts/1")).await.1,
        "user=ann,post=1"
    );
}

#[tokio::test]
async fn nested_fallback_answers_under_its_prefix_only() {
    let api = Router::new()
        .get("/items", ok)
        .fallback(|_req: Request| async { "api fallback" });
    let app = Router::new()
        .nest("/api", api)
        .fallback(|_req: Request| async { "app fallback" });
    assert_eq!(call(&app, get("/api/items")).await.1, "ok");
    assert_eq!(call(&app, get("/api/nope/deep")).await.1, "api fallback");
    assert_eq!(call(&app, get("/api")).await.1, "api fallback");
    assert_eq!(call(&app, get("/nope")).await.1, "app fallback");
    assert_eq!(
        call(&app, request(Method::POST, "/api/items", Body::empty()))
            .await
            .0,
        405
    );
}

#[tokio::test]
async fn nested_fallback_sees_prefix_params_only() {
    let inner = Router::new().fallback(echo_params);
    let app = Router::new().nest("/users/{id}", inner);
    assert_eq!(call(&app, get("/users/4/unknown/path")).await.1, "id=4");
}

#[tokio::test]
async fn nesting_twice_keeps_the_inner_fallback() {
    let v1 = Router::new()
        .get("/x", ok)
        .fallback(|_req: Request| async { "v1 fallback" });
    let api = Router::new().nest("/v1", v1);
    let app = Router::new().nest("/api", api);
    assert_eq!(call(&app, get("/api/v1/x")).await.1, "ok");
    assert_eq!(call(&app, get("/api/v1/y")).await.1, "v1 fallback");
    assert_eq!(call(&app, get("/api/v2/y")).await.0, 404);
}

#[tokio::test]
async fn merge_combines_routes_and_methods() {
    let reads = Router::new().get("/items", ok);
    let writes = Router::new().post("/items", echo_method).get("/other", ok);
    let app = reads.merge(writes);
    assert_eq!(
        call(&app, request(Method::POST, "/items", Body::empty()))
            .await
            .1,
        "POST"
    );
    assert_eq!(call(&app, get("/other")).await.0, 200);
}

#[tokio::test]
async fn state_is_shared_with_handlers_and_nested_routers() {
    struct Name(&'static str);
    let nested = Router::new().get("/", |req: Request| async move {
        req.state::<Name>().map(|n| n.0).unwrap_or("missing")
    });
    let app = Router::new().nest("/inner", nested).state(Name("shared"));
    assert_eq!(call(&app, get("/inner")).await.1, "shared");
}

#[tokio::test]
async fn missing_state_is_a_500_without_internals() {
    let app = Router::new().get("/", |req: Request| async move {
        req.state::<String>().map(|s| s.to_string())
    });
    assert_eq!(
        call(&app, get("/")).await,
        (500, "internal server error".into())
    );
}

#[tokio::test]
async fn route_service_sees_the_request_unchanged() {
    let svc = tower::service_fn(|req: http::Request<Body>| async move {
        Ok::<_, Infallible>(http::Response::new(Body::from(req.uri().to_string())))
    });
    let app = Router::new()
        .route_service("/svc", svc)
        .post("/svc", echo_method);
    assert_eq!(call(&app, get("/svc?a=1")).await.1, "/svc?a=1");
    assert_eq!(
        call(&app, request(Method::POST, "/svc", Body::empty()))
            .await
            .1,
        "POST"
    );
}

#[tokio::test]
async fn nest_service_strips_the_prefix() {
    let svc = tower::service_fn(|req: http::Request<Body>| async move {
        Ok::<_, Infallible>(http::Response::new(Body::from(req.uri().to_string())))
    });
    let app = Router::new()
        .nest_service("/mount", svc)
        .get("/mount/own", ok);
    assert_eq!(call(&app, get("/mount/a/b?q=1")).await.1, "/a/b?q=1");
    assert_eq!(call(&app, get("/mount")).await.1, "/");
    assert_eq!(call(&app, get("/mount/")).await.1, "/");
    assert_eq!(call(&app, get("/mount/a%20b")).await.1, "/a%20b");
    assert_eq!(call(&app, get("/mount/own")).await.1, "ok");
    assert_eq!(call(&app, get("/elsewhere")).await.0, 404);
}

#[tokio::test]
async fn a_router_mounted_as_a_service_keeps_its_own_fallback() {
    let inner = Router::new()
        .get("/x", |req: Request| async move { req.path().to_owned() })
        .fallback(|_req: Request| async { "inner fallback" });
    let app = Router::new().nest_service("/inner", inner);
    assert_eq!(call(&app, get("/inner/x")).await.1, "/x");
    assert_eq!(call(&app, get("/inner/y")).await.1, "inner fallback");
}

#[tokio::test]
async fn nest_service_inside_a_nested_router_strips_the_full_prefix() {
    let svc = tower::service_fn(|req: http::Request<Body>| async move {
        Ok::<_, Infallible>(http::Response::new(Body::from(req.uri().path().to_owned())))
    });
    let api = Router::new().nest_service("/files", svc);
    let app = Router::new().nest("/api", api);
    assert_eq!(call(&app, get("/api/files/a.txt")).await.1, "/a.txt");
    // A service nested at the root of a nested router answers the prefix, the prefix with a
    // slash, and everything below, as it does at the top.
    let app = Router::new().nest("/ns", Router::new().nest_service("/", svc));
    for (path, seen) in [("/ns", "/"), ("/ns/", "/"), ("/ns/deep/x", "/deep/x")] {
        assert_eq!(call(&app, get(path)).await, (200, seen.into()), "{path}");
    }
}

#[tokio::test]
async fn failing_service_becomes_500() {
    let svc = tower::service_fn(|_req: http::Request<Body>| async {
        Err::<http::Response<Body>, _>(std::io::Error::other("boom"))
    });
    let app = Router::new().route_service("/", svc);
    assert_eq!(call(&app, get("/")).await.0, 500);
}

#[tokio::test]
async fn layer_wraps_every_response_and_stays_servable() {
    let app = Router::new()
        .get("/", ok)
        .layer(MapResponseLayer::new(|mut res: Response| {
            res.headers_mut().insert("x-layer", "yes".parse().unwrap());
            res
        }));
    assert_servable(&app);
    assert_eq!(header(&send(&app, get("/")).await, "x-layer"), Some("yes"));
    assert_eq!(
        header(&send(&app, get("/404")).await, "x-layer"),
        Some("yes")
    );
}

#[tokio::test]
async fn router_is_a_cheap_clone_servable_service() {
    fn assert_send_sync<T: Send + Sync>(_: &T) {}
    let app = Router::new().get("/", ok);
    assert_servable(&app);
    assert_send_sync(&app);
    let clone = app.clone();
    assert_eq!(call(&clone, get("/")).await.0, 200);
}

#[tokio::test]
async fn handler_panic_becomes_500() {
    let app = Router::new().get("/", |_req: Request| async {
        if true {
            panic!("handler bug");
        }
        "unreachable"
    });
    assert_eq!(
        call(&app, get("/")).await,
        (500, "internal server error".into())
    );
}

#[tokio::test]
async fn blocking_handler_runs_off_the_calling_thread() {
    let caller = std::thread::current().id();
    let app = Router::new().get(
        "/",
        blocking(move |_req: Request| (std::thread::current().id() != caller).to_string()),
    );
    assert_eq!(call(&app, get("/")).await.1, "true");
}

#[tokio::test]
async fn blocking_handler_panic_becomes_500() {
    let app = Router::new().get(
        "/",
        blocking(|_req: Request| -> &'static str { panic!("blocking bug") }),
    );
    assert_eq!(call(&app, get("/")).await.0, 500);
}

#[test]
#[should_panic(expected = "conflicts with the existing route `/users/{id}`")]
fn conflicting_params_panic_naming_both_routes() {
    let _ = Router::new()
        .get("/users/{id}", ok)
        .get("/users/{name}", ok);
}

#[test]
#[should_panic(expected = "paths must start with a `/`")]
fn path_without_leading_slash_panics() {
    let _ = Router::new().get("users", ok);
}

#[test]
#[should_panic(expected = "already has a handler for GET")]
fn duplicate_method_on_a_path_panics() {
    let _ = Router::new().get("/", ok).get("/", ok);
}

#[test]
#[should_panic(expected = "wildcard `{*name}` must be the last segment")]
fn wildcard_in_the_middle_panics() {
    let _ = Router::new().get("/{*rest}/x", ok);
}

#[test]
#[should_panic(expected = "use `Router::merge`")]
fn nesting_at_root_panics() {
    let _ = Router::new().nest("/", Router::new());
}

#[test]
#[should_panic(expected = "must not end with `/`")]
fn nest_prefix_with_trailing_slash_panics() {
    let _ = Router::new().nest("/api/", Router::new());
}

#[test]
#[should_panic(expected = "both have a fallback")]
fn merging_two_fallbacks_panics() {
    let a = Router::new().fallback(ok);
    let b = Router::new().fallback(ok);
    let _ = a.merge(b);
}

#[test]
fn debug_lists_routes() {
    let app = Router::new().get("/a", ok).post("/a", ok);
    let debug = format!("{app:?}");
    assert!(debug.contains("\"/a\""), "{debug}");
    assert!(debug.contains("GET") && debug.contains("POST"), "{debug}");
}

#[tokio::test]
async fn options_asterisk_lists_every_method_the_server_answers() {
    use tower::ServiceExt;
    let app = Router::new()
        .get("/", ok)
        .post("/echo", ok)
        .put("/echo", ok);
    let req = http::Request::options("*").body(Body::empty()).unwrap();
    let res = app.oneshot(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let allow = res.headers()["allow"].to_str().unwrap();
    for method in ["GET", "HEAD", "POST", "PUT", "OPTIONS"] {
        assert!(allow.contains(method), "{allow}");
    }
}
