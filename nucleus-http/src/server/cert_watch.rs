//! The certificate files a server watches ([`crate::TlsConfig::reload_on_change`]): looked at
//! on a one-worker server's housekeeping tick, else on a thread of their own.

use super::protocol::Scheme;

/// The watched configs of one server's listeners, each once.
#[derive(Debug, Default)]
pub(super) struct Watches {
    #[cfg(feature = "tls")]
    configs: Vec<crate::TlsConfig>,
}

impl Watches {
    pub(super) fn of<'a>(schemes: impl IntoIterator<Item = &'a Scheme>) -> Watches {
        #[cfg(feature = "tls")]
        {
            let mut configs: Vec<crate::TlsConfig> = Vec::new();
            for scheme in schemes {
                if let Scheme::Https(acceptor) = scheme {
                    let tls = acceptor.tls();
                    if tls.watched_every().is_some() && !configs.iter().any(|c| c.same_as(tls)) {
                        configs.push(tls.clone());
                    }
                }
            }
            Watches { configs }
        }
        #[cfg(not(feature = "tls"))]
        {
            let _ = schemes.into_iter();
            Watches {}
        }
    }

    /// One look, from a worker: what changed is reloaded off the worker (reading and checking
    /// the files takes milliseconds).
    pub(super) fn look_from_worker(&self) {
        #[cfg(feature = "tls")]
        {
            let now = std::time::Instant::now();
            for tls in &self.configs {
                if tls.files_changed(now) {
                    let tls = tls.clone();
                    drop(tokio::task::spawn_blocking(move || tls.reload_or_log()));
                }
            }
        }
    }

    /// Looks on a thread of their own, which ends once nothing else holds the configs.
    pub(super) fn look_from_thread(mut self) {
        #[cfg(feature = "tls")]
        {
            let Some(every) = self.configs.iter().filter_map(|c| c.watched_every()).min() else {
                return;
            };
            let spawned = std::thread::Builder::new()
                .name("nucleus-tls-watch".into())
                .spawn(move || loop {
                    std::thread::sleep(every);
                    self.configs.retain(|tls| !tls.held_only_here());
                    if self.configs.is_empty() {
                        return;
                    }
                    let now = std::time::Instant::now();
                    for tls in &self.configs {
                        if tls.files_changed(now) {
                            tls.reload_or_log();
                        }
                    }
                });
            if let Err(err) = spawned {
                tracing::error!(error = %err, "cannot start the certificate watcher; reload with SIGHUP");
            }
        }
    }
}
