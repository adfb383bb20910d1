//! Contract tests of the store: what the engine decides comes back exactly, atomically. Every
//! backend runs the same suite ([`contract_suite!`]); `sqlite_only` and `postgres_only` hold what
//! only one backend has.

mod accounts;
mod backend;
mod files;
mod fleet;
mod jobs;
mod phone;
mod pins;
mod postgres_only;
mod retention;
mod security;
mod sqlite_only;
mod stats;

/// One `#[tokio::test]` per contract test and backend, in a module named after the backend. A
/// backend that needs a server runs only where one is configured (its `available` expression).
macro_rules! contract_suite {
    ([$(($suite:ident, $backend:ty, $available:expr)),* $(,)?], $tests:tt) => {
        $(contract_suite!(@one $suite, $backend, $available, $tests);)*
    };
    (@one $suite:ident, $backend:ty, $available:expr, [$($module:ident :: $test:ident),* $(,)?]) => {
        mod $suite {
            $(
                #[tokio::test]
                async fn $test() {
                    if $available {
                        crate::$module::$test::<$backend>().await
                    }
                }
            )*
        }
    };
}

contract_suite!(
    [
        (sqlite, crate::backend::Sqlite, true),
        (postgres, crate::backend::Postgres, crate::backend::postgres_url().is_some()),
    ],
    [
        accounts::the_first_account_is_made_once_and_the_last_admin_stays,
        accounts::tokens_act_for_their_account_until_revoked_or_expired,
        accounts::audit_entries_come_back_newest_first_and_filtered,
        accounts::sessions_end_when_expired_idle_logged_out_or_their_account_goes,
        files::files_are_added_once_per_name_listed_and_removed,
        files::a_removed_files_number_is_never_given_again,
        files::contents_are_kept_for_other_nodes_where_nodes_share,
        fleet::devices_are_filtered_and_paged,
        fleet::groups_are_listed_and_removed_whole,
        fleet::a_removed_device_is_forgotten,
        fleet::desired_values_are_read_by_name,
        jobs::targets_are_resolved_by_devices_group_and_inventory_query,
        jobs::finished_targets_never_change_and_claims_on_them_refuse_the_decision,
        jobs::contact_candidates_follow_the_schedule_and_expiry_ends_what_is_left,
        jobs::a_contact_me_is_claimed_once,
        pins::a_pin_targets_its_models_older_phones_within_the_limit,
        pins::a_group_pin_wins_and_another_firmware_job_goes_first,
        pins::phones_newer_than_the_pin_never_crowd_out_older_ones,
        security::modes_resolve_device_over_group_over_global,
        security::certificates_are_issued_activated_superseded_and_revoked,
        security::a_device_pin_beats_its_group_default,
        phone::a_decision_is_stored_and_read_back,
        phone::interactions_are_found_by_address_only_when_unambiguous,
        phone::a_new_contact_supersedes_the_devices_old_interactions,
        phone::desired_values_failures_and_policies,
        phone::devices_are_imported_in_bulk_and_keep_their_groups,
        phone::one_request_read_finds_the_interaction_and_then_its_device,
        retention::history_is_pruned_by_age_and_by_count_per_device,
        stats::the_fleet_is_counted_by_model_firmware_state_and_jobs,
    ]
);
