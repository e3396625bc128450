//! A certificate's validity period, for the startup warning about expired certificates.
//!
//! `webpki` parses the period but keeps it private, and a full X.509 parser (`x509-parser`,
//! with `nom`, `der-parser` and `asn1-rs`) is a lot of code for two timestamps. The walk
//! below reads only the fixed prefix of a certificate (RFC 5280 §4.1): an untrusted input
//! here is the operator's own file, and anything unexpected yields `None`, not a panic.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustls::pki_types::CertificateDer;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Validity {
    pub(super) not_before: SystemTime,
    pub(super) not_after: SystemTime,
}

impl Validity {
    pub(super) fn warn_if_outside(&self, now: SystemTime, name: &str) {
        if now > self.not_after {
            tracing::warn!(
                certificate = %name,
                expired = %httpdate::fmt_http_date(self.not_after),
                "TLS certificate has expired; clients will refuse it"
            );
        } else if now < self.not_before {
            tracing::warn!(
                certificate = %name,
                valid_from = %httpdate::fmt_http_date(self.not_before),
                "TLS certificate is not valid yet; clients will refuse it"
            );
        }
    }
}

/// Certificate ::= SEQUENCE { tbsCertificate SEQUENCE { [0] version OPTIONAL, serialNumber,
/// signature, issuer, validity SEQUENCE { notBefore Time, notAfter Time }, ... }, ... }
pub(super) fn of(cert: &CertificateDer<'_>) -> Option<Validity> {
    const SEQUENCE: u8 = 0x30;
    const VERSION: u8 = 0xa0;
    let (cert, _) = expect(cert.as_ref(), SEQUENCE)?;
    let (mut tbs, _) = expect(cert, SEQUENCE)?;
    if tbs.first() == Some(&VERSION) {
        tbs = tlv(tbs)?.2;
    }
    for _field in ["serialNumber", "signature", "issuer"] {
        tbs = tlv(tbs)?.2;
    }
    let (validity, _) = expect(tbs, SEQUENCE)?;
    let (tag, not_before, rest) = tlv(validity)?;
    let not_before = time(tag, not_before)?;
    let (tag, not_after, _) = tlv(rest)?;
    let not_after = time(tag, not_after)?;
    Some(Validity {
        not_before,
        not_after,
    })
}

fn expect(input: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    let (found, content, rest) = tlv(input)?;
    (found == tag).then_some((content, rest))
}

/// One DER tag-length-value: (tag, content, rest). Short tags only, lengths up to 4 bytes.
fn tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, input) = input.split_first()?;
    let (&first, mut input) = input.split_first()?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 4 || input.len() < count {
            return None;
        }
        let (bytes, rest) = input.split_at(count);
        input = rest;
        bytes.iter().fold(0usize, |n, &b| (n << 8) | usize::from(b))
    };
    if input.len() < len {
        return None;
    }
    let (content, rest) = input.split_at(len);
    Some((tag, content, rest))
}

/// UTCTime `YYMMDDHHMMSSZ` (years 1950-2049, RFC 5280 §4.1.2.5.1) or GeneralizedTime
/// `YYYYMMDDHHMMSSZ`.
fn time(tag: u8, text: &[u8]) -> Option<SystemTime> {
    const UTC_TIME: u8 = 0x17;
    const GENERALIZED_TIME: u8 = 0x18;
    let digits = |range: std::ops::Range<usize>| -> Option<u64> {
        let s = std::str::from_utf8(text.get(range)?).ok()?;
        s.bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| s.parse().ok())?
    };
    let (year, rest) = match (tag, text.len()) {
        (UTC_TIME, 13) => {
            let yy = digits(0..2)?;
            (if yy < 50 { 2000 + yy } else { 1900 + yy }, 2)
        }
        (GENERALIZED_TIME, 15) => (digits(0..4)?, 4),
        _ => return None,
    };
    if text.last() != Some(&b'Z') {
        return None;
    }
    let month = digits(rest..rest + 2)?;
    let day = digits(rest + 2..rest + 4)?;
    let hour = digits(rest + 4..rest + 6)?;
    let minute = digits(rest + 6..rest + 8)?;
    let second = digits(rest + 8..rest + 10)?;
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 {
        return None;
    }
    let days = days_from_civil(year, month, day)?;
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second.min(60);
    UNIX_EPOCH.checked_add(Duration::from_secs(secs))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`);
/// `None` before 1970, which no certificate we serve needs.
fn days_from_civil(year: u64, month: u64, day: u64) -> Option<u64> {
    let y = if month <= 2 {
        year.checked_sub(1)?
    } else {
        year
    };
    let era = y / 400;
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    (era * 146_097 + doe).checked_sub(719_468)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(date: &str) -> SystemTime {
        httpdate::parse_http_date(date).unwrap()
    }

    #[test]
    fn reads_both_time_formats() {
        assert_eq!(
            time(0x17, b"250102030405Z"),
            Some(at("Thu, 02 Jan 2025 03:04:05 GMT"))
        );
        assert_eq!(
            time(0x17, b"991231235959Z"),
            Some(at("Fri, 31 Dec 1999 23:59:59 GMT"))
        );
        assert_eq!(
            time(0x18, b"20500301000000Z"),
            Some(at("Tue, 01 Mar 2050 00:00:00 GMT"))
        );
        assert_eq!(time(0x17, b"2501020304Z"), None, "too short");
        assert_eq!(time(0x17, b"251302030405Z"), None, "month 13");
        assert_eq!(time(0x17, b"25010203040+Z"), None, "not a digit");
        assert_eq!(time(0x04, b"250102030405Z"), None, "not a time");
    }

    #[test]
    fn reads_the_period_of_a_generated_certificate() {
        let mut params = rcgen::CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
        params.not_before = rcgen::date_time_ymd(2001, 2, 3);
        params.not_after = rcgen::date_time_ymd(2061, 4, 5);
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        let validity = of(cert.der()).unwrap();
        assert_eq!(validity.not_before, at("Sat, 03 Feb 2001 00:00:00 GMT"));
        assert_eq!(validity.not_after, at("Tue, 05 Apr 2061 00:00:00 GMT"));
    }

    #[test]
    fn truncated_or_garbage_input_is_none() {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["a.test".to_owned()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let der = cert.der().as_ref();
        for len in [0, 1, 2, 10, 50, der.len() / 2] {
            assert_eq!(of(&CertificateDer::from(&der[..len])), None, "{len}");
        }
        assert_eq!(
            of(&CertificateDer::from(&b"\x30\x84\xff\xff\xff\xff"[..])),
            None
        );
    }
}
