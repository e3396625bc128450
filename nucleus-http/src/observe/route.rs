//! Route labels: the framework tells the engine which route template a request matched.
//!
//! Templates are interned into small integers when a router is built, so the per-request
//! hand-over is one thread-local store of a `u32`, and a metrics store can index its counters
//! by the id without hashing a string per request.

use std::cell::Cell;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

/// A route template interned for labels, such as `/users/{id}`.
///
/// Two ids compare equal exactly when their templates are equal. [`RouteId::UNMATCHED`] is
/// the one label every request no route took shares, so a scanner trying 10,000 paths adds
/// no series to a metrics store.
///
/// # Examples
///
/// ```
/// use nucleus_http::observe::RouteId;
///
/// let id = RouteId::intern("/users/{id}");
/// assert_eq!(id, RouteId::intern("/users/{id}"));
/// assert_eq!(&*id.template(), "/users/{id}");
/// assert_eq!(&*RouteId::UNMATCHED.template(), "<unmatched>");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct RouteId(u32);

/// At most this many distinct templates get their own id; later ones share
/// [`RouteId::OVERFLOW`]. Routes are registered by code, not by clients, so this only bounds
/// a program that builds routers from data.
pub const MAX_ROUTES: usize = 4096;

struct Interner {
    by_template: HashMap<Arc<str>, RouteId>,
    templates: Vec<Arc<str>>,
}

fn interner() -> &'static Mutex<Interner> {
    static INTERNER: OnceLock<Mutex<Interner>> = OnceLock::new();
    INTERNER.get_or_init(|| {
        let templates: Vec<Arc<str>> = vec![Arc::from("<unmatched>"), Arc::from("<other>")];
        let by_template = templates
            .iter()
            .enumerate()
            .map(|(i, t)| (t.clone(), RouteId(i as u32)))
            .collect();
        Mutex::new(Interner {
            by_template,
            templates,
        })
    })
}

thread_local! {
    static CURRENT_ROUTE: Cell<Option<RouteId>> = const { Cell::new(None) };
}

impl RouteId {
    /// Requests that matched no route (404, 405 on an unknown path, a malformed head).
    pub const UNMATCHED: RouteId = RouteId(0);
    /// Templates interned after the first [`MAX_ROUTES`].
    pub const OVERFLOW: RouteId = RouteId(1);

    /// The id of `template`, creating it on first use. Takes a lock: call it when building
    /// routes, not per request.
    pub fn intern(template: &str) -> RouteId {
        let mut interner = interner().lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(&id) = interner.by_template.get(template) {
            return id;
        }
        if interner.templates.len() >= MAX_ROUTES {
            return RouteId::OVERFLOW;
        }
        let id = RouteId(interner.templates.len() as u32);
        let template: Arc<str> = Arc::from(template);
        interner.templates.push(template.clone());
        interner.by_template.insert(template, id);
        id
    }

    /// The template this id stands for.
    pub fn template(self) -> Arc<str> {
        let interner = interner().lock().unwrap_or_else(PoisonError::into_inner);
        interner
            .templates
            .get(self.index())
            .cloned()
            .unwrap_or_else(|| Arc::from("<other>"))
    }

    /// Every template interned so far, indexed by [`RouteId::index`]; for exporters.
    pub fn all() -> Vec<Arc<str>> {
        interner()
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .templates
            .clone()
    }

    /// A dense index, below [`MAX_ROUTES`], for arrays of counters.
    pub fn index(self) -> usize {
        self.0 as usize
    }

    /// Tells the engine which route the request being dispatched on this thread matched.
    /// A router calls this from its `Service::call` (or while its future is polled); the
    /// engine reads it when the call returns.
    pub fn set_current(self) {
        CURRENT_ROUTE.with(|c| c.set(Some(self)));
    }

    /// Takes the route set on this thread since the last take, if any.
    pub(crate) fn take_current() -> Option<RouteId> {
        CURRENT_ROUTE.with(Cell::take)
    }
}
