//! End to end over loopback (being written).
fn main() {}
