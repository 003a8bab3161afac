//! `kvws load MODE URL [OPTIONS]`: the load generator's command line.
//!
//! Every option belongs to the modes it makes sense for, and giving it to
//! another mode is a usage error rather than silently ignored (a `-d 64`
//! that did nothing would make a run look like something it is not).

use getopts::{Matches, Options};
use log::LevelFilter;

use crate::load::{self, LoadConfig, LoadError, Mode, Report, Target};
use crate::units::{parse_duration, parse_size, show_duration};

/// Counted options: (short, long, help, the modes they apply to).
const COUNTS: [(&str, &str, &str, &[Mode]); 6] = [
    (
        "c",
        "connections",
        "client connections",
        &[Mode::ReqResp, Mode::Pipeline],
    ),
    (
        "d",
        "depth",
        "requests in flight per connection",
        &[Mode::Pipeline],
    ),
    (
        "s",
        "subscribers",
        "subscribers to the fan-out key",
        &[Mode::Fanout],
    ),
    (
        "w",
        "window",
        "sets in flight (published, not yet delivered to all)",
        &[Mode::Fanout],
    ),
    ("n", "conns", "connections to open and hold", &[Mode::Conns]),
    (
        "",
        "keys",
        "keys the sets and gets cycle through",
        &[Mode::ReqResp, Mode::Pipeline],
    ),
];

fn options() -> Options {
    // The library's defaults (the target does not matter for them).
    let d = LoadConfig::new(
        Mode::ReqResp,
        Target::Redis {
            addr: ([127, 0, 0, 1], 1).into(),
        },
    );
    let mut o = Options::new();
    o.optflag("h", "help", "print this help and exit");
    for (short, long, help, modes) in COUNTS {
        let default = match long {
            "keys" => d.keys,
            "connections" | "subscribers" | "conns" => modes[0].defaults().0,
            _ => modes[0].defaults().1,
        };
        let only = modes
            .iter()
            .map(|m| m.name())
            .collect::<Vec<_>>()
            .join(", ");
        o.optopt(
            short,
            long,
            &format!("{help} (default {default}; {only})"),
            "N",
        );
    }
    o.optflag(
        "",
        "sets-only",
        "send only sets, no gets (reqresp, pipeline)",
    );
    o.optopt(
        "",
        "value-size",
        &format!(
            "bytes of each value set (default {}; all modes but conns)",
            d.value_size
        ),
        "BYTES",
    );
    let timeout = show_duration(d.timeout);
    o.optopt(
        "",
        "duration",
        "how long to measure; conns: how long to hold (default 10s)",
        "TIME",
    );
    o.optopt(
        "",
        "warmup",
        "load before measuring, not counted (default 1s; not conns)",
        "TIME",
    );
    o.optopt(
        "",
        "timeout",
        &format!("the server is stalled after this long without answering (default {timeout})"),
        "TIME",
    );
    o.optopt(
        "",
        "id",
        &format!("application id (key prefix on Redis) (default {})", d.id),
        "ID",
    );
    o.optopt(
        "",
        "pid",
        "the server's process id: report its memory (VmRSS) and CPU use",
        "PID",
    );
    #[cfg(feature = "tls")]
    super::ca_file_option(&mut o);
    o.optflag("", "json", "print one JSON object instead of the summary");
    o
}

fn usage(program: &str, opts: &Options) -> String {
    let brief = format!(
        "Usage: {program} load MODE URL [OPTIONS]\n\n\
         Drives a server with load and reports throughput, latency and every error.\n\n\
         Modes:\n  \
         reqresp   C connections with one request in flight each, set and get\n            \
         alternating over K keys: ops/s and latency\n  \
         pipeline  C connections with D requests in flight each: ops/s and latency\n  \
         fanout    S subscribers on one key and a publisher with W sets in flight:\n            \
         deliveries/s, publish-to-delivery latency; checks every subscriber\n            \
         gets every value in order\n  \
         conns     N connections with one subscription each, held for the duration:\n            \
         with --pid, the server's memory per connection (start the server\n            \
         afresh: memory freed by earlier runs stays with its allocator)\n\n\
         URL: ws://HOST:PORT/ or wss://HOST:PORT/ (kvws, or any server speaking\n\
         its protocol) or redis://HOST:PORT (SET/GET, SUBSCRIBE/PUBLISH over RESP).\n\
         Sizes take k, M, G; times take ms, s, m, h.\n\
         Exit status: 0 no errors, 1 errors seen or the server failed, 2 usage error.\n\
         Example: {program} load reqresp ws://127.0.0.1:8080/ -c 50 --duration 10s"
    );
    opts.usage(&brief)
}

/// The configuration and the warm-up and measured durations.
fn config(m: &Matches) -> Result<(LoadConfig, std::time::Duration, std::time::Duration), String> {
    let [mode, url] = &m.free[..] else {
        return Err(match m.free.len() {
            0 | 1 => "expected a MODE and a URL".into(),
            _ => format!("unexpected argument '{}'", m.free[2]),
        });
    };
    let mode = Mode::parse(mode)
        .ok_or_else(|| format!("unknown mode '{mode}' (reqresp, pipeline, fanout or conns)"))?;
    let target = Target::parse(url)?;
    let mut c = LoadConfig::new(mode, target);
    for (_, long, _, modes) in COUNTS {
        let Some(v) = m.opt_str(long) else { continue };
        if !modes.contains(&mode) {
            return Err(format!("--{long} does not apply to {mode}"));
        }
        let n: usize = v
            .parse()
            .map_err(|_| format!("--{long}: '{v}' is not a number"))?;
        match long {
            "depth" | "window" => c.depth = n,
            "keys" => c.keys = n,
            _ => c.connections = n,
        }
    }
    if m.opt_present("sets-only") {
        if !matches!(mode, Mode::ReqResp | Mode::Pipeline) {
            return Err("--sets-only applies to reqresp and pipeline".into());
        }
        c.sets_only = true;
    }
    if let Some(v) = m.opt_str("value-size") {
        if mode == Mode::Conns {
            return Err("--value-size does not apply to conns".into());
        }
        c.value_size = parse_size(&v).map_err(|e| format!("--value-size: {e}"))?;
    }
    let duration = |name: &str, default: u64| {
        m.opt_str(name)
            .map_or(Ok(std::time::Duration::from_secs(default)), |v| {
                parse_duration(&v).map_err(|e| format!("--{name}: {e}"))
            })
    };
    c.timeout = duration("timeout", c.timeout.as_secs())?;
    if let Some(id) = m.opt_str("id") {
        c.id = id;
    }
    #[cfg(feature = "tls")]
    if let Some(ca) = m.opt_str("ca-file") {
        if !matches!(c.target, Target::Ws { tls: true, .. }) {
            return Err("--ca-file applies to wss:// URLs".into());
        }
        c.ca_file = Some(ca.into());
    }
    if let Some(pid) = m.opt_str("pid") {
        let pid = pid
            .parse()
            .map_err(|_| format!("--pid: '{pid}' is not a process id"))?;
        if !std::path::Path::new(&format!("/proc/{pid}/status")).exists() {
            return Err(format!("--pid: no process {pid}"));
        }
        c.server_pid = Some(pid);
    }
    c.validate()?;
    Ok((c, duration("warmup", 1)?, duration("duration", 10)?))
}

/// Runs `kvws load ARGS`; returns the exit code.
pub fn run(program: &str, args: &[String]) -> i32 {
    let opts = options();
    let name = format!("{program} load");
    let m = match super::parse_args(&name, &opts, args, |o| usage(program, o)) {
        Ok(m) => m,
        Err(code) => return code,
    };
    let (config, warmup, duration) = match config(&m) {
        Ok(c) => c,
        Err(e) => return super::usage_error(&name, &e),
    };
    let _ = simple_logger::SimpleLogger::new()
        .with_level(LevelFilter::Warn)
        .with_module_level("kvws::load", LevelFilter::Info)
        .init();
    let json = m.opt_present("json");
    match load::run(&config, warmup, duration) {
        Ok(report) => {
            show(&report, json);
            0
        }
        Err(LoadError::Failed(report)) => {
            show(&report, json);
            let errors = &report.errors;
            eprintln!("{program} load: {} errors; the first:", errors.count);
            for e in &errors.examples {
                eprintln!("  {e}");
            }
            if let Some(why) = &report.failure {
                eprintln!("{program} load: {why}");
            }
            1
        }
        Err(e) => {
            if json {
                println!(
                    "{}",
                    serde_json::json!({ "ok": false, "failure": e.to_string() })
                );
            }
            eprintln!("{program} load: {e}");
            1
        }
    }
}

fn show(report: &Report, json: bool) {
    if json {
        println!("{}", report.to_json());
    } else {
        print!("{report}");
    }
}
