//! `opendls device add | import | provisioned | unprovision | approve`: plug & play.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, anyhow, bail};
use clap::Args;
use opendls_api::ProvisionedView;
use opendls_api::{ApprovalRequest, ApprovalResult, ProvisionEntry, ProvisionRequest, ProvisionResult};
use opendls_engine::utc_text;
use reqwest::Method;

use crate::Refused;
use crate::admin::print_table;
use crate::client::Client;

/// `opendls device add` options.
#[derive(Args)]
pub(crate) struct DeviceAddArgs {
    /// The phone's number: configured on it, and what it is recognised by without `--mac`.
    #[arg(long)]
    pub e164: Option<String>,
    /// The phone's MAC address, if known: it is recognised by it.
    #[arg(long)]
    pub mac: Option<String>,
    /// The group it joins; repeat for several groups, the first winning where two set an item.
    #[arg(long)]
    pub group: Vec<String>,
    /// A variable for its templates, `NAME=VALUE` (`{{device.var.NAME}}`); repeatable.
    #[arg(long = "var", value_name = "NAME=VALUE")]
    pub variables: Vec<String>,
    /// A secret variable (a SIP password): sealed at rest and masked wherever shown; `NAME=-`
    /// reads the value from standard input. Repeatable.
    #[arg(long = "secret-var", value_name = "NAME=VALUE")]
    pub secret_variables: Vec<String>,
}

/// `opendls device import` options.
#[derive(Args)]
pub(crate) struct ImportArgs {
    /// A CSV file with a header line naming its columns: `mac`, `e164`, `group` (several
    /// separated by `;`, the first winning) and one `var.NAME` per variable (e.g.
    /// `mac,e164,group,var.name`). `-` reads standard input.
    pub file: PathBuf,
    /// Check every row, store nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// `opendls device approve` options.
#[derive(Args)]
pub(crate) struct ApproveArgs {
    /// The devices, by MAC.
    #[arg(required_unless_present = "all_pending", conflicts_with = "all_pending")]
    pub macs: Vec<String>,
    /// Every quarantined device.
    #[arg(long)]
    pub all_pending: bool,
    /// Configure them now: an apply-configuration job contacts them.
    #[arg(long)]
    pub push: bool,
}

/// `--secret-var NAME=VALUE`; `NAME=-` reads the value from standard input.
fn secret_variables(specs: &[String]) -> Result<BTreeMap<String, String>> {
    let mut secrets = variables(specs)?;
    for (name, value) in secrets.iter_mut() {
        if value == crate::secret_input::FROM_STDIN {
            *value = crate::secret_input::read_secret(name)?;
        }
    }
    Ok(secrets)
}

fn variables(specs: &[String]) -> Result<BTreeMap<String, String>> {
    let mut variables = BTreeMap::new();
    for spec in specs {
        let (name, value) =
            spec.split_once('=').ok_or_else(|| anyhow!("--var {spec:?}: expected NAME=VALUE"))?;
        if variables.insert(name.trim().to_owned(), value.to_owned()).is_some() {
            bail!("--var {name} is given twice");
        }
    }
    Ok(variables)
}

/// Sends prepared devices; refusals are printed with `label` naming each entry.
async fn send(
    client: &Client,
    request: &ProvisionRequest,
    label: impl Fn(usize) -> String,
) -> Result<ProvisionResult> {
    let response = client.send_lenient(Method::POST, "/api/provisioned", request).await?;
    let result: ProvisionResult = response.ok_or_else(|| anyhow!("empty answer"))?;
    if !result.refused.is_empty() {
        for refusal in &result.refused {
            match refusal.same_as {
                Some(first) => {
                    eprintln!("{}: {} (also {})", label(refusal.index), refusal.reason, label(first))
                }
                None => eprintln!("{}: {}", label(refusal.index), refusal.reason),
            }
        }
        let rows = crate::output::plural(result.refused.len(), "problem");
        return Err(Refused(format!("{rows}; nothing stored")).into());
    }
    Ok(result)
}

/// `opendls device add`.
pub(crate) async fn add(client: &Client, args: DeviceAddArgs, json: bool) -> Result<ExitCode> {
    let mut groups = args.group.into_iter();
    let entry = ProvisionEntry {
        mac: args.mac,
        e164: args.e164,
        group: groups.next(),
        other_groups: groups.collect(),
        variables: variables(&args.variables)?,
        secret_variables: secret_variables(&args.secret_variables)?,
    };
    let request = ProvisionRequest { devices: vec![entry], dry_run: false };
    let result = send(client, &request, |_| "refused".to_owned()).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&result)?);
        return Ok(ExitCode::SUCCESS);
    }
    let entry = &request.devices[0];
    let by = match (&entry.mac, &entry.e164) {
        (Some(mac), _) => {
            format!("MAC {}", opendls_engine::normalize_mac(mac).unwrap_or_else(|| mac.clone()))
        }
        (None, Some(number)) => format!("the E.164 number {number} it reports"),
        (None, None) => unreachable!("the server refuses an entry with neither"),
    };
    println!("prepared device {}", result.ids[0]);
    eprintln!("done: the phone is recognised at its first contact by {by} (opendls device provisioned)");
    Ok(ExitCode::SUCCESS)
}

/// A column of the CSV file.
enum Column {
    Mac,
    E164,
    Group,
    /// `var.NAME` (the prefix in any case; the name as written: names are case-sensitive).
    Variable(String),
    /// `secret.NAME`: a secret variable (sealed at rest, masked wherever shown).
    Secret(String),
}

impl Column {
    fn parse(header: &str) -> Option<Column> {
        let header = header.trim();
        match header.to_ascii_lowercase().as_str() {
            "mac" => Some(Column::Mac),
            "e164" => Some(Column::E164),
            "group" => Some(Column::Group),
            lower if lower.starts_with("var.") => Some(Column::Variable(header["var.".len()..].to_owned())),
            lower if lower.starts_with("secret.") => {
                Some(Column::Secret(header["secret.".len()..].to_owned()))
            }
            _ => None,
        }
    }
}

/// One CSV row as a device.
fn row_entry(columns: &[Column], record: &csv::StringRecord) -> ProvisionEntry {
    let mut entry = ProvisionEntry::default();
    for (column, value) in columns.iter().zip(record.iter()) {
        let value = value.trim();
        let field = (!value.is_empty()).then(|| value.to_owned());
        match column {
            Column::Mac => entry.mac = field,
            Column::E164 => entry.e164 = field,
            // Several groups are separated by `;`, the first winning: `sales;berlin`.
            Column::Group => {
                let mut groups = value.split(';').map(str::trim).filter(|g| !g.is_empty()).map(str::to_owned);
                entry.group = groups.next();
                entry.other_groups = groups.collect();
            }
            // An empty cell sets nothing: a template using it then reports the device.
            Column::Variable(name) => {
                if let Some(value) = field {
                    entry.variables.insert(name.clone(), value);
                }
            }
            Column::Secret(name) => {
                if let Some(value) = field {
                    entry.secret_variables.insert(name.clone(), value);
                }
            }
        }
    }
    entry
}

/// The columns of a CSV file, checked.
fn checked_headers(reader: &mut csv::Reader<Box<dyn std::io::Read>>) -> Result<Vec<Column>> {
    let mut columns = Vec::new();
    for header in reader.headers().context("cannot read the header line")? {
        let column = Column::parse(header).ok_or_else(|| {
            Refused(format!(
                "line 1: unknown column {:?} (mac, e164, group, var.NAME, secret.NAME)",
                header.trim()
            ))
        })?;
        columns.push(column);
    }
    if !columns.iter().any(|c| matches!(c, Column::Mac | Column::E164)) {
        return Err(Refused("line 1: a mac or e164 column is needed to recognise the phones".into()).into());
    }
    Ok(columns)
}

/// Devices read from a CSV file, with the line each came from.
pub(crate) struct CsvDevices {
    /// One entry a row.
    pub devices: Vec<ProvisionEntry>,
    /// The line of each entry, for messages.
    pub lines: Vec<u64>,
}

/// Reads a device CSV file (`-`: standard input); every problem is printed and refused.
pub(crate) fn read_csv(file: &std::path::Path) -> Result<CsvDevices> {
    let input: Box<dyn std::io::Read> = match file.as_os_str() == "-" {
        true => Box::new(std::io::stdin()),
        false => {
            Box::new(std::fs::File::open(file).with_context(|| format!("cannot read {}", file.display()))?)
        }
    };
    let mut reader = csv::ReaderBuilder::new().trim(csv::Trim::None).from_reader(input);
    let headers = checked_headers(&mut reader)?;
    let (mut devices, mut lines, mut problems) = (Vec::new(), Vec::new(), Vec::new());
    for record in reader.records() {
        let record = match record {
            Ok(record) => record,
            Err(error) => {
                let line = error.position().map_or(0, |p| p.line());
                problems.push(format!("line {line}: {error}"));
                continue;
            }
        };
        let line = record.position().map_or(0, |p| p.line());
        if record.iter().all(|field| field.trim().is_empty()) {
            continue;
        }
        devices.push(row_entry(&headers, &record));
        lines.push(line);
    }
    if !problems.is_empty() {
        for problem in &problems {
            eprintln!("{problem}");
        }
        return Err(Refused(format!(
            "{}; nothing imported",
            crate::output::plural(problems.len(), "problem")
        ))
        .into());
    }
    if devices.is_empty() {
        return Err(Refused("the file has no devices".into()).into());
    }
    Ok(CsvDevices { devices, lines })
}

/// Sends devices read from a CSV file, all or none; refusals are printed by line.
pub(crate) async fn send_csv(client: &Client, csv: CsvDevices, dry_run: bool) -> Result<ProvisionResult> {
    let CsvDevices { devices, lines } = csv;
    let request = ProvisionRequest { devices, dry_run };
    send(client, &request, |index| format!("line {}", lines[index])).await
}

/// `opendls device import FILE.csv`.
pub(crate) async fn import(client: &Client, args: ImportArgs, json: bool) -> Result<ExitCode> {
    let result = send_csv(client, read_csv(&args.file)?, args.dry_run).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&result)?);
        return Ok(ExitCode::SUCCESS);
    }
    let devices = crate::output::plural(result.accepted, "device");
    match result.applied {
        true => eprintln!("done: {devices} prepared; phones are recognised at their first contact"),
        false => eprintln!("dry run: {devices} would be prepared; every row checked, nothing stored"),
    }
    Ok(ExitCode::SUCCESS)
}

/// `opendls device provisioned`.
pub(crate) async fn list(client: &Client, json: bool) -> Result<ExitCode> {
    let devices: Vec<ProvisionedView> = client.get("/api/provisioned").await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&devices)?);
        return Ok(ExitCode::SUCCESS);
    }
    let dash = |value: &Option<String>| value.clone().unwrap_or_else(|| "-".into());
    let rows = devices
        .iter()
        .map(|d| {
            let bound = d
                .bound
                .as_ref()
                .map_or("not yet".to_owned(), |(mac, at)| format!("{mac} since {}", utc_text(*at)));
            vec![
                d.id.to_string(),
                dash(&d.mac),
                dash(&d.e164),
                crate::output::groups_text(&d.group, &d.other_groups, "-"),
                d.variables.join(" "),
                bound,
                dash(&d.conflict),
            ]
        })
        .collect();
    print_table(&["ID", "MAC", "E164", "GROUP", "VARIABLES", "BOUND TO", "REFUSED CLAIM"], rows);
    let bound = devices.iter().filter(|d| d.bound.is_some()).count();
    eprintln!("{} prepared, {bound} bound", crate::output::plural(devices.len(), "device"));
    Ok(ExitCode::SUCCESS)
}

/// `opendls device unprovision ID`.
pub(crate) async fn remove(client: &Client, id: i64) -> Result<ExitCode> {
    client.send::<_, ()>(Method::DELETE, &format!("/api/provisioned/{id}"), &()).await?;
    eprintln!("done: prepared device {id} removed");
    Ok(ExitCode::SUCCESS)
}

/// `opendls device approve`.
pub(crate) async fn approve(client: &Client, args: ApproveArgs, json: bool) -> Result<ExitCode> {
    let request = ApprovalRequest { macs: args.macs, all_pending: args.all_pending };
    let result: ApprovalResult = client
        .send(Method::POST, "/api/devices/approve", &request)
        .await?
        .ok_or_else(|| anyhow!("empty answer"))?;
    if json {
        println!("{}", serde_json::to_string_pretty(&result)?);
    } else {
        for mac in &result.approved {
            println!("approved {mac}");
        }
        for mac in &result.not_waiting {
            eprintln!("not waiting for approval: {mac}");
        }
        eprintln!("{} approved", crate::output::plural(result.approved.len(), "device"));
    }
    if args.push && !result.approved.is_empty() {
        let targets = opendls_api::Targets::Devices { macs: result.approved.clone() };
        crate::jobs::push_job(client, targets, json).await?;
    }
    Ok(ExitCode::SUCCESS)
}
