//! Secrets out of documents the audit log keeps: the values of secret items (a `name` that
//! [`is_secret_item`] names, with its `value`), values marked `"secret": true` (template
//! variables), and any field whose own name speaks of a password, PIN, token or key.

use opendls_wpi::secrets::{MASK, is_secret_item, looks_secret};
use serde_json::Value;

/// Masks every secret in `document`, however deep.
pub(crate) fn mask_secrets(document: &mut Value) {
    match document {
        Value::Array(values) => values.iter_mut().for_each(mask_secrets),
        Value::Object(fields) => {
            let named_secret = fields.get("name").and_then(Value::as_str).is_some_and(is_secret_item);
            let marked_secret = fields.get("secret").and_then(Value::as_bool) == Some(true);
            for (key, value) in fields.iter_mut() {
                // A flag or a time is never a secret (`must_change_password`, `password_set_at`).
                let not_secret = value.is_boolean() || key.ends_with("_at");
                let secret_field =
                    !not_secret && (looks_secret(key) || matches!(key.as_str(), "token" | "current" | "tan"));
                let secret_value = key == "value" && (named_secret || marked_secret);
                if (secret_field || secret_value)
                    && !value.is_null()
                    && !value.is_object()
                    && !value.is_array()
                {
                    *value = Value::String(MASK.into());
                } else if secret_field && value.is_object() {
                    // A map of secret things (`{"pins": {...}}`) is masked whole.
                    *value = Value::String(MASK.into());
                } else if looks_secret_map_key_value(key, value) {
                    *value = Value::String(MASK.into());
                } else {
                    mask_secrets(value);
                }
            }
        }
        _ => {}
    }
}

/// A map of item names to values (`{"sip-pwd": "x"}`): the key is the item.
fn looks_secret_map_key_value(key: &str, value: &Value) -> bool {
    value.is_string() && is_secret_item(key)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn secrets_are_masked_wherever_they_sit() {
        let mut document = json!({
            "scope": "device",
            "values": [
                {"name": "sip-pwd", "value": "hunter2"},
                {"name": "display-id", "value": "Desk 1"},
            ],
            "variables": [{"name": "site_code", "value": "s3cret", "secret": true}, {"name": "floor", "value": "3"}],
            "password": "correct horse",
            "current": "old horse",
            "user": {"name": "ada", "admin-pwd": "x"},
            "pin": 123456,
            "items": {"user-pwd": "1234", "e164": "3001"},
            "account": {"must_change_password": true, "password_set_at": 1796699062},
        });
        mask_secrets(&mut document);
        let text = document.to_string();
        for secret in ["hunter2", "s3cret", "correct horse", "old horse", "123456", "\"1234\""] {
            assert!(!text.contains(secret), "{secret} leaked: {text}");
        }
        assert_eq!(document["values"][1]["value"], "Desk 1");
        assert_eq!(document["variables"][1]["value"], "3");
        assert_eq!(document["items"]["e164"], "3001");
        assert_eq!(document["user"]["name"], "ada");
        assert_eq!(document["account"]["must_change_password"], true, "flags and times stay");
        assert_eq!(document["account"]["password_set_at"], 1796699062);
    }
}
