//! Tokens: JSON Web Tokens signed with HMAC-SHA256 (`HS256`).
//!
//! JWT is what backends already mint (every language has a library, and
//! `kvws token` mints them too), and HS256 needs only the shared secret.
//! Verification accepts exactly `{"alg":"HS256"}` headers: `none` and
//! public-key algorithms are refused, so a token cannot choose how it is
//! checked. Signatures are compared in constant time (`Mac::verify_slice`).
//!
//! The claims kvws reads:
//!
//! | claim | meaning |
//! |---|---|
//! | `role` | `"guest"` or `"manager"` |
//! | `ids` | a guest's application ids (a manager's token may omit it) |
//! | `access` | `"read"` or `"readwrite"`; `"read"` when absent (least privilege) |
//! | `exp` | expiry, Unix seconds (required) |
//! | `nbf` | not valid before, Unix seconds (optional) |

use data_encoding::BASE64URL_NOPAD;
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Longest token accepted: bounds the work an `auth` message can cause.
pub const MAX_TOKEN_LEN: usize = 4096;

/// Most application ids one guest token may carry.
pub const MAX_TOKEN_IDS: usize = 256;

/// What a token allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Only the ids listed in the token.
    Guest,
    /// Every id (the Python seed's role that may read other users' data).
    Manager,
}

/// Read-only or read-write.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Access {
    /// `get`, `subscribe` and `list` only.
    #[default]
    Read,
    /// Everything, including `set` and `delete`.
    ReadWrite,
}

impl Role {
    /// The role's name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Guest => "guest",
            Role::Manager => "manager",
        }
    }
}

impl Access {
    /// The access level's name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Access::Read => "read",
            Access::ReadWrite => "readwrite",
        }
    }
}

/// The claims of a kvws token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// Guest or manager.
    pub role: Role,
    /// Application ids a guest may use (ignored for managers).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ids: Vec<String>,
    /// Read-only or read-write.
    #[serde(default)]
    pub access: Access,
    /// Expiry in Unix seconds: the token is refused from this second on.
    pub exp: u64,
    /// Not valid before this Unix second.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<u64>,
}

/// Why a token was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TokenError {
    /// Malformed, wrong algorithm, bad signature or unusable claims.
    Invalid(&'static str),
    /// Correctly signed but past its expiry (or before `nbf`).
    Expired,
}

/// A token's header as read.
#[derive(Deserialize)]
struct Header {
    alg: String,
    /// Which of the server's secrets signed it (see [`super::Secret`]).
    #[serde(default)]
    kid: Option<String>,
}

/// A token's header as written.
#[derive(Serialize)]
struct NewHeader<'a> {
    alg: &'a str,
    typ: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    kid: Option<&'a str>,
}

/// Signs `claims` with `secret` into a compact JWT.
pub fn mint(secret: &[u8], claims: &Claims) -> String {
    mint_with_kid(secret, None, claims)
}

/// Signs `claims` with `secret`, naming it by `kid` in the header.
pub fn mint_with_kid(secret: &[u8], kid: Option<&str>, claims: &Claims) -> String {
    let header = NewHeader {
        alg: "HS256",
        typ: "JWT",
        kid,
    };
    let header = BASE64URL_NOPAD.encode(&serde_json::to_vec(&header).expect("header serializes"));
    let payload = BASE64URL_NOPAD.encode(&serde_json::to_vec(claims).expect("claims serialize"));
    let signed = format!("{header}.{payload}");
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(signed.as_bytes());
    let signature = BASE64URL_NOPAD.encode(&mac.finalize().into_bytes());
    format!("{signed}.{signature}")
}

/// Checks `token`'s signature and validity at `now` (Unix seconds), allowing
/// `leeway` seconds of clock difference, and returns its claims.
pub fn verify(secret: &[u8], token: &str, now: u64, leeway: u64) -> Result<Claims, TokenError> {
    verify_among(token, now, leeway, |_| Ok(vec![secret]))
}

/// As [`verify`], with the secrets `keys` picks for the header's `kid`:
/// the signature must be one of theirs.
pub(crate) fn verify_among<'k>(
    token: &str,
    now: u64,
    leeway: u64,
    keys: impl FnOnce(Option<&str>) -> Result<Vec<&'k [u8]>, TokenError>,
) -> Result<Claims, TokenError> {
    let invalid = TokenError::Invalid;
    if token.len() > MAX_TOKEN_LEN {
        return Err(invalid("token too long"));
    }
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(invalid("not a JWT (expected three dot-separated parts)"));
    };
    // The signature first: nothing in an unauthenticated token is trusted.
    // The header is decoded before only to learn which secret to check
    // the signature with (`kid`); a header that cannot be read names none,
    // and is refused once the signature holds (as it was before kids).
    let signature = BASE64URL_NOPAD
        .decode(signature.as_bytes())
        .map_err(|_| invalid("bad signature encoding"))?;
    let header: Result<Header, TokenError> = BASE64URL_NOPAD
        .decode(header.as_bytes())
        .map_err(|_| invalid("bad header encoding"))
        .and_then(|h| serde_json::from_slice(&h).map_err(|_| invalid("bad header")));
    let kid = header.as_ref().ok().and_then(|h| h.kid.as_deref());
    let signed = &token.as_bytes()[..token.len() - signature_len(token)];
    let valid = keys(kid)?.into_iter().any(|secret| {
        let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC takes any key length");
        mac.update(signed);
        // Constant time for each secret; which secret matched is no secret.
        mac.verify_slice(&signature).is_ok()
    });
    if !valid {
        return Err(invalid("bad signature"));
    }
    let header = header?;
    if header.alg != "HS256" {
        return Err(invalid("unsupported algorithm (only HS256)"));
    }
    let payload = BASE64URL_NOPAD
        .decode(payload.as_bytes())
        .map_err(|_| invalid("bad payload encoding"))?;
    let claims: Claims =
        serde_json::from_slice(&payload).map_err(|_| invalid("bad or missing claims"))?;
    if claims.role == Role::Guest && claims.ids.is_empty() {
        return Err(invalid("a guest token must name at least one id"));
    }
    if claims.ids.len() > MAX_TOKEN_IDS || claims.ids.iter().any(String::is_empty) {
        return Err(invalid("bad ids"));
    }
    if now >= claims.exp.saturating_add(leeway) || claims.nbf.is_some_and(|nbf| now + leeway < nbf)
    {
        return Err(TokenError::Expired);
    }
    Ok(claims)
}

/// Length of the last part of a token and the dot before it.
fn signature_len(token: &str) -> usize {
    token.rfind('.').map_or(0, |dot| token.len() - dot)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    fn guest(exp: u64) -> Claims {
        Claims {
            role: Role::Guest,
            ids: vec!["app1".into()],
            access: Access::ReadWrite,
            exp,
            nbf: None,
        }
    }

    #[test]
    fn a_minted_token_verifies_until_its_expiry_second() {
        let token = mint(SECRET, &guest(1000));
        assert_eq!(verify(SECRET, &token, 999, 0), Ok(guest(1000)));
        assert_eq!(verify(SECRET, &token, 1000, 0), Err(TokenError::Expired));
        assert_eq!(verify(SECRET, &token, 1004, 5), Ok(guest(1000)));
        assert_eq!(verify(SECRET, &token, 1005, 5), Err(TokenError::Expired));
    }

    #[test]
    fn matches_a_known_jwt() {
        // Signed independently (Python: hmac + base64url) with SECRET.
        let token = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJyb2xlIjoibWFuYWdlciIsImFjY2VzcyI6InJlYWR3cml0ZSIsImV4cCI6MjAwMDAwMDAwMH0.dZ6dmqPsSrmHkVGoOKxk3k1TUbAnvgA_8gmX4GG6N3U";
        let claims = verify(SECRET, token, 0, 0).unwrap();
        assert_eq!(
            (claims.role, claims.access, claims.exp),
            (Role::Manager, Access::ReadWrite, 2_000_000_000)
        );
    }

    #[test]
    fn tampering_and_wrong_keys_are_invalid() {
        let token = mint(SECRET, &guest(1000));
        assert!(matches!(
            verify(b"another secret, also 32 bytes long", &token, 0, 0),
            Err(TokenError::Invalid(_))
        ));
        let (head, rest) = token.split_once('.').unwrap();
        let (_, sig) = rest.split_once('.').unwrap();
        let forged =
            BASE64URL_NOPAD.encode(br#"{"role":"manager","access":"readwrite","exp":9999999999}"#);
        assert!(matches!(
            verify(SECRET, &format!("{head}.{forged}.{sig}"), 0, 0),
            Err(TokenError::Invalid(_))
        ));
        for bad in [
            "",
            "a.b",
            "a.b.c.d",
            "!!.!!.!!",
            &"x".repeat(MAX_TOKEN_LEN + 1),
        ] {
            assert!(
                matches!(verify(SECRET, bad, 0, 0), Err(TokenError::Invalid(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn the_none_algorithm_is_refused_even_when_signed() {
        let header = BASE64URL_NOPAD.encode(br#"{"alg":"none"}"#);
        let payload = BASE64URL_NOPAD.encode(&serde_json::to_vec(&guest(9_999_999_999)).unwrap());
        let signed = format!("{header}.{payload}");
        let mut mac = HmacSha256::new_from_slice(SECRET).unwrap();
        mac.update(signed.as_bytes());
        let sig = BASE64URL_NOPAD.encode(&mac.finalize().into_bytes());
        assert_eq!(
            verify(SECRET, &format!("{signed}.{sig}"), 0, 0),
            Err(TokenError::Invalid("unsupported algorithm (only HS256)"))
        );
    }

    #[test]
    fn guests_need_ids_and_access_defaults_to_read() {
        let mut c = guest(1000);
        c.ids.clear();
        assert!(matches!(
            verify(SECRET, &mint(SECRET, &c), 0, 0),
            Err(TokenError::Invalid(_))
        ));
        let header = BASE64URL_NOPAD.encode(br#"{"alg":"HS256"}"#);
        let payload = BASE64URL_NOPAD.encode(br#"{"role":"guest","ids":["a"],"exp":10}"#);
        let signed = format!("{header}.{payload}");
        let mut mac = HmacSha256::new_from_slice(SECRET).unwrap();
        mac.update(signed.as_bytes());
        let token = format!(
            "{signed}.{}",
            BASE64URL_NOPAD.encode(&mac.finalize().into_bytes())
        );
        assert_eq!(verify(SECRET, &token, 0, 0).unwrap().access, Access::Read);
    }
}
