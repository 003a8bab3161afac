//! Replies on the command connection, in the order the commands were
//! sent: each is matched to what it was for (an [`Expect`]).

use std::time::Instant;

use log::warn;
use mio::Registry;

use super::resp::{Reply, int, text};
use super::{Cluster, Event, Expect, SWEEP_BATCH, Script, write};
use crate::engine::Outcome;

impl Cluster {
    pub(super) fn read_cmd(
        &mut self,
        registry: &Registry,
        now: Instant,
        on: &mut dyn FnMut(Event<'_>),
    ) -> Result<(), String> {
        let mut replies = std::mem::take(&mut self.replies);
        let read = self.cmd.as_mut().map_or(Ok(()), |c| c.read(&mut replies));
        let result = read.map_err(|e| e.to_string()).and_then(|()| {
            for reply in replies.drain(..) {
                let expect = self
                    .expect
                    .pop_front()
                    .ok_or("a reply from Redis that nothing asked for")?;
                self.cmd_due = (!self.expect.is_empty()).then_some(now);
                self.metrics.replied(now);
                self.on_cmd_reply(registry, now, expect, reply, on)?;
                if self.cmd.is_none() {
                    break;
                }
            }
            Ok(())
        });
        replies.clear();
        self.replies = replies;
        result
    }

    pub(super) fn on_cmd_reply(
        &mut self,
        registry: &Registry,
        now: Instant,
        expect: Expect,
        reply: Reply,
        on: &mut dyn FnMut(Event<'_>),
    ) -> Result<(), String> {
        if let Expect::Write(seq) = expect {
            let outcome = write::outcome(&reply);
            if let Outcome::Done(rev) = outcome {
                self.metrics.written(rev, self.stream_pos, now);
            }
            if let Outcome::Failed(_, why) = &outcome
                && why.contains("NOSCRIPT")
            {
                // The scripts were flushed: load them again on a fresh
                // connection (this write fails; the client may retry).
                self.failed.push(seq);
                self.lost(registry, now, "Redis forgot the scripts (NOSCRIPT)");
                return Ok(());
            }
            on(Event::Outcome(seq, outcome));
            return Ok(());
        }
        if let Reply::Error(e) = &reply {
            if matches!(expect, Expect::Ignore) {
                warn!("Redis refused to refresh this node's lease: {e}");
                return Ok(());
            }
            return Err(format!("Redis refused a command: {e}"));
        }
        match expect {
            Expect::Handshake | Expect::Ignore | Expect::Write(_) => {}
            Expect::ScriptLoad(which) => {
                let sha = text(&reply)
                    .ok_or("SCRIPT LOAD gave no digest")?
                    .to_string();
                match which {
                    Script::Write => self.write_sha = Some(sha),
                    Script::ReapDead => self.reap_sha = Some(sha),
                }
            }
            Expect::Start => {
                let Reply::Array(items) = &reply else {
                    return Err("an unexpected answer to START".into());
                };
                let epoch = items
                    .first()
                    .and_then(text)
                    .ok_or("START gave no epoch")?
                    .to_string();
                let rev = items.get(1).and_then(int).ok_or("START gave no revision")?;
                self.started(&epoch, rev as u64, on);
            }
            Expect::Scan => self.scanned_batch(reply, on)?,
            Expect::ReapDead => {
                if int(&reply).is_some_and(|n| n as usize >= SWEEP_BATCH) {
                    self.sweep();
                }
            }
        }
        Ok(())
    }
}
