//! [`FleetStore`] on SQLite: filtered device pages, groups, policies, removals.

use opendls_engine::Timestamp;
use rusqlite::types::Value;
use rusqlite::{OptionalExtension, params, params_from_iter};

use super::rollouts::UNFINISHED;
use super::{SqliteStore, summary_row};
use crate::columns::SUMMARY_COLUMNS;
use crate::fleet::{DeviceFilter, DevicePage, FleetStore, GroupSummary, PolicyEntry, Removal};
use crate::{StoreError, StoreResult};

/// The `WHERE` clause and its parameters for a filter.
fn filter_clause(filter: &DeviceFilter) -> (String, Vec<Value>) {
    // Each condition with its parameter (if any); numbered once all are known.
    let in_group = super::member_of("d.", "?");
    let mut wanted: Vec<(&str, Option<Value>)> = Vec::new();
    if let Some(model) = &filter.model {
        wanted.push(("lower(d.device_type) GLOB lower(?)", Some(Value::Text(model.clone()))));
    }
    if let Some(firmware) = &filter.firmware {
        wanted.push(("lower(d.software_version) GLOB lower(?)", Some(Value::Text(firmware.clone()))));
    }
    match filter.group.as_deref() {
        Some("-") => wanted.push(("d.group_name IS NULL", None)),
        // In the group as its first group or another one (`?` is numbered once, used twice).
        Some(group) => wanted.push((in_group.as_str(), Some(Value::Text(group.to_owned())))),
        None => {}
    }
    if let Some(state) = &filter.state {
        wanted.push(("COALESCE(s.state, 'default') = ?", Some(Value::Text(state.clone()))));
    }
    if let Some(approval) = &filter.approval {
        wanted.push(("d.approval = ?", Some(Value::Text(approval.clone()))));
    }
    if let Some(since) = filter.seen_since {
        wanted.push(("d.last_contact >= ?", Some(Value::Integer(since))));
    }
    let (mut conditions, mut values) = (Vec::new(), Vec::new());
    for (condition, value) in wanted {
        match value {
            Some(value) => {
                values.push(value);
                conditions.push(condition.replace('?', &format!("?{}", values.len())));
            }
            None => conditions.push(condition.to_owned()),
        }
    }
    let clause = match conditions.is_empty() {
        true => String::new(),
        false => format!("WHERE {}", conditions.join(" AND ")),
    };
    (clause, values)
}

impl FleetStore for SqliteStore {
    async fn find_devices(&self, filter: &DeviceFilter, offset: u32, limit: u32) -> StoreResult<DevicePage> {
        let (clause, mut values) = filter_clause(filter);
        self.read(move |connection| {
            let from = format!("FROM devices d LEFT JOIN device_security s ON s.mac = d.mac {clause}");
            let total: i64 =
                connection
                    .query_row(&format!("SELECT count(*) {from}"), params_from_iter(&values), |r| r.get(0))?;
            let page = format!(
                "SELECT {SUMMARY_COLUMNS} {from} ORDER BY d.mac LIMIT ?{} OFFSET ?{}",
                values.len() + 1,
                values.len() + 2
            );
            values.extend([Value::Integer(i64::from(limit)), Value::Integer(i64::from(offset))]);
            let devices = connection
                .prepare(&page)?
                .query_map(params_from_iter(&values), summary_row)?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(DevicePage { devices, total: total as u64 })
        })
        .await
    }

    async fn groups(&self) -> StoreResult<Vec<GroupSummary>> {
        self.read(|connection| {
            let rows = connection
                .prepare_cached(&format!(
                    "WITH RECURSIVE further(name, rest) AS ( \
                       SELECT '', other_groups || ',' FROM devices WHERE other_groups != '' \
                       UNION ALL SELECT substr(rest, 1, instr(rest, ',') - 1), substr(rest, instr(rest, ',') + 1) \
                       FROM further WHERE rest != ''), \
                     names AS ( \
                       SELECT group_name AS name FROM devices WHERE group_name IS NOT NULL \
                       UNION SELECT name FROM further WHERE name != '' \
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
                     FROM names n ORDER BY n.name",
                    super::member_of("d.", "n.name")
                ))?
                .query_map([], |row| {
                    Ok(GroupSummary {
                        name: row.get(0)?,
                        devices: row.get::<_, i64>(1)? as u64,
                        values: row.get::<_, i64>(2)? as u64,
                        policy: row.get(3)?,
                        security_mode: row.get(4)?,
                        has_pin: row.get(5)?,
                    })
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(rows)
        })
        .await
    }

    async fn remove_group(&self, name: &str) -> StoreResult<Removal> {
        let name = name.to_owned();
        self.write(move |connection| {
            let tx = connection.transaction()?;
            let ungrouped = leave_group(&tx, &name)?;
            let values = tx.execute(
                "DELETE FROM desired_items WHERE scope = 'group' AND scope_key = ?1",
                params![name],
            )?;
            let mut others = 0;
            for table in ["policies", "security_modes", "pins", "variables"] {
                others += tx.execute(
                    &format!("DELETE FROM {table} WHERE scope = 'group' AND scope_key = ?1"),
                    params![name],
                )?;
            }
            tx.commit()?;
            Ok(Removal {
                found: ungrouped + values + others > 0,
                devices_ungrouped: ungrouped as u64,
                values_removed: values as u64,
                targets_cancelled: 0,
            })
        })
        .await
    }

    async fn policies(&self) -> StoreResult<Vec<PolicyEntry>> {
        self.read(|connection| {
            let rows = connection
                .prepare_cached(
                    "SELECT scope, scope_key, policy FROM policies ORDER BY scope != 'global', scope_key",
                )?
                .query_map([], |row| {
                    Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?, row.get::<_, String>(2)?))
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            rows.into_iter()
                .map(|(scope, key, policy)| {
                    let policy = policy.parse().map_err(StoreError::Corrupt)?;
                    Ok(PolicyEntry { group: (scope == "group").then_some(key), policy })
                })
                .collect()
        })
        .await
    }

    async fn remove_device(&self, mac: &str, now: Timestamp) -> StoreResult<Removal> {
        let mac = mac.to_owned();
        self.write(move |connection| {
            let tx = connection.transaction()?;
            let found =
                tx.query_row("SELECT 1 FROM devices WHERE mac = ?1", params![mac], |_| Ok(())).optional()?;
            if found.is_none() {
                return Ok(Removal::default());
            }
            let cancelled = tx.execute(
                &format!(
                    "UPDATE job_targets SET state = 'cancelled', updated_at = ?2, finished_at = ?2, \
                     detail = 'the device was removed' WHERE mac = ?1 AND state IN {UNFINISHED}"
                ),
                params![mac, now],
            )?;
            let values = tx.execute(
                "DELETE FROM desired_items WHERE scope = 'device' AND scope_key = ?1",
                params![mac],
            )?;
            for table in [
                "history",
                "write_failures",
                "contact_schedule",
                "interactions",
                "device_security",
                "devices",
            ] {
                tx.execute(&format!("DELETE FROM {table} WHERE mac = ?1"), params![mac])?;
            }
            for table in ["pins", "variables"] {
                tx.execute(
                    &format!("DELETE FROM {table} WHERE scope = 'device' AND scope_key = ?1"),
                    params![mac],
                )?;
            }
            tx.commit()?;
            Ok(Removal {
                found: true,
                devices_ungrouped: 0,
                values_removed: values as u64,
                targets_cancelled: cancelled as u64,
            })
        })
        .await
    }
}

/// Takes every device out of group `name`: a device whose first group it was moves up its next
/// group. Returns how many devices left it.
fn leave_group(tx: &rusqlite::Transaction<'_>, name: &str) -> rusqlite::Result<usize> {
    let members = tx
        .prepare(&format!(
            "SELECT mac, group_name, other_groups FROM devices WHERE {}",
            super::member_of("", "?1")
        ))?
        .query_map(params![name], |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, Option<String>>(1)?, row.get::<_, String>(2)?))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let mut update = tx.prepare("UPDATE devices SET group_name = ?2, other_groups = ?3 WHERE mac = ?1")?;
    for (mac, first, others) in &members {
        let mut groups: Vec<String> = first.iter().cloned().chain(super::split_groups(others)).collect();
        groups.retain(|group| group != name);
        let others = super::join_groups(groups.get(1..).unwrap_or_default());
        update.execute(params![mac, groups.first(), others])?;
    }
    Ok(members.len())
}
