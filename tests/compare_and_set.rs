//! Revisions and `if_rev`: conditional writes that never overwrite blindly.

mod common;

use std::sync::{Arc, Barrier};

use common::{Client, TestServer};

#[test]
fn if_rev_zero_creates_only_when_absent() {
    let server = TestServer::start();
    let mut c = server.client();
    c.call(
        r#"{"type":"set","id":"a","key":"k","value":1,"if_rev":0}"#,
        &[r#"{"type":"value","id":"a","key":"k","value":1,"rev":1}"#],
    );
    c.call(
        r#"{"type":"set","id":"a","key":"k","value":2,"if_rev":0,"req":9}"#,
        &[r#"{"type":"error","code":"conflict","message":"if_rev does not match: the key's revision is 1","id":"a","key":"k","rev":1,"req":9}"#],
    );
    c.call(
        r#"{"type":"get","id":"a","key":"k"}"#,
        &[r#"{"type":"value","id":"a","key":"k","value":1,"rev":1}"#],
    );
}

#[test]
fn delete_with_if_rev_removes_only_that_revision() {
    let server = TestServer::start();
    let mut c = server.client();
    c.call(
        r#"{"type":"set","id":"a","key":"k","value":1}"#,
        &[r#"{"type":"value","id":"a","key":"k","value":1,"rev":1}"#],
    );
    c.call(
        r#"{"type":"set","id":"a","key":"k","value":2}"#,
        &[r#"{"type":"value","id":"a","key":"k","value":2,"rev":2}"#],
    );
    c.call(
        r#"{"type":"delete","id":"a","key":"k","if_rev":1}"#,
        &[r#"{"type":"error","code":"conflict","message":"if_rev does not match: the key's revision is 2","id":"a","key":"k","rev":2}"#],
    );
    c.call(
        r#"{"type":"delete","id":"a","key":"k","if_rev":2}"#,
        &[r#"{"type":"deleted","id":"a","key":"k","rev":3}"#],
    );
}

#[test]
fn every_set_is_a_change_even_with_the_same_value() {
    let server = TestServer::start();
    let mut c = server.client();
    c.call(
        r#"{"type":"set","id":"a","key":"k","value":1}"#,
        &[r#"{"type":"value","id":"a","key":"k","value":1,"rev":1}"#],
    );
    c.call(
        r#"{"type":"set","id":"a","key":"k","value":1}"#,
        &[r#"{"type":"value","id":"a","key":"k","value":1,"rev":2}"#],
    );
    c.call(
        r#"{"type":"set","id":"b","key":"other","value":1}"#,
        &[r#"{"type":"value","id":"b","key":"other","value":1,"rev":3}"#],
    );
}

#[test]
fn of_two_writers_racing_with_the_same_if_rev_exactly_one_wins() {
    let server = TestServer::start();
    let mut setup = server.client();
    setup.call(
        r#"{"type":"set","id":"a","key":"counter","value":0}"#,
        &[r#"{"type":"value","id":"a","key":"counter","value":0,"rev":1}"#],
    );
    let rounds = 50;
    let barrier = Arc::new(Barrier::new(2));
    let racers: Vec<_> = (0..2)
        .map(|who| {
            let (addr, barrier) = (server.addr, barrier.clone());
            std::thread::spawn(move || {
                let mut c = Client::connect(addr);
                let mut wins = 0;
                for round in 0..rounds {
                    // Both read the same revision, then both try to write on it.
                    c.send(r#"{"type":"get","id":"a","key":"counter"}"#);
                    let rev: serde_json::Value = serde_json::from_str(&c.recv()).unwrap();
                    let rev = rev["rev"].as_u64().unwrap();
                    barrier.wait();
                    c.send(&format!(
                        r#"{{"type":"set","id":"a","key":"counter","value":"{who}-{round}","if_rev":{rev}}}"#
                    ));
                    let reply: serde_json::Value = serde_json::from_str(&c.recv()).unwrap();
                    match reply["type"].as_str() {
                        Some("value") => wins += 1,
                        Some("error") => assert_eq!(reply["code"], "conflict"),
                        _ => panic!("{reply}"),
                    }
                    barrier.wait();
                }
                wins
            })
        })
        .collect();
    let wins: Vec<u32> = racers.into_iter().map(|t| t.join().unwrap()).collect();
    // Every round had exactly one winner, and each win was one change.
    assert_eq!(wins.iter().sum::<u32>(), rounds);
    assert_eq!(
        server
            .wait_for("all writes", |s| s.rev == 1 + rounds as u64)
            .rev,
        1 + rounds as u64
    );
}
