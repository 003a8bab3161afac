//! Where Redis is: `redis://[[user]:password@]host[:port][/db]`. The
//! user and password are taken off here; the host and port are split by
//! [`crate::url`], as every URL kvws meets.

/// Where Redis is and how to reach it. Its `Debug` hides the password.
#[derive(Clone, PartialEq, Eq)]
pub struct RedisUrl {
    /// Host name or address.
    pub host: String,
    /// Port (default 6379).
    pub port: u16,
    /// ACL user, if any.
    pub user: Option<String>,
    /// Password, if any.
    pub password: Option<String>,
    /// Database number (default 0).
    pub db: u32,
}

impl RedisUrl {
    /// Parses `redis://[[user]:password@]host[:port][/db]`.
    pub fn parse(url: &str) -> Result<RedisUrl, String> {
        if url.starts_with("rediss://") {
            return Err("rediss:// (TLS to Redis) is not supported: reach Redis over a private network or a local TLS tunnel".into());
        }
        let rest = url
            .strip_prefix("redis://")
            .ok_or_else(|| "a Redis URL starts with redis://".to_string())?;
        let (auth, rest) = match rest.rsplit_once('@') {
            Some((auth, rest)) => (Some(auth), rest),
            None => (None, rest),
        };
        let (hostport, db) = match rest.split_once('/') {
            Some((hp, "")) => (hp, 0),
            Some((hp, db)) => (
                hp,
                db.parse()
                    .map_err(|_| format!("'{db}' is not a database number"))?,
            ),
            None => (rest, 0),
        };
        // The host and port are split as every other URL of kvws is.
        let (host, port) = crate::url::split_authority(hostport).map_err(|e| e.to_string())?;
        if host.is_empty() {
            return Err("the Redis URL names no host".into());
        }
        let port = port.unwrap_or(crate::url::Scheme::Redis.default_port());
        let (user, password) = match auth {
            None => (None, None),
            Some(a) => match a.split_once(':') {
                Some((u, p)) => (
                    (!u.is_empty()).then(|| unescape(u)).transpose()?,
                    Some(unescape(p)?),
                ),
                None => (None, Some(unescape(a)?)),
            },
        };
        Ok(RedisUrl {
            host: host.to_string(),
            port,
            user,
            password,
            db,
        })
    }
}

impl std::fmt::Debug for RedisUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisUrl")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "<hidden>"))
            .field("db", &self.db)
            .finish()
    }
}

/// Decodes `%XX` escapes (a password may hold `@`, `:` or `/` that way).
fn unescape(s: &str) -> Result<String, String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| {
                    "a % in the URL's user or password is not followed by two hex digits"
                        .to_string()
                })?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| "the URL's user or password is not UTF-8".to_string())
}

#[cfg(test)]
mod tests {
    use super::RedisUrl;

    #[test]
    fn urls_parse() {
        let u = RedisUrl::parse("redis://127.0.0.1").unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.user, u.password, u.db),
            ("127.0.0.1", 6379, None, None, 0)
        );
        let u = RedisUrl::parse("redis://app:s3cr%40t@redis.internal:7000/2").unwrap();
        assert_eq!(
            (
                u.host.as_str(),
                u.port,
                u.user.as_deref(),
                u.password.as_deref(),
                u.db
            ),
            ("redis.internal", 7000, Some("app"), Some("s3cr@t"), 2)
        );
        let u = RedisUrl::parse("redis://:pw@[::1]:6380/").unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.user, u.password.as_deref()),
            ("::1", 6380, None, Some("pw"))
        );
        for bad in [
            "http://x",
            "redis://",
            "redis://h:port",
            "redis://h/x",
            "redis://[::1",
            "redis://:a%zz@h",
        ] {
            assert!(RedisUrl::parse(bad).is_err(), "{bad}");
        }
        let shown = format!("{:?}", RedisUrl::parse("redis://:hunter2@h").unwrap());
        assert!(!shown.contains("hunter2"), "{shown}");
    }
}
