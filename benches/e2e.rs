//! End to end over loopback: a real kvws server in a thread of this
//! process, driven by the load generator's library (`kvws::load`), the same
//! code as `kvws load`.
//!
//! Connections are opened once per benchmark, outside the timing; each
//! sample then runs exactly `iters` operations on them with
//! [`Load::run_ops`] and reports the time it took (`iter_custom`). Every
//! reply is still checked, so a benchmark that goes wrong panics instead of
//! measuring nonsense.
//!
//! The server and the load generator share the machine (two threads), so
//! these figures are for comparing commits with each other, not with
//! `kvws load` against a server on its own core.

use std::thread::JoinHandle;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use kvws::load::{Load, LoadConfig, Mode, Target};

/// A kvws server on a free loopback port, shut down when dropped.
struct Server {
    handle: kvws::Handle,
    thread: Option<JoinHandle<()>>,
    target: Target,
}

impl Server {
    fn start() -> Server {
        let mut server = kvws::Server::bind(kvws::Config::default().port(0)).unwrap();
        let addr = server.local_addr();
        let handle = server.handle();
        let thread = std::thread::spawn(move || server.run().unwrap());
        let target = Target::parse(&format!("ws://{addr}/")).unwrap();
        Server {
            handle,
            thread: Some(thread),
            target,
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.handle.shutdown();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Benchmarks `config` as `name`: `elements` counted per operation.
fn bench(c: &mut Criterion, name: &str, config: &LoadConfig, elements: u64) {
    let mut load = Load::connect(config).unwrap_or_else(|e| panic!("{name}: {e}"));
    let mut group = c.benchmark_group("e2e");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4))
        .throughput(Throughput::Elements(elements));
    group.bench_function(name, |b| {
        b.iter_custom(|iters| match load.run_ops(iters) {
            Ok(report) => report.elapsed,
            Err(e) => panic!("{name}: {e}"),
        })
    });
    group.finish();
}

fn e2e(c: &mut Criterion) {
    let server = Server::start();
    let config = |mode| LoadConfig::new(mode, server.target.clone());
    bench(
        c,
        "reqresp, 1 client",
        &config(Mode::ReqResp).connections(1),
        1,
    );
    bench(c, "reqresp, 50 clients", &config(Mode::ReqResp), 1);
    bench(c, "pipeline, 50 clients x 64", &config(Mode::Pipeline), 1);
    // One set reaches 1,000 subscribers: the throughput is in deliveries.
    let fanout = config(Mode::Fanout).connections(1000).depth(16);
    bench(c, "fanout, 1 set to 1000 subscribers", &fanout, 1000);
    drop(server);
}

criterion_group!(benches, e2e);
criterion_main!(benches);
