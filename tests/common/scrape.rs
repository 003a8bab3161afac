//! Reading `/metrics` as Prometheus would: a real HTTP request, and the
//! page parsed by the Python `prometheus_client` library's text parser
//! (the reference implementation's parser, not one of ours).
//!
//! `KVWS_PYTHON` names a Python with `prometheus_client` installed (as
//! `.ci/run` makes one). Without it the tests that need the parser say
//! they skipped, unless `KVWS_REQUIRE_CLIENTS=1` (CI): then they fail.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};

use std::time::{Duration, Instant};

use super::PATIENCE;

/// An HTTP response: status, head (lowercased names), body.
pub struct Reply {
    pub status: u16,
    pub head: String,
    pub body: String,
}

impl Reply {
    /// The value of header `name`, if present.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().skip(1).find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }
}

/// Sends `METHOD path` with `headers` over a fresh connection and reads
/// the whole response (the server closes after it).
pub fn request(addr: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)]) -> Reply {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(PATIENCE)).unwrap();
    let mut req = format!("{method} {path} HTTP/1.1\r\n");
    if !headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("host")) {
        req.push_str(&format!("Host: {addr}\r\n"));
    }
    for (n, v) in headers {
        req.push_str(&format!("{n}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    let mut bytes = Vec::new();
    s.read_to_end(&mut bytes)
        .expect("the server closes after a response");
    let text = String::from_utf8(bytes).expect("UTF-8 response");
    let (head, body) = text.split_once("\r\n\r\n").expect("a response head");
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status");
    Reply {
        status,
        head: head.to_string(),
        body: body.to_string(),
    }
}

/// A `GET`.
pub fn get(addr: SocketAddr, path: &str) -> Reply {
    request(addr, "GET", path, &[])
}

/// The Python that parses pages, or `None` (and the test skips).
pub fn python() -> Option<String> {
    let python = std::env::var("KVWS_PYTHON").ok().filter(|p| !p.is_empty());
    let usable = python.as_deref().is_some_and(|p| {
        Command::new(p)
            .args(["-c", "import prometheus_client.parser"])
            .status()
            .is_ok_and(|s| s.success())
    });
    if !usable {
        super::suite::skip(
            "metrics parsing test",
            "KVWS_PYTHON does not name a Python with prometheus_client",
        );
        return None;
    }
    python
}

/// A parsed page: each family's type, and every sample.
#[derive(Debug)]
pub struct Page {
    pub types: BTreeMap<String, String>,
    pub samples: Vec<(String, BTreeMap<String, String>, f64)>,
}

impl Page {
    /// The sample `name` with exactly `labels`, if there is one.
    pub fn find(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let want: BTreeMap<String, String> = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        self.samples
            .iter()
            .find(|(n, l, _)| n == name && *l == want)
            .map(|s| s.2)
    }

    /// The sample `name` with exactly `labels`; panics if it is missing.
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.find(name, labels)
            .unwrap_or_else(|| panic!("no sample {name}{labels:?} on the page"))
    }
}

const PARSE: &str = r#"
import json, sys
from prometheus_client.parser import text_string_to_metric_families
page = {"types": {}, "samples": []}
for family in text_string_to_metric_families(sys.stdin.read()):
    if family.name in page["types"]:
        sys.exit("family %s twice" % family.name)
    page["types"][family.name] = family.type
    for s in family.samples:
        page["samples"].append([s.name, s.labels, s.value])
print(json.dumps(page))
"#;

/// Parses `text` with `prometheus_client`; panics if it is not valid.
pub fn parse(python: &str, text: &str) -> Page {
    let mut child = Command::new(python)
        .args(["-c", PARSE])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the parser");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "prometheus_client refused the page: {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let types = json["types"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
        .collect();
    let samples = json["samples"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let labels = s[1]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
                .collect();
            (
                s[0].as_str().unwrap().to_string(),
                labels,
                s[2].as_f64().unwrap(),
            )
        })
        .collect();
    Page { types, samples }
}

/// `GET /metrics` (with `headers`), which must succeed, parsed.
pub fn scrape(python: &str, addr: SocketAddr, headers: &[(&str, &str)]) -> Page {
    let reply = request(addr, "GET", "/metrics", headers);
    assert_eq!(reply.status, 200, "{}\n{}", reply.head, reply.body);
    assert_eq!(
        reply.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    parse(python, &reply.body)
}

/// Scrapes until `pred` holds for the page (the server counts as events
/// arrive, not when we ask); fails after a while.
pub fn scrape_until(py: &str, addr: SocketAddr, what: &str, pred: impl Fn(&Page) -> bool) -> Page {
    let start = Instant::now();
    loop {
        // A connection the test just dropped may still count against a
        // small connection limit: then the page is answered 503, and asked
        // for again.
        let reply = get(addr, "/metrics");
        if reply.status == 200 {
            let page = parse(py, &reply.body);
            if pred(&page) {
                return page;
            }
        }
        assert!(start.elapsed() < PATIENCE, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}
