//! The opendls network server.
//!
//! [`start`] prepares the data directory (database with migrations, TLS identity, admin token),
//! binds the phone listener (HTTPS, Default Mode) and the admin API, and returns a
//! [`RunningServer`] with the bound addresses, which stops cleanly on [`RunningServer::stop`].

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use opendls_api as api;
use opendls_store::Store;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

pub mod accounts;
pub mod admin;
pub mod admission;
pub mod backend;
pub mod backup;
pub mod bootstrap;
pub mod client_hello;
pub mod cluster;
pub mod config;
pub mod contact_me;
pub mod data_dir;
pub mod dcmp;
pub mod descriptors;
pub mod file_server;
pub mod gate;
pub mod http_listener;
pub mod legacy_tls;
pub mod listener;
pub mod metrics;
pub mod phone;
pub mod proxy_protocol;
pub mod readiness;
pub mod retention;
pub mod scheduler;
pub mod scheduling_delay;
pub mod vault;

pub use config::Config;

/// The database file inside the data directory.
pub const DATABASE_FILE: &str = "opendls.db";
/// The admin API's bearer token inside the data directory (mode 0600).
pub const ADMIN_TOKEN_FILE: &str = "admin-token";
/// The file in the data directory where a start records the admin API's address, for the CLI.
pub const ADMIN_URL_FILE: &str = "admin-url";

/// The longest an admin API request may take (listings of large fleets included).
const ADMIN_REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(120);

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// The configuration is invalid.
    #[error("configuration: {0}")]
    Config(#[from] config::ConfigError),
    /// The data directory could not be created or made private.
    #[error("data directory: {0}")]
    DataDir(#[from] data_dir::NotPrivate),
    /// The TLS identity could not be loaded or made.
    #[error("TLS identity: {0}")]
    Pki(#[from] opendls_pki::PkiError),
    /// The TLS configuration was refused.
    #[error("TLS configuration: {0}")]
    Tls(#[from] rustls::Error),
    /// The secrets key file could not be read or made.
    #[error("{0}")]
    SecretsKey(#[from] opendls_store::secrets::KeyFileError),
    /// The database could not be opened (its message says so, once).
    #[error(transparent)]
    Store(#[from] opendls_store::StoreError),
    /// The node cannot take the key material the other nodes of its database share.
    #[error(transparent)]
    Cluster(#[from] cluster::ClusterError),
    /// A listener could not be bound (nothing was written to the data directory).
    #[error(
        "cannot listen on {address} ({setting}): {cause}; is another service using it? choose another {setting}"
    )]
    Bind {
        /// The address.
        address: SocketAddr,
        /// The setting that names it (`phone_listen`, ...).
        setting: &'static str,
        /// The cause (not a `source`: the message carries it once).
        cause: std::io::Error,
    },
}

/// A started service.
pub struct RunningServer {
    /// Where phones connect (HTTPS).
    pub phone_addr: SocketAddr,
    /// Where the admin API listens.
    pub admin_addr: SocketAddr,
    /// The admin API's URL: `https://` when it is served over TLS (not on loopback).
    pub admin_url: String,
    /// Where phones behind NAT poll (DCMP, plain HTTP), when the listener is on.
    pub dcmp_addr: Option<SocketAddr>,
    /// Where phones in Secure Mode connect (HTTPS with mutual TLS), when the listener is on.
    pub secure_addr: Option<SocketAddr>,
    /// Where phones download firmware and files (HTTPS), when the listener is on.
    pub file_addr: Option<SocketAddr>,
    /// The admin API's bearer token.
    pub admin_token: String,
    /// The data directory in use.
    pub data_dir: PathBuf,
    /// The database in use, for the start-up lines (a PostgreSQL address without its password).
    pub database: String,
    shutdown: CancellationToken,
    tasks: JoinSet<()>,
    store: Arc<dyn ClosingStore>,
}

/// The one thing [`RunningServer`] does with its backend: close it when the service stops
/// (object-safe, so that the handle is not generic over the backend).
trait ClosingStore: Send + Sync {
    fn close(&self) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + '_>>;
}

impl<S: Store> ClosingStore for S {
    fn close(&self) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + '_>> {
        Box::pin(Store::close(self))
    }
}

impl RunningServer {
    /// A token that stops the service when cancelled.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Waits until the service stops (after its shutdown token is cancelled).
    pub async fn wait(mut self) {
        while self.tasks.join_next().await.is_some() {}
        self.store.close().await;
    }

    /// Stops accepting, lets requests in progress finish, closes the database.
    pub async fn stop(self) {
        self.shutdown.cancel();
        self.wait().await;
    }
}

/// Starts the service on the backend its configuration names (`database.url`): the embedded
/// SQLite database of its data directory, or a PostgreSQL server.
pub async fn start(config: Config) -> Result<RunningServer, StartError> {
    match backend::Backend::of(&config.database.url) {
        Ok(backend::Backend::Postgres(url)) => {
            start_with(config, move |config, _| backend::open_postgres(config, url)).await
        }
        // An address that names no backend is refused by `start_with`'s validation.
        _ => start_with(config, backend::open_sqlite).await,
    }
}

/// Starts the service on the backend `open` returns: everything above the store is generic over
/// [`Store`], so a backend is one implementation of it plus its opener. `open` runs after the
/// listeners are bound and the data directory is prepared.
pub async fn start_with<S, Open, Opened>(mut config: Config, open: Open) -> Result<RunningServer, StartError>
where
    S: Store,
    Open: FnOnce(Config, PathBuf) -> Opened,
    Opened: std::future::Future<Output = Result<Arc<S>, StartError>>,
{
    config.validate()?;
    descriptors::fit_connection_caps(&mut config, descriptors::raise_to_hard_limit());
    // Listeners first: a port in use must fail the start before anything is written.
    let backlog = config.limits.listen_backlog;
    if let Some(cap) = kernel_backlog_cap().filter(|cap| *cap < backlog) {
        tracing::warn!(
            listen_backlog = backlog,
            somaxconn = cap,
            "the kernel caps listen backlogs below limits.listen_backlog (raise net.core.somaxconn)"
        );
    }
    let bind = |address, setting| bind(address, setting, backlog);
    let (phone_listener, phone_addr) = bind(config.phone_listen, "phone_listen").await?;
    let (admin_listener, admin_addr) = bind(config.admin_listen, "admin_listen").await?;
    let (dcmp_listener, dcmp_addr) = match config.dcmp_listen {
        Some(address) => bind(address, "dcmp_listen").await.map(|(l, a)| (Some(l), Some(a)))?,
        None => (None, None),
    };
    let (file_listener, file_addr) = match config.file_listen {
        Some(address) => bind(address, "file_listen").await.map(|(l, a)| (Some(l), Some(a)))?,
        None => (None, None),
    };
    let (secure_listener, secure_addr) = match config.secure_listen {
        Some(address) => bind(address, "secure_listen").await.map(|(l, a)| (Some(l), Some(a)))?,
        None => (None, None),
    };

    let data_dir = config.data_dir.clone();
    let tightened = data_dir::make_private(&data_dir)?;
    for path in &tightened.paths {
        tracing::warn!(path = %path.display(), "was readable by other users: made private (0700 / 0600)");
    }
    // Nodes on one PostgreSQL database hold the same keys, CA and tokens: taken (or first
    // shared) before anything below would make this node's own.
    if let Ok(backend::Backend::Postgres(url)) = backend::Backend::of(&config.database.url) {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |e| e.as_secs() as i64);
        cluster::share_key_material(&config, &url, now).await?;
    }
    let admin_token = load_or_create_token(&data_dir.join(ADMIN_TOKEN_FILE))?;
    let metrics_token = load_or_create_token(&data_dir.join(metrics::METRICS_TOKEN_FILE))?;
    let metrics = Arc::new(metrics::Metrics::new());
    let names = config.certificate_names();
    let identity = opendls_pki::load_or_create_server_identity(&data_dir, &names, false)?;
    log_issued("Default-port", &identity, &names);
    let sessions = listener::TlsSessions::of(&config.limits);
    let tls = listener::default_mode_tls(&identity, sessions)?;
    // The admin token must not cross a network in the clear (guide-independent; docs/security.md).
    let admin_tls = match (config.admin_listen.ip().is_loopback(), config.insecure_admin) {
        (true, _) => None,
        (false, false) => Some(tokio_rustls::TlsAcceptor::from(tls.clone())),
        (false, true) => {
            tracing::warn!(
                admin_listen = %config.admin_listen,
                "the admin API is served over plain HTTP on a non-loopback address (insecure_admin): \
                 the admin token crosses the network in the clear"
            );
            None
        }
    };
    let admin_scheme = if admin_tls.is_some() { "https" } else { "http" };
    let ca = Arc::new(opendls_pki::CertificateAuthority::load_or_create(&data_dir)?);
    let secure_identity = ca.secure_server_identity(&data_dir, &names, false)?;
    log_issued("secure-port", &secure_identity, &names);
    let legacy_acceptor = |identity: &opendls_pki::ServerIdentity, client_ca: Option<&[u8]>| {
        if !config.secure_mode.legacy_tls {
            return None;
        }
        match legacy_tls::LegacyAcceptor::new(identity, client_ca, sessions.cache) {
            Ok(acceptor) => Some(acceptor),
            Err(error) => {
                tracing::warn!(%error, "legacy TLS is switched on but cannot be served; legacy clients will be refused");
                None
            }
        }
    };
    let ecdsa = match config.secure_mode.ecdsa {
        true => {
            let identity = opendls_pki::load_or_create_ecdsa_server_identity(&data_dir, &names, false)?;
            log_issued("Default-port ECDSA", &identity, &names);
            Some(listener::ecdsa_beside(&tls, &identity)?)
        }
        false => None,
    };
    let phone_tls = listener::PortTls {
        rustls: tls,
        ecdsa,
        legacy: legacy_acceptor(&identity, None),
        secure: false,
        port: "default",
        metrics: metrics.clone(),
    };
    let secure_tls = listener::PortTls {
        rustls: listener::secure_mode_tls(&secure_identity, ca.cert_der(), sessions)?,
        // The secure port's certificate is issued by the CA phones were given (guide p. 64).
        ecdsa: None,
        legacy: legacy_acceptor(&secure_identity, Some(ca.cert_der())),
        secure: true,
        port: "secure",
        metrics: metrics.clone(),
    };
    let file_tls = listener::PortTls { port: "files", ..phone_tls.clone() };
    let vault = Arc::new(vault::Vault::open(&data_dir)?);
    let token_key = file_server::TokenKey::new(
        load_or_create_token(&data_dir.join(file_server::TOKEN_KEY_FILE))?.as_bytes(),
    );
    let store = open(config.clone(), data_dir.clone()).await?;
    tracing::debug!(backend = store.backend(), "store opened");
    accounts::announce_first_admin(
        accounts::ensure_first_admin(store.as_ref(), &data_dir, phone::unix_now()).await?,
    );

    let shutdown = CancellationToken::new();
    let mut tasks = JoinSet::new();
    let validity = std::time::Duration::from_secs(config.secure_mode.certificate_validity_days * 24 * 3600);
    let bootstrapper = bootstrap::Bootstrapper::new(
        ca.clone(),
        secure_addr.map(|a| a.port()),
        config.secure_mode.max_pin_retries,
        validity,
    )
    .with_metrics(metrics.clone());
    let downloads = downloads(config.public_address.as_deref(), file_addr, token_key.clone());
    let external = config
        .external_files
        .source(std::env::var("OPENDLS_FTP_PASSWORD").ok())
        .map_err(|message| config::ConfigError::Invalid { field: "external_files", message })?;
    let sources = file_server::Sources { builtin: downloads, external };
    let endpoint = Arc::new(
        phone::PhoneEndpoint::new(store.clone(), &config)
            .with_bootstrapper(bootstrapper)
            .with_downloads(sources.clone())
            .with_metrics(metrics.clone()),
    );
    metrics.probe_in_flight(&endpoint, phone::PhoneEndpoint::admission);
    let measured = endpoint.clone();
    let delay = scheduling_delay::measure(
        move |now, delay| measured.saw_scheduling_delay(now, delay),
        shutdown.clone(),
    );
    tasks.spawn(delay);
    let limits = listener::ListenerLimits {
        gate: config.gate_limits(config.limits.max_connections, config.limits.max_connections_per_address),
        idle_timeout: std::time::Duration::from_secs(config.limits.idle_timeout_secs),
    };
    // Validated with the rest of the configuration.
    let proxies =
        Arc::new(proxy_protocol::TrustedProxies::parse(&config.trusted_proxies).unwrap_or_default());
    let readiness = readiness::Readiness::new(data_dir.clone());
    if let Some(listener) = secure_listener {
        let (endpoint, proxies) = (endpoint.clone(), proxies.clone());
        let serving =
            listener::serve_phones(listener, secure_tls, endpoint, limits, proxies, shutdown.clone());
        tasks.spawn(readiness.watch("secure", serving));
    }
    let serving =
        listener::serve_phones(phone_listener, phone_tls, endpoint, limits, proxies, shutdown.clone());
    tasks.spawn(readiness.watch("phone", serving));
    let backups = backup::schedule::run(config.clone(), metrics.clone(), shutdown.clone());
    tasks.spawn(readiness.watch("scheduled backups", backups));
    let retention = retention::Retention::new(store.clone(), &config.database);
    tasks.spawn(readiness.watch("retention", retention.run(shutdown.clone())));
    let tidying = vault::keep_tidy(vault.clone(), store.clone(), shutdown.clone());
    tasks.spawn(readiness.watch("content tidying", tidying));
    let wake = Arc::new(tokio::sync::Notify::new());
    let callback = callback_address(config.public_address.as_deref(), phone_addr).await;
    let scheduler = scheduler::Scheduler::new(
        store.clone(),
        config.jobs.clone(),
        callback,
        config.jobs.stalled_after_secs as i64,
        wake.clone(),
    )
    .with_secure_port(secure_addr.map(|a| a.port()))
    .with_metrics(metrics.clone());
    tasks.spawn(readiness.watch("job scheduler", scheduler.run(shutdown.clone())));
    if let Some(listener) = dcmp_listener {
        let limits = http_listener::HttpLimits {
            gate: config.gate_limits(
                config.limits.dcmp_max_connections,
                config.limits.dcmp_max_connections_per_address,
            ),
            request_timeout: std::time::Duration::from_secs(config.limits.body_timeout_secs),
        };
        let router = dcmp::router(store.clone(), metrics.clone());
        let plain = http_listener::HttpTls::Plain;
        let serving = http_listener::serve_http(listener, router, plain, limits, "dcmp", shutdown.clone());
        tasks.spawn(readiness.watch("dcmp", serving));
    }
    let settings = admin::AdminSettings {
        give_up_after_secs: config.jobs.give_up_after_secs,
        dcmp_url: dcmp_url(config.public_address.as_deref(), dcmp_addr),
        dcmp_poll_interval_secs: config.jobs.dcmp_poll_interval_secs,
        contact_gap_secs: config.jobs.contact_gap_secs,
        wake,
        ca_pem: ca.cert_pem().to_owned(),
        secure_server_pem: secure_identity.cert_pem.clone(),
        secure_port_enabled: secure_addr.is_some(),
        pin_digits: config.secure_mode.pin_digits,
        vault: vault.clone(),
        downloads: sources,
        max_upload_bytes: config.limits.max_upload_bytes,
        readiness: readiness.clone(),
        metrics,
        metrics_token: metrics::MetricsToken(metrics_token),
        data_dir: data_dir.clone(),
        secure_cookies: admin_scheme == "https",
    };
    if let Some(listener) = file_listener {
        let limits = http_listener::HttpLimits {
            gate: config
                .gate_limits(config.limits.max_connections, config.limits.max_connections_per_address),
            request_timeout: std::time::Duration::from_secs(config.limits.body_timeout_secs),
        };
        let router = file_server::router(store.clone(), vault, token_key);
        let tls = http_listener::HttpTls::Phone(file_tls);
        let serving = http_listener::serve_http(listener, router, tls, limits, "files", shutdown.clone());
        tasks.spawn(readiness.watch("files", serving));
    }
    let router = admin::router(store.clone(), admin_token.clone(), settings);
    let limits = http_listener::HttpLimits {
        gate: config.gate_limits(
            config.limits.admin_max_connections,
            config.limits.admin_max_connections_per_address,
        ),
        request_timeout: ADMIN_REQUEST_TIMEOUT,
    };
    let serving = http_listener::serve_http(
        admin_listener,
        router,
        admin_tls.map_or(http_listener::HttpTls::Plain, http_listener::HttpTls::Rustls),
        limits,
        "admin",
        shutdown.clone(),
    );
    tasks.spawn(readiness.watch("admin", serving));
    let shown = |address: Option<SocketAddr>| address.map_or("off".to_owned(), |a| a.to_string());
    tracing::info!(
        %phone_addr,
        secure_addr = shown(secure_addr),
        %admin_addr,
        dcmp_addr = shown(dcmp_addr),
        file_addr = shown(file_addr),
        data_dir = %data_dir.display(),
        "opendls is serving"
    );
    let admin_url = format!("{admin_scheme}://{admin_addr}");
    record_admin_url(&data_dir, admin_scheme, admin_addr);
    Ok(RunningServer {
        phone_addr,
        admin_addr,
        admin_url,
        dcmp_addr,
        secure_addr,
        file_addr,
        admin_token,
        database: match backend::Backend::of(&config.database.url) {
            Ok(backend::Backend::Postgres(url)) => opendls_store::postgres::redacted_url(&url),
            _ => format!("SQLite at {}", data_dir.join(DATABASE_FILE).display()),
        },
        data_dir,
        shutdown,
        tasks,
        store,
    })
}

/// Writes where the admin API listens, as a URL the CLI on this host can use: an unspecified
/// address (`0.0.0.0`) is reached on loopback, which the certificate names.
fn record_admin_url(data_dir: &Path, scheme: &str, addr: SocketAddr) {
    let mut reachable = addr;
    if addr.ip().is_unspecified() {
        let loopback = match addr {
            SocketAddr::V4(_) => std::net::IpAddr::from(std::net::Ipv4Addr::LOCALHOST),
            SocketAddr::V6(_) => std::net::IpAddr::from(std::net::Ipv6Addr::LOCALHOST),
        };
        reachable.set_ip(loopback);
    }
    let path = data_dir.join(ADMIN_URL_FILE);
    if let Err(error) = opendls_pki::write_private(&path, format!("{scheme}://{reachable}\n").as_bytes()) {
        tracing::warn!(%error, "could not record the admin API's address; the CLI needs --admin-url");
    }
}

/// An IPv6 literal in a URL needs brackets.
/// Binds one listener; the error names the setting to change.
/// Binds a listener with the configured backlog (tokio's `bind` asks for 128, which a boot
/// storm overflows: the kernel then drops connections and phones wait to retry).
async fn bind(
    address: SocketAddr,
    setting: &'static str,
    backlog: u32,
) -> Result<(TcpListener, SocketAddr), StartError> {
    let failed = |cause| StartError::Bind { address, setting, cause };
    let socket = match address {
        SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4(),
        SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6(),
    }
    .map_err(failed)?;
    // As std and tokio do: a restarted service can listen again at once.
    socket.set_reuseaddr(true).map_err(failed)?;
    socket.bind(address).map_err(failed)?;
    let listener = socket.listen(backlog).map_err(failed)?;
    let bound = listener.local_addr().map_err(failed)?;
    Ok((listener, bound))
}

/// The kernel's cap on listen backlogs, where it can be read.
fn kernel_backlog_cap() -> Option<u32> {
    std::fs::read_to_string("/proc/sys/net/core/somaxconn").ok()?.trim().parse().ok()
}

/// Says at start-up when a server certificate was issued, and why.
fn log_issued(port: &str, identity: &opendls_pki::ServerIdentity, names: &[String]) {
    let names = names.join(", ");
    let file = identity.cert_path.display();
    match &identity.issued {
        opendls_pki::Issued::No => {}
        opendls_pki::Issued::First => tracing::info!(%file, %names, "{port} certificate issued"),
        opendls_pki::Issued::NamesChanged { missing } => tracing::warn!(
            %file,
            %names,
            missing = missing.join(", "),
            "{port} certificate re-issued: it lacked names phones now use (public_address changed); \
             the CA is unchanged"
        ),
        opendls_pki::Issued::Renewed => tracing::info!(%file, %names, "{port} certificate renewed"),
        opendls_pki::Issued::OnRequest => tracing::info!(%file, %names, "{port} certificate re-issued"),
    }
}

/// The DCMP address written to phones behind NAT, or exactly what to set to have one.
/// Where contact-me tells phones to call back (`dls_ip_addr` / `dls_ip_port`, docs/wpi-protocol.md
/// §2.5): `public_address` (a name is resolved once, at start), else the address the phone
/// listener is bound to when it is a specific one. `None` leaves the phone to use its configured
/// service address.
async fn callback_address(public_address: Option<&str>, phone_addr: SocketAddr) -> Option<SocketAddr> {
    let port = phone_addr.port();
    let Some(public) = public_address else {
        return (!phone_addr.ip().is_unspecified()).then_some(phone_addr);
    };
    if let Ok(ip) = public.parse::<std::net::IpAddr>() {
        return Some(SocketAddr::new(ip, port));
    }
    let lookup = tokio::net::lookup_host((public, port));
    match tokio::time::timeout(std::time::Duration::from_secs(5), lookup).await {
        Ok(Ok(mut addresses)) => {
            let found = addresses.next();
            if let Some(address) = found {
                tracing::info!(public_address = public, %address, "contact-me asks phones to call back here");
            }
            found
        }
        _ => {
            tracing::warn!(
                public_address = public,
                "public_address does not resolve: contact-me is sent without dls_ip_addr"
            );
            None
        }
    }
}

/// Where download URLs point (`https://public_address:port`) and the key that signs their
/// tokens, or what to set so that phones can download.
fn downloads(
    public_address: Option<&str>,
    file_addr: Option<SocketAddr>,
    key: file_server::TokenKey,
) -> Result<admin::Downloads, String> {
    match (public_address, file_addr) {
        (_, None) => Err("the file server is off (file_listen = \"off\"): turn it on to deploy files".into()),
        (None, Some(_)) => {
            Err("phones download from the address they reach the service at: set public_address \
             (--public-address, OPENDLS_PUBLIC_ADDRESS) to this host's name or address as the phones see it"
                .into())
        }
        (Some(host), Some(addr)) => {
            let host = if host.contains(':') { format!("[{host}]") } else { host.to_owned() };
            let loopback =
                host == "localhost" || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback());
            Ok(admin::Downloads { base: format!("https://{host}:{}", addr.port()), loopback, key })
        }
    }
}

fn dcmp_url(public_address: Option<&str>, dcmp_addr: Option<SocketAddr>) -> Result<String, String> {
    match (public_address, dcmp_addr) {
        (Some(host), Some(addr)) => Ok(format!("http://{}:{}", bracket_ipv6(host), addr.port())),
        (_, None) => Err("phones cannot poll: the DCMP listener is off; set dcmp_listen (dcmp_listen = \
             \"0.0.0.0:18082\" in the configuration file, OPENDLS_DCMP_LISTEN or --dcmp-listen) and restart"
            .into()),
        (None, Some(_)) => Err("phones cannot poll: the service does not know the address phones reach it \
             at; set public_address to this host's address or name as the phones see it (public_address = \
             \"dls.example.com\" in the configuration file, OPENDLS_PUBLIC_ADDRESS or --public-address) and \
             restart"
            .into()),
    }
}

fn bracket_ipv6(host: &str) -> String {
    if host.contains(':') { format!("[{host}]") } else { host.to_owned() }
}

/// Reads a random secret kept in a private file (the admin token, the download token key),
/// creating it (256 bits, hex) on first start.
fn load_or_create_token(path: &Path) -> Result<String, StartError> {
    match std::fs::read_to_string(path) {
        Ok(token) if !token.trim().is_empty() => Ok(token.trim().to_owned()),
        _ => {
            let mut bytes = [0u8; 32];
            getrandom::fill(&mut bytes).expect("the operating system's random source is available");
            let token = hex::encode(bytes);
            opendls_pki::write_private(path, format!("{token}\n").as_bytes())?;
            Ok(token)
        }
    }
}
