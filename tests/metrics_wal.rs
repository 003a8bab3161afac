//! The write-ahead log's figures on `/metrics`, parsed by the Python
//! `prometheus_client` text parser: appends, bytes, every `fdatasync`,
//! and a compaction with the pause of its `fork`.

mod common;

use common::TestServer;
use common::scrape::{python, scrape, scrape_until};
use kvws::Config;

#[test]
fn the_write_ahead_log_reports_appends_syncs_and_compactions() {
    let Some(py) = python() else { return };
    let dir = std::env::temp_dir().join(format!("kvws-metrics-wal-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let config = Config::default()
        .data_dir(Some(dir.clone()))
        .fsync(kvws::Fsync::Always)
        .compact_min(4 << 10)
        .compact_factor(1);
    let server = TestServer::with(config);
    let before = scrape(&py, server.addr, &[]);
    assert_eq!(before.value("kvws_wal_appends_total", &[]), 0.0);
    let mut c = server.client();
    let value = format!("\"{}\"", "w".repeat(100));
    for i in 1..=100 {
        c.call(
            &format!(r#"{{"type":"set","id":"a","key":"k","value":{value},"req":{i}}}"#),
            &[&format!(
                r#"{{"type":"value","id":"a","key":"k","value":{value},"rev":{i},"req":{i}}}"#
            )],
        );
    }
    // The log is many times the one key it holds: it is compacted.
    let page = scrape_until(&py, server.addr, "a compaction", |p| {
        p.value("kvws_wal_compactions_total", &[("result", "ok")]) >= 1.0
            && p.value("kvws_wal_compaction_running", &[]) == 0.0
    });
    assert_eq!(page.value("kvws_wal_appends_total", &[]), 100.0);
    assert!(page.value("kvws_wal_written_bytes_total", &[]) > 100.0 * 100.0);
    // One sync per step with changes (--fsync always), and one per rotation.
    let syncs = page.value("kvws_wal_fsync_duration_seconds_count", &[]);
    assert!((1.0..=102.0).contains(&syncs), "{syncs} syncs");
    assert!(page.value("kvws_wal_compaction_fork_duration_seconds_count", &[]) >= 1.0);
    assert_eq!(
        page.value("kvws_wal_compactions_total", &[("result", "failed")]),
        0.0
    );
    assert_eq!(page.value("kvws_wal_refusing_writes", &[]), 0.0);
    drop(c);
    server.stop();
    let _ = std::fs::remove_dir_all(&dir);
}
