//! Request body decoders: fixed length and chunked (RFC 9112 §7.1).
//!
//! The chunked decoder is strict where leniency has enabled request smuggling: the size is
//! 1–16 hex digits (no overflow), every line ends in CRLF (a bare LF is an error), the CRLF
//! after the data is checked, and extensions and trailers are accepted but bounded.

use bytes::{Buf, Bytes, BytesMut};
use http::header::{HeaderName, HeaderValue};
use http::HeaderMap;

use crate::error::{Error, Parse};

/// The result of one decoding step.
#[derive(Debug, PartialEq, Eq)]
pub enum Decoded {
    /// A piece of the body.
    Data(Bytes),
    /// The trailer section of a chunked body (the body is then complete).
    Trailers(HeaderMap),
    /// More input is needed.
    NeedMore,
    /// The body is complete.
    Done,
}

/// Decodes one request body out of the connection's read buffer.
#[derive(Debug)]
pub(crate) enum BodyDecoder {
    Length(u64),
    Chunked(ChunkedDecoder),
}

impl BodyDecoder {
    pub(crate) fn decode(&mut self, buf: &mut BytesMut) -> Result<Decoded, Error> {
        match self {
            BodyDecoder::Length(0) => Ok(Decoded::Done),
            BodyDecoder::Length(remaining) => {
                if buf.is_empty() {
                    return Ok(Decoded::NeedMore);
                }
                let n = usize::try_from(*remaining)
                    .unwrap_or(usize::MAX)
                    .min(buf.len());
                *remaining -= n as u64;
                Ok(Decoded::Data(buf.split_to(n).freeze()))
            }
            BodyDecoder::Chunked(chunked) => chunked.decode(buf),
        }
    }

    pub(crate) fn is_done(&self) -> bool {
        match self {
            BodyDecoder::Length(remaining) => *remaining == 0,
            BodyDecoder::Chunked(chunked) => chunked.state == State::Done,
        }
    }
}

/// The chunked transfer coding decoder.
#[derive(Debug)]
pub struct ChunkedDecoder {
    state: State,
    extensions_seen: usize,
    max_extensions: usize,
    max_trailer_size: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Size {
        value: u64,
        digits: u8,
    },
    /// Whitespace after the size digits: only `;` or CR may follow (BWS before extensions).
    SizeSpace {
        value: u64,
    },
    Extension {
        value: u64,
    },
    SizeLf {
        value: u64,
    },
    Data(u64),
    DataCr,
    DataLf,
    Trailers,
    Done,
}

/// Trailer fields parsed at most; more is a 431.
const MAX_TRAILER_FIELDS: usize = 64;

impl ChunkedDecoder {
    /// A decoder with the given bounds on extension bytes (whole body) and trailer bytes.
    pub fn new(max_extensions: usize, max_trailer_size: usize) -> ChunkedDecoder {
        ChunkedDecoder {
            state: State::Size {
                value: 0,
                digits: 0,
            },
            extensions_seen: 0,
            max_extensions,
            max_trailer_size,
        }
    }

    /// Decodes the next piece of the body from the front of `buf`, consuming what it used.
    ///
    /// # Errors
    ///
    /// A parse error (400, or 431 for oversized trailers) on any framing violation.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Decoded, Error> {
        let mut i = 0;
        let result = loop {
            if let State::Data(remaining) = self.state {
                buf.advance(i);
                i = 0;
                if buf.is_empty() {
                    break Ok(Decoded::NeedMore);
                }
                let n = usize::try_from(remaining)
                    .unwrap_or(usize::MAX)
                    .min(buf.len());
                let left = remaining - n as u64;
                self.state = if left == 0 {
                    State::DataCr
                } else {
                    State::Data(left)
                };
                break Ok(Decoded::Data(buf.split_to(n).freeze()));
            }
            if self.state == State::Trailers {
                buf.advance(i);
                i = 0;
                break self.decode_trailers(buf);
            }
            if self.state == State::Done {
                break Ok(Decoded::Done);
            }
            let Some(&byte) = buf.get(i) else {
                break Ok(Decoded::NeedMore);
            };
            i += 1;
            self.state = match (self.state, byte) {
                (State::Size { value, digits }, b) if b.is_ascii_hexdigit() => {
                    if digits >= 16 {
                        break Err(Error::parse(Parse::ChunkSize));
                    }
                    State::Size {
                        value: (value << 4) | u64::from(hex_value(b)),
                        digits: digits + 1,
                    }
                }
                (State::Size { digits: 0, .. }, _) => break Err(Error::parse(Parse::ChunkSize)),
                (State::Size { value, .. } | State::SizeSpace { value }, b' ' | b'\t') => {
                    self.count_extension()?;
                    State::SizeSpace { value }
                }
                (State::Size { value, .. } | State::SizeSpace { value }, b';') => {
                    State::Extension { value }
                }
                (
                    State::Size { value, .. }
                    | State::SizeSpace { value }
                    | State::Extension { value },
                    b'\r',
                ) => State::SizeLf { value },
                (State::Size { .. } | State::SizeSpace { .. }, _) => {
                    break Err(Error::parse(Parse::ChunkSize))
                }
                (State::Extension { value }, b) => {
                    // Extension content is any visible text; a bare LF or other control byte
                    // would let two parsers disagree on where the line ends.
                    if b != b'\t' && (b < 0x20 || b == 0x7f) {
                        break Err(Error::parse(Parse::ChunkFraming));
                    }
                    self.count_extension()?;
                    State::Extension { value }
                }
                (State::SizeLf { value: 0 }, b'\n') => State::Trailers,
                (State::SizeLf { value }, b'\n') => State::Data(value),
                (State::DataCr, b'\r') => State::DataLf,
                (State::DataLf, b'\n') => State::Size {
                    value: 0,
                    digits: 0,
                },
                (State::SizeLf { .. } | State::DataCr | State::DataLf, _) => {
                    break Err(Error::parse(Parse::ChunkFraming));
                }
                (State::Data(_) | State::Trailers | State::Done, _) => break Ok(Decoded::NeedMore),
            };
        };
        if i > 0 {
            buf.advance(i);
        }
        result
    }

    fn count_extension(&mut self) -> Result<(), Error> {
        self.extensions_seen += 1;
        if self.extensions_seen > self.max_extensions {
            return Err(Error::parse(Parse::ChunkExtensionTooLarge));
        }
        Ok(())
    }

    /// The trailer section: `*( field-line CRLF ) CRLF`, bounded in bytes and fields.
    fn decode_trailers(&mut self, buf: &mut BytesMut) -> Result<Decoded, Error> {
        if buf.starts_with(b"\r\n") {
            buf.advance(2);
            self.state = State::Done;
            return Ok(Decoded::Done);
        }
        if buf.len() < 2 {
            return Ok(Decoded::NeedMore);
        }
        let window = buf.len().min(self.max_trailer_size.saturating_add(4));
        let Some(end) = buf
            .get(..window)
            .and_then(|w| w.windows(4).position(|w| w == b"\r\n\r\n"))
        else {
            if buf.len() > self.max_trailer_size {
                return Err(Error::parse(Parse::TrailersTooLarge));
            }
            return Ok(Decoded::NeedMore);
        };
        let section = buf.split_to(end + 4);
        let mut fields = [httparse::EMPTY_HEADER; MAX_TRAILER_FIELDS];
        let parsed = match httparse::parse_headers(&section, &mut fields) {
            Ok(httparse::Status::Complete((_, parsed))) => parsed,
            Ok(httparse::Status::Partial) => return Err(Error::parse(Parse::ChunkFraming)),
            Err(httparse::Error::TooManyHeaders) => {
                return Err(Error::parse(Parse::TrailersTooLarge))
            }
            Err(_) => return Err(Error::parse(Parse::HeaderValue)),
        };
        let mut trailers = HeaderMap::with_capacity(parsed.len());
        for field in parsed {
            let name = HeaderName::from_bytes(field.name.as_bytes())
                .map_err(|_| Error::parse(Parse::HeaderName))?;
            let value = HeaderValue::from_bytes(field.value)
                .map_err(|_| Error::parse(Parse::HeaderValue))?;
            trailers.append(name, value);
        }
        self.state = State::Done;
        Ok(Decoded::Trailers(trailers))
    }
}

fn hex_value(b: u8) -> u8 {
    match b {
        b'0'..=b'9' => b - b'0',
        b'a'..=b'f' => b - b'a' + 10,
        _ => b - b'A' + 10,
    }
}

/// Fuzz entry point: decodes `input` whole and split at every position the first byte picks,
/// and checks both give the same body or both fail.
pub fn fuzz_chunked(input: &[u8]) {
    let Some((&split, rest)) = input.split_first() else {
        return;
    };
    let whole = decode_all(rest, &[rest.len()]);
    let at = usize::from(split) % (rest.len() + 1);
    let pieces = decode_all(rest, &[at, rest.len()]);
    assert_eq!(whole, pieces, "split at {at} changed the result");
}

/// Decodes `input` fed in pieces ending at `cuts`; `Err(())` for any error.
#[allow(clippy::result_unit_err)]
pub fn decode_all(input: &[u8], cuts: &[usize]) -> Result<(Vec<u8>, Option<HeaderMap>, bool), ()> {
    let mut decoder = ChunkedDecoder::new(1024, 1024);
    let mut buf = BytesMut::new();
    let mut body = Vec::new();
    let mut trailers = None;
    let mut fed = 0;
    for &cut in cuts {
        let cut = cut.min(input.len());
        buf.extend_from_slice(input.get(fed..cut).unwrap_or_default());
        fed = cut.max(fed);
        loop {
            match decoder.decode(&mut buf).map_err(|_| ())? {
                Decoded::Data(d) => body.extend_from_slice(&d),
                Decoded::Trailers(t) => trailers = Some(t),
                Decoded::NeedMore => break,
                Decoded::Done => return Ok((body, trailers, true)),
            }
        }
    }
    Ok((body, trailers, false))
}

#[cfg(test)]
#[path = "decode_tests.rs"]
mod tests;
