//! The stream: reading the changes in revision order, and turning what
//! Redis holds (stream entries, values of the data hash) into changes.

use std::time::Instant;

use log::info;
use mio::Registry;

use super::resp::{Reply, text};
use super::script::{Stored, split_field};
use super::{BATCH, Cluster, Event, FEED_BLOCK_MS, State};
use crate::change::Change;
use crate::conn_id::ConnId;

/// The owner of an ephemeral key as this node knows it: one of its own
/// connections, or nobody here (another node's, which that node reaps).
fn owner(owner: Option<&str>, node: &str) -> Option<ConnId> {
    let (n, conn) = owner?.split_once(':')?;
    (n == node).then(|| conn.parse().ok().map(ConnId::from_raw))?
}

/// The change a value of the data hash stands for.
pub(super) fn stored_change<'a>(field: &'a str, value: &'a str, node: &str) -> Option<Change<'a>> {
    let (id, key) = split_field(field)?;
    let stored = Stored::parse(value)?;
    Some(Change::Set {
        rev: stored.rev,
        id,
        key,
        value: stored.value,
        expires_at: stored.expires_at,
        owner: owner(stored.owner, node),
    })
}

/// One stream entry.
struct Entry<'a> {
    rev: u64,
    epoch: &'a str,
    change: Change<'a>,
    /// The proposal it decided, if this node made it.
    mine: Option<u64>,
}

/// One stream entry: its revision, its epoch and its change.
fn entry<'a>(id: &'a str, fields: &'a [Reply], node: &str) -> Option<Entry<'a>> {
    let rev: u64 = id.strip_suffix("-0")?.parse().ok()?;
    let get = |name: &str| {
        fields
            .chunks(2)
            .find(|p| p.first().and_then(text) == Some(name))
            .and_then(|p| p.get(1).and_then(text))
    };
    let epoch = get("e")?;
    let (ident, key) = split_field(get("f")?)?;
    let change = match get("o")? {
        "s" => Change::Set {
            rev,
            id: ident,
            key,
            value: get("v")?,
            expires_at: get("x")
                .filter(|x| !x.is_empty())
                .and_then(|x| x.parse().ok()),
            owner: owner(get("w").filter(|w| !w.is_empty()), node),
        },
        "d" => Change::Delete {
            rev,
            id: ident,
            key,
            reason: get("r").filter(|r| !r.is_empty()),
            ephemeral: false,
        },
        _ => return None,
    };
    let mine = get("p")
        .and_then(|p| p.split_once(':'))
        .filter(|(n, _)| *n == node)
        .and_then(|(_, seq)| seq.parse().ok());
    Some(Entry {
        rev,
        epoch,
        change,
        mine,
    })
}

impl Cluster {
    /// Sends the next stream read: without blocking while catching up (an
    /// empty answer says the end is reached), blocking once live.
    pub(super) fn read_stream(&mut self) {
        let Some(feed) = self.feed.as_mut() else {
            return;
        };
        let from = format!("{}-0", self.stream_pos);
        let count = BATCH.to_string();
        let block = FEED_BLOCK_MS.to_string();
        let stream = self.keys.stream.as_bytes();
        if self.state == State::Live {
            feed.send(&[
                b"XREAD",
                b"COUNT",
                count.as_bytes(),
                b"BLOCK",
                block.as_bytes(),
                b"STREAMS",
                stream,
                from.as_bytes(),
            ]);
        } else {
            feed.send(&[
                b"XREAD",
                b"COUNT",
                count.as_bytes(),
                b"STREAMS",
                stream,
                from.as_bytes(),
            ]);
        }
        self.reading = Some(Instant::now());
    }

    pub(super) fn read_feed(
        &mut self,
        registry: &Registry,
        now: Instant,
        on: &mut dyn FnMut(Event<'_>),
    ) -> Result<(), String> {
        let mut replies = std::mem::take(&mut self.replies);
        let read = self.feed.as_mut().map_or(Ok(()), |f| f.read(&mut replies));
        let result = read.map_err(|e| e.to_string()).and_then(|()| {
            for reply in replies.drain(..) {
                if self.feed_skip > 0 {
                    self.feed_skip -= 1;
                    if let Reply::Error(e) = &reply {
                        return Err(format!("Redis refused a command: {e}"));
                    }
                    continue;
                }
                self.reading = None;
                self.stream_batch(registry, now, &reply, on)?;
                if self.feed.is_none() {
                    break;
                }
            }
            Ok(())
        });
        replies.clear();
        self.replies = replies;
        result
    }

    /// A batch of stream entries: each must be the next revision of the
    /// epoch the replica follows, or the node starts over.
    fn stream_batch(
        &mut self,
        registry: &Registry,
        now: Instant,
        reply: &Reply,
        on: &mut dyn FnMut(Event<'_>),
    ) -> Result<(), String> {
        let entries: &[Reply] = match reply {
            Reply::Null => &[],
            Reply::Array(streams) => match streams.first() {
                Some(Reply::Array(stream)) => match stream.get(1) {
                    Some(Reply::Array(entries)) => entries,
                    _ => return Err("an unexpected answer to XREAD".into()),
                },
                None => &[],
                _ => return Err("an unexpected answer to XREAD".into()),
            },
            Reply::Error(e) => return Err(format!("Redis refused to read the stream: {e}")),
            _ => return Err("an unexpected answer to XREAD".into()),
        };
        for item in entries {
            let parsed = match item {
                Reply::Array(parts) => match (parts.first().and_then(text), parts.get(1)) {
                    (Some(id), Some(Reply::Array(fields))) => entry(id, fields, &self.node),
                    _ => None,
                },
                _ => None,
            };
            let Some(Entry {
                rev,
                epoch,
                change,
                mine,
            }) = parsed
            else {
                return Err("a stream entry that kvws did not write".into());
            };
            if self.epoch.as_deref() != Some(epoch) {
                self.start_over(registry, now, "the data in Redis started a new epoch");
                return Ok(());
            }
            if rev != self.stream_pos + 1 {
                let why = format!(
                    "the stream goes on at revision {rev} after {}: the changes between were trimmed before this node read them",
                    self.stream_pos
                );
                self.start_over(registry, now, &why);
                return Ok(());
            }
            self.stream_pos = rev;
            match self.state {
                State::CatchingUp { live: false, .. } => on(Event::CatchUp(change)),
                _ => on(Event::Apply(change, mine)),
            }
        }
        self.metrics.applied(self.stream_pos, now);
        if let State::CatchingUp { target, live } = self.state
            && entries.len() < BATCH
        {
            if self.stream_pos < target {
                let why = format!(
                    "the stream ends at revision {} but Redis is at {target}",
                    self.stream_pos
                );
                self.start_over(registry, now, &why);
                return Ok(());
            }
            self.state = State::Live;
            if !live {
                info!(
                    "loaded {} keys from Redis at revision {} in {:.1?}; serving",
                    self.scanned,
                    self.stream_pos,
                    self.loading_since.elapsed()
                );
                self.loaded = true;
                on(Event::Loaded {
                    rev: self.stream_pos,
                });
            }
        }
        self.read_stream();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(s: &str) -> Reply {
        Reply::BulkString(s.as_bytes().to_vec())
    }

    #[test]
    fn stream_entries_become_changes() {
        let fields: Vec<Reply> = [
            "e",
            "E1",
            "o",
            "s",
            "f",
            "3:app:k",
            "x",
            "1795000000000",
            "w",
            "me:42",
            "v",
            "{\"a\":1}",
        ]
        .into_iter()
        .map(bulk)
        .collect();
        let e = entry("17-0", &fields, "me").unwrap();
        assert_eq!((e.rev, e.epoch, e.mine), (17, "E1", None));
        assert_eq!(
            e.change,
            Change::Set {
                rev: 17,
                id: "app",
                key: ":k",
                value: "{\"a\":1}",
                expires_at: Some(1795000000000),
                owner: Some(ConnId::from_raw(42)),
            }
        );
        // Another node's ephemeral key has no owner here.
        let e = entry("17-0", &fields, "other").unwrap();
        assert!(matches!(e.change, Change::Set { owner: None, .. }));
        let fields: Vec<Reply> = [
            "e", "E1", "o", "d", "f", "1:ab", "r", "expired", "p", "me:9",
        ]
        .into_iter()
        .map(bulk)
        .collect();
        let e = entry("18-0", &fields, "me").unwrap();
        assert_eq!(e.mine, Some(9));
        assert_eq!(entry("18-0", &fields, "you").unwrap().mine, None);
        assert_eq!(
            e.change,
            Change::Delete {
                rev: 18,
                id: "a",
                key: "b",
                reason: Some("expired"),
                ephemeral: false
            }
        );
        assert!(entry("18-1", &fields, "me").is_none());
    }
}
