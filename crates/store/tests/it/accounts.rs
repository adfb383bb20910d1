//! Accounts, API tokens and the audit log: what the admin side's access rules stand on.

use opendls_engine::Role;
use opendls_store::{
    AccountStore, AccountUpdate, AuditFilter, AuditStore, NewAccount, NewApiToken, NewAuditEntry,
};

use crate::backend::Backend;

fn account(name: &str, role: Role) -> NewAccount {
    NewAccount {
        name: name.into(),
        role,
        password_hash: format!("$argon2id$hash-of-{name}"),
        must_change_password: false,
    }
}

fn token(id: &str, account: &str, expires_at: Option<i64>) -> NewApiToken {
    NewApiToken {
        id: id.into(),
        account: account.into(),
        label: format!("{id} for {account}"),
        digest: format!("digest-{id}"),
        expires_at,
    }
}

pub async fn the_first_account_is_made_once_and_the_last_admin_stays<B: Backend>() {
    let (store, _keep) = B::fresh().await;
    assert!(store.accounts().await.unwrap().is_empty());
    assert!(store.add_first_account(account("root", Role::Admin), 10).await.unwrap());
    assert!(
        !store.add_first_account(account("other", Role::Admin), 11).await.unwrap(),
        "only into an empty table"
    );
    assert!(!store.add_account(account("root", Role::Viewer), 12).await.unwrap(), "the name is taken");
    assert!(store.add_account(account("vera", Role::Viewer), 12).await.unwrap());

    let root = store.account("root").await.unwrap().unwrap();
    assert_eq!((root.account.role, root.account.created_at), (Role::Admin, 10));
    assert_eq!(root.password_hash, "$argon2id$hash-of-root");
    assert!(store.account("nobody").await.unwrap().is_none());
    let names: Vec<_> = store.accounts().await.unwrap().into_iter().map(|a| a.name).collect();
    assert_eq!(names, ["root", "vera"]);

    // The only admin can be neither demoted nor removed; a second admin makes both possible.
    assert_eq!(store.set_role("root", Role::Operator).await.unwrap(), AccountUpdate::LastAdmin);
    assert_eq!(store.remove_account("root").await.unwrap(), AccountUpdate::LastAdmin);
    assert_eq!(store.set_role("ghost", Role::Admin).await.unwrap(), AccountUpdate::Missing);
    let AccountUpdate::Done(before) = store.set_role("vera", Role::Admin).await.unwrap() else { panic!() };
    assert_eq!(before.role, Role::Viewer, "the account as it was is returned");
    assert!(matches!(store.set_role("root", Role::Operator).await.unwrap(), AccountUpdate::Done(_)));
    assert_eq!(store.remove_account("vera").await.unwrap(), AccountUpdate::LastAdmin);

    let AccountUpdate::Done(before) = store.set_password("root", "$argon2id$new", true, 20).await.unwrap()
    else {
        panic!()
    };
    assert!(!before.must_change_password);
    let root = store.account("root").await.unwrap().unwrap();
    assert_eq!(root.password_hash, "$argon2id$new");
    assert!(root.account.must_change_password && root.account.password_set_at == 20);
    assert_eq!(store.set_password("ghost", "x", false, 20).await.unwrap(), AccountUpdate::Missing);
}

pub async fn tokens_act_for_their_account_until_revoked_or_expired<B: Backend>() {
    let (store, _keep) = B::fresh().await;
    assert!(store.add_account(account("ada", Role::Admin), 1).await.unwrap());
    assert!(store.add_account(account("otto", Role::Operator), 1).await.unwrap());
    assert!(store.add_token(token("a1", "ada", None), 100).await.unwrap());
    assert!(store.add_token(token("o1", "otto", Some(500)), 200).await.unwrap());
    assert!(store.add_token(token("o2", "otto", None), 300).await.unwrap());
    assert!(!store.add_token(token("x1", "nobody", None), 300).await.unwrap(), "no such account");

    let (found, owner) = store.use_token("digest-o1", 400).await.unwrap().unwrap();
    assert_eq!((found.id.as_str(), owner.name.as_str(), owner.role), ("o1", "otto", Role::Operator));
    assert_eq!(found.last_used_at, None, "the use before this one");
    assert!(store.use_token("digest-o1", 500).await.unwrap().is_none(), "expired at 500");
    assert!(store.use_token("digest-unknown", 400).await.unwrap().is_none());

    // A role change applies to the account's tokens at once.
    assert!(matches!(store.set_role("otto", Role::Viewer).await.unwrap(), AccountUpdate::Done(_)));
    let (_, owner) = store.use_token("digest-o2", 400).await.unwrap().unwrap();
    assert_eq!(owner.role, Role::Viewer);
    let (used, _) = store.use_token("digest-o2", 430).await.unwrap().unwrap();
    assert_eq!(used.last_used_at, Some(400), "uses within a minute are noted once");

    let ids = |tokens: Vec<opendls_store::ApiToken>| tokens.into_iter().map(|t| t.id).collect::<Vec<_>>();
    assert_eq!(ids(store.tokens(Some("otto")).await.unwrap()), ["o2", "o1"], "newest first");
    assert_eq!(ids(store.tokens(None).await.unwrap()), ["o2", "o1", "a1"]);
    assert!(store.revoke_token("a1", Some("otto")).await.unwrap().is_none(), "not otto's token");
    assert_eq!(store.revoke_token("o2", Some("otto")).await.unwrap().unwrap().label, "o2 for otto");
    assert!(store.use_token("digest-o2", 440).await.unwrap().is_none(), "revoked");

    // Removing an account ends its tokens.
    assert!(matches!(store.remove_account("otto").await.unwrap(), AccountUpdate::Done(_)));
    assert_eq!(ids(store.tokens(None).await.unwrap()), ["a1"]);
}

fn change(at: i64, actor: &str, target: &str) -> NewAuditEntry {
    NewAuditEntry {
        at,
        actor: actor.into(),
        via: "session".into(),
        source: "127.0.0.1".into(),
        action: "PUT /api/config".into(),
        target: target.into(),
        status: 200,
        request: Some(serde_json::json!({"values": [{"name": "sip-pwd", "value": "******"}]})),
        before: None,
        after: Some(serde_json::json!({"display-id": "Desk 1"})),
    }
}

pub async fn audit_entries_come_back_newest_first_and_filtered<B: Backend>() {
    let (store, _keep) = B::fresh().await;
    let first = store.record_audit(change(100, "ada", "/api/config?scope=global")).await.unwrap();
    let second = store.record_audit(change(200, "otto", "/api/devices/001AE8000001/group")).await.unwrap();
    let third =
        store.record_audit(change(300, "ada", "/api/config?scope=group&target=100%_sales")).await.unwrap();
    assert!(first < second && second < third);

    let all = store.audit(AuditFilter::default()).await.unwrap();
    assert_eq!(all.iter().map(|e| e.id).collect::<Vec<_>>(), [third, second, first]);
    assert_eq!(all[2].entry, change(100, "ada", "/api/config?scope=global"), "read back whole");

    let ids = |filter: AuditFilter| {
        let store = &store;
        async move { store.audit(filter).await.unwrap().into_iter().map(|e| e.id).collect::<Vec<_>>() }
    };
    assert_eq!(ids(AuditFilter { actor: Some("ada".into()), ..Default::default() }).await, [third, first]);
    assert_eq!(
        ids(AuditFilter { text: Some("DEVICES/001ae8".into()), ..Default::default() }).await,
        [second]
    );
    assert_eq!(ids(AuditFilter { text: Some("100%_".into()), ..Default::default() }).await, [third]);
    assert_eq!(ids(AuditFilter { text: Some("0%_".into()), ..Default::default() }).await, [third], "literal");
    assert!(
        ids(AuditFilter { text: Some("1_0".into()), ..Default::default() }).await.is_empty(),
        "_ is literal"
    );
    assert_eq!(ids(AuditFilter { since: Some(200), until: Some(300), ..Default::default() }).await, [second]);
    assert_eq!(
        ids(AuditFilter { before_id: Some(third), limit: Some(1), ..Default::default() }).await,
        [second]
    );
}

fn session(digest: &str, account: &str, expires_at: i64) -> opendls_store::NewSession {
    opendls_store::NewSession {
        digest: digest.into(),
        account: account.into(),
        expires_at,
        source: "127.0.0.1".into(),
    }
}

pub async fn sessions_end_when_expired_idle_logged_out_or_their_account_goes<B: Backend>() {
    let (store, _keep) = B::fresh().await;
    assert!(store.add_account(account("ada", Role::Admin), 1).await.unwrap());
    assert!(store.add_account(account("otto", Role::Operator), 1).await.unwrap());
    assert!(!store.add_session(session("s0", "nobody", 1000), 100).await.unwrap(), "no such account");
    for (digest, who) in [("s1", "ada"), ("s2", "ada"), ("s3", "otto"), ("s4", "otto")] {
        assert!(store.add_session(session(digest, who, 1000), 100).await.unwrap());
    }
    let idle = 300;
    let found = store.use_session("s1", 200, idle).await.unwrap().unwrap();
    assert_eq!((found.account.name.as_str(), found.created_at, found.expires_at), ("ada", 100, 1000));
    assert!(store.use_session("s1", 1000, idle).await.unwrap().is_none(), "expired");
    assert!(store.use_session("s2", 400, idle).await.unwrap().is_none(), "idle since 100");
    assert!(store.use_session("s3", 350, idle).await.unwrap().is_some(), "used at 350");
    assert!(store.use_session("s3", 600, idle).await.unwrap().is_some(), "still used within 300 s");
    assert!(store.use_session("unknown", 200, idle).await.unwrap().is_none());

    assert!(store.end_session("s3").await.unwrap());
    assert!(!store.end_session("s3").await.unwrap());
    assert!(store.use_session("s3", 610, idle).await.unwrap().is_none(), "logged out");

    // A password change ends the account's other sessions; removing the account ends them all.
    assert!(store.add_session(session("s5", "ada", 1000), 600).await.unwrap());
    assert!(store.add_session(session("s6", "ada", 1000), 600).await.unwrap());
    assert_eq!(store.end_sessions_of("ada", Some("s5")).await.unwrap(), 3, "s1, s2 and s6");
    assert!(store.use_session("s5", 610, idle).await.unwrap().is_some());
    assert!(matches!(store.remove_account("otto").await.unwrap(), AccountUpdate::Done(_)));
    assert!(store.use_session("s4", 200, idle).await.unwrap().is_none(), "its account is gone");
}
