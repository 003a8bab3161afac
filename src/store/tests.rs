use super::*;

#[test]
fn set_get_remove_round_trip() {
    let mut s = Store::new();
    assert!(s.set("app", "k", Entry::new("1", 1)).is_none());
    assert_eq!(s.get("app", "k").unwrap().value.as_ref(), "1");
    assert_eq!(s.set("app", "k", Entry::new("[2]", 2)).unwrap().rev, 1);
    assert_eq!(s.len(), 1);
    assert_eq!(s.remove("app", "k").unwrap().value.as_ref(), "[2]");
    assert!(s.get("app", "k").is_none());
    assert!(s.remove("app", "k").is_none());
    assert!(s.is_empty());
}

#[test]
fn ids_are_separate_namespaces() {
    let mut s = Store::new();
    s.set("a", "k", Entry::new("1", 1));
    s.set("b", "k", Entry::new("2", 2));
    assert_eq!(s.get("a", "k").unwrap().value.as_ref(), "1");
    assert_eq!(s.get("b", "k").unwrap().value.as_ref(), "2");
    s.remove("a", "k");
    assert!(s.get("a", "k").is_none());
    assert_eq!(s.get("b", "k").unwrap().value.as_ref(), "2");
}

#[test]
fn byte_accounting_returns_to_where_it_was() {
    let mut s = Store::new();
    s.set("app", "first", Entry::new("1", 1));
    s.remove("app", "first");
    // The map of namespaces keeps its (small) table.
    let empty = s.bytes();
    s.set("app", "k", Entry::new("\"x\"", 1));
    s.set("app", "k", Entry::new("\"longer value\"", 2));
    s.set("app", "j", Entry::new("1", 3));
    let mut budget = 100;
    assert!(s.build_index("app", &mut budget));
    assert!(s.bytes() > empty);
    s.remove("app", "k");
    s.remove("app", "j");
    assert_eq!(s.bytes(), empty);
}

#[test]
fn bytes_follow_the_allocations() {
    let mut s = Store::new();
    s.set("a", "k", Entry::new("1", 1));
    let one = s.bytes();
    // A value of 40 bytes takes a 48-byte chunk instead of a 32-byte one.
    s.set("a", "k", Entry::new("x".repeat(40), 2));
    assert_eq!(s.bytes(), one + 16);
}

fn built(s: &mut Store, id: &str) {
    let mut budget = usize::MAX;
    assert!(s.build_index(id, &mut budget));
}

#[test]
fn list_pages_in_byte_order() {
    let mut s = Store::new();
    for k in ["b", "a", "room/2", "room/10", "room/1", "z"] {
        s.set("app", k, Entry::new("0", 1));
    }
    assert_eq!(s.list("app", "", None, 10), None, "no index yet");
    built(&mut s, "app");
    assert_eq!(
        s.list("app", "room/", None, 2),
        Some((vec!["room/1", "room/10"], true))
    );
    assert_eq!(
        s.list("app", "room/", Some("room/10"), 2),
        Some((vec!["room/2"], false))
    );
    assert_eq!(
        s.list("app", "", Some("room/2"), 10),
        Some((vec!["z"], false))
    );
    assert_eq!(s.list("none", "", None, 10), Some((vec![], false)));
    // The ordered index follows writes made after it was built.
    s.set("app", "room/15", Entry::new("0", 2));
    s.remove("app", "room/1");
    assert_eq!(
        s.list("app", "room/", None, 10),
        Some((vec!["room/10", "room/15", "room/2"], false))
    );
}

#[test]
fn an_index_built_in_slices_while_keys_change_is_exact() {
    let mut s = Store::new();
    let n = keymap::SPLIT_AT * 3;
    for i in 0..n {
        s.set("big", &format!("k{i:06}"), Entry::new("0", 1));
    }
    let mut steps = 0;
    loop {
        let mut budget = 500;
        if s.build_index("big", &mut budget) {
            break;
        }
        // Writes between slices land in copied and uncopied shards alike.
        s.set("big", &format!("new{steps:04}"), Entry::new("1", 2));
        s.remove("big", &format!("k{:06}", steps * 7));
        steps += 1;
    }
    assert!(steps > 10, "built in {steps} slices");
    let mut want: Vec<String> = (0..n)
        .filter(|i| i % 7 != 0 || i / 7 >= steps)
        .map(|i| format!("k{i:06}"))
        .chain((0..steps).map(|j| format!("new{j:04}")))
        .collect();
    want.sort();
    let (got, more) = s.list("big", "", None, usize::MAX).unwrap();
    assert!(!more);
    assert_eq!(got, want);
}

#[test]
fn counting_and_reading_under_a_prefix() {
    let mut s = Store::new();
    for k in ["p/1", "p/2", "p/3", "q"] {
        s.set("app", k, Entry::new("0", 1));
    }
    built(&mut s, "app");
    assert_eq!(s.count_under("app", "p/", 3), Some(Some(3)));
    assert_eq!(s.count_under("app", "p/", 2), Some(None));
    assert_eq!(s.count_under("none", "p/", 2), Some(Some(0)));
    let keys: Vec<&str> = s
        .entries_under("app", "p/", Some("p/1"), 10)
        .unwrap()
        .iter()
        .map(|e| e.0)
        .collect();
    assert_eq!(keys, ["p/2", "p/3"]);
}
