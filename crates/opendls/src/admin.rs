//! The administration commands: thin clients of the admin API, printing tables or JSON.

use std::process::ExitCode;

use anyhow::{Result, anyhow, bail};
use opendls_api::{
    BehindNat, ConfigChange, ConfigChangeResult, ConfigEntry, ConfigValue, DeviceView, GroupAssignment,
    PolicySetting,
};
use opendls_engine::utc_text;
use reqwest::Method;

use crate::client::Client;
use crate::secret_input::{FROM_STDIN, read_secret, warn_visible};

use crate::{
    ConfigCommand, ConfigScopeArgs, Connection, DeviceCommand, GroupCommand, PolicyCommand, Refused,
    ScopeArgs,
};

/// One administration request.
pub enum Request {
    /// `opendls device ...`
    Device(DeviceCommand),
    /// `opendls config ...`
    Config(ConfigCommand),
    /// `opendls group ...`
    Group(GroupCommand),
    /// `opendls policy ...`
    Policy(PolicyCommand),
}

/// Runs one administration command against the service.
pub fn run(connection: Connection, request: Request) -> Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async move {
        let client = Client::new(&connection)?;
        match request {
            Request::Device(DeviceCommand::List(args)) => {
                crate::fleet::list_devices(&client, args, connection.json).await
            }
            Request::Device(DeviceCommand::Add(args)) => {
                crate::provisioning::add(&client, args, connection.json).await
            }
            Request::Device(DeviceCommand::Import(args)) => {
                crate::provisioning::import(&client, args, connection.json).await
            }
            Request::Device(DeviceCommand::Export(args)) => crate::site::export_devices(&client, &args).await,
            Request::Device(DeviceCommand::Provisioned) => {
                crate::provisioning::list(&client, connection.json).await
            }
            Request::Device(DeviceCommand::Unprovision { id }) => {
                crate::provisioning::remove(&client, id).await
            }
            Request::Device(DeviceCommand::Approve(args)) => {
                crate::provisioning::approve(&client, args, connection.json).await
            }
            Request::Device(DeviceCommand::Remove { mac }) => {
                crate::fleet::remove_device(&client, &mac).await
            }
            Request::Group(GroupCommand::List) => crate::fleet::list_groups(&client, connection.json).await,
            Request::Group(GroupCommand::Show { name }) => {
                crate::fleet::show_group(&client, &name, connection.json).await
            }
            Request::Group(GroupCommand::Remove { name, force }) => {
                crate::fleet::remove_group(&client, &name, force).await
            }
            Request::Policy(PolicyCommand::Show) => {
                crate::fleet::show_policies(&client, connection.json).await
            }
            Request::Device(DeviceCommand::Show { mac, history, history_offset }) => {
                show_device(&client, &mac, (history, history_offset), connection.json).await
            }
            Request::Config(ConfigCommand::Set { scope, items, push, allow_unknown, dry_run }) => {
                let options = SetOptions { allow_unknown, dry_run };
                let code = set_config(&client, &scope, &items, options, connection.json).await?;
                if push && !dry_run {
                    crate::jobs::push_configuration(&client, scope.query(), connection.json).await?;
                }
                Ok(code)
            }
            Request::Config(ConfigCommand::Effective { mac }) => {
                crate::templates::effective(&client, &mac, connection.json).await
            }
            Request::Config(ConfigCommand::Check { limit }) => {
                crate::templates::check(&client, limit, connection.json).await
            }
            Request::Config(ConfigCommand::Diff(args)) => {
                crate::preview::diff(&client, &args, connection.json).await
            }
            Request::Config(ConfigCommand::Export(args)) => crate::site::export(&client, &args).await,
            Request::Config(ConfigCommand::Import(args)) => {
                crate::site::import(&client, &args, connection.json).await
            }
            Request::Device(DeviceCommand::BehindNat { scope, off, interval }) => {
                let (scope, target) = explicit_scope(&scope, "device behind-nat")?;
                let body = BehindNat { scope, target, enabled: !off, interval_secs: interval };
                client.send::<_, ()>(Method::PUT, "/api/behind-nat", &body).await?;
                eprintln!("done: the phones get the polling settings at their next contact");
                Ok(ExitCode::SUCCESS)
            }
            Request::Config(ConfigCommand::Unset { scope, items }) => {
                unset_config(&client, &scope, &items).await
            }
            Request::Config(ConfigCommand::Show { scope }) => {
                show_config(&client, &scope, connection.json).await
            }
            Request::Group(GroupCommand::Assign { mac, groups, none }) => {
                let groups = if none { Vec::new() } else { groups };
                let said = match groups.as_slice() {
                    [] => format!("{mac} is in no group"),
                    [group] => format!("{mac} is in group {group}"),
                    [first, ..] => format!("{mac} is in groups {} ({first} wins)", groups.join(", ")),
                };
                let mut names = groups.into_iter();
                let assignment = GroupAssignment { group: names.next(), other_groups: names.collect() };
                client.send::<_, ()>(Method::PUT, &format!("/api/devices/{mac}/group"), &assignment).await?;
                eprintln!(
                    "done: {said}; its configuration follows at its next contact (opendls config diff {mac})"
                );
                Ok(ExitCode::SUCCESS)
            }
            Request::Policy(PolicyCommand::Set { policy, group }) => {
                let at = group.as_ref().map_or("globally".to_owned(), |g| format!("for group {g}"));
                let said = format!("local-change policy {policy} set {at}");
                let policy = policy.parse().map_err(crate::Refused)?;
                client.send::<_, ()>(Method::PUT, "/api/policy", &PolicySetting { group, policy }).await?;
                eprintln!("done: {said}");
                Ok(ExitCode::SUCCESS)
            }
        }
    })
}

/// The scope, which must be named: a change for every phone is never the silent default.
pub(crate) fn explicit_scope(scope: &ScopeArgs, what: &str) -> Result<(String, Option<String>)> {
    if !scope.is_named() {
        let hint = format!("{what} needs a scope: --global for every device, --group NAME or --device MAC");
        return Err(Refused(hint).into());
    }
    Ok(scope_query(scope))
}

pub(crate) fn scope_query(scope: &ScopeArgs) -> (String, Option<String>) {
    match (&scope.group, &scope.device) {
        (Some(group), _) => ("group".into(), Some(group.clone())),
        (_, Some(mac)) => ("device".into(), Some(mac.clone())),
        _ => ("global".into(), None),
    }
}

/// Splits `name[3]=value` / `name=value` (or without `=value` for unset).
fn parse_item(spec: &str, with_value: bool) -> Result<(String, Option<u32>, String)> {
    let (key, value) = match spec.split_once('=') {
        Some((key, value)) if with_value => (key, value.to_owned()),
        None if !with_value => (spec, String::new()),
        _ if with_value => bail!("{spec:?}: expected NAME=VALUE or NAME[INDEX]=VALUE"),
        _ => bail!("{spec:?}: expected NAME or NAME[INDEX]"),
    };
    let (name, index) = match key.split_once('[') {
        Some((name, rest)) => {
            let index = rest.strip_suffix(']').and_then(|i| i.parse().ok());
            (name, Some(index.ok_or_else(|| anyhow!("{spec:?}: the index must be a number in brackets"))?))
        }
        None => (key, None),
    };
    if name.trim().is_empty() {
        bail!("{spec:?}: the item name is empty");
    }
    Ok((name.trim().to_owned(), index, value))
}

/// How `config set` treats what it is given.
pub(crate) struct SetOptions {
    /// Store names the catalog does not know.
    pub allow_unknown: bool,
    /// Check and count, store nothing.
    pub dry_run: bool,
}

async fn set_config(
    client: &Client,
    scope: &ConfigScopeArgs,
    items: &[String],
    options: SetOptions,
    json: bool,
) -> Result<ExitCode> {
    let explicit = scope.is_named();
    let (scope_name, target) = scope.query();
    let values = read_values(items)?;
    let mut change = ConfigChange {
        scope: scope_name,
        target,
        values,
        allow_unknown: options.allow_unknown,
        dry_run: options.dry_run || !explicit,
    };
    let mut result: ConfigChangeResult =
        client.send(Method::PUT, "/api/config", &change).await?.ok_or_else(|| anyhow!("empty answer"))?;
    if !explicit && !options.dry_run {
        // Every phone at once is one typo away from an outage: say so, and ask.
        let reach = format!(
            "without --group or --device this sets {} for every device ({} affected now)",
            crate::output::plural(change.values.len(), "value"),
            result.devices_affected
        );
        if !confirmed(&reach)? {
            return Err(Refused(format!("{reach}: nothing set; add --global to mean it")).into());
        }
        change.dry_run = false;
        result =
            client.send(Method::PUT, "/api/config", &change).await?.ok_or_else(|| anyhow!("empty answer"))?;
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&result)?);
        return Ok(ExitCode::SUCCESS);
    }
    for value in &result.values {
        for warning in &value.warnings {
            eprintln!("warning: {}: {warning}", value.item);
        }
        println!("{} {}", if result.applied { "set" } else { "would set" }, value.item);
    }
    if !result.applied {
        crate::preview::print_changes(&result.changes, result.devices_affected);
    }
    crate::templates::warn_unrenderable(&result.cannot_render, result.cannot_render_total);
    let at = scope_label(&change.scope, change.target.as_deref());
    let devices = crate::output::plural(result.devices_affected, "device");
    match result.applied {
        true => {
            eprintln!("done: {devices} affected at {at}; they get it at their next contact (--push: now)")
        }
        false => eprintln!("dry run: {devices} would be affected at {at}; nothing stored"),
    }
    Ok(ExitCode::SUCCESS)
}

/// `global`, `group sales`, `device 00:1A:...`.
fn scope_label(scope: &str, target: Option<&str>) -> String {
    match target {
        Some(target) => format!("{scope} {target}"),
        None => scope.to_owned(),
    }
}

/// Asks on a terminal; anywhere else (scripts, pipes) the answer is no.
fn confirmed(question: &str) -> Result<bool> {
    use std::io::{BufRead, IsTerminal, Write};
    if !(std::io::stdin().is_terminal() && std::io::stderr().is_terminal()) {
        return Ok(false);
    }
    eprint!("{question}. Set it for every device? [y/N] ");
    std::io::stderr().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes" | "YES" | "Yes"))
}

/// The `NAME=VALUE` arguments, with a `NAME=-` value read from standard input.
fn read_values(items: &[String]) -> Result<Vec<ConfigValue>> {
    let mut entries = items.iter().map(|spec| parse_item(spec, true)).collect::<Result<Vec<_>>>()?;
    let from_stdin = entries.iter().filter(|(_, _, value)| value == FROM_STDIN).count();
    if from_stdin > 1 {
        bail!("only one value can be read from standard input (NAME=-) per command");
    }
    for (name, index, value) in &mut entries {
        if value == FROM_STDIN {
            *value = read_secret(&format!("value of {}", item_label(name, *index)))?;
        } else if opendls_wpi::secrets::is_secret_item(name) {
            warn_visible(&format!("the value of {name}"), &format!("{name}=- to type it or pipe it in"));
        }
    }
    Ok(entries.into_iter().map(|(name, index, value)| ConfigValue { name, index, value }).collect())
}

async fn unset_config(client: &Client, scope: &ConfigScopeArgs, items: &[String]) -> Result<ExitCode> {
    if !scope.is_named() {
        let hint = "config unset needs a scope: --global, --model PATTERN, --group NAME or --device MAC";
        return Err(Refused(hint.into()).into());
    }
    let (scope, target) = scope.query();
    for spec in items {
        let (name, index, _) = parse_item(spec, false)?;
        let entry = ConfigEntry {
            scope: scope.clone(),
            target: target.clone(),
            name: name.clone(),
            index,
            value: String::new(),
        };
        client.send::<_, ()>(Method::DELETE, "/api/config", &entry).await?;
        println!("unset {}", item_label(&name, index));
    }
    Ok(ExitCode::SUCCESS)
}

async fn show_config(client: &Client, scope: &ConfigScopeArgs, json: bool) -> Result<ExitCode> {
    let path = if scope.is_named() {
        let (scope, target) = scope.query();
        match target {
            Some(target) => format!("/api/config?scope={scope}&target={}", encode(&target)),
            None => format!("/api/config?scope={scope}"),
        }
    } else {
        "/api/config".to_owned()
    };
    let entries: Vec<ConfigEntry> = client.get(&path).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&entries)?);
        return Ok(ExitCode::SUCCESS);
    }
    let rows = entries
        .iter()
        .map(|e| {
            let scope = match &e.target {
                Some(target) => format!("{} {target}", e.scope),
                None => e.scope.clone(),
            };
            vec![scope, item_label(&e.name, e.index), e.value.clone()]
        })
        .collect();
    print_table(&["SCOPE", "ITEM", "VALUE"], rows);
    Ok(ExitCode::SUCCESS)
}

async fn show_device(client: &Client, mac: &str, page: (u32, u32), json: bool) -> Result<ExitCode> {
    let (history, offset) = page;
    let path = format!("/api/devices/{}?history={history}&history_offset={offset}", encode(mac));
    let view: DeviceView = client.get(&path).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&view)?);
        return Ok(ExitCode::SUCCESS);
    }
    let d = &view.device;
    let field = |value: &Option<String>| value.clone().unwrap_or_else(|| "-".into());
    println!("device        {}", d.mac);
    println!("e164          {}", field(&d.e164));
    println!("model         {}", field(&d.device_type));
    println!("firmware      {}", field(&d.software_version));
    println!("group         {}", crate::output::groups_text(&d.group, &d.other_groups, "-"));
    println!("address       {}", field(&d.remote_addr));
    println!("contact-me    {}", field(&view.contact_me_uri));
    println!("TLS offered   {}", field(&view.tls_offer));
    println!("security      {} (opendls security show {})", field(&view.security_state), d.mac);
    println!("first seen    {}", utc_text(view.first_seen));
    println!("last contact  {} ({})", utc_text(d.last_contact), d.last_reason);
    println!("inventory     {}", view.inventory_read_at.map(utc_text).unwrap_or_else(|| "never read".into()));
    println!();
    println!("pending changes ({})", view.pending.len());
    let rows = view
        .pending
        .iter()
        .map(|p| {
            vec![
                item_label(&p.name, p.index),
                p.desired.clone(),
                p.reported.clone().unwrap_or_else(|| "-".into()),
                p.scope.clone(),
                p.held.clone().unwrap_or_else(|| "next contact".into()),
            ]
        })
        .collect();
    print_table(&["ITEM", "DESIRED", "REPORTED", "FROM", "STATE"], rows);
    println!();
    println!("reported items: {}", view.reported_total);
    println!();
    match view.history_more {
        true => println!(
            "history ({} from entry {offset}; older: --history-offset {})",
            view.history.len(),
            offset + view.history.len() as u32
        ),
        false => println!("history ({} from entry {offset})", view.history.len()),
    }
    let rows = view
        .history
        .iter()
        .map(|h| {
            let change = match (&h.old_value, &h.new_value) {
                (Some(old), Some(new)) => format!("{old} -> {new}"),
                (None, Some(new)) => new.clone(),
                (Some(old), None) => format!("{old} -> (gone)"),
                (None, None) => String::new(),
            };
            vec![
                utc_text(h.at),
                h.kind.clone(),
                h.reason.clone(),
                h.item.clone().unwrap_or_default(),
                change,
                h.detail.clone(),
            ]
        })
        .collect();
    print_table(&["WHEN", "EVENT", "REASON", "ITEM", "CHANGE", "DETAIL"], rows);
    println!();
    println!("reported items ({})", view.reported.len());
    let rows = view
        .reported
        .iter()
        .map(|i| vec![item_label(&i.name, i.index), i.value.clone(), i.status.clone().unwrap_or_default()])
        .collect();
    print_table(&["ITEM", "VALUE", "STATUS"], rows);
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn item_label(name: &str, index: Option<u32>) -> String {
    match index {
        Some(index) => format!("{name}[{index}]"),
        None => name.to_owned(),
    }
}

pub(crate) fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b':' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

pub(crate) fn print_table(headers: &[&str], rows: Vec<Vec<String>>) {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.len()).collect();
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let padded: Vec<String> = cells.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
        println!("{}", padded.join("  ").trim_end());
    };
    line(headers.iter().map(|h| h.to_string()).collect());
    for row in rows {
        line(row.into_iter().map(|c| c.replace('\n', "\\n")).collect());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn item_specs() {
        assert_eq!(
            parse_item("sntp-addr=time.nist.gov", true).unwrap(),
            ("sntp-addr".into(), None, "time.nist.gov".into())
        );
        assert_eq!(
            parse_item("XML-app-name[2]=phonebook", true).unwrap(),
            ("XML-app-name".into(), Some(2), "phonebook".into())
        );
        assert_eq!(parse_item("a=b=c", true).unwrap().2, "b=c");
        assert_eq!(
            parse_item("key-label-unicode[1001]", false).unwrap(),
            ("key-label-unicode".into(), Some(1001), String::new())
        );
        assert!(parse_item("novalue", true).is_err());
        assert!(parse_item("x[abc]=1", true).is_err());
        assert!(parse_item("=1", true).is_err());
    }
}
