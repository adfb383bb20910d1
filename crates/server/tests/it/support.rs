//! A started server and a minimal phone-side HTTP client (TLS, `Connection: close`).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use opendls_phonesim::transport;
use opendls_server::{Config, RunningServer};
use opendls_wpi::{DlsMessage, parse_dls_message};
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

pub struct TestServer {
    pub server: Option<RunningServer>,
    _dir: tempfile::TempDir,
    config: Config,
    _schema: Option<opendls_store::postgres::testing::ScratchSchema>,
}

/// The backend the end-to-end tests run on: SQLite, or PostgreSQL when `OPENDLS_TEST_BACKEND`
/// is `postgres` (on the server `OPENDLS_TEST_POSTGRES` names, a scratch schema per test).
pub fn on_postgres() -> bool {
    std::env::var("OPENDLS_TEST_BACKEND").is_ok_and(|backend| backend == "postgres")
}

impl TestServer {
    pub async fn start() -> TestServer {
        TestServer::start_with(|_| {}).await
    }

    /// Starts with the test configuration changed by `adjust`.
    pub async fn start_with(adjust: impl FnOnce(&mut Config)) -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config::loopback(dir.path().to_owned());
        let mut schema = None;
        if on_postgres() {
            let url =
                std::env::var("OPENDLS_TEST_POSTGRES").expect("OPENDLS_TEST_POSTGRES names the test server");
            let (scoped, scratch) = opendls_store::postgres::testing::scratch_schema(&url).await;
            config.database.url = scoped;
            schema = Some(scratch);
        }
        adjust(&mut config);
        let server = opendls_server::start(config.clone()).await.unwrap();
        TestServer { server: Some(server), _dir: dir, config, _schema: schema }
    }

    /// The configuration the server was started with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn running(&self) -> &RunningServer {
        self.server.as_ref().unwrap()
    }

    pub fn phone_addr(&self) -> SocketAddr {
        self.running().phone_addr
    }

    /// Stops the server and starts a new one with the same configuration, data directory and
    /// phone port (phones keep calling the address they know).
    pub async fn restart(&mut self) {
        self.pin_ports();
        self.server.take().unwrap().stop().await;
        self.restart_stopped().await;
    }

    /// Keeps the ports the running server has for later starts.
    pub fn pin_ports(&mut self) {
        self.config.phone_listen = self.phone_addr();
        self.config.secure_listen = self.running().secure_addr;
    }

    /// Starts again after `server.take().stop()`, with the same configuration, data directory
    /// and phone port.
    pub async fn restart_stopped(&mut self) {
        self.server = Some(opendls_server::start(self.config.clone()).await.unwrap());
    }

    /// An admin API call whose answer is JSON, checked for the expected status.
    pub async fn admin_json(
        &self,
        method: &str,
        path: &str,
        body: Option<&str>,
        status: u16,
    ) -> serde_json::Value {
        let reply = self.admin(method, path, body).await;
        assert_eq!(reply.status, status, "{method} {path}: {}", reply.text());
        serde_json::from_str(&reply.text()).unwrap_or(serde_json::Value::Null)
    }

    /// `GET /metrics` with the metrics token (`metrics-token` in the data directory).
    pub async fn scrape(&self) -> Scrape {
        let token = std::fs::read_to_string(self.running().data_dir.join("metrics-token")).unwrap();
        let stream = TcpStream::connect(self.running().admin_addr).await.unwrap();
        let headers = [format!("Authorization: Bearer {}", token.trim())];
        let reply = exchange(stream, "GET", "/metrics", &headers, b"").await;
        assert_eq!(reply.status, 200, "{}", reply.text());
        Scrape(reply.text())
    }

    pub async fn admin(&self, method: &str, path: &str, body: Option<&str>) -> Reply {
        self.admin_as(&self.running().admin_token, method, path, body).await
    }

    /// An admin API call with `token` (a personal API token, or the admin token).
    pub async fn admin_as(&self, token: &str, method: &str, path: &str, body: Option<&str>) -> Reply {
        let running = self.running();
        let stream = TcpStream::connect(running.admin_addr).await.unwrap();
        let mut headers = vec![format!("Authorization: Bearer {token}")];
        if body.is_some() {
            headers.push("Content-Type: application/json".into());
        }
        exchange(stream, method, path, &headers, body.unwrap_or("").as_bytes()).await
    }
}

/// An HTTP answer.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn dls(&self) -> DlsMessage {
        assert_eq!(self.status, 200, "{}", self.text());
        assert_eq!(self.header("content-type"), Some("text/xml"));
        assert_eq!(self.header("content-length"), Some(self.body.len().to_string().as_str()));
        assert!(self.header("transfer-encoding").is_none(), "never chunked (guide p. 12)");
        // When a body is too broken to salvage the phone's nonce from, the answer carries an
        // empty one; our strict parser wants one, so stand in a placeholder.
        let body = self.text().replace("nonce=\"\"", "nonce=\"-\"");
        parse_dls_message(body.as_bytes()).unwrap_or_else(|e| panic!("{e}: {}", self.text()))
    }

    /// The session id from `Set-Cookie`.
    pub fn session(&self) -> Option<String> {
        let cookie = self.header("set-cookie")?;
        assert!(cookie.contains("Path=/DeploymentService") && cookie.contains("Secure"), "{cookie}");
        cookie.strip_prefix("JSESSIONID=")?.split(';').next().map(str::to_owned)
    }
}

pub async fn tls_connect(addr: SocketAddr) -> tokio_rustls::client::TlsStream<TcpStream> {
    transport::connect(addr, transport::default_mode_client()).await.unwrap()
}

/// POSTs a WPI message as a phone does: new TLS connection, `Connection: close`.
pub async fn phone_post(addr: SocketAddr, body: &[u8], session: Option<&str>) -> Reply {
    // Real phones echo the cookie's path attribute too (docs/wpi-protocol.md §2.4).
    let cookie = session.map(|s| format!("JSESSIONID={s}; path=/DeploymentService"));
    let reply = transport::post_wpi(
        addr,
        &transport::PhoneTls::modern(),
        body,
        cookie.as_deref(),
        Duration::from_secs(30),
    )
    .await
    .unwrap();
    Reply { status: reply.status, headers: reply.headers, body: reply.body }
}

/// One request, `Connection: close`, read to the end.
pub async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    stream: S,
    method: &str,
    path: &str,
    headers: &[String],
    body: &[u8],
) -> Reply {
    let reply = transport::request(stream, method, path, headers, body).await.unwrap();
    Reply { status: reply.status, headers: reply.headers, body: reply.body }
}

pub fn parse_reply(raw: &[u8]) -> Reply {
    let reply = transport::parse_reply(raw).unwrap();
    Reply { status: reply.status, headers: reply.headers, body: reply.body }
}

/// A guide fixture from the codec crate.
pub fn guide(name: &str) -> String {
    let path = format!("{}/../wpi/tests/fixtures/guide/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(path).unwrap()
}

/// The p. 33 start-up message of another phone.
pub fn start_up(mac: &str) -> String {
    guide("p33-start-up.xml").replace("00:01:E3:00:A9:F3", mac)
}

/// A `reply-to` with items, as a phone answers.
pub fn reply_to(action: &str, status: &str, fragment: &str, nonce: &str, items: &[(&str, &str)]) -> String {
    let items: String =
        items.iter().map(|(name, value)| format!("<Item name=\"{name}\">{value}</Item>\n")).collect();
    format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<WorkpointMessage xmlns=\"http://www.siemens.com/DLS\">\n\
         <Message nonce=\"{nonce}\" maxItems=\"-1\" fragment=\"{fragment}\">\n\
         <ReasonForContact action=\"{action}\" status=\"{status}\">reply-to</ReasonForContact>\n\
         <ItemList>\n{items}</ItemList>\n</Message>\n</WorkpointMessage>\n"
    )
}

/// The basic items of p. 33 for a phone, as (name, value) pairs, plus extra ones.
pub fn inventory(mac: &str, extra: &[(&'static str, &'static str)]) -> Vec<(String, String)> {
    let message = opendls_wpi::parse_workpoint_message(start_up(mac).as_bytes()).unwrap();
    let mut items: Vec<(String, String)> = message.items.into_iter().map(|i| (i.name, i.value)).collect();
    items.extend(extra.iter().map(|(n, v)| (n.to_string(), v.to_string())));
    items
}

pub fn reply_with(action: &str, nonce: &str, fragment: &str, items: &[(String, String)]) -> String {
    let pairs: Vec<(&str, &str)> = items.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
    reply_to(action, "accepted", fragment, nonce, &pairs)
}

/// Log lines of the whole test binary, kept in memory (one global subscriber).
#[derive(Clone)]
pub struct LogCapture(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl LogCapture {
    /// Whether one line contains every one of `parts`.
    pub fn contains(&self, parts: &[&str]) -> bool {
        let text = String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned();
        text.lines().any(|line| parts.iter().all(|part| line.contains(part)))
    }
}

impl std::io::Write for LogCapture {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Installs (once) a subscriber that keeps warnings and errors of every test in memory.
pub fn log_capture() -> LogCapture {
    static CAPTURE: std::sync::OnceLock<LogCapture> = std::sync::OnceLock::new();
    CAPTURE
        .get_or_init(|| {
            let capture = LogCapture(Default::default());
            let writer = capture.clone();
            let subscriber = tracing_subscriber::fmt()
                .with_max_level(tracing::Level::WARN)
                .with_ansi(false)
                .with_writer(move || writer.clone())
                .finish();
            let _ = tracing::subscriber::set_global_default(subscriber);
            capture
        })
        .clone()
}

/// Held by the tests that attack a server with thousands of connections, and by the browser
/// test, so that only one of them loads the machine at a time and the other tests keep their
/// timing.
pub async fn heavy_test() -> tokio::sync::MutexGuard<'static, ()> {
    static HEAVY: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    HEAVY.lock().await
}

/// Fast pacing so a test takes seconds: the phones' contact gap is 3 s and the service knows it.
pub fn quick_jobs(config: &mut Config) {
    config.jobs.contact_me_spacing_secs = 1;
    config.jobs.contact_gap_secs = 3;
    config.jobs.busy_retry_secs = 2;
    config.jobs.tick_millis = 200;
    config.jobs.max_contacts_per_sec = 200;
    config.jobs.stalled_after_secs = 5;
}

/// Polls the job until every target is finished; returns it.
pub async fn until_finished(server: &TestServer, id: i64, within: Duration) -> Value {
    let deadline = Instant::now() + within;
    loop {
        let job = server.admin_json("GET", &format!("/api/jobs/{id}"), None, 200).await;
        let finished = job["targets"].as_array().unwrap().iter().all(|t| {
            !matches!(
                t["state"].as_str().unwrap(),
                "queued" | "contacting" | "running" | "waiting-busy" | "held"
            )
        });
        if finished {
            return job;
        }
        assert!(Instant::now() < deadline, "job {id} did not finish: {job:#}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The database behind the service's back: what tests read and change directly.
impl TestServer {
    /// Every value the database holds (its files on SQLite, every row as text on PostgreSQL),
    /// for looking for a secret in it.
    pub async fn database_contents(&self) -> Vec<u8> {
        if !on_postgres() {
            let file = self.config.data_dir.join(opendls_server::DATABASE_FILE);
            let mut bytes = std::fs::read(&file).unwrap();
            bytes.extend(std::fs::read(file.with_extension("db-wal")).unwrap_or_default());
            return bytes;
        }
        let client = self.postgres().await;
        let tables = client
            .query("SELECT table_name::text FROM information_schema.tables WHERE table_schema = current_schema()", &[])
            .await
            .unwrap();
        let mut bytes = Vec::new();
        for table in tables {
            let table: String = table.get(0);
            for row in client.query(&format!("SELECT t::text FROM {table} t"), &[]).await.unwrap() {
                bytes.extend(row.get::<_, String>(0).into_bytes());
            }
        }
        bytes
    }

    /// Runs one statement on the database, in SQLite's or PostgreSQL's dialect, with `mac` as
    /// its one parameter.
    pub async fn database_execute(&self, sqlite: &str, postgres: &str, mac: &str) {
        if on_postgres() {
            self.postgres().await.execute(postgres, &[&mac]).await.unwrap();
        } else {
            let file = self.config.data_dir.join(opendls_server::DATABASE_FILE);
            rusqlite::Connection::open(file).unwrap().execute(sqlite, [mac]).unwrap();
        }
    }

    /// The desired values as a copy of the database without its key file reads them (with a
    /// new key).
    pub async fn desired_read_without_the_key(
        &self,
    ) -> opendls_store::StoreResult<Vec<opendls_engine::DesiredEntry>> {
        use opendls_store::AdminStore;
        let copy = tempfile::tempdir().unwrap();
        let keys =
            opendls_store::secrets::SecretKeys::load_or_create(&copy.path().join("other.key")).unwrap();
        if on_postgres() {
            let stolen =
                opendls_store::PostgresStore::open(&self.config.database.url, keys, 1).await.unwrap();
            return stolen.desired(None).await;
        }
        let dir = &self.config.data_dir;
        std::fs::copy(dir.join("opendls.db"), copy.path().join("opendls.db")).unwrap();
        let _ = std::fs::copy(dir.join("opendls.db-wal"), copy.path().join("opendls.db-wal"));
        let stolen =
            opendls_store::SqliteStore::open_with_keys(&copy.path().join("opendls.db"), keys).await.unwrap();
        stolen.desired(None).await
    }

    async fn postgres(&self) -> tokio_postgres::Client {
        let (client, connection) =
            tokio_postgres::connect(&self.config.database.url, tokio_postgres::NoTls).await.unwrap();
        tokio::spawn(connection);
        client
    }
}

/// A `/metrics` exposition.
pub struct Scrape(pub String);

impl Scrape {
    /// The value of the sample written exactly `series` (`name{label="x",...}`), 0 when absent
    /// (a counter never incremented is not shown).
    pub fn value(&self, series: &str) -> f64 {
        self.0
            .lines()
            .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.split(' ').next()?.parse().ok())
            .unwrap_or(0.0)
    }

    /// The sum of every sample of a metric (all its label sets).
    pub fn sum(&self, name: &str) -> f64 {
        self.0
            .lines()
            .filter(|line| line.starts_with(&format!("{name}{{")) || line.starts_with(&format!("{name} ")))
            .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }
}
