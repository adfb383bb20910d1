//! `opendls config diff`, and the per-device changes a `config set --dry-run` prints: what
//! phones will be sent, as the service's engine computes it.

use std::process::ExitCode;

use anyhow::Result;
use clap::Args;
use opendls_api::{ConfigDiff, DeviceChangeView, NextWriteView};

use crate::admin::{encode, item_label, print_table};
use crate::client::Client;

/// `opendls config diff` options.
#[derive(Args)]
pub(crate) struct DiffArgs {
    /// One device's MAC address.
    #[arg(conflicts_with_all = ["group", "model"])]
    pub mac: Option<String>,
    /// The devices of a group (as their first group or another).
    #[arg(long)]
    pub group: Option<String>,
    /// The devices of a model pattern (`OpenStage 60`, `CP4*`).
    #[arg(long)]
    pub model: Option<String>,
    /// The most devices listed (every selected device is counted).
    #[arg(long, default_value_t = 100)]
    pub limit: usize,
}

/// `opendls config diff`: exit code 0 whether or not anything would be written.
pub(crate) async fn diff(client: &Client, args: &DiffArgs, json: bool) -> Result<ExitCode> {
    let mut query = vec![format!("limit={}", args.limit)];
    for (name, value) in [("mac", &args.mac), ("group", &args.group), ("model", &args.model)] {
        if let Some(value) = value {
            query.push(format!("{name}={}", encode(value)));
        }
    }
    let diff: ConfigDiff = client.get(&format!("/api/config/diff?{}", query.join("&"))).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&diff)?);
        return Ok(ExitCode::SUCCESS);
    }
    for device in &diff.devices {
        println!("{}  {}", device.mac, device.model.as_deref().unwrap_or("(model not reported)"));
        let rows = device.writes.iter().map(write_row).collect();
        print_table(&["  ITEM", "PHONE HAS", "IS SENT", "FROM"], rows);
        println!();
    }
    let more = match diff.devices_more {
        true => format!(" ({} listed; --limit for more)", diff.devices.len()),
        false => String::new(),
    };
    eprintln!(
        "{} checked: {} would be sent {} at the next contact; {} held back{more}",
        crate::output::plural(diff.devices_checked, "device"),
        crate::output::plural(diff.devices_to_write, "device"),
        crate::output::plural(diff.writes_total, "value"),
        crate::output::plural(diff.held_total, "value"),
    );
    Ok(ExitCode::SUCCESS)
}

fn write_row(write: &NextWriteView) -> Vec<String> {
    let sent = match &write.held {
        Some(why) => format!("held: {why}"),
        None => write.value.clone(),
    };
    let from = match &write.template {
        Some(template) => format!("{}, template {template}", write.scope),
        None => write.scope.clone(),
    };
    let label = format!("  {}", item_label(&write.name, write.index));
    vec![label, write.reported.clone().unwrap_or_else(|| "-".into()), sent, from]
}

/// Prints what a configuration change changes per device (`config set`, `var set`).
pub(crate) fn print_changes(changes: &[DeviceChangeView], devices_affected: usize) {
    let rows: Vec<Vec<String>> = changes
        .iter()
        .flat_map(|device| {
            device.changes.iter().map(|change| {
                let after = match (&change.after, &change.held) {
                    (_, Some(why)) => format!("held: {why}"),
                    (Some(value), None) => value.clone(),
                    (None, None) => "(no value)".into(),
                };
                let before = change.before.clone().unwrap_or_else(|| "(no value)".into());
                vec![device.mac.clone(), change.item.clone(), before, after]
            })
        })
        .collect();
    if rows.is_empty() {
        return;
    }
    print_table(&["DEVICE", "ITEM", "BEFORE", "AFTER"], rows);
    if devices_affected > changes.len() {
        eprintln!("({} of {devices_affected} devices listed)", changes.len());
    }
}
