//! The command line over TLS: `kvws --tls-cert --tls-key` serves https://
//! and wss://, the client commands take `wss://` URLs with `--ca-file`, and
//! `kvws load` measures over wss:// with every reply checked.

#![cfg(all(feature = "tls", feature = "cli"))]

mod common;

use std::process::{Command, Output};

use common::daemon::{Daemon, KVWS};
use common::tls::Pki;

fn kvws(args: &[&str]) -> Output {
    Command::new(KVWS).args(args).output().expect("run kvws")
}

fn stdout(out: &Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

#[test]
fn client_commands_take_wss_urls_and_a_ca_file() {
    let pki = Pki::new("cli");
    let server = Daemon::start(&pki.flags());
    let url = format!("wss://localhost:{}/", server.addr.port());
    let ca = pki.ca.to_str().unwrap();
    let set = kvws(&["set", &url, "app", "k", r#"{"n":1}"#, "--ca-file", ca]);
    assert_eq!(stdout(&set), "{\"n\":1}\n");
    let get = kvws(&["get", &url, "app", "k", "--ca-file", ca]);
    assert_eq!(stdout(&get), "{\"n\":1}\n");
    let list = kvws(&["list", &url, "app", "--ca-file", ca]);
    assert_eq!(stdout(&list), "k\n");
    // By IP address: the certificate lists 127.0.0.1 too.
    let by_ip = format!("wss://127.0.0.1:{}/", server.addr.port());
    let delete = kvws(&["delete", &by_ip, "app", "k", "--ca-file", ca]);
    assert_eq!(stdout(&delete), "true\n");

    // Without the CA the certificate is not trusted: no connection (3).
    let untrusted = kvws(&["get", &url, "app", "k"]);
    assert_eq!(untrusted.status.code(), Some(3));
    let stderr = String::from_utf8(untrusted.stderr).unwrap();
    assert!(
        stderr.contains("certificate is not trusted") || stderr.contains("no system root"),
        "{stderr}"
    );
    // ws:// to a TLS port: the server's plain 400.
    let plain = format!("ws://127.0.0.1:{}/", server.addr.port());
    let refused = kvws(&["get", &plain, "app", "k"]);
    assert_eq!(refused.status.code(), Some(3));
    assert!(
        String::from_utf8(refused.stderr)
            .unwrap()
            .ends_with(": HTTP 400 Bad Request\n")
    );
}

#[test]
fn the_load_tool_runs_over_wss_and_checks_every_reply() {
    let pki = Pki::new("cli-load");
    let server = Daemon::start(&pki.flags());
    let url = format!("wss://localhost:{}/", server.addr.port());
    let ca = pki.ca.to_str().unwrap();
    for args in [
        &["reqresp", "-c", "4"][..],
        &["pipeline", "-c", "2", "-d", "16"],
        &["fanout", "-s", "20", "-w", "4"],
        &["conns", "-n", "50"],
    ] {
        let mut all = vec!["load"];
        all.extend_from_slice(args);
        all.extend_from_slice(&[&url, "--duration", "1s", "--warmup", "0s"]);
        all.extend_from_slice(&["--ca-file", ca, "--json"]);
        let out = kvws(&all);
        let report: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
        assert_eq!(report["ok"], true, "{args:?}: {report}");
        assert_eq!(report["errors"], 0, "{args:?}: {report}");
        assert_eq!(report["target"], url.as_str(), "{args:?}");
        if args[0] != "conns" {
            assert!(report["ops"].as_u64().unwrap() > 0, "{args:?}: {report}");
        }
    }
    // A load tool that does not trust the certificate cannot connect.
    let out = kvws(&["load", "reqresp", &url, "--duration", "1s"]);
    assert_eq!(out.status.code(), Some(1));
}
