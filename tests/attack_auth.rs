//! Guessing tokens: failed attempts are counted as they are handled, so a
//! client that sends hundreds of `auth` messages at once has no more than
//! five checked before it is closed.

mod common;

use std::io::{Read, Write};
use std::time::Duration;

use common::client_frame;
use common::daemon::{Daemon, raw, secret};

#[test]
fn pipelined_guesses_stop_at_the_fifth_failure() {
    let (secret_file, token) = secret("guesses");
    let server = Daemon::start(&[
        "--secret-file",
        secret_file.to_str().unwrap(),
        "--close-timeout",
        "1s",
    ]);
    let mut s = raw(server.addr);
    let guess = client_frame(0x1, br#"{"type":"auth","token":"a.b.c"}"#);
    // The last one would succeed, if it were ever looked at.
    let good = client_frame(
        0x1,
        format!(r#"{{"type":"auth","token":"{token}"}}"#).as_bytes(),
    );
    let mut all: Vec<u8> = (0..511).flat_map(|_| guess.clone()).collect();
    all.extend(good);
    s.write_all(&all).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut got = Vec::new();
    let _ = s.read_to_end(&mut got);
    let text = String::from_utf8_lossy(&got);
    let answered = text.matches("invalid_token").count();
    assert_eq!(answered, 5, "{answered} guesses were checked and answered");
    assert!(!text.contains("authenticated"));
    // Then a close frame: 1008 and why.
    let close = got
        .windows(2)
        .rposition(|w| w == [0x88, 0x2b] || w[0] == 0x88)
        .expect("a close frame");
    assert_eq!(&got[close + 2..close + 4], &1008u16.to_be_bytes());
}
