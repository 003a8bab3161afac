//! The tests of the command language: parsing, completion and which lines
//! carry a token.

use super::*;

fn ok(line: &str, id: Option<&str>) -> Command {
    parse(line, id).unwrap_or_else(|e| panic!("{line}: {e}"))
}

#[test]
fn commands_with_and_without_a_default_id() {
    let get = Command::Get {
        id: "a".into(),
        key: "k".into(),
    };
    assert_eq!(ok("get a k", None), get);
    assert_eq!(ok("  get   k ", Some("a")), get);
    assert_eq!(
        ok("put k hello  world ", Some("a")),
        Command::Set {
            id: "a".into(),
            key: "k".into(),
            value: r#""hello  world""#.into(),
            options: SetOptions::new(),
        }
    );
    assert_eq!(
        ok(r#"set a k {"n": 1}"#, None),
        Command::Set {
            id: "a".into(),
            key: "k".into(),
            value: r#"{"n": 1}"#.into(),
            options: SetOptions::new(),
        }
    );
    assert_eq!(
        ok("sub a --prefix room/ --since 7", None),
        Command::Subscribe {
            id: "a".into(),
            topic: Topic::prefix("room/"),
            since: Some(7)
        }
    );
    assert_eq!(
        ok("sub --prefix", Some("a")),
        Command::Subscribe {
            id: "a".into(),
            topic: Topic::prefix(""),
            since: None
        }
    );
    assert_eq!(
        ok("unsub a k", None),
        Command::Unsubscribe {
            id: "a".into(),
            topic: Topic::key("k")
        }
    );
    assert_eq!(
        ok("ls", Some("a")),
        Command::List {
            id: "a".into(),
            prefix: String::new()
        }
    );
    assert_eq!(ok("upgrade t", None), Command::Upgrade("t".into()));
    assert_eq!(ok("auth t", None), Command::Auth("t".into()));
    assert_eq!(ok("use b", None), Command::Use("b".into()));
    assert_eq!(ok("raw {}", None), Command::Raw("{}".into()));
    assert_eq!(ok("", None), Command::Empty);
    assert_eq!(ok("q", None), Command::Quit);
}

#[test]
fn set_takes_options_between_its_key_and_its_value() {
    let set = |line: &str| match ok(line, Some("a")) {
        Command::Set {
            key,
            value,
            options,
            ..
        } => (key, value, options),
        other => panic!("{line}: {other:?}"),
    };
    let ten = std::time::Duration::from_secs(10);
    assert_eq!(
        set("set k --ttl 10s --ephemeral hello  world"),
        (
            "k".into(),
            r#""hello  world""#.into(),
            SetOptions::new().ttl(ten).ephemeral(true)
        )
    );
    assert_eq!(
        set("put k --if-rev 0 {\"n\": 1}"),
        (
            "k".into(),
            r#"{"n": 1}"#.into(),
            SetOptions::new().if_rev(0)
        )
    );
    // After the value, or after '--', an option is part of the value.
    assert_eq!(set("set k 1 --ttl 10s").1, r#""1 --ttl 10s""#);
    assert_eq!(set("set k -- --ttl").1, r#""--ttl""#);
    assert_eq!(set("set k --flag").1, r#""--flag""#);
    assert_eq!(
        parse("set k --ttl soon x", Some("a")).unwrap_err(),
        "--ttl: 'soon' is not a duration"
    );
    assert!(parse("set k --if-rev x 1", Some("a")).is_err());
    assert_eq!(
        parse("set k --ttl 5s", Some("a")).unwrap_err(),
        "usage: set [ID] KEY [OPTIONS] VALUE"
    );
}

#[test]
fn commands_that_need_an_id_say_so_before_use() {
    for line in [
        "get k",
        "delete k",
        "list",
        "set k 1",
        "sub k",
        "sub --prefix p",
    ] {
        let e = parse(line, None).unwrap_err();
        assert!(
            e.starts_with("no id in use: type 'use ID' first"),
            "{line}: {e}"
        );
        assert!(parse(line, Some("a")).is_ok(), "{line}");
    }
    assert_eq!(
        parse("get k", None).unwrap_err(),
        "no id in use: type 'use ID' first, or give the id (usage: get [ID] KEY)"
    );
    // Wrong with or without an id: the usage.
    assert_eq!(parse("get", None).unwrap_err(), "usage: get [ID] KEY");
    assert!(parse("get a k", None).is_ok());
}

#[test]
fn completion_knows_commands_ids_and_keys() {
    let c = |typed: &str, id: Option<&str>| completion(typed, id);
    let key = |id: &str| Completion::Key(id.into());
    assert_eq!(c("", None), (0, Completion::Command));
    assert_eq!(c("ge", None), (0, Completion::Command));
    assert_eq!(c("use ", None), (4, Completion::Id));
    assert_eq!(c("use a", Some("b")), (4, Completion::Id));
    assert_eq!(c("get ", None), (4, Completion::Id));
    assert_eq!(c("get ap", None), (4, Completion::Id));
    assert_eq!(c("get app k", None), (8, key("app")));
    assert_eq!(c("get k", Some("app")), (4, key("app")));
    assert_eq!(c("get k x", Some("app")), (6, Completion::Nothing));
    assert_eq!(c("del  ro", Some("app")), (5, key("app")));
    assert_eq!(c("list room/", Some("app")), (5, key("app")));
    assert_eq!(c("set k", Some("app")), (4, key("app")));
    assert_eq!(c("set k v", Some("app")), (6, Completion::Nothing));
    assert_eq!(c("set app k", None), (8, key("app")));
    assert_eq!(c("sub --prefix ro", Some("app")), (13, key("app")));
    assert_eq!(c("sub app --prefix ro", None), (17, key("app")));
    assert_eq!(c("sub app k", None), (8, key("app")));
    assert_eq!(c("sub --pre", Some("app")), (4, Completion::Nothing));
    assert_eq!(c("auth ", None), (5, Completion::Nothing));
    assert_eq!(c("raw {", None), (4, Completion::Nothing));
}

#[test]
fn lines_with_tokens_are_secret() {
    for line in [
        "auth eyJhbGciOiJIUzI1NiJ9.e30.x",
        "  upgrade t",
        r#"raw {"type":"auth","token":"t"}"#,
    ] {
        assert!(carries_secret(line), "{line}");
    }
    for line in [
        "get a k",
        "author x",
        "set a auth 1",
        r#"raw {"type":"ping"}"#,
        "",
    ] {
        assert!(!carries_secret(line), "{line}");
    }
}

#[test]
fn mistakes_get_the_usage_line() {
    assert_eq!(parse("get", None).unwrap_err(), "usage: get [ID] KEY");
    assert_eq!(parse("get a", Some("a")).map(|_| ()), Ok(()));
    assert_eq!(
        parse("get a b", Some("a")).unwrap_err(),
        "usage: get [ID] KEY"
    );
    assert_eq!(
        parse("put k", Some("a")).unwrap_err(),
        "usage: set [ID] KEY [OPTIONS] VALUE"
    );
    for line in [
        "sub",
        "sub a k --since x",
        "sub a k extra",
        "unsub a k --since 1",
    ] {
        assert!(
            parse(line, None).unwrap_err().starts_with("usage: "),
            "{line}"
        );
    }
    assert_eq!(
        parse("upgrade", None).unwrap_err(),
        "usage: auth TOKEN | upgrade TOKEN"
    );
    assert_eq!(
        parse("bogus", None).unwrap_err(),
        "unknown command 'bogus' (try 'help')"
    );
}
