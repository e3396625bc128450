//! Listen addresses with an optional scheme: `127.0.0.1:8000` (HTTPS when a certificate is
//! configured, else plain HTTP), `http://[::]:80` (always plain), `https://0.0.0.0:443`
//! (always TLS). One list can so mix plaintext and TLS listeners.

use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;

use serde::de::{self, Deserialize, Deserializer};
use serde::{Serialize, Serializer};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ListenAddr {
    pub(crate) scheme: Scheme,
    pub(crate) addr: SocketAddr,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scheme {
    /// No scheme given: HTTPS if a certificate is configured.
    Auto,
    Http,
    Https,
}

impl ListenAddr {
    /// Whether this listener serves TLS, given whether a certificate is configured.
    pub(crate) fn is_tls(&self, have_certificate: bool) -> bool {
        match self.scheme {
            Scheme::Auto => have_certificate,
            Scheme::Http => false,
            Scheme::Https => true,
        }
    }
}

impl FromStr for ListenAddr {
    type Err = String;

    fn from_str(text: &str) -> Result<ListenAddr, String> {
        let text = text.trim();
        let (scheme, rest) = if let Some(rest) = text.strip_prefix("https://") {
            (Scheme::Https, rest)
        } else if let Some(rest) = text.strip_prefix("http://") {
            (Scheme::Http, rest)
        } else {
            (Scheme::Auto, text)
        };
        let addr = rest.trim_end_matches('/').parse().map_err(|_| {
            format!(
                "`{text}` is not an IP address with a port, optionally after http:// or https:// \
                 (e.g. 127.0.0.1:8000, [::]:8000 or https://0.0.0.0:8443)"
            )
        })?;
        Ok(ListenAddr { scheme, addr })
    }
}

impl fmt::Display for ListenAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.scheme {
            Scheme::Auto => write!(f, "{}", self.addr),
            Scheme::Http => write!(f, "http://{}", self.addr),
            Scheme::Https => write!(f, "https://{}", self.addr),
        }
    }
}

impl Serialize for ListenAddr {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ListenAddr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<ListenAddr, D::Error> {
        String::deserialize(d)?.parse().map_err(de::Error::custom)
    }
}

/// A list setting: a TOML array of strings, or one string of comma-separated items (as an
/// environment variable must be). `what` names one item for error messages.
pub(crate) fn comma_list<'de, D, T>(d: D, what: &str) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: FromStr,
    T::Err: fmt::Display,
{
    let parse = |text: &str| text.trim().parse::<T>().map_err(de::Error::custom);
    match toml::Value::deserialize(d)? {
        toml::Value::String(text) if text.trim().is_empty() => Ok(Vec::new()),
        toml::Value::String(text) => text.split(',').map(parse).collect(),
        toml::Value::Array(items) => items
            .iter()
            .map(|item| match item {
                toml::Value::String(text) => parse(text),
                other => Err(de::Error::custom(format!(
                    "expected {what} string, found {} `{other}`",
                    other.type_str()
                ))),
            })
            .collect(),
        other => Err(de::Error::custom(format!(
            "expected a list of {what}s, found {} `{other}`",
            other.type_str()
        ))),
    }
}

/// A socket address whose parse error says what is expected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Addr(pub(crate) SocketAddr);

impl FromStr for Addr {
    type Err = String;
    fn from_str(text: &str) -> Result<Addr, String> {
        text.trim().parse().map(Addr).map_err(|_| {
            format!(
                "`{}` is not an IP address with a port (e.g. 127.0.0.1:8000 or [::]:8000)",
                text.trim()
            )
        })
    }
}

impl fmt::Display for Addr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl Serialize for Addr {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// A file path that prints and parses as itself (for `tls_cert` and `tls_key` lists).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub(crate) struct FilePath(pub(crate) std::path::PathBuf);

impl FromStr for FilePath {
    type Err = String;
    fn from_str(text: &str) -> Result<FilePath, String> {
        if text.trim().is_empty() {
            return Err("a file path cannot be empty".to_owned());
        }
        Ok(FilePath(text.trim().into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schemes_parse_and_print_back() {
        for text in ["127.0.0.1:80", "http://[::]:80", "https://0.0.0.0:443"] {
            let addr: ListenAddr = text.parse().unwrap();
            assert_eq!(addr.to_string(), text);
        }
        let plain: ListenAddr = "http://127.0.0.1:1/".parse().unwrap();
        assert!(!plain.is_tls(true));
        let auto: ListenAddr = "127.0.0.1:1".parse().unwrap();
        assert!(auto.is_tls(true) && !auto.is_tls(false));
        let err = "ftp://1.2.3.4:5".parse::<ListenAddr>().unwrap_err();
        assert!(err.contains("https://"), "{err}");
    }
}
