//! Who may read `/metrics`.
//!
//! The page says how busy the server is, how many clients it has and how
//! its disk and Redis behave: nothing secret, but nothing to hand to
//! strangers either. Without a token only peers on a loopback address may
//! read it (a Prometheus on the same host, an operator with `curl`). With
//! `--metrics-token FILE` every scrape must present the token as
//! `Authorization: Bearer TOKEN`, loopback included: the operator who sets
//! one has a port reachable by others, or other users on the host, and one
//! rule for everyone is easier to reason about than an exception.
//!
//! The presented token is compared in constant time: both sides are hashed
//! (SHA-256) and the digests compared with a fold that looks at every
//! byte, so neither the content nor the length of the expected token leaks
//! through the time a refusal takes.

use std::fmt;
use std::net::IpAddr;
use std::path::Path;

use sha2::{Digest, Sha256};

/// Shortest token accepted, in bytes: a guessable token would defeat the
/// point of having one.
pub const MIN_TOKEN_LEN: usize = 16;

/// The bearer token that lets a scraper read `/metrics` from anywhere.
/// Its `Debug` output never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct MetricsToken {
    digest: [u8; 32],
}

impl MetricsToken {
    /// A token of at least 16 bytes, printable ASCII (it
    /// travels in an HTTP header).
    pub fn new(token: &[u8]) -> Result<MetricsToken, String> {
        if token.len() < MIN_TOKEN_LEN {
            return Err(format!(
                "the metrics token is {} bytes; at least {MIN_TOKEN_LEN} are needed",
                token.len()
            ));
        }
        if !token.iter().all(u8::is_ascii_graphic) {
            return Err("the metrics token must be printable ASCII without spaces".into());
        }
        Ok(MetricsToken {
            digest: Sha256::digest(token).into(),
        })
    }

    /// Reads a token file: refused if group or others may read it, and
    /// trimmed of surrounding whitespace (as a secret file is).
    pub fn from_file(path: &Path) -> Result<MetricsToken, String> {
        use std::os::unix::fs::PermissionsExt;
        let shown = path.display();
        let meta = std::fs::metadata(path)
            .map_err(|e| format!("cannot read metrics token file {shown}: {e}"))?;
        let mode = meta.permissions().mode();
        if mode & 0o077 != 0 {
            return Err(format!(
                "metrics token file {shown} is accessible by group or others (mode {:o}); run: chmod 600 {shown}",
                mode & 0o777
            ));
        }
        let bytes = std::fs::read(path)
            .map_err(|e| format!("cannot read metrics token file {shown}: {e}"))?;
        MetricsToken::new(bytes.trim_ascii()).map_err(|e| format!("{shown}: {e}"))
    }

    /// Whether `presented` is the token, in constant time.
    pub fn matches(&self, presented: &[u8]) -> bool {
        let theirs: [u8; 32] = Sha256::digest(presented).into();
        let diff = self
            .digest
            .iter()
            .zip(theirs)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b));
        std::hint::black_box(diff) == 0
    }
}

impl fmt::Debug for MetricsToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MetricsToken(<redacted>)")
    }
}

/// What a request for `/metrics` gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// The page.
    Allow,
    /// `401`: a token is required and was missing or wrong.
    Unauthorized,
    /// `403`: no token is configured and the peer is not on loopback.
    Forbidden,
}

/// Decides for a request from `peer` with `authorization` (the header's
/// value) when the server has `token` (see the module documentation).
pub fn decide(peer: IpAddr, authorization: Option<&str>, token: Option<&MetricsToken>) -> Decision {
    let Some(token) = token else {
        return if is_loopback(peer) {
            Decision::Allow
        } else {
            Decision::Forbidden
        };
    };
    let presented = authorization.and_then(|value| {
        let (scheme, rest) = value.trim().split_once(' ')?;
        scheme
            .eq_ignore_ascii_case("bearer")
            .then(|| rest.trim().as_bytes())
    });
    match presented {
        Some(t) if token.matches(t) => Decision::Allow,
        _ => Decision::Unauthorized,
    }
}

/// 127.0.0.0/8, `::1`, and 127.x written as an IPv4-mapped IPv6 address
/// (a dual-stack socket reports IPv4 peers so).
fn is_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_only_without_a_token_and_the_token_from_everyone_with_one() {
        let local: IpAddr = "127.0.0.1".parse().unwrap();
        let local6: IpAddr = "::1".parse().unwrap();
        let mapped: IpAddr = "::ffff:127.0.0.5".parse().unwrap();
        let far: IpAddr = "192.0.2.7".parse().unwrap();
        for ip in [local, local6, mapped] {
            assert_eq!(decide(ip, None, None), Decision::Allow, "{ip}");
        }
        assert_eq!(decide(far, None, None), Decision::Forbidden);
        assert_eq!(decide(far, Some("Bearer x"), None), Decision::Forbidden);

        let token = MetricsToken::new(b"0123456789abcdef-metrics").unwrap();
        let t = Some(&token);
        assert_eq!(
            decide(far, Some("Bearer 0123456789abcdef-metrics"), t),
            Decision::Allow
        );
        assert_eq!(
            decide(far, Some("bearer  0123456789abcdef-metrics "), t),
            Decision::Allow
        );
        for bad in [
            None,
            Some("Bearer 0123456789abcdef-metric"),
            Some("Basic 0123456789abcdef-metrics"),
            Some("0123456789abcdef-metrics"),
            Some(""),
        ] {
            assert_eq!(decide(far, bad, t), Decision::Unauthorized, "{bad:?}");
            assert_eq!(decide(local, bad, t), Decision::Unauthorized, "{bad:?}");
        }
    }

    #[test]
    fn tokens_must_be_long_and_printable_and_never_show() {
        assert!(
            MetricsToken::new(b"short")
                .unwrap_err()
                .contains("at least 16")
        );
        assert!(MetricsToken::new(b"0123456789abcdef with space").is_err());
        let t = MetricsToken::new(b"0123456789abcdef").unwrap();
        assert_eq!(format!("{t:?}"), "MetricsToken(<redacted>)");
        assert!(t.matches(b"0123456789abcdef") && !t.matches(b"0123456789abcdeF"));
    }
}
