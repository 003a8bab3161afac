//! Building blocks of `GET /metrics`: a latency histogram of plain
//! integers, the Prometheus text format, who may read the page, and the
//! process's own figures. A leaf: it imports nothing else of kvws, so that
//! every layer (engine, persistence, cluster, shell) can count in its own
//! fields and write its own families.
//!
//! # Why no metrics crate
//!
//! The official `prometheus-client` crate keeps each metric in an atomic
//! behind an `Arc`, registered by name, and encodes through its registry.
//! kvws serves from one thread: its counters are plain `u64` fields that
//! the loop already owns (an increment is one add, not a locked read-
//! modify-write shared between cores), and the page is written only when
//! someone asks for it, from those fields. What the crate would add is
//! the text format, which is a few `write!`s and an escape (see [`Exposition`]).
//! Label sets are fixed enumerations (message types, error codes, close
//! reasons), never strings a client sent, so cardinality is bounded by
//! construction.

mod access;
mod histogram;
pub mod process;
mod text;

pub use access::{Decision, MetricsToken, decide};
pub use histogram::{Histogram, LATENCY_BOUNDS_NS};
pub use text::{CONTENT_TYPE, Exposition, Kind, Value};
