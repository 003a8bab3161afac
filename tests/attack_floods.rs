//! Floods: a stream of frames from one client (pings, pongs, large data
//! messages) or of bytes after an HTTP error neither stalls the other
//! clients nor grows the server's memory. Each attack runs against the real
//! binary while a canary client measures its longest wait.
//!
//! The bounds are wide on purpose (half a second, 200 MB) so that a slow
//! machine cannot make them flake: before the fixes these attacks stalled
//! everyone for 5-8 s and grew the server to 2.3 GB.

mod common;

use std::time::Duration;

use common::canary::Canary;
use common::client_frame;
use common::daemon::{Daemon, drain, flood, raw, secret};

const WAIT: Duration = Duration::from_millis(500);
const MEMORY: u64 = 200 << 20;

fn pings() -> Vec<u8> {
    (0..64)
        .flat_map(|_| client_frame(0x9, &[b'p'; 125]))
        .collect()
}

#[test]
fn a_ping_flood_before_authentication_stalls_no_one_and_holds_little() {
    let (secret_file, token) = secret("ping-flood");
    let server = Daemon::start(&[
        "--secret-file",
        secret_file.to_str().unwrap(),
        "--max-output-buffer",
        "2M",
    ]);
    let canary = Canary::start(server.addr, Some(&token));
    let mut s = raw(server.addr);
    let reader = drain(s.try_clone().unwrap());
    let sent = flood(&mut s, &pings(), 3.0);
    let (worst, rounds) = canary.finish();
    assert!(sent > 1 << 20, "the flood sent only {sent} bytes");
    assert!(rounds > 10, "{rounds} canary rounds");
    assert!(worst < WAIT, "the canary waited {worst:?}");
    assert!(
        server.peak_rss() < MEMORY,
        "peak RSS {} MB",
        server.peak_rss() >> 20
    );
    let _ = s.shutdown(std::net::Shutdown::Both);
    reader.join().unwrap();
}

#[test]
fn unsolicited_pongs_from_a_client_that_never_reads_stall_no_one() {
    let server = Daemon::start(&[]);
    let canary = Canary::start(server.addr, None);
    let mut s = raw(server.addr);
    let pongs: Vec<u8> = (0..64)
        .flat_map(|_| client_frame(0xA, &[b'p'; 125]))
        .collect();
    let sent = flood(&mut s, &pongs, 3.0);
    let (worst, _) = canary.finish();
    assert!(sent > 1 << 20, "the flood sent only {sent} bytes");
    assert!(worst < WAIT, "the canary waited {worst:?}");
}

#[test]
fn a_client_that_keeps_sending_after_its_404_is_cut_off() {
    use std::io::{Read, Write};
    let server = Daemon::start(&[]);
    let canary = Canary::start(server.addr, None);
    let mut s = std::net::TcpStream::connect(server.addr).unwrap();
    s.write_all(b"GET /nope HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .unwrap();
    s.set_write_timeout(Some(Duration::from_secs(2))).unwrap();
    let sent = flood(&mut s, &[b'x'; 64 * 1024], 3.0);
    let (worst, _) = canary.finish();
    assert!(worst < WAIT, "the canary waited {worst:?}");
    // Read what the server sent: the 404, then the end of the connection
    // (it stopped reading after a megabyte, well before the 3 s were up).
    assert!(sent < 64 << 20, "the server read {sent} bytes of junk");
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut reply = Vec::new();
    let _ = s.read_to_end(&mut reply);
    assert!(
        reply.starts_with(b"HTTP/1.1 404"),
        "{:?}",
        String::from_utf8_lossy(&reply)
    );
}

#[test]
fn pipelined_large_messages_are_read_a_slice_at_a_time() {
    let server = Daemon::start(&[]);
    let canary = Canary::start(server.addr, None);
    let mut s = raw(server.addr);
    let reader = drain(s.try_clone().unwrap());
    let mut msg = br#"{"type":"get","id":"x","key":"y","pad":""#.to_vec();
    msg.resize(900 * 1024, b'a');
    msg.extend_from_slice(b"\"}");
    let sent = flood(&mut s, &client_frame(0x1, &msg), 3.0);
    let (worst, _) = canary.finish();
    assert!(sent > 10 << 20, "the flood sent only {sent} bytes");
    assert!(worst < WAIT, "the canary waited {worst:?}");
    assert!(
        server.peak_rss() < MEMORY,
        "peak RSS {} MB",
        server.peak_rss() >> 20
    );
    let _ = s.shutdown(std::net::Shutdown::Both);
    reader.join().unwrap();
}
