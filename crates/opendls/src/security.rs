//! `opendls security ...`: Secure Mode administration (guide p. 62-68). The mode per device,
//! group or globally; a device's state and certificates; revoke; reset to Default Mode; PINs;
//! the CA (export, or import before the service starts).

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use opendls_api::{GeneratedPin, GroupPin, ModeSetting, Revoked, SecurityAction, SecurityView};
use opendls_engine::SecurityMode;
use reqwest::Method;

use opendls_engine::utc_text;

use crate::admin::{explicit_scope, print_table};
use crate::client::Client;
use crate::{Connection, PinCommand, SecurityCommand};

/// Runs one security command.
pub fn run(connection: Connection, command: SecurityCommand) -> Result<ExitCode> {
    if let SecurityCommand::ImportCa { cert, key } = &command {
        return import_ca(&connection.offline_data_dir(), cert, key);
    }
    if let SecurityCommand::ReissueServerCertificates { config, public_address } = &command {
        return reissue_server_certificates(
            &connection.offline_data_dir(),
            config.as_deref(),
            public_address.clone(),
        );
    }
    if let SecurityCommand::RotateSecretsKey { key_file, retire_old, database } = &command {
        let data_dir = connection.offline_data_dir();
        return rotate_secrets_key(&data_dir, key_file.as_deref(), database.as_deref(), *retire_old);
    }
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async move {
        let client = Client::new(&connection)?;
        let json = connection.json;
        match command {
            SecurityCommand::Mode { mode, scope, unset, push } => {
                let (scope_name, target) = explicit_scope(&scope, "security mode")?;
                let mode = if unset { None } else { mode };
                if mode.is_none() && !unset {
                    bail!("name a mode (default, secure, secure-pin) or --unset");
                }
                let wanted =
                    mode.as_deref().map(str::parse::<SecurityMode>).transpose().map_err(crate::Refused)?;
                let body = ModeSetting { scope: scope_name, target, mode: wanted };
                client.send::<_, ()>(Method::PUT, "/api/security/mode", &body).await?;
                match &mode {
                    Some(mode) => eprintln!("security mode {mode} set; devices move at their next contact"),
                    None => eprintln!("security mode unset"),
                }
                if push {
                    crate::jobs::push_configuration(&client, crate::admin::scope_query(&scope), json).await?;
                }
                Ok(ExitCode::SUCCESS)
            }
            SecurityCommand::Modes => {
                let modes: Vec<ModeSetting> = client.get("/api/security/modes").await?;
                if json {
                    println!("{}", serde_json::to_string_pretty(&modes)?);
                } else {
                    let rows = modes
                        .into_iter()
                        .map(|m| {
                            vec![
                                m.scope,
                                m.target.unwrap_or_default(),
                                m.mode.map(|m| m.as_str().to_owned()).unwrap_or_default(),
                            ]
                        })
                        .collect();
                    print_table(&["SCOPE", "TARGET", "MODE"], rows);
                }
                Ok(ExitCode::SUCCESS)
            }
            SecurityCommand::Show { mac } => {
                let view: SecurityView = client.get(&format!("/api/devices/{mac}/security")).await?;
                if json {
                    println!("{}", serde_json::to_string_pretty(&view)?);
                } else {
                    print_view(&view);
                }
                Ok(ExitCode::SUCCESS)
            }
            SecurityCommand::Revoke { mac, reason } => {
                let answer: Option<Revoked> = client
                    .send(
                        Method::POST,
                        &format!("/api/devices/{mac}/security/revoke"),
                        &SecurityAction { reason },
                    )
                    .await?;
                let revoked = answer.map_or(0, |a| a.revoked);
                if revoked == 0 {
                    eprintln!("{mac} has no certificate to revoke: nothing changed");
                    return Ok(ExitCode::from(1));
                }
                let certificates = crate::output::plural(revoked, "certificate");
                eprintln!("{certificates} of {mac} revoked; it is refused on the secure port");
                Ok(ExitCode::SUCCESS)
            }
            SecurityCommand::Reset { mac, reason } => {
                client
                    .send::<_, ()>(
                        Method::POST,
                        &format!("/api/devices/{mac}/security/reset"),
                        &SecurityAction { reason },
                    )
                    .await?;
                eprintln!("{mac} is back in Default Mode; its certificates are revoked");
                Ok(ExitCode::SUCCESS)
            }
            SecurityCommand::ExportCa { server, out } => {
                let path = if server { "/api/security/server-certificate" } else { "/api/security/ca" };
                let pem = client.get_text(path).await?;
                match out {
                    Some(file) => {
                        std::fs::write(&file, &pem)
                            .with_context(|| format!("cannot write {}", file.display()))?;
                        eprintln!("written to {}", file.display());
                    }
                    None => print!("{pem}"),
                }
                Ok(ExitCode::SUCCESS)
            }
            SecurityCommand::Pin { command } => pin(&client, command).await,
            SecurityCommand::ImportCa { .. }
            | SecurityCommand::RotateSecretsKey { .. }
            | SecurityCommand::ReissueServerCertificates { .. } => {
                unreachable!("handled above")
            }
        }
    })
}

async fn pin(client: &Client, command: PinCommand) -> Result<ExitCode> {
    match command {
        PinCommand::Generate { mac } => {
            let made: Option<GeneratedPin> =
                client.send(Method::POST, &format!("/api/devices/{mac}/pin"), &()).await?;
            let Some(made) = made else { bail!("empty answer from the server") };
            println!("{}", made.pin);
            eprintln!(
                "PIN for {mac}; it is shown only now. The user types it on the phone; its last three characters are the TAN."
            );
        }
        PinCommand::Remove { mac } => {
            client.send::<_, ()>(Method::DELETE, &format!("/api/devices/{mac}/pin"), &()).await?;
        }
        PinCommand::SetGroup { group, pin } => {
            let pin = match pin.as_deref() {
                Some(crate::secret_input::FROM_STDIN) => Some(crate::secret_input::read_secret("PIN")?),
                Some(_) => {
                    crate::secret_input::warn_visible("a PIN", "--pin - to type it or pipe it in");
                    pin
                }
                None => None,
            };
            let made: Option<GeneratedPin> = client
                .send(Method::PUT, &format!("/api/groups/{group}/pin"), &GroupPin { pin, set_at: None })
                .await?;
            let Some(made) = made else { bail!("empty answer from the server") };
            println!("{}", made.pin);
            eprintln!("default PIN of group {group}");
        }
        PinCommand::ShowGroup { group } => {
            let shown: GroupPin = client.get(&format!("/api/groups/{group}/pin")).await?;
            println!("{}", shown.pin.unwrap_or_default());
            if let Some(at) = shown.set_at {
                eprintln!("set {}", utc_text(at));
            }
        }
        PinCommand::RemoveGroup { group } => {
            client.send::<_, ()>(Method::DELETE, &format!("/api/groups/{group}/pin"), &()).await?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn print_view(view: &SecurityView) {
    println!("device:       {}", view.mac);
    let from = match &view.desired_from {
        None => "nowhere: Default Mode".to_owned(),
        Some(scope) => scope.to_string(),
    };
    println!("desired mode: {} (set at {from})", view.desired.as_str());
    match view.detail.as_str() {
        "" => println!("state:        {}", view.state),
        detail => println!("state:        {} ({detail})", view.state),
    }
    if let Some(since) = view.since {
        println!("since:        {}", utc_text(since));
    }
    println!("TLS offered:  {}", view.tls_offer.as_deref().unwrap_or("-"));
    let pin = match (view.individual_pin, view.group_pin) {
        (true, _) => "individual PIN set",
        (_, true) => "group default PIN",
        _ => "none",
    };
    println!("PIN:          {pin}");
    let rows = view
        .certificates
        .iter()
        .map(|c| {
            vec![
                c.record.serial.clone(),
                c.record.state.as_str().to_owned(),
                utc_text(c.record.not_after),
                utc_text(c.issued_at),
                c.ended_reason.clone().unwrap_or_default(),
            ]
        })
        .collect();
    println!();
    print_table(&["SERIAL", "STATE", "EXPIRES", "ISSUED", "ENDED BECAUSE"], rows);
}

/// Puts an administrator's CA into the data directory (the service must not be running; it
/// uses the CA from its next start). Devices bootstrapped with the old CA must be reset.
fn import_ca(data_dir: &Path, cert: &Path, key: &Path) -> Result<ExitCode> {
    let cert_pem =
        std::fs::read_to_string(cert).with_context(|| format!("cannot read {}", cert.display()))?;
    let key_pem = std::fs::read_to_string(key).with_context(|| format!("cannot read {}", key.display()))?;
    std::fs::create_dir_all(data_dir).with_context(|| format!("cannot create {}", data_dir.display()))?;
    match opendls_pki::CertificateAuthority::import(data_dir, &cert_pem, &key_pem) {
        Ok(_) => {
            eprintln!(
                "CA imported into {}; start (or restart) the service to use it. Devices already in Secure Mode \
                 trust the old CA: reset and bootstrap them again.",
                data_dir.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(error) => Err(crate::Refused(format!("CA not imported: {error}")).into()),
    }
}

/// `opendls security rotate-secrets-key`: see its help.
fn rotate_secrets_key(
    data_dir: &std::path::Path,
    key_file: Option<&std::path::Path>,
    postgres: Option<&str>,
    retire_old: bool,
) -> Result<ExitCode> {
    use opendls_store::secrets::{self, SecretKeys};
    let key_file =
        key_file.map(std::path::Path::to_path_buf).unwrap_or_else(|| data_dir.join(secrets::KEY_FILE));
    let database = data_dir.join(opendls_server::DATABASE_FILE);
    if (postgres.is_none() && !database.exists()) || !key_file.exists() {
        bail!("no database and key file to rotate: {} and {}", database.display(), key_file.display());
    }
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    // On PostgreSQL the other nodes take the key file from the database: it is replaced there
    // under the lock they take at their start.
    let shared = match postgres {
        Some(url) => Some(runtime.block_on(opendls_store::postgres::SharedFiles::lock(url))?),
        None => None,
    };
    if !retire_old {
        let id = secrets::rotate_key_file(&key_file)?;
        eprintln!("new secrets key {id} added to {}", key_file.display());
    }
    let keys = SecretKeys::load_or_create(&key_file)?;
    let resealed = runtime.block_on(async {
        match postgres {
            Some(url) => {
                let store = opendls_store::PostgresStore::open(url, keys, 1).await?;
                let resealed = store.reseal_secrets().await;
                opendls_store::Store::close(&store).await;
                resealed
            }
            None => {
                let store = opendls_store::SqliteStore::open_with_keys(&database, keys).await?;
                let resealed = store.reseal_secrets().await;
                store.close().await;
                resealed
            }
        }
    })?;
    eprintln!("{resealed} stored secrets re-sealed with the current key");
    if retire_old {
        secrets::retire_old_keys(&key_file)?;
        eprintln!("old keys removed from {}", key_file.display());
    }
    if let Some(shared) = shared {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs() as i64;
        runtime.block_on(async {
            let replaced =
                shared.replace(opendls_server::cluster::SECRETS_KEY, &std::fs::read(&key_file)?, now).await;
            shared.unlock().await;
            replaced.map_err(anyhow::Error::from)
        })?;
        eprintln!("the other nodes take the new key file from the database at their next start");
    }
    if !retire_old {
        eprintln!("start the service, then run `opendls security rotate-secrets-key --retire-old`");
    }
    Ok(ExitCode::SUCCESS)
}

/// `security reissue-server-certificates`: the server certificates issued anew, offline.
fn reissue_server_certificates(
    data_dir: &std::path::Path,
    config: Option<&std::path::Path>,
    public_address: Option<String>,
) -> Result<ExitCode> {
    let mut config = opendls_server::Config::load(config)?;
    config.data_dir = data_dir.to_owned();
    if public_address.is_some() {
        config.public_address = public_address;
    }
    if !data_dir.join(opendls_pki::ca::CA_CERT_FILE).exists() {
        bail!("{} holds no CA: start the service once first (or give --data-dir)", data_dir.display());
    }
    let names = config.certificate_names();
    let identity = opendls_pki::load_or_create_server_identity(data_dir, &names, true)?;
    let ca = opendls_pki::CertificateAuthority::load_or_create(data_dir)?;
    let secure = ca.secure_server_identity(data_dir, &names, true)?;
    println!("issued for {}:", names.join(", "));
    println!("  {} (Default port and admin API)", identity.cert_path.display());
    println!("  {} (secure port, signed by the unchanged CA)", secure.cert_path.display());
    if config.secure_mode.ecdsa {
        let ecdsa = opendls_pki::load_or_create_ecdsa_server_identity(data_dir, &names, true)?;
        println!("  {} (Default port, ECDSA, for clients that accept it)", ecdsa.cert_path.display());
    }
    eprintln!("restart the service to serve them");
    Ok(ExitCode::SUCCESS)
}
