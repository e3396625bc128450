//! A decoded header block as a request head (or as trailers), with the rules RFC 9113 §8.2
//! and §8.3 set for what the block may hold. A block that breaks them is a malformed request:
//! the stream is reset, and the connection goes on.

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::uri::{Authority, PathAndQuery, Scheme};
use http::{Method, Uri};

use crate::h1::parse::parse_content_length;
use crate::h2::hpack::{Field, Name, Pseudo};
use crate::h2::stream::CONNECTION_SPECIFIC;

/// Collects a request head, field by field, as the decoder yields them.
#[derive(Default)]
pub(super) struct HeadBuilder {
    method: Option<Bytes>,
    scheme: Option<Bytes>,
    authority: Option<Bytes>,
    path: Option<Bytes>,
    headers: HeaderMap,
    /// A regular field came: pseudo-header fields must all come before (§8.3).
    regular_seen: bool,
    /// The `content-length` value(s), as they come (no lookup in the map afterwards).
    declared: Option<u64>,
    /// `expect: 100-continue` came.
    expect_continue: bool,
    /// The first rule broken, for the log; later fields are skipped.
    malformed: Option<&'static str>,
}

/// A valid request head.
pub(super) struct Head {
    pub(super) method: Method,
    pub(super) uri: Uri,
    pub(super) headers: HeaderMap,
    /// Its `content-length`, which the DATA frames must add up to (RFC 9113 §8.1.1).
    pub(super) declared: Option<u64>,
    /// It asked for `100 Continue` before sending its body.
    pub(super) expect_continue: bool,
}

impl HeadBuilder {
    pub(super) fn field(&mut self, field: Field) {
        if self.malformed.is_some() {
            return;
        }
        if let Err(rule) = self.try_field(field) {
            self.malformed = Some(rule);
        }
    }

    fn try_field(&mut self, Field { name, value }: Field) -> Result<(), &'static str> {
        match name {
            Name::Pseudo(pseudo) => {
                if self.regular_seen {
                    return Err("pseudo-header field after a regular field");
                }
                let slot = match pseudo {
                    Pseudo::Method => &mut self.method,
                    Pseudo::Scheme => &mut self.scheme,
                    Pseudo::Authority => &mut self.authority,
                    Pseudo::Path => &mut self.path,
                    // `:protocol` needs SETTINGS_ENABLE_CONNECT_PROTOCOL, which we do not send.
                    Pseudo::Status | Pseudo::Protocol => {
                        return Err("pseudo-header field not allowed in a request")
                    }
                };
                if slot.is_some() {
                    return Err("repeated pseudo-header field");
                }
                *slot = Some(value);
                Ok(())
            }
            Name::Header(name) => {
                self.regular_seen = true;
                if name == header::CONTENT_LENGTH {
                    let len = parse_content_length(&value).map_err(|_| "invalid content-length")?;
                    if self.declared.is_some_and(|earlier| earlier != len) {
                        return Err("content-length values that disagree");
                    }
                    self.declared = Some(len);
                } else if name == header::EXPECT {
                    self.expect_continue |= value.eq_ignore_ascii_case(b"100-continue");
                }
                let value = regular_value(&name, value)?;
                self.headers.append(name, value);
                Ok(())
            }
            Name::Invalid => Err("invalid field name"),
        }
    }

    /// The head, or the rule it broke.
    pub(super) fn finish(self) -> Result<Head, &'static str> {
        if let Some(rule) = self.malformed {
            return Err(rule);
        }
        let method = self.method.ok_or("missing :method")?;
        let method = Method::from_bytes(&method).map_err(|_| "invalid :method")?;
        let authority = self
            .authority
            .map(Authority::from_maybe_shared)
            .transpose()
            .map_err(|_| "invalid :authority")?;
        let uri = if method == Method::CONNECT {
            // §8.5: only :authority, which is required.
            if self.scheme.is_some() || self.path.is_some() {
                return Err(":scheme or :path in a CONNECT request");
            }
            let authority = authority.ok_or("CONNECT without :authority")?;
            Uri::from(authority)
        } else {
            let scheme = self.scheme.ok_or("missing :scheme")?;
            let path = self.path.ok_or("missing :path")?;
            // Origin form, or `*` for a server-wide OPTIONS (RFC 9113 §8.3.1), as HTTP/1.1.
            let asterisk = method == Method::OPTIONS && path.as_ref() == b"*";
            if path.first() != Some(&b'/') && !asterisk {
                return Err("empty :path or not in origin form");
            }
            let scheme = match &scheme[..] {
                b"http" => Scheme::HTTP,
                b"https" => Scheme::HTTPS,
                other => Scheme::try_from(other).map_err(|_| "invalid :scheme")?,
            };
            let path = PathAndQuery::from_maybe_shared(path).map_err(|_| "invalid :path")?;
            let mut parts = http::uri::Parts::default();
            parts.path_and_query = Some(path);
            if let Some(authority) = authority {
                parts.scheme = Some(scheme);
                parts.authority = Some(authority);
            }
            Uri::from_parts(parts).map_err(|_| "invalid request target")?
        };
        Ok(Head {
            method,
            uri,
            headers: self.headers,
            declared: self.declared,
            expect_continue: self.expect_continue,
        })
    }
}

/// Collects trailers: regular fields only.
#[derive(Default)]
pub(super) struct TrailersBuilder {
    headers: HeaderMap,
    malformed: bool,
}

impl TrailersBuilder {
    pub(super) fn field(&mut self, Field { name, value }: Field) {
        if self.malformed {
            return;
        }
        match name {
            Name::Header(name) => match regular_value(&name, value) {
                Ok(value) => {
                    self.headers.append(name, value);
                }
                Err(_) => self.malformed = true,
            },
            Name::Pseudo(_) | Name::Invalid => self.malformed = true,
        }
    }

    pub(super) fn finish(self) -> Option<HeaderMap> {
        (!self.malformed).then_some(self.headers)
    }
}

/// A regular field's value, unless the field may not appear in HTTP/2 at all: the
/// connection-specific ones (§8.2.2), and `te` with anything but `trailers`.
fn regular_value(name: &HeaderName, value: Bytes) -> Result<HeaderValue, &'static str> {
    if CONNECTION_SPECIFIC.contains(name) {
        return Err("connection-specific field");
    }
    if name == header::TE && value.as_ref() != b"trailers" {
        return Err("te other than trailers");
    }
    // Rejects NUL, CR and LF (§8.2.1) and the other control characters, as HTTP/1.1 does.
    HeaderValue::from_maybe_shared(value).map_err(|_| "invalid field value")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pseudo(p: Pseudo, v: &'static str) -> Field {
        Field {
            name: Name::Pseudo(p),
            value: Bytes::from_static(v.as_bytes()),
        }
    }

    fn regular(n: &'static str, v: &'static str) -> Field {
        Field {
            name: Name::Header(HeaderName::from_static(n)),
            value: Bytes::from_static(v.as_bytes()),
        }
    }

    fn build(fields: Vec<Field>) -> Result<Head, &'static str> {
        let mut builder = HeadBuilder::default();
        for field in fields {
            builder.field(field);
        }
        builder.finish()
    }

    fn get() -> Vec<Field> {
        vec![
            pseudo(Pseudo::Method, "GET"),
            pseudo(Pseudo::Scheme, "https"),
            pseudo(Pseudo::Authority, "example.com"),
            pseudo(Pseudo::Path, "/a?b"),
        ]
    }

    #[test]
    fn a_complete_head_becomes_method_uri_and_fields() {
        let mut fields = get();
        fields.push(regular("accept", "*/*"));
        fields.push(regular("te", "trailers"));
        let head = build(fields).unwrap();
        assert_eq!(head.method, Method::GET);
        assert_eq!(head.uri, "https://example.com/a?b");
        assert_eq!(head.headers.len(), 2);
    }

    #[test]
    fn heads_that_break_the_rules_are_malformed() {
        let with = |extra: Field| {
            let mut fields = get();
            fields.push(extra);
            build(fields).err()
        };
        assert!(with(regular("connection", "close")).is_some());
        assert!(with(regular("te", "gzip")).is_some());
        assert!(with(regular("x-a", "a\nb")).is_some());
        assert!(with(pseudo(Pseudo::Status, "200")).is_some());
        assert!(with(pseudo(Pseudo::Method, "GET")).is_some(), "repeated");
        assert!(with(Field {
            name: Name::Invalid,
            value: Bytes::new()
        })
        .is_some());
        let mut late = vec![regular("accept", "*/*")];
        late.extend(get());
        assert!(build(late).is_err(), "pseudo after regular");
        for missing in 0..4 {
            let mut fields = get();
            fields.remove(missing);
            if missing == 2 {
                // Without :authority the target is the path alone.
                assert_eq!(build(fields).unwrap().uri, "/a?b");
            } else {
                assert!(build(fields).is_err(), "without field {missing}");
            }
        }
        for bad_path in ["", "a/b", "*", "http://example.com/"] {
            let mut fields = get();
            fields[3] = pseudo(Pseudo::Path, bad_path);
            assert!(build(fields).is_err(), "{bad_path:?}");
        }
        let options = vec![
            pseudo(Pseudo::Method, "OPTIONS"),
            pseudo(Pseudo::Scheme, "http"),
            pseudo(Pseudo::Authority, "a"),
            pseudo(Pseudo::Path, "*"),
        ];
        assert!(build(options).is_ok());
    }

    #[test]
    fn connect_takes_only_an_authority() {
        let head = build(vec![
            pseudo(Pseudo::Method, "CONNECT"),
            pseudo(Pseudo::Authority, "example.com:443"),
        ])
        .unwrap();
        assert_eq!(head.uri.authority().unwrap(), "example.com:443");
        assert!(build(vec![
            pseudo(Pseudo::Method, "CONNECT"),
            pseudo(Pseudo::Authority, "example.com:443"),
            pseudo(Pseudo::Path, "/"),
        ])
        .is_err());
    }

    #[test]
    fn trailers_take_regular_fields_only() {
        let mut ok = TrailersBuilder::default();
        ok.field(regular("x-checksum", "abc"));
        assert_eq!(ok.finish().unwrap().len(), 1);
        let mut bad = TrailersBuilder::default();
        bad.field(pseudo(Pseudo::Path, "/"));
        assert!(bad.finish().is_none());
    }
}
