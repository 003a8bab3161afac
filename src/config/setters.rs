//! The chainable setters of [`Config`], one per field, so that a program
//! builds a configuration as `Config::default().port(0).max_connections(100)`.
//!
//! They are apart from the struct because they carry no decisions: each
//! only stores its value. The reasons for the limits are on the fields, in
//! `mod.rs`, and what is checked across them is in `validate.rs`.

use std::path::PathBuf;
use std::time::Duration;

use super::{Config, Fsync};
use crate::auth::Secret;
use crate::metrics::MetricsToken;

// One macro for the setters that take their field's type as it is, so
// that adding a limit is one line here; the two that take `impl Into` are
// written out below.
macro_rules! setters {
    ($($(#[$doc:meta])* $name:ident: $ty:ty),* $(,)?) => {
        impl Config {
            $(
                $(#[$doc])*
                #[must_use]
                pub fn $name(mut self, value: $ty) -> Self {
                    self.$name = value;
                    self
                }
            )*
        }
    };
}

setters! {
    /// Sets [`Config::port`].
    port: u16,
    /// Sets [`Config::max_connections`].
    max_connections: usize,
    /// Sets [`Config::max_message_size`].
    max_message_size: usize,
    /// Sets [`Config::max_output_buffer`].
    max_output_buffer: usize,
    /// Sets [`Config::preauth_message_size`].
    preauth_message_size: usize,
    /// Sets [`Config::preauth_output_buffer`].
    preauth_output_buffer: usize,
    /// Sets [`Config::max_client_memory`].
    max_client_memory: usize,
    /// Sets [`Config::max_name_length`].
    max_name_length: usize,
    /// Sets [`Config::max_value_size`].
    max_value_size: usize,
    /// Sets [`Config::max_memory`].
    max_memory: usize,
    /// Sets [`Config::max_subscriptions`].
    max_subscriptions: usize,
    /// Sets [`Config::handshake_timeout`].
    handshake_timeout: Duration,
    /// Sets [`Config::idle_timeout`].
    idle_timeout: Duration,
    /// Sets [`Config::close_timeout`].
    close_timeout: Duration,
    /// Sets [`Config::history_len`].
    history_len: usize,
    /// Sets [`Config::history_bytes`].
    history_bytes: usize,
    /// Sets [`Config::max_prefix_snapshot`].
    max_prefix_snapshot: usize,
    /// Sets [`Config::start_revision`].
    start_revision: Option<u64>,
    /// Sets [`Config::secret`].
    secret: Option<Secret>,
    /// Sets [`Config::secret_file`] (see also [`Config::secret`]).
    secret_file: Option<PathBuf>,
    /// Sets [`Config::metrics_token`].
    metrics_token: Option<MetricsToken>,
    /// Sets [`Config::token_leeway`].
    token_leeway: Duration,
    /// Sets [`Config::insecure_open`].
    insecure_open: bool,
    /// Sets [`Config::allowed_origins`].
    allowed_origins: Vec<String>,
    /// Sets [`Config::allowed_hosts`].
    allowed_hosts: Vec<String>,
    /// Sets [`Config::data_dir`].
    data_dir: Option<PathBuf>,
    /// Sets [`Config::fsync`].
    fsync: Fsync,
    /// Sets [`Config::repair`].
    repair: bool,
    /// Sets [`Config::compact_min`].
    compact_min: usize,
    /// Sets [`Config::compact_factor`].
    compact_factor: usize,
    /// Sets [`Config::redis`].
    redis: Option<String>,
    /// Sets [`Config::redis_prefix`].
    redis_prefix: String,
    /// Sets [`Config::tls_cert`].
    tls_cert: Option<PathBuf>,
    /// Sets [`Config::tls_key`].
    tls_key: Option<PathBuf>,
}

impl Config {
    /// Serves TLS with the certificate chain in `cert` and its key in `key`
    /// (both PEM; see [`Config::tls_cert`]).
    #[must_use]
    pub fn tls(mut self, cert: impl Into<PathBuf>, key: impl Into<PathBuf>) -> Self {
        self.tls_cert = Some(cert.into());
        self.tls_key = Some(key.into());
        self
    }

    /// Sets [`Config::host`].
    #[must_use]
    pub fn host(mut self, host: impl Into<String>) -> Self {
        self.host = host.into();
        self
    }
}
