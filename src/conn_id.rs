//! The identity of one client connection.

use std::fmt;

/// Identifies a client connection to the core for its whole life, and never
/// another one.
///
/// The server keeps connections in numbered slots that are reused as
/// clients come and go. An id is the slot *and* a serial number given at
/// accept, so that anything still holding the id of a connection that has
/// gone (an embedding program's map, a timer, an ephemeral key's owner)
/// reaches nobody instead of the next client to take the same slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(u64);

impl ConnId {
    /// The id of the connection accepted as number `serial` into `slot`.
    pub(crate) fn new(slot: usize, serial: u32) -> Self {
        debug_assert!(slot <= u32::MAX as usize);
        ConnId((u64::from(serial) << 32) | slot as u64)
    }

    /// The server slot the connection lives in.
    pub(crate) fn slot(self) -> usize {
        (self.0 & u64::from(u32::MAX)) as usize
    }

    /// An id from its raw number, for programs that drive the
    /// engine without a server (tests, fuzzing).
    pub const fn from_raw(raw: u64) -> Self {
        ConnId(raw)
    }

    /// The raw number, stable for the life of the connection.
    pub fn raw(self) -> u64 {
        self.0
    }
}

impl From<u64> for ConnId {
    fn from(raw: u64) -> Self {
        ConnId(raw)
    }
}

impl fmt::Display for ConnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}#{}", self.slot(), self.0 >> 32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slot_and_serial_make_distinct_ids() {
        let a = ConnId::new(7, 1);
        let b = ConnId::new(7, 2);
        assert_ne!(a, b);
        assert_eq!((a.slot(), b.slot()), (7, 7));
        assert_eq!(a.to_string(), "7#1");
    }
}
