//! Runs on an open [`Load`]: a fixed number of operations (for benchmarks)
//! or a fixed time (for the command line), each ending drained (no request
//! left in flight), so that runs can follow each other on the same
//! connections.

use std::time::{Duration, Instant};

use super::config::Mode;
use super::driver::{Load, TICK};
use super::report::{ErrorLog, Latency, Report};
use super::{LoadError, sys};

/// When a run stops sending.
#[derive(Clone, Copy)]
enum Goal {
    /// After this many operations (values published, in fan-out).
    Ops(u64),
    /// At this time; then what is in flight is drained.
    Until(Instant),
}

impl Load {
    /// Runs exactly `n` operations and waits for all their replies: `n`
    /// requests (set and get alternating) spread over the connections, or
    /// in fan-out `n` values published, each delivered to every subscriber
    /// (`n` × subscribers deliveries). Not available in conns mode.
    pub fn run_ops(&mut self, n: u64) -> Result<Report, LoadError> {
        if self.config.mode == Mode::Conns {
            return Err(LoadError::Unsupported(
                "conns mode sends no operations; use run_for to hold the connections",
            ));
        }
        self.measure(Goal::Ops(n))
    }

    /// Runs for `duration`, then stops sending and waits for the replies in
    /// flight (their time is counted). In conns mode, holds the connections
    /// open for `duration`.
    pub fn run_for(&mut self, duration: Duration) -> Result<Report, LoadError> {
        self.measure(Goal::Until(Instant::now() + duration))
    }

    fn measure(&mut self, goal: Goal) -> Result<Report, LoadError> {
        let c = &self.config;
        let mut report = Report::new(c.mode, c.target.to_string(), c.connections, c.depth);
        (report.keys, report.value_size) = (c.keys, c.value_size);
        report.connect_time = self.connect_time;
        report.server_rss_before = self.rss_before;
        if let Some(why) = &self.broken {
            report.failure = Some(format!("an earlier run failed: {why}"));
            return Err(LoadError::Failed(Box::new(report)));
        }
        let pid = c.server_pid;
        let (timeout, mode) = (c.timeout, c.mode);
        let s = &mut self.state;
        s.hist.clear();
        s.errors = ErrorLog::default();
        (s.sent, s.done, s.deliveries, s.notifications) = (0, 0, 0, 0);
        let fan_start = s.fan.sent();
        (s.limit, s.fan_limit) = match goal {
            Goal::Ops(n) => (n, fan_start + n),
            Goal::Until(_) => (u64::MAX, u64::MAX),
        };
        // Each limit applies to the connections that send in this mode.
        match mode {
            Mode::ReqResp | Mode::Pipeline => s.fan_limit = 0,
            Mode::Fanout => s.limit = 0,
            Mode::Conns => (s.limit, s.fan_limit) = (0, 0),
        }
        let deadline = match goal {
            Goal::Until(t) => Some(t),
            Goal::Ops(_) => None,
        };
        let cpu_before = sys::own_cpu_time();
        let server_before = pid.and_then(sys::cpu_time_of);
        let start = Instant::now();
        let mut last_progress = start;
        let mut end = None;
        self.kick();
        loop {
            let now = Instant::now();
            let s = &mut self.state;
            if deadline.is_some_and(|d| now >= d) {
                // Stop sending; drain what is in flight.
                (s.limit, s.fan_limit) = (s.sent, s.fan.sent());
                if mode == Mode::Conns {
                    break;
                }
            }
            let settled = s.fan.settled() && s.fan.sent() >= s.fan_limit;
            let drained = s.in_flight == 0 && s.sent >= s.limit;
            if mode != Mode::Conns && drained && (mode != Mode::Fanout || settled) {
                break;
            }
            if self.broken.is_some() {
                break;
            }
            let waiting = s.in_flight > 0 || s.fan.in_flight() > 0;
            if std::mem::take(&mut s.progressed) || !waiting {
                last_progress = now;
            } else if now - last_progress > timeout {
                let what = match mode {
                    Mode::Fanout => format!(
                        "{} values in flight ({} deliveries so far)",
                        s.fan.in_flight(),
                        s.deliveries
                    ),
                    _ => format!("{} requests in flight ({} done)", s.in_flight, s.done),
                };
                let why =
                    format!("the server stalled: nothing received for {timeout:?} with {what}");
                s.errors.record(why.clone());
                self.broken = Some(why);
                // The rate is that of the time the server was answering.
                end = Some(last_progress);
                break;
            }
            // Until the deadline, wake for it; after it (draining), a tick.
            let wait = deadline
                .filter(|&d| d > now)
                .map_or(TICK, |d| (d - now).min(TICK));
            self.turn(wait).map_err(LoadError::Io)?;
        }
        report.elapsed = end.unwrap_or_else(Instant::now) - start;
        report.tool_cpu = sys::own_cpu_time().saturating_sub(cpu_before);
        report.server_cpu = server_before
            .zip(pid.and_then(sys::cpu_time_of))
            .map(|(before, after)| after.saturating_sub(before));
        report.server_rss_after = pid.and_then(sys::rss_bytes);
        let s = &mut self.state;
        report.ops = match mode {
            Mode::Fanout => s.fan.sent() - fan_start,
            _ => s.done,
        };
        report.deliveries = s.deliveries;
        report.latency = Latency::of(&s.hist);
        report.errors = std::mem::take(&mut s.errors);
        report.failure = self.broken.clone();
        if report.is_ok() {
            Ok(report)
        } else {
            Err(LoadError::Failed(Box::new(report)))
        }
    }
}
