use super::*;
use crate::persist::log::temp_name;
use crate::persist::record::{FRAME_LEN, LOG_MAGIC};

fn dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("kvws-recover-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Set records (whose last byte is not zero, even in version 1).
fn sets(revs: std::ops::RangeInclusive<u64>, v1: bool) -> Vec<u8> {
    let mut out = Vec::new();
    for rev in revs {
        let r = Record::Set {
            rev,
            id: "a",
            key: "k",
            value: "1",
            expires_at: Some(u64::MAX),
        };
        if v1 {
            r.encode_v1(&mut out)
        } else {
            r.encode(&mut out)
        }
    }
    out
}

/// A log of `generation` after revision `rev` holding `records`, then
/// `zeros` zero bytes.
fn write_log(dir: &Path, generation: u64, rev: u64, records: &[u8], zeros: usize) {
    let mut data = Header { generation, rev }.encode(LOG_MAGIC).to_vec();
    data.extend_from_slice(records);
    data.resize(data.len() + zeros, 0);
    std::fs::write(dir.join(file_name(generation)), data).unwrap();
}

fn revs(dir: &Path, repair: bool) -> Result<(Vec<u64>, Tail), String> {
    let mut seen = Vec::new();
    let out = recover(dir, repair, &mut |r| seen.push(r.rev()))?;
    Ok((seen, out.tail))
}

#[test]
fn an_unwritten_sector_is_all_zeros_from_the_record_on() {
    let mut data = vec![1u8; 2048];
    data[1000..1024].fill(0);
    // The sector 512..1024 holds zeros from 1000 on, not from 990 on.
    assert!(unwritten_sector(&data, 1000, 1012));
    assert!(!unwritten_sector(&data, 990, 1200));
    data[1024..1536].fill(0);
    assert!(unwritten_sector(&data, 990, 1200));
    // Only sectors overlapping the record count.
    assert!(!unwritten_sector(&data, 0, 1000));
    // The end of the file ends the last sector.
    let short = [1, 1, 0, 0];
    assert!(unwritten_sector(&short, 2, 3));
}

#[test]
fn a_torn_looking_end_of_an_older_log_is_damage() {
    let d = dir("older");
    let mut torn = sets(1..=3, false);
    let keep = torn.len();
    // The next record, its sectors after the first never written.
    let value = "7".repeat(1000);
    Record::Set {
        rev: 4,
        id: "a",
        key: "k",
        value: &value,
        expires_at: None,
    }
    .encode(&mut torn);
    torn.truncate(SECTOR - HEADER_LEN);
    write_log(&d, 1, 0, &torn, 1000);
    write_log(&d, 2, 3, &[], FRAME_LEN);
    let err = revs(&d, false).unwrap_err();
    assert!(
        err.contains(&format!("damaged at offset {}", HEADER_LEN + keep))
            && err.contains("only the newest log"),
        "{err}"
    );
    // The same bytes in the newest log are a torn write.
    std::fs::remove_file(d.join(file_name(2))).unwrap();
    let (seen, tail) = revs(&d, false).unwrap();
    assert_eq!(seen, [1, 2, 3]);
    assert!(matches!(tail, Tail::Append { end, .. } if end == (HEADER_LEN + keep) as u64));
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn the_logs_must_start_where_the_snapshot_or_generation_1_says() {
    let d = dir("start");
    write_log(&d, 2, 0, &sets(1..=2, false), FRAME_LEN);
    let err = revs(&d, false).unwrap_err();
    assert!(err.contains("wal-0000000001.log is missing"), "{err}");
    // Repair goes on without it, and so without what came after it.
    let (seen, tail) = revs(&d, true).unwrap();
    assert!(seen.is_empty());
    assert_eq!(tail, Tail::Create { generation: 1 });
    assert!(!d.join(file_name(2)).exists());
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn a_damaged_header_is_removed_by_repair_with_the_later_logs() {
    let d = dir("header");
    write_log(&d, 1, 0, &sets(1..=2, false), FRAME_LEN);
    write_log(&d, 2, 2, &sets(3..=4, false), FRAME_LEN);
    write_log(&d, 3, 4, &sets(5..=6, false), FRAME_LEN);
    let path = d.join(file_name(2));
    let mut data = std::fs::read(&path).unwrap();
    data[26] ^= 1; // its revision
    std::fs::write(&path, data).unwrap();
    let err = revs(&d, false).unwrap_err();
    assert!(err.contains("damaged at offset 0 (bad header"), "{err}");
    assert!(err.contains("and 1 later log files"), "{err}");
    let (seen, tail) = revs(&d, true).unwrap();
    assert_eq!(seen, [1, 2]);
    assert_eq!(tail, Tail::Create { generation: 2 });
    assert!(!path.exists() && !d.join(file_name(3)).exists());
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn leftover_temporary_logs_are_removed() {
    let d = dir("temp");
    write_log(&d, 1, 0, &sets(1..=2, false), FRAME_LEN);
    std::fs::write(d.join(temp_name(2)), b"KVWSLOG").unwrap();
    let (seen, _) = revs(&d, false).unwrap();
    assert_eq!(seen, [1, 2]);
    assert!(!d.join(temp_name(2)).exists());
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn a_version_1_log_torn_by_a_crash_is_cut_and_never_appended_to() {
    let d = dir("v1");
    let mut records = sets(1..=20, true);
    let keep = records.len();
    // A crash of the previous release: a write cut short at a page
    // boundary, the rest of it never written.
    let next = sets(21..=60, true);
    let page = (HEADER_LEN + keep).next_multiple_of(SECTOR) - HEADER_LEN;
    records.extend_from_slice(&next[..page - keep]);
    let mut data = Header::encode(
        &Header {
            generation: 1,
            rev: 0,
        },
        LOG_MAGIC,
    )
    .to_vec();
    data[8] = 1; // version 1 (it had no header check)
    data[12..16].fill(0);
    data.extend_from_slice(&records);
    data.resize(4096, 0);
    std::fs::write(d.join(file_name(1)), &data).unwrap();
    // The records written whole before the page boundary are kept.
    let whole = 20 + (page - keep) / sets(1..=1, true).len();
    let (seen, tail) = revs(&d, false).unwrap();
    assert_eq!(seen, (1..=whole as u64).collect::<Vec<_>>());
    assert_eq!(tail, Tail::Create { generation: 2 });
    // Cut for good: the next start finds it clean.
    let (seen, _) = revs(&d, false).unwrap();
    assert_eq!(seen.len(), whole);
    std::fs::remove_dir_all(&d).unwrap();
}
