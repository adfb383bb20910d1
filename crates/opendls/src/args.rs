//! Options of the commands that run something: `serve`, `bench`, `demo`, `phonesim`.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Subcommand};

/// `opendls serve` options; each overrides the configuration file and the environment.
#[derive(Args)]
pub(crate) struct ServeArgs {
    /// TOML configuration file.
    #[arg(long, env = "OPENDLS_CONFIG")]
    pub config: Option<PathBuf>,
    /// Print a configuration file with every field at its default, and what each does; then
    /// exit (`opendls serve --print-config > opendls.toml`).
    #[arg(long)]
    pub print_config: bool,
    /// Data directory (database, certificates, admin token).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// The database: a PostgreSQL server (`postgres://user:password@host:5432/db`) that several
    /// nodes share, instead of the embedded SQLite database in the data directory.
    #[arg(long, env = "OPENDLS_DATABASE_URL", hide_env_values = true, value_name = "URL")]
    pub database: Option<String>,
    /// Phone listener address (HTTPS), e.g. 0.0.0.0:18443.
    #[arg(long)]
    pub phone_listen: Option<SocketAddr>,
    /// Admin API address, e.g. 127.0.0.1:18080 (plain HTTP on loopback, HTTPS elsewhere).
    #[arg(long)]
    pub admin_listen: Option<SocketAddr>,
    /// Serve the admin API over plain HTTP even on a non-loopback address (the token then
    /// crosses the network in the clear; for a TLS proxy on the same host).
    #[arg(long)]
    pub insecure_admin: bool,
    /// Host name or address phones use to reach this service.
    #[arg(long)]
    pub public_address: Option<String>,
    /// DCMP listener address (plain HTTP, phones behind NAT poll it), or `off`.
    #[arg(long)]
    pub dcmp_listen: Option<String>,
    /// Secure Mode listener address (HTTPS with mutual TLS), e.g. 0.0.0.0:18444, or `off`.
    #[arg(long)]
    pub secure_listen: Option<String>,
    /// File server address (HTTPS, where phones download firmware and files), e.g.
    /// 0.0.0.0:18445, or `off`.
    #[arg(long)]
    pub file_listen: Option<String>,
}

#[derive(Subcommand)]
pub(crate) enum BenchCommand {
    /// A boot storm against a local server process, the machine's TLS ceiling measured in the
    /// same run, and a steady state with a large seeded inventory.
    Storm(StormArgs),
    /// Many phones downloading one firmware image from the built-in file server at once, against
    /// one phone alone in the same run; the server's memory and CPU.
    Downloads(DownloadsArgs),
    /// A device list imported from CSV as `opendls device import` does it (100,000 devices by
    /// default), against 1,000 devices imported the same way in the same run.
    Import(ImportBenchArgs),
    /// How the database grows per device and month (a start-up a day, a local change a week,
    /// simulated), and what a year of 50,000 phones takes with the default retention.
    Growth(GrowthArgs),
    /// The same boot storm on one node on SQLite, one node on PostgreSQL and two nodes on
    /// PostgreSQL (each phone's requests alternating between them), in one run.
    Backends(BackendsArgs),
    /// A TCP relay that delays every chunk each way: a database (or anything) across a network,
    /// on one machine (`--database postgres://…@127.0.0.1:15432/…` for `backends`).
    Delay(DelayArgs),
    /// The trivial TLS server the storm measures the ceiling against (used by `storm`).
    #[command(hide = true)]
    TlsServer {
        /// Data directory whose server certificate to use.
        #[arg(long)]
        data_dir: PathBuf,
    },
}

/// `opendls bench import` options.
#[derive(Args)]
pub(crate) struct ImportBenchArgs {
    /// Devices in the large import (at most 200,000, the service's batch limit).
    #[arg(long, default_value_t = 100_000, value_parser = clap::value_parser!(u32).range(1..=200_000))]
    pub devices: u32,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `opendls bench growth` options.
#[derive(Args)]
pub(crate) struct GrowthArgs {
    /// Simulated phones.
    #[arg(long, default_value_t = 200)]
    pub phones: u32,
    /// Simulated days (each phone contacts the service once a day; the first is the base the
    /// growth is measured from, so at least 2).
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u32).range(2..=366))]
    pub days: u32,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `opendls bench downloads` options.
#[derive(Args)]
pub(crate) struct DownloadsArgs {
    /// Phones downloading at once.
    #[arg(long, default_value_t = 1000)]
    pub phones: u32,
    /// The image's size in MiB.
    #[arg(long, default_value_t = 20.0)]
    pub size_mib: f64,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `opendls bench storm` options.
#[derive(Args)]
pub(crate) struct StormArgs {
    /// Phones in the storm.
    #[arg(long, default_value_t = 2000)]
    pub phones: u32,
    /// Seconds within which they all boot.
    #[arg(long, default_value_t = 10.0)]
    pub boot_within: f64,
    /// Devices seeded for the steady state (0 skips it).
    #[arg(long, default_value_t = 100_000)]
    pub steady_devices: u32,
    /// Known phones calling in during the steady state.
    #[arg(long, default_value_t = 1000)]
    pub steady_phones: u32,
    /// The server's `limits.max_interactions_in_flight` (default: its own default).
    #[arg(long)]
    pub max_in_flight: Option<usize>,
    /// The server's `limits.admission_target_delay_millis` (default: its own default; 0 fixes
    /// the admission bound at `--max-in-flight`).
    #[arg(long)]
    pub admission_target_ms: Option<u64>,
    /// The server's `limits.admission_wait_millis` (default: its own default; 0 answers
    /// `overload` at once).
    #[arg(long)]
    pub admission_wait_ms: Option<u64>,
    /// Times a phone whose connection failed starts its contact again after a random 1-5 s,
    /// as phones retry (guide p. 72); each retry is reported by kind. 0: a failed connection
    /// fails the phone.
    #[arg(long, default_value_t = 10)]
    pub connection_retries: u32,
    /// Run a storm with targets and check them (sets `--phones` and `--boot-within`, skips the
    /// steady state, exit code 1 when a target is missed).
    #[arg(long, value_enum)]
    pub scenario: Option<crate::bench::Scenario>,
    /// The server's `limits.listen_backlog` (default: its own default, 4096).
    #[arg(long)]
    pub listen_backlog: Option<u32>,
    /// Fraction of the storm's phones that resume their TLS session on their next connection
    /// (1 full handshake per interaction instead of 3); the report counts the server's full
    /// and resumed handshakes.
    #[arg(long, default_value_t = 0.0)]
    pub resume_fraction: f64,
    /// Pin the server and the TLS-only baseline to half of the cores and the simulated phones
    /// to the other half (`auto`: when there are at least two; `off`: everything shares every
    /// core, as before).
    #[arg(long, default_value = "auto", value_parser = ["auto", "on", "off"])]
    pub pin: String,
    /// The server's `database.synchronous`: mixed (its default), full or normal.
    #[arg(long, default_value = "mixed")]
    pub synchronous: String,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `opendls demo` options.
#[derive(Args)]
pub(crate) struct DemoArgs {
    /// How many simulated phones.
    #[arg(long, default_value_t = 30)]
    pub phones: u32,
    /// Keep the data in this directory instead of a temporary one.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
}

/// `opendls phonesim` options.
#[derive(Args)]
pub(crate) struct PhonesimArgs {
    /// Why the phones call: `start-up` (they boot), `solicited` (they call back, as after
    /// contact-me), `local-changes` or `inventory-changes`.
    #[arg(long, default_value = "start-up")]
    pub reason: String,
    /// The service: `https://host:port`, `host:port` or `host` (port 18443). Given more than
    /// once (nodes of one cluster), each phone sends its requests to each in turn, also within
    /// an interaction.
    #[arg(long, default_value = "https://127.0.0.1:18443")]
    pub server: Vec<String>,
    /// How many phones.
    #[arg(long, default_value_t = 20)]
    pub phones: u32,
    /// Seconds within which all phones boot.
    #[arg(long, default_value_t = 5.0)]
    pub boot_within: f64,
    /// Number of the first phone (its MAC is 00:1A:E8 followed by the number).
    #[arg(long, default_value_t = 1)]
    pub first: u32,
    /// Fraction of phones in a call at boot (writes refused as busy, call-back when the call ends).
    #[arg(long, default_value_t = 0.0)]
    pub busy_fraction: f64,
    /// Seconds a call lasts.
    #[arg(long, default_value_t = 3.0)]
    pub call_duration: f64,
    /// Items per fragment of the phones' long replies (default: split only at 50 kB).
    #[arg(long)]
    pub fragment_items: Option<usize>,
    /// Fraction of phones keeping one connection per interaction (older firmware).
    #[arg(long, default_value_t = 0.0)]
    pub keep_alive_fraction: f64,
    /// Fraction of phones on a slow network.
    #[arg(long, default_value_t = 0.0)]
    pub slow_fraction: f64,
    /// Milliseconds a slow phone's network adds before each request.
    #[arg(long, default_value_t = 300)]
    pub slow_delay_ms: u64,
    /// Fraction of phones vanishing after their first request (they come back a second later).
    #[arg(long, default_value_t = 0.0)]
    pub vanish_fraction: f64,
    /// Fraction of phones offering only legacy TLS (TLS 1.0/1.1, RSA key exchange, CBC).
    #[arg(long, default_value_t = 0.0)]
    pub legacy_tls_fraction: f64,
    /// Fraction of phones resuming their TLS session on their next connection (each with a
    /// session cache of its own; whether real firmware resumes is not known).
    #[arg(long, default_value_t = 0.0)]
    pub resume_fraction: f64,
    /// Times a phone whose connection failed (refused, reset, TLS failure, no answer in time)
    /// starts its contact again after a random 1-5 s, as phones retry (guide p. 72); the report
    /// counts each retry. 0: a failed connection fails the phone.
    #[arg(long, default_value_t = 0)]
    pub connection_retries: u32,
    /// Models the phones cycle over, by `device-type` or the label's short name, wildcards
    /// allowed (`CP210`, `'CP*'`, `'OpenStage 6*'`, `'*'` for every model); repeatable.
    /// Default: OpenStage 15, 20, 40, 60 and 80.
    #[arg(long = "model", value_name = "PATTERN")]
    pub models: Vec<String>,
    /// Print the report as JSON (no live progress).
    #[arg(long)]
    pub json: bool,
}

/// `opendls bench delay`.
#[derive(clap::Args)]
pub(crate) struct DelayArgs {
    /// Where to listen.
    #[arg(long, default_value = "127.0.0.1:15432")]
    pub listen: std::net::SocketAddr,
    /// Where to carry connections to (e.g. PostgreSQL's 127.0.0.1:5432).
    #[arg(long)]
    pub to: std::net::SocketAddr,
    /// Milliseconds each chunk is held back, in each direction.
    #[arg(long, default_value_t = 1.0, value_parser = delay_ms)]
    pub delay_ms: f64,
}

/// A delay between 0 and 10 s.
fn delay_ms(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(ms) if (0.0..=10_000.0).contains(&ms) => Ok(ms),
        _ => Err(format!("expected milliseconds from 0 to 10000, got {text:?}")),
    }
}

/// `opendls bench backends`.
#[derive(clap::Args)]
pub(crate) struct BackendsArgs {
    /// A PostgreSQL database the benchmark may make (and drops) schemas in.
    #[arg(long, env = "OPENDLS_DATABASE_URL", hide_env_values = true, value_name = "URL")]
    pub database: String,
    /// Phones per storm.
    #[arg(long, default_value_t = 2000)]
    pub phones: u32,
    /// Seconds over which they boot.
    #[arg(long, default_value_t = 10.0)]
    pub boot_within: f64,
    /// How many times each setup runs, interleaved.
    #[arg(long, default_value_t = 1)]
    pub rounds: u32,
    /// Print the runs as JSON.
    #[arg(long)]
    pub json: bool,
}
