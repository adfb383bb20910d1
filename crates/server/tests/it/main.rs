//! End-to-end tests: the real server on 127.0.0.1 with a temporary data directory, spoken to
//! over TLS and HTTP/1.1 with the guide's XML, exactly as a phone would.

mod support;

mod accounts;
mod admin_api;
mod backup;
mod bad_input;
mod browser;
mod console;
mod downloads;
mod ecdsa;
mod fleet;
mod flows;
mod hardening;
mod interop;
mod jobs;
mod layouts;
mod metrics;
mod provisioning;
mod proxy;
mod restart;
mod rollouts;
mod secure;
mod sessions;
mod templates;
mod tls_sessions;
