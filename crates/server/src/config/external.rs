//! `[external_files]`: sites that already run an FTP or HTTPS server for their phones. Phones
//! are then pointed there (guide p. 53, 57: `file-server`, `file-port`, `file-username`,
//! `file-pwd`, `file-path`, or `file-https-base-url`) instead of at the built-in file server;
//! opendls still keeps each file's name, type, version and models to check deployments, and
//! the administrator puts the same files on that server under the same names.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Where phones fetch deployed files when not from the built-in file server.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ExternalFiles {
    /// `https://host/path/`: a file's URL is this followed by its name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub https_base_url: Option<String>,
    /// FTP server (`file-server`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ftp_server: Option<String>,
    /// FTP port (`file-port`; the phones' default is 21).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ftp_port: Option<u16>,
    /// FTP user (`file-username`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ftp_username: Option<String>,
    /// A file holding the FTP password (`file-pwd`), or set `OPENDLS_FTP_PASSWORD`; never
    /// written in this file, never logged.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ftp_password_file: Option<PathBuf>,
    /// The directory on the FTP server (`file-path`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ftp_path: Option<String>,
}

/// An external source, checked and with its password read.
#[derive(Clone, PartialEq, Eq)]
pub enum ExternalSource {
    /// `file-https-base-url` = base + name.
    Https {
        /// Ends with `/`.
        base_url: String,
    },
    /// The FTP items of p. 53 and 57.
    Ftp {
        /// `file-server`.
        server: String,
        /// `file-port`.
        port: u16,
        /// `file-username`.
        username: String,
        /// `file-pwd`.
        password: String,
        /// `file-path`.
        path: String,
    },
}

impl std::fmt::Debug for ExternalSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ExternalSource::Https { base_url } => {
                f.debug_struct("Https").field("base_url", base_url).finish()
            }
            // The password is a secret: never printed.
            ExternalSource::Ftp { server, port, username, path, .. } => f
                .debug_struct("Ftp")
                .field("server", server)
                .field("port", port)
                .field("username", username)
                .field("path", path)
                .finish_non_exhaustive(),
        }
    }
}

impl ExternalFiles {
    /// The source configured, if any; `password` is `OPENDLS_FTP_PASSWORD` when set.
    pub fn source(&self, password: Option<String>) -> Result<Option<ExternalSource>, String> {
        match (&self.https_base_url, &self.ftp_server) {
            (None, None) => Ok(None),
            (Some(_), Some(_)) => Err("set https_base_url or ftp_server, not both".into()),
            (Some(url), None) => {
                if !url.starts_with("https://") || url.len() <= "https://".len() {
                    return Err(format!("https_base_url {url:?} is not an https:// URL"));
                }
                let base_url = if url.ends_with('/') { url.clone() } else { format!("{url}/") };
                Ok(Some(ExternalSource::Https { base_url }))
            }
            (None, Some(server)) => {
                let password = match (password, &self.ftp_password_file) {
                    (Some(password), _) => password,
                    (None, Some(path)) => std::fs::read_to_string(path)
                        .map(|text| text.trim_end_matches(['\r', '\n']).to_owned())
                        .map_err(|e| format!("ftp_password_file {}: {e}", path.display()))?,
                    (None, None) => String::new(),
                };
                Ok(Some(ExternalSource::Ftp {
                    server: server.clone(),
                    port: self.ftp_port.unwrap_or(21),
                    username: self.ftp_username.clone().unwrap_or_default(),
                    password,
                    path: self.ftp_path.clone().unwrap_or_else(|| "/".into()),
                }))
            }
        }
    }
}

impl ExternalSource {
    /// The items that tell a phone where `name` is (guide p. 53, 57).
    pub fn items(&self, name: &str) -> Vec<opendls_wpi::Item> {
        use opendls_wpi::Item;
        match self {
            ExternalSource::Https { base_url } => {
                vec![Item::new(
                    "file-https-base-url",
                    format!("{base_url}{}", crate::file_server::path_segment(name)),
                )]
            }
            ExternalSource::Ftp { server, port, username, password, path } => vec![
                Item::new("file-server", server),
                Item::new("file-port", port.to_string()),
                Item::new("file-username", username),
                Item::new("file-pwd", password),
                Item::new("file-path", path),
                Item::new("file-name", name),
            ],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_are_checked_and_the_password_stays_out_of_debug() {
        assert_eq!(ExternalFiles::default().source(None), Ok(None));
        let https = ExternalFiles {
            https_base_url: Some("https://files.example/phones".into()),
            ..Default::default()
        };
        let source = https.source(None).unwrap().unwrap();
        assert_eq!(source.items("OS 60.img")[0].value, "https://files.example/phones/OS%2060.img");
        let plain =
            ExternalFiles { https_base_url: Some("http://files.example/".into()), ..Default::default() };
        assert!(plain.source(None).is_err());
        let ftp = ExternalFiles {
            ftp_server: Some("192.168.1.150".into()),
            ftp_path: Some("/OS/SIP/HI".into()),
            ..Default::default()
        };
        let source = ftp.source(Some("dlsftp5".into())).unwrap().unwrap();
        let items = source.items("OS_80_SIP_V1_R4_9_0.img");
        let names: Vec<&str> = items.iter().map(|i| i.name.as_str()).collect();
        assert_eq!(
            names,
            ["file-server", "file-port", "file-username", "file-pwd", "file-path", "file-name"]
        );
        assert_eq!(items[1].value, "21");
        assert!(!format!("{source:?}").contains("dlsftp5"));
        let both = ExternalFiles {
            https_base_url: Some("https://a/".into()),
            ftp_server: Some("b".into()),
            ..Default::default()
        };
        assert!(both.source(None).is_err());
    }
}
