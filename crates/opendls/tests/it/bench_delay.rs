//! `opendls bench delay`: bytes pass unchanged, each way at least the delay late.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{offline, stderr};

#[test]
fn the_relay_delays_each_way_and_changes_nothing() {
    let echo = TcpListener::bind("127.0.0.1:0").unwrap();
    let to = echo.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        let (mut stream, _) = echo.accept().unwrap();
        let mut buffer = [0; 1024];
        while let Ok(read @ 1..) = stream.read(&mut buffer) {
            stream.write_all(&buffer[..read]).unwrap();
        }
    });
    let mut relay = Command::new(env!("CARGO_BIN_EXE_opendls"))
        .args(["bench", "delay", "--listen", "127.0.0.1:0", "--to", &to, "--delay-ms", "50"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut said = String::new();
    BufReader::new(relay.stderr.take().unwrap()).read_line(&mut said).unwrap();
    // "relaying 127.0.0.1:PORT -> ..."
    let listening = said.split_whitespace().nth(1).expect("the relay says where it listens").to_owned();
    let mut stream = TcpStream::connect(&listening).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let sent = Instant::now();
    stream.write_all(b"SELECT 1;\0binary\xff").unwrap();
    let mut answer = [0; 17];
    stream.read_exact(&mut answer).unwrap();
    let round_trip = sent.elapsed();
    relay.kill().unwrap();
    let _ = relay.wait();
    assert_eq!(&answer, b"SELECT 1;\0binary\xff");
    assert!(round_trip >= Duration::from_millis(100), "50 ms each way, but back after {round_trip:?}");

    let refused = offline(&["bench", "delay", "--to", &to, "--delay-ms", "20000"]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(stderr(&refused).contains("expected milliseconds from 0 to 10000"), "{}", stderr(&refused));
}
