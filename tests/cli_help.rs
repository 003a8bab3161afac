//! `kvws --help` lists the commands, `kvws help COMMAND` explains one, and
//! every command's usage error points to its own `--help`: the real binary,
//! exact outputs and exit codes.

mod common;

use common::cli::{kvws, ok};

#[test]
fn help_lists_the_commands_and_each_usage_error_points_to_its_own_help() {
    let kvws_path = env!("CARGO_BIN_EXE_kvws");
    let help = ok(&["--help"]);
    for command in [
        "serve", "get", "set", "delete", "list", "watch", "shell", "token", "load", "help",
    ] {
        assert!(
            help.lines()
                .any(|l| l.starts_with(&format!("  {command} "))),
            "{command} in {help}"
        );
    }
    assert!(help.contains("--max-connections"), "{help}");
    assert_eq!(ok(&["help"]), help);
    assert_eq!(ok(&["help", "--help"]), help);
    for command in [
        "get", "set", "delete", "list", "watch", "shell", "token", "load",
    ] {
        assert_eq!(
            ok(&["help", command]),
            ok(&[command, "--help"]),
            "{command}"
        );
        let ran = kvws(&[command, "--bogus"]);
        assert_eq!(ran.code, 2, "{command}: {ran:?}");
        assert!(
            ran.stderr
                .ends_with(&format!("Try '{kvws_path} {command} --help'.\n")),
            "{command}: {}",
            ran.stderr
        );
    }
    let ran = kvws(&["set", "ws://127.0.0.1:1/", "a"]);
    assert_eq!(ran.code, 2);
    assert!(
        ran.stderr
            .contains(&format!("Try '{kvws_path} set --help'."))
    );
    // A word that is not a command is not taken for a server argument.
    let ran = kvws(&["frobnicate"]);
    assert_eq!((ran.code, ran.stdout.as_str()), (2, ""));
    assert!(
        ran.stderr
            .starts_with(&format!("{kvws_path}: 'frobnicate' is not a command\n")),
        "{}",
        ran.stderr
    );
    assert!(
        ran.stderr
            .contains("serve, get, set, delete, list, watch, shell, token, load, help")
    );
    let ran = kvws(&["lsit"]);
    assert!(
        ran.stderr.contains("(did you mean 'list'?)"),
        "{}",
        ran.stderr
    );
    assert_eq!(kvws(&["help", "frobnicate"]).code, 2);
    // Server options still need no command.
    assert_eq!(
        ok(&["--port", "1", "--version"]),
        format!("kvws {}\n", env!("CARGO_PKG_VERSION"))
    );
    let ran = kvws(&["--port", "x"]);
    assert_eq!(ran.code, 2);
    assert!(
        ran.stderr
            .ends_with(&format!("Try '{kvws_path} --help'.\n")),
        "{}",
        ran.stderr
    );
}
