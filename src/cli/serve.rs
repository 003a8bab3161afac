//! `kvws [serve]`: run the server as a daemon until SIGINT or SIGTERM;
//! SIGHUP reloads what it reads from files (see `Server::reload`).

use getopts::{Matches, Options};
use log::{LevelFilter, info, warn};

use std::path::Path;

use crate::auth::Secret;
use crate::metrics::MetricsToken;
use crate::units::{parse_duration, parse_size, show_duration, show_size};
use crate::{Config, Server};

fn options() -> Options {
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

/// Builds the configuration from parsed options.
fn config(m: &Matches) -> Result<Config, String> {
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

fn log_level(m: &Matches) -> Result<LevelFilter, String> {
    let level = m.opt_str("log-level").unwrap_or_else(|| "info".into());
    level.parse().map_err(|_| {
        format!("--log-level: '{level}' is not one of error, warn, info, debug, trace")
    })
}

/// Runs the server; returns the process exit code. `name` is the command
/// as typed (`kvws` or `kvws serve`), for usage messages.
pub fn run(program: &str, name: &str, args: &[String]) -> i32 {
    let opts = options();
    let m = match super::parse_args(name, &opts, args, |o| {
        o.usage(&format!(
            "Usage: {program} [serve] [OPTIONS]\n       \
             {program} COMMAND ... ('{program} help COMMAND' for each)\n\n\
             A key-value store with real-time subscriptions over WebSockets.\n\n\
             Commands:\n{}\n\
             Without a command (or with 'serve') it runs the server, with these options.\n\
             Sizes take k, M, G suffixes; times take ms, s, m, h.",
            super::command_list()
        ))
    }) {
        Ok(m) => m,
        Err(code) => return code,
    };
    if m.opt_present("version") {
        println!("kvws {}", env!("CARGO_PKG_VERSION"));
        return 0;
    }
    if let Some(extra) = m.free.first() {
        return super::usage_error(name, &format!("unexpected argument '{extra}'"));
    }
    let (config, level) = match config(&m).and_then(|c| Ok((c, log_level(&m)?))) {
        Ok(pair) => pair,
        Err(e) => return super::usage_error(name, &e),
    };
    let _ = simple_logger::SimpleLogger::new()
        .with_level(level)
        // Our own debug and trace lines are the useful ones.
        .with_module_level("tungstenite", LevelFilter::Warn)
        .with_module_level("mio", LevelFilter::Warn)
        .init();
    raise_fd_limit(config.max_connections);
    let mut server = match Server::bind(config) {
        Ok(server) => server,
        Err(e) => {
            eprintln!("{program}: cannot start: {e}");
            return 1;
        }
    };
    if let Err(e) = server
        .shutdown_on_signals()
        .and_then(|()| server.reload_on_sighup())
    {
        warn!("cannot install signal handlers: {e}");
    }
    let scheme = if server.serves_tls() { "https" } else { "http" };
    info!(
        "open {scheme}://{}/ in a browser for the test page",
        server.local_addr()
    );
    match server.run() {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("{program}: {e}");
            1
        }
    }
}

/// Raises the soft limit on open files so `max_connections` can be reached
/// (many systems default to 1024).
fn raise_fd_limit(max_connections: usize) {
    // Each connection is one descriptor; leave room for the listener, the
    // poller, log files and the data directory.
    let wanted = (max_connections + 64) as libc::rlim_t;
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct we pass.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 || lim.rlim_cur >= wanted {
            return;
        }
        let target = wanted.min(lim.rlim_max);
        lim.rlim_cur = target;
        if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 || target < wanted {
            warn!(
                "the open-file limit ({target}) is below --max-connections + 64; \
                 raise it (ulimit -n) to serve that many clients"
            );
        }
    }
}
