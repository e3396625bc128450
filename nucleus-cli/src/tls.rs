//! The TLS settings made into a [`nucleus_http::TlsConfig`]: certificate files, or a
//! certificate for localhost generated at start-up.

use nucleus_http::TlsConfig;

use crate::config::{Config, ConfigError};

/// `None` when no listener serves HTTPS. Errors name the file and what is wrong with it;
/// `main` exits with 2, before anything binds.
pub(crate) fn load(config: &Config) -> Result<Option<TlsConfig>, ConfigError> {
    if !config.serves_tls() {
        return Ok(None);
    }
    let mut builder = TlsConfig::builder()
        .handshake_timeout(config.tls_handshake_timeout.0)
        .hsts(config.hsts.0.map(|s| s.0));
    if config.tls_self_signed {
        let generated = self_signed()?;
        println!(
            "nucleus: self-signed certificate for localhost, 127.0.0.1 and ::1 (development \
             only); SHA-256 fingerprint {}",
            generated.fingerprint
        );
        builder = builder.cert_pem(generated.cert_pem, generated.key_pem);
    }
    for (cert, key) in config.tls_cert.iter().zip(&config.tls_key) {
        builder = builder.cert_files(&cert.0, &key.0);
    }
    let tls = builder
        .build()
        .map_err(|err| ConfigError::new(format!("TLS: {err}")))?;
    if let Some(every) = config.tls_reload_interval.0 {
        if !config.tls_cert.is_empty() {
            tls.reload_on_change(every.0);
        }
    }
    Ok(Some(tls))
}

struct Generated {
    cert_pem: String,
    key_pem: String,
    fingerprint: String,
}

fn self_signed() -> Result<Generated, ConfigError> {
    let fail =
        |err: rcgen::Error| ConfigError::new(format!("cannot generate a certificate: {err}"));
    let names = ["localhost", "127.0.0.1", "::1"]
        .map(str::to_owned)
        .to_vec();
    let params = rcgen::CertificateParams::new(names).map_err(fail)?;
    let key = rcgen::KeyPair::generate().map_err(fail)?;
    let cert = params.self_signed(&key).map_err(fail)?;
    Ok(Generated {
        fingerprint: fingerprint(cert.der()),
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}

/// `AB:CD:…`, as browsers and `openssl x509 -fingerprint -sha256` show it.
fn fingerprint(der: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, der);
    let hex: Vec<String> = digest.as_ref().iter().map(|b| format!("{b:02X}")).collect();
    hex.join(":")
}

#[cfg(test)]
mod tests {
    #[test]
    fn fingerprints_look_like_openssls() {
        let fp = super::fingerprint(b"abc");
        assert_eq!(fp.len(), 32 * 3 - 1);
        assert!(fp.starts_with("BA:78:16:BF"), "{fp}");
    }
}
