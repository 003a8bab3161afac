//! The JavaScript client's tests (`clients/js/test/*.test.js`, run by
//! `node --test`) against this build's server.
//!
//! CI sets `KVWS_REQUIRE_CLIENTS=1`, so there they always run. Without Node
//! 20 or later the test says it skipped and passes.

mod common;

use std::process::Command;
use std::time::Duration;

use common::suite;

#[test]
fn the_javascript_client_passes_its_tests() {
    let Some(version) = suite::output_of("node", &["--version"]) else {
        return suite::skip("JavaScript client's tests", "no node on the PATH");
    };
    let major: u32 = version
        .trim_start_matches('v')
        .split('.')
        .next()
        .and_then(|m| m.parse().ok())
        .unwrap_or(0);
    if major < 20 {
        return suite::skip(
            "JavaScript client's tests",
            &format!("node {version} is older than 20"),
        );
    }
    let dir = suite::root().join("clients/js");
    let mut files: Vec<String> = std::fs::read_dir(dir.join("test"))
        .expect("clients/js/test")
        .map(|e| {
            e.expect("a directory entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|name| name.ends_with(".test.js"))
        .map(|name| format!("test/{name}"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no test files in clients/js/test");

    let mut node = Command::new("node");
    node.current_dir(&dir);
    if major < 22 {
        // Node 20 has its WebSocket behind a flag; 22 has it by default.
        node.arg("--experimental-websocket");
    }
    node.args(["--test", "--test-reporter=spec", "--test-concurrency=4"])
        .args(&files);
    suite::run("JavaScript client's tests", node, Duration::from_secs(180));
}
