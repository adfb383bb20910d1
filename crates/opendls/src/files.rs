//! `opendls firmware …` and `opendls file …`: the images and files the service keeps for phones.
//! An upload is streamed from disk; the service names it by its SHA-256.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, anyhow};
use clap::Subcommand;
use opendls_api::{DownloadUrl, FileKind, StoredFileView};
use opendls_engine::utc_text;
use reqwest::Method;

use crate::Connection;
use crate::admin::{encode, print_table};
use crate::client::Client;

/// Firmware images.
#[derive(Subcommand)]
pub(crate) enum FirmwareCommand {
    /// Store a firmware image. Its version comes from the vendor's name
    /// (OS_80_SIP_V1_R4_9_0.img is V1 R4.9.0, guide p. 57) or from --version.
    Add {
        /// The image file.
        file: PathBuf,
        /// The version, as phones report it (V3 R5.12.0) or dotted (3.5.12.0).
        #[arg(long)]
        version: Option<String>,
        /// Models it is for (CP210, 'OpenStage 6*'); repeatable. Default: any.
        #[arg(long = "model", value_name = "PATTERN")]
        models: Vec<String>,
        /// The file name phones are given (default: the file's own name).
        #[arg(long)]
        name: Option<String>,
    },
    /// Pin the firmware of a model (and group): phones of it that start up with another
    /// version get this one (no downgrade unless allowed; a failed phone waits out
    /// jobs.deployment_hold_off_secs; at most jobs.max_concurrent_deployments at once).
    Pin(crate::pins::PinArgs),
    /// Remove a model's (or group's) firmware pin.
    Unpin(crate::pins::PinScope),
    /// The firmware pins in force.
    Pins,
    #[command(flatten)]
    Stored(StoredCommand),
}

/// Ringtones, logos, pictures, screensavers, music on hold and LDAP templates.
#[derive(Subcommand)]
pub(crate) enum FileCommand {
    /// Store a file for phones.
    Add {
        /// The file.
        file: PathBuf,
        /// RINGTONE, LOGO, PIC, SCREENSAVER, MOH or LDAP (guide p. 53-55, 177).
        #[arg(long = "type", value_name = "TYPE")]
        file_type: String,
        /// The file name phones are given (default: the file's own name).
        #[arg(long)]
        name: Option<String>,
        /// Models it is for; repeatable. Default: any.
        #[arg(long = "model", value_name = "PATTERN")]
        models: Vec<String>,
    },
    #[command(flatten)]
    Stored(StoredCommand),
}

/// What firmware images and files have in common once stored.
#[derive(Subcommand)]
pub(crate) enum StoredCommand {
    /// The stored ones, newest first.
    List,
    /// One, in full.
    Show {
        /// Its number.
        id: i64,
    },
    /// A download URL for one device, valid for a while (what a deployment hands the phone as
    /// file-https-base-url, guide p. 53).
    Url {
        /// Its number.
        id: i64,
        /// The device (MAC) that may download it.
        #[arg(long)]
        device: String,
        /// Seconds the URL stays valid (60 to 2592000).
        #[arg(long, default_value_t = 86400)]
        valid_for: u64,
    },
    /// Remove one (its content goes when no other entry has the same content).
    Remove {
        /// Its number.
        id: i64,
    },
}

/// What to upload, and as what.
struct Upload<'a> {
    kind: FileKind,
    file: &'a Path,
    name: Option<&'a str>,
    file_type: Option<&'a str>,
    version: Option<&'a str>,
    models: &'a [String],
}

/// Runs a `firmware` command.
pub fn run_firmware(connection: Connection, command: FirmwareCommand) -> Result<ExitCode> {
    let json = connection.json;
    block_on(connection, move |client| async move {
        match command {
            FirmwareCommand::Add { file, version, models, name } => {
                let upload = Upload {
                    kind: FileKind::Firmware,
                    file: &file,
                    name: name.as_deref(),
                    file_type: None,
                    version: version.as_deref(),
                    models: &models,
                };
                add(&client, upload, json).await
            }
            FirmwareCommand::Pin(args) => crate::pins::pin(&client, args, json).await,
            FirmwareCommand::Unpin(scope) => crate::pins::unpin(&client, scope).await,
            FirmwareCommand::Pins => crate::pins::list(&client, json).await,
            FirmwareCommand::Stored(command) => stored(&client, FileKind::Firmware, command, json).await,
        }
    })
}

/// Runs a `file` command.
pub fn run_file(connection: Connection, command: FileCommand) -> Result<ExitCode> {
    let json = connection.json;
    block_on(connection, move |client| async move {
        match command {
            FileCommand::Add { file, file_type, name, models } => {
                let upload = Upload {
                    kind: FileKind::File,
                    file: &file,
                    name: name.as_deref(),
                    file_type: Some(&file_type),
                    version: None,
                    models: &models,
                };
                add(&client, upload, json).await
            }
            FileCommand::Stored(command) => stored(&client, FileKind::File, command, json).await,
        }
    })
}

async fn stored(client: &Client, kind: FileKind, command: StoredCommand, json: bool) -> Result<ExitCode> {
    match command {
        StoredCommand::List => list(client, kind, json).await,
        StoredCommand::Show { id } => show(client, id, json).await,
        StoredCommand::Url { id, device, valid_for } => url(client, id, &device, valid_for).await,
        StoredCommand::Remove { id } => remove(client, id).await,
    }
}

fn block_on<F, Fut>(connection: Connection, work: F) -> Result<ExitCode>
where
    F: FnOnce(Client) -> Fut,
    Fut: std::future::Future<Output = Result<ExitCode>>,
{
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async move { work(Client::new(&connection)?).await })
}

async fn add(client: &Client, upload: Upload<'_>, json: bool) -> Result<ExitCode> {
    let default_name = upload.file.file_name().and_then(|n| n.to_str()).map(str::to_owned);
    let name = upload
        .name
        .map(str::to_owned)
        .or(default_name)
        .ok_or_else(|| anyhow!("{} has no file name: give --name", upload.file.display()))?;
    let mut query = format!("/api/files?kind={}&name={}", upload.kind.as_str(), encode(&name));
    if let Some(file_type) = upload.file_type {
        query.push_str(&format!("&type={}", encode(file_type)));
    }
    if let Some(version) = upload.version {
        query.push_str(&format!("&version={}", encode(version)));
    }
    if !upload.models.is_empty() {
        query.push_str(&format!("&models={}", encode(&upload.models.join(","))));
    }
    let file = tokio::fs::File::open(upload.file)
        .await
        .with_context(|| format!("cannot read {}", upload.file.display()))?;
    let stored: StoredFileView =
        client.upload(&query, file).await?.ok_or_else(|| anyhow!("empty answer from the server"))?;
    if json {
        println!("{}", serde_json::to_string_pretty(&stored)?);
    } else {
        eprintln!("{} {} stored: {}", stored.kind.as_str(), stored.id, describe(&stored));
    }
    Ok(ExitCode::SUCCESS)
}

async fn list(client: &Client, kind: FileKind, json: bool) -> Result<ExitCode> {
    let files: Vec<StoredFileView> = client.get(&format!("/api/files?kind={}", kind.as_str())).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&files)?);
        return Ok(ExitCode::SUCCESS);
    }
    if files.is_empty() {
        eprintln!("no {} stored (opendls {} add FILE)", plural_kind(kind), kind.as_str());
        return Ok(ExitCode::SUCCESS);
    }
    let rows = files
        .iter()
        .map(|f| {
            let what = f.version.clone().unwrap_or_else(|| f.file_type.clone());
            let models = if f.models.is_empty() { "any".to_owned() } else { f.models.join(", ") };
            vec![f.id.to_string(), f.name.clone(), what, f.size.to_string(), models, utc_text(f.added_at)]
        })
        .collect();
    let what = if kind == FileKind::Firmware { "VERSION" } else { "TYPE" };
    print_table(&["ID", "NAME", what, "BYTES", "MODELS", "ADDED"], rows);
    Ok(ExitCode::SUCCESS)
}

async fn show(client: &Client, id: i64, json: bool) -> Result<ExitCode> {
    let file: StoredFileView = client.get(&format!("/api/files/{id}")).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&file)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!("{} {}: {}", file.kind.as_str(), file.id, file.name);
    println!("  type:    {}", file.file_type);
    if let Some(version) = &file.version {
        println!("  version: {version}");
    }
    let models = if file.models.is_empty() { "any".to_owned() } else { file.models.join(", ") };
    println!("  models:  {models}");
    println!("  size:    {} bytes", file.size);
    println!("  sha256:  {}", file.sha256);
    println!("  added:   {}", utc_text(file.added_at));
    Ok(ExitCode::SUCCESS)
}

async fn remove(client: &Client, id: i64) -> Result<ExitCode> {
    let removed: Option<StoredFileView> =
        client.send(Method::DELETE, &format!("/api/files/{id}"), &()).await?;
    if let Some(file) = removed {
        eprintln!("{} {} removed: {}", file.kind.as_str(), file.id, file.name);
    }
    Ok(ExitCode::SUCCESS)
}

async fn url(client: &Client, id: i64, device: &str, valid_secs: u64) -> Result<ExitCode> {
    let request = serde_json::json!({ "mac": device, "valid_secs": valid_secs });
    let answer: Option<DownloadUrl> =
        client.send(Method::POST, &format!("/api/files/{id}/url"), &request).await?;
    let answer = answer.ok_or_else(|| anyhow!("empty answer from the server"))?;
    println!("{}", answer.url);
    eprintln!("valid for {device} until {}", utc_text(answer.expires_at));
    Ok(ExitCode::SUCCESS)
}

fn describe(file: &StoredFileView) -> String {
    let what = file.version.clone().unwrap_or_else(|| file.file_type.clone());
    format!("{} ({what}, {} bytes, sha256 {})", file.name, file.size, &file.sha256[..12])
}

fn plural_kind(kind: FileKind) -> &'static str {
    match kind {
        FileKind::Firmware => "firmware images",
        FileKind::File => "files",
    }
}
