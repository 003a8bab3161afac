//! Fan-out bookkeeping: which published values every subscriber has got.
//!
//! The publisher numbers its values 1, 2, 3, … A value is *complete* once
//! every subscriber has received it; "in flight" means published and not yet
//! complete, so the window (`-w`) bounds what the server may have queued for
//! the slowest subscriber and the run cannot outpace it. A ring of counters
//! indexed by sequence number holds how many subscribers have each value in
//! flight: one increment per delivery, no allocation.
//!
//! Each subscriber must see the values in order with no gap. A gap (loss)
//! and a value seen twice or late (reordering) are errors; after a gap the
//! skipped values are counted as settled for that subscriber, so that one
//! loss is reported once and does not stall the run.

/// Counts deliveries of the values in flight.
#[derive(Debug)]
pub struct FanTrack {
    subscribers: u32,
    window: u64,
    /// The last value published.
    sent: u64,
    /// Every value up to this one has reached every subscriber.
    completed: u64,
    counts: Vec<u32>,
    mask: u64,
}

impl FanTrack {
    /// Tracking for `subscribers` subscribers and `window` values in flight.
    pub fn new(subscribers: usize, window: usize) -> Self {
        let size = (window + 1).next_power_of_two();
        FanTrack {
            subscribers: subscribers as u32,
            window: window as u64,
            sent: 0,
            completed: 0,
            counts: vec![0; size],
            mask: size as u64 - 1,
        }
    }

    /// Whether another value may be published without passing the window
    /// or sequence number `limit`.
    pub fn can_publish(&self, limit: u64) -> bool {
        self.sent - self.completed < self.window && self.sent < limit
    }

    /// Takes the next sequence number to publish.
    pub fn publish(&mut self) -> u64 {
        self.sent += 1;
        self.sent
    }

    /// The last value published.
    pub fn sent(&self) -> u64 {
        self.sent
    }

    /// Whether every value published has reached every subscriber.
    pub fn settled(&self) -> bool {
        self.completed == self.sent
    }

    /// Values published and not yet complete.
    pub fn in_flight(&self) -> u64 {
        self.sent - self.completed
    }

    /// Records that a subscriber expecting value `*next` got value `seq`.
    pub fn deliver(&mut self, next: &mut u64, seq: u64) -> Result<(), String> {
        if seq == 0 || seq > self.sent {
            return Err(format!("got value {seq}, which was never published"));
        }
        if seq < *next {
            return Err(format!(
                "got value {seq} again or out of order (after {})",
                *next - 1
            ));
        }
        let lost = seq - *next;
        for s in *next..=seq {
            self.counts[(s & self.mask) as usize] += 1;
        }
        *next = seq + 1;
        while self.completed < self.sent {
            let slot = ((self.completed + 1) & self.mask) as usize;
            if self.counts[slot] < self.subscribers {
                break;
            }
            self.counts[slot] = 0;
            self.completed += 1;
        }
        match lost {
            0 => Ok(()),
            1 => Err(format!("lost value {}: got {seq} next", seq - 1)),
            n => Err(format!(
                "lost values {}..={}: got {seq} next",
                seq - n,
                seq - 1
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_complete_when_everyone_has_them() {
        let mut f = FanTrack::new(2, 2);
        let (mut a, mut b) = (1, 1);
        assert!(f.can_publish(10));
        assert_eq!((f.publish(), f.publish()), (1, 2));
        assert!(!f.can_publish(10), "window of 2 is full");
        f.deliver(&mut a, 1).unwrap();
        assert!(!f.can_publish(10));
        f.deliver(&mut b, 1).unwrap();
        assert!(f.can_publish(10));
        assert!(!f.can_publish(2), "limit reached");
        f.deliver(&mut a, 2).unwrap();
        f.deliver(&mut b, 2).unwrap();
        assert!(f.settled());
        assert_eq!(f.in_flight(), 0);
    }

    #[test]
    fn loss_and_reordering_are_errors_and_do_not_stall() {
        let mut f = FanTrack::new(1, 8);
        for _ in 0..5 {
            f.publish();
        }
        let mut next = 1;
        f.deliver(&mut next, 1).unwrap();
        let e = f.deliver(&mut next, 4).unwrap_err();
        assert!(e.contains("lost values 2..=3"), "{e}");
        let e = f.deliver(&mut next, 3).unwrap_err();
        assert!(e.contains("out of order"), "{e}");
        assert!(f.deliver(&mut next, 9).is_err());
        f.deliver(&mut next, 5).unwrap();
        assert!(f.settled());
    }

    #[test]
    fn the_ring_wraps() {
        let mut f = FanTrack::new(3, 4);
        let mut subs = [1u64; 3];
        for _ in 0..100 {
            while f.can_publish(u64::MAX) {
                f.publish();
            }
            let seq = f.sent() - f.in_flight() + 1;
            for next in &mut subs {
                f.deliver(next, seq).unwrap();
            }
        }
        assert_eq!(f.in_flight(), 3);
        assert_eq!(f.sent(), 103);
    }
}
