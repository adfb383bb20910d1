//! `opendls var …`, `opendls config effective` and `opendls config check`: templates as an
//! administrator works with them.

use std::process::ExitCode;

use anyhow::{Result, anyhow, bail};
use clap::Subcommand;
use opendls_api::{
    ConfigCheckReport, EffectiveView, RenderProblem, VariableChange, VariableChangeResult, VariableRemoval,
    VariableValue, VariableView,
};
use reqwest::Method;

use crate::admin::{encode, explicit_scope, item_label, print_table, scope_query};
use crate::client::Client;
use crate::secret_input::{FROM_STDIN, read_secret};
use crate::{Connection, Refused, ScopeArgs};

/// `opendls var …`
#[derive(Subcommand)]
pub(crate) enum VarCommand {
    /// Set variables: `NAME=VALUE`, used by templates as `{{device.var.NAME}}`,
    /// `{{group.var.NAME}}`, `{{global.var.NAME}}` or `{{var.NAME}}` (the nearest).
    Set {
        #[command(flatten)]
        scope: ScopeArgs,
        /// One or more `NAME=VALUE`; `NAME=-` reads the value from standard input.
        #[arg(required = true)]
        items: Vec<String>,
        /// The values are secret (SIP passwords): sealed at rest and masked wherever shown.
        #[arg(long)]
        secret: bool,
        /// Check and count the devices whose values change; store nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Remove variables by name.
    Unset {
        #[command(flatten)]
        scope: ScopeArgs,
        /// One or more names.
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// List the variables at one scope, or at every scope.
    List {
        #[command(flatten)]
        scope: ScopeArgs,
    },
}

/// Runs `opendls var …`.
pub(crate) fn run_var(connection: Connection, command: VarCommand) -> Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async move {
        let client = Client::new(&connection)?;
        match command {
            VarCommand::Set { scope, items, secret, dry_run } => {
                set(&client, &scope, &items, secret, dry_run, connection.json).await
            }
            VarCommand::Unset { scope, names } => unset(&client, &scope, &names, connection.json).await,
            VarCommand::List { scope } => list(&client, &scope, connection.json).await,
        }
    })
}

async fn set(
    client: &Client,
    scope: &ScopeArgs,
    items: &[String],
    secret: bool,
    dry_run: bool,
    json: bool,
) -> Result<ExitCode> {
    let (scope_name, target) = explicit_scope(scope, "var set")?;
    let mut values = Vec::with_capacity(items.len());
    for spec in items {
        let Some((name, value)) = spec.split_once('=') else {
            bail!("{spec:?}: expected NAME=VALUE");
        };
        let value = match value {
            FROM_STDIN => read_secret(&format!("value of variable {name}"))?,
            value => value.to_owned(),
        };
        values.push(VariableValue { name: name.trim().to_owned(), value });
    }
    if values.iter().any(|v| v.value.is_empty()) && !dry_run {
        eprintln!("note: an empty variable renders as nothing: {{{{device.var.NAME}}}} becomes ''");
    }
    let change = VariableChange { scope: scope_name, target, values, secret, dry_run };
    let result: VariableChangeResult =
        client.send(Method::PUT, "/api/variables", &change).await?.ok_or_else(|| anyhow!("empty answer"))?;
    if json {
        println!("{}", serde_json::to_string_pretty(&result)?);
        return Ok(ExitCode::SUCCESS);
    }
    for value in &change.values {
        println!("{} {}", if result.applied { "set" } else { "would set" }, value.name);
    }
    report_change(&result);
    Ok(ExitCode::SUCCESS)
}

/// What a change of variables did to the fleet, on standard error.
fn report_change(result: &VariableChangeResult) {
    let devices = crate::output::plural(result.devices_affected, "device");
    match result.applied {
        true => eprintln!("done: values change for {devices}; they get them at their next contact"),
        false => eprintln!("dry run: values would change for {devices}; nothing stored"),
    }
    warn_unrenderable(&result.cannot_render, result.cannot_render_total);
}

/// Lists templates that cannot be rendered (a few), with where to see all.
pub(crate) fn warn_unrenderable(problems: &[RenderProblem], total: usize) {
    if total == 0 {
        return;
    }
    let pairs = crate::output::plural(total, "device item");
    eprintln!("warning: {pairs} cannot be rendered and will not be written:");
    for problem in problems.iter().take(5) {
        eprintln!("  {} {}: {}", problem.mac, problem.item, problem.reason);
    }
    if total > 5 {
        eprintln!("  … and {} more: opendls config check", total - 5);
    }
}

async fn unset(client: &Client, scope: &ScopeArgs, names: &[String], json: bool) -> Result<ExitCode> {
    let (scope_name, target) = explicit_scope(scope, "var unset")?;
    for name in names {
        let removal =
            VariableRemoval { scope: scope_name.clone(), target: target.clone(), name: name.clone() };
        let result: VariableChangeResult = client
            .send(Method::DELETE, "/api/variables", &removal)
            .await?
            .ok_or_else(|| anyhow!("empty answer"))?;
        if json {
            println!("{}", serde_json::to_string_pretty(&result)?);
            continue;
        }
        println!("unset {name}");
        report_change(&result);
    }
    Ok(ExitCode::SUCCESS)
}

async fn list(client: &Client, scope: &ScopeArgs, json: bool) -> Result<ExitCode> {
    let path = match scope.is_named() {
        true => match scope_query(scope) {
            (scope, Some(target)) => format!("/api/variables?scope={scope}&target={}", encode(&target)),
            (scope, None) => format!("/api/variables?scope={scope}"),
        },
        false => "/api/variables".to_owned(),
    };
    let variables: Vec<VariableView> = client.get(&path).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&variables)?);
        return Ok(ExitCode::SUCCESS);
    }
    let rows = variables
        .into_iter()
        .map(|v| {
            let scope = v.target.map_or(v.scope.clone(), |target| format!("{} {target}", v.scope));
            vec![scope, v.name, v.value]
        })
        .collect();
    print_table(&["SCOPE", "NAME", "VALUE"], rows);
    Ok(ExitCode::SUCCESS)
}

/// `opendls config effective MAC`.
pub(crate) async fn effective(client: &Client, mac: &str, json: bool) -> Result<ExitCode> {
    let view: EffectiveView = client.get(&format!("/api/config/effective/{}", encode(mac))).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&view)?);
        return Ok(ExitCode::SUCCESS);
    }
    let rows = view
        .items
        .iter()
        .map(|item| {
            let mut from = item.scope.clone();
            if let Some(template) = &item.template {
                from = format!("{from}, template {template}");
            }
            for used in &item.variables {
                from = format!("{from}; {used}");
            }
            let state = match (&item.reported, item.in_sync) {
                (_, true) => "in sync".to_owned(),
                (Some(reported), false) => format!("phone has {reported:?}"),
                (None, false) => "not reported".to_owned(),
            };
            vec![item_label(&item.name, item.index), item.value.clone(), from, state]
        })
        .collect();
    print_table(&["ITEM", "VALUE", "FROM", "PHONE"], rows);
    for problem in &view.cannot_render {
        eprintln!(
            "not written: {} ({}, template {}): {}",
            problem.item, problem.scope, problem.template, problem.reason
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `opendls config check`: exit code 1 when any template cannot be rendered.
pub(crate) async fn check(client: &Client, limit: usize, json: bool) -> Result<ExitCode> {
    let report: ConfigCheckReport = client.get(&format!("/api/config/check?limit={limit}")).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        let rows = report
            .problems
            .iter()
            .map(|p| vec![p.mac.clone(), p.item.clone(), p.scope.clone(), p.reason.clone()])
            .collect();
        if !report.problems.is_empty() {
            print_table(&["DEVICE", "ITEM", "FROM", "WHY IT CANNOT BE RENDERED"], rows);
        }
        let templates = crate::output::plural(report.templates, "template");
        let devices = crate::output::plural(report.devices_checked, "device");
        let problems = crate::output::plural(report.problems_total, "problem");
        let shown = match report.problems_total > report.problems.len() {
            true => format!(" ({} listed; --limit for more)", report.problems.len()),
            false => String::new(),
        };
        eprintln!("checked {templates} against {devices}: {problems}{shown}");
    }
    match report.problems_total {
        0 => Ok(ExitCode::SUCCESS),
        total => Err(Refused(format!("{total} (device, item) pairs cannot be rendered")).into()),
    }
}
