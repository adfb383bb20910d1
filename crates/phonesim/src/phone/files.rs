//! The phone's side of file and firmware deployment (guide p. 52-57): which files a message asks
//! for, and what the phone records and reports once it fetched them.

use opendls_wpi::{Item, Reason, ReasonForContact};

use super::{Next, SimPhone};

/// One file of a `FileDeployment` or `SoftwareDeployment` (p. 52-57, item list p. 177).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileJob {
    /// The file index of a multiple deployment (p. 55); `None` for a single file.
    pub index: Option<u32>,
    /// `deploy` or `delete` (p. 55).
    pub delete: bool,
    /// Where to fetch it over HTTPS (`file-https-base-url`, the full URL, p. 53); `None` for FTP,
    /// which the simulator does not speak (the transfer then fails).
    pub url: Option<String>,
    /// `file-name` (or the URL's last segment).
    pub name: String,
    /// `file-type` (`RINGTONE`, `LOGO`, ..., `APP` for firmware).
    pub file_type: String,
    /// `file-sw-version` of a firmware image (dotted, p. 57), when this is firmware.
    pub firmware_version: Option<String>,
}

impl SimPhone {
    /// Records the outcome of file transfers. A single file is reported with `status` (p. 54);
    /// multiple files and deletions are not (p. 55). New firmware is installed and the phone
    /// reboots (p. 56).
    pub fn files_done(&mut self, results: &[(FileJob, bool)], day: &str, time: &str) -> Next {
        let mut firmware_installed = false;
        for (job, ok) in results {
            if let (Some(version), true) = (&job.firmware_version, ok) {
                let version = dotted_to_software_version(version);
                self.items.insert(("software-version".into(), None), version.clone());
                self.items.insert(("related-software-version".into(), None), version);
                firmware_installed = true;
                continue;
            }
            // The phone's own list (p. 245): a file is known by name and type (p. 55), whatever
            // index the message gave it.
            let slot = self.file_slot(&job.name, &job.file_type).unwrap_or_else(|| self.next_file_slot());
            let fields = [
                ("file-deployment-name", job.name.clone()),
                ("file-deployment-type", job.file_type.clone()),
                ("file-deployment-status", if *ok { "ok" } else { "failed" }.to_owned()),
                ("file-deployment-date", day.to_owned()),
                ("file-deployment-time", time.to_owned()),
            ];
            for (name, value) in fields {
                if job.delete && *ok {
                    self.items.remove(&(name.to_owned(), Some(slot)));
                } else {
                    self.items.insert((name.to_owned(), Some(slot)), value);
                }
            }
        }
        if firmware_installed {
            return Next::Reboot { factory_reset: false };
        }
        match results {
            [(job, ok)] if job.index.is_none() && !job.delete => {
                let mut items = self.basic_items();
                items.extend([
                    Item::new("file-deployment-date", day),
                    Item::new("file-deployment-time", time),
                    Item::new("file-deployment-name", &job.name),
                    Item::new("file-deployment-type", &job.file_type),
                    Item::new("file-deployment-status", if *ok { "ok" } else { "failed" }),
                ]);
                Next::Reply(self.message(ReasonForContact::new(Reason::Status), None, items))
            }
            _ => Next::Done { send_solicited: false, reason: None },
        }
    }

    fn file_slot(&self, name: &str, file_type: &str) -> Option<u32> {
        self.items.iter().find_map(|((item, index), value)| {
            let same_type = |slot| self.value("file-deployment-type", Some(slot)) == Some(file_type);
            (item == "file-deployment-name" && value == name)
                .then_some(*index)
                .flatten()
                .filter(|slot| same_type(*slot))
        })
    }

    fn next_file_slot(&self) -> u32 {
        self.items
            .keys()
            .filter(|(name, _)| name == "file-deployment-name")
            .filter_map(|(_, i)| *i)
            .max()
            .unwrap_or(0)
            + 1
    }
}

/// The files a deployment message asks for: one job per index, or one for the whole message.
pub(super) fn file_jobs(items: &[Item], firmware: bool) -> Vec<FileJob> {
    let mut indexes: Vec<Option<u32>> = items.iter().map(|i| i.index).collect();
    indexes.sort();
    indexes.dedup();
    if indexes.iter().any(Option::is_some) {
        indexes.retain(Option::is_some);
    }
    indexes
        .into_iter()
        .map(|index| {
            // Items without an index describe every file (server, credentials).
            let value = |name: &str| {
                items
                    .iter()
                    .find(|i| i.name == name && i.index == index)
                    .or_else(|| items.iter().find(|i| i.name == name && i.index.is_none()))
                    .map(|i| i.value.clone())
            };
            let url = value("file-https-base-url");
            let name = value("file-name")
                .or_else(|| url.as_deref().and_then(|u| u.rsplit('/').next()).map(str::to_owned))
                .unwrap_or_default();
            FileJob {
                index,
                delete: value("file-action").as_deref() == Some("delete"),
                url,
                name,
                file_type: value("file-type").unwrap_or_default(),
                firmware_version: if firmware { value("file-sw-version") } else { None },
            }
        })
        .collect()
}

/// `3.5.12.0` (file-sw-version, p. 57) as the phone reports it: `V3 R5.12.0`.
pub fn dotted_to_software_version(dotted: &str) -> String {
    match dotted.split_once('.') {
        Some((major, rest)) => format!("V{major} R{rest}"),
        None => dotted.to_owned(),
    }
}
