//! A well-behaved client that does a `set` and a `get` every few
//! milliseconds while an attack runs, and measures the longest it waited.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tungstenite::{Message, WebSocket};

/// A canary running on its own thread.
pub struct Canary {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<(Duration, usize)>,
}

fn text<S: Read + Write>(ws: &mut WebSocket<S>) -> String {
    loop {
        match ws.read() {
            Ok(Message::Text(t)) => return t.to_string(),
            Ok(_) => continue,
            Err(tungstenite::Error::Io(e)) if e.kind() == ErrorKind::WouldBlock => {
                panic!("the canary waited over 60 s for a reply")
            }
            Err(e) => panic!("the canary lost its connection: {e}"),
        }
    }
}

impl Canary {
    /// Connects (authenticating with `token` if given) and starts.
    pub fn start(addr: SocketAddr, token: Option<&str>) -> Canary {
        let stream = TcpStream::connect(addr).unwrap();
        stream.set_nodelay(true).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .unwrap();
        let (ws, _) = tungstenite::client(format!("ws://{addr}/"), stream).unwrap();
        Canary::on(ws, token)
    }

    /// Starts on a WebSocket already open (over TLS, say), whose reads
    /// time out after a minute.
    pub fn on<S: Read + Write + Send + 'static>(
        mut ws: WebSocket<S>,
        token: Option<&str>,
    ) -> Canary {
        if let Some(t) = token {
            ws.send(Message::text(format!(r#"{{"type":"auth","token":"{t}"}}"#)))
                .unwrap();
            assert!(text(&mut ws).contains("authenticated"));
        }
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let (mut worst, mut rounds) = (Duration::ZERO, 0);
            while !flag.load(Ordering::Relaxed) {
                let t = Instant::now();
                let set =
                    format!(r#"{{"type":"set","id":"canary","key":"k","value":{rounds},"req":1}}"#);
                ws.send(Message::text(set)).unwrap();
                assert!(text(&mut ws).contains(r#""req":1"#));
                ws.send(Message::text(
                    r#"{"type":"get","id":"canary","key":"k","req":2}"#,
                ))
                .unwrap();
                assert!(text(&mut ws).contains(r#""req":2"#));
                worst = worst.max(t.elapsed());
                rounds += 1;
                std::thread::sleep(Duration::from_millis(5));
            }
            (worst, rounds)
        });
        Canary { stop, thread }
    }

    /// Stops; returns the longest round trip and how many there were.
    pub fn finish(self) -> (Duration, usize) {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().expect("canary")
    }
}
