//! Rotating the secret without a restart: the secret file read again.
//!
//! [`Server::reload`] (what SIGHUP runs) rereads it, and an embedding
//! program can call [`Server::reload_secret`] alone, from the loop's thread
//! (it takes `&mut Server`, so no lock is involved): a valid file replaces
//! the secrets tokens are checked with from the next `auth` on; an invalid
//! one (unreadable, readable by others, a short secret) is refused with a
//! log line and the secrets in use stay. Connections that authenticated
//! keep their grants until those expire: a grant is what a token allowed
//! when it was checked, not a reference to the secret.

use log::{info, warn};

use super::Server;
use crate::auth::Secret;

impl Server {
    /// Reads [`Config::secret_file`](crate::Config::secret_file) again and
    /// checks tokens with its secrets from now on (the first signs; see
    /// [`Secret`]). On error (no file configured, authentication off, a
    /// file that cannot be used) nothing changes and the error says why;
    /// it is also logged. Returns the new key ids, the signing one first.
    pub fn reload_secret(&mut self) -> Result<Vec<String>, String> {
        let result = self.swap_secret();
        match &result {
            Ok(kids) => info!("secrets reloaded: {}", signing(kids)),
            Err(e) => warn!("secrets not reloaded: {e}; {}", self.still_accepting()),
        }
        result
    }

    /// [`Server::reload_secret`] for [`Server::reload`], which logs the
    /// outcome itself: `None` when no secret file is configured.
    pub(super) fn reload_secret_file(&mut self) -> Option<Result<String, String>> {
        self.config.secret_file.as_ref()?;
        Some(
            self.swap_secret()
                .map(|kids| signing(&kids))
                .map_err(|e| format!("{e}; {}", self.still_accepting())),
        )
    }

    /// Reads the secret file and checks tokens with it from now on; the
    /// new key ids, or why nothing changed.
    fn swap_secret(&mut self) -> Result<Vec<String>, String> {
        let secret = self.read_secret_file()?;
        let kids: Vec<String> = secret.kids().map(str::to_string).collect();
        if !self.engine.set_secret(secret.clone()) {
            return Err(
                "authentication is off: a reload cannot turn it on (restart with --secret-file)"
                    .into(),
            );
        }
        self.config.secret = Some(secret);
        Ok(kids)
    }

    /// `still accepting key ids ...`: the secrets in use, for the log.
    fn still_accepting(&self) -> String {
        let kept: Vec<String> = self
            .config
            .secret
            .iter()
            .flat_map(Secret::kids)
            .map(str::to_string)
            .collect();
        format!("still accepting {}", describe(&kept))
    }

    fn read_secret_file(&self) -> Result<Secret, String> {
        let path = self
            .config
            .secret_file
            .as_ref()
            .ok_or("no secret file to read (--secret-file)")?;
        Secret::from_file(path)
    }
}

/// `tokens are signed with key id a and key ids a, b accepted`.
fn signing(kids: &[String]) -> String {
    format!(
        "tokens are signed with key id {} and {} accepted",
        kids[0],
        describe(kids)
    )
}

/// `key ids a, b` (or `no key id`), for the log.
pub(super) fn describe(kids: &[String]) -> String {
    match kids {
        [] => "no key id".into(),
        [one] => format!("key id {one}"),
        many => format!("key ids {}", many.join(", ")),
    }
}
