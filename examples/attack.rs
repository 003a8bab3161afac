//! Attacks a running kvws the way a hostile client would, while a second,
//! well-behaved "canary" client does a `set` and a `get` every 5 ms and
//! measures how long it waits. Reports the canary's longest wait, the
//! server's peak resident memory and the CPU it used (with `--pid`).
//!
//! ```sh
//! cargo build --release --example attack
//! target/release/kvws -l warn &
//! target/release/examples/attack ws://127.0.0.1:8080/ ping-flood --pid $!
//! ```
//!
//! Attacks: ping-flood, pong-flood, 404-stream, frame-flood, preauth-partial,
//! subscriptions, list-big, ephemeral, auth-pipeline, resume-after-1008,
//! rebind, max-value, expire (see `usage`). Loopback only: the target must
//! be 127.0.0.1 or localhost.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use tungstenite::{Message, WebSocket};

fn usage() -> ! {
    eprintln!(
        "usage: attack URL ATTACK [--pid PID] [--secs S] [--n N] [--token T]\n\
         attacks:\n  \
         ping-flood        one client sends 125-byte pings for S s (and reads)\n  \
         pong-flood        one client sends unsolicited pongs for S s (never reads)\n  \
         404-stream        GET /nope, then keeps sending bytes for S s\n  \
         frame-flood       pipelines 1 MiB text frames for S s\n  \
         preauth-partial   N connections each send 1 MiB - 1 byte of a 1 MiB frame and wait\n  \
         subscriptions     N connections hold 1,000 subscriptions to 1 KB keys each\n  \
         list-big          fills N keys into one namespace, then lists it once\n  \
         ephemeral         one client sets N ephemeral keys, then disconnects\n  \
         auth-pipeline     sends 512 bad auth messages in one write; counts the answers\n  \
         resume-after-1008 a slow subscriber is closed, then resumes with since\n  \
         rebind            a WebSocket with Host and Origin of a rebound name\n  \
         max-value         sets a value of exactly N bytes (default 1 MiB)\n  \
         expire            on a full disk: N keys with a 3 s TTL, then fills the log; CPU for S s"
    );
    std::process::exit(2);
}

struct Args {
    addr: SocketAddr,
    host: String,
    attack: String,
    pid: Option<u32>,
    secs: u64,
    n: Option<usize>,
    token: Option<String>,
}

fn args() -> Args {
    let mut it = std::env::args().skip(1);
    let url = it.next().unwrap_or_else(|| usage());
    let attack = it.next().unwrap_or_else(|| usage());
    let hostport = url
        .strip_prefix("ws://")
        .unwrap_or_else(|| usage())
        .trim_end_matches('/')
        .to_string();
    let addr = hostport
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .unwrap_or_else(|| usage());
    assert!(addr.ip().is_loopback(), "attacks target loopback only");
    let (mut pid, mut secs, mut n, mut token) = (None, 5, None, None);
    while let Some(flag) = it.next() {
        let value = it.next().unwrap_or_else(|| usage());
        match flag.as_str() {
            "--pid" => pid = value.parse().ok(),
            "--secs" => secs = value.parse().unwrap_or_else(|_| usage()),
            "--n" => n = value.parse().ok(),
            "--token" => token = Some(value),
            _ => usage(),
        }
    }
    Args {
        addr,
        host: hostport,
        attack,
        pid,
        secs,
        n,
        token,
    }
}

/// A masked client frame.
fn frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![0x80 | opcode];
    header_len(&mut f, payload.len());
    f.extend_from_slice(&[0, 0, 0, 0]); // a zero mask leaves the payload as is
    f.extend_from_slice(payload);
    f
}

fn header_len(f: &mut Vec<u8>, n: usize) {
    match n {
        n if n < 126 => f.push(0x80 | n as u8),
        n if n <= 0xffff => {
            f.push(0x80 | 126);
            f.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            f.push(0x80 | 127);
            f.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
}

/// Sends an upgrade request with `host` and `origin`; returns the socket and
/// the response's status line.
fn handshake(addr: SocketAddr, host: &str, origin: Option<&str>) -> (TcpStream, String) {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_nodelay(true).unwrap();
    let origin = origin.map_or(String::new(), |o| format!("Origin: {o}\r\n"));
    let req = format!(
        "GET / HTTP/1.1\r\nHost: {host}\r\n{origin}Upgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
    );
    s.write_all(req.as_bytes()).unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8];
    while !head.ends_with(b"\r\n\r\n") {
        if s.read(&mut byte).unwrap_or(0) == 0 {
            break;
        }
        head.push(byte[0]);
    }
    let status = String::from_utf8_lossy(&head)
        .lines()
        .next()
        .unwrap_or("")
        .to_string();
    (s, status)
}

fn raw_ws(args: &Args) -> TcpStream {
    let (s, status) = handshake(args.addr, &args.host, None);
    assert!(status.contains("101"), "handshake: {status}");
    s
}

fn client(args: &Args) -> WebSocket<TcpStream> {
    let s = TcpStream::connect(args.addr).unwrap();
    s.set_nodelay(true).unwrap();
    let (mut ws, _) = tungstenite::client(format!("ws://{}/", args.host), s).expect("handshake");
    if let Some(t) = &args.token {
        ws.send(Message::text(format!(r#"{{"type":"auth","token":"{t}"}}"#)))
            .unwrap();
        next_text(&mut ws);
    }
    ws
}

fn next_text(ws: &mut WebSocket<TcpStream>) -> String {
    loop {
        match ws.read() {
            Ok(Message::Text(t)) => return t.to_string(),
            Ok(_) => {}
            Err(e) => return format!("<{e}>"),
        }
    }
}

/// Round trips of the canary, in microseconds.
struct Canary {
    stop: Arc<AtomicBool>,
    thread: thread::JoinHandle<Vec<u64>>,
}

impl Canary {
    fn start(args: &Args) -> Canary {
        let stop = Arc::new(AtomicBool::new(false));
        let mut ws = client(args);
        ws.get_mut()
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        let flag = stop.clone();
        let thread = thread::spawn(move || {
            let mut waits = Vec::new();
            let mut i = 0u64;
            while !flag.load(Ordering::Relaxed) {
                let t = Instant::now();
                i += 1;
                let set =
                    format!(r#"{{"type":"set","id":"canary","key":"k","value":{i},"req":1}}"#);
                if ws.send(Message::text(set)).is_err() {
                    break;
                }
                next_text(&mut ws);
                let _ = ws.send(Message::text(r#"{"type":"get","id":"canary","key":"k"}"#));
                next_text(&mut ws);
                waits.push(t.elapsed().as_micros() as u64);
                thread::sleep(Duration::from_millis(5));
            }
            waits
        });
        Canary { stop, thread }
    }

    fn finish(self) -> String {
        self.stop.store(true, Ordering::Relaxed);
        let mut waits = self.thread.join().unwrap();
        if waits.is_empty() {
            return "canary: no round trip completed".into();
        }
        waits.sort_unstable();
        let at = |q: f64| waits[((waits.len() - 1) as f64 * q) as usize] as f64 / 1000.0;
        format!(
            "canary: {} round trips, p50 {:.2} ms, p99 {:.2} ms, max {:.1} ms",
            waits.len(),
            at(0.5),
            at(0.99),
            at(1.0)
        )
    }
}

/// The server process's peak resident memory and CPU time so far.
fn proc_stats(pid: Option<u32>) -> String {
    let Some(pid) = pid else {
        return String::new();
    };
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .map(|l| l[name.len()..].trim().to_string())
            .unwrap_or_default()
    };
    format!(
        "server: RSS {} (peak {}), CPU {:.2} s",
        field("VmRSS:"),
        field("VmHWM:"),
        cpu_secs(pid)
    )
}

fn cpu_secs(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or(vec![], |(_, r)| r.split_whitespace().collect());
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

/// Runs `attack` for `secs` with a canary, then reports.
fn with_canary(args: &Args, what: &str, attack: impl FnOnce(&Arc<AtomicBool>)) {
    let canary = Canary::start(args);
    let stop = Arc::new(AtomicBool::new(false));
    let cpu0 = args.pid.map_or(0.0, cpu_secs);
    let t = Instant::now();
    attack(&stop);
    println!("{what}: {:.1?}", t.elapsed());
    println!("{}", canary.finish());
    if let Some(pid) = args.pid {
        println!(
            "{} (this attack: {:.2} s CPU)",
            proc_stats(Some(pid)),
            cpu_secs(pid) - cpu0
        );
    }
}

fn for_secs(secs: u64, stop: &AtomicBool, mut step: impl FnMut() -> bool) {
    let end = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < end && !stop.load(Ordering::Relaxed) {
        if !step() {
            break;
        }
    }
}

/// Reads and discards everything until the socket closes.
fn drain(mut s: TcpStream) -> thread::JoinHandle<u64> {
    thread::spawn(move || {
        let mut buf = vec![0u8; 64 * 1024];
        let mut total = 0;
        while let Ok(n) = s.read(&mut buf) {
            if n == 0 {
                break;
            }
            total += n as u64;
        }
        total
    })
}

/// Sends `frames` as fast as the socket takes them for `secs`.
fn flood(args: &Args, chunk: Vec<u8>, read: bool) {
    let mut s = raw_ws(args);
    let reader = read.then(|| drain(s.try_clone().unwrap()));
    let sent = AtomicU64::new(0);
    let stop = AtomicBool::new(false);
    s.set_write_timeout(Some(Duration::from_secs(2))).unwrap();
    for_secs(args.secs, &stop, || {
        let ok = s.write_all(&chunk).is_ok();
        if ok {
            sent.fetch_add(chunk.len() as u64, Ordering::Relaxed);
        }
        ok
    });
    println!("sent {} MB", sent.load(Ordering::Relaxed) >> 20);
    let _ = s.shutdown(std::net::Shutdown::Both);
    if let Some(r) = reader {
        println!("read back {} MB", r.join().unwrap() >> 20);
    }
}

/// Pipelines `messages` over one raw connection while reading the replies.
fn pipeline(args: &Args, messages: impl Iterator<Item = String>) -> TcpStream {
    let mut s = raw_ws(args);
    let reader = drain(s.try_clone().unwrap());
    let mut buf = Vec::new();
    for m in messages {
        buf.extend(frame(1, m.as_bytes()));
        if buf.len() > 256 * 1024 {
            s.write_all(&buf).unwrap();
            buf.clear();
        }
    }
    s.write_all(&buf).unwrap();
    std::mem::forget(reader);
    s
}

fn wait_for_key(args: &Args, id: &str, key: &str) {
    let mut ws = client(args);
    let start = Instant::now();
    loop {
        ws.send(Message::text(format!(
            r#"{{"type":"get","id":"{id}","key":"{key}"}}"#
        )))
        .unwrap();
        if !next_text(&mut ws).contains(r#""rev":0"#) || start.elapsed() > Duration::from_secs(300)
        {
            return;
        }
        thread::sleep(Duration::from_millis(100));
    }
}

fn main() {
    let args = args();
    let secs = args.secs;
    match args.attack.as_str() {
        "ping-flood" => with_canary(&args, "ping flood", |_| {
            let pings: Vec<u8> = (0..64).flat_map(|_| frame(9, &[b'p'; 125])).collect();
            flood(&args, pings, true);
        }),
        "pong-flood" => with_canary(&args, "pong flood", |_| {
            let pongs: Vec<u8> = (0..64).flat_map(|_| frame(10, &[b'p'; 125])).collect();
            flood(&args, pongs, false);
        }),
        "404-stream" => with_canary(&args, "404 then a stream of bytes", |stop| {
            let mut s = TcpStream::connect(args.addr).unwrap();
            s.write_all(b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n")
                .unwrap();
            s.set_write_timeout(Some(Duration::from_secs(2))).unwrap();
            let junk = vec![b'x'; 64 * 1024];
            let mut sent = 0u64;
            for_secs(secs, stop, || {
                let ok = s.write_all(&junk).is_ok();
                sent += junk.len() as u64 * u64::from(ok);
                ok
            });
            println!("sent {} MB after the 404", sent >> 20);
        }),
        "frame-flood" => with_canary(&args, "1 MiB frames", |_| {
            let size = args.n.unwrap_or((1 << 20) - 64);
            let mut msg = br#"{"type":"get","id":"x","key":"y","pad":""#.to_vec();
            msg.resize(size - 2, b'a');
            msg.extend_from_slice(b"\"}");
            flood(&args, frame(1, &msg), true);
        }),
        "preauth-partial" => {
            let n = args.n.unwrap_or(200);
            let mut held = Vec::new();
            let chunk = vec![b'a'; (1 << 20) - 1];
            let before = proc_stats(args.pid);
            for _ in 0..n {
                let mut s = raw_ws(&args);
                let mut f = vec![0x81];
                header_len(&mut f, 1 << 20);
                f.extend_from_slice(&[0, 0, 0, 0]);
                let _ = s.write_all(&f);
                s.set_write_timeout(Some(Duration::from_secs(2))).unwrap();
                let _ = s.write_all(&chunk);
                held.push(s);
            }
            thread::sleep(Duration::from_secs(1));
            println!("{n} connections each holding 1 MiB - 1 byte of a frame");
            println!("before: {before}\nafter:  {}", proc_stats(args.pid));
        }
        "subscriptions" => {
            let n = args.n.unwrap_or(100);
            let value = format!("\"{}\"", "v".repeat(1000));
            let fill = (0..1000)
                .map(|i| format!(r#"{{"type":"set","id":"subs","key":"k{i}","value":{value}}}"#));
            let _w = pipeline(&args, fill);
            wait_for_key(&args, "subs", "k999");
            let before = proc_stats(args.pid);
            let mut held = Vec::new();
            for _ in 0..n {
                let subs = (0..1000)
                    .map(|i| format!(r#"{{"type":"subscribe","id":"subs","key":"k{i}"}}"#));
                held.push(pipeline(&args, subs));
            }
            thread::sleep(Duration::from_secs(2));
            println!("{n} connections × 1,000 subscriptions to 1 KB keys");
            println!("before: {before}\nafter:  {}", proc_stats(args.pid));
        }
        "list-big" => {
            let n = args.n.unwrap_or(1_000_000);
            let fill = (0..n).map(|i| {
                format!(r#"{{"type":"set","id":"big","key":"key:{i:08}","value":"0123456789"}}"#)
            });
            let t = Instant::now();
            let _w = pipeline(&args, fill);
            wait_for_key(&args, "big", &format!("key:{:08}", n - 1));
            println!(
                "filled {n} keys in {:.1?}; {}",
                t.elapsed(),
                proc_stats(args.pid)
            );
            with_canary(&args, "the first list", |_| {
                thread::sleep(Duration::from_millis(200));
                let mut ws = client(&args);
                ws.send(Message::text(r#"{"type":"list","id":"big","limit":10}"#))
                    .unwrap();
                let reply = next_text(&mut ws);
                println!("list reply: {}...", &reply[..reply.len().min(60)]);
                thread::sleep(Duration::from_millis(200));
            });
        }
        "ephemeral" => {
            let n = args.n.unwrap_or(600_000);
            let fill = (0..n).map(|i| {
                format!(
                    r#"{{"type":"set","id":"eph","key":"key:{i:08}","value":1,"ephemeral":true}}"#
                )
            });
            let owner = pipeline(&args, fill);
            wait_for_key(&args, "eph", &format!("key:{:08}", n - 1));
            println!("{n} ephemeral keys set; {}", proc_stats(args.pid));
            with_canary(&args, "the owner's disconnect", |_| {
                thread::sleep(Duration::from_millis(200));
                let _ = owner.shutdown(std::net::Shutdown::Both);
                thread::sleep(Duration::from_secs(secs));
            });
        }
        "auth-pipeline" => {
            let mut s = raw_ws(&args);
            let bad = frame(1, br#"{"type":"auth","token":"a.b.c"}"#);
            let all: Vec<u8> = (0..512).flat_map(|_| bad.clone()).collect();
            s.write_all(&all).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut got = Vec::new();
            let _ = s.read_to_end(&mut got);
            let errors = String::from_utf8_lossy(&got)
                .matches("invalid_token")
                .count();
            println!("512 bad auth messages sent at once: {errors} were checked and answered");
        }
        "resume-after-1008" => {
            // Needs a server with a small --max-output-buffer (e.g. 1M).
            let mut sub = client(&args);
            sub.send(Message::text(
                r#"{"type":"subscribe","id":"slow","prefix":""}"#,
            ))
            .unwrap();
            let first = next_text(&mut sub);
            let since: u64 = first
                .rsplit_once(r#""rev":"#)
                .and_then(|(_, r)| r.trim_end_matches('}').parse().ok())
                .unwrap_or(0);
            let value = format!("\"{}\"", "v".repeat(1000));
            let n = args.n.unwrap_or(12_000);
            let writes = (0..n).map(|i| {
                format!(
                    r#"{{"type":"set","id":"slow","key":"k{}","value":{value}}}"#,
                    i % 500
                )
            });
            let _w = pipeline(&args, writes);
            thread::sleep(Duration::from_secs(2));
            let mut lost = String::new();
            loop {
                match sub.read() {
                    Ok(_) => {}
                    Err(e) => {
                        lost = format!("{lost}{e}");
                        break;
                    }
                }
            }
            println!("subscriber: {lost}");
            for attempt in 1..=3 {
                let mut ws = client(&args);
                ws.send(Message::text(format!(
                    r#"{{"type":"subscribe","id":"slow","prefix":"","since":{since},"req":1}}"#
                )))
                .unwrap();
                let mut replayed = 0;
                let outcome = loop {
                    match ws.read() {
                        Ok(Message::Text(t)) if t.contains(r#""req":1"#) => break t.to_string(),
                        Ok(Message::Text(_)) => replayed += 1,
                        Ok(_) => {}
                        Err(e) => break format!("<{e}>"),
                    }
                };
                println!("resume attempt {attempt}: {replayed} changes, then {outcome}");
            }
        }
        "rebind" => {
            let port = args.addr.port();
            let host = format!("evil.example:{port}");
            let (_, status) = handshake(args.addr, &host, Some(&format!("http://{host}")));
            println!("Host {host}, Origin http://{host}: {status}");
        }
        "max-value" => {
            let n = args.n.unwrap_or(1 << 20);
            let mut ws = client(&args);
            let value = format!("\"{}\"", "v".repeat(n - 2));
            let msg = format!(r#"{{"type":"set","id":"big","key":"v","value":{value}}}"#);
            let _ = ws.send(Message::text(msg));
            let reply = match ws.read() {
                Ok(Message::Text(t)) => t[..t.len().min(100)].to_string(),
                Ok(Message::Close(c)) => format!("closed: {c:?}"),
                other => format!("{other:?}"),
            };
            println!("a value of {n} bytes: {reply}");
        }
        "expire" => {
            // Run against a server whose data directory's disk is full but
            // for the log's preallocated space: N keys get a 3 s TTL, then
            // writes fill the log until they are refused, and the expiries
            // (which the log can no longer take) come due.
            let n = args.n.unwrap_or(10_000);
            let fill = (0..n).map(|i| {
                format!(r#"{{"type":"set","id":"ttl","key":"k{i}","value":1,"ttl_ms":3000}}"#)
            });
            let _w = pipeline(&args, fill);
            wait_for_key(&args, "ttl", &format!("k{}", n - 1));
            let mut ws = client(&args);
            let value = format!("\"{}\"", "v".repeat(60_000));
            let mut stored = 0;
            loop {
                let msg =
                    format!(r#"{{"type":"set","id":"fill","key":"f{stored}","value":{value}}}"#);
                ws.send(Message::text(msg)).unwrap();
                let reply = next_text(&mut ws);
                if reply.contains("storage_failed") {
                    break;
                }
                stored += 1;
            }
            println!("the log is full after {stored} more values of 60 KB");
            with_canary(&args, "expiries on a full disk", |_| {
                thread::sleep(Duration::from_secs(secs));
            });
        }
        _ => usage(),
    }
}
