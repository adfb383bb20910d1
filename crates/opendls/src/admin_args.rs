//! Options of the administration commands, thin clients of the admin API: `device`, `config`,
//! `job`, `security`, `group`, `policy`.

use std::path::PathBuf;

use clap::{Args, Subcommand};

#[derive(Subcommand)]
pub(crate) enum DeviceCommand {
    /// Known devices, filtered and a page at a time.
    List(DeviceListArgs),
    /// Prepare a device before the phone exists: it is bound at its first contact by MAC, else
    /// by the E.164 number it reports, and gets the group, the number and the variables.
    Add(crate::provisioning::DeviceAddArgs),
    /// Prepare many devices from a CSV file (mac,e164,group,var.NAME…): all or none.
    Import(crate::provisioning::ImportArgs),
    /// Every known device and every prepared one not yet bound (MAC, E.164, groups, device
    /// variables) as CSV for `device import` on another installation, or JSON.
    Export(crate::site::DeviceExportArgs),
    /// The prepared devices: which are bound to a phone, and refused claims.
    Provisioned,
    /// Remove a prepared device by its number (a phone bound to it keeps what it got).
    Unprovision {
        /// Its number (`opendls device provisioned`).
        id: i64,
    },
    /// Approve devices the unknown-device policy held back (quarantined or rejected): they are
    /// configured from their next contact on (`--push`: now).
    Approve(crate::provisioning::ApproveArgs),
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
        /// Check every value, count the devices the change would touch and list what changes
        /// for each (the first 100); store nothing.
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
    /// What each phone would be sent at its next contact (one device, a group, a model, or
    /// every device), and what is held back and why: computed by the engine the phone
    /// endpoint runs.
    Diff(crate::preview::DiffArgs),
    /// Every value and variable of the site as a TOML (or JSON) file on standard output, for
    /// version control; secrets are masked.
    Export(crate::site::ExportArgs),
    /// Apply a site file: the diff against what is stored (added, changed, removed with
    /// --prune), then stored all or nothing.
    Import(crate::site::ImportArgs),
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
    /// to remove the old key from the key file. On PostgreSQL (`--database`), stop every node,
    /// run it on one: the other nodes take the new key file from the database at their start.
    RotateSecretsKey {
        /// The key file, if not `secrets.key` in the data directory.
        #[arg(long)]
        key_file: Option<PathBuf>,
        /// The PostgreSQL database of a cluster, instead of the data directory's SQLite file.
        #[arg(long, env = "OPENDLS_DATABASE_URL", hide_env_values = true, value_name = "URL")]
        database: Option<String>,
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
    /// it, unless --force takes them out of it.
    Remove {
        /// Group name.
        name: String,
        /// Take its devices out of it (a device in other groups stays in those).
        #[arg(long)]
        force: bool,
    },
    /// Put a device in one or more groups (replacing the ones it is in), or take it out of every
    /// group with --none. Where two of its groups set the same item, the first named wins; the
    /// first group alone decides the policy, Secure Mode, PIN and firmware pin.
    Assign {
        /// MAC address.
        mac: String,
        /// Group names, the winning one first.
        #[arg(required_unless_present = "none")]
        groups: Vec<String>,
        /// Remove the device from every group.
        #[arg(long, conflicts_with = "groups")]
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
