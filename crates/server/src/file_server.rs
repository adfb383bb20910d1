//! The built-in HTTPS file server phones download firmware and files from (guide p. 53: a
//! `file-https-base-url` names the file in full). Its own port, served by
//! [`crate::http_listener::serve_http`] over the phone ports' TLS stacks (legacy TLS too), and a URL per device and file that carries an expiring token: a token for
//! another device or file, or an expired one, is refused and logged. Range requests let a phone
//! resume; every answer streams from disk with an exact `Content-Length`.

use std::path::PathBuf;
use std::sync::Arc;

use aws_lc_rs::hmac;
use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use opendls_store::FileStore;
use serde::Deserialize;
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use crate::vault::Vault;

/// The file holding the key download tokens are signed with.
pub const TOKEN_KEY_FILE: &str = "file-token.key";

/// Signs and checks download tokens.
#[derive(Clone)]
pub struct TokenKey(hmac::Key);

impl std::fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenKey(<redacted>)")
    }
}

/// One download a token allows: this device, this stored file and content, until then.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// The device (normalized MAC).
    pub mac: String,
    /// The stored file.
    pub file_id: i64,
    /// Its content's SHA-256 (a replaced content invalidates old URLs).
    pub sha256: String,
    /// Unix time after which the token is refused.
    pub expires_at: i64,
}

impl TokenKey {
    /// A key from the secret in [`TOKEN_KEY_FILE`] (made, private, at first start).
    pub fn new(secret: &[u8]) -> TokenKey {
        TokenKey(hmac::Key::new(hmac::HMAC_SHA256, secret))
    }

    /// The token for a grant.
    pub fn sign(&self, grant: &Grant) -> String {
        hex::encode(hmac::sign(&self.0, message(grant).as_bytes()).as_ref())
    }

    /// Whether `token` is this key's for `grant` (compared in constant time).
    pub fn verify(&self, grant: &Grant, token: &str) -> bool {
        hex::decode(token).is_ok_and(|tag| hmac::verify(&self.0, message(grant).as_bytes(), &tag).is_ok())
    }
}

fn message(grant: &Grant) -> String {
    format!("opendls-download-v1\n{}\n{}\n{}\n{}", grant.mac, grant.file_id, grant.sha256, grant.expires_at)
}

/// The path of a download for a grant: `/files/{id}/{device}/{expires}/{token}/{name}`, the
/// device as twelve hex digits. Everything is in the path and the file's name comes last: a
/// phone that takes the name from the URL's last segment (as a `file-https-base-url` names the
/// file, guide p. 53) finds it, and none has to keep a query string.
pub fn download_path(key: &TokenKey, grant: &Grant, name: &str) -> String {
    let token = key.sign(grant);
    let name = path_segment(name);
    let device = grant.mac.replace(':', "");
    format!("/files/{}/{device}/{}/{token}/{name}", grant.file_id, grant.expires_at)
}

/// Where download URLs point and how their tokens are signed.
#[derive(Debug, Clone)]
pub struct Downloads {
    /// `https://public_address:port` of the file server.
    pub base: String,
    /// Whether that address is a loopback one (only phones on this host could use it).
    pub loopback: bool,
    /// The key download tokens are signed with.
    pub key: TokenKey,
}

/// How long a download URL handed to a phone in a deployment stays valid: long enough for a
/// busy phone to fetch it later or resume it (guide p. 56: a normal-priority deployment waits
/// for the phone to be idle).
pub const DEPLOYMENT_URL_VALIDITY_SECS: i64 = 24 * 3600;

impl Downloads {
    /// The URL of one stored file for one device, valid until `expires_at`.
    pub fn url(&self, mac: &str, file: &opendls_engine::Deployable, expires_at: i64) -> String {
        let grant =
            Grant { mac: mac.to_owned(), file_id: file.file_id, sha256: file.sha256.clone(), expires_at };
        format!("{}{}", self.base, download_path(&self.key, &grant, &file.on_phone.name))
    }

    /// Whether a phone at `remote_addr` can reach the URLs.
    pub fn reachable_from(&self, remote_addr: Option<&str>) -> bool {
        let on_loopback =
            remote_addr.and_then(|a| a.parse::<std::net::IpAddr>().ok()).is_some_and(|ip| ip.is_loopback());
        !self.loopback || on_loopback
    }
}

/// A file name as one URL path segment (everything but unreserved characters escaped).
pub fn path_segment(name: &str) -> String {
    name.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Where phones fetch the files of their deployments: the site's own server when one is
/// configured (`[external_files]`), else the built-in file server.
#[derive(Debug, Clone)]
pub struct Sources {
    /// The built-in file server, or why phones cannot use it.
    pub builtin: Result<Downloads, String>,
    /// The site's own FTP or HTTPS server.
    pub external: Option<crate::config::ExternalSource>,
}

impl Sources {
    /// The built-in file server when phones fetch from it (`None`: from the site's own), or why
    /// they cannot fetch at all.
    pub fn usable(&self) -> Result<Option<&Downloads>, String> {
        match &self.external {
            Some(_) => Ok(None),
            None => self.builtin.as_ref().map(Some).map_err(Clone::clone),
        }
    }

    /// Where the device at `remote_addr` fetches the files of its deployment tasks: the site's
    /// own server, or the built-in one with a token for this device and file (guide p. 53, 57).
    pub fn for_device(
        &self,
        mac: &str,
        remote_addr: &str,
        tasks: &[opendls_engine::DeviceTask],
        now: i64,
    ) -> Result<Vec<opendls_engine::Download>, String> {
        let builtin = self.usable()?;
        if builtin.is_some_and(|downloads| !downloads.reachable_from(Some(remote_addr))) {
            return Err(format!(
                "public_address names this host's loopback, which the phone at {remote_addr} cannot reach: set public_address to this host's name or address as the phones see it"
            ));
        }
        let expires_at = now + DEPLOYMENT_URL_VALIDITY_SECS;
        let source = |file: &opendls_engine::Deployable| match (builtin, &self.external) {
            (Some(downloads), _) => {
                vec![opendls_wpi::Item::new("file-https-base-url", downloads.url(mac, file, expires_at))]
            }
            (None, Some(external)) => external.items(&file.on_phone.name),
            (None, None) => unreachable!("usable() names one of the two"),
        };
        let files = tasks.iter().flat_map(|task| task.kind.downloads());
        Ok(files
            .map(|file| opendls_engine::Download { file_id: file.file_id, source: source(file) })
            .collect())
    }
}

struct FileServerState<S> {
    store: Arc<S>,
    vault: Arc<Vault>,
    key: TokenKey,
}

/// A download's path: the stored file, the device, the expiry, the token and the file's name.
#[derive(Debug, Deserialize)]
struct Ticket {
    id: i64,
    device: String,
    expires: i64,
    token: String,
    name: String,
}

/// The file server's routes.
pub fn router<S: FileStore>(store: Arc<S>, vault: Arc<Vault>, key: TokenKey) -> Router {
    let state = Arc::new(FileServerState { store, vault, key });
    Router::new()
        .route("/files/{id}/{device}/{expires}/{token}/{name}", get(download::<S>))
        .fallback(outside_the_store)
        .with_state(state)
}

/// Any other path: nothing is served, and the attempt is logged (its first two segments only:
/// the rest could hold a token).
async fn outside_the_store(uri: axum::http::Uri) -> Response {
    let start: Vec<&str> = uri.path().split('/').take(3).collect();
    tracing::warn!(target: "opendls::security", path_start = %start.join("/"), "download of a path outside the store refused");
    refused(StatusCode::NOT_FOUND, "no such file\n")
}

fn refused(status: StatusCode, why: &'static str) -> Response {
    (status, why).into_response()
}

async fn download<S: FileStore>(
    State(state): State<Arc<FileServerState<S>>>,
    Path(ticket): Path<Ticket>,
    headers: HeaderMap,
) -> Response {
    let Ticket { id, device, expires: expires_at, token, name } = ticket;
    let Some(mac) = opendls_engine::normalize_mac(&device) else {
        tracing::warn!(target: "opendls::security", file = id, "download for no device refused");
        return refused(StatusCode::FORBIDDEN, "a download names its device\n");
    };
    let file = match state.store.stored_file(id).await {
        Ok(Some(file)) if file.file.name == name => file,
        Ok(_) => {
            tracing::warn!(target: "opendls::security", file = id, mac = %mac, "download of an unknown file refused");
            return refused(StatusCode::NOT_FOUND, "no such file\n");
        }
        Err(error) => {
            tracing::error!(%error, "file server storage error");
            return refused(StatusCode::SERVICE_UNAVAILABLE, "try again later\n");
        }
    };
    let grant = Grant { mac: mac.clone(), file_id: id, sha256: file.file.sha256.clone(), expires_at };
    if !state.key.verify(&grant, &token) {
        tracing::warn!(target: "opendls::security", file = id, mac = %mac, "download with a token for another device or file refused");
        return refused(StatusCode::FORBIDDEN, "this token is not for this device and file\n");
    }
    if crate::phone::unix_now() > expires_at {
        tracing::warn!(target: "opendls::security", file = id, mac = %mac, expired_at = expires_at, "download with an expired token refused");
        return refused(StatusCode::FORBIDDEN, "this token has expired\n");
    }
    let path = match state.vault.local_or_shared(&*state.store, &file.file.sha256).await {
        Ok(Some(path)) => path,
        Ok(None) => {
            tracing::error!(file = id, sha256 = %file.file.sha256, "a stored file's content is missing from the data directory");
            return refused(StatusCode::NOT_FOUND, "the file's content is missing\n");
        }
        Err(error) => {
            tracing::error!(%error, file = id, sha256 = %file.file.sha256, "a stored file's content could not be fetched from the database");
            return refused(StatusCode::SERVICE_UNAVAILABLE, "try again later\n");
        }
    };
    let range = headers.get(header::RANGE).and_then(|v| v.to_str().ok());
    tracing::info!(file = id, mac = %mac, name = %file.file.name, range = range.unwrap_or("-"), "download");
    serve_content(path, file.file.size, range).await
}

/// One `bytes=` range, resolved against the size; `None` when absent or not a single range
/// (then the whole content is sent, as HTTP allows), `Err` when unsatisfiable.
fn byte_range(header: Option<&str>, size: u64) -> Result<Option<(u64, u64)>, ()> {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else { return Ok(None) };
    if spec.contains(',') {
        return Ok(None);
    }
    let Some((first, last)) = spec.split_once('-') else { return Ok(None) };
    let (first, last) = (first.trim(), last.trim());
    let range = match (first.parse::<u64>(), last.parse::<u64>()) {
        (Ok(first), Ok(last)) if first <= last => (first, last.min(size.saturating_sub(1))),
        (Ok(first), Err(_)) if last.is_empty() => (first, size.saturating_sub(1)),
        (Err(_), Ok(suffix)) if first.is_empty() && suffix > 0 => {
            (size.saturating_sub(suffix), size.saturating_sub(1))
        }
        _ => return Ok(None),
    };
    if range.0 >= size {
        return Err(());
    }
    Ok(Some(range))
}

async fn serve_content(path: PathBuf, size: u64, range: Option<&str>) -> Response {
    let range = match byte_range(range, size) {
        Ok(range) => range,
        Err(()) => {
            let mut response = refused(StatusCode::RANGE_NOT_SATISFIABLE, "range not satisfiable\n");
            let value = HeaderValue::from_str(&format!("bytes */{size}")).expect("ASCII");
            response.headers_mut().insert(header::CONTENT_RANGE, value);
            return response;
        }
    };
    let mut file = match tokio::fs::File::open(&path).await {
        Ok(file) => file,
        Err(error) => {
            tracing::error!(%error, path = %path.display(), "a stored file cannot be read");
            return refused(StatusCode::SERVICE_UNAVAILABLE, "try again later\n");
        }
    };
    let (status, first, length) = match range {
        Some((first, last)) => (StatusCode::PARTIAL_CONTENT, first, last - first + 1),
        None => (StatusCode::OK, 0, size),
    };
    if first > 0 && file.seek(std::io::SeekFrom::Start(first)).await.is_err() {
        return refused(StatusCode::SERVICE_UNAVAILABLE, "try again later\n");
    }
    // Streamed in chunks: memory per download stays at the chunk size, whatever the file's.
    let body = Body::from_stream(tokio_util::io::ReaderStream::with_capacity(file.take(length), 64 * 1024));
    let mut response = Response::new(body);
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if status == StatusCode::PARTIAL_CONTENT {
        let value = format!("bytes {first}-{}/{size}", first + length - 1);
        headers.insert(header::CONTENT_RANGE, HeaderValue::from_str(&value).expect("ASCII"));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant() -> Grant {
        Grant {
            mac: "00:1A:E8:00:00:01".into(),
            file_id: 3,
            sha256: "ab".repeat(32),
            expires_at: 2_000_000_000,
        }
    }

    #[test]
    fn tokens_bind_device_file_content_and_time() {
        let key = TokenKey::new(b"0123456789abcdef0123456789abcdef");
        let token = key.sign(&grant());
        assert!(key.verify(&grant(), &token));
        assert!(!key.verify(&Grant { mac: "00:1A:E8:00:00:02".into(), ..grant() }, &token), "another device");
        assert!(!key.verify(&Grant { file_id: 4, ..grant() }, &token), "another file");
        assert!(!key.verify(&Grant { expires_at: 2_000_000_001, ..grant() }, &token), "a later expiry");
        assert!(!key.verify(&grant(), "zz"));
        let again = TokenKey::new(b"0123456789abcdef0123456789abcdef");
        assert!(again.verify(&grant(), &token), "the same secret, the same tokens (after a restart)");
        assert!(!TokenKey::new(b"another secret").verify(&grant(), &token));
        let path = download_path(&key, &grant(), "OS 60.img");
        assert!(path.starts_with("/files/3/001AE8000001/2000000000/"), "{path}");
        assert!(path.ends_with(&format!("/{token}/OS%2060.img")), "{path}");
    }

    #[test]
    fn ranges_resolve_as_http_says() {
        assert_eq!(byte_range(None, 100), Ok(None));
        assert_eq!(byte_range(Some("bytes=10-19"), 100), Ok(Some((10, 19))));
        assert_eq!(byte_range(Some("bytes=90-"), 100), Ok(Some((90, 99))));
        assert_eq!(byte_range(Some("bytes=-10"), 100), Ok(Some((90, 99))));
        assert_eq!(byte_range(Some("bytes=95-200"), 100), Ok(Some((95, 99))));
        assert_eq!(byte_range(Some("bytes=100-"), 100), Err(()));
        assert_eq!(byte_range(Some("bytes=0-1,5-6"), 100), Ok(None), "several ranges: the whole file");
        assert_eq!(byte_range(Some("items=1-2"), 100), Ok(None));
    }
}
