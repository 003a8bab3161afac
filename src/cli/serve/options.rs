//! The option table of `kvws serve`: every flag, its help line and the
//! default it shows, read from [`Config::default`] so that the help can
//! never disagree with what the server does.
//!
//! Apart from reading the options (`config.rs`) because the table is long
//! and only describes; nothing here decides a value.

use getopts::Options;

use crate::Config;
use crate::units::{show_duration, show_size};

/// Every option `kvws [serve]` accepts, in the order `--help` lists them.
pub(super) fn options() -> Options {
    let d = Config::default();
    let mut o = Options::new();
    o.optflag("h", "help", "print this help and exit");
    o.optflag("V", "version", "print the version and exit");
    o.optopt(
        "",
        "host",
        &format!("address to bind (default {})", d.host),
        "HOST",
    );
    o.optopt(
        "p",
        "port",
        &format!("port; 0 picks a free one (default {})", d.port),
        "PORT",
    );
    o.optopt(
        "l",
        "log-level",
        "error, warn, info, debug or trace (default info)",
        "LEVEL",
    );
    let count = |o: &mut Options, name: &str, help: &str, default: usize| {
        o.optopt("", name, &format!("{help} (default {default})"), "N");
    };
    let size = |o: &mut Options, name: &str, help: &str, default: usize| {
        o.optopt(
            "",
            name,
            &format!("{help} (default {})", show_size(default)),
            "BYTES",
        );
    };
    count(
        &mut o,
        "max-connections",
        "most connections at once; more get 503",
        d.max_connections,
    );
    size(
        &mut o,
        "max-message-size",
        "largest message; larger closes with 1009",
        d.max_message_size,
    );
    size(
        &mut o,
        "max-output-buffer",
        "most bytes queued for a client; more closes it with 1008",
        d.max_output_buffer,
    );
    size(
        &mut o,
        "max-client-memory",
        "most bytes all clients' queues and unfinished messages may hold; past it the largest is closed (1013)",
        d.max_client_memory,
    );
    size(
        &mut o,
        "preauth-message-size",
        "with --secret-file: largest message before a client authenticates",
        d.preauth_message_size,
    );
    size(
        &mut o,
        "preauth-output-buffer",
        "with --secret-file: most bytes queued for a client before it authenticates",
        d.preauth_output_buffer,
    );
    size(
        &mut o,
        "max-value-size",
        "largest value a set may store",
        d.max_value_size,
    );
    size(
        &mut o,
        "max-memory",
        "most bytes the store may hold; more gets store_full",
        d.max_memory,
    );
    count(
        &mut o,
        "max-name-length",
        "longest id, key or prefix in bytes",
        d.max_name_length,
    );
    count(
        &mut o,
        "max-subscriptions",
        "most subscriptions per connection",
        d.max_subscriptions,
    );
    count(
        &mut o,
        "history",
        "changes kept for subscribe with since",
        d.history_len,
    );
    size(
        &mut o,
        "history-bytes",
        "bytes of changes kept for since",
        d.history_bytes,
    );
    count(
        &mut o,
        "max-prefix-snapshot",
        "most keys a prefix subscription sends",
        d.max_prefix_snapshot,
    );
    let duration = |o: &mut Options, name: &str, help: &str, default| {
        o.optopt(
            "",
            name,
            &format!("{help} (default {})", show_duration(default)),
            "TIME",
        );
    };
    duration(
        &mut o,
        "handshake-timeout",
        "time to send the HTTP request head (with TLS, the handshake too)",
        d.handshake_timeout,
    );
    duration(
        &mut o,
        "close-timeout",
        "time to finish closing",
        d.close_timeout,
    );
    duration(
        &mut o,
        "idle-timeout",
        "silence after which a client is closed (pinged at half of it); 0 turns it off",
        d.idle_timeout,
    );
    o.optopt(
        "",
        "secret-file",
        "file holding the token secrets, one a line (each at least 32 bytes; mode 600): the first signs, all verify; turns authentication on",
        "PATH",
    );
    o.optopt(
        "",
        "metrics-token",
        "file holding a bearer token (mode 600) that /metrics requires from every scraper; without it /metrics is served to loopback peers only",
        "PATH",
    );
    duration(
        &mut o,
        "token-leeway",
        "clock difference tolerated on token expiry",
        d.token_leeway,
    );
    o.optmulti(
        "",
        "allow-origin",
        "also accept browser pages from ORIGIN (scheme://host[:port], or *); repeatable",
        "ORIGIN",
    );
    o.optmulti(
        "",
        "allow-host",
        "also answer requests for host NAME (.domain for its subdomains, or *); without authentication only IP addresses and localhost are answered; repeatable",
        "NAME",
    );
    #[cfg(feature = "tls")]
    o.optopt(
        "",
        "tls-cert",
        "serve TLS (https://, wss://) with the certificate chain in FILE (PEM, the server's first); reread on SIGHUP",
        "FILE",
    );
    #[cfg(feature = "tls")]
    o.optopt(
        "",
        "tls-key",
        "the private key of --tls-cert (PEM); reread on SIGHUP",
        "FILE",
    );
    o.optflag(
        "",
        "insecure-open",
        "serve without authentication on a non-loopback address",
    );
    o.optopt(
        "",
        "data-dir",
        "keep the data in DIR across restarts (default: in memory only)",
        "DIR",
    );
    o.optopt(
        "",
        "fsync",
        "with --data-dir: always (a reply means on disk), everysec (default; a power cut loses at most ~1 s) or never",
        "WHEN",
    );
    o.optflag(
        "",
        "repair",
        "with --data-dir: cut a damaged log at its first bad record instead of refusing to start",
    );
    size(
        &mut o,
        "compact-min",
        "with --data-dir: logs smaller than this are not compacted",
        d.compact_min,
    );
    count(
        &mut o,
        "compact-factor",
        "with --data-dir: compact when the logs exceed this many times the data",
        d.compact_factor,
    );
    o.optopt(
        "",
        "redis",
        "cluster mode: share one store with every node on the Redis at URL, redis://[[user]:password@]host[:port][/db] (also KVWS_REDIS_URL, which keeps a password out of the process list)",
        "URL",
    );
    o.optopt(
        "",
        "start-revision",
        "a new store's first change gets revision N+1 (default: the clock in microseconds, so that revisions outgrow those of an earlier store)",
        "N",
    );
    o.optopt(
        "",
        "redis-prefix",
        &format!(
            "with --redis: prefix of every Redis key used, to keep stores apart (default {})",
            d.redis_prefix
        ),
        "PREFIX",
    );
    o
}
