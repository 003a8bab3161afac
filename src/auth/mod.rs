//! Authentication and roles, off unless the server has a secret.
//!
//! Clients prove what they may do with a token signed by the server's
//! secret (as MemCP's clients prove they own a handle with a MAC): a `guest`
//! reaches the application ids named in its token(s), a `manager` reaches
//! every id (the Python seed's roles), each with `read` or `readwrite`
//! access. See [`token`] for the format, [`grants`] for the rules, and
//! [`Secret`] for the secret file, which may hold several secrets so that
//! one can be rotated without ending every token at once.

pub mod grants;
mod secret;
pub mod token;

pub use grants::Grants;
pub use secret::{MAX_SECRETS, MIN_SECRET_LEN, Secret, kid_of};
pub use token::{Access, Claims, Role, TokenError, mint, verify};

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
