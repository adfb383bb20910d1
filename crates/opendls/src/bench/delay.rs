//! `opendls bench delay`: a TCP relay that holds every chunk back a fixed time in each
//! direction, so that a service can be measured against a database across a network on one
//! machine (where `tc netem` is not at hand). Chunks keep their order and their spacing: the
//! relay delays, it does not throttle.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::DelayArgs;

/// Runs the relay until it is stopped.
pub fn delay(args: DelayArgs) -> Result<ExitCode> {
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let listener = TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("cannot listen on {}", args.listen))?;
        let delay = Duration::from_secs_f64(args.delay_ms / 1000.0);
        eprintln!(
            "relaying {} -> {} with {} ms each way (a round trip adds {} ms); Ctrl-C stops",
            listener.local_addr()?,
            args.to,
            args.delay_ms,
            2.0 * args.delay_ms
        );
        relay(listener, args.to, delay).await;
        Ok(ExitCode::SUCCESS)
    })
}

/// Accepts connections on `listener` and carries each to `to` and back, `delay` late each way.
pub async fn relay(listener: TcpListener, to: SocketAddr, delay: Duration) {
    while let Ok((client, _)) = listener.accept().await {
        tokio::spawn(async move {
            let server = match TcpStream::connect(to).await {
                Ok(server) => server,
                Err(error) => return eprintln!("cannot reach {to}: {error}"),
            };
            let _ = (client.set_nodelay(true), server.set_nodelay(true));
            let (client_read, client_write) = client.into_split();
            let (server_read, server_write) = server.into_split();
            tokio::join!(carry(client_read, server_write, delay), carry(server_read, client_write, delay));
        });
    }
}

/// Carries one direction: each chunk read is written `delay` after it arrived.
async fn carry(mut from: OwnedReadHalf, mut to: OwnedWriteHalf, delay: Duration) {
    let (line, mut due) = mpsc::unbounded_channel::<(Instant, Vec<u8>)>();
    let reading = async move {
        let mut buffer = vec![0; 64 * 1024];
        while let Ok(read @ 1..) = from.read(&mut buffer).await {
            if line.send((Instant::now() + delay, buffer[..read].to_vec())).is_err() {
                break;
            }
        }
    };
    let writing = async move {
        while let Some((at, chunk)) = due.recv().await {
            tokio::time::sleep_until(at).await;
            if to.write_all(&chunk).await.is_err() {
                return;
            }
        }
        let _ = to.shutdown().await;
    };
    tokio::join!(reading, writing);
}
