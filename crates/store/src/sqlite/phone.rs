//! The phone endpoint's hot path on SQLite: one read per request (interaction, device context,
//! certificate) and one transaction per decision, with secret values sealed on the way in and
//! opened on the way out.

use opendls_engine::{Decision, DesiredEntry, DeviceRecord, InteractionChange, InteractionState, Timestamp};
use rusqlite::{Connection, OptionalExtension, Transaction, params};

use super::{
    SqliteStore, desired_entry, desired_row, failure_from_row, from_json, index_column, jobs, kind_name,
    load_device, open_failures, provisioning, scope_columns, security, stored_value, to_json, variables,
};
use crate::secrets::SecretKeys;
use crate::{DeviceContext, InteractionLookup, PhoneStore, RequestContext, StoreResult};

/// Everything the engine needs about one device, read on `connection`.
/// The desired items that may apply to a device: `?1` its group, `?2` its MAC, `?3` its further
/// groups as `,a,b,`.
const DESIRED_FOR_DEVICE: &str = "SELECT scope, scope_key, name, item_index, value FROM desired_items \
     WHERE scope IN ('global', 'model') OR (scope = 'group' AND scope_key = ?1) \
     OR (scope = 'device' AND scope_key = ?2) \
     OR (?3 != '' AND scope = 'group' AND instr(?3, ',' || scope_key || ',') > 0) \
     ORDER BY name, item_index";

pub(super) fn load_context(
    connection: &Connection,
    mac: &str,
    secrets: &SecretKeys,
) -> StoreResult<DeviceContext> {
    let device = load_device(connection, mac, secrets)?;
    let group = device.as_ref().and_then(|d| d.group.clone()).unwrap_or_default();
    let other_groups = device.as_ref().map(|d| super::group_haystack(&d.other_groups)).unwrap_or_default();
    let desired = connection
        .prepare_cached(DESIRED_FOR_DEVICE)?
        .query_map(params![group, mac, other_groups], desired_row)?
        .map(|row| desired_entry(row?, secrets))
        .collect::<StoreResult<Vec<_>>>()?;
    let failures = connection
        .prepare_cached("SELECT name, item_index, value, status, at FROM write_failures WHERE mac = ?1")?
        .query_map(params![mac], failure_from_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let failures = open_failures(failures, secrets)?;
    let policies = connection
            .prepare_cached(
                "SELECT scope, policy FROM policies WHERE scope = 'global' OR (scope = 'group' AND scope_key = ?1)",
            )?
            .query_map(params![group], |row| Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?)))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
    let policy = crate::columns::effective_policy(&policies)?;
    let tasks = jobs::device_tasks(connection, mac)?;
    let (security_mode, security) = security::device_security(connection, mac, &group)?;
    let variables = variables::device_variables(connection, mac, &group, &other_groups, secrets)?;
    Ok(DeviceContext { device, desired, variables, failures, policy, tasks, security_mode, security })
}

/// The interaction a `reply-to` belongs to: by session cookie, else the single recent one from
/// the same address.
pub(super) fn load_interaction(
    connection: &Connection,
    lookup: &InteractionLookup,
    secrets: &SecretKeys,
) -> StoreResult<Option<InteractionState>> {
    let InteractionLookup { session_id, remote_addr, not_before, .. } = lookup;
    if let Some(session_id) = session_id {
        let state: Option<String> = connection
            .prepare_cached("SELECT state FROM interactions WHERE session_id = ?1 AND updated_at >= ?2")?
            .query_row(params![session_id, not_before], |row| row.get(0))
            .optional()?;
        if let Some(state) = state {
            return Ok(Some(from_json(&secrets.open(&state)?)?));
        }
    }
    // Only an unambiguous match: two phones behind one NAT address must not be confused.
    let states = connection
        .prepare_cached("SELECT state FROM interactions WHERE remote_addr = ?1 AND updated_at >= ?2 LIMIT 2")?
        .query_map(params![remote_addr, not_before], |row| row.get::<_, String>(0))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    match states.as_slice() {
        [state] => Ok(Some(from_json(&secrets.open(state)?)?)),
        _ => Ok(None),
    }
}

impl PhoneStore for SqliteStore {
    async fn device_context(&self, mac: &str) -> StoreResult<DeviceContext> {
        let (mac, secrets) = (mac.to_owned(), self.secrets.clone());
        self.read_here(move |connection| load_context(connection, &mac, &secrets)).await
    }

    async fn request_context(
        &self,
        lookup: Option<InteractionLookup>,
        certificate_fingerprint: Option<String>,
        device_of: impl Fn(Option<&InteractionState>) -> Option<String> + Send + 'static,
    ) -> StoreResult<RequestContext> {
        let secrets = self.secrets.clone();
        self.read_here(move |connection| {
            let interaction = match &lookup {
                Some(lookup) => load_interaction(connection, lookup, &secrets)?,
                None => None,
            };
            let mac = device_of(interaction.as_ref());
            let context = match &mac {
                Some(mac) => load_context(connection, mac, &secrets)?,
                None => DeviceContext::default(),
            };
            let certificate = match &certificate_fingerprint {
                Some(fingerprint) => security::certificate_by_fingerprint(connection, fingerprint)?,
                None => None,
            };
            Ok(RequestContext { interaction, mac, context, certificate })
        })
        .await
    }

    async fn provisioned_for(
        &self,
        mac: &str,
        e164: Option<&str>,
    ) -> StoreResult<Option<opendls_engine::Provisioned>> {
        self.find_provisioned(mac, e164).await
    }

    async fn bootstrap_pin(
        &self,
        mac: &str,
        first_contact_group: Option<&str>,
    ) -> StoreResult<Option<String>> {
        let (mac, secrets) = (mac.to_owned(), self.secrets.clone());
        let group = first_contact_group.map(str::to_owned);
        self.read_here(move |connection| {
            security::bootstrap_pin(connection, &mac, group.as_deref(), &secrets)
        })
        .await
    }

    async fn apply(&self, decision: Decision, now: Timestamp) -> StoreResult<()> {
        let secrets = self.secrets.clone();
        let relaxed = self.inner.relaxed_phone_steps.load(std::sync::atomic::Ordering::Relaxed)
            && only_phone_state(&decision);
        self.write_here(move |connection| {
            if relaxed {
                connection.pragma_update(None, "synchronous", "NORMAL")?;
            }
            let applied = (|| {
                let tx = connection.transaction()?;
                apply_decision(&tx, &decision, now, &secrets)?;
                tx.commit()?;
                Ok(())
            })();
            if relaxed {
                // Back to FULL whatever happened: every other write waits for the disk.
                connection.pragma_update(None, "synchronous", "FULL")?;
            }
            applied
        })
        .await
    }
}

/// Whether a decision changes only what the phone reported and the interaction's progress, which
/// the phone sends again if a power cut loses it: no job progress, no Secure Mode state or
/// certificate, no configuration taken from the phone.
pub(super) fn only_phone_state(decision: &Decision) -> bool {
    decision.task_updates.is_empty()
        && decision.binding.is_none()
        && decision.binding_conflict.is_none()
        && decision.security.is_none()
        && decision.certificates.is_empty()
        && decision.desired_set.is_empty()
}

pub(super) fn apply_decision(
    tx: &Transaction<'_>,
    decision: &Decision,
    now: Timestamp,
    secrets: &SecretKeys,
) -> StoreResult<()> {
    // First, so a conflict refuses the decision before anything else is written.
    jobs::apply_task_updates(tx, &decision.task_updates, now)?;
    provisioning::apply_binding(tx, decision, now, secrets)?;
    security::apply_security(tx, decision, now)?;
    if let Some(mac) = &decision.supersedes_interactions_of {
        tx.prepare_cached("DELETE FROM interactions WHERE mac = ?1")?.execute(params![mac])?;
        jobs::reset_contact_attempts(tx, mac)?;
    }
    if let Some(device) = &decision.device {
        upsert_device(tx, device, secrets)?;
    }
    match &decision.interaction {
        InteractionChange::Start(state) | InteractionChange::Continue(state) => {
            tx.prepare_cached(
                "INSERT INTO interactions (session_id, mac, remote_addr, updated_at, state) VALUES (?1, ?2, ?3, ?4, ?5) \
                 ON CONFLICT (session_id) DO UPDATE SET remote_addr = excluded.remote_addr, \
                 updated_at = excluded.updated_at, state = excluded.state",
            )?
            .execute(params![
                state.session_id,
                state.mac,
                state.remote_addr,
                state.updated_at,
                stored_interaction(state, secrets)?
            ])?;
        }
        InteractionChange::End(Some(session_id)) => {
            tx.prepare_cached("DELETE FROM interactions WHERE session_id = ?1")?
                .execute(params![session_id])?;
        }
        InteractionChange::End(None) => {}
    }
    let mut insert = tx.prepare_cached(
        "INSERT INTO history (mac, at, kind, reason, name, item_index, old_value, new_value, detail) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?;
    for event in &decision.history {
        insert.execute(params![
            event.mac,
            event.at,
            kind_name(event.kind),
            event.reason,
            event.key.as_ref().map(|k| k.name.clone()),
            event.key.as_ref().and_then(|k| k.index).map(i64::from),
            event.old_value,
            event.new_value,
            event.detail,
        ])?;
    }
    if let Some(mac) = decision.device.as_ref().map(|d| d.mac.as_str()) {
        let mut add = tx.prepare_cached(
            "INSERT INTO write_failures (mac, name, item_index, value, status, at) VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
             ON CONFLICT (mac, name, item_index) DO UPDATE SET value = excluded.value, status = excluded.status, \
             at = excluded.at",
        )?;
        for failure in &decision.failures_added {
            add.execute(params![
                mac,
                failure.key.name,
                index_column(failure.key.index),
                stored_value(secrets, &failure.key.name, &failure.value),
                failure.status,
                failure.at
            ])?;
        }
        let mut clear =
            tx.prepare_cached("DELETE FROM write_failures WHERE mac = ?1 AND name = ?2 AND item_index = ?3")?;
        for key in &decision.failures_cleared {
            clear.execute(params![mac, key.name, index_column(key.index)])?;
        }
    }
    for entry in &decision.desired_set {
        upsert_desired(tx, entry, now, secrets)?;
    }
    Ok(())
}

/// Inserts or updates a device; its group and approval are left alone (only an administrator
/// changes them once it is known).
pub(super) fn upsert_device(
    tx: &Transaction<'_>,
    device: &DeviceRecord,
    secrets: &SecretKeys,
) -> StoreResult<()> {
    let (reported, flagged) = crate::columns::stored_device_documents(device, secrets)?;
    tx.prepare_cached(
        "INSERT INTO devices (mac, e164, device_type, software_version, contact_me_uri, group_name, first_seen, \
         last_contact, last_reason, remote_addr, inventory_read_at, reported, flagged, tls_offer, approval, \
         other_groups) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16) \
         ON CONFLICT (mac) DO UPDATE SET e164 = excluded.e164, device_type = excluded.device_type, \
         software_version = excluded.software_version, contact_me_uri = excluded.contact_me_uri, \
         last_contact = excluded.last_contact, last_reason = excluded.last_reason, \
         remote_addr = excluded.remote_addr, inventory_read_at = excluded.inventory_read_at, \
         reported = excluded.reported, flagged = excluded.flagged, tls_offer = excluded.tls_offer",
    )?
    .execute(params![
        device.mac,
        device.e164,
        device.device_type,
        device.software_version,
        device.contact_me_uri,
        device.group,
        device.first_seen,
        device.last_contact,
        device.last_reason,
        device.remote_addr,
        device.inventory_read_at,
        reported,
        flagged,
        device.tls_offer,
        device.approval.as_str(),
        super::join_groups(&device.other_groups),
    ])?;
    Ok(())
}

/// An interaction's state as stored: sealed, since the items it gathers or writes include
/// secret ones (a full read carries `user-pwd`, p. 33).
pub(super) fn stored_interaction(state: &InteractionState, secrets: &SecretKeys) -> StoreResult<String> {
    Ok(secrets.seal(&to_json(state)?))
}

pub(super) fn upsert_desired(
    connection: &Connection,
    entry: &DesiredEntry,
    now: Timestamp,
    secrets: &SecretKeys,
) -> StoreResult<()> {
    let (scope, scope_key) = scope_columns(&entry.scope);
    connection
        .prepare_cached(
            "INSERT INTO desired_items (scope, scope_key, name, item_index, value, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
             ON CONFLICT (scope, scope_key, name, item_index) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
        )?
        .execute(params![
            scope,
            scope_key,
            entry.key.name,
            index_column(entry.key.index),
            stored_value(secrets, &entry.key.name, &entry.value),
            now
        ])?;
    Ok(())
}

#[cfg(test)]
mod durability_tests {
    use super::*;
    use crate::Synchronous;
    use opendls_engine::{ItemKey, Scope};

    fn start_up_decision(session: &str) -> Decision {
        let body = include_str!("../../../wpi/tests/fixtures/guide/p33-start-up.xml");
        let message = opendls_wpi::parse_workpoint_message(body.as_bytes()).unwrap();
        let input = DeviceContext::default().into_input(
            message,
            None,
            1_800_000_000,
            "127.0.0.1".into(),
            session.into(),
            opendls_engine::LocalChangePolicy::default(),
        );
        opendls_engine::decide(&input, &opendls_engine::EngineSettings::default())
            .decision()
            .expect("no outside needs in this test")
    }

    #[tokio::test]
    async fn mixed_commits_phone_steps_relaxed_and_everything_else_in_full() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("db")).await.unwrap();
        store.set_synchronous(Synchronous::Mixed).await.unwrap();
        let decision = start_up_decision("S1");
        assert!(only_phone_state(&decision), "a start-up changes only what the phone reported");
        store.apply(decision, 1_800_000_000).await.unwrap();
        let synchronous: i64 = store
            .write(|connection| Ok(connection.query_row("PRAGMA synchronous", [], |row| row.get(0))?))
            .await
            .unwrap();
        assert_eq!(synchronous, 2, "back to FULL after a relaxed phone step");
        let mut decision = start_up_decision("S2");
        let entry =
            DesiredEntry { scope: Scope::Global, key: ItemKey::new("sntp-addr", None), value: "x".into() };
        decision.desired_set.push(entry);
        assert!(!only_phone_state(&decision), "a configuration taken from the phone is kept durably");
    }

    /// Cached statements must stay compiled across phones: the desired-items and job queries
    /// were compiled again at every request until the planner was told to ignore bound values.
    #[tokio::test]
    async fn the_hot_path_statements_are_compiled_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("db")).await.unwrap();
        let secrets = store.secrets.clone();
        let recompiled = store
            .read(move |connection| {
                for mac in ["001AE8000001", "001AE8000002", "001AE8000003"] {
                    load_context(connection, mac, &secrets)?;
                }
                let count = |sql: &str| -> StoreResult<i32> {
                    Ok(connection.prepare_cached(sql)?.get_status(rusqlite::StatementStatus::RePrepare))
                };
                Ok((count(DESIRED_FOR_DEVICE)?, count(&jobs::device_tasks_query())?))
            })
            .await
            .unwrap();
        assert_eq!(recompiled, (0, 0), "(desired items, device tasks) compiled again");
    }
}
