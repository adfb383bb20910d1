//! `[backup]`: backups the service makes itself, on a schedule (`opendls backup` makes one by
//! hand). Off until a directory and a passphrase file are set.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Scheduled backups.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Backup {
    /// Where scheduled backups are written (`opendls-backup-<time>.odb`); unset: none are made.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub directory: Option<PathBuf>,
    /// A file whose first line is the passphrase backups are encrypted with (at least 12
    /// characters; keep it elsewhere too: without it a backup cannot be opened).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub passphrase_file: Option<PathBuf>,
    /// Hours from one scheduled backup to the next.
    pub every_hours: u32,
    /// Scheduled backups kept; older ones in the directory are removed.
    pub keep: u32,
    /// Whether backups hold the firmware images and files phones download.
    pub with_downloads: bool,
}

impl Default for Backup {
    fn default() -> Self {
        Backup { directory: None, passphrase_file: None, every_hours: 24, keep: 7, with_downloads: true }
    }
}

impl Backup {
    /// The passphrase, read from its file (first line).
    pub fn passphrase(&self) -> Result<Option<String>, String> {
        let Some(file) = &self.passphrase_file else { return Ok(None) };
        let text = std::fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?;
        let line = text.lines().next().unwrap_or("").trim_end_matches('\r').to_owned();
        if line.chars().count() < crate::backup::sealed::MIN_PASSPHRASE {
            return Err(format!(
                "{}: the passphrase must have at least {} characters",
                file.display(),
                crate::backup::sealed::MIN_PASSPHRASE
            ));
        }
        Ok(Some(line))
    }

    /// Why these settings cannot work, if they cannot.
    pub(crate) fn problem(&self) -> Option<String> {
        self.directory.as_ref()?;
        if self.every_hours == 0 || self.keep == 0 {
            return Some("every_hours and keep must be at least 1".into());
        }
        match self.passphrase() {
            Ok(Some(_)) => None,
            Ok(None) => Some("a directory is set but no passphrase_file".into()),
            Err(problem) => Some(problem),
        }
    }
}
