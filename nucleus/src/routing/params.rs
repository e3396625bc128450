//! Path parameters captured by the matcher, owned by the request.
//!
//! A value is stored as a byte range into the request's path, so capturing costs one `Vec`
//! allocation for the whole set and nothing for routes without parameters. Only a value that
//! contained `%`-escapes gets its own decoded string.

use std::ops::Range;
use std::sync::Arc;

/// The catch-all name `nest_service` routes use; its value is left percent-encoded because it
/// becomes the nested service's request path.
pub(crate) const NEST_TAIL: &str = "__nucleus_nest_tail";

/// The catch-all name for a nested router's fallback routes; hidden from handlers, which
/// did not write it.
pub(crate) const FALLBACK_TAIL: &str = "__nucleus_fallback_tail";

#[derive(Debug, Clone, Default)]
pub(crate) struct Params {
    entries: Vec<Param>,
}

#[derive(Debug, Clone)]
struct Param {
    key: Arc<str>,
    value: Value,
}

#[derive(Debug, Clone)]
enum Value {
    /// `path[range]`, used as is.
    Span(Range<usize>),
    /// Percent-decoded, or not a slice of the path.
    Owned(Box<str>),
}

impl Params {
    /// Copies matchit's borrowed parameters. `names` are the route's parameter names, parsed
    /// when the route was added, so keys are shared rather than allocated per request.
    pub(crate) fn from_match(
        names: &[Arc<str>],
        path: &str,
        matched: &matchit::Params<'_, '_>,
    ) -> Params {
        if matched.is_empty() {
            return Params::default();
        }
        let mut entries = Vec::with_capacity(matched.len());
        for (key, value) in matched.iter() {
            if key == FALLBACK_TAIL {
                continue;
            }
            let key = match names.iter().find(|name| &***name == key) {
                Some(name) => Arc::clone(name),
                None => Arc::from(key),
            };
            let decoded = if &*key == NEST_TAIL {
                None
            } else {
                percent_decode(value)
            };
            let value = match (decoded, span_of(path, value)) {
                (Some(decoded), _) => Value::Owned(decoded.into_boxed_str()),
                (None, Some(span)) => Value::Span(span),
                (None, None) => Value::Owned(value.into()),
            };
            entries.push(Param { key, value });
        }
        Params { entries }
    }

    /// The value of `name`; `path` must be the path the parameters were matched against.
    pub(crate) fn get<'a>(&'a self, path: &'a str, name: &str) -> Option<&'a str> {
        let param = self.entries.iter().find(|p| &*p.key == name)?;
        param.value(path)
    }

    pub(crate) fn iter<'a>(&'a self, path: &'a str) -> impl Iterator<Item = (&'a str, &'a str)> {
        self.entries
            .iter()
            .filter_map(move |p| Some((&*p.key, p.value(path)?)))
    }
}

impl Param {
    fn value<'a>(&'a self, path: &'a str) -> Option<&'a str> {
        match &self.value {
            Value::Span(range) => path.get(range.clone()),
            Value::Owned(value) => Some(value),
        }
    }
}

/// Where `part` (a slice handed out by the matcher) sits inside `path`, if it does.
fn span_of(path: &str, part: &str) -> Option<Range<usize>> {
    let start = (part.as_ptr() as usize).checked_sub(path.as_ptr() as usize)?;
    let range = start..start + part.len();
    // Checked rather than assumed: a matcher handing out a slice of something else must not
    // make us return the wrong bytes.
    let slice = path.get(range.clone())?;
    (slice.as_ptr() == part.as_ptr()).then_some(range)
}

/// Decodes `%XX` escapes (RFC 3986 §2.1). `None` when there is nothing to decode, or when the
/// result is not UTF-8, in which case the raw text is the more useful value.
fn percent_decode(input: &str) -> Option<String> {
    if !input.contains('%') {
        return None;
    }
    let bytes = input.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&byte) = bytes.get(i) {
        let escaped = match (byte, bytes.get(i + 1), bytes.get(i + 2)) {
            (b'%', Some(&hi), Some(&lo)) => hex(hi).zip(hex(lo)).map(|(hi, lo)| hi << 4 | lo),
            _ => None,
        };
        match escaped {
            Some(decoded) => {
                out.push(decoded);
                i += 3;
            }
            None => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

fn hex(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        b'A'..=b'F' => Some(digit - b'A' + 10),
        _ => None,
    }
}

/// The parameter names in a route pattern, in order: `/a/{id}/{*rest}` → `["id", "rest"]`.
/// `{{` and `}}` are matchit's escapes for literal braces.
pub(crate) fn param_names(pattern: &str) -> Vec<Arc<str>> {
    let mut names = Vec::new();
    let mut rest = pattern;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        if let Some(escaped) = after.strip_prefix('{') {
            rest = escaped;
            continue;
        }
        let Some(close) = after.find('}') else { break };
        let name = &after[..close];
        names.push(Arc::from(name.strip_prefix('*').unwrap_or(name)));
        rest = &after[close + 1..];
    }
    names
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn matched(pattern: &str, path: &str) -> Vec<(String, String)> {
        let mut router = matchit::Router::new();
        router.insert(pattern, ()).unwrap();
        let m = router.at(path).unwrap();
        let params = Params::from_match(&param_names(pattern), path, &m.params);
        params
            .iter(path)
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect()
    }

    #[test]
    fn names_in_order_skipping_escapes() {
        let names = param_names("/a/{{lit}}/{id}/x-{name}/{*rest}");
        let names: Vec<&str> = names.iter().map(|n| &**n).collect();
        assert_eq!(names, ["id", "name", "rest"]);
    }

    #[test]
    fn values_are_spans_of_the_path() {
        assert_eq!(
            matched("/u/{id}/f/{*rest}", "/u/7/f/a/b"),
            [("id".into(), "7".into()), ("rest".into(), "a/b".into())]
        );
    }

    #[test]
    fn escapes_are_decoded_unless_not_utf8() {
        assert_eq!(matched("/u/{name}", "/u/a%20b")[0].1, "a b");
        assert_eq!(matched("/u/{name}", "/u/%ff")[0].1, "%ff");
        assert_eq!(matched("/u/{name}", "/u/100%")[0].1, "100%");
        assert_eq!(matched("/u/{name}", "/u/%zz%41")[0].1, "%zzA");
    }

    #[test]
    fn no_params_no_allocation() {
        let mut router = matchit::Router::new();
        router.insert("/", ()).unwrap();
        let m = router.at("/").unwrap();
        assert_eq!(
            Params::from_match(&[], "/", &m.params).entries.capacity(),
            0
        );
    }
}
