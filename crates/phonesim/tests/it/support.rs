//! A real opendls server in a temporary directory, and admin API calls over plain HTTP.

use std::time::Duration;

use opendls_phonesim::interaction::Target;
use opendls_phonesim::transport::http_request;
use opendls_server::{Config, RunningServer};

pub struct Server {
    pub running: RunningServer,
    _dir: tempfile::TempDir,
}

impl Server {
    pub async fn start() -> Server {
        let dir = tempfile::tempdir().unwrap();
        let config = Config::loopback(dir.path().to_owned());
        Server { running: opendls_server::start(config).await.unwrap(), _dir: dir }
    }

    pub fn target(&self) -> Target {
        let mut target = Target::default_mode(self.running.phone_addr);
        target.timeout = Duration::from_secs(20);
        target
    }

    pub async fn admin(
        &self,
        method: &str,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let headers = vec![
            format!("Authorization: Bearer {}", self.running.admin_token),
            "Content-Type: application/json".to_owned(),
        ];
        let reply = http_request(
            self.running.admin_addr,
            method,
            path,
            &headers,
            body.as_bytes(),
            Duration::from_secs(10),
        )
        .await
        .unwrap();
        let value = serde_json::from_slice(&reply.body).unwrap_or(serde_json::Value::Null);
        (reply.status, value)
    }

    /// Stores a file or firmware image (`POST /api/files?{query}`); returns its number.
    pub async fn upload(&self, query: &str, content: &[u8]) -> i64 {
        let headers = vec![format!("Authorization: Bearer {}", self.running.admin_token)];
        let path = format!("/api/files?{query}");
        let reply =
            http_request(self.running.admin_addr, "POST", &path, &headers, content, Duration::from_secs(10))
                .await
                .unwrap();
        let stored: serde_json::Value = serde_json::from_slice(&reply.body).unwrap_or_default();
        assert_eq!(reply.status, 201, "{stored}");
        stored["id"].as_i64().unwrap()
    }

    pub async fn set(&self, scope: serde_json::Value) {
        let (status, answer) = self.admin("PUT", "/api/config", Some(scope)).await;
        assert_eq!(status, 200, "{answer}");
    }

    pub async fn device(&self, mac: &str) -> serde_json::Value {
        let (status, view) = self.admin("GET", &format!("/api/devices/{mac}?history=500"), None).await;
        assert_eq!(status, 200, "{view}");
        view
    }
}

/// Waits until `check` holds, for at most `limit`.
pub async fn eventually(limit: Duration, mut check: impl AsyncFnMut() -> bool) -> bool {
    let until = tokio::time::Instant::now() + limit;
    while tokio::time::Instant::now() < until {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

pub fn history_kinds(view: &serde_json::Value) -> Vec<String> {
    view["history"].as_array().unwrap().iter().map(|h| h["kind"].as_str().unwrap().to_owned()).collect()
}
