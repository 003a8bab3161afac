//! Authentication and roles, off unless the server has a secret.
//!
//! Clients prove what they may do with a token signed by the server's
//! secret (as MemCP's clients prove they own a handle with a MAC): a `guest`
//! reaches the application ids named in its token(s), a `manager` reaches
//! every id (the Python seed's roles), each with `read` or `readwrite`
//! access. See [`token`] for the format and [`grants`] for the rules.

use std::fmt;
use std::path::Path;

pub mod grants;
pub mod token;

pub use grants::Grants;
pub use token::{Access, Claims, Role, TokenError, mint, verify};

/// Shortest secret accepted, in bytes: HS256 keys shorter than the hash
/// output (32 bytes) weaken it.
pub const MIN_SECRET_LEN: usize = 32;

/// The server's signing secret. Its `Debug` output never shows the bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Vec<u8>);

impl Secret {
    /// Wraps secret bytes (at least [`MIN_SECRET_LEN`] of them).
    pub fn new(bytes: impl Into<Vec<u8>>) -> Result<Secret, String> {
        let bytes = bytes.into();
        if bytes.len() < MIN_SECRET_LEN {
            return Err(format!(
                "the secret is {} bytes; at least {MIN_SECRET_LEN} are needed",
                bytes.len()
            ));
        }
        Ok(Secret(bytes))
    }

    /// Reads a secret file: refused if group or others may read it, and
    /// trimmed of surrounding whitespace (a trailing newline is not part of
    /// the secret).
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
        let text = bytes.trim_ascii();
        Secret::new(text.to_vec())
            .map_err(|e| format!("secret file {shown}: {e} (after trimming whitespace)"))
    }

    /// The secret bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn secret_files_must_be_private_and_long_enough() {
        let dir = std::env::temp_dir().join(format!("kvws-secret-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("secret");
        std::fs::write(&path, "  0123456789abcdef0123456789abcdef\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(Secret::from_file(&path).unwrap_err().contains("chmod 600"));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(
            Secret::from_file(&path).unwrap().bytes(),
            b"0123456789abcdef0123456789abcdef"
        );
        std::fs::write(&path, "short\n").unwrap();
        assert!(
            Secret::from_file(&path)
                .unwrap_err()
                .contains("at least 32")
        );
        assert!(format!("{:?}", Secret::new([7u8; 32]).unwrap()).contains("redacted"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
