//! HPACK header compression (RFC 7541) for the HTTP/2 server.
//!
//! [`Decoder`] turns request header blocks into [`Field`]s whose names are classified once and
//! whose values are zero-copy slices of the block where the wire allows it. [`Encoder`] writes
//! response and trailer blocks. Each direction keeps its own dynamic table, as the protocol
//! requires.

mod decoder;
mod encoder;
mod huffman;
mod table;

pub(crate) use decoder::{Decoded, Decoder};
pub(crate) use encoder::Encoder;

use bytes::Bytes;
use http::HeaderName;

/// A decoding failure that breaks the connection's HPACK state: the caller answers with
/// a connection error of type COMPRESSION_ERROR (RFC 9113 §4.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DecodeError(pub(crate) &'static str);

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "HPACK decoding failed: {}", self.0)
    }
}

impl std::error::Error for DecodeError {}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pseudo {
    Method,
    Scheme,
    Authority,
    Path,
    Status,
    Protocol,
}

impl Pseudo {
    #[cfg(test)]
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Pseudo::Method => ":method",
            Pseudo::Scheme => ":scheme",
            Pseudo::Authority => ":authority",
            Pseudo::Path => ":path",
            Pseudo::Status => ":status",
            Pseudo::Protocol => ":protocol",
        }
    }
}

/// A field's name, classified once (also when stored in the dynamic table, so that a table
/// hit costs a clone, not a parse).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Name {
    Pseudo(Pseudo),
    Header(HeaderName),
    /// Not a valid HTTP/2 field name: uppercase letters, characters outside the token set,
    /// an empty name, or an unknown pseudo-header (`:foo`). The request is malformed
    /// (RFC 9113 §8.2.1, §8.3), a stream error, not a compression error: decoding goes on.
    Invalid,
}

impl Name {
    /// Classifies a name as it came off the wire.
    pub(crate) fn classify(name: &[u8]) -> Name {
        match name.split_first() {
            Some((b':', rest)) => match rest {
                b"method" => Name::Pseudo(Pseudo::Method),
                b"scheme" => Name::Pseudo(Pseudo::Scheme),
                b"authority" => Name::Pseudo(Pseudo::Authority),
                b"path" => Name::Pseudo(Pseudo::Path),
                b"status" => Name::Pseudo(Pseudo::Status),
                b"protocol" => Name::Pseudo(Pseudo::Protocol),
                _ => Name::Invalid,
            },
            // `from_lowercase` rejects uppercase letters rather than folding them, as HTTP/2
            // requires, and also rejects the empty name and non-token characters.
            _ => HeaderName::from_lowercase(name).map_or(Name::Invalid, Name::Header),
        }
    }

    #[cfg(test)]
    /// The name's spelling; `None` for an invalid name, whose spelling is not kept.
    pub(crate) fn as_str(&self) -> Option<&str> {
        match self {
            Name::Pseudo(p) => Some(p.as_str()),
            Name::Header(h) => Some(h.as_str()),
            Name::Invalid => None,
        }
    }
}

/// One decoded header field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Field {
    pub(crate) name: Name,
    pub(crate) value: Bytes,
}

#[cfg(test)]
#[path = "roundtrip_tests.rs"]
mod tests;
