//! `opendls user`, `opendls token` and `opendls audit` against a running service.

use crate::support::{service, stderr, stdout};

#[test]
fn an_admin_makes_users_and_tokens_and_reads_the_audit_log_from_the_command_line() {
    let service = service();
    let listed = service.opendls(&["user", "list"]);
    assert!(listed.status.success(), "{}", stderr(&listed));
    assert!(
        stdout(&listed).contains("admin") && stdout(&listed).contains("must change"),
        "{}",
        stdout(&listed)
    );

    // A one-time password is printed (alone on standard output, for scripts).
    let made = service.opendls(&["user", "add", "otto", "--role", "operator"]);
    assert!(made.status.success(), "{}", stderr(&made));
    assert_eq!(stdout(&made).trim().chars().count(), 20, "{}", stdout(&made));
    let chosen = service.opendls_with_input(
        &["user", "add", "vera", "--role", "viewer", "--password-stdin"],
        "vera-chose-this\n",
    );
    assert!(chosen.status.success(), "{}", stderr(&chosen));
    assert!(stdout(&chosen).is_empty(), "no password to show");

    // Wrong input is refused with the reason, before or by the service.
    let bad_role = service.opendls(&["user", "add", "eve", "--role", "root"]);
    assert_eq!(bad_role.status.code(), Some(1));
    assert!(stderr(&bad_role).contains("admin, operator, viewer"), "{}", stderr(&bad_role));
    let short = service
        .opendls_with_input(&["user", "add", "eve", "--role", "viewer", "--password-stdin"], "short\n");
    assert!(!short.status.success() && stderr(&short).contains("too short"), "{}", stderr(&short));

    let created = service.opendls(&["token", "create", "--label", "nightly export", "--user", "vera"]);
    assert!(created.status.success(), "{}", stderr(&created));
    let token = stdout(&created).trim().to_owned();
    assert!(token.starts_with("odls_"), "{token}");

    // Vera's token reads, but may not change or see accounts.
    let as_vera = |args: &[&str]| service.command(args).env("OPENDLS_ADMIN_TOKEN", &token).output().unwrap();
    assert!(as_vera(&["device", "list"]).status.success());
    let refused = as_vera(&["user", "list"]);
    assert!(
        !refused.status.success() && stderr(&refused).contains("needs the admin role"),
        "{}",
        stderr(&refused)
    );
    let mine = as_vera(&["token", "list"]);
    assert!(stdout(&mine).contains("nightly export"), "{}", stdout(&mine));

    let role = service.opendls(&["user", "role", "vera", "operator"]);
    assert!(role.status.success() && stderr(&role).contains("vera is now operator"), "{}", stderr(&role));
    let id = token.split('_').nth(1).unwrap().to_owned();
    assert!(service.opendls(&["token", "revoke", &id]).status.success());
    assert!(!as_vera(&["device", "list"]).status.success(), "revoked");
    let last = service.opendls(&["user", "remove", "admin"]);
    assert!(!last.status.success() && stderr(&last).contains("last admin"), "{}", stderr(&last));

    let audit = service.opendls(&["audit", "--text", "/api/users"]);
    assert!(audit.status.success(), "{}", stderr(&audit));
    let text = stdout(&audit);
    assert!(text.contains("break-glass") && text.contains("POST /api/users"), "{text}");
    assert!(text.contains("409"), "the refused removal is recorded: {text}");
    let csv = service.opendls(&["audit", "--csv", "--since", "1h"]);
    assert!(stdout(&csv).starts_with("id,at,actor,"), "{}", stdout(&csv));
    assert!(!stdout(&csv).contains("vera-chose-this"), "no password in the log");
}
