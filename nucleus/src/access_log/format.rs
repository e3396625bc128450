//! Access log line formats: Common and Combined (as nginx writes them) and JSON lines.
//!
//! Lines are written straight into the caller's buffer with no intermediate `String`; the
//! timestamp text is cached per thread and re-rendered once a second.

use std::io::Write as _;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use http::{Method, StatusCode, Version};
use nucleus_http::observe::{Completed, Details, RouteId};

/// The format of access log lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Format {
    /// `$remote_addr - - [$time_local] "$request" $status $body_bytes_sent`
    Common,
    /// Common plus `"$http_referer" "$http_user_agent"`: nginx's default `combined`.
    Combined,
    /// One JSON object per line.
    Json,
}

/// Appends one line about `done` to `out`, with what `cache` keeps from the last line.
pub(super) fn write_line(
    out: &mut Vec<u8>,
    cache: &mut LineCache,
    format: Format,
    done: &Completed,
) {
    let now = nucleus_http::observe::unix_second();
    if cache.second != now {
        render(cache, now);
    }
    match format {
        Format::Common => write_clf(out, cache, done, false),
        Format::Combined => write_clf(out, cache, done, true),
        Format::Json => write_json(out, cache, done),
    }
    out.push(b'\n');
}

/// Room for the fixed parts of a line, so that it grows its buffer at most once.
const LINE_OVERHEAD: usize = 160;

fn write_clf(out: &mut Vec<u8>, cache: &mut LineCache, done: &Completed, combined: bool) {
    let details = done.details.as_ref();
    // Everything captured (target, referer, user agent) in one figure: escaping may still
    // grow the line, but rarely.
    out.reserve(LINE_OVERHEAD + details.map_or(0, Details::captured_len));
    // Few pieces, most of them of a fixed size: each copy of a length known only at run time
    // is a `memcpy` call, about 25 instructions even for three bytes.
    cache.write_clf_prefix(out, done.peer);
    match (&done.method, details) {
        (Some(method), Some(details)) => {
            write_method(out, method);
            escape(out, details.target());
            write_version(out, done.version);
        }
        _ => out.extend_from_slice(b"-\" "),
    }
    write_status_and_bytes(out, done.status, done.body_bytes);
    if combined {
        match details.map(|d| (d.referer(), d.user_agent())) {
            None | Some((None, None)) => out.extend_from_slice(b" \"-\" \"-\""),
            Some((referer, user_agent)) => {
                out.extend_from_slice(b" \"");
                escape_or_dash(out, referer);
                out.extend_from_slice(b"\" \"");
                escape_or_dash(out, user_agent);
                out.push(b'"');
            }
        }
    }
}

/// `$status $body_bytes_sent`. Written as one fixed-size piece and cut back to the digits
/// used: a fixed-size copy is a few moves, where `itoa`'s variable-length output needs a
/// `memcpy` call.
fn write_status_and_bytes(out: &mut Vec<u8>, status: StatusCode, bytes: u64) {
    const DIGITS: usize = 20; // u64::MAX has 20
    let mut piece = [b' '; 4 + DIGITS];
    let (code, rest) = piece.split_at_mut(4);
    code.copy_from_slice(&status_and_space(status));
    let used = write_digits(rest, bytes);
    out.extend_from_slice(&piece);
    out.truncate(out.len() - (DIGITS - used.min(DIGITS)));
}

/// Writes `n` in decimal at the start of `out` (at least 20 bytes long); returns how many
/// bytes it took. Two digits at a time from a table, as `itoa` does: half the divisions.
fn write_digits(out: &mut [u8], n: u64) -> usize {
    let len = n.checked_ilog10().map_or(1, |log| log as usize + 1);
    let Some(digits) = out.get_mut(..len) else {
        return 0;
    };
    let mut n = n;
    let mut pairs = digits.rchunks_exact_mut(2);
    for pair in &mut pairs {
        let two = DIGIT_PAIRS
            .get((n % 100) as usize)
            .copied()
            .unwrap_or(*b"00");
        pair.copy_from_slice(&two);
        n /= 100;
    }
    if let [first] = pairs.into_remainder() {
        *first = b'0' + (n % 10) as u8;
    }
    len
}

/// `"00"` to `"99"`.
static DIGIT_PAIRS: [[u8; 2]; 100] = {
    let mut table = [*b"00"; 100];
    let mut n = 0;
    while n < 100 {
        table[n] = [b'0' + (n / 10) as u8, b'0' + (n % 10) as u8];
        n += 1;
    }
    table
};

/// The method and a space. A method is a token: no quote, backslash or control byte to
/// escape.
fn write_method(out: &mut Vec<u8>, method: &Method) {
    match *method {
        Method::GET => out.extend_from_slice(b"GET "),
        Method::POST => out.extend_from_slice(b"POST "),
        Method::HEAD => out.extend_from_slice(b"HEAD "),
        _ => {
            out.extend_from_slice(method.as_str().as_bytes());
            out.push(b' ');
        }
    }
}

/// A space, the version, and the request line's closing quote and space.
fn write_version(out: &mut Vec<u8>, version: Version) {
    match version {
        Version::HTTP_11 => out.extend_from_slice(b" HTTP/1.1\" "),
        Version::HTTP_2 => out.extend_from_slice(b" HTTP/2.0\" "),
        Version::HTTP_10 => out.extend_from_slice(b" HTTP/1.0\" "),
        other => {
            out.push(b' ');
            out.extend_from_slice(self::version(other).as_bytes());
            out.extend_from_slice(b"\" ");
        }
    }
}

/// A status code's three digits, as an array: a fixed-size copy needs no `memcpy` call.
fn status_digits(status: StatusCode) -> [u8; 3] {
    let [a, b, c, _] = status_and_space(status);
    [a, b, c]
}

/// A status code's three digits and a space, looked up rather than divided out.
fn status_and_space(status: StatusCode) -> [u8; 4] {
    STATUS_TEXT
        .get(usize::from(status.as_u16()))
        .copied()
        .unwrap_or(*b"500 ")
}

/// `"NNN "` for every code `http::StatusCode` can hold (100 to 999), 4 KiB.
static STATUS_TEXT: [[u8; 4]; 1000] = {
    let mut table = [*b"000 "; 1000];
    let mut code = 0;
    while code < 1000 {
        table[code] = [
            b'0' + (code / 100) as u8,
            b'0' + (code / 10 % 10) as u8,
            b'0' + (code % 10) as u8,
            b' ',
        ];
        code += 1;
    }
    table
};

fn version(version: Version) -> &'static str {
    match version {
        Version::HTTP_10 => "HTTP/1.0",
        Version::HTTP_2 => "HTTP/2.0",
        Version::HTTP_09 => "HTTP/0.9",
        Version::HTTP_3 => "HTTP/3.0",
        _ => "HTTP/1.1",
    }
}

/// Writes an IPv4 address by hand: `Display` goes through `fmt` and costs several hundred
/// instructions.
fn write_ipv4(out: &mut Vec<u8>, ip: Ipv4Addr) {
    let mut digits = itoa::Buffer::new();
    for (i, octet) in ip.octets().into_iter().enumerate() {
        if i > 0 {
            out.push(b'.');
        }
        out.extend_from_slice(digits.format(octet).as_bytes());
    }
}

fn escape_or_dash(out: &mut Vec<u8>, value: Option<&[u8]>) {
    match value {
        Some(value) => escape(out, value),
        None => out.push(b'-'),
    }
}

/// nginx's log escaping: `"`, `\`, control bytes and bytes above 0x7e become `\xHH`, so a
/// client cannot forge a field or a line.
#[inline]
fn escape(out: &mut Vec<u8>, bytes: &[u8]) {
    if is_plain(bytes) {
        // The usual case, one copy.
        out.extend_from_slice(bytes);
    } else {
        escape_each(out, bytes);
    }
}

#[cold]
fn escape_each(out: &mut Vec<u8>, bytes: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in bytes {
        if is_plain_byte(b) {
            out.push(b);
        } else {
            out.extend_from_slice(b"\\x");
            out.push(HEX.get(usize::from(b >> 4)).copied().unwrap_or(b'0'));
            out.push(HEX.get(usize::from(b & 0xf)).copied().unwrap_or(b'0'));
        }
    }
}

fn is_plain_byte(b: u8) -> bool {
    b != b'"' && b != b'\\' && (0x20..0x7f).contains(&b)
}

/// Whether no byte needs escaping, eight bytes at a time: a browser's `User-Agent` is over a
/// hundred bytes, and a byte-by-byte test costs about four instructions a byte.
fn is_plain(bytes: &[u8]) -> bool {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGH: u64 = u64::from_ne_bytes([0x80; 8]);
    // Whether any byte of `word` is zero (exact as a yes/no answer).
    let has_zero = |word: u64| word.wrapping_sub(ONES) & !word & HIGH != 0;
    if bytes.len() < 8 {
        // Most targets are short: skip setting up the word-wide masks.
        return bytes.iter().all(|&b| is_plain_byte(b));
    }
    let mut chunks = bytes.chunks_exact(8);
    for chunk in &mut chunks {
        let Ok(eight) = <[u8; 8]>::try_from(chunk) else {
            return false;
        };
        let word = u64::from_ne_bytes(eight);
        let below_space = word.wrapping_sub(ONES * 0x20) & !word & HIGH != 0;
        if below_space
            || word & HIGH != 0
            || has_zero(word ^ (ONES * 0x7f))
            || has_zero(word ^ (ONES * u64::from(b'"')))
            || has_zero(word ^ (ONES * u64::from(b'\\')))
        {
            return false;
        }
    }
    chunks.remainder().iter().all(|&b| is_plain_byte(b))
}

fn write_json(out: &mut Vec<u8>, cache: &mut LineCache, done: &Completed) {
    out.reserve(LINE_OVERHEAD * 2);
    out.extend_from_slice(b"{\"time\":\"");
    out.extend_from_slice(&cache.iso);
    out.extend_from_slice(b"\",\"remote_addr\":");
    match done.peer {
        Some(peer) => {
            out.push(b'"');
            cache.write_addr(out, Some(peer));
            out.push(b'"');
        }
        None => out.extend_from_slice(b"null"),
    }
    out.extend_from_slice(b",\"request_id\":");
    json_str(out, done.request_id.as_ref().map(|id| id.as_bytes()));
    out.extend_from_slice(b",\"method\":");
    json_str(out, done.method.as_ref().map(|m| m.as_str().as_bytes()));
    out.extend_from_slice(b",\"route\":");
    if done.route == RouteId::UNMATCHED {
        out.extend_from_slice(b"null");
    } else {
        json_str(out, Some(cache.template(done.route).as_bytes()));
    }
    out.extend_from_slice(b",\"target\":");
    json_str(out, done.details.as_ref().map(Details::target));
    out.extend_from_slice(b",\"protocol\":\"");
    out.extend_from_slice(version(done.version).as_bytes());
    out.extend_from_slice(b"\",\"status\":");
    out.extend_from_slice(&status_digits(done.status));
    out.extend_from_slice(b",\"body_bytes_sent\":");
    out.extend_from_slice(itoa::Buffer::new().format(done.body_bytes).as_bytes());
    out.extend_from_slice(b",\"duration_ms\":");
    let micros = u64::try_from(done.duration.as_micros()).unwrap_or(u64::MAX);
    out.extend_from_slice(itoa::Buffer::new().format(micros / 1000).as_bytes());
    let fraction = micros % 1000;
    out.extend_from_slice(&[
        b'.',
        b'0' + (fraction / 100) as u8,
        b'0' + (fraction / 10 % 10) as u8,
        b'0' + (fraction % 10) as u8,
    ]);
    out.extend_from_slice(b",\"referer\":");
    json_str(out, done.details.as_ref().and_then(Details::referer));
    out.extend_from_slice(b",\"user_agent\":");
    json_str(out, done.details.as_ref().and_then(Details::user_agent));
    if done.aborted {
        out.extend_from_slice(b",\"aborted\":true");
    }
    out.push(b'}');
}

/// A JSON string (or `null`); bytes that are not UTF-8 become U+FFFD.
fn json_str(out: &mut Vec<u8>, value: Option<&[u8]>) {
    match value {
        // Printable ASCII without quote or backslash needs no escaping: the usual case.
        Some(bytes) if is_plain(bytes) => {
            out.push(b'"');
            out.extend_from_slice(bytes);
            out.push(b'"');
        }
        Some(bytes) => {
            let text = String::from_utf8_lossy(bytes);
            let _ = serde_json::to_writer(&mut *out, &*text);
        }
        None => out.extend_from_slice(b"null"),
    }
}

/// What stays the same from one line to the next in a buffer, rendered once: the current
/// second both ways, and the last peer address (a keep-alive connection logs the same one
/// request after request).
pub(super) struct LineCache {
    second: u64,
    /// `27/Nov/2026:05:01:43 +0000`
    clf: [u8; 26],
    /// `2026-11-27T05:01:43Z`
    iso: [u8; 20],
    ip: Option<IpAddr>,
    ip_text: Vec<u8>,
    /// `$remote_addr - - [$time_local] "` for `prefix_for`, in a fixed-size block.
    clf_prefix: ClfPrefix,
    /// Route templates by [`RouteId::index`], fetched once per buffer: `RouteId::template`
    /// takes the interner's lock, which every worker would contend for once a line.
    templates: Vec<Option<Arc<str>>>,
    /// The second and peer address `clf_prefix` was made for (`u64::MAX` before the first).
    prefix_for: (u64, PeerKey),
}

impl LineCache {
    /// An empty cache: its first line renders the time and the address.
    pub(super) const fn new() -> LineCache {
        LineCache {
            second: u64::MAX,
            clf: [b' '; 26],
            iso: [b' '; 20],
            ip: None,
            ip_text: Vec::new(),
            clf_prefix: ClfPrefix {
                block: [b' '; PREFIX_BLOCK],
                len: 0,
            },
            templates: Vec::new(),
            prefix_for: (u64::MAX, (0, 0)),
        }
    }

    fn template(&mut self, route: RouteId) -> &str {
        let index = route.index();
        if self.templates.len() <= index {
            self.templates.resize(index + 1, None);
        }
        match self.templates.get_mut(index) {
            Some(slot) => slot.get_or_insert_with(|| route.template()),
            None => "",
        }
    }

    /// Appends everything of a Common or Combined line before the request line, for `peer`
    /// now.
    fn write_clf_prefix(&mut self, out: &mut Vec<u8>, peer: Option<SocketAddr>) {
        let key = (self.second, peer_key(peer));
        if self.prefix_for != key {
            let mut text = Vec::with_capacity(PREFIX_BLOCK);
            self.write_addr(&mut text, peer);
            text.extend_from_slice(b" - - [");
            text.extend_from_slice(&self.clf);
            text.extend_from_slice(b"] \"");
            self.clf_prefix = ClfPrefix::new(&text);
            self.prefix_for = key;
        }
        // The whole block, then cut back: a copy of a size known at compile time is a few
        // moves, where one of a length known only at run time is a `memcpy` call.
        let start = out.len();
        out.extend_from_slice(&self.clf_prefix.block);
        out.truncate(start + self.clf_prefix.len);
    }

    fn write_addr(&mut self, out: &mut Vec<u8>, peer: Option<SocketAddr>) {
        // nginx's `$remote_addr`: the address without the port, IPv6 without brackets.
        let Some(peer) = peer else {
            out.push(b'-');
            return;
        };
        let ip = peer.ip();
        if self.ip != Some(ip) {
            self.ip_text.clear();
            match ip {
                IpAddr::V4(v4) => write_ipv4(&mut self.ip_text, v4),
                IpAddr::V6(v6) => {
                    let _ = write!(self.ip_text, "{v6}");
                }
            }
            self.ip = Some(ip);
        }
        out.extend_from_slice(&self.ip_text);
    }
}

/// Room for the longest prefix: an IPv6 address (39 bytes) and the time (35 with the text
/// around it).
const PREFIX_BLOCK: usize = 80;

/// A line's start, padded to a fixed size.
#[derive(Clone, Copy)]
struct ClfPrefix {
    block: [u8; PREFIX_BLOCK],
    len: usize,
}

impl ClfPrefix {
    fn new(text: &[u8]) -> ClfPrefix {
        let mut block = [b' '; PREFIX_BLOCK];
        let len = text.len().min(PREFIX_BLOCK);
        if let (Some(slot), Some(text)) = (block.get_mut(..len), text.get(..len)) {
            slot.copy_from_slice(text);
        }
        ClfPrefix { block, len }
    }
}

/// A peer address without its port, as plain integers: comparing two costs a few
/// instructions, where `Option<IpAddr>` compares variant by variant.
type PeerKey = (u8, u128);

fn peer_key(peer: Option<SocketAddr>) -> PeerKey {
    match peer.map(|p| p.ip()) {
        None => (0, 0),
        Some(IpAddr::V4(ip)) => (4, u128::from(ip.to_bits())),
        Some(IpAddr::V6(ip)) => (6, ip.to_bits()),
    }
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

fn render(stamp: &mut LineCache, second: u64) {
    let (year, month, day) = civil_from_days((second / 86_400) as i64);
    let rest = second % 86_400;
    let (h, m, s) = (rest / 3600, rest % 3600 / 60, rest % 60);
    let name = MONTHS.get(month as usize - 1).copied().unwrap_or("Jan");
    let clf = format!("{day:02}/{name}/{year:04}:{h:02}:{m:02}:{s:02} +0000");
    let iso = format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}Z");
    if let (Ok(clf), Ok(iso)) = (clf.as_bytes().try_into(), iso.as_bytes().try_into()) {
        stamp.clf = clf;
        stamp.iso = iso;
    }
    stamp.second = second;
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar; Howard
/// Hinnant's `civil_from_days` algorithm.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_both_time_formats() {
        let mut stamp = LineCache::new();
        // 2026-11-27T05:01:43Z, the example.
        render(&mut stamp, 1_795_755_703);
        assert_eq!(&stamp.clf, b"27/Nov/2026:05:01:43 +0000");
        assert_eq!(&stamp.iso, b"2026-11-27T05:01:43Z");
        render(&mut stamp, 951_782_400);
        assert_eq!(&stamp.iso, b"2000-02-29T00:00:00Z");
    }

    #[test]
    fn writes_status_and_bytes_of_every_width() {
        for (status, bytes, text) in [
            (200, 0, "200 0"),
            (404, 9, "404 9"),
            (101, 10, "101 10"),
            (599, 13, "599 13"),
            (999, 1_000_000, "999 1000000"),
            (200, 99, "200 99"),
            (200, 100, "200 100"),
            (200, 12_345, "200 12345"),
            (500, u64::MAX, "500 18446744073709551615"),
        ] {
            let mut out = b"x".to_vec();
            let status = StatusCode::from_u16(status).unwrap();
            write_status_and_bytes(&mut out, status, bytes);
            assert_eq!(out, format!("x{text}").as_bytes());
            assert_eq!(&status_digits(status), &text.as_bytes()[..3]);
        }
    }

    #[test]
    fn escapes_like_nginx() {
        let mut out = Vec::new();
        escape(&mut out, b"a\"b\\c\x01\xff d");
        assert_eq!(out, b"a\\x22b\\x5Cc\\x01\\xFF d");
    }

    #[test]
    fn plain_check_agrees_with_the_byte_rule_for_every_byte_at_every_position() {
        for b in 0..=255u8 {
            for len in [1, 7, 8, 9, 16, 23] {
                for at in 0..len {
                    let mut bytes = vec![b'a'; len];
                    if let Some(slot) = bytes.get_mut(at) {
                        *slot = b;
                    }
                    assert_eq!(
                        is_plain(&bytes),
                        is_plain_byte(b),
                        "byte {b:#x} at {at} of {len}"
                    );
                }
            }
        }
        assert!(is_plain(b""));
    }

    #[test]
    fn prefixes_fit_the_longest_address_and_follow_the_peer() {
        let mut cache = LineCache::new();
        render(&mut cache, 1_795_755_703);
        let mut out = b"x".to_vec();
        let longest = "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:1".parse().ok();
        cache.write_clf_prefix(&mut out, longest);
        cache.write_clf_prefix(&mut out, "10.0.0.1:2".parse().ok());
        cache.write_clf_prefix(&mut out, None);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "xffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff - - [27/Nov/2026:05:01:43 +0000] \"\
             10.0.0.1 - - [27/Nov/2026:05:01:43 +0000] \"\
             - - - [27/Nov/2026:05:01:43 +0000] \""
        );
    }

    #[test]
    fn caches_the_address_until_it_changes() {
        let mut cache = LineCache::new();
        let mut out = Vec::new();
        for peer in ["10.0.0.255:1", "10.0.0.255:2", "[::1]:3", "192.168.1.2:4"] {
            cache.write_addr(&mut out, peer.parse().ok());
            out.push(b' ');
        }
        cache.write_addr(&mut out, None);
        assert_eq!(out, b"10.0.0.255 10.0.0.255 ::1 192.168.1.2 -");
    }
}
