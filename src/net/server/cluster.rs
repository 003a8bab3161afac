//! The server's side of cluster mode: Redis's sockets in the poll, the
//! engine's proposals handed to Redis each step, and what Redis says
//! passed to the engine (see [`crate::cluster`]).

use std::time::Instant;

use log::info;
use mio::Token;
use tungstenite::protocol::frame::coding::CloseCode;

use super::Server;
use super::conns::Out;
use crate::cluster::{Cluster, Event, RedisUrl};
use crate::config::Config;
use crate::hooks::Context;
use crate::net::connection::{Ending, Phase};

pub(super) const REDIS_CMD: Token = Token(usize::MAX - 4);
pub(super) const REDIS_FEED: Token = Token(usize::MAX - 5);

/// The cluster link the configuration asks for, if any.
pub(super) fn link(config: &Config) -> std::io::Result<Option<Cluster>> {
    let Some(url) = &config.redis else {
        return Ok(None);
    };
    let url = RedisUrl::parse(url)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    info!(
        "cluster mode: the store is in Redis at {}:{} under prefix '{}'; WebSockets are refused (503) until it is loaded",
        url.host, url.port, config.redis_prefix
    );
    Ok(Some(Cluster::new(
        url,
        &config.redis_prefix,
        config.history_len,
        config.start_revision,
        REDIS_CMD,
        REDIS_FEED,
    )))
}

impl Server {
    /// Whether the node takes WebSockets: always, but in cluster mode only
    /// once its copy of the store is loaded.
    pub(super) fn serving(&self) -> bool {
        self.cluster.as_ref().is_none_or(Cluster::serving)
    }

    /// One of Redis's sockets is ready.
    pub(super) fn cluster_ready(&mut self, token: Token, now: Instant, now_ms: u64) {
        let Server {
            cluster,
            engine,
            conns,
            limits,
            hooks,
            poll,
            ..
        } = self;
        let Some(cluster) = cluster else {
            return;
        };
        let authenticated = limits.authenticated;
        cluster.on_ready(poll.registry(), token, now, &mut |event| {
            let mut out = Out {
                conns,
                authenticated,
            };
            match event {
                Event::Reset { rev } => {
                    // Every client goes: what it was told may not be the
                    // store any more. 1012: come back, and resume (`since`
                    // gets a resync).
                    for slot in out.conns.slots() {
                        if out.conns.get(slot).map(|c| c.phase()) == Some(Phase::Open) {
                            let ending = Ending::Close(CloseCode::Restart, "store reloading");
                            out.conns.end(slot, ending, now);
                        }
                    }
                    for id in out.conns.take_retired() {
                        engine.close(id, &mut out);
                        hooks.on_close(&mut Context::new(engine, &mut out, now_ms), id);
                    }
                    engine.reset(rev);
                }
                Event::CatchUp(change) => engine.catch_up(&change),
                Event::Loaded { rev } => engine.loaded(rev),
                Event::Apply(change, mine) => engine.apply_decided(&change, mine, &mut out),
                Event::Outcome(seq, outcome) => engine.settle(seq, outcome, &mut out),
            }
        });
    }

    /// Hands the engine's proposals to Redis and runs the cluster's timers.
    pub(super) fn cluster_step(&mut self, now: Instant) {
        let Server {
            cluster,
            engine,
            conns,
            limits,
            poll,
            ..
        } = self;
        let Some(cluster) = cluster else {
            return;
        };
        let proposals = engine.take_proposals();
        if !proposals.is_empty() {
            let authenticated = limits.authenticated;
            cluster.propose(proposals, &mut |event| {
                if let Event::Outcome(seq, outcome) = event {
                    let mut out = Out {
                        conns,
                        authenticated,
                    };
                    engine.settle(seq, outcome, &mut out);
                }
            });
        }
        cluster.tick(poll.registry(), now);
    }

    /// The cluster link's families for `/metrics`, in cluster mode.
    pub(super) fn write_cluster_metrics(&self, out: &mut crate::metrics::Exposition) {
        if let Some(cluster) = &self.cluster {
            cluster.write_metrics(out);
        }
    }

    /// When the cluster needs the loop next.
    pub(super) fn cluster_deadline(&self) -> Option<Instant> {
        self.cluster.as_ref().map(Cluster::next_deadline)
    }
}
