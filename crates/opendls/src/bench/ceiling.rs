//! The TLS-only baseline of `bench storm`: a trivial rustls server with the storm server's
//! certificate answering every request with a fixed 200, and the clients that measure how many
//! handshakes per second it makes.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, ExitCode, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Instant;

use anyhow::{Context, Result, anyhow};
use opendls_phonesim::transport::{PhoneTls, connect_phone, request};

use super::pinning;
use super::process::{cpu_seconds, read_lines_with};

/// Handshakes plus a minimal exchange per second against a trivial rustls server that uses the
/// storm server's certificate, with enough clients at once to keep both cores busy.
/// Handshakes per second, and the server's and the clients' CPU per handshake in ms.
pub(super) async fn tls_ceiling(
    data_dir: &Path,
    requests: u32,
    cores: Option<&str>,
) -> Result<(f64, f64, f64)> {
    let mut child = Command::new(std::env::current_exe()?)
        .args(["bench", "tls-server", "--data-dir"])
        .arg(data_dir)
        .stdout(Stdio::piped())
        .spawn()
        .context("cannot start the TLS ceiling server")?;
    if let Some(cores) = cores {
        pinning::pin(child.id(), cores)?;
    }
    let line = read_lines_with(&mut child, &["listening on "])?.remove(0);
    let addr: SocketAddr = line.trim_start_matches("listening on ").trim().parse()?;
    let next = Arc::new(AtomicU32::new(0));
    let tls = PhoneTls::modern();
    let clients_cpu_before = cpu_seconds(std::process::id())?;
    let started = Instant::now();
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..64 {
        let (next, tls) = (next.clone(), tls.clone());
        workers.spawn(async move {
            while next.fetch_add(1, Ordering::Relaxed) < requests {
                let stream = connect_phone(addr, &tls).await?;
                let reply = request(stream, "POST", "/", &[], b"<x/>").await?;
                if reply.status != 200 {
                    return Err(anyhow!("TLS ceiling server answered {}", reply.status));
                }
            }
            Ok::<_, anyhow::Error>(())
        });
    }
    while let Some(done) = workers.join_next().await {
        done??;
    }
    let rate = f64::from(requests) / started.elapsed().as_secs_f64();
    let cpu_ms = cpu_seconds(child.id())? * 1000.0 / f64::from(requests);
    let client_ms = (cpu_seconds(std::process::id())? - clients_cpu_before) * 1000.0 / f64::from(requests);
    let _ = child.kill();
    let _ = child.wait();
    Ok((rate, cpu_ms, client_ms))
}

/// The hidden `opendls bench tls-server`: TLS with the data directory's certificate and a fixed
/// 200 answer to every request, nothing else.
pub fn tls_server(data_dir: &Path) -> Result<ExitCode> {
    let identity = opendls_pki::load_or_create_server_identity(data_dir, &["127.0.0.1".to_owned()], false)?;
    // The same resumption settings as the service's, so that the ceiling is comparable.
    let sessions = opendls_server::listener::TlsSessions::of(&opendls_server::config::Limits::default());
    let tls = opendls_server::listener::default_mode_tls(&identity, sessions)?;
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        println!("listening on {}", listener.local_addr()?);
        let acceptor = tokio_rustls::TlsAcceptor::from(tls);
        loop {
            let (tcp, _) = listener.accept().await?;
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                use tokio::io::{AsyncReadExt, AsyncWriteExt};
                let Ok(mut stream) = acceptor.accept(tcp).await else { return };
                let mut buffer = [0u8; 4096];
                let mut seen = Vec::new();
                while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buffer).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => seen.extend_from_slice(&buffer[..n]),
                    }
                }
                let answer = b"HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";
                let _ = stream.write_all(answer).await;
                let _ = stream.shutdown().await;
            });
        }
        #[allow(unreachable_code)]
        Ok::<_, anyhow::Error>(())
    })?;
    Ok(ExitCode::SUCCESS)
}
