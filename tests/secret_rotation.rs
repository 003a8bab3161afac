//! Several secrets in the secret file, key ids, and rotating the secret
//! without a restart: `Server::reload_secret` (what SIGHUP runs) called
//! on a real server between steps of its loop, clients on real sockets.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::Client;
use kvws::auth::{Access, Claims, Role, Secret, kid_of, mint};
use kvws::{Config, Handle, Server};

const OLD: &str = "the old secret, thirty-two bytes or more";
const NEW: &str = "the new secret, also thirty-two bytes long";

type Reload = mpsc::Sender<Result<Vec<String>, String>>;

/// A server whose loop runs on a thread of its own and reloads its secret
/// file when asked (as the SIGHUP handler does from the loop).
struct Reloadable {
    addr: std::net::SocketAddr,
    handle: Handle,
    asks: mpsc::Sender<Reload>,
    thread: Option<JoinHandle<()>>,
}

impl Reloadable {
    fn start(file: &Path) -> Reloadable {
        let config = Config::default()
            .port(0)
            .start_revision(Some(0))
            .secret(Some(Secret::from_file(file).unwrap()))
            .secret_file(Some(file.to_path_buf()));
        let mut server = Server::bind(config).unwrap();
        let (addr, handle) = (server.local_addr(), server.handle());
        let (asks, inbox) = mpsc::channel::<Reload>();
        let thread = std::thread::spawn(move || {
            while !server.is_stopped() {
                server.service(Some(Duration::from_millis(20))).unwrap();
                while let Ok(reply) = inbox.try_recv() {
                    let _ = reply.send(server.reload_secret());
                }
            }
        });
        Reloadable {
            addr,
            handle,
            asks,
            thread: Some(thread),
        }
    }

    fn reload(&self) -> Result<Vec<String>, String> {
        let (tx, rx) = mpsc::channel();
        self.asks.send(tx).unwrap();
        self.handle.wake().unwrap();
        rx.recv_timeout(common::PATIENCE).unwrap()
    }
}

impl Drop for Reloadable {
    fn drop(&mut self) {
        self.handle.shutdown();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn claims() -> Claims {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    Claims {
        role: Role::Guest,
        ids: vec!["app".into()],
        access: Access::ReadWrite,
        exp: now + 3600,
        nbf: None,
    }
}

fn write_file(path: &Path, content: &str) {
    std::fs::write(path, content).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

fn temp_file(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("kvws-rotation-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("secret")
}

/// Authenticates `c` with `token`; returns the reply.
fn auth(c: &mut Client, token: &str) -> String {
    c.send(&format!(r#"{{"type":"auth","token":"{token}"}}"#));
    c.recv()
}

const ACCEPTED: &str =
    r#"{"type":"authenticated","role":"guest","ids":["app"],"access":"readwrite","expires":"#;

#[test]
fn tokens_of_either_secret_verify_and_a_kid_selects_one() {
    let file = temp_file("either");
    write_file(
        &file,
        &format!("# signing\n{NEW}\n\n# until every old token expired\n{OLD}\n"),
    );
    let server = Reloadable::start(&file);
    let both = Secret::from_file(&file).unwrap();
    assert_eq!(
        both.kids().collect::<Vec<_>>(),
        [kid_of(NEW.as_bytes()), kid_of(OLD.as_bytes())]
    );
    let old_only = Secret::new(OLD).unwrap();
    let stranger = Secret::new(b"a secret this server has never heard of".to_vec()).unwrap();
    for token in [
        both.mint(&claims()),            // kid of the new secret
        old_only.mint(&claims()),        // kid of the old one
        mint(NEW.as_bytes(), &claims()), // no kid: tried with each
        mint(OLD.as_bytes(), &claims()),
    ] {
        let mut c = Client::connect(server.addr);
        assert!(auth(&mut c, &token).starts_with(ACCEPTED), "{token}");
    }
    let mut c = Client::connect(server.addr);
    assert_eq!(
        auth(&mut c, &stranger.mint(&claims())),
        r#"{"type":"error","code":"invalid_token","message":"invalid token: unknown key id (kid)"}"#
    );
    assert_eq!(
        auth(&mut c, &mint(stranger.bytes(), &claims())),
        r#"{"type":"error","code":"invalid_token","message":"invalid token: bad signature"}"#
    );
}

#[test]
fn a_secret_is_rotated_by_reloading_the_file_without_dropping_anyone() {
    let file = temp_file("rotate");
    write_file(&file, &format!("{OLD}\n"));
    let server = Reloadable::start(&file);
    let old = Secret::new(OLD).unwrap();
    let new = Secret::new(NEW).unwrap();
    let old_token = old.mint(&claims());
    // A client that authenticated with the old secret, and stays.
    let mut early = Client::connect(server.addr);
    assert!(auth(&mut early, &old_token).starts_with(ACCEPTED));
    let mut fresh = Client::connect(server.addr);
    assert!(auth(&mut fresh, &new.mint(&claims())).contains("unknown key id"));

    // 1. The new secret as the second line: both verify, the old signs.
    write_file(&file, &format!("{OLD}\n{NEW}\n"));
    assert_eq!(
        server.reload(),
        Ok(vec![old.kid().to_string(), new.kid().to_string()])
    );
    assert!(auth(&mut fresh, &new.mint(&claims())).starts_with(ACCEPTED));
    // 2. Later, the new one first: it signs; old tokens still verify.
    write_file(&file, &format!("{NEW}\n{OLD}\n"));
    assert_eq!(
        server.reload(),
        Ok(vec![new.kid().to_string(), old.kid().to_string()])
    );
    let mut c = Client::connect(server.addr);
    assert!(auth(&mut c, &old_token).starts_with(ACCEPTED));
    // 3. Once every old token has expired, the old secret goes.
    write_file(&file, &format!("{NEW}\n"));
    assert_eq!(server.reload(), Ok(vec![new.kid().to_string()]));
    let mut late = Client::connect(server.addr);
    assert!(auth(&mut late, &old_token).contains("unknown key id"));
    assert!(auth(&mut late, &mint(OLD.as_bytes(), &claims())).contains("bad signature"));
    // The client that authenticated at the start kept its grant throughout.
    early.call(
        r#"{"type":"set","id":"app","key":"k","value":1,"req":1}"#,
        &[r#"{"type":"value","id":"app","key":"k","value":1,"rev":1,"req":1}"#],
    );
}

#[test]
fn a_bad_file_is_refused_and_the_secrets_in_use_stay() {
    let file = temp_file("bad");
    write_file(&file, &format!("{OLD}\n"));
    let server = Reloadable::start(&file);
    let token = mint(OLD.as_bytes(), &claims());
    // Readable by others, a short secret, no secret, missing.
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    assert!(server.reload().unwrap_err().contains("chmod 600"));
    write_file(&file, "too short\n");
    assert!(server.reload().unwrap_err().contains("at least 32"));
    write_file(&file, "# only a comment\n");
    assert!(server.reload().unwrap_err().contains("no secret"));
    std::fs::remove_file(&file).unwrap();
    assert!(server.reload().unwrap_err().contains("cannot read"));
    let mut c = Client::connect(server.addr);
    assert!(auth(&mut c, &token).starts_with(ACCEPTED));
}

#[test]
fn an_open_server_cannot_be_given_a_secret_by_a_reload() {
    let mut server = Server::bind(Config::default().port(0)).unwrap();
    assert_eq!(
        server.reload_secret().unwrap_err(),
        "no secret file to read (--secret-file)"
    );
}

#[test]
fn kvws_token_signs_with_the_first_secret_and_prints_key_ids() {
    let file = temp_file("cli");
    write_file(&file, &format!("{NEW}\n{OLD}\n"));
    let kvws = env!("CARGO_BIN_EXE_kvws");
    let path = file.to_str().unwrap();
    let out = Command::new(kvws)
        .args(["token", "--secret-file", path, "--kid"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        format!("{}\n{}\n", kid_of(NEW.as_bytes()), kid_of(OLD.as_bytes()))
    );
    let out = Command::new(kvws)
        .args(["token", "--secret-file", path, "--role", "manager"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let token = String::from_utf8(out.stdout).unwrap();
    let header = token.split('.').next().unwrap();
    let header = data_encoding::BASE64URL_NOPAD
        .decode(header.as_bytes())
        .unwrap();
    assert_eq!(
        String::from_utf8(header).unwrap(),
        format!(
            r#"{{"alg":"HS256","typ":"JWT","kid":"{}"}}"#,
            kid_of(NEW.as_bytes())
        )
    );
    let new = Secret::new(NEW).unwrap();
    assert!(kvws::auth::verify(new.bytes(), token.trim(), 0, 0).is_ok());
}

/// `kvws` rereads its secret file on SIGHUP (with the TLS certificate, if
/// it has one): a good file is in use for the next `auth`, a bad one is
/// refused in the log and the secrets in use stay.
#[cfg(feature = "cli")]
#[test]
fn sighup_makes_the_binary_reread_its_secret_file() {
    let file = temp_file("sighup");
    write_file(&file, &format!("{OLD}\n"));
    let path = file.to_str().unwrap();
    let server = common::daemon::Daemon::start(&["--secret-file", path]);
    let (old, new) = (Secret::new(OLD).unwrap(), Secret::new(NEW).unwrap());
    let mut c = Client::connect(server.addr);
    assert!(auth(&mut c, &new.mint(&claims())).contains("unknown key id"));

    write_file(&file, &format!("{NEW}\n{OLD}\n"));
    server.signal(libc::SIGHUP);
    let line = server.wait_for_log("reloaded the secret file");
    assert!(
        line.contains(&format!(
            "tokens are signed with key id {} and key ids {}, {} accepted",
            new.kid(),
            new.kid(),
            old.kid()
        )),
        "{line}"
    );
    for secret in [&new, &old] {
        let mut c = Client::connect(server.addr);
        assert!(auth(&mut c, &secret.mint(&claims())).starts_with(ACCEPTED));
    }

    write_file(&file, "too short\n");
    server.signal(libc::SIGHUP);
    let line = server.wait_for_log("cannot reload the secret file");
    assert!(line.contains("at least 32"), "{line}");
    let mut c = Client::connect(server.addr);
    assert!(auth(&mut c, &new.mint(&claims())).starts_with(ACCEPTED));
}
