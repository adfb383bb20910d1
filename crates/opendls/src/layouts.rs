//! `opendls layout`: function-key and key-module layouts kept as TOML files and set at a model
//! scope by the service, which renders and checks them (`opendls_engine::layout`).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::Subcommand;
use opendls_api::{LayoutApplied, LayoutApply};
use opendls_engine::layout::{FUNCTIONS, Layout};
use reqwest::Method;

use crate::admin::print_table;
use crate::client::Client;
use crate::{Connection, Refused};

/// `opendls layout …`.
#[derive(Subcommand)]
pub(crate) enum LayoutCommand {
    /// Set a layout (a TOML file of `[[key]]` tables) for the models a pattern names: refused
    /// with the reasons when a key does not exist on one of them.
    Apply {
        /// The layout file (`-` reads standard input).
        file: PathBuf,
        /// The model pattern: `OpenStage 60`, `OpenStage [468]0`, `IP 55G`.
        #[arg(long)]
        model: String,
        /// Render and check it, list the item values and what changes per device; store nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// The key functions a layout can name, with their feature ids.
    Functions,
}

/// Runs `opendls layout …`.
pub(crate) fn run(connection: Connection, command: LayoutCommand) -> Result<ExitCode> {
    let (file, model, dry_run) = match command {
        LayoutCommand::Functions => return Ok(functions()),
        LayoutCommand::Apply { file, model, dry_run } => (file, model, dry_run),
    };
    let layout = read_layout(&file)?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async move {
        let client = Client::new(&connection)?;
        let request = LayoutApply { layout, model, dry_run };
        let applied: LayoutApplied = client
            .send(Method::POST, "/api/layouts/apply", &request)
            .await?
            .ok_or_else(|| anyhow::anyhow!("empty answer"))?;
        if connection.json {
            println!("{}", serde_json::to_string_pretty(&applied)?);
            return Ok(ExitCode::SUCCESS);
        }
        report(&applied);
        Ok(ExitCode::SUCCESS)
    })
}

fn read_layout(file: &std::path::Path) -> Result<Layout> {
    let text = crate::read_text(file)?;
    toml::from_str(&text).map_err(|e| Refused(format!("{}: {e}", file.display())).into())
}

fn report(applied: &LayoutApplied) {
    let rows = applied.values.iter().map(|v| vec![v.item.clone(), v.value.clone()]).collect();
    print_table(&["ITEM", "VALUE"], rows);
    if !applied.change.applied {
        crate::preview::print_changes(&applied.change.changes, applied.change.devices_affected);
    }
    for warning in &applied.warnings {
        eprintln!("warning: {warning}");
    }
    crate::templates::warn_unrenderable(&applied.change.cannot_render, applied.change.cannot_render_total);
    let devices = crate::output::plural(applied.change.devices_affected, "device");
    let models = applied.models.join(", ");
    match applied.change.applied {
        true => eprintln!(
            "done: layout {} set for {} ({models}); {devices} affected at their next contact (opendls config diff --model '{}')",
            applied.layout, applied.model, applied.model
        ),
        false => eprintln!(
            "dry run: layout {} fits {models}; {devices} would be affected; nothing stored",
            applied.layout
        ),
    }
}

fn functions() -> ExitCode {
    let rows = FUNCTIONS
        .iter()
        .map(|f| {
            let source =
                if f.in_guide { "guide p. 120-122, 138" } else { "third-party servers (unverified)" };
            vec![f.name.to_owned(), f.id.to_string(), source.to_owned()]
        })
        .collect();
    print_table(&["FUNCTION", "FEATURE ID", "SOURCE"], rows);
    ExitCode::SUCCESS
}
