//! Dispatch on the method within one path: 405 with `Allow`, `HEAD` via `GET`, automatic
//! `OPTIONS`.

use std::fmt;

use http::header::HeaderValue;
use http::Method;

use crate::handler::BoxedHandler;

/// A handler plus the body limit of the router it was registered on, if that router set one
/// (a nested router's limit travels with its routes).
#[derive(Clone)]
pub(crate) struct Endpoint {
    pub(crate) handler: BoxedHandler,
    pub(crate) body_limit: Option<usize>,
}

/// The methods of RFC 9110 §9.3, in the order `Allow` lists them. Registered handlers for
/// these live in a fixed array indexed by position: no hashing, no allocation per lookup.
pub(crate) const STANDARD: [Method; 9] = [
    Method::GET,
    Method::HEAD,
    Method::POST,
    Method::PUT,
    Method::DELETE,
    Method::PATCH,
    Method::OPTIONS,
    Method::TRACE,
    Method::CONNECT,
];

const GET: usize = 0;
const HEAD: usize = 1;
const OPTIONS: usize = 6;

#[derive(Clone, Default)]
pub(crate) struct MethodRouter {
    standard: [Option<Endpoint>; 9],
    /// Extension methods (`PURGE`, WebDAV's `PROPFIND`, ...): rare, so a short list.
    extension: Vec<(Method, Endpoint)>,
    /// Answers every method not registered above (mounted services, nested fallbacks).
    any: Option<Endpoint>,
    /// Precomputed when a method is added, so a 405 or `OPTIONS` costs no formatting.
    allow: Option<HeaderValue>,
}

/// What the router does with a request whose path matched.
pub(crate) enum Dispatch<'a> {
    Call(&'a Endpoint),
    /// `OPTIONS` without a handler: `204` with `Allow`.
    Options(Option<&'a HeaderValue>),
    /// `405` with `Allow` (RFC 9110 §15.5.6 requires it).
    NotAllowed(Option<&'a HeaderValue>),
}

/// The method already has a handler on this path.
pub(crate) struct Overlap(pub(crate) String);

impl MethodRouter {
    /// The `Allow` value of this path, when any method is registered.
    pub(crate) fn allow(&self) -> Option<&HeaderValue> {
        self.allow.as_ref()
    }

    pub(crate) fn dispatch(&self, method: &Method) -> Dispatch<'_> {
        let index = STANDARD.iter().position(|m| m == method);
        let registered = match index {
            Some(i) => self.standard.get(i).and_then(Option::as_ref),
            None => self
                .extension
                .iter()
                .find(|(m, _)| m == method)
                .map(|(_, e)| e),
        };
        if let Some(endpoint) = registered {
            return Dispatch::Call(endpoint);
        }
        // RFC 9110 §9.3.2: HEAD is GET without the body; the engine drops the body.
        if index == Some(HEAD) {
            if let Some(get) = &self.standard[GET] {
                return Dispatch::Call(get);
            }
        }
        if let Some(any) = &self.any {
            return Dispatch::Call(any);
        }
        if index == Some(OPTIONS) {
            return Dispatch::Options(self.allow.as_ref());
        }
        Dispatch::NotAllowed(self.allow.as_ref())
    }

    pub(crate) fn insert(&mut self, method: Method, endpoint: Endpoint) -> Result<(), Overlap> {
        match STANDARD.iter().position(|m| *m == method) {
            Some(i) => {
                let slot = &mut self.standard[i];
                if slot.is_some() {
                    return Err(Overlap(method.to_string()));
                }
                *slot = Some(endpoint);
            }
            None => {
                if self.extension.iter().any(|(m, _)| *m == method) {
                    return Err(Overlap(method.to_string()));
                }
                self.extension.push((method, endpoint));
            }
        }
        self.allow = self.compute_allow();
        Ok(())
    }

    pub(crate) fn set_any(&mut self, endpoint: Endpoint) -> Result<(), Overlap> {
        if self.any.is_some() {
            return Err(Overlap("any method".to_owned()));
        }
        self.any = Some(endpoint);
        Ok(())
    }

    pub(crate) fn merge(&mut self, other: MethodRouter) -> Result<(), Overlap> {
        for (method, endpoint) in STANDARD.iter().zip(other.standard) {
            if let Some(endpoint) = endpoint {
                self.insert(method.clone(), endpoint)?;
            }
        }
        for (method, endpoint) in other.extension {
            self.insert(method, endpoint)?;
        }
        if let Some(any) = other.any {
            self.set_any(any)?;
        }
        Ok(())
    }

    pub(crate) fn into_any(self) -> Option<Endpoint> {
        self.any
    }

    pub(crate) fn endpoints_mut(&mut self) -> impl Iterator<Item = &mut Endpoint> {
        self.standard
            .iter_mut()
            .flatten()
            .chain(self.extension.iter_mut().map(|(_, e)| e))
            .chain(self.any.iter_mut())
    }

    fn methods(&self) -> impl Iterator<Item = &Method> {
        let standard = STANDARD
            .iter()
            .zip(&self.standard)
            .filter(|(_, e)| e.is_some());
        standard
            .map(|(m, _)| m)
            .chain(self.extension.iter().map(|(m, _)| m))
    }

    /// `GET` implies `HEAD`, and `OPTIONS` is always answered.
    fn compute_allow(&self) -> Option<HeaderValue> {
        let has = |i: usize| self.standard[i].is_some();
        let mut allow = String::new();
        for (i, method) in STANDARD.iter().enumerate() {
            let implied = (i == HEAD && has(GET)) || i == OPTIONS;
            if has(i) || implied {
                push_method(&mut allow, method);
            }
        }
        for (method, _) in &self.extension {
            push_method(&mut allow, method);
        }
        HeaderValue::try_from(allow).ok()
    }
}

fn push_method(list: &mut String, method: &Method) {
    if !list.is_empty() {
        list.push_str(", ");
    }
    list.push_str(method.as_str());
}

impl fmt::Debug for MethodRouter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut list = f.debug_list();
        list.entries(self.methods().map(Method::as_str));
        if self.any.is_some() {
            list.entry(&"*");
        }
        list.finish()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::Request;

    fn endpoint() -> Endpoint {
        Endpoint {
            handler: Arc::new(|_req: Request| async {}),
            body_limit: None,
        }
    }

    fn allow(router: &MethodRouter) -> &str {
        router
            .allow
            .as_ref()
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }

    #[test]
    fn allow_lists_implied_head_and_options_then_extensions() {
        let mut router = MethodRouter::default();
        assert!(router.insert(Method::POST, endpoint()).is_ok());
        assert!(router.insert(Method::GET, endpoint()).is_ok());
        let purge = Method::from_bytes(b"PURGE").unwrap_or_default();
        assert!(router.insert(purge.clone(), endpoint()).is_ok());
        assert_eq!(allow(&router), "GET, HEAD, POST, OPTIONS, PURGE");
        assert!(matches!(router.dispatch(&Method::HEAD), Dispatch::Call(_)));
        assert!(matches!(router.dispatch(&purge), Dispatch::Call(_)));
        assert!(matches!(
            router.dispatch(&Method::OPTIONS),
            Dispatch::Options(Some(_))
        ));
        assert!(matches!(
            router.dispatch(&Method::PUT),
            Dispatch::NotAllowed(Some(_))
        ));
        assert!(router.insert(Method::GET, endpoint()).is_err());
        assert!(router.insert(purge, endpoint()).is_err());
    }
}
