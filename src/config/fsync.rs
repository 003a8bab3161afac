//! [`Fsync`]: when a logged change reaches the disk, as a setting that
//! `--fsync` spells `always`, `everysec` or `never`.
//!
//! A type of its own, apart from [`Config`](super::Config), because the
//! write-ahead log uses it too (`kvws::persist` re-exports it).

/// When a change is on disk relative to its reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Fsync {
    /// `fdatasync` before the replies of each loop iteration: a reply means
    /// the change survives a power cut.
    Always,
    /// Written before the reply (survives a crash of kvws); `fdatasync` once
    /// a second in the background (a power cut loses at most about a second).
    #[default]
    EverySec,
    /// Written before the reply; the OS flushes when it likes.
    Never,
}

impl std::fmt::Display for Fsync {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Fsync::Always => "always",
            Fsync::EverySec => "everysec",
            Fsync::Never => "never",
        })
    }
}

impl std::str::FromStr for Fsync {
    type Err = String;
    fn from_str(s: &str) -> Result<Fsync, String> {
        match s {
            "always" => Ok(Fsync::Always),
            "everysec" => Ok(Fsync::EverySec),
            "never" => Ok(Fsync::Never),
            _ => Err(format!("'{s}' is not always, everysec or never")),
        }
    }
}
