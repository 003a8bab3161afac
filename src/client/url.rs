//! The server address a client is given: `ws://host:port/path` or
//! `wss://host:port/path`.
//!
//! tungstenite's own `connect` needs the `url` crate, which kvws does not
//! pull in; and a client must connect the TCP socket itself anyway, to
//! bound the connect time. So the URL is split here, by hand: scheme, host
//! (a name, an IPv4 address or a bracketed IPv6 one), port (default 80, or
//! 443 for `wss://`) and path (default `/`).

use super::error::{Error, Result};

/// A parsed `ws://` or `wss://` URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    /// `wss://`: TLS.
    pub secure: bool,
    /// Host name or address, without brackets.
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// Request path and query, starting with `/`.
    pub path: String,
}

impl Endpoint {
    /// Parses `ws://HOST[:PORT][/PATH]` or `wss://...`; a bare `HOST:PORT`
    /// is taken as `ws://HOST:PORT/` (handy on a command line).
    pub fn parse(url: &str) -> Result<Endpoint> {
        let bad = |why: &str| Error::BadInput(format!("'{url}': {why}"));
        let (secure, rest) = if let Some(rest) = url.strip_prefix("ws://") {
            (false, rest)
        } else if let Some(rest) = url.strip_prefix("wss://") {
            (true, rest)
        } else if url.contains("://") {
            return Err(bad("the URL must start with ws:// or wss://"));
        } else {
            (false, url)
        };
        let (authority, path) = match rest.find(['/', '?']) {
            Some(i) if rest[i..].starts_with('/') => (&rest[..i], rest[i..].to_string()),
            Some(i) => (&rest[..i], format!("/{}", &rest[i..])),
            None => (rest, "/".to_string()),
        };
        if authority.contains('@') {
            return Err(bad("user names in the URL are not supported"));
        }
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let end = v6.find(']').ok_or_else(|| bad("unclosed '['"))?;
            let port = match &v6[end + 1..] {
                "" => None,
                p => Some(p.strip_prefix(':').ok_or_else(|| bad("junk after ']'"))?),
            };
            (&v6[..end], port)
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (authority, None),
            }
        };
        if host.is_empty() {
            return Err(bad("no host"));
        }
        let port = match port {
            None if secure => 443,
            None => 80,
            Some(p) => p
                .parse()
                .ok()
                .filter(|&p| p != 0)
                .ok_or_else(|| bad("the port must be a number from 1 to 65535"))?,
        };
        Ok(Endpoint {
            secure,
            host: host.to_string(),
            port,
            path,
        })
    }

    /// The URL in the form the handshake request is built from.
    pub fn url(&self) -> String {
        let scheme = if self.secure { "wss" } else { "ws" };
        if self.host.contains(':') {
            format!("{scheme}://[{}]:{}{}", self.host, self.port, self.path)
        } else {
            format!("{scheme}://{}:{}{}", self.host, self.port, self.path)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ep(host: &str, port: u16, path: &str) -> Endpoint {
        Endpoint {
            secure: false,
            host: host.into(),
            port,
            path: path.into(),
        }
    }

    #[test]
    fn parses_the_usual_forms() {
        let cases = [
            ("ws://127.0.0.1:8080/", ep("127.0.0.1", 8080, "/")),
            ("ws://localhost:8080", ep("localhost", 8080, "/")),
            ("ws://example.org", ep("example.org", 80, "/")),
            ("ws://h:1/x/y?z=1", ep("h", 1, "/x/y?z=1")),
            ("ws://h:1?z=1", ep("h", 1, "/?z=1")),
            ("ws://[::1]:9000/", ep("::1", 9000, "/")),
            ("ws://[::1]", ep("::1", 80, "/")),
            ("127.0.0.1:8080", ep("127.0.0.1", 8080, "/")),
            (
                "wss://example.org/x",
                Endpoint {
                    secure: true,
                    ..ep("example.org", 443, "/x")
                },
            ),
            (
                "wss://[::1]:8443",
                Endpoint {
                    secure: true,
                    ..ep("::1", 8443, "/")
                },
            ),
        ];
        for (url, want) in cases {
            assert_eq!(Endpoint::parse(url).unwrap(), want, "{url}");
        }
        assert_eq!(
            Endpoint::parse("ws://[::1]:9/").unwrap().url(),
            "ws://[::1]:9/"
        );
        assert_eq!(
            Endpoint::parse("localhost:80").unwrap().url(),
            "ws://localhost:80/"
        );
        assert_eq!(Endpoint::parse("wss://h").unwrap().url(), "wss://h:443/");
    }

    #[test]
    fn refuses_what_it_cannot_use() {
        for url in [
            "https://h/",
            "http://h/",
            "ws://:80/",
            "ws://h:0/",
            "ws://h:x/",
            "ws://h:70000/",
            "ws://[::1/",
            "ws://[::1]x/",
            "ws://u@h/",
            "",
        ] {
            let e = Endpoint::parse(url).unwrap_err();
            assert!(matches!(e, Error::BadInput(_)), "{url}: {e}");
        }
    }
}
