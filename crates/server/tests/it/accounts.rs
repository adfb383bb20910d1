//! Accounts, roles, personal API tokens and the audit log, through the admin API.

use serde_json::{Value, json};

use crate::support::TestServer;

/// Makes a user with `role` and a token for them (as the break-glass admin token); the token.
async fn user_with_token(server: &TestServer, name: &str, role: &str) -> String {
    let user = json!({"name": name, "role": role, "password": format!("{name}-password-1")});
    server.admin_json("POST", "/api/users", Some(&user.to_string()), 201).await;
    let request = json!({"label": "tests", "user": name});
    let created = server.admin_json("POST", "/api/tokens", Some(&request.to_string()), 201).await;
    created["token"].as_str().unwrap().to_owned()
}

fn status(reply: &crate::support::Reply) -> u16 {
    reply.status
}

#[tokio::test]
async fn the_first_start_makes_an_admin_with_a_one_time_password_in_the_data_directory() {
    let server = TestServer::start().await;
    let users = server.admin_json("GET", "/api/users", None, 200).await;
    assert_eq!(users.as_array().unwrap().len(), 1, "{users}");
    assert_eq!((users[0]["name"].as_str(), users[0]["role"].as_str()), (Some("admin"), Some("admin")));
    assert_eq!(users[0]["must_change_password"], true);
    let file = server.running().data_dir.join("initial-admin-password");
    let password = std::fs::read_to_string(&file).unwrap();
    assert_eq!(password.trim().chars().count(), 20);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o077, 0, "private");
    }

    // The admin uses it once, to choose a password; the file goes.
    let token = server
        .admin_json("POST", "/api/tokens", Some(r#"{"label":"first login","user":"admin"}"#), 201)
        .await["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let wrong = json!({"current": "not it", "password": "a brand new password"});
    let reply = server.admin_as(&token, "PUT", "/api/users/admin/password", Some(&wrong.to_string())).await;
    assert_eq!(status(&reply), 403, "{}", reply.text());
    let right = json!({"current": password.trim(), "password": "a brand new password"});
    let reply = server.admin_as(&token, "PUT", "/api/users/admin/password", Some(&right.to_string())).await;
    assert_eq!(status(&reply), 200, "{}", reply.text());
    assert!(!file.exists(), "the one-time password is removed once changed");
    let users = server.admin_json("GET", "/api/users", None, 200).await;
    assert_eq!(users[0]["must_change_password"], false);

    // A restart makes no second admin.
    let mut server = server;
    server.restart().await;
    assert_eq!(server.admin_json("GET", "/api/users", None, 200).await.as_array().unwrap().len(), 1);
    assert!(!file.exists());
}

#[tokio::test]
async fn each_role_may_do_what_it_is_given_and_nothing_more() {
    let server = TestServer::start().await;
    let viewer = user_with_token(&server, "vera", "viewer").await;
    let operator = user_with_token(&server, "otto", "operator").await;
    let change = r#"{"scope":"global","name":"transaction-timer","value":"5000"}"#;
    let mode = r#"{"scope":"global","mode":"secure"}"#;

    let whoami: Value =
        serde_json::from_str(&server.admin_as(&viewer, "GET", "/api/whoami", None).await.text()).unwrap();
    assert_eq!((whoami["name"].as_str(), whoami["role"].as_str()), (Some("vera"), Some("viewer")));
    assert_eq!(whoami["via"]["kind"], "token");

    // A viewer reads and changes nothing.
    assert_eq!(status(&server.admin_as(&viewer, "GET", "/api/devices", None).await), 200);
    assert_eq!(status(&server.admin_as(&viewer, "GET", "/api/config", None).await), 200);
    let refused = server.admin_as(&viewer, "PUT", "/api/config", Some(change)).await;
    assert_eq!(status(&refused), 403);
    assert!(refused.text().contains("needs the operator role"), "{}", refused.text());
    assert_eq!(
        status(&server.admin_as(&viewer, "POST", "/api/jobs", Some(r#"{"kind":"restart"}"#)).await),
        403
    );
    assert_eq!(status(&server.admin_as(&viewer, "GET", "/api/users", None).await), 403);
    assert_eq!(status(&server.admin_as(&viewer, "GET", "/api/audit", None).await), 403);

    // An operator changes configuration, but not Secure Mode, PINs, the CA or accounts.
    assert_eq!(status(&server.admin_as(&operator, "PUT", "/api/config", Some(change)).await), 200);
    assert_eq!(status(&server.admin_as(&operator, "PUT", "/api/security/mode", Some(mode)).await), 403);
    assert_eq!(status(&server.admin_as(&operator, "GET", "/api/security/ca", None).await), 403);
    assert_eq!(status(&server.admin_as(&operator, "PUT", "/api/groups/sales/pin", Some("{}")).await), 403);
    let user = r#"{"name":"mallory","role":"admin","password":"mallory-password"}"#;
    assert_eq!(status(&server.admin_as(&operator, "POST", "/api/users", Some(user)).await), 403);
    let promote = r#"{"role":"admin"}"#;
    assert_eq!(status(&server.admin_as(&operator, "PUT", "/api/users/otto/role", Some(promote)).await), 403);
    let other = r#"{"password":"vera has a new one"}"#;
    assert_eq!(
        status(&server.admin_as(&operator, "PUT", "/api/users/vera/password", Some(other)).await),
        403
    );
    let for_vera = r#"{"label":"x","user":"vera"}"#;
    assert_eq!(status(&server.admin_as(&operator, "POST", "/api/tokens", Some(for_vera)).await), 403);

    // A role change applies to the account's tokens at once.
    server.admin_json("PUT", "/api/users/vera/role", Some(r#"{"role":"operator"}"#), 200).await;
    assert_eq!(status(&server.admin_as(&viewer, "PUT", "/api/config", Some(change)).await), 200);

    // The last admin stays.
    let last = server.admin("DELETE", "/api/users/admin", None).await;
    assert_eq!(status(&last), 409, "{}", last.text());
    server.admin_json("PUT", "/api/users/admin/role", Some(r#"{"role":"viewer"}"#), 409).await;
}

#[tokio::test]
async fn tokens_are_shown_once_listed_by_owner_and_stop_when_revoked_or_their_user_goes() {
    let server = TestServer::start().await;
    let otto = user_with_token(&server, "otto", "operator").await;
    assert!(otto.starts_with("odls_"));
    let second =
        server.admin_as(&otto, "POST", "/api/tokens", Some(r#"{"label":"cron","expires_in_days":30}"#)).await;
    assert_eq!(status(&second), 201, "{}", second.text());
    let second: Value = serde_json::from_str(&second.text()).unwrap();
    let listed: Value =
        serde_json::from_str(&server.admin_as(&otto, "GET", "/api/tokens", None).await.text()).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 2);
    assert!(!listed.to_string().contains(&otto[18..]), "no secret is listed again");
    let cron = listed.as_array().unwrap().iter().find(|t| t["label"] == "cron").unwrap();
    assert_eq!(cron["expires_at"].as_i64(), cron["created_at"].as_i64().map(|at| at + 30 * 86_400));
    assert_eq!(status(&server.admin_as(&otto, "GET", "/api/tokens?all=true", None).await), 403);
    assert_eq!(
        server.admin_json("GET", "/api/tokens?all=true", None, 200).await.as_array().unwrap().len(),
        2
    );

    let id = second["id"].as_str().unwrap();
    assert_eq!(status(&server.admin_as(&otto, "DELETE", &format!("/api/tokens/{id}"), None).await), 200);
    let gone = server.admin_as(second["token"].as_str().unwrap(), "GET", "/api/devices", None).await;
    assert_eq!(status(&gone), 401, "revoked");
    // The last hex digit changed (to one it is not: a fixed digit would be the same 1 time in 16).
    let last = if otto.ends_with('0') { '1' } else { '0' };
    let forged = format!("{}{last}", &otto[..otto.len() - 1]);
    assert_eq!(status(&server.admin_as(&forged, "GET", "/api/devices", None).await), 401);

    server.admin_json("DELETE", "/api/users/otto", None, 200).await;
    assert_eq!(status(&server.admin_as(&otto, "GET", "/api/devices", None).await), 401, "its user is gone");
    assert_eq!(
        status(&server.admin("POST", "/api/tokens", Some(r#"{"label":"nobody's"}"#)).await),
        422,
        "the break-glass token has no account of its own"
    );
}

#[tokio::test]
async fn every_change_is_audited_with_who_where_and_what_secrets_masked() {
    let server = TestServer::start().await;
    let otto = user_with_token(&server, "otto", "operator").await;
    let vera = user_with_token(&server, "vera", "viewer").await;
    let change = r#"{"scope":"global","values":[{"name":"admin-pwd","value":"hunter2hunter2"},{"name":"transaction-timer","value":"7000"}]}"#;
    let reply = server.admin_as(&otto, "PUT", "/api/config", Some(change)).await;
    assert_eq!(status(&reply), 200, "{}", reply.text());
    assert_eq!(status(&server.admin_as(&vera, "PUT", "/api/config", Some(change)).await), 403);
    server.admin_json("GET", "/api/devices", None, 200).await;

    let entries = server.admin_json("GET", "/api/audit?actor=otto&text=/api/config", None, 200).await;
    let entry = &entries[0];
    assert_eq!(entry["action"], "PUT /api/config");
    assert_eq!((entry["status"].as_u64(), entry["source"].as_str()), (Some(200), Some("127.0.0.1")));
    assert!(entry["via"].as_str().unwrap().starts_with("token "), "{entry}");
    assert_eq!(entry["request"]["values"][1]["value"], "7000");
    assert_eq!(entry["request"]["values"][0]["value"], "******");
    let refused = server.admin_json("GET", "/api/audit?actor=vera", None, 200).await;
    assert_eq!(refused[0]["status"], 403, "refused changes are recorded too");

    let all = server.admin_json("GET", "/api/audit?limit=1000", None, 200).await;
    assert!(!all.to_string().contains("hunter2hunter2"), "no secret in the log: {all}");
    assert!(!all.to_string().contains("otto-password-1"), "nor a password");
    assert!(
        all.as_array().unwrap().iter().all(|e| e["action"] != "GET /api/devices"),
        "reads are not changes"
    );
    let made = all.as_array().unwrap().iter().find(|e| e["action"] == "POST /api/users").unwrap();
    assert_eq!(
        (made["actor"].as_str(), made["via"].as_str()),
        (Some("break-glass"), Some("break-glass token"))
    );
    assert!(made["after"]["name"].is_string(), "the account made: {made}");

    let role = server.admin_json("PUT", "/api/users/vera/role", Some(r#"{"role":"operator"}"#), 200).await;
    assert_eq!(role["role"], "operator");
    let entries = server.admin_json("GET", "/api/audit?text=/role", None, 200).await;
    assert_eq!(
        (entries[0]["before"]["role"].as_str(), entries[0]["after"]["role"].as_str()),
        (Some("viewer"), Some("operator"))
    );

    // A change records the values it replaced and set, secrets masked.
    let again = r#"{"scope":"global","values":[{"name":"admin-pwd","value":"other-secret-9"},{"name":"transaction-timer","value":"8000"}]}"#;
    assert_eq!(status(&server.admin_as(&otto, "PUT", "/api/config", Some(again)).await), 200);
    let entry = &server.admin_json("GET", "/api/audit?actor=otto&limit=1", None, 200).await[0];
    let value_of = |document: &Value, name: &str| {
        document.as_array().unwrap().iter().find(|e| e["name"] == name).map(|e| e["value"].clone())
    };
    assert_eq!(value_of(&entry["before"], "transaction-timer"), Some(json!("7000")), "{entry}");
    assert_eq!(value_of(&entry["after"], "transaction-timer"), Some(json!("8000")));
    assert_eq!(value_of(&entry["before"], "admin-pwd"), Some(json!("******")));
    assert!(!entry.to_string().contains("other-secret-9"));

    let csv = server.admin("GET", "/api/audit?format=csv&actor=otto", None).await;
    assert_eq!(status(&csv), 200);
    assert!(csv.header("content-type").unwrap().starts_with("text/csv"));
    let text = csv.text();
    assert!(
        text.starts_with("id,at,actor,via,source,action,target,status,request,before,after\r\n"),
        "{text}"
    );
    assert!(text.contains(",otto,") && !text.contains("hunter2hunter2"), "{text}");
}
