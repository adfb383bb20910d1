//! Secure Mode routes of the admin API (guide p. 62-68): desired mode per scope, a device's
//! security view, revocation, reset to Default Mode, PINs, and the CA and secure-port
//! certificates for export.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use opendls_engine::{Scope, SecurityMode};
use opendls_store::{AdminStore, SecurityStore};

use super::body::ApiJson;
use super::{AdminState, Answer, failure, parse_mac, parse_scope, scope_parts};
use crate::api::{
    CertificateView, GeneratedPin, GroupPin, ModeSetting, Revoked, SecurityAction, SecurityView,
};
use crate::phone::unix_now;

pub(super) async fn set_mode<S: SecurityStore>(
    State(state): State<Arc<AdminState<S>>>,
    ApiJson(request): ApiJson<ModeSetting>,
) -> Answer {
    let scope = parse_scope(&request.scope, request.target.as_deref())?;
    let mode = request.mode;
    if mode.is_some_and(|m| m != SecurityMode::Default) && !state.settings.secure_port_enabled {
        return Err(failure(
            StatusCode::CONFLICT,
            "the secure listener is off (secure_listen): no device can be bootstrapped",
        ));
    }
    let before = state.store.security_modes().await?.into_iter().find(|(at, _)| *at == scope).map(|(_, m)| m);
    state.store.set_security_mode(&scope, mode).await?;
    tracing::info!(%scope, mode = mode.map(SecurityMode::as_str).unwrap_or("(unset)"), "security mode set");
    let document = |mode: Option<SecurityMode>| {
        let (scope, target) = scope_parts(&scope);
        serde_json::to_value(ModeSetting { scope, target, mode }).ok()
    };
    Ok(super::access::audited(StatusCode::NO_CONTENT.into_response(), document(before), document(mode)))
}

pub(super) async fn list_modes<S: SecurityStore>(State(state): State<Arc<AdminState<S>>>) -> Answer {
    let modes = state.store.security_modes().await?;
    let listed: Vec<ModeSetting> = modes
        .into_iter()
        .map(|(scope, mode)| {
            let (scope, target) = scope_parts(&scope);
            ModeSetting { scope, target, mode: Some(mode) }
        })
        .collect();
    Ok(Json(listed).into_response())
}

pub(super) async fn show<S: SecurityStore + AdminStore>(
    State(state): State<Arc<AdminState<S>>>,
    Path(mac): Path<String>,
) -> Answer {
    let mac = parse_mac(&mac)?;
    let Some(view) = state.store.security_view(&mac).await? else {
        return Err(failure(StatusCode::NOT_FOUND, format!("no device {mac}")));
    };
    let tls_offer = state.store.device(&mac).await?.and_then(|d| d.tls_offer);
    Ok(Json(security_view(view, tls_offer)).into_response())
}

fn reason(request: &Option<Json<SecurityAction>>, default: &str) -> String {
    request
        .as_ref()
        .and_then(|r| r.reason.clone())
        .filter(|r| !r.trim().is_empty())
        .unwrap_or_else(|| default.to_owned())
}

pub(super) async fn revoke<S: SecurityStore>(
    State(state): State<Arc<AdminState<S>>>,
    Path(mac): Path<String>,
    request: Option<Json<SecurityAction>>,
) -> Answer {
    let mac = parse_mac(&mac)?;
    let why = reason(&request, "revoked by an administrator");
    let revoked = state.store.revoke_certificates(&mac, &why, unix_now()).await?;
    tracing::warn!(target: "opendls::security", mac, revoked, reason = why, "certificates revoked");
    Ok(Json(Revoked { revoked }).into_response())
}

pub(super) async fn reset<S: SecurityStore>(
    State(state): State<Arc<AdminState<S>>>,
    Path(mac): Path<String>,
    request: Option<Json<SecurityAction>>,
) -> Answer {
    let mac = parse_mac(&mac)?;
    let why = reason(&request, "reset by an administrator");
    if !state.store.reset_security(&mac, &why, unix_now()).await? {
        return Err(failure(StatusCode::NOT_FOUND, format!("no device {mac}")));
    }
    tracing::warn!(target: "opendls::security", mac, reason = why, "device reset to Default Mode");
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// A new individual PIN for a device (it may not have registered yet: p. 66 prepares devices
/// before their first contact). The PIN is in this answer only.
pub(super) async fn generate_device_pin<S: SecurityStore>(
    State(state): State<Arc<AdminState<S>>>,
    Path(mac): Path<String>,
) -> Answer {
    let mac = parse_mac(&mac)?;
    let pin = opendls_pki::bundle::generate_pin(state.settings.pin_digits);
    state.store.set_pin(&Scope::Device(mac.clone()), &pin, unix_now()).await?;
    tracing::info!(mac, "individual PIN generated");
    Ok(Json(GeneratedPin { pin }).into_response())
}

pub(super) async fn remove_device_pin<S: SecurityStore>(
    State(state): State<Arc<AdminState<S>>>,
    Path(mac): Path<String>,
) -> Answer {
    let mac = parse_mac(&mac)?;
    match state.store.remove_pin(&Scope::Device(mac.clone())).await? {
        true => Ok(StatusCode::NO_CONTENT.into_response()),
        false => Err(failure(StatusCode::NOT_FOUND, format!("no individual PIN for {mac}"))),
    }
}

fn check_pin(pin: &str) -> Result<(), super::Rejection> {
    let ok = pin.chars().count() >= 4
        && pin.chars().count() <= 32
        && pin.chars().all(|c| c.is_ascii_alphanumeric());
    if ok {
        Ok(())
    } else {
        Err(failure(
            StatusCode::BAD_REQUEST,
            "a PIN has 4 to 32 letters or digits (the last three are the TAN)",
        ))
    }
}

/// Sets a group's default PIN: the one given, or a generated one.
pub(super) async fn set_group_pin<S: SecurityStore>(
    State(state): State<Arc<AdminState<S>>>,
    Path(group): Path<String>,
    request: Option<Json<GroupPin>>,
) -> Answer {
    let pin = match request.and_then(|Json(r)| r.pin) {
        Some(pin) => {
            check_pin(&pin)?;
            pin
        }
        None => opendls_pki::bundle::generate_pin(state.settings.pin_digits),
    };
    state.store.set_pin(&Scope::Group(group.clone()), &pin, unix_now()).await?;
    tracing::info!(group, "group default PIN set");
    Ok(Json(GeneratedPin { pin }).into_response())
}

pub(super) async fn show_group_pin<S: SecurityStore>(
    State(state): State<Arc<AdminState<S>>>,
    Path(group): Path<String>,
) -> Answer {
    match state.store.group_pin(&group).await? {
        Some((pin, set_at)) => Ok(Json(GroupPin { pin: Some(pin), set_at: Some(set_at) }).into_response()),
        None => Err(failure(StatusCode::NOT_FOUND, format!("no default PIN for group {group}"))),
    }
}

pub(super) async fn remove_group_pin<S: SecurityStore>(
    State(state): State<Arc<AdminState<S>>>,
    Path(group): Path<String>,
) -> Answer {
    match state.store.remove_pin(&Scope::Group(group.clone())).await? {
        true => Ok(StatusCode::NO_CONTENT.into_response()),
        false => Err(failure(StatusCode::NOT_FOUND, format!("no default PIN for group {group}"))),
    }
}

fn pem(text: &str) -> Answer {
    Ok(([(header::CONTENT_TYPE, "application/x-pem-file")], text.to_owned()).into_response())
}

pub(super) async fn ca_certificate<S>(State(state): State<Arc<AdminState<S>>>) -> Answer {
    pem(&state.settings.ca_pem)
}

pub(super) async fn secure_server_certificate<S>(State(state): State<Arc<AdminState<S>>>) -> Answer {
    pem(&state.settings.secure_server_pem)
}

/// A device's Secure Mode as the API shows it.
fn security_view(view: opendls_store::security::SecurityView, tls_offer: Option<String>) -> SecurityView {
    let certificates = view
        .certificates
        .into_iter()
        .map(|c| CertificateView {
            record: c.record,
            issued_at: c.issued_at,
            ended_at: c.ended_at,
            ended_reason: c.ended_reason,
        })
        .collect();
    SecurityView {
        mac: view.mac,
        desired: view.desired,
        desired_from: view.desired_from,
        state: view.state,
        detail: view.detail,
        since: view.since,
        certificate_serial: view.certificate_serial,
        certificates,
        individual_pin: view.individual_pin,
        group_pin: view.group_pin,
        tls_offer,
    }
}
