//! The URLs kvws meets, split in one place: `ws://` and `wss://` (what
//! clients connect to), `http://` and `https://` (the origins browsers send
//! and `--allow-origin` names) and `redis://` (what the load generator can
//! compare against).
//!
//! A URL is `scheme://host[:port][/path][?query][#fragment]`; the host is a
//! name, an IPv4 address or a bracketed IPv6 address (`[::1]`), a missing
//! port is the scheme's default, a missing path is `/`, and the fragment is
//! dropped (it is never sent to a server). Split by hand rather than with the
//! `url` crate: this is all kvws needs, and every user of it (the client
//! library, the load generator, the server's origin check) agrees on the
//! same rules. What each user accepts on top (only `ws://` for the client,
//! no port 0, ...) is its own business.
//!
//! ```
//! use kvws::url::{Scheme, Url};
//! let u = Url::parse("ws://[::1]:9000/kv?x=1").unwrap();
//! assert_eq!((u.scheme, u.host.as_str(), u.port, u.path.as_str()), (Scheme::Ws, "::1", 9000, "/kv?x=1"));
//! assert_eq!(u.authority(), "[::1]:9000");
//! assert_eq!(Url::parse("redis://cache").unwrap().port, 6379);
//! ```

use std::fmt;

/// The schemes kvws knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// `ws://`: a WebSocket without TLS (port 80).
    Ws,
    /// `wss://`: a WebSocket over TLS (port 443).
    Wss,
    /// `http://` (port 80).
    Http,
    /// `https://` (port 443).
    Https,
    /// `redis://` (port 6379).
    Redis,
}

impl Scheme {
    /// The scheme called `name` (case does not matter, as in RFC 3986).
    pub fn parse(name: &str) -> Option<Scheme> {
        [
            Scheme::Ws,
            Scheme::Wss,
            Scheme::Http,
            Scheme::Https,
            Scheme::Redis,
        ]
        .into_iter()
        .find(|s| s.as_str().eq_ignore_ascii_case(name))
    }

    /// The scheme's name, lowercase, without `://`.
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Ws => "ws",
            Scheme::Wss => "wss",
            Scheme::Http => "http",
            Scheme::Https => "https",
            Scheme::Redis => "redis",
        }
    }

    /// The port a URL without one means.
    pub fn default_port(self) -> u16 {
        match self {
            Scheme::Ws | Scheme::Http => 80,
            Scheme::Wss | Scheme::Https => 443,
            Scheme::Redis => 6379,
        }
    }

    /// Whether a web page can have this scheme in its origin (http, https,
    /// ws, wss).
    pub fn is_web(self) -> bool {
        self != Scheme::Redis
    }
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a text is not a URL kvws can use.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum UrlError {
    /// No `scheme://`.
    NoScheme,
    /// A scheme other than ws, wss, http, https and redis.
    UnknownScheme(String),
    /// Nothing between `://` and the port or path.
    NoHost,
    /// `user@host`: credentials in URLs are not supported.
    UserInfo,
    /// `[` without `]`.
    UnclosedBracket,
    /// Something other than `:PORT` after an IPv6 address's `]`.
    AfterBracket,
    /// A port that is not a number from 0 to 65535.
    BadPort,
}

impl fmt::Display for UrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UrlError::NoScheme => f.write_str("no scheme (like ws://)"),
            UrlError::UnknownScheme(s) => write!(f, "unknown scheme '{s}://'"),
            UrlError::NoHost => f.write_str("no host"),
            UrlError::UserInfo => f.write_str("user names in the URL are not supported"),
            UrlError::UnclosedBracket => f.write_str("unclosed '['"),
            UrlError::AfterBracket => f.write_str("junk after ']'"),
            UrlError::BadPort => f.write_str("the port must be a number from 0 to 65535"),
        }
    }
}

impl std::error::Error for UrlError {}

/// A parsed URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Url {
    /// The scheme.
    pub scheme: Scheme,
    /// The host as written (case kept), without an IPv6 address's brackets.
    pub host: String,
    /// The port given, or the scheme's default.
    pub port: u16,
    /// The path and query, starting with `/` (`/` when the URL has none).
    pub path: String,
}

impl Url {
    /// Parses `scheme://host[:port][/path][?query][#fragment]`.
    pub fn parse(text: &str) -> Result<Url, UrlError> {
        let (scheme, rest) = text.split_once("://").ok_or(UrlError::NoScheme)?;
        let scheme =
            Scheme::parse(scheme).ok_or_else(|| UrlError::UnknownScheme(scheme.to_string()))?;
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(end);
        let (host, port) = split_authority(authority)?;
        let tail = tail.split('#').next().unwrap_or_default();
        let path = if tail.starts_with('/') {
            tail.to_string()
        } else {
            format!("/{tail}")
        };
        Ok(Url {
            scheme,
            host: host.to_string(),
            port: port.unwrap_or(scheme.default_port()),
            path,
        })
    }

    /// `host:port`, the host bracketed if it is an IPv6 address: what an
    /// HTTP `Host` header says.
    pub fn authority(&self) -> String {
        join_authority(&self.host, self.port)
    }
}

impl fmt::Display for Url {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}{}", self.scheme, self.authority(), self.path)
    }
}

/// `host:port`, the host bracketed if it is an IPv6 address.
pub fn join_authority(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// Splits `host[:port]` or `[v6][:port]` (a URL's authority, or an HTTP
/// `Host` header) into the host, without brackets and case kept, and the
/// port if one is given.
pub fn split_authority(authority: &str) -> Result<(&str, Option<u16>), UrlError> {
    if authority.contains('@') {
        return Err(UrlError::UserInfo);
    }
    let (host, port) = match authority.strip_prefix('[') {
        Some(v6) => {
            let (host, after) = v6.split_once(']').ok_or(UrlError::UnclosedBracket)?;
            match after {
                "" => (host, None),
                _ => (
                    host,
                    Some(after.strip_prefix(':').ok_or(UrlError::AfterBracket)?),
                ),
            }
        }
        None => match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        },
    };
    if host.is_empty() {
        return Err(UrlError::NoHost);
    }
    let port = match port {
        None => None,
        Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => {
            Some(p.parse().map_err(|_| UrlError::BadPort)?)
        }
        Some(_) => return Err(UrlError::BadPort),
    };
    Ok((host, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(scheme: Scheme, host: &str, port: u16, path: &str) -> Url {
        Url {
            scheme,
            host: host.into(),
            port,
            path: path.into(),
        }
    }

    #[test]
    fn parses_every_scheme_with_its_default_port() {
        use Scheme::*;
        let cases = [
            ("ws://127.0.0.1:8080/", url(Ws, "127.0.0.1", 8080, "/")),
            ("ws://localhost:8080", url(Ws, "localhost", 8080, "/")),
            ("ws://example.org", url(Ws, "example.org", 80, "/")),
            ("wss://example.org", url(Wss, "example.org", 443, "/")),
            ("http://Example.ORG", url(Http, "Example.ORG", 80, "/")),
            ("HTTPS://h:8443/", url(Https, "h", 8443, "/")),
            ("redis://127.0.0.1", url(Redis, "127.0.0.1", 6379, "/")),
            ("redis://cache:7000", url(Redis, "cache", 7000, "/")),
            ("ws://h:0/", url(Ws, "h", 0, "/")),
        ];
        for (text, want) in cases {
            assert_eq!(Url::parse(text), Ok(want), "{text}");
        }
    }

    #[test]
    fn hosts_ports_and_paths() {
        use Scheme::Ws;
        let cases = [
            ("ws://h:1/x/y?z=1", url(Ws, "h", 1, "/x/y?z=1")),
            ("ws://h:1?z=1", url(Ws, "h", 1, "/?z=1")),
            ("ws://h/p#frag", url(Ws, "h", 80, "/p")),
            ("ws://h#frag", url(Ws, "h", 80, "/")),
            ("ws://[::1]:9000/", url(Ws, "::1", 9000, "/")),
            ("ws://[::1]", url(Ws, "::1", 80, "/")),
        ];
        for (text, want) in cases {
            assert_eq!(Url::parse(text), Ok(want), "{text}");
        }
        let v6 = Url::parse("ws://[::1]/kv").unwrap();
        assert_eq!(v6.authority(), "[::1]:80");
        assert_eq!(v6.to_string(), "ws://[::1]:80/kv");
        assert_eq!(
            Url::parse("redis://h").unwrap().to_string(),
            "redis://h:6379/"
        );
    }

    #[test]
    fn refuses_what_is_not_a_url() {
        let cases = [
            ("", UrlError::NoScheme),
            ("127.0.0.1:8080", UrlError::NoScheme),
            ("ftp://h/", UrlError::UnknownScheme("ftp".into())),
            ("ws://", UrlError::NoHost),
            ("ws://:80/", UrlError::NoHost),
            ("ws:///path", UrlError::NoHost),
            ("ws://[]:80/", UrlError::NoHost),
            ("ws://u@h/", UrlError::UserInfo),
            ("ws://u:p@h:1/", UrlError::UserInfo),
            ("ws://[::1/", UrlError::UnclosedBracket),
            ("ws://[::1]x/", UrlError::AfterBracket),
            ("ws://[::1]80/", UrlError::AfterBracket),
            ("ws://h:/", UrlError::BadPort),
            ("ws://h:x/", UrlError::BadPort),
            ("ws://h:+80/", UrlError::BadPort),
            ("ws://h:70000/", UrlError::BadPort),
        ];
        for (text, want) in cases {
            assert_eq!(Url::parse(text), Err(want), "{text}");
        }
    }

    #[test]
    fn authorities_as_in_a_host_header() {
        assert_eq!(split_authority("localhost"), Ok(("localhost", None)));
        assert_eq!(split_authority("LOCALHOST:80"), Ok(("LOCALHOST", Some(80))));
        assert_eq!(split_authority("[::1]:8080"), Ok(("::1", Some(8080))));
        assert_eq!(split_authority("[::1]"), Ok(("::1", None)));
        assert_eq!(split_authority(""), Err(UrlError::NoHost));
        assert_eq!(split_authority("h:"), Err(UrlError::BadPort));
        assert_eq!(split_authority("[::1"), Err(UrlError::UnclosedBracket));
    }

    #[test]
    fn schemes() {
        assert_eq!(Scheme::parse("WSS"), Some(Scheme::Wss));
        assert_eq!(Scheme::parse("gopher"), None);
        assert!(Scheme::Https.is_web() && !Scheme::Redis.is_web());
        assert_eq!(Scheme::Wss.to_string(), "wss");
    }
}
