//! The service's configuration: one typed struct, filled from defaults, then a TOML file, then
//! the environment, then command-line flags, and validated once at start-up.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use opendls_engine::LocalChangePolicy;
use serde::{Deserialize, Serialize};

mod backup;
mod contact;
mod external;
mod limits;
mod validate;

pub use contact::{ContactMeManner, ContactMeRule, ContactMeStyle, DEFAULT_WEB_PORT, contact_me_manner};

pub use backup::Backup;
pub use external::{ExternalFiles, ExternalSource};
pub use limits::Limits;

/// `opendls.example.toml`: every field with its default and a line on what it does (a test keeps
/// it equal to [`Config::default`] and complete).
pub const EXAMPLE_TOML: &str = include_str!("../../../opendls.example.toml");

/// Environment variables read on top of the file, each naming the field it sets.
pub const ENVIRONMENT: &[(&str, &str)] = &[
    ("OPENDLS_DATA", "data_dir"),
    ("OPENDLS_PHONE_LISTEN", "phone_listen"),
    ("OPENDLS_ADMIN_LISTEN", "admin_listen"),
    ("OPENDLS_PUBLIC_ADDRESS", "public_address"),
    ("OPENDLS_DCMP_LISTEN", "dcmp_listen"),
    ("OPENDLS_FILE_LISTEN", "file_listen"),
    ("OPENDLS_SECURE_LISTEN", "secure_listen"),
    ("OPENDLS_LEGACY_TLS", "secure_mode.legacy_tls"),
    ("OPENDLS_ECDSA", "secure_mode.ecdsa"),
    ("OPENDLS_INSECURE_ADMIN", "insecure_admin"),
    ("OPENDLS_LOG", "log"),
];

/// Everything the service can be told.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Where the database, certificates and admin token live.
    pub data_dir: PathBuf,
    /// Where phones connect: HTTPS, Default Mode (guide p. 12: customarily 18443).
    pub phone_listen: SocketAddr,
    /// Where the admin API listens: plain HTTP on loopback, HTTPS with the Default port's
    /// certificate on any other address (unless `insecure_admin`).
    pub admin_listen: SocketAddr,
    /// The key file that seals secrets in the database (SIP passwords, PINs, ...); default
    /// `secrets.key` in the data directory. Keep it apart from database backups (another
    /// disk, a secrets store): a copied database without it reveals no secret.
    pub secrets_key_file: Option<PathBuf>,
    /// Serve the admin API over plain HTTP even on a non-loopback address (behind a TLS proxy
    /// on the same host, say). The admin token then crosses the network in the clear.
    pub insecure_admin: bool,
    /// The host name or address phones use to reach the service; goes into the server
    /// certificate and, later, into contact-me requests.
    pub public_address: Option<String>,
    /// Load balancers (addresses or CIDR networks) whose connections to the phone ports (Default
    /// and secure) start with a PROXY protocol header, v1 or v2, naming the phone's address.
    /// Connections from them without a valid header are closed; no one else is read for one.
    pub trusted_proxies: Vec<String>,
    /// Where phones behind NAT poll for pending work (plain HTTP, DCMP, guide p. 15, 24);
    /// `"off"` in the file (`None`) turns the listener off.
    #[serde(with = "address_or_off")]
    pub dcmp_listen: Option<SocketAddr>,
    /// Where phones download firmware and files: HTTPS with the phone port's certificate and
    /// TLS stacks, each download by a URL with an expiring per-device token; `"off"` in the
    /// file (`None`) turns it off.
    #[serde(with = "address_or_off")]
    pub file_listen: Option<SocketAddr>,
    /// Where phones in Secure Mode connect: HTTPS with mutual TLS (guide p. 62-65, customarily
    /// 18444); `"off"` in the file (`None`) turns it off (no device can then be bootstrapped).
    #[serde(with = "address_or_off")]
    pub secure_listen: Option<SocketAddr>,
    /// Log filter (tracing `EnvFilter` syntax), e.g. `info` or `opendls=debug`.
    pub log: String,
    /// Log lines as human-readable text (`text`) or one JSON object per line (`json`).
    pub log_format: LogFormat,
    /// Request and connection limits.
    pub limits: Limits,
    /// Protocol behaviour.
    pub protocol: Protocol,
    /// Jobs and contact-me pacing.
    pub jobs: Jobs,
    /// Secure Mode and TLS.
    pub secure_mode: SecureMode,
    /// The database.
    pub database: Database,
    /// An FTP or HTTPS server of the site's own that phones fetch deployed files from.
    pub external_files: ExternalFiles,
    /// Scheduled backups.
    pub backup: Backup,
}

/// The database.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Database {
    /// Where the data lives: empty for the embedded SQLite database in the data directory, or
    /// `postgres://user:password@host:port/db` for a PostgreSQL server that several opendls
    /// nodes share (`OPENDLS_DATABASE_URL` and `opendls serve --database` override it).
    pub url: String,
    /// Connections to PostgreSQL each node keeps at most (unused with SQLite).
    pub pool_size: u32,
    /// `mixed` (default): administrator changes, job progress and Secure Mode state are on the
    /// disk before they are acknowledged; phone steps that change nothing else are not waited
    /// for (a power cut can lose the last of them; phones send them again). `full`: every commit
    /// waits for the disk. `normal`: none does (a power cut can lose the last acknowledged
    /// changes of any kind). Measured in BENCHMARKS.md, "Durability".
    pub synchronous: opendls_store::Synchronous,
    /// A device's history entries older than this many days are pruned (hourly); 0 keeps them.
    pub history_days: u32,
    /// Of each device's history, only this many of the newest entries are kept; 0 keeps all.
    pub history_per_device: u32,
}

impl Default for Database {
    fn default() -> Self {
        Database {
            url: String::new(),
            pool_size: opendls_store::postgres::DEFAULT_POOL_SIZE as u32,
            synchronous: opendls_store::Synchronous::Mixed,
            history_days: 365,
            history_per_device: 1000,
        }
    }
}

/// Secure Mode (guide p. 62-68) and TLS compatibility.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SecureMode {
    /// Serve phones whose TLS client offers only what rustls refuses (TLS 1.0/1.1, RSA key
    /// exchange, CBC suites) through OpenSSL, on the same ports. Needs the `legacy-tls` feature.
    pub legacy_tls: bool,
    /// Offer an ECDSA P-256 certificate beside the RSA one on the Default and file ports, to
    /// clients whose ClientHello accepts it; clients that offer only RSA get the RSA certificate
    /// as before. Whether OpenStage firmware accepts ECDSA is not known: off serves RSA to all.
    pub ecdsa: bool,
    /// `max-pin-retries` sent with a PIN bootstrap (guide p. 67).
    pub max_pin_retries: u32,
    /// Digits of generated PINs (the last three are the TAN, p. 68).
    pub pin_digits: usize,
    /// Validity of device client certificates, in days.
    pub certificate_validity_days: u64,
    /// A device's certificate is renewed at its first secure contact within this many days of
    /// its expiry.
    pub renew_before_days: u64,
}

impl Default for SecureMode {
    fn default() -> Self {
        SecureMode {
            legacy_tls: true,
            ecdsa: true,
            max_pin_retries: 3,
            pin_digits: 8,
            certificate_validity_days: 5 * 365,
            renew_before_days: 30,
        }
    }
}

/// Jobs and contact-me pacing (guide p. 14-15; docs/wpi-protocol.md §2.5: phones ignore contact-me
/// within their contact gap, and old firmware suffered from frequent requests).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Jobs {
    /// Least time between two contact-me requests to one phone; retries back off exponentially
    /// from here, with jitter.
    pub contact_me_spacing_secs: u64,
    /// The phones' contact gap: a contact-me within this time of the last one a phone answered
    /// is ignored by the phone, so none is sent (phone default 300 s).
    pub contact_gap_secs: u64,
    /// A busy phone with firmware before V3R3 ignores `send-solicited` (guide p. 72): it is
    /// contacted again after this long. Newer phones call back by themselves; they are
    /// contacted after four times this long only if they have not.
    pub busy_retry_secs: u64,
    /// Contact-me requests sent per second, over all phones.
    pub max_contacts_per_sec: u32,
    /// Contact-me requests in flight at once.
    pub max_concurrent_contacts: usize,
    /// Seconds to wait for a phone's answer to a contact-me.
    pub contact_timeout_secs: u64,
    /// Default time after which a job's unfinished targets end `timed-out`.
    pub give_up_after_secs: u64,
    /// Networks (CIDR, e.g. `10.1.0.0/16`) whose phones may be sent contact-me. Empty: the
    /// networks phones have connected from (/24 for IPv4, /64 for IPv6). No other address is
    /// ever contacted.
    pub allowed_networks: Vec<String>,
    /// Networks (CIDR) whose phones may report a `contact-me-uri` address other than the one
    /// they connect from (a proxy or NAT in between). Elsewhere contact-me goes only to the
    /// address a phone last connected from, so no phone can steer the service to knock on
    /// another host.
    pub trusted_contact_networks: Vec<String>,
    /// How often the scheduler looks for work, in milliseconds.
    pub tick_millis: u64,
    /// Poll interval written to phones marked as behind NAT (DCMP), in seconds.
    pub dcmp_poll_interval_secs: u64,
    /// A target whose interaction has been silent this long (the phone vanished, or the
    /// service restarted under it) is sent contact-me again. Phones send the next request of an
    /// interaction within seconds; a restart that does not come back is retried after this too.
    pub stalled_after_secs: u64,
    /// A deployment the phone has not finished this long after it was sent ends with the reason:
    /// a file without its `status` times out, firmware without a start-up fails, files still
    /// missing when read back fail. Downloads and reboots take minutes.
    pub deployment_timeout_secs: u64,
    /// Firmware pins (`opendls firmware pin`): deployments in flight at once over all pins, so a
    /// boot storm does not become a download storm.
    pub max_concurrent_deployments: u32,
    /// Firmware pins: a phone whose pinned deployment failed is not tried again for this long.
    pub deployment_hold_off_secs: u64,
    /// The form of contact-me for phones no rule names: `post` (the guide's), `get`, or
    /// `https-web` (through the phone's web interface).
    pub contact_me_style: ContactMeStyle,
    /// Contact-me forms per group or model; the first matching rule wins.
    pub contact_me_rules: Vec<ContactMeRule>,
}

impl Default for Jobs {
    fn default() -> Self {
        Jobs {
            contact_me_spacing_secs: 60,
            contact_gap_secs: 300,
            busy_retry_secs: 120,
            max_contacts_per_sec: 20,
            max_concurrent_contacts: 32,
            contact_timeout_secs: 5,
            give_up_after_secs: 3600,
            allowed_networks: Vec::new(),
            trusted_contact_networks: Vec::new(),
            tick_millis: 1000,
            dcmp_poll_interval_secs: 300,
            stalled_after_secs: 60,
            deployment_timeout_secs: 1800,
            max_concurrent_deployments: 50,
            deployment_hold_off_secs: 3600,
            contact_me_style: ContactMeStyle::Post,
            contact_me_rules: Vec::new(),
        }
    }
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

/// Protocol behaviour.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Protocol {
    /// A known phone whose configuration did not change is read in full again after this many
    /// seconds.
    pub inventory_max_age_secs: i64,
    /// An interaction with no request for this many seconds is abandoned.
    pub interaction_timeout_secs: i64,
    /// What happens to local changes where no group or global policy is stored.
    pub local_change_policy: LocalChangePolicy,
    /// What happens to a phone that calls in unknown and matches no prepared device
    /// (`opendls device add`): `accept` (configured), `quarantine` (read, nothing written until
    /// `opendls device approve`) or `reject` (answered `CleanUp` with the reason).
    pub unknown_devices: opendls_engine::UnknownDevicePolicy,
    /// The group accepted and quarantined unknown devices are put in, if any.
    pub unknown_device_group: Option<String>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: PathBuf::from("opendls-data"),
            phone_listen: "0.0.0.0:18443".parse().expect("valid"),
            admin_listen: "127.0.0.1:18080".parse().expect("valid"),
            insecure_admin: false,
            secrets_key_file: None,
            public_address: None,
            trusted_proxies: Vec::new(),
            dcmp_listen: Some("0.0.0.0:18082".parse().expect("valid")),
            file_listen: Some("0.0.0.0:18445".parse().expect("valid")),
            secure_listen: Some("0.0.0.0:18444".parse().expect("valid")),
            log: "info".into(),
            log_format: LogFormat::Text,
            limits: Limits::default(),
            protocol: Protocol::default(),
            jobs: Jobs::default(),
            secure_mode: SecureMode::default(),
            database: Database::default(),
            external_files: ExternalFiles::default(),
            backup: Backup::default(),
        }
    }
}

impl Default for Protocol {
    fn default() -> Self {
        Protocol {
            inventory_max_age_secs: 24 * 3600,
            interaction_timeout_secs: 300,
            local_change_policy: LocalChangePolicy::AcceptUnmanaged,
            unknown_devices: opendls_engine::UnknownDevicePolicy::Accept,
            unknown_device_group: None,
        }
    }
}

/// A configuration that cannot be used, with the field and the reason.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is not valid TOML for this struct.
    #[error("{path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What is wrong, with line and column.
        message: String,
    },
    /// An environment variable has an unusable value.
    #[error("environment variable {variable}: {message}")]
    Environment {
        /// The variable.
        variable: &'static str,
        /// What is wrong.
        message: String,
    },
    /// A value is out of range.
    #[error("{field}: {message}")]
    Invalid {
        /// The field, as spelled in the TOML file.
        field: &'static str,
        /// What is wrong.
        message: String,
    },
}

/// A listener address, or `"off"`, as the flags and the environment already take it.
mod address_or_off {
    use std::net::SocketAddr;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(value: &Option<SocketAddr>, serializer: S) -> Result<S::Ok, S::Error> {
        match value {
            Some(address) => serializer.collect_str(address),
            None => serializer.serialize_str("off"),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<SocketAddr>, D::Error> {
        let text = String::deserialize(deserializer)?;
        match text.as_str() {
            "off" => Ok(None),
            address => address.parse().map(Some).map_err(|e| {
                serde::de::Error::custom(format!(
                    "{address:?}: {e} (an address like 0.0.0.0:18082, or \"off\")"
                ))
            }),
        }
    }
}

fn on_or_off(value: &str) -> Option<bool> {
    match value {
        "on" | "true" | "1" => Some(true),
        "off" | "false" | "0" => Some(false),
        _ => None,
    }
}

impl Config {
    /// Defaults, overlaid with the TOML file (if any), then the environment.
    pub fn load(file: Option<&std::path::Path>) -> Result<Config, ConfigError> {
        let mut config = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|source| ConfigError::Read { path: path.to_owned(), source })?;
                toml::from_str(&text)
                    .map_err(|e| ConfigError::Parse { path: path.to_owned(), message: e.to_string() })?
            }
            None => Config::default(),
        };
        config.apply_environment(|name| std::env::var(name).ok())?;
        Ok(config)
    }

    /// Applies `OPENDLS_*` variables, read through `lookup` (so tests need not touch the
    /// process environment).
    pub fn apply_environment(&mut self, lookup: impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        for (variable, _) in ENVIRONMENT {
            let Some(value) = lookup(variable) else { continue };
            let bad = |message: String| ConfigError::Environment { variable, message };
            match *variable {
                "OPENDLS_DATA" => self.data_dir = PathBuf::from(value),
                "OPENDLS_PHONE_LISTEN" => {
                    self.phone_listen = value.parse().map_err(|e| bad(format!("{e}")))?
                }
                "OPENDLS_ADMIN_LISTEN" => {
                    self.admin_listen = value.parse().map_err(|e| bad(format!("{e}")))?
                }
                "OPENDLS_PUBLIC_ADDRESS" => self.public_address = Some(value),
                "OPENDLS_DCMP_LISTEN" if value == "off" => self.dcmp_listen = None,
                "OPENDLS_DCMP_LISTEN" => {
                    self.dcmp_listen = Some(value.parse().map_err(|e| bad(format!("{e}")))?)
                }
                "OPENDLS_FILE_LISTEN" if value == "off" => self.file_listen = None,
                "OPENDLS_FILE_LISTEN" => {
                    self.file_listen = Some(value.parse().map_err(|e| bad(format!("{e}")))?)
                }
                "OPENDLS_SECURE_LISTEN" if value == "off" => self.secure_listen = None,
                "OPENDLS_SECURE_LISTEN" => {
                    self.secure_listen = Some(value.parse().map_err(|e| bad(format!("{e}")))?)
                }
                "OPENDLS_LEGACY_TLS" => {
                    self.secure_mode.legacy_tls =
                        on_or_off(&value).ok_or_else(|| bad("must be on or off".into()))?
                }
                "OPENDLS_ECDSA" => {
                    self.secure_mode.ecdsa =
                        on_or_off(&value).ok_or_else(|| bad("must be on or off".into()))?
                }
                "OPENDLS_INSECURE_ADMIN" => {
                    self.insecure_admin = on_or_off(&value).ok_or_else(|| bad("must be on or off".into()))?
                }
                "OPENDLS_LOG" => self.log = value,
                _ => {}
            }
        }
        Ok(())
    }

    /// Every listener on 127.0.0.1 with a port the system picks, phones told to call back to
    /// 127.0.0.1: for tests, the demo and benchmarks, which must never listen on or send to any
    /// other address.
    pub fn loopback(data_dir: PathBuf) -> Config {
        let any_port: SocketAddr = "127.0.0.1:0".parse().expect("valid");
        Config {
            data_dir,
            phone_listen: any_port,
            admin_listen: any_port,
            dcmp_listen: Some(any_port),
            file_listen: Some(any_port),
            secure_listen: Some(any_port),
            public_address: Some("127.0.0.1".into()),
            ..Config::default()
        }
    }

    /// Where the secrets key file is.
    pub fn secrets_key_path(&self) -> PathBuf {
        self.secrets_key_file.clone().unwrap_or_else(|| self.data_dir.join(opendls_store::secrets::KEY_FILE))
    }

    /// The names that go into the server certificate.
    pub fn certificate_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.public_address.iter().cloned().collect();
        for name in ["localhost", "127.0.0.1", "::1"] {
            if !names.iter().any(|n| n == name) {
                names.push(name.to_owned());
            }
        }
        names
    }

    /// The handshake timeout.
    pub fn handshake_timeout(&self) -> Duration {
        Duration::from_secs(self.limits.handshake_timeout_secs)
    }

    /// The connection discipline of a listener with these caps.
    pub fn gate_limits(&self, max_connections: usize, max_per_address: usize) -> crate::gate::GateLimits {
        crate::gate::GateLimits {
            max_connections,
            max_per_address,
            deadline: self.handshake_timeout(),
            min_deadline: Duration::from_secs(self.limits.min_timeout_secs),
            min_silence: Duration::from_millis(self.limits.evict_silent_after_millis),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every key path of a TOML document (`limits.max_connections`, ...).
    fn key_paths(value: &toml::Value, prefix: &str, out: &mut Vec<String>) {
        if let toml::Value::Table(table) = value {
            for (key, value) in table {
                let path = if prefix.is_empty() { key.clone() } else { format!("{prefix}.{key}") };
                match value {
                    toml::Value::Table(_) => key_paths(value, &path, out),
                    _ => out.push(path),
                }
            }
        }
    }

    #[test]
    fn the_example_file_is_every_field_at_its_default() {
        let example: Config = toml::from_str(EXAMPLE_TOML).unwrap();
        assert_eq!(example, Config::default(), "opendls.example.toml differs from the defaults");
        let (mut written, mut fields) = (Vec::new(), Vec::new());
        key_paths(&toml::from_str(EXAMPLE_TOML).unwrap(), "", &mut written);
        key_paths(&toml::Value::try_from(Config::default()).unwrap(), "", &mut fields);
        written.sort();
        fields.sort();
        assert_eq!(written, fields, "opendls.example.toml lacks or invents a field");
        // Fields without a default value appear as comments.
        for unset in ["public_address", "secrets_key_file"] {
            assert!(EXAMPLE_TOML.contains(&format!("\n# {unset} = ")), "{unset}");
        }
    }

    #[test]
    fn defaults_are_valid() {
        Config::default().validate().unwrap();
        assert_eq!(Config::default().phone_listen.port(), 18443);
    }

    #[test]
    fn file_then_environment() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("opendls.toml");
        std::fs::write(&path, "phone_listen = \"127.0.0.1:9443\"\n[limits]\nmax_connections = 7\n").unwrap();
        let mut config = Config::load(Some(&path)).unwrap();
        assert_eq!((config.phone_listen.port(), config.limits.max_connections), (9443, 7));
        config
            .apply_environment(|name| (name == "OPENDLS_PHONE_LISTEN").then(|| "127.0.0.1:9555".into()))
            .unwrap();
        assert_eq!(config.phone_listen.port(), 9555);
    }

    #[test]
    fn listeners_are_switched_off_in_the_file_as_with_flags() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("opendls.toml");
        std::fs::write(&path, "dcmp_listen = \"off\"\nsecure_listen = \"127.0.0.1:9444\"\n").unwrap();
        let config = Config::load(Some(&path)).unwrap();
        assert_eq!(config.dcmp_listen, None);
        assert_eq!(config.secure_listen, Some("127.0.0.1:9444".parse().unwrap()));
        let written = toml::to_string(&config).unwrap();
        assert!(written.contains("dcmp_listen = \"off\""), "{written}");
        std::fs::write(&path, "secure_listen = \"nowhere\"\n").unwrap();
        let message = Config::load(Some(&path)).unwrap_err().to_string();
        assert!(message.contains("secure_listen") && message.contains("\"off\""), "{message}");
    }

    #[test]
    fn mistakes_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("opendls.toml");
        std::fs::write(&path, "phone_lisen = \"x\"\n").unwrap();
        let message = Config::load(Some(&path)).unwrap_err().to_string();
        assert!(message.contains("phone_lisen"), "{message}");

        let mut config = Config::default();
        config.limits.idle_timeout_secs = 1;
        assert!(config.validate().unwrap_err().to_string().starts_with("limits.idle_timeout_secs"));
        let error = Config::default()
            .apply_environment(|name| (name == "OPENDLS_ADMIN_LISTEN").then(|| "nowhere".into()))
            .unwrap_err();
        assert!(error.to_string().starts_with("environment variable OPENDLS_ADMIN_LISTEN"));
    }
}
