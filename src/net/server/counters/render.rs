//! Writing the counters to the `/metrics` page: one family per counter,
//! every label value from the tables in the parent module.
//!
//! Apart from the counting because the two change for different reasons:
//! counting is on the path of every message and is kept to a few
//! instructions, while the page is written when a scraper asks, and is
//! where names, help texts and which series to show are decided.

use super::{CHOSEN_CODES, Counters, ERROR_CODES, REFUSED, ROUTES, SENT, SERVER_CLOSES};
use crate::metrics::{Exposition, Kind};

impl Counters {
    /// Writes the shell's families.
    pub fn write(&self, out: &mut Exposition) {
        out.counter(
            "kvws_connections_accepted_total",
            "TCP connections accepted.",
            self.accepted,
        );
        out.counters(
            "kvws_connections_refused_total",
            "Connections refused before becoming a WebSocket, by reason.",
            "reason",
            REFUSED.iter().copied().zip(self.refused),
        );
        out.counters(
            "kvws_http_requests_total",
            "HTTP requests by route (websocket: an upgrade, accepted or not).",
            "route",
            ROUTES.iter().copied().zip(self.routes),
        );
        out.counter(
            "kvws_websockets_opened_total",
            "WebSocket handshakes completed.",
            self.websockets_opened,
        );
        out.counters(
            "kvws_ws_messages_sent_total",
            "WebSocket messages queued for clients, by type (a notification to N subscribers counts N).",
            "type",
            SENT.iter().copied().zip(self.sent),
        );
        let codes = ERROR_CODES.iter().map(|c| c.as_str()).chain(["other"]);
        out.counters(
            "kvws_ws_errors_sent_total",
            "Error replies sent, by code.",
            "code",
            codes.zip(self.errors),
        );
        out.counter(
            "kvws_received_bytes_total",
            "Bytes read from clients' sockets (HTTP and WebSocket).",
            self.bytes_in,
        );
        out.counter(
            "kvws_sent_bytes_total",
            "Bytes written to clients' sockets (HTTP and WebSocket).",
            self.bytes_out,
        );
        let name = "kvws_ws_closes_total";
        out.family(
            name,
            Kind::Counter,
            "WebSockets that stopped serving, by reason and close code (client: the client closed first; embedder: the embedding program closed it; lost: no close handshake).",
        );
        for (&(reason, code, _), n) in SERVER_CLOSES.iter().zip(self.server_closes) {
            out.sample(name, &[("reason", reason), ("code", &code.to_string())], n);
        }
        for (reason, counts) in [
            ("client", &self.client_closes),
            ("embedder", &self.embedder_closes),
        ] {
            for (i, &n) in counts.iter().enumerate() {
                // A series per code only once it happened: 18 zeros per
                // reason would drown the page.
                if n > 0 {
                    out.sample(name, &[("reason", reason), ("code", &code_label(i))], n);
                }
            }
        }
    }
}

fn code_label(i: usize) -> String {
    match i {
        CHOSEN_CODES => "other".into(),
        i if i > CHOSEN_CODES => "1005".into(),
        i => (1000 + i).to_string(),
    }
}
