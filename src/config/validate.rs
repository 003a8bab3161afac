//! [`Config::validate`]: the checks of limits that contradict each other
//! (a value larger than the largest message, an output queue smaller than
//! one reply, TLS half configured, cluster mode with a data directory).
//!
//! Apart from the struct so that the rules between the limits read in one
//! place; each limit's own reason stays on its field, in `mod.rs`.

use super::Config;

impl Config {
    /// Checks that the limits make sense together; [`Server::bind`](crate::Server::bind)
    /// calls it, so a bad configuration fails at start, not at the first client.
    pub fn validate(&self) -> Result<(), String> {
        let positive = [
            ("max-connections", self.max_connections),
            ("max-message-size", self.max_message_size),
            ("max-output-buffer", self.max_output_buffer),
            ("max-name-length", self.max_name_length),
            ("preauth-message-size", self.preauth_message_size),
            ("preauth-output-buffer", self.preauth_output_buffer),
            ("max-client-memory", self.max_client_memory),
            ("compact-factor", self.compact_factor),
        ];
        for (name, value) in positive {
            if value == 0 {
                return Err(format!("{name} must be at least 1"));
            }
        }
        // A `set` of the largest value must fit in one message: the value,
        // its id and key of the longest names, and the other fields.
        let envelope = 2 * self.max_name_length + 256;
        if self.max_value_size.saturating_add(envelope) > self.max_message_size {
            return Err(format!(
                "max-value-size ({}) with room for the message around it ({envelope} bytes for names \
                 of max-name-length {}) does not fit in max-message-size ({}): a value of the largest \
                 size could never be sent. Lower --max-value-size or raise --max-message-size",
                self.max_value_size, self.max_name_length, self.max_message_size
            ));
        }
        if self.max_output_buffer < self.max_message_size {
            // A reply can carry a whole stored value: the queue must hold one.
            return Err(format!(
                "max-output-buffer ({}) must be at least max-message-size ({})",
                self.max_output_buffer, self.max_message_size
            ));
        }
        if self.preauth_output_buffer < self.preauth_message_size {
            // An error reply echoes the request's `req`.
            return Err(format!(
                "preauth-output-buffer ({}) must be at least preauth-message-size ({})",
                self.preauth_output_buffer, self.preauth_message_size
            ));
        }
        for origin in &self.allowed_origins {
            if origin != "*" && !crate::net::origin::is_origin(origin) {
                return Err(format!(
                    "allow-origin '{origin}' is not an origin: give scheme://host[:port] \
                     (e.g. https://app.example.com) or *"
                ));
            }
        }
        if let Some(url) = &self.redis {
            self.validate_cluster(url)?;
        }
        match (&self.tls_cert, &self.tls_key) {
            (None, None) => {}
            (Some(_), None) | (None, Some(_)) => {
                return Err("--tls-cert and --tls-key go together: give both, or neither".into());
            }
            _ if cfg!(not(feature = "tls")) => {
                return Err("--tls-cert: this build has no TLS (the `tls` cargo feature)".into());
            }
            _ => {}
        }
        for host in &self.allowed_hosts {
            if !crate::net::origin::is_host_pattern(host) {
                return Err(format!(
                    "allow-host '{host}' is not a host name: give a name (kv.example.com), \
                     .example.com for its subdomains, or *"
                ));
            }
        }
        Ok(())
    }

    fn validate_cluster(&self, url: &str) -> Result<(), String> {
        if self.data_dir.is_some() {
            return Err(
                "--data-dir and --redis do not go together: in cluster mode the data \
                 lives in Redis (use its persistence: appendonly yes)"
                    .into(),
            );
        }
        // Any bytes would do in a Redis key; a short printable prefix keeps
        // the keys readable in redis-cli.
        let prefix = &self.redis_prefix;
        if prefix.is_empty() || prefix.len() > 64 || !prefix.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(format!(
                "redis-prefix '{prefix}' must be 1 to 64 printable characters without spaces"
            ));
        }
        #[cfg(feature = "cluster")]
        return crate::cluster::RedisUrl::parse(url)
            .map(drop)
            .map_err(|e| format!("--redis: {e}"));
        #[cfg(not(feature = "cluster"))]
        {
            let _ = url;
            Err("--redis: this build has no cluster mode (the `cluster` cargo feature)".into())
        }
    }
}
