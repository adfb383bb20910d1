//! The `opendls` command: one binary, one subcommand per job. Exit codes: 0 success, 1 the
//! server (or the catalog) refused or found nothing, 2 the command could not run (arguments,
//! configuration, connection, authentication).

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
pub(crate) use args::{BenchCommand, DemoArgs, DownloadsArgs, PhonesimArgs, ServeArgs, StormArgs};
use clap::{Args, Parser, Subcommand};
pub(crate) use connection::Connection;

mod admin;
mod args;
mod bench;
mod connection;
mod demo;
mod files;
mod fleet;
mod inspect;
mod jobs;
mod output;
mod phonesim;
mod pins;
mod provisioning;
mod secret_input;
mod security;
mod serve;
mod templates;

/// Provisioning service for OpenStage / OpenScape Desk Phone IP phones (WorkPoint Interface).
#[derive(Parser)]
#[command(name = "opendls", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the service: phone listener (HTTPS) and admin API. Creates the data directory, the
    /// database, a server certificate and an admin token on first start.
    Serve(ServeArgs),
    /// Devices: list them, or show one with its reported items, pending changes and history.
    Device {
        #[command(subcommand)]
        command: DeviceCommand,
        #[command(flatten)]
        connection: Connection,
    },
    /// Desired configuration at global, model, group or device scope; templates; what a
    /// device gets and why.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
        #[command(flatten)]
        connection: Connection,
    },
    /// Jobs: push configuration now, read items, restart or factory-reset phones, deploy
    /// certificates for their web interface; list, show
    /// and cancel them.
    Job {
        #[command(subcommand)]
        command: JobCommand,
        #[command(flatten)]
        connection: Connection,
    },
    /// Secure Mode: the mode per device, group or globally; a device's state and certificates;
    /// revoke; reset to Default Mode; PINs; the CA.
    Security {
        #[command(subcommand)]
        command: SecurityCommand,
        #[command(flatten)]
        connection: Connection,
    },
    /// Template variables per device, group or globally (`{{device.var.NAME}}` …).
    Var {
        #[command(subcommand)]
        command: templates::VarCommand,
        #[command(flatten)]
        connection: Connection,
    },
    /// Groups of devices.
    Group {
        #[command(subcommand)]
        command: GroupCommand,
        #[command(flatten)]
        connection: Connection,
    },
    /// What happens to changes made on the phone itself.
    Policy {
        #[command(subcommand)]
        command: PolicyCommand,
        #[command(flatten)]
        connection: Connection,
    },
    /// Benchmarks that print figures (see BENCHMARKS.md).
    Bench {
        #[command(subcommand)]
        command: BenchCommand,
    },
    /// A server and a few dozen simulated phones on loopback: watch them register and be
    /// configured, then try the administration commands against it.
    Demo(DemoArgs),
    /// Simulate phones: a fleet boots against a WPI service (opendls or any other) and the run
    /// ends with a report (completed, failed, overload, latency per step).
    Phonesim(PhonesimArgs),
    /// Firmware images for phones: add one from a file, list, show, make a download URL, remove.
    Firmware {
        #[command(subcommand)]
        command: files::FirmwareCommand,
        #[command(flatten)]
        connection: Connection,
    },
    /// Files for phones (ringtones, logos, pictures, screensavers, music on hold, LDAP
    /// templates): add one, list, show, make a download URL, remove.
    File {
        #[command(subcommand)]
        command: files::FileCommand,
        #[command(flatten)]
        connection: Connection,
    },
    /// Decode a captured WPI message (phone or service side), check its items against the
    /// catalog and print them. Reads standard input when FILE is `-` or missing.
    Decode {
        /// The XML body, as captured.
        file: Option<PathBuf>,
        /// Print item values that are secrets (passwords, keys, PINs) instead of masking them.
        #[arg(long)]
        show_secrets: bool,
    },
    /// Look up item names in the catalog: one item in full, or every name containing TEXT.
    Catalog {
        /// An exact item name or part of one; all items when missing.
        text: Option<String>,
    },
}

#[derive(Subcommand)]
pub(crate) enum DeviceCommand {
    /// Known devices, filtered and a page at a time.
    List(DeviceListArgs),
    /// Prepare a device before the phone exists: it is bound at its first contact by MAC, else
    /// by the E.164 number it reports, and gets the group, the number and the variables.
    Add(provisioning::DeviceAddArgs),
    /// Prepare many devices from a CSV file (mac,e164,group,var.NAME…): all or none.
    Import(provisioning::ImportArgs),
    /// The prepared devices: which are bound to a phone, and refused claims.
    Provisioned,
    /// Remove a prepared device by its number (a phone bound to it keeps what it got).
    Unprovision {
        /// Its number (`opendls device provisioned`).
        id: i64,
    },
    /// Approve devices the unknown-device policy held back (quarantined or rejected): they are
    /// configured from their next contact on (`--push`: now).
    Approve(provisioning::ApproveArgs),
    /// Forget a device: its record, history and device-scope values; its unfinished job
    /// targets are cancelled. It registers anew if it calls in again. Devices in Secure Mode
    /// must be reset first.
    Remove {
        /// MAC address.
        mac: String,
    },
    /// One device in full.
    Show {
        /// MAC address.
        mac: String,
        /// How many history entries to show (at most 1000 a page).
        #[arg(long, default_value_t = 20)]
        history: u32,
        /// Skip this many of the newest history entries (the next page).
        #[arg(long, default_value_t = 0)]
        history_offset: u32,
    },
    /// Mark phones as behind NAT: they are told to poll the DCMP listener for pending work
    /// (guide p. 15, 24), at their next contact.
    BehindNat {
        #[command(flatten)]
        scope: ScopeArgs,
        /// Stop polling instead.
        #[arg(long)]
        off: bool,
        /// Seconds between polls (default: the service's `jobs.dcmp_poll_interval_secs`).
        #[arg(long)]
        interval: Option<u64>,
    },
}

/// `opendls device list` options.
#[derive(Args)]
pub(crate) struct DeviceListArgs {
    /// Model pattern (`*` and `?` are wildcards, any case), e.g. 'OpenStage 6*'.
    #[arg(long)]
    pub model: Option<String>,
    /// Firmware pattern, e.g. 'V3 R5*'.
    #[arg(long)]
    pub firmware: Option<String>,
    /// Devices of this group; `-` for devices in no group.
    #[arg(long)]
    pub group: Option<String>,
    /// Secure Mode state: default, bootstrapping, awaiting-tan, secure or locked.
    #[arg(long)]
    pub state: Option<String>,
    /// Approval: approved, pending (quarantined) or rejected.
    #[arg(long)]
    pub approval: Option<String>,
    /// Devices waiting for approval (quarantined): `--approval pending`.
    #[arg(long, conflicts_with = "approval")]
    pub pending: bool,
    /// Devices seen since: a time (2026-12-01T08:00:00Z) or an age (90s, 30m, 24h, 7d).
    #[arg(long)]
    pub seen_since: Option<String>,
    /// Devices a page (at most 10000).
    #[arg(long, default_value_t = 100)]
    pub limit: u32,
    /// Skip this many (the next page).
    #[arg(long, default_value_t = 0)]
    pub offset: u32,
}

#[derive(Subcommand)]
pub(crate) enum JobCommand {
    /// Create a job: KIND is apply-configuration, read-items, restart, factory-reset,
    /// deploy-wbm-certificate, deploy-firmware, deploy-file, deploy-files or delete-files.
    Create(Box<JobCreateArgs>),
    /// The latest jobs with their targets counted by state.
    List {
        /// How many.
        #[arg(long, default_value_t = 20)]
        limit: u32,
    },
    /// One job with each target's state and detail.
    Show {
        /// Job number.
        id: i64,
    },
    /// Cancel a job's unfinished targets.
    Cancel {
        /// Job number.
        id: i64,
    },
    /// Pause a job: targets not yet contacted are held, no more are released.
    Pause {
        /// Job number.
        id: i64,
    },
    /// Resume a paused job; the failures so far no longer count against --max-failures.
    Resume {
        /// Job number.
        id: i64,
    },
}

/// `opendls job create` options.
#[derive(Args)]
pub(crate) struct JobCreateArgs {
    /// apply-configuration, read-items, restart, factory-reset, deploy-wbm-certificate,
    /// deploy-firmware, deploy-file, deploy-files or delete-files.
    pub kind: String,
    /// For read-items: an item to read, `NAME` or `NAME[INDEX]` (repeat for more).
    #[arg(long = "item")]
    pub items: Vec<String>,
    /// A target device by MAC (repeat for more).
    #[arg(long = "device")]
    pub devices: Vec<String>,
    /// The devices of a group.
    #[arg(long, conflicts_with_all = ["devices", "all"])]
    pub group: Option<String>,
    /// Devices whose model matches (`*` and `?` are wildcards), e.g. 'OpenStage 6*'.
    #[arg(long, conflicts_with_all = ["devices", "group", "all"])]
    pub model: Option<String>,
    /// Devices whose firmware matches, e.g. 'V3 R1*'.
    #[arg(long, conflicts_with_all = ["devices", "group", "all"])]
    pub firmware: Option<String>,
    /// Every known device.
    #[arg(long, conflicts_with_all = ["devices", "group"])]
    pub all: bool,
    /// Do not contact the phones; the work waits for each phone's next contact.
    #[arg(long)]
    pub no_contact_me: bool,
    /// Seconds after which unfinished targets end timed-out (default: the service's setting).
    #[arg(long)]
    pub give_up_after: Option<u64>,
    /// Required for factory-reset: it erases the phones' configuration.
    #[arg(long)]
    pub confirm_factory_reset: bool,
    /// For read-items: read names the item catalog does not know.
    #[arg(long)]
    pub allow_unknown: bool,
    /// For deployments: a stored file's number (`opendls firmware list`, `opendls file list`);
    /// for delete-files also TYPE:NAME of a file on the phones (repeat for more).
    #[arg(long = "file")]
    pub files: Vec<String>,
    /// For deploy-firmware: install on phones that run a newer version too.
    #[arg(long)]
    pub allow_downgrade: bool,
    /// For deploy-firmware: install even during a call (file-priority immediate).
    #[arg(long)]
    pub immediate: bool,
    /// Staged rollout: the first wave, a number of phones (5) or a share (10%); the rest waits
    /// until it is finished.
    #[arg(long)]
    pub canary: Option<String>,
    /// Staged rollout: phones per wave after the canary.
    #[arg(long)]
    pub batch_size: Option<u32>,
    /// Staged rollout: pause the job when more than N targets failed, or more than P% of those
    /// finished (checked when a wave is finished).
    #[arg(long)]
    pub max_failures: Option<String>,
    /// Wait until every target is finished, showing progress.
    #[arg(long)]
    pub wait: bool,
}

/// Where a desired value applies.
#[derive(Args, Clone)]
#[group(multiple = false)]
pub(crate) struct ScopeArgs {
    /// Every device (required by `config set`, which otherwise asks on a terminal).
    #[arg(long)]
    pub global: bool,
    /// The devices of a group.
    #[arg(long)]
    pub group: Option<String>,
    /// One device, by MAC address.
    #[arg(long)]
    pub device: Option<String>,
}

impl ScopeArgs {
    /// Whether a scope was named at all (none means "every device" only where that is safe).
    pub fn is_named(&self) -> bool {
        self.global || self.group.is_some() || self.device.is_some()
    }
}

/// Where a desired value applies: the scopes of [`ScopeArgs`] and models.
#[derive(Args, Clone)]
#[group(multiple = false)]
pub(crate) struct ConfigScopeArgs {
    /// Every device (required by `config set`, which otherwise asks on a terminal).
    #[arg(long)]
    pub global: bool,
    /// The devices of a model: `OpenStage 60`, `CP4*` (wildcards; the most specific pattern
    /// wins). Beats global; a group or device value beats it.
    #[arg(long)]
    pub model: Option<String>,
    /// The devices of a group.
    #[arg(long)]
    pub group: Option<String>,
    /// One device, by MAC address.
    #[arg(long)]
    pub device: Option<String>,
}

impl ConfigScopeArgs {
    /// Whether a scope was named at all.
    pub fn is_named(&self) -> bool {
        self.global || self.model.is_some() || self.group.is_some() || self.device.is_some()
    }

    /// The scope and target as the admin API takes them.
    pub fn query(&self) -> (String, Option<String>) {
        match (&self.model, &self.group, &self.device) {
            (Some(model), _, _) => ("model".into(), Some(model.clone())),
            (_, Some(group), _) => ("group".into(), Some(group.clone())),
            (_, _, Some(mac)) => ("device".into(), Some(mac.clone())),
            _ => ("global".into(), None),
        }
    }
}

#[derive(Subcommand)]
pub(crate) enum ConfigCommand {
    /// Set values: `NAME=VALUE` or `NAME[INDEX]=VALUE`, checked against the item catalog. A
    /// value with `{{...}}` is a template rendered per device: `sip-user-id={{device.e164}}`.
    Set {
        #[command(flatten)]
        scope: ConfigScopeArgs,
        /// One or more `NAME=VALUE` / `NAME[INDEX]=VALUE`. `NAME=-` reads the value from
        /// standard input (asked for without echo on a terminal): for passwords, which would
        /// otherwise be visible in the process list.
        #[arg(required = true)]
        items: Vec<String>,
        /// Push the change now: create an apply-configuration job with contact-me for the
        /// scope's devices instead of waiting for their next contact.
        #[arg(long)]
        push: bool,
        /// Store names the item catalog does not know (items of newer firmware); without it
        /// they are refused with the names they were probably meant to be.
        #[arg(long)]
        allow_unknown: bool,
        /// Check every value and count the devices the change would touch; store nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Remove values: `NAME` or `NAME[INDEX]`.
    Unset {
        #[command(flatten)]
        scope: ConfigScopeArgs,
        /// One or more `NAME` / `NAME[INDEX]`.
        #[arg(required = true)]
        items: Vec<String>,
    },
    /// Show the values at one scope, or at every scope when none is given.
    Show {
        #[command(flatten)]
        scope: ConfigScopeArgs,
    },
    /// Every value a device should have, and where each came from (scope, template,
    /// variables), computed as the phone endpoint computes it.
    Effective {
        /// The device's MAC address.
        mac: String,
    },
    /// Render every template for every known device and list what cannot be rendered (a
    /// missing variable, a value out of the item's range): those items are not written.
    Check {
        /// The most problems listed.
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
}

#[derive(Subcommand)]
pub(crate) enum SecurityCommand {
    /// Set the security mode: default, secure (bootstrap without PIN, guide p. 64) or
    /// secure-pin (the user types a PIN on the phone, p. 65-68), at a scope.
    Mode {
        /// default, secure or secure-pin.
        #[arg(required_unless_present = "unset")]
        mode: Option<String>,
        #[command(flatten)]
        scope: ScopeArgs,
        /// Remove the setting at this scope instead.
        #[arg(long, conflicts_with = "mode")]
        unset: bool,
        /// Move the devices now: contact them (an apply-configuration job with contact-me)
        /// instead of waiting for their next contact.
        #[arg(long)]
        push: bool,
    },
    /// Every configured mode.
    Modes,
    /// A device's mode, state, certificates and TLS offer.
    Show {
        /// MAC address.
        mac: String,
    },
    /// Revoke a device's certificates: refused on the secure port at once (the Default port
    /// stays closed to it until it is reset).
    Revoke {
        /// MAC address.
        mac: String,
        /// Why, for the record.
        #[arg(long)]
        reason: Option<String>,
    },
    /// Reset a device to Default Mode (after a factory reset of the phone, say): its
    /// certificates are revoked and the Default port serves it again.
    Reset {
        /// MAC address.
        mac: String,
        /// Why, for the record.
        #[arg(long)]
        reason: Option<String>,
    },
    /// Print the CA certificate (or, with --server, the secure port's certificate chain).
    ExportCa {
        /// The secure port's certificate chain instead of the CA.
        #[arg(long)]
        server: bool,
        /// Write to this file instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Use your own CA (certificate and key, PEM) instead of the generated one. Run it while
    /// the service is stopped; it writes into the data directory.
    ImportCa {
        /// The CA certificate (PEM).
        #[arg(long)]
        cert: PathBuf,
        /// Its private key (PEM, PKCS#1 or PKCS#8).
        #[arg(long)]
        key: PathBuf,
    },
    /// Issue both server certificates (Default port and secure port) anew for the configured
    /// names; the CA stays. A start does this by itself when `public_address` gained a name the
    /// certificates lack; this forces it (a suspected key leak, say). Restart the service after.
    ReissueServerCertificates {
        /// The configuration file the service runs with (for `public_address`).
        #[arg(long)]
        config: Option<PathBuf>,
        /// The address or name phones reach the service at, if not the configured one.
        #[arg(long)]
        public_address: Option<String>,
    },
    /// PINs for Secure Mode with PIN.
    Pin {
        #[command(subcommand)]
        command: PinCommand,
    },
    /// Seal the database's secrets (SIP passwords, PINs, ...) with a new key. Offline, in two
    /// steps: run it with the service stopped (a new key is added; every secret is re-sealed
    /// with it, the old key stays), start the service again, then run it with `--retire-old`
    /// to remove the old key from the key file.
    RotateSecretsKey {
        /// The key file, if not `secrets.key` in the data directory.
        #[arg(long)]
        key_file: Option<PathBuf>,
        /// Remove the old keys (after a restart; refused while any value still needs them).
        #[arg(long)]
        retire_old: bool,
    },
}

#[derive(Subcommand)]
pub(crate) enum PinCommand {
    /// Generate a device's individual PIN; it is printed only now.
    Generate {
        /// MAC address (the device need not have registered yet).
        mac: String,
    },
    /// Remove a device's individual PIN (its group's default applies again).
    Remove {
        /// MAC address.
        mac: String,
    },
    /// Set a group's default PIN (generated unless --pin is given) and print it.
    SetGroup {
        /// Group name.
        group: String,
        /// The PIN: 4 to 32 letters or digits; `-` reads it from standard input (or asks for
        /// it on a terminal), so that it is not visible in the process list.
        #[arg(long)]
        pin: Option<String>,
    },
    /// Print a group's default PIN.
    ShowGroup {
        /// Group name.
        group: String,
    },
    /// Remove a group's default PIN.
    RemoveGroup {
        /// Group name.
        group: String,
    },
}

#[derive(Subcommand)]
pub(crate) enum GroupCommand {
    /// Every group: its devices, values, policy, security mode and PIN.
    List,
    /// One group: its devices and values.
    Show {
        /// Group name.
        name: String,
    },
    /// Remove a group: its values, policy, security mode and PIN. Refused while devices are in
    /// it, unless --force puts them in no group.
    Remove {
        /// Group name.
        name: String,
        /// Put its devices in no group.
        #[arg(long)]
        force: bool,
    },
    /// Put a device in a group (its group's configuration applies), or take it out with --none.
    Assign {
        /// MAC address.
        mac: String,
        /// Group name.
        #[arg(required_unless_present = "none")]
        group: Option<String>,
        /// Remove the device from its group.
        #[arg(long, conflicts_with = "group")]
        none: bool,
    },
}

#[derive(Subcommand)]
pub(crate) enum PolicyCommand {
    /// The stored local-change policies (global and per group).
    Show,
    /// Set the local-change policy: accept-unmanaged (default), accept, revert or flag.
    Set {
        /// The policy.
        policy: String,
        /// Set it for one group instead of globally.
        #[arg(long)]
        group: Option<String>,
    },
}

/// A failure with the exit code it maps to.
#[derive(Debug)]
pub(crate) struct Refused(pub String);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Refused {}

fn main() -> ExitCode {
    output::exit_quietly_when_stdout_closes();
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::Serve(args) => serve::run(args),
        Command::Phonesim(args) => phonesim::run(args),
        Command::Demo(args) => demo::run(args),
        Command::Bench { command: BenchCommand::Storm(args) } => bench::storm(args),
        Command::Bench { command: BenchCommand::Downloads(args) } => bench::downloads(args),
        Command::Bench { command: BenchCommand::TlsServer { data_dir } } => bench::tls_server(&data_dir),
        Command::Decode { file, show_secrets } => {
            read_input(file).and_then(|body| inspect::decode(&body, show_secrets))
        }
        Command::Catalog { text } => inspect::catalog(text.as_deref()),
        Command::Device { command, connection } => admin::run(connection, admin::Request::Device(command)),
        Command::Config { command, connection } => admin::run(connection, admin::Request::Config(command)),
        Command::Job { command, connection } => jobs::run(connection, command),
        Command::Security { command, connection } => security::run(connection, command),
        Command::Var { command, connection } => templates::run_var(connection, command),
        Command::Group { command, connection } => admin::run(connection, admin::Request::Group(command)),
        Command::Policy { command, connection } => admin::run(connection, admin::Request::Policy(command)),
        Command::Firmware { command, connection } => files::run_firmware(connection, command),
        Command::File { command, connection } => files::run_file(connection, command),
    };
    match outcome {
        Ok(code) => code,
        Err(err) if err.downcast_ref::<Refused>().is_some() => {
            eprintln!("opendls: {err:#}");
            ExitCode::from(1)
        }
        Err(err) => {
            eprintln!("opendls: {err:#}");
            ExitCode::from(2)
        }
    }
}

fn read_input(file: Option<PathBuf>) -> Result<Vec<u8>> {
    match file {
        Some(path) if path.as_os_str() != "-" => {
            std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))
        }
        _ => {
            let mut body = Vec::new();
            std::io::stdin().read_to_end(&mut body).context("cannot read standard input")?;
            Ok(body)
        }
    }
}
