//! Checking a whole configuration once, at start-up: the first problem is named by its field.

use super::{Config, ConfigError};

impl Config {
    /// Checks every value; the first problem is reported with its field.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid =
            |field: &'static str, message: &str| Err(ConfigError::Invalid { field, message: message.into() });
        if self.data_dir.as_os_str().is_empty() {
            return invalid("data_dir", "must not be empty");
        }
        if self.phone_listen == self.admin_listen && self.phone_listen.port() != 0 {
            return invalid("admin_listen", "must differ from phone_listen");
        }
        if let Some(address) = &self.public_address {
            let host_like = !address.is_empty()
                && address.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '_'));
            if !host_like {
                return invalid("public_address", "must be a host name or IP address without scheme or port");
            }
        }
        if let Err(message) = crate::backend::Backend::of(&self.database.url) {
            return invalid("database.url", &message);
        }
        if self.database.pool_size == 0 {
            return invalid("database.pool_size", "must be at least 1");
        }
        self.validate_limits()?;
        if let Some(message) = self.backup.problem() {
            return Err(ConfigError::Invalid { field: "backup", message });
        }
        self.validate_jobs()?;
        self.validate_secure_mode()
    }

    fn validate_limits(&self) -> Result<(), ConfigError> {
        let invalid =
            |field: &'static str, message: &str| Err(ConfigError::Invalid { field, message: message.into() });
        let limits = &self.limits;
        if limits.max_body_bytes < 4096 {
            return invalid(
                "limits.max_body_bytes",
                "must be at least 4096 (a message is up to 50 kB, guide p. 69)",
            );
        }
        if limits.max_upload_bytes < 1024 * 1024 {
            return invalid("limits.max_upload_bytes", "must be at least 1048576 (1 MiB)");
        }
        if limits.max_item_value_bytes < 1024 {
            return invalid("limits.max_item_value_bytes", "must be at least 1024");
        }
        if limits.max_reply_bytes < opendls_wpi::MAX_MESSAGE_BYTES
            || limits.max_inventory_bytes < opendls_wpi::MAX_MESSAGE_BYTES
        {
            return invalid(
                "limits.max_reply_bytes",
                "max_reply_bytes and max_inventory_bytes must be at least 50000 (one full message, guide p. 69)",
            );
        }
        let caps = [
            (limits.max_connections, limits.max_connections_per_address),
            (limits.dcmp_max_connections, limits.dcmp_max_connections_per_address),
            (limits.admin_max_connections, limits.admin_max_connections_per_address),
        ];
        if caps.iter().any(|&(total, per_address)| total == 0 || per_address == 0 || per_address > total) {
            return invalid(
                "limits.max_connections",
                "connection caps must be at least 1, and a per-address cap at most its listener's cap",
            );
        }
        if limits.listen_backlog == 0 {
            return invalid("limits.listen_backlog", "must be at least 1");
        }
        if limits.min_timeout_secs == 0 || limits.min_timeout_secs > limits.handshake_timeout_secs {
            return invalid(
                "limits.min_timeout_secs",
                "must be at least 1 and at most handshake_timeout_secs",
            );
        }
        if limits.max_interactions_in_flight == 0 {
            return invalid("limits.max_interactions_in_flight", "must be at least 1");
        }
        if limits.min_interactions_in_flight == 0 {
            return invalid("limits.min_interactions_in_flight", "must be at least 1");
        }
        if !(1..=100).contains(&limits.interactions_per_address_percent) {
            return invalid("limits.interactions_per_address_percent", "must be 1 to 100");
        }
        if limits.handshake_timeout_secs == 0 || limits.body_timeout_secs == 0 {
            return invalid("limits", "timeouts must be at least one second");
        }
        if limits.idle_timeout_secs < 10 {
            return invalid("limits.idle_timeout_secs", "must be at least 10 (guide p. 12 keep-alive)");
        }
        if limits.first_step_timeout_secs == 0 || limits.first_step_timeout_secs > limits.idle_timeout_secs {
            return invalid(
                "limits.first_step_timeout_secs",
                "must be at least 1 and at most idle_timeout_secs",
            );
        }
        Ok(())
    }

    fn validate_jobs(&self) -> Result<(), ConfigError> {
        let invalid =
            |field: &'static str, message: &str| Err(ConfigError::Invalid { field, message: message.into() });
        let jobs = &self.jobs;
        if jobs.max_contacts_per_sec == 0 || jobs.max_concurrent_contacts == 0 {
            return invalid("jobs", "contact-me rate and concurrency must be at least 1");
        }
        if jobs.contact_timeout_secs == 0 || jobs.give_up_after_secs == 0 || jobs.tick_millis == 0 {
            return invalid("jobs", "timeouts and the tick must be positive");
        }
        if jobs.dcmp_poll_interval_secs == 0 {
            return invalid("jobs.dcmp_poll_interval_secs", "must be at least 1");
        }
        if jobs.stalled_after_secs < 5 {
            return invalid("jobs.stalled_after_secs", "must be at least 5 (phones pause between steps)");
        }
        if jobs.deployment_timeout_secs < 5 {
            return invalid(
                "jobs.deployment_timeout_secs",
                "must be at least 5 (phones download and reboot)",
            );
        }
        if jobs.max_concurrent_deployments == 0 {
            return invalid("jobs.max_concurrent_deployments", "must be at least 1");
        }
        for network in &jobs.allowed_networks {
            if let Err(message) = crate::contact_me::Network::parse(network) {
                return Err(ConfigError::Invalid { field: "jobs.allowed_networks", message });
            }
        }
        for network in &jobs.trusted_contact_networks {
            if let Err(message) = crate::contact_me::Network::parse(network) {
                return Err(ConfigError::Invalid { field: "jobs.trusted_contact_networks", message });
            }
        }
        for (number, rule) in jobs.contact_me_rules.iter().enumerate() {
            if let Some(problem) = rule.problem() {
                let message = format!("rule {}: {problem}", number + 1);
                return Err(ConfigError::Invalid { field: "jobs.contact_me_rules", message });
            }
        }
        Ok(())
    }

    fn validate_secure_mode(&self) -> Result<(), ConfigError> {
        let invalid =
            |field: &'static str, message: &str| Err(ConfigError::Invalid { field, message: message.into() });
        let secure = &self.secure_mode;
        if secure.max_pin_retries == 0 {
            return invalid("secure_mode.max_pin_retries", "must be at least 1");
        }
        if !(4..=32).contains(&secure.pin_digits) {
            return invalid("secure_mode.pin_digits", "must be 4 to 32 (the last three are the TAN)");
        }
        if secure.certificate_validity_days == 0
            || secure.renew_before_days >= secure.certificate_validity_days
        {
            return invalid(
                "secure_mode.certificate_validity_days",
                "must be positive and longer than renew_before_days",
            );
        }
        if self.secure_listen.is_some_and(|a| a == self.phone_listen && a.port() != 0) {
            return invalid("secure_listen", "must differ from phone_listen");
        }
        if self.protocol.inventory_max_age_secs <= 0 || self.protocol.interaction_timeout_secs <= 0 {
            return invalid("protocol", "ages and timeouts must be positive");
        }
        if let Err(why) = crate::proxy_protocol::TrustedProxies::parse(&self.trusted_proxies) {
            return invalid("trusted_proxies", &why);
        }
        if let Some(group) = &self.protocol.unknown_device_group
            && let Err(why) = opendls_engine::check_group_name(group)
        {
            return invalid("protocol.unknown_device_group", &why);
        }
        Ok(())
    }
}
