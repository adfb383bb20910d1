//! `opendls serve` as a child process of a benchmark, so that its memory and CPU are its own.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, anyhow, bail};

use super::CLOCK_TICKS_PER_SECOND;

/// `opendls serve` as a child process.
pub(super) struct ServerProcess {
    child: Child,
    pub(super) phone_addr: SocketAddr,
    pub(super) admin_addr: SocketAddr,
    /// The built-in file server, when it serves.
    pub(super) file_addr: Option<SocketAddr>,
}

/// Seconds since the Unix epoch.
pub(super) fn unix_secs() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or_default()
}

/// How a benchmark's server is set up; `None` leaves the server's own default.
#[derive(Debug, Clone, Default)]
pub(super) struct ServerOptions {
    /// `limits.max_interactions_in_flight`.
    pub(super) max_in_flight: Option<usize>,
    /// `limits.admission_target_delay_millis` (0: a fixed bound).
    pub(super) admission_target_ms: Option<u64>,
    /// `limits.admission_wait_millis`.
    pub(super) admission_wait_ms: Option<u64>,
    /// `database.synchronous`.
    pub(super) synchronous: Option<String>,
    /// `limits.listen_backlog`.
    pub(super) listen_backlog: Option<u32>,
    /// The built-in file server serves on loopback, with 127.0.0.1 as the public address.
    pub(super) files: bool,
    /// The database URL (SQLite in the data directory when `None`).
    pub(super) database: Option<String>,
}

impl ServerProcess {
    /// A server on `data_dir`, set up as `options` say.
    pub(super) fn start(data_dir: &Path, options: &ServerOptions) -> Result<ServerProcess> {
        let ServerOptions {
            max_in_flight,
            admission_target_ms,
            admission_wait_ms,
            synchronous,
            listen_backlog,
            files,
            database,
        } = options;
        let files = *files;
        let mut command = Command::new(std::env::current_exe()?);
        command
            .args([
                "serve",
                "--phone-listen",
                "127.0.0.1:0",
                "--admin-listen",
                "127.0.0.1:0",
                "--dcmp-listen",
                "off",
                "--secure-listen",
                "off",
                "--file-listen",
                if files { "127.0.0.1:0" } else { "off" },
                "--data-dir",
            ])
            .arg(data_dir)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        // Every simulated phone connects from 127.0.0.1: that one address may use every connection.
        let (in_flight, connections) = match max_in_flight {
            Some(limit) => {
                (format!("max_interactions_in_flight = {limit}\nmin_interactions_in_flight = 1\n"), 4096)
            }
            None => (String::new(), 1024),
        };
        let target =
            admission_target_ms.map_or(String::new(), |ms| format!("admission_target_delay_millis = {ms}\n"));
        let target =
            target + &admission_wait_ms.map_or(String::new(), |ms| format!("admission_wait_millis = {ms}\n"));
        let backlog = listen_backlog.map_or(String::new(), |b| format!("listen_backlog = {b}\n"));
        let url = database.as_ref().map_or(String::new(), |url| format!("url = {url:?}\n"));
        let synchronous = synchronous.as_deref().unwrap_or("mixed");
        let limits = format!(
            "[database]\n{url}synchronous = \"{synchronous}\"\n[limits]\n{in_flight}{target}{backlog}max_connections = {connections}\n\
             max_connections_per_address = {connections}\ninteractions_per_address_percent = 100\n"
        );
        let config = data_dir.with_extension("toml");
        std::fs::write(&config, limits)?;
        command.arg("--config").arg(config);
        if files {
            command.args(["--public-address", "127.0.0.1"]);
        }
        let mut child = command.spawn().context("cannot start opendls serve")?;
        const FILES: &str = "firmware and file downloads on https://";
        let mut prefixes = vec!["opendls is serving phones on https://", "admin API on http://"];
        if files {
            prefixes.push(FILES);
        }
        let lines = read_lines_with(&mut child, &prefixes)?;
        let (phones, admin) = (&lines[0], &lines[1]);
        let phone_addr = phones
            .trim_start_matches("opendls is serving phones on https://")
            .split('/')
            .next()
            .unwrap_or_default()
            .parse()?;
        let admin_addr = admin
            .trim_start_matches("admin API on http://")
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .parse()?;
        let file_addr = match lines.get(2) {
            Some(line) => Some(line.trim_start_matches(FILES).split('/').next().unwrap_or_default().parse()?),
            None => None,
        };
        Ok(ServerProcess { child, phone_addr, admin_addr, file_addr })
    }

    /// The server's process id.
    pub(super) fn pid(&self) -> u32 {
        self.child.id()
    }

    fn proc_file(&self, name: &str) -> Result<String> {
        Ok(std::fs::read_to_string(format!("/proc/{}/{name}", self.child.id()))?)
    }

    /// User plus system CPU seconds of the server so far.
    pub(super) fn cpu_seconds(&self) -> Result<f64> {
        let stat = self.proc_file("stat")?;
        // Fields after the command name (which may contain spaces) start at the last ')'.
        let fields: Vec<&str> =
            stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("").split_whitespace().collect();
        let ticks = |at: usize| fields.get(at).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
        // utime and stime are fields 14 and 15 of stat, 12 and 13 after the name.
        Ok((ticks(11) + ticks(12)) / CLOCK_TICKS_PER_SECOND)
    }

    /// The server's peak resident memory (VmHWM).
    pub(super) fn peak_rss_mib(&self) -> Result<f64> {
        self.memory_mib("VmHWM:")
    }

    /// The server's resident memory now (VmRSS).
    pub(super) fn rss_mib(&self) -> Result<f64> {
        self.memory_mib("VmRSS:")
    }

    fn memory_mib(&self, field: &str) -> Result<f64> {
        let status = self.proc_file("status")?;
        let kib = status
            .lines()
            .find_map(|l| l.strip_prefix(field))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse::<f64>().ok())
            .ok_or_else(|| anyhow!("no {field} in /proc status"))?;
        Ok(kib / 1024.0)
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// User plus system CPU seconds a process has used so far.
pub(super) fn cpu_seconds(pid: u32) -> Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the command name (which may contain spaces) start at the last ')'.
    let fields: Vec<&str> =
        stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("").split_whitespace().collect();
    let ticks = |at: usize| fields.get(at).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // utime and stime are fields 14 and 15 of stat, 12 and 13 after the name.
    Ok((ticks(11) + ticks(12)) / CLOCK_TICKS_PER_SECOND)
}

/// Reads the child's standard output until it printed a line starting with each prefix, in
/// order (one reader for all of them: a buffered reader may hold more than one line).
pub(super) fn read_lines_with(child: &mut Child, prefixes: &[&str]) -> Result<Vec<String>> {
    let stdout = child.stdout.as_mut().ok_or_else(|| anyhow!("no standard output"))?;
    let mut reader = BufReader::new(stdout);
    let mut found = Vec::new();
    let mut line = String::new();
    for _ in 0..50 {
        let Some(prefix) = prefixes.get(found.len()) else { return Ok(found) };
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            bail!("the child process ended before printing {prefix:?}");
        }
        if line.starts_with(prefix) {
            found.push(line.trim_end().to_owned());
        }
    }
    if found.len() == prefixes.len() {
        Ok(found)
    } else {
        bail!("the child process never printed {prefixes:?}")
    }
}
