//! The route table: the matcher, the routes it points at, and how routers combine.
//!
//! Everything here runs at build time except [`Inner::handle`], the per-request path:
//! one radix-tree lookup, one method lookup, then the handler.

use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use http::HeaderValue;
use matchit::InsertError;
use nucleus_http::observe::RouteId;
use nucleus_http::Body;

use super::future::{Answer, RouteFuture};
use super::method::{Dispatch, Endpoint, MethodRouter};
use super::params::{param_names, Params, FALLBACK_TAIL, NEST_TAIL};
use crate::handler::{BoxedHandler, RouteCx};
use crate::request::DEFAULT_BODY_LIMIT;
use crate::state::States;

#[derive(Clone, Default)]
pub(super) struct Inner {
    matcher: matchit::Router<usize>,
    /// Indexed by the matcher's values.
    routes: Vec<Route>,
    /// Pattern to index in `routes`, so that methods added to one path share a route.
    by_pattern: HashMap<String, usize>,
    /// The path of each route without parameters to its index in `routes`: one hash lookup
    /// instead of a walk of the radix tree. matchit ranks a static route above parameters and
    /// wildcards, so for a path found here it would pick the same route.
    statics: HashMap<Box<str>, usize, BuildHasherDefault<Fnv>>,
    /// Fallbacks of nested routers, matched only when no route matches.
    nested_fallbacks: matchit::Router<usize>,
    nested_fallback_routes: Vec<Route>,
    pub(super) fallback: Option<Endpoint>,
    /// `None` until state is added, so stateless apps skip the reference count per request.
    pub(super) states: Option<Arc<States>>,
    pub(super) body_limit: Option<usize>,
}

#[derive(Clone)]
struct Route {
    pattern: String,
    names: Arc<[Arc<str>]>,
    methods: MethodRouter,
    /// The template's label for metrics and logs, interned once here.
    id: RouteId,
}

impl Inner {
    #[track_caller]
    pub(super) fn add_route(&mut self, pattern: &str, methods: MethodRouter) {
        check_path(pattern);
        if let Some(&index) = self.by_pattern.get(pattern) {
            if let Some(route) = self.routes.get_mut(index) {
                if let Err(overlap) = route.methods.merge(methods) {
                    panic!(
                        "Overlapping route: `{pattern}` already has a handler for {}. Each \
                         method of a path can have one handler.",
                        overlap.0
                    );
                }
                return;
            }
        }
        let index = self.routes.len();
        if let Err(err) = self.matcher.insert(pattern, index) {
            panic!("{}", insert_error(pattern, &err));
        }
        self.routes.push(Route::new(pattern, methods));
        self.by_pattern.insert(pattern.to_owned(), index);
        // `{` and `}` start parameters, or are escaped as `{{` and `}}`: not a plain path.
        if !pattern.contains(['{', '}']) {
            self.statics.insert(pattern.into(), index);
        }
    }

    #[track_caller]
    pub(super) fn add_any(&mut self, pattern: &str, handler: BoxedHandler) {
        let mut methods = MethodRouter::default();
        // A fresh `MethodRouter` has no overlap to report.
        let _ = methods.set_any(Endpoint {
            handler,
            body_limit: None,
        });
        self.add_route(pattern, methods);
    }

    #[track_caller]
    fn add_nested_fallback(&mut self, pattern: &str, endpoint: Endpoint) {
        let index = self.nested_fallback_routes.len();
        if let Err(err) = self.nested_fallbacks.insert(pattern, index) {
            panic!("{}", insert_error(pattern, &err));
        }
        let mut methods = MethodRouter::default();
        let _ = methods.set_any(endpoint);
        self.nested_fallback_routes
            .push(Route::new(pattern, methods));
    }

    /// Moves `other`'s routes under `prefix` (`""` to merge).
    #[track_caller]
    pub(super) fn absorb(&mut self, prefix: &str, other: Inner) {
        let limit = other.body_limit;
        let with_limit = |mut methods: MethodRouter| {
            if let Some(limit) = limit {
                methods
                    .endpoints_mut()
                    .for_each(|e| _ = e.body_limit.get_or_insert(limit));
            }
            methods
        };
        // A service nested at the root answers `/` and everything below it; nested under
        // `prefix`, its `/` becomes `prefix`, and `prefix/` needs a route of its own (the
        // tail's catch-all does not match an empty tail).
        let service_tail = format!("/{{*{NEST_TAIL}}}");
        let service_at_root = other.routes.iter().any(|r| r.pattern == service_tail);
        for route in other.routes {
            let methods = with_limit(route.methods);
            if service_at_root && !prefix.is_empty() && route.pattern == "/" {
                self.add_route(&format!("{prefix}/"), methods.clone());
            }
            self.add_route(&join(prefix, &route.pattern), methods);
        }
        for route in other.nested_fallback_routes {
            if let Some(endpoint) = with_limit(route.methods).into_any() {
                self.add_nested_fallback(&join(prefix, &route.pattern), endpoint);
            }
        }
        if let Some(mut fallback) = other.fallback {
            if let Some(limit) = limit {
                fallback.body_limit.get_or_insert(limit);
            }
            if !prefix.is_empty() {
                // Answers `prefix`, `prefix/` and everything below that no route takes.
                self.add_nested_fallback(prefix, fallback.clone());
                self.add_nested_fallback(&format!("{prefix}/"), fallback.clone());
                self.add_nested_fallback(&format!("{prefix}/{{*{FALLBACK_TAIL}}}"), fallback);
            } else if self.fallback.is_none() {
                self.fallback = Some(fallback);
            } else {
                panic!("Cannot merge two routers that both have a fallback.");
            }
        }
        match (&mut self.states, other.states) {
            (Some(mine), Some(theirs)) => Arc::make_mut(mine).merge(&theirs),
            (mine @ None, theirs) => *mine = theirs,
            (Some(_), None) => {}
        }
    }

    pub(super) fn handle(&self, req: http::Request<Body>) -> RouteFuture {
        let path = req.uri().path();
        let found = match self.statics.get(path).and_then(|&i| self.routes.get(i)) {
            Some(route) => Some((route, None)),
            None => self.matcher.at(path).ok().and_then(|matched| {
                let route = self.routes.get(*matched.value)?;
                Some((route, Some(matched.params)))
            }),
        };
        if let Some((route, matched)) = found {
            route.id.set_current();
            return match route.methods.dispatch(req.method()) {
                Dispatch::Call(endpoint) => {
                    let params = match &matched {
                        Some(matched) => Params::from_match(&route.names, path, matched),
                        None => Params::default(),
                    };
                    self.call(endpoint, req, params)
                }
                Dispatch::Options(allow) => RouteFuture::ready(Answer::Options(allow.cloned())),
                Dispatch::NotAllowed(allow) => {
                    RouteFuture::ready(Answer::NotAllowed(allow.cloned()))
                }
            };
        }
        if let Ok(matched) = self.nested_fallbacks.at(path) {
            let route = self.nested_fallback_routes.get(*matched.value);
            if let Some((route, Dispatch::Call(endpoint))) =
                route.map(|r| (r, r.methods.dispatch(req.method())))
            {
                route.id.set_current();
                let params = Params::from_match(&route.names, path, &matched.params);
                return self.call(endpoint, req, params);
            }
        }
        if path == "*" && req.method() == http::Method::OPTIONS && self.fallback.is_none() {
            // RFC 9110 §9.3.7: `OPTIONS *` asks about the server as a whole.
            return RouteFuture::ready(Answer::Options(self.server_allow()));
        }
        match &self.fallback {
            Some(endpoint) => self.call(endpoint, req, Params::default()),
            None => RouteFuture::ready(Answer::NotFound),
        }
    }

    /// Every method some route answers, for `OPTIONS *` (rare: built on demand).
    fn server_allow(&self) -> Option<HeaderValue> {
        let mut methods: Vec<&str> = Vec::new();
        for route in &self.routes {
            let Some(allow) = route.methods.allow().and_then(|a| a.to_str().ok()) else {
                continue;
            };
            for method in allow.split(", ") {
                if !methods.contains(&method) {
                    methods.push(method);
                }
            }
        }
        HeaderValue::try_from(methods.join(", ")).ok()
    }

    fn call(&self, endpoint: &Endpoint, req: http::Request<Body>, params: Params) -> RouteFuture {
        let limit = endpoint
            .body_limit
            .or(self.body_limit)
            .unwrap_or(DEFAULT_BODY_LIMIT);
        let cx = RouteCx {
            params,
            states: self.states.clone(),
            body_limit: limit,
        };
        RouteFuture::handler(endpoint.handler.call(req, cx))
    }
}

impl Route {
    fn new(pattern: &str, methods: MethodRouter) -> Route {
        Route {
            pattern: pattern.to_owned(),
            names: param_names(pattern).into(),
            methods,
            id: RouteId::intern(pattern),
        }
    }
}

impl fmt::Debug for Inner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let routes: Vec<_> = self
            .routes
            .iter()
            .map(|r| (&r.pattern, &r.methods))
            .collect();
        f.debug_struct("Inner")
            .field("routes", &routes)
            .field("fallback", &self.fallback.is_some())
            .field("states", &self.states)
            .field("body_limit", &self.body_limit)
            .finish()
    }
}

/// FNV-1a: for the few bytes of a request path, far cheaper than the default SipHash, and
/// a route table is not attacker-shaped (only its own keys are ever inserted).
#[derive(Clone, Copy)]
pub(super) struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Fnv {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Hasher for Fnv {
    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 = (self.0 ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
        }
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// `prefix` + `path`, where a nested `/` is the prefix itself.
fn join(prefix: &str, path: &str) -> String {
    match (prefix, path) {
        ("", path) => path.to_owned(),
        (prefix, "/") => prefix.to_owned(),
        (prefix, path) => format!("{prefix}{path}"),
    }
}

#[track_caller]
fn check_path(path: &str) {
    if !path.starts_with('/') {
        panic!("Invalid route `{path}`: paths must start with a `/`. Use \"/\" for the root.");
    }
}

#[track_caller]
pub(super) fn check_prefix(prefix: &str) {
    if prefix == "/" {
        panic!("Cannot nest a router at `/`: use `Router::merge` to combine routers at the root.");
    }
    check_path(prefix);
    if prefix.ends_with('/') {
        panic!(
            "Invalid nest prefix `{prefix}`: it must not end with `/`. Use `{}`; the nested \
             router's `/` route then answers it.",
            prefix.trim_end_matches('/')
        );
    }
    if prefix.contains("{*") {
        panic!("Invalid nest prefix `{prefix}`: a prefix cannot contain a wildcard.");
    }
}

fn insert_error(pattern: &str, err: &InsertError) -> String {
    match err {
        InsertError::Conflict { with } => format!(
            "Route `{pattern}` conflicts with the existing route `{with}`. A path segment can \
             hold one parameter name (not `{{id}}` in one route and `{{name}}` in another), and \
             a parameter and a wildcard cannot share a position."
        ),
        InsertError::InvalidParamSegment => {
            format!("Invalid route `{pattern}`: only one parameter is allowed per path segment.")
        }
        InsertError::InvalidParam => format!(
            "Invalid route `{pattern}`: parameters are written `{{name}}` or `{{*name}}`; \
             write `{{{{` and `}}}}` for literal braces."
        ),
        InsertError::InvalidCatchAll => {
            format!("Invalid route `{pattern}`: a wildcard `{{*name}}` must be the last segment.")
        }
        other => format!("Invalid route `{pattern}`: {other}."),
    }
}
