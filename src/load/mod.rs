//! The load generator behind `kvws load` (being written).
