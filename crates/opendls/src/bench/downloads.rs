//! `opendls bench downloads`: many phones fetching one firmware image from the built-in file
//! server at once. The baseline, measured in the same run, is one phone fetching it alone; the
//! server's memory is read before and at the peak, to show it streams from disk.

use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use opendls_phonesim::transport::{PhoneTls, connect_phone};
use opendls_server::file_server::{Grant, TokenKey, download_path};
use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{ServerOptions, ServerProcess};
use crate::client::Client;
use crate::{Connection, DownloadsArgs};

/// What `opendls bench downloads` reports.
#[derive(Debug, Serialize)]
pub struct DownloadsReport {
    /// Phones downloading at once.
    pub phones: u32,
    /// The image's size in MiB.
    pub image_mib: f64,
    /// One phone alone: MiB/s.
    pub single_mib_per_sec: f64,
    /// All phones together: MiB/s.
    pub concurrent_mib_per_sec: f64,
    /// The concurrent throughput over the single one.
    pub ratio_to_single: f64,
    /// Seconds until the last phone had the whole image.
    pub concurrent_secs: f64,
    /// Downloads that did not deliver every byte.
    pub failed: u32,
    /// The server's resident memory before the downloads, MiB.
    pub server_rss_before_mib: f64,
    /// Its peak resident memory, MiB.
    pub server_peak_rss_mib: f64,
    /// Peak growth per phone downloading, KiB (bounded by buffers, whatever the image's size).
    pub growth_per_phone_kib: f64,
    /// The server's CPU seconds per GiB served.
    pub server_cpu_secs_per_gib: f64,
}

/// Runs the benchmark.
pub fn downloads(args: DownloadsArgs) -> Result<ExitCode> {
    let runtime = tokio::runtime::Runtime::new()?;
    let report = runtime.block_on(run(&args))?;
    super::show(&report, args.json, print_report)?;
    Ok(if report.failed == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

async fn run(args: &DownloadsArgs) -> Result<DownloadsReport> {
    let work = tempfile::tempdir().context("cannot create a temporary directory")?;
    let data_dir = work.path().join("downloads");
    let server = ServerProcess::start(&data_dir, &ServerOptions { files: true, ..ServerOptions::default() })?;
    let Some(file_addr) = server.file_addr else { bail!("the server does not serve files") };
    let size = (args.size_mib * 1024.0 * 1024.0) as u64;
    let (id, sha256) = store_image(&server, &data_dir, work.path(), size).await?;
    let secret = std::fs::read_to_string(data_dir.join(opendls_server::file_server::TOKEN_KEY_FILE))?;
    let key = TokenKey::new(secret.trim().as_bytes());
    let expires_at = super::process::unix_secs() + 3600;
    let path = |n: u32| {
        let mac = format!("00:1A:E8:{:02X}:{:02X}:{:02X}", (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff);
        let grant = Grant { mac, file_id: id, sha256: sha256.clone(), expires_at };
        download_path(&key, &grant, "OS_SIP_V3_R9_0_0.img")
    };

    eprintln!("one phone alone...");
    let started = Instant::now();
    let single = fetch(file_addr, &path(0)).await?;
    let single_secs = started.elapsed().as_secs_f64();
    if single != size {
        bail!("the single download delivered {single} of {size} bytes");
    }
    let rss_before = server.rss_mib()?;
    let cpu_before = server.cpu_seconds()?;
    eprintln!("{} phones at once...", args.phones);
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for n in 1..=args.phones {
        let path = path(n);
        tasks.spawn(async move { fetch(file_addr, &path).await });
    }
    let mut failed = 0;
    let mut bytes = 0u64;
    while let Some(result) = tasks.join_next().await {
        match result {
            Ok(Ok(got)) if got == size => bytes += got,
            _ => failed += 1,
        }
    }
    let concurrent_secs = started.elapsed().as_secs_f64();
    let cpu = server.cpu_seconds()? - cpu_before;
    let peak = server.peak_rss_mib()?;
    let mib = |b: f64| b / (1024.0 * 1024.0);
    let single_rate = mib(size as f64) / single_secs.max(1e-9);
    let concurrent_rate = mib(bytes as f64) / concurrent_secs.max(1e-9);
    Ok(DownloadsReport {
        phones: args.phones,
        image_mib: mib(size as f64),
        single_mib_per_sec: single_rate,
        concurrent_mib_per_sec: concurrent_rate,
        ratio_to_single: concurrent_rate / single_rate.max(1e-9),
        concurrent_secs,
        failed,
        server_rss_before_mib: rss_before,
        server_peak_rss_mib: peak,
        growth_per_phone_kib: (peak - rss_before) * 1024.0 / f64::from(args.phones.max(1)),
        server_cpu_secs_per_gib: cpu / (bytes as f64 / (1u64 << 30) as f64).max(1e-9),
    })
}

/// Writes an image of `size` bytes and stores it through the admin API; its id and SHA-256.
async fn store_image(
    server: &ServerProcess,
    data_dir: &Path,
    work: &Path,
    size: u64,
) -> Result<(i64, String)> {
    let image = work.join("OS_SIP_V3_R9_0_0.img");
    let mut file = tokio::fs::File::create(&image).await?;
    let block: Vec<u8> = (0..1024 * 1024).map(|n: u32| (n.wrapping_mul(2_654_435_761) >> 24) as u8).collect();
    let mut left = size;
    while left > 0 {
        let take = left.min(block.len() as u64) as usize;
        file.write_all(&block[..take]).await?;
        left -= take as u64;
    }
    file.flush().await?;
    let connection = Connection::to(format!("http://{}", server.admin_addr), data_dir.to_owned());
    let client = Client::new(&connection)?;
    let upload = tokio::fs::File::open(&image).await?;
    let path = "/api/files?kind=firmware&name=OS_SIP_V3_R9_0_0.img";
    let stored: Option<opendls_api::StoredFileView> = client.upload(path, upload).await?;
    let stored = stored.context("empty answer to the upload")?;
    Ok((stored.id, stored.sha256))
}

/// Downloads one URL over a new TLS connection as a phone does, counting the body's bytes and
/// keeping none of them.
async fn fetch(addr: std::net::SocketAddr, path: &str) -> Result<u64> {
    let mut stream = connect_phone(addr, &PhoneTls::modern()).await?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut buffer = vec![0u8; 64 * 1024];
    let mut head = Vec::new();
    // The head ends at the first blank line; what follows it is body.
    let mut body = loop {
        let n = tokio::time::timeout(Duration::from_secs(600), stream.read(&mut buffer)).await??;
        if n == 0 {
            bail!("the connection closed before the answer's head");
        }
        head.extend_from_slice(&buffer[..n]);
        if let Some(end) = head.windows(4).position(|w| w == b"\r\n\r\n") {
            if !head.starts_with(b"HTTP/1.1 200") {
                bail!("{}", String::from_utf8_lossy(&head[..end]));
            }
            break (head.len() - end - 4) as u64;
        }
    };
    loop {
        let n = tokio::time::timeout(Duration::from_secs(600), stream.read(&mut buffer)).await??;
        if n == 0 {
            return Ok(body);
        }
        body += n as u64;
    }
}

fn print_report(report: &DownloadsReport) {
    println!("downloads: {} phones fetching a {:.0} MiB image at once", report.phones, report.image_mib);
    println!(
        "  one phone alone: {:.0} MiB/s; all at once: {:.0} MiB/s ({:.2} x the single one), the last done after {:.1} s, {} failed",
        report.single_mib_per_sec,
        report.concurrent_mib_per_sec,
        report.ratio_to_single,
        report.concurrent_secs,
        report.failed
    );
    println!(
        "  server: RSS {:.1} MiB before, peak {:.1} MiB ({:.0} KiB more per phone); {:.2} CPU s per GiB served",
        report.server_rss_before_mib,
        report.server_peak_rss_mib,
        report.growth_per_phone_kib,
        report.server_cpu_secs_per_gib
    );
}
