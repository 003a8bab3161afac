//! Requests answered in slices: a `list` that waits for its namespace's
//! ordered index, a prefix snapshot, and a `since` replay.
//!
//! Their work grows with the data (a million keys to index, a thousand
//! values to send, ten thousand changes to look through), and their output
//! can be larger than a client's queue may hold. So each is a job that runs
//! a slice per loop step, bounded in work ([`STEP_WORK`] between all jobs)
//! and in output: a slice stops when its connection's queue is half full
//! ([`Outbound::room`]), and goes on once the client has read. Meanwhile
//! the connection's next requests wait (the server does not read it), so
//! replies still come in the order of the requests.
//!
//! A subscription becomes live only when its job ends, in the same step as
//! its last slice, so no change is missed or sent twice:
//!
//! * a prefix snapshot first sends the current value of every key under the
//!   prefix, key by key; a key changed after the snapshot began is sent as
//!   it is then, and its revision remembered;
//! * then (like a `since` replay) it sends from the history every change
//!   made since the snapshot began (or since `since`) that the client has
//!   not already had: not a value it was just sent, and not a change one of
//!   its other subscriptions delivered live;
//! * then `subscribed`, and from then on live changes.
//!
//! If the history no longer reaches back to where a job is (the writes came
//! faster than the client read), the client is closed as a slow consumer
//! (1008); resuming with `since` gets it a `resync`.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use super::{Engine, MAX_LIST_LIMIT, Outbound};
use crate::conn_id::ConnId;
use crate::protocol::{Json, Topic};
use crate::subscriptions::OwnedTopic;

mod stages;

/// Items (keys indexed or sent, changes looked at) all jobs together may
/// go through in one loop step...
pub const STEP_WORK: usize = 16_384;
/// ... and the time they may take: whichever comes first.
pub const STEP_TIME: Duration = Duration::from_millis(2);
/// Items a new job may go through at once, before its request returns: a
/// small namespace or snapshot is answered without waiting for a step...
pub const INLINE_WORK: usize = 8192;
/// ... and the time that may take.
pub const INLINE_TIME: Duration = Duration::from_millis(1);
/// Keys indexed per call between checks of the time.
const INDEX_CHUNK: usize = 1024;
/// Keys read from the index at a time while sending a snapshot.
const BATCH: usize = 64;

/// WebSocket close code for a client closed for not keeping up.
const POLICY_VIOLATION: u16 = 1008;

/// One request in progress.
pub(super) enum Job {
    /// A `list` waiting for its namespace's ordered index.
    List {
        id: Box<str>,
        prefix: Box<str>,
        after: Option<Box<str>>,
        limit: usize,
        req: Option<Box<str>>,
    },
    /// A subscription being set up.
    Subscribe {
        id: Box<str>,
        topic: OwnedTopic,
        req: Option<Box<str>>,
        /// The reply says `resync`.
        resync: bool,
        stage: Stage,
    },
}

/// Where a subscription's setup is.
pub(super) enum Stage {
    /// Waiting for the ordered index, to take a prefix snapshot.
    Index,
    /// Sending the values under the prefix after `cursor`; the snapshot
    /// began at revision `from`.
    Values {
        from: u64,
        cursor: Option<Box<str>>,
        newer: HashMap<Box<str>, u64>,
    },
    /// Sending the changes after `after` from the history (`newer`: keys
    /// already sent at a later revision).
    Changes {
        after: u64,
        newer: HashMap<Box<str>, u64>,
    },
}

/// Where a replay of changes got to.
enum Replay {
    /// More to send.
    More(Stage),
    /// Every change up to now was sent: the subscription can go live.
    CaughtUp,
    /// The history no longer reaches back: the client is being closed.
    TooSlow,
}

/// What a slice may still do.
struct Slice {
    room: usize,
    work: usize,
    until: Instant,
}

impl Slice {
    fn new(room: usize, work: usize, time: Duration) -> Slice {
        Slice {
            room,
            work,
            until: Instant::now() + time,
        }
    }

    /// Out of room, items or time. (The clock is read here, between
    /// batches of items, not for each one.)
    fn spent(&mut self) -> bool {
        if self.room == 0 || self.work == 0 {
            return true;
        }
        if Instant::now() >= self.until {
            self.work = 0;
            return true;
        }
        false
    }

    fn sent(&mut self, bytes: usize) {
        self.room = self.room.saturating_sub(bytes);
        self.work = self.work.saturating_sub(1);
    }
}

fn owned_req(req: Option<Json>) -> Option<Box<str>> {
    req.map(|r| r.get().into())
}

fn req_of(req: &Option<Box<str>>) -> Option<Json<'_>> {
    req.as_deref().map(Json::trusted)
}

impl Engine {
    /// Whether `conn` has a job in progress.
    pub(super) fn has_job(&self, conn: ConnId) -> bool {
        !self.jobs.is_empty() && self.jobs.contains_key(&conn)
    }

    /// Starts a job for `conn`: runs its first slice now and keeps it only
    /// if it is not done.
    pub(super) fn start_job(&mut self, conn: ConnId, job: Job, out: &mut impl Outbound) {
        let Some(room) = out.room(conn) else {
            return;
        };
        let mut slice = Slice::new(room, INLINE_WORK, INLINE_TIME);
        if let Some(job) = self.advance(conn, job, &mut slice, out) {
            self.jobs.insert(conn, job);
        }
    }

    /// A `list` job.
    pub(super) fn list_job(
        id: &str,
        prefix: &str,
        after: Option<&str>,
        limit: Option<u64>,
        req: Option<Json>,
    ) -> Job {
        Job::List {
            id: id.into(),
            prefix: prefix.into(),
            after: after.map(Into::into),
            limit: limit.map_or(super::DEFAULT_LIST_LIMIT, |l| {
                l.min(MAX_LIST_LIMIT as u64) as usize
            }),
            req: owned_req(req),
        }
    }

    /// A subscription job: a snapshot of a prefix (`since: None`), or the
    /// changes after `since`.
    pub(super) fn subscribe_job(
        id: &str,
        topic: &Topic,
        since: Option<u64>,
        resync: bool,
        req: Option<Json>,
    ) -> Job {
        let stage = match since {
            Some(after) => Stage::Changes {
                after,
                newer: HashMap::new(),
            },
            None => Stage::Index,
        };
        Job::Subscribe {
            id: id.into(),
            topic: OwnedTopic::from(topic),
            req: owned_req(req),
            resync,
            stage,
        }
    }

    /// Runs a slice of every job whose connection has room, within
    /// [`STEP_WORK`]; returns the connections whose job ended.
    pub(super) fn run_jobs(&mut self, out: &mut impl Outbound) -> Vec<ConnId> {
        let mut done = Vec::new();
        if self.jobs.is_empty() {
            return done;
        }
        let mut conns: Vec<ConnId> = self.jobs.keys().copied().collect();
        // Take turns: a different job goes first each step.
        conns.sort_unstable();
        self.job_turn = self.job_turn.wrapping_add(1);
        let start = self.job_turn % conns.len();
        conns.rotate_left(start);
        let mut work = STEP_WORK;
        let until = Instant::now() + STEP_TIME;
        for conn in conns {
            if work == 0 {
                break;
            }
            let Some(room) = out.room(conn) else {
                self.jobs.remove(&conn);
                continue;
            };
            if room == 0 {
                continue;
            }
            let job = self.jobs.remove(&conn).expect("listed above");
            let mut slice = Slice { room, work, until };
            let left = self.advance(conn, job, &mut slice, out);
            work = slice.work;
            match left {
                Some(job) => {
                    self.jobs.insert(conn, job);
                }
                None => done.push(conn),
            }
        }
        done
    }

    /// Whether a job could make progress now (the loop must not sleep).
    pub(super) fn jobs_runnable(&self, out: &impl Outbound) -> bool {
        self.jobs
            .keys()
            .any(|&conn| out.room(conn).is_none_or(|room| room > 0))
    }

    /// Works on `job` within `slice`; returns it if it is not done.
    fn advance(
        &mut self,
        conn: ConnId,
        job: Job,
        slice: &mut Slice,
        out: &mut impl Outbound,
    ) -> Option<Job> {
        match job {
            Job::List {
                id,
                prefix,
                after,
                limit,
                req,
            } => {
                if !self.build_index(&id, slice) {
                    return Some(Job::List {
                        id,
                        prefix,
                        after,
                        limit,
                        req,
                    });
                }
                self.answer_list(
                    conn,
                    req_of(&req),
                    &id,
                    &prefix,
                    after.as_deref(),
                    limit,
                    out,
                );
                None
            }
            Job::Subscribe {
                id,
                topic,
                req,
                resync,
                mut stage,
            } => {
                loop {
                    let next = match stage {
                        Stage::Index => self.index_stage(conn, &id, &topic, &req, slice, out)?,
                        Stage::Values {
                            from,
                            cursor,
                            newer,
                        } => self.values_stage(conn, &id, &topic, from, cursor, newer, slice, out),
                        Stage::Changes { after, newer } => {
                            match self.changes_stage(conn, &id, &topic, after, newer, slice, out) {
                                Replay::More(stage) => stage,
                                Replay::CaughtUp => {
                                    self.go_live(conn, &id, &topic, resync, &req, out);
                                    return None;
                                }
                                Replay::TooSlow => return None,
                            }
                        }
                    };
                    stage = next;
                    if slice.spent() {
                        break;
                    }
                }
                Some(Job::Subscribe {
                    id,
                    topic,
                    req,
                    resync,
                    stage,
                })
            }
        }
    }
}
