//! `opendls device list|remove`, `group list|show|remove`, `policy show`: the fleet, browsed and
//! cleaned up.

use std::process::ExitCode;

use anyhow::{Result, bail};
use opendls_api::{DeviceListEntry, GroupSummary, GroupView, PolicyView, RemovalView};
use opendls_engine::{Timestamp, utc_text};
use reqwest::Method;

use crate::DeviceListArgs;
use crate::admin::{encode, item_label, print_table};
use crate::client::Client;
use crate::output::plural;

pub(crate) async fn list_devices(client: &Client, args: DeviceListArgs, json: bool) -> Result<ExitCode> {
    let mut query = vec![format!("limit={}", args.limit), format!("offset={}", args.offset)];
    for (name, value) in
        [("model", &args.model), ("firmware", &args.firmware), ("group", &args.group), ("state", &args.state)]
    {
        if let Some(value) = value {
            query.push(format!("{name}={}", encode(value)));
        }
    }
    let approval = if args.pending { Some("pending".to_owned()) } else { args.approval.clone() };
    for (name, value) in [("approval", &approval)] {
        if let Some(value) = value {
            query.push(format!("{name}={}", encode(value)));
        }
    }
    if let Some(since) = &args.seen_since {
        query.push(format!(
            "seen_since={}",
            parse_since(since, opendls_server::phone::unix_now(), "--seen-since")?
        ));
    }
    let (devices, total): (Vec<DeviceListEntry>, _) =
        client.get_counted(&format!("/api/devices?{}", query.join("&"))).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&devices)?);
        return Ok(ExitCode::SUCCESS);
    }
    print_devices(&devices);
    let total = total.unwrap_or(devices.len() as u64);
    let shown = devices.len() as u64;
    match (shown, u64::from(args.offset) + shown < total) {
        (0, _) if total == 0 => eprintln!("no device matches"),
        (0, _) => eprintln!("no devices past {}: {} match", args.offset, plural(total as usize, "device")),
        (_, true) => eprintln!(
            "devices {}-{} of {total} (--offset {} for the next page)",
            args.offset + 1,
            u64::from(args.offset) + shown,
            u64::from(args.offset) + shown
        ),
        (_, false) if args.offset == 0 => eprintln!("{}", plural(total as usize, "device")),
        (_, false) => eprintln!("devices {}-{} of {total}", args.offset + 1, u64::from(args.offset) + shown),
    }
    Ok(ExitCode::SUCCESS)
}

/// How one column of the device list reads its cell.
type Cell<'a> = dyn Fn(&DeviceListEntry) -> String + 'a;

fn print_devices(devices: &[DeviceListEntry]) {
    let text = |value: &Option<String>| value.clone().unwrap_or_default();
    // Each heading with its cell, so the two cannot drift apart.
    let columns: [(&str, &Cell<'_>); 10] = [
        ("MAC", &|d| d.mac.clone()),
        ("E164", &|d| text(&d.e164)),
        ("MODEL", &|d| text(&d.device_type)),
        ("FIRMWARE", &|d| text(&d.software_version)),
        ("GROUP", &|d| crate::output::groups_text(&d.group, &d.other_groups, "")),
        ("LAST CONTACT", &|d| utc_text(d.last_contact)),
        ("REASON", &|d| d.last_reason.clone()),
        ("APPROVAL", &|d| text(&d.approval)),
        ("SECURITY", &|d| text(&d.security_state)),
        ("TLS", &|d| tls_kind(d.tls_offer.as_deref()).to_owned()),
    ];
    let rows = devices.iter().map(|d| columns.iter().map(|(_, cell)| cell(d)).collect()).collect();
    let headers: Vec<&str> = columns.iter().map(|(heading, _)| *heading).collect();
    print_table(&headers, rows);
}

/// `legacy` for phones that offered only what needs the OpenSSL path, `modern` otherwise.
fn tls_kind(offer: Option<&str>) -> &'static str {
    match offer {
        Some(offer) if offer.ends_with("legacy only") => "legacy",
        Some(_) => "modern",
        None => "-",
    }
}

/// `2026-12-01T08:00:00Z` or an age (`90s`, `30m`, `24h`, `7d`) before `now`, as Unix seconds.
pub(crate) fn parse_since(text: &str, now: Timestamp, flag: &str) -> Result<Timestamp> {
    let text = text.trim();
    if let Ok(at) = time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339) {
        return Ok(at.unix_timestamp());
    }
    let (digits, unit) = text.split_at(text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len()));
    let seconds = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => 0,
    };
    match digits.parse::<i64>() {
        Ok(n) if seconds > 0 => Ok(now - n * seconds),
        _ => bail!("{flag} {text:?}: give a time (2026-12-01T08:00:00Z) or an age (90s, 30m, 24h, 7d)"),
    }
}

pub(crate) async fn remove_device(client: &Client, mac: &str) -> Result<ExitCode> {
    let removal: Option<RemovalView> =
        client.send(Method::DELETE, &format!("/api/devices/{}", encode(mac)), &()).await?;
    let removal = removal.unwrap_or_default();
    eprintln!(
        "removed {mac}: {} and {} with it; it registers anew if it calls in",
        plural(removal.values_removed as usize, "device value"),
        plural(removal.targets_cancelled as usize, "unfinished job target")
    );
    Ok(ExitCode::SUCCESS)
}

pub(crate) async fn list_groups(client: &Client, json: bool) -> Result<ExitCode> {
    let groups: Vec<GroupSummary> = client.get("/api/groups").await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&groups)?);
        return Ok(ExitCode::SUCCESS);
    }
    let rows = groups.iter().map(group_row).collect();
    print_table(&["GROUP", "DEVICES", "VALUES", "POLICY", "SECURITY MODE", "PIN"], rows);
    eprintln!("{}", plural(groups.len(), "group"));
    Ok(ExitCode::SUCCESS)
}

fn group_row(g: &GroupSummary) -> Vec<String> {
    vec![
        g.name.clone(),
        g.devices.to_string(),
        g.values.to_string(),
        g.policy.clone().unwrap_or_else(|| "-".into()),
        g.security_mode.clone().unwrap_or_else(|| "-".into()),
        if g.has_pin { "yes" } else { "-" }.into(),
    ]
}

pub(crate) async fn show_group(client: &Client, name: &str, json: bool) -> Result<ExitCode> {
    let view: GroupView = client.get(&format!("/api/groups/{}", encode(name))).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&view)?);
        return Ok(ExitCode::SUCCESS);
    }
    print_table(
        &["GROUP", "DEVICES", "VALUES", "POLICY", "SECURITY MODE", "PIN"],
        vec![group_row(&view.summary)],
    );
    println!();
    println!("values ({})", view.values.len());
    let rows = view.values.iter().map(|v| vec![item_label(&v.name, v.index), v.value.clone()]).collect();
    print_table(&["ITEM", "VALUE"], rows);
    println!();
    println!("devices ({})", view.devices.len());
    print_devices(&view.devices);
    Ok(ExitCode::SUCCESS)
}

pub(crate) async fn remove_group(client: &Client, name: &str, force: bool) -> Result<ExitCode> {
    let path = format!("/api/groups/{}?force={force}", encode(name));
    let removal: RemovalView = client.send(Method::DELETE, &path, &()).await?.unwrap_or_default();
    eprintln!(
        "removed group {name}: {} removed, {} taken out of it",
        plural(removal.values_removed as usize, "value"),
        plural(removal.devices_ungrouped as usize, "device")
    );
    Ok(ExitCode::SUCCESS)
}

pub(crate) async fn show_policies(client: &Client, json: bool) -> Result<ExitCode> {
    let policies: Vec<PolicyView> = client.get("/api/policy").await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&policies)?);
        return Ok(ExitCode::SUCCESS);
    }
    let global_set = policies.iter().any(|p| p.group.is_none());
    let mut rows: Vec<Vec<String>> = Vec::new();
    if !global_set {
        rows.push(vec!["global".into(), "accept-unmanaged (the default)".into()]);
    }
    for entry in &policies {
        let scope = entry.group.as_ref().map_or("global".to_owned(), |g| format!("group {g}"));
        rows.push(vec![scope, entry.policy.to_string()]);
    }
    print_table(&["SCOPE", "LOCAL-CHANGE POLICY"], rows);
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_takes_times_and_ages() {
        assert_eq!(parse_since("2026-11-26T16:00:00Z", 0, "--seen-since").unwrap(), 1_795_708_800);
        assert_eq!(parse_since("90s", 1000, "--seen-since").unwrap(), 910);
        assert_eq!(parse_since("2h", 10_000, "--seen-since").unwrap(), 2800);
        assert_eq!(parse_since("7d", 7 * 86_400, "--seen-since").unwrap(), 0);
        assert!(parse_since("yesterday", 0, "--seen-since").is_err());
        assert!(parse_since("5w", 0, "--seen-since").is_err());
    }
}
