//! How the administration commands find the running service: its data directory (for the token,
//! the certificate and the recorded admin address) and the admin API's URL.

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use clap::Args;

/// Where a system-wide installation keeps its data (the packaged service's data directory).
pub const SYSTEM_DATA_DIR: &str = "/var/lib/opendls";
/// The data directory `opendls serve` uses by default, relative to where it is started.
pub const LOCAL_DATA_DIR: &str = "opendls-data";
/// The admin API's address when nothing records another.
pub const DEFAULT_ADMIN_URL: &str = "http://127.0.0.1:18080";

/// How the administration commands reach the running service.
#[derive(Args, Clone)]
pub(crate) struct Connection {
    /// The admin API: a URL (`https://host:port`) or `host:port`. Default: the address the
    /// service recorded in its data directory at start, else http://127.0.0.1:18080.
    #[arg(long, env = "OPENDLS_ADMIN_URL", global = true)]
    pub admin_url: Option<String>,
    /// A personal API token (`opendls token create`), or the admin token; by default the
    /// admin token, read from `admin-token` in the data directory.
    #[arg(long, env = "OPENDLS_ADMIN_TOKEN", hide_env_values = true, global = true)]
    pub token: Option<String>,
    /// The service's data directory (token, certificate, admin address). Default: the first of
    /// ./opendls-data and /var/lib/opendls that holds an admin token.
    #[arg(long, env = "OPENDLS_DATA", global = true)]
    pub data_dir: Option<PathBuf>,
    /// Print JSON instead of tables.
    #[arg(long, global = true)]
    pub json: bool,
}

impl Connection {
    /// A connection to a known service (the demo, benchmarks).
    pub fn to(admin_url: String, data_dir: PathBuf) -> Connection {
        Connection { admin_url: Some(admin_url), token: None, data_dir: Some(data_dir), json: false }
    }

    /// The data directory: as given, else the first candidate holding an admin token.
    pub fn data_dir(&self) -> Result<PathBuf> {
        if let Some(dir) = &self.data_dir {
            return Ok(dir.clone());
        }
        let candidates = candidates();
        if let Some(found) = candidates.iter().find(|dir| dir.join(opendls_server::ADMIN_TOKEN_FILE).exists())
        {
            return Ok(found.clone());
        }
        if self.token.is_some() {
            return Ok(candidates[0].clone());
        }
        let tried: Vec<String> = candidates.iter().map(|dir| absolute(dir).display().to_string()).collect();
        bail!(
            "no data directory with an admin token: tried {} (give --data-dir or OPENDLS_DATA, or --token)",
            tried.join(" and ")
        )
    }

    /// The data directory for commands that work on it offline (no token needed).
    pub fn offline_data_dir(&self) -> PathBuf {
        self.data_dir.clone().unwrap_or_else(default_data_dir)
    }

    /// The admin API's base URL: as given (a bare `host:port` gets `http://`), else the one the
    /// service recorded in `data_dir`, else the default.
    pub fn admin_url(&self, data_dir: &Path) -> Result<String> {
        let url = match &self.admin_url {
            Some(given) => given.trim().to_owned(),
            None => match std::fs::read_to_string(data_dir.join(opendls_server::ADMIN_URL_FILE)) {
                Ok(recorded) => recorded.trim().to_owned(),
                Err(_) => DEFAULT_ADMIN_URL.to_owned(),
            },
        };
        normalize_url(&url)
    }
}

/// `host:port` → `http://host:port`; a URL stays; anything else is refused with the forms.
pub fn normalize_url(text: &str) -> Result<String> {
    let text = text.trim().trim_end_matches('/');
    let url = match text.split_once("://") {
        Some(("http" | "https", rest)) if !rest.is_empty() => text.to_owned(),
        Some((scheme, _)) => bail!("admin URL {text:?}: the scheme must be http or https, not {scheme:?}"),
        None if !text.is_empty() => format!("http://{text}"),
        None => bail!("the admin URL is empty"),
    };
    match reqwest::Url::parse(&url) {
        Ok(parsed) if parsed.host().is_some() => Ok(url),
        _ => bail!("admin URL {text:?} is neither a URL (https://host:port) nor host:port"),
    }
}

/// Where a data directory is looked for when none is named, in order.
/// The first of `./opendls-data` and `/var/lib/opendls` that exists, else the first.
pub(crate) fn default_data_dir() -> PathBuf {
    let candidates = candidates();
    candidates.iter().find(|dir| dir.is_dir()).cloned().unwrap_or_else(|| candidates[0].clone())
}

fn candidates() -> [PathBuf; 2] {
    [PathBuf::from(LOCAL_DATA_DIR), PathBuf::from(SYSTEM_DATA_DIR)]
}

fn absolute(dir: &Path) -> PathBuf {
    std::path::absolute(dir).unwrap_or_else(|_| dir.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_urls() {
        assert_eq!(normalize_url("127.0.0.1:21080").unwrap(), "http://127.0.0.1:21080");
        assert_eq!(normalize_url("https://dls.example:18080/").unwrap(), "https://dls.example:18080");
        assert_eq!(normalize_url("[::1]:18080").unwrap(), "http://[::1]:18080");
        assert!(normalize_url("ftp://x").is_err());
        assert!(normalize_url("").is_err());
        assert!(normalize_url("not a url").is_err());
    }
}
