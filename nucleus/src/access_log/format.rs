//! Access log line formats: Common and Combined (as nginx writes them) and JSON lines.
//!
//! Lines are written straight into the caller's buffer with no intermediate `String`; the
//! timestamp text is cached per thread and re-rendered once a second.

use std::cell::RefCell;
use std::io::Write as _;
use std::net::{IpAddr, SocketAddr};

use http::{HeaderValue, Version};
use nucleus_http::observe::{Completed, RouteId};

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

pub(super) fn write_line(out: &mut Vec<u8>, format: Format, done: &Completed<'_>) {
    match format {
        Format::Common => write_clf(out, done, false),
        Format::Combined => write_clf(out, done, true),
        Format::Json => write_json(out, done),
    }
    out.push(b'\n');
}

fn write_clf(out: &mut Vec<u8>, done: &Completed<'_>, combined: bool) {
    write_addr(out, done.peer);
    out.extend_from_slice(b" - - [");
    with_time(|t| out.extend_from_slice(&t.clf));
    out.extend_from_slice(b"] \"");
    write_request_line(out, done);
    out.extend_from_slice(b"\" ");
    out.extend_from_slice(itoa::Buffer::new().format(done.status.as_u16()).as_bytes());
    out.push(b' ');
    out.extend_from_slice(itoa::Buffer::new().format(done.body_bytes).as_bytes());
    if combined {
        let details = done.details;
        out.extend_from_slice(b" \"");
        write_escaped_or_dash(out, details.and_then(|d| d.referer.as_ref()));
        out.extend_from_slice(b"\" \"");
        write_escaped_or_dash(out, details.and_then(|d| d.user_agent.as_ref()));
        out.push(b'"');
    }
}

/// `GET /path?q HTTP/1.1`, or `-` when the head could not be parsed.
fn write_request_line(out: &mut Vec<u8>, done: &Completed<'_>) {
    let (Some(method), Some(details)) = (done.method, done.details) else {
        out.push(b'-');
        return;
    };
    escape(out, method.as_str().as_bytes());
    out.push(b' ');
    let target = &details.target;
    match (target.scheme(), target.path_and_query()) {
        (None, Some(pq)) => escape(out, pq.as_str().as_bytes()),
        _ => {
            let _ = write!(out, "{target}");
        }
    }
    out.push(b' ');
    out.extend_from_slice(version(done.version).as_bytes());
}

fn version(version: Version) -> &'static str {
    match version {
        Version::HTTP_10 => "HTTP/1.0",
        Version::HTTP_2 => "HTTP/2.0",
        Version::HTTP_09 => "HTTP/0.9",
        Version::HTTP_3 => "HTTP/3.0",
        _ => "HTTP/1.1",
    }
}

fn write_addr(out: &mut Vec<u8>, peer: Option<SocketAddr>) {
    // nginx's `$remote_addr`: the address without the port, IPv6 without brackets.
    match peer {
        Some(peer) => write_ip(out, peer.ip()),
        None => out.push(b'-'),
    }
}

/// IPv4 by hand: `Display` through `fmt` costs several hundred instructions a line.
fn write_ip(out: &mut Vec<u8>, ip: IpAddr) {
    match ip {
        IpAddr::V4(v4) => {
            let mut digits = itoa::Buffer::new();
            for (i, octet) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    out.push(b'.');
                }
                out.extend_from_slice(digits.format(octet).as_bytes());
            }
        }
        IpAddr::V6(_) => {
            let _ = write!(out, "{ip}");
        }
    }
}

fn write_escaped_or_dash(out: &mut Vec<u8>, value: Option<&HeaderValue>) {
    match value {
        Some(value) => escape(out, value.as_bytes()),
        None => out.push(b'-'),
    }
}

/// nginx's log escaping: `"`, `\`, control bytes and bytes above 0x7e become `\xHH`, so a
/// client cannot forge a field or a line.
fn escape(out: &mut Vec<u8>, bytes: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let plain = |b: &u8| *b != b'"' && *b != b'\\' && (0x20..0x7f).contains(b);
    if bytes.iter().all(plain) {
        // The usual case, one copy.
        out.extend_from_slice(bytes);
        return;
    }
    for &b in bytes {
        if b == b'"' || b == b'\\' || !(0x20..0x7f).contains(&b) {
            out.extend_from_slice(b"\\x");
            out.push(HEX.get(usize::from(b >> 4)).copied().unwrap_or(b'0'));
            out.push(HEX.get(usize::from(b & 0xf)).copied().unwrap_or(b'0'));
        } else {
            out.push(b);
        }
    }
}

fn write_json(out: &mut Vec<u8>, done: &Completed<'_>) {
    out.extend_from_slice(b"{\"time\":\"");
    with_time(|t| out.extend_from_slice(&t.iso));
    out.extend_from_slice(b"\",\"remote_addr\":");
    match done.peer {
        Some(peer) => {
            out.push(b'"');
            write_ip(out, peer.ip());
            out.push(b'"');
        }
        None => out.extend_from_slice(b"null"),
    }
    out.extend_from_slice(b",\"request_id\":");
    json_str(out, done.request_id.map(|id| id.as_bytes()));
    out.extend_from_slice(b",\"method\":");
    json_str(out, done.method.map(|m| m.as_str().as_bytes()));
    out.extend_from_slice(b",\"route\":");
    if done.route == RouteId::UNMATCHED {
        out.extend_from_slice(b"null");
    } else {
        json_str(out, Some(done.route.template().as_bytes()));
    }
    out.extend_from_slice(b",\"target\":");
    match done.details {
        Some(d) => match d.target.path_and_query() {
            Some(pq) if d.target.scheme().is_none() => json_str(out, Some(pq.as_str().as_bytes())),
            _ => json_str(out, Some(d.target.to_string().as_bytes())),
        },
        None => out.extend_from_slice(b"null"),
    }
    out.extend_from_slice(b",\"protocol\":\"");
    out.extend_from_slice(version(done.version).as_bytes());
    out.extend_from_slice(b"\",\"status\":");
    out.extend_from_slice(itoa::Buffer::new().format(done.status.as_u16()).as_bytes());
    out.extend_from_slice(b",\"body_bytes_sent\":");
    out.extend_from_slice(itoa::Buffer::new().format(done.body_bytes).as_bytes());
    out.extend_from_slice(b",\"duration_ms\":");
    let micros = u64::try_from(done.duration.as_micros()).unwrap_or(u64::MAX);
    let _ = write!(out, "{}.{:03}", micros / 1000, micros % 1000);
    out.extend_from_slice(b",\"referer\":");
    json_str(out, header(done, |d| d.referer.as_ref()));
    out.extend_from_slice(b",\"user_agent\":");
    json_str(out, header(done, |d| d.user_agent.as_ref()));
    if done.aborted {
        out.extend_from_slice(b",\"aborted\":true");
    }
    out.push(b'}');
}

fn header<'a>(
    done: &'a Completed<'_>,
    pick: impl Fn(&'a nucleus_http::observe::Details) -> Option<&'a HeaderValue>,
) -> Option<&'a [u8]> {
    done.details.and_then(pick).map(HeaderValue::as_bytes)
}

/// A JSON string (or `null`); bytes that are not UTF-8 become U+FFFD.
fn json_str(out: &mut Vec<u8>, value: Option<&[u8]>) {
    match value {
        Some(bytes) => {
            let text = String::from_utf8_lossy(bytes);
            let _ = serde_json::to_writer(&mut *out, &*text);
        }
        None => out.extend_from_slice(b"null"),
    }
}

/// The current second rendered both ways, cached per thread.
struct Stamp {
    second: u64,
    /// `27/Nov/2026:05:01:43 +0000`
    clf: [u8; 26],
    /// `2026-11-27T05:01:43Z`
    iso: [u8; 20],
}

thread_local! {
    static STAMP: RefCell<Stamp> = const {
        RefCell::new(Stamp { second: u64::MAX, clf: [b' '; 26], iso: [b' '; 20] })
    };
}

fn with_time(f: impl FnOnce(&Stamp)) {
    let now = nucleus_http::observe::unix_second();
    STAMP.with(|cell| {
        let mut stamp = cell.borrow_mut();
        if stamp.second != now {
            render(&mut stamp, now);
        }
        f(&stamp);
    });
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

fn render(stamp: &mut Stamp, second: u64) {
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
        let mut stamp = Stamp {
            second: 0,
            clf: [0; 26],
            iso: [0; 20],
        };
        // 2026-11-27T05:01:43Z, the example.
        render(&mut stamp, 1_795_755_703);
        assert_eq!(&stamp.clf, b"27/Nov/2026:05:01:43 +0000");
        assert_eq!(&stamp.iso, b"2026-11-27T05:01:43Z");
        render(&mut stamp, 951_782_400);
        assert_eq!(&stamp.iso, b"2000-02-29T00:00:00Z");
    }

    #[test]
    fn escapes_like_nginx() {
        let mut out = Vec::new();
        escape(&mut out, b"a\"b\\c\x01\xff d");
        assert_eq!(out, b"a\\x22b\\x5Cc\\x01\\xFF d");
    }
}
