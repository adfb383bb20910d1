//! [`FleetStore`] on PostgreSQL: filtered device pages, groups, policies, removals.

use deadpool_postgres::Transaction;
use opendls_engine::Timestamp;
use tokio_postgres::types::ToSql;

use super::{PostgresStore, count, execute, exists, glob, member_of, query, summary_row};
use crate::columns::{SUMMARY_COLUMNS, UNFINISHED, join_groups, split_groups};
use crate::fleet::{DeviceFilter, DevicePage, FleetStore, GroupSummary, PolicyEntry, Removal};
use crate::{StoreError, StoreResult};

/// A filter parameter.
enum Value {
    Text(String),
    Integer(i64),
}

impl Value {
    fn as_sql(&self) -> &(dyn ToSql + Sync) {
        match self {
            Value::Text(text) => text,
            Value::Integer(number) => number,
        }
    }
}

/// The `WHERE` clause and its parameters for a filter.
fn filter_clause(filter: &DeviceFilter) -> (String, Vec<Value>) {
    let (mut conditions, mut values) = (Vec::new(), Vec::new());
    let mut add = |condition: &dyn Fn(&str) -> String, value: Option<Value>| match value {
        Some(value) => {
            values.push(value);
            conditions.push(condition(&format!("${}", values.len())));
        }
        None => conditions.push(condition("")),
    };
    if let Some(model) = &filter.model {
        add(&|p| glob("d.device_type", p), Some(Value::Text(model.clone())));
    }
    if let Some(firmware) = &filter.firmware {
        add(&|p| glob("d.software_version", p), Some(Value::Text(firmware.clone())));
    }
    match filter.group.as_deref() {
        Some("-") => add(&|_| "d.group_name IS NULL".into(), None),
        Some(group) => add(&|p| member_of("d.", p), Some(Value::Text(group.to_owned()))),
        None => {}
    }
    if let Some(state) = &filter.state {
        add(&|p| format!("COALESCE(s.state, 'default') = {p}"), Some(Value::Text(state.clone())));
    }
    if let Some(approval) = &filter.approval {
        add(&|p| format!("d.approval = {p}"), Some(Value::Text(approval.clone())));
    }
    if let Some(since) = filter.seen_since {
        add(&|p| format!("d.last_contact >= {p}"), Some(Value::Integer(since)));
    }
    let clause = match conditions.is_empty() {
        true => String::new(),
        false => format!("WHERE {}", conditions.join(" AND ")),
    };
    (clause, values)
}

impl FleetStore for PostgresStore {
    async fn find_devices(&self, filter: &DeviceFilter, offset: u32, limit: u32) -> StoreResult<DevicePage> {
        let (clause, mut values) = filter_clause(filter);
        let client = self.client().await?;
        let from = format!("FROM devices d LEFT JOIN device_security s ON s.mac = d.mac {clause}");
        let params: Vec<&(dyn ToSql + Sync)> = values.iter().map(Value::as_sql).collect();
        let total = count(&query(&client, &format!("SELECT count(*) {from}"), &params).await?[0], 0)?;
        let page = format!(
            "SELECT {SUMMARY_COLUMNS} {from} ORDER BY d.mac LIMIT ${} OFFSET ${}",
            values.len() + 1,
            values.len() + 2
        );
        values.extend([Value::Integer(i64::from(limit)), Value::Integer(i64::from(offset))]);
        let params: Vec<&(dyn ToSql + Sync)> = values.iter().map(Value::as_sql).collect();
        let devices =
            query(&client, &page, &params).await?.iter().map(summary_row).collect::<StoreResult<_>>()?;
        Ok(DevicePage { devices, total })
    }

    async fn groups(&self) -> StoreResult<Vec<GroupSummary>> {
        let sql = format!(
            "WITH names AS ( \
               SELECT group_name AS name FROM devices WHERE group_name IS NOT NULL \
               UNION SELECT unnest(string_to_array(other_groups, ',')) FROM devices WHERE other_groups != '' \
               UNION SELECT scope_key FROM desired_items WHERE scope = 'group' \
               UNION SELECT scope_key FROM policies WHERE scope = 'group' \
               UNION SELECT scope_key FROM security_modes WHERE scope = 'group' \
               UNION SELECT scope_key FROM pins WHERE scope = 'group' \
               UNION SELECT scope_key FROM variables WHERE scope = 'group') \
             SELECT n.name, \
               (SELECT count(*) FROM devices d WHERE {}), \
               (SELECT count(*) FROM desired_items v WHERE v.scope = 'group' AND v.scope_key = n.name), \
               (SELECT policy FROM policies p WHERE p.scope = 'group' AND p.scope_key = n.name), \
               (SELECT mode FROM security_modes m WHERE m.scope = 'group' AND m.scope_key = n.name), \
               EXISTS (SELECT 1 FROM pins k WHERE k.scope = 'group' AND k.scope_key = n.name) \
             FROM names n WHERE n.name != '' ORDER BY n.name",
            member_of("d.", "n.name")
        );
        query(&self.client().await?, &sql, &[])
            .await?
            .iter()
            .map(|row| {
                Ok(GroupSummary {
                    name: row.try_get(0)?,
                    devices: count(row, 1)?,
                    values: count(row, 2)?,
                    policy: row.try_get(3)?,
                    security_mode: row.try_get(4)?,
                    has_pin: row.try_get(5)?,
                })
            })
            .collect()
    }

    async fn remove_group(&self, name: &str) -> StoreResult<Removal> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let ungrouped = leave_group(&tx, name).await?;
        let values =
            execute(&tx, "DELETE FROM desired_items WHERE scope = 'group' AND scope_key = $1", &[&name])
                .await?;
        let mut others = 0;
        for table in ["policies", "security_modes", "pins", "variables"] {
            let sql = format!("DELETE FROM {table} WHERE scope = 'group' AND scope_key = $1");
            others += execute(&tx, &sql, &[&name]).await?;
        }
        tx.commit().await?;
        Ok(Removal {
            found: ungrouped + values + others > 0,
            devices_ungrouped: ungrouped,
            values_removed: values,
            targets_cancelled: 0,
        })
    }

    async fn policies(&self) -> StoreResult<Vec<PolicyEntry>> {
        let sql = "SELECT scope, scope_key, policy FROM policies ORDER BY scope != 'global', scope_key";
        query(&self.client().await?, sql, &[])
            .await?
            .iter()
            .map(|row| {
                let (scope, key, policy): (String, String, String) =
                    (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?);
                let policy = policy.parse().map_err(StoreError::Corrupt)?;
                Ok(PolicyEntry { group: (scope == "group").then_some(key), policy })
            })
            .collect()
    }

    async fn remove_device(&self, mac: &str, now: Timestamp) -> StoreResult<Removal> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        if !exists(&tx, "SELECT 1 FROM devices WHERE mac = $1", &[&mac]).await? {
            return Ok(Removal::default());
        }
        let sql = format!(
            "UPDATE job_targets SET state = 'cancelled', updated_at = $2, finished_at = $2, \
             detail = 'the device was removed' WHERE mac = $1 AND state IN {UNFINISHED}"
        );
        let cancelled = execute(&tx, &sql, &[&mac, &now]).await?;
        let values =
            execute(&tx, "DELETE FROM desired_items WHERE scope = 'device' AND scope_key = $1", &[&mac])
                .await?;
        for table in
            ["history", "write_failures", "contact_schedule", "interactions", "device_security", "devices"]
        {
            execute(&tx, &format!("DELETE FROM {table} WHERE mac = $1"), &[&mac]).await?;
        }
        for table in ["pins", "variables"] {
            execute(&tx, &format!("DELETE FROM {table} WHERE scope = 'device' AND scope_key = $1"), &[&mac])
                .await?;
        }
        tx.commit().await?;
        Ok(Removal {
            found: true,
            devices_ungrouped: 0,
            values_removed: values,
            targets_cancelled: cancelled,
        })
    }
}

/// Takes every device out of group `name`: a device whose first group it was moves up its next
/// group. Returns how many devices left it.
async fn leave_group(tx: &Transaction<'_>, name: &str) -> StoreResult<u64> {
    let sql =
        format!("SELECT mac, group_name, other_groups FROM devices WHERE {} FOR UPDATE", member_of("", "$1"));
    let members = query(tx, &sql, &[&name]).await?;
    for row in &members {
        let (mac, first, others): (String, Option<String>, String) =
            (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?);
        let mut groups: Vec<String> = first.into_iter().chain(split_groups(&others)).collect();
        groups.retain(|group| group != name);
        let others = join_groups(groups.get(1..).unwrap_or_default());
        execute(
            tx,
            "UPDATE devices SET group_name = $2, other_groups = $3 WHERE mac = $1",
            &[&mac, &groups.first(), &others],
        )
        .await?;
    }
    Ok(members.len() as u64)
}
