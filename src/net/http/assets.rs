//! What kvws serves over plain HTTP: the test page and the JavaScript
//! client, embedded in the binary, with their responses (the client is
//! revalidated by its `ETag`). Apart from routing so that the built-in
//! resources and their caching rules are read in one place.

use super::responses::response;

/// The test page, embedded in the binary.
pub const PAGE: &str = include_str!("../page.html");

/// Where the JavaScript client is served.
pub const CLIENT_JS_PATH: &str = "/kvws.js";

/// The JavaScript client (`clients/js/kvws.js`), embedded in the binary: the
/// test page imports it, and so may any page on the same host.
pub const CLIENT_JS: &str =
    include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/clients/js/kvws.js"));

/// The test page response.
pub fn page(head_only: bool) -> Vec<u8> {
    response(
        "200 OK",
        "text/html; charset=utf-8",
        PAGE.as_bytes(),
        &[
            ("Cache-Control", "no-cache"),
            ("X-Content-Type-Options", "nosniff"),
            ("Referrer-Policy", "no-referrer"),
        ],
        head_only,
    )
}

/// The JavaScript client's `ETag`: the start of its SHA-256, quoted.
pub fn client_js_etag() -> &'static str {
    static ETAG: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    ETAG.get_or_init(|| {
        use sha2::Digest as _;
        let hash = sha2::Sha256::digest(CLIENT_JS.as_bytes());
        format!("\"{}\"", data_encoding::HEXLOWER.encode(&hash[..16]))
    })
}

/// How long a browser may keep the JavaScript client: it asks again every
/// time (`no-cache`), and an unchanged one is answered with a bodiless 304
/// by its `ETag`. A page and the module it imports so always come from the
/// same server version, even right after an upgrade.
const CLIENT_JS_CACHE: &str = "no-cache";

/// The JavaScript client response, or `304 Not Modified` when the browser
/// has it already.
pub fn client_js(head_only: bool, not_modified: bool) -> Vec<u8> {
    let etag = client_js_etag();
    if not_modified {
        return format!(
            "HTTP/1.1 304 Not Modified\r\nETag: {etag}\r\nCache-Control: {CLIENT_JS_CACHE}\r\nConnection: close\r\n\r\n"
        )
        .into_bytes();
    }
    response(
        "200 OK",
        "text/javascript; charset=utf-8",
        CLIENT_JS.as_bytes(),
        &[
            ("Cache-Control", CLIENT_JS_CACHE),
            ("ETag", etag),
            ("X-Content-Type-Options", "nosniff"),
        ],
        head_only,
    )
}
