//! `bench storm --pin`: the server (and the TLS-only baseline) on one half of the cores this
//! process may use, the simulated phones on the other, so that neither takes the other's CPU
//! and a run can tell when the phones, not the server, were the limit. `taskset -a -p` pins every
//! thread of a process; threads made later inherit their creator's cores.

use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};

/// Where the server and the phones run, as `taskset` core lists.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Split {
    /// The server's and the baseline's cores (`0`).
    pub server: String,
    /// The phones' cores (`1`).
    pub phones: String,
    /// How many cores the server has.
    pub server_cores: usize,
    /// How many cores the phones have.
    pub phone_cores: usize,
}

/// The cores this process may run on (`Cpus_allowed_list` of /proc/self/status).
pub fn allowed_cores() -> Result<Vec<usize>> {
    let status = std::fs::read_to_string("/proc/self/status").context("cannot read /proc/self/status")?;
    let list = status
        .lines()
        .find_map(|line| line.strip_prefix("Cpus_allowed_list:"))
        .context("no Cpus_allowed_list in /proc/self/status")?;
    parse_core_list(list.trim())
}

fn parse_core_list(list: &str) -> Result<Vec<usize>> {
    let mut cores = Vec::new();
    for part in list.split(',').filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((first, last)) => cores.extend(first.parse::<usize>()?..=last.parse::<usize>()?),
            None => cores.push(part.parse()?),
        }
    }
    Ok(cores)
}

/// The first half of the cores (at least one) for the server, the rest for the phones; `None`
/// with fewer than two.
pub fn split(cores: &[usize]) -> Option<Split> {
    if cores.len() < 2 {
        return None;
    }
    let (server, phones) = cores.split_at(cores.len() / 2);
    let list = |cores: &[usize]| cores.iter().map(ToString::to_string).collect::<Vec<_>>().join(",");
    Some(Split {
        server: list(server),
        phones: list(phones),
        server_cores: server.len(),
        phone_cores: phones.len(),
    })
}

/// Pins every thread of process `pid` to `cores`.
pub fn pin(pid: u32, cores: &str) -> Result<()> {
    let status = Command::new("taskset")
        .args(["-a", "-p", "-c", cores, &pid.to_string()])
        .stdout(Stdio::null())
        .status()
        .context("cannot run taskset (util-linux)")?;
    if !status.success() {
        bail!("taskset could not pin process {pid} to cores {cores}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cores_are_halved_between_server_and_phones() {
        assert_eq!(parse_core_list("0-1").unwrap(), [0, 1]);
        assert_eq!(parse_core_list("0,2-4,7").unwrap(), [0, 2, 3, 4, 7]);
        let two = split(&[0, 1]).unwrap();
        assert_eq!(
            (two.server.as_str(), two.phones.as_str(), two.server_cores, two.phone_cores),
            ("0", "1", 1, 1)
        );
        let five = split(&[0, 2, 3, 4, 7]).unwrap();
        assert_eq!((five.server.as_str(), five.phones.as_str()), ("0,2", "3,4,7"));
        assert_eq!(split(&[3]), None);
    }
}
