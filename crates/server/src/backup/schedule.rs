//! Scheduled backups (`[backup]`): one every `every_hours`, counted from the newest backup in
//! the directory (a restart does not make one at once), the oldest beyond `keep` removed.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio_util::sync::CancellationToken;

use super::{BackupOptions, create};
use crate::Config;
use crate::metrics::Metrics;

/// The names of scheduled backups: this, the UTC time, `.odb`.
const PREFIX: &str = "opendls-backup-";
const SUFFIX: &str = ".odb";
/// A failed backup is tried again after this long (or at the next period, if sooner).
const RETRY: Duration = Duration::from_secs(3600);

/// Makes backups on schedule until `shutdown`; returns at once when none are configured.
pub async fn run(config: Config, metrics: Arc<Metrics>, shutdown: CancellationToken) {
    let (Some(directory), Ok(Some(passphrase))) =
        (config.backup.directory.clone(), config.backup.passphrase())
    else {
        return shutdown.cancelled().await;
    };
    let period = Duration::from_secs(u64::from(config.backup.every_hours) * 3600);
    let options = BackupOptions { with_downloads: config.backup.with_downloads };
    if let Err(error) = std::fs::create_dir_all(&directory) {
        tracing::error!(directory = %directory.display(), %error, "scheduled backups: cannot create the directory");
    }
    loop {
        let wait = newest(&directory)
            .map(|(_, made)| period.saturating_sub(made.elapsed().unwrap_or_default()))
            .unwrap_or_default();
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(wait) => {}
        }
        let path = directory.join(file_name(SystemTime::now()));
        match create(&config, &path, &passphrase, options).await {
            Ok(manifest) => {
                metrics.backup_made(true);
                tracing::info!(file = %path.display(), devices = manifest.devices, "scheduled backup made");
                prune(&directory, config.backup.keep as usize);
            }
            Err(error) => {
                metrics.backup_made(false);
                tracing::error!(file = %path.display(), %error, "scheduled backup failed; trying again later");
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(RETRY.min(period)) => {}
                }
            }
        }
    }
}

/// `opendls-backup-20261207T131500Z.odb`: sorts by time.
fn file_name(at: SystemTime) -> String {
    let at = time::OffsetDateTime::from(at);
    let stamp = at
        .format(time::macros::format_description!("[year][month][day]T[hour][minute][second]Z"))
        .expect("a fixed format");
    format!("{PREFIX}{stamp}{SUFFIX}")
}

/// The scheduled backups in `directory`, oldest first, with when each was written.
fn scheduled(directory: &Path) -> Vec<(PathBuf, SystemTime)> {
    let Ok(entries) = std::fs::read_dir(directory) else { return Vec::new() };
    let mut found: Vec<(PathBuf, SystemTime)> = entries
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_str().is_some_and(|n| n.starts_with(PREFIX) && n.ends_with(SUFFIX)))
        .filter_map(|e| Some((e.path(), e.metadata().ok()?.modified().ok()?)))
        .collect();
    found.sort();
    found
}

fn newest(directory: &Path) -> Option<(PathBuf, SystemTime)> {
    scheduled(directory).pop()
}

/// Removes all but the newest `keep` scheduled backups (files of other names are left).
fn prune(directory: &Path, keep: usize) {
    let found = scheduled(directory);
    let excess = found.len().saturating_sub(keep);
    for (path, _) in found.into_iter().take(excess) {
        match std::fs::remove_file(&path) {
            Ok(()) => tracing::info!(file = %path.display(), "old scheduled backup removed"),
            Err(error) => tracing::warn!(file = %path.display(), %error, "could not remove an old backup"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_sort_by_time_and_only_the_newest_are_kept() {
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_796_649_300);
        assert_eq!(file_name(at), "opendls-backup-20261207T131500Z.odb");
        let dir = tempfile::tempdir().unwrap();
        for day in 1..=5 {
            let name = format!("{PREFIX}202612{day:02}T000000Z{SUFFIX}");
            std::fs::write(dir.path().join(name), b"x").unwrap();
        }
        std::fs::write(dir.path().join("mine.odb"), b"x").unwrap();
        prune(dir.path(), 2);
        let mut left: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        assert_eq!(
            left,
            ["mine.odb", "opendls-backup-20261204T000000Z.odb", "opendls-backup-20261205T000000Z.odb"]
        );
    }
}
