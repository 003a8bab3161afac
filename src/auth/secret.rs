//! The server's secrets: the one that signs, and older ones still
//! accepted while a rotation is under way.
//!
//! A secret file holds one secret per line; blank lines and lines that
//! start with `#` are skipped, and each line is trimmed of surrounding
//! whitespace. The first secret signs the tokens `kvws token` mints;
//! every one verifies. A file that is not UTF-8 text is one raw secret (as
//! every file was before several were allowed).
//!
//! Each secret has a key id, its `kid`: the first 12 hexadecimal digits of
//! SHA-256 over `kvws-kid:` and the secret, so that anyone holding the
//! file can compute it (`printf 'kvws-kid:%s' "$SECRET" | sha256sum | cut
//! -c1-12`) and it reveals nothing a token signed with the secret does not.
//! A token whose header names a `kid` is checked with that secret only
//! (and refused if no secret has it); a token without one is checked with
//! each in turn, so tokens minted elsewhere keep working. The log and
//! `kvws token --kid` show kids, never secrets.

use std::fmt;
use std::path::Path;

use sha2::{Digest, Sha256};

use super::token::{self, Claims, TokenError};

/// Shortest secret accepted, in bytes: HS256 keys shorter than the hash
/// output (32 bytes) weaken it.
pub const MIN_SECRET_LEN: usize = 32;

/// Most secrets one file may hold: a token without a `kid` is checked
/// against each, so their number bounds what an `auth` message costs.
pub const MAX_SECRETS: usize = 8;

/// The server's secrets: the first signs, all verify. Its `Debug` output
/// shows the key ids, never the bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret {
    keys: Vec<Key>,
}

#[derive(Clone, PartialEq, Eq)]
struct Key {
    bytes: Vec<u8>,
    kid: String,
}

impl Key {
    fn new(bytes: Vec<u8>) -> Result<Key, String> {
        if bytes.len() < MIN_SECRET_LEN {
            return Err(format!(
                "the secret is {} bytes; at least {MIN_SECRET_LEN} are needed",
                bytes.len()
            ));
        }
        Ok(Key {
            kid: kid_of(&bytes),
            bytes,
        })
    }
}

/// The key id of `secret` (see the module documentation).
pub fn kid_of(secret: &[u8]) -> String {
    let mut hash = Sha256::new();
    hash.update(b"kvws-kid:");
    hash.update(secret);
    data_encoding::HEXLOWER.encode(&hash.finalize()[..6])
}

impl Secret {
    /// One secret (at least [`MIN_SECRET_LEN`] bytes).
    pub fn new(bytes: impl Into<Vec<u8>>) -> Result<Secret, String> {
        Ok(Secret {
            keys: vec![Key::new(bytes.into())?],
        })
    }

    /// Secrets in the secret file's format (see the module documentation).
    pub fn parse(content: &[u8]) -> Result<Secret, String> {
        let Ok(text) = std::str::from_utf8(content) else {
            return Secret::new(content.trim_ascii().to_vec());
        };
        let mut keys: Vec<Key> = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let key =
                Key::new(line.as_bytes().to_vec()).map_err(|e| format!("line {}: {e}", n + 1))?;
            if keys.iter().any(|k| k.kid == key.kid) {
                return Err(format!("line {}: the same secret appears twice", n + 1));
            }
            keys.push(key);
        }
        if keys.is_empty() {
            return Err("no secret in it (one per line; # starts a comment)".into());
        }
        if keys.len() > MAX_SECRETS {
            return Err(format!(
                "{} secrets; at most {MAX_SECRETS} are accepted (remove the retired ones)",
                keys.len()
            ));
        }
        Ok(Secret { keys })
    }

    /// Reads a secret file: refused if group or others may read it.
    pub fn from_file(path: &Path) -> Result<Secret, String> {
        use std::os::unix::fs::PermissionsExt;
        let shown = path.display();
        let meta =
            std::fs::metadata(path).map_err(|e| format!("cannot read secret file {shown}: {e}"))?;
        let mode = meta.permissions().mode();
        if mode & 0o077 != 0 {
            return Err(format!(
                "secret file {shown} is accessible by group or others (mode {:o}); run: chmod 600 {shown}",
                mode & 0o777
            ));
        }
        let bytes =
            std::fs::read(path).map_err(|e| format!("cannot read secret file {shown}: {e}"))?;
        Secret::parse(&bytes).map_err(|e| format!("secret file {shown}: {e}"))
    }

    /// The signing secret's bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.keys[0].bytes
    }

    /// The signing secret's key id.
    pub fn kid(&self) -> &str {
        &self.keys[0].kid
    }

    /// Every key id, the signing one first.
    pub fn kids(&self) -> impl Iterator<Item = &str> {
        self.keys.iter().map(|k| k.kid.as_str())
    }

    /// How many secrets there are (at least one).
    pub fn count(&self) -> usize {
        self.keys.len()
    }

    /// A token for `claims`, signed with the first secret, its `kid` in
    /// the header.
    pub fn mint(&self, claims: &Claims) -> String {
        token::mint_with_kid(self.bytes(), Some(self.kid()), claims)
    }

    /// Checks `token` (see [`token::verify`]) with the secret its `kid`
    /// names, or with each secret when it names none.
    pub fn verify(&self, token: &str, now: u64, leeway: u64) -> Result<Claims, TokenError> {
        token::verify_among(token, now, leeway, |kid| match kid {
            Some(kid) => self
                .keys
                .iter()
                .find(|k| k.kid == kid)
                .map(|k| vec![k.bytes.as_slice()])
                .ok_or(TokenError::Invalid("unknown key id (kid)")),
            None => Ok(self.keys.iter().map(|k| k.bytes.as_slice()).collect()),
        })
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kids: Vec<&str> = self.kids().collect();
        write!(f, "Secret(<redacted>, kids {kids:?})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::{Access, Role};

    const A: &str = "0123456789abcdef0123456789abcdef";
    const B: &str = "another secret, also 32 bytes long";

    fn claims() -> Claims {
        Claims {
            role: Role::Manager,
            ids: vec![],
            access: Access::ReadWrite,
            exp: 2_000_000_000,
            nbf: None,
        }
    }

    #[test]
    fn a_file_holds_secrets_one_a_line_with_comments_and_blank_lines() {
        let s = Secret::parse(format!("# new\n  {B}  \n\n# old, until Friday\n{A}\n").as_bytes())
            .unwrap();
        assert_eq!(s.count(), 2);
        assert_eq!(s.bytes(), B.as_bytes());
        assert_eq!(s.kid(), kid_of(B.as_bytes()));
        assert_eq!(s.kids().nth(1), Some(kid_of(A.as_bytes()).as_str()));
        // Computed by `printf 'kvws-kid:%s' 0123456789abcdef0123456789abcdef | sha256sum`.
        assert_eq!(kid_of(A.as_bytes()), "7a5aefaae031");
        assert!(format!("{s:?}").contains("redacted") && !format!("{s:?}").contains(A));
        for (bad, why) in [
            ("# nothing\n\n", "no secret"),
            ("short\n", "line 1: the secret is 5 bytes"),
            (
                &format!("{A}\n{A}\n"),
                "line 2: the same secret appears twice",
            ),
        ] {
            let e = Secret::parse(bad.as_bytes()).unwrap_err();
            assert!(e.contains(why), "{e}");
        }
        let many: String = (0..=MAX_SECRETS).map(|i| format!("{A}{i}\n")).collect();
        assert!(
            Secret::parse(many.as_bytes())
                .unwrap_err()
                .contains("at most")
        );
        // Not text: one raw secret, as before.
        let raw = [0xffu8; 40];
        assert_eq!(Secret::parse(&raw).unwrap().bytes(), &raw[..]);
    }

    #[test]
    fn either_secret_verifies_and_a_kid_selects_one() {
        let both = Secret::parse(format!("{B}\n{A}\n").as_bytes()).unwrap();
        let old = Secret::new(A).unwrap();
        let new = Secret::new(B).unwrap();
        // Without a kid (minted elsewhere): tried against each.
        for signer in [A, B] {
            let t = token::mint(signer.as_bytes(), &claims());
            assert_eq!(both.verify(&t, 0, 0), Ok(claims()));
        }
        // With a kid: that secret only.
        assert_eq!(both.verify(&old.mint(&claims()), 0, 0), Ok(claims()));
        assert_eq!(both.verify(&new.mint(&claims()), 0, 0), Ok(claims()));
        assert_eq!(
            new.verify(&old.mint(&claims()), 0, 0),
            Err(TokenError::Invalid("unknown key id (kid)"))
        );
        // A kid that names one secret and a signature by another fails.
        let forged = token::mint_with_kid(A.as_bytes(), Some(new.kid()), &claims());
        assert_eq!(
            both.verify(&forged, 0, 0),
            Err(TokenError::Invalid("bad signature"))
        );
        let unsigned = Secret::new(b"a third secret that nobody knows of".to_vec()).unwrap();
        assert_eq!(
            both.verify(&token::mint(unsigned.bytes(), &claims()), 0, 0),
            Err(TokenError::Invalid("bad signature"))
        );
    }
}
