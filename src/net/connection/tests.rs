//! A connection over an in-memory stream that hands over bytes in the
//! chunks a test chooses and says `WouldBlock` between them, as a
//! non-blocking socket does.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tungstenite::protocol::frame::coding::CloseCode;

use super::{Batch, Connection, Ending, Kind, Limits, Next, Phase};
use crate::conn_id::ConnId;
use crate::net::wire::{InBuf, LARGE_FRAME, SHARED_READ_BUFFER, Stream};

/// Input in chunks (`None`: one `WouldBlock`); output collected.
#[derive(Default)]
struct Mock {
    input: VecDeque<Option<Vec<u8>>>,
    output: Vec<u8>,
    shut: bool,
}

impl Read for Mock {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.input.front_mut() {
            None | Some(None) => {
                self.input.pop_front();
                Err(io::ErrorKind::WouldBlock.into())
            }
            Some(Some(chunk)) => {
                let n = chunk.len().min(buf.len());
                buf[..n].copy_from_slice(&chunk[..n]);
                chunk.drain(..n);
                if chunk.is_empty() {
                    self.input.pop_front();
                }
                Ok(n)
            }
        }
    }
}

impl Write for Mock {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.output.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Stream for Mock {
    fn shutdown_write(&mut self) -> io::Result<()> {
        self.shut = true;
        Ok(())
    }
}

/// A masked client frame.
fn frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![0x80 | opcode];
    match payload.len() {
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
    let mask = [1, 2, 3, 4];
    f.extend_from_slice(&mask);
    f.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    f
}

const LIMITS: Limits = Limits {
    max_message: 1 << 20,
    out_cap: 4096,
};

fn open(limits: Limits) -> Connection<Mock> {
    let peer: SocketAddr = "127.0.0.1:1".parse().unwrap();
    let now = Instant::now();
    let mut c = Connection::new(
        Mock::default(),
        ConnId::from(1),
        peer,
        now,
        Duration::from_secs(1),
    );
    c.upgrade(b"", 0, limits);
    c
}

fn feed(c: &mut Connection<Mock>, chunks: impl IntoIterator<Item = Option<Vec<u8>>>) {
    c.socket().unwrap().input.extend(chunks);
}

/// Reads one round with `budget` bytes; returns what `next` said each
/// time (with the text of messages) and whether the budget ran out.
fn round(c: &mut Connection<Mock>, budget: usize) -> (Vec<String>, bool) {
    let mut shared = InBuf::with_size(SHARED_READ_BUFFER);
    let mut batch = Batch::default();
    c.begin_round(&mut shared, false, budget);
    let mut got = Vec::new();
    loop {
        match c.next(&mut batch, Instant::now(), budget) {
            Next::Message => {
                got.push(match batch.get(0) {
                    (Kind::Text, text) => text.to_string(),
                    (Kind::BadBinary, _) => "<binary>".into(),
                });
                batch.clear();
            }
            Next::Other => got.push("<other>".into()),
            Next::Blocked => break,
            Next::End(e) => {
                got.push(format!("<end {e:?}>"));
                break;
            }
        }
    }
    let spent = c.end_round(&mut shared);
    (got, spent)
}

#[test]
fn a_message_split_anywhere_arrives_once_whole() {
    let mut c = open(LIMITS);
    let bytes = frame(1, br#"{"type":"get"}"#);
    for split in 1..bytes.len() {
        feed(
            &mut c,
            [
                Some(bytes[..split].to_vec()),
                None,
                Some(bytes[split..].to_vec()),
            ],
        );
        assert_eq!(
            round(&mut c, usize::MAX).0,
            Vec::<String>::new(),
            "split {split}"
        );
        assert_eq!(
            round(&mut c, usize::MAX).0,
            [r#"{"type":"get"}"#],
            "split {split}"
        );
    }
}

#[test]
fn a_round_reads_no_more_than_its_byte_budget() {
    let mut c = open(LIMITS);
    let one = frame(1, b"12345678");
    let all: Vec<u8> = (0..10).flat_map(|_| one.clone()).collect();
    feed(&mut c, [Some(all)]);
    let (got, spent) = round(&mut c, one.len() * 3);
    assert_eq!(got.len(), 3);
    assert!(spent, "stopped on its budget");
    let (got, spent) = round(&mut c, usize::MAX);
    assert_eq!(got.len(), 7, "nothing was lost between rounds");
    assert!(!spent);
}

#[test]
fn pongs_to_a_ping_flood_stop_at_the_queue_cap() {
    let mut c = open(LIMITS);
    let pings: Vec<u8> = (0..1000).flat_map(|_| frame(9, &[b'p'; 125])).collect();
    feed(&mut c, [Some(pings)]);
    let (got, _) = round(&mut c, usize::MAX);
    assert!(got.iter().all(|g| g == "<other>") && got.len() == 1000);
    // 127 bytes per pong: the queue stops growing at the cap, not at 127 KB.
    assert!(c.queued() <= LIMITS.out_cap + 127, "{} queued", c.queued());
    assert!(c.queued() > LIMITS.out_cap / 2);
    assert!(!c.overflowed(), "pongs wait; they do not close the client");
    assert_eq!(
        c.partial_input(),
        0,
        "pings are not a message being received"
    );
}

#[test]
fn an_unfinished_message_counts_as_held_until_it_is_complete() {
    let mut c = open(LIMITS);
    let bytes = frame(1, &[b'x'; 10_000]);
    feed(&mut c, [Some(bytes[..6_000].to_vec())]);
    round(&mut c, usize::MAX);
    let held = c.partial_input();
    assert!((5_000..=6_000).contains(&held), "{held}");
    feed(&mut c, [Some(bytes[6_000..].to_vec())]);
    assert_eq!(round(&mut c, usize::MAX).0.len(), 1);
    assert_eq!(c.partial_input(), 0);
}

#[test]
fn a_large_message_leaves_no_large_buffer_and_loses_nothing_after_it() {
    let mut c = open(LIMITS);
    let big = vec![b'x'; LARGE_FRAME as usize + 10];
    let mut bytes = frame(2, &big);
    bytes.extend(frame(1, b"after"));
    // In pieces of 1000 bytes with a WouldBlock between each.
    feed(
        &mut c,
        bytes
            .chunks(1000)
            .flat_map(|ch| [Some(ch.to_vec()), None])
            .collect::<Vec<_>>(),
    );
    let mut got = Vec::new();
    for _ in 0..200 {
        got.extend(round(&mut c, usize::MAX).0);
    }
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].len(), big.len());
    assert_eq!(got[1], "after");
    assert_eq!(c.renewals, 1, "a fresh buffer after the large message");
}

#[test]
fn a_message_over_the_limit_fails_the_connection_with_1009() {
    let mut c = open(Limits {
        max_message: 100,
        out_cap: 4096,
    });
    feed(&mut c, [Some(frame(1, &[b'a'; 101]))]);
    let (got, _) = round(&mut c, usize::MAX);
    assert_eq!(
        got,
        [format!(
            "<end {:?}>",
            Ending::Fail(CloseCode::Size, "message too large")
        )]
    );
}

#[test]
fn the_peers_close_is_answered_after_what_is_queued() {
    let mut c = open(LIMITS);
    assert!(c.send_text(b"reply").is_some());
    feed(&mut c, [Some(frame(8, &1000u16.to_be_bytes()))]);
    let (got, _) = round(&mut c, usize::MAX);
    assert_eq!(got, [format!("<end {:?}>", Ending::Reply)]);
    assert!(c.end(Ending::Reply, Instant::now(), Duration::from_secs(1)));
    assert_eq!(c.phase(), Phase::Draining);
    assert!(c.flush().unwrap().done);
    let out = &c.socket().unwrap().output;
    assert_eq!(&out[..7], b"\x81\x05reply");
    assert_eq!(&out[7..], b"\x88\x02\x03\xe8", "our close reply, code 1000");
    assert!(c.socket().unwrap().shut);
    // Retired once only.
    assert!(!c.end(Ending::Drop, Instant::now(), Duration::from_secs(1)));
}

#[test]
fn a_slow_consumer_is_refused_output_past_its_cap() {
    let mut c = open(LIMITS);
    let chunk = vec![b'v'; 1000];
    let sent = (0..10).filter(|_| c.send_text(&chunk).is_some()).count();
    assert_eq!(sent, 4);
    assert!(c.overflowed());
    assert_eq!(
        c.pending_close(),
        Some(Ending::Close(CloseCode::Policy, "output buffer limit"))
    );
}
