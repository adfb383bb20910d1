//! How values are spelled in the database, shared by every backend: scopes as two columns,
//! absent indexes as -1, documents as JSON text, further groups as a comma list, secret values
//! sealed. A backend reads and writes its rows with these, so both store the same thing.

use std::str::FromStr;

use opendls_engine::{
    DesiredEntry, DeviceRecord, EventKind, FlaggedChange, ItemKey, LocalChangePolicy, Phase, ReportedItem,
    Scope, SecurityMode, TargetState, Variable, WriteFailure,
};
use opendls_wpi::secrets::is_secret_item;

use crate::secrets::SecretKeys;
use crate::{StoreError, StoreResult};

/// The columns of an account as shown (`a.` for joins; every statement names the table `a`).
pub(crate) const ACCOUNT_COLUMNS: &str =
    "a.name, a.role, a.created_at, a.password_set_at, a.must_change_password";

/// The columns of an API token as shown (`t.`), [`TOKEN_FIELDS`] of them.
pub(crate) const TOKEN_COLUMNS: &str = "t.id, t.account, t.label, t.created_at, t.expires_at, t.last_used_at";

/// How many columns [`TOKEN_COLUMNS`] names.
pub(crate) const TOKEN_FIELDS: usize = 6;

/// The columns of an audit entry, in [`crate::audit::AuditEntry`]'s order.
pub(crate) const AUDIT_COLUMNS: &str =
    "id, at, actor, via, source, action, target, status, request, before, after";

/// The audit listing's condition on `$1` actor, `$2` a `LIKE` pattern for action or target,
/// `$3` since, `$4` until, `$5` before this id (each unused when null); text in any case.
pub(crate) const AUDIT_WHERE: &str = "($1 IS NULL OR actor = $1) \
     AND ($2 IS NULL OR lower(action) LIKE lower($2) ESCAPE '\\' OR lower(target) LIKE lower($2) ESCAPE '\\') \
     AND ($3 IS NULL OR at >= $3) AND ($4 IS NULL OR at < $4) AND ($5 IS NULL OR id < $5)";

/// The documents of an audit entry as stored: JSON text.
pub(crate) fn audit_text(entry: &crate::audit::NewAuditEntry) -> StoreResult<[Option<String>; 3]> {
    let text = |value: &Option<serde_json::Value>| value.as_ref().map(to_json).transpose();
    Ok([text(&entry.request)?, text(&entry.before)?, text(&entry.after)?])
}

/// An audit entry with its stored documents read back.
pub(crate) fn audit_document(
    id: i64,
    mut entry: crate::audit::NewAuditEntry,
    [request, before, after]: [Option<String>; 3],
) -> StoreResult<crate::audit::AuditEntry> {
    let document = |text: Option<String>| text.map(|text| from_json(&text)).transpose();
    (entry.request, entry.before, entry.after) = (document(request)?, document(before)?, document(after)?);
    Ok(crate::audit::AuditEntry { id, entry })
}

/// A stored role.
pub(crate) fn parse_role(text: &str) -> StoreResult<opendls_engine::Role> {
    text.parse().map_err(|e| StoreError::Corrupt(format!("accounts: {e}")))
}

/// The unfinished job-target states, spelled as the partial index `job_targets_active` spells
/// them (SQLite uses a partial index only for a query that repeats its condition).
pub(crate) const ACTIVE: &str = "('queued', 'contacting', 'running', 'waiting-busy')";

/// The unfinished states, held ones included.
pub(crate) const UNFINISHED: &str = "('queued', 'contacting', 'running', 'waiting-busy', 'held')";

/// Claims a device's contact-me: `$1` the MAC, `$2` until when, `$3` now. In this order of
/// first use, as SQLite numbers `$` parameters by it.
pub(crate) const CLAIM_CONTACT: &str = "INSERT INTO contact_schedule (mac, next_at, attempts) VALUES ($1, $2, 0) \
     ON CONFLICT (mac) DO UPDATE SET next_at = excluded.next_at WHERE contact_schedule.next_at <= $3";

/// The columns of `devices` a [`DeviceRecord`] is read from.
pub(crate) const DEVICE_COLUMNS: &str = "mac, e164, device_type, software_version, contact_me_uri, group_name, \
     other_groups, first_seen, last_contact, last_reason, remote_addr, inventory_read_at, reported, flagged, \
     tls_offer, approval";

/// The columns of a device listing (`d` is `devices`, `s` its `device_security` row).
pub(crate) const SUMMARY_COLUMNS: &str = "d.mac, d.e164, d.device_type, d.software_version, d.group_name, \
     d.other_groups, d.last_contact, d.last_reason, d.remote_addr, d.tls_offer, d.approval, \
     COALESCE(s.state, 'default') AS security_state";

/// A scope as its two columns, `scope` and `scope_key`.
pub(crate) fn scope_columns(scope: &Scope) -> (&'static str, &str) {
    match scope {
        Scope::Global => ("global", ""),
        Scope::Model(pattern) => ("model", pattern),
        Scope::Group(name) => ("group", name),
        Scope::Device(mac) => ("device", mac),
    }
}

/// A scope from its two columns.
pub(crate) fn scope_from_columns(scope: &str, key: String) -> StoreResult<Scope> {
    match scope {
        "global" => Ok(Scope::Global),
        "model" => Ok(Scope::Model(key)),
        "group" => Ok(Scope::Group(key)),
        "device" => Ok(Scope::Device(key)),
        other => Err(StoreError::Corrupt(format!("unknown scope {other:?}"))),
    }
}

/// An item index as stored: -1 for none, so that primary keys hold no NULL.
pub(crate) fn index_column(index: Option<u32>) -> i64 {
    index.map_or(-1, i64::from)
}

/// An item index as read back.
pub(crate) fn index_from_column(value: i64) -> Option<u32> {
    u32::try_from(value).ok()
}

/// A document as stored.
pub(crate) fn to_json<T: serde::Serialize>(value: &T) -> StoreResult<String> {
    serde_json::to_string(value).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// A document read back.
pub(crate) fn from_json<T: serde::de::DeserializeOwned>(text: &str) -> StoreResult<T> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// The stored form of a device's further groups: comma-separated (group names hold no comma).
pub(crate) fn join_groups(groups: &[String]) -> String {
    groups.join(",")
}

/// The further groups as stored by [`join_groups`].
pub(crate) fn split_groups(text: &str) -> Vec<String> {
    text.split(',').filter(|name| !name.is_empty()).map(str::to_owned).collect()
}

/// A history event's kind as stored.
pub(crate) fn kind_name(kind: EventKind) -> String {
    serde_json::to_value(kind).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
}

/// A history event's kind read back.
pub(crate) fn kind_from(text: String) -> StoreResult<EventKind> {
    serde_json::from_value(serde_json::Value::String(text)).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// A job target's state read back.
pub(crate) fn state_from(text: &str) -> StoreResult<TargetState> {
    TargetState::from_str(text).map_err(StoreError::Corrupt)
}

/// A job target's phase read back.
pub(crate) fn phase_from(text: Option<&str>) -> StoreResult<Option<Phase>> {
    text.map(|text| Phase::from_str(text).map_err(StoreError::Corrupt)).transpose()
}

/// A value as stored: sealed for secret items, as it is for the rest.
pub(crate) fn stored_value(secrets: &SecretKeys, name: &str, value: &str) -> String {
    if is_secret_item(name) { secrets.seal(value) } else { value.to_owned() }
}

/// Refused values, opened.
pub(crate) fn open_failures(
    failures: Vec<WriteFailure>,
    secrets: &SecretKeys,
) -> StoreResult<Vec<WriteFailure>> {
    failures.into_iter().map(|f| Ok(WriteFailure { value: secrets.open(&f.value)?, ..f })).collect()
}

/// A desired row (scope, scope key, name, index, stored value), opened.
pub(crate) fn desired_entry(
    (scope, key, name, index, value): (String, String, String, i64, String),
    secrets: &SecretKeys,
) -> StoreResult<DesiredEntry> {
    Ok(DesiredEntry {
        scope: scope_from_columns(&scope, key)?,
        key: ItemKey::new(name, index_from_column(index)),
        value: secrets.open(&value)?,
    })
}

/// A device's reported items and flagged changes as stored (JSON, secret values sealed).
pub(crate) fn stored_device_documents(
    device: &DeviceRecord,
    secrets: &SecretKeys,
) -> StoreResult<(String, String)> {
    // Phones report secret items too (`user-pwd`, guide p. 33): those values are sealed.
    let reported: Vec<std::borrow::Cow<'_, ReportedItem>> = device
        .reported
        .values()
        .map(|item| match is_secret_item(&item.key.name) && !item.value.is_empty() {
            true => {
                std::borrow::Cow::Owned(ReportedItem { value: secrets.seal(&item.value), ..item.clone() })
            }
            false => std::borrow::Cow::Borrowed(item),
        })
        .collect();
    let flagged: Vec<FlaggedChange> = device
        .flagged
        .iter()
        .map(|change| FlaggedChange {
            phone_value: stored_value(secrets, &change.key.name, &change.phone_value),
            desired_value: stored_value(secrets, &change.key.name, &change.desired_value),
            ..change.clone()
        })
        .collect();
    Ok((to_json(&reported)?, to_json(&flagged)?))
}

/// Fills a device read back with its reported items and flagged changes, opened.
pub(crate) fn open_device_documents(
    device: &mut DeviceRecord,
    reported: &str,
    flagged: &str,
    secrets: &SecretKeys,
) -> StoreResult<()> {
    let items: Vec<ReportedItem> = from_json(reported)?;
    device.reported = items
        .into_iter()
        .map(|mut item| {
            secrets.open_in_place(&mut item.value)?;
            Ok((item.key.clone(), item))
        })
        .collect::<StoreResult<_>>()?;
    let flagged: Vec<FlaggedChange> = from_json(flagged)?;
    device.flagged = flagged
        .into_iter()
        .map(|change| {
            let (phone_value, desired_value) =
                (secrets.open(&change.phone_value)?, secrets.open(&change.desired_value)?);
            Ok(FlaggedChange { phone_value, desired_value, ..change })
        })
        .collect::<StoreResult<_>>()?;
    Ok(())
}

/// The local-change policy in force from the stored (scope, policy) rows: the group's beats the
/// global one.
pub(crate) fn effective_policy(rows: &[(String, String)]) -> StoreResult<Option<LocalChangePolicy>> {
    let mut policy = None;
    for wanted in ["global", "group"] {
        for (scope, text) in rows {
            if scope == wanted {
                policy = Some(LocalChangePolicy::from_str(text).map_err(StoreError::Corrupt)?);
            }
        }
    }
    Ok(policy)
}

/// The Secure Mode in force from the stored (scope, key, mode) rows that apply to a device: the
/// narrowest scope wins; Default Mode when none is stored.
pub(crate) fn effective_mode(
    rows: Vec<(String, String, String)>,
) -> StoreResult<(SecurityMode, Option<Scope>)> {
    let mut best: Option<(Scope, SecurityMode)> = None;
    for (scope, key, mode) in rows {
        let scope = scope_from_columns(&scope, key)?;
        let mode = SecurityMode::from_str(&mode).map_err(StoreError::Corrupt)?;
        if best.as_ref().is_none_or(|(b, _)| scope.precedence() > b.precedence()) {
            best = Some((scope, mode));
        }
    }
    Ok(match best {
        Some((scope, mode)) => (mode, Some(scope)),
        None => (SecurityMode::Default, None),
    })
}

/// Variables as stored in a prepared device: JSON, secret values sealed one by one.
pub(crate) fn sealed_variables(variables: &[Variable], secrets: &SecretKeys) -> StoreResult<String> {
    let sealed: Vec<Variable> = variables
        .iter()
        .map(|v| Variable {
            value: if v.secret { secrets.seal(&v.value) } else { v.value.clone() },
            ..v.clone()
        })
        .collect();
    to_json(&sealed)
}

/// A prepared device's variables read back, opened.
pub(crate) fn opened_variables(text: &str, secrets: &SecretKeys) -> StoreResult<Vec<Variable>> {
    let stored: Vec<Variable> = from_json(text)?;
    stored
        .into_iter()
        .map(|v| {
            Ok(Variable { value: if v.secret { secrets.open(&v.value)? } else { v.value.clone() }, ..v })
        })
        .collect()
}

/// A variable row (scope, key, name, stored value, secret), opened.
pub(crate) fn opened_variable(
    (scope, key, name, value, secret): (String, String, String, String, bool),
    secrets: &SecretKeys,
) -> StoreResult<Variable> {
    let value = if secret { secrets.open(&value)? } else { value };
    Ok(Variable { scope: scope_from_columns(&scope, key)?, name, value, secret })
}

/// A device's Secure Mode view from what each backend reads: the mode in force and where it is
/// set, its record (Default Mode when none), its certificates and which PINs exist.
pub(crate) fn security_view(
    mac: String,
    (desired, desired_from): (SecurityMode, Option<Scope>),
    record: Option<opendls_engine::DeviceSecurity>,
    certificates: Vec<crate::CertificateDetail>,
    (individual_pin, group_pin): (bool, bool),
) -> crate::SecurityView {
    let record = record.unwrap_or_default();
    crate::SecurityView {
        mac,
        desired,
        desired_from,
        state: record.state.as_str().to_owned(),
        detail: record.detail,
        since: (record.since > 0).then_some(record.since),
        certificate_serial: record.certificate_serial,
        certificates,
        individual_pin,
        group_pin,
    }
}

/// A prepared device as listed: its stored variables (JSON) named, secret values masked.
pub(crate) fn provisioned_view(
    provisioned: opendls_engine::Provisioned,
    variables: &str,
    created_at: opendls_engine::Timestamp,
    bound_at: Option<opendls_engine::Timestamp>,
    conflict: Option<String>,
) -> StoreResult<crate::ProvisionedView> {
    let stored: Vec<Variable> = from_json(variables)?;
    Ok(crate::ProvisionedView {
        id: provisioned.id,
        mac: provisioned.mac,
        e164: provisioned.e164,
        group: provisioned.group,
        other_groups: provisioned.other_groups,
        variables: stored.iter().map(|v| v.name.clone()).collect(),
        values: stored
            .into_iter()
            .map(|v| (v.name, if v.secret { opendls_wpi::secrets::MASK.to_owned() } else { v.value }))
            .collect(),
        created_at,
        bound: provisioned.bound_mac.zip(bound_at),
        conflict,
    })
}
