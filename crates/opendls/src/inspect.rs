//! `opendls decode` and `opendls catalog`: offline tools for captured messages and item names.

use std::process::ExitCode;

use anyhow::{Result, bail};
use opendls_wpi::catalog::{Access, Provenance};
use opendls_wpi::secrets::displayable_value;
use opendls_wpi::{Catalog, Item, Severity, parse_dls_message, parse_workpoint_message};

/// Decodes one message; exit code 0 when it parses and no value is refused, 1 otherwise.
pub fn decode(body: &[u8], show_secrets: bool) -> Result<ExitCode> {
    let (summary, items) = match parse_workpoint_message(body) {
        Ok(message) => {
            let reason = &message.reason;
            let mut summary = format!("phone message, nonce {}, reason {}", message.nonce, reason.reason);
            if let Some(action) = &reason.action {
                summary.push_str(&format!(", answering {action} ({})", reason.effective_status()));
            }
            if let Some(fragment) = &message.fragment {
                summary.push_str(&format!(", fragment {fragment}"));
            }
            if let Some(max) = message.max_items {
                summary.push_str(&format!(", maxItems {max}"));
            }
            (summary, message.items)
        }
        Err(phone_error) => match parse_dls_message(body) {
            Ok(message) => (
                format!("service message, nonce {}, action {}", message.nonce, message.action),
                message.items,
            ),
            Err(_) => bail!("not a WPI message: {phone_error}"),
        },
    };
    println!("{summary}");
    println!("{} items", items.len());
    let catalog = Catalog::builtin();
    let mut refused = false;
    for item in &items {
        print_item(item, show_secrets);
        let check = catalog.check(&item.name, item.index, &item.value);
        if !check.is_known() {
            println!("      note: not in the catalog");
        }
        for finding in &check.findings {
            let label = match finding.severity {
                Severity::Refusal => {
                    refused = true;
                    "refused"
                }
                Severity::Warning => "warning",
            };
            println!("      {label}: {}", finding.message);
        }
    }
    Ok(if refused { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

fn print_item(item: &Item, show_secrets: bool) {
    let index = item.index.map(|i| format!("[{i}]")).unwrap_or_default();
    let status = item.status.as_ref().map(|s| format!(" ({s})")).unwrap_or_default();
    let value = if show_secrets { &item.value } else { displayable_value(&item.name, &item.value) };
    let value = value.replace('\n', "\\n");
    println!("  {}{index}{status} = {value}", item.name);
}

/// Prints one catalog row in full, or a line for every row whose name contains `text`.
pub fn catalog(text: Option<&str>) -> Result<ExitCode> {
    let catalog = Catalog::builtin();
    if let Some(entry) = text.and_then(|t| catalog.get(t)) {
        println!("{}", entry.name);
        println!("  type:        {}", entry.type_text);
        println!("  values:      {}", entry.values_text);
        println!("  indexed:     {}", entry.index_note);
        println!("  access:      {}", access(entry.access));
        println!("  where:       {}", entry.group);
        println!("  source:      {}", source(&entry.provenance));
        println!("  description: {}", entry.description);
        return Ok(ExitCode::SUCCESS);
    }
    // Names are case-sensitive on the phone; looking them up need not be.
    let wanted = text.map(str::to_ascii_lowercase);
    let matching: Vec<_> = catalog
        .entries()
        .iter()
        .filter(|e| wanted.as_deref().is_none_or(|t| e.name.to_ascii_lowercase().contains(t)))
        .collect();
    for entry in &matching {
        println!("{:<40} {:<16} {}", entry.name, entry.type_text, source(&entry.provenance));
    }
    if matching.is_empty() {
        eprintln!("no catalog item contains {:?} (opendls catalog lists them all)", text.unwrap_or_default());
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

fn access(access: Access) -> &'static str {
    match access {
        Access::ReadOnly => "read-only (reported by the phone)",
        Access::ReadWrite => "read-write",
        Access::WriteOnly => "write-only (sent by the service)",
        Access::Unknown => "not stated",
    }
}

fn source(provenance: &Provenance) -> String {
    match provenance {
        Provenance::Guide(pages) => format!("guide p. {pages}"),
        Provenance::UnifyWiki => "Unify wiki".to_owned(),
        Provenance::Unverified(_) => "unverified (third-party code)".to_owned(),
    }
}
