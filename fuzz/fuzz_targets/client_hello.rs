//! Fuzzes the TLS ClientHello parser every phone connection goes through before any TLS stack
//! sees it. Oracle: no panic; a parsed hello is self-consistent, and a prefix of the input never
//! parses as a different hello (the listener peeks at growing prefixes of the same bytes).
#![no_main]

use libfuzzer_sys::fuzz_target;

// The parser is a pure module of the server crate; compiled in alone, without the server.
#[path = "../../crates/server/src/client_hello.rs"]
#[allow(dead_code, missing_docs)]
mod client_hello;

use client_hello::{HelloError, parse_client_hello};

fuzz_target!(|bytes: &[u8]| {
    match parse_client_hello(bytes) {
        Ok(hello) => {
            let _ = (hello.summary(false), hello.summary(true));
            let _ = (hello.rustls_can_serve(false), hello.rustls_can_serve(true));
            for cut in [bytes.len() / 2, bytes.len().saturating_sub(1)] {
                match parse_client_hello(&bytes[..cut]) {
                    Ok(earlier) => assert_eq!(earlier, hello, "a prefix parsed differently"),
                    Err(HelloError::Incomplete | HelloError::NotTls) => {}
                }
            }
        }
        Err(HelloError::Incomplete | HelloError::NotTls) => {}
    }
});
