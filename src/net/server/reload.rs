//! Reloading, without a restart, what the configuration names in files:
//! the TLS certificate and key, and the secret file. Open connections keep what they started
//! with; new ones get what was reloaded.
//!
//! Each thing is reloaded on its own. One that fails is reported, logged at
//! error level, and keeps what it had, while the others still reload. To
//! add one: a method that returns `None` when it is not configured,
//! `Some(Ok(what the log says))` once the new one is in use, and
//! `Some(Err(why))` when it is not, noted in [`Server::reload`].

use std::io;

use log::{error, info};

use super::Server;
use crate::net::control::{Action, SignalPipe};

/// What one [`Server::reload`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Reload {
    /// What was read again and is in use now (`"TLS certificate"`,
    /// `"secret file"`), each
    /// with what the log said about it.
    pub reloaded: Vec<(&'static str, String)>,
    /// What could not be, with why; what was in use before stays in use.
    pub failed: Vec<(&'static str, String)>,
}

impl Reload {
    /// Whether nothing failed.
    pub fn is_ok(&self) -> bool {
        self.failed.is_empty()
    }

    fn note(&mut self, what: &'static str, outcome: Option<Result<String, String>>) {
        match outcome {
            None => {}
            Some(Ok(detail)) => {
                info!("reloaded the {what}: {detail}");
                self.reloaded.push((what, detail));
            }
            Some(Err(why)) => {
                error!("cannot reload the {what}: {why}; the one in use stays");
                self.failed.push((what, why));
            }
        }
    }
}

impl Server {
    /// Reads again what the configuration names in files, for the
    /// connections that open from now on: the TLS certificate chain and key
    /// ([`Config::tls_cert`](crate::Config::tls_cert),
    /// [`Config::tls_key`](crate::Config::tls_key)), so that a renewed
    /// certificate is served without a restart; and the secret file
    /// ([`Config::secret_file`](crate::Config::secret_file), see
    /// [`Server::reload_secret`]), so that a secret can be rotated. Open
    /// connections are not touched and keep working (an authenticated one
    /// keeps its grants until they expire).
    ///
    /// A file that is missing, unreadable or not usable (no certificate, a
    /// key that does not match) is refused: logged at error level, listed
    /// in [`Reload::failed`], and what was in use stays in use. Each thing
    /// reloaded is logged at info level.
    ///
    /// [`Server::reload_on_sighup`] calls it on SIGHUP, as `kvws` does; a
    /// program that embeds the server can call it whenever it likes.
    pub fn reload(&mut self) -> Reload {
        let mut report = Reload::default();
        report.note("TLS certificate", self.reload_tls());
        report.note("secret file", self.reload_secret_file());
        if report.reloaded.is_empty() && report.failed.is_empty() {
            info!("nothing to reload: neither a TLS certificate nor a secret file is configured");
        }
        report
    }

    /// Reloads (see [`Server::reload`]) on SIGHUP, the usual signal for a
    /// daemon to reread its files (systemd's `ExecReload`, `kill -HUP`).
    /// Without this, SIGHUP ends the process.
    pub fn reload_on_sighup(&mut self) -> io::Result<()> {
        self.route_signal(signal_hook::consts::SIGHUP, Action::Reload)
    }

    /// Routes `signal` to `action` through the signal pipe (made on first
    /// use).
    pub(super) fn route_signal(
        &mut self,
        signal: std::os::raw::c_int,
        action: Action,
    ) -> io::Result<()> {
        let pipe = match &mut self.signals {
            Some(pipe) => pipe,
            None => self
                .signals
                .insert(SignalPipe::new(self.poll.registry(), super::SIGNALS)?),
        };
        pipe.route(signal, action)
    }

    fn reload_tls(&mut self) -> Option<Result<String, String>> {
        #[cfg(feature = "tls")]
        if let (Some(cert), Some(key)) = (self.config.tls_cert.clone(), self.config.tls_key.clone())
        {
            return Some(crate::tls::server_config(&cert, &key).map(|loaded| {
                self.tls.install(loaded, &cert);
                self.tls.about().to_string()
            }));
        }
        None
    }
}
