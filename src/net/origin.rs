//! The cross-site WebSocket hijacking check.
//!
//! A browser lets any web page open a WebSocket to any address, including
//! `localhost`, and sends the page's origin with the request. A page may
//! therefore only open a WebSocket to the server that served it, unless the
//! operator allows its origin (`--allow-origin`).

use super::http::Request;

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

/// `scheme://host[:port]` → (scheme, lowercase host, port with defaults filled in).
fn parse_origin(origin: &str) -> Option<(String, String, u16)> {
    let (scheme, rest) = origin.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    let default = default_port(&scheme);
    if default == 0 {
        return None;
    }
    let authority = rest.split('/').next().unwrap_or("");
    let (host, port) = split_host(authority, default)?;
    Some((scheme, host, port))
}

fn default_port(scheme: &str) -> u16 {
    match scheme {
        "http" | "ws" => 80,
        "https" | "wss" => 443,
        _ => 0,
    }
}

/// `host[:port]` or `[v6]:port` → (lowercase host, port).
fn split_host(authority: &str, default: u16) -> Option<(String, u16)> {
    let (host, port) = match authority.strip_prefix('[') {
        Some(v6) => {
            let (h, after) = v6.split_once(']')?;
            (h, after.strip_prefix(':'))
        }
        None => match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        },
    };
    if host.is_empty() {
        return None;
    }
    let port = match port {
        Some(p) => p.parse().ok()?,
        None => default,
    };
    Some((host.to_ascii_lowercase(), port))
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
}
