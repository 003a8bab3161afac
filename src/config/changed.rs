//! [`Config::changed`]: the settings that differ from their defaults, for
//! the start-up log.
//!
//! Apart from the struct because it is presentation, not policy: it names
//! each setting by its command-line flag and writes sizes with units.

use super::Config;

impl Config {
    /// The settings that differ from their defaults, as `name value` (the
    /// flag's name), for the start-up log.
    pub fn changed(&self) -> Vec<String> {
        let d = Config::default();
        let mut out = Vec::new();
        let mut size = |name: &str, v: usize, dv: usize| {
            if v != dv {
                out.push(format!("{name} {}", show_size(v)));
            }
        };
        size("max-connections", self.max_connections, d.max_connections);
        size(
            "max-message-size",
            self.max_message_size,
            d.max_message_size,
        );
        size(
            "max-output-buffer",
            self.max_output_buffer,
            d.max_output_buffer,
        );
        size(
            "preauth-message-size",
            self.preauth_message_size,
            d.preauth_message_size,
        );
        size(
            "preauth-output-buffer",
            self.preauth_output_buffer,
            d.preauth_output_buffer,
        );
        size(
            "max-client-memory",
            self.max_client_memory,
            d.max_client_memory,
        );
        size("max-name-length", self.max_name_length, d.max_name_length);
        size("max-value-size", self.max_value_size, d.max_value_size);
        size("max-memory", self.max_memory, d.max_memory);
        size(
            "max-subscriptions",
            self.max_subscriptions,
            d.max_subscriptions,
        );
        size("history", self.history_len, d.history_len);
        size("history-bytes", self.history_bytes, d.history_bytes);
        size(
            "max-prefix-snapshot",
            self.max_prefix_snapshot,
            d.max_prefix_snapshot,
        );
        size("compact-min", self.compact_min, d.compact_min);
        size("compact-factor", self.compact_factor, d.compact_factor);
        for (name, v, dv) in [
            (
                "handshake-timeout",
                self.handshake_timeout,
                d.handshake_timeout,
            ),
            ("idle-timeout", self.idle_timeout, d.idle_timeout),
            ("close-timeout", self.close_timeout, d.close_timeout),
            ("token-leeway", self.token_leeway, d.token_leeway),
        ] {
            if v != dv && v.is_zero() {
                out.push(format!("{name} 0"));
            } else if v != dv {
                out.push(format!("{name} {v:?}"));
            }
        }
        if !self.allowed_origins.is_empty() {
            out.push(format!("allow-origin {}", self.allowed_origins.join(",")));
        }
        if !self.allowed_hosts.is_empty() {
            out.push(format!("allow-host {}", self.allowed_hosts.join(",")));
        }
        out
    }
}

/// `n` bytes with the largest unit that divides it exactly (`64M`, `1040k`).
fn show_size(n: usize) -> String {
    for (unit, scale) in [("G", 1 << 30), ("M", 1 << 20), ("k", 1 << 10)] {
        if n >= scale && n.is_multiple_of(scale) {
            return format!("{}{unit}", n / scale);
        }
    }
    n.to_string()
}
