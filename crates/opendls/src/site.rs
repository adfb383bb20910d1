//! `opendls config export` / `config import`: a whole site's values and variables as a TOML or
//! JSON file, kept in version control and applied with a diff.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, anyhow};
use clap::{Args, ValueEnum};
use opendls_api::{ConfigEntry, SiteConfiguration, SiteDiffLine, SiteImport, SiteImportResult, VariableView};
use reqwest::Method;

use crate::Refused;
use crate::client::Client;

/// A site file's format.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Format {
    /// `[[value]]` and `[[variable]]` tables.
    Toml,
    /// `{"value": [...], "variable": [...]}`.
    Json,
}

/// `opendls config export` options.
#[derive(Args)]
pub(crate) struct ExportArgs {
    /// The file's format.
    #[arg(long, value_enum, default_value = "toml")]
    pub format: Format,
}

/// `opendls config import` options.
#[derive(Args)]
pub(crate) struct ImportArgs {
    /// The site file (`.json` is read as JSON, anything else as TOML; `-` reads TOML from
    /// standard input).
    pub file: PathBuf,
    /// Remove the stored values and variables the file does not name (they are kept and
    /// listed otherwise).
    #[arg(long)]
    pub prune: bool,
    /// Show the diff and what changes per device; store nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Accept item names the catalog does not know.
    #[arg(long)]
    pub allow_unknown: bool,
}

const HEADER: &str = "# opendls site configuration (opendls config export).\n\
# Apply with: opendls config import FILE --dry-run, then without --dry-run (--prune removes\n\
# what this file does not name). Secret values are masked: a masked value keeps the stored one.\n\n";

/// `opendls config export`: the site file on standard output.
pub(crate) async fn export(client: &Client, args: &ExportArgs) -> Result<ExitCode> {
    let values: Vec<ConfigEntry> = client.get("/api/config").await?;
    let variables: Vec<VariableView> = client.get("/api/variables").await?;
    let (value_count, variable_count) = (values.len(), variables.len());
    let site = SiteConfiguration { values, variables };
    match args.format {
        Format::Toml => print!("{HEADER}{}", toml::to_string_pretty(&site).context("cannot write TOML")?),
        Format::Json => println!("{}", serde_json::to_string_pretty(&site)?),
    }
    eprintln!(
        "exported {} and {}",
        crate::output::plural(value_count, "value"),
        crate::output::plural(variable_count, "variable")
    );
    Ok(ExitCode::SUCCESS)
}

fn read_site(file: &Path) -> Result<SiteConfiguration> {
    let text = crate::read_text(file)?;
    let json = file.extension().is_some_and(|e| e.eq_ignore_ascii_case("json"));
    let parsed = match json {
        true => serde_json::from_str(&text).map_err(|e| e.to_string()),
        false => toml::from_str(&text).map_err(|e| e.to_string()),
    };
    parsed.map_err(|why| Refused(format!("{}: {why}", file.display())).into())
}

/// `opendls config import`.
pub(crate) async fn import(client: &Client, args: &ImportArgs, json: bool) -> Result<ExitCode> {
    let site = read_site(&args.file)?;
    let request =
        SiteImport { site, prune: args.prune, allow_unknown: args.allow_unknown, dry_run: args.dry_run };
    let result: SiteImportResult = client
        .send(Method::POST, "/api/config/import", &request)
        .await?
        .ok_or_else(|| anyhow!("empty answer"))?;
    if json {
        println!("{}", serde_json::to_string_pretty(&result)?);
        return Ok(ExitCode::SUCCESS);
    }
    print_lines('+', &result.added);
    print_lines('~', &result.changed);
    print_lines('-', &result.removed);
    if !result.kept.is_empty() {
        eprintln!("not in the file, kept (--prune removes them):");
        print_lines(' ', &result.kept);
    }
    if !result.applied {
        crate::preview::print_changes(&result.changes, result.devices_affected);
    }
    crate::templates::warn_unrenderable(&result.cannot_render, result.cannot_render_total);
    let plural = crate::output::plural;
    let summary = format!(
        "{} added, {} changed, {} removed, {} unchanged; {} affected",
        result.added.len(),
        result.changed.len(),
        result.removed.len(),
        result.unchanged,
        plural(result.devices_affected, "device")
    );
    match result.applied {
        true => eprintln!("done: {summary}, at their next contact"),
        false => eprintln!("dry run: {summary}; nothing stored"),
    }
    Ok(ExitCode::SUCCESS)
}

fn print_lines(mark: char, lines: &[SiteDiffLine]) {
    for line in lines {
        match (&line.before, &line.after) {
            (Some(before), Some(after)) => println!("{mark} {}: {before:?} -> {after:?}", line.what),
            (None, Some(after)) => println!("{mark} {} = {after:?}", line.what),
            (Some(before), None) => println!("{mark} {} (was {before:?})", line.what),
            (None, None) => println!("{mark} {}", line.what),
        }
    }
}

/// `opendls device export` options.
#[derive(Args)]
pub(crate) struct DeviceExportArgs {
    /// The file's format: `csv` (the columns `device import` reads) or `json`.
    #[arg(long, value_enum, default_value = "csv")]
    pub format: DeviceFormat,
}

/// A device file's format.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum DeviceFormat {
    /// `mac,e164,group,var.NAME…`, as `device import` reads it.
    Csv,
    /// One object a device.
    Json,
}

/// One device as exported.
#[derive(serde::Serialize)]
struct ExportedDevice {
    mac: Option<String>,
    e164: Option<String>,
    groups: Vec<String>,
    variables: std::collections::BTreeMap<String, String>,
    /// `known` (the phone has called in) or `prepared` (waiting for its phone).
    state: &'static str,
}

/// `opendls device export`: every known device and every prepared device not yet bound, with
/// its groups and device variables, on standard output.
pub(crate) async fn export_devices(client: &Client, args: &DeviceExportArgs) -> Result<ExitCode> {
    use opendls_api::DeviceListEntry;
    use opendls_api::ProvisionedView;
    let mut devices: Vec<DeviceListEntry> = Vec::new();
    loop {
        let path = format!("/api/devices?limit=10000&offset={}", devices.len());
        let (page, total): (Vec<DeviceListEntry>, _) = client.get_counted(&path).await?;
        let done =
            page.is_empty() || total.is_none_or(|total| devices.len() as u64 + page.len() as u64 >= total);
        devices.extend(page);
        if done {
            break;
        }
    }
    let variables: Vec<VariableView> = client.get("/api/variables").await?;
    let variables: Vec<VariableView> = variables.into_iter().filter(|v| v.scope == "device").collect();
    let prepared: Vec<ProvisionedView> = client.get("/api/provisioned").await?;
    let mut secret = 0;
    let mut exported: Vec<ExportedDevice> = devices
        .into_iter()
        .map(|d| {
            let mut values = std::collections::BTreeMap::new();
            for v in variables.iter().filter(|v| v.target.as_deref() == Some(d.mac.as_str())) {
                match v.secret {
                    true => secret += 1,
                    false => drop(values.insert(v.name.clone(), v.value.clone())),
                }
            }
            let groups = d.group.into_iter().chain(d.other_groups).collect();
            ExportedDevice { mac: Some(d.mac), e164: d.e164, groups, variables: values, state: "known" }
        })
        .collect();
    for p in prepared.into_iter().filter(|p| p.bound.is_none()) {
        let groups = p.group.into_iter().chain(p.other_groups).collect();
        let masked = p.values.values().filter(|value| *value == opendls_wpi::secrets::MASK).count();
        secret += masked;
        let values = p.values.into_iter().filter(|(_, value)| value != opendls_wpi::secrets::MASK).collect();
        exported.push(ExportedDevice {
            mac: p.mac,
            e164: p.e164,
            groups,
            variables: values,
            state: "prepared",
        });
    }
    match args.format {
        DeviceFormat::Json => println!("{}", serde_json::to_string_pretty(&exported)?),
        DeviceFormat::Csv => write_csv(&exported)?,
    }
    eprintln!("exported {}", crate::output::plural(exported.len(), "device"));
    if secret > 0 {
        eprintln!(
            "{} not exported (set them again with opendls var set --secret)",
            crate::output::plural(secret, "secret variable")
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn write_csv(devices: &[ExportedDevice]) -> Result<()> {
    let names: std::collections::BTreeSet<&String> =
        devices.iter().flat_map(|d| d.variables.keys()).collect();
    let mut writer = csv::Writer::from_writer(std::io::stdout());
    let mut header = vec!["mac".to_owned(), "e164".to_owned(), "group".to_owned()];
    header.extend(names.iter().map(|name| format!("var.{name}")));
    writer.write_record(&header)?;
    for device in devices {
        let mut row = vec![
            device.mac.clone().unwrap_or_default(),
            device.e164.clone().unwrap_or_default(),
            device.groups.join(";"),
        ];
        row.extend(names.iter().map(|name| device.variables.get(*name).cloned().unwrap_or_default()));
        writer.write_record(&row)?;
    }
    writer.flush()?;
    Ok(())
}
