//! The server address a client is given: `ws://host:port/path` or
//! `wss://host:port/path`.
//!
//! tungstenite's own `connect` needs the `url` crate, which kvws does not
//! pull in; and a client must connect the TCP socket itself anyway, to
//! bound the connect time. The URL is split by [`crate::url`], the parser
//! the load generator and the server's origin check use too; what is the
//! client's own is what it accepts: `ws://` and `wss://` only, a bare
//! `HOST:PORT` taken as `ws://HOST:PORT/`, no port 0.

use super::error::{Error, Result};
use crate::url::{Scheme, Url, UrlError, join_authority};

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
        let parsed = if url.contains("://") {
            Url::parse(url)
        } else {
            Url::parse(&format!("ws://{url}"))
        };
        let parsed = match parsed {
            Ok(u) if matches!(u.scheme, Scheme::Ws | Scheme::Wss) => u,
            Ok(_) | Err(UrlError::UnknownScheme(_)) => {
                return Err(bad("the URL must start with ws:// or wss://"));
            }
            Err(UrlError::BadPort) => return Err(bad(PORT)),
            Err(e) => return Err(bad(&e.to_string())),
        };
        if parsed.port == 0 {
            return Err(bad(PORT));
        }
        Ok(Endpoint {
            secure: parsed.scheme == Scheme::Wss,
            host: parsed.host,
            port: parsed.port,
            path: parsed.path,
        })
    }

    /// The URL in the form the handshake request is built from.
    pub fn url(&self) -> String {
        let scheme = if self.secure { "wss" } else { "ws" };
        format!("{scheme}://{}{}", self.authority(), self.path)
    }

    /// `host:port` (an IPv6 address in brackets): the `Host` header.
    pub fn authority(&self) -> String {
        join_authority(&self.host, self.port)
    }
}

const PORT: &str = "the port must be a number from 1 to 65535";

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
            "ftp://h/",
            "",
        ] {
            let e = Endpoint::parse(url).unwrap_err();
            assert!(matches!(e, Error::BadInput(_)), "{url}: {e}");
        }
    }
}
