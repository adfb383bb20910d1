//! Secrets at rest: the values administrators set for secret items (SIP passwords, `user-pwd`,
//! `file-pwd`, ...), Secure Mode PINs, refused secret values and interaction states (which can
//! carry values being written) are stored sealed with AES-256-GCM under a key kept in its own
//! file, not in the database: a copied database or a backup of it alone reveals none of them.
//!
//! The key file holds one key per line, `<id> <64 hex digits>`, the first one current: values
//! are sealed with it and opened with whichever key their id names, so a rotation
//! ([`rotate_key_file`], then re-sealing) never makes a stored value unreadable. A sealed value
//! reads `sealed:v1:<id>:<base64 of nonce, ciphertext and tag>`; a value without that prefix is
//! taken as written before sealing existed and is sealed at its next write.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use base64::Engine;
use base64::engine::general_purpose::STANDARD_NO_PAD as BASE64;

use crate::{StoreError, StoreResult};

/// The key file's name inside the data directory, where it is by default.
pub const KEY_FILE: &str = "secrets.key";

const PREFIX: &str = "sealed:v1:";

/// The keys that seal and open secrets.
pub struct SecretKeys {
    keys: Vec<(String, LessSafeKey)>,
}

impl std::fmt::Debug for SecretKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ids: Vec<&str> = self.keys.iter().map(|(id, _)| id.as_str()).collect();
        f.debug_struct("SecretKeys").field("ids", &ids).finish_non_exhaustive()
    }
}

/// Why the key file could not be used.
#[derive(Debug, thiserror::Error)]
#[error("secrets key file {path}: {problem}")]
pub struct KeyFileError {
    /// The file.
    pub path: PathBuf,
    /// What is wrong.
    pub problem: String,
}

impl SecretKeys {
    /// Reads the key file, which must exist.
    pub fn load(path: &Path) -> Result<SecretKeys, KeyFileError> {
        let error = |problem: String| KeyFileError { path: path.to_owned(), problem };
        let text = fs::read_to_string(path).map_err(|e| error(e.to_string()))?;
        SecretKeys::parse(&text).map_err(error)
    }

    /// Reads the key file, creating it (0600) with a new random key if it does not exist.
    pub fn load_or_create(path: &Path) -> Result<SecretKeys, KeyFileError> {
        let error = |problem: String| KeyFileError { path: path.to_owned(), problem };
        match fs::read_to_string(path) {
            Ok(text) => SecretKeys::parse(&text).map_err(error),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let line = new_key_line();
                write_private(path, &line).map_err(|e| error(e.to_string()))?;
                SecretKeys::parse(&line).map_err(error)
            }
            Err(e) => Err(error(e.to_string())),
        }
    }

    fn parse(text: &str) -> Result<SecretKeys, String> {
        let mut keys = Vec::new();
        for (number, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
            let (id, hex_key) =
                line.trim().split_once(' ').ok_or(format!("line {}: expected `<id> <key>`", number + 1))?;
            let bytes = hex::decode(hex_key.trim())
                .map_err(|_| format!("line {}: the key is not hex", number + 1))?;
            let key = UnboundKey::new(&AES_256_GCM, &bytes)
                .map_err(|_| format!("line {}: the key must be 32 bytes (64 hex digits)", number + 1))?;
            keys.push((id.to_owned(), LessSafeKey::new(key)));
        }
        if keys.is_empty() {
            return Err("holds no key".into());
        }
        Ok(SecretKeys { keys })
    }

    /// The id of the key new values are sealed with.
    pub fn current_id(&self) -> &str {
        &self.keys[0].0
    }

    /// Seals `plain` with the current key.
    pub fn seal(&self, plain: &str) -> String {
        let (id, key) = &self.keys[0];
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).expect("the operating system's random source is available");
        let mut sealed = plain.as_bytes().to_vec();
        key.seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(id.as_bytes()),
            &mut sealed,
        )
        .expect("AES-GCM seals any length a database holds");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        format!("{PREFIX}{id}:{}", BASE64.encode(out))
    }

    /// Opens a stored value: sealed ones with the key they name, others as they are.
    pub fn open(&self, stored: &str) -> StoreResult<String> {
        let Some(rest) = stored.strip_prefix(PREFIX) else {
            return Ok(stored.to_owned());
        };
        let corrupt = |why: &str| StoreError::Corrupt(format!("sealed secret: {why}"));
        let (id, encoded) = rest.split_once(':').ok_or_else(|| corrupt("no key id"))?;
        let (_, key) = self.keys.iter().find(|(known, _)| known == id).ok_or_else(|| {
            StoreError::Corrupt(format!("sealed with key {id}, which is not in the secrets key file"))
        })?;
        let body = BASE64.decode(encoded).map_err(|_| corrupt("not base64"))?;
        if body.len() < NONCE_LEN {
            return Err(corrupt("too short"));
        }
        let (nonce, sealed) = body.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| corrupt("bad nonce"))?;
        let mut sealed = sealed.to_vec();
        let plain = key
            .open_in_place(nonce, Aad::from(id.as_bytes()), &mut sealed)
            .map_err(|_| corrupt("does not open with its key (tampered, or another key file)"))?;
        String::from_utf8(plain.to_vec()).map_err(|_| corrupt("not UTF-8"))
    }

    /// Opens `value` where it stands if it is sealed; leaves it alone (no copy) otherwise.
    pub fn open_in_place(&self, value: &mut String) -> StoreResult<()> {
        if value.starts_with(PREFIX) {
            *value = self.open(value)?;
        }
        Ok(())
    }

    /// Whether `stored` is sealed with a key other than the current one (or not at all).
    pub fn needs_resealing(&self, stored: &str) -> bool {
        !stored.starts_with(&format!("{PREFIX}{}:", self.current_id()))
    }
}

/// Puts a new current key at the top of the key file, keeping the older ones so that values
/// sealed with them still open. Returns the new key's id.
pub fn rotate_key_file(path: &Path) -> Result<String, KeyFileError> {
    let error = |problem: String| KeyFileError { path: path.to_owned(), problem };
    let old = fs::read_to_string(path).map_err(|e| error(e.to_string()))?;
    SecretKeys::parse(&old).map_err(error)?;
    let line = new_key_line();
    write_private(path, &format!("{line}{old}")).map_err(|e| error(e.to_string()))?;
    Ok(SecretKeys::parse(&line).map_err(error)?.current_id().to_owned())
}

/// Leaves only the current key in the key file (after every value was re-sealed with it).
pub fn retire_old_keys(path: &Path) -> Result<(), KeyFileError> {
    let error = |problem: String| KeyFileError { path: path.to_owned(), problem };
    let text = fs::read_to_string(path).map_err(|e| error(e.to_string()))?;
    let first = text.lines().find(|l| !l.trim().is_empty()).ok_or_else(|| error("holds no key".into()))?;
    write_private(path, &format!("{first}\n")).map_err(|e| error(e.to_string()))
}

fn new_key_line() -> String {
    let mut key = [0u8; 32];
    let mut id = [0u8; 4];
    getrandom::fill(&mut key).expect("the operating system's random source is available");
    getrandom::fill(&mut id).expect("the operating system's random source is available");
    format!("{} {}\n", hex::encode(id), hex::encode(key))
}

fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    let partial = path.with_extension("partial");
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&partial)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()?;
    drop(file);
    fs::rename(&partial, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_and_reveal_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let keys = SecretKeys::load_or_create(&dir.path().join(KEY_FILE)).unwrap();
        let sealed = keys.seal("s3cret");
        assert!(sealed.starts_with("sealed:v1:") && !sealed.contains("s3cret"));
        assert_ne!(sealed, keys.seal("s3cret"), "a fresh nonce every time");
        assert_eq!(keys.open(&sealed).unwrap(), "s3cret");
        assert_eq!(keys.open("written before sealing").unwrap(), "written before sealing");
        let mut tampered = sealed.clone();
        tampered.pop();
        tampered.push(if sealed.ends_with('A') { 'B' } else { 'A' });
        assert!(keys.open(&tampered).is_err());
        let other = SecretKeys::load_or_create(&dir.path().join("other.key")).unwrap();
        assert!(other.open(&sealed).is_err(), "another key file cannot open it");
    }

    #[test]
    fn rotation_keeps_old_values_readable() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(KEY_FILE);
        let before = SecretKeys::load_or_create(&path).unwrap();
        let sealed = before.seal("pin 12345678");
        let id = rotate_key_file(&path).unwrap();
        let after = SecretKeys::load_or_create(&path).unwrap();
        assert_eq!(after.current_id(), id);
        assert_eq!(after.open(&sealed).unwrap(), "pin 12345678");
        assert!(after.needs_resealing(&sealed));
        assert!(!after.needs_resealing(&after.seal("x")));
        retire_old_keys(&path).unwrap();
        assert!(SecretKeys::load_or_create(&path).unwrap().open(&sealed).is_err());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
    }
}
