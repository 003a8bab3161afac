//! `kvws [serve]`: run the server as a daemon until SIGINT or SIGTERM;
//! SIGHUP reloads what it reads from files (see `Server::reload`).
//!
//! ```text
//! mod.rs      running: parse, set up logging and the open-file limit, serve
//! options.rs  the option table and its help lines
//! config.rs   the parsed options into a Config, validated
//! ```

mod config;
mod options;

use getopts::Matches;
use log::{LevelFilter, info, warn};

use crate::Server;
use config::config;
use options::options;

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
