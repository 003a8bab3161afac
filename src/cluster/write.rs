//! Proposals to Redis: each one run of the write script, its arguments,
//! and what its reply says.

use super::resp::{Reply, int, text};
use super::script::field;
use super::{Cluster, Event, Expect, unix_us};
use crate::conn_id::ConnId;
use crate::engine::{Op, Outcome, Proposal};
use crate::protocol::ErrorCode;

/// The write script's arguments for one operation.
struct WriteArgs {
    op: &'static str,
    field: String,
    value: String,
    if_rev: String,
    expires_at: String,
    owner: String,
}

fn owner(node: &str, conn: ConnId) -> String {
    format!("{node}:{}", conn.raw())
}

fn opt(n: Option<u64>) -> String {
    n.map(|n| n.to_string()).unwrap_or_default()
}

impl WriteArgs {
    fn of(op: &Op, node: &str) -> WriteArgs {
        let empty = String::new;
        match op {
            Op::Set {
                id,
                key,
                value,
                if_rev,
                expires_at,
                owner: o,
            } => WriteArgs {
                op: "set",
                field: field(id, key),
                value: value.to_string(),
                if_rev: opt(*if_rev),
                expires_at: opt(*expires_at),
                owner: o.map(|c| owner(node, c)).unwrap_or_default(),
            },
            Op::Delete { id, key, if_rev } => WriteArgs {
                op: "del",
                field: field(id, key),
                value: empty(),
                if_rev: opt(*if_rev),
                expires_at: empty(),
                owner: empty(),
            },
            Op::Expire {
                id,
                key,
                expires_at,
            } => WriteArgs {
                op: "exp",
                field: field(id, key),
                value: empty(),
                if_rev: empty(),
                expires_at: expires_at.to_string(),
                owner: empty(),
            },
            Op::Reap { id, key, owner: o } => WriteArgs {
                op: "reap",
                field: field(id, key),
                value: empty(),
                if_rev: empty(),
                expires_at: empty(),
                owner: owner(node, *o),
            },
        }
    }
}

/// What a reply to the write script says about the proposal.
pub(super) fn outcome(reply: &Reply) -> Outcome {
    let items = match reply {
        Reply::Array(items) => items,
        Reply::Error(e) => {
            // Redis over its maxmemory refuses writes with OOM: the shared
            // store is full, as a single server's would be.
            let code = if e.starts_with("OOM") {
                ErrorCode::StoreFull
            } else {
                ErrorCode::Unavailable
            };
            return Outcome::Failed(code, format!("the store (Redis) refused the change: {e}"));
        }
        _ => {
            return Outcome::Failed(
                ErrorCode::Unavailable,
                "an unexpected answer from Redis".into(),
            );
        }
    };
    let rev = items.get(1).and_then(int).unwrap_or(0) as u64;
    match items.first().and_then(text) {
        Some("done") => Outcome::Done(rev),
        Some("nothing") => Outcome::Nothing,
        Some("conflict") => Outcome::Conflict(rev),
        _ => Outcome::Failed(
            ErrorCode::Unavailable,
            "an unexpected answer from Redis".into(),
        ),
    }
}

impl Cluster {
    /// Hands the engine's proposals to Redis, pipelined; those that cannot
    /// be sent fail at once.
    pub fn propose(&mut self, proposals: Vec<Proposal>, on: &mut dyn FnMut(Event<'_>)) {
        for p in proposals {
            let Some(sha) = self.write_sha.clone().filter(|_| self.up()) else {
                let why = "the store (Redis) cannot be reached; nothing was changed";
                on(Event::Outcome(
                    p.seq,
                    Outcome::Failed(ErrorCode::Unavailable, why.into()),
                ));
                continue;
            };
            let args = WriteArgs::of(&p.op, &self.node);
            let now = (unix_us() / 1000).to_string();
            let (candidate, first) = (super::fresh_name(), self.first_rev());
            let proposal = format!("{}:{}", self.node, p.seq);
            let k = &self.keys;
            let argv: [&[u8]; 20] = [
                b"EVALSHA",
                sha.as_bytes(),
                b"5",
                k.epoch.as_bytes(),
                k.rev.as_bytes(),
                k.data.as_bytes(),
                k.stream.as_bytes(),
                k.ttl.as_bytes(),
                args.op.as_bytes(),
                args.field.as_bytes(),
                args.value.as_bytes(),
                args.if_rev.as_bytes(),
                args.expires_at.as_bytes(),
                args.owner.as_bytes(),
                candidate.as_bytes(),
                first.as_bytes(),
                self.maxlen.as_bytes(),
                now.as_bytes(),
                k.prefix.as_bytes(),
                proposal.as_bytes(),
            ];
            if let Some(cmd) = self.cmd.as_mut() {
                cmd.send(&argv);
            }
            let now = std::time::Instant::now();
            if self.expect.is_empty() {
                self.cmd_due = Some(now);
            }
            self.expect.push_back(Expect::Write(p.seq));
            self.metrics.sent.push_back(now);
        }
    }
}
