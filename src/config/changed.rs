//! [`Config::changed`]: the settings that differ from their defaults, for
//! the start-up log.
//!
//! Apart from the struct because it is presentation, not policy: it names
//! each setting by its command-line flag and writes sizes with units.

use super::Config;
use crate::units::{show_duration, show_size};

impl Config {
    /// The settings that differ from their defaults, as `name value` (the
    /// flag's name), for the start-up log.
    pub fn changed(&self) -> Vec<String> {
        let d = Config::default();
        let mut out = Vec::new();
        // Byte sizes with units as the flags take them (`64M`); counts as
        // plain numbers (2048 connections is not "2k").
        let sizes = [
            (
                "max-message-size",
                self.max_message_size,
                d.max_message_size,
            ),
            (
                "max-output-buffer",
                self.max_output_buffer,
                d.max_output_buffer,
            ),
            (
                "preauth-message-size",
                self.preauth_message_size,
                d.preauth_message_size,
            ),
            (
                "preauth-output-buffer",
                self.preauth_output_buffer,
                d.preauth_output_buffer,
            ),
            (
                "max-client-memory",
                self.max_client_memory,
                d.max_client_memory,
            ),
            ("max-value-size", self.max_value_size, d.max_value_size),
            ("max-memory", self.max_memory, d.max_memory),
            ("history-bytes", self.history_bytes, d.history_bytes),
            ("compact-min", self.compact_min, d.compact_min),
        ];
        for (name, v, dv) in sizes {
            if v != dv {
                out.push(format!("{name} {}", show_size(v)));
            }
        }
        let counts = [
            ("max-connections", self.max_connections, d.max_connections),
            ("max-name-length", self.max_name_length, d.max_name_length),
            (
                "max-subscriptions",
                self.max_subscriptions,
                d.max_subscriptions,
            ),
            ("history", self.history_len, d.history_len),
            (
                "max-prefix-snapshot",
                self.max_prefix_snapshot,
                d.max_prefix_snapshot,
            ),
            ("compact-factor", self.compact_factor, d.compact_factor),
        ];
        for (name, v, dv) in counts {
            if v != dv {
                out.push(format!("{name} {v}"));
            }
        }
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
            // `0` as the flags document it (it turns the timeout off).
            if v != dv && v.is_zero() {
                out.push(format!("{name} 0"));
            } else if v != dv {
                out.push(format!("{name} {}", show_duration(v)));
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::Config;

    #[test]
    fn sizes_carry_units_and_counts_do_not() {
        assert!(Config::default().changed().is_empty());
        let c = Config::default()
            .max_connections(2048)
            .max_memory(64 << 20)
            .max_value_size(1000)
            .idle_timeout(Duration::ZERO)
            .handshake_timeout(Duration::from_millis(2500));
        assert_eq!(
            c.changed(),
            [
                "max-value-size 1000",
                "max-memory 64M",
                "max-connections 2048",
                "handshake-timeout 2500ms",
                "idle-timeout 0",
            ]
        );
    }
}
