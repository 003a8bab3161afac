//! The cost of persistence: pipelined sets against a server in memory and
//! with each fsync policy, and the time to recover a million keys.
//!
//! Servers run in a thread of this process over loopback and write to a
//! temporary directory (the machine's own disk: `always` measures its
//! `fdatasync`). Like `e2e`, these figures compare configurations and
//! commits; `kvws load` against a pinned server gives the absolute ones.

use std::path::PathBuf;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use kvws::load::{Load, LoadConfig, Mode, Target};
use kvws::persist::Fsync;
use kvws::{Config, Server};

struct Running {
    handle: kvws::Handle,
    thread: Option<JoinHandle<()>>,
    target: Target,
}

impl Running {
    fn start(config: Config) -> Running {
        let mut server = Server::bind(config.port(0)).unwrap();
        let addr = server.local_addr();
        let handle = server.handle();
        let thread = std::thread::spawn(move || server.run().unwrap());
        Running {
            handle,
            thread: Some(thread),
            target: Target::parse(&format!("ws://{addr}/")).unwrap(),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.handle.shutdown();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("kvws-bench-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn sets(c: &mut Criterion) {
    let mut group = c.benchmark_group("persist sets");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    group.throughput(Throughput::Elements(1));
    let policies = [
        ("in memory", None),
        ("never", Some(Fsync::Never)),
        ("everysec", Some(Fsync::EverySec)),
        ("always", Some(Fsync::Always)),
    ];
    for (name, policy) in policies {
        let dir = temp_dir(name);
        let config = match policy {
            None => Config::default(),
            Some(fsync) => Config::default().data_dir(Some(dir.clone())).fsync(fsync),
        };
        let server = Running::start(config);
        let load_config = LoadConfig::new(Mode::Pipeline, server.target.clone()).sets_only(true);
        let mut load = Load::connect(&load_config).unwrap();
        group.bench_function(format!("pipeline 50x64, fsync {name}"), |b| {
            b.iter_custom(|iters| load.run_ops(iters).expect("run").elapsed)
        });
        drop(load);
        drop(server);
        let _ = std::fs::remove_dir_all(&dir);
    }
    group.finish();
}

fn recovery(c: &mut Criterion) {
    let keys = 1_000_000;
    let dir = temp_dir("recovery");
    {
        // Fill a data directory: a million keys, 100-byte values, logged.
        let mut server = Server::bind(
            Config::default()
                .port(0)
                .max_memory(1 << 30)
                .data_dir(Some(dir.clone())),
        )
        .unwrap();
        let value = format!("\"{}\"", "v".repeat(98));
        for i in 0..keys {
            server.set("bench", &format!("key:{i:07}"), &value).unwrap();
            if i % 10_000 == 0 {
                server.service(Some(Duration::ZERO)).unwrap();
            }
        }
        server.handle().shutdown();
        server.run().unwrap();
    }
    let mut group = c.benchmark_group("persist recovery");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(20));
    group.throughput(Throughput::Elements(keys));
    group.bench_function("1M keys from the log", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let started = Instant::now();
                let server = Server::bind(
                    Config::default()
                        .port(0)
                        .max_memory(1 << 30)
                        .data_dir(Some(dir.clone())),
                )
                .unwrap();
                total += started.elapsed();
                assert_eq!(server.stats().keys, keys);
                drop(server);
            }
            total
        })
    });
    group.finish();
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, sets, recovery);
criterion_main!(benches);
