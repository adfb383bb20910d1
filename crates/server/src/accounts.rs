//! Administrators' credentials: argon2id password hashes, personal API tokens (shown once, kept
//! as a SHA-256 digest), and the first admin account an installation gets at its first start.

use std::path::{Path, PathBuf};

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use opendls_engine::{Role, Timestamp};
use opendls_store::{AccountStore, NewAccount, StoreError};

/// The account made at first start.
pub const FIRST_ADMIN: &str = "admin";
/// The file in the data directory that holds the first admin's one-time password until it is
/// changed (readable by the service's user only).
pub const INITIAL_PASSWORD_FILE: &str = "initial-admin-password";
/// The shortest password accepted.
pub const MIN_PASSWORD_CHARS: usize = 12;
/// The longest password accepted (argon2 takes any length; this bounds the work a request asks).
pub const MAX_PASSWORD_CHARS: usize = 256;
/// How every personal API token starts, so that a leaked one is recognised (and told apart from
/// the break-glass token, which is 64 hex digits).
pub const TOKEN_PREFIX: &str = "odls_";

/// Hashes a password with argon2id and its default costs (19 MiB, 2 passes: the OWASP
/// recommendation), as a PHC string that carries its own salt and costs.
pub fn hash_password(password: &str) -> String {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).expect("the operating system's random source is available");
    let salt = SaltString::encode_b64(&salt).expect("16 bytes make a valid salt");
    argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .expect("argon2 with its default costs hashes any password")
        .to_string()
}

/// Whether `password` matches `hash` (a PHC string from [`hash_password`]); false for a hash
/// that does not read.
pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .is_ok_and(|parsed| argon2::Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok())
}

/// Whether a password may be set for `name`: long enough, not too long, not the name.
pub fn check_password(name: &str, password: &str) -> Result<(), String> {
    let chars = password.chars().count();
    if chars < MIN_PASSWORD_CHARS {
        return Err(format!("the password is too short: at least {MIN_PASSWORD_CHARS} characters"));
    }
    if chars > MAX_PASSWORD_CHARS {
        return Err(format!("the password is too long: at most {MAX_PASSWORD_CHARS} characters"));
    }
    if password.eq_ignore_ascii_case(name) {
        return Err("the password must not be the user name".into());
    }
    Ok(())
}

/// Whether `name` may name an account: 1-64 letters, digits and `.`, `_`, `-`, `@` (an e-mail
/// address works), not `break-glass` (the audit log's name for the admin token).
pub fn check_user_name(name: &str) -> Result<(), String> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@');
    if name.is_empty() || name.len() > 64 || !name.chars().all(allowed) {
        return Err(format!("invalid user name {name:?}: 1-64 letters, digits, '.', '_', '-' or '@'"));
    }
    if name == crate::admin::BREAK_GLASS {
        return Err(format!("{name:?} is the admin token's name in the audit log"));
    }
    Ok(())
}

/// A password to give someone once (20 characters from an alphabet without look-alikes, about
/// 100 bits), which they must change at their first login.
pub fn one_time_password() -> String {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut bytes = [0u8; 20];
    getrandom::fill(&mut bytes).expect("the operating system's random source is available");
    // 256 is not a multiple of 55: the first 36 letters are a little more likely (negligible
    // against 100 bits).
    bytes.iter().map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char).collect()
}

/// A new personal API token: what its owner is shown once, and what is kept.
#[derive(Clone)]
pub struct IssuedToken {
    /// The whole token (`odls_<id>_<secret>`), shown once.
    pub token: String,
    /// Its public id.
    pub id: String,
    /// The SHA-256 digest of the whole token, kept.
    pub digest: String,
}

impl std::fmt::Debug for IssuedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedToken").field("id", &self.id).finish_non_exhaustive()
    }
}

/// Makes a token: a 48-bit public id and a 256-bit secret.
pub fn issue_token() -> IssuedToken {
    let mut id = [0u8; 6];
    let mut secret = [0u8; 32];
    getrandom::fill(&mut id).expect("the operating system's random source is available");
    getrandom::fill(&mut secret).expect("the operating system's random source is available");
    let (id, secret) = (hex::encode(id), hex::encode(secret));
    let token = format!("{TOKEN_PREFIX}{id}_{secret}");
    IssuedToken { digest: token_digest(&token), token, id }
}

/// The digest a token is kept and looked up by.
pub fn token_digest(token: &str) -> String {
    hex::encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, token.as_bytes()))
}

/// Makes the first admin account when there is none: `admin`, with a one-time password written
/// to [`INITIAL_PASSWORD_FILE`] in the data directory (never to the log). The path of that file
/// when the account was made here.
pub async fn ensure_first_admin<S: AccountStore>(
    store: &S,
    data_dir: &Path,
    now: Timestamp,
) -> Result<Option<(PathBuf, String)>, StoreError> {
    if !store.accounts().await?.is_empty() {
        return Ok(None);
    }
    let password = one_time_password();
    let account = NewAccount {
        name: FIRST_ADMIN.into(),
        role: Role::Admin,
        password_hash: hash_password(&password),
        must_change_password: true,
    };
    if !store.add_first_account(account, now).await? {
        // Another node made it meanwhile.
        return Ok(None);
    }
    let path = data_dir.join(INITIAL_PASSWORD_FILE);
    opendls_pki::write_private(&path, format!("{password}\n").as_bytes())
        .map_err(|e| StoreError::Internal(format!("cannot write {}: {e}", path.display())))?;
    Ok(Some((path, password)))
}

/// Tells whoever started the service where the first admin's one-time password is: the path in
/// the log, the password itself only on a terminal (never into a log file or the journal).
pub(crate) fn announce_first_admin(made: Option<(PathBuf, String)>) {
    use std::io::IsTerminal;
    let Some((path, password)) = made else { return };
    tracing::warn!(
        user = FIRST_ADMIN,
        password_file = %path.display(),
        "made the first admin account; its one-time password is in the file (change it at the first login)"
    );
    if std::io::stderr().is_terminal() {
        eprintln!(
            "\n  First admin account: {}\n  One-time password:   {password}\n  (also in {}; change it at the first login)\n",
            FIRST_ADMIN,
            path.display()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_verify_against_their_hash_only() {
        let hash = hash_password("correct horse battery");
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        assert!(verify_password("correct horse battery", &hash));
        assert!(!verify_password("correct horse batterY", &hash));
        assert!(!verify_password("correct horse battery", "not a hash"));
        assert_ne!(hash, hash_password("correct horse battery"), "salted");
    }

    #[test]
    fn weak_passwords_and_odd_names_are_refused() {
        assert!(check_password("ada", "short").is_err());
        assert!(check_password("ada.lovelace.1", "Ada.Lovelace.1").is_err());
        assert!(check_password("ada", "twelve chars").is_ok());
        assert!(check_password("ada", &"x".repeat(MAX_PASSWORD_CHARS + 1)).is_err());
        assert!(check_user_name("ada@example.com").is_ok());
        for bad in ["", "a b", "ada/..", "break-glass", &"a".repeat(65)] {
            assert!(check_user_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn tokens_are_recognisable_and_kept_as_a_digest() {
        let issued = issue_token();
        assert!(issued.token.starts_with(TOKEN_PREFIX) && issued.token.contains(&issued.id));
        assert_eq!(issued.token.len(), TOKEN_PREFIX.len() + 12 + 1 + 64);
        assert_eq!(issued.digest, token_digest(&issued.token));
        assert!(!format!("{issued:?}").contains(&issued.token[18..]), "Debug hides the secret");
        let password = one_time_password();
        assert_eq!(password.chars().count(), 20);
        assert!(!password.contains(['0', 'O', 'l', '1', 'I']));
    }
}
