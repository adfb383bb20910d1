//! `opendls serve`: load the configuration, start the service, stop cleanly on Ctrl-C / SIGTERM.

use std::io::Write;
use std::process::ExitCode;

use anyhow::{Context, Result};
use opendls_server::Config;
use opendls_server::config::LogFormat;
use tracing_subscriber::EnvFilter;

use crate::ServeArgs;

/// Runs the service until interrupted.
pub fn run(args: ServeArgs) -> Result<ExitCode> {
    if args.print_config {
        print!("{}", opendls_server::config::EXAMPLE_TOML);
        return Ok(ExitCode::SUCCESS);
    }
    let mut config = Config::load(args.config.as_deref())?;
    if let Some(dir) = args.data_dir {
        config.data_dir = dir;
    }
    if let Some(url) = args.database {
        config.database.url = url;
    }
    if let Some(address) = args.phone_listen {
        config.phone_listen = address;
    }
    if let Some(address) = args.admin_listen {
        config.admin_listen = address;
    }
    if args.insecure_admin {
        config.insecure_admin = true;
    }
    if let Some(address) = args.public_address {
        config.public_address = Some(address);
    }
    match args.dcmp_listen.as_deref() {
        Some("off") => config.dcmp_listen = None,
        Some(address) => {
            config.dcmp_listen = Some(address.parse().with_context(|| format!("--dcmp-listen {address:?}"))?)
        }
        None => {}
    }
    match args.file_listen.as_deref() {
        Some("off") => config.file_listen = None,
        Some(address) => {
            config.file_listen = Some(address.parse().with_context(|| format!("--file-listen {address:?}"))?)
        }
        None => {}
    }
    match args.secure_listen.as_deref() {
        Some("off") => config.secure_listen = None,
        Some(address) => {
            config.secure_listen =
                Some(address.parse().with_context(|| format!("--secure-listen {address:?}"))?)
        }
        None => {}
    }
    config.validate()?;
    let filter = EnvFilter::try_from_env("RUST_LOG")
        .or_else(|_| EnvFilter::try_new(&config.log))
        .with_context(|| format!("log filter {:?}", config.log))?;
    // Logs go to standard error; standard output carries only the start-up lines, which scripts
    // (and `opendls bench`) read for the bound addresses.
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        // Colours only for a person at a terminal, never into a file or a log collector.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    match config.log_format {
        LogFormat::Text => logs.init(),
        LogFormat::Json => logs.json().init(),
    }

    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(async {
        let server = opendls_server::start(config).await?;
        // Scripts read these lines for the bound addresses and may close the pipe after the
        // first: a closed standard output must never stop the service, so errors are ignored.
        let mut lines = vec![
            format!(
                "opendls is serving phones on https://{}/DeploymentService/LoginService",
                server.phone_addr
            ),
            format!(
                "admin API on {} (token in {})",
                server.admin_url,
                server.data_dir.join(opendls_server::ADMIN_TOKEN_FILE).display()
            ),
        ];
        if let Some(address) = server.secure_addr {
            lines.push(format!(
                "Secure Mode (mutual TLS) on https://{address}/DeploymentService/LoginService"
            ));
        }
        if let Some(address) = server.dcmp_addr {
            lines.push(format!("DCMP polling on http://{address}{}", opendls_server::dcmp::POLL_PATH));
        }
        if let Some(address) = server.file_addr {
            lines.push(format!("firmware and file downloads on https://{address}/files/"));
        }
        // Last: scripts read the lines above by their position.
        lines.push(format!("database: {}", server.database));
        lines.push(format!(
            "metrics on {}/metrics (token in {})",
            server.admin_url,
            server.data_dir.join(opendls_server::metrics::METRICS_TOKEN_FILE).display()
        ));
        let mut stdout = std::io::stdout().lock();
        for line in lines {
            let _ = writeln!(stdout, "{line}");
        }
        let _ = stdout.flush();
        drop(stdout);
        let stop = server.shutdown_token();
        tokio::spawn(async move {
            wait_for_signal().await;
            tracing::info!("stopping");
            stop.cancel();
        });
        server.wait().await;
        Ok::<_, anyhow::Error>(())
    })?;
    Ok(ExitCode::SUCCESS)
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut terminate = signal(SignalKind::terminate()).expect("SIGTERM handler");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
}
