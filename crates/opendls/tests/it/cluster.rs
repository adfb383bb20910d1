//! Several nodes on one PostgreSQL database (`OPENDLS_TEST_POSTGRES`): 500 simulated phones whose
//! requests alternate between two `opendls serve` nodes, also within an interaction, jobs done
//! exactly once per phone, one node killed with SIGKILL mid-storm and the phones completing on
//! the other (counts checked in the database); and an SQLite installation moved to PostgreSQL.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use crate::support::stdout;

const PHONES: u32 = 500;

/// A node: its process, data directory and addresses.
pub(crate) struct Node {
    pub(crate) child: Child,
    pub(crate) data: std::path::PathBuf,
    pub(crate) phone: String,
    pub(crate) admin: String,
}

impl Node {
    /// Starts `opendls serve` on the database `url` with its own data directory.
    pub(crate) fn start(url: &str, dir: &std::path::Path, name: &str) -> Node {
        let data = dir.join(name);
        let mut child = Command::new(env!("CARGO_BIN_EXE_opendls"))
            .args(["serve", "--phone-listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"])
            .args([
                "--secure-listen",
                "off",
                "--dcmp-listen",
                "off",
                "--file-listen",
                "off",
                "--database",
                url,
            ])
            .arg("--data-dir")
            .arg(&data)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let (mut phone, mut admin) = (String::new(), String::new());
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        while admin.is_empty() {
            let line = lines.next().expect("the node printed its addresses").unwrap();
            if let Some(rest) = line.strip_prefix("opendls is serving phones on https://") {
                phone = rest.split('/').next().unwrap().to_owned();
            }
            if let Some(rest) = line.strip_prefix("admin API on ") {
                admin = rest.split(' ').next().unwrap().to_owned();
            }
        }
        // The rest of its output is not read: the node must not block on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Node { child, data, phone, admin }
    }

    pub(crate) fn opendls(&self, args: &[&str]) -> std::process::Output {
        Command::new(env!("CARGO_BIN_EXE_opendls"))
            .args(args)
            .env("OPENDLS_ADMIN_URL", &self.admin)
            .env("OPENDLS_DATA", &self.data)
            .env_remove("OPENDLS_ADMIN_TOKEN")
            .output()
            .unwrap()
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `opendls phonesim` against `nodes`, its JSON report.
fn phonesim(nodes: &[&Node], boot_within: &str) -> (bool, serde_json::Value) {
    phonesim_calling(nodes, boot_within, "start-up")
}

/// `opendls phonesim` against `nodes`, the phones calling for `reason`.
fn phonesim_calling(nodes: &[&Node], boot_within: &str, reason: &str) -> (bool, serde_json::Value) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_opendls"));
    command.args(["phonesim", "--phones", &PHONES.to_string(), "--boot-within", boot_within, "--json"]);
    command.args(["--reason", reason]);
    for node in nodes {
        command.args(["--server", &node.phone]);
    }
    let output = command.output().unwrap();
    (output.status.success(), serde_json::from_str(&stdout(&output)).unwrap())
}

/// How many interactions of a report were sent `action`.
fn steps(report: &serde_json::Value, action: &str) -> u64 {
    report["step_latency"][action]["count"].as_u64().unwrap_or(0)
}

async fn count(db: &tokio_postgres::Client, sql: &str) -> i64 {
    db.query_one(sql, &[]).await.unwrap().get(0)
}

/// The test server, or `None` (the test is skipped, unless CI requires it).
fn postgres_url() -> Option<String> {
    let url = std::env::var("OPENDLS_TEST_POSTGRES").ok().filter(|url| !url.is_empty());
    if url.is_none() {
        assert!(std::env::var_os("OPENDLS_REQUIRE_POSTGRES").is_none(), "OPENDLS_TEST_POSTGRES is not set");
        eprintln!("PostgreSQL test skipped: set OPENDLS_TEST_POSTGRES to run it");
    }
    url
}

/// A scratch schema on the test server and a client of it.
fn scratch(
    runtime: &tokio::runtime::Runtime,
    url: &str,
) -> (String, opendls_store::postgres::testing::ScratchSchema, tokio_postgres::Client) {
    let (scoped, schema) = runtime.block_on(opendls_store::postgres::testing::scratch_schema(url));
    let db = runtime.block_on(async {
        let (client, connection) = tokio_postgres::connect(&scoped, tokio_postgres::NoTls).await.unwrap();
        tokio::spawn(connection);
        client
    });
    (scoped, schema, db)
}

#[test]
fn two_nodes_serve_one_fleet_and_one_survives_the_others_death() {
    let Some(url) = postgres_url() else { return };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (scoped, _schema, db) = scratch(&runtime, &url);
    let dir = tempfile::tempdir().unwrap();
    let a = Node::start(&scoped, dir.path(), "a");
    let mut b = Node::start(&scoped, dir.path(), "b");
    for file in ["admin-token", "secrets.key", "ca-cert.pem", "ca-key.pem", "file-token.key"] {
        let (ours, theirs) =
            (std::fs::read(a.data.join(file)).unwrap(), std::fs::read(b.data.join(file)).unwrap());
        assert!(ours == theirs, "{file}: the second node took the first's");
    }

    // The boot storm, each phone's requests alternating between the nodes.
    let (ok, report) = phonesim(&[&a, &b], "5");
    assert!(ok, "{report:#}");
    assert_eq!(report["completed"], PHONES);
    assert_eq!(runtime.block_on(count(&db, "SELECT count(*) FROM devices WHERE reported != '[]'")), 500);

    // A read and a restart for every phone, handed out at each phone's next call (solicited,
    // as after contact-me) by whichever node it reaches: each sent exactly once per phone. The
    // restart is done when the phone starts up again (guide p. 50).
    for job in [&["read-items", "--item", "sntp-tz-offset"][..], &["restart"]] {
        let created = b.opendls(&[&["job", "create"], job, &["--all", "--no-contact-me"]].concat());
        assert!(created.status.success(), "{}", crate::support::stderr(&created));
    }
    let (ok, report) = phonesim_calling(&[&a, &b], "5", "solicited");
    assert!(ok, "{report:#}");
    assert_eq!(steps(&report, "ReadItems"), u64::from(PHONES), "each phone read once: {report:#}");
    assert_eq!(steps(&report, "Restart"), u64::from(PHONES), "each phone restarted once: {report:#}");
    let (ok, report) = phonesim(&[&b, &a], "5");
    assert!(ok, "{report:#}");
    assert_eq!(steps(&report, "ReadItems") + steps(&report, "Restart"), 0, "never twice: {report:#}");
    let done = "SELECT count(*) FROM job_targets WHERE state = 'done' AND finished_at IS NOT NULL";
    assert_eq!(runtime.block_on(count(&db, done)), 1000, "500 reads and 500 restarts done");

    // One node killed (SIGKILL) in the middle of a storm: phones whose request it held fail that
    // interaction, as real phones would, and come back; the rest go on on the other node.
    let started = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let mut storm = Command::new(env!("CARGO_BIN_EXE_opendls"));
    storm.args(["phonesim", "--phones", &PHONES.to_string(), "--boot-within", "6", "--json"]);
    storm.args(["--server", &a.phone, "--server", &b.phone]).stdout(Stdio::piped()).stderr(Stdio::null());
    let storm = storm.spawn().unwrap();
    std::thread::sleep(std::time::Duration::from_secs(2));
    b.child.kill().unwrap(); // SIGKILL
    b.child.wait().unwrap();
    let output = storm.wait_with_output().unwrap();
    let report: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    let (completed, failed) = (report["completed"].as_u64().unwrap(), report["failed"].as_u64().unwrap());
    assert_eq!(completed + failed, u64::from(PHONES), "{report:#}");
    assert!(completed > u64::from(PHONES) / 2, "most phones completed on the surviving node: {report:#}");
    let (ok, report) = phonesim(&[&a], "3");
    assert!(ok && report["completed"] == PHONES, "every phone completes on the surviving node: {report:#}");
    assert_eq!(
        runtime.block_on(count(&db, "SELECT count(*) FROM devices")),
        500,
        "no device lost or doubled"
    );
    let since = format!("SELECT count(*) FROM devices WHERE last_contact >= {started} AND reported != '[]'");
    assert_eq!(runtime.block_on(count(&db, &since)), 500, "every phone's contact since the kill is stored");
    eprintln!(
        "SIGKILL mid-storm: {completed} phones completed, {failed} failed and completed on the next run"
    );
    let listed = a.opendls(&["device", "list"]);
    assert!(crate::support::stderr(&listed).contains("of 500"), "the surviving node serves the admin API");
}

/// An installation that began on SQLite moves to PostgreSQL: every table copied and counted,
/// its keys shared, and a new node with an empty data directory serves the same fleet, secrets
/// included. A second copy into the now full database is refused.
#[test]
fn an_sqlite_installation_moves_to_postgres() {
    let Some(url) = postgres_url() else { return };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (scoped, _schema, db) = scratch(&runtime, &url);
    let dir = tempfile::tempdir().unwrap();
    let single = Node::start("", dir.path(), "single");
    let (ok, report) = phonesim(&[&single], "2");
    assert!(ok, "{report:#}");
    let set = single.opendls(&["config", "set", "--global", "sip-pwd=s3cret-4711", "sntp-tz-offset=60"]);
    assert!(set.status.success(), "{}", crate::support::stderr(&set));
    let job = single.opendls(&["job", "create", "read-items", "--item", "e164", "--all", "--no-contact-me"]);
    assert!(job.status.success(), "{}", crate::support::stderr(&job));
    let source = single.data.clone();
    drop(single); // stopped (SIGKILL: the copy starts from what SQLite committed)

    let from = format!("sqlite:{}", source.display());
    let migrate = |to: &str| {
        Command::new(env!("CARGO_BIN_EXE_opendls"))
            .args(["migrate", "--from", &from, "--to", to])
            .output()
            .unwrap()
    };
    let copied = migrate(&scoped);
    assert!(copied.status.success(), "{}", crate::support::stderr(&copied));
    let table = stdout(&copied);
    for expected in
        ["devices                       500        500", "jobs                            1          1"]
    {
        assert!(table.contains(expected), "{table}");
    }
    assert!(crate::support::stderr(&copied).contains("every count matches"));
    assert_eq!(runtime.block_on(count(&db, "SELECT count(*) FROM job_targets")), 500);

    // A node that never saw the SQLite installation: it takes the keys and serves the fleet.
    let node = Node::start(&scoped, dir.path(), "new-node");
    assert_eq!(
        std::fs::read(node.data.join("secrets.key")).unwrap(),
        std::fs::read(source.join("secrets.key")).unwrap()
    );
    let (ok, report) = phonesim(&[&node], "3");
    assert!(ok, "{report:#}");
    assert_eq!(steps(&report, "ReadItems"), u64::from(PHONES), "the copied job goes on: {report:#}");
    // The values set on SQLite reach the phones: the sealed SIP password opened with the key
    // the new node took from the database.
    assert!(report["items_written"].as_u64().unwrap() >= 2 * u64::from(PHONES), "{report:#}");
    let shown = node.opendls(&["config", "show", "--global"]);
    assert!(shown.status.success() && stdout(&shown).contains("sip-pwd"), "{}", stdout(&shown));

    let again = migrate(&scoped);
    assert!(!again.status.success());
    assert!(crate::support::stderr(&again).contains("not empty"), "{}", crate::support::stderr(&again));
}

/// `opendls bench backends` runs each setup and reports SQLite as its baseline.
#[test]
fn the_backends_benchmark_compares_the_three_setups() {
    let Some(url) = postgres_url() else { return };
    let output = Command::new(env!("CARGO_BIN_EXE_opendls"))
        .args(["bench", "backends", "--phones", "20", "--boot-within", "1", "--json", "--database", &url])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", crate::support::stderr(&output));
    let runs: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    let setups: Vec<&str> = runs.as_array().unwrap().iter().map(|r| r["setup"].as_str().unwrap()).collect();
    assert_eq!(setups, ["sqlite", "postgres", "postgres x2"]);
    assert!(
        runs.as_array()
            .unwrap()
            .iter()
            .all(|r| r["completed"] == 20 && r["interactions_per_sec"].as_f64() > Some(0.0))
    );
    assert_eq!(runs[0]["ratio_to_sqlite"], 1.0);
}
