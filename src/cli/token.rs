//! `kvws token`: mint an access token with the server's secret, so an
//! operator needs no other tool (any HS256 JWT library works too).

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use getopts::Options;

use crate::auth::{Access, Claims, Role, Secret};
use crate::units::parse_duration;

fn options() -> Options {
    let mut o = Options::new();
    o.optflag("h", "help", "print this help and exit");
    o.optopt(
        "",
        "secret-file",
        "the server's secret file (required)",
        "PATH",
    );
    o.optopt("", "role", "guest (default) or manager", "ROLE");
    o.optmulti("", "id", "application id a guest may use; repeatable", "ID");
    o.optopt("", "access", "read (default) or readwrite", "ACCESS");
    o.optopt(
        "",
        "ttl",
        "how long the token is valid (default 1h)",
        "TIME",
    );
    o.optflag(
        "",
        "kid",
        "print the key id of each secret in the file (the signing one first) instead of a token",
    );
    o
}

/// Runs `kvws token ARGS`; prints the token and returns the exit code.
pub fn run(program: &str, args: &[String]) -> i32 {
    let opts = options();
    let name = format!("{program} token");
    let m = match super::parse_args(&name, &opts, args, |o| {
        o.usage(&format!(
            "Usage: {program} token --secret-file PATH [--role guest --id ID...|--role manager] [--access read|readwrite] [--ttl TIME]\n       {program} token --secret-file PATH --kid\n\nPrints a token signed with the server's signing secret (the first in the file), its key id in the header; with --kid, the key id of each secret instead."
        ))
    }) {
        Ok(m) => m,
        Err(code) => return code,
    };
    if m.opt_present("kid") {
        return print_kids(program, m.opt_str("secret-file"));
    }
    match claims(&m) {
        Err(e) => super::usage_error(&name, &e),
        Ok((path, claims)) => match Secret::from_file(Path::new(&path)) {
            Ok(secret) => {
                println!("{}", secret.mint(&claims));
                0
            }
            Err(e) => {
                eprintln!("{program} token: {e}");
                1
            }
        },
    }
}

/// `kvws token --kid`: one key id a line, the signing one first.
fn print_kids(program: &str, path: Option<String>) -> i32 {
    let Some(path) = path else {
        return super::usage_error(program, "--secret-file is required");
    };
    match Secret::from_file(Path::new(&path)) {
        Ok(secret) => {
            for kid in secret.kids() {
                println!("{kid}");
            }
            0
        }
        Err(e) => {
            eprintln!("{program} token: {e}");
            1
        }
    }
}

fn claims(m: &getopts::Matches) -> Result<(String, Claims), String> {
    let path = m
        .opt_str("secret-file")
        .ok_or("--secret-file is required")?;
    let role = match m.opt_str("role").as_deref() {
        None | Some("guest") => Role::Guest,
        Some("manager") => Role::Manager,
        Some(other) => return Err(format!("--role: '{other}' is not guest or manager")),
    };
    let access = match m.opt_str("access").as_deref() {
        None | Some("read") => Access::Read,
        Some("readwrite") => Access::ReadWrite,
        Some(other) => return Err(format!("--access: '{other}' is not read or readwrite")),
    };
    let ids = m.opt_strs("id");
    if role == Role::Guest && ids.is_empty() {
        return Err("a guest token needs at least one --id".into());
    }
    if ids.iter().any(String::is_empty) {
        return Err("--id must not be empty".into());
    }
    let ttl = match m.opt_str("ttl") {
        Some(t) => parse_duration(&t).map_err(|e| format!("--ttl: {e}"))?,
        None => std::time::Duration::from_secs(3600),
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let exp = now + ttl.as_secs().max(1);
    Ok((
        path,
        Claims {
            role,
            ids,
            access,
            exp,
            nbf: None,
        },
    ))
}
