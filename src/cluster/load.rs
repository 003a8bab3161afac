//! Joining: what `START` says decides between catching up (the same epoch)
//! and loading the store from scratch (a new node, a new epoch); loading
//! scans the data in batches, then reads the stream from where the scan
//! began (see [`feed`](super::feed)).

use std::time::Instant;

use log::{info, warn};

use super::resp::{Reply, text};
use super::{BACKOFF_MIN, BATCH, Cluster, Event, Expect, State, feed, fresh_name};

impl Cluster {
    /// Redis answered `START`: the epoch, and the revision every change up
    /// to which is in the data.
    pub(super) fn started(&mut self, epoch: &str, rev: u64, on: &mut dyn FnMut(Event<'_>)) {
        self.backoff = BACKOFF_MIN;
        self.metrics.connections += 1;
        self.metrics.known_rev = self.metrics.known_rev.max(rev);
        if self.down_logged {
            self.down_logged = false;
            info!("Redis at {}:{} is back", self.url.host, self.url.port);
        }
        self.lease_due = Instant::now();
        if self.loaded && self.epoch.as_deref() == Some(epoch) {
            // Back after an outage: what was missed is in the stream.
            self.state = State::CatchingUp {
                target: rev,
                live: true,
            };
            self.read_stream();
            return;
        }
        if self.loaded {
            warn!(
                "the data in Redis was lost or replaced (a new epoch): loading it again; this node's clients are closed (1012) and resume with since"
            );
            self.metrics.resyncs += 1;
        }
        self.metrics.reset();
        // A new epoch may count from anywhere.
        self.metrics.known_rev = rev;
        self.loaded = false;
        self.node = fresh_name();
        self.epoch = Some(epoch.to_string());
        self.stream_pos = rev;
        self.scan_max = rev;
        self.scanned = 0;
        self.cursor = "0".into();
        self.loading_since = Instant::now();
        on(Event::Reset { rev });
        self.state = State::Loading;
        self.scan();
    }

    pub(super) fn scan(&mut self) {
        let (data, cursor, count) = (
            self.keys.data.clone(),
            self.cursor.clone(),
            BATCH.to_string(),
        );
        self.command(
            &[
                b"HSCAN",
                data.as_bytes(),
                cursor.as_bytes(),
                b"COUNT",
                count.as_bytes(),
            ],
            Expect::Scan,
        );
    }

    /// A batch of the data: applied if newer; the next batch, or the
    /// stream once the scan is done.
    pub(super) fn scanned_batch(
        &mut self,
        reply: Reply,
        on: &mut dyn FnMut(Event<'_>),
    ) -> Result<(), String> {
        let Reply::Array(parts) = reply else {
            return Err("an unexpected answer to HSCAN".into());
        };
        let cursor = parts
            .first()
            .and_then(text)
            .ok_or("HSCAN gave no cursor")?
            .to_string();
        if let Some(Reply::Array(items)) = parts.get(1) {
            for pair in items.chunks(2) {
                let (Some(field), Some(value)) =
                    (pair.first().and_then(text), pair.get(1).and_then(text))
                else {
                    continue;
                };
                let Some(change) = feed::stored_change(field, value, &self.node) else {
                    warn!("a value in Redis that kvws did not write was skipped");
                    continue;
                };
                self.scan_max = self.scan_max.max(change.rev());
                self.scanned += 1;
                on(Event::CatchUp(change));
            }
        }
        self.cursor = cursor;
        if self.cursor == "0" {
            self.metrics.known_rev = self.metrics.known_rev.max(self.scan_max);
            self.state = State::CatchingUp {
                target: self.scan_max,
                live: false,
            };
            self.read_stream();
        } else {
            self.scan();
        }
        Ok(())
    }
}
