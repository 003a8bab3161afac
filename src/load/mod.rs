//! The load generator behind `kvws load`: drives a server speaking the kvws
//! protocol (kvws itself, the R server it comes from, anything else) or a
//! Redis server for comparison, and reports throughput, latency, memory and
//! every error it saw.
//!
//! # Never the bottleneck
//!
//! One thread around a `mio` poll loop holds every connection, like the
//! server. Every `set` and `get` frame of every key is encoded once at
//! start-up (`requests.rs`), so sending is a `memcpy` into the connection's
//! write buffer; replies are looked at in place in the connection's read
//! buffer (`conn.rs`) and checked with a `starts_with` (`verify.rs`), never
//! parsed as JSON; latencies go into a fixed-size histogram
//! ([`Histogram`]). Once the buffers have grown to their working size a run
//! allocates nothing per reply or notification (the fan-out publisher's
//! one frame per set is encoded by the client library's encoder, with one
//! small allocation). Client frames must be masked: the mask key is a
//! constant (see `ws.rs` for why that is fine for a load tool).
//!
//! # Trusting the figures
//!
//! Every reply is checked: its type, and that it is about the key that was
//! asked (replies on one connection come back in request order, so each
//! connection keeps a queue of what it sent; no `req` field is sent, since
//! the R server does not know it). In fan-out every value carries a
//! sequence number and its send time, and each subscriber must receive
//! every value, in order (`fanout.rs`). Errors are counted and the first few
//! kept; a lost connection or a server that stops answering for
//! [`LoadConfig::timeout`] ends the run. A run with any error is an `Err`.
//!
//! # Use from code
//!
//! ```no_run
//! use kvws::load::{Load, LoadConfig, Mode, Target};
//! let target = Target::parse("ws://127.0.0.1:8080/").unwrap();
//! let mut load = Load::connect(&LoadConfig::new(Mode::ReqResp, target)).unwrap();
//! let report = load.run_ops(10_000).unwrap(); // exactly 10,000 requests
//! println!("{report}");
//! let again = load.run_for(std::time::Duration::from_secs(1)).unwrap();
//! println!("{}", again.to_json());
//! ```
//!
//! Connecting is not timed; `run_ops` and `run_for` can be repeated on the
//! same connections (criterion's `iter_custom` uses `run_ops(iters)` and
//! [`Report::elapsed`]). [`run`] is what the command line does: connect,
//! warm up, measure.

use std::fmt;
use std::io;
use std::time::Duration;

mod config;
mod conn;
mod driver;
mod fanout;
mod histogram;
mod report;
mod requests;
mod resp;
mod run;
mod stamp;
mod state;
mod sys;
#[cfg(test)]
mod tests;
mod verify;
mod ws;

pub use config::{LoadConfig, Mode, Target};
pub use driver::Load;
pub use histogram::Histogram;
pub use report::{ErrorLog, Latency, Report};

/// Why a run produced no clean report.
#[derive(Debug)]
pub enum LoadError {
    /// The connections could not be opened or set up, or polling failed.
    Io(io::Error),
    /// The mode has no such run (`run_ops` in conns mode).
    Unsupported(&'static str),
    /// The run saw errors (bad replies, lost or reordered values, a lost
    /// connection, a stalled server); its report says what and how much
    /// was measured before.
    Failed(Box<Report>),
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadError::Io(e) => write!(f, "{e}"),
            LoadError::Unsupported(why) => f.write_str(why),
            LoadError::Failed(r) => match &r.failure {
                Some(why) => write!(f, "{why} ({} errors)", r.errors.count),
                None => write!(f, "{} errors", r.errors.count),
            },
        }
    }
}

impl std::error::Error for LoadError {}

impl From<io::Error> for LoadError {
    fn from(e: io::Error) -> Self {
        LoadError::Io(e)
    }
}

/// What `kvws load` does: connects (not timed), runs `warmup` (not
/// counted; skipped in conns mode, which only holds connections), then
/// runs `duration` and returns its report. A warm-up with errors ends the
/// run there, with the warm-up's report.
pub fn run(config: &LoadConfig, warmup: Duration, duration: Duration) -> Result<Report, LoadError> {
    let mut load = Load::connect(config)?;
    if !warmup.is_zero() && config.mode != Mode::Conns {
        load.run_for(warmup).map_err(|e| match e {
            LoadError::Failed(mut r) => {
                let why = r.failure.take().unwrap_or_else(|| "errors".into());
                r.failure = Some(format!("during the warm-up: {why}"));
                LoadError::Failed(r)
            }
            other => other,
        })?;
    }
    load.run_for(duration)
}
