//! The admin API's client: finds the service and its token from the data directory, trusts
//! exactly the service's own certificate, and reads answers and refusals.

use anyhow::{Context, Result, anyhow, bail};
use opendls_api::ApiError;
use reqwest::{Method, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::{Connection, Refused};

/// A client of one service's admin API.
pub(crate) struct Client {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Client {
    pub(crate) fn new(connection: &Connection) -> Result<Client> {
        let data_dir = connection.data_dir()?;
        let token = match &connection.token {
            Some(token) => token.clone(),
            None => {
                let path = data_dir.join(opendls_server::ADMIN_TOKEN_FILE);
                std::fs::read_to_string(&path)
                    .with_context(|| {
                        format!(
                            "cannot read the admin token from {} (use --token or --data-dir)",
                            path.display()
                        )
                    })?
                    .trim()
                    .to_owned()
            }
        };
        let base = connection.admin_url(&data_dir)?;
        let mut http = reqwest::Client::builder().timeout(std::time::Duration::from_secs(30));
        if base.starts_with("https://") {
            // The admin API's certificate is the service's own (self-signed unless replaced):
            // trust exactly it, from the data directory, and nothing else.
            let path = data_dir.join(opendls_pki::SERVER_CERT_FILE);
            let pem = std::fs::read(&path).with_context(|| {
                format!(
                    "cannot read the service's certificate {} to check the admin API's TLS",
                    path.display()
                )
            })?;
            let certificate = reqwest::Certificate::from_pem(&pem)
                .with_context(|| format!("{} is not a PEM certificate", path.display()))?;
            http = http.tls_certs_only([certificate]);
        }
        Ok(Client { http: http.build()?, base, token })
    }

    /// A GET whose answer is JSON and a count header (`x-total-count`) of all that matched.
    pub(crate) async fn get_counted<T: DeserializeOwned>(&self, path: &str) -> Result<(T, Option<u64>)> {
        let response = self.request(Method::GET, path).send().await.map_err(|e| self.unreachable(e))?;
        let total = response
            .headers()
            .get("x-total-count")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok());
        let body = read(response).await?.ok_or_else(|| anyhow!("empty answer from the server"))?;
        Ok((body, total))
    }

    pub(crate) async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        let response = self.request(Method::GET, path).send().await.map_err(|e| self.unreachable(e))?;
        read(response).await?.ok_or_else(|| anyhow!("empty answer from the server"))
    }

    pub(crate) async fn send<B: Serialize, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: &B,
    ) -> Result<Option<T>> {
        read(self.send_json(method, path, body).await?).await
    }

    /// Sends `body` as JSON; the answer is not read yet.
    async fn send_json<B: Serialize>(
        &self,
        method: Method,
        path: &str,
        body: &B,
    ) -> Result<reqwest::Response> {
        self.request(method, path).json(body).send().await.map_err(|e| self.unreachable(e))
    }

    /// As [`Client::send`], but a refusal (422) that carries a JSON answer of type `T` (the
    /// per-entry refusals of a batch) is returned as that answer.
    pub(crate) async fn send_lenient<B: Serialize, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: &B,
    ) -> Result<Option<T>> {
        let response = self.send_json(method, path, body).await?;
        if response.status() == StatusCode::UNPROCESSABLE_ENTITY {
            let bytes = response.bytes().await?;
            if let Ok(answer) = serde_json::from_slice(&bytes) {
                return Ok(Some(answer));
            }
            let error: ApiError =
                serde_json::from_slice(&bytes).context("unexpected answer from the server")?;
            return Err(Refused(error.error).into());
        }
        read(response).await
    }

    /// A POST of a file's content, streamed from disk; the answer is JSON. Uploads may take
    /// longer than other requests: they get the admin API's own deadline (120 s).
    pub(crate) async fn upload<T: DeserializeOwned>(
        &self,
        path: &str,
        file: tokio::fs::File,
    ) -> Result<Option<T>> {
        let body = reqwest::Body::wrap_stream(tokio_util::io::ReaderStream::new(file));
        let request =
            self.request(Method::POST, path).timeout(std::time::Duration::from_secs(125)).body(body);
        let response = request.send().await.map_err(|e| self.unreachable(e))?;
        read(response).await
    }

    /// A GET whose answer is text (PEM).
    pub(crate) async fn get_text(&self, path: &str) -> Result<String> {
        let response = self.request(Method::GET, path).send().await.map_err(|e| self.unreachable(e))?;
        let status = response.status();
        let text = response.text().await?;
        if status.is_success() {
            return Ok(text);
        }
        match status {
            StatusCode::UNAUTHORIZED => bail!("{text}"),
            s if s.is_client_error() => Err(Refused(text).into()),
            _ => bail!("server error {status}: {text}"),
        }
    }

    fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.http.request(method, format!("{}{path}", self.base)).bearer_auth(&self.token)
    }

    fn unreachable(&self, error: reqwest::Error) -> anyhow::Error {
        // reqwest's own message is only the outermost layer ("error sending request"): the
        // causes say what failed (refused, timed out, certificate).
        let mut causes = Vec::new();
        let mut source = std::error::Error::source(&error);
        while let Some(cause) = source {
            causes.push(cause.to_string());
            source = cause.source();
        }
        causes.dedup();
        let why = match causes.last() {
            Some(root) => root.clone(),
            None => error.to_string(),
        };
        anyhow!(
            "cannot reach the admin API at {}: {why}; is `opendls serve` running there? (--admin-url, \
             OPENDLS_ADMIN_URL, or the admin-url file its data directory records)",
            self.base
        )
    }
}

/// Reads an answer: JSON on success, nothing for 204, an error (refusal or failure) otherwise.
async fn read<T: DeserializeOwned>(response: reqwest::Response) -> Result<Option<T>> {
    let status = response.status();
    let bytes = response.bytes().await?;
    if status == StatusCode::NO_CONTENT {
        return Ok(None);
    }
    if status.is_success() {
        return serde_json::from_slice(&bytes).map(Some).context("unexpected answer from the server");
    }
    let message = match serde_json::from_slice::<ApiError>(&bytes) {
        // Several problems: one a line, so each can be read and fixed.
        Ok(error) if error.problems.len() > 1 => {
            let head = error.error.split(':').next().unwrap_or("refused").to_owned();
            format!("{head}:\n  {}", error.problems.join("\n  "))
        }
        Ok(error) => error.error,
        // An empty 404 is a route the service does not have: an older opendls is serving.
        Err(_) if bytes.is_empty() && status == StatusCode::NOT_FOUND => {
            "the service does not know this request: is an older opendls serving? (opendls --version)"
                .to_owned()
        }
        Err(_) if bytes.is_empty() => format!("the service answered {status} without a reason"),
        Err(_) => String::from_utf8_lossy(&bytes).into_owned(),
    };
    match status {
        StatusCode::UNAUTHORIZED => bail!("{message}"),
        s if s.is_client_error() => Err(Refused(message).into()),
        _ => bail!("server error {status}: {message}"),
    }
}
