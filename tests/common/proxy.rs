//! A TCP proxy between a client and a server, for tests that need a
//! connection dropped on demand (to check resuming and resyncing).

use std::io;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;

/// A TCP proxy in front of a server that can drop every connection going
/// through it, refuse new ones, and switch servers.
pub struct Proxy {
    addr: SocketAddr,
    state: Arc<Mutex<(SocketAddr, bool, Vec<TcpStream>)>>,
}

impl Proxy {
    pub fn start(upstream: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new((upstream, true, Vec::new())));
        let shared = state.clone();
        thread::spawn(move || {
            for client in listener.incoming().map_while(Result::ok) {
                let mut s = shared.lock().unwrap();
                let Some(server) = s.1.then(|| TcpStream::connect(s.0).ok()).flatten() else {
                    continue; // dropped: the handshake fails
                };
                s.2.push(client.try_clone().unwrap());
                s.2.push(server.try_clone().unwrap());
                pipe(client.try_clone().unwrap(), server.try_clone().unwrap());
                pipe(server, client);
            }
        });
        Proxy { addr, state }
    }

    pub fn url(&self) -> String {
        format!("ws://{}/", self.addr)
    }

    /// Drops every connection; later ones are accepted when `open`.
    pub fn cut(&self, open: bool) {
        let mut s = self.state.lock().unwrap();
        s.1 = open;
        for c in s.2.drain(..) {
            let _ = c.shutdown(Shutdown::Both);
        }
    }

    pub fn reopen(&self, upstream: SocketAddr) {
        let mut s = self.state.lock().unwrap();
        (s.0, s.1) = (upstream, true);
    }
}

fn pipe(mut from: TcpStream, mut to: TcpStream) {
    thread::spawn(move || {
        let _ = io::copy(&mut from, &mut to);
        let _ = to.shutdown(Shutdown::Both);
    });
}
