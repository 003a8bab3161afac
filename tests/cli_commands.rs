//! The `kvws get|set|delete|list` commands: the real binary against a live
//! server on loopback, with exact outputs and exit codes (0 ok, 1 server
//! error, 2 usage, 3 connection), and tokens presented before a request.

mod common;

use std::net::TcpListener;
use std::sync::mpsc::{self, Receiver};
use std::thread;
use std::time::{Duration, Instant};

use common::cli::{kvws, kvws_with, ok};
use common::{PATIENCE, TestServer};
use kvws::Config;
use kvws::auth::{Access, Claims, Role, Secret, mint};
use kvws::client::{Client, SetOptions};
use tungstenite::Message;

#[test]
fn get_set_delete_print_json_values() {
    let server = TestServer::start();
    let url = &server.url();
    assert_eq!(ok(&["get", url, "a", "k"]), "null\n");
    assert_eq!(
        ok(&["set", url, "a", "k", "hello world"]),
        "\"hello world\"\n"
    );
    assert_eq!(ok(&["get", url, "a", "k"]), "\"hello world\"\n");
    assert_eq!(
        ok(&["set", url, "a", "n", "12345678901234567890"]),
        "12345678901234567890\n"
    );
    assert_eq!(
        ok(&["set", url, "a", "o", r#"{"b": [1, 2.50]}"#]),
        "{\"b\": [1, 2.50]}\n"
    );
    assert_eq!(ok(&["set", url, "a", "q", r#""quoted""#]), "\"quoted\"\n");
    assert_eq!(
        ok(&["set", url, "a", "j", "true", "--json"]),
        "{\"type\":\"value\",\"id\":\"a\",\"key\":\"j\",\"value\":true,\"rev\":5,\"req\":1}\n"
    );
    assert_eq!(
        ok(&["get", "--json", url, "a", "o"]),
        "{\"type\":\"value\",\"id\":\"a\",\"key\":\"o\",\"value\":{\"b\": [1, 2.50]},\"rev\":3,\"req\":1}\n"
    );
    assert_eq!(ok(&["delete", url, "a", "k"]), "true\n");
    assert_eq!(ok(&["delete", url, "a", "k"]), "false\n");
    assert_eq!(
        ok(&["delete", url, "a", "n", "--json"]),
        "{\"type\":\"deleted\",\"id\":\"a\",\"key\":\"n\",\"rev\":7,\"req\":1}\n"
    );
    assert_eq!(ok(&["get", url, "a", "k"]), "null\n");
}

#[test]
fn values_from_stdin_and_after_double_dash() {
    let server = TestServer::start();
    let url = &server.url();
    let set = |key: &str, input: &str| kvws_with(&["set", url, "a", key, "-"], input, &[]);
    assert_eq!(set("t", "some text\n").stdout, "\"some text\"\n");
    assert_eq!(set("j", "{\"x\": [1, 2]}\n").stdout, "{\"x\": [1, 2]}\n");
    assert_eq!(set("m", "two\nlines\r\n").stdout, "\"two\\nlines\"\n");
    assert_eq!(ok(&["set", url, "a", "neg", "--", "-5"]), "-5\n");
    assert_eq!(
        ok(&["set", url, "a", "flag", "--", "--flag"]),
        "\"--flag\"\n"
    );
    assert_eq!(ok(&["get", url, "a", "neg"]), "-5\n");
    let ran = kvws(&["set", url, "a", "neg", "-5"]);
    assert_eq!(ran.code, 2, "{ran:?}");
    assert!(
        ran.stderr.contains("put '--' before a value"),
        "{}",
        ran.stderr
    );
}

#[test]
fn strict_json_refuses_what_is_not_json_and_string_stores_anything_as_a_string() {
    let server = TestServer::start();
    let url = &server.url();
    // The friendly default: what is not JSON is stored as a string.
    assert_eq!(ok(&["set", url, "a", "k", r#"{"a":"#]), "\"{\\\"a\\\":\"\n");
    let ran = kvws(&["set", url, "a", "strict", r#"{"a":"#, "--strict-json"]);
    assert_eq!((ran.code, ran.stdout.as_str()), (2, ""), "{ran:?}");
    assert!(
        ran.stderr
            .contains("the value is not JSON (EOF while parsing"),
        "{}",
        ran.stderr
    );
    assert_eq!(ok(&["get", url, "a", "strict"]), "null\n");
    assert_eq!(
        ok(&["set", "--strict-json", url, "a", "strict", r#"{"a": 1}"#]),
        "{\"a\": 1}\n"
    );
    assert_eq!(ok(&["set", url, "a", "s", "42", "--string"]), "\"42\"\n");
    assert_eq!(ok(&["get", url, "a", "s"]), "\"42\"\n");
    assert_eq!(
        ok(&["set", url, "a", "s", r#"{"a":1}"#, "--string"]),
        "\"{\\\"a\\\":1}\"\n"
    );
    assert_eq!(
        ok(&["set", url, "a", "s", "true", "--string", "--json"])
            .lines()
            .count(),
        1
    );
    let from_stdin =
        |flag: &str, input: &str| kvws_with(&["set", url, "a", "in", "-", flag], input, &[]);
    let ran = from_stdin("--strict-json", "nope\n");
    assert_eq!(ran.code, 2, "{ran:?}");
    assert_eq!(from_stdin("--strict-json", "[1]\n").stdout, "[1]\n");
    assert_eq!(from_stdin("--string", "[1]\n").stdout, "\"[1]\"\n");
    let ran = kvws(&["set", url, "a", "k", "1", "--string", "--strict-json"]);
    assert_eq!(ran.code, 2, "{ran:?}");
    assert!(ran.stderr.contains("contradict"), "{}", ran.stderr);
}

#[test]
fn compare_and_set_and_ttl() {
    let server = TestServer::start();
    let url = &server.url();
    assert_eq!(ok(&["set", url, "a", "k", "1", "--if-rev", "0"]), "1\n");
    let ran = kvws(&["set", url, "a", "k", "2", "--if-rev", "0"]);
    assert_eq!((ran.code, ran.stdout.as_str()), (1, ""));
    assert!(
        ran.stderr
            .starts_with(&format!("{} set: conflict: ", env!("CARGO_BIN_EXE_kvws"))),
        "{}",
        ran.stderr
    );
    assert_eq!(ok(&["set", url, "a", "k", "2", "--if-rev", "1"]), "2\n");
    let ran = kvws(&["delete", url, "a", "k", "--if-rev", "1"]);
    assert_eq!(ran.code, 1, "{ran:?}");
    assert_eq!(ok(&["delete", url, "a", "k", "--if-rev", "2"]), "true\n");
    assert_eq!(
        ok(&["set", url, "a", "t", "x", "--ttl", "100ms"]),
        "\"x\"\n"
    );
    let start = Instant::now();
    while ok(&["get", url, "a", "t"]) != "null\n" {
        assert!(start.elapsed() < PATIENCE, "the key did not expire");
        thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn list_pages_through_every_key() {
    let server = TestServer::start();
    let url = &server.url();
    let mut c = Client::connect(url).unwrap();
    let mut want = String::new();
    for n in 0..1500 {
        let key = format!("room/{n:04}");
        c.set("a", &key, "0", &SetOptions::new()).unwrap();
        want.push_str(&key);
        want.push('\n');
    }
    c.set("a", "other", "0", &SetOptions::new()).unwrap();
    assert_eq!(ok(&["list", url, "a", "--prefix", "room/"]), want);
    assert_eq!(ok(&["list", url, "a"]).lines().count(), 1501);
    assert_eq!(ok(&["list", url, "empty"]), "");
    let json = ok(&["list", url, "a", "--prefix", "o", "--json"]);
    assert_eq!(
        json,
        "{\"type\":\"keys\",\"id\":\"a\",\"prefix\":\"o\",\"keys\":[\"other\"],\"more\":false,\"req\":1}\n"
    );
    let pages = ok(&["list", url, "a", "--json"]);
    assert_eq!(pages.lines().count(), 2);
    assert!(
        pages
            .lines()
            .next()
            .unwrap()
            .ends_with(r#""more":true,"req":1}"#)
    );
}

#[test]
fn exit_codes_tell_usage_server_and_connection_failures_apart() {
    let server = TestServer::start();
    let url = &server.url();
    for args in [
        &["get", url, "a"][..],
        &["set", url, "a", "k"],
        &["get", "http://127.0.0.1:1/", "a", "k"],
        &["get", url, "a", "k", "--timeout", "soon"],
        &["get", url, "a", "k", "--bogus"],
        &["watch", url, "a"],
        &["list", url, "a", "--since", "1"],
        &["set", url, "a", "k", "1", "--ttl", "0"],
        &["set", url, "a", "k", "1", "--if-rev", "x"],
    ] {
        let ran = kvws(args);
        assert_eq!(ran.code, 2, "{args:?}: {ran:?}");
        assert!(!ran.stderr.is_empty(), "{args:?}");
    }
    let ran = kvws(&["get", url, "a", ""]);
    assert_eq!(ran.code, 1, "{ran:?}");
    assert!(ran.stderr.contains("bad_request"), "{}", ran.stderr);
    let closed = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let refused = format!("ws://{closed}/");
    for args in [
        &["get", &refused, "a", "k"][..],
        &["watch", &refused, "a", "k"],
        &["list", &refused, "a"],
    ] {
        let ran = kvws(args);
        assert_eq!(ran.code, 3, "{args:?}: {ran:?}");
        assert!(ran.stderr.contains("cannot connect"), "{}", ran.stderr);
    }
    for command in ["get", "set", "delete", "watch", "list"] {
        let help = ok(&[command, "--help"]);
        assert!(help.starts_with("Usage: "), "{help}");
        assert!(help.contains("--timeout"), "{help}");
    }
}

/// A scripted peer: accepts tokens `good`, refuses others, and answers
/// anything else with a fixed value; records what it receives.
fn auth_peer() -> (String, Receiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://{}/", listener.local_addr().unwrap());
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for stream in listener.incoming().map_while(Result::ok) {
            let Ok(mut ws) = tungstenite::accept(stream) else {
                continue;
            };
            while let Ok(Message::Text(text)) = ws.read() {
                let _ = tx.send(text.to_string());
                let m: serde_json::Value = serde_json::from_str(&text).unwrap();
                let req = &m["req"];
                let reply = match (m["type"].as_str(), m["token"].as_str()) {
                    (Some("auth"), Some("good")) => format!(
                        r#"{{"type":"authenticated","role":"user","ids":["a"],"access":"rw","expires":null,"req":{req}}}"#
                    ),
                    (Some("auth"), _) => format!(
                        r#"{{"type":"error","code":"invalid_token","message":"bad signature","req":{req}}}"#
                    ),
                    _ => format!(
                        r#"{{"type":"value","id":"a","key":"k","value":"secret","rev":7,"req":{req}}}"#
                    ),
                };
                let _ = ws.send(Message::text(reply));
            }
        }
    });
    (url, rx)
}

#[test]
fn a_token_is_presented_first() {
    let (url, seen) = auth_peer();
    assert_eq!(
        ok(&["get", &url, "a", "k", "--token", "good"]),
        "\"secret\"\n"
    );
    assert_eq!(
        seen.recv_timeout(PATIENCE).unwrap(),
        r#"{"type":"auth","token":"good","req":1}"#
    );
    assert_eq!(
        seen.recv_timeout(PATIENCE).unwrap(),
        r#"{"type":"get","id":"a","key":"k","req":2}"#
    );
    let ran = kvws_with(&["get", &url, "a", "k"], "", &[("KVWS_TOKEN", "good")]);
    assert_eq!((ran.code, ran.stdout.as_str()), (0, "\"secret\"\n"));
    assert!(
        seen.recv_timeout(PATIENCE)
            .unwrap()
            .contains(r#""token":"good""#)
    );
    let ran = kvws_with(&["get", &url, "a", "k"], "", &[("KVWS_TOKEN", "forged")]);
    assert_eq!(ran.code, 1, "{ran:?}");
    assert!(
        ran.stderr.contains("invalid_token: bad signature"),
        "{}",
        ran.stderr
    );
}

#[test]
fn tokens_work_against_a_server_that_requires_them() {
    const SECRET: &[u8] = b"a secret for the cli tests, 32+ bytes long";
    let config = Config::default().secret(Some(Secret::new(SECRET).unwrap()));
    let server = TestServer::with(config);
    let url = &server.url();
    let claims = Claims {
        role: Role::Guest,
        ids: vec!["a".into()],
        access: Access::ReadWrite,
        exp: std::time::UNIX_EPOCH.elapsed().unwrap().as_secs() + 3600,
        nbf: None,
    };
    let token = mint(SECRET, &claims);
    let ran = kvws(&["get", url, "a", "k"]);
    assert_eq!(ran.code, 1, "{ran:?}");
    assert!(ran.stderr.contains("unauthenticated"), "{}", ran.stderr);
    assert_eq!(ok(&["set", url, "a", "k", "1", "--token", &token]), "1\n");
    let env = [("KVWS_TOKEN", token.as_str())];
    let ran = kvws_with(&["get", url, "a", "k"], "", &env);
    assert_eq!((ran.code, ran.stdout.as_str()), (0, "1\n"), "{ran:?}");
    let ran = kvws_with(&["get", url, "b", "k"], "", &env);
    assert_eq!(ran.code, 1, "{ran:?}");
    assert!(ran.stderr.contains("forbidden"), "{}", ran.stderr);
}
