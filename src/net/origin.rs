//! The checks that keep web pages in visitors' browsers from using a kvws
//! they can reach.
//!
//! * Cross-site WebSocket hijacking: a browser lets any web page open a
//!   WebSocket to any address, including `localhost`, and sends the page's
//!   origin with the request. A page may therefore only open a WebSocket to
//!   the server that served it, unless the operator allows its origin
//!   (`--allow-origin`).
//! * DNS rebinding: a page on `evil.example` can make that name resolve to
//!   127.0.0.1, and then it *is* the server's own origin as far as the
//!   browser knows. What gives it away is the `Host` header, which names
//!   `evil.example`. An open server (no authentication) therefore answers
//!   only requests for an IP address, `localhost`, or a name the operator
//!   allows (`--allow-host`), as Vite and Jupyter do. With authentication
//!   a rebound page has no token, so the check is only made when asked for.

use std::net::IpAddr;

use super::http::Request;
use crate::url::{Scheme, Url, split_authority};

/// Whether a WebSocket upgrade may proceed given its `Origin` header.
///
/// Browsers always send `Origin`; a page may only open a WebSocket to the
/// server that served it (same host and port, default ports normalised)
/// or to one that lists its origin in `allowed` (`*` allows any). The
/// origin `null` (sandboxed frames, `file://`) never matches a host. A
/// request without `Origin` does not come from a browser page and is not
/// subject to the check: this is a defence against cross-site WebSocket
/// hijacking, not authentication.
pub fn origin_allowed(req: &Request, allowed: &[String]) -> bool {
    let Some(origin) = req.header("origin").map(str::trim) else {
        return true;
    };
    if allowed.iter().any(|a| a == "*") {
        return true;
    }
    let Some(theirs) = parse_origin(origin) else {
        return false;
    };
    if allowed
        .iter()
        .filter_map(|a| parse_origin(a.trim()))
        .any(|a| a == theirs)
    {
        return true;
    }
    let Some(host) = req.header("host") else {
        return false;
    };
    split_host(host.trim(), default_port(&theirs.0))
        .is_some_and(|(h, p)| (h, p) == (theirs.1.clone(), theirs.2))
}

/// Whether a request naming its `Host` may be served (see the module
/// documentation). `open`: authentication is off.
pub fn host_allowed(req: &Request, allowed: &[String], open: bool) -> bool {
    if !open && allowed.is_empty() {
        return true;
    }
    // Browsers always send `Host`; a client that sends none is not a page.
    let Some(host) = req.header("host") else {
        return true;
    };
    let Some((name, _)) = split_host(host.trim(), 0) else {
        return false;
    };
    if name.parse::<IpAddr>().is_ok() || name == "localhost" || name.ends_with(".localhost") {
        return true;
    }
    allowed.iter().any(|a| {
        let a = a.trim().to_ascii_lowercase();
        a == "*"
            || a == name
            || a.strip_prefix('.')
                .is_some_and(|domain| name == domain || name.ends_with(&a))
    })
}

/// Whether `origin` is `scheme://host[:port]` with an http(s) or ws(s)
/// scheme (and no path).
pub fn is_origin(origin: &str) -> bool {
    parse_origin(origin).is_some()
        && origin
            .split_once("://")
            .is_some_and(|(_, rest)| !rest.contains('/'))
}

/// Whether `pattern` is a host name, `.domain` or `*` (for `--allow-host`).
pub fn is_host_pattern(pattern: &str) -> bool {
    let name = pattern.strip_prefix('.').unwrap_or(pattern);
    pattern == "*"
        || (!name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.'))
}

/// `scheme://host[:port]` → (scheme, lowercase host, port with defaults filled in).
fn parse_origin(origin: &str) -> Option<(String, String, u16)> {
    let url = Url::parse(origin).ok().filter(|u| u.scheme.is_web())?;
    Some((
        url.scheme.to_string(),
        url.host.to_ascii_lowercase(),
        url.port,
    ))
}

fn default_port(scheme: &str) -> u16 {
    Scheme::parse(scheme)
        .filter(|s| s.is_web())
        .map_or(0, Scheme::default_port)
}

/// `host[:port]` or `[v6]:port` → (lowercase host, port).
fn split_host(authority: &str, default: u16) -> Option<(String, u16)> {
    let (host, port) = split_authority(authority).ok()?;
    Some((host.to_ascii_lowercase(), port.unwrap_or(default)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::http::parse_head;

    fn req(text: &str) -> Request {
        parse_head(text.as_bytes()).unwrap().unwrap()
    }

    #[test]
    fn origins_must_match_the_host_unless_allowed() {
        let with = |origin: &str, host: &str| {
            req(&format!(
                "GET / HTTP/1.1\r\nHost: {host}\r\nOrigin: {origin}\r\n\r\n"
            ))
        };
        let none: &[String] = &[];
        assert!(origin_allowed(
            &req("GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
            none
        ));
        assert!(origin_allowed(
            &with("http://localhost:8080", "localhost:8080"),
            none
        ));
        assert!(origin_allowed(
            &with("http://LOCALHOST:8080", "localhost:8080"),
            none
        ));
        assert!(origin_allowed(
            &with("https://example.com", "example.com:443"),
            none
        ));
        assert!(origin_allowed(
            &with("http://example.com", "example.com"),
            none
        ));
        assert!(origin_allowed(
            &with("http://[::1]:8080", "[::1]:8080"),
            none
        ));
        assert!(!origin_allowed(
            &with("http://evil.example", "localhost:8080"),
            none
        ));
        assert!(!origin_allowed(
            &with("http://localhost:9999", "localhost:8080"),
            none
        ));
        assert!(!origin_allowed(
            &with("http://example.com", "example.com:8080"),
            none
        ));
        assert!(!origin_allowed(&with("null", "localhost:8080"), none));
        assert!(!origin_allowed(&with("garbage", "localhost:8080"), none));
        let allowed = vec!["https://app.example.com".to_string()];
        assert!(origin_allowed(
            &with("https://app.example.com:443", "kv.internal:8080"),
            &allowed
        ));
        assert!(!origin_allowed(
            &with("https://other.example.com", "kv.internal:8080"),
            &allowed
        ));
        assert!(origin_allowed(&with("null", "x"), &["*".to_string()]));
    }

    #[test]
    fn an_open_server_answers_only_hosts_that_cannot_be_rebound() {
        let host = |h: &str| req(&format!("GET / HTTP/1.1\r\nHost: {h}\r\n\r\n"));
        let none: &[String] = &[];
        for ok in [
            "127.0.0.1:8080",
            "[::1]:8080",
            "localhost:8080",
            "LOCALHOST",
            "app.localhost:3000",
            "192.168.1.20:8080",
        ] {
            assert!(host_allowed(&host(ok), none, true), "{ok}");
        }
        for refused in ["evil.example:8080", "localhost.evil.example", "kv.internal"] {
            assert!(!host_allowed(&host(refused), none, true), "{refused}");
        }
        let allowed = vec!["kv.internal".to_string(), ".example.com".to_string()];
        assert!(host_allowed(&host("kv.internal:8080"), &allowed, true));
        assert!(host_allowed(&host("a.example.com"), &allowed, true));
        assert!(host_allowed(&host("example.com"), &allowed, true));
        assert!(!host_allowed(&host("badexample.com"), &allowed, true));
        assert!(host_allowed(&host("anything"), &["*".to_string()], true));
        // With authentication the check is made only when hosts are given.
        assert!(host_allowed(&host("evil.example"), none, false));
        assert!(!host_allowed(&host("evil.example"), &allowed, false));
        assert!(host_allowed(&req("GET / HTTP/1.1\r\n\r\n"), none, true));
    }

    #[test]
    fn origins_and_host_patterns_are_checked_when_configured() {
        assert!(is_origin("https://app.example.com"));
        assert!(is_origin("http://localhost:3000"));
        assert!(!is_origin("app.example.com"));
        assert!(!is_origin("https://app.example.com/path"));
        assert!(!is_origin("ftp://x"));
        assert!(is_host_pattern("kv.example.com"));
        assert!(is_host_pattern(".example.com"));
        assert!(is_host_pattern("*"));
        assert!(!is_host_pattern("http://x"));
        assert!(!is_host_pattern(""));
    }
}
