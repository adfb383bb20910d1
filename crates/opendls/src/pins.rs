//! `opendls firmware pin|unpin|pins`: desired firmware per model (and group). Phones of the model
//! that start up with another version get the pinned image, as the DLS's automatic software
//! deployment does.

use std::process::ExitCode;

use anyhow::{Result, bail};
use clap::Args;
use opendls_api::{PinRequest, PinView};
use opendls_engine::utc_text;
use reqwest::Method;

use crate::admin::{encode, print_table};
use crate::client::Client;

/// Which pin: a model, and optionally a group.
#[derive(Args, Clone)]
pub(crate) struct PinScope {
    /// The model (CP410, 'OpenStage 60', 'CP4*').
    #[arg(long)]
    pub model: String,
    /// Only the phones of this group (a group's pin wins over the model's for its phones).
    #[arg(long)]
    pub group: Option<String>,
}

/// `firmware pin`.
#[derive(Args, Clone)]
pub(crate) struct PinArgs {
    #[command(flatten)]
    pub scope: PinScope,
    /// The version (V3 R5.12.0, V3R5.12.0 or 3.5.12.0) of a stored image for the model.
    pub version: Option<String>,
    /// Or the stored image by number (opendls firmware list).
    #[arg(long)]
    pub file: Option<i64>,
    /// Install it on phones that run a newer version too.
    #[arg(long)]
    pub allow_downgrade: bool,
}

pub(crate) async fn pin(client: &Client, args: PinArgs, json: bool) -> Result<ExitCode> {
    if args.version.is_none() && args.file.is_none() {
        bail!("name the version (opendls firmware pin --model M V3R5.12.0) or the image (--file ID)");
    }
    let request = PinRequest {
        model: args.scope.model,
        group: args.scope.group,
        version: args.version,
        file: args.file,
        allow_downgrade: args.allow_downgrade,
    };
    let pin: Option<PinView> = client.send(Method::PUT, "/api/firmware/pins", &request).await?;
    if let Some(pin) = pin {
        if json {
            println!("{}", serde_json::to_string_pretty(&pin)?);
        }
        eprintln!(
            "{} pinned to {} (image {}); its phones that run another version are called in for it \
             (opendls job show {})",
            scope_text(&pin),
            pin.version,
            pin.file_id,
            pin.job_id
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) async fn unpin(client: &Client, scope: PinScope) -> Result<ExitCode> {
    let mut path = format!("/api/firmware/pins?model={}", encode(&scope.model));
    if let Some(group) = &scope.group {
        path.push_str(&format!("&group={}", encode(group)));
    }
    let removed: Option<PinView> = client.send(Method::DELETE, &path, &()).await?;
    if let Some(pin) = removed {
        eprintln!("pin for {} removed; its job {} is cancelled", scope_text(&pin), pin.job_id);
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) async fn list(client: &Client, json: bool) -> Result<ExitCode> {
    let pins: Vec<PinView> = client.get("/api/firmware/pins").await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&pins)?);
        return Ok(ExitCode::SUCCESS);
    }
    let rows = pins
        .iter()
        .map(|pin| {
            vec![
                pin.model.clone(),
                pin.group.clone().unwrap_or_else(|| "-".into()),
                pin.version.clone(),
                pin.file_id.to_string(),
                if pin.allow_downgrade { "yes" } else { "no" }.into(),
                pin.job_id.to_string(),
                utc_text(pin.set_at),
            ]
        })
        .collect();
    print_table(&["MODEL", "GROUP", "VERSION", "IMAGE", "DOWNGRADE", "JOB", "SET"], rows);
    Ok(ExitCode::SUCCESS)
}

fn scope_text(pin: &PinView) -> String {
    match &pin.group {
        Some(group) => format!("{} in group {group}", pin.model),
        None => pin.model.clone(),
    }
}
