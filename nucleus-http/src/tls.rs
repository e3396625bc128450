//! HTTPS: certificates from PEM, chosen by SNI, reloadable without a restart.
//!
//! rustls with the *ring* provider, TLS 1.3 and 1.2 only, rustls' default cipher suites (all
//! AEAD with forward secrecy) in the server's order of preference, ALPN `h2` and `http/1.1`,
//! and session resumption by tickets (TLS 1.3 and 1.2) and by session id (TLS 1.2).

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant, SystemTime};

use http::HeaderValue;
use rustls::crypto::ring as provider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

mod random;
mod ticketer;
mod validity;

/// Certificates and settings for HTTPS listeners ([`Builder::listen_tls`](crate::Builder::listen_tls)).
///
/// Cheap to clone: clones share the certificates, so [`TlsConfig::reload`] on any clone
/// changes what every listener using it presents.
///
/// # Examples
///
/// ```no_run
/// use std::time::Duration;
/// use nucleus_http::{Server, TlsConfig};
///
/// let tls = TlsConfig::builder()
///     .cert_files("example.com.pem", "example.com.key")
///     .cert_files("example.org.pem", "example.org.key") // chosen by SNI
///     .hsts(Some(Duration::from_secs(365 * 24 * 3600)))
///     .build()?;
/// let server = Server::builder()
///     .listen_tls("0.0.0.0:443".parse().unwrap(), tls.clone())
///     .listen_redirect("0.0.0.0:80".parse().unwrap(), 443)
///     .bind()?;
/// tls.reload_on_change(std::time::Duration::from_secs(10)); // or call `tls.reload()` on SIGHUP
/// # drop(server);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct TlsConfig {
    inner: Arc<Inner>,
}

struct Inner {
    sources: Vec<Source>,
    store: RwLock<Arc<Store>>,
    handshake_timeout: Duration,
    hsts: Option<HeaderValue>,
    /// Set by [`TlsConfig::reload_on_change`].
    watch: Mutex<Option<Watch>>,
}

/// When to look at the files next, and what they looked like last time.
struct Watch {
    every: Duration,
    seen: Vec<Option<SystemTime>>,
    next: Instant,
}

/// Where one certificate chain and its key come from.
#[derive(Clone)]
enum Source {
    Files { cert: PathBuf, key: PathBuf },
    Pem { cert: Vec<u8>, key: Vec<u8> },
}

/// The loaded certificates, indexed by the DNS names they are valid for.
#[derive(Debug)]
struct Store {
    exact: HashMap<String, Arc<CertifiedKey>>,
    /// `*.example.com` is stored under `example.com`.
    wildcard: HashMap<String, Arc<CertifiedKey>>,
    /// The first certificate: for clients that send no SNI (or a name nothing matches).
    default: Arc<CertifiedKey>,
}

/// Builds a [`TlsConfig`].
#[derive(Clone, Default)]
pub struct TlsBuilder {
    sources: Vec<Source>,
    handshake_timeout: Option<Duration>,
    hsts: Option<Duration>,
}

/// Why certificates could not be loaded. The message names the file and what is wrong with it.
#[derive(Debug)]
pub struct TlsError {
    message: String,
}

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for TlsError {}

impl From<TlsError> for std::io::Error {
    fn from(err: TlsError) -> std::io::Error {
        std::io::Error::new(std::io::ErrorKind::InvalidInput, err.message)
    }
}

/// *ring*'s algorithms, with random bytes from a per-thread generator instead of a system
/// call each (`tls/random.rs`).
fn crypto_provider() -> rustls::crypto::CryptoProvider {
    rustls::crypto::CryptoProvider {
        secure_random: &random::ThreadRandom,
        ..provider::default_provider()
    }
}

fn fail(message: String) -> TlsError {
    TlsError { message }
}

/// Default for [`TlsBuilder::handshake_timeout`]: a handshake is two round trips, so 10 s
/// is generous even on a bad mobile link, and it bounds what a client that connects and
/// says nothing (or trickles its ClientHello) can hold.
const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

impl TlsBuilder {
    /// Adds a certificate chain (PEM, leaf first) and its private key (PEM: PKCS#8, PKCS#1
    /// or SEC1). The first pair added is the default for clients without SNI; the others are
    /// chosen by the names (subjectAltName DNS entries, wildcards included) they are valid for.
    pub fn cert_files(mut self, cert: impl Into<PathBuf>, key: impl Into<PathBuf>) -> TlsBuilder {
        self.sources.push(Source::Files {
            cert: cert.into(),
            key: key.into(),
        });
        self
    }

    /// Like [`TlsBuilder::cert_files`], from PEM text in memory (a generated certificate,
    /// a secret store). [`TlsConfig::reload`] keeps these as they are.
    pub fn cert_pem(mut self, cert: impl Into<Vec<u8>>, key: impl Into<Vec<u8>>) -> TlsBuilder {
        self.sources.push(Source::Pem {
            cert: cert.into(),
            key: key.into(),
        });
        self
    }

    /// Longest time from accept to a finished handshake; then the connection is closed.
    /// Default 10 s. Accurate to about a quarter of a second, like the header and idle
    /// timeouts (it runs on the same coarse timer).
    pub fn handshake_timeout(mut self, timeout: Duration) -> TlsBuilder {
        self.handshake_timeout = Some(timeout);
        self
    }

    /// Sends `Strict-Transport-Security: max-age=N` on every HTTPS response that does not set
    /// it itself (never over plain HTTP, RFC 6797 §7.2). Default `None`: HSTS is a promise
    /// that is hard to take back, so it is the operator's to make.
    pub fn hsts(mut self, max_age: Option<Duration>) -> TlsBuilder {
        self.hsts = max_age;
        self
    }

    /// Loads every certificate and key now.
    ///
    /// # Errors
    ///
    /// A message naming the file for: a missing or unreadable file, no certificate or no key
    /// in it, a malformed or unsupported key, a key that does not match its certificate. No
    /// certificate at all is an error too. An expired (or not yet valid) certificate is
    /// loaded with a warning in the log: refusing to start would turn a renewal that came a
    /// day late into an outage.
    pub fn build(self) -> Result<TlsConfig, TlsError> {
        let store = Store::load(&self.sources)?;
        let hsts = self
            .hsts
            .map(|age| HeaderValue::try_from(format!("max-age={}", age.as_secs())))
            .transpose()
            .map_err(|_| fail("invalid HSTS max-age".into()))?;
        Ok(TlsConfig {
            inner: Arc::new(Inner {
                sources: self.sources,
                store: RwLock::new(Arc::new(store)),
                handshake_timeout: self.handshake_timeout.unwrap_or(DEFAULT_HANDSHAKE_TIMEOUT),
                hsts,
                watch: Mutex::new(None),
            }),
        })
    }
}

impl TlsConfig {
    /// A builder with no certificates, a 10 s handshake timeout and no HSTS.
    pub fn builder() -> TlsBuilder {
        TlsBuilder::default()
    }

    /// Reads every certificate file again and, if all of them load, swaps them in for new
    /// handshakes. Connections already open keep theirs: nothing is dropped. On an error the
    /// certificates in use stay.
    ///
    /// # Errors
    ///
    /// As [`TlsBuilder::build`].
    pub fn reload(&self) -> Result<(), TlsError> {
        let store = Store::load(&self.inner.sources)?;
        *self
            .inner
            .store
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Arc::new(store);
        tracing::info!(
            certificates = self.inner.sources.len(),
            "TLS certificates reloaded"
        );
        Ok(())
    }

    /// Reloads (as [`TlsConfig::reload`]) whenever a certificate or key file's modification
    /// time changes, checked every `every` (at least 100 ms) while a [`crate::Server`] that
    /// serves this config runs: by its worker when it has one (no thread for it, see
    /// [`crate::Server::run`]), else on a thread of the server's. Call it before the server
    /// runs. A failed reload is logged and keeps the old certificates; the next change tries
    /// again. Polling rather than inotify: it works on every platform and with Kubernetes
    /// secret volumes (which swap a symlink), and a check every few seconds costs nothing.
    pub fn reload_on_change(&self, every: Duration) {
        // A zero interval would spin on `stat` calls.
        let every = every.max(MIN_RELOAD_CHECK);
        *self.watch() = Some(Watch {
            every,
            seen: modified_times(&self.inner.sources),
            next: Instant::now() + every,
        });
    }

    fn watch(&self) -> std::sync::MutexGuard<'_, Option<Watch>> {
        self.inner
            .watch
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The interval [`TlsConfig::reload_on_change`] set, if it was called.
    pub(crate) fn watched_every(&self) -> Option<Duration> {
        self.watch().as_ref().map(|watch| watch.every)
    }

    /// Whether the files changed since the last look; looks (two `stat` calls a certificate)
    /// only once a check is due, so it may be called as often as convenient.
    pub(crate) fn files_changed(&self, now: Instant) -> bool {
        let mut watch = self.watch();
        let Some(watch) = watch.as_mut() else {
            return false;
        };
        if now < watch.next {
            return false;
        }
        watch.next = now + watch.every;
        let current = modified_times(&self.inner.sources);
        if current == watch.seen {
            return false;
        }
        watch.seen = current;
        true
    }

    /// [`TlsConfig::reload`], with a failure logged.
    pub(crate) fn reload_or_log(&self) {
        if let Err(err) = self.reload() {
            tracing::error!(error = %err, "TLS reload failed; keeping the certificates in use");
        }
    }

    /// Whether this is the last clone.
    pub(crate) fn held_only_here(&self) -> bool {
        Arc::strong_count(&self.inner) == 1
    }

    /// Whether `other` is a clone of this config.
    pub(crate) fn same_as(&self, other: &TlsConfig) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    /// The handshake timeout in force.
    pub fn handshake_timeout(&self) -> Duration {
        self.inner.handshake_timeout
    }

    pub(crate) fn hsts(&self) -> Option<&HeaderValue> {
        self.inner.hsts.as_ref()
    }

    /// A rustls server configuration over these certificates; `h2` in ALPN when HTTP/2 is on.
    pub(crate) fn server_config(&self, http2: bool) -> Result<rustls::ServerConfig, TlsError> {
        let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(crypto_provider()))
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .map_err(|err| fail(format!("TLS setup failed: {err}")))?
            .with_no_client_auth()
            .with_cert_resolver(Arc::new(Resolver(self.inner.clone())));
        // The server's cipher suite order, not the client's: *ring*'s default list, all AEAD
        // with forward secrecy (TLS 1.3: AES-256-GCM, AES-128-GCM, ChaCha20-Poly1305).
        config.ignore_client_order = true;
        config.alpn_protocols = if http2 {
            vec![b"h2".to_vec(), b"http/1.1".to_vec()]
        } else {
            vec![b"http/1.1".to_vec()]
        };
        // Stateless resumption: tickets encrypted with keys that rotate every 6 hours.
        config.ticketer = ticketer::new()
            .map_err(|err| fail(format!("cannot create the session ticket key: {err}")))?;
        Ok(config)
    }
}

impl fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsConfig")
            .field("certificates", &self.inner.sources.len())
            .field("handshake_timeout", &self.inner.handshake_timeout)
            .field("hsts", &self.inner.hsts)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for TlsBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsBuilder")
            .field("certificates", &self.sources.len())
            .finish_non_exhaustive()
    }
}

/// The shortest interval [`TlsConfig::reload_on_change`] checks at.
const MIN_RELOAD_CHECK: Duration = Duration::from_millis(100);

fn modified_times(sources: &[Source]) -> Vec<Option<SystemTime>> {
    let mtime = |path: &Path| std::fs::metadata(path).and_then(|m| m.modified()).ok();
    sources
        .iter()
        .flat_map(|source| match source {
            Source::Files { cert, key } => [mtime(cert), mtime(key)],
            Source::Pem { .. } => [None, None],
        })
        .collect()
}

/// Picks the certificate for each handshake from the current [`Store`].
struct Resolver(Arc<Inner>);

impl fmt::Debug for Resolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Resolver").finish_non_exhaustive()
    }
}

impl ResolvesServerCert for Resolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let store = self
            .0
            .store
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        Some(store.pick(hello.server_name()).clone())
    }
}

impl Store {
    fn load(sources: &[Source]) -> Result<Store, TlsError> {
        let mut exact = HashMap::new();
        let mut wildcard = HashMap::new();
        let mut default = None;
        for (i, source) in sources.iter().enumerate() {
            let (key, names) = load_pair(source, i)?;
            let key = Arc::new(key);
            for name in names {
                let name = name.to_ascii_lowercase();
                match name.strip_prefix("*.") {
                    Some(parent) => wildcard.entry(parent.to_owned()),
                    None => exact.entry(name),
                }
                .or_insert_with(|| key.clone());
            }
            default.get_or_insert(key);
        }
        let default = default.ok_or_else(|| fail("no TLS certificate configured".into()))?;
        Ok(Store {
            exact,
            wildcard,
            default,
        })
    }

    /// Exact name, then a wildcard one level up (RFC 6125 §6.4.3), then the default.
    fn pick(&self, server_name: Option<&str>) -> &Arc<CertifiedKey> {
        let Some(name) = server_name else {
            return &self.default;
        };
        let name = name.to_ascii_lowercase();
        if let Some(key) = self.exact.get(&name) {
            return key;
        }
        name.split_once('.')
            .and_then(|(_, parent)| self.wildcard.get(parent))
            .unwrap_or(&self.default)
    }
}

/// A PEM parse error in words: `rustls-pki-types` prints the block's label as a list of bytes.
fn pem_problem(err: &rustls::pki_types::pem::Error) -> String {
    use rustls::pki_types::pem::Error as Pem;
    match err {
        Pem::MissingSectionEnd { end_marker } => format!(
            "no `-----END {}-----` line (the file looks cut short)",
            String::from_utf8_lossy(end_marker)
        ),
        Pem::IllegalSectionStart { line } => {
            format!("malformed BEGIN line `{}`", String::from_utf8_lossy(line))
        }
        other => other.to_string(),
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

/// Loads one chain and key; returns them with the DNS names the leaf is valid for.
fn load_pair(source: &Source, index: usize) -> Result<(CertifiedKey, Vec<String>), TlsError> {
    let (cert_pem, key_pem, cert_name, key_name) = match source {
        Source::Files { cert, key } => (
            read(cert, "certificate")?,
            read(key, "private key")?,
            cert.display().to_string(),
            key.display().to_string(),
        ),
        Source::Pem { cert, key } => (
            cert.clone(),
            key.clone(),
            format!("certificate #{}", index + 1),
            format!("private key #{}", index + 1),
        ),
    };
    let chain = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|err| {
            let err = pem_problem(&err);
            fail(format!("{cert_name}: malformed PEM certificate: {err}"))
        })?;
    let Some(leaf) = chain.first() else {
        return Err(fail(format!(
            "{cert_name}: no certificate found (expected a PEM \"BEGIN CERTIFICATE\" block)"
        )));
    };
    let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|err| {
        if contains(&key_pem, b"-----BEGIN ENCRYPTED PRIVATE KEY-----") {
            return fail(format!(
                "{key_name}: the private key is encrypted, which is not supported; decrypt it \
                 (e.g. `openssl pkey -in KEY -out KEY.plain`) and keep the file private"
            ));
        }
        let err = pem_problem(&err);
        fail(format!(
            "{key_name}: no private key found (expected a PEM PKCS#8, PKCS#1 or SEC1 key): {err}"
        ))
    })?;
    let end_entity = webpki::EndEntityCert::try_from(leaf)
        .map_err(|err| fail(format!("{cert_name}: malformed certificate: {err}")))?;
    let names: Vec<String> = end_entity.valid_dns_names().map(str::to_owned).collect();
    match validity::of(leaf) {
        Some(validity) => validity.warn_if_outside(SystemTime::now(), &cert_name),
        None => {
            tracing::warn!(certificate = %cert_name, "cannot read the certificate's validity period")
        }
    }
    let signing_key = provider::sign::any_supported_type(&key).map_err(|err| {
        fail(format!(
            "{key_name}: unsupported or malformed private key: {err}"
        ))
    })?;
    let certified = CertifiedKey::new(chain, signing_key);
    if let Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch)) =
        certified.keys_match()
    {
        return Err(fail(format!(
            "{key_name} does not match the certificate in {cert_name}"
        )));
    }
    Ok((certified, names))
}

fn read(path: &Path, what: &str) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path)
        .map_err(|err| fail(format!("cannot read {what} file {}: {err}", path.display())))
}
