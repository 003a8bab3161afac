//! Python over wss://: `websockets` with an `ssl` context trusting the
//! test's CA gets exact replies to a subscription, a set and a get; the
//! project's Python client does the same through its `websocket_options`;
//! a default context (the system's roots) is refused the certificate.
//!
//! `KVWS_PYTHON` names the interpreter, as for `tests/python_client.rs`;
//! without it the test says it skipped, unless `KVWS_REQUIRE_CLIENTS=1`.

#![cfg(all(feature = "tls", feature = "cli"))]

mod common;

use std::process::Command;

use common::tls::Pki;
use common::{TestServer, suite};

const SCRIPT: &str = r#"
import asyncio, json, ssl, sys
import websockets
import kvws

async def main(url, cafile):
    ctx = ssl.create_default_context(cafile=cafile)
    async with websockets.connect(url, ssl=ctx) as ws:
        print(ws.transport.get_extra_info("ssl_object").version())
        await ws.send('{"type":"subscribe","id":"py","key":"k","req":1}')
        print(await ws.recv())
        await ws.send('{"type":"set","id":"py","key":"k","value":[1,"two"],"req":2}')
        print(await ws.recv())
        print(await ws.recv())
        await ws.send('{"type":"get","id":"py","key":"k","req":3}')
        print(await ws.recv())
    kv = await kvws.connect(url, websocket_options={"ssl": ctx})
    entry = await kv.get("py", "k")
    print(json.dumps({"value": entry.value, "rev": entry.rev}))
    await kv.close()
    try:
        async with websockets.connect(url, ssl=ssl.create_default_context()):
            print("connected without trusting the CA")
    except ssl.SSLCertVerificationError as e:
        print("refused:", e.verify_message)

asyncio.run(main(sys.argv[1], sys.argv[2]))
"#;

#[test]
fn python_websockets_with_an_ssl_context_gets_exact_replies_over_wss() {
    let Some(python) = std::env::var_os("KVWS_PYTHON").filter(|p| !p.is_empty()) else {
        return suite::skip(
            "Python TLS test",
            "KVWS_PYTHON does not name a Python with websockets",
        );
    };
    let pki = Pki::new("python");
    let server = TestServer::with(pki.config());
    let url = format!("wss://localhost:{}/", server.addr.port());
    let out = Command::new(python)
        .env("PYTHONPATH", suite::root().join("clients/python/src"))
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .args(["-c", SCRIPT, &url])
        .arg(&pki.ca)
        .output()
        .expect("run Python");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "Python failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines,
        [
            "TLSv1.3",
            r#"{"type":"value","id":"py","key":"k","value":null,"rev":0,"req":1}"#,
            r#"{"type":"value","id":"py","key":"k","value":[1,"two"],"rev":1,"req":2}"#,
            r#"{"type":"value","id":"py","key":"k","value":[1,"two"],"rev":1}"#,
            r#"{"type":"value","id":"py","key":"k","value":[1,"two"],"rev":1,"req":3}"#,
            r#"{"value": [1, "two"], "rev": 1}"#,
            "refused: unable to get local issuer certificate",
        ]
    );
}
