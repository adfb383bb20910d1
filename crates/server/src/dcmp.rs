//! DCMP, the "DLS contact-me proxy" for phones behind NAT or a firewall: such phones poll
//! `GET /dcmp/contact-me?device-id=<MAC>` over plain HTTP (guide p. 15, 24). `202 Accepted`
//! tells the phone that work is waiting and it calls in `solicited`; `200 OK` means nothing
//! is (docs/wpi-protocol.md §2.6). The answer reveals only whether work waits, never what.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::routing::get;
use opendls_engine::normalize_mac;
use opendls_store::jobs::JobStore;

use crate::metrics::Metrics;

/// The path phones poll (guide p. 15).
pub const POLL_PATH: &str = "/dcmp/contact-me";

/// The DCMP router over `store`.
pub fn router<S: JobStore>(store: Arc<S>, metrics: Arc<Metrics>) -> Router {
    Router::new().route(POLL_PATH, get(poll::<S>)).with_state((store, metrics))
}

async fn poll<S: JobStore>(
    State((store, metrics)): State<(Arc<S>, Arc<Metrics>)>,
    Query(query): Query<HashMap<String, String>>,
) -> (StatusCode, &'static str) {
    let Some(mac) = query.get("device-id").and_then(|id| normalize_mac(id)) else {
        metrics.dcmp_poll("refused");
        return (StatusCode::BAD_REQUEST, "device-id must be the phone's MAC address\n");
    };
    match store.pending_work(&mac).await {
        Ok(true) => {
            tracing::debug!(mac, "DCMP poll: work pending");
            metrics.dcmp_poll("work");
            (StatusCode::ACCEPTED, "")
        }
        Ok(false) => {
            metrics.dcmp_poll("nothing");
            (StatusCode::OK, "")
        }
        Err(error) => {
            // 200 makes the phone poll again later; nothing is lost.
            tracing::warn!(%error, mac, "DCMP poll: storage error, answered as nothing pending");
            metrics.dcmp_poll("error");
            (StatusCode::OK, "")
        }
    }
}
