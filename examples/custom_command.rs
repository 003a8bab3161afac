//! Extending the protocol without forking: a hook adds an `incr` message
//! type and a `shout` broadcast, greets each client, limits connections per
//! client address, and serves `/clients` over HTTP on the same port.
//!
//! ```text
//! → {"type":"incr","id":"app1","key":"visits","by":2,"req":1}
//! ← {"type":"value","id":"app1","key":"visits","value":2,"rev":...,"req":1}
//! → {"type":"shout","text":"hello"}
//! ← {"type":"shouted","text":"hello"}      (to every open connection)
//! ```
//!
//! `incr` is atomic (the loop is single-threaded) and its result reaches the
//! key's subscribers like any `set` (the client that sent it gets its reply
//! first, then the notification, as for a `set`). Run it with:
//!
//! ```sh
//! cargo run --example custom_command -- 8080
//! ```

use std::collections::HashMap;
use std::net::IpAddr;

use kvws::{
    Config, ConnId, Context, CustomMessage, Hooks, HttpRequest, OpenRequest, Refusal, Response,
    Server,
};
use serde_json::{Value, json};

/// Connections a single client address may hold at once.
const PER_ADDRESS: usize = 16;

#[derive(Default)]
struct Counter {
    by_address: HashMap<IpAddr, usize>,
    address_of: HashMap<ConnId, IpAddr>,
}

impl Counter {
    /// `{"type":"incr","id","key","by"?}`: adds `by` (default 1) to an integer value.
    fn incr(&self, ctx: &mut Context<'_>, conn: ConnId, msg: &CustomMessage<'_>) {
        let m = msg.json();
        let reply = |ctx: &mut Context<'_>, mut body: Value| {
            if let Some(req) = msg.req {
                body["req"] = serde_json::from_str(req).unwrap_or(Value::Null);
            }
            ctx.send(conn, &body.to_string());
        };
        let (Some(id), Some(key)) = (m["id"].as_str(), m["key"].as_str()) else {
            let error =
                json!({"type":"error","code":"bad_request","message":"incr needs 'id' and 'key'"});
            return reply(ctx, error);
        };
        let by = m["by"].as_i64().unwrap_or(1);
        let current = match ctx.get(id, key) {
            None => 0,
            Some((text, _)) => match text.parse::<i64>() {
                Ok(n) => n,
                Err(_) => {
                    let error = json!({"type":"error","code":"bad_request","message":"the value is not an integer"});
                    return reply(ctx, error);
                }
            },
        };
        let value = current.saturating_add(by);
        match ctx.set(id, key, &value.to_string()) {
            Ok(rev) => reply(
                ctx,
                json!({"type":"value","id":id,"key":key,"value":value,"rev":rev}),
            ),
            Err(e) => reply(
                ctx,
                json!({"type":"error","code":e.code.as_str(),"message":e.message}),
            ),
        }
    }
}

impl Hooks for Counter {
    /// `GET /clients`: how many connections each address holds, as JSON.
    fn on_http(&mut self, request: &HttpRequest<'_>) -> Option<Response> {
        if request.path != "/clients" {
            return None; // the test page at `/`, 404 elsewhere
        }
        let by_address: HashMap<String, usize> = self
            .by_address
            .iter()
            .map(|(ip, n)| (ip.to_string(), *n))
            .collect();
        Some(Response::json(json!(by_address).to_string()))
    }

    fn on_open(&mut self, request: &OpenRequest<'_>) -> Result<(), Refusal> {
        let ip = request.peer.ip();
        let n = self.by_address.entry(ip).or_default();
        if *n >= PER_ADDRESS {
            return Err(Refusal::new(format!(
                "at most {PER_ADDRESS} connections per address"
            )));
        }
        *n += 1;
        self.address_of.insert(request.conn, ip);
        Ok(())
    }

    fn on_established(&mut self, ctx: &mut Context<'_>, conn: ConnId) {
        ctx.send(conn, r#"{"type":"welcome","commands":["incr"]}"#);
    }

    fn on_close(&mut self, _ctx: &mut Context<'_>, conn: ConnId) {
        if let Some(ip) = self.address_of.remove(&conn)
            && let Some(n) = self.by_address.get_mut(&ip)
        {
            *n -= 1;
            if *n == 0 {
                self.by_address.remove(&ip);
            }
        }
    }

    fn on_message(&mut self, ctx: &mut Context<'_>, conn: ConnId, msg: &CustomMessage<'_>) -> bool {
        match msg.kind {
            "incr" => self.incr(ctx, conn, msg),
            "shout" => {
                let text = msg.json()["text"].as_str().unwrap_or_default().to_string();
                ctx.broadcast(&json!({"type":"shouted","text":text}).to_string());
            }
            _ => return false,
        }
        true
    }
}

fn main() -> std::io::Result<()> {
    let port = std::env::args()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(8080);
    let mut server = Server::bind(Config::default().port(port))?;
    server.set_hooks(Counter::default());
    server.shutdown_on_signals()?;
    println!(
        "listening on http://{}/ ; try {{\"type\":\"incr\",\"id\":\"app1\",\"key\":\"n\"}}",
        server.local_addr()
    );
    server.run()
}
