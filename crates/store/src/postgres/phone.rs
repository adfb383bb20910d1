//! The phone endpoint's hot path on PostgreSQL, one round trip each way: the reads of one
//! request sent together on one connection, and a decision's transaction sent whole
//! ([`Batch::commit`]).

use deadpool_postgres::GenericClient;
use opendls_engine::{Decision, DesiredEntry, DeviceRecord, InteractionChange, InteractionState, Timestamp};

use super::batch::{Batch, owned};
use super::{PostgresStore, desired_entries, failure_from_row, load_device, query};
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
/// the same address; one statement.
async fn load_interaction(
    db: &impl GenericClient,
    lookup: &InteractionLookup,
    secrets: &SecretKeys,
) -> StoreResult<Option<InteractionState>> {
    let InteractionLookup { session_id, remote_addr, not_before, .. } = lookup;
    let sql = "SELECT state, (session_id = $1) IS TRUE AS by_session FROM interactions \
               WHERE updated_at >= $3 AND (session_id = $1 OR remote_addr = $2) \
               ORDER BY by_session DESC LIMIT 3";
    let rows = query(db, sql, &[session_id, remote_addr, not_before]).await?;
    let found = match rows.as_slice() {
        [first, ..] if first.try_get::<_, bool>(1)? => Some(first),
        // Only an unambiguous match: two phones behind one NAT address must not be confused.
        [only] => Some(only),
        _ => None,
    };
    found.map(|row| from_json(&secrets.open(row.try_get(0)?)?)).transpose()
}

impl PhoneStore for PostgresStore {
    async fn device_context(&self, mac: &str) -> StoreResult<DeviceContext> {
        load_context(&self.client().await?, mac, &self.secrets).await
    }

    /// One round trip when the device can be guessed before the interaction is read (the
    /// message's `mac-addr`, else the lookup's hint): its context is read together with the
    /// interaction and the certificate; a wrong guess costs a second read.
    async fn request_context(
        &self,
        lookup: Option<InteractionLookup>,
        certificate_fingerprint: Option<String>,
        device_of: impl Fn(Option<&InteractionState>) -> Option<String> + Send + 'static,
    ) -> StoreResult<RequestContext> {
        let client = self.client().await?;
        let db = &client;
        let guess = device_of(None).or_else(|| lookup.as_ref().and_then(|l| l.device_hint.clone()));
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
        let read_guessed = async {
            match &guess {
                Some(mac) => load_context(db, mac, &self.secrets).await.map(Some),
                None => Ok(None),
            }
        };
        let (interaction, certificate, guessed) =
            tokio::try_join!(find_interaction, find_certificate, read_guessed)?;
        let mac = device_of(interaction.as_ref());
        let context = match (&mac, guessed) {
            (Some(mac), Some(context)) if guess.as_ref() == Some(mac) => context,
            (Some(mac), _) => load_context(db, mac, &self.secrets).await?,
            (None, _) => DeviceContext::default(),
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
        let mut batch = Batch::default();
        decision_statements(&mut batch, &decision, now, &self.secrets)?;
        batch.commit(&self.client().await?).await
    }
}

/// The statements that persist a decision, in one transaction sent in one round trip. Order
/// matters where statements touch the same rows (a superseded interaction is deleted before the
/// new one is written). A claim that finds its job target finished, or its prepared device
/// bound elsewhere, refuses the whole decision: nothing of it stays.
fn decision_statements(
    batch: &mut Batch,
    decision: &Decision,
    now: Timestamp,
    secrets: &SecretKeys,
) -> StoreResult<()> {
    super::jobs::task_updates(batch, &decision.task_updates, now)?;
    super::provisioning::binding(batch, decision, now, secrets);
    super::security::security_changes(batch, decision, now)?;
    interaction_statements(batch, decision, secrets)?;
    if let Some(device) = &decision.device {
        upsert_device(batch, device, secrets)?;
    }
    insert_history(batch, &decision.history);
    failure_statements(batch, decision, secrets);
    for entry in &decision.desired_set {
        upsert_desired(batch, entry, now, secrets);
    }
    Ok(())
}

/// The interactions a decision supersedes, ends, starts or continues.
fn interaction_statements(batch: &mut Batch, decision: &Decision, secrets: &SecretKeys) -> StoreResult<()> {
    if let Some(mac) = &decision.supersedes_interactions_of {
        batch.push("DELETE FROM interactions WHERE mac = $1", owned![mac.clone()]);
        batch.push(
            "UPDATE contact_schedule SET attempts = 0 WHERE mac = $1 AND attempts > 0",
            owned![mac.clone()],
        );
    }
    match &decision.interaction {
        InteractionChange::Start(state) | InteractionChange::Continue(state) => {
            let stored = secrets.seal(&to_json(state)?);
            batch.push(
                "INSERT INTO interactions (session_id, mac, remote_addr, updated_at, state) VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (session_id) DO UPDATE SET remote_addr = excluded.remote_addr, \
                 updated_at = excluded.updated_at, state = excluded.state",
                owned![
                    state.session_id.clone(),
                    state.mac.clone(),
                    state.remote_addr.clone(),
                    state.updated_at,
                    stored
                ],
            );
        }
        InteractionChange::End(Some(session_id)) => {
            batch.push("DELETE FROM interactions WHERE session_id = $1", owned![session_id.clone()]);
        }
        InteractionChange::End(None) => {}
    }
    Ok(())
}

/// The values a decision records as refused by the phone, and those it no longer refuses.
fn failure_statements(batch: &mut Batch, decision: &Decision, secrets: &SecretKeys) {
    let Some(mac) = decision.device.as_ref().map(|d| d.mac.as_str()) else { return };
    for failure in &decision.failures_added {
        batch.push(
            "INSERT INTO write_failures (mac, name, item_index, value, status, at) VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (mac, name, item_index) DO UPDATE SET value = excluded.value, status = excluded.status, \
             at = excluded.at",
            owned![
                mac.to_owned(),
                failure.key.name.clone(),
                index_column(failure.key.index),
                stored_value(secrets, &failure.key.name, &failure.value),
                failure.status.clone(),
                failure.at,
            ],
        );
    }
    for key in &decision.failures_cleared {
        batch.push(
            "DELETE FROM write_failures WHERE mac = $1 AND name = $2 AND item_index = $3",
            owned![mac.to_owned(), key.name.clone(), index_column(key.index)],
        );
    }
}

/// Inserts a decision's history events in one statement (a full read records hundreds).
pub(super) fn insert_history(batch: &mut Batch, events: &[opendls_engine::HistoryEvent]) {
    if events.is_empty() {
        return;
    }
    let macs: Vec<String> = events.iter().map(|e| e.mac.clone()).collect();
    let ats: Vec<i64> = events.iter().map(|e| e.at).collect();
    let kinds: Vec<String> = events.iter().map(|e| kind_name(e.kind)).collect();
    let reasons: Vec<String> = events.iter().map(|e| e.reason.clone()).collect();
    let names: Vec<Option<String>> = events.iter().map(|e| e.key.as_ref().map(|k| k.name.clone())).collect();
    let indexes: Vec<Option<i64>> =
        events.iter().map(|e| e.key.as_ref().and_then(|k| k.index).map(i64::from)).collect();
    let old: Vec<Option<String>> = events.iter().map(|e| e.old_value.clone()).collect();
    let new: Vec<Option<String>> = events.iter().map(|e| e.new_value.clone()).collect();
    let details: Vec<String> = events.iter().map(|e| e.detail.clone()).collect();
    batch.push(
        "INSERT INTO history (mac, at, kind, reason, name, item_index, old_value, new_value, detail) \
         SELECT mac, at, kind, reason, name, item_index, old_value, new_value, detail FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::bigint[], \
         $7::text[], $8::text[], $9::text[]) WITH ORDINALITY AS e(mac, at, kind, reason, name, item_index, \
         old_value, new_value, detail, n) ORDER BY n",
        owned![macs, ats, kinds, reasons, names, indexes, old, new, details],
    );
}

/// Inserts or updates a device; its group and approval are left alone (only an administrator
/// changes them once it is known).
pub(super) fn upsert_device(
    batch: &mut Batch,
    device: &DeviceRecord,
    secrets: &SecretKeys,
) -> StoreResult<()> {
    let (reported, flagged) = stored_device_documents(device, secrets)?;
    batch.push(
        "INSERT INTO devices (mac, e164, device_type, software_version, contact_me_uri, group_name, first_seen, \
         last_contact, last_reason, remote_addr, inventory_read_at, reported, flagged, tls_offer, approval, \
         other_groups) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16) \
         ON CONFLICT (mac) DO UPDATE SET e164 = excluded.e164, device_type = excluded.device_type, \
         software_version = excluded.software_version, contact_me_uri = excluded.contact_me_uri, \
         last_contact = excluded.last_contact, last_reason = excluded.last_reason, \
         remote_addr = excluded.remote_addr, inventory_read_at = excluded.inventory_read_at, \
         reported = excluded.reported, flagged = excluded.flagged, tls_offer = excluded.tls_offer",
        owned![
            device.mac.clone(),
            device.e164.clone(),
            device.device_type.clone(),
            device.software_version.clone(),
            device.contact_me_uri.clone(),
            device.group.clone(),
            device.first_seen,
            device.last_contact,
            device.last_reason.clone(),
            device.remote_addr.clone(),
            device.inventory_read_at,
            reported,
            flagged,
            device.tls_offer.clone(),
            device.approval.as_str(),
            join_groups(&device.other_groups),
        ],
    );
    Ok(())
}

/// Sets one desired value.
pub(super) fn upsert_desired(batch: &mut Batch, entry: &DesiredEntry, now: Timestamp, secrets: &SecretKeys) {
    let (scope, scope_key) = scope_columns(&entry.scope);
    batch.push(
        "INSERT INTO desired_items (scope, scope_key, name, item_index, value, updated_at) VALUES ($1, $2, $3, $4, $5, $6) \
         ON CONFLICT (scope, scope_key, name, item_index) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
        owned![
            scope,
            scope_key.to_owned(),
            entry.key.name.clone(),
            index_column(entry.key.index),
            stored_value(secrets, &entry.key.name, &entry.value),
            now,
        ],
    );
}
