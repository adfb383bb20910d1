//! `/api/ready`: whether this node should be sent phones now. Next to the liveness check
//! `/api/health` (the process answers), readiness asks whether it can do its work: the database
//! answers and is still where it was opened, every listener is serving, and the data directory's
//! disk has room.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use opendls_store::Store;

use crate::api::{ReadyCheck, ReadyReport};

/// Below this much free space on the data directory's disk the node is not ready: a full disk
/// fails every commit, so phones are better sent elsewhere before it happens.
pub const MIN_FREE_DISK_BYTES: u64 = 100 << 20;

/// The longest wait for the database's answer.
const PING_TIMEOUT: Duration = Duration::from_secs(2);

/// What readiness looks at besides the store.
#[derive(Debug)]
pub struct Readiness {
    data_dir: PathBuf,
    listeners: Mutex<Vec<(&'static str, Arc<AtomicBool>)>>,
}

impl Readiness {
    /// Readiness of a node whose data directory is `data_dir`.
    pub fn new(data_dir: PathBuf) -> Arc<Readiness> {
        Arc::new(Readiness { data_dir, listeners: Mutex::new(Vec::new()) })
    }

    /// Runs a listener, known as `name`, marked up until it returns.
    pub fn watch<F: std::future::Future<Output = ()>>(
        &self,
        name: &'static str,
        serving: F,
    ) -> impl std::future::Future<Output = ()> + use<F> {
        let up = Arc::new(AtomicBool::new(true));
        self.listeners.lock().expect("readiness lock").push((name, up.clone()));
        async move {
            serving.await;
            up.store(false, Ordering::Relaxed);
        }
    }

    /// The watched tasks that have stopped.
    fn not_serving(&self) -> Vec<&'static str> {
        let listeners = self.listeners.lock().expect("readiness lock");
        listeners.iter().filter(|(_, up)| !up.load(Ordering::Relaxed)).map(|(name, _)| *name).collect()
    }

    /// Every check, and whether all pass.
    pub async fn report<S: Store>(&self, store: &S) -> ReadyReport {
        let database = match tokio::time::timeout(PING_TIMEOUT, store.ping()).await {
            Ok(Ok(())) => check("database", Ok(format!("{} answers", store.backend()))),
            Ok(Err(error)) => check("database", Err(error.to_string())),
            Err(_) => check("database", Err(format!("no answer within {} s", PING_TIMEOUT.as_secs()))),
        };
        let down = self.not_serving();
        let listeners = match down.is_empty() {
            true => check("listeners", Ok("every listener is serving".into())),
            false => check("listeners", Err(format!("not serving: {}", down.join(", ")))),
        };
        let disk =
            check("disk", free_space(&self.data_dir).and_then(|(free, total)| disk_verdict(free, total)));
        let checks = vec![database, listeners, disk];
        ReadyReport { ready: checks.iter().all(|c| c.ok), checks }
    }
}

fn check(name: &str, outcome: Result<String, String>) -> ReadyCheck {
    let ok = outcome.is_ok();
    ReadyCheck { name: name.to_owned(), ok, detail: outcome.unwrap_or_else(|why| why) }
}

/// Bytes available to this process and in all on the disk holding `path`.
fn free_space(path: &std::path::Path) -> Result<(u64, u64), String> {
    let stats =
        rustix::fs::statvfs(path).map_err(|e| format!("cannot read the disk of {}: {e}", path.display()))?;
    Ok((stats.f_bavail * stats.f_frsize, stats.f_blocks * stats.f_frsize))
}

/// Whether `free` bytes of `total` leave room.
pub fn disk_verdict(free: u64, total: u64) -> Result<String, String> {
    let mib = |bytes: u64| bytes >> 20;
    let shown = format!("{} MiB free of {} MiB", mib(free), mib(total));
    match free >= MIN_FREE_DISK_BYTES {
        true => Ok(shown),
        false => Err(format!("{shown}; at least {} MiB are needed", mib(MIN_FREE_DISK_BYTES))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nearly_full_disk_is_not_ready() {
        assert!(disk_verdict(2 << 30, 10 << 30).is_ok());
        let full = disk_verdict(50 << 20, 10 << 30).unwrap_err();
        assert_eq!(full, "50 MiB free of 10240 MiB; at least 100 MiB are needed");
    }

    #[tokio::test]
    async fn a_listener_that_stops_is_reported() {
        let readiness = Readiness::new(std::env::temp_dir());
        readiness.watch("phone", async {}).await;
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let serving = tokio::spawn(readiness.watch("admin", async move { rx.await.unwrap_or_default() }));
        assert_eq!(readiness.not_serving(), ["phone"]);
        tx.send(()).unwrap();
        serving.await.unwrap();
        assert_eq!(readiness.not_serving(), ["phone", "admin"]);
    }
}
