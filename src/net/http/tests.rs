//! The HTTP side's tests: parsing, routing, the JavaScript client's
//! revalidation and the responses' framing.

use super::*;

fn req(text: &str) -> Request {
    parse_head(text.as_bytes()).unwrap().unwrap()
}

const UPGRADE: &str = "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";

#[test]
fn partial_heads_wait_and_oversize_heads_fail() {
    assert!(
        parse_head(b"GET / HTTP/1.1\r\nHost: x\r\n")
            .unwrap()
            .is_none()
    );
    let big = format!("GET / HTTP/1.1\r\nX: {}\r\n", "a".repeat(MAX_HEAD));
    assert_eq!(parse_head(big.as_bytes()).unwrap_err(), HeadError::TooLarge);
    assert_eq!(
        parse_head(b"\x16\x03\x01garbage\r\n\r\n").unwrap_err(),
        HeadError::Malformed
    );
}

#[test]
fn routes_pages_errors_and_upgrades() {
    assert_eq!(
        route(&req("GET / HTTP/1.1\r\n\r\n")),
        Route::Page { head_only: false }
    );
    assert_eq!(
        route(&req("GET /?x=1 HTTP/1.1\r\n\r\n")),
        Route::Page { head_only: false }
    );
    assert_eq!(
        route(&req("HEAD / HTTP/1.1\r\n\r\n")),
        Route::Page { head_only: true }
    );
    assert_eq!(
        route(&req("GET /x HTTP/1.1\r\n\r\n")),
        Route::Reject(Status::NotFound)
    );
    assert_eq!(
        route(&req("POST / HTTP/1.1\r\n\r\n")),
        Route::Reject(Status::MethodNotAllowed)
    );
    // The RFC 6455 example key and its accept value.
    assert_eq!(
        route(&req(UPGRADE)),
        Route::Upgrade {
            accept: "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=".into(),
            protocol: None
        }
    );
    let old = UPGRADE.replace("Version: 13", "Version: 8");
    assert_eq!(route(&req(&old)), Route::Reject(Status::UpgradeRequired));
    let nokey = UPGRADE.replace("dGhlIHNhbXBsZSBub25jZQ==", "short");
    assert!(matches!(
        route(&req(&nokey)),
        Route::Reject(Status::BadRequest(_))
    ));
}

#[test]
fn offers_our_subprotocol_only_when_asked() {
    let with = UPGRADE.replace("\r\n\r\n", "\r\nSec-WebSocket-Protocol: chat, kvws\r\n\r\n");
    assert!(matches!(
        route(&req(&with)),
        Route::Upgrade {
            protocol: Some("kvws"),
            ..
        }
    ));
    let other = UPGRADE.replace("\r\n\r\n", "\r\nSec-WebSocket-Protocol: chat\r\n\r\n");
    assert!(matches!(
        route(&req(&other)),
        Route::Upgrade { protocol: None, .. }
    ));
}

#[test]
fn routes_the_javascript_client() {
    let get = |text: &str| route(&req(text));
    assert_eq!(
        get("GET /kvws.js HTTP/1.1\r\n\r\n"),
        Route::ClientJs {
            head_only: false,
            not_modified: false
        }
    );
    assert_eq!(
        get("GET /kvws.js?v=2 HTTP/1.1\r\n\r\n"),
        Route::ClientJs {
            head_only: false,
            not_modified: false
        }
    );
    assert_eq!(
        get("HEAD /kvws.js HTTP/1.1\r\n\r\n"),
        Route::ClientJs {
            head_only: true,
            not_modified: false
        }
    );
    assert_eq!(
        get("POST /kvws.js HTTP/1.1\r\n\r\n"),
        Route::Reject(Status::MethodNotAllowed)
    );
    // Only the exact path; the WebSocket is at / only.
    for other in ["/kvws.js/", "/KVWS.js", "/clients/js/kvws.js", "/kvws.d.ts"] {
        assert_eq!(
            get(&format!("GET {other} HTTP/1.1\r\n\r\n")),
            Route::Reject(Status::NotFound),
            "{other}"
        );
    }
    let upgrade = UPGRADE.replace("GET / ", "GET /kvws.js ");
    assert_eq!(get(&upgrade), Route::Reject(Status::NotFound));
}

#[test]
fn the_javascript_client_is_revalidated_by_its_etag() {
    let etag = client_js_etag();
    assert!(etag.len() == 34 && etag.starts_with('"') && etag.ends_with('"'));
    let with = |inm: &str| {
        route(&req(&format!(
            "GET /kvws.js HTTP/1.1\r\nIf-None-Match: {inm}\r\n\r\n"
        )))
    };
    let fresh = Route::ClientJs {
        head_only: false,
        not_modified: true,
    };
    let stale = Route::ClientJs {
        head_only: false,
        not_modified: false,
    };
    assert_eq!(with(etag), fresh);
    assert_eq!(with(&format!("W/{etag}")), fresh);
    assert_eq!(with(&format!("\"old\", {etag}")), fresh);
    assert_eq!(with("*"), fresh);
    assert_eq!(with("\"old\""), stale);
    assert_eq!(with(etag.trim_matches('"')), stale);

    let full = String::from_utf8(client_js(false, false)).unwrap();
    let (head, body) = full.split_once("\r\n\r\n").unwrap();
    assert_eq!(body, CLIENT_JS);
    assert!(body.contains("export async function connect("));
    for line in [
        "HTTP/1.1 200 OK",
        "Content-Type: text/javascript; charset=utf-8",
        &format!("Content-Length: {}", CLIENT_JS.len()),
        "Cache-Control: no-cache",
        &format!("ETag: {etag}"),
        "X-Content-Type-Options: nosniff",
        "Connection: close",
    ] {
        assert!(head.split("\r\n").any(|l| l == line), "{line} in {head}");
    }
    let head_only = String::from_utf8(client_js(true, false)).unwrap();
    assert_eq!(head_only, format!("{head}\r\n\r\n"));
    assert_eq!(
        String::from_utf8(client_js(false, true)).unwrap(),
        format!(
            "HTTP/1.1 304 Not Modified\r\nETag: {etag}\r\nCache-Control: no-cache\r\nConnection: close\r\n\r\n"
        )
    );
}

#[test]
fn responses_close_and_have_lengths() {
    let r = String::from_utf8(error(Status::NotFound)).unwrap();
    assert!(r.starts_with("HTTP/1.1 404 Not Found\r\n"));
    assert!(r.contains("Connection: close\r\n"));
    let head = String::from_utf8(page(true)).unwrap();
    assert!(head.contains(&format!("Content-Length: {}\r\n", PAGE.len())));
    assert!(head.ends_with("\r\n\r\n"));
}
