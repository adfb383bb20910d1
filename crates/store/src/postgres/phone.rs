//! The phone endpoint's hot path on PostgreSQL: the reads of one request sent together on one
//! connection, and one transaction per decision.

use deadpool_postgres::GenericClient;
use opendls_engine::{Decision, DesiredEntry, DeviceRecord, InteractionChange, InteractionState, Timestamp};

use super::{PostgresStore, desired_entries, execute, failure_from_row, load_device, query, query_opt};
use crate::columns::{
    from_json, index_column, join_groups, kind_name, open_failures, scope_columns, stored_device_documents,
    stored_value, to_json,
};
use crate::secrets::SecretKeys;
use crate::{DeviceContext, InteractionLookup, PhoneStore, RequestContext, StoreResult};

/// Everything the engine needs about one device. The device's groups are read in the same
/// statements that need them, so every read goes out at once: one round trip.
pub(super) async fn load_context(
    db: &impl GenericClient,
    mac: &str,
    secrets: &SecretKeys,
) -> StoreResult<DeviceContext> {
    // `$1` is the MAC in each; the device's groups come from its row.
    let desired_sql = "SELECT scope, scope_key, name, item_index, value FROM desired_items \
         WHERE scope IN ('global', 'model') OR (scope = 'device' AND scope_key = $1) \
         OR (scope = 'group' AND EXISTS (SELECT 1 FROM devices d WHERE d.mac = $1 AND (d.group_name = scope_key \
             OR strpos(',' || d.other_groups || ',', ',' || scope_key || ',') > 0))) \
         ORDER BY name, item_index";
    let failures_sql = "SELECT name, item_index, value, status, at FROM write_failures WHERE mac = $1";
    let policies_sql = "SELECT scope, policy FROM policies WHERE scope = 'global' \
         OR (scope = 'group' AND scope_key = (SELECT group_name FROM devices WHERE mac = $1))";
    let by_mac: super::Params<'_> = &[&mac];
    let (device, desired, failures, policies, tasks, security, variables) = tokio::try_join!(
        load_device(db, mac, secrets),
        query(db, desired_sql, by_mac),
        query(db, failures_sql, by_mac),
        query(db, policies_sql, by_mac),
        super::jobs::device_tasks(db, mac),
        super::security::device_security(db, mac),
        super::variables::device_variables(db, mac, secrets),
    )?;
    let desired = desired_entries(&desired, secrets)?;
    let failures = failures.iter().map(failure_from_row).collect::<StoreResult<Vec<_>>>()?;
    let failures = open_failures(failures, secrets)?;
    let policies = policies
        .iter()
        .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
        .collect::<StoreResult<Vec<(String, String)>>>()?;
    let policy = crate::columns::effective_policy(&policies)?;
    let (security_mode, security) = security;
    Ok(DeviceContext { device, desired, variables, failures, policy, tasks, security_mode, security })
}

/// The interaction a `reply-to` belongs to: by session cookie, else the single recent one from
/// the same address.
async fn load_interaction(
    db: &impl GenericClient,
    lookup: &InteractionLookup,
    secrets: &SecretKeys,
) -> StoreResult<Option<InteractionState>> {
    let InteractionLookup { session_id, remote_addr, not_before } = lookup;
    if let Some(session_id) = session_id {
        let sql = "SELECT state FROM interactions WHERE session_id = $1 AND updated_at >= $2";
        if let Some(row) = query_opt(db, sql, &[session_id, not_before]).await? {
            return Ok(Some(from_json(&secrets.open(row.try_get(0)?)?)?));
        }
    }
    // Only an unambiguous match: two phones behind one NAT address must not be confused.
    let sql = "SELECT state FROM interactions WHERE remote_addr = $1 AND updated_at >= $2 LIMIT 2";
    match query(db, sql, &[remote_addr, not_before]).await?.as_slice() {
        [row] => Ok(Some(from_json(&secrets.open(row.try_get(0)?)?)?)),
        _ => Ok(None),
    }
}

impl PhoneStore for PostgresStore {
    async fn device_context(&self, mac: &str) -> StoreResult<DeviceContext> {
        load_context(&self.client().await?, mac, &self.secrets).await
    }

    async fn request_context(
        &self,
        lookup: Option<InteractionLookup>,
        certificate_fingerprint: Option<String>,
        device_of: impl FnOnce(Option<&InteractionState>) -> Option<String> + Send + 'static,
    ) -> StoreResult<RequestContext> {
        let client = self.client().await?;
        let db = &client;
        let find_interaction = async {
            match &lookup {
                Some(lookup) => load_interaction(db, lookup, &self.secrets).await,
                None => Ok(None),
            }
        };
        let find_certificate = async {
            match &certificate_fingerprint {
                Some(fingerprint) => super::security::certificate_by_fingerprint(db, fingerprint).await,
                None => Ok(None),
            }
        };
        let (interaction, certificate) = tokio::try_join!(find_interaction, find_certificate)?;
        let mac = device_of(interaction.as_ref());
        let context = match &mac {
            Some(mac) => load_context(db, mac, &self.secrets).await?,
            None => DeviceContext::default(),
        };
        Ok(RequestContext { interaction, mac, context, certificate })
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
        super::security::bootstrap_pin(&self.client().await?, mac, first_contact_group, &self.secrets).await
    }

    async fn apply(&self, decision: Decision, now: Timestamp) -> StoreResult<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        apply_decision(&tx, &decision, now, &self.secrets).await?;
        tx.commit().await?;
        Ok(())
    }
}

/// Persists a decision in `tx`. The statements of independent groups go out together on the
/// transaction's connection (tokio-postgres pipelines requests polled at once), so a decision
/// costs about as many round trips as its longest group, not as its statements; within a group
/// the order is kept (a superseded interaction is deleted before the new one is written). A
/// conflict found by any group refuses the decision: the transaction is dropped, nothing stays.
async fn apply_decision(
    tx: &deadpool_postgres::Transaction<'_>,
    decision: &Decision,
    now: Timestamp,
    secrets: &SecretKeys,
) -> StoreResult<()> {
    tokio::try_join!(
        super::jobs::apply_task_updates(tx, &decision.task_updates, now),
        super::provisioning::apply_binding(tx, decision, now, secrets),
        super::security::apply_security(tx, decision, now),
        apply_interaction(tx, decision, secrets),
        async {
            match &decision.device {
                Some(device) => upsert_device(tx, device, secrets).await,
                None => Ok(()),
            }
        },
        insert_history(tx, &decision.history),
        apply_failures(tx, decision, secrets),
        async {
            for entry in &decision.desired_set {
                upsert_desired(tx, entry, now, secrets).await?;
            }
            Ok(())
        },
    )?;
    Ok(())
}

/// The interactions a decision supersedes, ends, starts or continues.
async fn apply_interaction(
    tx: &deadpool_postgres::Transaction<'_>,
    decision: &Decision,
    secrets: &SecretKeys,
) -> StoreResult<()> {
    if let Some(mac) = &decision.supersedes_interactions_of {
        execute(tx, "DELETE FROM interactions WHERE mac = $1", &[mac]).await?;
        execute(tx, "UPDATE contact_schedule SET attempts = 0 WHERE mac = $1 AND attempts > 0", &[mac])
            .await?;
    }
    match &decision.interaction {
        InteractionChange::Start(state) | InteractionChange::Continue(state) => {
            let stored = secrets.seal(&to_json(state)?);
            execute(
                tx,
                "INSERT INTO interactions (session_id, mac, remote_addr, updated_at, state) VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (session_id) DO UPDATE SET remote_addr = excluded.remote_addr, \
                 updated_at = excluded.updated_at, state = excluded.state",
                &[&state.session_id, &state.mac, &state.remote_addr, &state.updated_at, &stored],
            )
            .await?;
        }
        InteractionChange::End(Some(session_id)) => {
            execute(tx, "DELETE FROM interactions WHERE session_id = $1", &[session_id]).await?;
        }
        InteractionChange::End(None) => {}
    }
    Ok(())
}

/// The values a decision records as refused by the phone, and those it no longer refuses.
async fn apply_failures(
    tx: &deadpool_postgres::Transaction<'_>,
    decision: &Decision,
    secrets: &SecretKeys,
) -> StoreResult<()> {
    let Some(mac) = decision.device.as_ref().map(|d| d.mac.as_str()) else { return Ok(()) };
    for failure in &decision.failures_added {
        execute(
            tx,
            "INSERT INTO write_failures (mac, name, item_index, value, status, at) VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (mac, name, item_index) DO UPDATE SET value = excluded.value, status = excluded.status, \
             at = excluded.at",
            &[
                &mac,
                &failure.key.name,
                &index_column(failure.key.index),
                &stored_value(secrets, &failure.key.name, &failure.value),
                &failure.status,
                &failure.at,
            ],
        )
        .await?;
    }
    for key in &decision.failures_cleared {
        execute(
            tx,
            "DELETE FROM write_failures WHERE mac = $1 AND name = $2 AND item_index = $3",
            &[&mac, &key.name, &index_column(key.index)],
        )
        .await?;
    }
    Ok(())
}

/// Inserts a decision's history events in one statement (a full read records hundreds).
pub(super) async fn insert_history(
    db: &impl GenericClient,
    events: &[opendls_engine::HistoryEvent],
) -> StoreResult<()> {
    if events.is_empty() {
        return Ok(());
    }
    let macs: Vec<&str> = events.iter().map(|e| e.mac.as_str()).collect();
    let ats: Vec<i64> = events.iter().map(|e| e.at).collect();
    let kinds: Vec<String> = events.iter().map(|e| kind_name(e.kind)).collect();
    let reasons: Vec<&str> = events.iter().map(|e| e.reason.as_str()).collect();
    let names: Vec<Option<&str>> = events.iter().map(|e| e.key.as_ref().map(|k| k.name.as_str())).collect();
    let indexes: Vec<Option<i64>> =
        events.iter().map(|e| e.key.as_ref().and_then(|k| k.index).map(i64::from)).collect();
    let old: Vec<Option<&str>> = events.iter().map(|e| e.old_value.as_deref()).collect();
    let new: Vec<Option<&str>> = events.iter().map(|e| e.new_value.as_deref()).collect();
    let details: Vec<&str> = events.iter().map(|e| e.detail.as_str()).collect();
    execute(
        db,
        "INSERT INTO history (mac, at, kind, reason, name, item_index, old_value, new_value, detail) \
         SELECT mac, at, kind, reason, name, item_index, old_value, new_value, detail FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::bigint[], \
         $7::text[], $8::text[], $9::text[]) WITH ORDINALITY AS e(mac, at, kind, reason, name, item_index, \
         old_value, new_value, detail, n) ORDER BY n",
        &[&macs, &ats, &kinds, &reasons, &names, &indexes, &old, &new, &details],
    )
    .await?;
    Ok(())
}

/// Inserts or updates a device; its group and approval are left alone (only an administrator
/// changes them once it is known).
pub(super) async fn upsert_device(
    db: &impl GenericClient,
    device: &DeviceRecord,
    secrets: &SecretKeys,
) -> StoreResult<()> {
    let (reported, flagged) = stored_device_documents(device, secrets)?;
    execute(
        db,
        "INSERT INTO devices (mac, e164, device_type, software_version, contact_me_uri, group_name, first_seen, \
         last_contact, last_reason, remote_addr, inventory_read_at, reported, flagged, tls_offer, approval, \
         other_groups) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16) \
         ON CONFLICT (mac) DO UPDATE SET e164 = excluded.e164, device_type = excluded.device_type, \
         software_version = excluded.software_version, contact_me_uri = excluded.contact_me_uri, \
         last_contact = excluded.last_contact, last_reason = excluded.last_reason, \
         remote_addr = excluded.remote_addr, inventory_read_at = excluded.inventory_read_at, \
         reported = excluded.reported, flagged = excluded.flagged, tls_offer = excluded.tls_offer",
        &[
            &device.mac,
            &device.e164,
            &device.device_type,
            &device.software_version,
            &device.contact_me_uri,
            &device.group,
            &device.first_seen,
            &device.last_contact,
            &device.last_reason,
            &device.remote_addr,
            &device.inventory_read_at,
            &reported,
            &flagged,
            &device.tls_offer,
            &device.approval.as_str(),
            &join_groups(&device.other_groups),
        ],
    )
    .await?;
    Ok(())
}

/// Sets one desired value.
pub(super) async fn upsert_desired(
    db: &impl GenericClient,
    entry: &DesiredEntry,
    now: Timestamp,
    secrets: &SecretKeys,
) -> StoreResult<()> {
    let (scope, scope_key) = scope_columns(&entry.scope);
    execute(
        db,
        "INSERT INTO desired_items (scope, scope_key, name, item_index, value, updated_at) VALUES ($1, $2, $3, $4, $5, $6) \
         ON CONFLICT (scope, scope_key, name, item_index) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
        &[
            &scope,
            &scope_key,
            &entry.key.name,
            &index_column(entry.key.index),
            &stored_value(secrets, &entry.key.name, &entry.value),
            &now,
        ],
    )
    .await?;
    Ok(())
}
