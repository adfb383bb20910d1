//! `[limits]`: what one client can make the service hold, and for how long (docs/security.md
//! lists each with its default).

use serde::{Deserialize, Serialize};

/// Request, connection and interaction limits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Largest accepted request body. A message is at most 50 kB (guide p. 69); the default
    /// leaves five times that for firmware that counts differently.
    pub max_body_bytes: usize,
    /// Longest value of one reported item, in bytes (no value can exceed its 50 kB message).
    pub max_item_value_bytes: usize,
    /// Most bytes of item names and values in one reply reassembled from fragments (guide p. 70);
    /// a full `ReadAllItems` is about 30 kB.
    pub max_reply_bytes: usize,
    /// Most bytes of reported items stored for one device.
    pub max_inventory_bytes: usize,
    /// Connections served at once on each phone port. When full, a new connection takes the
    /// place of the one that has gone longest without a request in progress; when every one
    /// has a request in progress, new ones wait in the kernel's backlog.
    pub max_connections: usize,
    /// Connections each listener's kernel queue holds before they are accepted (the `listen`
    /// backlog; the kernel caps it at `net.core.somaxconn`). Under a boot storm, connections
    /// beyond it are dropped by the kernel and the phones must retry: keep it in the thousands.
    pub listen_backlog: u32,
    /// TLS sessions each phone port keeps for resumption (TLS 1.2 session IDs, TLS 1.3
    /// tickets, on rustls and the legacy OpenSSL path alike); 0 turns resumption off. A phone
    /// that resumes makes one full handshake per interaction instead of three, if its session is
    /// still held: keep room for every phone that may contact the service within a few minutes.
    pub tls_session_cache: usize,
    /// TLS 1.3 tickets sent after each full handshake (each takes a place in the session
    /// cache); a phone resumes with one.
    pub tls13_tickets: usize,
    /// Connections served at once from one client address on each phone port. Many phones can
    /// sit behind one NAT address, and each holds a connection only for milliseconds at a time:
    /// a site booting more than this many phones at once behind one address should raise it.
    pub max_connections_per_address: usize,
    /// The shortest handshake and header deadline, in seconds: deadlines shrink from their
    /// configured values down to this as a listener fills.
    pub min_timeout_secs: u64,
    /// A connection can give its place to a newer one after this many milliseconds without a
    /// request in progress.
    pub evict_silent_after_millis: u64,
    /// Connections served at once by the DCMP listener (plain HTTP, reachable by phones).
    pub dcmp_max_connections: usize,
    /// Connections served at once from one address by the DCMP listener.
    pub dcmp_max_connections_per_address: usize,
    /// Connections served at once by the admin API.
    pub admin_max_connections: usize,
    /// Connections served at once from one address by the admin API.
    pub admin_max_connections_per_address: usize,
    /// Interactions under way (started, not yet ended) at most, per node. Below it the bound
    /// adapts to the server's scheduling delay (`admission_target_delay_millis`); phones
    /// starting an interaction past the bound are told `overload`, interactions already under
    /// way always continue.
    pub max_interactions_in_flight: usize,
    /// The adaptive bound on interactions under way never falls below this (nor rises above
    /// `max_interactions_in_flight`, which wins when this is larger).
    pub min_interactions_in_flight: usize,
    /// Milliseconds ready work may keep waiting for the server's threads (the smallest wait
    /// of each 100 ms) before the bound on interactions under way shrinks; below it, a bound
    /// that holds phones back grows. 0 fixes the bound at `max_interactions_in_flight`.
    pub admission_target_delay_millis: u64,
    /// Milliseconds a phone starting an interaction may be held, when every slot is taken,
    /// waiting for one to free before it is told `overload` (it has paid for its handshake
    /// already; retrying costs it another). 0 answers `overload` at once.
    pub admission_wait_millis: u64,
    /// Percent of `max_interactions_in_flight` one client address (an IPv6 /64) may hold.
    pub interactions_per_address_percent: u8,
    /// Seconds after which an interaction still at its first step (a start-up whose read was
    /// never answered) is forgotten once more than half of the interaction slots are taken.
    pub first_step_timeout_secs: u64,
    /// Milliseconds after which, with every interaction slot taken, the oldest interaction still
    /// at its first step gives its slot to a phone starting a new one.
    pub first_step_grace_millis: u64,
    /// Seconds a TLS handshake may take.
    pub handshake_timeout_secs: u64,
    /// Seconds to receive a request's headers, and the idle time a kept-alive connection may
    /// wait for its next request (old firmware reuses connections; at least 30 s, docs/wpi-protocol.md §2.3).
    pub idle_timeout_secs: u64,
    /// Seconds to receive a request's body.
    pub body_timeout_secs: u64,
    /// Largest firmware image or file an administrator may upload (the admin API streams it
    /// to disk; an upload must also finish within the admin API's 120 s request deadline).
    pub max_upload_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body_bytes: 5 * opendls_wpi::MAX_MESSAGE_BYTES,
            max_item_value_bytes: opendls_wpi::fragment::DEFAULT_MAX_VALUE_BYTES,
            max_reply_bytes: opendls_wpi::fragment::DEFAULT_MAX_REPLY_BYTES,
            max_inventory_bytes: opendls_engine::DEFAULT_MAX_INVENTORY_BYTES,
            max_connections: 1024,
            listen_backlog: 4096,
            tls_session_cache: 20_000,
            tls13_tickets: 1,
            max_connections_per_address: 512,
            min_timeout_secs: 1,
            evict_silent_after_millis: 100,
            dcmp_max_connections: 512,
            dcmp_max_connections_per_address: 128,
            admin_max_connections: 64,
            admin_max_connections_per_address: 32,
            // See BENCHMARKS.md (adaptive admission): the bound a storm reached stayed far below.
            max_interactions_in_flight: 4096,
            // The fixed bound of earlier versions: delay caused by a neighbour on the machine
            // (which refusing phones cannot cure) must not push admission below it. At 16, a
            // test's 16 phones at once were told `overload` on a loaded CI machine.
            min_interactions_in_flight: 64,
            admission_target_delay_millis: 20,
            admission_wait_millis: 1000,
            interactions_per_address_percent: 50,
            first_step_timeout_secs: 5,
            first_step_grace_millis: 1000,
            handshake_timeout_secs: 10,
            idle_timeout_secs: 30,
            body_timeout_secs: 10,
            max_upload_bytes: 512 * 1024 * 1024,
        }
    }
}
