//! File descriptors: every connection holds one, and a common soft limit of 1,024 is reached
//! by a few hundred slow clients on each listener. At start the soft limit is raised to the
//! hard limit, and the listeners' caps are made to fit what the process may open.

use crate::Config;

/// Descriptors kept free for the database, certificates, contact-me and DCMP work.
pub const RESERVED: u64 = 64;

/// The soft descriptor limit before and after [`raise_to_hard_limit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DescriptorLimit {
    /// The soft limit found at start (`None`: unlimited or unknown).
    pub before: Option<u64>,
    /// The soft limit now.
    pub now: Option<u64>,
}

/// Raises the soft `RLIMIT_NOFILE` to the hard limit.
#[cfg(unix)]
pub fn raise_to_hard_limit() -> DescriptorLimit {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let found = getrlimit(Resource::Nofile);
    if found.current == found.maximum {
        return DescriptorLimit { before: found.current, now: found.current };
    }
    let wanted = Rlimit { current: found.maximum, maximum: found.maximum };
    match setrlimit(Resource::Nofile, wanted) {
        Ok(()) => DescriptorLimit { before: found.current, now: getrlimit(Resource::Nofile).current },
        Err(error) => {
            tracing::warn!(%error, "could not raise the soft descriptor limit to the hard limit");
            DescriptorLimit { before: found.current, now: found.current }
        }
    }
}

/// Elsewhere the limit is what it is.
#[cfg(not(unix))]
pub fn raise_to_hard_limit() -> DescriptorLimit {
    DescriptorLimit { before: None, now: None }
}

/// Logs the limit and, when the listeners' connection caps together could use more
/// descriptors than the process may open, lowers every cap in proportion so they fit (a client
/// holding connections then meets a cap, never "Too many open files").
pub fn fit_connection_caps(config: &mut Config, limit: DescriptorLimit) {
    let shown = |value: Option<u64>| value.map_or("unlimited".to_owned(), |v| v.to_string());
    tracing::info!(before = shown(limit.before), now = shown(limit.now), "file descriptor limit");
    let limits = &mut config.limits;
    let secure = if config.secure_listen.is_some() { limits.max_connections } else { 0 };
    let dcmp = if config.dcmp_listen.is_some() { limits.dcmp_max_connections } else { 0 };
    let caps = (limits.max_connections + secure + dcmp + limits.admin_max_connections) as u64;
    let Some(available) = limit.now.map(|now| now.saturating_sub(RESERVED).max(4)) else { return };
    if caps <= available {
        return;
    }
    let share = available as f64 / caps as f64;
    let scale = |cap: &mut usize| *cap = ((*cap as f64 * share) as usize).max(1);
    for cap in [
        &mut limits.max_connections,
        &mut limits.max_connections_per_address,
        &mut limits.dcmp_max_connections,
        &mut limits.dcmp_max_connections_per_address,
        &mut limits.admin_max_connections,
        &mut limits.admin_max_connections_per_address,
    ] {
        scale(cap);
    }
    tracing::warn!(
        descriptor_limit = limit.now,
        configured = caps,
        max_connections = limits.max_connections,
        dcmp_max_connections = limits.dcmp_max_connections,
        admin_max_connections = limits.admin_max_connections,
        "the listeners' connection caps together exceed the file descriptor limit: lowered to fit; raise \
         the hard limit (LimitNOFILE= in a systemd unit, ulimit -Hn) to serve more connections"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_are_lowered_to_fit_the_descriptor_limit() {
        let mut config = Config::default();
        fit_connection_caps(&mut config, DescriptorLimit { before: Some(1024), now: Some(1024) });
        let limits = &config.limits;
        let total = 2 * limits.max_connections + limits.dcmp_max_connections + limits.admin_max_connections;
        assert!(total as u64 + RESERVED <= 1024, "{limits:?}");
        assert!(limits.max_connections_per_address <= limits.max_connections);
        config.validate().unwrap();
        let mut roomy = Config::default();
        fit_connection_caps(&mut roomy, DescriptorLimit { before: Some(1024), now: Some(65536) });
        assert_eq!(roomy, Config::default(), "caps that fit are left alone");
    }

    #[cfg(unix)]
    #[test]
    fn the_soft_limit_reaches_the_hard_limit() {
        let limit = super::raise_to_hard_limit();
        let hard = rustix::process::getrlimit(rustix::process::Resource::Nofile).maximum;
        assert_eq!(limit.now, hard);
    }
}
