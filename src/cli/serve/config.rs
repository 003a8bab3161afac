//! Turning the parsed options of `kvws serve` into a [`Config`]: each value
//! read with the parser its kind needs (a count, a size with units, a
//! duration), the secret and metrics token read from their files, and the
//! result checked with [`Config::validate`] before the server binds.

use getopts::Matches;

use std::path::Path;

use crate::Config;
use crate::auth::Secret;
use crate::metrics::MetricsToken;
use crate::units::{parse_duration, parse_size};

/// Builds the configuration from parsed options.
pub(super) fn config(m: &Matches) -> Result<Config, String> {
    let mut c = Config::default();
    let get = |name: &str| m.opt_str(name);
    let count = |name: &str, current: usize| -> Result<usize, String> {
        get(name).map_or(Ok(current), |v| {
            v.parse()
                .map_err(|_| format!("--{name}: '{v}' is not a number"))
        })
    };
    let size = |name: &str, current: usize| -> Result<usize, String> {
        get(name).map_or(Ok(current), |v| {
            parse_size(&v).map_err(|e| format!("--{name}: {e}"))
        })
    };
    let duration = |name: &str, current| {
        get(name).map_or(Ok(current), |v| {
            parse_duration(&v).map_err(|e| format!("--{name}: {e}"))
        })
    };
    if let Some(host) = get("host") {
        c.host = host;
    }
    if let Some(port) = get("port") {
        c.port = port
            .parse()
            .map_err(|_| format!("--port: '{port}' is not a port number"))?;
    }
    c.max_connections = count("max-connections", c.max_connections)?;
    c.max_message_size = size("max-message-size", c.max_message_size)?;
    c.max_output_buffer = size("max-output-buffer", c.max_output_buffer)?;
    c.max_client_memory = size("max-client-memory", c.max_client_memory)?;
    c.preauth_message_size = size("preauth-message-size", c.preauth_message_size)?;
    c.preauth_output_buffer = size("preauth-output-buffer", c.preauth_output_buffer)?;
    c.max_value_size = size("max-value-size", c.max_value_size)?;
    c.max_memory = size("max-memory", c.max_memory)?;
    c.max_name_length = count("max-name-length", c.max_name_length)?;
    c.max_subscriptions = count("max-subscriptions", c.max_subscriptions)?;
    c.history_len = count("history", c.history_len)?;
    c.history_bytes = size("history-bytes", c.history_bytes)?;
    c.max_prefix_snapshot = count("max-prefix-snapshot", c.max_prefix_snapshot)?;
    c.handshake_timeout = duration("handshake-timeout", c.handshake_timeout)?;
    c.close_timeout = duration("close-timeout", c.close_timeout)?;
    c.idle_timeout = duration("idle-timeout", c.idle_timeout)?;
    c.token_leeway = duration("token-leeway", c.token_leeway)?;
    if let Some(path) = get("secret-file") {
        c.secret = Some(Secret::from_file(Path::new(&path))?);
        c.secret_file = Some(path.into());
    }
    if let Some(path) = get("metrics-token") {
        c.metrics_token = Some(MetricsToken::from_file(Path::new(&path))?);
    }
    c.allowed_origins = m.opt_strs("allow-origin");
    c.allowed_hosts = m.opt_strs("allow-host");
    c.insecure_open = m.opt_present("insecure-open");
    #[cfg(feature = "tls")]
    {
        c.tls_cert = get("tls-cert").map(Into::into);
        c.tls_key = get("tls-key").map(Into::into);
    }
    c.data_dir = get("data-dir").map(Into::into);
    if let Some(when) = get("fsync") {
        c.fsync = when.parse().map_err(|e| format!("--fsync: {e}"))?;
    }
    c.repair = m.opt_present("repair");
    c.compact_min = size("compact-min", c.compact_min)?;
    c.compact_factor = count("compact-factor", c.compact_factor)?;
    c.redis = get("redis").or_else(|| {
        std::env::var("KVWS_REDIS_URL")
            .ok()
            .filter(|u| !u.is_empty())
    });
    if let Some(n) = get("start-revision") {
        let n = n
            .parse()
            .map_err(|_| format!("--start-revision: '{n}' is not a number"))?;
        c.start_revision = Some(n);
    }
    if let Some(prefix) = get("redis-prefix") {
        c.redis_prefix = prefix;
    }
    c.validate()?;
    Ok(c)
}
